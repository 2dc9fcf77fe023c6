//! User-data trampolines driven by the C test library: real C API shapes, every arity and
//! user-data position, every supported type with edge values, every calling convention.

mod common;

use core::ffi::c_void;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use common::sym;
use trampoline::{UserData, ud};

// ---- Real API shapes -----------------------------------------------------------------------

type EnumProc = unsafe extern "system" fn(isize, isize) -> i32;
type EnumItems = unsafe extern "system" fn(EnumProc, isize, i32) -> i32;

#[test]
fn enumerator_with_lparam_last_stops_when_told() {
    // SAFETY: the declared type is the C function's.
    let enum_items: EnumItems = unsafe { sym("tl_enum_items") };
    let mut seen = Vec::new();
    let mut on_item = |item: isize| {
        seen.push(item);
        (item < 30) as i32
    };
    let cb = UserData::<EnumProc, ud::Last>::new(&mut on_item);
    // SAFETY: tl_enum_items calls back only during the call, on this thread.
    let calls = unsafe { enum_items(cb.func(), cb.data(), 5) };
    assert_eq!(calls, 3);
    assert_eq!(seen, [10, 20, 30]);
}

/// The same enumerator, declared as `windows-sys` declares `WNDENUMPROC`: an `Option`, which
/// `UserData` takes as it is and whose `func()` is `Some`.
#[test]
fn option_signatures_as_bindings_declare_them() {
    type OptEnumProc = Option<unsafe extern "system" fn(isize, isize) -> i32>;
    // SAFETY: the declared type is the C function's (an `Option<fn>` is a nullable pointer).
    let enum_items: unsafe extern "system" fn(OptEnumProc, isize, i32) -> i32 =
        unsafe { sym("tl_enum_items") };
    let mut seen = Vec::new();
    let mut on_item = |item: isize| {
        seen.push(item);
        1
    };
    let cb = UserData::<OptEnumProc, ud::Last>::new(&mut on_item);
    assert!(cb.func().is_some());
    // SAFETY: tl_enum_items calls back only during the call, on this thread.
    assert_eq!(unsafe { enum_items(cb.func(), cb.data(), 3) }, 3);
    assert_eq!(seen, [10, 20, 30]);

    // `new_sync` too, with the user data first (sqlite3_callback's shape).
    type OptCmpFirst =
        Option<unsafe extern "C" fn(*mut c_void, *const c_void, *const c_void) -> i32>;
    // SAFETY: the declared type is the C function's.
    let sort: unsafe extern "C" fn(*mut i32, usize, OptCmpFirst, *mut c_void) =
        unsafe { sym("tl_sort_ctx_first") };
    let descending = |a: *const c_void, b: *const c_void| {
        // SAFETY: the sort passes pointers to elements.
        let (a, b) = unsafe { (*a.cast::<i32>(), *b.cast::<i32>()) };
        b.cmp(&a) as i32
    };
    let cb = UserData::<OptCmpFirst, ud::First>::new_sync(&descending);
    let mut values = [3, 9, -1, 4];
    // SAFETY: the sort calls back during the call only.
    unsafe { sort(values.as_mut_ptr(), values.len(), cb.func(), cb.data()) };
    assert_eq!(values, [9, 4, 3, -1]);
}

/// Deterministic pseudo-random values, so a failure can be replayed.
fn scrambled(n: usize) -> Vec<i32> {
    let mut x = 0x2545_f491_u32;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x % 1000) as i32 - 500
        })
        .collect()
}

type CmpLast = unsafe extern "C" fn(*const c_void, *const c_void, *mut c_void) -> i32;
type SortLast = unsafe extern "C" fn(*mut i32, usize, CmpLast, *mut c_void);
type CmpFirst = unsafe extern "C" fn(*mut c_void, *const c_void, *const c_void) -> i32;
type SortFirst = unsafe extern "C" fn(*mut i32, usize, CmpFirst, *mut c_void);

/// Compares two `i32`s given by address, in descending order, counting the calls.
fn descending(calls: &mut usize, a: *const c_void, b: *const c_void) -> i32 {
    *calls += 1;
    // SAFETY: the sorts pass addresses of two live i32s.
    let (a, b) = unsafe { (*a.cast::<i32>(), *b.cast::<i32>()) };
    b.cmp(&a) as i32
}

#[test]
fn sort_with_context_last_like_glibc_qsort_r() {
    // SAFETY: the declared type is the C function's.
    let sort: SortLast = unsafe { sym("tl_sort_ctx_last") };
    let mut values = scrambled(200);
    let mut expected = values.clone();
    expected.sort_by(|a, b| b.cmp(a));
    let mut calls = 0;
    let mut cmp = |a: *const c_void, b: *const c_void| descending(&mut calls, a, b);
    let cb = UserData::<CmpLast, ud::Last>::new(&mut cmp);
    // SAFETY: the sort calls back only during the call, on this thread.
    unsafe { sort(values.as_mut_ptr(), values.len(), cb.func(), cb.data()) };
    assert_eq!(values, expected);
    assert!(
        calls >= 199,
        "an insertion sort of 200 compares at least 199 times: {calls}"
    );
}

#[test]
fn sort_with_context_first_like_qsort_s() {
    // SAFETY: the declared type is the C function's.
    let sort: SortFirst = unsafe { sym("tl_sort_ctx_first") };
    let mut values = scrambled(100);
    let mut expected = values.clone();
    expected.sort_by(|a, b| b.cmp(a));
    let mut calls = 0;
    let mut cmp = |a: *const c_void, b: *const c_void| descending(&mut calls, a, b);
    let cb = UserData::<CmpFirst, ud::First>::new(&mut cmp);
    // SAFETY: the sort calls back only during the call, on this thread.
    unsafe { sort(values.as_mut_ptr(), values.len(), cb.func(), cb.data()) };
    assert_eq!(values, expected);
    assert!(calls >= 99);
}

type EventCb = unsafe extern "C" fn(i64, *mut c_void) -> i64;

#[test]
fn callbacks_registered_now_fire_later_each_with_its_own_state() {
    // SAFETY: the declared types are the C functions'.
    let (new, add, fire, free) = unsafe {
        (
            sym::<unsafe extern "C" fn() -> *mut c_void>("tl_registry_new"),
            sym::<unsafe extern "C" fn(*mut c_void, EventCb, *mut c_void) -> i32>(
                "tl_registry_add",
            ),
            sym::<unsafe extern "C" fn(*mut c_void, i64) -> i64>("tl_registry_fire"),
            sym::<unsafe extern "C" fn(*mut c_void)>("tl_registry_free"),
        )
    };
    let mut logs = [Vec::new(), Vec::new(), Vec::new()];
    let [log0, log1, log2] = &mut logs;
    let mut handler0 = |event: i64| {
        log0.push(event);
        event
    };
    let mut handler1 = |event: i64| {
        log1.push(event);
        event * 10
    };
    let mut handler2 = |event: i64| {
        log2.push(event);
        event * 100
    };
    let cb0 = UserData::<EventCb, ud::Last>::new(&mut handler0);
    let cb1 = UserData::<EventCb, ud::Last>::new(&mut handler1);
    let cb2 = UserData::<EventCb, ud::Last>::new(&mut handler2);
    // SAFETY: the registry calls the handlers only from `fire`, on this thread, while the
    // `UserData`s live; it is freed before they are dropped.
    unsafe {
        let registry = new();
        assert!(!registry.is_null());
        assert_eq!(add(registry, cb0.func(), cb0.data()), 0);
        assert_eq!(add(registry, cb1.func(), cb1.data()), 1);
        assert_eq!(add(registry, cb2.func(), cb2.data()), 2);
        assert_eq!(fire(registry, 2), 222);
        assert_eq!(fire(registry, -5), -555);
        free(registry);
    }
    assert_eq!(logs, [[2, -5], [2, -5], [2, -5]]);
}

type ThreadCb = unsafe extern "C" fn(*mut c_void, i64, i64) -> i64;
type CallFromThreads = unsafe extern "C" fn(ThreadCb, *mut c_void, i32, i64) -> i64;

#[test]
fn sync_closure_called_concurrently_from_c_threads() {
    // SAFETY: the declared type is the C function's.
    let call_from_threads: CallFromThreads = unsafe { sym("tl_call_from_threads") };
    const THREADS: i64 = 8;
    const CALLS: i64 = 20_000;
    let calls = AtomicU64::new(0);
    let threads = Mutex::new(HashSet::new());
    let test_thread = std::thread::current().id();
    let on_call = |thread: i64, i: i64| {
        if i == 0 {
            threads.lock().unwrap().insert(std::thread::current().id());
        }
        calls.fetch_add(1, Ordering::Relaxed);
        thread * 1_000_000 + i
    };
    let cb = UserData::<ThreadCb, ud::First>::new_sync(&on_call);
    // SAFETY: the closure is `Sync` and outlives the call, which joins its threads.
    let total = unsafe { call_from_threads(cb.func(), cb.data(), THREADS as i32, CALLS) };
    let expected =
        CALLS * 1_000_000 * (THREADS * (THREADS - 1) / 2) + THREADS * (CALLS * (CALLS - 1) / 2);
    assert_eq!(total, expected);
    assert_eq!(calls.load(Ordering::Relaxed), (THREADS * CALLS) as u64);
    let threads = threads.into_inner().unwrap();
    assert_eq!(
        threads.len(),
        THREADS as usize,
        "one distinct thread per C worker"
    );
    assert!(
        !threads.contains(&test_thread),
        "called from C's threads, not the caller's"
    );
}

#[test]
fn fnmut_closure_called_from_one_c_thread() {
    // SAFETY: the declared type is the C function's.
    let call_from_threads: CallFromThreads = unsafe { sym("tl_call_from_threads") };
    let mut seen = Vec::new();
    let mut on_call = |thread: i64, i: i64| {
        seen.push((thread, i));
        i * 2
    };
    let cb = UserData::<ThreadCb, ud::First>::new(&mut on_call);
    // SAFETY: one C thread calls the (Send) closure, never concurrently; the call joins it.
    let total = unsafe { call_from_threads(cb.func(), cb.data(), 1, 100) };
    assert_eq!(total, (0..100).map(|i| i * 2).sum::<i64>());
    assert_eq!(seen, (0..100).map(|i| (0, i)).collect::<Vec<_>>());
}

type NestCb = unsafe extern "C" fn(i32, *mut c_void) -> i32;
type Nest = unsafe extern "C" fn(NestCb, *mut c_void, i32) -> i32;

#[test]
fn sync_closure_reentered_through_c_a_thousand_deep() {
    // SAFETY: the declared type is the C function's.
    let nest: Nest = unsafe { sym("tl_nest") };
    // The closure re-enters C with its own trampoline, known only once it is built.
    let this: OnceLock<(NestCb, usize)> = OnceLock::new();
    let on_call = |depth: i32| -> i32 {
        if depth == 0 {
            return 0;
        }
        let (func, data) = *this.get().unwrap();
        // SAFETY: the trampoline and its data are alive for the whole outer call.
        unsafe { nest(func, data as *mut c_void, depth - 1) }
    };
    let cb = UserData::<NestCb, ud::Last>::new_sync(&on_call);
    this.set((cb.func(), cb.data() as usize)).unwrap();
    // SAFETY: the closure is `Fn + Sync`, which may be re-entered; it outlives the call.
    let levels = unsafe { nest(cb.func(), cb.data(), 1000) };
    assert_eq!(levels, 1001, "each nested C call adds one");
}

/// `new_shared`: an `Fn` closure that is not `Sync` (its state is in `Cell`s), re-entered
/// through C on one thread.
#[test]
fn shared_closure_with_cells_reentered_through_c() {
    use core::cell::Cell;
    // SAFETY: the declared type is the C function's.
    let nest: Nest = unsafe { sym("tl_nest") };
    let this: Cell<Option<(NestCb, *mut c_void)>> = Cell::new(None);
    let (calls, deepest) = (Cell::new(0), Cell::new(i32::MAX));
    let on_call = |depth: i32| -> i32 {
        calls.set(calls.get() + 1);
        deepest.set(deepest.get().min(depth));
        if depth == 0 {
            return 0;
        }
        let (func, data) = this.get().unwrap();
        // SAFETY: the trampoline and its data are alive for the whole outer call, on this
        // thread.
        unsafe { nest(func, data, depth - 1) }
    };
    let cb = UserData::<NestCb, ud::Last>::new_shared(&on_call);
    this.set(Some((cb.func(), cb.data())));
    // SAFETY: re-entered on this thread only, while `cb` lives.
    let levels = unsafe { nest(cb.func(), cb.data(), 50) };
    assert_eq!(levels, 51);
    assert_eq!((calls.get(), deepest.get()), (51, 0));
}

// ---- Arity and user-data position ------------------------------------------------------

/// A distinctive word for argument `i`: high bits set, different for each argument.
fn word(i: usize) -> isize {
    (0xA5C3_0000_F0F0_0000u64 as usize | i << 4 | 0x3) as isize
}

/// What a callback returns for `args`: a hash over all of them, so a wrong, missing or
/// reordered argument changes it.
fn digest(args: &[isize]) -> isize {
    args.iter()
        .fold(0x1234isize, |acc, &v| acc.wrapping_mul(31).wrapping_add(v))
}

/// Runs one C caller `tl_call_i{N}{suffix}` with a callback of N pointer-sized integers, the
/// user data (of type `$data`) at position `$pos`, the closure taking the others.
macro_rules! int_case {
    ($abi:literal, $suffix:literal, $data:ty, $pos:ty, [$($b:ident)*], [$($d:ident)*]) => {{
        type Sig = unsafe extern $abi fn($(int_case!(@isize $b),)* $data, $(int_case!(@isize $d),)*) -> isize;
        let before = <[&str]>::len(&[$(stringify!($b)),*]);
        let arity = before + 1 + <[&str]>::len(&[$(stringify!($d)),*]);
        let name = format!("tl_call_i{arity}{}", $suffix);
        // SAFETY: the C function takes a callback of `arity` intptr_t in this convention,
        // which is `Sig`'s ABI (raw pointers are passed as intptr_t), and the words to pass.
        let caller: unsafe extern "C" fn(Sig, *const isize) -> isize = unsafe { sym(&name) };
        let mut received = Vec::new();
        let mut closure = |$($b: isize,)* $($d: isize,)*| -> isize {
            let args = [$($b,)* $($d,)*];
            received.push(args.to_vec());
            digest(&args)
        };
        let cb = UserData::<Sig, $pos>::new(&mut closure);
        let mut words: Vec<isize> = (0..arity).map(word).collect();
        let data = trampoline::UserDataArg::into_ptr(cb.data());
        words[before] = data.expose_provenance() as isize;
        // SAFETY: C calls back once, now, with `words`, whose user-data slot holds `data`.
        let result = unsafe { caller(cb.func(), words.as_ptr()) };
        words.remove(before);
        assert_eq!(received, [words.clone()], "{name}: arguments with user data at {before}");
        assert_eq!(result, digest(&words), "{name}: return value");
    }};
    (@isize $x:ident) => { isize };
}

/// Runs `int_case!` with the user data at every position of one arity, and also as `Last`.
macro_rules! every_position {
    ($abi:literal, $suffix:literal, $data:ty; [$($b:ident)*] [$u:ident $($d:ident)*]) => {
        int_case!($abi, $suffix, $data, ud::At<{ 0 $(+ every_position!(@one $b))* }>,
            [$($b)*], [$($d)*]);
        every_position!(@last $abi, $suffix, $data; [$($b)*] [$($d)*]);
        every_position!($abi, $suffix, $data; [$($b)* $u] [$($d)*]);
    };
    ($abi:literal, $suffix:literal, $data:ty; [$($b:ident)*] []) => {};
    (@last $abi:literal, $suffix:literal, $data:ty; [$($b:ident)*] []) => {
        int_case!($abi, $suffix, $data, ud::Last, [$($b)*], []);
    };
    (@last $abi:literal, $suffix:literal, $data:ty; [$($b:ident)*] [$($d:ident)+]) => {};
    (@one $b:ident) => { 1 };
}

/// Every arity from 1 to 12 arguments (0 to 11 for the closure), every position.
macro_rules! every_arity {
    ($abi:literal, $suffix:literal, $data:ty) => {
        every_position!($abi, $suffix, $data; [] [a0]);
        every_position!($abi, $suffix, $data; [] [a0 a1]);
        every_position!($abi, $suffix, $data; [] [a0 a1 a2]);
        every_position!($abi, $suffix, $data; [] [a0 a1 a2 a3]);
        every_position!($abi, $suffix, $data; [] [a0 a1 a2 a3 a4]);
        every_position!($abi, $suffix, $data; [] [a0 a1 a2 a3 a4 a5]);
        every_position!($abi, $suffix, $data; [] [a0 a1 a2 a3 a4 a5 a6]);
        every_position!($abi, $suffix, $data; [] [a0 a1 a2 a3 a4 a5 a6 a7]);
        every_position!($abi, $suffix, $data; [] [a0 a1 a2 a3 a4 a5 a6 a7 a8]);
        every_position!($abi, $suffix, $data; [] [a0 a1 a2 a3 a4 a5 a6 a7 a8 a9]);
        every_position!($abi, $suffix, $data; [] [a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 a10]);
        every_position!($abi, $suffix, $data; [] [a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 a10 a11]);
    };
}

#[test]
fn every_arity_and_position_c_pointer_user_data() {
    every_arity!("C", "", *mut c_void);
}

#[test]
fn every_arity_and_position_c_lparam_user_data() {
    every_arity!("C", "", isize);
}

#[test]
fn every_arity_and_position_c_unwind_usize_user_data() {
    every_arity!("C-unwind", "", usize);
}

#[test]
fn every_arity_and_position_system() {
    every_arity!("system", "_system", isize);
}

#[cfg(target_arch = "x86")]
mod x86_conventions {
    use super::*;

    #[test]
    fn every_arity_and_position_stdcall() {
        every_arity!("stdcall", "_stdcall", *mut c_void);
    }

    #[test]
    fn every_arity_and_position_fastcall() {
        every_arity!("fastcall", "_fastcall", *mut c_void);
    }

    #[test]
    fn every_arity_and_position_thiscall() {
        every_arity!("thiscall", "_thiscall", *const c_void);
    }

    /// A callback with an 8-byte argument among 4-byte ones (20 bytes of stack arguments) in
    /// each convention: a callee-pop mistake corrupts the caller's stack.
    macro_rules! odd_stack_case {
        ($abi:literal, $name:literal) => {{
            type Sig = unsafe extern $abi fn(i32, *mut c_void, i64, i8, f64) -> i64;
            // SAFETY: the declared type is the C function's.
            let caller: unsafe extern "C" fn(Sig, *mut c_void) -> i64 = unsafe { sym($name) };
            let mut seen = None;
            let mut closure = |a: i32, b: i64, c: i8, d: f64| {
                seen = Some((a, b, c, d.to_bits()));
                0x1234_5678_9abc_def0_i64
            };
            let cb = UserData::<Sig, ud::At<1>>::new(&mut closure);
            // SAFETY: C calls back once, during the call, with this user data.
            let result = unsafe { caller(cb.func(), cb.data().cast()) };
            assert_eq!(result, 0x1234_5678_9abc_def0, "{}", $abi);
            assert_eq!(seen, Some((-7, i64::MIN + 3, -128, (-2.5f64).to_bits())), "{}", $abi);
        }};
    }

    #[test]
    fn callee_pop_conventions_with_odd_stack_sizes() {
        for _ in 0..3 {
            odd_stack_case!("stdcall", "tl_call_x86_stdcall");
            odd_stack_case!("fastcall", "tl_call_x86_fastcall");
            odd_stack_case!("thiscall", "tl_call_x86_thiscall");
            odd_stack_case!("cdecl", "tl_call_x86_cdecl");
        }
    }
}

// ---- Floating point, many arguments --------------------------------------------------------

/// Distinctive doubles: quiet NaN with a payload, -0.0, a subnormal, extremes. (Signalling NaNs
/// are left out: 32-bit x86 returns floats through the x87 stack, which quiets them.)
const DOUBLES: [u64; 12] = [
    0x7ff8_0000_dead_beef, // quiet NaN, payload
    0x8000_0000_0000_0000, // -0.0
    0x0000_0000_0000_0001, // smallest subnormal
    0x7fef_ffff_ffff_ffff, // f64::MAX
    0xfff0_0000_0000_0000, // -inf
    0x3ff0_0000_0000_0001, // 1 + ulp
    0xc00c_0000_0000_0000, // -3.5
    0x000f_ffff_ffff_ffff, // largest subnormal
    0x3fd5_5555_5555_5555, // 1/3
    0xfff8_1234_0000_0001, // negative quiet NaN, payload
    0x4340_0000_0000_0001, // 2^53 + 2
    0x0010_0000_0000_0000, // f64::MIN_POSITIVE
];

macro_rules! double_case {
    ($($x:ident)*) => {{
        let n = <[&str]>::len(&[$(stringify!($x)),*]);
        let args: Vec<f64> = DOUBLES[..n].iter().map(|&b| f64::from_bits(b)).collect();
        let ret = f64::from_bits(0x7ff8_0000_0000_5a5a ^ (n as u64) << 20);
        let mut seen: Vec<Vec<u64>> = Vec::new();
        let mut closure = |$($x: f64),*| {
            seen.push(vec![$($x.to_bits()),*]);
            ret
        };
        let expected: Vec<u64> = DOUBLES[..n].to_vec();

        type First = unsafe extern "C" fn(*mut c_void, $(double_case!(@f64 $x)),*) -> f64;
        // SAFETY: the declared type is the C function's.
        let caller: unsafe extern "C" fn(First, *mut c_void, *const f64) -> f64 =
            unsafe { sym(&format!("tl_call_d{n}")) };
        let cb = UserData::<First, ud::First>::new(&mut closure);
        // SAFETY: C calls back once, during the call, with this user data.
        let result = unsafe { caller(cb.func(), cb.data(), args.as_ptr()) };
        assert_eq!(result.to_bits(), ret.to_bits(), "tl_call_d{n}: return");

        type Last = unsafe extern "C" fn($(double_case!(@f64 $x),)* *mut c_void) -> f64;
        // SAFETY: the declared type is the C function's.
        let caller: unsafe extern "C" fn(Last, *mut c_void, *const f64) -> f64 =
            unsafe { sym(&format!("tl_call_d{n}_last")) };
        let cb = UserData::<Last, ud::Last>::new(&mut closure);
        // SAFETY: as above.
        let result = unsafe { caller(cb.func(), cb.data(), args.as_ptr()) };
        assert_eq!(result.to_bits(), ret.to_bits(), "tl_call_d{n}_last: return");
        assert_eq!(seen, [expected.clone(), expected], "tl_call_d{n}: arguments");
    }};
    (@f64 $x:ident) => { f64 };
}

#[test]
fn up_to_eleven_doubles_bit_exact_with_user_data_first_and_last() {
    double_case!();
    double_case!(a0);
    double_case!(a0 a1);
    double_case!(a0 a1 a2);
    double_case!(a0 a1 a2 a3);
    double_case!(a0 a1 a2 a3 a4);
    double_case!(a0 a1 a2 a3 a4 a5);
    double_case!(a0 a1 a2 a3 a4 a5 a6);
    double_case!(a0 a1 a2 a3 a4 a5 a6 a7);
    double_case!(a0 a1 a2 a3 a4 a5 a6 a7 a8);
    double_case!(a0 a1 a2 a3 a4 a5 a6 a7 a8 a9);
    double_case!(a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 a10);
}

type Mixed =
    unsafe extern "C" fn(i8, f64, i16, f32, i32, f64, i64, f32, u8, *mut c_void, f64, u64) -> f64;

#[test]
fn mixed_integer_and_float_arguments_spilling_to_the_stack() {
    // SAFETY: the declared type is the C function's.
    let caller: unsafe extern "C" fn(Mixed, *mut c_void) -> f64 = unsafe { sym("tl_call_mixed") };
    let mut seen = None;
    let mut closure =
        |a: i8, b: f64, c: i16, d: f32, e: i32, f: f64, g: i64, h: f32, i: u8, j: f64, k: u64| {
            seen = Some((a, b, c, d, e, f, g, h, i, j.to_bits(), k));
            -1.0e-310
        };
    let cb = UserData::<Mixed, ud::At<9>>::new(&mut closure);
    // SAFETY: C calls back once, during the call, with this user data.
    let result = unsafe { caller(cb.func(), cb.data()) };
    assert_eq!(result.to_bits(), (-1.0e-310f64).to_bits());
    assert_eq!(
        seen,
        Some((
            -100,
            1.5,
            -30000,
            2.25,
            -2_000_000_000,
            -3.125,
            i64::MIN + 7,
            4.5,
            200,
            5e-324f64.to_bits(),
            u64::MAX - 5
        ))
    );
}

// ---- Every type, as argument and as return -------------------------------------------------

/// For each value: C passes it to the callback (checked bit for bit), the callback returns
/// `partner(value)`, and C hands that back (checked bit for bit), with the user data first and
/// then last.
macro_rules! echo_case {
    ($ty:ty, $name:literal, [$($value:expr),* $(,)?], $partner:expr, $bits:expr) => {{
        type First = unsafe extern "C" fn(*mut c_void, $ty) -> $ty;
        type Last = unsafe extern "C" fn($ty, *mut c_void) -> $ty;
        // SAFETY: the declared types are the C functions'.
        let (echo, echo_last) = unsafe {
            (
                sym::<unsafe extern "C" fn(First, *mut c_void, $ty) -> $ty>(concat!("tl_echo_", $name)),
                sym::<unsafe extern "C" fn(Last, *mut c_void, $ty) -> $ty>(concat!("tl_echo_last_", $name)),
            )
        };
        let partner: fn($ty) -> $ty = $partner;
        let bits = $bits;
        for value in [$($value),*] {
            let mut seen = Vec::new();
            let mut closure = |x: $ty| {
                seen.push(bits(x));
                partner(x)
            };
            let cb = UserData::<First, ud::First>::new(&mut closure);
            // SAFETY: C calls back once, during the call, with this user data.
            let back = unsafe { echo(cb.func(), cb.data(), value) };
            assert_eq!(bits(back), bits(partner(value)), "{}: return of {value:?}", $name);
            let cb = UserData::<Last, ud::Last>::new(&mut closure);
            // SAFETY: as above.
            let back = unsafe { echo_last(cb.func(), cb.data(), value) };
            assert_eq!(bits(back), bits(partner(value)), "{}: return of {value:?}", $name);
            assert_eq!(seen, [bits(value), bits(value)], "{}: argument", $name);
        }
    }};
    ($ty:ty, $name:literal, [$($value:expr),* $(,)?], $partner:expr) => {
        echo_case!($ty, $name, [$($value),*], $partner, |x: $ty| x)
    };
}

#[test]
fn every_integer_width_with_edge_values() {
    common::edge_values::integer_edge_values!(echo_case);
}

#[test]
fn floats_with_nan_payloads_signed_zeros_and_subnormals() {
    common::edge_values::float_edge_values!(echo_case);
}

#[test]
fn pointers_with_high_bits() {
    common::edge_values::pointer_edge_values!(echo_case);
}

/// Small integers returned by the callback and widened to 64 bits by C: a callee returning the
/// wrong width or extension shows here.
macro_rules! widen_case {
    ($ty:ty, $name:literal, [$($value:expr),*]) => {{
        type Cb = unsafe extern "C" fn(*mut c_void, $ty) -> $ty;
        // SAFETY: the declared type is the C function's.
        let widen: unsafe extern "C" fn(Cb, *mut c_void, $ty) -> i64 =
            unsafe { sym(concat!("tl_widen_", $name)) };
        for value in [$($value),*] {
            let mut closure = |x: $ty| x;
            let cb = UserData::<Cb, ud::First>::new(&mut closure);
            // SAFETY: C calls back once, during the call, with this user data.
            let wide = unsafe { widen(cb.func(), cb.data(), value) };
            assert_eq!(wide, value as i64, "{}: {value:?} widened", $name);
        }
    }};
}

#[test]
fn small_integer_returns_are_extended_as_c_expects() {
    common::edge_values::widening_edge_values!(widen_case);
}

#[test]
fn unit_return() {
    type Cb = unsafe extern "C" fn(*mut c_void, i32);
    // SAFETY: the declared type is the C function's.
    let call_void: unsafe extern "C" fn(Cb, *mut c_void, i32) -> i32 =
        unsafe { sym("tl_call_void") };
    let mut seen = Vec::new();
    let mut closure = |i: i32| seen.push(i);
    let cb = UserData::<Cb, ud::First>::new(&mut closure);
    // SAFETY: C calls back during the call, on this thread.
    assert_eq!(unsafe { call_void(cb.func(), cb.data(), 5) }, 5);
    assert_eq!(seen, [0, 1, 2, 3, 4]);
}

// ---- Callbacks owned by C --------------------------------------------------------------------

type SourceCb = unsafe extern "C" fn(*mut c_void, i64) -> i64;
/// GLib's `GDestroyNotify`, as bindgen declares it.
type DestroyNotify = Option<unsafe extern "C" fn(*mut c_void)>;

/// The C test library's owning source (`tl_source_*`, shaped like `g_timeout_add_full`).
struct CSource {
    new: unsafe extern "C" fn(SourceCb, *mut c_void, DestroyNotify) -> *mut c_void,
    run: unsafe extern "C" fn(*mut c_void, i64) -> i64,
    free: unsafe extern "C" fn(*mut c_void),
}

fn c_source() -> CSource {
    // SAFETY: the declared types are the C functions'.
    unsafe {
        CSource {
            new: sym("tl_source_new"),
            run: sym("tl_source_run"),
            free: sym("tl_source_free"),
        }
    }
}

/// Counts its drops.
struct Dropped(std::sync::Arc<AtomicU64>);
impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// C owns the closure: it runs it, keeps its state between runs, and frees it (on another
/// thread here) by calling the destroy notify, which drops the closure exactly once.
#[test]
fn c_owns_the_closure_and_frees_it_through_the_destroy_notify() {
    let c = c_source();
    let drops = std::sync::Arc::new(AtomicU64::new(0));
    let dropped = Dropped(drops.clone());
    let mut ticks_seen = Vec::new();
    let owned = UserData::<SourceCb, ud::First>::into_c(move |tick: i64| {
        let _ = &dropped;
        ticks_seen.push(tick);
        ticks_seen.len() as i64 * 10
    });
    // SAFETY: C gets the callback, its user data and its notify, as the API requires.
    let source = unsafe { (c.new)(owned.func, owned.data, Some(owned.destroy)) };
    // SAFETY: the source is alive; it calls back during each run only.
    unsafe {
        assert_eq!((c.run)(source, 3), 10 + 20 + 30);
        assert_eq!((c.run)(source, 1), 40, "the closure kept its state");
    }
    assert_eq!(drops.load(Ordering::SeqCst), 0, "alive while C holds it");
    let source = source as usize;
    std::thread::spawn(move || {
        // SAFETY: the source is freed once, after its last run; the closure is `Send`.
        unsafe { (c_source().free)(source as *mut c_void) }
    })
    .join()
    .unwrap();
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "dropped once, by the notify"
    );
}

/// `into_c_sync`: an `Fn + Sync` closure, which C may call from several threads at once.
#[test]
fn c_owns_a_sync_closure() {
    let c = c_source();
    let calls = std::sync::Arc::new(AtomicU64::new(0));
    let counted = calls.clone();
    let owned = UserData::<SourceCb, ud::First>::into_c_sync(move |tick: i64| {
        counted.fetch_add(1, Ordering::SeqCst);
        -tick
    });
    // SAFETY: as above.
    let source = unsafe { (c.new)(owned.func, owned.data, Some(owned.destroy)) };
    // SAFETY: alive until freed below.
    assert_eq!(unsafe { (c.run)(source, 4) }, -10);
    // SAFETY: freed once.
    unsafe { (c.free)(source) };
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(
        std::sync::Arc::strong_count(&calls),
        1,
        "the closure (and its Arc) is gone"
    );
}

// ---- Getter-style user data --------------------------------------------------------------------

/// sqlite-style: the callback gets a context and finds its user data with a C getter
/// (`tl_fn_user_data`, like `sqlite3_user_data`).
struct ViaContext;

type ScalarFn = unsafe extern "C" fn(*mut c_void, i64) -> i64;

// SAFETY: `tl_fn_user_data` returns the user data `tl_fn_run` was given with the function,
// which the tests below pass as `UserData::data`.
unsafe impl trampoline::UserDataGetter<(*mut c_void, i64)> for ViaContext {
    unsafe fn user_data(args: &(*mut c_void, i64)) -> *mut c_void {
        static GET: OnceLock<unsafe extern "C" fn(*mut c_void) -> *mut c_void> = OnceLock::new();
        // SAFETY: the declared type is the C function's.
        let get = GET.get_or_init(|| unsafe { sym("tl_fn_user_data") });
        // SAFETY: `args.0` is the context C passed with this call.
        unsafe { get(args.0) }
    }
}

#[test]
fn getter_style_user_data_found_through_the_context() {
    // SAFETY: the declared type is the C function's.
    let run: unsafe extern "C" fn(ScalarFn, *mut c_void, i64) -> i64 = unsafe { sym("tl_fn_run") };
    let mut rows = Vec::new();
    let mut on_row = |ctx: *mut c_void, x: i64| {
        rows.push((ctx.is_null(), x));
        x + 1
    };
    let cb = UserData::<ScalarFn, ud::Via<ViaContext>>::new(&mut on_row);
    // SAFETY: C calls back during the call only, with a context carrying this user data.
    let sum = unsafe { run(cb.func(), cb.data(), 3) };
    assert_eq!(sum, 11 + 21 + 31);
    assert_eq!(rows, [(false, 10), (false, 20), (false, 30)]);

    // `new_sync`, and the Option type bindgen would give the function.
    type OptScalarFn = Option<ScalarFn>;
    // SAFETY: as above.
    let run_opt: unsafe extern "C" fn(OptScalarFn, *mut c_void, i64) -> i64 =
        unsafe { sym("tl_fn_run") };
    let doubled = |_ctx: *mut c_void, x: i64| 2 * x;
    let cb = UserData::<OptScalarFn, ud::Via<ViaContext>>::new_sync(&doubled);
    // SAFETY: as above.
    assert_eq!(unsafe { run_opt(cb.func(), cb.data(), 2) }, 20 + 40);
}

// A user-data comparator over references, as a hand-written binding of qsort_r declares it:
// higher-ranked, declared with `hrtb!`, the context last (glibc) or first (BSD / MS).
trampoline::hrtb! {
    type RefCmpLast = for<'a, 'b> unsafe extern "C" fn(&'a i32, &'b i32, *mut c_void) -> i32;
    type RefCmpFirst = for<'a, 'b> unsafe extern "C" fn(*mut c_void, &'a i32, &'b i32) -> i32;
}

#[test]
fn higher_ranked_user_data_callbacks_with_the_context_first_or_last() {
    type Raw<C> = unsafe extern "C" fn(*mut i32, usize, C, *mut c_void);
    type Last = for<'a, 'b> unsafe extern "C" fn(&'a i32, &'b i32, *mut c_void) -> i32;
    type First = for<'a, 'b> unsafe extern "C" fn(*mut c_void, &'a i32, &'b i32) -> i32;
    // SAFETY: the declared types are the C functions' (references are pointers in the ABI).
    let sort_last: Raw<Last> = unsafe { sym("tl_sort_ctx_last") };
    // SAFETY: as above.
    let sort_first: Raw<First> = unsafe { sym("tl_sort_ctx_first") };
    let mut calls = 0;
    let mut descending = |a: &i32, b: &i32| {
        calls += 1;
        b.cmp(a) as i32
    };
    let mut values = [3, 9, -1, 4];
    let cb = UserData::<RefCmpLast, ud::Last>::new(&mut descending);
    // SAFETY: C calls back during the call only, with this user data.
    unsafe { sort_last(values.as_mut_ptr(), 4, cb.func().0, cb.data()) };
    assert_eq!(values, [9, 4, 3, -1]);
    let ascending = |a: &i32, b: &i32| a.cmp(b) as i32;
    let cb = UserData::<RefCmpFirst, ud::First>::new_sync(&ascending);
    // SAFETY: as above.
    unsafe { sort_first(values.as_mut_ptr(), 4, cb.func().0, cb.data()) };
    assert_eq!(values, [-1, 3, 4, 9]);
    assert!(calls >= 3);
}

trampoline::hrtb! {
    type RefVisitAt1 = for<'a> unsafe extern "C" fn(&'a i64, *mut c_void, &'a i64) -> i64;
}

#[test]
fn higher_ranked_user_data_callbacks_with_the_context_in_the_middle() {
    let mut sum = 0;
    let mut add = |a: &i64, b: &i64| {
        sum += a * b;
        sum
    };
    let cb = UserData::<RefVisitAt1, ud::At<1>>::new(&mut add);
    let (x, y) = (6, 7);
    // SAFETY: called here, with its own user data, while `cb` lives.
    assert_eq!(unsafe { (cb.func().0)(&x, cb.data(), &y) }, 42);
    // SAFETY: as above.
    assert_eq!(unsafe { (cb.func().0)(&1, cb.data(), &-2) }, 40);
}
