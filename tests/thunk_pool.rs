//! The thunk pool, in a test binary of its own because its state is process-global: one test
//! that runs its phases in order, so that every count it checks is exact.
//!
//! - freed slots are reused last (FIFO), and reused slots run their new closure;
//! - `pool_stats` counts live and free slots and blocks exactly;
//! - thousands of thunks leave no mapping writable and executable at once, and (on Linux) their
//!   code is mapped from the executable's own file rather than copied;
//! - a million create/drop cycles run in a flat pool;
//! - `reserve` maps up front what a number of thunks need, and creating them maps nothing;
//! - a thread's cache of free slots goes back to the shared pool when the thread exits, and a
//!   thunk dropped on a thread without a cache goes straight back too.

mod common;
#[cfg(target_os = "linux")]
#[path = "common/maps.rs"]
mod maps;

use core::cell::Cell;
use core::ffi::c_void;
use std::collections::HashSet;
use std::rc::Rc;

use common::sym;
use trampoline::{PoolStats, Thunk, ThunkMut, ThunkOnce, pool_stats};

type Cb = unsafe extern "C" fn(isize) -> isize;
type Cb0 = unsafe extern "C" fn() -> isize;
type Cb7 = unsafe extern "C" fn(isize, isize, isize, isize, isize, isize, isize) -> isize;

/// Counts how many times it is dropped.
struct DropCount(Rc<Cell<usize>>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Every slot of every block is either free or live.
fn check_invariant(stats: PoolStats, context: &str) {
    assert_eq!(
        stats.live + stats.free,
        stats.blocks * stats.slots_per_block,
        "{context}: live + free slots must fill the blocks: {stats:?}"
    );
}

#[test]
fn pool_lifecycle() {
    let start = pool_stats();
    assert_eq!(
        (start.live, start.free, start.blocks, start.copied_blocks),
        (0, 0, 0, 0),
        "no thunk exists before the first is created: {start:?}"
    );
    assert!(start.slots_per_block >= 64, "{start:?}");

    freed_slots_are_reused_last();
    a_freed_slot_waits_a_block_whatever_the_cache_held();
    live_counts_return_after_drops();
    thousands_of_thunks_and_no_writable_executable_memory();
    a_million_create_drop_cycles_in_a_flat_pool();
    leaked_thunks_stay_live();
    reserved_slots_are_created_without_mapping();
    a_threads_cache_goes_back_to_the_pool_when_it_exits();
    caches_under_concurrent_churn_lose_no_slot();
}

fn freed_slots_are_reused_last() {
    let spb = pool_stats().slots_per_block;
    let first = Thunk::<Cb>::new(|x: isize| x + 1);
    let stats = pool_stats();
    assert_eq!(
        (stats.live, stats.free, stats.blocks),
        (1, spb - 1, 1),
        "the first thunk maps one block: {stats:?}"
    );
    let freed = first.as_ptr();
    drop(first);
    let stats = pool_stats();
    assert_eq!(
        (stats.live, stats.free, stats.blocks),
        (0, spb, 1),
        "{stats:?}"
    );

    // The freed slot is at the back of this thread's cache, behind a block's worth less one
    // of others: they are all taken first. (The cache holds at least a block's worth after
    // each creation: topping it up here maps a second block.)
    let mut others = Vec::with_capacity(spb);
    for i in 0..spb - 1 {
        let thunk = Thunk::<Cb>::new(move |x: isize| x + i as isize);
        assert_ne!(
            thunk.as_ptr(),
            freed,
            "creation {i} after a drop reused the freed slot: freed slots must be reused last"
        );
        others.push(thunk);
    }
    let distinct: HashSet<*const c_void> = others.iter().map(|t| t.as_ptr()).collect();
    assert_eq!(distinct.len(), spb - 1);
    let stats = pool_stats();
    assert_eq!(
        (stats.live, stats.free, stats.blocks),
        (spb - 1, spb + 1, 2),
        "{stats:?}"
    );

    let reused = Thunk::<Cb>::new(|x: isize| x * 3);
    assert_eq!(
        reused.as_ptr(),
        freed,
        "the freed slot comes back once the slots ahead of it are taken"
    );
    assert_eq!(
        // SAFETY: `reused` is alive.
        unsafe { reused.as_fn()(5) },
        15,
        "the reused slot runs its new closure"
    );
    for (i, thunk) in others.iter().enumerate() {
        // SAFETY: the thunks are alive.
        assert_eq!(unsafe { thunk.as_fn()(100) }, 100 + i as isize);
    }
    let stats = pool_stats();
    assert_eq!(
        (stats.live, stats.free, stats.blocks),
        (spb, spb, 2),
        "{stats:?}"
    );

    // A cache down to a block's worth: the next thunk tops it up, mapping another block.
    let extra = Thunk::<Cb>::new(|x: isize| x);
    let stats = pool_stats();
    assert_eq!(
        (stats.live, stats.free, stats.blocks),
        (spb + 1, 2 * spb - 1, 3),
        "{stats:?}"
    );
    assert!(!distinct.contains(&extra.as_ptr()) && extra.as_ptr() != freed);

    // Drop order is reuse order: after the free slots ahead of them in the cache, the slots
    // come back in the order they were freed (a full cache gave its oldest block's worth
    // back to the shared queue on the way, not these).
    let dropped_first = others.remove(7).as_ptr();
    let dropped_second = others.remove(3).as_ptr();
    let mut fresh = Vec::new();
    for _ in 0..spb - 1 {
        fresh.push(Thunk::<Cb>::new(|x: isize| x));
    }
    assert!(
        fresh
            .iter()
            .all(|t| t.as_ptr() != dropped_first && t.as_ptr() != dropped_second)
    );
    let a = Thunk::<Cb>::new(|x: isize| x);
    let b = Thunk::<Cb>::new(|x: isize| x);
    assert_eq!(
        (a.as_ptr(), b.as_ptr()),
        (dropped_first, dropped_second),
        "FIFO order"
    );
    assert_eq!(pool_stats().blocks, 3);

    drop((others, reused, extra, fresh, a, b));
    let stats = pool_stats();
    assert_eq!(
        (stats.live, stats.free, stats.blocks),
        (0, 3 * spb, 3),
        "{stats:?}"
    );
    check_invariant(stats, "after the FIFO checks");
}

/// However many thunks a thread holds when it frees one (its cache of free slots may have
/// run low), at least a block's worth less one of creations pass before the slot is reused:
/// the stale-call abort has that long to catch a late call.
fn a_freed_slot_waits_a_block_whatever_the_cache_held() {
    let spb = pool_stats().slots_per_block;
    for phase in 0..8 {
        let held = spb + phase * 37;
        let mut live: std::collections::VecDeque<Thunk<Cb>> = (0..held)
            .map(|k| Thunk::<Cb>::new(move |x: isize| x + k as isize))
            .collect();
        // Churn: free the oldest, create one; note when each freed slot comes back.
        let mut freed_at = std::collections::HashMap::new();
        let mut shortest = usize::MAX;
        for creation in 0..2 * spb {
            let oldest = live.pop_front().expect("held thunks");
            freed_at.insert(oldest.as_ptr(), creation);
            drop(oldest);
            let thunk = Thunk::<Cb>::new(|x: isize| x);
            if let Some(freed) = freed_at.remove(&thunk.as_ptr()) {
                shortest = shortest.min(creation - freed);
            }
            live.push_back(thunk);
        }
        assert!(
            shortest >= spb - 1,
            "holding {held} thunks, a freed slot came back after {shortest} creations"
        );
    }
    check_invariant(pool_stats(), "after the churn phases");
}

fn live_counts_return_after_drops() {
    // SAFETY: the declared type is the C function's.
    let call7: unsafe extern "C" fn(Cb7, *const isize) -> isize = unsafe { sym("tl_call_i7") };
    let before = pool_stats();
    let a = Thunk::<Cb>::new(|x: isize| x + 1);
    let mut total = 0;
    let b = ThunkMut::<Cb7>::new(
        |a: isize, b: isize, c: isize, d: isize, e: isize, f: isize, g: isize| {
            total += a + b + c + d + e + f + g;
            total
        },
    );
    let c = ThunkOnce::<Cb0>::new(|| 9);
    let during = pool_stats();
    assert_eq!(during.live, before.live + 3, "{during:?}");
    check_invariant(during, "three thunks of three signatures");

    // SAFETY: the thunks are alive; `c` is called once.
    unsafe {
        assert_eq!(a.as_fn()(1), 2);
        assert_eq!(call7(b.as_fn(), [1, 2, 3, 4, 5, 6, 7].as_ptr()), 28);
        assert_eq!(c.as_fn()(), 9);
    }
    assert_eq!(
        pool_stats().live,
        before.live + 3,
        "a called ThunkOnce keeps its slot"
    );
    drop(c);
    assert_eq!(pool_stats().live, before.live + 2);
    drop((a, b));
    let after = pool_stats();
    assert_eq!(after.live, before.live, "{after:?}");
    assert_eq!(
        after.free,
        before.free + (after.blocks - before.blocks) * after.slots_per_block,
        "every slot came back: {after:?}"
    );
    check_invariant(after, "after the drops");
}

fn thousands_of_thunks_and_no_writable_executable_memory() {
    const EACH: usize = 2000;
    // SAFETY: the declared type is the C function's.
    let call7: unsafe extern "C" fn(Cb7, *const isize) -> isize = unsafe { sym("tl_call_i7") };
    let before = pool_stats();
    let ones: Vec<Thunk<Cb>> = (0..EACH)
        .map(|i| Thunk::<Cb>::new(move |x: isize| x + i as isize))
        .collect();
    let zeros: Vec<ThunkMut<Cb0>> = (0..EACH)
        .map(|i| ThunkMut::<Cb0>::new(move || i as isize))
        .collect();
    let sevens: Vec<ThunkOnce<Cb7>> = (0..EACH)
        .map(|i| {
            ThunkOnce::<Cb7>::new(
                move |a: isize, _: isize, _: isize, _: isize, _: isize, _: isize, g: isize| {
                    a * g + i as isize
                },
            )
        })
        .collect();
    let during = pool_stats();
    assert_eq!(during.live, before.live + 3 * EACH, "{during:?}");
    check_invariant(during, "thousands of thunks");
    let needed = (3 * EACH - before.free).div_ceil(during.slots_per_block);
    assert!(
        during.blocks - before.blocks >= needed,
        "{before:?} -> {during:?}"
    );

    let codes: Vec<usize> = ones
        .iter()
        .map(|t| t.as_ptr())
        .chain(zeros.iter().map(|t| t.as_ptr()))
        .chain(sevens.iter().map(|t| t.as_ptr()))
        .map(|p| p as usize)
        .collect();
    assert_eq!(
        codes.iter().collect::<HashSet<_>>().len(),
        3 * EACH,
        "distinct code addresses"
    );

    // SAFETY: the thunks are alive; each ThunkOnce is called once.
    unsafe {
        for (i, t) in ones.iter().enumerate() {
            assert_eq!(t.as_fn()(7), 7 + i as isize);
        }
        for (i, t) in zeros.iter().enumerate() {
            assert_eq!(t.as_fn()(), i as isize);
        }
        for (i, t) in sevens.iter().enumerate() {
            assert_eq!(
                call7(t.as_fn(), [3, 0, 0, 0, 0, 0, 5].as_ptr()),
                15 + i as isize
            );
        }
    }

    #[cfg(target_os = "linux")]
    {
        maps::assert_no_writable_executable_mapping("with thousands of thunks alive");
        let exe = std::fs::canonicalize(std::env::current_exe().unwrap()).unwrap();
        let exe = exe.to_str().unwrap();
        let mappings = maps::mappings();
        for &code in &codes {
            let m = mappings
                .iter()
                .find(|m| (m.start..m.end).contains(&code))
                .unwrap_or_else(|| panic!("code address {code:#x} is not mapped"));
            assert_eq!(
                &m.perms[..3],
                "r-x",
                "a thunk's code is read+execute: {}",
                m.line
            );
            assert_eq!(
                m.path, exe,
                "a thunk's code is mapped from the executable's own file, not copied: {}",
                m.line
            );
        }
        let stats = pool_stats();
        assert_eq!(
            stats.copied_blocks, 0,
            "on Linux the code is mapped from the executable's file: no block is copied"
        );
        assert!(stats.blocks > 2, "{stats:?}");
        assert_eq!(
            stats.image_lookups, 1,
            "the file is found with one read of /proc/self/maps, not one per block: {stats:?}"
        );
    }
    #[cfg(not(target_os = "linux"))]
    assert_eq!(pool_stats().image_lookups, 0);
    #[cfg(windows)]
    {
        let stats = pool_stats();
        assert_eq!(
            stats.copied_blocks, stats.blocks,
            "Windows copies every block"
        );
        for &code in &codes {
            let (code_region, protect) = windows_memory::query(code);
            assert_eq!(
                protect,
                windows_memory::PAGE_EXECUTE_READ,
                "a thunk's code page is execute+read only ({code:#x})"
            );
            // The data table follows the code, read+write and never executable.
            let (_, data_protect) = windows_memory::query(code_region.0 + code_region.1);
            assert_eq!(
                data_protect,
                windows_memory::PAGE_READWRITE,
                "the data after a thunk's code is read+write only ({code:#x})"
            );
        }
    }

    drop((ones, zeros, sevens));
    let after = pool_stats();
    assert_eq!(
        (after.live, after.blocks),
        (before.live, during.blocks),
        "{after:?}"
    );
    check_invariant(after, "after dropping thousands");
    #[cfg(target_os = "linux")]
    maps::assert_no_writable_executable_mapping("after dropping them");
}

fn a_million_create_drop_cycles_in_a_flat_pool() {
    const CYCLES: usize = 1_000_000;
    let drops = Rc::new(Cell::new(0));
    let before = pool_stats();
    let mut blocks_after_first = None;
    for i in 0..CYCLES {
        let counter = DropCount(drops.clone());
        let k = i as isize;
        // SAFETY: each thunk is alive while called; each ThunkOnce is called once.
        let result = unsafe {
            match i % 3 {
                0 => Thunk::<Cb>::new(move |x: isize| {
                    let _ = &counter;
                    x + k
                })
                .as_fn()(1),
                1 => ThunkMut::<Cb>::new(move |x: isize| {
                    let _ = &counter;
                    x - k
                })
                .as_fn()(1),
                _ => ThunkOnce::<Cb>::new(move |x: isize| {
                    let _counter = counter;
                    x ^ k
                })
                .as_fn()(1),
            }
        };
        let expected = match i % 3 {
            0 => 1 + k,
            1 => 1 - k,
            _ => 1 ^ k,
        };
        assert_eq!(result, expected, "cycle {i}");
        if i == 0 {
            blocks_after_first = Some(pool_stats().blocks);
        }
    }
    let after = pool_stats();
    assert_eq!(
        after.blocks,
        blocks_after_first.unwrap(),
        "no block is mapped after the first cycle: {before:?} -> {after:?}"
    );
    assert_eq!(
        after.blocks, before.blocks,
        "the free slots were enough: {after:?}"
    );
    assert_eq!(
        (after.live, after.free),
        (before.live, before.free),
        "{after:?}"
    );
    assert_eq!(drops.get(), CYCLES, "each closure dropped once");
}

fn leaked_thunks_stay_live() {
    let before = pool_stats();
    let leaked = Thunk::<Cb>::new(|x: isize| x * 2).leak();
    let once = ThunkOnce::<Cb>::new(|x: isize| x * 3).leak();
    // SAFETY: leaked thunks live forever; `once` is called once.
    assert_eq!(unsafe { (leaked(21), once(14)) }, (42, 42));
    let after = pool_stats();
    assert_eq!(
        after.live,
        before.live + 2,
        "leaked thunks keep their slots: {after:?}"
    );
    check_invariant(after, "after leaking");
}

fn reserved_slots_are_created_without_mapping() {
    // (Its stub kind may share a pool with earlier phases' signatures, which left free slots
    // there: on i686 every cdecl signature does. So the block count is bounded, not exact.)
    type Cb3 = unsafe extern "C" fn(isize, isize, isize) -> isize;
    let wanted = 3 * pool_stats().slots_per_block + 1;
    let before = pool_stats();
    trampoline::reserve::<Cb3>(wanted).expect("map the blocks");
    let reserved = pool_stats();
    assert!(
        reserved.blocks <= before.blocks + 6,
        "3 blocks and 1 slot, and the two blocks' worth a thread's cache may take, need at \
         most 6 blocks: {before:?} -> {reserved:?}"
    );
    assert!(reserved.free >= wanted, "{reserved:?}");
    trampoline::reserve::<Cb3>(wanted).expect("nothing to do");
    assert_eq!(pool_stats().blocks, reserved.blocks, "already reserved");
    let thunks: Vec<_> = (0..wanted as isize)
        .map(|k| Thunk::<Cb3>::new(move |a: isize, b: isize, c: isize| a + b + c + k))
        .collect();
    let created = pool_stats();
    assert_eq!(
        created.blocks, reserved.blocks,
        "creation mapped nothing: {created:?}"
    );
    assert_eq!(created.live, reserved.live + wanted);
    // SAFETY: the thunk is alive.
    assert_eq!(
        unsafe { thunks[wanted - 1].as_fn()(1, 2, 3) },
        6 + wanted as isize - 1
    );
    drop(thunks);
    check_invariant(pool_stats(), "after the reserved thunks");
}

fn a_threads_cache_goes_back_to_the_pool_when_it_exits() {
    let before = pool_stats();
    let (to_main, from_thread) = std::sync::mpsc::channel();
    let (to_thread, from_main) = std::sync::mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        let thunks: Vec<_> = (0..10)
            .map(|k| Thunk::<Cb>::new(move |x: isize| x + k))
            .collect();
        // SAFETY: the thunk is alive.
        assert_eq!(unsafe { thunks[9].as_fn()(1) }, 10);
        drop(thunks);
        to_main.send(pool_stats()).unwrap();
        from_main.recv().unwrap(); // exit only when told
    });
    let during = from_thread.recv().unwrap();
    assert!(
        during.cached > before.cached,
        "the worker's cache holds the slots it took: {before:?} -> {during:?}"
    );
    assert_eq!(during.live, before.live, "{during:?}");
    to_thread.send(()).unwrap();
    worker.join().unwrap();
    let after = pool_stats();
    assert_eq!(
        after.cached, before.cached,
        "the worker's cache went back to the shared pool when it exited: {after:?}"
    );
    assert_eq!(
        after.free, during.free,
        "cached or shared, the slots are free"
    );
    check_invariant(after, "after the worker exited");

    // Created here, dropped on a thread that never created one (so has no cache): the slot
    // goes straight back to the shared pool.
    let thunk = Thunk::<Cb, trampoline::threads::Send>::new(|x: isize| x);
    let live = pool_stats().live;
    std::thread::spawn(move || drop(thunk)).join().unwrap();
    let dropped = pool_stats();
    assert_eq!(dropped.live, live - 1, "{dropped:?}");
    check_invariant(dropped, "after a drop on another thread");
}

/// Four threads create batches of thunks larger than a cache holds, hand half of each batch to
/// the next thread to call and drop (cross-thread drops: caches fill past their capacity and
/// spill), drop the rest themselves, and exit (caches go back). Every call sees its own
/// closure, no two live thunks share a slot, and afterwards the pool accounts for every slot.
fn caches_under_concurrent_churn_lose_no_slot() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 6;
    let batch = 3 * pool_stats().slots_per_block; // more than a cache's two blocks' worth
    let before = pool_stats();
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..THREADS)
        .map(|_| std::sync::mpsc::channel::<Vec<Thunk<Cb, trampoline::threads::Send>>>())
        .unzip();
    // Joined through their handles, not a scope: a scope's wait ends when each closure returns,
    // before the thread's thread-local destructors (which give its cache back) have run.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(THREADS));
    let workers: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(t, inbox)| {
            let next = senders[(t + 1) % THREADS].clone();
            let barrier = std::sync::Arc::clone(&barrier);
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    let base = ((t * ROUNDS + round) * batch) as isize;
                    let mut mine: Vec<_> = (0..batch)
                        .map(|i| {
                            let tag = base + i as isize;
                            Thunk::<Cb, trampoline::threads::Send>::new(move |x: isize| x + tag)
                        })
                        .collect();
                    let slots: HashSet<usize> = mine.iter().map(|t| t.as_ptr() as usize).collect();
                    assert_eq!(slots.len(), batch, "live thunks never share a slot");
                    let given = mine.split_off(batch / 2);
                    next.send(given).unwrap();
                    let received = inbox.recv().unwrap();
                    // The previous thread's second half, in order.
                    let from = (t + THREADS - 1) % THREADS;
                    let from_base = ((from * ROUNDS + round) * batch + batch / 2) as isize;
                    for (j, thunk) in received.iter().enumerate() {
                        // SAFETY: the thunk is alive (owned here now).
                        assert_eq!(unsafe { thunk.as_fn()(0) }, from_base + j as isize);
                    }
                    for (i, thunk) in mine.iter().enumerate() {
                        // SAFETY: as above.
                        assert_eq!(unsafe { thunk.as_fn()(1) }, base + i as isize + 1);
                    }
                    drop(received); // created on the previous thread: a cross-thread drop
                    drop(mine);
                    barrier.wait();
                }
            })
        })
        .collect();
    drop(senders);
    for worker in workers {
        worker.join().unwrap();
    }
    let after = pool_stats();
    assert_eq!(after.live, before.live, "every thunk dropped: {after:?}");
    assert_eq!(
        after.cached, before.cached,
        "every worker's cache went back when it exited: {after:?}"
    );
    check_invariant(after, "after concurrent churn");
}

#[cfg(windows)]
mod windows_memory {
    use core::ffi::c_void;

    pub const PAGE_READWRITE: u32 = 0x04;
    pub const PAGE_EXECUTE_READ: u32 = 0x20;

    #[repr(C)]
    struct MemoryBasicInformation {
        base: *mut c_void,
        allocation_base: *mut c_void,
        allocation_protect: u32,
        // (x64 has a 16-bit PartitionId here, inside what is padding either way.)
        region_size: usize,
        state: u32,
        protect: u32,
        kind: u32,
    }

    #[link(name = "kernel32")]
    unsafe extern "system" {
        fn VirtualQuery(
            address: *const c_void,
            info: *mut MemoryBasicInformation,
            size: usize,
        ) -> usize;
    }

    /// The region (start, size) holding `address`, and its protection.
    pub fn query(address: usize) -> ((usize, usize), u32) {
        let mut info = core::mem::MaybeUninit::<MemoryBasicInformation>::zeroed();
        // SAFETY: VirtualQuery fills `info`, of the size given.
        let written = unsafe {
            VirtualQuery(
                core::ptr::without_provenance(address),
                info.as_mut_ptr(),
                size_of::<MemoryBasicInformation>(),
            )
        };
        assert_eq!(
            written,
            size_of::<MemoryBasicInformation>(),
            "VirtualQuery({address:#x})"
        );
        // SAFETY: filled by VirtualQuery.
        let info = unsafe { info.assume_init() };
        ((info.base as usize, info.region_size), info.protect)
    }
}
