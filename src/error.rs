//! Errors.

use core::fmt;
use std::io;

/// Why a thunk could not be created.
///
/// As in `std` and libloading, `Display` says what failed and `source()` why (the operating
/// system's error); [`Error::chain`] formats both.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// No memory could be mapped for a new block of thunks.
    MapBlock(io::Error),
    /// A new block's code could not be made executable.
    ProtectCode(io::Error),
    /// The stub table in this binary's code is not where its symbol says, or does not hold
    /// stubs (a linker rewrote or moved it in a way the crate does not know).
    StubTableNotFound,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::MapBlock(_) => f.write_str("cannot map memory for a block of thunks"),
            Error::ProtectCode(_) => f.write_str("cannot make a block of thunks executable"),
            Error::StubTableNotFound => f.write_str(
                "the thunk stub table was not found in this binary's code (was it linked \
                 with a linker option that rewrites function addresses?)",
            ),
        }
    }
}

impl Error {
    /// This error and its sources, joined with ": ", for a one-line message.
    pub fn chain(&self) -> impl fmt::Display + '_ {
        Chain(self)
    }
}

struct Chain<'a>(&'a Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(self.0);
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::MapBlock(e) | Error::ProtectCode(e) => Some(e),
            Error::StubTableNotFound => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_says_what_failed_and_the_source_says_why() {
        let os = io::Error::other("out of address space");
        let error = Error::MapBlock(os);
        assert_eq!(error.to_string(), "cannot map memory for a block of thunks");
        let source = std::error::Error::source(&error).expect("the OS error");
        assert_eq!(source.to_string(), "out of address space");
        assert_eq!(
            error.chain().to_string(),
            "cannot map memory for a block of thunks: out of address space"
        );
        assert_eq!(
            Error::StubTableNotFound.chain().to_string(),
            Error::StubTableNotFound.to_string()
        );
    }
}
