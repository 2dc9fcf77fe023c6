//! The frame adapters' unwind information, checked by what reads it: panics of `-unwind`
//! callbacks crossing C frames, backtraces taken inside callbacks, and (Windows, C built by an
//! MSVC-style compiler) structured exceptions caught by C's `__try` / `__except` above a
//! callback. A frame adapter without correct unwind information fails each of these: the
//! unwinder loses its way at the adapter and reads a wrong return address.
#![cfg(panic = "unwind")]
// 32-bit MinGW runs no test that crosses C frames (see below): their helpers go unused there.
#![cfg_attr(
    all(windows, target_arch = "x86", target_env = "gnu"),
    allow(unused_imports, dead_code)
)]

mod common;

use core::ffi::c_void;
use std::backtrace::Backtrace;
use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use common::{Cb12Unwind as Cb12, sym};
use trampoline::Thunk;

/// A window procedure that may panic into its caller (WNDPROC with an `-unwind` ABI). On
/// Windows x64 its four arguments leave no register free: a frame adapter runs it.
type WndProc = unsafe extern "system-unwind" fn(*mut c_void, u32, usize, isize) -> isize;
type DispatchMessage =
    unsafe extern "C-unwind" fn(WndProc, *mut c_void, u32, usize, isize) -> isize;

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

/// What a callback saw of its stack.
#[derive(Default)]
struct Trace {
    /// `std::backtrace`, symbolised.
    text: String,
    /// Return addresses from the system's own stack walker (Windows: `RtlVirtualUnwind`
    /// over `.pdata` on x64, the frame-pointer chain on x86).
    #[cfg(windows)]
    return_addresses: Vec<usize>,
}

/// The callback of `a_backtrace_in_a_callback_reaches_the_rust_caller_above_c`.
#[inline(never)]
fn record_backtrace(into: &RefCell<Trace>) -> isize {
    let mut trace = into.borrow_mut();
    // Wine 8's dbghelp never returns from walking this stack on i686 MSVC (seen here; i686
    // MinGW's backtraces go through the same dbghelp, so it is skipped there too). The
    // system's own walker below has no such trouble.
    #[cfg(windows)]
    let symbolise = !(cfg!(target_arch = "x86") && under_wine());
    #[cfg(not(windows))]
    let symbolise = true;
    if symbolise {
        trace.text = Backtrace::force_capture().to_string();
    }
    #[cfg(windows)]
    {
        #[link(name = "kernel32")]
        unsafe extern "system" {
            fn RtlCaptureStackBackTrace(
                skip: u32,
                count: u32,
                frames: *mut *mut c_void,
                hash: *mut u32,
            ) -> u16;
        }
        let mut frames = [core::ptr::null_mut(); 62];
        // SAFETY: `frames` has room for the 62 entries asked for.
        let n =
            unsafe { RtlCaptureStackBackTrace(0, 62, frames.as_mut_ptr(), core::ptr::null_mut()) };
        trace.return_addresses = frames[..usize::from(n)].iter().map(|p| p.addr()).collect();
    }
    7
}

/// The Rust caller above the C frame that the backtrace must reach.
#[inline(never)]
fn backtrace_caller_above_c(call: &dyn Fn() -> isize) -> isize {
    core::hint::black_box(call())
}

/// The module (executable or DLL) holding `address`, by its base address.
#[cfg(windows)]
fn module_of(address: usize) -> usize {
    const FROM_ADDRESS: u32 = 0x4;
    const UNCHANGED_REFCOUNT: u32 = 0x2;
    #[link(name = "kernel32")]
    unsafe extern "system" {
        fn GetModuleHandleExA(flags: u32, name: *const u8, module: *mut *mut c_void) -> i32;
    }
    let mut module = core::ptr::null_mut();
    // SAFETY: with FROM_ADDRESS the "name" is any address; `module` receives the handle.
    let found = unsafe {
        GetModuleHandleExA(
            FROM_ADDRESS | UNCHANGED_REFCOUNT,
            address as *const u8,
            &mut module,
        )
    };
    if found == 0 { 0 } else { module.addr() }
}

/// Whether this process runs under Wine, whose dbghelp leaves many of this crate's frames
/// unnamed (`<unknown>`) although the walk itself reaches them.
#[cfg(windows)]
fn under_wine() -> bool {
    #[link(name = "kernel32")]
    unsafe extern "system" {
        fn GetModuleHandleA(name: *const u8) -> *mut c_void;
        fn GetProcAddress(module: *mut c_void, name: *const u8) -> *mut c_void;
    }
    // SAFETY: NUL-terminated names; ntdll is loaded in every process.
    unsafe {
        !GetProcAddress(
            GetModuleHandleA(c"ntdll".as_ptr().cast()),
            c"wine_get_version".as_ptr().cast(),
        )
        .is_null()
    }
}

/// A backtrace taken inside a callback run by a frame adapter walks through the adapter and
/// the C frame to the Rust function that called C: by name (std::backtrace), and on Windows
/// also by address, with the system's own walker.
#[test]
fn a_backtrace_in_a_callback_reaches_the_rust_caller_above_c() {
    let trace = RefCell::new(Trace::default());
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
    let text = &trace.text;

    #[cfg(windows)]
    {
        // The walk passes the frame adapter into the C library, and from there into this
        // executable's Rust frames above it.
        let modules: Vec<usize> = trace
            .return_addresses
            .iter()
            .map(|&ip| module_of(ip))
            .collect();
        let (exe, clib) = (
            module_of(record_backtrace as fn(&RefCell<Trace>) -> isize as usize),
            module_of(call12 as usize),
        );
        let in_c = modules.iter().position(|&m| m == clib);
        assert!(
            in_c.is_some_and(|c| modules[c..].contains(&exe)),
            "the system's stack walk should go through the C library ({clib:#x}) to this \
             executable ({exe:#x}): {:x?} in {modules:x?}\n{text}",
            trace.return_addresses
        );
        // On x64 the walk reads every function's unwind data, so it sees each frame: return
        // addresses within 4 KiB after the start of each function (both are much smaller),
        // the callback's call to the backtrace, then, further up, the caller's call into C.
        // (x86 walks the frame-pointer chain, which passes over functions that keep none.)
        #[cfg(target_arch = "x86_64")]
        {
            let caller = backtrace_caller_above_c as fn(&dyn Fn() -> isize) -> isize as usize;
            let inside = record_backtrace as fn(&RefCell<Trace>) -> isize as usize;
            let near = |start: usize| {
                trace
                    .return_addresses
                    .iter()
                    .position(|&ip| ip > start && ip - start < 4096)
            };
            let (from, to) = (near(inside), near(caller));
            assert!(
                from.is_some() && to.is_some() && from < to,
                "the system's stack walk should go from the callback ({inside:#x}) to the \
                 Rust caller above C ({caller:#x}): {:x?}\n{text}",
                trace.return_addresses
            );
        }
        if under_wine() {
            return;
        }
    }
    let at = |name: &str| text.find(name);
    let (inside, caller) = (at("record_backtrace"), at("backtrace_caller_above_c"));
    assert!(
        inside.is_some() && caller.is_some() && inside < caller,
        "the backtrace should go from the callback to the Rust caller above C:\n{text}"
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
