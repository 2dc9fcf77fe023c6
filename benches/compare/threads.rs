#![warn(clippy::undocumented_unsafe_blocks)]
//! Create + drop throughput with one thread and with two threads at once: whether thunk
//! creation scales or collapses on a shared lock. Each thread runs `N` create + drop cycles of
//! a `Thunk` with a one-word closure; the figure is cycles per second over all threads, best of
//! five rounds, and the ratio of two threads to one, from this one run. Prints a small table
//! (criterion times one thread at a time).
//!
//! `cargo bench -p trampoline-benches --bench threads [-- CYCLES]`

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use trampoline::Thunk;

type Cb = unsafe extern "C" fn(i64) -> i64;

/// `cycles` create + drop cycles on this thread.
fn churn(cycles: u64) {
    for i in 0..cycles {
        let thunk = Thunk::<Cb>::new(move |x: i64| x + i as i64);
        black_box(thunk.as_fn());
    }
}

/// The wall time of `threads` threads each running `cycles` cycles, started together.
fn round(threads: usize, cycles: u64) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                barrier.wait();
                churn(cycles);
            });
        }
        barrier.wait();
        let start = Instant::now();
        // (The scope joins every thread before it returns.)
        start
    })
    .elapsed()
}

fn main() {
    let cycles: u64 = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(20_000_000);
    churn(10_000); // warm up: map the blocks, fault the pages in
    let best = |threads: usize| {
        (0..5)
            .map(|_| round(threads, cycles))
            .min()
            .expect("five rounds")
    };
    let one = best(1);
    let two = best(2);
    let rate = |threads: usize, time: Duration| threads as f64 * cycles as f64 / time.as_secs_f64();
    let (r1, r2) = (rate(1, one), rate(2, two));
    println!(
        "create + drop, {cycles} cycles per thread, best of 5 (cargo bench --bench threads)\n"
    );
    println!("threads  time          ns per cycle (per thread)  cycles/s (all threads)");
    for (threads, time, r) in [(1, one, r1), (2, two, r2)] {
        println!(
            "{threads:>7}  {:>9.3} s   {:>24.2}  {:>22.0}",
            time.as_secs_f64(),
            time.as_secs_f64() * 1e9 / cycles as f64,
            r
        );
    }
    println!("\ntwo threads' throughput / one thread's: {:.2}x", r2 / r1);
}
