//! Misuse that must abort the process with a clear message rather than run into undefined
//! behaviour: panics in non-unwind callbacks, re-entered or concurrent FnMut thunks, stale
//! thunk pointers, FnOnce thunks called twice, FnMut and FnOnce thunks dropped mid-call,
//! destroy notifies called twice, C-owned callbacks called after their destroy.
//!
//! Each test runs its scenario in a child process (this same test binary, filtered to the one
//! test, with an environment variable saying "you are the child") and checks that the child
//! aborted and printed the expected message.

mod common;

use common::{in_child, sym};
use core::ffi::c_void;
use trampoline::{Thunk, ThunkMut, ThunkOnce, UserData, ud};

type Cb1 = unsafe extern "C" fn(i64) -> i64;
type NestPlain = unsafe extern "C" fn(NestCb, i32) -> i32;
type NestCb = unsafe extern "C" fn(i32) -> i32;

#[test]
fn panic_in_a_thunk_aborts_naming_the_signature_and_the_panic() {
    if !in_child(
        "panic_in_a_thunk_aborts_naming_the_signature_and_the_panic",
        &[
            "unsafe extern \"C\" fn(i64) -> i64",
            "panicked: the callback gave up",
            "trampoline:",
        ],
    ) {
        return;
    }
    // SAFETY: the declared type is the C function's.
    let loop1: unsafe extern "C" fn(Cb1, i64) -> i64 = unsafe { sym("tl_loop1") };
    let thunk = Thunk::<Cb1>::new(|x: i64| {
        if x == 3 {
            panic!("the callback gave up");
        }
        x
    });
    // SAFETY: the thunk outlives the call.
    unsafe { loop1(thunk.as_fn(), 10) };
    unreachable!("the panic must abort");
}

#[test]
fn panic_in_a_user_data_callback_aborts_naming_the_signature() {
    if !in_child(
        "panic_in_a_user_data_callback_aborts_naming_the_signature",
        &[
            "unsafe extern \"C\" fn(i64, *mut core::ffi::c_void) -> i64",
            "panicked: boom 7",
        ],
    ) {
        return;
    }
    type Cb = unsafe extern "C" fn(i64, *mut c_void) -> i64;
    // SAFETY: the declared type is the C function's.
    let loop1: unsafe extern "C" fn(Cb, *mut c_void, i64) -> i64 = unsafe { sym("tl_loop1_ud") };
    let mut f = |x: i64| -> i64 { panic!("boom {}", x + 7) };
    let cb = UserData::<Cb, ud::Last>::new(&mut f);
    // SAFETY: the callback outlives the call.
    unsafe { loop1(cb.func(), cb.data(), 1) };
    unreachable!("the panic must abort");
}

#[test]
fn reentered_fnmut_thunk_aborts() {
    if !in_child(
        "reentered_fnmut_thunk_aborts",
        &["re-entered", "FnMut thunk"],
    ) {
        return;
    }
    // SAFETY: the declared type is the C function's.
    let nest: NestPlain = unsafe { sym("tl_nest_plain") };
    let this = std::cell::Cell::new(None::<NestCb>);
    let thunk = ThunkMut::<NestCb>::new(|depth: i32| {
        // Re-enters itself through C: the second entry must abort, not alias `&mut`.
        if depth > 0 {
            // SAFETY: the thunk is alive.
            unsafe { nest(this.get().unwrap(), depth - 1) }
        } else {
            0
        }
    });
    this.set(Some(thunk.as_fn()));
    // SAFETY: the thunk outlives the call.
    unsafe { nest(thunk.as_fn(), 3) };
    unreachable!("re-entering must abort");
}

#[test]
fn fnmut_thunk_called_from_two_threads_at_once_aborts() {
    if !in_child(
        "fnmut_thunk_called_from_two_threads_at_once_aborts",
        &["called from two threads at once"],
    ) {
        return;
    }
    type ThreadCb = unsafe extern "C" fn(i64, i64) -> i64;
    // SAFETY: the declared type is the C function's.
    let from_threads: unsafe extern "C" fn(ThreadCb, i32, i64) -> i64 =
        unsafe { sym("tl_call_from_threads_plain") };
    let mut calls = 0i64;
    let thunk = ThunkMut::<ThreadCb, trampoline::threads::Send>::new(move |_t: i64, i: i64| {
        // Stay inside long enough for the other thread to come in.
        std::thread::sleep(std::time::Duration::from_millis(20));
        calls += 1;
        calls + i
    });
    // SAFETY: breaks the thunk's contract on purpose (two threads at once): that must abort.
    unsafe { from_threads(thunk.as_fn(), 4, 50) };
    unreachable!("concurrent calls must abort");
}

#[test]
fn calling_a_dropped_thunk_aborts_naming_the_signature() {
    if !in_child(
        "calling_a_dropped_thunk_aborts_naming_the_signature",
        &[
            "was called after the thunk (created at tests",
            "aborts.rs:",
            ") was dropped",
            "unsafe extern \"C\" fn(i64) -> i64",
        ],
    ) {
        return;
    }
    let thunk = Thunk::<Cb1>::new(|x: i64| x + 1);
    let stale = thunk.as_fn();
    // SAFETY: alive here.
    assert_eq!(unsafe { stale(1) }, 2);
    drop(thunk);
    // SAFETY: deliberately not: the pointer is stale, which must abort, not run anything.
    unsafe { stale(1) };
    unreachable!("a stale call must abort");
}

#[test]
fn calling_a_dropped_frame_path_thunk_aborts() {
    if !in_child(
        "calling_a_dropped_frame_path_thunk_aborts",
        &["was called after the thunk (created at tests/aborts.rs:"],
    ) {
        return;
    }
    type Six = unsafe extern "C" fn(isize, isize, isize, isize, isize, isize) -> isize;
    let thunk = Thunk::<Six>::new(|a, b, c, d, e, f| a + b + c + d + e + f);
    let stale = thunk.as_fn();
    // SAFETY: alive here.
    assert_eq!(unsafe { stale(1, 2, 3, 4, 5, 6) }, 21);
    drop(thunk);
    // SAFETY: deliberately not: the pointer is stale.
    unsafe { stale(1, 2, 3, 4, 5, 6) };
    unreachable!("a stale call must abort");
}

#[test]
fn fnonce_thunk_called_twice_aborts() {
    if !in_child(
        "fnonce_thunk_called_twice_aborts",
        &["FnOnce thunk", "called a second time"],
    ) {
        return;
    }
    let thunk = ThunkOnce::<Cb1>::new(|x: i64| x * 2);
    let f = thunk.as_fn();
    // SAFETY: alive; the first call is the one allowed.
    assert_eq!(unsafe { f(21) }, 42);
    // SAFETY: deliberately calls twice, which must abort.
    unsafe { f(21) };
    unreachable!("a second call must abort");
}

/// A call parked inside an `FnMut` closure on one thread while the owner drops the thunk on
/// another: the drop finds the slot busy and aborts, rather than free the closure under the
/// running call.
#[test]
fn fnmut_thunk_dropped_on_another_thread_while_running_aborts() {
    if !in_child(
        "fnmut_thunk_dropped_on_another_thread_while_running_aborts",
        &["dropped while its closure was running", "fn(i64) -> i64"],
    ) {
        return;
    }
    let (entered, wait_entered) = std::sync::mpsc::channel();
    let (_release, wait_release) = std::sync::mpsc::channel::<()>();
    let mut calls = 0;
    let thunk = ThunkMut::<Cb1, trampoline::threads::Send>::new(move |x: i64| {
        calls += 1;
        entered.send(()).unwrap();
        // Parked here until the process ends: the drop must abort first.
        let _ = wait_release.recv();
        x + calls
    });
    let f = thunk.as_fn();
    // SAFETY: the thunk is `threads::Send` (one thread at a time) and alive when called.
    std::thread::spawn(move || unsafe { f(1) });
    wait_entered.recv().unwrap();
    drop(thunk);
    unreachable!("dropping a running thunk must abort");
}

/// An `FnOnce` closure that drops its own thunk while it runs (through a shared cell): the
/// drop finds the slot busy and aborts, as for `FnMut`.
#[test]
fn fnonce_thunk_dropped_from_its_own_call_aborts() {
    use std::cell::RefCell;
    use std::rc::Rc;
    if !in_child(
        "fnonce_thunk_dropped_from_its_own_call_aborts",
        &["dropped while its closure was running", "fn(i64) -> i64"],
    ) {
        return;
    }
    let cell: Rc<RefCell<Option<ThunkOnce<'static, Cb1>>>> = Rc::default();
    let inside = Rc::clone(&cell);
    let thunk = ThunkOnce::<Cb1>::new(move |x: i64| {
        drop(inside.borrow_mut().take());
        x
    });
    let f = thunk.as_fn();
    *cell.borrow_mut() = Some(thunk);
    // SAFETY: the thunk is alive when called; it is dropped during the call on purpose.
    unsafe { f(1) };
    unreachable!("dropping a running thunk must abort");
}

/// A stale call through an `FnMut` thunk's body (it was dropped before the call read its
/// state) aborts as stale: the drop's swap to DEAD is what the call finds.
#[test]
fn fnmut_thunk_called_after_drop_aborts_as_stale() {
    if !in_child(
        "fnmut_thunk_called_after_drop_aborts_as_stale",
        &[
            "was called after the thunk (created at tests",
            "aborts.rs:",
            "fn(i64) -> i64",
        ],
    ) {
        return;
    }
    let mut n = 0;
    let thunk = ThunkMut::<Cb1>::new(move |x: i64| {
        n += x;
        n
    });
    let f = thunk.as_fn();
    // SAFETY: alive.
    assert_eq!(unsafe { f(2) }, 2);
    drop(thunk);
    // SAFETY: deliberately stale.
    unsafe { f(3) };
    unreachable!("a stale call must abort");
}

/// stdcall-like thunks (stdcall, and thiscall with nothing in ecx) share a fastcall body on
/// 32-bit x86: its abort message must still name the signature's own ABI.
#[cfg(target_arch = "x86")]
#[test]
fn panic_in_a_thiscall_thunk_names_thiscall() {
    if !in_child(
        "panic_in_a_thiscall_thunk_names_thiscall",
        &[
            "unsafe extern \"thiscall\" fn(f64) -> i32",
            "panicked: thiscall 2.5",
        ],
    ) {
        return;
    }
    type Cb = unsafe extern "thiscall" fn(f64) -> i32;
    let thunk = Thunk::<Cb>::new(|x: f64| -> i32 { panic!("thiscall {x}") });
    // SAFETY: the thunk is alive; the panic must abort.
    unsafe { (thunk.as_fn())(2.5) };
    unreachable!("the panic must abort");
}

/// A thunk installed as a signal handler runs when the signal comes; once dropped, a signal
/// makes it abort with its message from inside the handler (written without locks or
/// allocation, as a signal handler requires), rather than hang or run freed state.
#[cfg(unix)]
#[test]
fn a_dropped_thunk_left_as_a_signal_handler_aborts_from_the_handler() {
    use std::sync::atomic::{AtomicI32, Ordering};
    type Handler = unsafe extern "C" fn(i32);
    if !in_child(
        "a_dropped_thunk_left_as_a_signal_handler_aborts_from_the_handler",
        &[
            "trampoline:",
            "was called after the thunk (created at tests",
            "aborts.rs:",
            "fn(i32)",
        ],
    ) {
        return;
    }
    static SEEN: AtomicI32 = AtomicI32::new(0);
    let thunk = trampoline::Thunk::<Handler>::new(|signal: i32| {
        SEEN.store(signal, Ordering::SeqCst);
    });
    let handler = thunk.as_fn();
    // SAFETY: the handler only stores to an atomic; it stays installed (the point of the test).
    unsafe {
        libc::signal(libc::SIGUSR1, handler as usize as libc::sighandler_t);
        libc::raise(libc::SIGUSR1);
    }
    assert_eq!(
        SEEN.load(Ordering::SeqCst),
        libc::SIGUSR1,
        "the handler ran"
    );
    drop(thunk);
    // Another thread holds std's stderr lock, as any thread printing may when a signal comes:
    // a message written through std would wait for it forever.
    let (locked, wait_locked) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _held = std::io::stderr().lock();
        locked.send(()).unwrap();
        loop {
            std::thread::park();
        }
    });
    wait_locked.recv().unwrap();
    // SAFETY: raising a signal whose handler is the dropped thunk: it must abort.
    unsafe { libc::raise(libc::SIGUSR1) };
    unreachable!("the stale handler must abort");
}

#[test]
fn a_destroy_notify_called_twice_aborts() {
    if !in_child(
        "a_destroy_notify_called_twice_aborts",
        &[
            "destroy notify",
            "destroyed twice",
            "handed to C at",
            "aborts.rs",
        ],
    ) {
        return;
    }
    type Tick = unsafe extern "C" fn(*mut c_void, i64) -> i64;
    let owned = UserData::<Tick, ud::First>::into_c(|t: i64| t);
    // SAFETY: the first destroy frees the closure; the second must abort, not free again.
    unsafe {
        (owned.destroy)(owned.data);
        (owned.destroy)(owned.data);
    }
    unreachable!("a second destroy must abort");
}

#[test]
fn an_owned_thunk_called_after_its_destroy_aborts_and_a_second_destroy_too() {
    if !in_child(
        "an_owned_thunk_called_after_its_destroy_aborts_and_a_second_destroy_too",
        &["called after the thunk", "was dropped"],
    ) {
        return;
    }
    let owned = Thunk::<Cb1, trampoline::threads::Send>::new(|x: i64| x + 1).into_c();
    // SAFETY: called while C owns it; then destroyed once; then called: that must abort.
    unsafe {
        assert_eq!((owned.func)(1), 2);
        (owned.destroy)(owned.data);
        (owned.func)(1);
    }
    unreachable!("a call after the destroy must abort");
}

#[test]
fn an_owned_thunk_destroyed_twice_aborts() {
    if !in_child(
        "an_owned_thunk_destroyed_twice_aborts",
        &["destroyed twice"],
    ) {
        return;
    }
    let owned = Thunk::<Cb1, trampoline::threads::Send>::new(|x: i64| x).into_c();
    // SAFETY: destroyed once; the second must abort.
    unsafe {
        (owned.destroy)(owned.data);
        (owned.destroy)(owned.data);
    }
    unreachable!("a second destroy must abort");
}

/// `tl_loop1_ud`'s callback: the user data last.
type CbUd = unsafe extern "C" fn(i64, *mut c_void) -> i64;

fn loop1_ud() -> unsafe extern "C" fn(CbUd, *mut c_void, i64) -> i64 {
    // SAFETY: the declared type is the C function's.
    unsafe { sym("tl_loop1_ud") }
}

#[test]
fn a_c_owned_user_data_callback_called_after_its_destroy_aborts() {
    if !in_child(
        "a_c_owned_user_data_callback_called_after_its_destroy_aborts",
        &[
            "C-owned user-data callback",
            "fn(i64, *mut core::ffi::c_void) -> i64",
            "was called after its destroy notify",
            "handed to C at",
            "aborts.rs",
        ],
    ) {
        return;
    }
    let mut calls = 0;
    let owned = UserData::<CbUd, ud::Last>::into_c(move |x: i64| {
        calls += 1;
        x + calls
    });
    // SAFETY: C calls it while it owns it (0+1, 1+2, 2+3), destroys it, then calls it again:
    // that must abort, not run a freed closure.
    unsafe {
        assert_eq!(loop1_ud()(owned.func, owned.data, 3), 9);
        (owned.destroy)(owned.data);
        loop1_ud()(owned.func, owned.data, 1);
    }
    unreachable!("a call after the destroy must abort");
}

#[test]
fn a_shared_c_owned_user_data_callback_called_after_its_destroy_aborts() {
    if !in_child(
        "a_shared_c_owned_user_data_callback_called_after_its_destroy_aborts",
        &[
            "C-owned user-data callback",
            "was called after its destroy notify",
            "aborts.rs",
        ],
    ) {
        return;
    }
    let owned = UserData::<CbUd, ud::Last>::into_c_sync(|x: i64| x * 2);
    // SAFETY: as above, for the `Fn + Sync` variant.
    unsafe {
        assert_eq!(loop1_ud()(owned.func, owned.data, 3), 6);
        (owned.destroy)(owned.data);
        loop1_ud()(owned.func, owned.data, 1);
    }
    unreachable!("a call after the destroy must abort");
}

#[test]
fn a_c_owned_fnmut_user_data_callback_re_entered_aborts() {
    if !in_child(
        "a_c_owned_fnmut_user_data_callback_re_entered_aborts",
        &[
            "C-owned FnMut user-data callback",
            "re-entered",
            "into_c_sync",
        ],
    ) {
        return;
    }
    let me = std::sync::Arc::new(std::sync::OnceLock::<(CbUd, usize)>::new());
    let inner = std::sync::Arc::clone(&me);
    let owned = UserData::<CbUd, ud::Last>::into_c(move |x: i64| {
        if x == 0 {
            let (func, data) = *inner.get().expect("set before the first call");
            // SAFETY: the callback is alive; calling it from inside itself must abort.
            unsafe { func(1, data as *mut c_void) };
        }
        x
    });
    me.set((owned.func, owned.data as usize)).expect("set once");
    // SAFETY: alive, called once from here; the closure re-enters it.
    unsafe { (owned.func)(0, owned.data) };
    unreachable!("re-entry must abort");
}

#[test]
fn a_late_call_whose_slot_holds_another_callback_aborts() {
    if !in_child(
        "a_late_call_whose_slot_holds_another_callback_aborts",
        &["C-owned user-data callback", "which is not its own"],
    ) {
        return;
    }
    let first = UserData::<CbUd, ud::Last>::into_c(|x: i64| x + 1);
    // SAFETY: destroyed once, by its owner.
    unsafe { (first.destroy)(first.data) };
    // Slots are reused last: after at most a cache's worth (two blocks) of others.
    let enough = 3 * trampoline::pool_stats().slots_per_block as i64;
    let others: Vec<_> = (0..enough)
        .map(|k| UserData::<CbUd, ud::Last>::into_c(move |x: i64| x * k))
        .collect();
    assert!(
        others.iter().any(|o| o.data == first.data),
        "the slot was reused within {enough} callbacks"
    );
    // SAFETY: none; the slot now holds a closure of another type: the call must abort.
    unsafe { loop1_ud()(first.func, first.data, 1) };
    unreachable!("a call with another callback's slot must abort");
}

/// A dropped thunk whose slot went to a C-owned user-data callback, called late through its
/// stub, lands on an abort, not on the callback's data. The test needs a thunk signature of
/// the stub kind those slots come from, the first context register: a signature with no
/// arguments in System V x86_64 (rdi; `sysv64` on Windows), AAPCS64 (x0) and x86 fastcall (ecx).
/// Not on x86_64 Windows where `build.rs` sets cfg `testlib_no_sysv64`: under Control Flow
/// Guard, LLVM miscompiles this test's guarded call of a `sysv64` pointer (see the README).
/// (That cfg is also set where cl.exe builds the C test library; the test is left out there
/// too, though it would pass.)
#[cfg(not(all(windows, target_arch = "x86_64", testlib_no_sysv64)))]
#[test]
fn a_stale_thunk_whose_slot_went_to_a_c_owned_callback_aborts() {
    if !in_child(
        "a_stale_thunk_whose_slot_went_to_a_c_owned_callback_aborts",
        &[
            "thunk was called after it was dropped",
            "C-owned user-data callback",
        ],
    ) {
        return;
    }
    #[cfg(all(target_arch = "x86_64", not(windows)))]
    type Cb0 = unsafe extern "C" fn() -> i64;
    #[cfg(all(target_arch = "x86_64", windows))]
    type Cb0 = unsafe extern "sysv64" fn() -> i64;
    #[cfg(target_arch = "aarch64")]
    type Cb0 = unsafe extern "C" fn() -> i64;
    #[cfg(target_arch = "x86")]
    type Cb0 = unsafe extern "fastcall" fn() -> i64;
    let thunk = Thunk::<Cb0>::new(|| 5);
    let stale = thunk.as_fn();
    drop(thunk);
    let enough = 3 * trampoline::pool_stats().slots_per_block as i64;
    // Enough for the slot to come round (the expected message says it did: a stale call to
    // a slot that no one took aborts with the stale-thunk message instead).
    let _owned: Vec<_> = (0..enough)
        .map(|k| UserData::<CbUd, ud::Last>::into_c(move |x: i64| x * k))
        .collect();
    // SAFETY: none: the thunk is dropped; the call must abort.
    unsafe { stale() };
    unreachable!("a stale thunk must abort");
}
