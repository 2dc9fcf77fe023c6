//! The slot allocator.
//!
//! One shared pool per stub kind (see `crate::arch`). A pool owns blocks — a mapped copy of its
//! code table followed by a data table — and a FIFO queue of free slots. Blocks are never
//! unmapped; they are reused.
//!
//! # Per-thread caches
//!
//! In front of the shared queues, each thread that creates thunks keeps a FIFO cache per stub
//! kind: creating a thunk pops the front of it, dropping one pushes to its back, with no lock
//! and no atomic read-modify-write. A cache in use holds at least a block's worth less one of
//! slots after a creation: when it is down to a block's worth, the next creation first takes
//! another block's worth from the front of the shared queue (mapping blocks while the queue has
//! fewer), under the pool's lock; a full one (two blocks' worth) gives its oldest block's worth
//! back to the shared queue's back. So a freed slot is reused late: after every slot in the
//! cache ahead of it, at least a block's worth less one, whatever the thread holds (before the
//! caches, a single shared queue gave that depth only while the pool had that many free
//! slots), and, if it is given back, after every slot in the shared queue.
//!
//! A thunk dropped on another thread goes to that thread's cache if it has one (no lock, same
//! FIFO order), else straight to the shared queue's back: a drop must never allocate, and a
//! cache is set up (registered for `pool_stats`, an allocation) only by a thread that creates
//! thunks. A thread gives its caches back to the shared queues when it exits; a drop after
//! that (from another thread-local's destructor) goes to the shared queue.
//!
//! Every queue, cache or shared, is a list linked through the free slots' own storage
//! (`list.rs`), so no queue operation allocates: a drop works even once memory has run out, and
//! a free slot costs no memory beyond itself.
//!
//! `pool_stats` adds up the shared pools and the caches' sizes, which each thread keeps in a
//! record of its own, with plain atomic loads and stores (`cache.rs`; exact when no other
//! thread is creating or dropping).
//!
//! # Fork
//!
//! A child process has only the thread that called `fork()`. Had another thread held a pool
//! lock (or the cache registry's) at that moment, the child would inherit it locked, by no
//! one, and hang at its first create or drop. So the first use of the pools registers fork
//! handlers: before the fork the forking thread takes every pool lock (in kind order; nothing
//! else ever holds two) and then the registry's, and after it, in parent and child, lets them
//! go. The child gets consistent pools, and the parent's thunks, which it inherits, keep
//! working there. The other threads' caches are stranded in the child: no thread there owns
//! them, so their slots are never reused. The child's handler drops those threads' records and
//! counts their slots as `PoolStats::stranded`, so that `pool_stats` does not report them
//! free. (Every change of a cache's count that goes with a change of `out` is made under the
//! pool's lock, so the handler, which holds them all, sees the two agree; a count changed
//! without the lock, by a create or drop on the cache alone, may be one off.) (A `fork()` from
//! a signal handler that interrupted this crate's own create or drop on the same thread would
//! deadlock in the handler, as it would with any lock-taking `pthread_atfork` handler, libc's
//! own included.)

mod cache;
mod list;

use std::cell::RefCell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};

use cache::{Published, registry};
use list::FreeList;

use crate::arch::{self, KINDS, StubKind, TABLE_SIZE};
use crate::error::Error;
use crate::os;
use crate::slot::{SLOT_SIZE, Slot};

pub(super) struct KindPool {
    free: FreeList,
    /// Slots not in `free`: live, or in a thread's cache (not stranded ones).
    out: usize,
    /// Slots in the caches of threads that a `fork()` left behind (only ever in a child).
    stranded: usize,
    blocks: usize,
    copied_blocks: usize,
}

/// Slots per block, in each stub kind.
const SLOTS_PER_BLOCK: usize = TABLE_SIZE / SLOT_SIZE;

static POOLS: [Mutex<KindPool>; KINDS] = [const {
    Mutex::new(KindPool {
        free: FreeList::new(),
        out: 0,
        stranded: 0,
        blocks: 0,
        copied_blocks: 0,
    })
}; KINDS];

/// Set by tests to exercise the fallback that copies code instead of mapping it.
static FORCE_CODE_COPY: AtomicBool = AtomicBool::new(false);

pub(super) fn lock(kind: StubKind) -> MutexGuard<'static, KindPool> {
    // No user code runs under the lock, so a poisoned lock still guards consistent data.
    POOLS[kind.index()]
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether the fork handlers are registered (see the module documentation).
static FORK_HANDLERS: Once = Once::new();

thread_local! {
    /// The pool locks the forking thread holds from `before_fork` until `let_locks_go`.
    static HELD_ACROSS_FORK: RefCell<[Option<MutexGuard<'static, KindPool>>; KINDS]> =
        const { RefCell::new([const { None }; KINDS]) };
    /// The registry lock the forking thread holds from `before_fork` until `let_locks_go`.
    static REGISTRY_HELD_ACROSS_FORK: RefCell<Option<MutexGuard<'static, Vec<Arc<Published>>>>> =
        const { RefCell::new(None) };
}

/// Registers the fork handlers, before any pool lock is first taken.
#[inline]
pub(super) fn register_fork_handlers() {
    if !FORK_HANDLERS.is_completed() {
        register_fork_handlers_now();
    }
}

#[cold]
#[inline(never)]
fn register_fork_handlers_now() {
    FORK_HANDLERS.call_once(|| {
        // Without them the pools still work; only a child forked mid-create could hang.
        let _ = os::at_fork(before_fork, after_fork_in_parent, after_fork_in_child);
    });
}

/// Runs in the forking thread just before `fork()`: takes every pool lock.
unsafe extern "C" fn before_fork() {
    for kind in StubKind::all() {
        let guard = lock(kind);
        // If this thread's locals are already gone (a fork during thread exit), the guard is
        // dropped at once: no protection, but no deadlock either.
        let _ = HELD_ACROSS_FORK.try_with(|held| held.borrow_mut()[kind.index()] = Some(guard));
    }
    let registry = registry();
    let _ = REGISTRY_HELD_ACROSS_FORK.try_with(|held| *held.borrow_mut() = Some(registry));
}

/// Runs in the child just after `fork()`: strands the other threads' caches (see the module
/// documentation), then lets the locks go. Allocates and frees nothing: it only drops
/// references to records that those threads still own.
unsafe extern "C" fn after_fork_in_child() {
    let _ = REGISTRY_HELD_ACROSS_FORK.try_with(|registry| {
        let _ = HELD_ACROSS_FORK.try_with(|pools| {
            let (mut registry, mut pools) = (registry.borrow_mut(), pools.borrow_mut());
            // Only when `before_fork` took every lock (not during this thread's exit).
            let (Some(registry), true) = (registry.as_mut(), pools.iter().all(Option::is_some))
            else {
                return;
            };
            let own = cache::own_record();
            registry.retain(|record| {
                if core::ptr::eq(Arc::as_ptr(record), own) {
                    return true;
                }
                for (pool, cached) in pools.iter_mut().flatten().zip(&record.cached) {
                    // `min`: never more than `out` holds (see the module documentation), but
                    // a handler must not panic on a miscount.
                    let cached = cached.load(Ordering::Relaxed).min(pool.out);
                    pool.out -= cached;
                    pool.stranded += cached;
                }
                false
            });
        });
    });
    let_locks_go();
}

/// Runs in the parent just after `fork()`.
unsafe extern "C" fn after_fork_in_parent() {
    let_locks_go();
}

/// Lets go of the locks `before_fork` took.
fn let_locks_go() {
    let _ = REGISTRY_HELD_ACROSS_FORK.try_with(|held| *held.borrow_mut() = None);
    let _ = HELD_ACROSS_FORK.try_with(|held| held.borrow_mut().iter_mut().for_each(|g| *g = None));
}

/// Takes a free slot of stub kind `kind`: from this thread's cache, refilled from the shared
/// queue (or a new block) when empty. The fast path is inlined into the thunk constructors.
#[inline(always)]
pub(crate) fn acquire(kind: StubKind) -> Result<NonNull<Slot>, Error> {
    match cache::pop(kind) {
        Some(slot) => Ok(slot),
        None => cache::refill(kind),
    }
}

#[cold]
#[inline(never)]
pub(super) fn acquire_shared(kind: StubKind) -> Result<NonNull<Slot>, Error> {
    register_fork_handlers();
    let mut pool = lock(kind);
    if pool.free.len == 0 {
        grow(&mut pool, kind)?;
    }
    let slot = pool.free.pop().expect("a new block has free slots");
    pool.out += 1;
    Ok(slot)
}

/// Maps blocks of stub kind `kind` until the shared queue has at least `free` slots, plus
/// what a thread's cache takes on the way: it keeps a block's worth or more (topped up a block's
/// worth at a time) and may end with two.
pub(crate) fn reserve(kind: StubKind, free: usize) -> Result<(), Error> {
    register_fork_handlers();
    let mut pool = lock(kind);
    while pool.free.len < free + cache::CAPACITY {
        grow(&mut pool, kind)?;
    }
    Ok(())
}

/// Maps one more block of stub kind `kind` and queues its slots.
pub(super) fn grow(pool: &mut KindPool, kind: StubKind) -> Result<(), Error> {
    let block = os::map_block(arch::table(kind)?, FORCE_CODE_COPY.load(Ordering::Relaxed))?;
    pool.blocks += 1;
    pool.copied_blocks += usize::from(block.copied);
    // SAFETY: the data table is the `TABLE_SIZE` bytes right after the code.
    let data = unsafe { block.code.add(TABLE_SIZE) };
    // Blocks are mapped at page boundaries, so every slot is `SLOT_SIZE`-aligned: more than
    // the `Slot` type asks (its closure storage is 16-aligned).
    debug_assert!(
        (data as usize).is_multiple_of(SLOT_SIZE) && SLOT_SIZE.is_multiple_of(align_of::<Slot>())
    );
    for i in 0..SLOTS_PER_BLOCK {
        // SAFETY: within the data table, which is not null; the slot is fresh and free.
        pool.free
            .push(unsafe { NonNull::new_unchecked(data.add(i * SLOT_SIZE).cast()) });
    }
    Ok(())
}

/// Returns a slot to the back of this thread's cache, or of the shared queue if this thread
/// has no cache for its kind (see the module documentation). Never allocates.
///
/// # Safety
///
/// `slot` came from `acquire(kind)` and is no longer used by its thunk.
#[inline(always)]
pub(crate) unsafe fn release(kind: StubKind, slot: NonNull<Slot>) {
    if !cache::push(kind, slot) {
        release_shared(kind, slot);
    }
}

#[cold]
#[inline(never)]
fn release_shared(kind: StubKind, slot: NonNull<Slot>) {
    let mut pool = lock(kind);
    pool.out -= 1;
    pool.free.push(slot);
}

/// The address of the stub that belongs to `slot`.
#[inline]
pub(crate) fn code_address(slot: NonNull<Slot>) -> usize {
    slot.as_ptr() as usize - TABLE_SIZE
}

/// A snapshot of the thunk pools, summed over stub kinds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Thunks alive now (leaked ones included), and C-owned user-data callbacks not yet
    /// destroyed (`UserData::into_c` keeps each in a slot).
    pub live: usize,
    /// Slots ready for new thunks, in the shared pools and in threads' caches.
    pub free: usize,
    /// Of `free`, the slots held in the caches of threads that are still running (a thread's
    /// cache goes back to the shared pool when it exits).
    pub cached: usize,
    /// Slots that were in the caches of the parent's other threads when this process was
    /// forked from it: only the forking thread exists in a child, so they are never reused.
    /// Counted in neither `free` nor `live`; always 0 outside a forked child. Exact when no
    /// other thread of the parent was creating or dropping thunks at the fork (else it may be
    /// one off per such thread).
    pub stranded: usize,
    /// Blocks mapped so far (never unmapped).
    pub blocks: usize,
    /// Of those, blocks whose code was copied into fresh memory and made executable, rather
    /// than mapped from the executable's own file (Windows always copies; Linux only when
    /// mapping the file fails).
    pub copied_blocks: usize,
    /// Thunks per block, for each stub kind.
    pub slots_per_block: usize,
    /// How many times the list of the process's mappings (`/proc/self/maps` on Linux) was
    /// read to find the binary's file: at most once per process, however many blocks are
    /// mapped. Always 0 elsewhere.
    pub image_lookups: usize,
}

/// The state of the thunk pools, for leak checks and monitoring.
pub fn pool_stats() -> PoolStats {
    let mut stats = PoolStats {
        slots_per_block: SLOTS_PER_BLOCK,
        image_lookups: os::IMAGE_LOOKUPS.load(Ordering::Relaxed),
        ..PoolStats::default()
    };
    register_fork_handlers();
    let mut out = 0;
    for kind in StubKind::all() {
        let pool = lock(kind);
        out += pool.out;
        stats.stranded += pool.stranded;
        stats.free += pool.free.len;
        stats.blocks += pool.blocks;
        stats.copied_blocks += pool.copied_blocks;
    }
    for published in registry().iter() {
        stats.cached += published
            .cached
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum::<usize>();
    }
    stats.free += stats.cached;
    stats.live = out.saturating_sub(stats.cached);
    stats
}

/// Makes new blocks copy their code instead of mapping it from the executable's file, to test
/// that fallback. Only with the `test-clib` feature, which only this crate's own tests enable.
#[cfg(feature = "test-clib")]
pub fn force_code_copy(force: bool) {
    FORCE_CODE_COPY.store(force, Ordering::Relaxed);
}
