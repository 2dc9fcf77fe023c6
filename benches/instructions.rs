//! Instruction counts per callback call and per thunk create+drop, measured with callgrind.
//!
//! `cargo bench --bench instructions` runs this binary, which runs itself under
//! `valgrind --tool=callgrind` once per variant and iteration count. The count per operation is
//! `(I(2n) - I(n)) / n`: everything outside the loop cancels out, so the figure is exact and
//! repeatable. Wall-clock figures live in the criterion bench (`benches/callbacks.rs`).

use core::ffi::c_void;
use std::hint::black_box;
use std::process::{Command, ExitCode};

use libloading::Library;
use trampoline::{Thunk, ThunkMut, UserData, ud};

type Cb1 = unsafe extern "C" fn(i64) -> i64;
type Cb1Ud = unsafe extern "C" fn(i64, *mut c_void) -> i64;
type Cb6 = unsafe extern "C" fn(i64, f64, i64, f64, i64, f64) -> f64;
type Cb6Ud = unsafe extern "C" fn(i64, f64, i64, f64, i64, f64, *mut c_void) -> f64;
type Cb6i = unsafe extern "C" fn(i64, i64, i64, i64, i64, i64) -> i64;

struct Clib {
    _lib: Library,
    loop1: unsafe extern "C" fn(Cb1, i64) -> i64,
    loop1_ud: unsafe extern "C" fn(Cb1Ud, *mut c_void, i64) -> i64,
    loop6: unsafe extern "C" fn(Cb6, i64) -> f64,
    loop6_ud: unsafe extern "C" fn(Cb6Ud, *mut c_void, i64) -> f64,
    loop6i: unsafe extern "C" fn(Cb6i, i64) -> i64,
}

fn clib() -> Clib {
    // SAFETY: the test library has no initialisation with preconditions, and the declared
    // types are its functions' types.
    unsafe {
        let lib = Library::new(env!("TRAMPOLINE_TEST_CLIB")).expect("load the C test library");
        Clib {
            loop1: *lib.get(b"tl_loop1").unwrap(),
            loop1_ud: *lib.get(b"tl_loop1_ud").unwrap(),
            loop6: *lib.get(b"tl_loop6").unwrap(),
            loop6_ud: *lib.get(b"tl_loop6_ud").unwrap(),
            loop6i: *lib.get(b"tl_loop6i").unwrap(),
            _lib: lib,
        }
    }
}

extern "C" fn plain1(x: i64) -> i64 {
    x + 1
}

extern "C" fn plain6(a: i64, b: f64, c: i64, d: f64, e: i64, f: f64) -> f64 {
    a as f64 + b + c as f64 + d + e as f64 + f
}

extern "C" fn plain6i(a: i64, b: i64, c: i64, d: i64, e: i64, f: i64) -> i64 {
    a + b + c + d + e + f
}

/// The variants, by name, with what each operation is.
const VARIANTS: &[(&str, &str)] = &[
    ("plain-1", "call: plain extern \"C\" fn, 1 argument"),
    ("userdata-1", "call: user-data trampoline, 1 argument"),
    ("thunk-1", "call: Thunk (Fn), 1 argument"),
    ("thunkmut-1", "call: ThunkMut (FnMut), 1 argument"),
    ("plain-6", "call: plain extern \"C\" fn, 6 mixed arguments"),
    (
        "userdata-6",
        "call: user-data trampoline, 6 mixed arguments",
    ),
    ("thunk-6", "call: Thunk, 6 mixed arguments"),
    ("plain-6i", "call: plain extern \"C\" fn, 6 integers"),
    ("thunk-6i", "call: Thunk, 6 integers (frame adapter)"),
    ("create-drop", "Thunk::new + drop, 1 argument"),
];

/// Runs `variant` `n` times.
fn run(variant: &str, n: i64) {
    let c = clib();
    // SAFETY (all calls below): each callback outlives the C loop that calls it, on this thread.
    let result = unsafe {
        match variant {
            "plain-1" => (c.loop1)(plain1, n) as f64,
            "userdata-1" => {
                let f = |x: i64| x + 1;
                let cb = UserData::<Cb1Ud, ud::Last>::new_sync(&f);
                (c.loop1_ud)(cb.func(), cb.data(), n) as f64
            }
            "thunk-1" => {
                let t = Thunk::<Cb1>::new(|x: i64| x + 1);
                (c.loop1)(t.as_fn(), n) as f64
            }
            "thunkmut-1" => {
                let t = ThunkMut::<Cb1>::new(|x: i64| x + 1);
                (c.loop1)(t.as_fn(), n) as f64
            }
            "plain-6" => (c.loop6)(plain6, n),
            "userdata-6" => {
                let f = |a: i64, b: f64, c: i64, d: f64, e: i64, f: f64| {
                    a as f64 + b + c as f64 + d + e as f64 + f
                };
                let cb = UserData::<Cb6Ud, ud::Last>::new_sync(&f);
                (c.loop6_ud)(cb.func(), cb.data(), n)
            }
            "thunk-6" => {
                let t = Thunk::<Cb6>::new(|a: i64, b: f64, c: i64, d: f64, e: i64, f: f64| {
                    a as f64 + b + c as f64 + d + e as f64 + f
                });
                (c.loop6)(t.as_fn(), n)
            }
            "plain-6i" => (c.loop6i)(plain6i, n) as f64,
            "thunk-6i" => {
                let t = Thunk::<Cb6i>::new(|a: i64, b: i64, c: i64, d: i64, e: i64, f: i64| {
                    a + b + c + d + e + f
                });
                (c.loop6i)(t.as_fn(), n) as f64
            }
            "create-drop" => {
                // One thunk first, so that the block is mapped outside the measured part.
                drop(Thunk::<Cb1>::new(|x: i64| x));
                for i in 0..n {
                    let t = Thunk::<Cb1>::new(move |x: i64| x + i);
                    black_box(t.as_fn());
                }
                0.0
            }
            other => panic!("unknown variant {other}"),
        }
    };
    black_box(result);
}

/// Instructions callgrind counts for `variant` with `n` iterations.
fn count(exe: &str, variant: &str, n: i64) -> Result<u64, String> {
    let output = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            exe,
            "--run",
            variant,
        ])
        .arg(n.to_string())
        .output()
        .map_err(|e| format!("cannot run valgrind ({e}); install it (apt-get install valgrind)"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("{variant}: valgrind failed:\n{stderr}"));
    }
    stderr
        .lines()
        .find_map(|l| l.split("Collected : ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("{variant}: no instruction count in valgrind's output:\n{stderr}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--run") {
        run(&args[i + 1], args[i + 2].parse().expect("iterations"));
        return ExitCode::SUCCESS;
    }
    if cfg!(not(all(target_arch = "x86_64", target_os = "linux"))) {
        eprintln!("the instruction-count harness runs on x86_64 Linux (valgrind)");
        return ExitCode::SUCCESS;
    }
    let exe = std::env::current_exe().expect("own path");
    let exe = exe.to_str().expect("UTF-8 path");
    const N: i64 = 100_000;
    println!("instructions per operation (callgrind; (I(2n) - I(n)) / n, n = {N}):\n");
    println!("{:<12} {:>8}  what", "variant", "instr");
    for (variant, what) in VARIANTS {
        let per_op = count(exe, variant, N)
            .and_then(|one| count(exe, variant, 2 * N).map(|two| (two - one) as f64 / N as f64));
        match per_op {
            Ok(per_op) => println!("{variant:<12} {per_op:>8.2}  {what}"),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("\n(call figures include the C loop's own instructions and the callback body)");
    ExitCode::SUCCESS
}
