//! The argument and return types a callback may use, and the ABI class of each.
//!
//! A callback signature is only accepted when every argument and the return type implement
//! [`AbiType`] (or [`AbiReturn`] for the return). The crate knows how each of these is passed
//! on every supported target; anything else is refused at compile time instead of guessed.

use core::ffi::c_void;
use core::ptr::NonNull;

use crate::aggregate::Aggregate;

/// How a value is passed between C and Rust: which register file it uses and how wide it is.
///
/// This is what the crate needs to know about a type to find a free argument register, or
/// the size of the stack arguments, for a signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AbiClass {
    /// No value at all: the `()` return type.
    Void,
    /// An integer of `size` bytes (1, 2, 4 or 8), including `bool` (size 1, unsigned).
    Int {
        /// Width in bytes.
        size: u8,
        /// Whether the value is sign-extended when widened.
        signed: bool,
    },
    /// A data or function pointer, of the target's pointer width.
    Pointer,
    /// An `f32`.
    F32,
    /// An `f64`.
    F64,
    /// A `#[repr(C)]` struct or union passed by value, declared with
    /// [`c_struct!`](crate::c_struct).
    Aggregate(Aggregate),
}

impl AbiClass {
    /// The class of `T`, usable in a `const` (handy when implementing [`AbiType`] for a
    /// `#[repr(transparent)]` wrapper).
    pub const fn of<T: AbiType>() -> AbiClass {
        T::CLASS
    }

    /// Whether the value travels in a floating-point register where the ABI has them.
    pub const fn is_float(self) -> bool {
        matches!(self, AbiClass::F32 | AbiClass::F64)
    }

    /// The value's size in bytes (0 for [`AbiClass::Void`]).
    pub const fn size(self) -> usize {
        match self {
            AbiClass::Void => 0,
            AbiClass::Int { size, .. } => size as usize,
            AbiClass::Pointer => size_of::<*const c_void>(),
            AbiClass::F32 => 4,
            AbiClass::F64 => 8,
            AbiClass::Aggregate(aggregate) => aggregate.size(),
        }
    }
}

/// A type that may be an argument (or return value) of a callback signature.
///
/// Implemented for every integer width, `bool`, `f32`, `f64`, raw pointers, references,
/// [`NonNull`], `Option` of references / `NonNull` / C function pointers, and C function
/// pointers themselves, and `#[repr(C)]` structs and unions declared with
/// [`c_struct!`](crate::c_struct). `u128`, `i128`, `char` and slices are deliberately not:
/// their C ABI is either undefined or not one this crate handles.
///
/// # Safety
///
/// `CLASS` must describe exactly how the type is passed: a `#[repr(transparent)]` wrapper
/// may use the class of the one field it wraps, and nothing else qualifies.
///
/// # Example: a handle type
///
/// ```
/// use core::ffi::c_void;
/// use trampoline::{AbiClass, AbiType};
///
/// #[repr(transparent)]
/// #[derive(Clone, Copy)]
/// struct Hwnd(*mut c_void);
///
/// // SAFETY: `Hwnd` is a `#[repr(transparent)]` wrapper of a raw pointer.
/// unsafe impl AbiType for Hwnd {
///     const CLASS: AbiClass = AbiClass::of::<*mut c_void>();
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be passed to or from a C callback",
    label = "not a type whose C calling convention trampoline knows",
    note = "supported: integers, bool, f32, f64, raw pointers, references, NonNull, \
            Option of references / NonNull / fn pointers, structs declared with \
            `trampoline::c_struct!`, and #[repr(transparent)] wrappers of those that \
            implement `trampoline::AbiType`"
)]
pub unsafe trait AbiType: Sized {
    /// How the type is passed.
    const CLASS: AbiClass;
}

/// A type that may be returned by a callback: every [`AbiType`], and `()`.
///
/// # Safety
///
/// As for [`AbiType`]: `CLASS` must describe exactly how the type is returned.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from a C callback",
    label = "not a type whose C calling convention trampoline knows"
)]
pub unsafe trait AbiReturn: Sized {
    /// How the type is returned.
    const CLASS: AbiClass;
}

// SAFETY: an `AbiType` is returned the way its class says, by that trait's own contract.
unsafe impl<T: AbiType> AbiReturn for T {
    const CLASS: AbiClass = T::CLASS;
}

// SAFETY: `()` is returned as nothing at all.
unsafe impl AbiReturn for () {
    const CLASS: AbiClass = AbiClass::Void;
}

macro_rules! impl_int {
    ($($ty:ty => $signed:literal),* $(,)?) => {$(
        // SAFETY: a primitive integer, passed as an integer of its own width.
        unsafe impl AbiType for $ty {
            const CLASS: AbiClass = AbiClass::Int { size: size_of::<$ty>() as u8, signed: $signed };
        }
    )*};
}

impl_int! {
    i8 => true, i16 => true, i32 => true, i64 => true, isize => true,
    u8 => false, u16 => false, u32 => false, u64 => false, usize => false,
    bool => false,
}

// SAFETY: the IEEE binary32 and binary64 types are C's float and double.
unsafe impl AbiType for f32 {
    const CLASS: AbiClass = AbiClass::F32;
}

// SAFETY: as above.
unsafe impl AbiType for f64 {
    const CLASS: AbiClass = AbiClass::F64;
}

macro_rules! impl_pointer {
    ($(<$($lt:lifetime,)? $t:ident> $ty:ty),* $(,)?) => {$(
        // SAFETY: a thin pointer (`T: Sized`), or a niche-optimised `Option` of one, which is
        // guaranteed to have the same ABI as a raw pointer.
        unsafe impl<$($lt,)? $t> AbiType for $ty {
            const CLASS: AbiClass = AbiClass::Pointer;
        }
    )*};
}

impl_pointer! {
    <T> *const T,
    <T> *mut T,
    <T> NonNull<T>,
    <T> Option<NonNull<T>>,
    <'a, T> &'a T,
    <'a, T> &'a mut T,
    <'a, T> Option<&'a T>,
    <'a, T> Option<&'a mut T>,
}

/// A type that can carry the user-data pointer of a [`UserData`](crate::UserData)
/// trampoline: a raw pointer or a pointer-sized integer (`LPARAM` is an `isize`).
///
/// # Safety
///
/// `from_ptr` followed by `into_ptr` must give back the same pointer.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot carry a user-data pointer",
    label = "the user-data argument must be a raw pointer, `isize` or `usize`"
)]
pub unsafe trait UserDataArg: AbiType + Copy {
    /// Packs the closure's address into the argument.
    fn from_ptr(ptr: *mut c_void) -> Self;
    /// Unpacks the closure's address from the argument.
    fn into_ptr(self) -> *mut c_void;
}

// SAFETY: a pointer cast round-trips.
unsafe impl<T> UserDataArg for *mut T {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr.cast()
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        self.cast()
    }
}

// SAFETY: a pointer cast round-trips.
unsafe impl<T> UserDataArg for *const T {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr.cast_const().cast()
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        self.cast_mut().cast()
    }
}

// SAFETY: exposing the provenance and getting it back round-trips.
unsafe impl UserDataArg for isize {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr.expose_provenance() as isize
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        core::ptr::with_exposed_provenance_mut(self as usize)
    }
}

// SAFETY: as for `isize`.
unsafe impl UserDataArg for usize {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr.expose_provenance()
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        core::ptr::with_exposed_provenance_mut(self)
    }
}
