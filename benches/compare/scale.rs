#![warn(clippy::undocumented_unsafe_blocks)]
//! Many live callbacks: 1,000,000 created and kept alive, for `trampoline`'s thunks,
//! closure-ffi and libffi. Prints the time to create them all, the time per callback, the
//! last tenth's time over the first's (a cost that grows with the number of live callbacks,
//! or of mappings, shows as a ratio well above 1), and how much the process's memory grew.
//! Criterion cannot time a growing set, so this is a table of its own.
//!
//! `cargo bench -p trampoline-benches --bench scale [-- COUNT]`. Each variant runs in a fresh
//! child process (this binary with `--run`), so none inherits another's heap or mappings.
//! The vector of handles (and for libffi, the closures' state) is allocated and touched
//! before the clock starts.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use closure_ffi::BareFnMut;
#[cfg(feature = "libffi")]
use libffi::high::ClosureMut1;
use trampoline::{Thunk, pool_stats};

#[allow(dead_code)]
mod common;
mod resident;
use common::Cb1;

const VARIANTS: &[(&str, &str)] = &[
    ("thunk", "trampoline::Thunk"),
    ("closure-ffi", "closure_ffi::BareFnMut"),
    (
        "libffi",
        "libffi::high::ClosureMut1 (closure state outside, not counted)",
    ),
];

/// Creates `count` callbacks with `create(i)`, keeping them in `kept`, and returns the total
/// time and the time of each tenth.
fn timed<T>(count: usize, kept: &mut Vec<T>, mut create: impl FnMut(usize) -> T) -> Vec<Duration> {
    let tenth = (count / 10).max(1);
    let mut marks = Vec::with_capacity(11);
    let start = Instant::now();
    marks.push(start);
    for i in 0..count {
        kept.push(create(i));
        if (i + 1) % tenth == 0 {
            marks.push(Instant::now());
        }
    }
    marks.push(Instant::now());
    let mut spans: Vec<Duration> = marks.windows(2).map(|w| w[1] - w[0]).collect();
    spans.insert(0, marks[marks.len() - 1] - start);
    spans
}

/// Prints one row: total, per callback, last tenth / first tenth, memory growth.
fn report(variant: &str, count: usize, spans: &[Duration], before: Option<Vec<u64>>) {
    let total = spans[0];
    let growth = match (before, resident::read().ok()) {
        (Some(b), Some(a)) => {
            let mb = (a[0] as f64 - b[0] as f64) / (1 << 20) as f64;
            let per = (a[0] as f64 - b[0] as f64) / count as f64;
            format!("{mb:>9.1} {per:>9.1}")
        }
        _ => format!("{:>9} {:>9}", "n/a", "n/a"),
    };
    let what = VARIANTS.iter().find(|v| v.0 == variant).map_or("", |v| v.1);
    println!(
        "{variant:<12} {:>8.3} {:>8.0} {:>8.2} {growth}  {what}",
        total.as_secs_f64(),
        total.as_nanos() as f64 / count as f64,
        spans[10].as_secs_f64() / spans[1].as_secs_f64(),
    );
}

fn run(variant: &str, count: usize) {
    match variant {
        "thunk" => {
            let mut kept: Vec<Thunk<Cb1>> = common::touched_vec(count);
            let before = resident::read().ok();
            let spans = timed(count, &mut kept, |i| {
                let i = i as i64;
                Thunk::<Cb1>::new(move |x: i64| x + i)
            });
            report(variant, count, &spans, before);
            // SAFETY: the last thunk is alive; its closure adds its index.
            assert_eq!(unsafe { (kept[count - 1].as_fn())(1) }, count as i64);
            let stats = pool_stats();
            println!(
                "{:12} pool_stats: {} blocks, {} copied, {} image lookup(s)",
                "", stats.blocks, stats.copied_blocks, stats.image_lookups
            );
        }
        "closure-ffi" => {
            let mut kept: Vec<BareFnMut<Cb1>> = common::touched_vec(count);
            let before = resident::read().ok();
            let spans = timed(count, &mut kept, |i| {
                let i = i as i64;
                BareFnMut::<Cb1>::new(move |x: i64| x + i)
            });
            report(variant, count, &spans, before);
            // SAFETY: the last callback is alive; its closure adds its index.
            assert_eq!(unsafe { (kept[count - 1].bare())(1) }, count as i64);
        }
        #[cfg(feature = "libffi")]
        "libffi" => {
            let mut states: Vec<_> = (0..count as i64).map(|i| move |x: i64| x + i).collect();
            let mut kept: Vec<ClosureMut1<i64, i64>> = common::touched_vec(count);
            let before = resident::read().ok();
            let mut states = states.iter_mut();
            let spans = timed(count, &mut kept, |_| {
                ClosureMut1::new(states.next().expect("one state per closure"))
            });
            report(variant, count, &spans, before);
        }
        other => panic!("unknown variant {other}"),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--run") {
        run(&args[i + 1], args[i + 2].parse().expect("count"));
        return ExitCode::SUCCESS;
    }
    let count: usize = args[1..]
        .iter()
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(1_000_000);
    assert!(count >= 10, "COUNT must be at least 10 (ten tenths)");
    let memory = match resident::read() {
        Ok(_) => format!(
            "{}: growth of the first column ({})",
            resident::COLUMNS[0],
            resident::LEGEND
        ),
        Err(why) => format!("memory: n/a, {why}"),
    };
    println!(
        "{count} live callbacks, created one after another and kept (cargo bench --bench scale)"
    );
    println!("{memory}\n");
    println!(
        "{:<12} {:>8} {:>8} {:>8} {:>9} {:>9}  what",
        "variant", "total s", "ns each", "10th/1st", "MiB", "B each"
    );
    common::run_each_in_a_child(VARIANTS, &[count.to_string()])
}
