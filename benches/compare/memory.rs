#![warn(clippy::undocumented_unsafe_blocks)]
//! Memory per live callback, with 100,000 of them alive at once, for `trampoline`'s thunks,
//! closure-ffi and libffi. Prints a table (criterion cannot measure memory).
//!
//! `cargo bench -p trampoline-benches --bench memory`. Each variant runs in a fresh child
//! process (this binary with `--run`), which reads its resident memory (`VmRSS`, `RssAnon`,
//! `RssFile`, `RssShmem` in `/proc/self/status`, Linux) before and after creating the
//! callbacks. For thunks it also prints `trampoline::pool_stats()`. The vector that holds
//! the handles, and for libffi the closures themselves, are allocated and touched before the
//! first reading, so the difference is what the library spends per callback. Each closure
//! captures one `i64` (8 bytes of state).

use std::hint::black_box;
use std::process::{Command, ExitCode};

use closure_ffi::BareFnMut;
use libffi::high::ClosureMut1;
use trampoline::Thunk;

#[allow(dead_code)]
mod common;
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

/// Resident memory in bytes (Linux): `[total, anonymous, file-backed, shared memory]`, from
/// `/proc/self/status`, or `None` where there is no such file.
fn rss() -> Option<[u64; 4]> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    };
    Some([
        field("VmRSS:")?,
        field("RssAnon:")?,
        field("RssFile:")?,
        field("RssShmem:")?,
    ])
}

/// A vector with room for `n` values, its memory touched so that it is resident already.
fn touched_vec<T>(n: usize) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    // Not zeros: the compiler may turn allocate-then-zero into `calloc`, which leaves fresh
    // pages untouched.
    // SAFETY: writes bytes into the vector's spare capacity, which it owns; the length stays
    // 0, so no value is read from those bytes.
    unsafe {
        v.as_mut_ptr()
            .cast::<u8>()
            .write_bytes(0xa5, n * size_of::<T>())
    };
    v
}

/// Prints the per-callback figures: RSS difference, handle size, and extra notes.
fn report(
    variant: &str,
    before: Option<[u64; 4]>,
    after: Option<[u64; 4]>,
    handle: usize,
    extra: &str,
) {
    let what = VARIANTS.iter().find(|v| v.0 == variant).map_or("", |v| v.1);
    let per = |i: usize| match (before, after) {
        (Some(b), Some(a)) => format!("{:.1}", (a[i] as f64 - b[i] as f64) / LIVE as f64),
        _ => "n/a".into(),
    };
    println!(
        "{variant:<12} {:>7} {:>7} {:>7} {:>7} {handle:>7}  {what}{extra}",
        per(0),
        per(1),
        per(2),
        per(3)
    );
}

fn run(variant: &str) {
    match variant {
        "thunk" => {
            let mut thunks: Vec<Thunk<Cb1>> = touched_vec(LIVE);
            let before = rss();
            for i in 0..LIVE as i64 {
                thunks.push(Thunk::<Cb1>::new(move |x: i64| x + i));
            }
            let after = rss();
            let stride = thunks[1].as_ptr() as usize - thunks[0].as_ptr() as usize;
            let stats = trampoline::pool_stats();
            let block = stats.slots_per_block * stride; // code table = data table
            let mapped = stats.blocks * 2 * block;
            let data = stats.blocks * block;
            let extra = format!(
                "\n{:<12} {:>7} {:>7} {:>7} {:>7} {:>7}  pool_stats: {} live, {} blocks of {} slots ({} B slot \
                 stride): {:.1} B/thunk mapped (code + data), {:.1} B/thunk data",
                "",
                "",
                "",
                "",
                "",
                "",
                stats.live,
                stats.blocks,
                stats.slots_per_block,
                stride,
                mapped as f64 / stats.live as f64,
                data as f64 / stats.live as f64,
            );
            report(variant, before, after, size_of::<Thunk<Cb1>>(), &extra);
            black_box(&thunks);
        }
        "closure-ffi" => {
            let mut fns: Vec<BareFnMut<Cb1>> = touched_vec(LIVE);
            let before = rss();
            for i in 0..LIVE as i64 {
                fns.push(BareFnMut::<Cb1>::new(move |x: i64| x + i));
            }
            let after = rss();
            report(variant, before, after, size_of::<BareFnMut<Cb1>>(), "");
            black_box(&fns);
        }
        "libffi" => {
            let mut states: Vec<_> = (0..LIVE as i64).map(|i| move |x: i64| x + i).collect();
            let mut closures: Vec<ClosureMut1<i64, i64>> = touched_vec(LIVE);
            let before = rss();
            for f in &mut states {
                closures.push(ClosureMut1::new(f));
            }
            let after = rss();
            report(
                variant,
                before,
                after,
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
    let exe = std::env::current_exe().expect("own path");
    println!("bytes per live callback, {LIVE} alive: resident memory after - before, / {LIVE}");
    println!("(RSS = anon + file + shmem; anon = private memory; file = pages of mapped files,");
    println!("shared with the page cache; shmem = shared memory, e.g. dual-mapped code; handle =");
    println!("size of the value the caller keeps, not in RSS)\n");
    println!(
        "{:<12} {:>7} {:>7} {:>7} {:>7} {:>7}  what",
        "variant", "RSS", "anon", "file", "shmem", "handle"
    );
    for (variant, _) in VARIANTS {
        let output = Command::new(&exe)
            .args(["--run", variant])
            .output()
            .expect("run self");
        print!("{}", String::from_utf8_lossy(&output.stdout));
        if !output.status.success() {
            eprintln!("{variant}: {}", String::from_utf8_lossy(&output.stderr));
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
