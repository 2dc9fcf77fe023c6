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

#[test]
fn generated_signatures_pass_bit_for_bit() {
    let report = Report {
        failures: Mutex::new(Vec::new()),
        checks: Mutex::new(0),
    };
    for (_, run) in generated::SIGNATURES {
        run(&report);
    }
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
