//! User-data trampolines: the zero-cost path for C APIs whose callback takes a user-data
//! argument (`void *ud`, `LPARAM`, a context pointer).
//!
//! The trampoline is an ordinary `extern "ABI" fn`, monomorphised for the closure's type, that
//! finds the closure through the user-data argument and calls it with the other arguments. No
//! allocation, no executable memory, and the call inlines the closure.

use core::ffi::c_void;
use core::marker::PhantomData;

mod owned;

pub use owned::OwnedByC;

use crate::call::{CallFn, CallMut};
use crate::signature::{Accepts, UnsafeSignature, for_each_signature};
use crate::threads::kind;
use crate::types::{AbiReturn, AbiType, UserDataArg};

/// Where the user-data argument sits in a signature.
pub mod ud {
    /// The user-data argument is the first one (`qsort_s`, many `*_ex` APIs).
    pub type First = At<0>;

    /// The user-data argument is the last one (`EnumWindows`' `LPARAM`, `qsort_r` on glibc).
    #[derive(Clone, Copy, Debug, Default)]
    pub struct Last;

    /// The user-data argument is the one at index `N`, counting from 0.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct At<const N: usize>;

    /// No argument is the user data: the callback finds it through one of its arguments, with
    /// the getter `G` (a [`UserDataGetter`](super::UserDataGetter)), as sqlite's functions do
    /// with `sqlite3_user_data(ctx)`. The closure takes every argument.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct Via<G>(core::marker::PhantomData<fn() -> G>);
}

/// How a getter-style callback ([`ud::Via`]) finds its user data from its arguments: the
/// pointer that was registered with the C API beside the callback ([`UserData::data`]).
///
/// ```
/// use core::ffi::c_void;
/// use trampoline::{UserData, UserDataGetter, ud};
///
/// // A C API whose callback gets a context, and the user data from it (in Rust here).
/// #[repr(C)]
/// struct Context { user_data: *mut c_void }
/// type Func = unsafe extern "C" fn(*mut Context, i64) -> i64;
///
/// struct FromContext;
/// // SAFETY: returns what was registered as the context's user data.
/// unsafe impl UserDataGetter<(*mut Context, i64)> for FromContext {
///     unsafe fn user_data(args: &(*mut Context, i64)) -> *mut c_void {
///         unsafe { (*args.0).user_data }
///     }
/// }
///
/// let mut sum = 0;
/// let mut add = |_ctx: *mut Context, x: i64| { sum += x; sum };
/// let cb = UserData::<Func, ud::Via<FromContext>>::new(&mut add);
/// let mut ctx = Context { user_data: cb.data() };
/// // SAFETY: called with a context that carries this callback's user data.
/// unsafe { (cb.func())(&mut ctx, 2) };
/// assert_eq!(unsafe { (cb.func())(&mut ctx, 3) }, 5);
/// ```
///
/// # Safety
///
/// `user_data` must return the `data()` of the `UserData` whose `func()` was called with
/// `args` (the pointer the C API was given with it), or the trampoline reads a closure that is
/// not there.
pub unsafe trait UserDataGetter<Args> {
    /// The user-data pointer, found through the callback's arguments.
    ///
    /// # Safety
    ///
    /// Called by the trampoline with the arguments C passed, within C's call.
    unsafe fn user_data(args: &Args) -> *mut c_void;
}

/// A signature with a user-data argument at position `P` (one of the [`ud`] markers).
///
/// Implemented for every `unsafe extern "ABI" fn` [`Signature`](crate::Signature) of 1 to 12
/// arguments whose argument at `P` is a [`UserDataArg`]; the closure takes the other
/// arguments, in order.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no user-data argument at position `{P}`",
    label = "expected an `unsafe extern \"ABI\" fn` with a raw pointer, `isize` or `usize` \
             argument at that position",
    note = "the closure takes every argument except the user data, in order",
    note = "the type must be `unsafe extern \"ABI\" fn(..)` (or an `Option` of one): a safe \
            `extern fn` could be called with any user-data pointer"
)]
pub trait UserDataSignature<P>: UnsafeSignature {
    /// The arguments the closure takes: all but the user data.
    type ClosureArgs;
    /// The type of the user-data argument.
    type Data: UserDataArg;

    /// The trampoline that calls an `F` found through the user-data argument, by `&mut`.
    #[doc(hidden)]
    fn trampoline_mut<F: CallMut<Self::ClosureArgs, Self::Ret>>() -> Self;

    /// The trampoline that calls an `F` found through the user-data argument, by `&`. (Shared
    /// use from other threads is sound only for `F: Sync`: the constructors that hand it out
    /// to any thread require it.)
    #[doc(hidden)]
    fn trampoline_fn<F: CallFn<Self::ClosureArgs, Self::Ret>>() -> Self;
}

/// A borrowed closure as a C callback with a user-data argument.
///
/// `B` is the callback's C signature, an `unsafe extern "ABI" fn` type, and `P` the position
/// of its user-data argument ([`ud::First`], [`ud::Last`] or [`ud::At<N>`](ud::At)). Pass
/// [`func`](Self::func) as the callback and [`data`](Self::data) as the user data.
///
/// ```
/// use trampoline::{UserData, ud};
///
/// // A C API shaped like EnumWindows (here written in Rust, to keep the example whole).
/// type EnumProc = unsafe extern "system" fn(isize, isize) -> i32;
/// unsafe extern "system" fn enum_items(cb: EnumProc, lparam: isize) -> i32 {
///     let mut calls = 0;
///     for item in [10, 20, 30] {
///         calls += 1;
///         if unsafe { cb(item, lparam) } == 0 {
///             break;
///         }
///     }
///     calls
/// }
///
/// let mut seen = Vec::new();
/// let mut on_item = |item: isize| {
///     seen.push(item);
///     (item < 20) as i32 // stop after 20
/// };
/// let cb = UserData::<EnumProc, ud::Last>::new(&mut on_item);
/// // SAFETY: `enum_items` calls `cb` only during this call, from this thread, not re-entrantly.
/// let calls = unsafe { enum_items(cb.func(), cb.data()) };
/// assert_eq!(calls, 2);
/// assert_eq!(seen, [10, 20]);
/// ```
///
/// # What does not compile
///
/// The callback cannot outlive the closure it borrows:
///
/// ```compile_fail,E0597
/// # use trampoline::{UserData, ud};
/// # use core::ffi::c_void;
/// type Cb = unsafe extern "C" fn(i32, *mut c_void) -> i32;
/// let cb = {
///     let mut add_one = |x: i32| x + 1;
///     UserData::<Cb, ud::Last>::new(&mut add_one)
/// };
/// # let _ = cb.func();
/// ```
///
/// A safe `extern fn` type is refused: its pointer would be callable without `unsafe`
/// after the closure is gone, or with a bad user-data argument.
///
/// ```compile_fail,E0277
/// # use trampoline::{UserData, ud};
/// # use core::ffi::c_void;
/// type Cb = extern "C" fn(i32, *mut c_void) -> i32;
/// let mut add_one = |x: i32| x + 1;
/// let cb = UserData::<Cb, ud::Last>::new(&mut add_one);
/// ```
///
/// A type that is not a callback signature names the trait it lacks (error E0277, with
/// [`UserDataSignature`]'s message):
///
/// ```compile_fail,E0277
/// # use trampoline::{UserData, ud};
/// let mut f = |x: i32| x;
/// let cb = UserData::<fn(i32) -> i32, ud::First>::new(&mut f);
/// ```
///
/// The user-data argument must be able to hold a pointer:
///
/// ```compile_fail,E0277
/// # use trampoline::{UserData, ud};
/// type Cb = unsafe extern "C" fn(i32, f64) -> i32;
/// let mut add_one = |x: i32| x + 1;
/// let cb = UserData::<Cb, ud::Last>::new(&mut add_one);
/// ```
///
/// Types whose C ABI the crate does not know are refused, rather than guessed:
///
/// ```compile_fail,E0277
/// # use trampoline::{UserData, ud};
/// # use core::ffi::c_void;
/// struct Point { x: i32, y: i32 }
/// type Cb = unsafe extern "C" fn(Point, *mut c_void);
/// let mut f = |_p: Point| ();
/// let cb = UserData::<Cb, ud::Last>::new(&mut f);
/// ```
///
/// ```compile_fail,E0277
/// # use trampoline::{UserData, ud};
/// # use core::ffi::c_void;
/// type Cb = unsafe extern "C" fn(u128, *mut c_void);
/// let mut f = |_x: u128| ();
/// let cb = UserData::<Cb, ud::Last>::new(&mut f);
/// ```
///
/// The closure must take the signature's other arguments and return its return type:
///
/// ```compile_fail,E0277
/// # use trampoline::{UserData, ud};
/// # use core::ffi::c_void;
/// type Cb = unsafe extern "C" fn(i32, *mut c_void) -> i32;
/// let mut wrong = |x: i64| x + 1;
/// let cb = UserData::<Cb, ud::Last>::new(&mut wrong);
/// ```
///
/// A closure that C may call from several threads at once must be `Sync`:
///
/// ```compile_fail,E0277
/// # use trampoline::{UserData, ud};
/// # use core::ffi::c_void;
/// # use std::cell::Cell;
/// type Cb = unsafe extern "C" fn(i32, *mut c_void) -> i32;
/// let count = Cell::new(0);
/// let counting = |x: i32| { count.set(count.get() + 1); x };
/// let cb = UserData::<Cb, ud::Last>::new_sync(&counting);
/// ```
pub struct UserData<'a, B, P> {
    func: B,
    data: *mut c_void,
    _borrow: PhantomData<&'a mut c_void>,
    _position: PhantomData<fn() -> P>,
}

// The signature bound is on each method, not on the impl, so that a type that is not a
// user-data signature gets `UserDataSignature`'s own error message (E0277) rather than a bare
// "no function `new`" (E0599).
impl<'a, B, P> UserData<'a, B, P> {
    /// The callback `func` and its user data `data`, the closure borrowed for `'a`.
    #[inline]
    fn from_parts(func: B, data: *mut c_void) -> Self {
        UserData {
            func,
            data,
            _borrow: PhantomData,
            _position: PhantomData,
        }
    }

    /// Borrows an `FnMut` closure for the time C may call it.
    ///
    /// C must not call it from two threads at once, nor re-enter it, nor call it from another
    /// thread unless the closure is `Send`; use [`new_sync`](Self::new_sync) for callbacks
    /// that C calls concurrently.
    #[inline]
    pub fn new<F>(closure: &'a mut F) -> Self
    where
        B: UserDataSignature<P> + Accepts<F, (P, kind::Exclusive)>,
        F: CallMut<B::ClosureArgs, B::Ret>,
    {
        Self::from_parts(B::trampoline_mut::<F>(), (closure as *mut F).cast())
    }

    /// Borrows an `Fn + Sync` closure, which C may call from any number of threads at once and
    /// re-enter.
    #[inline]
    pub fn new_sync<F>(closure: &'a F) -> Self
    where
        B: UserDataSignature<P> + Accepts<F, (P, kind::Shared)>,
        F: CallFn<B::ClosureArgs, B::Ret> + Sync,
    {
        Self::from_parts(
            B::trampoline_fn::<F>(),
            (closure as *const F).cast_mut().cast(),
        )
    }

    /// Borrows an `Fn` closure that need not be `Sync` (it may hold a `Cell`, say), which C
    /// may re-enter but must call only on the thread that owns this `UserData` (or, if the
    /// closure is `Send`, on one thread at a time).
    ///
    /// ```
    /// use core::cell::Cell;
    /// use core::ffi::c_void;
    /// use trampoline::{UserData, ud};
    ///
    /// type Visit = unsafe extern "C" fn(*mut c_void, i32) -> i32;
    /// let depth = Cell::new(0);
    /// let visit = |n: i32| {
    ///     depth.set(depth.get().max(n));
    ///     n
    /// };
    /// let cb = UserData::<Visit, ud::First>::new_shared(&visit);
    /// // SAFETY: called on this thread, with its user data, while `cb` lives.
    /// unsafe { (cb.func())(cb.data(), 3) };
    /// assert_eq!(depth.get(), 3);
    /// ```
    #[inline]
    pub fn new_shared<F>(closure: &'a F) -> Self
    where
        B: UserDataSignature<P> + Accepts<F, (P, kind::Shared)>,
        F: CallFn<B::ClosureArgs, B::Ret>,
    {
        Self::from_parts(
            B::trampoline_fn::<F>(),
            (closure as *const F).cast_mut().cast(),
        )
    }

    /// The C function pointer to pass as the callback.
    ///
    /// Calling it is sound only with [`data`](Self::data) as the user-data argument, while
    /// this `UserData` (and so the borrow of the closure) lives, and within the limits its
    /// constructor states.
    #[inline]
    pub fn func(&self) -> B
    where
        B: Copy,
    {
        self.func
    }

    /// The C function pointer as the safe `extern fn` type of the same signature, for APIs
    /// whose bindings declare the callback that way (libc's `pthread_create`, whose start
    /// routine takes its argument as user data).
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use core::ffi::c_void;
    /// use trampoline::{UserData, ud};
    ///
    /// type Start = unsafe extern "C" fn(*mut c_void) -> *mut c_void;
    /// let answer = std::sync::atomic::AtomicUsize::new(0);
    /// let run = || {
    ///     answer.store(42, std::sync::atomic::Ordering::SeqCst);
    ///     core::ptr::null_mut()
    /// };
    /// let start = UserData::<Start, ud::First>::new_sync(&run);
    /// // (`pthread_t` is an integer on glibc, a pointer on musl and macOS.)
    /// let mut thread = core::mem::MaybeUninit::<libc::pthread_t>::uninit();
    /// // SAFETY: the thread is joined below, while `start` (and `run`) live, and is started
    /// // with `start.data()` as its argument; `pthread_create` initialises `thread`.
    /// unsafe {
    ///     let start_routine = start.func_as_safe();
    ///     assert_eq!(libc::pthread_create(thread.as_mut_ptr(), core::ptr::null(), start_routine, start.data()), 0);
    ///     assert_eq!(libc::pthread_join(thread.assume_init(), core::ptr::null_mut()), 0);
    /// }
    /// assert_eq!(answer.load(std::sync::atomic::Ordering::SeqCst), 42);
    /// # }
    /// ```
    ///
    /// # Safety
    ///
    /// A user-data function is never sound to call with just any argument, but the safe type
    /// lets any code call it: whoever receives it must only call it as [`func`](Self::func)
    /// allows (with [`data`](Self::data), while this `UserData` lives, within its
    /// constructor's limits). That is this method's caller's promise, for every call.
    #[inline]
    pub unsafe fn func_as_safe(&self) -> <B as UnsafeSignature>::Safe
    where
        B: UserDataSignature<P>,
    {
        // SAFETY: `B` and `B::Safe` are the same function-pointer type but for `unsafe` (or
        // `Option`s of them): same size and representation.
        unsafe { core::mem::transmute_copy::<B, B::Safe>(&self.func) }
    }

    /// The value to pass as the user-data argument: the closure's address.
    #[inline]
    pub fn data(&self) -> B::Data
    where
        B: UserDataSignature<P>,
    {
        B::Data::from_ptr(self.data)
    }
}

impl<B, P> core::fmt::Debug for UserData<'_, B, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UserData")
            .field("signature", &core::any::type_name::<B>())
            .field("data", &self.data)
            .finish()
    }
}

/// `Option<fn>` types (bindgen's, `windows-sys`'s): the same trampolines, as `Some`.
impl<B, P> UserDataSignature<P> for Option<B>
where
    B: UserDataSignature<P> + crate::signature::sealed::BareFn,
    B::Safe: crate::signature::sealed::BareFn,
{
    type ClosureArgs = B::ClosureArgs;
    type Data = B::Data;

    #[inline]
    fn trampoline_mut<F: CallMut<Self::ClosureArgs, Self::Ret>>() -> Self {
        Some(B::trampoline_mut::<F>())
    }

    #[inline]
    fn trampoline_fn<F: CallFn<Self::ClosureArgs, Self::Ret>>() -> Self {
        Some(B::trampoline_fn::<F>())
    }
}

/// Implements [`UserDataSignature`] for one ABI and arity, at every user-data position.
macro_rules! impl_user_data {
    ($abi:literal $kind:ident $unwind:tt [$($A:ident $a:ident)*]) => {
        impl_user_data!(@split $abi $unwind [] [$($A $a)*]);
        impl_user_data!(@via $abi $unwind [$($A $a)*]);
    };
    // No user-data argument: `G` finds the user data from the arguments.
    (@via $abi:literal $unwind:tt [$($A:ident $a:ident)*]) => {
        impl<G, R: AbiReturn, $($A: AbiType,)*> UserDataSignature<ud::Via<G>>
            for unsafe extern $abi fn($($A,)*) -> R
        where
            G: UserDataGetter<($($A,)*)>,
        {
            type ClosureArgs = ($($A,)*);
            type Data = *mut c_void;

            #[inline]
            fn trampoline_mut<F: CallMut<Self::ClosureArgs, R>>() -> Self {
                unsafe extern $abi fn trampoline<F, G, R, $($A,)*>($($a: $A,)*) -> R
                where
                    F: CallMut<($($A,)*), R>,
                    G: UserDataGetter<($($A,)*)>,
                {
                    let args = ($($a,)*);
                    crate::panic_guard::guard!(
                        $unwind,
                        unsafe extern $abi fn($($A,)*) -> R,
                        {
                            // SAFETY: the getter returns this callback's `UserData::data`
                            // (its contract), the address of an `F` kept mutably borrowed; the
                            // caller of this `unsafe` function promised the `UserData` is
                            // alive and no other call of it is running.
                            let closure = unsafe { &mut *G::user_data(&args).cast::<F>() };
                            closure.call_mut(args)
                        }
                    )
                }
                trampoline::<F, G, R, $($A,)*>
            }

            #[inline]
            fn trampoline_fn<F: CallFn<Self::ClosureArgs, R>>() -> Self {
                unsafe extern $abi fn trampoline<F, G, R, $($A,)*>($($a: $A,)*) -> R
                where
                    F: CallFn<($($A,)*), R>,
                    G: UserDataGetter<($($A,)*)>,
                {
                    let args = ($($a,)*);
                    crate::panic_guard::guard!(
                        $unwind,
                        unsafe extern $abi fn($($A,)*) -> R,
                        {
                            // SAFETY: as above, shared: the `F` is kept borrowed, and shared
                            // use from other threads is for a `Sync` `F` only (`new_sync`).
                            // For a C-owned callback, `F` is a view of its pool slot, mapped
                            // for good, which checks itself before any use (`owned.rs`).
                            let closure = unsafe { &*G::user_data(&args).cast_const().cast::<F>() };
                            closure.call_fn(args)
                        }
                    )
                }
                trampoline::<F, G, R, $($A,)*>
            }
        }
    };
    // The user data replaces the first argument of the second list.
    (@split $abi:literal $unwind:tt [$($B:ident $b:ident)*]
        [$U:ident $u:ident $($D:ident $d:ident)*]) => {
        impl_user_data!(@impl $abi $unwind ud::At<{ 0 $(+ impl_user_data!(@one $B))* }>
            [$($B $b)*] [$($D $d)*]);
        impl_user_data!(@last $abi $unwind [$($B $b)*] [$($D $d)*]);
        impl_user_data!(@split $abi $unwind [$($B $b)* $U $u] [$($D $d)*]);
    };
    (@split $abi:literal $unwind:tt [$($B:ident $b:ident)*] []) => {};
    (@last $abi:literal $unwind:tt [$($B:ident $b:ident)*] []) => {
        impl_user_data!(@impl $abi $unwind ud::Last [$($B $b)*] []);
    };
    (@last $abi:literal $unwind:tt [$($B:ident $b:ident)*] [$($D:ident $d:ident)+]) => {};
    (@one $B:ident) => { 1 };
    (@impl $abi:literal $unwind:tt $pos:ty [$($B:ident $b:ident)*] [$($D:ident $d:ident)*]) => {
        impl<R: AbiReturn, U: UserDataArg, $($B: AbiType,)* $($D: AbiType,)*>
            UserDataSignature<$pos> for unsafe extern $abi fn($($B,)* U, $($D,)*) -> R
        {
            type ClosureArgs = ($($B,)* $($D,)*);
            type Data = U;

            #[inline]
            fn trampoline_mut<F: CallMut<Self::ClosureArgs, R>>() -> Self {
                unsafe extern $abi fn trampoline<F, R, U, $($B,)* $($D,)*>(
                    $($b: $B,)* data: U, $($d: $D,)*
                ) -> R
                where
                    F: CallMut<($($B,)* $($D,)*), R>,
                    U: UserDataArg,
                {
                    // SAFETY: `data` is what `UserData::data` returned for this trampoline: the
                    // address of an `F` that the `UserData` keeps mutably borrowed. The caller
                    // of this `unsafe` function promised that the `UserData` is alive and that
                    // no other call of it is running, so this is the only reference.
                    let closure = unsafe { &mut *data.into_ptr().cast::<F>() };
                    crate::panic_guard::guard!(
                        $unwind,
                        unsafe extern $abi fn($($B,)* U, $($D,)*) -> R,
                        { closure.call_mut(($($b,)* $($d,)*)) }
                    )
                }
                trampoline::<F, R, U, $($B,)* $($D,)*>
            }

            #[inline]
            fn trampoline_fn<F: CallFn<Self::ClosureArgs, R>>() -> Self {
                unsafe extern $abi fn trampoline<F, R, U, $($B,)* $($D,)*>(
                    $($b: $B,)* data: U, $($d: $D,)*
                ) -> R
                where
                    F: CallFn<($($B,)* $($D,)*), R>,
                    U: UserDataArg,
                {
                    // SAFETY: `data` is what `UserData::data` returned for this trampoline: the
                    // address of an `F` that the `UserData` keeps borrowed, so it is alive
                    // while the caller may call this. Shared use from other threads is for a
                    // `Sync` `F` only (`new_sync`), else the caller's promise (`new_shared`).
                    // For a C-owned callback, `F` is a view of its pool slot, mapped for good,
                    // which checks itself before any use, and keeps calls apart (`owned.rs`).
                    let closure = unsafe { &*data.into_ptr().cast_const().cast::<F>() };
                    crate::panic_guard::guard!(
                        $unwind,
                        unsafe extern $abi fn($($B,)* U, $($D,)*) -> R,
                        { closure.call_fn(($($b,)* $($d,)*)) }
                    )
                }
                trampoline::<F, R, U, $($B,)* $($D,)*>
            }
        }
    };
}

for_each_signature!(impl_user_data);
