//! Every arity with every ABI and all three thunk kinds; floating point and mixed arguments;
//! the frame path on each target; the x86_64 and x86 conventions.

use super::*;

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
