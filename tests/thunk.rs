//! Thunks driven by the C test library and by real OS APIs that take bare callbacks (no
//! user-data slot): every arity, calling convention and type class, the frame path, threads,
//! re-entrancy, and where the closure is stored and when it is dropped.
//!
//! Pool bookkeeping (`pool_stats`, slot reuse, W^X) is process-global, so it is tested in
//! `thunk_pool.rs` and `thunk_fallback.rs`, each a test binary of its own.

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

// ---- Every arity, every ABI, all three thunk kinds -------------------------------------------

/// One C caller `tl_call_i{N}{suffix}` and a callback of N pointer-sized integers in ABI
/// `$abi`, as a `Thunk`, a `ThunkMut` (called twice) and a `ThunkOnce`, each checked for the
/// arguments it got and the value C got back.
macro_rules! arity_case {
    ($abi:literal, $suffix:literal, [$($a:ident)*]) => {{
        type Sig = unsafe extern $abi fn($(arity_case!(@isize $a)),*) -> isize;
        let n = <[&str]>::len(&[$(stringify!($a)),*]);
        let name = format!("tl_call_i{n}{}", $suffix);
        // SAFETY: the C function takes a callback of `n` intptr_t in this convention, which
        // is `Sig`, and the words to pass.
        let caller: unsafe extern "C" fn(Sig, *const isize) -> isize = unsafe { sym(&name) };
        let words: Vec<isize> = (0..n).map(word).collect();
        let salt = word(100 + n);

        let by_ref = Thunk::<Sig>::new(move |$($a: isize),*| digest(&[$($a),*]) ^ salt);
        let mut received: Vec<Vec<isize>> = Vec::new();
        let by_mut = ThunkMut::<Sig>::new(|$($a: isize),*| {
            received.push(vec![$($a),*]);
            digest(&[$($a),*]).wrapping_add(1)
        });
        let once_seen: RefCell<Option<Vec<isize>>> = RefCell::new(None);
        let once_seen_ref = &once_seen;
        let token = vec![salt];
        let by_once = ThunkOnce::<Sig>::new(move |$($a: isize),*| {
            *once_seen_ref.borrow_mut() = Some(vec![$($a),*]);
            digest(&[$($a),*]).wrapping_sub(token[0])
        });
        let codes: HashSet<*const c_void> =
            [by_ref.as_ptr(), by_mut.as_ptr(), by_once.as_ptr()].into_iter().collect();
        assert_eq!(codes.len(), 3, "{name}: each thunk has its own code address");

        // SAFETY: C calls each thunk once per call, now, on this thread, while it lives.
        unsafe {
            assert_eq!(caller(by_ref.as_fn(), words.as_ptr()), digest(&words) ^ salt,
                "{name}: Thunk");
            assert_eq!(caller(by_ref.as_fn(), words.as_ptr()), digest(&words) ^ salt,
                "{name}: Thunk, second call");
            for _ in 0..2 {
                assert_eq!(caller(by_mut.as_fn(), words.as_ptr()),
                    digest(&words).wrapping_add(1), "{name}: ThunkMut");
            }
            assert_eq!(caller(by_once.as_fn(), words.as_ptr()),
                digest(&words).wrapping_sub(salt), "{name}: ThunkOnce");
        }
        drop((by_ref, by_mut, by_once));
        assert_eq!(received, [words.clone(), words.clone()], "{name}: ThunkMut arguments");
        assert_eq!(once_seen.into_inner(), Some(words), "{name}: ThunkOnce arguments");
    }};
    (@isize $x:ident) => { isize };
}

/// Runs `$case!($abi, $suffix, [..])` for every arity from 0 up to the length of the list.
macro_rules! arities {
    ($case:ident, $abi:literal, $suffix:literal, [$($done:ident)*] [$next:ident $($rest:ident)*]) => {
        $case!($abi, $suffix, [$($done)*]);
        arities!($case, $abi, $suffix, [$($done)* $next] [$($rest)*]);
    };
    ($case:ident, $abi:literal, $suffix:literal, [$($done:ident)*] []) => {
        $case!($abi, $suffix, [$($done)*]);
    };
}

/// Arities 0 to 12.
macro_rules! every_arity {
    ($case:ident, $abi:literal, $suffix:literal) => {
        arities!($case, $abi, $suffix, [] [a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 a10 a11]);
    };
}

// ---- Floating point, many arguments --------------------------------------------------------

/// Distinctive doubles: quiet NaNs with payloads, -0.0, subnormals, extremes. (Signalling NaNs
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

/// A double in [1, 2) that depends on every bit of `bits`.
fn fold_bits(bits: &[u64]) -> f64 {
    let hash = bits.iter().fold(0xcbf2_9ce4_8422_2325u64, |acc, &b| {
        (acc ^ b).wrapping_mul(0x0000_0100_0000_01b3)
    });
    f64::from_bits(0x3ff0_0000_0000_0000 | hash >> 12)
}

/// `tl_call_f{N}{suffix}`: C passes N doubles and hands back the callback's double. A
/// `ThunkMut` records the arguments bit for bit and returns a NaN with a payload; a `Thunk`
/// returns a hash of the arguments' bits; a `ThunkOnce` returns -0.0.
macro_rules! doubles_case {
    ($abi:literal, $suffix:literal, [$($x:ident)*]) => {{
        type Sig = unsafe extern $abi fn($(doubles_case!(@f64 $x)),*) -> f64;
        let n = <[&str]>::len(&[$(stringify!($x)),*]);
        let name = format!("tl_call_f{n}{}", $suffix);
        // SAFETY: the declared type is the C function's.
        let caller: unsafe extern "C" fn(Sig, *const f64) -> f64 = unsafe { sym(&name) };
        let args: Vec<f64> = DOUBLES[..n].iter().map(|&b| f64::from_bits(b)).collect();
        let expected: Vec<u64> = DOUBLES[..n].to_vec();
        let nan = f64::from_bits(0x7ff8_0000_0000_5a5a ^ (n as u64) << 20);

        let mut seen: Vec<Vec<u64>> = Vec::new();
        let by_mut = ThunkMut::<Sig>::new(|$($x: f64),*| {
            seen.push(vec![$($x.to_bits()),*]);
            nan
        });
        let by_ref = Thunk::<Sig>::new(|$($x: f64),*| fold_bits(&[$($x.to_bits()),*]));
        let by_once = ThunkOnce::<Sig>::new(|$($x: f64),*| {
            let _ = ($($x,)*);
            -0.0
        });
        // SAFETY: C calls back once per call, now, while the thunks live.
        unsafe {
            assert_eq!(caller(by_mut.as_fn(), args.as_ptr()).to_bits(), nan.to_bits(),
                "{name}: ThunkMut return");
            assert_eq!(caller(by_ref.as_fn(), args.as_ptr()).to_bits(),
                fold_bits(&expected).to_bits(), "{name}: Thunk arguments and return");
            assert_eq!(caller(by_once.as_fn(), args.as_ptr()).to_bits(), (-0.0f64).to_bits(),
                "{name}: ThunkOnce return");
        }
        drop(by_mut);
        assert_eq!(seen, [expected], "{name}: ThunkMut arguments");
    }};
    (@f64 $x:ident) => { f64 };
}

/// `tl_call_mixed_ints{suffix}` (seven integers, five floats: integers spill on System V,
/// everything from the fifth on Windows x64) and `tl_call_mixed_floats{suffix}` (three
/// integers, nine floats: the ninth float spills on System V and AAPCS64 while integer
/// registers stay free). Every value is checked bit for bit.
macro_rules! mixed_case {
    ($abi:literal, $suffix:literal) => {{
        type Ints = unsafe extern $abi fn(
            i8, f64, i16, f32, i32, f64, i64, f32, u8, *mut c_void, f64, u64,
        ) -> f64;
        type Floats = unsafe extern $abi fn(
            f64, i32, f32, f64, f64, u16, f64, f32, f64, f64, i64, f64,
        ) -> f64;
        let ints_name = concat!("tl_call_mixed_ints", $suffix);
        let floats_name = concat!("tl_call_mixed_floats", $suffix);
        // SAFETY: the declared types are the C functions'.
        let (call_ints, call_floats) = unsafe {
            (
                sym::<unsafe extern "C" fn(Ints, *mut c_void) -> f64>(ints_name),
                sym::<unsafe extern "C" fn(Floats) -> f64>(floats_name),
            )
        };
        let p = core::ptr::without_provenance_mut::<c_void>(usize::MAX / 5 * 3);

        let mut seen = Vec::new();
        let ints = ThunkMut::<Ints>::new(
            |a: i8, b: f64, c: i16, d: f32, e: i32, f: f64, g: i64, h: f32, i: u8,
             j: *mut c_void, k: f64, l: u64| {
                seen.push((a, b.to_bits(), c, d.to_bits(), e, f.to_bits(), g, h.to_bits(), i,
                    j.addr(), k.to_bits(), l));
                -1.0e-310
            },
        );
        // SAFETY: C calls back once, during the call, while the thunk lives.
        let result = unsafe { call_ints(ints.as_fn(), p) };
        drop(ints);
        assert_eq!(result.to_bits(), (-1.0e-310f64).to_bits(), "{ints_name}: return");
        assert_eq!(
            seen,
            [(-100, 1.5f64.to_bits(), -30000, 2.25f32.to_bits(), -2_000_000_000,
              (-3.125f64).to_bits(), i64::MIN + 7, 4.5f32.to_bits(), 200, p.addr(),
              5e-324f64.to_bits(), u64::MAX - 5)],
            "{ints_name}: arguments"
        );

        let mut seen = Vec::new();
        let floats = ThunkMut::<Floats>::new(
            |a: f64, b: i32, c: f32, d: f64, e: f64, f: u16, g: f64, h: f32, i: f64, j: f64,
             k: i64, l: f64| {
                seen.push((a.to_bits(), b, c.to_bits(), d.to_bits(), e.to_bits(), f,
                    g.to_bits(), h.to_bits(), i.to_bits(), j.to_bits(), k, l.to_bits()));
                f64::from_bits(0x7ff8_0000_0bad_f00d)
            },
        );
        // SAFETY: as above.
        let result = unsafe { call_floats(floats.as_fn()) };
        drop(floats);
        assert_eq!(result.to_bits(), 0x7ff8_0000_0bad_f00d, "{floats_name}: return");
        assert_eq!(
            seen,
            [((-0.0f64).to_bits(), i32::MIN, (-1.5f32).to_bits(), 1e308f64.to_bits(),
              2.5f64.to_bits(), 0xfffe, (-7.25f64).to_bits(), 1, 0.1f64.to_bits(),
              (-1e-310f64).to_bits(), i64::MAX - 9, 3.0f64.to_bits())],
            "{floats_name}: arguments"
        );

        // A Thunk and a ThunkOnce for the same shapes, answering with what they got.
        let sum = Thunk::<Ints>::new(
            |a: i8, b: f64, c: i16, d: f32, e: i32, f: f64, g: i64, h: f32, i: u8,
             j: *mut c_void, k: f64, l: u64| {
                let _ = (g, j, k, l);
                f64::from(a) + b + f64::from(c) + f64::from(d) + f64::from(e) + f + f64::from(h)
                    + f64::from(i)
            },
        );
        let once = ThunkOnce::<Floats>::new(
            |a: f64, b: i32, c: f32, d: f64, e: f64, f: u16, g: f64, h: f32, i: f64, j: f64,
             k: i64, l: f64| {
                let _ = (a, c, d, h, i, j, k);
                f64::from(b) + e + f64::from(f) + g + l
            },
        );
        // SAFETY: as above.
        unsafe {
            assert_eq!(call_ints(sum.as_fn(), p),
                -100.0 + 1.5 - 30000.0 + 2.25 - 2e9 - 3.125 + 4.5 + 200.0, "{ints_name}: Thunk");
            assert_eq!(call_floats(once.as_fn()),
                f64::from(i32::MIN) + 2.5 + 65534.0 - 7.25 + 3.0, "{floats_name}: ThunkOnce");
        }
    }};
}

// ---- The tests of every arity and ABI -------------------------------------------------------

#[test]
fn every_arity_c() {
    every_arity!(arity_case, "C", "");
}

#[test]
fn every_arity_system() {
    every_arity!(arity_case, "system", "_system");
}

#[test]
fn every_arity_c_unwind() {
    every_arity!(arity_case, "C-unwind", "");
}

#[test]
fn every_arity_system_unwind() {
    every_arity!(arity_case, "system-unwind", "_system");
}

#[cfg(target_arch = "x86_64")]
mod x86_64_conventions {
    use super::*;

    #[test]
    fn every_arity_win64() {
        every_arity!(arity_case, "win64", "_win64");
    }

    #[cfg(not(testlib_no_sysv64))]
    #[test]
    fn every_arity_sysv64() {
        every_arity!(arity_case, "sysv64", "_sysv64");
    }

    #[test]
    fn every_arity_win64_unwind() {
        every_arity!(arity_case, "win64-unwind", "_win64");
    }

    #[cfg(not(testlib_no_sysv64))]
    #[test]
    fn every_arity_sysv64_unwind() {
        every_arity!(arity_case, "sysv64-unwind", "_sysv64");
    }

    #[cfg(not(testlib_no_sysv64))]
    #[test]
    fn frame_path_system_v_six_or_more_integer_args() {
        // Six integers fill rdi..r9: the context goes on the stack, after the caller's stack
        // arguments (none with 6, one with 7, six with 12).
        arity_case!("sysv64", "_sysv64", [a0 a1 a2 a3 a4 a5]);
        arity_case!("sysv64", "_sysv64", [a0 a1 a2 a3 a4 a5 a6]);
        arity_case!("sysv64", "_sysv64", [a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 a10 a11]);
        mixed_case!("sysv64", "_sysv64");
    }

    #[test]
    fn frame_path_win64_four_or_more_args() {
        // Four arguments fill the four positional slots; from the fifth on they are on the
        // stack above the 32-byte home area.
        arity_case!("win64", "_win64", [a0 a1 a2 a3]);
        arity_case!("win64", "_win64", [a0 a1 a2 a3 a4]);
        arity_case!("win64", "_win64", [a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 a10 a11]);
        doubles_case!("win64", "_win64", [a0 a1 a2 a3]);
        doubles_case!("win64", "_win64", [a0 a1 a2 a3 a4]);
        doubles_case!("win64", "_win64", [a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 a10 a11]);
        mixed_case!("win64", "_win64");
    }

    #[test]
    fn twelve_doubles_bit_exact_win64() {
        every_arity!(doubles_case, "win64", "_win64");
    }

    #[cfg(not(testlib_no_sysv64))]
    #[test]
    fn twelve_doubles_bit_exact_sysv64() {
        every_arity!(doubles_case, "sysv64", "_sysv64");
    }

    #[test]
    fn mixed_integer_and_float_arguments_win64_and_sysv64() {
        mixed_case!("win64", "_win64");
        #[cfg(not(testlib_no_sysv64))]
        mixed_case!("sysv64", "_sysv64");
    }
}

#[cfg(target_arch = "x86")]
mod x86_conventions {
    use super::*;

    /// A callback with an 8-byte argument among 4-byte ones in each convention, called
    /// repeatedly: a callee-pop mistake corrupts the caller's stack.
    macro_rules! odd_stack_case {
        ($abi:literal, $name:literal) => {{
            type Sig = unsafe extern $abi fn(i32, *mut c_void, i64, i8, f64) -> i64;
            // SAFETY: the declared type is the C function's.
            let caller: unsafe extern "C" fn(Sig, *mut c_void) -> i64 = unsafe { sym($name) };
            let p = core::ptr::without_provenance_mut::<c_void>(usize::MAX - 0x0f0f);
            let expected = (-7, p.addr(), i64::MIN + 3, -128, (-2.5f64).to_bits());
            let mut seen = Vec::new();
            let by_mut = ThunkMut::<Sig>::new(|a: i32, b: *mut c_void, c: i64, d: i8, e: f64| {
                seen.push((a, b.addr(), c, d, e.to_bits()));
                0x1234_5678_9abc_def0_i64
            });
            let by_ref = Thunk::<Sig>::new(|a: i32, b: *mut c_void, c: i64, d: i8, e: f64| {
                i64::from(a) ^ b.addr() as i64 ^ c ^ i64::from(d) ^ e.to_bits() as i64
            });
            let xor = -7 ^ p.addr() as i64 ^ (i64::MIN + 3) ^ -128 ^ (-2.5f64).to_bits() as i64;
            for _ in 0..3 {
                // SAFETY: C calls back once, during the call, while the thunks live.
                unsafe {
                    assert_eq!(caller(by_mut.as_fn(), p), 0x1234_5678_9abc_def0, "{}", $abi);
                    assert_eq!(caller(by_ref.as_fn(), p), xor, "{}", $abi);
                }
            }
            let mut once_seen = None;
            let by_once = ThunkOnce::<Sig>::new(|a: i32, b: *mut c_void, c: i64, d: i8, e: f64| {
                once_seen = Some((a, b.addr(), c, d, e.to_bits()));
                -1
            });
            // SAFETY: as above; called once.
            assert_eq!(unsafe { caller(by_once.as_fn(), p) }, -1, "{}", $abi);
            drop((by_mut, by_once));
            assert_eq!(seen, [expected; 3], "{}", $abi);
            assert_eq!(once_seen, Some(expected), "{}", $abi);
        }};
    }

    // The C library's unsuffixed callers are cdecl on 32-bit x86.
    #[test]
    fn every_arity_cdecl() {
        every_arity!(arity_case, "cdecl", "");
    }

    #[test]
    fn every_arity_stdcall() {
        every_arity!(arity_case, "stdcall", "_stdcall");
    }

    #[test]
    fn every_arity_fastcall() {
        every_arity!(arity_case, "fastcall", "_fastcall");
    }

    #[test]
    fn every_arity_thiscall() {
        every_arity!(arity_case, "thiscall", "_thiscall");
    }

    #[test]
    fn every_arity_x86_unwind_conventions() {
        every_arity!(arity_case, "cdecl-unwind", "");
        every_arity!(arity_case, "stdcall-unwind", "_stdcall");
        every_arity!(arity_case, "fastcall-unwind", "_fastcall");
        every_arity!(arity_case, "thiscall-unwind", "_thiscall");
    }

    #[test]
    fn frame_path_cdecl() {
        // cdecl: the caller pops, so the context cannot be slipped in; a frame adapter copies
        // the arguments and appends it.
        arity_case!("cdecl", "", []);
        arity_case!("cdecl", "", [a0]);
        arity_case!("cdecl", "", [a0 a1 a2 a3 a4 a5]);
        arity_case!("cdecl", "", [a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 a10 a11]);
        arity_case!("C", "", [a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 a10 a11]);
        odd_stack_case!("cdecl", "tl_call_x86_plain_cdecl");
    }

    #[test]
    fn frame_path_fastcall_and_thiscall_with_registers_taken() {
        // fastcall with ecx and edx taken, thiscall with ecx taken: the context goes on the
        // stack and the callee pops one word more than the caller pushed.
        arity_case!("fastcall", "_fastcall", [a0 a1]);
        arity_case!("fastcall", "_fastcall", [a0 a1 a2]);
        arity_case!("thiscall", "_thiscall", [a0]);
        arity_case!("thiscall", "_thiscall", [a0 a1 a2]);
    }

    #[test]
    fn twelve_doubles_bit_exact_x86_conventions() {
        every_arity!(doubles_case, "cdecl", "");
        every_arity!(doubles_case, "stdcall", "_stdcall");
        every_arity!(doubles_case, "fastcall", "_fastcall");
        every_arity!(doubles_case, "thiscall", "_thiscall");
    }

    #[test]
    fn callee_pop_conventions_with_odd_stack_sizes() {
        odd_stack_case!("stdcall", "tl_call_x86_plain_stdcall");
        odd_stack_case!("fastcall", "tl_call_x86_plain_fastcall");
        odd_stack_case!("thiscall", "tl_call_x86_plain_thiscall");
        odd_stack_case!("cdecl", "tl_call_x86_plain_cdecl");
        odd_stack_case!("stdcall-unwind", "tl_call_x86_plain_stdcall");
        odd_stack_case!("cdecl-unwind", "tl_call_x86_plain_cdecl");
    }
}

#[cfg(target_arch = "aarch64")]
#[test]
fn frame_path_aarch64_eight_or_more_integer_args() {
    // x0-x7 hold eight integers: with eight or more the context goes on the stack.
    arity_case!("C", "", [a0 a1 a2 a3 a4 a5 a6]);
    arity_case!("C", "", [a0 a1 a2 a3 a4 a5 a6 a7]);
    arity_case!("C", "", [a0 a1 a2 a3 a4 a5 a6 a7 a8]);
    arity_case!("C", "", [a0 a1 a2 a3 a4 a5 a6 a7 a8 a9]);
    arity_case!("C", "", [a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 a10]);
    arity_case!("C", "", [a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 a10 a11]);
    mixed_case!("C", "");
}

#[cfg(all(target_arch = "x86_64", not(windows)))]
#[test]
fn frame_path_c_abi_six_or_more_integer_args() {
    arity_case!("C", "", [a0 a1 a2 a3 a4 a5]);
    arity_case!("C", "", [a0 a1 a2 a3 a4 a5 a6]);
    arity_case!("C-unwind", "", [a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 a10 a11]);
    mixed_case!("C", "");
}

#[cfg(all(target_arch = "x86_64", windows))]
#[test]
fn frame_path_c_abi_four_or_more_args() {
    arity_case!("C", "", [a0 a1 a2 a3]);
    arity_case!("C", "", [a0 a1 a2 a3 a4]);
    arity_case!("system", "_system", [a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 a10 a11]);
    mixed_case!("C", "");
}

#[test]
fn zero_to_twelve_doubles_bit_exact_c() {
    every_arity!(doubles_case, "C", "");
}

#[test]
fn zero_to_twelve_doubles_bit_exact_system() {
    every_arity!(doubles_case, "system", "_system");
}

#[test]
fn mixed_integer_and_float_arguments_spilling_to_the_stack() {
    mixed_case!("C", "");
    mixed_case!("system", "_system");
}

// ---- Every type, as argument and as return -------------------------------------------------

/// For each value: C passes it to a `Thunk` that returns `partner(value)`, and hands that back
/// (checked bit for bit; `partner` is a bijection, so the argument is checked too); then a
/// `ThunkOnce` records the argument it got.
macro_rules! echo_case {
    ($ty:ty, $name:literal, [$($value:expr),* $(,)?], $partner:expr, $bits:expr) => {{
        type Cb = unsafe extern "C" fn($ty) -> $ty;
        // SAFETY: the declared type is the C function's.
        let echo: unsafe extern "C" fn(Cb, $ty) -> $ty =
            unsafe { sym(concat!("tl_echo_plain_", $name)) };
        let partner: fn($ty) -> $ty = $partner;
        let bits = $bits;
        for value in [$($value),*] {
            let thunk = Thunk::<Cb>::new(move |x: $ty| partner(x));
            // SAFETY: C calls back once, during the call, while the thunk lives.
            let back = unsafe { echo(thunk.as_fn(), value) };
            assert_eq!(bits(back), bits(partner(value)), "{}: {value:?}", $name);
            let mut seen = None;
            let once = ThunkOnce::<Cb>::new(|x: $ty| {
                seen = Some(bits(x));
                x
            });
            // SAFETY: as above, once.
            let back = unsafe { echo(once.as_fn(), value) };
            drop(once);
            assert_eq!(bits(back), bits(value), "{}: {value:?} through ThunkOnce", $name);
            assert_eq!(seen, Some(bits(value)), "{}: {value:?} as argument", $name);
        }
    }};
    ($ty:ty, $name:literal, [$($value:expr),* $(,)?], $partner:expr) => {
        echo_case!($ty, $name, [$($value),*], $partner, |x: $ty| x)
    };
}

#[test]
fn every_integer_width_with_edge_values() {
    echo_case!(i8, "i8", [0, 1, -1, i8::MIN, i8::MAX], |x| !x);
    echo_case!(u8, "u8", [0, 1, 0x80, u8::MAX], |x| !x);
    echo_case!(i16, "i16", [0, -1, i16::MIN, i16::MAX, 0x80], |x| !x);
    echo_case!(u16, "u16", [0, 0x8000, u16::MAX], |x| !x);
    echo_case!(i32, "i32", [0, -1, i32::MIN, i32::MAX], |x| !x);
    echo_case!(u32, "u32", [0, 0x8000_0000, u32::MAX], |x| !x);
    echo_case!(
        i64,
        "i64",
        [0, -1, i64::MIN, i64::MAX, 0x1_0000_0000],
        |x| !x
    );
    echo_case!(
        u64,
        "u64",
        [0, u64::MAX, 0x8000_0000_0000_0001, 0xffff_ffff],
        |x| !x
    );
    echo_case!(isize, "isize", [0, -1, isize::MIN, isize::MAX], |x| !x);
    echo_case!(
        usize,
        "usize",
        [0, usize::MAX, 1 << (usize::BITS - 1)],
        |x| !x
    );
    echo_case!(bool, "bool", [false, true], |x| !x);
}

#[test]
fn floats_with_nan_payloads_signed_zeros_and_subnormals() {
    echo_case!(
        f32,
        "f32",
        [
            0.0,
            -0.0,
            f32::from_bits(0x7fc0_1234),
            f32::from_bits(0xffc0_0001),
            f32::from_bits(1),
            f32::MAX,
            f32::NEG_INFINITY
        ],
        |x| f32::from_bits(x.to_bits() ^ 0x8000_0000),
        |x: f32| x.to_bits()
    );
    echo_case!(
        f64,
        "f64",
        [
            0.0,
            -0.0,
            f64::from_bits(0x7ff8_0000_dead_beef),
            f64::from_bits(0xfff8_0000_0000_0001),
            f64::from_bits(1),
            f64::MIN,
            f64::INFINITY
        ],
        |x| f64::from_bits(x.to_bits() ^ 0x8000_0000_0000_0000),
        |x: f64| x.to_bits()
    );
}

#[test]
fn pointers_with_high_bits() {
    echo_case!(
        *mut c_void,
        "ptr",
        [
            core::ptr::null_mut(),
            core::ptr::without_provenance_mut(1),
            core::ptr::without_provenance_mut(usize::MAX),
            core::ptr::without_provenance_mut(usize::MAX / 3),
            core::ptr::without_provenance_mut(1 << (usize::BITS - 1)),
        ],
        |x| x.wrapping_byte_add(8),
        |x: *mut c_void| x.addr()
    );
}

/// Small integers returned by a thunk and widened to 64 bits by C: a callee returning the
/// wrong width or extension shows here.
macro_rules! widen_case {
    ($ty:ty, $name:literal, [$($value:expr),*]) => {{
        type Cb = unsafe extern "C" fn($ty) -> $ty;
        // SAFETY: the declared type is the C function's.
        let widen: unsafe extern "C" fn(Cb, $ty) -> i64 =
            unsafe { sym(concat!("tl_widen_plain_", $name)) };
        for value in [$($value),*] {
            let thunk = Thunk::<Cb>::new(|x: $ty| x);
            // SAFETY: C calls back once, during the call, while the thunk lives.
            let wide = unsafe { widen(thunk.as_fn(), value) };
            assert_eq!(wide, value as i64, "{}: {value:?} widened", $name);
        }
    }};
}

#[test]
fn small_integer_returns_are_extended_as_c_expects() {
    widen_case!(i8, "i8", [-1, i8::MIN, i8::MAX]);
    widen_case!(u8, "u8", [0xff, 0x80]);
    widen_case!(i16, "i16", [-1, i16::MIN]);
    widen_case!(u16, "u16", [0xffff, 0x8000]);
    widen_case!(i32, "i32", [-1, i32::MIN]);
    widen_case!(u32, "u32", [u32::MAX, 0x8000_0000]);
    widen_case!(bool, "bool", [true, false]);
}

#[test]
fn unit_return_and_no_arguments() {
    type Cb = unsafe extern "C" fn();
    // SAFETY: the declared type is the C function's.
    let call_void: unsafe extern "C" fn(Cb, i32) -> i32 = unsafe { sym("tl_call_void_plain") };
    let mut calls = 0;
    let by_mut = ThunkMut::<Cb>::new(|| calls += 1);
    // SAFETY: C calls back during the call, on this thread, while the thunk lives.
    assert_eq!(unsafe { call_void(by_mut.as_fn(), 5) }, 5);
    drop(by_mut);
    assert_eq!(calls, 5);
    let hits = Cell::new(0);
    let by_ref = Thunk::<Cb>::new(|| hits.set(hits.get() + 1));
    // SAFETY: as above.
    assert_eq!(unsafe { call_void(by_ref.as_fn(), 3) }, 3);
    assert_eq!(hits.get(), 3);
    let once = ThunkOnce::<Cb>::new(|| hits.set(hits.get() + 100));
    // SAFETY: as above, once.
    assert_eq!(unsafe { call_void(once.as_fn(), 1) }, 1);
    assert_eq!(hits.get(), 103);
}

/// A handle type: a `#[repr(transparent)]` wrapper of a pointer.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq)]
struct Handle(core::ptr::NonNull<u8>);

// SAFETY: `Handle` is a `#[repr(transparent)]` wrapper of a `NonNull`.
unsafe impl trampoline::AbiType for Handle {
    const CLASS: trampoline::AbiClass = trampoline::AbiClass::of::<core::ptr::NonNull<u8>>();
}

#[test]
fn references_handles_and_function_pointers_as_pointer_arguments() {
    fn references<'a>(x: &'a u64, other: &'a u64) {
        type Cb<'a> = unsafe extern "C" fn(Option<&'a u64>) -> Option<&'a u64>;
        // SAFETY: `tl_echo_plain_ptr` takes `void *(*)(void *)` and a `void *`, which is
        // how `Option<&u64>` is passed.
        let echo: unsafe extern "C" fn(Cb<'a>, Option<&'a u64>) -> Option<&'a u64> =
            unsafe { sym("tl_echo_plain_ptr") };
        let swap = Thunk::<Cb<'a>>::new(move |p: Option<&'a u64>| match p {
            Some(v) if *v == 7 => None,
            Some(_) => Some(other),
            None => Some(other),
        });
        // SAFETY: C calls back once per call while the thunk lives.
        unsafe {
            assert_eq!(echo(swap.as_fn(), Some(&7)), None);
            assert!(core::ptr::eq(echo(swap.as_fn(), Some(x)).unwrap(), other));
            assert!(core::ptr::eq(echo(swap.as_fn(), None).unwrap(), other));
        }
    }
    references(&1, &2);

    type HandleCb = unsafe extern "C" fn(Handle) -> Handle;
    // SAFETY: as above: a `Handle` is passed as a `void *`.
    let echo: unsafe extern "C" fn(HandleCb, Handle) -> Handle =
        unsafe { sym("tl_echo_plain_ptr") };
    let mut byte = 5u8;
    let handle = Handle(core::ptr::NonNull::from(&mut byte));
    let mut seen = None;
    let next = ThunkMut::<HandleCb>::new(|h: Handle| {
        seen = Some(h);
        Handle(core::ptr::NonNull::new(h.0.as_ptr().wrapping_add(1)).unwrap())
    });
    // SAFETY: as above.
    let back = unsafe { echo(next.as_fn(), handle) };
    drop(next);
    assert_eq!(back.0.as_ptr(), handle.0.as_ptr().wrapping_add(1));
    assert_eq!(seen, Some(handle));

    // A thunk handed another thunk's pointer, which it calls.
    type Inner = unsafe extern "C" fn(isize) -> isize;
    type Outer = unsafe extern "C" fn(Option<Inner>) -> Option<Inner>;
    // SAFETY: as above: a function pointer is passed as a `void *`.
    let echo: unsafe extern "C" fn(Outer, Option<Inner>) -> Option<Inner> =
        unsafe { sym("tl_echo_plain_ptr") };
    let inner = Thunk::<Inner>::new(|x: isize| x * 3);
    let got = Cell::new(0);
    let outer = Thunk::<Outer>::new(|f: Option<Inner>| {
        // SAFETY: `f` is `inner`'s pointer, alive for the whole call.
        got.set(unsafe { f.unwrap()(14) });
        f
    });
    // SAFETY: as above.
    let back = unsafe { echo(outer.as_fn(), Some(inner.as_fn())) };
    assert_eq!(got.get(), 42);
    assert_eq!(back.map(|f| f as usize), Some(inner.as_fn() as usize));
}

// ---- Real C API shapes: threads, re-entrancy, registered callbacks ---------------------------

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

// ---- Real OS APIs with no user-data slot -------------------------------------------------------

type Cmp = unsafe extern "C" fn(*const c_void, *const c_void) -> i32;

// The C runtime's own qsort and bsearch: glibc on Linux, msvcrt under Windows (or wine).
unsafe extern "C" {
    fn qsort(base: *mut c_void, n: usize, size: usize, cmp: Cmp);
    fn bsearch(
        key: *const c_void,
        base: *const c_void,
        n: usize,
        size: usize,
        cmp: Cmp,
    ) -> *mut c_void;
}

/// Deterministic pseudo-random values, so a failure can be replayed.
fn scrambled(n: usize) -> Vec<i32> {
    let mut x = 0x2545_f491_u32;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x % 100_000) as i32 - 50_000
        })
        .collect()
}

#[test]
fn c_runtime_qsort_and_bsearch() {
    let mut values = scrambled(1000);
    let mut expected = values.clone();
    expected.sort_by(|a, b| b.cmp(a));
    let mut calls = 0usize;
    let descending = ThunkMut::<Cmp>::new(|a: *const c_void, b: *const c_void| {
        calls += 1;
        // SAFETY: qsort passes pointers to two elements.
        let (a, b) = unsafe { (*a.cast::<i32>(), *b.cast::<i32>()) };
        b.cmp(&a) as i32
    });
    // SAFETY: `descending` compares i32s and outlives the call.
    unsafe {
        qsort(
            values.as_mut_ptr().cast(),
            values.len(),
            4,
            descending.as_fn(),
        )
    };
    drop(descending);
    assert_eq!(values, expected);
    assert!(calls >= 999, "qsort compared {calls} times");

    let probes = Cell::new(0usize);
    let by_ref = Thunk::<Cmp>::new(|key: *const c_void, element: *const c_void| {
        probes.set(probes.get() + 1);
        // SAFETY: bsearch passes the key and an element, both i32.
        let (key, element) = unsafe { (*key.cast::<i32>(), *element.cast::<i32>()) };
        element.cmp(&key) as i32
    });
    for &key in values.iter().step_by(97) {
        // SAFETY: as above.
        let found = unsafe {
            bsearch(
                (&raw const key).cast(),
                values.as_ptr().cast(),
                values.len(),
                4,
                by_ref.as_fn(),
            )
        };
        assert!(!found.is_null(), "{key} is in the array");
        // SAFETY: bsearch returns a pointer into `values`.
        assert_eq!(unsafe { *found.cast::<i32>() }, key);
    }
    let absent = 1_000_000;
    // SAFETY: as above.
    let found = unsafe {
        bsearch(
            (&raw const absent).cast(),
            values.as_ptr().cast(),
            values.len(),
            4,
            by_ref.as_fn(),
        )
    };
    assert!(found.is_null());
    assert!(probes.get() >= 11, "bsearch probed {} times", probes.get());
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use super::*;
    use core::ffi::{c_char, c_int};
    use std::ffi::{CStr, CString};
    use std::path::Path;

    #[repr(C)]
    struct Ftw {
        base: c_int,
        level: c_int,
    }
    type NftwFn = unsafe extern "C" fn(*const c_char, *const c_void, c_int, *mut Ftw) -> c_int;
    type Action = unsafe extern "C" fn(*const c_void, c_int, c_int);
    type FreeNode = unsafe extern "C" fn(*mut c_void);

    const FTW_F: c_int = 0;
    const FTW_D: c_int = 1;
    const FTW_PHYS: c_int = 1;
    // VISIT
    const POSTORDER: c_int = 1;
    const LEAF: c_int = 3;

    unsafe extern "C" {
        fn nftw(dir: *const c_char, f: NftwFn, nopenfd: c_int, flags: c_int) -> c_int;
        fn tsearch(key: *const c_void, root: *mut *mut c_void, cmp: Cmp) -> *mut c_void;
        fn tfind(key: *const c_void, root: *const *mut c_void, cmp: Cmp) -> *mut c_void;
        fn twalk(root: *const c_void, action: Action);
        fn tdestroy(root: *mut c_void, free_node: FreeNode);
    }

    /// A directory tree of our own, removed when dropped.
    struct TempTree(std::path::PathBuf);
    impl Drop for TempTree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn nftw_walks_a_directory_tree() {
        let root = std::env::temp_dir().join(format!("trampoline-nftw-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let tree = TempTree(root.clone());
        std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
        for file in ["a.txt", "sub/b.txt", "sub/deeper/c.txt", "sub/deeper/d.txt"] {
            std::fs::write(root.join(file), file).unwrap();
        }
        let root_c = CString::new(root.to_str().unwrap()).unwrap();
        let mut seen = Vec::new();
        let visit = ThunkMut::<NftwFn>::new(
            |path: *const c_char, _stat: *const c_void, flag: c_int, ftw: *mut Ftw| {
                // SAFETY: nftw passes a C string and its FTW record.
                let (path, level) = unsafe { (CStr::from_ptr(path), (*ftw).level) };
                let path = Path::new(path.to_str().unwrap());
                let relative = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                seen.push((relative, flag, level));
                0
            },
        );
        // SAFETY: `visit` outlives the call and matches nftw's callback type.
        let status = unsafe { nftw(root_c.as_ptr(), visit.as_fn(), 8, FTW_PHYS) };
        drop(visit);
        assert_eq!(status, 0);
        seen.sort();
        let expected = [
            ("", FTW_D, 0),
            ("a.txt", FTW_F, 1),
            ("sub", FTW_D, 1),
            ("sub/b.txt", FTW_F, 2),
            ("sub/deeper", FTW_D, 2),
            ("sub/deeper/c.txt", FTW_F, 3),
            ("sub/deeper/d.txt", FTW_F, 3),
        ]
        .map(|(p, f, l)| (p.to_owned(), f, l));
        assert_eq!(seen, expected);

        // A non-zero return stops the walk, and nftw returns it.
        let mut calls = 0;
        let stop = ThunkMut::<NftwFn>::new(
            |_: *const c_char, _: *const c_void, _: c_int, _: *mut Ftw| {
                calls += 1;
                if calls == 3 { 42 } else { 0 }
            },
        );
        // SAFETY: as above.
        let status = unsafe { nftw(root_c.as_ptr(), stop.as_fn(), 8, FTW_PHYS) };
        drop(stop);
        assert_eq!((status, calls), (42, 3));
        drop(tree);
    }

    #[test]
    fn tsearch_twalk_and_tdestroy() {
        let values = scrambled(200);
        let mut compares = 0usize;
        let cmp = ThunkMut::<Cmp>::new(|a: *const c_void, b: *const c_void| {
            compares += 1;
            // SAFETY: the tree holds pointers to elements of `values`.
            let (a, b) = unsafe { (*a.cast::<i32>(), *b.cast::<i32>()) };
            a.cmp(&b) as i32
        });
        let mut root: *mut c_void = core::ptr::null_mut();
        // SAFETY: the keys point into `values`, which outlives the tree; `cmp` outlives the
        // calls.
        unsafe {
            for v in &values {
                assert!(!tsearch((v as *const i32).cast(), &mut root, cmp.as_fn()).is_null());
            }
            let probe = values[17];
            let node = tfind((&raw const probe).cast(), &root, cmp.as_fn());
            assert_eq!(**node.cast::<*const i32>(), probe);
        }
        drop(cmp);
        assert!(compares > 200);

        let mut in_order = Vec::new();
        let mut deepest = 0;
        let walk = ThunkMut::<Action>::new(|node: *const c_void, which: c_int, depth: c_int| {
            deepest = deepest.max(depth);
            if which == POSTORDER || which == LEAF {
                // SAFETY: a node starts with its key pointer.
                in_order.push(unsafe { **node.cast::<*const i32>() });
            }
        });
        // SAFETY: `root` is a valid tree; `walk` outlives the call.
        unsafe { twalk(root, walk.as_fn()) };
        drop(walk);
        let mut expected = values.clone();
        expected.sort();
        expected.dedup();
        assert_eq!(in_order, expected);
        assert!(deepest >= 7, "a balanced tree of {} keys", expected.len());

        let mut freed = HashSet::new();
        let free_node = ThunkMut::<FreeNode>::new(|key: *mut c_void| {
            freed.insert(key as usize);
        });
        // SAFETY: frees the tree's nodes; the keys themselves belong to `values`.
        unsafe { tdestroy(root, free_node.as_fn()) };
        drop(free_node);
        assert_eq!(freed.len(), expected.len(), "one call per node");
    }
}

#[cfg(windows)]
mod windows_api {
    use super::*;

    type EnumProc = unsafe extern "system" fn(*mut u16) -> i32;
    const LCID_INSTALLED: u32 = 1;
    const CP_INSTALLED: u32 = 1;

    #[link(name = "kernel32")]
    unsafe extern "system" {
        fn EnumSystemLocalesW(proc_: EnumProc, flags: u32) -> i32;
        fn EnumSystemCodePagesW(proc_: EnumProc, flags: u32) -> i32;
    }

    /// The NUL-terminated UTF-16 string at `p`.
    unsafe fn wide(p: *const u16) -> String {
        let mut n = 0;
        // SAFETY: the caller passes a NUL-terminated string.
        unsafe {
            while *p.add(n) != 0 {
                n += 1;
            }
            String::from_utf16(core::slice::from_raw_parts(p, n)).unwrap()
        }
    }

    #[test]
    fn enum_system_locales_and_code_pages() {
        let mut locales = Vec::new();
        let collect = ThunkMut::<EnumProc>::new(|name: *mut u16| {
            // SAFETY: Windows passes a NUL-terminated locale id.
            locales.push(unsafe { wide(name) });
            1
        });
        // SAFETY: `collect` outlives the call.
        assert_ne!(
            unsafe { EnumSystemLocalesW(collect.as_fn(), LCID_INSTALLED) },
            0
        );
        drop(collect);
        assert!(locales.len() > 3, "{locales:?}");
        assert!(
            locales
                .iter()
                .all(|l| !l.is_empty() && u32::from_str_radix(l, 16).is_ok())
        );
        // English (United States) is always there.
        assert!(
            locales
                .iter()
                .any(|l| u32::from_str_radix(l, 16) == Ok(0x409)),
            "{locales:?}"
        );

        // Returning FALSE stops the enumeration.
        let calls = Cell::new(0);
        let stop = Thunk::<EnumProc>::new(|_: *mut u16| {
            calls.set(calls.get() + 1);
            (calls.get() < 3) as i32
        });
        // SAFETY: as above.
        unsafe { EnumSystemLocalesW(stop.as_fn(), LCID_INSTALLED) };
        assert_eq!(calls.get(), 3);

        let mut pages = Vec::new();
        let collect = ThunkMut::<EnumProc>::new(|name: *mut u16| {
            // SAFETY: Windows passes a NUL-terminated code page number.
            pages.push(unsafe { wide(name) }.parse::<u32>().unwrap());
            1
        });
        // SAFETY: as above.
        assert_ne!(
            unsafe { EnumSystemCodePagesW(collect.as_fn(), CP_INSTALLED) },
            0
        );
        drop(collect);
        assert!(pages.contains(&65001) || pages.contains(&1252), "{pages:?}");
    }
}

// ---- Ownership: leak, pointers, Debug, drops ----------------------------------------------------

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

// ---- Panics out of `-unwind` thunks ------------------------------------------------------------

#[cfg(panic = "unwind")]
mod unwinding {
    use super::*;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    type Cb = unsafe extern "C-unwind" fn(isize) -> isize;
    use crate::common::Cb12Unwind as Cb12;

    /// Panics in a `ThunkMut` and a `ThunkOnce` called through `call`, caught outside it.
    fn panics_in_one_argument_thunks(call: &dyn Fn(Cb, isize) -> isize) {
        let mut calls = 0;
        let by_mut = ThunkMut::<Cb>::new(|x: isize| {
            calls += 1;
            if x < 0 {
                panic!("negative: {x}");
            }
            x
        });
        let f = by_mut.as_fn();
        let outcome = catch_unwind(AssertUnwindSafe(|| call(f, -3)));
        assert_eq!(common::panic_text(outcome.unwrap_err()), "negative: -3");
        // The panic left the thunk usable: an FnMut thunk is not stuck "busy".
        assert_eq!(call(f, 5), 5);
        drop(by_mut);
        assert_eq!(calls, 2);

        // ThunkOnce: the panicking call consumed the closure and dropped its captures.
        let drops = Rc::new(Cell::new(0));
        let counter = DropCount(drops.clone());
        let once = ThunkOnce::<Cb>::new(move |x: isize| -> isize {
            let _counter = counter;
            panic!("once: {x}")
        });
        let f = once.as_fn();
        let outcome = catch_unwind(AssertUnwindSafe(|| call(f, 9)));
        assert_eq!(common::panic_text(outcome.unwrap_err()), "once: 9");
        assert_eq!(drops.get(), 1);
        drop(once);
        assert_eq!(drops.get(), 1);
    }

    /// A panic with a frame adapter on the stack, caught outside `call`.
    fn panics_through_a_frame_adapter(call: &dyn Fn(Cb12, &[isize; 12]) -> isize) {
        let thunk = Thunk::<Cb12>::new(
            |a: isize,
             _: isize,
             _: isize,
             _: isize,
             _: isize,
             _: isize,
             _: isize,
             _: isize,
             _: isize,
             _: isize,
             _: isize,
             l: isize| {
                if a < 0 {
                    panic!("frame: {l}");
                }
                a + l
            },
        );
        let mut args = [0isize; 12];
        args[0] = -1;
        args[11] = 12;
        let f = thunk.as_fn();
        let outcome = catch_unwind(AssertUnwindSafe(|| call(f, &args)));
        assert_eq!(common::panic_text(outcome.unwrap_err()), "frame: 12");
        args[0] = 30;
        assert_eq!(call(f, &args), 42, "the frame was unwound cleanly");
    }

    #[test]
    fn panics_unwind_out_of_thunks_called_from_rust() {
        // SAFETY: the thunks are alive during the calls.
        panics_in_one_argument_thunks(&|f, x| unsafe { f(x) });
        // SAFETY: as above.
        panics_through_a_frame_adapter(&|f, a| unsafe {
            f(
                a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11],
            )
        });
    }

    // On 32-bit MinGW (DWARF unwinding) the C library is a DLL whose unwind tables are
    // registered with its own copy of libgcc's unwinder, which the Rust executable's unwinder
    // never sees: no panic can cross its frames, with or without a thunk (a `UserData`
    // callback fails the same way). Rust-to-thunk unwinding is tested above. 32-bit MSVC
    // unwinds through the chain of handler registrations on the stack, which C frames and
    // frame adapters leave alone: there it works.
    #[cfg(not(all(windows, target_arch = "x86", target_env = "gnu")))]
    #[test]
    fn panics_unwind_through_c_frames() {
        // SAFETY: the declared types are the C functions'; the C library is built with
        // unwind tables.
        let call1: unsafe extern "C-unwind" fn(Cb, *const isize) -> isize =
            unsafe { sym("tl_call_i1") };
        // SAFETY: C calls the thunk once, during the call, while it lives.
        panics_in_one_argument_thunks(&|f, x| unsafe { call1(f, &x) });
        {
            // SAFETY: as above.
            let call12: unsafe extern "C-unwind" fn(Cb12, *const isize) -> isize =
                unsafe { sym("tl_call_i12") };
            // SAFETY: as above.
            panics_through_a_frame_adapter(&|f, a| unsafe { call12(f, a.as_ptr()) });
        }
    }
}
