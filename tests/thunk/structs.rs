//! Structs passed and returned by value, declared with `c_struct!` as C declares them: the
//! register classes each ABI gives them, hidden return pointers and by-reference copies. (The
//! conformance suite covers every shape in every position; these are the readable cases.)

use super::*;
use trampoline::{UserData, c_struct, ud};

c_struct! {
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Point { x: f32, y: f32 }

    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Rect { left: f64, top: f64, right: f64, bottom: f64 }

    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Tagged { tag: u8, n: i32, value: f64 }
}

type PointFn = unsafe extern "C" fn(Point, f32, *mut c_void) -> Point;
type RectFn = unsafe extern "C" fn(Rect, Tagged, i32) -> Rect;

fn map_points() -> unsafe extern "C" fn(*mut Point, usize, f32, PointFn, *mut c_void) {
    // SAFETY: the declared type is the C function's.
    unsafe { sym("tl_map_points") }
}

#[test]
fn a_small_float_struct_both_ways_through_user_data() {
    let mut calls = 0;
    let mut rotate = |p: Point, scale: f32| {
        calls += 1;
        Point {
            x: -p.y * scale,
            y: p.x * scale,
        }
    };
    let mut points = [Point { x: 1.0, y: 2.0 }, Point { x: -3.5, y: 0.25 }];
    let cb = UserData::<PointFn, ud::Last>::new(&mut rotate);
    // SAFETY: C calls back only during the call, on this thread.
    unsafe { map_points()(points.as_mut_ptr(), 2, 2.0, cb.func(), cb.data()) };
    assert_eq!(
        points,
        [Point { x: -4.0, y: 2.0 }, Point { x: -0.5, y: -7.0 }]
    );
    assert_eq!(calls, 2);
}

#[test]
fn a_small_float_struct_both_ways_through_a_thunk() {
    let seen = Cell::new(None);
    let thunk = Thunk::<PointFn>::new(|p: Point, scale: f32, ud: *mut c_void| {
        seen.set(Some(ud));
        Point {
            x: p.x + scale,
            y: p.y - scale,
        }
    });
    let mut points = [Point { x: 0.5, y: -0.5 }];
    let ud = 0x5a5a_0000usize as *mut c_void;
    // SAFETY: as above; the thunk outlives the call.
    unsafe { map_points()(points.as_mut_ptr(), 1, 0.25, thunk.as_fn(), ud) };
    assert_eq!(points, [Point { x: 0.75, y: -0.75 }]);
    assert_eq!(
        seen.get(),
        Some(ud),
        "the argument after the structs is intact"
    );
}

/// A 32-byte struct goes in memory (System V), by reference (Windows x64, AAPCS64) or on the
/// stack (i686), and comes back through a hidden pointer: the thunk's context must not take
/// its place, and on i686 Linux the callee pops that pointer.
#[test]
fn a_large_struct_returned_through_a_hidden_pointer() {
    // SAFETY: the declared type is the C function's.
    let grow: unsafe extern "C" fn(RectFn, i32) -> f64 = unsafe { sym("tl_grow_rect") };
    let mut got = None;
    let thunk = ThunkMut::<RectFn>::new(|r: Rect, t: Tagged, by: i32| {
        got = Some((r, t));
        let by = f64::from(by);
        Rect {
            left: r.left - by,
            top: r.top - by,
            right: r.right + by,
            bottom: r.bottom + by,
        }
    });
    // SAFETY: as above.
    let area = unsafe { grow(thunk.as_fn(), 2) };
    drop(thunk);
    assert_eq!(area, (11.5 + 4.0) * (18.25 + 4.0));
    let (r, t) = got.expect("called");
    assert_eq!(
        r,
        Rect {
            left: -1.5,
            top: 2.25,
            right: 10.0,
            bottom: 20.5
        }
    );
    assert_eq!(
        t,
        Tagged {
            tag: 0xA5,
            n: -7,
            value: 0.125
        }
    );
}

/// A struct returned in memory by a frame-path thunk (System V: the hidden pointer takes rdi,
/// so five more integers fill the registers; Windows x64: it takes slot 0).
#[test]
fn a_hidden_return_pointer_counts_as_an_argument_register() {
    type Cb = unsafe extern "C" fn(i64, i64, i64, i64, i64) -> Rect;
    let thunk = Thunk::<Cb>::new(|a: i64, b: i64, c: i64, d: i64, e: i64| Rect {
        left: a as f64,
        top: b as f64,
        right: c as f64,
        bottom: (d * 10 + e) as f64,
    });
    // SAFETY: called here, while the thunk lives, with the declared type.
    let r = unsafe { thunk.as_fn()(1, 2, 3, 4, 5) };
    assert_eq!(
        r,
        Rect {
            left: 1.0,
            top: 2.0,
            right: 3.0,
            bottom: 45.0
        }
    );
}
