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

use core::cell::UnsafeCell;
use core::mem::{MaybeUninit, align_of, size_of};
use core::panic::Location;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Bytes per slot, and per stub in the code table.
pub(crate) const SLOT_SIZE: usize = 64;

/// Words of inline closure storage.
pub(crate) const STORAGE_WORDS: usize = SLOT_SIZE / size_of::<usize>() - 4;

/// Alignment of the inline closure storage: 16 on every target, so that a closure holding an
/// `i64` or `f64` (8-aligned on 32-bit Windows, unlike 32-bit Linux) or a `u128` is stored in
/// the slot rather than boxed. The storage starts 4 words in, at byte 16 or 32 of a slot,
/// and slots sit at multiples of `SLOT_SIZE` in page-aligned blocks: it is 16-aligned already.
pub(crate) const STORAGE_ALIGN: usize = 16;

/// The inline closure storage (see [`STORAGE_ALIGN`]).
#[repr(C, align(16))]
struct Storage(UnsafeCell<[MaybeUninit<usize>; STORAGE_WORDS]>);

/// Byte offsets of the fields, for the assembly.
pub(crate) const OFFSET_FRAME_BODY: usize = 2 * size_of::<usize>();
pub(crate) const OFFSET_FRAME_STACK: usize = 3 * size_of::<usize>();

/// `state` values (see the module documentation), in the low two bits. `IDLE` is 1 and `BUSY`
/// 0 so that a call on one thread enters with one decrement and a branch on zero (see
/// [`Slot::enter_as`]).
pub(crate) const IDLE: usize = 1;
pub(crate) const BUSY: usize = 0;
pub(crate) const CONSUMED: usize = 2;
pub(crate) const DEAD: usize = 3;
pub(crate) const STATE_BITS: usize = 3;

/// The `state` word of a dropped thunk's slot: `DEAD`, and above it where the thunk was
/// created, for the stale-call message (a `Location` is at least 4-aligned, so its address
/// leaves the two state bits free). Computed when the thunk is created, stored when dropped.
pub(crate) fn dead_state(created: &'static Location<'static>) -> usize {
    // The address is exposed: `created_at` turns the integer back into the reference.
    core::ptr::from_ref(created).expose_provenance() | DEAD
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
    // `&'static Location` whose address it exposed.
    (state_of(word) == DEAD && location != 0)
        .then(|| unsafe { &*core::ptr::with_exposed_provenance::<Location<'static>>(location) })
}

#[repr(C)]
pub(crate) struct Slot {
    pub(crate) entry: AtomicUsize,
    pub(crate) state: AtomicUsize,
    pub(crate) frame_body: AtomicUsize,
    pub(crate) frame_stack: AtomicUsize,
    /// Written through raw pointers while `&Slot`s exist (a call's busy guard, a racing drop's
    /// swap): an `UnsafeCell`, so that those references claim nothing about it. (Miri found
    /// the data race that a plain array meant: a `&Slot` taken by a drop retags the storage
    /// that a running call writes.)
    storage: Storage,
}

const _: () = assert!(size_of::<Slot>() == SLOT_SIZE);
const _: () = assert!(align_of::<Storage>() == STORAGE_ALIGN);
const _: () =
    assert!(SLOT_SIZE.is_multiple_of(STORAGE_ALIGN) && 4096usize.is_multiple_of(SLOT_SIZE));
const _: () = assert!(core::mem::offset_of!(Slot, storage) == 4 * size_of::<usize>());
const _: () = assert!(core::mem::offset_of!(Slot, frame_body) == OFFSET_FRAME_BODY);
const _: () = assert!(core::mem::offset_of!(Slot, frame_stack) == OFFSET_FRAME_STACK);

/// Whether a closure of type `F` is stored in the slot itself rather than boxed.
pub(crate) const fn stored_inline<F>() -> bool {
    size_of::<F>() <= STORAGE_WORDS * size_of::<usize>() && align_of::<F>() <= STORAGE_ALIGN
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
            let storage = UnsafeCell::raw_get(&raw const (*slot).storage.0).cast::<F>();
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
            let storage = UnsafeCell::raw_get(&raw const (*slot).storage.0).cast::<F>();
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

    /// The next slot in a free list (the pool's per-thread caches link free slots through
    /// their first storage word: a free slot holds no closure, and a stale call reads only
    /// `entry`, `state` and the frame fields).
    ///
    /// # Safety
    ///
    /// The slot is free, owned by the caller, and was linked with [`set_next_free`](Self::set_next_free).
    #[inline(always)]
    pub(crate) unsafe fn next_free(slot: *mut Slot) -> *mut Slot {
        // SAFETY: the storage is the caller's, and its first word holds a pointer.
        unsafe {
            UnsafeCell::raw_get(&raw const (*slot).storage.0)
                .cast::<*mut Slot>()
                .read()
        }
    }

    /// Links the free slot `slot` to `next`.
    ///
    /// # Safety
    ///
    /// The slot is free (holds no closure) and owned by the caller.
    #[inline(always)]
    pub(crate) unsafe fn set_next_free(slot: *mut Slot, next: *mut Slot) {
        // SAFETY: the storage is the caller's, pointer-aligned and at least a word.
        unsafe {
            UnsafeCell::raw_get(&raw const (*slot).storage.0)
                .cast::<*mut Slot>()
                .write(next)
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
    #[cfg(test)]
    pub(crate) fn enter(&self) -> Result<BusyGuard<'_, IDLE>, Refusal> {
        self.enter_as::<IDLE>(false)
    }

    /// Marks the slot busy for the one call of its `FnOnce` closure: as [`enter`](Self::enter),
    /// with `CONSUMED` found after a first call. The guard leaves the slot `CONSUMED`.
    #[cfg(test)]
    pub(crate) fn enter_once(&self) -> Result<BusyGuard<'_, CONSUMED>, Refusal> {
        self.enter_as::<CONSUMED>(false)
    }

    /// Marks the slot busy, the guard leaving it `AFTER`. `one_thread` says that every call
    /// and the drop happen on one thread (`threads::Local`): then nothing can change the state
    /// between a read and a write, and one plain decrement in memory catches re-entry and a
    /// drop from inside the call as the swap does, without a locked instruction (IDLE, 1,
    /// becomes BUSY, 0; anything else is refused, and [`found`](Self::found) puts it back).
    /// Otherwise a swap, so that of two threads racing (two calls, or a call and a drop),
    /// exactly one wins.
    #[inline(always)]
    pub(crate) fn enter_as<const AFTER: usize>(
        &self,
        one_thread: bool,
    ) -> Result<BusyGuard<'_, AFTER>, Refusal> {
        if one_thread {
            let state = self.state.as_ptr();
            // SAFETY: `one_thread`: every access to this state happens on this thread, so a
            // plain read-modify-write of the atomic's memory races nothing.
            let entered = unsafe {
                *state = (*state).wrapping_sub(1);
                *state == BUSY
            };
            return match entered {
                true => Ok(BusyGuard(self)),
                false => Err(Refusal(DECREMENTED)),
            };
        }
        match self.state.swap(BUSY, Ordering::Acquire) {
            IDLE => Ok(BusyGuard(self)),
            found => Err(Refusal(found)),
        }
    }

    /// The state a refused entry found. After a one-thread entry, which left it decremented,
    /// it is put back first, so the slot is as the entry found it.
    #[cold]
    pub(crate) fn found(&self, refusal: Refusal) -> usize {
        if refusal.0 != DECREMENTED {
            return refusal.0;
        }
        let state = self.state.as_ptr();
        // SAFETY: a one-thread entry made this refusal: no other thread accesses the state.
        unsafe {
            *state = (*state).wrapping_add(1);
            *state
        }
    }

    /// Marks the slot dead with `dead` (from [`dead_state`]), for the drop of its thunk, and
    /// returns the state it replaced.
    ///
    /// Acquire pairs with the release of the last call's [`BusyGuard`]: whatever that call
    /// did to the closure happens before the drop that follows.
    ///
    /// `one_thread`: as for [`enter_as`](Self::enter_as); then a plain read and write do what
    /// the swap does, without a locked instruction.
    #[inline]
    pub(crate) fn kill(&self, dead: usize, one_thread: bool) -> usize {
        if one_thread {
            let state = self.state.as_ptr();
            // SAFETY: `one_thread`: every access to this state happens on this thread.
            return state_of(unsafe { core::ptr::replace(state, dead) });
        }
        state_of(self.state.swap(dead, Ordering::AcqRel))
    }
}

/// A refused [`Slot::enter_as`]: what it found, for [`Slot::found`]. A one-thread entry
/// records only that it decremented the state, so that its fast path keeps no old value.
#[derive(Debug)]
#[repr(transparent)]
#[must_use = "a one-thread refusal leaves the state decremented until `Slot::found` puts it back"]
pub(crate) struct Refusal(usize);

/// A `Refusal` from a one-thread entry: the state in memory is one less than what it found.
/// No state word is ever this (a dead state's address bits are a `Location`'s).
const DECREMENTED: usize = usize::MAX;

/// Leaves the busy state when a call ends, even by unwinding: back to `IDLE` after an `FnMut`
/// call, on to `CONSUMED` after an `FnOnce` one: the state `AFTER`.
pub(crate) struct BusyGuard<'a, const AFTER: usize>(&'a Slot);

impl<const AFTER: usize> Drop for BusyGuard<'_, AFTER> {
    #[inline(always)]
    fn drop(&mut self) {
        self.0.state.store(AFTER, Ordering::Release);
    }
}

/// The state machine and the closure storage on their own, without mapped blocks or stubs, so
/// that Miri can check them (`MIRIFLAGS=-Zmiri-permissive-provenance cargo +nightly miri test
/// --lib slot`; the permissive flag because a dead slot's state word holds an exposed address,
/// see `dead_state`): aliasing of the closure,
/// exactly-once drops, and the races between a call and a drop.
#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    /// A fresh slot on the heap, as a raw pointer (as the pool hands them out).
    fn new_slot() -> *mut Slot {
        Box::into_raw(Box::new(Slot {
            entry: AtomicUsize::new(0),
            state: AtomicUsize::new(IDLE),
            frame_body: AtomicUsize::new(0),
            frame_stack: AtomicUsize::new(0),
            storage: Storage(UnsafeCell::new([MaybeUninit::uninit(); STORAGE_WORDS])),
        }))
    }

    /// Gives back a slot from `new_slot`.
    ///
    /// # Safety
    ///
    /// No closure left in it, no one using it.
    unsafe fn free_slot(slot: *mut Slot) {
        // SAFETY: from `Box::into_raw` in `new_slot`; a `Slot` has no drop glue of its own.
        drop(unsafe { Box::from_raw(slot) });
    }

    /// Counts its drops.
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A slot address that may cross threads, as C passes a thunk's pointer.
    #[derive(Clone, Copy)]
    struct Shared(*mut Slot);
    // SAFETY: the tests use the slot only as the state machine allows.
    unsafe impl Send for Shared {}

    /// Stores `f`, calls it twice through the slot (it counts its calls), moves it out, calls
    /// it again and drops it: what a `ThunkMut` and then a `ThunkOnce` do with their closure.
    fn store_call_take<F: FnMut() -> usize>(f: F) -> usize {
        let slot = new_slot();
        // SAFETY: the slot is fresh; the closure is stored once, used, and moved out once.
        unsafe {
            Slot::store(slot, f);
            (*Slot::closure::<F>(slot))();
            (*Slot::closure::<F>(slot))();
            let mut taken = Slot::take::<F>(slot);
            let calls = taken();
            free_slot(slot);
            calls
        }
    }

    /// A closure holding 8- or 16-aligned values stays in the slot on every target (on 32-bit
    /// Windows an `i64` is 8-aligned; with word-aligned storage such closures were boxed),
    /// 16-aligned; a closure aligned beyond the storage is boxed, and both work.
    #[test]
    fn closures_of_wide_scalars_are_stored_inline_and_over_aligned_ones_boxed() {
        type Wide = (i64, f64, u128);
        assert!(stored_inline::<i64>() && stored_inline::<f64>() && stored_inline::<Wide>());
        let slot = new_slot();
        // SAFETY: a fresh slot; a `Wide` is stored, read and taken once, then the slot freed.
        unsafe {
            Slot::store::<Wide>(slot, (7, 0.5, 1 << 100));
            let at = Slot::closure::<Wide>(slot) as usize;
            assert!(
                at > slot as usize && at < slot as usize + SLOT_SIZE,
                "in the slot"
            );
            assert_eq!(at % 16, 0);
            assert_eq!(*Slot::closure::<Wide>(slot), (7, 0.5, 1 << 100));
            assert_eq!(Slot::take::<Wide>(slot), (7, 0.5, 1 << 100));
            free_slot(slot);
        }

        #[repr(align(32))]
        struct OverAligned(usize);
        assert!(!stored_inline::<OverAligned>());
        let (over, mut calls) = (OverAligned(2), 0);
        let boxed = move || {
            calls += over.0;
            calls
        };
        assert_eq!(store_call_take(boxed), 6);
    }

    #[test]
    fn closures_inline_and_boxed_are_stored_used_and_dropped_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let counted = Counted(Arc::clone(&drops));
        let mut calls = 0;
        let inline = move || {
            let _ = &counted;
            calls += 1;
            calls
        };
        assert!(stored_inline::<Counted>());
        assert_eq!(store_call_take(inline), 3);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "inline");

        let counted = Counted(Arc::clone(&drops));
        let (mut calls, big) = (0, [5usize; 2 * STORAGE_WORDS]);
        let boxed = move || {
            let _ = &counted;
            calls += big[0];
            calls
        };
        assert!(!stored_inline::<[usize; 2 * STORAGE_WORDS]>());
        assert_eq!(store_call_take(boxed), 15);
        assert_eq!(drops.load(Ordering::SeqCst), 2, "boxed");

        // Dropped in place (a thunk dropped without being consumed).
        let counted = Counted(Arc::clone(&drops));
        let slot = new_slot();
        // SAFETY: fresh slot; stored and dropped once.
        unsafe {
            Slot::store(slot, counted);
            Slot::drop_closure::<Counted>(slot);
            free_slot(slot);
        }
        assert_eq!(drops.load(Ordering::SeqCst), 3, "dropped in place");
    }

    #[test]
    fn every_transition_finds_what_the_state_machine_says() {
        let created = Location::caller();
        let slot = new_slot();
        // SAFETY: the slot lives until `free_slot`.
        let s = unsafe { &*slot };
        {
            let _busy = s.enter().expect("idle");
            assert_eq!(
                s.enter().err().map(|r| s.found(r)),
                Some(BUSY),
                "re-entered"
            );
            assert_eq!(s.state.load(Ordering::SeqCst), BUSY);
        }
        assert_eq!(
            s.state.load(Ordering::SeqCst),
            IDLE,
            "an FnMut call ends IDLE"
        );
        {
            let _busy = s.enter_once().expect("idle");
            assert_eq!(
                s.enter_once().err().map(|r| s.found(r)),
                Some(BUSY),
                "re-entered"
            );
        }
        assert_eq!(
            s.enter_once().err().map(|r| s.found(r)),
            Some(CONSUMED),
            "an FnOnce call ends CONSUMED"
        );
        // (That refused call swapped in BUSY; the thunk aborts then. Reset for the drop.)
        s.state.store(CONSUMED, Ordering::SeqCst);
        assert_eq!(
            s.kill(dead_state(created), false),
            CONSUMED,
            "nothing left to drop"
        );
        let word = s.state.load(Ordering::SeqCst);
        assert_eq!(state_of(word), DEAD);
        assert_eq!(
            created_at(word),
            Some(created),
            "the stale-call message's location"
        );
        assert_eq!(created_at(BUSY), None);
        assert_eq!(created_at(DEAD), None, "DEAD without a location");
        assert_eq!(
            s.enter().err().map(|r| state_of(s.found(r))),
            Some(DEAD),
            "a call after the drop"
        );
        // SAFETY: nothing stored, no one using it.
        unsafe { free_slot(slot) };
    }

    #[test]
    fn one_thread_entry_finds_the_same_states_and_leaves_refused_states_alone() {
        let slot = new_slot();
        // SAFETY: the slot lives until `free_slot`.
        let s = unsafe { &*slot };
        {
            let _busy = s.enter_as::<IDLE>(true).expect("idle");
            assert_eq!(
                s.enter_as::<IDLE>(true).err().map(|r| s.found(r)),
                Some(BUSY),
                "re-entered"
            );
            assert_eq!(
                s.kill(DEAD, true),
                BUSY,
                "a drop from inside the call sees BUSY"
            );
            s.state.store(BUSY, Ordering::SeqCst); // (the drop aborts then; undo it)
        }
        assert_eq!(s.state.load(Ordering::SeqCst), IDLE, "the call ends IDLE");
        {
            let _busy = s.enter_as::<CONSUMED>(true).expect("idle");
        }
        assert_eq!(
            s.enter_as::<CONSUMED>(true).err().map(|r| s.found(r)),
            Some(CONSUMED)
        );
        assert_eq!(
            s.state.load(Ordering::SeqCst),
            CONSUMED,
            "a refused entry writes nothing"
        );
        s.kill(DEAD, true);
        assert_eq!(
            s.enter_as::<IDLE>(true).err().map(|r| s.found(r)),
            Some(DEAD),
            "a call after the drop"
        );
        // SAFETY: nothing stored, no one using it.
        unsafe { free_slot(slot) };
    }

    /// A closure's state, as a named type so that the racing threads can name it.
    struct Job {
        _counted: Counted,
        calls: usize,
    }

    impl Job {
        fn run(&mut self) -> usize {
            self.calls += 1;
            self.calls
        }
    }

    /// What a `ThunkMut` body does: enter, call, leave. `None` if refused.
    fn call(slot: Shared) -> Option<usize> {
        // SAFETY: the slot outlives both racing threads.
        let s = unsafe { &*slot.0 };
        let _busy = s.enter().ok()?;
        // SAFETY: BUSY: no drop and no other call touches the closure until `_busy` goes.
        Some(unsafe { (*Slot::closure::<Job>(slot.0)).run() })
    }

    /// A call on one thread and a drop on another, started together, many times: exactly one
    /// wins. The drop either finds the slot IDLE and drops the closure at once (a call before
    /// it has ended; a call after it finds DEAD and does not touch the closure), or finds it
    /// BUSY (a real thunk aborts there; the test waits for the call and drops then). The
    /// closure is dropped exactly once, and under Miri no data race on it is reported.
    #[test]
    fn a_call_and_a_drop_racing_cannot_both_win() {
        let rounds = if cfg!(miri) { 30 } else { 2000 };
        let drops = Arc::new(AtomicUsize::new(0));
        // How often the drop won (the call found DEAD), and how often the call ran.
        let mut outcomes = [0; 2];
        for _ in 0..rounds {
            let slot = new_slot();
            let job = Job {
                _counted: Counted(Arc::clone(&drops)),
                calls: 0,
            };
            // SAFETY: fresh slot.
            unsafe { Slot::store(slot, job) };
            let shared = Shared(slot);
            let start = Arc::new(std::sync::Barrier::new(2));
            let caller = {
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    start.wait();
                    call(shared)
                })
            };
            start.wait();
            // SAFETY: the slot outlives both threads.
            let found = unsafe { &*slot }.kill(DEAD, false);
            if found == IDLE {
                // SAFETY: IDLE: no call is running, and none can start on the closure now.
                unsafe { Slot::drop_closure::<Job>(slot) };
            }
            let called = caller.join().unwrap();
            outcomes[usize::from(called.is_some())] += 1;
            match found {
                IDLE => assert!(matches!(called, None | Some(1)), "{called:?}"),
                BUSY => {
                    assert_eq!(called, Some(1), "the call was running");
                    // SAFETY: the call has ended (joined); the closure is still there.
                    unsafe { Slot::drop_closure::<Job>(slot) };
                }
                other => panic!("a drop found state {other}"),
            }
            // SAFETY: the closure is gone and both sides are done.
            unsafe { free_slot(slot) };
        }
        assert_eq!(
            drops.load(Ordering::SeqCst),
            rounds,
            "each closure dropped once"
        );
        println!("drop first: {}, call first: {}", outcomes[0], outcomes[1]);
    }
}
