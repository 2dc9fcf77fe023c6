//! `ThunkSignature`: for each signature, its plan (which stub, whether it needs a frame) and
//! its body, the Rust function the stub ends up in.
//!
//! The body of a signature `extern "ABI" fn(A0, .., An) -> R` is
//! `extern "ABI" fn(a0: A0, .., an: An, ctx: *const Slot) -> R`: the arguments exactly where
//! C put them, and the slot address where the ABI passes one more pointer argument — which is
//! where the stub or frame adapter put it. The body is an ordinary Rust function: it reads no
//! register by itself, so nothing here depends on what rustc emits.
//!
//! On 32-bit x86, stdcall-like signatures (callee pops, all arguments on the stack) use
//! `extern "fastcall" fn(ctx, _edx: u32, a0, .., an) -> R` instead: `ctx` arrives in ecx and
//! the stack is exactly the caller's, which fastcall also pops.

// The hidden items of these traits use crate-private types on purpose: no one outside the
// crate can implement or call them, which keeps the stub contract internal.
#![allow(private_interfaces)]

use crate::arch::{self, Plan};
use crate::signature::{Signature, for_each_signature};
use crate::slot::Slot;
use crate::thunk::invoke::Invoke;
use crate::types::{AbiReturn, AbiType};

/// A [`Signature`] that thunks can be made for: every signature, on every supported target.
///
/// A few combinations are refused at compile time, with the reason: on 32-bit x86, the
/// `win64` and `sysv64` ABIs, and `thiscall` signatures whose first argument cannot go in ecx
/// but whose later arguments are integers.
///
/// Those errors come from `cargo build`, not from `cargo check`: the refusal is a `const`
/// block in the thunk constructors, evaluated when they are instantiated for the signature,
/// which `cargo check` does not do. The trait system cannot refuse them earlier on stable
/// Rust, because whether a signature is refused is computed from its argument classes (a
/// `const fn` over `AbiClass`es), and bounding a trait impl on the result of such a
/// computation needs `generic_const_exprs`, which is unstable.
pub trait ThunkSignature: Signature {
    /// How the thunk receives its context on this target.
    #[doc(hidden)]
    const PLAN: Plan;

    /// The code address of the body that calls the closure with strategy `I`.
    #[doc(hidden)]
    fn body<I: Invoke<Self::Args, Self::Ret>>() -> usize;
}

macro_rules! impl_thunk_signature {
    ($abi:literal $kind:ident $unwind:tt [$($A:ident $a:ident)*]) => {
        impl_thunk_signature!(@one $abi $unwind [$($A $a)*] unsafe extern $abi fn($($A),*) -> R);
        impl_thunk_signature!(@one $abi $unwind [$($A $a)*] extern $abi fn($($A),*) -> R);
    };
    (@one $abi:literal $unwind:tt [$($A:ident $a:ident)*] $fn:ty) => {
        impl<R: AbiReturn, $($A: AbiType),*> ThunkSignature for $fn {
            const PLAN: Plan = arch::plan(
                <Self as Signature>::ABI,
                <Self as Signature>::ARGS,
                <Self as Signature>::RET,
            );

            #[inline]
            fn body<I: Invoke<($($A,)*), R>>() -> usize {
                unsafe extern $abi fn body<I: Invoke<($($A,)*), R>, R, $($A),*>(
                    $($a: $A,)* ctx: *const Slot
                ) -> R {
                    crate::panic_guard::guard!($unwind, unsafe extern $abi fn($($A),*) -> R, {
                        // SAFETY: the stub or frame adapter of a live thunk created with
                        // strategy `I` passed its own slot as `ctx` (see `crate::arch`).
                        unsafe { I::invoke(ctx, ($($a,)*)) }
                    })
                }
                #[cfg(target_arch = "x86")]
                if Self::PLAN.fastcall_prefix() {
                    return impl_thunk_signature!(@prefixed $unwind $abi I [$($A $a)*]);
                }
                body::<I, R, $($A),*> as unsafe extern $abi fn($($A,)* *const Slot) -> R as usize
            }
        }
    };
    (@prefixed false $abi:literal $I:ident [$($A:ident $a:ident)*]) => {{
        unsafe extern "fastcall" fn prefixed<I: Invoke<($($A,)*), R>, R, $($A),*>(
            ctx: *const Slot, _edx: u32, $($a: $A,)*
        ) -> R {
            crate::panic_guard::guard!(false, unsafe extern $abi fn($($A),*) -> R, {
                // SAFETY: as for `body`: the stub put the slot in ecx.
                unsafe { I::invoke(ctx, ($($a,)*)) }
            })
        }
        prefixed::<$I, R, $($A),*> as unsafe extern "fastcall" fn(*const Slot, u32, $($A),*) -> R
            as usize
    }};
    (@prefixed true $abi:literal $I:ident [$($A:ident $a:ident)*]) => {{
        unsafe extern "fastcall-unwind" fn prefixed<I: Invoke<($($A,)*), R>, R, $($A),*>(
            ctx: *const Slot, _edx: u32, $($a: $A,)*
        ) -> R {
            // SAFETY: as for `body`: the stub put the slot in ecx.
            unsafe { I::invoke(ctx, ($($a,)*)) }
        }
        prefixed::<$I, R, $($A),*>
            as unsafe extern "fastcall-unwind" fn(*const Slot, u32, $($A),*) -> R as usize
    }};
}

for_each_signature!(impl_thunk_signature);

// An `Option` of a bare function type is a thunk signature exactly when the function type is,
// with the same plan and body; `RawThunk::code` hands it out as `Some` (a stub's address is
// never null).
impl<B: ThunkSignature + crate::signature::sealed::BareFn> ThunkSignature for Option<B> {
    const PLAN: Plan = B::PLAN;

    #[inline]
    fn body<I: Invoke<Self::Args, Self::Ret>>() -> usize {
        B::body::<I>()
    }
}
