#![warn(clippy::undocumented_unsafe_blocks)]
//! Creation time with many thunks alive: 2,000,000 `Thunk`s created and kept, timed by
//! tenths, so that a cost that grows with the number of live thunks (or of mappings) shows as
//! a last tenth slower than the first. Prints one line (criterion cannot time a growing set).
//!
//! `cargo bench -p trampoline-benches --bench scale [-- COUNT]`

use std::time::{Duration, Instant};

use trampoline::{Thunk, pool_stats};

type Cb = unsafe extern "C" fn(i64) -> i64;

fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(2_000_000);
    let tenth = count / 10;
    let mut thunks = Vec::with_capacity(count);
    let mut tenths: Vec<Duration> = Vec::with_capacity(10);
    let start = Instant::now();
    let mut mark = start;
    for i in 0..count {
        thunks.push(Thunk::<Cb>::new(move |x: i64| x + i as i64));
        if (i + 1) % tenth == 0 {
            let now = Instant::now();
            tenths.push(now - mark);
            mark = now;
        }
    }
    let total = start.elapsed();
    // SAFETY: the last thunk is alive.
    assert_eq!(unsafe { (thunks[count - 1].as_fn())(1) }, count as i64);
    let stats = pool_stats();
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "VmRSS: (not on this OS)".into());
    println!(
        "{count} live thunks created in {:.3} s ({:.0} ns each); first tenth {:.3} s, last \
         tenth {:.3} s (x{:.2}); {} blocks, {} copied, {} image lookup(s); {}",
        total.as_secs_f64(),
        total.as_nanos() as f64 / count as f64,
        tenths[0].as_secs_f64(),
        tenths[9].as_secs_f64(),
        tenths[9].as_secs_f64() / tenths[0].as_secs_f64(),
        stats.blocks,
        stats.copied_blocks,
        stats.image_lookups,
        rss.split_whitespace().skip(1).collect::<Vec<_>>().join(" ") + " resident",
    );
}
