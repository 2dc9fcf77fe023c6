//! What a thunk body does with its slot: call the closure as `Fn`, `FnMut` or `FnOnce`, or
//! abort because the thunk was dropped.
//!
//! The body (see `super::signature`) is monomorphised for one of these strategies, so the
//! strategy costs nothing at run time beyond what it must check.

// The hidden items of these traits use crate-private types on purpose: no one outside the
// crate can implement or call them, which keeps the stub contract internal.
#![allow(private_interfaces)]

use core::any::type_name;
use core::marker::PhantomData;
use core::sync::atomic::Ordering;

use crate::abort::abort_with;
use crate::call::{CallFn, CallMut, CallOnce};
use crate::slot::{CONSUMED, IDLE, Slot};

/// How a thunk body calls its closure. Implementation detail of [`ThunkSignature`].
///
/// [`ThunkSignature`]: crate::ThunkSignature
///
/// # Safety
///
/// `invoke` must only be called with the slot of a live thunk created for this strategy.
#[doc(hidden)]
pub unsafe trait Invoke<Args, R> {
    /// Calls the slot's closure with `args`.
    ///
    /// # Safety
    ///
    /// `slot` is the slot of a live thunk created with this strategy.
    unsafe fn invoke(slot: *const Slot, args: Args) -> R;
}

/// Calls an `Fn` closure of type `F`, for signature `B`.
#[doc(hidden)]
pub struct ByRef<B, F>(PhantomData<(fn() -> B, F)>);
/// Calls an `FnMut` closure, aborting if the call is re-entered or concurrent.
#[doc(hidden)]
pub struct ByMut<B, F>(PhantomData<(fn() -> B, F)>);
/// Calls an `FnOnce` closure, aborting on a second call.
#[doc(hidden)]
pub struct ByOnce<B, F>(PhantomData<(fn() -> B, F)>);
/// Aborts: the thunk was dropped, yet its pointer was called.
#[doc(hidden)]
pub struct Stale<B>(PhantomData<fn() -> B>);

// SAFETY: reads only the closure the slot was created with.
unsafe impl<B, F: CallFn<Args, R>, Args, R> Invoke<Args, R> for ByRef<B, F> {
    #[inline(always)]
    unsafe fn invoke(slot: *const Slot, args: Args) -> R {
        // SAFETY: the slot holds an `F` (the caller's promise); `Fn` needs only `&F`, which the
        // thunk's thread mode makes sound to share with the calling thread.
        unsafe { (*Slot::closure::<F>(slot)).call_fn(args) }
    }
}

// SAFETY: as above; the busy flag makes the `&mut F` unique.
unsafe impl<B, F: CallMut<Args, R>, Args, R> Invoke<Args, R> for ByMut<B, F> {
    #[inline(always)]
    unsafe fn invoke(slot: *const Slot, args: Args) -> R {
        // SAFETY: the slot is live (the caller's promise).
        let slot_ref = unsafe { &*slot };
        let Some(_busy) = slot_ref.enter() else {
            reentered(type_name::<B>())
        };
        // SAFETY: the slot holds an `F`, and the busy flag guarantees that no other call is
        // using it until `_busy` is dropped.
        unsafe { (*Slot::closure::<F>(slot)).call_mut(args) }
    }
}

// SAFETY: as above; the consumed flag makes the move out happen once.
unsafe impl<B, F: CallOnce<Args, R>, Args, R> Invoke<Args, R> for ByOnce<B, F> {
    #[inline(always)]
    unsafe fn invoke(slot: *const Slot, args: Args) -> R {
        // SAFETY: the slot is live (the caller's promise).
        let slot_ref = unsafe { &*slot };
        if slot_ref.state.swap(CONSUMED, Ordering::Acquire) != IDLE {
            called_twice(type_name::<B>());
        }
        // SAFETY: the slot holds an `F`, and the flag just changed from IDLE to CONSUMED, so
        // this is the only move out of it; dropping the thunk will not drop it again.
        let closure = unsafe { Slot::take::<F>(slot) };
        closure.call_once(args)
    }
}

// SAFETY: never touches the closure.
unsafe impl<B, Args, R> Invoke<Args, R> for Stale<B> {
    unsafe fn invoke(slot: *const Slot, _args: Args) -> R {
        abort_with(format_args!(
            "a thunk's function pointer ({}, slot {slot:p}) was called after the thunk was \
             dropped: C kept a callback past its lifetime",
            type_name::<B>()
        ))
    }
}

// The abort paths are out of line and take only a name, so that the bodies that may reach
// them stay as small as the ones that cannot.

#[cold]
#[inline(never)]
fn reentered(signature: &'static str) -> ! {
    abort_with(format_args!(
        "an FnMut thunk ({signature}) was re-entered, or called from two threads at once; an \
         FnMut closure must not be aliased. Use Thunk with an Fn closure for callbacks that C \
         calls re-entrantly or concurrently"
    ))
}

#[cold]
#[inline(never)]
fn called_twice(signature: &'static str) -> ! {
    abort_with(format_args!(
        "an FnOnce thunk ({signature}) was called a second time"
    ))
}
