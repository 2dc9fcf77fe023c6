#![warn(clippy::undocumented_unsafe_blocks)]
//! Create + drop throughput with one thread and with two threads at once: whether creation
//! scales or collapses on a shared lock, for `trampoline`'s thunks, closure-ffi and libffi
//! (the create + drop variants of `common.rs`). Each thread runs `N` create + drop cycles; the
//! figure is cycles per second over all threads, best of five rounds, and the ratio of two
//! threads to one, from this one run. Prints a table (criterion times one thread at a time).
//!
//! `cargo bench -p trampoline-benches --bench threads [-- CYCLES]`: `CYCLES` for thunks
//! (default 20,000,000); the peers, 10 to 20 times slower per cycle, run a tenth of it.

use std::sync::Barrier;
use std::time::{Duration, Instant};

#[allow(dead_code)]
mod common;

/// The wall time of `threads` threads each running `cycles` cycles of `variant`, started
/// together (each sets its variant up, with one warm-up creation, before the start): from the
/// first thread's start to the last one's end, as the threads themselves read the clock (the
/// main thread may not be running when the barrier opens: 2 cores, 3 threads).
fn round(variant: &str, threads: usize, cycles: u64) -> Duration {
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut span = None;
                    common::with_create(variant, &mut |run| {
                        barrier.wait();
                        let start = Instant::now();
                        run(cycles);
                        span = Some((start, Instant::now()));
                    });
                    span.expect("with_create runs the measurement")
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .collect()
    });
    let start = spans.iter().map(|s| s.0).min().expect("a thread");
    let end = spans.iter().map(|s| s.1).max().expect("a thread");
    end - start
}

fn main() {
    let cycles: u64 = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(20_000_000);
    println!("create + drop, best of 5 rounds, with one thread and with two at once");
    println!("(cargo bench -p trampoline-benches --bench threads [-- CYCLES])\n");
    println!(
        "{:<20} {:>10} {:>12} {:>12} {:>8}  what",
        "variant", "cycles", "ns, 1 thr", "ns, 2 thr", "2 / 1"
    );
    for (variant, what) in common::CREATES.iter().filter(|v| common::built(v.0)) {
        let cycles = if variant.starts_with("create-thunk") {
            cycles
        } else {
            (cycles / 10).max(1)
        };
        let best = |threads: usize| {
            (0..5)
                .map(|_| round(variant, threads, cycles))
                .min()
                .expect("five rounds")
        };
        let (one, two) = (best(1), best(2));
        // Per cycle, per thread; throughput of two threads over one's.
        let ns = |time: Duration| time.as_secs_f64() * 1e9 / cycles as f64;
        let ratio = 2.0 * one.as_secs_f64() / two.as_secs_f64();
        println!(
            "{variant:<20} {cycles:>10} {:>12.2} {:>12.2} {ratio:>7.2}x  {what}",
            ns(one),
            ns(two)
        );
    }
    if let Some(left_out) = common::LEFT_OUT {
        println!("\n{left_out}");
    }
}
