//! Rust closures as plain C function pointers.
//!
//! C libraries and operating systems take callbacks as function pointers. This crate turns a
//! Rust closure into one, for every common calling convention:
//!
//! - [`UserData`]: when the C API has a user-data argument (`void *ud`, an `LPARAM`), a
//!   trampoline monomorphised for the closure finds it through that argument. Zero cost: no
//!   allocation, no executable memory, the closure is inlined.
//!
//! ```
//! use core::ffi::c_void;
//! use trampoline::{UserData, ud};
//!
//! // A qsort_r-style C API: the context comes last (written in Rust to keep the example whole).
//! type Cmp = unsafe extern "C" fn(*const c_void, *const c_void, *mut c_void) -> i32;
//! unsafe extern "C" fn sort_pair(pair: *mut [i32; 2], cmp: Cmp, ctx: *mut c_void) {
//!     let pair = unsafe { &mut *pair };
//!     let (a, b) = (&raw const pair[0], &raw const pair[1]);
//!     if unsafe { cmp(a.cast(), b.cast(), ctx) } > 0 {
//!         pair.swap(0, 1);
//!     }
//! }
//!
//! let mut comparisons = 0;
//! let mut descending = |a: *const c_void, b: *const c_void| {
//!     comparisons += 1;
//!     // SAFETY: `sort_pair` passes pointers to two i32s.
//!     let (a, b) = unsafe { (*a.cast::<i32>(), *b.cast::<i32>()) };
//!     b.cmp(&a) as i32
//! };
//! let mut pair = [1, 2];
//! let cmp = UserData::<Cmp, ud::Last>::new(&mut descending);
//! // SAFETY: `sort_pair` calls `cmp` only during the call, on this thread, not re-entrantly.
//! unsafe { sort_pair(&mut pair, cmp.func(), cmp.data()) };
//! assert_eq!(pair, [2, 1]);
//! assert_eq!(comparisons, 1);
//! ```
//!
//! - [`Thunk`], [`ThunkMut`], [`ThunkOnce`]: when it has none (qsort, WNDPROC, hooks), each
//!   closure gets its own code address: a stub in static trampoline pages (mapped from the
//!   binary's own file on Linux and macOS, copied once before it is executable on Windows)
//!   that passes the closure to a body monomorphised for it. No page is ever writable and
//!   executable at once.
//!
//! # Signatures
//!
//! A callback's C type is a function-pointer type implementing [`Signature`]: see
//! [the `signature` module](crate::signature) for the ABIs and [`AbiType`] for the argument
//! types; [`c_struct!`] declares structs and unions passed by value. Anything the crate does
//! not know how to pass is refused at compile time.
//!
//! # Safety model
//!
//! What the types guarantee:
//!
//! - **Lifetimes.** A callback's owner borrows its closure for `'a`; the owner cannot outlive
//!   it. Only a `'static` closure can be [leaked](Thunk::leak) for APIs that keep a callback
//!   forever. (The function pointer itself is a plain value: see the promises below.)
//! - **Threads.** A thunk's [thread mode](threads) admits only closures that may go where C
//!   may call them: `Local` (the owner's thread), `Send`, `Sync` (concurrent calls, `Fn`
//!   only). `UserData::new_sync` requires `Fn + Sync`.
//! - **Aliasing.** An `FnMut` thunk called again while it runs (re-entered; in
//!   `threads::Send`, also from two threads at once) aborts with a message instead of
//!   aliasing its `&mut`; an `FnOnce` thunk called twice aborts. `Fn` callbacks may be
//!   re-entered freely. (A `threads::Local` thunk checks with one plain decrement, and its drop
//!   with a plain read and write, as only its owner's thread may call or drop it; a second
//!   thread calling it is not caught.)
//! - **Drops during a call.** An `FnMut` or `FnOnce` thunk dropped while its closure runs
//!   (from inside the call, or on another thread during one) aborts with a message: drop and
//!   call each change the slot's state with one atomic swap, so exactly one of them wins, and
//!   the closure is dropped exactly once.
//! - **Stale pointers.** A dropped thunk's slot points at a handler that aborts naming the
//!   signature and where the thunk was created (`#[track_caller]`), and freed slots are reused last (FIFO), so a late call from C is caught
//!   rather than misrouted, until the slot is reused.
//! - **Panics.** A panic never unwinds into C unless the ABI is an `-unwind` one: by default
//!   it aborts with a message naming the callback and the panic; [`panic::catch`] with
//!   [`panic::fallback`] returns a chosen value to C and resumes the panic in Rust.
//! - **Pointers that can dangle** are only handed out as `unsafe extern` fn types.
//!
//! What remains the caller's promise, made at the `unsafe` call that hands the pointer to C:
//!
//! - the signature type matches the C declaration exactly (ABI, argument and return types);
//! - C does not call the pointer after the owner is dropped (a stale call is caught only until
//!   the slot is reused), nor after the closure's borrows end if the owner was
//!   `mem::forget`-ten, nor, for user-data callbacks, with any other user-data value;
//! - an `Fn` thunk is not dropped while one of its calls runs (its call path reads no state,
//!   to stay as cheap as a plain function pointer);
//! - C calls from the threads the mode allows (for `UserData::new`: not concurrently, not
//!   re-entrantly, and from another thread only if the closure is `Send`); neither a
//!   `threads::Local` thunk called from another thread nor a misused `UserData::new` callback
//!   is detected;
//! - on i686-pc-windows-gnu, no `-unwind` panic is expected to cross a separately built
//!   MinGW DLL: its frames are invisible to Rust's unwinder there (use [`panic::catch`]).
#![warn(
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks
)]

mod abort;
mod aggregate;
mod arch;
mod call;
mod error;
mod hrtb;
mod os;
mod owned;
pub mod panic;
mod panic_guard;
mod pool;
pub mod signature;
mod slot;
pub mod threads;
mod thunk;
mod types;
mod user_data;

/// The path of the C test library that `build.rs` builds under the `test-clib` feature, for
/// this crate's own benches in other workspace members. Not part of the API.
#[cfg(feature = "test-clib")]
#[doc(hidden)]
pub const TEST_CLIB: &str = env!("TRAMPOLINE_TEST_CLIB");

pub use aggregate::{Aggregate, CField};
pub use call::{CallFn, CallMut, CallOnce};
pub use error::{Error, ImageError};
#[cfg(feature = "test-clib")]
#[doc(hidden)]
pub use pool::force_code_copy;
pub use pool::{PoolStats, pool_stats};
pub use signature::{Abi, Signature, UnsafeSignature};
pub use thunk::{Invoke, OwnedThunk, Thunk, ThunkMut, ThunkOnce, ThunkSignature, reserve};
pub use types::{AbiClass, AbiReturn, AbiType, UserDataArg};
#[doc(hidden)]
pub mod __private {
    pub use crate::hrtb::Hrtb;
}
pub use user_data::{OwnedByC, UserData, UserDataGetter, UserDataSignature, ud};
