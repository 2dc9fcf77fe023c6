//! Higher-ranked signatures: callbacks whose arguments are references of any lifetime
//! (`for<'a> unsafe extern "C" fn(&'a T) -> R`), declared with [`hrtb!`](crate::hrtb).
//!
//! No generic impl can cover a higher-ranked function-pointer type: `for<'a> fn(&'a T)` is not
//! an instance of `fn(A0)` for any `A0`, and writing one impl per shape (which arguments are
//! references, of which kind) would take thousands per ABI. So `hrtb!` names the type: it
//! declares a `#[repr(transparent)]` newtype around the function pointer, and two things about
//! it that only the macro can write:
//!
//! - [`Hrtb::Erased`]: the same signature with every lifetime `'static`, an ordinary signature
//!   type. Everything the crate computes (the plan, the stub, the body) is the erased type's:
//!   lifetimes do not exist at run time, so the code is the same.
//! - [`Accepts`]: the closure bound, written with the signature's own `for<..>`, so that only
//!   a closure taking references of *any* lifetime is accepted. (The erased signature alone
//!   would admit a closure that takes `&'static T` and keeps it; C's reference lives only for
//!   the call.) Ordinary signatures accept every closure here; their bound is the `CallFn` /
//!   `CallMut` / `CallOnce` one.

// The hidden items of `ThunkSignature` use crate-private types on purpose.
#![allow(private_interfaces)]

use crate::arch::Plan;
use crate::call::{CallFn, CallMut};
use crate::signature::sealed::BareFn;
use crate::signature::{Abi, Signature, UnsafeSignature};
use crate::thunk::{Invoke, ThunkSignature};
use crate::types::AbiClass;
use crate::user_data::UserDataSignature;

/// A higher-ranked signature declared with [`hrtb!`](crate::hrtb): a `#[repr(transparent)]`
/// newtype of the function pointer. Implemented by the macro only.
///
/// # Safety
///
/// `Self` is a `#[repr(transparent)]` wrapper of a function pointer whose type is `Erased`
/// with some lifetimes made higher-ranked, and nothing else.
#[doc(hidden)]
pub unsafe trait Hrtb: Copy + 'static {
    /// The signature with every lifetime `'static`.
    type Erased;

    /// The function pointer as the higher-ranked type.
    ///
    /// # Safety
    ///
    /// The function must accept references of any lifetime: it passes them only to a closure
    /// that [`Accepts`] admitted for `Self`.
    unsafe fn from_erased(erased: Self::Erased) -> Self;
}

/// Whether a thunk of signature `Self` and closure kind `K` takes a closure of type `F`: every
/// closure for an ordinary signature (its arguments are checked by `CallFn` and friends), and
/// for a higher-ranked one from [`hrtb!`](crate::hrtb) a closure that takes references of any
/// lifetime.
#[diagnostic::on_unimplemented(
    message = "this closure does not take references of any lifetime, as `{Self}` requires",
    label = "a higher-ranked callback (`for<'a> ..`) needs a closure generic over its lifetimes",
    note = "annotate the arguments as plain references, without a lifetime: `|a: &i32| ..`; \
            a closure that takes `&'static T` could keep a reference that C frees after the call"
)]
pub trait Accepts<F, K> {}

impl<B: BareFn, F, K> Accepts<F, K> for B {}
impl<B: BareFn, F, K> Accepts<F, K> for Option<B> {}

// A higher-ranked signature is its erased signature in everything the crate computes. (These
// blanket impls cannot overlap the ones for function pointers and their `Option`s: only a
// type of the crate defining it can implement `Hrtb`, and those are the macro's newtypes.)

impl<T: Hrtb> crate::signature::sealed::Sealed for T where T::Erased: Signature {}

impl<T: Hrtb> Signature for T
where
    T::Erased: Signature,
{
    type Args = <T::Erased as Signature>::Args;
    type Ret = <T::Erased as Signature>::Ret;
    const ABI: Abi = <T::Erased as Signature>::ABI;
    const UNWIND: bool = <T::Erased as Signature>::UNWIND;
    const ARGS: &'static [AbiClass] = <T::Erased as Signature>::ARGS;
}

impl<T: Hrtb> UnsafeSignature for T
where
    T::Erased: UnsafeSignature,
{
    type Safe = <T::Erased as UnsafeSignature>::Safe;
}

impl<T: Hrtb, P> UserDataSignature<P> for T
where
    T::Erased: UserDataSignature<P>,
{
    type ClosureArgs = <T::Erased as UserDataSignature<P>>::ClosureArgs;
    type Data = <T::Erased as UserDataSignature<P>>::Data;

    fn trampoline_mut<F: CallMut<Self::ClosureArgs, Self::Ret>>() -> Self {
        // SAFETY: the `UserData` constructors ask `Accepts` of the closure for `T`.
        unsafe { T::from_erased(<T::Erased as UserDataSignature<P>>::trampoline_mut::<F>()) }
    }

    fn trampoline_fn<F: CallFn<Self::ClosureArgs, Self::Ret>>() -> Self {
        // SAFETY: as above.
        unsafe { T::from_erased(<T::Erased as UserDataSignature<P>>::trampoline_fn::<F>()) }
    }
}

impl<T: Hrtb> ThunkSignature for T
where
    T::Erased: ThunkSignature,
{
    const PLAN: Plan = <T::Erased as ThunkSignature>::PLAN;

    #[inline]
    fn body<I: Invoke<Self::Args, Self::Ret>>() -> usize {
        <T::Erased as ThunkSignature>::body::<I>()
    }
}

/// Declares a higher-ranked callback signature, one whose reference arguments may have any
/// lifetime, so that thunks can be made for it.
///
/// Write the type alias as the C binding would, with every lifetime named in `for<..>`; the
/// macro declares a `#[repr(transparent)]` newtype of that function pointer instead (`.0` is
/// the pointer). Every thunk kind, ABI and arity works; the closure must take its references
/// without naming a lifetime (`|a: &i32| ..`), so it cannot keep them past the call.
///
/// ```
/// use core::ffi::c_int;
/// use trampoline::{Thunk, hrtb};
///
/// hrtb! {
///     /// A comparator over references, as a hand-written binding declares it.
///     pub type Cmp = for<'a, 'b> unsafe extern "C" fn(&'a i32, &'b i32) -> c_int;
/// }
///
/// let calls = std::cell::Cell::new(0);
/// let cmp = Thunk::<Cmp>::new(|a: &i32, b: &i32| {
///     calls.set(calls.get() + 1);
///     a.cmp(b) as c_int
/// });
/// let f: for<'a, 'b> unsafe extern "C" fn(&'a i32, &'b i32) -> c_int = cmp.as_fn().0;
/// let (x, y) = (1, 2);
/// // SAFETY: the thunk is alive.
/// assert_eq!(unsafe { f(&x, &y) }, -1);
/// assert_eq!(calls.get(), 1);
/// ```
///
/// A closure that wants `'static` references is refused (a borrow-checker error, which has no
/// code: "lifetime may not live long enough"): C's references live for the call.
///
/// ```compile_fail
/// # use trampoline::{Thunk, hrtb};
/// hrtb! { type Cb = for<'a> unsafe extern "C" fn(&'a i32); }
/// static mut KEPT: Option<&'static i32> = None;
/// let thunk = Thunk::<Cb>::new(|x: &'static i32| unsafe { KEPT = Some(x) });
/// ```
///
/// User-data callbacks take them too, with the user data at any position
/// ([`ud::First`](crate::ud::First), [`ud::Last`](crate::ud::Last),
/// [`ud::At<N>`](crate::ud::At)): the closure takes the other arguments. (And with
/// [`ud::Via`](crate::ud::Via), whose closure takes them all.)
///
/// ```
/// use core::ffi::c_void;
/// use trampoline::{UserData, hrtb, ud};
///
/// hrtb! {
///     type Visit = for<'a> unsafe extern "C" fn(&'a u8, *mut c_void) -> i32;
/// }
/// let mut seen = Vec::new();
/// let mut visit = |c: &u8| {
///     seen.push(*c);
///     0
/// };
/// let cb = UserData::<Visit, ud::Last>::new(&mut visit);
/// // SAFETY: called here with its own user data, while `cb` lives.
/// unsafe { (cb.func().0)(&7, cb.data()) };
/// assert_eq!(seen, [7]);
/// ```
#[macro_export]
macro_rules! hrtb {
    () => {};
    (
        $(#[$attr:meta])*
        $vis:vis type $name:ident = for<$($lt:lifetime),+ $(,)?> unsafe extern $abi:literal
            fn($($arg:ty),* $(,)?) $(-> $ret:ty)?;
        $($rest:tt)*
    ) => {
        $crate::hrtb!(@define [$(#[$attr])*] $vis $name [$($lt),+] [unsafe extern $abi]
            [$($arg),*] [$($ret)?]);
        $crate::hrtb! { $($rest)* }
    };
    (
        $(#[$attr:meta])*
        $vis:vis type $name:ident = for<$($lt:lifetime),+ $(,)?> extern $abi:literal
            fn($($arg:ty),* $(,)?) $(-> $ret:ty)?;
        $($rest:tt)*
    ) => {
        $crate::hrtb!(@define [$(#[$attr])*] $vis $name [$($lt),+] [extern $abi]
            [$($arg),*] [$($ret)?]);
        $crate::hrtb! { $($rest)* }
    };
    (@define [$($attr:tt)*] $vis:vis $name:ident [$($lt:lifetime),+] [$($qual:tt)+]
        [$($arg:ty),*] [$($ret:ty)?]) => {
        $($attr)*
        #[repr(transparent)]
        #[derive(Clone, Copy)]
        $vis struct $name(pub for<$($lt),+> $($qual)+ fn($($arg),*) $(-> $ret)?);

        const _: () = {
            // The signature with its lifetimes as parameters, to instantiate with `'static`.
            type Instance<$($lt),+> = $($qual)+ fn($($arg),*) $(-> $ret)?;
            // Every lifetime `'static`.
            type Erased = $crate::hrtb!(@erase Instance [] [$($lt),+]);

            // SAFETY: `$name` is a transparent wrapper of the function pointer `Erased`
            // describes, its lifetimes higher-ranked.
            unsafe impl $crate::__private::Hrtb for $name {
                type Erased = Erased;

                unsafe fn from_erased(erased: Erased) -> Self {
                    // SAFETY: the same function-pointer type but for its lifetimes; the
                    // caller says the function takes references of any lifetime.
                    $name(unsafe {
                        ::core::mem::transmute::<Erased, for<$($lt),+> $($qual)+ fn($($arg),*) $(-> $ret)?>(
                            erased,
                        )
                    })
                }
            }

            $crate::hrtb!(@user_data $name [$($lt),+] [$($ret)?] [] [$($arg),*]);
            $crate::hrtb!(@at $name [$($lt),+] [$($ret)?] [] [$($arg),*]);
            $crate::hrtb!(@via $name [$($lt),+] [$($ret)?] [$($arg),*]);

            impl<F> $crate::signature::Accepts<F, $crate::threads::kind::Shared> for $name
            where
                F: for<$($lt),+> Fn($($arg),*) $(-> $ret)?,
            {
            }
            impl<F> $crate::signature::Accepts<F, $crate::threads::kind::Exclusive> for $name
            where
                F: for<$($lt),+> FnMut($($arg),*) $(-> $ret)?,
            {
            }
            impl<F> $crate::signature::Accepts<F, $crate::threads::kind::Once> for $name
            where
                F: for<$($lt),+> FnOnce($($arg),*) $(-> $ret)?,
            {
            }
        };
    };
    // `ud::Last`: the closure takes all but the last argument. (`ud::First` is `ud::At<0>`.)
    (@user_data $name:ident [$($lt:lifetime),+] [$($ret:ty)?] [$($before:ty),*] []) => {};
    (@user_data $name:ident [$($lt:lifetime),+] [$($ret:ty)?] [$($before:ty),*] [$last:ty]) => {
        $crate::hrtb!(@accepts $name [$($lt),+] [$($ret)?] $crate::ud::Last [$($before),*]);
    };
    (@user_data $name:ident [$($lt:lifetime),+] [$($ret:ty)?] [$($before:ty),*]
        [$next:ty, $($more:ty),+]) => {
        $crate::hrtb!(@user_data $name [$($lt),+] [$($ret)?] [$($before,)* $next] [$($more),+]);
    };
    // `ud::At<N>` for every N: the user data is the argument after the `before` ones.
    (@at $name:ident [$($lt:lifetime),+] [$($ret:ty)?] [$($before:ty),*] []) => {};
    (@at $name:ident [$($lt:lifetime),+] [$($ret:ty)?] [$($before:ty),*]
        [$current:ty $(, $after:ty)*]) => {
        $crate::hrtb!(@accepts $name [$($lt),+] [$($ret)?]
            $crate::ud::At<{ 0 $(+ $crate::hrtb!(@one $before))* }> [$($before,)* $($after),*]);
        $crate::hrtb!(@at $name [$($lt),+] [$($ret)?] [$($before,)* $current] [$($after),*]);
    };
    (@one $t:ty) => { 1 };
    // `ud::Via<G>`: the closure takes every argument.
    (@via $name:ident [$($lt:lifetime),+] [$($ret:ty)?] [$($arg:ty),*]) => {
        impl<F, G> $crate::signature::Accepts<F, ($crate::ud::Via<G>, $crate::threads::kind::Shared)>
            for $name
        where
            F: for<$($lt),+> Fn($($arg),*) $(-> $ret)?,
        {
        }
        impl<F, G>
            $crate::signature::Accepts<F, ($crate::ud::Via<G>, $crate::threads::kind::Exclusive)>
            for $name
        where
            F: for<$($lt),+> FnMut($($arg),*) $(-> $ret)?,
        {
        }
    };
    (@accepts $name:ident [$($lt:lifetime),+] [$($ret:ty)?] $position:ty [$($arg:ty),* $(,)?]) => {
        impl<F> $crate::signature::Accepts<F, ($position, $crate::threads::kind::Shared)>
            for $name
        where
            F: for<$($lt),+> Fn($($arg),*) $(-> $ret)?,
        {
        }
        impl<F> $crate::signature::Accepts<F, ($position, $crate::threads::kind::Exclusive)>
            for $name
        where
            F: for<$($lt),+> FnMut($($arg),*) $(-> $ret)?,
        {
        }
    };
    // One `'static` per lifetime, by recursion (a repetition must name a variable it repeats).
    (@erase $instance:ident [$($done:lifetime),*] [$lt:lifetime $(, $more:lifetime)*]) => {
        $crate::hrtb!(@erase $instance [$($done,)* 'static] [$($more),*])
    };
    (@erase $instance:ident [$($done:lifetime),*] []) => {
        $instance<$($done),*>
    };
}
