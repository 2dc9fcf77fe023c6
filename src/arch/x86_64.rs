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
//! plus one for the frame adapters, which receive `ctx` in r11.

use core::arch::naked_asm;

use super::{Frame, Plan};
use crate::signature::Abi;
use crate::slot::{OFFSET_FRAME_BODY, OFFSET_FRAME_STACK, SLOT_SIZE};
use crate::types::AbiClass;

/// Bytes of code per table (and of data per block).
pub(crate) const TABLE_SIZE: usize = 16 * 1024;

/// Where a table's first stub sits relative to its naked function: COFF sections cannot be
/// aligned to 16 KiB, and Windows copies the table anyway (see `os::windows`).
#[cfg(not(windows))]
macro_rules! table_align {
    () => {
        ".p2align 14"
    };
}
#[cfg(windows)]
macro_rules! table_align {
    () => {
        ".p2align 6"
    };
}

/// A CFI directive for the frame adapters, so that unwinding passes through them. Windows
/// uses SEH tables instead, which these adapters do not provide: there `-unwind` signatures
/// that need a frame adapter are refused (see `super::FRAMES_UNWIND`).
#[cfg(not(windows))]
macro_rules! cfi {
    ($directive:literal) => {
        $directive
    };
}
#[cfg(windows)]
macro_rules! cfi {
    ($directive:literal) => {
        ""
    };
}

/// Defines a stub table whose stubs put their slot's address in `$reg`.
///
/// Stub contract (each stub is `SLOT_SIZE` bytes; `slot` = stub address + `TABLE_SIZE`):
/// - on entry: exactly as the caller left things for the callee (arguments in registers and
///   on the stack, return address at [rsp]);
/// - `$reg` := slot address; nothing else is touched, the stack is not;
/// - then `jmp [slot + 0]` (the slot's `entry`), a tail jump: the callee returns to the caller.
macro_rules! stub_table {
    ($name:ident, $reg:literal) => {
        #[unsafe(naked)]
        pub(crate) unsafe extern "C" fn $name() {
            naked_asm!(
                table_align!(),
                ".rept {count}",
                "2:",
                "endbr64",
                concat!("lea ", $reg, ", [rip + 2b + {table}]"),
                "jmp qword ptr [rip + 2b + {table}]",
                ".balign {slot}, 0xcc",
                ".endr",
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

/// The stub tables, by kind.
pub(crate) const TABLES: [unsafe extern "C" fn(); KINDS] = [
    table_rdi, table_rsi, table_rdx, table_rcx, table_r8, table_r9, table_r11,
];
pub(crate) const KINDS: usize = 7;
const FRAME_KIND: usize = 6;
const SYSV_KINDS: [usize; 6] = [0, 1, 2, 3, 4, 5];
const WIN64_KINDS: [usize; 4] = [3, 2, 4, 5];

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
///   call); rbp is saved and restored, with CFI (except on Windows) so that unwinding passes
///   through.
macro_rules! frame_adapters {
    ($name:ident, $no_stack:ident, $home:literal) => {
        #[unsafe(naked)]
        pub(crate) unsafe extern "C" fn $name() {
            naked_asm!(
                cfi!(".cfi_startproc"),
                "endbr64",
                "push rbp",
                cfi!(".cfi_def_cfa_offset 16"),
                cfi!(".cfi_offset rbp, -16"),
                "mov rbp, rsp",
                cfi!(".cfi_def_cfa_register rbp"),
                "mov rax, [r11 + {stack}]",
                "lea r10, [rax + {home} + 8 + 15]",
                "and r10, -16",
                "sub rsp, r10",
                "mov [rsp + rax + {home}], r11",
                "test rax, rax",
                "jz 3f",
                "2:",
                "sub rax, 8",
                "mov r10, [rbp + 16 + {home} + rax]",
                "mov [rsp + {home} + rax], r10",
                "jnz 2b",
                "3:",
                "call [r11 + {body}]",
                "leave",
                cfi!(".cfi_def_cfa rsp, 8"),
                "ret",
                cfi!(".cfi_endproc"),
                stack = const OFFSET_FRAME_STACK,
                body = const OFFSET_FRAME_BODY,
                home = const $home,
            )
        }

        #[unsafe(naked)]
        pub(crate) unsafe extern "C" fn $no_stack() {
            naked_asm!(
                cfi!(".cfi_startproc"),
                "endbr64",
                "push rbp",
                cfi!(".cfi_def_cfa_offset 16"),
                cfi!(".cfi_offset rbp, -16"),
                "mov rbp, rsp",
                cfi!(".cfi_def_cfa_register rbp"),
                "sub rsp, {frame}",
                "mov [rsp + {home}], r11",
                "call [r11 + {body}]",
                "leave",
                cfi!(".cfi_def_cfa rsp, 8"),
                "ret",
                cfi!(".cfi_endproc"),
                body = const OFFSET_FRAME_BODY,
                home = const $home,
                frame = const ($home + 8usize).next_multiple_of(16),
            )
        }
    };
}

frame_adapters!(frame_sysv, frame_sysv_no_stack, 0);
frame_adapters!(frame_win64, frame_win64_no_stack, 32);

/// Where `ctx` goes for a signature with `abi` and `args`.
pub(crate) const fn plan(abi: Abi, args: &[AbiClass]) -> Plan {
    let win64 = match abi {
        Abi::Win64 => true,
        Abi::Sysv64 => false,
        _ => cfg!(windows),
    };
    if win64 {
        let n = args.len();
        if n < 4 {
            return Plan::register(WIN64_KINDS[n]);
        }
        let adapter = if n == 4 {
            frame_win64_no_stack
        } else {
            frame_win64
        };
        return Plan::frame(FRAME_KIND, Frame::new(adapter, 8 * (n - 4)));
    }
    let (mut ints, mut floats, mut i) = (0usize, 0usize, 0);
    while i < args.len() {
        if args[i].is_float() {
            floats += 1;
        } else {
            ints += 1;
        }
        i += 1;
    }
    if ints < 6 {
        return Plan::register(SYSV_KINDS[ints]);
    }
    let spilled = (ints - 6) + floats.saturating_sub(8);
    let adapter = if spilled == 0 {
        frame_sysv_no_stack
    } else {
        frame_sysv
    };
    Plan::frame(FRAME_KIND, Frame::new(adapter, 8 * spilled))
}
