//! What the benches share: the C test library's loop drivers, and every variant measured, set
//! up the same way for criterion (`callbacks.rs`), callgrind (`instructions.rs`) and the memory
//! table (`memory.rs`).
//!
//! Every callback is called by a loop that runs in C (`tl_loop*` in `csrc/testlib.c`), so the
//! caller is real C code that knows nothing of Rust. Every closure captures state (`k` or `i`),
//! as a real callback does (a closure without state would also let closure-ffi skip its
//! thunk); the plain functions read the same value from a static, so every variant of a shape
//! runs the same body.

use core::ffi::c_void;
use std::hint::black_box;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use closure_ffi::BareFnMut;
#[cfg(feature = "libffi")]
use libffi::high::{ClosureMut1, ClosureMut6};
#[cfg(feature = "libffi")]
use libffi::low;
#[cfg(feature = "libffi")]
use libffi::middle::{Cif, Type};
use libloading::Library;
use trampoline::{Thunk, ThunkMut, UserData, ud};

pub type Cb1 = unsafe extern "C" fn(i64) -> i64;
pub type Cb1Ud = unsafe extern "C" fn(i64, *mut c_void) -> i64;
pub type Cb6 = unsafe extern "C" fn(i64, f64, i64, f64, i64, f64) -> f64;
pub type Cb6Ud = unsafe extern "C" fn(i64, f64, i64, f64, i64, f64, *mut c_void) -> f64;
pub type Cb6i = unsafe extern "C" fn(i64, i64, i64, i64, i64, i64) -> i64;

/// The C test library's loop drivers: each calls `cb` `n` times and sums the results.
pub struct Clib {
    _lib: Library,
    pub loop1: unsafe extern "C" fn(Cb1, i64) -> i64,
    pub loop1_ud: unsafe extern "C" fn(Cb1Ud, *mut c_void, i64) -> i64,
    pub loop6: unsafe extern "C" fn(Cb6, i64) -> f64,
    pub loop6_ud: unsafe extern "C" fn(Cb6Ud, *mut c_void, i64) -> f64,
    pub loop6i: unsafe extern "C" fn(Cb6i, i64) -> i64,
}

pub fn clib() -> Clib {
    // An unknown store, so that the compiler cannot fold the plain functions' loads of K.
    K.store(black_box(1), Ordering::Relaxed);
    KF.store(black_box(1.0f64).to_bits(), Ordering::Relaxed);
    // SAFETY: the test library has no initialisation with preconditions, and the declared
    // types are its functions' types (csrc/testlib.c).
    unsafe {
        let lib = Library::new(trampoline::TEST_CLIB).expect("load the C test library");
        Clib {
            loop1: *lib.get(b"tl_loop1").unwrap(),
            loop1_ud: *lib.get(b"tl_loop1_ud").unwrap(),
            loop6: *lib.get(b"tl_loop6").unwrap(),
            loop6_ud: *lib.get(b"tl_loop6_ud").unwrap(),
            loop6i: *lib.get(b"tl_loop6i").unwrap(),
            _lib: lib,
        }
    }
}

/// The state every closure captures (`k`), read by the plain functions from here, so that
/// a plain function does the same work as the closures: the difference is the mechanism.
static K: AtomicI64 = AtomicI64::new(1);
static KF: AtomicU64 = AtomicU64::new(0x3ff0_0000_0000_0000); // 1.0

fn k() -> i64 {
    K.load(Ordering::Relaxed)
}

fn kf() -> f64 {
    f64::from_bits(KF.load(Ordering::Relaxed))
}

pub extern "C" fn plain1(x: i64) -> i64 {
    x + k()
}

pub extern "C" fn plain6(a: i64, b: f64, c: i64, d: f64, e: i64, f: f64) -> f64 {
    a as f64 + b + c as f64 + d + e as f64 + f * kf()
}

pub extern "C" fn plain6i(a: i64, b: i64, c: i64, d: i64, e: i64, f: i64) -> i64 {
    a + b + c + d + e + f * k()
}

/// What `with_call` and `with_create` hand their set-up callback to: a function that runs the
/// operation `n` times.
pub type Measure<'a> = &'a mut dyn FnMut(&mut dyn FnMut(u64));

/// Call variants: name, what it is. The name's suffix is the shape: `-1` one integer, `-6`
/// six mixed integers and doubles (three of each, alternating), `-6i` six integers (on System
/// V no register is left for a thunk's context: the frame path).
pub const CALLS: &[(&str, &str)] = &[
    ("plain-1", "plain extern \"C\" fn (the floor)"),
    ("userdata-1", "trampoline::UserData (user-data trampoline)"),
    ("thunk-1", "trampoline::Thunk (Fn), register path"),
    ("thunkmut-1", "trampoline::ThunkMut (FnMut), register path"),
    (
        "thunkmut-send-1",
        "trampoline::ThunkMut, threads::Send (a locked swap per call)",
    ),
    ("closure-ffi-1", "closure_ffi::BareFnMut"),
    ("libffi-1", "libffi::high::ClosureMut1"),
    ("plain-6", "plain extern \"C\" fn (the floor)"),
    ("userdata-6", "trampoline::UserData"),
    ("thunk-6", "trampoline::Thunk, register path"),
    ("closure-ffi-6", "closure_ffi::BareFnMut"),
    ("libffi-6", "libffi::high::ClosureMut6"),
    ("plain-6i", "plain extern \"C\" fn (the floor)"),
    ("thunk-6i", "trampoline::Thunk, frame path"),
    ("closure-ffi-6i", "closure_ffi::BareFnMut"),
    ("libffi-6i", "libffi::high::ClosureMut6"),
];

/// Sets up the callback of call variant `variant`, then hands `measure` a function that runs
/// the C loop over it `n` times.
pub fn with_call(c: &Clib, variant: &str, measure: Measure) {
    let k = k();
    let kf = kf();
    let n = |n: u64| i64::try_from(n).expect("iteration count");
    // SAFETY: for every call below, the callback outlives the C loop that calls it, on this
    // thread, and has the type the loop declares; a transmuted libffi code pointer has the
    // type its CIF describes.
    unsafe {
        match variant {
            "plain-1" => measure(&mut |i| {
                black_box((c.loop1)(plain1, n(i)));
            }),
            "userdata-1" => {
                let f = move |x: i64| x + k;
                let cb = UserData::<Cb1Ud, ud::Last>::new_sync(&f);
                measure(&mut |i| {
                    black_box((c.loop1_ud)(cb.func(), cb.data(), n(i)));
                })
            }
            "thunk-1" => {
                let t = Thunk::<Cb1>::new(move |x: i64| x + k);
                measure(&mut |i| {
                    black_box((c.loop1)(t.as_fn(), n(i)));
                })
            }
            "thunkmut-1" => {
                let t = ThunkMut::<Cb1>::new(move |x: i64| x + k);
                measure(&mut |i| {
                    black_box((c.loop1)(t.as_fn(), n(i)));
                })
            }
            "thunkmut-send-1" => {
                let t = ThunkMut::<Cb1, trampoline::threads::Send>::new(move |x: i64| x + k);
                measure(&mut |i| {
                    black_box((c.loop1)(t.as_fn(), n(i)));
                })
            }
            "closure-ffi-1" => {
                let t = BareFnMut::<Cb1>::new(move |x: i64| x + k);
                measure(&mut |i| {
                    black_box((c.loop1)(t.bare(), n(i)));
                })
            }
            #[cfg(feature = "libffi")]
            "libffi-1" => {
                let mut f = move |x: i64| x + k;
                let closure = ClosureMut1::new(&mut f);
                let cb: Cb1 = core::mem::transmute(*closure.code_ptr());
                measure(&mut |i| {
                    black_box((c.loop1)(cb, n(i)));
                })
            }
            "plain-6" => measure(&mut |i| {
                black_box((c.loop6)(plain6, n(i)));
            }),
            "userdata-6" => {
                let f = move |a: i64, b: f64, c: i64, d: f64, e: i64, f: f64| {
                    a as f64 + b + c as f64 + d + e as f64 + f * kf
                };
                let cb = UserData::<Cb6Ud, ud::Last>::new_sync(&f);
                measure(&mut |i| {
                    black_box((c.loop6_ud)(cb.func(), cb.data(), n(i)));
                })
            }
            "thunk-6" => {
                let t = Thunk::<Cb6>::new(move |a: i64, b: f64, c: i64, d: f64, e: i64, f: f64| {
                    a as f64 + b + c as f64 + d + e as f64 + f * kf
                });
                measure(&mut |i| {
                    black_box((c.loop6)(t.as_fn(), n(i)));
                })
            }
            "closure-ffi-6" => {
                let t =
                    BareFnMut::<Cb6>::new(move |a: i64, b: f64, c: i64, d: f64, e: i64, f: f64| {
                        a as f64 + b + c as f64 + d + e as f64 + f * kf
                    });
                measure(&mut |i| {
                    black_box((c.loop6)(t.bare(), n(i)));
                })
            }
            #[cfg(feature = "libffi")]
            "libffi-6" => {
                let mut f = move |a: i64, b: f64, c: i64, d: f64, e: i64, f: f64| {
                    a as f64 + b + c as f64 + d + e as f64 + f * kf
                };
                let closure = ClosureMut6::new(&mut f);
                let cb: Cb6 = core::mem::transmute(*closure.code_ptr());
                measure(&mut |i| {
                    black_box((c.loop6)(cb, n(i)));
                })
            }
            "plain-6i" => measure(&mut |i| {
                black_box((c.loop6i)(plain6i, n(i)));
            }),
            "thunk-6i" => {
                let t =
                    Thunk::<Cb6i>::new(move |a: i64, b: i64, c: i64, d: i64, e: i64, f: i64| {
                        a + b + c + d + e + f * k
                    });
                measure(&mut |i| {
                    black_box((c.loop6i)(t.as_fn(), n(i)));
                })
            }
            "closure-ffi-6i" => {
                let t = BareFnMut::<Cb6i>::new(
                    move |a: i64, b: i64, c: i64, d: i64, e: i64, f: i64| a + b + c + d + e + f * k,
                );
                measure(&mut |i| {
                    black_box((c.loop6i)(t.bare(), n(i)));
                })
            }
            #[cfg(feature = "libffi")]
            "libffi-6i" => {
                let mut f =
                    move |a: i64, b: i64, c: i64, d: i64, e: i64, f: i64| a + b + c + d + e + f * k;
                let closure = ClosureMut6::new(&mut f);
                let cb: Cb6i = core::mem::transmute(*closure.code_ptr());
                measure(&mut |i| {
                    black_box((c.loop6i)(cb, n(i)));
                })
            }
            other => panic!("unknown call variant {other}"),
        }
    }
}

/// Whether variant `name` is in this build: the libffi ones need the `libffi` feature.
pub fn built(name: &str) -> bool {
    cfg!(feature = "libffi") || !name.contains("libffi")
}

/// What a harness prints when this build leaves variants out.
pub const LEFT_OUT: Option<&str> = if cfg!(feature = "libffi") {
    None
} else {
    Some("libffi rows: SKIPPED, built without the `libffi` feature (--no-default-features)")
};

/// Create + drop variants, one callback of type `Cb1` each: name, what it is.
pub const CREATES: &[(&str, &str)] = &[
    ("create-thunk", "trampoline::Thunk::new + drop"),
    ("create-thunkmut", "trampoline::ThunkMut::new + drop"),
    ("create-closure-ffi", "closure_ffi::BareFnMut::new + drop"),
    (
        "create-libffi",
        "libffi::high::ClosureMut1::new + drop (builds its CIF each time)",
    ),
    (
        "create-libffi-raw",
        "raw libffi: ffi_closure_alloc + ffi_prep_closure_loc + ffi_closure_free, CIF prepared once",
    ),
];

#[cfg(feature = "libffi")]
/// The callback a raw libffi closure runs: `*result = *args[0] + *userdata`.
unsafe extern "C" fn raw_add(
    _cif: &low::ffi_cif,
    result: &mut i64,
    args: *const *const c_void,
    userdata: &mut i64,
) {
    // SAFETY: libffi passes one argument, an `i64`, as the CIF says.
    *result = unsafe { *(*args).cast::<i64>() } + *userdata;
}

/// Hands `measure` a function that creates and drops `n` callbacks of create variant
/// `variant`, each capturing its own state, after one warm-up creation (which maps the first
/// block, or its equivalent, outside the measured part).
pub fn with_create(variant: &str, measure: Measure) {
    match variant {
        "create-thunk" => {
            drop(Thunk::<Cb1>::new(|x: i64| x));
            measure(&mut |n| {
                for i in 0..n as i64 {
                    let t = Thunk::<Cb1>::new(move |x: i64| x + i);
                    black_box(t.as_fn());
                }
            })
        }
        "create-thunkmut" => {
            drop(ThunkMut::<Cb1>::new(|x: i64| x));
            measure(&mut |n| {
                for i in 0..n as i64 {
                    let t = ThunkMut::<Cb1>::new(move |x: i64| x + i);
                    black_box(t.as_fn());
                }
            })
        }
        "create-closure-ffi" => {
            let z = black_box(0);
            drop(BareFnMut::<Cb1>::new(move |x: i64| x + z));
            measure(&mut |n| {
                for i in 0..n as i64 {
                    let t = BareFnMut::<Cb1>::new(move |x: i64| x + i);
                    black_box(t.bare());
                }
            })
        }
        #[cfg(feature = "libffi")]
        "create-libffi" => {
            let mut f = |x: i64| x;
            drop(ClosureMut1::new(&mut f));
            measure(&mut |n| {
                for i in 0..n as i64 {
                    let mut f = move |x: i64| x + i;
                    let closure = ClosureMut1::new(&mut f);
                    black_box(closure.code_ptr());
                }
            })
        }
        #[cfg(feature = "libffi")]
        "create-libffi-raw" => {
            let cif = Cif::new([Type::i64()], Type::i64());
            let cif = cif.as_raw_ptr();
            let callback: low::CallbackMut<i64, i64> = raw_add;
            // SAFETY: a closure is allocated, prepared with a CIF that outlives it and a
            // callback whose types match that CIF, and freed; it is never called.
            let once = |mut state: i64| unsafe {
                let (closure, code) = low::closure_alloc();
                low::prep_closure_mut(closure, cif, callback, &mut state, code)
                    .expect("ffi_prep_closure_loc");
                black_box(code.as_ptr());
                low::closure_free(closure);
            };
            once(0);
            measure(&mut |n| {
                for i in 0..n as i64 {
                    once(i);
                }
            })
        }
        other => panic!("unknown create variant {other}"),
    }
}

/// A vector with room for `n` values, its memory touched so that it is resident already.
pub fn touched_vec<T>(n: usize) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    // Not zeros: the compiler may turn allocate-then-zero into `calloc`, which leaves fresh
    // pages untouched.
    // SAFETY: writes bytes into the vector's spare capacity, which it owns; the length stays
    // 0, so no value is read from those bytes.
    unsafe {
        v.as_mut_ptr()
            .cast::<u8>()
            .write_bytes(0xa5, n * size_of::<T>())
    };
    v
}

/// Runs this bench binary once per built variant of `variants`, as `--run VARIANT ARGS..`,
/// each in a fresh process (so none inherits another's heap or mappings), printing what each
/// prints; then says which variants this build left out. Fails at the first child that fails.
pub fn run_each_in_a_child(variants: &[(&str, &str)], args: &[String]) -> std::process::ExitCode {
    let exe = std::env::current_exe().expect("own path");
    for (variant, _) in variants.iter().filter(|v| built(v.0)) {
        let output = std::process::Command::new(&exe)
            .args(["--run", variant])
            .args(args)
            .output()
            .expect("run self");
        print!("{}", String::from_utf8_lossy(&output.stdout));
        if !output.status.success() {
            eprintln!("{variant}: {}", String::from_utf8_lossy(&output.stderr));
            return std::process::ExitCode::FAILURE;
        }
    }
    if let Some(left_out) = LEFT_OUT {
        println!("\n{left_out}");
    }
    std::process::ExitCode::SUCCESS
}
