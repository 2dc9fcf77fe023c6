//! Structs and unions passed by value: their layout, described at compile time, from which each
//! architecture's `plan` classifies them the way its ABI does (`arch/`).
//!
//! [`c_struct!`](crate::c_struct) declares a `#[repr(C)]` struct or union and implements
//! [`AbiType`](crate::AbiType) for it with class [`AbiClass::Aggregate`]: its size, its
//! alignment and the scalars ("leaves") of its first 32 bytes, with their offsets. That is all
//! any supported ABI looks at: System V splits 16 bytes into two eightbytes by the kinds of
//! their leaves, AAPCS64 looks for at most four floats of one kind (32 bytes), Windows and
//! i686 go by size alone. What cannot be described exactly is refused when the struct is
//! declared: packed and over-aligned structs, empty ones, and ones larger than 64 KiB.

use crate::types::{AbiClass, AbiType};

/// How many leaves an [`Aggregate`] records. A struct of at most 16 bytes has at most 16
/// non-overlapping leaves (a union with more distinct ones is refused).
const MAX_LEAVES: usize = 16;

/// Leaves are kept only within this many bytes: no ABI here looks further.
const LEAF_WINDOW: usize = 32;

/// What a scalar inside an aggregate is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum LeafKind {
    /// An integer, `bool` or pointer.
    Int,
    /// An `f32`.
    F32,
    /// An `f64`.
    F64,
}

/// One scalar of an aggregate: its kind, size and offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Leaf {
    pub(crate) offset: u8,
    pub(crate) size: u8,
    pub(crate) kind: LeafKind,
}

const NO_LEAF: Leaf = Leaf {
    offset: 0,
    size: 0,
    kind: LeafKind::Int,
};

/// The layout of a `#[repr(C)]` struct or union passed by value, as
/// [`c_struct!`](crate::c_struct) describes it: size, alignment and the scalars it is made of.
///
/// Built at compile time; every ABI's classification (System V eightbytes, AAPCS64 homogeneous
/// float aggregates, Windows and i686 by size) is computed from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Aggregate {
    size: u32,
    align: u8,
    count: u8,
    /// Some leaves within `LEAF_WINDOW` were not recorded (more than `MAX_LEAVES`).
    overflow: bool,
    leaves: [Leaf; MAX_LEAVES],
}

impl Aggregate {
    /// The aggregate's size in bytes.
    pub const fn size(&self) -> usize {
        self.size as usize
    }

    /// The aggregate's alignment in bytes.
    pub const fn align(&self) -> usize {
        self.align as usize
    }

    /// The layout of one scalar field of type `T` (not itself an aggregate).
    const fn scalar<T: AbiType>() -> Aggregate {
        let kind = match T::CLASS {
            AbiClass::F32 => LeafKind::F32,
            AbiClass::F64 => LeafKind::F64,
            AbiClass::Int { .. } | AbiClass::Pointer => LeafKind::Int,
            AbiClass::Aggregate(aggregate) => return aggregate,
            AbiClass::Void => panic!("a field cannot be `()`"),
        };
        let mut leaves = [NO_LEAF; MAX_LEAVES];
        leaves[0] = Leaf {
            offset: 0,
            size: size_of::<T>() as u8,
            kind,
        };
        Aggregate {
            size: size_of::<T>() as u32,
            align: align_of::<T>() as u8,
            count: 1,
            overflow: false,
            leaves,
        }
    }

    /// An empty layout of `size` bytes aligned to `align`, checked for what is refused.
    const fn empty(size: usize, align: usize) -> Aggregate {
        assert!(size > 0, "a struct passed by value cannot be empty");
        assert!(
            size <= 0xffff,
            "a struct passed by value must be at most 64 KiB"
        );
        assert!(
            align <= 8,
            "over-aligned structs (alignment above 8) cannot be passed by value here"
        );
        Aggregate {
            size: size as u32,
            align: align as u8,
            count: 0,
            overflow: false,
            leaves: [NO_LEAF; MAX_LEAVES],
        }
    }

    /// Adds `field`'s leaves at `offset`; for a union, a leaf already recorded is not added
    /// twice.
    const fn add(mut self, offset: usize, field: &Aggregate) -> Aggregate {
        assert!(
            offset.is_multiple_of(field.align()),
            "packed structs cannot be passed by value: a field is misaligned"
        );
        assert!(
            field.align() <= self.align(),
            "packed structs cannot be passed by value: the struct is less aligned than a field"
        );
        self.overflow |= field.overflow;
        let mut i = 0;
        while i < field.count as usize {
            let leaf = field.leaves[i];
            let at = offset + leaf.offset as usize;
            if at < LEAF_WINDOW {
                let leaf = Leaf {
                    offset: at as u8,
                    ..leaf
                };
                if !self.has(leaf) {
                    if (self.count as usize) < MAX_LEAVES {
                        self.leaves[self.count as usize] = leaf;
                        self.count += 1;
                    } else {
                        self.overflow = true;
                    }
                }
            }
            i += 1;
        }
        self
    }

    const fn has(&self, leaf: Leaf) -> bool {
        let mut i = 0;
        while i < self.count as usize {
            let l = self.leaves[i];
            if l.offset == leaf.offset && l.size == leaf.size && l.kind as u8 == leaf.kind as u8 {
                return true;
            }
            i += 1;
        }
        false
    }

    /// The last checks once every field is in: the alignment is the fields' (not raised with
    /// `align(N)`), and a struct small enough for registers has every leaf recorded.
    const fn finish(self, max_field_align: usize) -> Aggregate {
        assert!(
            self.align() == max_field_align,
            "over-aligned structs (`#[repr(align(N))]`) cannot be passed by value here"
        );
        assert!(
            !(self.overflow && self.size() <= 16),
            "a union of more than 16 distinct scalars cannot be passed by value here"
        );
        self
    }

    /// The layout of a `#[repr(C)]` struct of `size` bytes aligned to `align`, with `fields`
    /// as (offset, layout) pairs. Used by [`c_struct!`](crate::c_struct); panics (a compile
    /// error in a `const`) on what cannot be passed by value.
    #[doc(hidden)]
    pub const fn record(size: usize, align: usize, fields: &[(usize, Aggregate)]) -> Aggregate {
        let mut layout = Aggregate::empty(size, align);
        let (mut max_align, mut i) = (1, 0);
        while i < fields.len() {
            layout = layout.add(fields[i].0, &fields[i].1);
            if fields[i].1.align() > max_align {
                max_align = fields[i].1.align();
            }
            i += 1;
        }
        layout.finish(max_align)
    }

    /// The layout of a `#[repr(C)]` union: every field at offset 0.
    #[doc(hidden)]
    pub const fn union(size: usize, align: usize, fields: &[Aggregate]) -> Aggregate {
        let mut layout = Aggregate::empty(size, align);
        let (mut max_align, mut i) = (1, 0);
        while i < fields.len() {
            layout = layout.add(0, &fields[i]);
            if fields[i].align() > max_align {
                max_align = fields[i].align();
            }
            i += 1;
        }
        layout.finish(max_align)
    }

    /// The layout of `[T; n]` where `element` is `T`'s.
    const fn array(element: Aggregate, n: usize) -> Aggregate {
        assert!(
            n > 0,
            "a zero-length array cannot be a field passed by value"
        );
        let mut layout = Aggregate::empty(element.size() * n, element.align());
        let mut i = 0;
        while i < n && i * element.size() < LEAF_WINDOW {
            layout = layout.add(i * element.size(), &element);
            i += 1;
        }
        layout
    }

    /// The recorded leaves.
    #[cfg_attr(
        not(any(target_arch = "x86_64", target_arch = "aarch64")),
        allow(dead_code)
    )]
    pub(crate) const fn leaf(&self, i: usize) -> Option<Leaf> {
        if i < self.count as usize {
            Some(self.leaves[i])
        } else {
            None
        }
    }

    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    /// System V x86_64: the classes of the (at most two) eightbytes of an aggregate of at most
    /// 16 bytes, as `(integer, sse)` eightbyte counts; `None` if it is passed in memory. An
    /// eightbyte holding any integer is INTEGER, one holding only floats SSE.
    pub(crate) const fn sysv_eightbytes(&self) -> Option<(usize, usize)> {
        if self.size() > 16 {
            return None;
        }
        let eightbytes = self.size().div_ceil(8);
        let (mut ints, mut sses, mut e) = (0, 0, 0);
        while e < eightbytes {
            let (mut any, mut int, mut i) = (false, false, 0);
            while let Some(leaf) = self.leaf(i) {
                if leaf.offset as usize / 8 == e {
                    any = true;
                    int |= matches!(leaf.kind, LeafKind::Int);
                }
                i += 1;
            }
            // (An eightbyte without leaves is padding, class NO_CLASS: it takes no register.)
            if int {
                ints += 1;
            } else if any {
                sses += 1;
            }
            e += 1;
        }
        Some((ints, sses))
    }

    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    /// AAPCS64: the number of members if this is a homogeneous floating-point aggregate (one to
    /// four floats of one kind, filling it exactly), else `None`.
    pub(crate) const fn hfa_members(&self) -> Option<usize> {
        let Some(first) = self.leaf(0) else {
            return None;
        };
        if matches!(first.kind, LeafKind::Int) || self.overflow {
            return None;
        }
        let unit = first.size as usize;
        let members = self.size() / unit;
        if members > 4 || members * unit != self.size() {
            return None;
        }
        // Every leaf of the same kind, on a member boundary; every member covered.
        let (mut covered, mut i) = (0u8, 0);
        while let Some(leaf) = self.leaf(i) {
            if leaf.kind as u8 != first.kind as u8 || !(leaf.offset as usize).is_multiple_of(unit) {
                return None;
            }
            covered |= 1 << (leaf.offset as usize / unit);
            i += 1;
        }
        if covered as usize == (1 << members) - 1 {
            Some(members)
        } else {
            None
        }
    }
}

/// A type that may be a field of a [`c_struct!`](crate::c_struct): every [`AbiType`] (structs
/// declared with `c_struct!` included), and arrays of fields.
///
/// # Safety
///
/// `LAYOUT` must describe the type's layout exactly. It is implemented here for every type
/// that qualifies; there is no reason to implement it elsewhere.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a field of a struct passed by value",
    label = "not a type whose layout trampoline knows",
    note = "fields may be integers, bool, f32, f64, pointers, structs declared with \
            `trampoline::c_struct!`, and arrays of those"
)]
pub unsafe trait CField {
    /// The field's layout.
    #[doc(hidden)]
    const LAYOUT: Aggregate;
}

// SAFETY: a scalar's layout is one leaf of its own size, kind and alignment; an aggregate's is
// its class's.
unsafe impl<T: AbiType> CField for T {
    const LAYOUT: Aggregate = Aggregate::scalar::<T>();
}

// SAFETY: an array is its element's layout repeated at a stride of the element's size.
unsafe impl<T: CField, const N: usize> CField for [T; N] {
    const LAYOUT: Aggregate = Aggregate::array(T::LAYOUT, N);
}

/// Declares `#[repr(C)]` structs or unions that callbacks can take and return by value.
///
/// Write the struct as usual, without `#[repr]`; the macro adds `#[repr(C)]`, implements
/// [`AbiType`](crate::AbiType) for it, and computes at compile time how every supported ABI
/// passes it. Fields may be integers, `bool`, `f32`, `f64`, pointers, other `c_struct!`
/// types, and arrays of those.
///
/// ```
/// use trampoline::{Thunk, c_struct};
///
/// c_struct! {
///     #[derive(Clone, Copy, Debug, PartialEq)]
///     pub struct Point { pub x: f32, pub y: f32 }
///
///     #[derive(Clone, Copy, Debug, PartialEq)]
///     pub struct Segment { pub from: Point, pub to: Point, pub tag: [u8; 4] }
/// }
///
/// let midpoint = Thunk::<unsafe extern "C" fn(Segment) -> Point>::new(|s: Segment| Point {
///     x: (s.from.x + s.to.x) / 2.0,
///     y: (s.from.y + s.to.y) / 2.0,
/// });
/// let segment = Segment { from: Point { x: 0.0, y: 0.0 }, to: Point { x: 2.0, y: 4.0 }, tag: *b"seg!" };
/// // SAFETY: the thunk is alive.
/// assert_eq!(unsafe { midpoint.as_fn()(segment) }, Point { x: 1.0, y: 2.0 });
/// ```
///
/// What cannot be passed exactly is refused where the struct is declared, with the reason:
/// packed and over-aligned structs, empty ones, and ones larger than 64 KiB.
///
/// ```compile_fail,E0080
/// trampoline::c_struct! {
///     #[repr(align(16))]
///     pub struct Wide { pub x: u64 }
/// }
/// ```
///
/// ```compile_fail,E0080
/// trampoline::c_struct! {
///     #[repr(packed)]
///     pub struct Tight { pub tag: u8, pub value: u32 }
/// }
/// ```
///
/// Generic structs are not supported (each ABI class is computed for one concrete layout).
#[macro_export]
macro_rules! c_struct {
    () => {};
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident {
            $($(#[$field_attr:meta])* $field_vis:vis $field:ident : $ty:ty),* $(,)?
        }
        $($rest:tt)*
    ) => {
        $(#[$attr])*
        #[repr(C)]
        $vis struct $name {
            $($(#[$field_attr])* $field_vis $field: $ty),*
        }

        // SAFETY: the layout is computed from the struct's own size, alignment and field
        // offsets, and each field's layout; `#[repr(C)]` makes it the C layout.
        unsafe impl $crate::AbiType for $name {
            const CLASS: $crate::AbiClass = $crate::AbiClass::Aggregate($crate::Aggregate::record(
                ::core::mem::size_of::<$name>(),
                ::core::mem::align_of::<$name>(),
                &[$((
                    ::core::mem::offset_of!($name, $field),
                    <$ty as $crate::CField>::LAYOUT,
                )),*],
            ));
        }

        // Evaluated by `cargo check` too: what cannot be passed by value is refused here.
        const _: () = {
            let _ = <$name as $crate::AbiType>::CLASS;
        };

        $crate::c_struct! { $($rest)* }
    };
    (
        $(#[$attr:meta])*
        $vis:vis union $name:ident {
            $($(#[$field_attr:meta])* $field_vis:vis $field:ident : $ty:ty),* $(,)?
        }
        $($rest:tt)*
    ) => {
        $(#[$attr])*
        #[repr(C)]
        $vis union $name {
            $($(#[$field_attr])* $field_vis $field: $ty),*
        }

        // SAFETY: as for a struct, every field at offset 0 (`#[repr(C)]` unions).
        unsafe impl $crate::AbiType for $name {
            const CLASS: $crate::AbiClass = $crate::AbiClass::Aggregate($crate::Aggregate::union(
                ::core::mem::size_of::<$name>(),
                ::core::mem::align_of::<$name>(),
                &[$(<$ty as $crate::CField>::LAYOUT),*],
            ));
        }

        // Evaluated by `cargo check` too, as for a struct.
        const _: () = {
            let _ = <$name as $crate::AbiType>::CLASS;
        };

        $crate::c_struct! { $($rest)* }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::c_struct! {
        struct Pf { x: f32, y: f32 }
        struct Di { d: f64, i: i64 }
        struct F3 { v: [f32; 3] }
        struct Quad { p: Pf, q: Pf }
        struct D4 { v: [f64; 4] }
        struct D5 { v: [f64; 5] }
        struct If { a: i32, b: f32 }
        struct Bytes { b: [u8; 16] }
        struct Mixed { f: f32, d: f64 }
        union Floats { one: f32, two: [f32; 2] }
        union Bits { f: f32, u: u32 }
    }

    fn layout<T: AbiType>() -> Aggregate {
        match T::CLASS {
            AbiClass::Aggregate(aggregate) => aggregate,
            _ => unreachable!(),
        }
    }

    #[test]
    fn system_v_eightbytes_by_kind() {
        assert_eq!(layout::<Pf>().sysv_eightbytes(), Some((0, 1)));
        assert_eq!(layout::<Di>().sysv_eightbytes(), Some((1, 1)));
        assert_eq!(layout::<F3>().sysv_eightbytes(), Some((0, 2)));
        assert_eq!(layout::<Quad>().sysv_eightbytes(), Some((0, 2)));
        assert_eq!(layout::<If>().sysv_eightbytes(), Some((1, 0)), "int wins");
        assert_eq!(layout::<Bytes>().sysv_eightbytes(), Some((2, 0)));
        assert_eq!(layout::<Bits>().sysv_eightbytes(), Some((1, 0)));
        assert_eq!(layout::<D4>().sysv_eightbytes(), None, "over 16 bytes");
    }

    #[test]
    fn homogeneous_float_aggregates() {
        assert_eq!(layout::<Pf>().hfa_members(), Some(2));
        assert_eq!(layout::<F3>().hfa_members(), Some(3));
        assert_eq!(layout::<Quad>().hfa_members(), Some(4), "nested");
        assert_eq!(layout::<D4>().hfa_members(), Some(4));
        assert_eq!(layout::<Floats>().hfa_members(), Some(2), "a union of f32s");
        assert_eq!(layout::<D5>().hfa_members(), None, "five members");
        assert_eq!(layout::<Mixed>().hfa_members(), None, "two kinds");
        assert_eq!(layout::<Di>().hfa_members(), None);
        assert_eq!(layout::<Bits>().hfa_members(), None, "an integer member");
    }

    #[test]
    fn size_and_alignment_are_the_structs() {
        assert_eq!(layout::<Quad>().size(), 16);
        assert_eq!(layout::<D5>().size(), 40);
        assert_eq!(layout::<Di>().align(), align_of::<Di>());
        assert_eq!(AbiClass::of::<F3>().size(), 12);
        assert!(
            !AbiClass::of::<Pf>().is_float(),
            "a struct is not a float register value"
        );
    }
}
