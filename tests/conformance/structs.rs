//! Structs and unions by value for the conformance suite: a catalog of shapes, each defined the
//! same way in C and in Rust (`trampoline::c_struct!`), and the code that builds a value from
//! bit patterns and checks every scalar of one, on both sides.
//!
//! The shapes cover each ABI's cases: System V INTEGER, SSE and mixed eightbytes and MEMORY;
//! AAPCS64 homogeneous float aggregates of one to four members, small composites and large
//! ones passed by reference; Windows x64's 1/2/4/8-byte structs and the by-reference rest;
//! i686's stack copies and hidden return pointers; nesting, arrays, padding and a union.

use std::fmt::Write;

use super::{Kind, Rng, Target, Ty, ty};

/// One struct shape: its definitions and its scalars ("leaves"), as (path, scalar type).
pub struct StructDef {
    /// Rust name; the C name is `tl_` + its lowercase.
    pub name: &'static str,
    pub c: &'static str,
    pub rust: &'static str,
    pub leaves: &'static [(&'static str, &'static str)],
}

pub const STRUCTS: &[StructDef] = &[
    StructDef {
        name: "S1",
        c: "struct tl_s1 { uint8_t a; };",
        rust: "pub struct S1 { pub a: u8 }",
        leaves: &[("a", "u8")],
    },
    StructDef {
        name: "S2",
        c: "struct tl_s2 { int16_t a; uint8_t b; };",
        rust: "pub struct S2 { pub a: i16, pub b: u8 }",
        leaves: &[("a", "i16"), ("b", "u8")],
    },
    StructDef {
        name: "S3",
        c: "struct tl_s3 { uint8_t b[3]; };",
        rust: "pub struct S3 { pub b: [u8; 3] }",
        leaves: &[("b[0]", "u8"), ("b[1]", "u8"), ("b[2]", "u8")],
    },
    StructDef {
        name: "Pf",
        c: "struct tl_pf { float x; float y; };",
        rust: "pub struct Pf { pub x: f32, pub y: f32 }",
        leaves: &[("x", "f32"), ("y", "f32")],
    },
    StructDef {
        name: "Pd",
        c: "struct tl_pd { double x; double y; };",
        rust: "pub struct Pd { pub x: f64, pub y: f64 }",
        leaves: &[("x", "f64"), ("y", "f64")],
    },
    StructDef {
        name: "If",
        c: "struct tl_if { int32_t a; float b; };",
        rust: "pub struct If { pub a: i32, pub b: f32 }",
        leaves: &[("a", "i32"), ("b", "f32")],
    },
    StructDef {
        name: "Di",
        c: "struct tl_di { double d; int64_t i; };",
        rust: "pub struct Di { pub d: f64, pub i: i64 }",
        leaves: &[("d", "f64"), ("i", "i64")],
    },
    StructDef {
        name: "F3",
        c: "struct tl_f3 { float v[3]; };",
        rust: "pub struct F3 { pub v: [f32; 3] }",
        leaves: &[("v[0]", "f32"), ("v[1]", "f32"), ("v[2]", "f32")],
    },
    StructDef {
        name: "Quad",
        c: "struct tl_quad { struct tl_pf p; struct tl_pf q; };",
        rust: "pub struct Quad { pub p: Pf, pub q: Pf }",
        leaves: &[
            ("p.x", "f32"),
            ("p.y", "f32"),
            ("q.x", "f32"),
            ("q.y", "f32"),
        ],
    },
    StructDef {
        name: "D4",
        c: "struct tl_d4 { double v[4]; };",
        rust: "pub struct D4 { pub v: [f64; 4] }",
        leaves: &[
            ("v[0]", "f64"),
            ("v[1]", "f64"),
            ("v[2]", "f64"),
            ("v[3]", "f64"),
        ],
    },
    StructDef {
        name: "L3",
        c: "struct tl_l3 { int64_t a; int64_t b; int64_t c; };",
        rust: "pub struct L3 { pub a: i64, pub b: i64, pub c: i64 }",
        leaves: &[("a", "i64"), ("b", "i64"), ("c", "i64")],
    },
    StructDef {
        name: "Nest",
        c: "struct tl_nest { uint8_t tag; struct tl_di inner; uint16_t n[2]; };",
        rust: "pub struct Nest { pub tag: u8, pub inner: Di, pub n: [u16; 2] }",
        leaves: &[
            ("tag", "u8"),
            ("inner.d", "f64"),
            ("inner.i", "i64"),
            ("n[0]", "u16"),
            ("n[1]", "u16"),
        ],
    },
    StructDef {
        name: "Pn",
        c: "struct tl_pn { void *p; uint32_t n; };",
        rust: "pub struct Pn { pub p: *mut c_void, pub n: u32 }",
        leaves: &[("p", "*mut c_void"), ("n", "u32")],
    },
    StructDef {
        name: "Hd",
        c: "struct tl_hd { uint16_t h; double d; };",
        rust: "pub struct Hd { pub h: u16, pub d: f64 }",
        leaves: &[("h", "u16"), ("d", "f64")],
    },
    StructDef {
        name: "Un",
        c: "union tl_un { float f; uint32_t u; };",
        rust: "pub union Un { pub f: f32, pub u: u32 }",
        // One member is set and read: the bits are the union's.
        leaves: &[("u", "u32")],
    },
];

impl StructDef {
    pub fn c_name(&self) -> String {
        format!("tl_{}", self.name.to_lowercase())
    }

    fn is_union(&self) -> bool {
        self.c.starts_with("union")
    }

    /// Each leaf's path, type and bit pattern, derived from `seed`.
    pub fn leaf_values(&self, seed: u64, target: &Target) -> Vec<(&'static str, Ty, u64)> {
        let mut rng = Rng(seed | 1);
        self.leaves
            .iter()
            .map(|&(path, name)| {
                let t = ty(name);
                (path, t, t.value(&mut rng, target))
            })
            .collect()
    }

    /// C statements declaring `var` of this type with the leaves of `seed`.
    pub fn c_setup(&self, var: &str, seed: u64, target: &Target) -> String {
        let mut s = format!(
            "    {} {var};\n    memset(&{var}, 0, sizeof {var});\n",
            self.c_name()
        );
        for (path, t, bits) in self.leaf_values(seed, target) {
            let _ = writeln!(s, "    {var}.{path} = {};", t.c_value(bits));
        }
        s
    }

    /// A C expression that is nonzero (after writing `msg`) if a leaf of `var` differs.
    pub fn c_check(&self, var: &str, what: &str, seed: u64, target: &Target) -> String {
        let checks: Vec<String> = self
            .leaf_values(seed, target)
            .into_iter()
            .map(|(path, t, bits)| {
                format!(
                    "tl_conf_check(msg, \"{what} {}.{path}\", 0x{bits:x}ull, {})",
                    self.name,
                    t.c_bits(&format!("{var}.{path}"))
                )
            })
            .collect();
        checks.join(" | ")
    }

    /// A Rust block expression of this type with the leaves of `seed`.
    pub fn rust_value(&self, seed: u64, target: &Target) -> String {
        let mut s = format!(
            "{{ // SAFETY: all-zero bits are a valid {0} (integers, floats, raw pointers).\n\
             let mut s: {0} = unsafe {{ core::mem::zeroed() }};\n",
            self.name
        );
        for (path, t, bits) in self.leaf_values(seed, target) {
            let _ = writeln!(s, "s.{path} = {};", t.rust_value(bits, target));
        }
        s.push_str("s }");
        s
    }

    /// Rust statements checking every leaf of argument `var` (number `index`).
    pub fn rust_checks(&self, var: &str, index: usize, seed: u64, target: &Target) -> String {
        let mut s = String::new();
        for (path, _, bits) in self.leaf_values(seed, target) {
            let read = if self.is_union() {
                // SAFETY (in the generated code): every bit pattern is a valid u32.
                format!("unsafe {{ {var}.{path} }}")
            } else {
                format!("{var}.{path}")
            };
            let _ = writeln!(
                s,
                "report.arg(NAME, {index}, \"{}.{path}\", {read}.bits(), 0x{bits:x});",
                self.name
            );
        }
        s
    }
}

/// The C definitions of every shape.
pub fn c_definitions() -> String {
    let mut c = String::new();
    for def in STRUCTS {
        let keyword = if def.is_union() { "union" } else { "struct" };
        let _ = writeln!(c, "{}\ntypedef {keyword} {n} {n};", def.c, n = def.c_name());
    }
    c
}

/// The Rust definitions of every shape, through the crate's `c_struct!`.
pub fn rust_definitions() -> String {
    let mut rust = String::from("trampoline::c_struct! {\n");
    for def in STRUCTS {
        let _ = writeln!(rust, "    #[derive(Clone, Copy)]\n    {}", def.rust);
    }
    rust.push_str("}\n");
    rust
}

/// The `Ty` standing for shape `index`.
pub const fn struct_ty(index: usize) -> Ty {
    Ty {
        rust: STRUCTS[index].name,
        c: "",
        kind: Kind::Struct(index),
        size: 0,
    }
}

/// Whether a struct of shape `def` is returned through a hidden pointer on 32-bit x86 for
/// `target` (always on Linux; on Windows unless it is 1, 2, 4 or 8 bytes).
pub fn x86_returns_through_pointer(def: &StructDef, target: &Target) -> bool {
    !(target.os == "windows" && matches!(size_of_shape(def, target), 1 | 2 | 4 | 8))
}

/// The shape's size on `target`, from its leaves' sizes and C's layout rules for them (every
/// shape here has natural alignment; on i686 Linux, 8-byte scalars are 4-aligned in structs).
fn size_of_shape(def: &StructDef, target: &Target) -> usize {
    let big_align = if target.arch == "x86" && target.os != "windows" {
        4
    } else {
        8
    };
    let (mut end, mut align) = (0usize, 1usize);
    if def.is_union() {
        return 4;
    }
    // Leaves are listed in memory order; arrays' elements are consecutive.
    for &(_, name) in def.leaves {
        let size = usize::from(ty(name).bytes(target));
        let a = size.min(big_align);
        end = end.next_multiple_of(a) + size;
        align = align.max(a);
    }
    end.next_multiple_of(align)
}
