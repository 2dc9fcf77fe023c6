//! What happens when a callback panics.
//!
//! A panic must never unwind into C frames unless the signature's ABI is a `-unwind` one. For
//! the others, the body catches it at the callback boundary and aborts with a message naming
//! the signature and the panic's text: a clear diagnosis rather than the generic "panic in a
//! function that cannot unwind".

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::abort::abort_with;

/// Wraps a callback body: `guard!(unwind, Signature, { body })`. Without `-unwind`, a panic
/// aborts naming the signature; with it, the panic propagates.
macro_rules! guard {
    (false, $signature:ty, $body:block) => {
        $crate::panic_guard::abort_on_panic(core::any::type_name::<$signature>, || $body)
    };
    (true, $signature:ty, $body:block) => {
        $body
    };
}
pub(crate) use guard;

/// Runs `call`; if it panics, aborts the process naming `signature`.
#[inline(always)]
pub(crate) fn abort_on_panic<R>(signature: fn() -> &'static str, call: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(value) => value,
        Err(payload) => panicked(signature(), payload),
    }
}

#[cold]
#[inline(never)]
fn panicked(signature: &'static str, payload: Box<dyn Any + Send>) -> ! {
    abort_with(format_args!(
        "a callback ({signature}) panicked: {}; aborting, because a panic must not unwind into \
         C (use an \"-unwind\" ABI to let it propagate)",
        panic_text(&*payload)
    ))
}

/// The text of a panic payload, when it has one.
pub(crate) fn panic_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&'static str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "<a panic payload that is not a string>"
    }
}
