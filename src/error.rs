//! Errors.

use core::fmt;
use std::io;

/// Why a thunk could not be created.
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
            Error::MapBlock(e) => write!(f, "cannot map memory for a block of thunks: {e}"),
            Error::ProtectCode(e) => write!(f, "cannot make a block of thunks executable: {e}"),
            Error::StubTableNotFound => f.write_str(
                "the thunk stub table was not found in this binary's code (was it linked \
                 with a linker option that rewrites function addresses?)",
            ),
        }
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
