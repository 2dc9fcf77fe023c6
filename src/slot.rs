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
//! | 1 | `state`: busy / consumed flag, for `FnMut` / `FnOnce` closures | the body |
//! | 2 | `frame_body`: the body a frame adapter calls | frame adapters |
//! | 3 | `frame_stack`: bytes of stack arguments to copy (the context goes after them) | frame adapters |
//! | 4.. | `storage`: the closure itself, or a `Box` of it when it does not fit | the body |
//!
//! The offsets are part of the contract with the assembly in `src/arch`.

use core::mem::{MaybeUninit, align_of, size_of};
use core::sync::atomic::{AtomicUsize, Ordering};

/// Bytes per slot, and per stub in the code table.
pub(crate) const SLOT_SIZE: usize = 64;

/// Words of inline closure storage.
pub(crate) const STORAGE_WORDS: usize = SLOT_SIZE / size_of::<usize>() - 4;

/// Byte offsets of the fields, for the assembly.
pub(crate) const OFFSET_FRAME_BODY: usize = 2 * size_of::<usize>();
pub(crate) const OFFSET_FRAME_STACK: usize = 3 * size_of::<usize>();

/// `state` values.
pub(crate) const IDLE: usize = 0;
pub(crate) const BUSY: usize = 1;
pub(crate) const CONSUMED: usize = 2;

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

    /// Marks the slot busy for an `FnMut` call; `None` if it already was (re-entered, or called
    /// from two threads at once).
    #[inline(always)]
    pub(crate) fn enter(&self) -> Option<BusyGuard<'_>> {
        (self.state.swap(BUSY, Ordering::Acquire) == IDLE).then_some(BusyGuard(self))
    }
}

/// Clears the busy flag when an `FnMut` call ends, even by unwinding.
pub(crate) struct BusyGuard<'a>(&'a Slot);

impl Drop for BusyGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.0.state.store(IDLE, Ordering::Release);
    }
}
