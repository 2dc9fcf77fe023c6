//! The slot allocator.
//!
//! One pool per stub kind (see `crate::arch`). A pool owns blocks — a mapped copy of its code
//! table followed by a data table — and a FIFO queue of free slots. Creating a thunk pops the
//! front, dropping one pushes to the back: a freed slot is reused last, so that a stale
//! pointer keeps hitting the "called after drop" handler for as long as possible. Blocks are
//! never unmapped; they are reused.
//!
//! The fast path takes one uncontended lock and makes no system call; only an empty queue
//! maps a block.
//!
//! # Fork
//!
//! A child process has only the thread that called `fork()`. Had another thread held a pool
//! lock at that moment, the child would inherit it locked, by no one, and hang at its first
//! create or drop. So the first use of the pools registers fork handlers: before the fork the
//! forking thread takes every pool lock (in kind order; nothing else ever holds two), and after
//! it, in parent and child, lets them go. The child gets consistent pools, and the parent's
//! thunks, which it inherits, keep working there. (A `fork()` from a signal handler that
//! interrupted this crate's own create or drop on the same thread would deadlock in the handler,
//! as it would with any lock-taking `pthread_atfork` handler, libc's own included.)

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, Once};

use crate::arch::{self, KINDS, StubKind, TABLE_SIZE};
use crate::error::Error;
use crate::os;
use crate::slot::{SLOT_SIZE, Slot};

/// A free slot's address. Slots are plain memory owned by the pool while free.
struct FreeSlot(NonNull<Slot>);
// SAFETY: a free slot is only data, owned by whoever holds the pool's lock.
unsafe impl Send for FreeSlot {}

struct KindPool {
    free: VecDeque<FreeSlot>,
    live: usize,
    blocks: usize,
    copied_blocks: usize,
}

/// Slots per block, in each stub kind.
const SLOTS_PER_BLOCK: usize = TABLE_SIZE / SLOT_SIZE;

static POOLS: [Mutex<KindPool>; KINDS] = [const {
    Mutex::new(KindPool {
        free: VecDeque::new(),
        live: 0,
        blocks: 0,
        copied_blocks: 0,
    })
}; KINDS];

/// Set by tests to exercise the fallback that copies code instead of mapping it.
static FORCE_CODE_COPY: AtomicBool = AtomicBool::new(false);

fn lock(kind: StubKind) -> MutexGuard<'static, KindPool> {
    // No user code runs under the lock, so a poisoned lock still guards consistent data.
    POOLS[kind.index()]
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether the fork handlers are registered (see the module documentation).
static FORK_HANDLERS: Once = Once::new();

thread_local! {
    /// The pool locks the forking thread holds from `before_fork` until `after_fork`.
    static HELD_ACROSS_FORK: RefCell<[Option<MutexGuard<'static, KindPool>>; KINDS]> =
        const { RefCell::new([const { None }; KINDS]) };
}

/// Registers the fork handlers, before any pool lock is first taken.
#[inline]
fn register_fork_handlers() {
    if !FORK_HANDLERS.is_completed() {
        register_fork_handlers_now();
    }
}

#[cold]
#[inline(never)]
fn register_fork_handlers_now() {
    FORK_HANDLERS.call_once(|| {
        // Without them the pools still work; only a child forked mid-create could hang.
        let _ = os::at_fork(before_fork, after_fork);
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
}

/// Runs in the parent and in the child just after `fork()`: lets the pool locks go.
unsafe extern "C" fn after_fork() {
    let _ = HELD_ACROSS_FORK.try_with(|held| held.borrow_mut().iter_mut().for_each(|g| *g = None));
}

/// Takes a free slot of stub kind `kind`, mapping a new block if there is none.
pub(crate) fn acquire(kind: StubKind) -> Result<NonNull<Slot>, Error> {
    register_fork_handlers();
    let mut pool = lock(kind);
    if pool.free.is_empty() {
        grow(&mut pool, kind)?;
    }
    let slot = pool.free.pop_front().expect("a new block has free slots");
    pool.live += 1;
    Ok(slot.0)
}

/// Maps blocks of stub kind `kind` until at least `free` slots are free.
pub(crate) fn reserve(kind: StubKind, free: usize) -> Result<(), Error> {
    register_fork_handlers();
    let mut pool = lock(kind);
    while pool.free.len() < free {
        grow(&mut pool, kind)?;
    }
    Ok(())
}

/// Maps one more block of stub kind `kind` and queues its slots.
fn grow(pool: &mut KindPool, kind: StubKind) -> Result<(), Error> {
    // Room in the queue for every slot there will be, before the block exists: a drop
    // (`release`) then never allocates, so it works even once memory has run out.
    let more = (pool.blocks + 1) * SLOTS_PER_BLOCK - pool.free.len();
    pool.free
        .try_reserve_exact(more)
        .map_err(|_| Error::MapBlock(std::io::ErrorKind::OutOfMemory.into()))?;
    let block = os::map_block(arch::table(kind)?, FORCE_CODE_COPY.load(Ordering::Relaxed))?;
    pool.blocks += 1;
    pool.copied_blocks += usize::from(block.copied);
    // SAFETY: the data table is the `TABLE_SIZE` bytes right after the code.
    let data = unsafe { block.code.add(TABLE_SIZE) };
    pool.free.extend((0..SLOTS_PER_BLOCK).map(|i| {
        // SAFETY: within the data table, which is not null.
        FreeSlot(unsafe { NonNull::new_unchecked(data.add(i * SLOT_SIZE).cast()) })
    }));
    Ok(())
}

/// Returns a slot to the back of its pool's queue, which has room for it (see `acquire`).
///
/// # Safety
///
/// `slot` came from `acquire(kind)` and is no longer used by its thunk.
pub(crate) unsafe fn release(kind: StubKind, slot: NonNull<Slot>) {
    let mut pool = lock(kind);
    pool.live -= 1;
    pool.free.push_back(FreeSlot(slot));
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
    /// Thunks alive now (leaked ones included).
    pub live: usize,
    /// Slots ready for new thunks.
    pub free: usize,
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
    for kind in StubKind::all() {
        let pool = lock(kind);
        stats.live += pool.live;
        stats.free += pool.free.len();
        stats.blocks += pool.blocks;
        stats.copied_blocks += pool.copied_blocks;
    }
    stats
}

/// Makes new blocks copy their code instead of mapping it from the executable's file, to test
/// that fallback. Only with the `test-clib` feature, which only this crate's own tests enable.
#[cfg(feature = "test-clib")]
pub fn force_code_copy(force: bool) {
    FORCE_CODE_COPY.store(force, Ordering::Relaxed);
}
