//! 32-bit x86 stubs: cdecl, stdcall, fastcall and thiscall, on Linux and Windows.
//!
//! Arguments travel on the stack, 4-byte aligned (8 bytes for `i64`/`f64`), except that
//! fastcall passes its first two eligible 32-bit integers in ecx and edx and thiscall its first
//! argument in ecx. Callee-pop conventions (stdcall, fastcall, thiscall) pop their stack
//! arguments on return; cdecl leaves that to the caller. How `ctx` reaches the body:
//!
//! - stdcall (`"system"` on Windows): the body is `extern "fastcall" fn(ctx, _edx, a0, .., an)`,
//!   so `ctx` arrives in ecx and the stack is exactly the caller's, which fastcall also pops.
//! - fastcall: the body is `extern "fastcall" fn(a0, .., an, ctx)`; if the signature leaves a
//!   register free, `ctx` lands in it (ecx or edx), computed with rustc's own assignment rule.
//! - thiscall with no argument: `ctx` is the body's first argument, in ecx.
//! - cdecl, and fastcall/thiscall with no register left: a frame adapter copies the stack
//!   arguments, appends `ctx` and calls `fn(a0, .., an, ctx)` in the signature's own ABI,
//!   then returns popping what the caller expects.
//!
//! There is no PC-relative data addressing: each stub gets its own address from a `call` to a
//! helper inside the stub that returns it (a balanced call/ret, which the return-address
//! predictor handles well). eax is the scratch register: no supported convention passes
//! arguments in it.

use core::arch::naked_asm;

use super::{Frame, Plan};
use crate::signature::Abi;
use crate::slot::{OFFSET_FRAME_BODY, OFFSET_FRAME_STACK, SLOT_SIZE};
use crate::types::AbiClass;

/// Bytes of code per table (and of data per block).
pub(crate) const TABLE_SIZE: usize = 16 * 1024;

/// `endbr32`, with which every stub starts: the landing pad of indirect branch tracking (CET),
/// a no-op without it.
pub(crate) const LANDING_PAD: [u8; 4] = [0xf3, 0x0f, 0x1e, 0xfb];

/// Defines a stub table; `$set_ctx` copies the slot address from eax to where the body
/// expects it (nothing, for the frame adapters, which take it in eax).
///
/// Stub contract (each stub is `SLOT_SIZE` bytes; `slot` = stub address + `TABLE_SIZE`):
/// - on entry: as the caller left things for the callee (stack arguments at [esp + 4], ecx/edx
///   holding fastcall/thiscall register arguments);
/// - eax := slot address (via the in-stub helper: `call` pushes and its `ret` pops the same
///   4 bytes, so the stack is unchanged); then `$set_ctx`;
/// - then `jmp [slot + 0]`: a tail jump, the callee returns (and pops) straight to the caller.
macro_rules! stub_table {
    ($name:ident, $set_ctx:literal) => {
        #[unsafe(naked)]
        pub(crate) unsafe extern "C" fn $name() {
            naked_asm!(
                table_align!(),
                ".rept {count}",
                "2:",
                "endbr32",                          // landing pad
                "call 3f",                          // eax = address of label 4 (see 3:)
                "4:",
                ".set .Lto_slot, {table} - (4b - 2b)", // from label 4 to this stub's slot
                "lea eax, [eax + .Lto_slot]",       // eax = stub + TABLE_SIZE = slot
                $set_ctx,                           // ctx where the body expects it
                "jmp dword ptr [eax]",              // tail-jump to slot.entry
                "3:",                               // helper: eax = its return address;
                "mov eax, dword ptr [esp]",         // the call pushed 4 bytes, ret pops
                "ret",                              // them: the stack is as on entry
                ".balign {slot}, 0xcc",             // pad the stub with int3
                ".endr",
                align = const super::TABLE_ALIGN,
                count = const TABLE_SIZE / SLOT_SIZE,
                table = const TABLE_SIZE,
                slot = const SLOT_SIZE,
            )
        }
    };
}

stub_table!(table_ecx, "mov ecx, eax");
stub_table!(table_edx, "mov edx, eax");
stub_table!(table_eax, "");

stub_kinds! {
    ECX => table_ecx,
    EDX => table_edx,
    /// eax: where the frame adapters take the slot.
    FRAME => table_eax,
}

/// Defines the frame adapter that returns with `ret $pop`.
///
/// Contract:
/// - on entry: eax = slot; [esp] = return address; the caller's stack arguments at [esp + 4],
///   `slot.frame_stack` bytes of them (a multiple of 4); ecx and edx as the caller set them.
/// - saves ecx and edx, builds a 16-byte-aligned frame holding a copy of the stack arguments
///   followed by `ctx`, restores ecx and edx, calls `slot.frame_body` (which may pop its own
///   stack arguments: the frame is discarded with `leave` either way), and returns its
///   result (eax, edx:eax or st0, untouched) with `ret $pop`, popping what the caller expects.
/// - clobbers ecx and edx after the call (caller-saved; edx is only a result register for
///   64-bit results, which the body set); ebp is saved and restored.
/// - unwinding: DWARF CFI where it is read (Linux, MinGW). MSVC x86 unwinds through the
///   chain of exception registrations on the stack, not tables: a frame without one, like
///   this, is simply passed over, and stack walkers follow the ebp chain it keeps.
///
/// The frame while the body runs (addresses grow upwards; S = `frame_stack`):
///
/// ```text
///   [ebp + 8]  ..  the caller's stack arguments (S bytes)
///   [ebp + 4]      return address into the caller
///   [ebp]          saved ebp                          <- ebp
///   [ebp - 4]      saved ecx
///   [ebp - 8]      saved edx
///                  padding to 16 bytes
///   [esp + S]      ctx (the slot address)
///   [esp]      ..  copy of the stack arguments (S bytes)   <- esp at the call, 16-aligned
/// ```
macro_rules! frame_adapter {
    ($name:ident, $pop:literal) => {
        #[unsafe(naked)]
        unsafe extern "C" fn $name() {
            naked_asm!(
                cfi!(".cfi_startproc"),
                "endbr32",                          // landing pad
                "push ebp",                         // save the caller's ebp ...
                cfi!(".cfi_def_cfa_offset 8", ".cfi_offset ebp, -8"),
                "mov ebp, esp",                     // ... and make ebp this frame's base
                cfi!(".cfi_def_cfa_register ebp"),
                "push ecx",                         // keep the register arguments
                "push edx",                         // (fastcall, thiscall) for the call
                "mov ecx, [eax + {stack}]",         // ecx = S, bytes of stack arguments
                "lea edx, [ecx + 4]",               // edx = S + 4 (ctx)
                "sub esp, edx",                     // allocate ...
                "and esp, -16",                     // ... 16-aligned
                "mov [esp + ecx], eax",             // ctx after the copies
                "test ecx, ecx",
                "jz 3f",                            // no stack arguments: nothing to copy
                "2:",                               // copy them, last word first:
                "sub ecx, 4",
                "mov edx, [ebp + 8 + ecx]",
                "mov [esp + ecx], edx",
                "jnz 2b",
                "3:",
                "mov ecx, [ebp - 4]",               // restore the register arguments
                "mov edx, [ebp - 8]",
                "call dword ptr [eax + {body}]",    // the body (may pop its own arguments)
                "leave",                            // esp = ebp, restore the caller's ebp
                cfi!(".cfi_def_cfa esp, 4"),
                concat!("ret ", $pop),              // pop what the caller expects
                cfi!(".cfi_endproc"),
                stack = const OFFSET_FRAME_STACK,
                body = const OFFSET_FRAME_BODY,
            )
        }
    };
}

macro_rules! frame_adapters {
    ($($name:ident $pop:literal)*) => {
        $(frame_adapter!($name, $pop);)*
        /// The frame adapters, indexed by bytes popped / 4.
        const FRAME_ADAPTERS: [unsafe extern "C" fn(); 25] = [$($name),*];
    };
}

// Twelve arguments of at most 8 bytes: at most 96 bytes of stack arguments.
frame_adapters! {
    frame_pop0 0 frame_pop4 4 frame_pop8 8 frame_pop12 12 frame_pop16 16 frame_pop20 20
    frame_pop24 24 frame_pop28 28 frame_pop32 32 frame_pop36 36 frame_pop40 40 frame_pop44 44
    frame_pop48 48 frame_pop52 52 frame_pop56 56 frame_pop60 60 frame_pop64 64 frame_pop68 68
    frame_pop72 72 frame_pop76 76 frame_pop80 80 frame_pop84 84 frame_pop88 88 frame_pop92 92
    frame_pop96 96
}

/// Bytes an argument of class `class` takes on the stack (a struct: its size rounded up to 4,
/// 4-aligned, as i386 System V and MSVC pass structs of alignment 8 or less).
const fn stack_size(class: AbiClass) -> usize {
    class.size().next_multiple_of(4)
}

/// Whether rustc passes an argument of this class in a register for fastcall (a 32-bit or
/// smaller integer or pointer; never a struct).
const fn is_register_integer(class: AbiClass) -> bool {
    matches!(class, AbiClass::Int { .. } | AbiClass::Pointer) && class.size() <= 4
}

/// Whether a struct return value goes through a hidden pointer, the first stack argument:
/// always on Linux; on Windows (MSVC and MinGW alike) unless it is 1, 2, 4 or 8 bytes, which
/// come back in eax or edx:eax.
const fn returns_through_pointer(ret: AbiClass) -> bool {
    match ret {
        AbiClass::Aggregate(aggregate) => {
            !(cfg!(windows) && matches!(aggregate.size(), 1 | 2 | 4 | 8))
        }
        _ => false,
    }
}

/// A frame plan for a signature whose stack arguments are `stack` bytes, `pop` of which the
/// callee pops.
const fn frame(stack: usize, pop: usize) -> Plan {
    if pop / 4 >= FRAME_ADAPTERS.len() {
        return Plan::Refused(
            "a callee-pop signature with more than 96 bytes of stack arguments and no free \
             register is not supported on 32-bit x86",
        );
    }
    Plan::Frame {
        kind: FRAME,
        frame: Frame::new(FRAME_ADAPTERS[pop / 4], stack),
    }
}

/// Where `ctx` goes for a signature with `abi`, `args` and return class `ret`.
pub(crate) const fn plan(abi: Abi, args: &[AbiClass], ret: AbiClass) -> Plan {
    let stdcall_like = match abi {
        Abi::Stdcall | Abi::Fastcall | Abi::Thiscall => true,
        Abi::System => cfg!(windows),
        _ => false,
    };
    if returns_through_pointer(ret) && stdcall_like {
        return Plan::Refused(
            "on 32-bit x86, a struct returned through a hidden pointer is only supported for \
             cdecl (\"C\") signatures; stdcall, fastcall and thiscall ones are refused",
        );
    }
    match abi {
        Abi::Stdcall => stdcall_plan(),
        Abi::System if cfg!(windows) => stdcall_plan(),
        Abi::C | Abi::System | Abi::Cdecl => {
            if returns_through_pointer(ret) {
                // The hidden pointer is the first stack argument; the callee pops it on Linux
                // (i386 System V), the caller on Windows.
                let pop = if cfg!(windows) { 0 } else { 4 };
                frame(4 + stack_bytes(args, 0), pop)
            } else {
                frame(stack_bytes(args, 0), 0)
            }
        }
        Abi::Fastcall => fastcall_plan(args),
        Abi::Thiscall => thiscall_plan(args),
        Abi::Win64 | Abi::Sysv64 => Plan::Refused("win64 and sysv64 are x86_64 ABIs"),
    }
}

const fn stdcall_plan() -> Plan {
    Plan::Register {
        kind: ECX,
        fastcall_prefix: true,
    }
}

/// Bytes of stack taken by `args[first..]`.
const fn stack_bytes(args: &[AbiClass], first: usize) -> usize {
    let (mut bytes, mut i) = (0, first);
    while i < args.len() {
        bytes += stack_size(args[i]);
        i += 1;
    }
    bytes
}

/// fastcall, following rustc's `fill_inregs`: walking the arguments with two free registers,
/// floats are skipped; an integer of `n` 32-bit words stops the walk if fewer than `n`
/// registers are free, else takes `n` of them (but only a 32-bit one is actually passed in a
/// register); the walk also stops once no register is free.
///
/// Structs are refused: rustc passes them on the stack without counting them against ecx and
/// edx, while GCC and Clang (outside MSVC mode) count them, so a C caller puts the next
/// integer in another register than a Rust body reads it from (seen in the conformance suite:
/// `fastcall fn(S1, *mut c_void)` gets its pointer in edx from GCC, in ecx from rustc).
const fn fastcall_plan(args: &[AbiClass]) -> Plan {
    let mut i = 0;
    while i < args.len() {
        if matches!(args[i], AbiClass::Aggregate(_)) {
            return Plan::Refused(
                "a fastcall signature taking a struct by value is not supported: rustc and \
                 GCC/Clang disagree on which registers such a struct uses",
            );
        }
        i += 1;
    }
    let (mut free, mut stack, mut stopped, mut i) = (2, 0, false, 0);
    while i < args.len() {
        let class = args[i];
        let words = class.size().div_ceil(4);
        let mut in_register = false;
        if !stopped && !class.is_float() {
            if words > free {
                stopped = true;
            } else {
                free -= words;
                in_register = is_register_integer(class);
                stopped = free == 0;
            }
        }
        if !in_register {
            stack += stack_size(class);
        }
        i += 1;
    }
    match (stopped, free) {
        (false, 2) => Plan::register(ECX),
        (false, 1) => Plan::register(EDX),
        // `ctx` goes on the stack after the other stack arguments; the body pops both, the
        // caller expects only its own popped.
        _ => frame(stack, stack),
    }
}

/// thiscall: the first argument in ecx (when it is a 32-bit integer or pointer), the rest on
/// the stack, callee-pop.
const fn thiscall_plan(args: &[AbiClass]) -> Plan {
    if args.is_empty() {
        return Plan::register(ECX);
    }
    let mut i = 0;
    while i < args.len() {
        if matches!(args[i], AbiClass::Aggregate(_)) {
            return Plan::Refused("a thiscall signature taking a struct by value is not supported");
        }
        i += 1;
    }
    if is_register_integer(args[0]) {
        let stack = stack_bytes(args, 1);
        return frame(stack, stack);
    }
    // Nothing in ecx only if no argument could go there; then the stack is stdcall's.
    let mut i = 0;
    while i < args.len() {
        if !args[i].is_float() {
            return Plan::Refused(
                "a thiscall signature whose first argument is not a 32-bit integer or \
                 pointer, but which has other integer arguments, is not supported",
            );
        }
        i += 1;
    }
    stdcall_plan()
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::c_struct! {
        struct Twelve { a: i32, b: i32, c: i32 }
        struct Eight { a: i32, b: i32 }
    }

    const INT: AbiClass = AbiClass::of::<i32>();

    #[test]
    fn structs_refused_where_rustc_and_c_disagree_or_no_adapter_fits() {
        let s = AbiClass::of::<Eight>();
        assert!(matches!(
            plan(Abi::Fastcall, &[INT, s], AbiClass::Void),
            Plan::Refused(_)
        ));
        assert!(matches!(
            plan(Abi::Thiscall, &[INT, s], AbiClass::Void),
            Plan::Refused(_)
        ));
        let hidden = AbiClass::of::<Twelve>();
        assert!(matches!(
            plan(Abi::Stdcall, &[INT], hidden),
            Plan::Refused(_)
        ));
    }

    #[test]
    fn a_cdecl_struct_return_adds_the_hidden_pointer_which_linux_callees_pop() {
        let frame = plan(
            Abi::C,
            &[INT, AbiClass::of::<Twelve>()],
            AbiClass::of::<Twelve>(),
        )
        .frame()
        .expect("cdecl goes through a frame adapter");
        assert_eq!(frame.stack, 4 + 4 + 12);
        let pop = if cfg!(windows) { 0 } else { 4 };
        assert_eq!(frame.adapter as usize, FRAME_ADAPTERS[pop / 4] as usize);
    }

    #[test]
    fn windows_returns_eight_byte_structs_in_registers() {
        let eight = AbiClass::of::<Eight>();
        let plan = plan(Abi::Stdcall, &[INT], eight);
        assert_eq!(
            matches!(plan, Plan::Register { .. }),
            cfg!(windows),
            "edx:eax on Windows, a hidden pointer (refused for stdcall) on Linux"
        );
    }
}
