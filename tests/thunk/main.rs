//! Thunks driven by the C test library and by real OS APIs that take bare callbacks (no
//! user-data slot): every arity, calling convention and type class, the frame path, threads,
//! re-entrancy, and where the closure is stored and when it is dropped.
//!
//! Pool bookkeeping (`pool_stats`, slot reuse, W^X) is process-global, so it is tested in
//! `thunk_pool.rs` and `thunk_fallback.rs`, each a test binary of its own. The subjects are
//! modules of this one test binary (one link per target, not six).

#[path = "../common/mod.rs"]
mod common;

use core::cell::{Cell, RefCell};
use core::ffi::c_void;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use common::sym;
use trampoline::{Thunk, ThunkMut, ThunkOnce, threads};

// ---- Helpers -------------------------------------------------------------------------------

/// A distinctive word for argument `i`: high bits set, different for each argument.
fn word(i: usize) -> isize {
    (0xA5C3_0000_F0F0_0000u64 as usize | i << 4 | 0x3) as isize
}

/// A hash over all arguments, so a wrong, missing or reordered argument changes it.
fn digest(args: &[isize]) -> isize {
    args.iter()
        .fold(0x1234isize, |acc, &v| acc.wrapping_mul(31).wrapping_add(v))
}

/// Counts how many times it is dropped.
struct DropCount(Rc<Cell<usize>>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

type Call1 = unsafe extern "C" fn(isize) -> isize;

/// `tl_call_i1`: calls a one-argument callback with `x`.
fn call1(cb: Call1, x: isize) -> isize {
    // SAFETY: the declared type is the C function's.
    let caller: unsafe extern "C" fn(Call1, *const isize) -> isize = unsafe { sym("tl_call_i1") };
    // SAFETY: every caller of `call1` passes a live thunk's pointer.
    unsafe { caller(cb, &x) }
}

mod abis;
mod bindings;
mod calls;
mod os_apis;
mod ownership;
mod structs;
mod types;
#[cfg(panic = "unwind")]
mod unwinding;
