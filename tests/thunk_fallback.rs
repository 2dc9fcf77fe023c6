//! The fallback that copies the code table into fresh memory (read+write, then read+execute)
//! instead of mapping it from the executable's file, forced with the hidden
//! `force_code_copy`. A test binary of its own, because the switch and the pool are
//! process-global: one test, in order.

mod common;
#[cfg(target_os = "linux")]
#[path = "common/maps.rs"]
mod maps;

use core::cell::Cell;

use common::sym;
use trampoline::{Thunk, ThunkMut, ThunkOnce, pool_stats};

type Cb = unsafe extern "C" fn(isize) -> isize;
type Cb7 = unsafe extern "C" fn(isize, isize, isize, isize, isize, isize, isize) -> isize;
type Doubles =
    unsafe extern "C" fn(f64, f64, f64, f64, f64, f64, f64, f64, f64, f64, f64, f64) -> f64;

#[test]
fn copied_code_blocks_work_and_are_counted() {
    let start = pool_stats();
    assert_eq!((start.blocks, start.copied_blocks), (0, 0), "{start:?}");
    trampoline::force_code_copy(true);

    // SAFETY: the declared types are the C functions'.
    let (call1, call7, call_f12) = unsafe {
        (
            sym::<unsafe extern "C" fn(Cb, *const isize) -> isize>("tl_call_i1"),
            sym::<unsafe extern "C" fn(Cb7, *const isize) -> isize>("tl_call_i7"),
            sym::<unsafe extern "C" fn(Doubles, *const f64) -> f64>("tl_call_f12"),
        )
    };
    let offset = 40;
    let one = Thunk::<Cb>::new(move |x: isize| x + offset);
    let mut seen = Vec::new();
    let seven = ThunkMut::<Cb7>::new(
        |a: isize, b: isize, c: isize, d: isize, e: isize, f: isize, g: isize| {
            seen.push([a, b, c, d, e, f, g]);
            a * 1_000_000 + g
        },
    );
    let doubles = ThunkOnce::<Doubles>::new(
        |a: f64,
         b: f64,
         c: f64,
         d: f64,
         e: f64,
         f: f64,
         g: f64,
         h: f64,
         i: f64,
         j: f64,
         k: f64,
         l: f64| { a + b + c + d + e + f + g + h + i + j + k + l },
    );
    let args7 = [-1, 2, 3, 4, 5, 6, isize::MAX];
    let args12: Vec<f64> = (1..=12).map(|i| f64::from(i) * 0.5).collect();
    // SAFETY: C calls each thunk during the call, while it lives; `doubles` once.
    unsafe {
        assert_eq!(call1(one.as_fn(), &2), 42);
        assert_eq!(
            call7(seven.as_fn(), args7.as_ptr()),
            (-1_000_000isize).wrapping_add(isize::MAX)
        );
        assert_eq!(call_f12(doubles.as_fn(), args12.as_ptr()), 39.0);
    }

    let forced = pool_stats();
    assert!(forced.blocks >= 1, "{forced:?}");
    assert_eq!(
        forced.copied_blocks, forced.blocks,
        "with the copy forced, every block is copied: {forced:?}"
    );

    #[cfg(target_os = "linux")]
    {
        maps::assert_no_writable_executable_mapping("with copied blocks");
        for code in [one.as_ptr(), seven.as_ptr(), doubles.as_ptr()] {
            let m = maps::mapping_of(code as usize);
            assert_eq!(
                &m.perms[..3],
                "r-x",
                "copied code is read+execute: {}",
                m.line
            );
            assert!(
                !m.path.starts_with('/'),
                "copied code is anonymous memory, not a file mapping: {}",
                m.line
            );
        }
    }

    // Enough thunks of one signature to need more blocks, all copied, all working.
    let spb = forced.slots_per_block;
    let hits = Cell::new(0);
    let many: Vec<Thunk<Cb>> = (0..spb + 1)
        .map(|i| {
            let hits = &hits;
            Thunk::<Cb>::new(move |x: isize| {
                hits.set(hits.get() + 1);
                x * i as isize
            })
        })
        .collect();
    for (i, t) in many.iter().enumerate() {
        // SAFETY: as above.
        assert_eq!(unsafe { call1(t.as_fn(), &3) }, 3 * i as isize);
    }
    assert_eq!(hits.get(), spb + 1);
    let grown = pool_stats();
    assert!(grown.blocks > forced.blocks, "{forced:?} -> {grown:?}");
    assert_eq!(grown.copied_blocks, grown.blocks, "{grown:?}");
    drop(many);

    // Switched back off: new blocks are mapped from the file on Linux (copied on Windows).
    trampoline::force_code_copy(false);
    let before = pool_stats();
    let more: Vec<Thunk<Cb>> = (0..before.free + 1)
        .map(|i| Thunk::<Cb>::new(move |x: isize| x + i as isize))
        .collect();
    for (i, t) in more.iter().enumerate().step_by(61) {
        // SAFETY: as above.
        assert_eq!(unsafe { call1(t.as_fn(), &1) }, 1 + i as isize);
    }
    let after = pool_stats();
    assert!(after.blocks > before.blocks, "{before:?} -> {after:?}");
    #[cfg(target_os = "linux")]
    {
        assert_eq!(
            after.copied_blocks, before.copied_blocks,
            "without the switch, Linux maps the code from the file again: {after:?}"
        );
        maps::assert_no_writable_executable_mapping("with copied and mapped blocks");
    }
    #[cfg(windows)]
    assert_eq!(
        after.copied_blocks, after.blocks,
        "Windows always copies: {after:?}"
    );

    drop((more, one, seven, doubles));
    assert_eq!(seen, [args7]);
    assert_eq!(pool_stats().live, 0);
}
