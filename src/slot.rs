//! The data slot behind each thunk stub.
//!
//! A block is a code table (read+execute) immediately followed by a data table (read+write)
//! of the same size. The stub at offset `o` of the code finds its slot at `o + TABLE_SIZE`,
//! PC-relative, so the code is never written after it is mapped; creating a thunk only writes
//! its slot.
//!
//! Layout (in pointer-sized words; `SLOT_SIZE` bytes, the stub stride):
//!
//! | word | field | read by |
//! |---|---|---|
//! | 0 | `entry`: where the stub jumps | the stub |
//! | 1 | `state`: see below; once dead, also where the thunk was created | bodies of `FnMut` / `FnOnce` thunks, drop, the stale-call handler |
//! | 2 | `frame_body`: the body a frame adapter calls | frame adapters |
//! | 3 | `frame_stack`: bytes of stack arguments to copy (the context goes after them) | frame adapters |
//! | 4.. | `storage`: the closure itself, or a `Box` of it when it does not fit | the body |
//!
//! The offsets are part of the contract with the assembly in `src/arch`.
//!
//! # States
//!
//! ```text
//!            create            call (FnMut, FnOnce)
//!   (free) ---------> IDLE ---------------------------> BUSY
//!                      | ^  <---- FnMut call returns ---- |
//!                      |         FnOnce call returns      |
//!                 drop |   CONSUMED <---------------------+
//!                      v      | drop
//!                     DEAD <--+            --> (free, back of the queue)
//! ```
//!
//! Every transition that can race is one atomic swap, so exactly one side wins: a drop swaps
//! in `DEAD` and looks at what it replaced (`BUSY`: abort, the closure is in use; `IDLE`: drop
//! the closure; `CONSUMED`: nothing left to drop), and a call swaps in `BUSY` and looks too
//! (`IDLE`: run; `BUSY`: re-entered or concurrent, abort; `CONSUMED`: an `FnOnce` called
//! twice, abort; `DEAD`: called after the drop, abort). An `Fn` thunk's call path reads no
//! state, to stay as cheap as a plain function pointer: a drop racing one of its calls stays
//! the caller's promise, as documented on `as_fn`.

use core::mem::{MaybeUninit, align_of, size_of};
use core::panic::Location;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Bytes per slot, and per stub in the code table.
pub(crate) const SLOT_SIZE: usize = 64;

/// Words of inline closure storage.
pub(crate) const STORAGE_WORDS: usize = SLOT_SIZE / size_of::<usize>() - 4;

/// Byte offsets of the fields, for the assembly.
pub(crate) const OFFSET_FRAME_BODY: usize = 2 * size_of::<usize>();
pub(crate) const OFFSET_FRAME_STACK: usize = 3 * size_of::<usize>();

/// `state` values (see the module documentation), in the low two bits.
pub(crate) const IDLE: usize = 0;
pub(crate) const BUSY: usize = 1;
pub(crate) const CONSUMED: usize = 2;
pub(crate) const DEAD: usize = 3;
const STATE_BITS: usize = 3;

/// The `state` word of a dropped thunk's slot: `DEAD`, and above it where the thunk was
/// created, for the stale-call message (a `Location` is at least 4-aligned, so its address
/// leaves the two state bits free). Computed when the thunk is created, stored when dropped.
pub(crate) fn dead_state(created: &'static Location<'static>) -> usize {
    core::ptr::from_ref(created) as usize | DEAD
}

const _: () = assert!(align_of::<Location<'static>>() > STATE_BITS);

/// The state in a `state` word.
#[inline(always)]
pub(crate) fn state_of(word: usize) -> usize {
    word & STATE_BITS
}

/// Where a thunk was created, from its slot's `state` word once it is dead.
pub(crate) fn created_at(word: usize) -> Option<&'static Location<'static>> {
    let location = word & !STATE_BITS;
    // SAFETY: a `DEAD` word with other bits set is only ever made by `dead_state`, from a
    // `&'static Location`.
    (state_of(word) == DEAD && location != 0)
        .then(|| unsafe { &*(location as *const Location<'static>) })
}

#[repr(C)]
pub(crate) struct Slot {
    pub(crate) entry: AtomicUsize,
    pub(crate) state: AtomicUsize,
    pub(crate) frame_body: AtomicUsize,
    pub(crate) frame_stack: AtomicUsize,
    storage: [MaybeUninit<usize>; STORAGE_WORDS],
}

const _: () = assert!(size_of::<Slot>() == SLOT_SIZE);
const _: () = assert!(core::mem::offset_of!(Slot, frame_body) == OFFSET_FRAME_BODY);
const _: () = assert!(core::mem::offset_of!(Slot, frame_stack) == OFFSET_FRAME_STACK);

/// Whether a closure of type `F` is stored in the slot itself rather than boxed.
pub(crate) const fn stored_inline<F>() -> bool {
    size_of::<F>() <= STORAGE_WORDS * size_of::<usize>() && align_of::<F>() <= align_of::<usize>()
}

impl Slot {
    /// Moves `closure` into the slot (boxing it when it does not fit).
    ///
    /// # Safety
    ///
    /// The slot must be owned by the caller and hold no closure.
    pub(crate) unsafe fn store<F>(slot: *mut Slot, closure: F) {
        // SAFETY: the caller owns the slot; `storage` is suitably aligned for `F` when
        // `stored_inline::<F>()`, and for a pointer otherwise.
        unsafe {
            let storage = (&raw mut (*slot).storage).cast::<F>();
            if stored_inline::<F>() {
                storage.write(closure);
            } else {
                storage
                    .cast::<*mut F>()
                    .write(Box::into_raw(Box::new(closure)));
            }
        }
    }

    /// The closure stored by [`store`](Self::store).
    ///
    /// # Safety
    ///
    /// The slot must hold a closure of type `F`.
    #[inline(always)]
    pub(crate) unsafe fn closure<F>(slot: *const Slot) -> *mut F {
        // SAFETY: per `store`, the storage holds either the `F` or a pointer to it.
        unsafe {
            let storage = (&raw const (*slot).storage).cast::<F>().cast_mut();
            if stored_inline::<F>() {
                storage
            } else {
                *storage.cast::<*mut F>()
            }
        }
    }

    /// Moves the closure out of the slot, freeing its box if it had one.
    ///
    /// # Safety
    ///
    /// The slot must hold a closure of type `F`, which is no longer used afterwards.
    pub(crate) unsafe fn take<F>(slot: *const Slot) -> F {
        // SAFETY: per `closure`, and the caller gives up the slot's copy.
        unsafe {
            let closure = Self::closure::<F>(slot);
            if stored_inline::<F>() {
                closure.read()
            } else {
                *Box::from_raw(closure)
            }
        }
    }

    /// Drops the closure in the slot.
    ///
    /// # Safety
    ///
    /// As for [`take`](Self::take).
    pub(crate) unsafe fn drop_closure<F>(slot: *const Slot) {
        // SAFETY: forwarded to the caller.
        drop(unsafe { Self::take::<F>(slot) });
    }

    /// Marks the slot busy for a call of its `FnMut` closure: `Err` with the state found if
    /// it was not idle (re-entered or concurrent: `BUSY`; dropped: `DEAD`).
    #[inline(always)]
    pub(crate) fn enter(&self) -> Result<BusyGuard<'_, IDLE>, usize> {
        match self.state.swap(BUSY, Ordering::Acquire) {
            IDLE => Ok(BusyGuard(self)),
            found => Err(found),
        }
    }

    /// Marks the slot busy for the one call of its `FnOnce` closure: as [`enter`](Self::enter),
    /// with `CONSUMED` found after a first call. The guard leaves the slot `CONSUMED`.
    #[inline(always)]
    pub(crate) fn enter_once(&self) -> Result<BusyGuard<'_, CONSUMED>, usize> {
        match self.state.swap(BUSY, Ordering::Acquire) {
            IDLE => Ok(BusyGuard(self)),
            found => Err(found),
        }
    }

    /// Marks the slot dead with `dead` (from [`dead_state`]), for the drop of its thunk, and
    /// returns the state it replaced.
    ///
    /// Acquire pairs with the release of the last call's [`BusyGuard`]: whatever that call
    /// did to the closure happens before the drop that follows.
    #[inline]
    pub(crate) fn kill(&self, dead: usize) -> usize {
        state_of(self.state.swap(dead, Ordering::AcqRel))
    }
}

/// Leaves the busy state when a call ends, even by unwinding: back to `IDLE` after an `FnMut`
/// call, on to `CONSUMED` after an `FnOnce` one: the state `AFTER`.
pub(crate) struct BusyGuard<'a, const AFTER: usize>(&'a Slot);

impl<const AFTER: usize> Drop for BusyGuard<'_, AFTER> {
    #[inline(always)]
    fn drop(&mut self) {
        self.0.state.store(AFTER, Ordering::Release);
    }
}
