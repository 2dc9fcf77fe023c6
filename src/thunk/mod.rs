//! Thunks: a distinct C function pointer for each closure, for C APIs with no user-data slot.
//!
//! A thunk is a slot in a block of static trampoline pages (see `crate::pool` and
//! `crate::arch`): its code address is a stub that never changes, and its data slot holds the
//! closure and the address of a body monomorphised for it. Creating one takes a free slot and
//! writes it; dropping one points the slot at a handler that aborts with a message, drops the
//! closure, and returns the slot to the back of the free list.

mod invoke;
mod signature;

use core::ffi::c_void;
use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::Ordering;

use crate::abort::abort_with;
use crate::arch::Plan;
use crate::call::{CallFn, CallMut, CallOnce};
use crate::error::Error;
use crate::pool;
use crate::signature::{Accepts, UnsafeSignature};
use crate::slot::{BUSY, DEAD, IDLE, Slot, dead_state};
use crate::threads::{self, Admits, HandsOut, Local, Mode, kind};
use core::panic::Location;

pub use invoke::Invoke;
use invoke::{ByMut, ByOnce, ByRef, Stale};
pub use signature::ThunkSignature;

/// The type-erased owner of one slot.
struct RawThunk {
    slot: NonNull<Slot>,
    /// Drops the closure left in the slot; `None` when that is a no-op (an inline closure
    /// with no drop glue), which saves an indirect call per drop.
    drop_closure: Option<unsafe fn(*const Slot)>,
    /// The slot's `state` word once dropped: DEAD, and where the thunk was created.
    dead_state: usize,
}

impl RawThunk {
    /// Takes a slot for signature `B` and moves `closure` into it, to be called by `I`.
    fn new<B: ThunkSignature, I: Invoke<B::Args, B::Ret>, F>(
        closure: F,
        created: &'static Location<'static>,
    ) -> Result<RawThunk, Error> {
        const {
            if let Plan::Refused(reason) = B::PLAN {
                panic!("{}", reason);
            }
            assert!(size_of::<B>() == size_of::<usize>());
        };
        let plan = B::PLAN;
        let slot = pool::acquire(plan.kind())?;
        let body = B::body::<I>();
        // SAFETY: `acquire` gave us this slot, free and unaliased, until `release`. The
        // entry is published last, with release ordering, so a thread that is handed the
        // code address sees the rest.
        unsafe {
            let slot = slot.as_ptr();
            Slot::store(slot, closure);
            (*slot).state.store(IDLE, Ordering::Relaxed);
            let entry = match plan.frame() {
                Some(frame) => {
                    (*slot).frame_stack.store(frame.stack, Ordering::Relaxed);
                    (*slot).frame_body.store(body, Ordering::Relaxed);
                    frame.adapter as usize
                }
                None => body,
            };
            (*slot).entry.store(entry, Ordering::Release);
        }
        let drop_closure = (core::mem::needs_drop::<F>() || !crate::slot::stored_inline::<F>())
            .then_some(Slot::drop_closure::<F> as unsafe fn(*const Slot));
        Ok(RawThunk {
            slot,
            drop_closure,
            dead_state: dead_state(created),
        })
    }

    /// The stub's address, as the signature type.
    fn code<B: ThunkSignature>(&self) -> B {
        let code = pool::code_address(self.slot);
        // SAFETY: `B` is a function-pointer type (checked to be pointer-sized in `new`), and
        // `code` is the stub that enters a body for `B`.
        unsafe { core::mem::transmute_copy::<usize, B>(&code) }
    }

    /// Marks the slot dead, points it at the stale-call handler, drops the closure if it is
    /// still there, and frees the slot.
    ///
    /// `STATEFUL` says whether calls go through the slot's state (`FnMut` and `FnOnce`
    /// thunks). An `Fn` thunk's never leaves IDLE, so its drop need not swap it.
    ///
    /// # Safety
    ///
    /// `B` and `M` are the signature and thread mode the thunk was created for; called once.
    #[inline]
    unsafe fn release<B: ThunkSignature, M: Mode, const STATEFUL: bool>(&mut self) {
        let slot = self.slot.as_ptr();
        // SAFETY: the slot is ours until `pool::release`. Once `kill` has swapped in DEAD, a
        // call that races this drop finds DEAD and aborts instead of touching the closure
        // (for `FnMut` and `FnOnce` thunks; see `crate::slot`). `drop_closure` is the drop
        // for the closure type `new` stored.
        unsafe {
            let found = if STATEFUL {
                (*slot).kill(self.dead_state, M::ONE_THREAD)
            } else {
                (*slot).state.store(self.dead_state, Ordering::Relaxed);
                IDLE
            };
            if found == BUSY || found == DEAD {
                refused_drop(found, core::any::type_name::<B>());
            }
            let stale = B::body::<Stale<B>>();
            match B::PLAN.frame() {
                Some(_) => (*slot).frame_body.store(stale, Ordering::Release),
                None => (*slot).entry.store(stale, Ordering::Release),
            }
            if let (IDLE, Some(drop_closure)) = (found, self.drop_closure) {
                // The slot still holds the closure (never consumed): drop it, once.
                drop_closure(slot);
            }
            pool::release(B::PLAN.kind(), self.slot);
        }
    }
}

/// A drop that found its slot `BUSY` (the closure is running) or `DEAD` (dropped already).
/// Out of line, so that the drop's own path stays small enough to inline.
#[cold]
#[inline(never)]
fn refused_drop(found: usize, signature: &str) -> ! {
    if found == DEAD {
        unreachable!("a thunk is dropped once");
    }
    abort_with(format_args!(
        "a thunk ({signature}) was dropped while its closure was running: from inside its own \
         call, or on another thread during a call there"
    ))
}

/// Maps, up front, what `additional` thunks of signature `B` need, so that creating them
/// afterwards makes no system call: for real-time threads, or code that must not block on the
/// OS at the moment it creates a callback.
///
/// After `reserve::<B>(n)`, the pool serving `B` has at least `n` free slots, plus the two
/// blocks' worth that a creating thread's cache of free slots may take on the way (it keeps at
/// least a block's worth, so that freed slots are reused late). Signatures whose context goes
/// in the same register share that pool, so they use the reservation too. What creation still
/// does: it takes the pool's lock once per block's worth (uncontended, a few nanoseconds); a
/// thread's first creation allocates the record of its cache and registers the destructor that
/// gives the cache back at thread exit; and it boxes a closure larger than four words (a heap
/// allocation; a smaller one is stored in the slot). So creation is **not** async-signal-safe,
/// reserved or not, and neither is a drop: a signal handler that creates or drops a thunk can
/// find the pool's lock held, or this thread's free-slot cache half-updated,
/// by the code it interrupted.
///
/// ```
/// type Cb = unsafe extern "C" fn(i32) -> i32;
/// trampoline::reserve::<Cb>(1000)?;
/// let blocks = trampoline::pool_stats().blocks;
/// let thunks: Vec<_> = (0..1000).map(|k| trampoline::Thunk::<Cb>::new(move |x: i32| x + k)).collect();
/// assert_eq!(trampoline::pool_stats().blocks, blocks, "no block mapped while creating");
/// # drop(thunks);
/// # Ok::<(), trampoline::Error>(())
/// ```
///
/// # Errors
///
/// As [`Thunk::try_new`]: when a block cannot be mapped (the blocks mapped before that stay
/// reserved).
pub fn reserve<B: ThunkSignature>(additional: usize) -> Result<(), Error> {
    const {
        if let Plan::Refused(reason) = B::PLAN {
            panic!("{}", reason);
        }
    };
    pool::reserve(B::PLAN.kind(), additional)
}

/// A thunk handed over to C for good (by `into_c`): the values to give C. Nothing frees the
/// thunk but a call of `destroy`.
#[must_use = "the thunk is freed only when C calls `destroy`: give C all three"]
pub struct OwnedThunk<B> {
    /// The callback: the thunk's code address.
    pub func: B,
    /// The data pointer to give C beside it, for `destroy`: the thunk's heap address.
    pub data: *mut c_void,
    /// The destroy notify. C calls it once, with `data`, when it will not call `func` again;
    /// it drops the thunk and its closure.
    pub destroy: unsafe extern "C" fn(*mut c_void),
}

impl<B> fmt::Debug for OwnedThunk<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedThunk")
            .field("signature", &core::any::type_name::<B>())
            .field("data", &self.data)
            .finish()
    }
}

/// Defines one of the public thunk types.
macro_rules! thunk_type {
    (
        $(#[$doc:meta])*
        $name:ident, $kind:ty, $call:ident, $strategy:ident, $stateful:expr
    ) => {
        $(#[$doc])*
        pub struct $name<'a, B: ThunkSignature, M: Mode = Local> {
            raw: RawThunk,
            _marker: PhantomData<(&'a (), fn() -> B, M, *mut ())>,
        }

        impl<'a, B: ThunkSignature, M: Mode> $name<'a, B, M> {
            /// Creates a thunk that calls `closure`.
            ///
            /// # Panics
            ///
            /// When no memory can be mapped for a new block of thunks; see
            /// [`try_new`](Self::try_new).
            #[track_caller]
            pub fn new<F>(closure: F) -> Self
            where
                F: $call<B::Args, B::Ret> + 'a,
                B: Accepts<F, $kind>,
                M: Admits<F, $kind>,
            {
                Self::try_new(closure)
                    .unwrap_or_else(|e| panic!("trampoline: cannot create a thunk: {}", e.chain()))
            }

            /// Creates a thunk that calls `closure`, or says why it cannot.
            ///
            /// Where it is called from is kept, so that a call from C after the thunk is
            /// dropped aborts with a message that names the place the thunk was created.
            #[track_caller]
            pub fn try_new<F>(closure: F) -> Result<Self, Error>
            where
                F: $call<B::Args, B::Ret> + 'a,
                B: Accepts<F, $kind>,
                M: Admits<F, $kind>,
            {
                let raw = RawThunk::new::<B, $strategy<B, F, M>, F>(closure, Location::caller())?;
                Ok($name { raw, _marker: PhantomData })
            }

            /// The C function pointer. It is valid until this thunk is dropped (or, if the
            /// thunk is leaked with `mem::forget`, until the data its closure borrows goes
            /// away): calling it after the drop aborts the process with a message until the
            /// slot is reused, and is undefined behaviour after that.
            ///
            /// The thunk must also outlive every call in progress: dropping it from inside its
            /// own call (say, through an `Rc<RefCell<Option<Thunk>>>` the closure holds), or on
            /// another thread while a call runs, would drop the closure under it. A `ThunkMut`
            /// or `ThunkOnce` dropped while its closure runs aborts; a `Thunk` cannot tell
            /// without slowing every call, so that is the caller's promise.
            #[inline]
            pub fn as_fn(&self) -> B
            where
                B: UnsafeSignature,
            {
                self.raw.code::<B>()
            }

            /// The code address, for APIs that take an untyped pointer.
            #[inline]
            pub fn as_ptr(&self) -> *const c_void {
                pool::code_address(self.raw.slot) as *const c_void
            }
        }

        impl<B: ThunkSignature, M: Mode> $name<'static, B, M> {
            /// Gives up ownership: the closure lives, and the pointer stays valid, until the
            /// process ends. For C APIs that keep a callback forever (`atexit`, signal
            /// handlers).
            pub fn leak(self) -> B
            where
                M: HandsOut<B, $kind>,
            {
                let code = self.raw.code::<B>();
                core::mem::forget(self);
                code
            }
        }

        impl<B: ThunkSignature, M: Mode> $name<'static, B, M> {
            /// Hands the thunk over to C for good, with a destroy notify that drops it: for C
            /// APIs that keep a callback and a data pointer, and call a destroy notify with
            /// that pointer when they drop the callback (sqlite's `xDestroy` beside
            /// `sqlite3_create_function`'s `pApp`, GLib's `GDestroyNotify`). The callback
            /// needs no user data (the thunk has its own state), so `data` is free to be what
            /// the API passes to `destroy`.
            ///
            /// C may destroy it on any thread, so the thunk must be `Send` (its mode
            /// `threads::Send` or `threads::Sync`). A call after the destroy aborts as for any
            /// dropped thunk, until the slot is reused; a second destroy aborts too.
            ///
            /// A `threads::Local` thunk cannot be given away (C might drop it elsewhere):
            ///
            /// ```compile_fail,E0277
            /// # use trampoline::Thunk;
            /// type Cb = unsafe extern "C" fn(i32) -> i32;
            /// let owned = Thunk::<Cb>::new(|x: i32| x).into_c();
            /// ```
            pub fn into_c(self) -> OwnedThunk<B>
            where
                Self: Send,
                B: UnsafeSignature,
            {
                let func = self.raw.code::<B>();
                OwnedThunk {
                    func,
                    data: crate::owned::give_to_c(self),
                    destroy: crate::owned::destroy::<Self>,
                }
            }
        }

        impl<B: ThunkSignature, M: Mode> Drop for $name<'_, B, M> {
            #[inline]
            fn drop(&mut self) {
                // SAFETY: the thunk was created for `B`, and is dropped once.
                unsafe { self.raw.release::<B, M, $stateful>() }
            }
        }

        impl<B: ThunkSignature, M: Mode> fmt::Debug for $name<'_, B, M> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("signature", &core::any::type_name::<B>())
                    .field("code", &self.as_ptr())
                    .finish()
            }
        }
    };
}

thunk_type! {
    /// An `Fn` closure as a C function pointer with its own code address.
    ///
    /// ```
    /// use trampoline::Thunk;
    ///
    /// // A C API that takes a bare callback (written in Rust to keep the example whole).
    /// type Cb = unsafe extern "C" fn(i32) -> i32;
    /// unsafe extern "C" fn apply_twice(cb: Cb, x: i32) -> i32 {
    ///     unsafe { cb(cb(x)) }
    /// }
    ///
    /// let offset = 10;
    /// let add = Thunk::<Cb>::new(move |x: i32| x + offset);
    /// // SAFETY: `add` outlives the call.
    /// assert_eq!(unsafe { apply_twice(add.as_fn(), 1) }, 21);
    /// ```
    ///
    /// `M` is the [thread mode](crate::threads): with [`threads::Sync`] and a `Send + Sync`
    /// closure, C may call the thunk from any number of threads at once.
    ///
    /// # What does not compile
    ///
    /// A thunk cannot outlive the closure's borrows:
    ///
    /// ```compile_fail,E0597
    /// # use trampoline::Thunk;
    /// type Cb = unsafe extern "C" fn(i32) -> i32;
    /// let thunk = {
    ///     let offset = 5;
    ///     Thunk::<Cb>::new(|x: i32| x + offset)
    /// };
    /// # drop(thunk);
    /// ```
    ///
    /// Only a `'static` closure can be leaked:
    ///
    /// ```compile_fail,E0597
    /// # use trampoline::Thunk;
    /// type Cb = unsafe extern "C" fn(i32) -> i32;
    /// let offset = 5;
    /// let forever: Cb = Thunk::<Cb>::new(|x: i32| x + offset).leak();
    /// ```
    ///
    /// `as_fn` hands out only `unsafe` function pointers, since the pointer dies with the
    /// thunk; a safe one comes only from `leak` in a mode where any thread may call it:
    ///
    /// ```compile_fail,E0277
    /// # use trampoline::Thunk;
    /// type Cb = extern "C" fn(i32) -> i32;
    /// let thunk = Thunk::<Cb>::new(|x: i32| x + 1);
    /// let f: Cb = thunk.as_fn();
    /// ```
    ///
    /// ```compile_fail,E0277
    /// # use trampoline::Thunk;
    /// type Cb = extern "C" fn(i32) -> i32;
    /// let f: Cb = Thunk::<Cb>::new(|x: i32| x + 1).leak(); // `threads::Local`
    /// ```
    ///
    /// ```
    /// # use trampoline::{Thunk, threads};
    /// type Cb = extern "C" fn(i32) -> i32;
    /// let f: Cb = Thunk::<Cb, threads::Sync>::new(|x: i32| x + 1).leak();
    /// assert_eq!(f(1), 2); // safe to call: the closure lives forever and is `Sync`
    /// ```
    Thunk, kind::Shared, CallFn, ByRef, false
}

thunk_type! {
    /// An `FnMut` closure as a C function pointer with its own code address.
    ///
    /// Re-entering it, or (in `threads::Send`) calling it from two threads at once, aborts the
    /// process with a message instead of aliasing the closure's `&mut`.
    ///
    /// ```
    /// use core::ffi::c_void;
    /// use trampoline::ThunkMut;
    ///
    /// type Cmp = unsafe extern "C" fn(*const c_void, *const c_void) -> i32;
    /// let mut calls = 0;
    /// let mut values = [3, 1, 2];
    /// {
    ///     let cmp = ThunkMut::<Cmp>::new(|a: *const c_void, b: *const c_void| {
    ///         calls += 1;
    ///         // SAFETY: qsort passes pointers to elements.
    ///         unsafe { (*a.cast::<i32>()).cmp(&*b.cast::<i32>()) as i32 }
    ///     });
    ///     // SAFETY: `cmp` outlives the call and matches qsort's comparator type.
    ///     # #[cfg(unix)]
    ///     unsafe { libc_qsort(values.as_mut_ptr().cast(), 3, 4, cmp.as_fn()) };
    ///     # #[cfg(not(unix))] values.sort();
    /// }
    /// assert_eq!(values, [1, 2, 3]);
    /// # #[cfg(unix)]
    /// assert!(calls >= 2);
    /// # #[cfg(unix)]
    /// # unsafe extern "C" { #[link_name = "qsort"] fn libc_qsort(base: *mut c_void, n: usize, size: usize, cmp: Cmp); }
    /// ```
    ThunkMut, kind::Exclusive, CallMut, ByMut, true
}

thunk_type! {
    /// An `FnOnce` closure as a C function pointer with its own code address. A second call
    /// aborts the process with a message.
    ///
    /// ```
    /// use trampoline::ThunkOnce;
    ///
    /// type Done = unsafe extern "C" fn(i32);
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let done = ThunkOnce::<Done>::new(move |status: i32| tx.send(status).unwrap());
    /// // SAFETY: called once, while `done` lives.
    /// unsafe { (done.as_fn())(7) };
    /// assert_eq!(rx.recv().unwrap(), 7);
    /// ```
    ThunkOnce, kind::Once, CallOnce, ByOnce, true
}

// SAFETY: `threads::Send` admits only `Send` closures, so the closure may be dropped, and
// called (one thread at a time), on another thread.
unsafe impl<B: ThunkSignature> Send for Thunk<'_, B, threads::Send> {}
// SAFETY: as above.
unsafe impl<B: ThunkSignature> Send for ThunkMut<'_, B, threads::Send> {}
// SAFETY: as above.
unsafe impl<B: ThunkSignature> Send for ThunkOnce<'_, B, threads::Send> {}
// SAFETY: `threads::Sync` admits only `Fn + Send + Sync` closures, which any thread may call
// through a shared reference at any time.
unsafe impl<B: ThunkSignature> Send for Thunk<'_, B, threads::Sync> {}
// SAFETY: as above.
unsafe impl<B: ThunkSignature> Sync for Thunk<'_, B, threads::Sync> {}
