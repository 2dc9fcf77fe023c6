//! Callbacks with user data that C owns (`UserData::into_c`, `into_c_sync`).
//!
//! The closure lives in a slot of the thunk pool (`crate::pool`), and C's user data is the
//! slot's address. Slots outlive their callbacks (blocks are never unmapped), so the slot
//! is still there when C calls after the destroy, or destroys twice: its state says `DEAD`
//! and the call aborts with a message instead of using freed memory, as a stale thunk's does.
//! The slot's `entry` word, which no stub reads for these slots, holds a tag of the closure's
//! type, checked before each call and by the destroy: once the slot holds another callback,
//! a late call or destroy still aborts unless that callback's closure has the same type.
//!
//! The user-data trampolines stay as they are: they call `OwnedMut` / `OwnedFn`, views of
//! the slot that implement the closure traits by checking it and calling the closure inside.

use core::any::{TypeId, type_name};
use core::ffi::c_void;
use core::hash::{Hash, Hasher};
use core::marker::PhantomData;
use core::panic::Location;
use core::ptr::NonNull;
use core::sync::atomic::Ordering;

use super::{UserData, UserDataSignature};
use crate::abort::abort_with;
use crate::arch::OWNED_DATA;
use crate::call::{CallFn, CallMut, CallOnce};
use crate::pool;
use crate::signature::Accepts;
use crate::slot::{BUSY, DEAD, IDLE, Slot, created_at, dead_state, state_of};
use crate::threads::kind;
use crate::types::UserDataArg;

impl<B, P> UserData<'static, B, P> {
    /// Hands `closure` over to C for good: C gets the callback, its user data and a destroy
    /// notify, calls the callback with that user data, and calls the notify once, with it,
    /// when it will not call the callback again; the notify drops the closure. For C APIs that
    /// own their callbacks: GLib's `g_timeout_add_full` and `g_hash_table_new_full`
    /// (`GDestroyNotify`), sqlite's `xDestroy`, `CFRelease`-style contexts.
    ///
    /// The closure is `FnMut`: C must not call it concurrently or re-entrantly (use
    /// [`into_c_sync`](Self::into_c_sync) for that); if it does, the call aborts with a
    /// message, as an `FnMut` thunk's does. It is `Send` because C may call it, and
    /// drop it, on any thread, and `'static` because nothing bounds how long C keeps it.
    ///
    /// ```
    /// use core::ffi::c_void;
    /// use trampoline::{UserData, ud};
    ///
    /// // A C API that owns its callback (written in Rust to keep the example whole).
    /// type Tick = unsafe extern "C" fn(*mut c_void, i64) -> i64;
    /// struct Source { tick: Tick, data: *mut c_void, destroy: unsafe extern "C" fn(*mut c_void) }
    /// impl Drop for Source {
    ///     // SAFETY: the notify is called once, with its user data, after the last tick.
    ///     fn drop(&mut self) { unsafe { (self.destroy)(self.data) } }
    /// }
    ///
    /// let mut total = 0;
    /// let owned = UserData::<Tick, ud::First>::into_c(move |t: i64| { total += t; total });
    /// let source = Source { tick: owned.func, data: owned.data, destroy: owned.destroy };
    /// // SAFETY: called with its own user data, before the notify.
    /// assert_eq!(unsafe { (source.tick)(source.data, 5) }, 5);
    /// assert_eq!(unsafe { (source.tick)(source.data, 2) }, 7);
    /// drop(source); // C calls the notify: the closure is dropped
    /// ```
    ///
    /// A closure that may not go to another thread, or that borrows, is refused:
    ///
    /// ```compile_fail,E0277
    /// # use trampoline::{UserData, ud};
    /// type Tick = unsafe extern "C" fn(*mut core::ffi::c_void, i64) -> i64;
    /// let shared = std::rc::Rc::new(1);
    /// let owned = UserData::<Tick, ud::First>::into_c(move |t: i64| t + *shared);
    /// ```
    ///
    /// ```compile_fail,E0597
    /// # use trampoline::{UserData, ud};
    /// type Tick = unsafe extern "C" fn(*mut core::ffi::c_void, i64) -> i64;
    /// let base = 5;
    /// let owned = UserData::<Tick, ud::First>::into_c(|t: i64| t + base);
    /// ```
    ///
    /// # Panics
    ///
    /// When no slot can be mapped for the closure (the address space is exhausted), as
    /// [`Thunk::new`](crate::Thunk::new) does.
    #[track_caller]
    pub fn into_c<F>(closure: F) -> OwnedByC<B, P>
    where
        B: UserDataSignature<P> + Accepts<F, (P, kind::Exclusive)>,
        F: CallMut<B::ClosureArgs, B::Ret> + Send + 'static,
    {
        let data = give::<F, false>(closure, Location::caller());
        OwnedByC {
            func: B::trampoline_fn::<OwnedMut<B, F>>(),
            data: B::Data::from_ptr(data),
            destroy: destroy::<B, F, false>,
        }
    }

    /// As [`into_c`](Self::into_c), for an `Fn + Sync` closure that C may call from several
    /// threads at once, and re-enter. A call after the destroy aborts, as for `into_c`; a
    /// destroy while calls are running on other threads is C's bug and is not caught (that
    /// would cost every call an atomic read-modify-write).
    #[track_caller]
    pub fn into_c_sync<F>(closure: F) -> OwnedByC<B, P>
    where
        B: UserDataSignature<P> + Accepts<F, (P, kind::Shared)>,
        F: CallFn<B::ClosureArgs, B::Ret> + Send + Sync + 'static,
    {
        let data = give::<F, true>(closure, Location::caller());
        OwnedByC {
            func: B::trampoline_fn::<OwnedFn<B, F>>(),
            data: B::Data::from_ptr(data),
            destroy: destroy::<B, F, true>,
        }
    }
}

/// A closure handed over to C for good (by [`UserData::into_c`]): the three values to give C.
/// Nothing here frees the closure but a call of `destroy`.
#[must_use = "the closure is freed only when C calls `destroy`: give C all three"]
pub struct OwnedByC<B: UserDataSignature<P>, P> {
    /// The callback.
    pub func: B,
    /// Its user-data argument: the address of the slot that holds the closure.
    pub data: B::Data,
    /// The destroy notify. C calls it once, with `data`, when it will not call `func` again;
    /// it drops the closure. Calling it twice, or calling `func` after it, aborts with a
    /// message naming where the callback was handed to C, as a stale thunk does: until the
    /// slot holds another callback (it is reused last, after a block's worth of others), and
    /// after that too when that callback's closure type differs.
    pub destroy: unsafe extern "C" fn(*mut c_void),
}

impl<B: UserDataSignature<P>, P> core::fmt::Debug for OwnedByC<B, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OwnedByC")
            .field("signature", &core::any::type_name::<B>())
            .field("data", &self.data.into_ptr())
            .finish()
    }
}

/// The slot of a C-owned `FnMut` closure `F` for signature `B`, as the closure its trampoline
/// calls (through `&`: the state machine, not the reference, keeps calls apart).
#[repr(transparent)]
pub(crate) struct OwnedMut<B, F>(Slot, PhantomData<(B, F)>);

/// The slot of a C-owned `Fn + Sync` closure `F` for signature `B`.
#[repr(transparent)]
pub(crate) struct OwnedFn<B, F>(Slot, PhantomData<(B, F)>);

/// A tag of the closure type `F` (and of whether it is shared), for a slot's `entry` word. A
/// function address would not do: a generic function may have one copy per codegen unit, so
/// its address is not one value.
fn tag<F: 'static>(shared: bool) -> usize {
    /// Folds what `TypeId`'s hash writes into one word.
    struct Fold(u64);
    impl Hasher for Fold {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for chunk in bytes.chunks(8) {
                let mut word = [0; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                self.write_u64(u64::from_le_bytes(word));
            }
        }
        fn write_u64(&mut self, word: u64) {
            self.0 = self.0.rotate_left(5) ^ word;
        }
    }
    let mut fold = Fold(u64::from(shared));
    TypeId::of::<F>().hash(&mut fold);
    let word = if usize::BITS < 64 {
        fold.0 ^ (fold.0 >> 32)
    } else {
        fold.0
    };
    word as usize
}

/// Puts `closure` in a fresh slot tagged for it, and returns the slot's address.
fn give<F: 'static, const SHARED: bool>(
    closure: F,
    created: &'static Location<'static>,
) -> *mut c_void {
    let slot = match pool::acquire(OWNED_DATA) {
        Ok(slot) => slot.as_ptr(),
        Err(error) => panic!("{error}"),
    };
    // SAFETY: `acquire` gave us this slot, free and unaliased. The tag is stored last, with
    // release ordering, so a thread handed the address sees the rest.
    unsafe {
        Slot::store(slot, closure);
        (*slot)
            .frame_body
            .store(dead_state(created), Ordering::Relaxed);
        (*slot).state.store(IDLE, Ordering::Relaxed);
        (*slot).entry.store(tag::<F>(SHARED), Ordering::Release);
    }
    slot.cast()
}

/// The destroy notify of a slot from `give::<F, SHARED>` for signature `B`: drops the closure,
/// once, and frees the slot. A second call, or one with a slot that holds another callback,
/// aborts.
///
/// # Safety
///
/// `data` is an address `give::<F, SHARED>` returned, and, if its destroy has not been called
/// yet, no call of the callback is running.
unsafe extern "C" fn destroy<B, F: 'static, const SHARED: bool>(data: *mut c_void) {
    let slot = data.cast::<Slot>();
    // SAFETY: a slot address, mapped for the life of the process (blocks are never unmapped).
    let slot_ref = unsafe { &*slot };
    if slot_ref.entry.load(Ordering::Acquire) != tag::<F>(SHARED) {
        not_owned(type_name::<B>(), data, None);
    }
    let dead = slot_ref.frame_body.load(Ordering::Relaxed);
    match slot_ref.kill(dead, false) {
        IDLE => {
            // SAFETY: IDLE: the closure is there and no call is using it (a call swaps in
            // BUSY first); the DEAD state keeps every later call and destroy out.
            unsafe { Slot::drop_closure::<F>(slot) };
            // SAFETY: the slot came from `acquire(OWNED_DATA)` and nothing uses it now.
            unsafe { pool::release(OWNED_DATA, NonNull::new_unchecked(slot)) };
        }
        BUSY => abort_with(format_args!(
            "a C-owned user-data callback ({}) was destroyed while it was running: from inside \
             its own call, or on another thread during a call there",
            type_name::<B>()
        )),
        _ => not_owned(type_name::<B>(), data, created_at(dead)),
    }
}

#[cold]
#[inline(never)]
fn not_owned(what: &str, data: *mut c_void, created: Option<&Location<'_>>) -> ! {
    let created = created.map_or(String::new(), |at| format!(" (handed to C at {at})"));
    abort_with(format_args!(
        "a destroy notify ({what}, data {data:p}) was called with a pointer that C does not own: \
         destroyed twice, or never handed out by into_c{created}"
    ))
}

/// Aborts a call of a C-owned callback whose slot is not `W`'s live one.
#[cold]
#[inline(never)]
fn stale_call(what: &str, data: *const Slot, word: Option<usize>) -> ! {
    match word.map(state_of) {
        Some(BUSY) => abort_with(format_args!(
            "a C-owned FnMut user-data callback ({what}) was re-entered, or called from two \
             threads at once; use UserData::into_c_sync with an Fn + Sync closure for callbacks \
             that C calls re-entrantly or concurrently"
        )),
        Some(DEAD) => {
            let created = word
                .and_then(created_at)
                .map_or(String::new(), |at| format!(", handed to C at {at}"));
            abort_with(format_args!(
                "a C-owned user-data callback ({what}, data {data:p}{created}) was called after \
                 its destroy notify"
            ))
        }
        _ => abort_with(format_args!(
            "a C-owned user-data callback ({what}) was called with data {data:p}, which is not \
             its own: called after its destroy notify, once its slot went to another callback, \
             or with the wrong pointer"
        )),
    }
}

impl<B, F: CallMut<Args, R> + 'static, Args, R> CallFn<Args, R> for OwnedMut<B, F> {
    #[inline]
    fn call_fn(&self, args: Args) -> R {
        let slot = &self.0;
        if slot.entry.load(Ordering::Acquire) != tag::<F>(false) {
            stale_call(type_name::<B>(), slot, None);
        }
        let _busy = match slot.enter_as::<IDLE>(false) {
            Ok(busy) => busy,
            Err(refusal) => stale_call(type_name::<B>(), slot, Some(slot.found(refusal))),
        };
        // SAFETY: the tag says the slot holds an `F`, and the busy state keeps every other
        // call and the destroy away from it until `_busy` is dropped.
        unsafe { (*Slot::closure::<F>(slot)).call_mut(args) }
    }
}

impl<B, F: CallFn<Args, R> + 'static, Args, R> CallFn<Args, R> for OwnedFn<B, F> {
    #[inline]
    fn call_fn(&self, args: Args) -> R {
        let slot = &self.0;
        let word = slot.state.load(Ordering::Acquire);
        if slot.entry.load(Ordering::Acquire) != tag::<F>(true) || state_of(word) == DEAD {
            stale_call(
                type_name::<B>(),
                slot,
                Some(word).filter(|w| state_of(*w) == DEAD),
            );
        }
        // SAFETY: the tag says the slot holds an `F` (`Sync`: shared calls from any thread
        // are sound), not destroyed: C destroys it only after its last call (its contract).
        unsafe { (*Slot::closure::<F>(slot)).call_fn(args) }
    }
}

/// The trampolines call through `&`; these two complete the supertraits and are never used
/// (a slot view is never owned or borrowed mutably).
macro_rules! by_shared_ref {
    ($owned:ident, $bound:ident) => {
        impl<B, F: $bound<Args, R> + 'static, Args, R> CallMut<Args, R> for $owned<B, F> {
            fn call_mut(&mut self, args: Args) -> R {
                self.call_fn(args)
            }
        }
        impl<B, F: $bound<Args, R> + 'static, Args, R> CallOnce<Args, R> for $owned<B, F> {
            fn call_once(self, args: Args) -> R {
                self.call_fn(args)
            }
        }
    };
}
by_shared_ref!(OwnedMut, CallMut);
by_shared_ref!(OwnedFn, CallFn);
