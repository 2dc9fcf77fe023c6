//! Blocks on Linux, macOS and other Unix systems.

use std::io;

use super::MappedBlock;
use crate::arch::TABLE_SIZE;
use crate::error::Error;

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

/// Has `prepare` run in the thread that calls `fork()` just before it, and `after` just after
/// it, in the parent and in the child. Returns whether the handlers were registered.
pub(crate) fn at_fork(prepare: unsafe extern "C" fn(), after: unsafe extern "C" fn()) -> bool {
    // SAFETY: registers plain functions that live as long as the process (this crate is never
    // unloaded while its blocks exist: they are never unmapped).
    unsafe { libc::pthread_atfork(Some(prepare), Some(after), Some(after)) == 0 }
}

/// Maps a block whose code is a copy of the table at `table`.
pub(crate) fn map_block(table: *const u8, force_copy: bool) -> Result<MappedBlock, Error> {
    // SAFETY: a fresh anonymous private mapping, which no one else knows of.
    let region = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            2 * TABLE_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANON,
            -1,
            0,
        )
    };
    if region == libc::MAP_FAILED {
        return Err(Error::MapBlock(io::Error::last_os_error()));
    }
    let code = region.cast::<u8>();
    // SAFETY: `code` is the first half of our own fresh mapping.
    if !force_copy && unsafe { map_code_from_image(code, table) } {
        return Ok(MappedBlock {
            code,
            copied: false,
        });
    }
    // SAFETY: as above.
    match unsafe { copy_code(code, table) } {
        Ok(()) => Ok(MappedBlock { code, copied: true }),
        Err(e) => {
            // SAFETY: unmapping our own mapping, which nothing points into yet.
            unsafe { libc::munmap(region, 2 * TABLE_SIZE) };
            Err(Error::ProtectCode(e))
        }
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
    if unsafe { libc::mprotect(code.cast(), TABLE_SIZE, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
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

/// Maps the table's own pages from the file they were loaded from, over `code`, read+execute.
/// Returns whether it worked; on failure `code` is left as it was (read+write, anonymous).
///
/// # Safety
///
/// `code` is the start of a mapping of at least `TABLE_SIZE` bytes owned by the caller.
#[cfg(any(target_os = "linux", target_os = "android"))]
unsafe fn map_code_from_image(code: *mut u8, table: *const u8) -> bool {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if page <= 0 || !TABLE_SIZE.is_multiple_of(page as usize) {
        return false;
    }
    let Some((path, offset)) = image_location(table) else {
        return false;
    };
    if !offset.is_multiple_of(page as u64) {
        return false;
    }
    let Ok(path) = std::ffi::CString::new(path) else {
        return false;
    };
    // SAFETY: opening a file read-only.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return false;
    }
    // SAFETY: replaces the caller's pages at `code` with a private, read+execute view of the
    // file; nothing else points into them.
    let mapped = unsafe {
        libc::mmap(
            code.cast(),
            TABLE_SIZE,
            libc::PROT_READ | libc::PROT_EXEC,
            libc::MAP_PRIVATE | libc::MAP_FIXED,
            fd,
            offset as libc::off_t,
        )
    };
    // SAFETY: closing our own descriptor; the mapping keeps the file.
    unsafe { libc::close(fd) };
    if mapped != code.cast() {
        return false;
    }
    // The file could have been replaced since it was loaded: only use it if it holds exactly
    // the table this process runs.
    // SAFETY: both ranges are mapped and readable for `TABLE_SIZE` bytes.
    let same = unsafe {
        core::slice::from_raw_parts(code, TABLE_SIZE)
            == core::slice::from_raw_parts(table, TABLE_SIZE)
    };
    if !same {
        // SAFETY: puts fresh anonymous read+write pages back over our own range.
        unsafe {
            libc::mmap(
                code.cast(),
                TABLE_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANON | libc::MAP_FIXED,
                -1,
                0,
            )
        };
    }
    same
}

/// The file and file offset that the page holding `address` was mapped from, per
/// `/proc/self/maps`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn image_location(address: *const u8) -> Option<(String, u64)> {
    let address = address as usize;
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|line| {
        // start-end perms offset dev inode path
        let mut fields = line.splitn(6, ' ');
        let (start, end) = fields.next()?.split_once('-')?;
        let (start, end) = (
            usize::from_str_radix(start, 16).ok()?,
            usize::from_str_radix(end, 16).ok()?,
        );
        if !(start..end).contains(&address) {
            return None;
        }
        let offset = u64::from_str_radix(fields.nth(1)?, 16).ok()?;
        let path = fields.nth(2)?.trim_start();
        if !path.starts_with('/') || path.ends_with(" (deleted)") {
            return None;
        }
        Some((path.to_owned(), offset + (address - start) as u64))
    })
}

/// Remaps the table's own pages over `code` with `vm_remap`, sharing them read+execute.
///
/// # Safety
///
/// As for the Linux version.
#[cfg(target_vendor = "apple")]
unsafe fn map_code_from_image(code: *mut u8, table: *const u8) -> bool {
    use core::ffi::c_int;
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
        fn mprotect(addr: *mut core::ffi::c_void, len: usize, prot: c_int) -> c_int;
    }
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
        return false;
    }
    if cur & VM_PROT_EXECUTE == 0 {
        // SAFETY: our own range.
        unsafe { mprotect(code.cast(), TABLE_SIZE, libc::PROT_READ | libc::PROT_EXEC) };
    }
    true
}

/// Elsewhere only the copying fallback is available.
#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
unsafe fn map_code_from_image(_code: *mut u8, _table: *const u8) -> bool {
    false
}
