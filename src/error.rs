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
    /// No memory could be mapped for a new block of thunks (or for its bookkeeping).
    MapBlock(io::Error),
    /// A new block's code could not be made executable in either way: neither mapped from the
    /// binary's own file (`image` says why not) nor copied and then switched to executable
    /// (`copy`, the operating system's error, which is the `source()`). Both fail, for
    /// instance, when the process forbids writable-then-executable memory (Linux
    /// `PR_SET_MDWE`, SELinux `execmem`) and the binary's file was replaced or deleted.
    #[non_exhaustive]
    ProtectCode {
        /// Why the code could not be mapped from the binary's file.
        image: ImageError,
        /// Why copying it failed.
        copy: io::Error,
    },
    /// The stub table in this binary's code is not where its symbol says, or does not hold
    /// stubs (a linker rewrote or moved it in a way the crate does not know).
    StubTableNotFound,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::MapBlock(_) => f.write_str("cannot map memory for a block of thunks"),
            Error::ProtectCode { image, .. } => write!(
                f,
                "cannot make a block of thunks executable: its code cannot be mapped from the \
                 binary's file ({}), and copying it was refused",
                image
            ),
            Error::StubTableNotFound => f.write_str(
                "the thunk stub table was not found in this binary's code (was it linked \
                 with a linker option that rewrites function addresses?)",
            ),
        }
    }
}

/// Why a block's code could not be mapped from the binary's own file, the way that never makes
/// a page writable (see [`Error::ProtectCode`]). The code is then copied instead, where the
/// system allows it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageError {
    /// The system cannot map a binary's pages a second time (Windows).
    Unsupported,
    /// Turned off for this crate's own tests of the copy.
    Disabled,
    /// The page size does not divide the table's size or its file offset.
    PageSize,
    /// The stub tables are not in a mapping of a file (per `/proc/self/maps`).
    NotFileBacked,
    /// Neither `/proc/self/exe` nor the mapped path is the regular file that was mapped (same
    /// device and inode, long enough): it was moved, deleted or replaced, or something was
    /// mounted over it.
    FileReplaced,
    /// The file's bytes differ from the stub table this process runs.
    ContentDiffers,
    /// A system call failed with this `errno`.
    Os {
        /// The call, or what it was for.
        call: &'static str,
        /// The `errno` value.
        code: i32,
    },
    /// A Mach call failed with this `kern_return_t` (macOS).
    Kern {
        /// The call.
        call: &'static str,
        /// The `kern_return_t` value.
        code: i32,
    },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Unsupported => f.write_str("this system cannot map a binary's pages twice"),
            ImageError::Disabled => f.write_str("mapping from the file is turned off"),
            ImageError::PageSize => f.write_str("the page size does not fit the stub table"),
            ImageError::NotFileBacked => f.write_str("the stub table is not mapped from a file"),
            ImageError::FileReplaced => f.write_str(
                "the binary's file was moved, deleted or replaced, or something is mounted over it",
            ),
            ImageError::ContentDiffers => {
                f.write_str("the binary's file no longer holds the code this process runs")
            }
            // No `source()`: the errno is stored as a number (to keep the error `Clone`), and
            // its message is shown here instead.
            ImageError::Os { call, code } => {
                write!(
                    f,
                    "`{call}` failed: {}",
                    io::Error::from_raw_os_error(*code)
                )
            }
            ImageError::Kern { call, code } => {
                write!(f, "`{call}` failed with kern_return_t {code}")
            }
        }
    }
}

impl std::error::Error for ImageError {}

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
            Error::MapBlock(e) | Error::ProtectCode { copy: e, .. } => Some(e),
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
