//! The edge values every path is checked with, shared by the thunk and user-data tests: each
//! macro calls `$case!(type, "name", [values], partner[, bits])` once per type, where `partner`
//! is a bijection the callback applies (so both the argument and the return are checked) and
//! `bits` what is compared (the value itself, or its bit pattern for floats and pointers).

/// Every integer width (and `bool`) at its limits and sign boundaries.
macro_rules! integer_edge_values {
    ($case:ident) => {
        $case!(i8, "i8", [0, 1, -1, i8::MIN, i8::MAX], |x| !x);
        $case!(u8, "u8", [0, 1, 0x80, u8::MAX], |x| !x);
        $case!(i16, "i16", [0, -1, i16::MIN, i16::MAX, 0x80], |x| !x);
        $case!(u16, "u16", [0, 0x8000, u16::MAX], |x| !x);
        $case!(i32, "i32", [0, -1, i32::MIN, i32::MAX], |x| !x);
        $case!(u32, "u32", [0, 0x8000_0000, u32::MAX], |x| !x);
        $case!(
            i64,
            "i64",
            [0, -1, i64::MIN, i64::MAX, 0x1_0000_0000],
            |x| !x
        );
        $case!(
            u64,
            "u64",
            [0, u64::MAX, 0x8000_0000_0000_0001, 0xffff_ffff],
            |x| !x
        );
        $case!(isize, "isize", [0, -1, isize::MIN, isize::MAX], |x| !x);
        $case!(
            usize,
            "usize",
            [0, usize::MAX, 1 << (usize::BITS - 1)],
            |x| !x
        );
        $case!(bool, "bool", [false, true], |x| !x);
    };
}

/// `f32` and `f64`: signed zeros, NaNs with payloads (quiet, both signs), the smallest
/// subnormal, the extremes and infinities, compared bit for bit.
macro_rules! float_edge_values {
    ($case:ident) => {
        $case!(
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
        $case!(
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
    };
}

/// Pointers with every high bit pattern that a truncating or sign-extending path would lose.
macro_rules! pointer_edge_values {
    ($case:ident) => {
        $case!(
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
    };
}

/// Small integers whose widening to 64 bits shows a wrong width or extension.
macro_rules! widening_edge_values {
    ($case:ident) => {
        $case!(i8, "i8", [-1, i8::MIN, i8::MAX]);
        $case!(u8, "u8", [0xff, 0x80]);
        $case!(i16, "i16", [-1, i16::MIN]);
        $case!(u16, "u16", [0xffff, 0x8000]);
        $case!(i32, "i32", [-1, i32::MIN]);
        $case!(u32, "u32", [u32::MAX, 0x8000_0000]);
        $case!(bool, "bool", [true, false]);
    };
}

#[allow(unused_imports)]
pub(crate) use {
    float_edge_values, integer_edge_values, pointer_edge_values, widening_edge_values,
};
