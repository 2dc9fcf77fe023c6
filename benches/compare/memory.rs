#![warn(clippy::undocumented_unsafe_blocks)]
//! Memory per live callback, with 100,000 of them alive at once, for `trampoline`'s thunks,
//! closure-ffi and libffi. Prints a table (criterion cannot measure memory).
//!
//! `cargo bench -p trampoline-benches --bench memory`. Each variant runs in a fresh child
//! process (this binary with `--run`), which reads its memory (`resident.rs`: resident memory
//! by kind on Linux, working set and private commit on Windows) before and after creating the
//! callbacks. For thunks it also prints `trampoline::pool_stats()`. The vector that holds
//! the handles, and for libffi the closures themselves, are allocated and touched before the
//! first reading, so the difference is what the library spends per callback. Each closure
//! captures one `i64` (8 bytes of state).

use std::hint::black_box;
use std::process::ExitCode;

use closure_ffi::BareFnMut;
#[cfg(feature = "libffi")]
use libffi::high::ClosureMut1;
use trampoline::Thunk;

#[allow(dead_code)]
mod common;
mod resident;
use common::Cb1;

const LIVE: usize = 100_000;

const VARIANTS: &[(&str, &str)] = &[
    ("thunk", "trampoline::Thunk (state in the slot)"),
    ("closure-ffi", "closure_ffi::BareFnMut (state boxed)"),
    (
        "libffi",
        "libffi::high::ClosureMut1 (state outside: not counted)",
    ),
];

/// This process's memory, per `resident::COLUMNS`; the parent checked that it can be read.
fn reading() -> Vec<u64> {
    resident::read().expect("memory reading")
}

/// Prints the per-callback figures: memory difference per column, handle size, notes.
fn report(variant: &str, before: &[u64], after: &[u64], handle: usize, extra: &str) {
    let what = VARIANTS.iter().find(|v| v.0 == variant).map_or("", |v| v.1);
    let mut line = format!("{variant:<12}");
    for (b, a) in before.iter().zip(after) {
        line += &format!(" {:>7.1}", (*a as f64 - *b as f64) / LIVE as f64);
    }
    println!("{line} {handle:>7}  {what}{extra}");
}

fn run(variant: &str) {
    match variant {
        "thunk" => {
            let mut thunks: Vec<Thunk<Cb1>> = common::touched_vec(LIVE);
            let before = reading();
            for i in 0..LIVE as i64 {
                thunks.push(Thunk::<Cb1>::new(move |x: i64| x + i));
            }
            let after = reading();
            let stride = thunks[1].as_ptr() as usize - thunks[0].as_ptr() as usize;
            let stats = trampoline::pool_stats();
            let block = stats.slots_per_block * stride; // code table = data table
            let mapped = stats.blocks * 2 * block;
            let data = stats.blocks * block;
            let indent = 12 + 8 * (resident::COLUMNS.len() + 1) + 2;
            let extra = format!(
                "\n{:indent$}pool_stats: {} live, {} blocks of {} slots ({} B slot stride): \
                 {:.1} B/thunk mapped (code + data), {:.1} B/thunk data",
                "",
                stats.live,
                stats.blocks,
                stats.slots_per_block,
                stride,
                mapped as f64 / stats.live as f64,
                data as f64 / stats.live as f64,
            );
            report(variant, &before, &after, size_of::<Thunk<Cb1>>(), &extra);
            black_box(&thunks);
        }
        "closure-ffi" => {
            let mut fns: Vec<BareFnMut<Cb1>> = common::touched_vec(LIVE);
            let before = reading();
            for i in 0..LIVE as i64 {
                fns.push(BareFnMut::<Cb1>::new(move |x: i64| x + i));
            }
            let after = reading();
            report(variant, &before, &after, size_of::<BareFnMut<Cb1>>(), "");
            black_box(&fns);
        }
        #[cfg(feature = "libffi")]
        "libffi" => {
            let mut states: Vec<_> = (0..LIVE as i64).map(|i| move |x: i64| x + i).collect();
            let mut closures: Vec<ClosureMut1<i64, i64>> = common::touched_vec(LIVE);
            let before = reading();
            for f in &mut states {
                closures.push(ClosureMut1::new(f));
            }
            let after = reading();
            report(
                variant,
                &before,
                &after,
                size_of::<ClosureMut1<i64, i64>>(),
                "",
            );
            black_box(&closures);
        }
        other => panic!("unknown variant {other}"),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--run") {
        run(&args[i + 1]);
        return ExitCode::SUCCESS;
    }
    if let Err(why) = resident::read() {
        println!("memory: SKIPPED, {why}");
        return ExitCode::SUCCESS;
    }
    println!("bytes per live callback, {LIVE} alive: memory after - before, / {LIVE}");
    println!(
        "({}; handle = size of the value the caller keeps)\n",
        resident::LEGEND
    );
    let mut header = format!("{:<12}", "variant");
    for column in resident::COLUMNS.iter().chain(&["handle"]) {
        header += &format!(" {column:>7}");
    }
    println!("{header}  what");
    common::run_each_in_a_child(VARIANTS, &[])
}
