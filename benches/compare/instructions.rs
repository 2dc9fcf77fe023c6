#![warn(clippy::undocumented_unsafe_blocks)]
//! Instruction counts per callback call and per create + drop, measured with callgrind, for
//! `trampoline`, a plain function pointer, closure-ffi and libffi.
//!
//! `cargo bench -p trampoline-benches --bench instructions` runs this binary, which runs
//! itself under `valgrind --tool=callgrind` once per variant and iteration count, and prints a
//! table. The count per operation is `(I(2n) - I(n)) / n`: everything outside the loop cancels
//! out, so the figure is exact and repeatable. Wall-clock figures come from `callbacks.rs`.

use std::hint::black_box;
use std::process::{Command, ExitCode};

#[allow(dead_code)]
mod common;

/// Runs `variant` `n` times.
fn run(variant: &str, n: u64) {
    if variant.starts_with("create-") {
        common::with_create(variant, &mut |run| run(n));
    } else {
        let c = common::clib();
        common::with_call(&c, variant, &mut |run| run(n));
        black_box(c);
    }
}

/// Instructions callgrind counts for `variant` with `n` iterations.
fn count(exe: &str, variant: &str, n: u64) -> Result<u64, String> {
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

/// Instructions per operation of `variant`: `(I(2n) - I(n)) / n`.
fn per_op(exe: &str, variant: &str) -> Result<f64, String> {
    const N: u64 = 100_000;
    let one = count(exe, variant, N)?;
    let two = count(exe, variant, 2 * N)?;
    Ok((two as f64 - one as f64) / N as f64)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--run") {
        run(&args[i + 1], args[i + 2].parse().expect("iterations"));
        return ExitCode::SUCCESS;
    }
    if cfg!(not(all(target_arch = "x86_64", target_os = "linux"))) {
        println!("instructions: SKIPPED, the callgrind harness runs on x86_64 Linux only");
        return ExitCode::SUCCESS;
    }
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!("instructions: SKIPPED, valgrind is not installed (apt-get install valgrind)");
        return ExitCode::SUCCESS;
    }
    // `cargo bench -- WORD` runs only the variants whose name contains WORD.
    let filter: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with('-')).collect();
    let selected =
        |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    let exe = std::env::current_exe().expect("own path");
    let exe = exe.to_str().expect("UTF-8 path");

    println!("instructions per operation (callgrind; (I(2n) - I(n)) / n, n = 100000)\n");
    println!("{:<20} {:>8} {:>8}  what", "variant", "instr", "- plain");
    let mut plain = None; // (shape, instructions of the plain fn of that shape)
    let mut group = "";
    for (variant, what) in common::CALLS.iter().chain(common::CREATES) {
        if !selected(variant) || !common::built(variant) {
            continue;
        }
        let shape = if variant.starts_with("create-") {
            "create"
        } else {
            variant.rsplit('-').next().unwrap_or_default()
        };
        if shape != group {
            println!();
            group = shape;
        }
        let instr = match per_op(exe, variant) {
            Ok(instr) => instr,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        if variant.starts_with("plain-") {
            plain = Some((shape, instr));
        }
        let over = match plain {
            Some((s, p)) if s == shape => format!("{:+.2}", instr - p),
            _ => String::new(),
        };
        println!("{variant:<20} {instr:>8.2} {over:>8}  {what}");
    }
    println!(
        "\n(call figures include the C loop's own instructions and the callback body; \
         \"- plain\" is the difference from the plain extern \"C\" fn of the same shape)"
    );
    if let Some(left_out) = common::LEFT_OUT {
        println!("{left_out}");
    }
    ExitCode::SUCCESS
}
