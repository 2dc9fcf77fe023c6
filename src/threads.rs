//! Thread modes of thunks: which threads C may call a thunk from, and so which closures it
//! may hold and whether the thunk itself is `Send` / `Sync`.
//!
//! The mode is the last type parameter of [`Thunk`](crate::Thunk),
//! [`ThunkMut`](crate::ThunkMut) and [`ThunkOnce`](crate::ThunkOnce), [`Local`] by default:
//!
//! | mode | closure must be | the thunk is | C may call it |
//! |---|---|---|---|
//! | [`Local`] | anything | neither `Send` nor `Sync` | on the thread that owns the thunk |
//! | [`Send`] | `Send` | `Send` | on any one thread at a time |
//! | [`Sync`] (`Thunk` only) | `Send + Sync` | `Send + Sync` | on any threads, at once |
//!
//! The type system cannot see which thread C calls from: those columns are the promise made
//! when the pointer is handed to C. What it does enforce is that a closure only ever goes to,
//! or is shared with, threads its auto traits allow. An `FnMut` thunk called re-entrantly
//! aborts with a message rather than alias its `&mut`; so does one in `threads::Send` called
//! from two threads at once. (`threads::Local` checks with one plain decrement in memory
//! instead of a locked swap, since all its calls and its drop are on one thread: a second
//! thread calling it breaks that promise, and is not caught.)
//!
//! ```
//! use trampoline::{Thunk, threads};
//! use std::sync::atomic::{AtomicUsize, Ordering};
//!
//! type Cb = unsafe extern "C" fn(i32) -> i32;
//! static CALLS: AtomicUsize = AtomicUsize::new(0);
//! let shared = Thunk::<Cb, threads::Sync>::new(|x: i32| {
//!     CALLS.fetch_add(1, Ordering::Relaxed);
//!     x + 1
//! });
//! std::thread::scope(|s| {
//!     for _ in 0..4 {
//!         // SAFETY: a `threads::Sync` thunk may be called from any thread, while it lives.
//!         s.spawn(|| assert_eq!(unsafe { (shared.as_fn())(1) }, 2));
//!     }
//! });
//! assert_eq!(CALLS.load(Ordering::Relaxed), 4);
//! ```
//!
//! # What does not compile
//!
//! A thunk in the default mode cannot go to another thread, whatever its closure:
//!
//! ```compile_fail,E0277
//! # use trampoline::Thunk;
//! type Cb = unsafe extern "C" fn(i32) -> i32;
//! let thunk = Thunk::<Cb>::new(|x: i32| x);
//! std::thread::spawn(move || drop(thunk));
//! ```
//!
//! `threads::Send` refuses a closure that is not `Send`:
//!
//! ```compile_fail,E0277
//! # use trampoline::{Thunk, threads};
//! type Cb = unsafe extern "C" fn(i32) -> i32;
//! let counter = std::rc::Rc::new(0);
//! let thunk = Thunk::<Cb, threads::Send>::new(move |x: i32| x + *counter);
//! ```
//!
//! `threads::Sync` refuses a closure that is not `Sync`:
//!
//! ```compile_fail,E0277
//! # use trampoline::{Thunk, threads};
//! type Cb = unsafe extern "C" fn(i32) -> i32;
//! let seen = std::cell::Cell::new(0);
//! let thunk = Thunk::<Cb, threads::Sync>::new(move |x: i32| { seen.set(x); x });
//! ```
//!
//! An `FnMut` thunk is never `Sync`, and `threads::Sync` is not a mode for it: C must not call
//! it from two threads at once.
//!
//! ```compile_fail,E0277
//! # use trampoline::{ThunkMut, threads};
//! type Cb = unsafe extern "C" fn(i32) -> i32;
//! let mut n = 0;
//! let thunk = ThunkMut::<Cb, threads::Sync>::new(move |x: i32| { n += x; n });
//! ```
//!
//! ```compile_fail,E0277
//! # use trampoline::{ThunkMut, threads};
//! type Cb = unsafe extern "C" fn(i32) -> i32;
//! let mut n = 0;
//! let thunk = ThunkMut::<Cb, threads::Send>::new(move |x: i32| { n += x; n });
//! std::thread::scope(|s| {
//!     s.spawn(|| thunk.as_fn());
//!     s.spawn(|| thunk.as_fn());
//! });
//! ```

/// C calls the thunk only on the thread that owns it (the default).
#[derive(Debug)]
pub enum Local {}

/// C calls the thunk on one thread at a time, not necessarily the owner's. The closure must
/// be `Send`, and the thunk is `Send`.
#[derive(Debug)]
pub enum Send {}

/// C calls the thunk from any number of threads at once. The closure must be `Fn + Send +
/// Sync`, and the thunk is `Send + Sync`.
#[derive(Debug)]
pub enum Sync {}

/// A thread mode: [`Local`], [`Send`] or [`Sync`] (sealed: a thunk's mode parameter is one of
/// these three).
///
/// ```compile_fail,E0277
/// type Cb = unsafe extern "C" fn(i32) -> i32;
/// let thunk: trampoline::Thunk<'static, Cb, String>; // not a thread mode
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a thread mode",
    label = "a thunk's second type parameter says which threads C may call it from",
    note = "use `threads::Local` (the default), `threads::Send` or `threads::Sync`"
)]
pub trait Mode: sealed::Sealed {}
impl Mode for Local {}
impl Mode for Send {}
impl Mode for Sync {}

/// Which closure kind a thunk holds, for the mode rules.
#[doc(hidden)]
pub mod kind {
    /// An `Fn` closure.
    #[derive(Debug)]
    pub enum Shared {}
    /// An `FnMut` closure.
    #[derive(Debug)]
    pub enum Exclusive {}
    /// An `FnOnce` closure.
    #[derive(Debug)]
    pub enum Once {}
}

/// Whether a thunk of closure kind `K` in this mode may hold a closure of type `F`.
#[diagnostic::on_unimplemented(
    message = "thread mode `{Self}` does not admit this closure in a thunk of kind `{K}`",
    label = "needs a `Send` closure for `threads::Send`, a `Send + Sync` one for `threads::Sync`",
    note = "`threads::Sync` is for `Thunk` (kind `Shared`, an `Fn` closure) only: an `FnMut` or \
            `FnOnce` thunk cannot be called from several threads at once; use `threads::Send`",
    note = "`threads::Local` (the default) admits any closure"
)]
pub trait Admits<F, K>: sealed::Sealed {}
impl<F, K> Admits<F, K> for Local {}
impl<F: core::marker::Send, K> Admits<F, K> for Send {}
impl<F: core::marker::Send + core::marker::Sync> Admits<F, kind::Shared> for Sync {}

/// Whether a leaked thunk of kind `K` in this mode may be handed out as the function-pointer
/// type `B` even when `B` is a safe `extern fn`: only where any thread calling it at any time
/// is sound (or aborts).
#[diagnostic::on_unimplemented(
    message = "`leak` can give `{B}` only from a thunk that any thread may call at any time",
    label = "use an `unsafe extern` fn type, or a thread-safe mode",
    note = "a safe fn pointer can be called from any thread without `unsafe`: `leak` hands one \
            out only from `Thunk<_, threads::Sync>`, `ThunkMut<_, threads::Send>` and \
            `ThunkOnce<_, threads::Send>`"
)]
pub trait HandsOut<B, K>: sealed::Sealed {}
impl<B: crate::UnsafeSignature, K> HandsOut<B, K> for Local {}
impl<B: crate::UnsafeSignature> HandsOut<B, kind::Shared> for Send {}
impl<B: crate::Signature> HandsOut<B, kind::Exclusive> for Send {}
impl<B: crate::Signature> HandsOut<B, kind::Once> for Send {}
impl<B: crate::Signature, K> HandsOut<B, K> for Sync {}

pub(crate) mod sealed {
    pub trait Sealed {
        /// Whether every call and the drop happen on the owner's thread (see
        /// `Slot::enter_as`).
        const ONE_THREAD: bool;
    }
    impl Sealed for super::Local {
        const ONE_THREAD: bool = true;
    }
    impl Sealed for super::Send {
        const ONE_THREAD: bool = false;
    }
    impl Sealed for super::Sync {
        const ONE_THREAD: bool = false;
    }
}
