//! A tour of trampoline: loads the C test library and has it call back into Rust closures of
//! every kind, checking each result. Run it with `cargo run --example tour`.

use core::ffi::c_void;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use libloading::Library;
use trampoline::{Thunk, ThunkMut, ThunkOnce, UserData, pool_stats, threads, ud};

/// The C library's function `name` as the function-pointer type `T`.
///
/// # Safety
///
/// `T` must be the C function's exact type.
unsafe fn c_fn<T: Copy>(lib: &Library, name: &str) -> T {
    // SAFETY: the caller promises `T` is the symbol's type.
    *unsafe { lib.get::<T>(name.as_bytes()) }.unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// One row of the tour: what was called, what came back, what should have.
struct Row {
    kind: &'static str,
    shape: &'static str,
    got: String,
    want: String,
}

fn row(kind: &'static str, shape: &'static str, got: impl ToString, want: impl ToString) -> Row {
    let (got, want) = (got.to_string(), want.to_string());
    Row {
        kind,
        shape,
        got,
        want,
    }
}

type EnumProc = unsafe extern "system" fn(isize, isize) -> i32;
type Cmp = unsafe extern "C" fn(*const c_void, *const c_void, *mut c_void) -> i32;
type CmpFirst = unsafe extern "C" fn(*mut c_void, *const c_void, *const c_void) -> i32;
type EventCb = unsafe extern "C" fn(i64, *mut c_void) -> i64;
type ThreadCb = unsafe extern "C" fn(*mut c_void, i64, i64) -> i64;
type NestCb = unsafe extern "C" fn(i32, *mut c_void) -> i32;
type CmpBare = unsafe extern "C" fn(*const c_void, *const c_void) -> i32;
type EventPlain = unsafe extern "C" fn(i64) -> i64;
type ThreadPlain = unsafe extern "C" fn(i64, i64) -> i64;
type Six = unsafe extern "C" fn(isize, isize, isize, isize, isize, isize) -> isize;
type WndProcLike = unsafe extern "system" fn(isize, u32, usize, isize) -> isize;

fn compare_i32(a: *const c_void, b: *const c_void) -> i32 {
    // SAFETY: the C sorts pass addresses of two live i32s.
    let (a, b) = unsafe { (*a.cast::<i32>(), *b.cast::<i32>()) };
    a.cmp(&b) as i32
}

fn user_data_rows(lib: &Library) -> Vec<Row> {
    let mut rows = Vec::new();

    // EnumWindows' shape: stdcall on 32-bit Windows, LPARAM last, stop when told.
    // SAFETY: the declared types are the C functions' (here and below).
    let enum_items: unsafe extern "system" fn(EnumProc, isize, i32) -> i32 =
        unsafe { c_fn(lib, "tl_enum_items") };
    let mut seen = Vec::new();
    let mut on_item = |item: isize| {
        seen.push(item);
        (item < 30) as i32
    };
    let cb = UserData::<EnumProc, ud::Last>::new(&mut on_item);
    // SAFETY: C calls back only during the call, on this thread (so for every call below).
    let calls = unsafe { enum_items(cb.func(), cb.data(), 5) };
    rows.push(row(
        "user data, FnMut",
        "EnumWindows: system ABI, LPARAM last",
        format!("{calls} calls, saw {seen:?}"),
        "3 calls, saw [10, 20, 30]",
    ));

    // qsort_r (glibc): context last.
    // SAFETY: the declared type is the C function's.
    let sort: unsafe extern "C" fn(*mut i32, usize, Cmp, *mut c_void) =
        unsafe { c_fn(lib, "tl_sort_ctx_last") };
    let mut values = [5, -3, 9, 0, 2];
    let mut comparisons = 0;
    let mut cmp = |a: *const c_void, b: *const c_void| {
        comparisons += 1;
        compare_i32(a, b)
    };
    let cb = UserData::<Cmp, ud::Last>::new(&mut cmp);
    // SAFETY: C calls back only during this call, on this thread, while the callback lives.
    unsafe { sort(values.as_mut_ptr(), values.len(), cb.func(), cb.data()) };
    rows.push(row(
        "user data, FnMut",
        "qsort_r: context last",
        format!("{values:?} in {comparisons} comparisons"),
        // An insertion sort of [5, -3, 9, 0, 2] compares 1 + 1 + 3 + 3 times.
        "[-3, 0, 2, 5, 9] in 8 comparisons",
    ));

    // qsort_s (MSVC) / BSD qsort_r: context first.
    // SAFETY: the declared type is the C function's.
    let sort: unsafe extern "C" fn(*mut i32, usize, CmpFirst, *mut c_void) =
        unsafe { c_fn(lib, "tl_sort_ctx_first") };
    let mut values = [3, 1, 2];
    let cmp = |a: *const c_void, b: *const c_void| compare_i32(b, a);
    let cb = UserData::<CmpFirst, ud::First>::new_sync(&cmp);
    // SAFETY: C calls back only during this call, on this thread, while the callback lives.
    unsafe { sort(values.as_mut_ptr(), values.len(), cb.func(), cb.data()) };
    rows.push(row(
        "user data, Fn",
        "qsort_s: context first",
        format!("{values:?}"),
        "[3, 2, 1]",
    ));

    // Registered now, fired later.
    // SAFETY: the declared type is the C function's (here and in the next lookups).
    let new: unsafe extern "C" fn() -> *mut c_void = unsafe { c_fn(lib, "tl_registry_new") };
    // SAFETY: the declared type is the C function's.
    let add: unsafe extern "C" fn(*mut c_void, EventCb, *mut c_void) -> i32 =
        unsafe { c_fn(lib, "tl_registry_add") };
    // SAFETY: the declared type is the C function's.
    let fire: unsafe extern "C" fn(*mut c_void, i64) -> i64 =
        unsafe { c_fn(lib, "tl_registry_fire") };
    // SAFETY: the declared type is the C function's.
    let free: unsafe extern "C" fn(*mut c_void) = unsafe { c_fn(lib, "tl_registry_free") };
    let mut fired = 0;
    let mut handler = |event: i64| {
        fired += 1;
        event * 2
    };
    let cb = UserData::<EventCb, ud::Last>::new(&mut handler);
    // SAFETY: the registry calls `cb` only from `fire`, on this thread, and is freed before
    // `cb` goes.
    let sum = unsafe {
        let registry = new();
        add(registry, cb.func(), cb.data());
        let sum = fire(registry, 10) + fire(registry, 11);
        free(registry);
        sum
    };
    rows.push(row(
        "user data, FnMut",
        "registered now, fired twice later",
        format!("sum {sum}, {fired} calls"),
        "sum 42, 2 calls",
    ));

    // Threads the C library starts itself, all calling one Sync closure at once.
    // SAFETY: the declared type is the C function's.
    let from_threads: unsafe extern "C" fn(ThreadCb, *mut c_void, i32, i64) -> i64 =
        unsafe { c_fn(lib, "tl_call_from_threads") };
    let calls = AtomicU64::new(0);
    let on_call = |_thread: i64, i: i64| {
        calls.fetch_add(1, Ordering::Relaxed);
        i
    };
    let cb = UserData::<ThreadCb, ud::First>::new_sync(&on_call);
    // SAFETY: C calls back only during this call, on this thread, while the callback lives.
    let sum = unsafe { from_threads(cb.func(), cb.data(), 4, 1000) };
    rows.push(row(
        "user data, Fn + Sync",
        "4 C threads x 1000 calls",
        format!("{} calls, sum {sum}", calls.load(Ordering::Relaxed)),
        format!("4000 calls, sum {}", 4 * 999 * 1000 / 2),
    ));

    // Re-entrancy: C calls Rust, which calls C, which calls Rust...
    // SAFETY: the declared type is the C function's.
    let nest: unsafe extern "C" fn(NestCb, *mut c_void, i32) -> i32 =
        unsafe { c_fn(lib, "tl_nest") };
    let this: OnceLock<(NestCb, usize)> = OnceLock::new();
    let on_call = |depth: i32| {
        if depth == 0 {
            return 0;
        }
        let (func, data) = *this.get().unwrap();
        // SAFETY: the callback is alive for the whole outer call.
        unsafe { nest(func, data as *mut c_void, depth - 1) }
    };
    let cb = UserData::<NestCb, ud::Last>::new_sync(&on_call);
    let _ = this.set((cb.func(), cb.data() as usize));
    // SAFETY: C calls back only during this call, on this thread, while the callback lives.
    let levels = unsafe { nest(cb.func(), cb.data(), 50) };
    rows.push(row(
        "user data, Fn",
        "re-entered 50 deep through C",
        format!("{levels} levels"),
        "51 levels",
    ));

    rows
}

fn thunk_rows(lib: &Library) -> Vec<Row> {
    let mut rows = Vec::new();

    // qsort's shape: no context at all, so each comparator needs its own code address.
    // SAFETY: the declared types are the C functions' (here and below).
    let sort: unsafe extern "C" fn(*mut i32, usize, CmpBare) = unsafe { c_fn(lib, "tl_sort") };
    let mut comparisons = 0;
    let mut values = [5, -3, 9, 0, 2];
    {
        let cmp = ThunkMut::<CmpBare>::new(|a: *const c_void, b: *const c_void| {
            comparisons += 1;
            compare_i32(a, b)
        });
        // SAFETY: C calls back only during the call, on this thread (so for every call below).
        unsafe { sort(values.as_mut_ptr(), values.len(), cmp.as_fn()) };
    }
    rows.push(row(
        "thunk, FnMut",
        "qsort: no context argument",
        format!("{values:?} in {comparisons} comparisons"),
        "[-3, 0, 2, 5, 9] in 8 comparisons",
    ));

    // Two thunks of the same closure type still get two distinct code addresses.
    // SAFETY: the declared type is the C function's.
    let new: unsafe extern "C" fn() -> *mut c_void = unsafe { c_fn(lib, "tl_registry_new") };
    // SAFETY: the declared type is the C function's.
    let add: unsafe extern "C" fn(*mut c_void, EventPlain) -> i32 =
        unsafe { c_fn(lib, "tl_registry_add_plain") };
    // SAFETY: the declared type is the C function's.
    let fire: unsafe extern "C" fn(*mut c_void, i64) -> i64 =
        unsafe { c_fn(lib, "tl_registry_fire") };
    // SAFETY: the declared type is the C function's.
    let free: unsafe extern "C" fn(*mut c_void) = unsafe { c_fn(lib, "tl_registry_free") };
    let handlers: Vec<_> = (1..=3)
        .map(|k| Thunk::<EventPlain>::new(move |e: i64| e * k))
        .collect();
    // SAFETY: C calls back only during this call, on this thread, while the callback lives.
    let sum = unsafe {
        let registry = new();
        for h in &handlers {
            add(registry, h.as_fn());
        }
        let sum = fire(registry, 10);
        free(registry);
        sum
    };
    let distinct = handlers[0].as_ptr() != handlers[1].as_ptr();
    rows.push(row(
        "thunk, Fn",
        "3 handlers registered, fired later",
        format!("sum {sum}, distinct addresses: {distinct}"),
        "sum 60, distinct addresses: true",
    ));

    // Called from threads the C library starts, all at once.
    // SAFETY: the declared type is the C function's.
    let from_threads: unsafe extern "C" fn(ThreadPlain, i32, i64) -> i64 =
        unsafe { c_fn(lib, "tl_call_from_threads_plain") };
    let calls = std::sync::Arc::new(AtomicU64::new(0));
    let counter = calls.clone();
    let on_call = Thunk::<ThreadPlain, threads::Sync>::new(move |_thread: i64, i: i64| {
        counter.fetch_add(1, Ordering::Relaxed);
        i
    });
    // SAFETY: C calls back only during this call, on this thread, while the callback lives.
    let sum = unsafe { from_threads(on_call.as_fn(), 4, 1000) };
    rows.push(row(
        "thunk, Fn + Sync",
        "4 C threads x 1000 calls",
        format!("{} calls, sum {sum}", calls.load(Ordering::Relaxed)),
        format!("4000 calls, sum {}", 4 * 999 * 1000 / 2),
    ));

    // No argument register left for the context: the frame adapter path.
    // SAFETY: the declared type is the C function's.
    let call6: unsafe extern "C" fn(Six, *const isize) -> isize =
        unsafe { c_fn(lib, "tl_call_i6") };
    let six = Thunk::<Six>::new(|a, b, c, d, e, f| a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f);
    let args: [isize; 6] = [1, 10, 100, 1000, 10000, 100000];
    // SAFETY: C calls back only during this call, on this thread, while the callback lives.
    let got = unsafe { call6(six.as_fn(), args.as_ptr()) };
    rows.push(row(
        "thunk, Fn",
        "6 integer arguments (frame path)",
        got,
        1 + 20 + 300 + 4000 + 50000 + 600000,
    ));

    // WNDPROC's shape: four arguments, stdcall on 32-bit Windows (register path there).
    let wndproc = Thunk::<WndProcLike>::new(|hwnd: isize, msg: u32, w: usize, l: isize| {
        hwnd + msg as isize + w as isize + l
    });
    // SAFETY: C calls back only during this call, on this thread, while the callback lives.
    let got = unsafe { (wndproc.as_fn())(1000, 200, 30, 4) };
    rows.push(row("thunk, Fn", "WNDPROC shape, system ABI", got, 1234));

    // FnOnce: the closure is consumed by its one call.
    let (tx, rx) = std::sync::mpsc::channel();
    let done = ThunkOnce::<EventPlain>::new(move |status: i64| {
        tx.send(status).unwrap();
        status
    });
    // SAFETY: C calls back only during this call, on this thread, while the callback lives.
    let got = unsafe { (done.as_fn())(42) };
    rows.push(row(
        "thunk, FnOnce",
        "completion callback, called once",
        format!("{got}, received {:?}", rx.try_recv()),
        "42, received Ok(42)",
    ));

    drop((handlers, on_call, six, wndproc, done));
    let stats = pool_stats();
    rows.push(row(
        "thunk pool",
        "after dropping every thunk above",
        format!(
            "{} live thunks, slots kept for reuse: {}",
            stats.live,
            stats.free > 0
        ),
        "0 live thunks, slots kept for reuse: true",
    ));
    rows
}

/// Callback types as bindings declare them, and callbacks that C owns.
fn binding_rows(lib: &Library) -> Vec<Row> {
    let mut rows = Vec::new();

    // bindgen / windows-sys write nullable callbacks as `Option<fn>`: taken as they are.
    type WndEnumProc = Option<unsafe extern "system" fn(isize, isize) -> i32>;
    // SAFETY: the declared type is the C function's (an `Option<fn>` is a nullable pointer).
    let enum_items: unsafe extern "system" fn(WndEnumProc, isize, i32) -> i32 =
        unsafe { c_fn(lib, "tl_enum_items") };
    let mut seen = Vec::new();
    let mut on_item = |item: isize| {
        seen.push(item);
        1
    };
    let cb = UserData::<WndEnumProc, ud::Last>::new(&mut on_item);
    // SAFETY: C calls back only during this call, on this thread, with this user data.
    let calls = unsafe { enum_items(cb.func(), cb.data(), 3) };
    rows.push(row(
        "user data, Option<fn>",
        "WNDENUMPROC as windows-sys declares it",
        format!("{calls} calls, saw {seen:?}"),
        "3 calls, saw [10, 20, 30]",
    ));

    // A callback that C owns: it keeps the closure and frees it with a destroy notify
    // (GLib's g_timeout_add_full shape).
    type Tick = unsafe extern "C" fn(*mut c_void, i64) -> i64;
    type Notify = Option<unsafe extern "C" fn(*mut c_void)>;
    // SAFETY: the declared types are the C functions'.
    let (new, run, free) = unsafe {
        (
            c_fn::<unsafe extern "C" fn(Tick, *mut c_void, Notify) -> *mut c_void>(
                lib,
                "tl_source_new",
            ),
            c_fn::<unsafe extern "C" fn(*mut c_void, i64) -> i64>(lib, "tl_source_run"),
            c_fn::<unsafe extern "C" fn(*mut c_void)>(lib, "tl_source_free"),
        )
    };
    static FREED: AtomicU64 = AtomicU64::new(0);
    struct Freed;
    impl Drop for Freed {
        fn drop(&mut self) {
            FREED.fetch_add(1, Ordering::SeqCst);
        }
    }
    let freed = Freed;
    let mut total = 0;
    let owned = UserData::<Tick, ud::First>::into_c(move |tick: i64| {
        let _ = &freed;
        total += tick;
        total
    });
    // SAFETY: C gets the callback, its user data and its notify; runs it (running totals
    // 1, 3, 6, 10: C sums them); frees it once.
    let got = unsafe {
        let source = new(owned.func, owned.data, Some(owned.destroy));
        let got = run(source, 4);
        free(source);
        got
    };
    rows.push(row(
        "user data, owned by C",
        "g_timeout_add_full shape, destroy notify",
        format!(
            "{got}, closure freed {} time(s)",
            FREED.load(Ordering::SeqCst)
        ),
        "20, closure freed 1 time(s)",
    ));

    // Structs by value, declared once with `c_struct!` as C declares them.
    trampoline::c_struct! {
        #[derive(Clone, Copy)]
        struct Point { x: f32, y: f32 }
    }
    type PointFn = unsafe extern "C" fn(Point, f32, *mut c_void) -> Point;
    // SAFETY: the declared type is the C function's.
    let map_points: unsafe extern "C" fn(*mut Point, usize, f32, PointFn, *mut c_void) =
        unsafe { c_fn(lib, "tl_map_points") };
    let rotate = Thunk::<PointFn>::new(|p: Point, scale: f32, _ud: *mut c_void| Point {
        x: -p.y * scale,
        y: p.x * scale,
    });
    let mut points = [Point { x: 1.0, y: 2.0 }, Point { x: 3.0, y: -1.0 }];
    // SAFETY: C calls back only during this call, while the thunk lives.
    unsafe {
        map_points(
            points.as_mut_ptr(),
            points.len(),
            2.0,
            rotate.as_fn(),
            core::ptr::null_mut(),
        )
    };
    rows.push(row(
        "thunk, struct by value",
        "Point f(Point, float, void *)",
        format!("{:?}", points.map(|p| (p.x, p.y))),
        "[(-4.0, 2.0), (2.0, 6.0)]",
    ));
    rows
}

fn main() -> ExitCode {
    let path = env!("TRAMPOLINE_TEST_CLIB");
    // SAFETY: the test library runs no initialisation code with preconditions.
    let lib = match unsafe { Library::new(path) } {
        Ok(lib) => lib,
        Err(e) => {
            eprintln!("cannot load the C test library {path}: {e}");
            return ExitCode::FAILURE;
        }
    };

    let mut rows = user_data_rows(&lib);
    rows.extend(thunk_rows(&lib));
    rows.extend(binding_rows(&lib));
    let width = |f: fn(&Row) -> usize| rows.iter().map(f).max().unwrap_or(0);
    let (wk, ws, wg) = (
        width(|r| r.kind.len()).max(4),
        width(|r| r.shape.len()).max(5),
        width(|r| r.got.len()).max(6),
    );
    println!("trampoline tour: C calls back into Rust closures\n");
    println!("{:wk$}  {:ws$}  {:wg$}  check", "kind", "C API", "result");
    println!("{}", "-".repeat(wk + ws + wg + 11));
    let mut failures = 0;
    for r in &rows {
        let ok = r.got == r.want;
        failures += usize::from(!ok);
        let verdict = if ok {
            "ok".to_string()
        } else {
            format!("FAILED, want {}", r.want)
        };
        println!("{:wk$}  {:ws$}  {:wg$}  {verdict}", r.kind, r.shape, r.got);
    }
    println!();
    if failures == 0 {
        println!("all {} callbacks behaved", rows.len());
        ExitCode::SUCCESS
    } else {
        println!("{failures} of {} callbacks misbehaved", rows.len());
        ExitCode::FAILURE
    }
}
