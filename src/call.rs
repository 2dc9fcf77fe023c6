//! Calling a closure with its arguments as one tuple.
//!
//! Stable Rust cannot name `Fn<Args>` for a generic tuple `Args`, so these traits stand in for
//! it: they are implemented for every `Fn`/`FnMut`/`FnOnce` closure of 0 to 12 arguments and
//! let generic code call a closure whose arity it only knows as a tuple type.
//!
//! A closure passed to this crate must have its argument types annotated (`|x: i32| ..`) when
//! they cannot be inferred from elsewhere: Rust infers closure signatures only from `Fn*`
//! bounds, not from these traits.

/// A closure callable through a shared reference with `Args`, returning `R`.
#[diagnostic::on_unimplemented(
    message = "this closure does not match the callback's arguments `{Args}` and return `{R}`",
    label = "expected an `Fn` closure taking `{Args}` and returning `{R}`",
    note = "annotate the closure's argument types, e.g. `|a: i32, b: *mut c_void| ..`"
)]
pub trait CallFn<Args, R>: CallMut<Args, R> {
    /// Calls the closure.
    fn call_fn(&self, args: Args) -> R;
}

/// A closure callable through a unique reference with `Args`, returning `R`.
#[diagnostic::on_unimplemented(
    message = "this closure does not match the callback's arguments `{Args}` and return `{R}`",
    label = "expected an `FnMut` closure taking `{Args}` and returning `{R}`",
    note = "annotate the closure's argument types, e.g. `|a: i32, b: *mut c_void| ..`"
)]
pub trait CallMut<Args, R>: CallOnce<Args, R> {
    /// Calls the closure.
    fn call_mut(&mut self, args: Args) -> R;
}

/// A closure callable once, by value, with `Args`, returning `R`.
#[diagnostic::on_unimplemented(
    message = "this closure does not match the callback's arguments `{Args}` and return `{R}`",
    label = "expected a closure taking `{Args}` and returning `{R}`",
    note = "annotate the closure's argument types, e.g. `|a: i32, b: *mut c_void| ..`"
)]
pub trait CallOnce<Args, R> {
    /// Calls the closure, consuming it.
    fn call_once(self, args: Args) -> R;
}

macro_rules! impl_call {
    ($($A:ident $a:ident)*) => {
        impl<F: Fn($($A),*) -> R, R, $($A),*> CallFn<($($A,)*), R> for F {
            #[inline(always)]
            fn call_fn(&self, ($($a,)*): ($($A,)*)) -> R {
                self($($a),*)
            }
        }

        impl<F: FnMut($($A),*) -> R, R, $($A),*> CallMut<($($A,)*), R> for F {
            #[inline(always)]
            fn call_mut(&mut self, ($($a,)*): ($($A,)*)) -> R {
                self($($a),*)
            }
        }

        impl<F: FnOnce($($A),*) -> R, R, $($A),*> CallOnce<($($A,)*), R> for F {
            #[inline(always)]
            fn call_once(self, ($($a,)*): ($($A,)*)) -> R {
                self($($a),*)
            }
        }
    };
}

impl_call!();
impl_call!(A0 a0);
impl_call!(A0 a0 A1 a1);
impl_call!(A0 a0 A1 a1 A2 a2);
impl_call!(A0 a0 A1 a1 A2 a2 A3 a3);
impl_call!(A0 a0 A1 a1 A2 a2 A3 a3 A4 a4);
impl_call!(A0 a0 A1 a1 A2 a2 A3 a3 A4 a4 A5 a5);
impl_call!(A0 a0 A1 a1 A2 a2 A3 a3 A4 a4 A5 a5 A6 a6);
impl_call!(A0 a0 A1 a1 A2 a2 A3 a3 A4 a4 A5 a5 A6 a6 A7 a7);
impl_call!(A0 a0 A1 a1 A2 a2 A3 a3 A4 a4 A5 a5 A6 a6 A7 a7 A8 a8);
impl_call!(A0 a0 A1 a1 A2 a2 A3 a3 A4 a4 A5 a5 A6 a6 A7 a7 A8 a8 A9 a9);
impl_call!(A0 a0 A1 a1 A2 a2 A3 a3 A4 a4 A5 a5 A6 a6 A7 a7 A8 a8 A9 a9 A10 a10);
impl_call!(A0 a0 A1 a1 A2 a2 A3 a3 A4 a4 A5 a5 A6 a6 A7 a7 A8 a8 A9 a9 A10 a10 A11 a11);
