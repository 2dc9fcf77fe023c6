//! The frame adapters' unwind information, checked by what reads it: panics of `-unwind`
//! callbacks crossing C frames, backtraces taken inside callbacks, and (Windows, C built by an
//! MSVC-style compiler) structured exceptions caught by C's `__try` / `__except` above a
//! callback. A frame adapter without correct unwind information fails each of these: the
//! unwinder loses its way at the adapter and reads a wrong return address.
#![cfg(panic = "unwind")]

mod common;

use core::ffi::c_void;
use std::backtrace::Backtrace;
use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use common::sym;
use trampoline::Thunk;

/// A window procedure that may panic into its caller (WNDPROC with an `-unwind` ABI). On
/// Windows x64 its four arguments leave no register free: a frame adapter runs it.
type WndProc = unsafe extern "system-unwind" fn(*mut c_void, u32, usize, isize) -> isize;
type DispatchMessage =
    unsafe extern "C-unwind" fn(WndProc, *mut c_void, u32, usize, isize) -> isize;

/// Twelve pointer-sized integers: no free register on any target, so a frame adapter runs the
/// callback everywhere.
type Cb12 = unsafe extern "C-unwind" fn(
    isize,
    isize,
    isize,
    isize,
    isize,
    isize,
    isize,
    isize,
    isize,
    isize,
    isize,
    isize,
) -> isize;
type Call12 = unsafe extern "C-unwind" fn(Cb12, *const isize) -> isize;

const PANIC: u32 = 0x0666;

fn dispatch_message() -> DispatchMessage {
    // SAFETY: the declared type is the C function's (TL_SYSTEM callback, C caller).
    unsafe { sym("tl_dispatch_message") }
}

/// A panic in a window procedure crosses the frame adapter and C's dispatch frame and is
/// caught in Rust; the thunk works again afterwards. (Not on 32-bit MinGW, where no panic can
/// cross a separately built MinGW DLL's frames: see `panics.rs`.)
#[cfg(not(all(windows, target_arch = "x86", target_env = "gnu")))]
#[test]
fn a_window_procedure_panic_crosses_c_and_is_caught_in_rust() {
    let hwnd = core::ptr::without_provenance_mut::<c_void>(0x1230);
    let thunk = Thunk::<WndProc>::new(|hwnd: *mut c_void, msg: u32, w: usize, l: isize| {
        if msg == PANIC {
            panic!("message {msg:#x} for window {hwnd:p}");
        }
        w as isize + l + hwnd.addr() as isize
    });
    let dispatch = dispatch_message();
    // SAFETY: C calls the thunk once, during the call, while it lives.
    let outcome = catch_unwind(AssertUnwindSafe(|| unsafe {
        dispatch(thunk.as_fn(), hwnd, PANIC, 0, 0)
    }));
    assert_eq!(
        common::panic_text(outcome.unwrap_err()),
        "message 0x666 for window 0x1230"
    );
    // SAFETY: as above.
    assert_eq!(
        unsafe { dispatch(thunk.as_fn(), hwnd, 1, 40, 2) },
        0x1230 + 42
    );
}

/// The callback of `backtrace_from_inside_a_callback`, which records a backtrace.
fn record_backtrace(into: &RefCell<String>) -> isize {
    *into.borrow_mut() = Backtrace::force_capture().to_string();
    7
}

/// The Rust caller above the C frame that the backtrace must reach, by name.
#[inline(never)]
fn backtrace_caller_above_c(call: &dyn Fn() -> isize) -> isize {
    core::hint::black_box(call())
}

/// A backtrace taken inside a callback run by a frame adapter walks through the adapter and
/// the C frame to the Rust function that called C.
#[test]
fn a_backtrace_in_a_callback_reaches_the_rust_caller_above_c() {
    let trace = RefCell::new(String::new());
    let thunk = Thunk::<Cb12>::new(
        |a: isize,
         _: isize,
         _: isize,
         _: isize,
         _: isize,
         _: isize,
         _: isize,
         _: isize,
         _: isize,
         _: isize,
         _: isize,
         l: isize| { record_backtrace(&trace) + a + l },
    );
    // SAFETY: the declared type is the C function's.
    let call12: Call12 = unsafe { sym("tl_call_i12") };
    let mut args = [0isize; 12];
    args[0] = 30;
    args[11] = 5;
    // SAFETY: C calls the thunk once, during the call, while it lives.
    let result = backtrace_caller_above_c(&|| unsafe { call12(thunk.as_fn(), args.as_ptr()) });
    assert_eq!(result, 42);
    drop(thunk);
    let trace = trace.into_inner();
    let at = |name: &str| trace.find(name);
    let inside = at("record_backtrace");
    let caller = at("backtrace_caller_above_c");
    assert!(
        inside.is_some() && caller.is_some() && inside < caller,
        "the backtrace should go from the callback to the Rust caller above C:\n{trace}"
    );
}

/// Windows, C built by MSVC or clang-cl: a structured exception raised in a window procedure
/// is caught by C's `__except` above it. The system's dispatcher finds that handler, and
/// unwinds to it, only by reading each frame's unwind data: on x64 that of the frame adapter
/// too (`.seh_*` directives in `src/arch/x86_64.rs`); on x86, the chain of handler
/// registrations on the stack, which the adapter leaves alone.
#[cfg(all(windows, testlib_seh))]
#[test]
fn a_structured_exception_in_a_window_procedure_is_caught_by_c() {
    type DispatchSeh =
        unsafe extern "C" fn(WndProc, *mut c_void, u32, usize, isize, u32, *mut isize) -> u32;
    #[link(name = "kernel32")]
    unsafe extern "system" {
        fn RaiseException(code: u32, flags: u32, count: u32, arguments: *const usize);
    }
    /// A customer-defined error code (bit 29), severity error.
    const CODE: u32 = 0xe074_7261;
    const RAISE: u32 = 0x0777;

    use std::cell::Cell;
    let calls = Cell::new(0);
    let thunk = Thunk::<WndProc>::new(|_: *mut c_void, msg: u32, w: usize, l: isize| {
        calls.set(calls.get() + 1);
        if msg == RAISE {
            // SAFETY: raising a structured exception is always allowed; C handles it.
            unsafe { RaiseException(CODE, 0, 0, core::ptr::null()) };
            unreachable!("RaiseException returned");
        }
        w as isize + l
    });
    // SAFETY: the declared type is the C function's.
    let dispatch: DispatchSeh = unsafe { sym("tl_dispatch_message_seh") };
    let mut result = -1;
    let hwnd = core::ptr::null_mut();
    // SAFETY: C calls the thunk once, during the call, while it lives.
    let caught = unsafe { dispatch(thunk.as_fn(), hwnd, RAISE, 0, 0, CODE, &mut result) };
    assert_eq!(caught, CODE, "C's __except did not catch the exception");
    assert_eq!(result, -1);
    // The stack is sound after the unwind: the same thunk, through the same C frame.
    // SAFETY: as above.
    let caught = unsafe { dispatch(thunk.as_fn(), hwnd, 1, 40, 2, CODE, &mut result) };
    assert_eq!((caught, result), (0, 42));
    assert_eq!(calls.get(), 2);
}
