//! aarch64 stubs (AAPCS64: Linux, and Apple's variant).
//!
//! The body of a thunk is `extern "C" fn(a0, .., an, ctx) -> R`. Integers and pointers go in
//! x0-x7, floats in v0-v7 independently; with k < 8 integer arguments `ctx` is in xk. With
//! eight or more, `ctx` goes on the stack right after the caller's stack arguments, and a
//! frame adapter builds that frame. Linux gives each stack argument an 8-byte slot; Apple
//! packs them at their natural alignment, so the offset of `ctx` is computed for each.
//!
//! One stub table per register x0-x7, and one whose stubs put the slot in x9 for the frame
//! adapter. Stubs start with `bti c` (`hint #34`, a no-op without BTI) and branch through x17,
//! which BTI allows to land on a `bti c`.

use core::arch::naked_asm;

use super::{Frame, Plan, StubKind};
use crate::signature::Abi;
use crate::slot::{OFFSET_FRAME_BODY, OFFSET_FRAME_STACK, SLOT_SIZE};
use crate::types::AbiClass;

/// Bytes of code per table (and of data per block): one page on the largest page size in use
/// (64 KiB Linux kernels, 16 KiB Apple), so a block is always whole pages.
#[cfg(not(target_vendor = "apple"))]
pub(crate) const TABLE_SIZE: usize = 64 * 1024;
#[cfg(target_vendor = "apple")]
pub(crate) const TABLE_SIZE: usize = 16 * 1024;

/// `bti c` (`hint #34`), with which every stub starts: the landing pad of branch target
/// identification, a no-op without it.
pub(crate) const LANDING_PAD: [u8; 4] = 0xd503_245f_u32.to_le_bytes();

/// Defines a stub table whose stubs put their slot's address in `$reg`.
///
/// Stub contract (each stub is `SLOT_SIZE` bytes; `slot` = stub address + `TABLE_SIZE`):
/// - on entry: as the caller left things for the callee (x0-x7, v0-v7, the stack, x30 = return
///   address);
/// - `$reg` := slot address; x17 := slot.entry; nothing else is touched;
/// - then `br x17`: a tail branch, so the callee returns straight to the caller.
macro_rules! stub_table {
    ($name:ident, $reg:literal) => {
        #[unsafe(naked)]
        pub(crate) unsafe extern "C" fn $name() {
            naked_asm!(
                table_align!(),
                ".rept {count}",
                "2:",
                "hint #34",                              // bti c: landing pad
                concat!("adr ", $reg, ", 2b + {table}"), // $reg = this stub's slot
                concat!("ldr x17, [", $reg, "]"),        // x17 = slot.entry
                "br x17",                                // tail branch (BTI allows x17)
                ".balign {slot}, 0",                     // pad the stub
                ".endr",
                align = const super::TABLE_ALIGN,
                count = const TABLE_SIZE / SLOT_SIZE,
                table = const TABLE_SIZE,
                slot = const SLOT_SIZE,
            )
        }
    };
}

stub_table!(table_x0, "x0");
stub_table!(table_x1, "x1");
stub_table!(table_x2, "x2");
stub_table!(table_x3, "x3");
stub_table!(table_x4, "x4");
stub_table!(table_x5, "x5");
stub_table!(table_x6, "x6");
stub_table!(table_x7, "x7");
stub_table!(table_x9, "x9");

stub_kinds! {
    X0 => table_x0,
    X1 => table_x1,
    X2 => table_x2,
    X3 => table_x3,
    X4 => table_x4,
    X5 => table_x5,
    X6 => table_x6,
    X7 => table_x7,
    /// x9: the scratch register in which the frame adapter takes the slot.
    FRAME => table_x9,
}

/// The kind whose stubs put `ctx` in the n-th integer argument register.
const REGISTER_KINDS: [StubKind; 8] = [X0, X1, X2, X3, X4, X5, X6, X7];

/// AAPCS64 frame adapter.
///
/// Contract:
/// - on entry: x9 = slot; sp = the caller's stack arguments, `slot.frame_stack` bytes of
///   them (where `ctx` goes; a multiple of 8); x0-x7, v0-v7, x8 as the caller set them;
///   x30 = return address.
/// - builds a 16-byte-aligned frame holding a copy of the stack arguments followed by `ctx`,
///   calls `slot.frame_body` with every argument register intact, and returns its result.
/// - clobbers x9-x12 (temporaries, never arguments); x29 and x30 are saved and restored, with
///   CFI so that unwinding passes through.
///
/// The frame while the body runs (addresses grow upwards; S = `frame_stack`):
///
/// ```text
///   [x29 + 16] ..  the caller's stack arguments (S bytes)
///   [x29 + 8]      saved x30 (return address into the caller)
///   [x29]          saved x29                          <- x29
///                  padding to 16 bytes
///   [sp + S]       ctx (the slot address)
///   [sp]       ..  copy of the stack arguments (S bytes)   <- sp at the call, 16-aligned
/// ```
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn frame_aapcs64() {
    naked_asm!(
        cfi!(".cfi_startproc"),
        "hint #34",                   // bti c: landing pad
        "stp x29, x30, [sp, #-16]!",  // save the frame record
        cfi!(".cfi_def_cfa_offset 16", ".cfi_offset x30, -8", ".cfi_offset x29, -16"),
        "mov x29, sp",                // x29 = this frame's base
        cfi!(".cfi_def_cfa x29, 16"),
        "ldr x10, [x9, #{stack}]",    // x10 = S, bytes of stack arguments
        "add x11, x10, #(8 + 15)",    // x11 = S + 8 (ctx) ...
        "and x11, x11, #-16",         // ... rounded up to 16
        "sub sp, sp, x11",            // allocate
        "str x9, [sp, x10]",          // ctx after the copies
        "add x12, x29, #16",          // x12 = the caller's stack arguments
        "cbz x10, 3f",                // none: nothing to copy
        "2:",                         // copy them, last word first:
        "sub x10, x10, #8",
        "ldr x11, [x12, x10]",
        "str x11, [sp, x10]",
        "cbnz x10, 2b",
        "3:",
        "ldr x11, [x9, #{body}]",     // x11 = slot.frame_body
        "blr x11",                    // the body, argument registers intact
        "mov sp, x29",                // free the frame
        cfi!(".cfi_def_cfa sp, 16"),
        "ldp x29, x30, [sp], #16",    // restore the frame record
        cfi!(".cfi_def_cfa_offset 0", ".cfi_restore x30", ".cfi_restore x29"),
        "ret",                        // result registers untouched
        cfi!(".cfi_endproc"),
        stack = const OFFSET_FRAME_STACK,
        body = const OFFSET_FRAME_BODY,
    )
}

/// Where `ctx` goes for a signature with `args`. Every ABI is AAPCS64 here.
///
/// Integers and pointers take x0-x7, floats v0-v7, in argument order. A struct that is a
/// homogeneous float aggregate (one to four floats of one kind) takes one v register per
/// member; another struct of at most 16 bytes one x register per 8 bytes; a larger one is
/// passed by reference (one x register). A struct that does not fit in the registers left goes
/// on the stack, and no later argument of that register file goes in a register. A struct
/// returned in memory gets its hidden pointer in x8, which is not an argument register: the
/// return type changes nothing here.
pub(crate) const fn plan(_abi: Abi, args: &[AbiClass], _ret: AbiClass) -> Plan {
    let (mut ints, mut floats, mut stack, mut i) = (0, 0, 0, 0);
    while i < args.len() {
        let class = args[i];
        if let AbiClass::Aggregate(aggregate) = class {
            let on_stack = if let Some(members) = aggregate.hfa_members() {
                floats += members;
                floats > 8
            } else if aggregate.size() <= 16 {
                ints += aggregate.size().div_ceil(8);
                ints > 8
            } else {
                ints += 1; // the reference
                if ints > 8 {
                    stack = stack_slot_end(stack, 8);
                }
                false
            };
            if on_stack {
                if cfg!(target_vendor = "apple") {
                    return Plan::Refused(
                        "on Apple arm64, a struct passed on the stack is not supported \
                         (no machine here checks Apple's stack packing of structs)",
                    );
                }
                // Composites on the stack: 8-aligned, their size rounded up to 8 (AAPCS64
                // B.4, C.14-C.16), and the register file is closed (NSRN or NGRN = 8).
                stack = stack.next_multiple_of(8) + aggregate.size().next_multiple_of(8);
                if aggregate.hfa_members().is_some() {
                    floats = 8;
                } else {
                    ints = 8;
                }
            }
        } else {
            let in_register = if class.is_float() {
                floats += 1;
                floats <= 8
            } else {
                ints += 1;
                ints <= 8
            };
            if !in_register {
                stack = stack_slot_end(stack, class.size());
            }
        }
        i += 1;
    }
    if ints < 8 {
        return Plan::register(REGISTER_KINDS[ints]);
    }
    // `ctx`, a pointer, takes the next 8-byte-aligned stack slot.
    Plan::Frame {
        kind: FRAME,
        frame: Frame::new(frame_aapcs64, stack.next_multiple_of(8)),
    }
}

/// The end of a stack argument of `size` bytes placed after `offset`.
const fn stack_slot_end(offset: usize, size: usize) -> usize {
    if cfg!(target_vendor = "apple") {
        // Apple packs stack arguments at their natural alignment.
        offset.next_multiple_of(size) + size
    } else {
        offset + 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::c_struct! {
        struct PtrAndInt { p: *mut u8, n: u32 }
        struct Doubles4 { v: [f64; 4] }
        struct Floats3 { v: [f32; 3] }
        struct Doubles2 { x: f64, y: f64 }
        struct ThreeWords { a: i64, b: i64, c: i64 }
    }

    const INT: AbiClass = AbiClass::of::<i64>();

    #[test]
    fn a_composite_that_does_not_fit_goes_on_the_stack_and_closes_x0_x7() {
        let args = [
            INT,
            INT,
            INT,
            INT,
            INT,
            INT,
            INT,
            AbiClass::of::<PtrAndInt>(),
        ];
        let frame = plan(Abi::C, &args, AbiClass::Void).frame();
        assert_eq!(
            frame.map(|f| f.stack),
            Some(16),
            "ctx after the 16-byte struct"
        );
    }

    #[test]
    fn homogeneous_float_aggregates_use_v_registers_only() {
        let args = [
            AbiClass::of::<Doubles4>(),
            AbiClass::of::<Floats3>(),
            AbiClass::of::<Doubles2>(),
        ];
        assert!(matches!(
            plan(Abi::C, &args, AbiClass::of::<Doubles4>()),
            Plan::Register { kind, .. } if kind == REGISTER_KINDS[0]
        ));
    }

    #[test]
    fn a_large_struct_is_passed_by_reference_in_one_register() {
        let args = [INT, INT, INT, INT, INT, INT, AbiClass::of::<ThreeWords>()];
        assert!(matches!(
            plan(Abi::C, &args, AbiClass::of::<ThreeWords>()),
            Plan::Register { kind, .. } if kind == REGISTER_KINDS[7]
        ));
    }
}
