//! Blocks on Windows: read+write memory, filled with the table, then execute+read.
//!
//! Windows cannot map an image's pages a second time, so the code is copied once, before it
//! is ever executable, and never written again.
//!
//! Control Flow Guard: in a process that enforces it, memory made executable by
//! `VirtualProtect` is all valid call targets unless the protection includes
//! `PAGE_TARGETS_INVALID` (Microsoft's documentation of the memory protection constants).
//! `PAGE_EXECUTE_READ` alone is used, so every stub is a valid target and no
//! `SetProcessValidCallTargets` call is needed. (Checked against the documentation; Wine, where
//! CI runs, does not enforce CFG.)

use core::ffi::c_void;
use std::io;

use super::MappedBlock;
use crate::arch::TABLE_SIZE;
use crate::error::{Error, ImageError};

const MEM_COMMIT: u32 = 0x1000;
const MEM_RESERVE: u32 = 0x2000;
const MEM_RELEASE: u32 = 0x8000;
const PAGE_READWRITE: u32 = 0x04;
const PAGE_EXECUTE_READ: u32 = 0x20;

#[link(name = "kernel32")]
unsafe extern "system" {
    fn VirtualAlloc(address: *mut c_void, size: usize, kind: u32, protect: u32) -> *mut c_void;
    fn VirtualProtect(address: *mut c_void, size: usize, protect: u32, old: *mut u32) -> i32;
    fn VirtualFree(address: *mut c_void, size: usize, kind: u32) -> i32;
    fn FlushInstructionCache(process: *mut c_void, address: *const c_void, size: usize) -> i32;
    fn GetCurrentProcess() -> *mut c_void;
    fn GetStdHandle(which: u32) -> *mut c_void;
    fn WriteFile(
        file: *mut c_void,
        buffer: *const u8,
        length: u32,
        written: *mut u32,
        overlapped: *mut c_void,
    ) -> i32;
}

const STD_ERROR_HANDLE: u32 = -12i32 as u32;

/// Writes `bytes` to stderr with `WriteFile`: no lock, no allocation. Errors are ignored
/// (there is nowhere left to report them).
pub(crate) fn write_stderr(mut bytes: &[u8]) {
    // SAFETY: no preconditions; the handle may be null or invalid, which WriteFile reports.
    let handle = unsafe { GetStdHandle(STD_ERROR_HANDLE) };
    while !bytes.is_empty() {
        let mut written = 0;
        let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        // SAFETY: `bytes` is valid for `length` bytes; `written` is a valid out pointer.
        let ok = unsafe {
            WriteFile(
                handle,
                bytes.as_ptr(),
                length,
                &mut written,
                core::ptr::null_mut(),
            )
        };
        if ok == 0 || written == 0 {
            return;
        }
        bytes = &bytes[written as usize..];
    }
}

/// Windows has no `fork()`: nothing to register.
pub(crate) fn at_fork(
    _prepare: unsafe extern "C" fn(),
    _parent: unsafe extern "C" fn(),
    _child: unsafe extern "C" fn(),
) -> bool {
    true
}

/// Maps a block whose code is a copy of the table at `table`.
pub(crate) fn map_block(table: *const u8, _force_copy: bool) -> Result<MappedBlock, Error> {
    // SAFETY: a fresh private allocation.
    let region = unsafe {
        VirtualAlloc(
            core::ptr::null_mut(),
            2 * TABLE_SIZE,
            MEM_RESERVE | MEM_COMMIT,
            PAGE_READWRITE,
        )
    };
    if region.is_null() {
        return Err(Error::MapBlock(io::Error::last_os_error()));
    }
    let code = region.cast::<u8>();
    let mut old = 0;
    // SAFETY: copying the table into our own fresh memory, then changing its protection and
    // flushing the instruction cache for it.
    unsafe {
        core::ptr::copy_nonoverlapping(table, code, TABLE_SIZE);
        if VirtualProtect(region, TABLE_SIZE, PAGE_EXECUTE_READ, &mut old) == 0 {
            let error = io::Error::last_os_error();
            VirtualFree(region, 0, MEM_RELEASE);
            return Err(Error::ProtectCode {
                image: ImageError::Unsupported,
                copy: error,
            });
        }
        FlushInstructionCache(GetCurrentProcess(), region, TABLE_SIZE);
    }
    Ok(MappedBlock { code, copied: true })
}
