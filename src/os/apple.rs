//! macOS: the code table's own pages, remapped with `vm_remap` (shared, no copy), which the
//! hardened runtime allows where it refuses writable-then-executable memory.

use core::ffi::c_int;

use super::unix::{ImageFailure, os_error};
use crate::arch::TABLE_SIZE;
use crate::error::ImageError;

type KernReturn = c_int;
type VmAddress = usize;
type MachPort = u32;
type VmProt = c_int;

const VM_FLAGS_FIXED: c_int = 0x0000;
const VM_FLAGS_OVERWRITE: c_int = 0x4000;
const VM_INHERIT_SHARE: u32 = 0;
const VM_PROT_EXECUTE: VmProt = 0x04;

unsafe extern "C" {
    static mach_task_self_: MachPort;
    fn vm_remap(
        target_task: MachPort,
        target_address: *mut VmAddress,
        size: usize,
        mask: VmAddress,
        flags: c_int,
        src_task: MachPort,
        src_address: VmAddress,
        copy: c_int,
        cur_protection: *mut VmProt,
        max_protection: *mut VmProt,
        inheritance: u32,
    ) -> KernReturn;
}

/// The protection of a block's code.
pub(super) fn code_protection() -> c_int {
    libc::PROT_READ | libc::PROT_EXEC
}

/// Remaps the table's own pages over `code`, sharing them read+execute.
///
/// # Safety
///
/// `code` is the start of a mapping of at least `TABLE_SIZE` bytes owned by the caller, which
/// nothing points into.
pub(super) unsafe fn map_code(code: *mut u8, table: *const u8) -> Result<(), ImageFailure> {
    let mut target = code as VmAddress;
    let (mut cur, mut max) = (0, 0);
    // SAFETY: remaps over the caller's own range; the source is this image's text.
    let status = unsafe {
        vm_remap(
            mach_task_self_,
            &mut target,
            TABLE_SIZE,
            0,
            VM_FLAGS_FIXED | VM_FLAGS_OVERWRITE,
            mach_task_self_,
            table as VmAddress,
            0,
            &mut cur,
            &mut max,
            VM_INHERIT_SHARE,
        )
    };
    if status != 0 || target != code as VmAddress {
        // An overwriting remap that failed may have replaced part of the range.
        return Err(ImageFailure {
            error: ImageError::Kern {
                call: "vm_remap",
                code: status,
            },
            region_intact: false,
        });
    }
    // SAFETY: our own range, now the remapped text.
    if cur & VM_PROT_EXECUTE == 0
        && unsafe { libc::mprotect(code.cast(), TABLE_SIZE, code_protection()) } != 0
    {
        return Err(ImageFailure {
            error: os_error("mprotect"),
            region_intact: false,
        });
    }
    Ok(())
}
