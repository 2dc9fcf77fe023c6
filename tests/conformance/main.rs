//! ABI conformance: generated signatures (see `generate.rs`, run by `build.rs` from a seed)
//! exercised through thunks and user-data callbacks, every argument and return value checked
//! bit for bit on both sides.
//!
//! Regenerate with another seed or size: `TRAMPOLINE_CONFORMANCE_SEED=0x1234
//! TRAMPOLINE_CONFORMANCE_COUNT=5000 cargo test --test conformance`.

#[path = "../common/mod.rs"]
mod common;

use core::ffi::{c_char, c_void};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::sym;
use trampoline::{Thunk, UserData, ud};

/// Collects failures; each names the signature and what differed.
pub struct Report {
    failures: Mutex<Vec<String>>,
    checks: Mutex<u64>,
}

impl Report {
    /// Checks an argument the callback received.
    fn arg(&self, signature: &str, index: usize, ty: &str, got: u64, want: u64) {
        *self.checks.lock().unwrap() += 1;
        if got != want {
            self.failures.lock().unwrap().push(format!(
                "{signature}: argument {index} ({ty}): expected 0x{want:x}, got 0x{got:x}"
            ));
        }
    }

    /// Runs a C caller, which checks the return value and says what differed.
    fn c(&self, signature: &str, what: &str, call: impl FnOnce(*mut c_char) -> i32) {
        let mut msg = [0 as c_char; 256];
        let rc = call(msg.as_mut_ptr());
        *self.checks.lock().unwrap() += 1;
        if rc != 0 {
            // SAFETY: C wrote a NUL-terminated message into the buffer.
            let text = unsafe { core::ffi::CStr::from_ptr(msg.as_ptr()) };
            self.failures
                .lock()
                .unwrap()
                .push(format!("{signature} ({what}): {}", text.to_string_lossy()));
        }
    }
}

/// The bit pattern of a value, zero-extended from its own width.
trait Bits {
    fn bits(self) -> u64;
}

macro_rules! bits_as {
    ($($t:ty => $u:ty),*) => {$(
        impl Bits for $t {
            fn bits(self) -> u64 {
                self as $u as u64
            }
        }
    )*};
}
bits_as!(i8 => u8, u8 => u8, i16 => u16, u16 => u16, i32 => u32, u32 => u32, i64 => u64,
    u64 => u64, isize => usize, usize => usize, bool => u8);

impl Bits for f32 {
    fn bits(self) -> u64 {
        self.to_bits() as u64
    }
}
impl Bits for f64 {
    fn bits(self) -> u64 {
        self.to_bits()
    }
}
impl Bits for *mut c_void {
    fn bits(self) -> u64 {
        self.addr() as u64
    }
}

mod generated {
    #![allow(clippy::all, unused_unsafe, unused_parens)]
    use super::*;
    include!(concat!(env!("OUT_DIR"), "/conformance.rs"));
}

/// The signature being run (a `&'static str`'s address and length), for crash reports: a
/// context passed in the wrong place usually crashes rather than returns.
static RUNNING: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

fn running() -> Option<&'static str> {
    let (ptr, len) = (
        RUNNING[0].load(Ordering::SeqCst),
        RUNNING[1].load(Ordering::SeqCst),
    );
    // SAFETY: RUNNING only ever holds the parts of a `&'static str`.
    (len != 0).then(|| unsafe {
        std::str::from_utf8_unchecked(std::slice::from_raw_parts(ptr as *const u8, len))
    })
}

/// Names the running signature when the process dies of a panic (including the
/// non-unwinding ones that a bad pointer triggers in debug builds) or, on Unix, a fault.
fn name_the_signature_on_crash() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(name) = running() {
            // Straight to the process's stderr: the test harness's capture is lost on abort.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr().lock(),
                "conformance: panicked while running {name}"
            );
        }
        default(info)
    }));
    #[cfg(unix)]
    {
        unsafe extern "C" {
            fn signal(signum: i32, handler: usize) -> usize;
            fn write(fd: i32, buf: *const u8, count: usize) -> isize;
            fn _exit(status: i32) -> !;
        }
        extern "C" fn on_fault(_signum: i32) {
            let prefix = b"conformance: crashed (fault) while running ";
            // SAFETY: write(2) and _exit(2) are async-signal-safe; the name is 'static.
            unsafe {
                write(2, prefix.as_ptr(), prefix.len());
                if let Some(name) = running() {
                    write(2, name.as_ptr(), name.len());
                }
                write(2, b"\n".as_ptr(), 1);
                _exit(70);
            }
        }
        // SAFETY: installs a handler that only makes async-signal-safe calls.
        unsafe {
            signal(11, on_fault as extern "C" fn(i32) as usize); // SIGSEGV
            signal(
                if cfg!(target_vendor = "apple") { 10 } else { 7 },
                on_fault as extern "C" fn(i32) as usize,
            ); // SIGBUS
        }
    }
}

#[test]
fn generated_signatures_pass_bit_for_bit() {
    name_the_signature_on_crash();
    let report = Report {
        failures: Mutex::new(Vec::new()),
        checks: Mutex::new(0),
    };
    for (name, run) in generated::SIGNATURES {
        RUNNING[0].store(name.as_ptr() as usize, Ordering::SeqCst);
        RUNNING[1].store(name.len(), Ordering::SeqCst);
        run(&report);
    }
    RUNNING[1].store(0, Ordering::SeqCst);
    let failures = report.failures.into_inner().unwrap();
    let checks = report.checks.into_inner().unwrap();
    println!(
        "conformance: {} signatures, {checks} checks, {} failures",
        generated::SIGNATURES.len(),
        failures.len()
    );
    assert!(
        generated::SIGNATURES.len() >= 1000
            || std::env::var_os("TRAMPOLINE_CONFORMANCE_COUNT").is_some()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
