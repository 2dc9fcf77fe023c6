//! Callbacks with user data that C owns (`UserData::into_c`, `into_c_sync`).
//!
//! The closure lives in a slot of the thunk pool (`crate::pool`), and C's user data is the
//! slot's address. Slots outlive their callbacks (blocks are never unmapped), so the slot
//! is still there when C calls after the destroy, or destroys twice: its state says `DEAD`
//! and the call aborts with a message instead of using freed memory, as a stale thunk's does.
//! While the callback lives, the slot's state word holds a tag of the closure's type beside
//! the state (`live`), and each call and the destroy change it with one compare-and-swap: once
//! the slot holds anything else, a late call or destroy still aborts, unless it holds another
//! C-owned callback with the same closure type. The slot's `entry` points at an abort, for a
//! dropped thunk whose slot this was, called late through its stub.
//!
//! The user-data trampolines stay as they are: they call `OwnedMut` / `OwnedFn`, views of
//! the slot that implement the closure traits by checking it and calling the closure inside.

use core::any::{TypeId, type_name};
use core::ffi::c_void;
use core::hash::{Hash, Hasher};
use core::marker::PhantomData;
use core::panic::Location;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::{UserData, UserDataSignature};
use crate::abort::abort_with;
use crate::arch::OWNED_DATA;
use crate::call::{CallFn, CallMut, CallOnce};
use crate::pool;
use crate::signature::Accepts;
use crate::slot::{BUSY, DEAD, IDLE, STATE_BITS, Slot, created_at, dead_state, state_of};
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

/// A tag of the closure type `F` (and of whether it is shared), for a slot's state word. A
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

/// The state word of a live C-owned callback's slot whose closure has type `F`: the type's
/// tag above the two state bits, `IDLE` or `BUSY` in them. A thunk's states are bare `IDLE`,
/// `BUSY` or `CONSUMED` (0 to 2) and a dead slot's are `DEAD` (3) with a location above, so a
/// slot that went to anything else never holds this word: one compare-and-swap checks both
/// the type and the state, with no window between them for the slot to change hands.
fn live<F: 'static>(shared: bool, state: usize) -> usize {
    // (Bit 2 set: the tag part is never zero.)
    (tag::<F>(shared) | 4) & !STATE_BITS | state
}

/// What a stub of `OWNED_DATA`'s kind finds in `entry` when its slot holds a C-owned
/// callback: a dropped thunk whose slot went to one, called late. It takes no arguments and
/// never returns, so it suits every calling convention a stub may have been called with.
extern "C" fn stale_thunk_in_an_owned_slot() -> ! {
    abort_with(format_args!(
        "a thunk was called after it was dropped (its slot now holds a C-owned user-data \
         callback); the pointer C kept is stale"
    ))
}

/// Puts `closure` in a fresh slot, live for `F`, and returns the slot's address.
fn give<F: 'static, const SHARED: bool>(
    closure: F,
    created: &'static Location<'static>,
) -> *mut c_void {
    let slot = match pool::acquire(OWNED_DATA) {
        Ok(slot) => slot.as_ptr(),
        Err(error) => panic!("{error}"),
    };
    // SAFETY: `acquire` gave us this slot, free and unaliased. The state is stored last, with
    // release ordering, so a thread handed the address that finds it live sees the rest.
    unsafe {
        Slot::store(slot, closure);
        let stale = stale_thunk_in_an_owned_slot as extern "C" fn() -> ! as usize;
        (*slot).entry.store(stale, Ordering::Relaxed);
        let dead = dead_state(created);
        (*slot).frame_body.store(dead, Ordering::Relaxed);
        (*slot)
            .state
            .store(live::<F>(SHARED, IDLE), Ordering::Release);
    }
    slot.cast()
}

/// The destroy notify of a slot from `give::<F, SHARED>` for signature `B`: drops the closure,
/// once, and frees the slot. A second call, one during a call, or one with a slot that holds
/// anything else, aborts.
///
/// # Safety
///
/// `data` is an address `give::<F, SHARED>` returned, and (for `SHARED`) no call of the
/// callback is running on another thread.
unsafe extern "C" fn destroy<B, F: 'static, const SHARED: bool>(data: *mut c_void) {
    let slot = data.cast::<Slot>();
    // SAFETY: a slot address, mapped for the life of the process (blocks are never unmapped).
    let slot_ref = unsafe { &*slot };
    // (Read before the swap decides: if the slot is not this callback's, the swap fails and
    // the value goes unused.)
    let dead = slot_ref.frame_body.load(Ordering::Relaxed);
    let idle = live::<F>(SHARED, IDLE);
    match slot_ref
        .state
        .compare_exchange(idle, dead, Ordering::AcqRel, Ordering::Acquire)
    {
        Ok(_) => {
            // SAFETY: it was this callback's, idle: the closure is there and no call uses it
            // (a call swaps in BUSY first); DEAD keeps every later call and destroy out.
            unsafe { Slot::drop_closure::<F>(slot) };
            // SAFETY: the slot came from `acquire(OWNED_DATA)` and nothing uses it now.
            unsafe { pool::release(OWNED_DATA, NonNull::new_unchecked(slot)) };
        }
        Err(found) if found == live::<F>(SHARED, BUSY) => abort_with(format_args!(
            "a C-owned user-data callback ({}) was destroyed while it was running: from inside \
             its own call, or on another thread during a call there",
            type_name::<B>()
        )),
        Err(found) => {
            let created = (state_of(found) == DEAD)
                .then(|| created_at(found))
                .flatten();
            not_owned(type_name::<B>(), data, created)
        }
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

/// Aborts a call of a C-owned callback whose slot's state word was `found` instead of
/// `expected` (its live, idle word); `busy` is its busy word, if it has one.
#[cold]
#[inline(never)]
fn stale_call(what: &str, data: *const Slot, found: usize, busy: Option<usize>) -> ! {
    if Some(found) == busy {
        abort_with(format_args!(
            "a C-owned FnMut user-data callback ({what}) was re-entered, or called from two \
             threads at once; use UserData::into_c_sync with an Fn + Sync closure for callbacks \
             that C calls re-entrantly or concurrently"
        ))
    }
    if let (DEAD, Some(at)) = (state_of(found), created_at(found)) {
        abort_with(format_args!(
            "a C-owned user-data callback ({what}, data {data:p}, handed to C at {at}) was \
             called after its destroy notify"
        ))
    }
    abort_with(format_args!(
        "a C-owned user-data callback ({what}) was called with data {data:p}, which is not \
         its own: called after its destroy notify, once its slot went to another callback, or \
         with the wrong pointer"
    ))
}

/// Puts a C-owned `FnMut` callback's slot back to idle when its call ends, even by unwinding.
struct Leave<'a> {
    state: &'a AtomicUsize,
    idle: usize,
}

impl Drop for Leave<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.state.store(self.idle, Ordering::Release);
    }
}

impl<B, F: CallMut<Args, R> + 'static, Args, R> CallFn<Args, R> for OwnedMut<B, F> {
    #[inline]
    fn call_fn(&self, args: Args) -> R {
        let slot = &self.0;
        let (idle, busy) = (live::<F>(false, IDLE), live::<F>(false, BUSY));
        if let Err(found) =
            slot.state
                .compare_exchange(idle, busy, Ordering::Acquire, Ordering::Acquire)
        {
            stale_call(type_name::<B>(), slot, found, Some(busy));
        }
        let _leave = Leave {
            state: &slot.state,
            idle,
        };
        // SAFETY: the state said this callback's closure, an `F`, idle; now busy, which keeps
        // every other call and the destroy away from it until `_leave` is dropped.
        unsafe { (*Slot::closure::<F>(slot)).call_mut(args) }
    }
}

impl<B, F: CallFn<Args, R> + 'static, Args, R> CallFn<Args, R> for OwnedFn<B, F> {
    #[inline]
    fn call_fn(&self, args: Args) -> R {
        let slot = &self.0;
        let found = slot.state.load(Ordering::Acquire);
        if found != live::<F>(true, IDLE) {
            stale_call(type_name::<B>(), slot, found, None);
        }
        // SAFETY: the state said this callback's closure, an `F` (`Sync`: shared calls from
        // any thread are sound), not destroyed; C destroys it only after its last call (its
        // contract: a destroy racing this call on another thread is not caught).
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
