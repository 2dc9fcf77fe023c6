//! Loads the C test library (`csrc/`, built by `build.rs`) and looks up its functions.
#![allow(dead_code)]

use std::sync::OnceLock;

use libloading::Library;

/// The path `build.rs` built the C test library at.
pub const CLIB_PATH: &str = env!("TRAMPOLINE_TEST_CLIB");

/// The C test library, loaded once for the whole test binary and never unloaded, since
/// function pointers into it are copied around freely.
pub fn clib() -> &'static Library {
    static LIB: OnceLock<Library> = OnceLock::new();
    LIB.get_or_init(|| {
        // SAFETY: the test library runs no initialisation code with preconditions.
        unsafe { Library::new(CLIB_PATH) }
            .unwrap_or_else(|e| panic!("cannot load the C test library {CLIB_PATH}: {e}"))
    })
}

/// The C test library's function `name`, as the function-pointer type `T`.
///
/// # Safety
///
/// `T` must be the function's exact C type.
pub unsafe fn sym<T: Copy>(name: &str) -> T {
    // SAFETY: the caller promises `T` is the symbol's type.
    let symbol = unsafe { clib().get::<T>(name.as_bytes()) }
        .unwrap_or_else(|e| panic!("the C test library has no `{name}`: {e}"));
    *symbol
}
