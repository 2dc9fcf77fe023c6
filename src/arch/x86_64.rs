//! x86_64 stubs: System V (Linux, macOS, `extern "sysv64"`) and Windows x64 (`extern "win64"`).
//!
//! The body of a thunk is `extern "ABI" fn(a0, .., an, ctx) -> R`: the closure's arguments in
//! place and the slot address `ctx` appended. Where the ABI puts that extra argument decides
//! the stub:
//!
//! - System V: integers and pointers go in rdi, rsi, rdx, rcx, r8, r9, floats in xmm0-7
//!   independently. With k < 6 integer arguments, `ctx` is in integer register k.
//! - Windows x64: four positional slots (rcx/xmm0, rdx/xmm1, r8/xmm2, r9/xmm3). With n < 4
//!   arguments, `ctx` is in the integer register of slot n.
//! - Otherwise `ctx` goes on the stack after the caller's stack arguments: a frame adapter
//!   builds that frame.
//!
//! There is one stub table per register that can receive `ctx` (a union of both ABIs' needs),
//! plus one for the frame adapters, which receive `ctx` in r11. The frame adapters carry
//! unwind information for both ABIs (DWARF CFI, Windows SEH codes), so panics, structured
//! exceptions, debuggers and backtraces pass through them.

use core::arch::naked_asm;

use super::{Frame, Plan, StubKind};
use crate::signature::Abi;
use crate::slot::{OFFSET_FRAME_BODY, OFFSET_FRAME_STACK, SLOT_SIZE};
use crate::types::AbiClass;

/// Bytes of code per table (and of data per block).
pub(crate) const TABLE_SIZE: usize = 16 * 1024;

/// `endbr64`, with which every stub starts: the landing pad of indirect branch tracking (CET),
/// a no-op without it.
pub(crate) const LANDING_PAD: [u8; 4] = [0xf3, 0x0f, 0x1e, 0xfa];

/// Defines a stub table whose stubs put their slot's address in `$reg`.
///
/// Stub contract (each stub is `SLOT_SIZE` bytes; `slot` = stub address + `TABLE_SIZE`):
/// - on entry: exactly as the caller left things for the callee (arguments in registers and
///   on the stack, return address at [rsp]);
/// - `$reg` := slot address; nothing else is touched, the stack is not;
/// - then `jmp [slot + 0]` (the slot's `entry`), a tail jump: the callee returns to the caller.
///
/// A stub never has a frame (it jumps, it does not call), so it needs no unwind information.
macro_rules! stub_table {
    ($name:ident, $reg:literal) => {
        #[unsafe(naked)]
        pub(crate) unsafe extern "C" fn $name() {
            naked_asm!(
                table_align!(),
                ".rept {count}",
                "2:",
                "endbr64",                                       // landing pad
                concat!("lea ", $reg, ", [rip + 2b + {table}]"), // $reg = this stub's slot
                "jmp qword ptr [rip + 2b + {table}]",          // tail-jump to slot.entry
                ".balign {slot}, 0xcc",                        // pad the stub with int3
                ".endr",
                align = const super::TABLE_ALIGN,
                count = const TABLE_SIZE / SLOT_SIZE,
                table = const TABLE_SIZE,
                slot = const SLOT_SIZE,
            )
        }
    };
}

stub_table!(table_rdi, "rdi");
stub_table!(table_rsi, "rsi");
stub_table!(table_rdx, "rdx");
stub_table!(table_rcx, "rcx");
stub_table!(table_r8, "r8");
stub_table!(table_r9, "r9");
stub_table!(table_r11, "r11");

stub_kinds! {
    RDI => table_rdi,
    RSI => table_rsi,
    RDX => table_rdx,
    RCX => table_rcx,
    R8 => table_r8,
    R9 => table_r9,
    /// r11: the scratch register in which the frame adapters take the slot.
    FRAME => table_r11,
}

/// The kind whose stubs put `ctx` in the k-th System V integer argument register.
const SYSV_KINDS: [StubKind; 6] = [RDI, RSI, RDX, RCX, R8, R9];
/// The kind whose stubs put `ctx` in the integer register of Windows x64 argument slot n.
const WIN64_KINDS: [StubKind; 4] = [RCX, RDX, R8, R9];

/// Defines a frame adapter, `$name`, and its copy-free variant for signatures with no stack
/// arguments, `$no_stack`; `$home` is the callee's home area: 0 for System V, 32 for Windows x64.
///
/// Contract:
/// - on entry: r11 = slot; [rsp] = return address into the caller; the caller's home area
///   (`$home` bytes) at [rsp + 8], then its stack arguments, `slot.frame_stack` bytes of them
///   (a multiple of 8; 0 for `$no_stack`); argument registers as the caller set them.
/// - builds a 16-byte-aligned frame holding a fresh home area, a copy of those stack arguments,
///   then `ctx` (the slot address), calls `slot.frame_body` with every argument register
///   intact, and returns its result (rax/rdx/xmm0/xmm1 untouched) to the caller.
/// - clobbers rax, r10, r11 (caller-saved in both ABIs, never arguments of a non-variadic
///   call); rbp is saved and restored.
/// - unwinding: DWARF CFI (System V targets) and SEH unwind codes (Windows) describe the same
///   frame, side by side: rbp pushed, then rbp = the CFA - 16 for the rest of the function, so
///   the variable-sized part below it needs no description. The frame is freed with
///   `mov rsp, rbp`, then `pop rbp; ret`, which Windows' unwinder recognises as an epilogue
///   and unwinds by reading the code; at `mov rsp, rbp` (where the body returns to) it reads
///   the unwind codes, which hold there too. (`lea rsp, [rbp]` would be taken for an epilogue
///   as well, and would hide a wrong unwind code from every test; `leave` is neither.)
///
/// The frame while the body runs (addresses grow upwards; H = `$home`, S = `frame_stack`):
///
/// ```text
///   [rbp + 16 + H] ..  the caller's stack arguments (S bytes)
///   [rbp + 16]     ..  the caller's home area (H bytes)
///   [rbp + 8]          return address into the caller
///   [rbp]              saved rbp                          <- rbp
///                      padding to 16 bytes
///   [rsp + H + S]      ctx (the slot address)
///   [rsp + H]      ..  copy of the stack arguments (S bytes)
///   [rsp]          ..  fresh home area (H bytes)          <- rsp at the call, 16-aligned
/// ```
macro_rules! frame_adapters {
    ($name:ident, $no_stack:ident, $home:literal) => {
        #[unsafe(naked)]
        pub(crate) unsafe extern "C" fn $name() {
            naked_asm!(
                seh_proc!(),
                cfi!(".cfi_startproc"),
                "endbr64",                          // landing pad
                "push rbp",                         // save the caller's rbp ...
                cfi!(".cfi_def_cfa_offset 16", ".cfi_offset rbp, -16"),
                seh!(".seh_pushreg rbp"),
                "mov rbp, rsp",                     // ... and make rbp this frame's base
                cfi!(".cfi_def_cfa_register rbp"),
                seh!(".seh_setframe rbp, 0", ".seh_endprologue"),
                "mov rax, [r11 + {stack}]",         // rax = S, bytes of stack arguments
                "lea r10, [rax + {home} + 8 + 15]", // r10 = H + S + 8 (ctx) ...
                "and r10, -16",                     // ... rounded up to 16
                "sub rsp, r10",                     // allocate; rsp stays 16-aligned
                "mov [rsp + rax + {home}], r11",    // ctx after the copies
                "test rax, rax",
                "jz 3f",                            // no stack arguments: nothing to copy
                "2:",                               // copy them, last word first:
                "sub rax, 8",
                "mov r10, [rbp + 16 + {home} + rax]",
                "mov [rsp + {home} + rax], r10",
                "jnz 2b",
                "3:",
                "call [r11 + {body}]",              // the body, argument registers intact
                "mov rsp, rbp",                     // free the frame
                "pop rbp",                          // restore the caller's rbp
                cfi!(".cfi_def_cfa rsp, 8"),
                "ret",                              // result registers untouched
                cfi!(".cfi_endproc"),
                seh!(".seh_endproc"),
                stack = const OFFSET_FRAME_STACK,
                body = const OFFSET_FRAME_BODY,
                home = const $home,
                this = sym $name,
            )
        }

        /// As the adapter above, with S = 0: no copy, a fixed-size frame.
        #[unsafe(naked)]
        pub(crate) unsafe extern "C" fn $no_stack() {
            naked_asm!(
                seh_proc!(),
                cfi!(".cfi_startproc"),
                "endbr64",                          // landing pad
                "push rbp",                         // save the caller's rbp ...
                cfi!(".cfi_def_cfa_offset 16", ".cfi_offset rbp, -16"),
                seh!(".seh_pushreg rbp"),
                "mov rbp, rsp",                     // ... and make rbp this frame's base
                cfi!(".cfi_def_cfa_register rbp"),
                seh!(".seh_setframe rbp, 0", ".seh_endprologue"),
                "sub rsp, {frame}",                 // home area + ctx, rounded up to 16
                "mov [rsp + {home}], r11",          // ctx right after the home area
                "call [r11 + {body}]",              // the body, argument registers intact
                "mov rsp, rbp",                     // free the frame
                "pop rbp",                          // restore the caller's rbp
                cfi!(".cfi_def_cfa rsp, 8"),
                "ret",                              // result registers untouched
                cfi!(".cfi_endproc"),
                seh!(".seh_endproc"),
                body = const OFFSET_FRAME_BODY,
                home = const $home,
                frame = const ($home + 8usize).next_multiple_of(16),
                this = sym $no_stack,
            )
        }
    };
}

frame_adapters!(frame_sysv, frame_sysv_no_stack, 0);
frame_adapters!(frame_win64, frame_win64_no_stack, 32);

/// Where `ctx` goes for a signature with `abi`, `args` and return class `ret`.
pub(crate) const fn plan(abi: Abi, args: &[AbiClass], ret: AbiClass) -> Plan {
    let win64 = match abi {
        Abi::Win64 => true,
        Abi::Sysv64 => false,
        _ => cfg!(windows),
    };
    if win64 {
        win64_plan(args, ret)
    } else {
        sysv_plan(args, ret)
    }
}

/// Windows x64: one slot per argument, whatever its type (a struct of 1, 2, 4 or 8 bytes by
/// value, any other by reference), after the hidden return pointer of a struct returned in
/// memory (any size but 1, 2, 4 or 8), which takes slot 0.
const fn win64_plan(args: &[AbiClass], ret: AbiClass) -> Plan {
    let hidden = match ret {
        AbiClass::Aggregate(aggregate) => !matches!(aggregate.size(), 1 | 2 | 4 | 8),
        _ => false,
    };
    let n = args.len() + hidden as usize;
    if n < 4 {
        return Plan::register(WIN64_KINDS[n]);
    }
    let adapter = if n == 4 {
        frame_win64_no_stack
    } else {
        frame_win64
    };
    Plan::Frame {
        kind: FRAME,
        frame: Frame::new(adapter, 8 * (n - 4)),
    }
}

/// System V: six integer and eight SSE registers, assigned in argument order. A struct of at
/// most 16 bytes takes one register per eightbyte (INTEGER or SSE) if all of them are free, and
/// otherwise goes on the stack whole, leaving the registers to later arguments; a larger one
/// goes on the stack. A struct returned in memory (MEMORY class) takes rdi for its hidden
/// pointer.
const fn sysv_plan(args: &[AbiClass], ret: AbiClass) -> Plan {
    let hidden = match ret {
        AbiClass::Aggregate(aggregate) => aggregate.sysv_eightbytes().is_none(),
        _ => false,
    };
    let (mut ints, mut floats, mut stack, mut i) = (hidden as usize, 0, 0, 0);
    while i < args.len() {
        match args[i] {
            AbiClass::Aggregate(aggregate) => match aggregate.sysv_eightbytes() {
                Some((int, sse)) if ints + int <= 6 && floats + sse <= 8 => {
                    ints += int;
                    floats += sse;
                }
                _ => stack += aggregate.size().next_multiple_of(8),
            },
            class if class.is_float() => {
                if floats < 8 {
                    floats += 1;
                } else {
                    stack += 8;
                }
            }
            _ => {
                if ints < 6 {
                    ints += 1;
                } else {
                    stack += 8;
                }
            }
        }
        i += 1;
    }
    if ints < 6 {
        return Plan::register(SYSV_KINDS[ints]);
    }
    let adapter = if stack == 0 {
        frame_sysv_no_stack
    } else {
        frame_sysv
    };
    Plan::Frame {
        kind: FRAME,
        frame: Frame::new(adapter, stack),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::c_struct! {
        struct PtrAndInt { p: *mut u8, n: u32 }
        struct DoubleAndInt { d: f64, i: i64 }
        struct ThreeWords { a: i64, b: i64, c: i64 }
    }

    const INT: AbiClass = AbiClass::of::<i64>();

    fn register(plan: Plan) -> Option<StubKind> {
        match plan {
            Plan::Register { kind, .. } => Some(kind),
            _ => None,
        }
    }

    #[test]
    fn system_v_struct_that_does_not_fit_leaves_the_last_register_free() {
        let args = [INT, INT, INT, INT, INT, AbiClass::of::<PtrAndInt>()];
        let plan = plan(Abi::Sysv64, &args, AbiClass::Void);
        assert_eq!(
            register(plan),
            Some(SYSV_KINDS[5]),
            "r9: PtrAndInt went on the stack"
        );
    }

    #[test]
    fn system_v_mixed_struct_takes_one_register_of_each_file() {
        let args = [INT, INT, INT, INT, INT, AbiClass::of::<DoubleAndInt>()];
        let frame = plan(Abi::Sysv64, &args, AbiClass::Void).frame();
        assert_eq!(
            frame.map(|f| f.stack),
            Some(0),
            "no integer register left, nothing spilled"
        );
    }

    #[test]
    fn a_struct_returned_in_memory_takes_the_first_register_or_slot() {
        let ret = AbiClass::of::<ThreeWords>();
        let sysv = plan(Abi::Sysv64, &[INT], ret);
        assert_eq!(
            register(sysv),
            Some(SYSV_KINDS[2]),
            "rdi hidden, rsi a0, rdx ctx"
        );
        let win64 = plan(Abi::Win64, &[INT, INT], ret);
        assert_eq!(register(win64), Some(WIN64_KINDS[3]), "rcx hidden, r9 ctx");
        let small = plan(Abi::Win64, &[INT, INT], AbiClass::of::<PtrAndInt>());
        assert_eq!(
            register(small),
            Some(WIN64_KINDS[3]),
            "16 bytes: by hidden pointer too"
        );
    }

    #[test]
    fn win64_passes_every_struct_in_one_slot() {
        let args = [AbiClass::of::<ThreeWords>(), AbiClass::of::<DoubleAndInt>()];
        assert_eq!(
            register(plan(Abi::Win64, &args, AbiClass::Void)),
            Some(WIN64_KINDS[2])
        );
    }
}
