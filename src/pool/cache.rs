//! Per-thread caches of free slots, in front of the shared queues (see the module
//! documentation of `pool` for the policy).
//!
//! The fast paths (`pop`, `push`) are what a create and a drop cost beyond the slot itself, so
//! they are kept to a handful of instructions: the cache is a thread-local with no drop glue
//! (reaching it needs no "initialised or destroyed yet" check; `GiveBack`, a separate
//! thread-local, empties it when the thread exits), and each kind's count lives only in the
//! thread's `Published` record, where `pool_stats` reads it (no second copy to keep in step).

use std::cell::{Cell, UnsafeCell};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::list::Chain;
use super::{acquire_shared, grow, lock, register_fork_handlers};
use crate::arch::{KINDS, StubKind};
use crate::error::Error;
use crate::slot::Slot;

/// Slots a thread's cache holds at most, per kind: two blocks' worth.
pub(super) const CAPACITY: usize = 2 * super::SLOTS_PER_BLOCK;

/// Slots moved between a cache and the shared queue at a time: a block's worth. Also the
/// fewest a cache in use holds: `pop` refills before it would go below, `spill` leaves this
/// many. So a slot freed to the back of a cache has at least a block's worth of others ahead
/// of it: it is reused no sooner than a block's worth of creations later.
const BATCH: usize = super::SLOTS_PER_BLOCK;

/// A thread's cache sizes, per kind: the caches' only counts, which `pool_stats` reads.
pub(super) struct Published {
    pub(super) cached: [AtomicUsize; KINDS],
}

/// Every thread's published cache sizes.
static REGISTRY: Mutex<Vec<Arc<Published>>> = Mutex::new(Vec::new());

pub(super) fn registry() -> MutexGuard<'static, Vec<Arc<Published>>> {
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The count a kind's cache points at while its thread has no record (before its first
/// refill, and after it gave its caches back): above `CAPACITY`, so that `pop` tries the empty
/// chain and `push` takes its cold branch, which recognises it. Never written. (A sentinel
/// rather than null: the fast paths then test nothing but the count.)
static NO_CACHE: AtomicUsize = AtomicUsize::new(usize::MAX);

/// One kind's cache: its chain, and its count in the thread's `Published` record (or
/// `NO_CACHE`).
struct KindCache {
    chain: Chain,
    len: *const AtomicUsize,
}

/// A thread's caches, one per kind, and its record (from `Arc::into_raw`, or null).
struct ThreadCache {
    kinds: [UnsafeCell<KindCache>; KINDS],
    published: Cell<*const Published>,
}

thread_local! {
    static CACHE: ThreadCache = const {
        ThreadCache {
            kinds: [const {
                UnsafeCell::new(KindCache {
                    chain: Chain::new(),
                    len: &raw const NO_CACHE,
                })
            }; KINDS],
            published: Cell::new(core::ptr::null()),
        }
    };
    /// Empties this thread's caches when it exits; touched when they are set up, which
    /// registers its destructor.
    static GIVE_BACK: GiveBack = const { GiveBack };
}

impl ThreadCache {
    /// This thread's cache of `kind`.
    ///
    /// # Safety
    ///
    /// No other reference to it is alive while the result is used. (Nothing in this module
    /// holds one across a call that could take another: the pool's lock never calls back.)
    #[inline(always)]
    #[allow(clippy::mut_from_ref)] // the cell is this thread's own; see the contract
    unsafe fn kind(&self, kind: StubKind) -> &mut KindCache {
        // SAFETY: a thread-local, so no other thread reaches it; per the contract, no other
        // reference on this one.
        unsafe { &mut *self.kinds[kind.index()].get() }
    }

    /// Tops the cache of `kind` up, from `BATCH` slots or fewer, with a block's worth from
    /// the shared queue's front (mapping blocks while it has fewer), and takes its front
    /// slot; sets the caches up on first use.
    fn refill(&self, kind: StubKind) -> Result<NonNull<Slot>, Error> {
        if self.published.get().is_null() && !self.set_up() {
            return acquire_shared(kind);
        }
        // SAFETY: the only reference, until the end of this function.
        let cache = unsafe { self.kind(kind) };
        // SAFETY: set up above; the record outlives the pointer (see `give_back`).
        let len = unsafe { &*cache.len };
        let mut pool = lock(kind);
        while pool.free.len < BATCH {
            grow(&mut pool, kind)?;
        }
        let moved = cache.chain.take_front(&mut pool.free.chain, BATCH);
        pool.free.len -= moved;
        pool.out += moved;
        let slot = cache.chain.pop().expect("a refilled cache has slots");
        // Under the lock, with `out`: a fork's child handler, which holds every lock, then
        // never sees a count that `out` does not include yet.
        len.store(len.load(Ordering::Relaxed) + moved - 1, Ordering::Relaxed);
        drop(pool);
        Ok(slot)
    }

    /// Registers this thread's record for `pool_stats` and its give-back at exit; `false` if
    /// the thread is exiting already (then it keeps no cache).
    #[cold]
    fn set_up(&self) -> bool {
        if GIVE_BACK.try_with(|_| ()).is_err() {
            return false;
        }
        register_fork_handlers();
        let published = Arc::new(Published {
            cached: [const { AtomicUsize::new(0) }; KINDS],
        });
        registry().push(Arc::clone(&published));
        let published = Arc::into_raw(published);
        for kind in StubKind::all() {
            // SAFETY: the record lives until `give_back` points these away from it; one reference
            // to each cache at a time.
            unsafe { self.kind(kind).len = &(*published).cached[kind.index()] };
        }
        self.published.set(published);
        true
    }

    /// Gives every cached slot back to the shared queues, and the record up: at thread exit.
    fn give_back(&self) {
        for kind in StubKind::all() {
            // SAFETY: one reference to each cache at a time.
            let cache = unsafe { self.kind(kind) };
            if core::ptr::eq(cache.len, &NO_CACHE) {
                continue;
            }
            // SAFETY: set up, and the record is alive until the end of this function.
            let len = unsafe { &*cache.len };
            let mut pool = lock(kind);
            let moved = pool.free.chain.take_front(&mut cache.chain, usize::MAX);
            pool.free.len += moved;
            pool.out -= moved;
            len.store(0, Ordering::Relaxed); // under the lock, with `out` (see `refill`)
            drop(pool);
            cache.len = &raw const NO_CACHE;
        }
        let published = self.published.replace(core::ptr::null());
        if !published.is_null() {
            // SAFETY: from `Arc::into_raw` in `set_up`, given back once (nulled above); no
            // cache points into it any more.
            let published = unsafe { Arc::from_raw(published) };
            registry().retain(|p| !Arc::ptr_eq(p, &published));
        }
    }
}

/// This thread's record, or null (none yet, or given back).
pub(super) fn own_record() -> *const Published {
    CACHE
        .try_with(|cache| cache.published.get())
        .unwrap_or(core::ptr::null())
}

/// Gives the thread's caches back when the thread exits.
struct GiveBack;

impl Drop for GiveBack {
    fn drop(&mut self) {
        let _ = CACHE.try_with(ThreadCache::give_back);
    }
}

/// Takes the front slot of this thread's cache of `kind`, if it holds more than `BATCH` (else
/// `refill` tops it up first, so that the slots freed last stay a block's worth behind).
#[inline(always)]
pub(super) fn pop(kind: StubKind) -> Option<NonNull<Slot>> {
    CACHE
        .try_with(|cache| {
            // SAFETY: the only reference, until the end of this closure.
            let cache = unsafe { cache.kind(kind) };
            // SAFETY: `NO_CACHE`, or the record, alive until `give_back` points away from it.
            let len = unsafe { &*cache.len };
            let n = len.load(Ordering::Relaxed);
            if n <= BATCH {
                return None;
            }
            // (`None` here: no cache, whose chain is empty.)
            let slot = cache.chain.pop()?;
            len.store(n - 1, Ordering::Relaxed);
            Some(slot)
        })
        .ok()
        .flatten()
}

/// Queues `slot` at the back of this thread's cache of `kind`; `false` if this thread has no
/// cache (see the module documentation).
#[inline(always)]
pub(super) fn push(kind: StubKind, slot: NonNull<Slot>) -> bool {
    CACHE
        .try_with(|cache| {
            // SAFETY: the only reference, until the end of this closure.
            let cache = unsafe { cache.kind(kind) };
            // SAFETY: `NO_CACHE`, or the record, alive until `give_back` points away from it.
            let len = unsafe { &*cache.len };
            let mut n = len.load(Ordering::Relaxed);
            if n >= CAPACITY {
                if core::ptr::eq(cache.len, &NO_CACHE) {
                    return false;
                }
                n = spill(kind, &mut cache.chain, len);
            }
            cache.chain.push(slot);
            len.store(n + 1, Ordering::Relaxed);
            true
        })
        .unwrap_or(false)
}

/// Gives a full cache's oldest block's worth of slots to the shared queue's back; returns the
/// cache's new count, which it stores in `len` under the lock, with `out` (see `refill`).
#[cold]
#[inline(never)]
fn spill(kind: StubKind, chain: &mut Chain, len: &AtomicUsize) -> usize {
    let mut pool = lock(kind);
    let moved = pool.free.chain.take_front(chain, BATCH);
    pool.free.len += moved;
    pool.out -= moved;
    let n = len.load(Ordering::Relaxed) - moved;
    len.store(n, Ordering::Relaxed);
    n
}

/// `pop` found this thread's cache low, or not set up, or gone: tops it up from the shared
/// queue (or new blocks), or takes from the shared queue directly if the thread is exiting.
#[cold]
#[inline(never)]
pub(super) fn refill(kind: StubKind) -> Result<NonNull<Slot>, Error> {
    match CACHE.try_with(|cache| cache.refill(kind)) {
        Ok(slot) => slot,
        Err(_) => acquire_shared(kind),
    }
}
