//! Panics in callbacks that do not abort: caught at the C boundary with `panic::catch` and
//! `panic::fallback`, or propagated through C frames by `-unwind` signatures. (The aborting
//! default is tested in `aborts.rs`.)

mod common;

use core::ffi::c_void;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use common::sym;
use trampoline::{Thunk, ThunkMut, UserData, panic, ud};

type EnumProc = unsafe extern "system" fn(isize, isize) -> i32;
type EnumItems = unsafe extern "system" fn(EnumProc, isize, i32) -> i32;

#[test]
fn user_data_callback_panic_returns_fallback_to_c_and_resumes_in_rust() {
    // SAFETY: the declared type is the C function's.
    let enum_items: EnumItems = unsafe { sym("tl_enum_items") };
    let mut seen = Vec::new();
    let c_returned = Cell::new(None);
    let mut on_item = panic::fallback(0, |item: isize| {
        seen.push(item);
        assert_ne!(item, 30, "item 30 is cursed");
        1
    });
    let cb = UserData::<EnumProc, ud::Last>::new(&mut on_item);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        panic::catch(|| {
            // SAFETY: C calls back during the call, on this thread.
            c_returned.set(Some(unsafe { enum_items(cb.func(), cb.data(), 5) }));
        })
    }));
    // The fallback 0 told the enumerator to stop, so C returned after the third call.
    assert_eq!(c_returned.get(), Some(3));
    assert_eq!(seen, [10, 20, 30]);
    assert_eq!(
        common::panic_text(caught.unwrap_err()),
        "assertion `left != right` failed: item 30 is cursed\n  left: 30\n right: 30"
    );
}

type Cb1 = unsafe extern "C" fn(i64) -> i64;
type Loop1 = unsafe extern "C" fn(Cb1, i64) -> i64;

#[test]
fn after_a_panic_wrapped_callbacks_return_their_fallback_at_once() {
    // SAFETY: the declared type is the C function's.
    let loop1: Loop1 = unsafe { sym("tl_loop1") };
    let calls = Cell::new(0);
    let sum_in_c = Cell::new(0);
    let thunk = ThunkMut::<Cb1>::new(panic::fallback(1000, |x: i64| {
        calls.set(calls.get() + 1);
        if x == 4 {
            panic!("four");
        }
        x
    }));
    let caught = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the thunk outlives the call.
        panic::catch(|| sum_in_c.set(unsafe { loop1(thunk.as_fn(), 10) }))
    }));
    assert_eq!(common::panic_text(caught.unwrap_err()), "four");
    assert_eq!(calls.get(), 5, "the closure ran for 0..=4 only");
    // C saw 0+1+2+3, then the fallback for x = 4..9.
    assert_eq!(sum_in_c.get(), 6 + 6 * 1000);
    // The thunk is usable again afterwards (its busy flag was released).
    // SAFETY: as above.
    assert_eq!(unsafe { loop1(thunk.as_fn(), 3) }, 3);
}

#[test]
fn a_catch_without_panic_returns_the_value() {
    // SAFETY: the declared type is the C function's.
    let loop1: Loop1 = unsafe { sym("tl_loop1") };
    let thunk = Thunk::<Cb1>::new(panic::fallback(0, |x: i64| x * 2));
    // SAFETY: the thunk outlives the call.
    assert_eq!(panic::catch(|| unsafe { loop1(thunk.as_fn(), 4) }), 12);
}

#[test]
fn nested_catch_keeps_each_panic_to_its_own_scope() {
    // SAFETY: the declared type is the C function's.
    let loop1: Loop1 = unsafe { sym("tl_loop1") };
    let inner = Thunk::<Cb1>::new(panic::fallback(-1, |x: i64| -> i64 {
        if x == 1 {
            panic!("inner");
        }
        x
    }));
    let outer_calls = Cell::new(0);
    let outer = Thunk::<Cb1>::new(panic::fallback(-2, |x: i64| {
        outer_calls.set(outer_calls.get() + 1);
        // Each outer call runs a whole inner C loop, which panics, inside its own catch.
        let r = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: `inner` outlives the call.
            panic::catch(|| unsafe { loop1(inner.as_fn(), 3) })
        }));
        assert_eq!(common::panic_text(r.unwrap_err()), "inner");
        x
    }));
    // SAFETY: `outer` outlives the call.
    let sum = panic::catch(|| unsafe { loop1(outer.as_fn(), 3) });
    assert_eq!(sum, 3, "the outer scope saw no panic: 0 + 1 + 2");
    assert_eq!(outer_calls.get(), 3);
}

// ---- -unwind signatures: the panic crosses the C frames (compiled with -fexceptions) -------
//
// Not on 32-bit MinGW: its DWARF unwinder only sees the frames of modules registered with the
// same (statically linked) libgcc, and the C test library is a separate DLL, so unwinding
// cannot pass its frames whatever the callback is (user data included). That limit is
// tested below, as a limit.

/// On i686-pc-windows-gnu a panic cannot unwind through a separately built MinGW DLL: the
/// process aborts. `panic::catch` is the way to recover there.
#[cfg(all(windows, target_arch = "x86", target_env = "gnu"))]
#[test]
fn c_unwind_through_a_mingw_dll_aborts_on_i686_windows() {
    if !common::in_child(
        "c_unwind_through_a_mingw_dll_aborts_on_i686_windows",
        &["failed to initiate panic"],
    ) {
        return;
    }
    type Cb = unsafe extern "C-unwind" fn(i64, *mut c_void) -> i64;
    // SAFETY: the declared type is the C function's.
    let loop1: unsafe extern "C-unwind" fn(Cb, *mut c_void, i64) -> i64 =
        unsafe { sym("tl_loop1_ud") };
    let mut f = |x: i64| -> i64 { if x == 1 { panic!("stuck in C") } else { x } };
    let cb = UserData::<Cb, ud::Last>::new(&mut f);
    // SAFETY: the callback outlives the call.
    let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
        loop1(cb.func(), cb.data(), 3)
    }));
}

// Thunks with `-unwind` ABIs (register and frame path, called from Rust and through C) are
// tested in `thunk.rs`, `unwind`; here, the user-data path.

#[cfg(not(all(windows, target_arch = "x86", target_env = "gnu")))]
#[test]
fn c_unwind_user_data_panic_propagates_through_c() {
    type Cb = unsafe extern "C-unwind" fn(i64, *mut c_void) -> i64;
    // SAFETY: the declared type is the C function's; it is compiled with unwind tables.
    let loop1: unsafe extern "C-unwind" fn(Cb, *mut c_void, i64) -> i64 =
        unsafe { sym("tl_loop1_ud") };
    let mut f = |x: i64| -> i64 { if x == 1 { panic!("user data {x}") } else { x } };
    let cb = UserData::<Cb, ud::Last>::new(&mut f);
    // SAFETY: the callback outlives the call.
    let caught = catch_unwind(AssertUnwindSafe(|| unsafe {
        loop1(cb.func(), cb.data(), 3)
    }));
    assert_eq!(common::panic_text(caught.unwrap_err()), "user data 1");
}
