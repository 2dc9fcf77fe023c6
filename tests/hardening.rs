//! Thunks in hostile processes (Linux): writable-then-executable memory forbidden, address
//! space exhausted, the executable's path covered by a mount or replaced. Each scenario changes
//! the whole process, so it runs in a child of its own (this binary, or a copy of it) that
//! must pass; a scenario the machine cannot set up prints `skipped: <why>`. Those about the
//! executable's file and the address space run natively only (x86_64 and i686 here): under
//! qemu-user, `/proc/self/exe` is the emulator's own emulation (it opens the path, so a FIFO
//! mounted there hangs qemu itself, and a small file mounted there is what it hands back, which
//! this crate then refuses and copies instead).
#![cfg(target_os = "linux")]

mod common;
#[path = "common/maps.rs"]
mod maps;

use core::ffi::{c_int, c_void};
use std::path::{Path, PathBuf};

use common::{in_passing_child, skipped_under_emulator};
use trampoline::{Error, ImageError, Thunk, ThunkMut, pool_stats};

type Cb = unsafe extern "C" fn(i64) -> i64;
type Cmp = unsafe extern "C" fn(*const c_void, *const c_void) -> c_int;

unsafe extern "C" {
    fn qsort(base: *mut c_void, n: usize, size: usize, cmp: Cmp);
}

/// Creates `n` thunks and checks each through libc's `qsort` (each sorts one way), then that no mapping is writable and executable.
fn thunks_work_through_qsort(n: usize) {
    let mut thunks = Vec::with_capacity(n);
    let mut values: Vec<i32> = (0..64).rev().collect();
    for i in 0..n {
        let cmp = ThunkMut::<Cmp>::new(move |a: *const c_void, b: *const c_void| {
            // SAFETY: qsort passes pointers to elements of `values`.
            let (a, b) = unsafe { (*a.cast::<i32>(), *b.cast::<i32>()) };
            let order = if i % 2 == 0 { a.cmp(&b) } else { b.cmp(&a) };
            order as c_int
        });
        // SAFETY: the comparator lives across the call and has qsort's comparator type.
        unsafe { qsort(values.as_mut_ptr().cast(), values.len(), 4, cmp.as_fn()) };
        let sorted_up = values.windows(2).all(|w| w[0] <= w[1]);
        assert_eq!(sorted_up, i % 2 == 0, "thunk {i} sorted the wrong way");
        thunks.push(cmp);
    }
    let wx: Vec<_> = maps::mappings()
        .into_iter()
        .filter(|m| m.writable() && m.executable())
        .collect();
    assert!(wx.is_empty(), "writable and executable mappings: {wx:?}");
}

/// Forbids this process to make memory executable that was writable (`PR_SET_MDWE`, Linux
/// 6.3+), or says why it cannot.
fn forbid_write_then_execute() -> Result<(), std::io::Error> {
    const PR_MDWE_REFUSE_EXEC_GAIN: libc::c_ulong = 1;
    // SAFETY: prctl with integer arguments; it only changes this process's memory policy.
    match unsafe { libc::prctl(libc::PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// Under MDWE (as systemd's `MemoryDenyWriteExecute` sets), thousands of thunks still work,
/// all mapped from the binary's file, none copied. When the file mapping is made to fail too,
/// `try_new` says both reasons instead of crashing.
#[test]
fn thunks_work_when_write_then_execute_is_forbidden() {
    if !in_passing_child(
        "thunks_work_when_write_then_execute_is_forbidden",
        &std::env::current_exe().unwrap(),
        &[],
    ) {
        return;
    }
    if let Err(e) = forbid_write_then_execute() {
        println!("skipped: PR_SET_MDWE is not available here ({e})");
        return;
    }
    thunks_work_through_qsort(3000);
    let stats = pool_stats();
    assert!(stats.blocks >= 3000 / stats.slots_per_block, "{stats:?}");
    assert_eq!(stats.copied_blocks, 0, "{stats:?}");

    // Both ways refused: use up the free slots of this kind, then ask for one more.
    let before = Thunk::<Cb>::new(|x: i64| x - 1);
    let forced = pool_stats();
    trampoline::force_code_copy(true);
    let mut kept = Vec::new();
    let error = loop {
        match Thunk::<Cb>::try_new(|x: i64| x) {
            Ok(thunk) => kept.push(thunk),
            Err(error) => break error,
        }
        assert!(kept.len() <= forced.free, "no error came");
    };
    assert_eq!(pool_stats().blocks, forced.blocks, "no block was added");
    match &error {
        Error::ProtectCode { image, copy, .. } => {
            assert_eq!(*image, ImageError::Disabled);
            assert_eq!(copy.raw_os_error(), Some(libc::EACCES), "{copy}");
        }
        other => panic!("unexpected error: {other:?}"),
    }
    let message = error.chain().to_string();
    assert!(
        message.contains("turned off") && message.contains("ermission denied"),
        "{message}"
    );
    // SAFETY: both alive.
    unsafe {
        assert_eq!((before.as_fn())(5), 4);
        if let Some(last) = kept.last() {
            assert_eq!((last.as_fn())(5), 5);
        }
    }
}

/// With the address space used up (`RLIMIT_AS`), `try_new` returns `Error::MapBlock`, `new`
/// panics with the reason, the thunks that exist keep working, and dropping every one of them
/// needs no memory.
#[test]
fn thunks_survive_running_out_of_address_space() {
    if skipped_under_emulator("thunks_survive_running_out_of_address_space")
        || !in_passing_child(
            "thunks_survive_running_out_of_address_space",
            &std::env::current_exe().unwrap(),
            &[],
        )
    {
        return;
    }
    let first = Thunk::<Cb>::new(|x: i64| x + 1);
    // What the test itself needs, allocated while it still can be.
    let mut thunks = Vec::with_capacity(1 << 20);
    let mut hoard: Vec<*mut c_void> = Vec::with_capacity(1 << 16);
    // Room for a few more blocks, then nothing.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let vm_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmSize in /proc/self/status");
    let limit = (vm_kb + 4096) * 1024;
    let rlimit = libc::rlimit {
        rlim_cur: limit as libc::rlim_t,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: lowers this child's own soft limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &rlimit) }, 0);
    let error = loop {
        match Thunk::<Cb>::try_new(move |x: i64| x * 2) {
            Ok(thunk) => thunks.push(thunk),
            Err(error) => break error,
        }
        assert!(thunks.len() < 1 << 20, "the limit was never reached");
    };
    assert!(matches!(error, Error::MapBlock(_)), "{error:?}");
    let panic = std::panic::catch_unwind(|| Thunk::<Cb>::new(|x: i64| x)).unwrap_err();
    let text = common::panic_text(panic);
    assert!(text.contains("cannot create a thunk"), "{text}");
    // SAFETY: all alive.
    unsafe {
        assert_eq!((first.as_fn())(1), 2);
        assert_eq!((thunks[thunks.len() - 1].as_fn())(4), 8);
    }
    assert_eq!(pool_stats().live, thunks.len() + 1);
    // Take whatever the allocator still has, so that a drop that allocated would abort.
    for size in [1 << 16, 1 << 12, 1 << 8, 16] {
        while hoard.len() < hoard.capacity() {
            // SAFETY: plain allocation; freed below.
            let block = unsafe { libc::malloc(size) };
            if block.is_null() {
                break;
            }
            hoard.push(block);
        }
    }
    drop(thunks);
    let live = pool_stats().live;
    for block in hoard {
        // SAFETY: allocated above with malloc.
        unsafe { libc::free(block) };
    }
    assert_eq!(live, 1, "all dropped but the first");
    // SAFETY: alive.
    assert_eq!(unsafe { (first.as_fn())(2) }, 3);
}

/// What may cover the executable's path once the process runs.
fn covering_file(kind: &str, dir: &Path) -> PathBuf {
    let path = dir.join(kind);
    match kind {
        "small" => std::fs::write(&path, b"#!/bin/sh\n").unwrap(),
        "fifo" => {
            let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
            // SAFETY: creates a FIFO at a fresh path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        }
        _ => {
            std::fs::copy(common::CLIB_PATH, &path).unwrap();
        }
    }
    path
}

/// In a private mount namespace, `kind` is bind-mounted over this executable's path before
/// the first thunk: no crash, no hang, and the code is still mapped from the real file.
fn thunks_work_with_something_mounted_over_the_executable(kind: &str) {
    // SAFETY: unshare only affects this (single-threaded) child.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        let e = std::io::Error::last_os_error();
        println!("skipped: no private mount namespace ({e})");
        return;
    }
    let root = c"/";
    // SAFETY: makes every mount private to this namespace, so nothing leaks to the host.
    let private = unsafe {
        libc::mount(
            core::ptr::null(),
            root.as_ptr(),
            core::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            core::ptr::null(),
        )
    };
    assert_eq!(private, 0, "{}", std::io::Error::last_os_error());
    let dir = std::env::temp_dir().join(format!("trampoline-mount-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cover = covering_file(kind, &dir);
    let exe = std::env::current_exe().unwrap();
    let (from, to) = (
        std::ffi::CString::new(cover.to_str().unwrap()).unwrap(),
        std::ffi::CString::new(exe.to_str().unwrap()).unwrap(),
    );
    // SAFETY: a bind mount inside this child's own namespace.
    let mounted = unsafe {
        libc::mount(
            from.as_ptr(),
            to.as_ptr(),
            core::ptr::null(),
            libc::MS_BIND,
            core::ptr::null(),
        )
    };
    assert_eq!(mounted, 0, "{}", std::io::Error::last_os_error());
    thunks_work_through_qsort(300);
    let stats = pool_stats();
    assert_eq!(stats.copied_blocks, 0, "{kind}: {stats:?}");
    assert_eq!(stats.image_lookups, 1, "{kind}: {stats:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_small_file_mounted_over_the_executable() {
    if !skipped_under_emulator("a_small_file_mounted_over_the_executable")
        && in_passing_child(
            "a_small_file_mounted_over_the_executable",
            &std::env::current_exe().unwrap(),
            &[],
        )
    {
        thunks_work_with_something_mounted_over_the_executable("small");
    }
}

#[test]
fn a_fifo_mounted_over_the_executable() {
    if !skipped_under_emulator("a_fifo_mounted_over_the_executable")
        && in_passing_child(
            "a_fifo_mounted_over_the_executable",
            &std::env::current_exe().unwrap(),
            &[],
        )
    {
        thunks_work_with_something_mounted_over_the_executable("fifo");
    }
}

#[test]
fn a_foreign_file_mounted_over_the_executable() {
    if !skipped_under_emulator("a_foreign_file_mounted_over_the_executable")
        && in_passing_child(
            "a_foreign_file_mounted_over_the_executable",
            &std::env::current_exe().unwrap(),
            &[],
        )
    {
        thunks_work_with_something_mounted_over_the_executable("foreign");
    }
}

/// A copy of this test binary that deletes (or replaces) itself before its first thunk: the
/// code is still mapped from the loaded file, reached through `/proc/self/exe`.
#[test]
fn thunks_work_after_the_executable_is_deleted_or_replaced() {
    const ENV: &str = "TRAMPOLINE_HARDENING_REPLACE";
    let name = "thunks_work_after_the_executable_is_deleted_or_replaced";
    if let Ok(how) = std::env::var(ENV) {
        let exe = std::env::current_exe().unwrap();
        std::fs::remove_file(&exe).unwrap();
        if how == "replace" {
            std::fs::write(&exe, vec![0x90u8; 1 << 20]).unwrap();
        }
        thunks_work_through_qsort(300);
        let stats = pool_stats();
        assert_eq!(
            (stats.copied_blocks, stats.image_lookups),
            (0, 1),
            "{how}: {stats:?}"
        );
        return;
    }
    if skipped_under_emulator(name) {
        return;
    }
    for how in ["delete", "replace"] {
        let dir = std::env::temp_dir().join(format!("trampoline-{how}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let copy = dir.join("copy-of-the-test");
        std::fs::copy(std::env::current_exe().unwrap(), &copy).unwrap();
        in_passing_child(name, &copy, &[(ENV, how)]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `probe_stats`'s result (`tests/dylib-probe`).
#[repr(C)]
#[derive(Debug, Default, PartialEq, Eq)]
struct ProbeStats {
    blocks: usize,
    copied_blocks: usize,
    live: usize,
    image_lookups: usize,
}

/// The crate inside a cdylib that is loaded with `dlopen`, used and unloaded with `dlclose`,
/// round after round: each load has fresh pools whose code is mapped from the library's own
/// file, and works after the previous load is gone. Blocks are never unmapped, so each round
/// leaves its one block behind: pinned here, documented as a limit in the README.
///
/// Each round uses the library from a thread that exits before the `dlclose`: a thread that
/// created thunks holds a cache whose thread-local destructor keeps the library loaded (glibc
/// defers the unload) until the thread exits. That limit is pinned too, at the end.
#[test]
fn a_cdylib_holding_the_crate_is_loaded_and_unloaded() {
    const ROUNDS: usize = 20;
    let Some(path) = std::env::var_os("TRAMPOLINE_TEST_DYLIB") else {
        println!(
            "a_cdylib_holding_the_crate_is_loaded_and_unloaded: skipped: TRAMPOLINE_TEST_DYLIB \
             is not set (.ci/run builds tests/dylib-probe and sets it)"
        );
        return;
    };
    let path = Path::new(&path).canonicalize().unwrap();
    let from_library = |m: &maps::Mapping| Path::new(&m.path) == path;
    assert_eq!(
        maps::mappings().iter().filter(|m| from_library(m)).count(),
        0
    );
    type Entries = (extern "C" fn(i64) -> Cb, extern "C" fn(&mut ProbeStats));
    let load = || {
        // SAFETY: the probe library runs no initialisation code with preconditions.
        let library = unsafe { libloading::Library::new(&path) }.unwrap();
        // SAFETY: the declared types are the probe's (tests/dylib-probe/src/lib.rs).
        let entries: Entries = unsafe {
            (
                *library.get(b"probe_thunk").unwrap(),
                *library.get(b"probe_stats").unwrap(),
            )
        };
        (library, entries)
    };
    for round in 0..ROUNDS as i64 {
        let (library, (make, stats)) = load();
        let (thunk, seen) = std::thread::spawn(move || {
            let thunk = make(round);
            let mut seen = ProbeStats::default();
            stats(&mut seen);
            (thunk as usize, seen)
        })
        .join()
        .unwrap();
        // SAFETY: the thunk was leaked inside the library, which is loaded.
        let thunk: Cb = unsafe { core::mem::transmute(thunk) };
        // SAFETY: as above.
        assert_eq!(unsafe { thunk(1) }, round + 1);
        let expected = ProbeStats {
            blocks: 1,
            copied_blocks: 0,
            live: 1,
            image_lookups: 1,
        };
        assert_eq!(
            seen, expected,
            "round {round}: a fresh pool, mapped from the file"
        );
        let code = maps::mappings()
            .into_iter()
            .find(|m| (m.start..m.end).contains(&(thunk as usize)))
            .unwrap();
        assert!(from_library(&code), "round {round}: {}", code.line);
        drop(library);
    }
    assert_eq!(
        maps::mappings().iter().filter(|m| from_library(m)).count(),
        ROUNDS,
        "the library is unloaded each round, but each load leaves its one block of code behind"
    );

    // Used from this thread, which lives on: the `dlclose` does not unload it, and loading it
    // again gives the same pools (its block and its live thunk; a fresh load has neither).
    let (library, (make, _)) = load();
    // SAFETY: leaked inside the library, which is loaded.
    assert_eq!(unsafe { make(5)(1) }, 6);
    drop(library);
    let (_library, (_, stats)) = load();
    let mut seen = ProbeStats::default();
    stats(&mut seen);
    assert_eq!(
        (seen.blocks, seen.live),
        (1, 1),
        "still the same load: this thread's cache keeps the library loaded"
    );
}

/// On a CPU with BTI, thunk code is mapped BTI-guarded (`PROT_BTI`), like a BTI binary's own
/// text: an indirect call that lands anywhere but a stub's `bti c` faults. (Checked by that
/// fault, in a forked child: qemu-user's `/proc/self/smaps` does not show the `bt` flag.)
#[cfg(target_arch = "aarch64")]
#[test]
fn thunk_code_is_bti_guarded_where_the_cpu_has_bti() {
    const HWCAP2_BTI: libc::c_ulong = 1 << 17;
    // SAFETY: getauxval has no preconditions.
    if unsafe { libc::getauxval(libc::AT_HWCAP2) } & HWCAP2_BTI == 0 {
        println!("thunk_code_is_bti_guarded_where_the_cpu_has_bti: skipped: no BTI on this CPU");
        return;
    }
    let thunk = Thunk::<Cb>::new(|x: i64| x + 1);
    // SAFETY: alive; called at its landing pad, as C does.
    assert_eq!(unsafe { (thunk.as_fn())(1) }, 2);
    // One instruction in: past `bti c`, the rest of the stub would still work if unguarded.
    // SAFETY: an address inside the stub, called only in the child, where it must fault.
    let past_pad: Cb = unsafe { core::mem::transmute(thunk.as_ptr().wrapping_byte_add(4)) };
    // SAFETY: the child only calls the stub and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: see above; `_exit` skips the parent's atexit handlers.
        unsafe {
            let x = core::hint::black_box(past_pad)(1);
            libc::_exit(if x == 2 { 0 } else { 1 });
        }
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGILL,
        "a call past the landing pad must fault with SIGILL (wait status {status:#x})"
    );
}
