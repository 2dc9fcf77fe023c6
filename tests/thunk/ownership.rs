//! Ownership: leaked thunks, code addresses, `Debug`, when closures are dropped, closures of
//! every size and alignment.

use super::*;

#[test]
fn leaked_thunks_stay_valid_and_keep_their_closure() {
    let kept = Arc::new(());
    let witness = Arc::clone(&kept);
    let leaked: Call1 = Thunk::<Call1>::new(move |x: isize| {
        let _ = &witness;
        x + 41
    })
    .leak();
    assert_eq!(call1(leaked, 1), 42);
    assert_eq!(
        Arc::strong_count(&kept),
        2,
        "a leaked closure is never dropped"
    );

    // From a thread-safe mode, `leak` gives a safe function pointer.
    type SafeCb = extern "C" fn(isize) -> isize;
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let double: SafeCb = Thunk::<SafeCb, threads::Sync>::new(|x: isize| {
        CALLS.fetch_add(1, Ordering::SeqCst);
        x * 2
    })
    .leak();
    assert_eq!(double(21), 42);
    assert_eq!(std::thread::spawn(move || double(5)).join().unwrap(), 10);
    assert_eq!(CALLS.load(Ordering::SeqCst), 2);

    let accumulate: SafeCb = ThunkMut::<SafeCb, threads::Send>::new({
        let mut total = 0;
        move |x: isize| {
            total += x;
            total
        }
    })
    .leak();
    assert_eq!((accumulate(1), accumulate(2), accumulate(39)), (1, 3, 42));

    let once: SafeCb = ThunkOnce::<SafeCb, threads::Send>::new(|x: isize| x - 1).leak();
    assert_eq!(once(43), 42);
}

#[test]
fn as_ptr_is_the_code_address_and_does_not_move_with_the_thunk() {
    let a = Thunk::<Call1>::new(|x: isize| x + 1);
    let b = ThunkMut::<Call1>::new(|x: isize| x + 2);
    let c = ThunkOnce::<Call1>::new(|x: isize| x + 3);
    for (ptr, f) in [
        (a.as_ptr(), a.as_fn()),
        (b.as_ptr(), b.as_fn()),
        (c.as_ptr(), c.as_fn()),
    ] {
        assert!(!ptr.is_null());
        assert_eq!(ptr, f as *const c_void);
    }
    assert_eq!(a.as_fn() as usize, a.as_fn() as usize, "stable");
    let codes: HashSet<_> = [a.as_ptr(), b.as_ptr(), c.as_ptr()].into_iter().collect();
    assert_eq!(codes.len(), 3);

    // Moving the owner (into a box, a vector) keeps the code address.
    let code = a.as_ptr();
    let boxed = Box::new(a);
    assert_eq!(boxed.as_ptr(), code);
    let mut moved = vec![*boxed];
    assert_eq!(moved[0].as_ptr(), code);
    // The untyped pointer, cast back, is callable.
    // SAFETY: `as_ptr` is the stub of a `Call1` thunk that is alive.
    let f: Call1 = unsafe { core::mem::transmute::<*const c_void, Call1>(moved[0].as_ptr()) };
    assert_eq!(call1(f, 41), 42);
    moved.clear();
    assert_eq!(call1(b.as_fn(), 40), 42);
    assert_eq!(call1(c.as_fn(), 39), 42);
}

#[test]
fn debug_names_the_kind_the_signature_and_the_code_address() {
    let a = Thunk::<Call1>::new(|x: isize| x);
    let b = ThunkMut::<Call1, threads::Send>::new(|x: isize| x);
    let c =
        ThunkOnce::<unsafe extern "system" fn(f64, *mut c_void)>::new(|_: f64, _: *mut c_void| ());
    let cases = [
        (
            format!("{a:?}"),
            "Thunk {",
            "unsafe extern \"C\" fn(isize) -> isize",
            a.as_ptr(),
        ),
        (
            format!("{b:?}"),
            "ThunkMut {",
            "unsafe extern \"C\" fn(isize) -> isize",
            b.as_ptr(),
        ),
        (
            format!("{c:?}"),
            "ThunkOnce {",
            "unsafe extern \"system\" fn(f64, *mut core::ffi::c_void)",
            c.as_ptr(),
        ),
    ];
    for (text, kind, signature, code) in cases {
        assert!(text.starts_with(kind), "{text}");
        assert!(
            text.contains(&format!("signature: {signature:?}")),
            "{text} names {signature}"
        );
        assert!(text.contains(&format!("{code:p}")), "{text} shows {code:p}");
    }
}

#[test]
fn closures_are_dropped_when_their_thunk_is() {
    let owner = Arc::new(0u8);
    let big = [7u64; 16];
    let a = {
        let o = Arc::clone(&owner);
        Thunk::<Call1>::new(move |x: isize| x + *o as isize)
    };
    let b = {
        let o = Arc::clone(&owner);
        ThunkMut::<Call1>::new(move |x: isize| x + *o as isize + big[3] as isize)
    };
    let c = {
        let o = Arc::clone(&owner);
        ThunkOnce::<Call1>::new(move |x: isize| x + *o as isize)
    };
    let d = {
        let o = Arc::clone(&owner);
        Thunk::<Call1>::new(move |x: isize| x + *o as isize + big.iter().sum::<u64>() as isize)
    };
    assert_eq!(Arc::strong_count(&owner), 5);
    assert_eq!(
        (
            call1(a.as_fn(), 1),
            call1(b.as_fn(), 1),
            call1(d.as_fn(), 1)
        ),
        (1, 8, 113)
    );
    assert_eq!(
        Arc::strong_count(&owner),
        5,
        "calls do not drop Fn or FnMut closures"
    );
    drop(a);
    assert_eq!(Arc::strong_count(&owner), 4, "Thunk");
    drop(b);
    assert_eq!(Arc::strong_count(&owner), 3, "ThunkMut (boxed closure)");
    drop(c);
    assert_eq!(Arc::strong_count(&owner), 2, "ThunkOnce never called");
    drop(d);
    assert_eq!(Arc::strong_count(&owner), 1, "Thunk (boxed closure)");
}

#[test]
fn thunk_once_drops_its_closure_exactly_once() {
    let drops = Rc::new(Cell::new(0));

    // Called: the call consumes the closure, which drops its captures when it returns.
    let counter = DropCount(drops.clone());
    let text = String::from("consumed");
    let once = ThunkOnce::<Call1>::new(move |x: isize| {
        let _counter = counter;
        x + text.len() as isize
    });
    assert_eq!(call1(once.as_fn(), 34), 42);
    assert_eq!(drops.get(), 1, "dropped by the call");
    drop(once);
    assert_eq!(drops.get(), 1, "not again by the thunk");

    // Called, with a boxed closure.
    let counter = DropCount(drops.clone());
    let big = [3u64; 32];
    let once = ThunkOnce::<Call1>::new(move |x: isize| {
        let _counter = counter;
        x + big.iter().sum::<u64>() as isize
    });
    assert_eq!(call1(once.as_fn(), 0), 96);
    assert_eq!(drops.get(), 2);
    drop(once);
    assert_eq!(drops.get(), 2);

    // Never called: dropped with the thunk, once (inline and boxed).
    let counter = DropCount(drops.clone());
    let once = ThunkOnce::<Call1>::new(move |x: isize| {
        let _counter = counter;
        x
    });
    assert_eq!(drops.get(), 2);
    drop(once);
    assert_eq!(drops.get(), 3);
    let counter = DropCount(drops.clone());
    let once = ThunkOnce::<Call1>::new(move |x: isize| {
        let _counter = counter;
        x + big[0] as isize
    });
    drop(once);
    assert_eq!(drops.get(), 4);
    assert_eq!(Rc::strong_count(&drops), 1);
}

/// Captures `N` words, checked on each call; `ThunkMut` changes them between calls.
fn capture_case<const N: usize>() {
    let words: [usize; N] = core::array::from_fn(|i| (i + 1) * 0x1_0001);
    let sum: usize = words.iter().sum();
    let drops = Rc::new(Cell::new(0));

    let counter = DropCount(drops.clone());
    let by_ref = Thunk::<Call1>::new(move |x: isize| {
        let _ = &counter;
        x + words.iter().sum::<usize>() as isize
    });
    assert_eq!(
        call1(by_ref.as_fn(), 1),
        1 + sum as isize,
        "Thunk, {N} words"
    );

    let counter = DropCount(drops.clone());
    let mut state = words;
    let by_mut = ThunkMut::<Call1>::new(move |x: isize| {
        let _ = &counter;
        for w in state.iter_mut() {
            *w += x as usize;
        }
        state.iter().sum::<usize>() as isize
    });
    assert_eq!(
        call1(by_mut.as_fn(), 1),
        (sum + N) as isize,
        "ThunkMut, {N} words"
    );
    assert_eq!(
        call1(by_mut.as_fn(), 2),
        (sum + 3 * N) as isize,
        "ThunkMut keeps state"
    );

    let counter = DropCount(drops.clone());
    let by_once = ThunkOnce::<Call1>::new(move |x: isize| {
        let _counter = counter;
        x - words.iter().sum::<usize>() as isize
    });
    assert_eq!(
        call1(by_once.as_fn(), 0),
        -(sum as isize),
        "ThunkOnce, {N} words"
    );
    assert_eq!(drops.get(), 1);
    drop((by_ref, by_mut, by_once));
    assert_eq!(drops.get(), 3, "{N} words: each closure dropped once");
}

#[test]
fn closures_of_every_size_around_the_inline_storage() {
    capture_case::<0>();
    capture_case::<1>();
    capture_case::<2>();
    capture_case::<3>();
    capture_case::<4>();
    capture_case::<5>();
    capture_case::<6>();
    capture_case::<7>();
    capture_case::<8>();
    capture_case::<11>();
    capture_case::<12>();
    capture_case::<13>();
    capture_case::<16>();
    capture_case::<64>();
}

#[test]
fn zero_sized_closures() {
    let triple = |x: isize| x * 3;
    assert_eq!(size_of_val(&triple), 0);
    let by_ref = Thunk::<Call1>::new(triple);
    let by_mut = ThunkMut::<Call1>::new(|x: isize| x * 5);
    let by_once = ThunkOnce::<Call1>::new(|x: isize| x * 7);
    assert_eq!(call1(by_ref.as_fn(), 2), 6);
    assert_eq!(call1(by_mut.as_fn(), 2), 10);
    assert_eq!(call1(by_once.as_fn(), 2), 14);
    assert_ne!(
        by_ref.as_ptr(),
        by_mut.as_ptr(),
        "zero-sized closures still get own slots"
    );

    // A zero-sized capture with a destructor.
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Unit;
    impl Drop for Unit {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    let unit = Unit;
    let closure = move |x: isize| {
        let _ = &unit;
        x + 1
    };
    assert_eq!(size_of_val(&closure), 0);
    let thunk = Thunk::<Call1>::new(closure);
    assert_eq!(call1(thunk.as_fn(), 1), 2);
    assert_eq!(DROPS.load(Ordering::SeqCst), 0);
    drop(thunk);
    assert_eq!(DROPS.load(Ordering::SeqCst), 1);
    let unit = Unit;
    let once = ThunkOnce::<Call1>::new(move |x: isize| {
        drop(unit);
        x
    });
    assert_eq!(call1(once.as_fn(), 1), 1);
    drop(once);
    assert_eq!(DROPS.load(Ordering::SeqCst), 2);
}

#[repr(align(64))]
struct Aligned64([u64; 3]);

#[repr(align(16))]
struct Aligned16(u64);

/// Small enough for the inline storage on 32-bit targets, but more aligned than it.
#[repr(align(32))]
struct Aligned32([u32; 3]);

#[test]
fn over_aligned_closures() {
    let a = Aligned64([1, 2, 3]);
    // Uses the whole value (not just a field), so the closure captures it with its alignment,
    // and returns the misalignment of the captured value, plus its contents.
    let by_ref = Thunk::<Call1>::new(move |x: isize| {
        let this = &a;
        (this as *const Aligned64 as usize % 64) as isize * 1000
            + x
            + this.0.iter().sum::<u64>() as isize
    });
    assert_eq!(call1(by_ref.as_fn(), 10), 16);

    let b = Aligned16(40);
    let mut calls = 0;
    let by_mut = ThunkMut::<Call1>::new(move |x: isize| {
        let this = &b;
        calls += 1;
        (this as *const Aligned16 as usize % 16) as isize * 1000 + x + this.0 as isize + calls
    });
    assert_eq!(call1(by_mut.as_fn(), 1), 42);
    assert_eq!(call1(by_mut.as_fn(), 1), 43);

    let c = Aligned64([4, 5, 6]);
    let by_once = ThunkOnce::<Call1>::new(move |x: isize| {
        let this = &c;
        (this as *const Aligned64 as usize % 64) as isize * 1000
            + x
            + this.0.iter().sum::<u64>() as isize
    });
    assert_eq!(call1(by_once.as_fn(), 27), 42);

    let d = Aligned32([5, 6, 7]);
    let by_ref32 = Thunk::<Call1>::new(move |x: isize| {
        let this = &d;
        (this as *const Aligned32 as usize % 32) as isize * 1000
            + x
            + this.0.iter().sum::<u32>() as isize
    });
    assert_eq!(call1(by_ref32.as_fn(), 24), 42);
    assert_eq!(size_of::<Aligned32>(), 32);

    let wide = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128;
    let by_ref_u128 = Thunk::<Call1>::new(move |x: isize| {
        let this = &wide;
        (this as *const u128 as usize % align_of::<u128>()) as isize * 1000
            + x
            + (wide >> 120) as isize
    });
    assert_eq!(call1(by_ref_u128.as_fn(), 1), 2);
}
