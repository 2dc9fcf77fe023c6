#![warn(clippy::undocumented_unsafe_blocks)]
//! Wall-clock time per callback call (the loop runs in C) and per create + drop, with
//! criterion, for `trampoline`, a plain function pointer, closure-ffi and libffi.
//!
//! `cargo bench -p trampoline-benches --bench callbacks` (or `cargo bench` for everything).
//! One criterion iteration is one call, or one create + drop: the figures are per operation.
//! At the end it prints the medians as a table, with ratios to the plain function pointer;
//! the instruction counts come from `instructions.rs`.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use criterion::{BenchmarkId, Criterion};

#[allow(dead_code)]
mod common;

fn calls(c: &mut Criterion, lib: &common::Clib) {
    for shape in ["1", "6", "6i"] {
        let mut group = c.benchmark_group(format!("call-{shape}"));
        for (variant, _) in common::CALLS {
            let Some(name) = variant.strip_suffix(&format!("-{shape}")) else {
                continue;
            };
            if !common::built(variant) {
                continue;
            }
            common::with_call(lib, variant, &mut |run| {
                group.bench_function(BenchmarkId::from_parameter(name), |b| {
                    b.iter_custom(|iters| {
                        let start = Instant::now();
                        run(iters);
                        start.elapsed()
                    })
                });
            });
        }
        group.finish();
    }
}

fn creates(c: &mut Criterion) {
    let mut group = c.benchmark_group("create-drop");
    for (variant, _) in common::CREATES {
        if !common::built(variant) {
            continue;
        }
        let name = variant.trim_start_matches("create-");
        common::with_create(variant, &mut |run| {
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    run(iters);
                    start.elapsed()
                })
            });
        });
    }
    group.finish();
}

/// Criterion's output directory, found as criterion finds it.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    // <target>/release/deps/callbacks-<hash>
    let exe = std::env::current_exe().expect("own path");
    exe.ancestors()
        .nth(3)
        .expect("target dir")
        .join("criterion")
}

/// The median (ns) criterion wrote for `group/name` during this run, if it ran.
fn median(group: &str, name: &str, since: SystemTime) -> Option<f64> {
    let file = criterion_dir()
        .join(group)
        .join(name)
        .join("new")
        .join("estimates.json");
    if file.metadata().ok()?.modified().ok()? < since {
        return None; // left from an earlier run (filtered out of this one)
    }
    let json = std::fs::read_to_string(file).ok()?;
    let median = &json[json.find("\"median\"")?..];
    let estimate = &median[median.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = estimate.find([',', '}'])?;
    estimate[..end].trim().parse().ok()
}

fn summary(since: SystemTime) {
    let mut lines = Vec::new();
    for shape in ["1", "6", "6i"] {
        let group = format!("call-{shape}");
        let plain = median(&group, "plain", since);
        for (variant, what) in common::CALLS {
            let Some(name) = variant.strip_suffix(&format!("-{shape}")) else {
                continue;
            };
            if let Some(ns) = median(&group, name, since) {
                let ratio = plain.map_or(String::new(), |p| format!("{:.2}x", ns / p));
                lines.push(format!(
                    "{group:<12} {name:<12} {ns:>9.2} {ratio:>8}  {what}"
                ));
            }
        }
    }
    for (variant, what) in common::CREATES {
        let name = variant.trim_start_matches("create-");
        if let Some(ns) = median("create-drop", name, since) {
            lines.push(format!(
                "{:<12} {name:<12} {ns:>9.2} {:>8}  {what}",
                "create-drop", ""
            ));
        }
    }
    if lines.is_empty() {
        return;
    }
    println!("\nmedians, ns per operation (call figures: loop in C, ratio to the plain fn):\n");
    println!(
        "{:<12} {:<12} {:>9} {:>8}  what",
        "group", "variant", "ns", "x plain"
    );
    for line in lines {
        println!("{line}");
    }
}

fn main() {
    let since = SystemTime::now();
    let lib = common::clib();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .configure_from_args();
    calls(&mut c, &lib);
    creates(&mut c);
    c.final_summary();
    summary(since);
    if let Some(left_out) = common::LEFT_OUT {
        println!("\n{left_out}");
    }
}
