//! `fork()` while another thread is inside thunk creation or drop: the child can still create,
//! call and drop thunks, and the parent's thunks work in the child.
//!
//! Without fork handlers, a child forked while another thread holds a pool lock inherits the
//! lock held by a thread that does not exist there, and hangs at its first create or drop.
//! Each child here is killed by an alarm if it hangs, and the parent checks how it ended.
#![cfg(unix)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use common::in_passing_child;
use trampoline::{Thunk, ThunkMut, pool_stats, threads};

type Cb = unsafe extern "C" fn(i64) -> i64;

/// Forks this many children, each while the busy thread is creating and dropping thunks.
const FORKS: usize = 200;

/// What a child does: runs the parent's thunk, creates, calls and drops its own (enough to
/// map a new block too), and exits with a code saying which step failed.
fn child(parent: Cb) -> ! {
    // SAFETY: alarm only arms a timer; its default action ends a child that hangs.
    unsafe { libc::alarm(10) };
    // SAFETY: the parent's thunk lives in the child's copy of the parent's memory.
    if unsafe { parent(1) } != 1001 {
        // SAFETY: _exit ends the child without running the parent's atexit handlers.
        unsafe { libc::_exit(2) };
    }
    let mut sum = 0;
    let thunks: Vec<_> = (0..3000i64)
        .map(|i| ThunkMut::<Cb>::new(move |x: i64| x + i))
        .collect();
    for (i, thunk) in thunks.iter().enumerate() {
        // SAFETY: the thunk is alive.
        sum += unsafe { (thunk.as_fn())(1) } - i as i64;
    }
    drop(thunks);
    let code = if sum == 3000 { 0 } else { 3 };
    // SAFETY: as above.
    unsafe { libc::_exit(code) }
}

#[test]
fn a_child_forked_during_create_and_drop_can_use_thunks() {
    let parent = Thunk::<Cb, threads::Sync>::new(|x: i64| x + 1000);
    let stop = Arc::new(AtomicBool::new(false));
    let cycles = Arc::new(AtomicUsize::new(0));
    let busy = {
        let (stop, cycles) = (Arc::clone(&stop), Arc::clone(&cycles));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let batch: Vec<_> = (0..64i64)
                    .map(|i| Thunk::<Cb>::new(move |x: i64| x * i))
                    .collect();
                drop(batch);
                cycles.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    while cycles.load(Ordering::Relaxed) == 0 {
        std::thread::yield_now();
    }
    let mut failures = Vec::new();
    for round in 0..FORKS {
        // SAFETY: the child only uses async-signal-safe calls, the allocator (which glibc and
        // musl make safe after fork) and this crate, whose fork handlers are under test.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
        if pid == 0 {
            child(parent.as_fn());
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
            failures.push((round, status));
            if failures.len() == 3 {
                break; // each hung child costs the alarm's 10 s
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    busy.join().unwrap();
    assert!(
        cycles.load(Ordering::Relaxed) > 0,
        "the busy thread created thunks"
    );
    assert!(
        failures.is_empty(),
        "children failed (round, wait status; signal {} = SIGALRM means it hung): {failures:?}",
        libc::SIGALRM,
    );
}

/// A child forked while another thread holds a cache of free slots cannot reuse them (that
/// thread is not in the child): `pool_stats` there counts them as stranded, not free, while the
/// forking thread keeps its own cache, and creations there add up. (In a child process of this
/// test binary, so that no other test's threads hold caches.)
#[test]
fn a_forked_child_counts_other_threads_caches_as_stranded() {
    let name = "a_forked_child_counts_other_threads_caches_as_stranded";
    if !in_passing_child(name, &std::env::current_exe().unwrap(), &[]) {
        return;
    }
    // The forking thread's own cache, which the child keeps.
    drop(Thunk::<Cb>::new(|x: i64| x));
    let own = pool_stats().cached;
    assert!(own > 0, "the forking thread caches slots");
    // A thread that sets up its cache (one create and drop), then waits until the fork is done.
    let (ready_tx, ready) = mpsc::channel();
    let (done, done_rx) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        drop(Thunk::<Cb>::new(|x: i64| x));
        ready_tx.send(()).unwrap();
        done_rx.recv().unwrap();
    });
    ready.recv().unwrap();
    let before = pool_stats();
    let holders = before.cached - own;
    assert!(holders > 0, "the holder thread caches slots: {before:?}");
    assert_eq!(
        before.stranded, 0,
        "nothing is stranded in a process that did not fork"
    );

    // SAFETY: the child only uses this crate, the allocator (which glibc and musl make safe
    // after fork) and async-signal-safe calls, and ends with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: alarm only arms a timer; its default action ends a child that hangs.
        unsafe { libc::alarm(10) };
        let after = pool_stats();
        let mut code = 0;
        if after.stranded != holders || after.cached != own {
            code = 2;
        } else if after.free != before.free - holders || after.live != before.live {
            code = 3;
        } else {
            // The child still creates and drops; what it takes and gives back adds up.
            let thunk = Thunk::<Cb>::new(|x: i64| x + 1);
            // SAFETY: the thunk is alive.
            let called = unsafe { (thunk.as_fn())(1) };
            let during = pool_stats();
            drop(thunk);
            let end = pool_stats();
            if called != 2 || during.live != before.live + 1 || end.live != before.live {
                code = 4;
            } else if end.stranded != holders
                || end.free + end.live + end.stranded != end.blocks * end.slots_per_block
            {
                code = 5;
            }
        }
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    done.send(()).unwrap();
    holder.join().unwrap();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child's stats did not add up (exit code 2: stranded or cached, 3: free or live \
         before creating, 4: live while creating, 5: the totals after; wait status {status})"
    );
    assert_eq!(pool_stats().stranded, 0, "the parent strands nothing");
}
