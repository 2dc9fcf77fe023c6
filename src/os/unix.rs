//! What Linux and macOS share: anonymous regions, the copying fallback, stderr, fork.
//!
//! Mapping the code from the binary's file is each system's own (`linux.rs`, `apple.rs`).

use std::io;

use super::MappedBlock;
#[cfg(target_os = "macos")]
use super::apple as image;
#[cfg(target_os = "linux")]
use super::linux as image;
use crate::arch::TABLE_SIZE;
use crate::error::{Error, ImageError};

/// Writes `bytes` to stderr with `write(2)`: no lock, no allocation, async-signal-safe.
/// Errors are ignored (there is nowhere left to report them).
pub(crate) fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid buffer of that length.
        let written =
            unsafe { libc::write(libc::STDERR_FILENO, bytes.as_ptr().cast(), bytes.len()) };
        match written {
            n if n > 0 => bytes = &bytes[n as usize..],
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            _ => return,
        }
    }
}

/// Has `prepare` run in the thread that calls `fork()` just before it, and `parent` and
/// `child` just after it, in the parent and in the child. Returns whether the handlers were
/// registered.
pub(crate) fn at_fork(
    prepare: unsafe extern "C" fn(),
    parent: unsafe extern "C" fn(),
    child: unsafe extern "C" fn(),
) -> bool {
    // SAFETY: registers plain functions that live as long as the process (this crate is never
    // unloaded while its blocks exist: they are never unmapped).
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) == 0 }
}

/// Why the code could not be mapped from the image, and whether the region it was to go in
/// is still the fresh read+write memory it was (else it may hold file pages, and must go).
pub(super) struct ImageFailure {
    pub(super) error: ImageError,
    pub(super) region_intact: bool,
}

impl From<ImageError> for ImageFailure {
    /// A failure found before the region was touched.
    fn from(error: ImageError) -> Self {
        ImageFailure {
            error,
            region_intact: true,
        }
    }
}

/// The `ImageError` for a failed system call, from `errno`.
pub(super) fn os_error(call: &'static str) -> ImageError {
    ImageError::Os {
        call,
        code: io::Error::last_os_error().raw_os_error().unwrap_or(0),
    }
}

/// An anonymous private mapping, unmapped when dropped unless handed over with `into_raw`:
/// every error path gives back what it mapped.
struct Region {
    start: *mut u8,
    len: usize,
}

impl Region {
    /// Fresh read+write memory.
    fn anonymous(len: usize) -> io::Result<Region> {
        // SAFETY: a fresh anonymous private mapping, which no one else knows of.
        let start = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANON,
                -1,
                0,
            )
        };
        if start == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Region {
            start: start.cast(),
            len,
        })
    }

    /// Keeps the mapping for good.
    fn into_raw(self) -> *mut u8 {
        let start = self.start;
        core::mem::forget(self);
        start
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: our own mapping, which nothing points into yet. Unmapping whole mappings
        // never splits one, so it cannot fail for lack of map entries; if it failed anyway, the
        // pages would only leak.
        unsafe { libc::munmap(self.start.cast(), self.len) };
    }
}

/// Maps a block whose code is a copy of the table at `table`: from the binary's file if
/// possible (unless `force_copy`), else by copying.
pub(crate) fn map_block(table: *const u8, force_copy: bool) -> Result<MappedBlock, Error> {
    let mut region = Region::anonymous(2 * TABLE_SIZE).map_err(Error::MapBlock)?;
    let failure = if force_copy {
        ImageFailure::from(ImageError::Disabled)
    } else {
        // SAFETY: the region's first `TABLE_SIZE` bytes are ours and nothing points into them.
        match unsafe { image::map_code(region.start, table) } {
            Ok(()) => {
                return Ok(MappedBlock {
                    code: region.into_raw(),
                    copied: false,
                });
            }
            Err(failure) => failure,
        }
    };
    if !failure.region_intact {
        // The code half may hold the file's pages now: start again from fresh memory (the old
        // region is unmapped when replaced).
        region = Region::anonymous(2 * TABLE_SIZE).map_err(Error::MapBlock)?;
    }
    // SAFETY: as above; the region is fresh read+write memory.
    match unsafe { copy_code(region.start, table) } {
        Ok(()) => Ok(MappedBlock {
            code: region.into_raw(),
            copied: true,
        }),
        Err(copy) => Err(Error::ProtectCode {
            image: failure.error,
            copy,
        }),
    }
}

/// The fallback: fill read+write memory with the table, then make it read+execute.
///
/// # Safety
///
/// `code` is the start of a read+write mapping of `TABLE_SIZE` bytes owned by the caller.
unsafe fn copy_code(code: *mut u8, table: *const u8) -> io::Result<()> {
    // SAFETY: both ranges are `TABLE_SIZE` bytes and disjoint (one is a fresh mapping).
    unsafe { core::ptr::copy_nonoverlapping(table, code, TABLE_SIZE) };
    // SAFETY: changing the protection of our own mapping.
    if unsafe { libc::mprotect(code.cast(), TABLE_SIZE, image::code_protection()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the range was just written and is mapped.
    unsafe { flush_instruction_cache(code, TABLE_SIZE) };
    Ok(())
}

#[cfg(target_arch = "aarch64")]
unsafe fn flush_instruction_cache(start: *mut u8, len: usize) {
    #[cfg(target_vendor = "apple")]
    unsafe extern "C" {
        fn sys_icache_invalidate(start: *mut core::ffi::c_void, len: usize);
    }
    #[cfg(not(target_vendor = "apple"))]
    unsafe extern "C" {
        fn __clear_cache(start: *mut core::ffi::c_char, end: *mut core::ffi::c_char);
    }
    // SAFETY: the caller passes a mapped range.
    unsafe {
        #[cfg(target_vendor = "apple")]
        sys_icache_invalidate(start.cast(), len);
        #[cfg(not(target_vendor = "apple"))]
        __clear_cache(start.cast(), start.add(len).cast());
    }
}

/// x86 keeps instruction fetch coherent with data writes.
#[cfg(not(target_arch = "aarch64"))]
unsafe fn flush_instruction_cache(_start: *mut u8, _len: usize) {}
