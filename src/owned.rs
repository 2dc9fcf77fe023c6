//! Thunks owned by C (`Thunk::into_c` and the other thunk types'): the boxes handed to C with
//! a destroy notify, recorded until the notify comes, so that a second call of it (or one with
//! a pointer it was never given) aborts with a message instead of freeing twice. (A call after
//! the destroy is the boxed thunk's own stale-call abort. User-data callbacks that C owns live
//! in pool slots instead: `user_data/owned.rs`.)
//!
//! Like a stale thunk, a second destroy is caught until the allocator hands the same address
//! to another `into_c`. Creating and destroying take a lock and touch an ordered set: a
//! callback that C owns is made once and freed once, not on a hot path. Fork handlers hold
//! the lock across `fork()`, as the pools do (see `pool/mod.rs`).

use core::any::type_name;
use core::cell::RefCell;
use core::ffi::c_void;
use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, Once};

use crate::abort::abort_with;
use crate::os;

/// The addresses of the boxes C owns and has not destroyed.
static GIVEN: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());

static FORK_HANDLERS: Once = Once::new();

thread_local! {
    /// The lock the forking thread holds from `before_fork` until `after_fork`.
    static HELD_ACROSS_FORK: RefCell<Option<MutexGuard<'static, BTreeSet<usize>>>> =
        const { RefCell::new(None) };
}

fn given() -> MutexGuard<'static, BTreeSet<usize>> {
    FORK_HANDLERS.call_once(|| {
        let _ = os::at_fork(before_fork, after_fork, after_fork);
    });
    // No user code runs under the lock: a poisoned lock still guards a consistent set.
    GIVEN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

unsafe extern "C" fn before_fork() {
    let guard = GIVEN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let _ = HELD_ACROSS_FORK.try_with(|held| *held.borrow_mut() = Some(guard));
}

unsafe extern "C" fn after_fork() {
    let _ = HELD_ACROSS_FORK.try_with(|held| *held.borrow_mut() = None);
}

/// Boxes `value` for C, which frees it by calling [`destroy::<T>`](destroy) with the pointer.
pub(crate) fn give_to_c<T>(value: T) -> *mut c_void {
    let data = Box::into_raw(Box::new(value)).cast::<c_void>();
    given().insert(data.addr());
    data
}

/// The destroy notify of a box from [`give_to_c::<T>`](give_to_c): drops it, once. Called
/// again with the same pointer (or with one it never gave out), it aborts.
///
/// # Safety
///
/// If `data` is a pointer `give_to_c::<T>` returned and this notify has not been called with
/// it since, nothing else uses the box any more.
pub(crate) unsafe extern "C" fn destroy<T>(data: *mut c_void) {
    if !given().remove(&data.addr()) {
        destroyed_twice(type_name::<T>(), data);
    }
    // SAFETY: `data` was recorded by `give_to_c::<T>` (the set holds nothing else) and is
    // removed now, so this is its one `Box::from_raw`; the caller says it is unused.
    drop(unsafe { Box::from_raw(data.cast::<T>()) });
}

#[cold]
#[inline(never)]
fn destroyed_twice(what: &str, data: *mut c_void) -> ! {
    abort_with(format_args!(
        "a destroy notify ({what}, data {data:p}) was called with a pointer that C does not own: \
         destroyed twice, or never handed out by into_c"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_is_recorded_until_its_destroy() {
        let data = give_to_c(String::from("owned"));
        assert!(given().contains(&data.addr()));
        // SAFETY: handed out just above, destroyed once.
        unsafe { destroy::<String>(data) };
        assert!(!given().contains(&data.addr()));
    }
}
