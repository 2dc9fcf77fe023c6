//! Callbacks called by many threads that the C library creates itself, all at once.

mod common;

use core::ffi::c_void;
use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use common::sym;
use trampoline::{Thunk, UserData, threads, ud};

const THREADS: i64 = 32;
const CALLS: i64 = 100_000;

/// What the C workers' results must add up to when every call returns `thread * 2^20 + i`.
fn expected_total() -> i64 {
    (THREADS * (THREADS - 1) / 2) * CALLS * (1 << 20) + THREADS * (CALLS * (CALLS - 1) / 2)
}

#[test]
fn sync_thunk_called_by_32_c_threads_loses_no_call() {
    type Cb = unsafe extern "C" fn(i64, i64) -> i64;
    // SAFETY: the declared type is the C function's.
    let from_threads: unsafe extern "C" fn(Cb, i32, i64) -> i64 =
        unsafe { sym("tl_call_from_threads_plain") };
    let calls = AtomicU64::new(0);
    let per_thread: Vec<AtomicU64> = (0..THREADS).map(|_| AtomicU64::new(0)).collect();
    let os_threads = Mutex::new(HashSet::new());
    let thunk = Thunk::<Cb, threads::Sync>::new(|thread: i64, i: i64| {
        calls.fetch_add(1, Ordering::Relaxed);
        per_thread[thread as usize].fetch_add(1, Ordering::Relaxed);
        if i == 0 {
            os_threads
                .lock()
                .unwrap()
                .insert(std::thread::current().id());
        }
        (thread << 20) + i
    });
    // SAFETY: the thunk is `threads::Sync` and outlives the call, which joins its threads.
    let total = unsafe { from_threads(thunk.as_fn(), THREADS as i32, CALLS) };
    assert_eq!(total, expected_total());
    assert_eq!(calls.load(Ordering::Relaxed), (THREADS * CALLS) as u64);
    for (t, n) in per_thread.iter().enumerate() {
        assert_eq!(n.load(Ordering::Relaxed), CALLS as u64, "C thread {t}");
    }
    assert_eq!(os_threads.lock().unwrap().len(), THREADS as usize);
}

#[test]
fn sync_user_data_callback_called_by_32_c_threads_loses_no_call() {
    type Cb = unsafe extern "C" fn(*mut c_void, i64, i64) -> i64;
    // SAFETY: the declared type is the C function's.
    let from_threads: unsafe extern "C" fn(Cb, *mut c_void, i32, i64) -> i64 =
        unsafe { sym("tl_call_from_threads") };
    let calls = AtomicU64::new(0);
    let on_call = |thread: i64, i: i64| {
        calls.fetch_add(1, Ordering::Relaxed);
        (thread << 20) + i
    };
    let cb = UserData::<Cb, ud::First>::new_sync(&on_call);
    // SAFETY: the closure is `Sync` and outlives the call, which joins its threads.
    let total = unsafe { from_threads(cb.func(), cb.data(), THREADS as i32, CALLS) };
    assert_eq!(total, expected_total());
    assert_eq!(calls.load(Ordering::Relaxed), (THREADS * CALLS) as u64);
}

#[test]
fn send_thunk_moves_to_another_thread_and_is_called_and_dropped_there() {
    type Cb = unsafe extern "C" fn(i64) -> i64;
    // SAFETY: the declared type is the C function's.
    let loop1: unsafe extern "C" fn(Cb, i64) -> i64 = unsafe { sym("tl_loop1") };
    let dropped = std::sync::Arc::new(());
    let witness = dropped.clone();
    let mut total = 0;
    let thunk = trampoline::ThunkMut::<Cb, threads::Send>::new(move |x: i64| {
        let _ = &witness;
        total += x;
        total
    });
    let worker = std::thread::spawn(move || {
        // SAFETY: the thunk lives on this thread now, and is called only here.
        let last = unsafe { loop1(thunk.as_fn(), 4) };
        drop(thunk);
        last
    });
    // Running sums 0, 1, 3, 6 add up to 10.
    assert_eq!(worker.join().unwrap(), 10);
    assert_eq!(
        std::sync::Arc::strong_count(&dropped),
        1,
        "the closure was dropped there"
    );
}
