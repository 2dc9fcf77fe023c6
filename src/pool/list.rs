//! Free slots in FIFO order, linked through the slots themselves (`Slot::next_free`): pushing
//! and popping never allocate, so neither does a drop, even once memory has run out, and a
//! free slot costs no memory beyond itself.

use std::ptr::NonNull;

use crate::slot::Slot;

/// A FIFO chain of free slots, without a count: a thread's cache keeps its count where
/// `pool_stats` can read it (`cache.rs`).
pub(super) struct Chain {
    head: *mut Slot,
    /// The last slot; meaningless while `head` is null.
    tail: *mut Slot,
}

// SAFETY: the slots of a chain are plain memory owned by whoever owns the chain (the shared
// pool's lock, or a thread's cache).
unsafe impl Send for Chain {}

impl Chain {
    pub(super) const fn new() -> Chain {
        Chain {
            head: core::ptr::null_mut(),
            tail: core::ptr::null_mut(),
        }
    }

    /// Takes the front slot, if any.
    #[inline(always)]
    pub(super) fn pop(&mut self) -> Option<NonNull<Slot>> {
        let head = NonNull::new(self.head)?;
        // SAFETY: a chained slot is free, owned by this chain, and linked by `push`.
        self.head = unsafe { Slot::next_free(head.as_ptr()) };
        Some(head)
    }

    /// Appends `slot`.
    #[inline(always)]
    pub(super) fn push(&mut self, slot: NonNull<Slot>) {
        let slot = slot.as_ptr();
        // SAFETY: `slot` is free and now this chain's; so is the tail, if there is a head.
        unsafe {
            Slot::set_next_free(slot, core::ptr::null_mut());
            if self.head.is_null() {
                self.head = slot;
            } else {
                Slot::set_next_free(self.tail, slot);
            }
        }
        self.tail = slot;
    }

    /// Moves the first `n` slots of `from` (fewer if it runs out) to the back of this chain,
    /// and returns how many it moved.
    pub(super) fn take_front(&mut self, from: &mut Chain, n: usize) -> usize {
        let mut moved = 0;
        while moved < n {
            let Some(slot) = from.pop() else { break };
            self.push(slot);
            moved += 1;
        }
        moved
    }
}

/// A chain with its count: the shared queue of each pool.
pub(super) struct FreeList {
    pub(super) chain: Chain,
    pub(super) len: usize,
}

impl FreeList {
    pub(super) const fn new() -> FreeList {
        FreeList {
            chain: Chain::new(),
            len: 0,
        }
    }

    /// Takes the front slot, if any.
    pub(super) fn pop(&mut self) -> Option<NonNull<Slot>> {
        let slot = self.chain.pop()?;
        self.len -= 1;
        Some(slot)
    }

    /// Appends `slot`.
    pub(super) fn push(&mut self, slot: NonNull<Slot>) {
        self.chain.push(slot);
        self.len += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::{Layout, alloc_zeroed, dealloc};

    /// (Plain Rust: `.ci/run` also runs this under Miri, which checks the links' provenance.)
    #[test]
    fn a_queue_of_free_slots_is_fifo_through_the_slots_own_storage() {
        let layout = Layout::new::<Slot>();
        let slots: Vec<NonNull<Slot>> = (0..4)
            // SAFETY: a non-zero-sized layout.
            .map(|_| NonNull::new(unsafe { alloc_zeroed(layout) }.cast()).expect("memory"))
            .collect();
        let mut queue = FreeList::new();
        assert_eq!(queue.pop(), None);
        slots[..3].iter().for_each(|&slot| queue.push(slot));
        assert_eq!(queue.len, 3);
        assert_eq!(queue.pop(), Some(slots[0]));
        queue.push(slots[0]); // freed again: reused after the other two
        assert_eq!(queue.pop(), Some(slots[1]));
        assert_eq!(queue.pop(), Some(slots[2]));
        assert_eq!(queue.pop(), Some(slots[0]));
        assert_eq!((queue.pop(), queue.len), (None, 0));

        // A cache's chain: takes a batch from the front of a queue, keeps the order.
        slots.iter().for_each(|&slot| queue.push(slot));
        let mut cache = Chain::new();
        assert_eq!(cache.take_front(&mut queue.chain, 3), 3);
        queue.len -= 3;
        assert_eq!(queue.pop(), Some(slots[3]));
        assert_eq!(
            cache.take_front(&mut queue.chain, 5),
            0,
            "nothing left to take"
        );
        assert_eq!((cache.pop(), cache.pop()), (Some(slots[0]), Some(slots[1])));
        cache.push(slots[0]);
        assert_eq!((cache.pop(), cache.pop()), (Some(slots[2]), Some(slots[0])));
        assert_eq!(cache.pop(), None);
        for slot in slots {
            // SAFETY: allocated above with this layout, no longer queued.
            unsafe { dealloc(slot.as_ptr().cast(), layout) };
        }
    }
}
