//! Callback types as bindings declare them: bindgen, `windows-sys` and `libc` write nullable
//! callbacks as `Option<unsafe extern "C" fn(..)>`, which thunks take as they are and hand out
//! as `Some`.

use super::*;

type OptCb = Option<unsafe extern "C" fn(i64) -> i64>;

/// `tl_loop1`, declared the way bindgen would: the callback an `Option`.
fn loop1() -> unsafe extern "C" fn(OptCb, i64) -> i64 {
    // SAFETY: the declared type is the C function's (an `Option<fn>` is a nullable pointer).
    unsafe { sym("tl_loop1") }
}

#[test]
fn option_signatures_work_for_every_thunk_kind() {
    let loop1 = loop1();
    let offset = 5;
    let by_ref = Thunk::<OptCb>::new(|x: i64| x + offset);
    let mut calls = 0;
    let by_mut = ThunkMut::<OptCb>::new(|x: i64| {
        calls += 1;
        x * 2
    });
    let once = ThunkOnce::<OptCb>::new(|x: i64| x - 1);
    let (f, g, h) = (by_ref.as_fn(), by_mut.as_fn(), once.as_fn());
    assert!(f.is_some() && g.is_some() && h.is_some(), "always Some");
    assert_eq!(
        f.unwrap() as usize,
        by_ref.as_ptr() as usize,
        "the stub itself"
    );
    // SAFETY: the thunks outlive the calls; `tl_loop1` sums cb(0..n).
    unsafe {
        assert_eq!(loop1(f, 4), (0..4).map(|x| x + 5).sum::<i64>());
        assert_eq!(loop1(g, 4), (0..4).map(|x| x * 2).sum::<i64>());
        assert_eq!(loop1(h, 1), -1);
    }
    drop(by_mut);
    assert_eq!(calls, 4);
}

#[test]
fn a_leaked_option_of_a_safe_fn_is_called_without_unsafe() {
    type SafeOpt = Option<extern "C" fn(i64) -> i64>;
    let f: SafeOpt = Thunk::<SafeOpt, threads::Sync>::new(|x: i64| x ^ 0x55).leak();
    assert_eq!(f.expect("Some")(0x0f), 0x5a);
}

/// libc's own binding of `qsort` takes its comparator as an `Option`: a thunk of that type is
/// passed as it is.
#[cfg(unix)]
#[test]
fn libc_qsort_takes_the_option_as_declared() {
    type Compar =
        Option<unsafe extern "C" fn(*const libc::c_void, *const libc::c_void) -> libc::c_int>;
    let mut values = [5i32, -3, 9, 0, 2];
    let mut calls = 0;
    let cmp = ThunkMut::<Compar>::new(|a: *const c_void, b: *const c_void| {
        calls += 1;
        // SAFETY: qsort passes pointers to elements of `values`.
        let (a, b) = unsafe { (*a.cast::<i32>(), *b.cast::<i32>()) };
        a.cmp(&b) as libc::c_int
    });
    // SAFETY: the comparator outlives the call and has qsort's comparator type.
    unsafe { libc::qsort(values.as_mut_ptr().cast(), values.len(), 4, cmp.as_fn()) };
    drop(cmp);
    assert_eq!(values, [-3, 0, 2, 5, 9]);
    assert!(calls >= 4);
}

/// A thunk handed over to C with a destroy notify (`into_c`): C keeps the callback and the
/// data pointer (here as a `g_timeout_add_full`-shaped source, whose callback ignores its
/// user data, as a getter-style API's would), runs it, and frees the thunk through the
/// notify, on another thread.
#[test]
fn a_thunk_owned_by_c_is_freed_by_its_destroy_notify() {
    type SourceCb = unsafe extern "C" fn(*mut c_void, i64) -> i64;
    type DestroyNotify = Option<unsafe extern "C" fn(*mut c_void)>;
    // SAFETY: the declared types are the C functions'.
    let (new, run, free) = unsafe {
        (
            sym::<unsafe extern "C" fn(SourceCb, *mut c_void, DestroyNotify) -> *mut c_void>(
                "tl_source_new",
            ),
            sym::<unsafe extern "C" fn(*mut c_void, i64) -> i64>("tl_source_run"),
            sym::<unsafe extern "C" fn(*mut c_void)>("tl_source_free"),
        )
    };
    let drops = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&drops);
    struct OnDrop(Arc<AtomicUsize>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let guard = OnDrop(counted);
    let mut total = 0;
    let owned = ThunkMut::<SourceCb, threads::Send>::new(move |_ud: *mut c_void, tick: i64| {
        let _ = &guard;
        total += tick;
        total
    })
    .into_c();
    // SAFETY: C gets the callback, the data pointer and the notify, as the API requires.
    let source = unsafe { new(owned.func, owned.data, Some(owned.destroy)) };
    // SAFETY: alive until freed below.
    assert_eq!(unsafe { run(source, 3) }, 1 + 3 + 6);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    let source = source as usize;
    std::thread::spawn(move || {
        // SAFETY: freed once, after its last run; the thunk is `threads::Send`.
        unsafe { free(source as *mut c_void) }
    })
    .join()
    .unwrap();
    // (Whether the slot went back is for `thunk_pool.rs`: other tests here run at once.)
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the closure was dropped with the thunk"
    );
}

// A hand-written binding whose callback takes references: higher-ranked, declared with
// `hrtb!`, called by C with pointers into its own array.
trampoline::hrtb! {
    type RefCmp = for<'a, 'b> unsafe extern "C" fn(&'a i32, &'b i32) -> i32;
}

#[test]
fn a_higher_ranked_comparator_sorts_through_c() {
    // SAFETY: the declared type is the C function's (references are pointers in the ABI).
    let sort: unsafe extern "C" fn(
        *mut i32,
        usize,
        for<'a, 'b> unsafe extern "C" fn(&'a i32, &'b i32) -> i32,
    ) = unsafe { sym("tl_sort") };
    let mut seen = Vec::new();
    let mut values = [5, -3, 9, 0, 2];
    let base = values.as_ptr() as usize;
    {
        let cmp = ThunkMut::<RefCmp>::new(|a: &i32, b: &i32| {
            // C passes a reference into the array it sorts, and one to its own copy of the
            // element it is inserting.
            let inside =
                |r: &i32| (base..base + 5 * 4).contains(&(core::ptr::from_ref(r) as usize));
            seen.push(inside(a) && !inside(b));
            a.cmp(b) as i32
        });
        // SAFETY: C calls back only during the call, while the thunk lives.
        unsafe { sort(values.as_mut_ptr(), values.len(), cmp.as_fn().0) };
    }
    assert_eq!(values, [-3, 0, 2, 5, 9]);
    assert!(!seen.is_empty() && seen.iter().all(|&inside| inside));
}

trampoline::hrtb! {
    type Update = for<'a, 'b> unsafe extern "C" fn(&'a mut i64, Option<&'b i64>, f64) -> i64;
}

#[test]
fn higher_ranked_signatures_take_mutable_and_optional_references_in_every_thunk_kind() {
    let thunk = Thunk::<Update>::new(|a: &mut i64, b: Option<&i64>, scale: f64| {
        *a += b.copied().unwrap_or(100);
        (*a as f64 * scale) as i64
    });
    let (mut a, b) = (1, 2);
    // SAFETY: the thunk is alive; the references are valid for the call.
    assert_eq!(unsafe { (thunk.as_fn().0)(&mut a, Some(&b), 10.0) }, 30);
    // SAFETY: as above.
    assert_eq!(unsafe { (thunk.as_fn().0)(&mut a, None, 1.0) }, 103);
    assert_eq!(a, 103);
    let mut calls = 0;
    let thunk_mut = ThunkMut::<Update>::new(|a: &mut i64, _: Option<&i64>, _: f64| {
        calls += 1;
        *a
    });
    // SAFETY: as above.
    assert_eq!(unsafe { (thunk_mut.as_fn().0)(&mut a, None, 0.0) }, 103);
    drop(thunk_mut);
    assert_eq!(calls, 1);
    let once = ThunkOnce::<Update>::new(|a: &mut i64, b: Option<&i64>, _: f64| {
        core::mem::replace(a, *b.unwrap())
    });
    // SAFETY: as above, once.
    assert_eq!(unsafe { (once.as_fn().0)(&mut a, Some(&b), 0.0) }, 103);
    assert_eq!(a, 2);
}
