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

use crate::abort::abort_with;
use crate::call::{CallFn, CallMut, CallOnce};
use core::sync::atomic::Ordering;

use crate::slot::{BUSY, CONSUMED, IDLE, Refusal, Slot, created_at, state_of};
use crate::threads::sealed::Sealed;

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

/// A strategy's type parameters: signature `B`, closure `F`, thread mode `M` (never values).
type Marker<B, F, M> = PhantomData<fn() -> (B, F, M)>;

/// Calls an `Fn` closure of type `F`, for signature `B`, in thread mode `M`.
#[doc(hidden)]
pub struct ByRef<B, F, M>(Marker<B, F, M>);
/// Calls an `FnMut` closure, aborting if the call is re-entered or concurrent.
#[doc(hidden)]
pub struct ByMut<B, F, M>(Marker<B, F, M>);
/// Calls an `FnOnce` closure, aborting on a second call.
#[doc(hidden)]
pub struct ByOnce<B, F, M>(Marker<B, F, M>);
/// Aborts: the thunk was dropped, yet its pointer was called.
#[doc(hidden)]
pub struct Stale<B>(PhantomData<fn() -> B>);

// SAFETY: reads only the closure the slot was created with.
unsafe impl<B, F: CallFn<Args, R>, M, Args, R> Invoke<Args, R> for ByRef<B, F, M> {
    #[inline(always)]
    unsafe fn invoke(slot: *const Slot, args: Args) -> R {
        // SAFETY: the slot holds an `F` (the caller's promise); `Fn` needs only `&F`, which the
        // thunk's thread mode makes sound to share with the calling thread.
        unsafe { (*Slot::closure::<F>(slot)).call_fn(args) }
    }
}

// SAFETY: as above; the busy state makes the `&mut F` unique (on one thread for
// `threads::Local`, whose calls and drop all happen on the owner's thread).
unsafe impl<B, F: CallMut<Args, R>, M: Sealed, Args, R> Invoke<Args, R> for ByMut<B, F, M> {
    #[inline(always)]
    unsafe fn invoke(slot: *const Slot, args: Args) -> R {
        // SAFETY: the slot is live (the caller's promise).
        let slot_ref = unsafe { &*slot };
        let _busy = match slot_ref.enter_as::<IDLE>(M::ONE_THREAD) {
            Ok(busy) => busy,
            Err(refusal) => refused(refusal, slot, "FnMut", type_name::<B>()),
        };
        // SAFETY: the slot holds an `F`, and the busy state guarantees that no other call and
        // no drop uses it until `_busy` is dropped.
        unsafe { (*Slot::closure::<F>(slot)).call_mut(args) }
    }
}

// SAFETY: as above; the state makes the move out happen once, and keeps a drop out while the
// closure runs.
unsafe impl<B, F: CallOnce<Args, R>, M: Sealed, Args, R> Invoke<Args, R> for ByOnce<B, F, M> {
    #[inline(always)]
    unsafe fn invoke(slot: *const Slot, args: Args) -> R {
        // SAFETY: the slot is live (the caller's promise).
        let slot_ref = unsafe { &*slot };
        let _busy = match slot_ref.enter_as::<CONSUMED>(M::ONE_THREAD) {
            Ok(busy) => busy,
            Err(refusal) => refused(refusal, slot, "FnOnce", type_name::<B>()),
        };
        // SAFETY: the slot holds an `F`, and the state just changed from IDLE to BUSY, so this
        // is the only move out of it; it ends CONSUMED, so dropping the thunk will not drop
        // the closure again, and a drop before then aborts.
        let closure = unsafe { Slot::take::<F>(slot) };
        closure.call_once(args)
    }
}

// SAFETY: never touches the closure.
unsafe impl<B, Args, R> Invoke<Args, R> for Stale<B> {
    unsafe fn invoke(slot: *const Slot, _args: Args) -> R {
        // SAFETY: a dropped thunk's slot is still mapped (blocks never go away).
        let word = unsafe { (*slot).state.load(Ordering::Acquire) };
        stale(type_name::<B>(), slot, word)
    }
}

// The abort paths are out of line, so that the bodies that may reach them stay as small as
// the ones that cannot. `refused` takes the refusal and the slot first, in the registers the
// body already has them in (x86_64, one argument: one instruction more per call otherwise,
// callgrind).

/// Aborts a call of a `closure` (`FnMut` or `FnOnce`) thunk whose entry was refused: its
/// slot was not idle.
#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // called from Rust only; "C" only to be nounwind
extern "C" fn refused(refusal: Refusal, slot: *const Slot, closure: &str, signature: &str) -> ! {
    // SAFETY: the slot is live or dead, never unmapped (blocks never go away).
    let word = unsafe { (*slot).found(refusal) };
    match state_of(word) {
        BUSY => abort_with(format_args!(
            "an {closure} thunk ({signature}) was re-entered, or called from two threads at \
             once; an {closure} closure must not be aliased. Use Thunk with an Fn closure for \
             callbacks that C calls re-entrantly or concurrently"
        )),
        CONSUMED => abort_with(format_args!(
            "an FnOnce thunk ({signature}) was called a second time"
        )),
        _ => stale(signature, slot, word),
    }
}

/// Aborts a call through a dropped thunk, whose slot's state word was `word`.
#[cold]
#[inline(never)]
fn stale(signature: &str, slot: *const Slot, word: usize) -> ! {
    struct CreatedAt(usize);
    impl core::fmt::Display for CreatedAt {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match created_at(self.0) {
                Some(location) => write!(f, " (created at {location})"),
                None => Ok(()),
            }
        }
    }
    abort_with(format_args!(
        "a thunk's function pointer ({signature}, slot {slot:p}) was called after the thunk{} \
         was dropped: C kept a callback past its lifetime",
        CreatedAt(word)
    ))
}
