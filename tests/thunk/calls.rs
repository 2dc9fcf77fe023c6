//! Real C API shapes: threads, re-entrancy, callbacks registered now and fired later.

use super::*;

type ThreadCb = unsafe extern "C" fn(i64, i64) -> i64;
type CallFromThreads = unsafe extern "C" fn(ThreadCb, i32, i64) -> i64;

#[test]
fn sync_thunk_called_concurrently_from_c_threads() {
    // SAFETY: the declared type is the C function's.
    let call_from_threads: CallFromThreads = unsafe { sym("tl_call_from_threads_plain") };
    const THREADS: i64 = 8;
    const CALLS: i64 = 20_000;
    let calls = AtomicU64::new(0);
    let threads = Mutex::new(HashSet::new());
    let test_thread = std::thread::current().id();
    let thunk = Thunk::<ThreadCb, threads::Sync>::new(|thread: i64, i: i64| {
        if i == 0 {
            threads.lock().unwrap().insert(std::thread::current().id());
        }
        calls.fetch_add(1, Ordering::Relaxed);
        thread * 1_000_000 + i
    });
    // SAFETY: the closure is `Sync` and the thunk outlives the call, which joins its threads.
    let total = unsafe { call_from_threads(thunk.as_fn(), THREADS as i32, CALLS) };
    let expected =
        CALLS * 1_000_000 * (THREADS * (THREADS - 1) / 2) + THREADS * (CALLS * (CALLS - 1) / 2);
    assert_eq!(total, expected);
    drop(thunk);
    assert_eq!(calls.load(Ordering::Relaxed), (THREADS * CALLS) as u64);
    let threads = threads.into_inner().unwrap();
    assert_eq!(threads.len(), THREADS as usize, "one thread per C worker");
    assert!(!threads.contains(&test_thread), "called from C's threads");
}

#[test]
fn send_thunks_called_from_one_c_thread() {
    // SAFETY: the declared type is the C function's.
    let call_from_threads: CallFromThreads = unsafe { sym("tl_call_from_threads_plain") };
    let test_thread = std::thread::current().id();
    let mut seen = Vec::new();
    let mut other_thread = true;
    let by_mut = ThunkMut::<ThreadCb, threads::Send>::new(|thread: i64, i: i64| {
        other_thread &= std::thread::current().id() != test_thread;
        seen.push((thread, i));
        i * 2
    });
    // SAFETY: one C thread calls the (Send) closure, never concurrently; the call joins it.
    let total = unsafe { call_from_threads(by_mut.as_fn(), 1, 100) };
    drop(by_mut);
    assert_eq!(total, (0..100).map(|i| i * 2).sum::<i64>());
    assert_eq!(seen, (0..100).map(|i| (0, i)).collect::<Vec<_>>());
    assert!(other_thread);

    let (tx, rx) = std::sync::mpsc::channel();
    let once = ThunkOnce::<ThreadCb, threads::Send>::new(move |thread: i64, i: i64| {
        tx.send((thread, i, std::thread::current().id())).unwrap();
        77
    });
    // SAFETY: as above, one call.
    assert_eq!(unsafe { call_from_threads(once.as_fn(), 1, 1) }, 77);
    let (thread, i, id) = rx.recv().unwrap();
    assert_eq!((thread, i), (0, 0));
    assert_ne!(id, test_thread);
}

#[test]
fn thunks_move_to_other_threads_and_drop_there() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    let dropped = Arc::new(AtomicUsize::new(0));
    struct Flag(Arc<AtomicUsize>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let flag = Flag(dropped.clone());
    let shared = Thunk::<Call1, threads::Sync>::new(move |x: isize| {
        let _ = &flag;
        x + 1
    });
    assert_send_sync(&shared);
    let flag = Flag(dropped.clone());
    let exclusive = ThunkMut::<Call1, threads::Send>::new(move |x: isize| {
        let _ = &flag;
        x + 2
    });
    assert_send(&exclusive);
    let flag = Flag(dropped.clone());
    let once = ThunkOnce::<Call1, threads::Send>::new(move |x: isize| {
        drop(flag);
        x + 3
    });
    assert_send(&once);
    let code = shared.as_ptr() as usize;
    let shared = Arc::new(shared);
    let results = std::thread::scope(|s| {
        let readers: Vec<_> = (0..4)
            .map(|t| {
                let shared = Arc::clone(&shared);
                s.spawn(move || call1(shared.as_fn(), t))
            })
            .collect();
        let moved = s.spawn(move || {
            let r = (call1(exclusive.as_fn(), 10), call1(once.as_fn(), 20));
            drop((exclusive, once));
            r
        });
        let reads: Vec<isize> = readers.into_iter().map(|h| h.join().unwrap()).collect();
        (reads, moved.join().unwrap())
    });
    assert_eq!(results, (vec![1, 2, 3, 4], (12, 23)));
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        2,
        "ThunkMut's and ThunkOnce's closures"
    );
    let shared = Arc::into_inner(shared).unwrap();
    assert_eq!(
        shared.as_ptr() as usize,
        code,
        "moving a thunk keeps its code address"
    );
    std::thread::spawn(move || drop(shared)).join().unwrap();
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        3,
        "Thunk's closure dropped on another thread"
    );
}

#[test]
fn thunks_created_and_dropped_on_many_threads_at_once() {
    const THREADS: usize = 4;
    const LIVE: usize = 300;
    const CYCLES: usize = 5_000;
    let addresses = Mutex::new(Vec::new());
    let barrier = std::sync::Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (addresses, barrier) = (&addresses, &barrier);
            s.spawn(move || {
                let base = (t * 1_000_000) as isize;
                let live: Vec<Thunk<Call1>> = (0..LIVE)
                    .map(|i| Thunk::<Call1>::new(move |x: isize| x + base + i as isize))
                    .collect();
                addresses
                    .lock()
                    .unwrap()
                    .extend(live.iter().map(|t| t.as_ptr() as usize));
                barrier.wait();
                for (i, thunk) in live.iter().enumerate() {
                    assert_eq!(call1(thunk.as_fn(), 5), 5 + base + i as isize);
                }
                for i in 0..CYCLES {
                    let once = ThunkOnce::<Call1>::new(move |x: isize| x ^ (base + i as isize));
                    assert_eq!(call1(once.as_fn(), 3), 3 ^ (base + i as isize));
                }
                drop(live);
            });
        }
    });
    let addresses = addresses.into_inner().unwrap();
    let distinct: HashSet<_> = addresses.iter().collect();
    assert_eq!(
        distinct.len(),
        THREADS * LIVE,
        "live thunks never share a slot"
    );
}

type NestCb = unsafe extern "C" fn(i32) -> i32;
type Nest = unsafe extern "C" fn(NestCb, i32) -> i32;

#[test]
fn fn_thunk_reentered_through_c_a_thousand_deep() {
    // SAFETY: the declared type is the C function's.
    let nest: Nest = unsafe { sym("tl_nest_plain") };
    // The closure re-enters C with its own pointer, known only once the thunk exists.
    let this: OnceLock<NestCb> = OnceLock::new();
    let deepest = Cell::new(i32::MAX);
    let thunk = Thunk::<NestCb>::new(|depth: i32| -> i32 {
        deepest.set(deepest.get().min(depth));
        if depth == 0 {
            return 0;
        }
        // SAFETY: the thunk is alive for the whole outer call.
        unsafe { nest(*this.get().unwrap(), depth - 1) }
    });
    this.set(thunk.as_fn()).unwrap();
    // SAFETY: an `Fn` thunk may be re-entered; it outlives the call.
    let levels = unsafe { nest(thunk.as_fn(), 1000) };
    assert_eq!(levels, 1001, "each nested C call adds one");
    assert_eq!(deepest.get(), 0);
}

#[test]
fn thunks_created_inside_callbacks_while_others_run() {
    // SAFETY: the declared type is the C function's.
    let nest: Nest = unsafe { sym("tl_nest_plain") };
    fn level(nest: Nest, depth: i32, codes: &RefCell<Vec<usize>>) -> i32 {
        let thunk = Thunk::<NestCb>::new(
            move |d: i32| {
                if d == 0 { 0 } else { level(nest, d - 1, codes) }
            },
        );
        codes.borrow_mut().push(thunk.as_ptr() as usize);
        // SAFETY: the thunk outlives the call.
        unsafe { nest(thunk.as_fn(), depth) }
    }
    let codes = RefCell::new(Vec::new());
    assert_eq!(level(nest, 64, &codes), 65);
    let codes = codes.into_inner();
    assert_eq!(codes.len(), 65);
    assert_eq!(
        codes.iter().collect::<HashSet<_>>().len(),
        65,
        "nested live thunks differ"
    );
}

type EventCb = unsafe extern "C" fn(i64) -> i64;

#[test]
fn thunks_registered_now_fire_later_each_with_its_own_state() {
    // SAFETY: the declared types are the C functions'.
    let (new, add, fire, free) = unsafe {
        (
            sym::<unsafe extern "C" fn() -> *mut c_void>("tl_registry_new"),
            sym::<unsafe extern "C" fn(*mut c_void, EventCb) -> i32>("tl_registry_add_plain"),
            sym::<unsafe extern "C" fn(*mut c_void, i64) -> i64>("tl_registry_fire"),
            sym::<unsafe extern "C" fn(*mut c_void)>("tl_registry_free"),
        )
    };
    // 60 `Fn` handlers that differ only by their captured factor, and an `FnMut` one that
    // logs: the registry holds 61 distinct code addresses.
    let handlers: Vec<Thunk<EventCb>> = (1..=60)
        .map(|k| Thunk::<EventCb>::new(move |event: i64| event * k))
        .collect();
    let mut log = Vec::new();
    let logger = ThunkMut::<EventCb>::new(|event: i64| {
        log.push(event);
        -1
    });
    // SAFETY: the registry calls the handlers only from `fire`, on this thread, while the
    // thunks live; it is freed before they are dropped.
    unsafe {
        let registry = new();
        assert!(!registry.is_null());
        for (i, h) in handlers.iter().enumerate() {
            assert_eq!(add(registry, h.as_fn()), i as i32);
        }
        assert_eq!(add(registry, logger.as_fn()), 60);
        assert_eq!(fire(registry, 2), 2 * 1830 - 1);
        assert_eq!(fire(registry, -5), -5 * 1830 - 1);
        free(registry);
    }
    drop(logger);
    assert_eq!(log, [2, -5]);
}
