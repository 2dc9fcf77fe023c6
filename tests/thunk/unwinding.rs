//! Panics out of `-unwind` thunks, caught in Rust above the C frames.

use super::*;
use std::panic::{AssertUnwindSafe, catch_unwind};

type Cb = unsafe extern "C-unwind" fn(isize) -> isize;
use crate::common::Cb12Unwind as Cb12;

/// Panics in a `ThunkMut` and a `ThunkOnce` called through `call`, caught outside it.
fn panics_in_one_argument_thunks(call: &dyn Fn(Cb, isize) -> isize) {
    let mut calls = 0;
    let by_mut = ThunkMut::<Cb>::new(|x: isize| {
        calls += 1;
        if x < 0 {
            panic!("negative: {x}");
        }
        x
    });
    let f = by_mut.as_fn();
    let outcome = catch_unwind(AssertUnwindSafe(|| call(f, -3)));
    assert_eq!(common::panic_text(outcome.unwrap_err()), "negative: -3");
    // The panic left the thunk usable: an FnMut thunk is not stuck "busy".
    assert_eq!(call(f, 5), 5);
    drop(by_mut);
    assert_eq!(calls, 2);

    // ThunkOnce: the panicking call consumed the closure and dropped its captures.
    let drops = Rc::new(Cell::new(0));
    let counter = DropCount(drops.clone());
    let once = ThunkOnce::<Cb>::new(move |x: isize| -> isize {
        let _counter = counter;
        panic!("once: {x}")
    });
    let f = once.as_fn();
    let outcome = catch_unwind(AssertUnwindSafe(|| call(f, 9)));
    assert_eq!(common::panic_text(outcome.unwrap_err()), "once: 9");
    assert_eq!(drops.get(), 1);
    drop(once);
    assert_eq!(drops.get(), 1);
}

/// A panic with a frame adapter on the stack, caught outside `call`.
fn panics_through_a_frame_adapter(call: &dyn Fn(Cb12, &[isize; 12]) -> isize) {
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
         l: isize| {
            if a < 0 {
                panic!("frame: {l}");
            }
            a + l
        },
    );
    let mut args = [0isize; 12];
    args[0] = -1;
    args[11] = 12;
    let f = thunk.as_fn();
    let outcome = catch_unwind(AssertUnwindSafe(|| call(f, &args)));
    assert_eq!(common::panic_text(outcome.unwrap_err()), "frame: 12");
    args[0] = 30;
    assert_eq!(call(f, &args), 42, "the frame was unwound cleanly");
}

#[test]
fn panics_unwind_out_of_thunks_called_from_rust() {
    // SAFETY: the thunks are alive during the calls.
    panics_in_one_argument_thunks(&|f, x| unsafe { f(x) });
    // SAFETY: as above.
    panics_through_a_frame_adapter(&|f, a| unsafe {
        f(
            a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11],
        )
    });
}

// On 32-bit MinGW (DWARF unwinding) the C library is a DLL whose unwind tables are
// registered with its own copy of libgcc's unwinder, which the Rust executable's unwinder
// never sees: no panic can cross its frames, with or without a thunk (a `UserData`
// callback fails the same way). Rust-to-thunk unwinding is tested above. 32-bit MSVC
// unwinds through the chain of handler registrations on the stack, which C frames and
// frame adapters leave alone: there it works.
#[cfg(not(all(windows, target_arch = "x86", target_env = "gnu")))]
#[test]
fn panics_unwind_through_c_frames() {
    // SAFETY: the declared types are the C functions'; the C library is built with
    // unwind tables.
    let call1: unsafe extern "C-unwind" fn(Cb, *const isize) -> isize =
        unsafe { sym("tl_call_i1") };
    // SAFETY: C calls the thunk once, during the call, while it lives.
    panics_in_one_argument_thunks(&|f, x| unsafe { call1(f, &x) });
    {
        // SAFETY: as above.
        let call12: unsafe extern "C-unwind" fn(Cb12, *const isize) -> isize =
            unsafe { sym("tl_call_i12") };
        // SAFETY: as above.
        panics_through_a_frame_adapter(&|f, a| unsafe { call12(f, a.as_ptr()) });
    }
}
