//! `trampoline` inside a shared library that a program loads with `dlopen` (the hardening test
//! `a_cdylib_holding_the_crate_is_loaded_and_unloaded` in `tests/hardening.rs`): each load has
//! its own pools, whose code is mapped from this library's file.

use trampoline::{Thunk, pool_stats};

/// The callback type the probe hands out.
pub type Cb = unsafe extern "C" fn(i64) -> i64;

/// A thunk that adds `add`, leaked: it lives until the library is unloaded (its block is never
/// unmapped, see the README's limits).
#[unsafe(no_mangle)]
pub extern "C" fn probe_thunk(add: i64) -> Cb {
    Thunk::<Cb>::new(move |x: i64| x + add).leak()
}

/// This load's pool statistics, as C sees them.
#[repr(C)]
pub struct ProbeStats {
    pub blocks: usize,
    pub copied_blocks: usize,
    pub live: usize,
    pub image_lookups: usize,
}

/// This load's pool statistics.
#[unsafe(no_mangle)]
pub extern "C" fn probe_stats(out: &mut ProbeStats) {
    let stats = pool_stats();
    *out = ProbeStats {
        blocks: stats.blocks,
        copied_blocks: stats.copied_blocks,
        live: stats.live,
        image_lookups: stats.image_lookups,
    };
}
