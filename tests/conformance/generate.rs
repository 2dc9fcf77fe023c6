//! Generator of the ABI conformance suite: matching C and Rust code for many signatures.
//!
//! Used by `build.rs` (which includes this file with `#[path]`), deterministic from a seed.
//! For each signature it writes:
//!
//! - C: `tl_conf_N(cb, msg)` calls `cb` with fixed, distinctive values and checks the return
//!   value bit for bit, writing a message into `msg` on mismatch; `tl_conf_N_ud(cb, ud, msg)`
//!   does the same with a user-data argument inserted at a chosen position; a sample also gets
//!   `tl_conf_N_thread`, which makes the call from a thread it starts.
//! - Rust: `fn sig_N(report: &Report)`, which makes a thunk and a user-data callback whose
//!   closures check every argument bit for bit and return a distinctive value, and runs the C
//!   callers; a sample re-enters the C caller from inside the callback.
//!
//! A failure names the signature, the argument and both bit patterns.

use std::fmt::Write;

#[path = "structs.rs"]
mod structs;
use structs::{STRUCTS, struct_ty};

/// What the generated code targets.
pub struct Target {
    pub arch: String,
    pub pointer_bytes: u8,
    /// Whether the C compiler can declare `sysv64` functions (not cl.exe on Windows x64).
    pub c_has_sysv64: bool,
    /// `target_os`, as cargo says it.
    pub os: String,
    /// `target_vendor`, as cargo says it.
    pub vendor: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Signed,
    Unsigned,
    Bool,
    F32,
    F64,
    Pointer,
    /// A struct of the catalog in `structs.rs`, by index.
    Struct(usize),
    /// A reference to a scalar of `TYPES`, by index: C passes the address of a static
    /// holding the value; the thunk's signature is higher-ranked (`hrtb!`).
    Ref(usize),
}

#[derive(Clone, Copy)]
struct Ty {
    rust: &'static str,
    c: &'static str,
    kind: Kind,
    /// Size in bytes; 0 means pointer-sized.
    size: u8,
}

const TYPES: &[Ty] = &[
    Ty {
        rust: "i8",
        c: "int8_t",
        kind: Kind::Signed,
        size: 1,
    },
    Ty {
        rust: "u8",
        c: "uint8_t",
        kind: Kind::Unsigned,
        size: 1,
    },
    Ty {
        rust: "i16",
        c: "int16_t",
        kind: Kind::Signed,
        size: 2,
    },
    Ty {
        rust: "u16",
        c: "uint16_t",
        kind: Kind::Unsigned,
        size: 2,
    },
    Ty {
        rust: "i32",
        c: "int32_t",
        kind: Kind::Signed,
        size: 4,
    },
    Ty {
        rust: "u32",
        c: "uint32_t",
        kind: Kind::Unsigned,
        size: 4,
    },
    Ty {
        rust: "i64",
        c: "int64_t",
        kind: Kind::Signed,
        size: 8,
    },
    Ty {
        rust: "u64",
        c: "uint64_t",
        kind: Kind::Unsigned,
        size: 8,
    },
    Ty {
        rust: "isize",
        c: "intptr_t",
        kind: Kind::Signed,
        size: 0,
    },
    Ty {
        rust: "usize",
        c: "uintptr_t",
        kind: Kind::Unsigned,
        size: 0,
    },
    Ty {
        rust: "bool",
        c: "bool",
        kind: Kind::Bool,
        size: 1,
    },
    Ty {
        rust: "f32",
        c: "float",
        kind: Kind::F32,
        size: 4,
    },
    Ty {
        rust: "f64",
        c: "double",
        kind: Kind::F64,
        size: 8,
    },
    Ty {
        rust: "*mut c_void",
        c: "void *",
        kind: Kind::Pointer,
        size: 0,
    },
];

fn ty(name: &str) -> Ty {
    if let Some(i) = STRUCTS.iter().position(|s| s.name == name) {
        return struct_ty(i);
    }
    *TYPES.iter().find(|t| t.rust == name).expect("a known type")
}

/// A calling convention: the Rust ABI string and the C attribute for it.
#[derive(Clone, Copy)]
struct Conv {
    rust: &'static str,
    c: &'static str,
}

fn conventions(target: &Target) -> Vec<Conv> {
    let mut convs = vec![
        Conv { rust: "C", c: "" },
        Conv {
            rust: "system",
            c: "TL_SYSTEM",
        },
    ];
    // `-unwind` forms are the same ABI.
    convs.push(Conv {
        rust: "C-unwind",
        c: "",
    });
    match target.arch.as_str() {
        "x86_64" => {
            convs.push(Conv {
                rust: "win64",
                c: "TL_WIN64",
            });
            if target.c_has_sysv64 {
                convs.push(Conv {
                    rust: "sysv64",
                    c: "TL_SYSV64",
                });
            }
        }
        "x86" => {
            convs.push(Conv {
                rust: "cdecl",
                c: "TL_CDECL",
            });
            convs.push(Conv {
                rust: "stdcall",
                c: "TL_STDCALL",
            });
            convs.push(Conv {
                rust: "fastcall",
                c: "TL_FASTCALL",
            });
            convs.push(Conv {
                rust: "thiscall",
                c: "TL_THISCALL",
            });
        }
        _ => {}
    }
    convs
}

/// xorshift64*: small, deterministic, good enough to pick types and values.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A reference to `TYPES[i]`.
fn ref_ty(i: usize) -> Ty {
    Ty {
        rust: "",
        c: "",
        kind: Kind::Ref(i),
        size: 0,
    }
}

impl Ty {
    /// The C type's name.
    fn c_type(&self) -> String {
        match self.kind {
            Kind::Struct(i) => STRUCTS[i].c_name(),
            Kind::Ref(i) => format!("const {} *", TYPES[i].c),
            _ => self.c.to_string(),
        }
    }

    /// The Rust type's name; a reference has lifetime `lifetime` (`'r` in a higher-ranked
    /// signature, elided in a closure's parameters).
    fn rust_type(&self, lifetime: &str) -> String {
        match self.kind {
            Kind::Ref(i) => format!("&{lifetime} {}", TYPES[i].rust),
            _ => self.rust.to_string(),
        }
    }

    fn bytes(&self, target: &Target) -> u8 {
        if self.size == 0 {
            target.pointer_bytes
        } else {
            self.size
        }
    }

    /// A distinctive bit pattern for a value of this type (all bits significant).
    fn value(&self, rng: &mut Rng, target: &Target) -> u64 {
        let r = rng.next();
        let bits = u32::from(self.bytes(target)) * 8;
        let mask = if bits == 64 {
            u64::MAX
        } else {
            (1 << bits) - 1
        };
        match self.kind {
            Kind::Ref(i) => TYPES[i].value(rng, target), // the referent's value
            Kind::Struct(_) => r,                        // the seed of its leaves' values
            Kind::Bool => r & 1,
            Kind::Signed | Kind::Unsigned | Kind::Pointer => {
                // Mostly with the top bit set, so that sign and zero extension both show.
                let top = if r.is_multiple_of(4) {
                    0
                } else {
                    1u64 << (bits - 1)
                };
                ((r >> 3) | top | 1) & mask
            }
            Kind::F32 => match r % 6 {
                0 => 0x7fc0_0000 | (r >> 20) as u32 as u64 & 0x003f_ffff | 1, // quiet NaN, payload
                1 => 0x8000_0000,                                             // -0.0
                2 => (r >> 40) & 0x007f_ffff | 1,                             // subnormal
                _ => ((r >> 32) as u32 & 0xbfff_ffff) as u64 | 0x0080_0000,   // normal
            },
            Kind::F64 => match r % 6 {
                0 => 0x7ff8_0000_0000_0000 | (r & 0x0007_ffff_ffff_ffff) | 1, // quiet NaN
                1 => 0x8000_0000_0000_0000,                                   // -0.0
                2 => r & 0x000f_ffff_ffff_ffff | 1,                           // subnormal
                _ => (r & 0xbfff_ffff_ffff_ffff) | 0x0010_0000_0000_0000,     // normal
            },
        }
    }

    /// A C expression of this type with bit pattern `bits`.
    fn c_value(&self, bits: u64) -> String {
        match self.kind {
            Kind::F32 => format!("tl_f32(0x{bits:x}u)"),
            Kind::F64 => format!("tl_f64(0x{bits:x}ull)"),
            Kind::Bool => format!("{}", bits != 0),
            Kind::Pointer => format!("(void *)(uintptr_t)0x{bits:x}ull"),
            Kind::Struct(_) | Kind::Ref(_) => unreachable!("set up in a variable first"),
            _ => format!("({})0x{bits:x}ull", self.c),
        }
    }

    /// A C expression: the bit pattern of `expr`, as a uint64_t.
    fn c_bits(&self, expr: &str) -> String {
        match self.kind {
            Kind::F32 => format!("tl_f32_bits({expr})"),
            Kind::F64 => format!("tl_f64_bits({expr})"),
            Kind::Bool => format!("(uint64_t)({expr})"),
            Kind::Pointer => format!("(uint64_t)(uintptr_t)({expr})"),
            Kind::Struct(_) | Kind::Ref(_) => unreachable!("checked part by part"),
            _ => format!(
                "(uint64_t)(u{}_t)({expr})",
                self.c.trim_start_matches('u').trim_end_matches("_t")
            ),
        }
    }

    /// A Rust expression of this type with bit pattern `bits`.
    fn rust_value(&self, bits: u64, target: &Target) -> String {
        let unsigned = |t: &str| format!("0x{bits:x}{t}");
        match self.kind {
            Kind::F32 => format!("f32::from_bits(0x{bits:x})"),
            Kind::F64 => format!("f64::from_bits(0x{bits:x})"),
            Kind::Bool => format!("{}", bits != 0),
            Kind::Pointer => format!("core::ptr::without_provenance_mut(0x{bits:x})"),
            Kind::Struct(i) => STRUCTS[i].rust_value(bits, target),
            Kind::Ref(_) => unreachable!("references are never returned"),
            Kind::Unsigned => unsigned(self.rust),
            Kind::Signed => {
                let u = match self.bytes(target) {
                    1 => "u8",
                    2 => "u16",
                    4 => "u32",
                    8 => "u64",
                    _ => unreachable!(),
                };
                let u = if self.rust == "isize" { "usize" } else { u };
                format!("({} as {})", unsigned(u), self.rust)
            }
        }
    }
}

/// One generated signature.
struct Sig {
    conv: Conv,
    args: Vec<Ty>,
    ret: Option<Ty>,
    /// Where the user-data argument goes in the user-data variant.
    ud_position: usize,
    values: Vec<u64>,
    ret_value: u64,
    threaded: bool,
    reentrant: bool,
}

impl Sig {
    /// Whether an argument is a reference, which makes the thunk's signature higher-ranked.
    fn has_refs(&self) -> bool {
        self.args.iter().any(|t| matches!(t.kind, Kind::Ref(_)))
    }

    /// The Rust signature type: references get lifetime `'r` (bound by the `for<'r>` that
    /// `hrtb!` declares); `rust_type(true)` (the user-data variant when it has no references)
    /// says `'static`, never used with references.
    fn rust_type(&self, with_ud: bool) -> String {
        self.rust_type_with(with_ud, if with_ud { "'static" } else { "'r" })
    }

    /// As [`rust_type`](Self::rust_type), with references of lifetime `lifetime`.
    fn rust_type_with(&self, with_ud: bool, lifetime: &str) -> String {
        let mut args: Vec<String> = self.args.iter().map(|t| t.rust_type(lifetime)).collect();
        if with_ud {
            args.insert(self.ud_position, "*mut c_void".into());
        }
        let ret = self
            .ret
            .map_or(String::new(), |t| format!(" -> {}", t.rust));
        format!(
            "unsafe extern \"{}\" fn({}){ret}",
            self.conv.rust,
            args.join(", ")
        )
    }

    fn c_callback(&self, name: &str, with_ud: bool) -> String {
        let mut args: Vec<String> = self.args.iter().map(Ty::c_type).collect();
        if with_ud {
            args.insert(self.ud_position, "void *".into());
        }
        if args.is_empty() {
            args.push("void".into());
        }
        let ret = self.ret.map_or("void".into(), |t| t.c_type());
        format!(
            "typedef {ret} ({} *{name})({});",
            self.conv.c,
            args.join(", ")
        )
    }
}

/// Signatures picked by hand for the hard cases, before the random ones.
fn hand_picked(target: &Target) -> Vec<(&'static str, Vec<&'static str>, Option<&'static str>)> {
    let ints12 = vec!["i64"; 12];
    let doubles12 = vec!["f64"; 12];
    let mut picked = vec![
        ("C", ints12.clone(), Some("i64")),    // stack ints
        ("C", doubles12.clone(), Some("f64")), // 9+ floats
        (
            "C",
            vec!["i64", "f64", "i64", "f64", "i32", "f32"],
            Some("f32"),
        ), // i64/f64 mix, f32 ret
        ("C", vec!["i8"], Some("i8")),         // small returns
        ("C", vec!["u8", "i16"], Some("u16")),
        ("C", vec!["bool", "u8"], Some("bool")),
        ("C", vec!["f32", "f32", "f32"], Some("f32")),
        (
            "C",
            vec!["i32", "i32", "i32", "i32", "i32", "i32", "i32"],
            Some("i32"),
        ),
        (
            "system",
            vec!["isize", "u32", "usize", "isize"],
            Some("isize"),
        ), // WNDPROC
        ("system", vec!["i8", "i64", "i8", "f64", "i16"], Some("i64")), // odd stack
    ];
    if structs_allowed(target) {
        let mut ints5_pn = vec!["i64"; 5];
        ints5_pn.push("Pn");
        let mut ints7_pn = vec!["i64"; 7];
        ints7_pn.push("Pn");
        let mut ints5_di = vec!["i64"; 5];
        ints5_di.push("Di");
        picked.extend([
            ("C", vec!["Pf", "Pd", "If", "Di"], Some("Quad")), // SSE, mixed, HFA
            ("C", vec!["L3", "i32"], Some("L3")),              // in memory both ways
            ("C", ints5_pn, Some("Pn")), // System V: Pn does not fit, r9 stays free
            ("C", ints7_pn, Some("i32")), // AAPCS64: Pn on the stack closes x0-x7
            ("C", ints5_di, Some("Di")), // System V: the last integer register
            ("C", vec!["D4", "F3", "Pd", "f32"], Some("D4")), // AAPCS64: v0-v7 run out
            ("C", vec!["S1", "S2", "S3", "Un"], Some("S3")), // odd sizes, a union
            ("system", vec!["Nest", "Hd"], Some("Pf")), // nested, padded
            ("C", vec!["Nest"], Some("Nest")),
        ]);
    }
    match target.arch.as_str() {
        "x86" => {
            for conv in ["stdcall", "fastcall", "cdecl"] {
                picked.push((conv, vec!["i8", "i64", "i8", "f64", "i16"], Some("i64")));
                picked.push((conv, vec!["i32", "i32", "i32"], Some("i32")));
                picked.push((conv, vec!["f64"], Some("f64")));
                picked.push((conv, vec![], Some("u8")));
            }
            picked.push(("thiscall", vec!["*mut c_void", "i8", "i64"], Some("i64")));
            picked.push(("thiscall", vec!["*mut c_void"], None));
            picked.push(("thiscall", vec!["f64", "f32"], Some("f64")));
        }
        "x86_64" => {
            picked.push(("win64", vec!["i64", "f64", "i64", "f64", "i8"], Some("f64")));
            picked.push(("win64", vec!["f32"; 6], Some("f32")));
            if target.c_has_sysv64 {
                picked.push(("sysv64", ints12.clone(), Some("i64")));
                picked.push(("sysv64", doubles12, Some("f64")));
            }
        }
        _ => {
            picked.push((
                "C",
                vec![
                    "i8", "i16", "i8", "i32", "i8", "i16", "i8", "i8", "i8", "u16",
                ],
                Some("i8"),
            ));
        }
    }
    picked
}

/// Whether signatures may take structs by value on `target`: not on Apple arm64, where a
/// struct on the stack is refused (no machine here runs it), and which signatures put one
/// there is not worth predicting for a link-only target.
fn structs_allowed(target: &Target) -> bool {
    !(target.vendor == "apple" && target.arch == "aarch64")
}

/// Replaces the structs that the crate refuses for `conv` on 32-bit x86 (documented in
/// `arch/x86.rs`): any struct argument of a thiscall or fastcall signature (for fastcall,
/// rustc's own user-data callbacks disagree with GCC too), and a struct returned through a
/// hidden pointer by a callee-pop convention.
fn avoid_refused_structs(conv: Conv, args: &mut [Ty], ret: &mut Option<Ty>, target: &Target) {
    if target.arch != "x86" {
        return;
    }
    let is_struct = |t: &Ty| matches!(t.kind, Kind::Struct(_));
    let callee_pop = match conv.rust {
        "stdcall" | "fastcall" | "thiscall" => true,
        "system" => target.os == "windows",
        _ => false,
    };
    let hidden_return = match *ret {
        Some(Ty {
            kind: Kind::Struct(i),
            ..
        }) => structs::x86_returns_through_pointer(&STRUCTS[i], target),
        _ => false,
    };
    if callee_pop && hidden_return {
        *ret = Some(ty("i64"));
    }
    if conv.rust == "thiscall" || conv.rust == "fastcall" {
        for t in args.iter_mut().filter(|t| is_struct(t)) {
            *t = ty("i32");
        }
    }
}

/// Generates `count` signatures (hand-picked ones first) for `target`; returns (C, Rust).
pub fn generate(seed: u64, count: usize, target: &Target) -> (String, String) {
    let mut rng = Rng(seed | 1);
    let convs = conventions(target);
    let mut sigs = Vec::new();
    for (conv, args, ret) in hand_picked(target) {
        let conv = *convs.iter().find(|c| c.rust == conv).unwrap();
        let mut args: Vec<Ty> = args.into_iter().map(ty).collect();
        let mut ret = ret.map(ty);
        avoid_refused_structs(conv, &mut args, &mut ret, target);
        sigs.push((conv, args, ret));
    }
    let structs = structs_allowed(target);
    let pick = |rng: &mut Rng| {
        if structs && rng.below(8) == 0 {
            struct_ty(rng.below(STRUCTS.len()))
        } else {
            TYPES[rng.below(TYPES.len())]
        }
    };
    while sigs.len() < count {
        let conv = convs[rng.below(convs.len())];
        let arity = rng.below(13);
        let mut args: Vec<Ty> = (0..arity).map(|_| pick(&mut rng)).collect();
        if conv.rust == "thiscall" && !args.is_empty() {
            args[0] = ty("*mut c_void"); // `this`; other first arguments are refused
        }
        let mut ret = (rng.below(8) != 0).then(|| pick(&mut rng));
        avoid_refused_structs(conv, &mut args, &mut ret, target);
        // One signature in eight takes some of its scalars by reference, as hand-written
        // bindings do: a higher-ranked signature (`hrtb!`) for the thunk.
        if rng.below(8) == 0 {
            for t in args.iter_mut() {
                let scalar = matches!(
                    t.kind,
                    Kind::Signed | Kind::Unsigned | Kind::Bool | Kind::F32 | Kind::F64
                );
                if scalar && rng.below(2) == 0 {
                    let i = TYPES.iter().position(|x| x.rust == t.rust).unwrap();
                    *t = ref_ty(i);
                }
            }
        }
        sigs.push((conv, args, ret));
    }
    let sigs: Vec<Sig> = sigs
        .into_iter()
        .enumerate()
        .map(|(i, (conv, args, ret))| {
            // Keep user data out of thiscall's `this` position.
            let first = usize::from(conv.rust == "thiscall" && !args.is_empty());
            let ud_position = first + rng.below(args.len() + 1 - first);
            let values = args.iter().map(|t| t.value(&mut rng, target)).collect();
            let ret_value = ret.map_or(0, |t| t.value(&mut rng, target));
            let args: Vec<Ty> = args;
            // The user-data variant has one more argument: stay within 12.
            let ud_position = if args.len() == 12 {
                usize::MAX
            } else {
                ud_position
            };
            Sig {
                conv,
                args,
                ret,
                ud_position,
                values,
                ret_value,
                threaded: i % 20 == 7,
                reentrant: i % 20 == 13,
            }
        })
        .collect();

    let mut c = String::new();
    let mut rust = String::new();
    writeln!(
        c,
        "/* Generated by tests/conformance/generate.rs, seed {seed:#x}: do not edit. */"
    )
    .unwrap();
    c.push_str(C_PRELUDE);
    c.push_str(&structs::c_definitions());
    writeln!(
        rust,
        "// Generated by tests/conformance/generate.rs, seed {seed:#x}: do not edit."
    )
    .unwrap();
    if structs_allowed(target) {
        rust.push_str(&structs::rust_definitions());
    }
    for (i, sig) in sigs.iter().enumerate() {
        write_c(&mut c, i, sig, target);
        write_rust(&mut rust, i, sig, target);
    }
    writeln!(rust, "pub const SIGNATURES: &[(&str, fn(&Report))] = &[").unwrap();
    for (i, sig) in sigs.iter().enumerate() {
        writeln!(
            rust,
            "    ({:?}, sig_{i}),",
            format!("#{i} {}", sig.rust_type(false))
        )
        .unwrap();
    }
    writeln!(rust, "];").unwrap();
    (c, rust)
}

const C_PRELUDE: &str = r#"
#include "testlib.h"
#include <stdio.h>
#include <string.h>
#if defined(_WIN32)
#include <windows.h>
#else
#include <pthread.h>
#endif

static float tl_f32(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static double tl_f64(uint64_t b) { double d; memcpy(&d, &b, 8); return d; }
static uint64_t tl_f32_bits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }
static uint64_t tl_f64_bits(double d) { uint64_t b; memcpy(&b, &d, 8); return b; }

/* Checks a return value's bits; on mismatch writes a message and returns 1. */
static int tl_conf_check(char *msg, const char *what, uint64_t want, uint64_t got) {
    if (want == got)
        return 0;
    snprintf(msg, 256, "%s: C expected the return value 0x%llx, got 0x%llx", what,
             (unsigned long long)want, (unsigned long long)got);
    return 1;
}

/* Runs fn(arg) on a new thread and waits for it. */
struct tl_conf_job {
    void (*fn)(void *);
    void *arg;
};
#if defined(_WIN32)
static DWORD WINAPI tl_conf_thread_main(LPVOID job) {
#else
static void *tl_conf_thread_main(void *job) {
#endif
    struct tl_conf_job *j = job;
    j->fn(j->arg);
    return 0;
}
static void tl_conf_on_thread(void (*fn)(void *), void *arg) {
    struct tl_conf_job job = {fn, arg};
#if defined(_WIN32)
    HANDLE h = CreateThread(NULL, 0, tl_conf_thread_main, &job, 0, NULL);
    WaitForSingleObject(h, INFINITE);
    CloseHandle(h);
#else
    pthread_t t;
    pthread_create(&t, NULL, tl_conf_thread_main, &job);
    pthread_join(t, NULL);
#endif
}
"#;

fn write_c(c: &mut String, i: usize, sig: &Sig, target: &Target) {
    // Struct arguments are built leaf by leaf into locals `sK` first.
    let setup: String = sig
        .args
        .iter()
        .zip(&sig.values)
        .enumerate()
        .filter_map(|(k, (t, &v))| match t.kind {
            Kind::Struct(s) => Some(STRUCTS[s].c_setup(&format!("s{k}"), v, target)),
            Kind::Ref(i) => Some(format!(
                "    static {} r{k};\n    r{k} = {};\n",
                TYPES[i].c,
                TYPES[i].c_value(v)
            )),
            _ => None,
        })
        .collect();
    let call_args = |with_ud: bool| {
        let mut args: Vec<String> = sig
            .args
            .iter()
            .zip(&sig.values)
            .enumerate()
            .map(|(k, (t, &v))| match t.kind {
                Kind::Struct(_) => format!("s{k}"),
                Kind::Ref(_) => format!("&r{k}"),
                _ => t.c_value(v),
            })
            .collect();
        if with_ud {
            args.insert(sig.ud_position, "ud".to_string());
        }
        args.join(", ")
    };
    let body = |with_ud: bool, what: &str| match sig.ret {
        None => format!(
            "{setup}    cb({});\n    (void)msg;\n    return 0;\n",
            call_args(with_ud)
        ),
        Some(t) => {
            let check = match t.kind {
                Kind::Struct(s) => STRUCTS[s].c_check("r", what, sig.ret_value, target),
                _ => format!(
                    "tl_conf_check(msg, \"{what}\", 0x{:x}ull, {})",
                    sig.ret_value,
                    t.c_bits("r")
                ),
            };
            format!(
                "{setup}    {} r = cb({});\n    return {check};\n",
                t.c_type(),
                call_args(with_ud),
            )
        }
    };
    let _ = writeln!(c, "\n{}", sig.c_callback(&format!("tl_conf_cb_{i}"), false));
    let _ = write!(
        c,
        "TL_EXPORT int tl_conf_{i}(tl_conf_cb_{i} cb, char *msg) {{\n{}}}\n",
        body(false, "thunk")
    );
    if sig.ud_position != usize::MAX {
        let _ = writeln!(c, "{}", sig.c_callback(&format!("tl_conf_cb_{i}_ud"), true));
        let _ = write!(
            c,
            "TL_EXPORT int tl_conf_{i}_ud(tl_conf_cb_{i}_ud cb, void *ud, char *msg) {{\n{}}}\n",
            body(true, "user data")
        );
    }
    if sig.threaded {
        let _ = write!(
            c,
            "struct tl_conf_job_{i} {{ tl_conf_cb_{i} cb; char *msg; int rc; }};\n\
             static void tl_conf_job_{i}_run(void *p) {{\n\
             \x20   struct tl_conf_job_{i} *job = p;\n\
             \x20   job->rc = tl_conf_{i}(job->cb, job->msg);\n\
             }}\n\
             TL_EXPORT int tl_conf_{i}_thread(tl_conf_cb_{i} cb, char *msg) {{\n\
             \x20   struct tl_conf_job_{i} job = {{ cb, msg, -1 }};\n\
             \x20   tl_conf_on_thread(tl_conf_job_{i}_run, &job);\n\
             \x20   return job.rc;\n\
             }}\n"
        );
    }
}

fn write_rust(rust: &mut String, i: usize, sig: &Sig, target: &Target) {
    let names: Vec<String> = (0..sig.args.len()).map(|k| format!("a{k}")).collect();
    let params: Vec<String> = names
        .iter()
        .zip(&sig.args)
        .map(|(n, t)| format!("{n}: {}", t.rust_type("")))
        .collect();
    let checks: String = names
        .iter()
        .zip(&sig.args)
        .zip(&sig.values)
        .enumerate()
        .map(|(k, ((n, t), v))| match t.kind {
            Kind::Struct(s) => STRUCTS[s].rust_checks(n, k, *v, target),
            Kind::Ref(i) => format!(
                "report.arg(NAME, {k}, \"&{}\", (*{n}).bits(), 0x{v:x});\n",
                TYPES[i].rust
            ),
            _ => format!(
                "report.arg(NAME, {k}, {:?}, {n}.bits(), 0x{v:x});\n",
                t.rust
            ),
        })
        .collect();
    let ret = sig
        .ret
        .map_or("()".to_string(), |t| t.rust_value(sig.ret_value, target));
    let ret_ty = sig.ret.map_or("()", |t| t.rust);
    let closure = format!(
        "|{}| -> {ret_ty} {{\n{checks}{{REENTER}}{ret}\n}}",
        params.join(", ")
    );
    let mode = if sig.threaded {
        "trampoline::threads::Sync"
    } else {
        "trampoline::threads::Local"
    };
    // Every fourth signature is declared as bindings declare callbacks, `Option<fn>`: the same
    // ABI, handed out as `Some` (chosen by index, so a seed still names the same signatures).
    let wrap = |ty: String| {
        if i.is_multiple_of(4) {
            format!("Option<{ty}>")
        } else {
            ty
        }
    };
    let _ = writeln!(rust, "\nfn sig_{i}(report: &Report) {{");
    if sig.has_refs() {
        // A higher-ranked signature: `hrtb!`'s newtype (no `Option` of it).
        let _ = writeln!(
            rust,
            "trampoline::hrtb! {{ type B = for<'r> {}; }}",
            sig.rust_type(false)
        );
    } else {
        let _ = writeln!(rust, "type B = {};", wrap(sig.rust_type(false)));
    }
    let _ = writeln!(
        rust,
        "const NAME: &str = \"#{i} {}\";",
        sig.rust_type(false).replace('"', "\\\"")
    );
    let _ = writeln!(
        rust,
        "// SAFETY: the C caller's callback type is B's.\n\
         let call: unsafe extern \"C\" fn(B, *mut c_char) -> i32 = unsafe {{ sym(\"tl_conf_{i}\") }};"
    );
    let reenter = if sig.reentrant {
        "if DEPTH.with(|d| d.get()) == 0 { DEPTH.with(|d| d.set(1)); \
         report.c(NAME, \"re-entered thunk\", |msg| unsafe { call(THIS.with(|t| t.get()).unwrap(), msg) }); \
         DEPTH.with(|d| d.set(0)); }\n"
    } else {
        ""
    };
    if sig.reentrant {
        let _ = writeln!(
            rust,
            "thread_local! {{ static THIS: core::cell::Cell<Option<B>> = const {{ core::cell::Cell::new(None) }}; \
             static DEPTH: core::cell::Cell<u8> = const {{ core::cell::Cell::new(0) }}; }}"
        );
    }
    let _ = writeln!(
        rust,
        "let thunk = Thunk::<B, {mode}>::new({});",
        closure.replace("{REENTER}", reenter)
    );
    if sig.reentrant {
        let _ = writeln!(rust, "THIS.with(|t| t.set(Some(thunk.as_fn())));");
    }
    let _ = writeln!(
        rust,
        "// SAFETY: the thunk outlives the call.\n\
         report.c(NAME, \"thunk\", |msg| unsafe {{ call(thunk.as_fn(), msg) }});"
    );
    if sig.threaded {
        let _ = writeln!(
            rust,
            "// SAFETY: as above; the thunk is threads::Sync and C joins its thread.\n\
             let call_thread: unsafe extern \"C\" fn(B, *mut c_char) -> i32 = unsafe {{ sym(\"tl_conf_{i}_thread\") }};\n\
             report.c(NAME, \"thunk on a C thread\", |msg| unsafe {{ call_thread(thunk.as_fn(), msg) }});"
        );
    }
    if sig.ud_position != usize::MAX {
        let position = match sig.ud_position {
            0 => "ud::First".to_string(),
            p if p == sig.args.len() => "ud::Last".to_string(),
            p => format!("ud::At<{p}>"),
        };
        if sig.has_refs() {
            let _ = writeln!(
                rust,
                "trampoline::hrtb! {{ type U = for<'r> {}; }}",
                sig.rust_type_with(true, "'r")
            );
        } else {
            let _ = writeln!(rust, "type U = {};", wrap(sig.rust_type(true)));
        }
        let _ = writeln!(
            rust,
            "// SAFETY: the C caller's callback type is U's.\n\
             let call_ud: unsafe extern \"C\" fn(U, *mut c_void, *mut c_char) -> i32 = unsafe {{ sym(\"tl_conf_{i}_ud\") }};\n\
             let mut closure = {};\n\
             let cb = UserData::<U, {position}>::new(&mut closure);\n\
             // SAFETY: the callback outlives the call, with its own data.\n\
             report.c(NAME, \"user data\", |msg| unsafe {{ call_ud(cb.func(), cb.data(), msg) }});",
            closure.replace("{REENTER}", ""),
        );
    }
    let _ = writeln!(rust, "}}");
}
