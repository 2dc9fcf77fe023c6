//! Every argument and return type, with edge values, bit for bit.

use super::*;

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
    common::edge_values::widening_edge_values!(widen_case);
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
