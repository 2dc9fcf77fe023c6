//! Catching a callback's panic at the C boundary and resuming it in Rust.
//!
//! By default a panic in a callback whose ABI is not `-unwind` aborts the process with a
//! message naming the callback. To recover instead, wrap the closure with [`fallback`] and
//! make the C call inside [`catch`]:
//!
//! - the wrapped callback catches its panic, stores it, and returns the fallback value to C;
//! - any wrapped callback called later in the same `catch` (on that thread) returns its
//!   fallback at once, without running, so C winds down quickly;
//! - when the C call returns, `catch` resumes the panic in Rust.
//!
//! ```
//! use trampoline::{Thunk, panic};
//!
//! type Cb = unsafe extern "C" fn(i32) -> i32;
//! // A C API that calls back in a loop (written in Rust to keep the example whole).
//! unsafe extern "C" fn sum_over(cb: Cb, n: i32) -> i32 {
//!     (0..n).map(|i| unsafe { cb(i) }).sum()
//! }
//!
//! let calls = std::cell::Cell::new(0);
//! let checked = Thunk::<Cb>::new(panic::fallback(-1, |i: i32| {
//!     calls.set(calls.get() + 1);
//!     assert!(i < 3, "input {i} is out of range");
//!     i
//! }));
//! let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
//!     // SAFETY: `checked` outlives the call.
//!     panic::catch(|| unsafe { sum_over(checked.as_fn(), 10) })
//! }));
//! let message = caught.unwrap_err().downcast::<String>().unwrap();
//! assert_eq!(*message, "input 3 is out of range");
//! assert_eq!(calls.get(), 4, "after the panic, the callback no longer ran");
//! ```
//!
//! Outside `catch` (or on another thread than the one that entered it), a wrapped callback's
//! panic behaves as an unwrapped one's: it aborts, or propagates for `-unwind` ABIs.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::call::{CallFn, CallMut, CallOnce};

thread_local! {
    /// How many `catch` calls are active on this thread.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// The panic caught in the innermost active `catch`, if any.
    static CAUGHT: RefCell<Option<Box<dyn Any + Send>>> = const { RefCell::new(None) };
}

/// Runs `c_call` (typically an `unsafe` call into C) so that callbacks wrapped with
/// [`fallback`] that panic during it return their fallback to C; then resumes the first such
/// panic, if there was one. See the [module documentation](self).
pub fn catch<T>(c_call: impl FnOnce() -> T) -> T {
    struct Scope {
        outer: Option<Box<dyn Any + Send>>,
    }
    impl Drop for Scope {
        fn drop(&mut self) {
            DEPTH.with(|d| d.set(d.get() - 1));
            // Give the outer scope back the panic it had caught, if any (this one's was taken).
            let outer = self.outer.take();
            CAUGHT.with(|c| {
                let mut caught = c.borrow_mut();
                if caught.is_none() {
                    *caught = outer;
                }
            });
        }
    }
    DEPTH.with(|d| d.set(d.get() + 1));
    let scope = Scope {
        outer: CAUGHT.with(|c| c.borrow_mut().take()),
    };
    let value = c_call();
    let caught = CAUGHT.with(|c| c.borrow_mut().take());
    drop(scope);
    match caught {
        Some(payload) => resume_unwind(payload),
        None => value,
    }
}

/// Wraps `closure` so that, inside [`catch`], a panic returns `value` to C instead of
/// aborting. See the [module documentation](self).
pub fn fallback<F, R: Clone>(value: R, closure: F) -> Fallback<F, R> {
    Fallback { closure, value }
}

/// A closure with a value to return to C if it panics inside [`catch`]; made by [`fallback`].
#[derive(Clone, Debug)]
pub struct Fallback<F, R> {
    closure: F,
    value: R,
}

/// Runs `call` unless a callback in the active `catch` already panicked; stores a panic and
/// returns `fallback` instead.
#[inline]
fn run<R: Clone>(fallback: &R, call: impl FnOnce() -> R) -> R {
    if DEPTH.with(Cell::get) == 0 {
        return call();
    }
    if CAUGHT.with(|c| c.borrow().is_some()) {
        return fallback.clone();
    }
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(value) => value,
        Err(payload) => {
            CAUGHT.with(|c| *c.borrow_mut() = Some(payload));
            fallback.clone()
        }
    }
}

impl<F: CallOnce<Args, R>, Args, R: Clone> CallOnce<Args, R> for Fallback<F, R> {
    fn call_once(self, args: Args) -> R {
        let Fallback { closure, value } = self;
        run(&value, || closure.call_once(args))
    }
}

impl<F: CallMut<Args, R>, Args, R: Clone> CallMut<Args, R> for Fallback<F, R> {
    fn call_mut(&mut self, args: Args) -> R {
        run(&self.value, || self.closure.call_mut(args))
    }
}

impl<F: CallFn<Args, R>, Args, R: Clone> CallFn<Args, R> for Fallback<F, R> {
    fn call_fn(&self, args: Args) -> R {
        run(&self.value, || self.closure.call_fn(args))
    }
}
