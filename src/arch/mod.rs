//! Architecture-specific stubs: the code tables and frame adapters, one file per architecture,
//! and `plan`, which decides at compile time how a signature's thunk receives its context.
//!
//! Every instruction that runs between C's call and the Rust body is here, hand-written, with
//! its register and stack contract next to it.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "x86")]
mod x86;
#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(target_arch = "aarch64")]
use aarch64 as imp;
#[cfg(target_arch = "x86")]
use x86 as imp;
#[cfg(target_arch = "x86_64")]
use x86_64 as imp;

#[cfg(not(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64")))]
compile_error!("trampoline supports x86_64, x86 and aarch64");

pub(crate) use imp::{KINDS, TABLE_SIZE, TABLES};

use crate::signature::Abi;
use crate::types::AbiClass;

/// Whether frame adapters carry unwind information on this target, so that a panic may
/// unwind through them (for `-unwind` signatures): DWARF CFI everywhere but where Windows
/// uses SEH tables (x86_64, and MSVC targets).
pub(crate) const FRAMES_UNWIND: bool =
    !(cfg!(windows) && (cfg!(target_arch = "x86_64") || cfg!(target_env = "msvc")));

/// The start of the code table of stub kind `kind`, in this binary's own text.
pub(crate) fn table(kind: usize) -> *const u8 {
    let function = TABLES[kind] as usize;
    // The naked function's first directive aligns the table; where the symbol itself is
    // placed before that padding (Mach-O), round up to where the table really starts.
    let align = if cfg!(windows) { 64 } else { TABLE_SIZE };
    function.next_multiple_of(align) as *const u8
}

/// How a frame adapter must be set up for a signature.
#[derive(Clone, Copy)]
pub(crate) struct Frame {
    /// The adapter the stub jumps to.
    pub(crate) adapter: unsafe extern "C" fn(),
    /// Bytes of the caller's stack arguments to copy; the context goes right after them.
    pub(crate) stack: usize,
}

impl Frame {
    pub(crate) const fn new(adapter: unsafe extern "C" fn(), stack: usize) -> Frame {
        Frame { adapter, stack }
    }
}

/// How a signature's thunk receives its context.
#[derive(Clone, Copy)]
pub(crate) struct Plan {
    /// Which stub table to take a slot from.
    pub(crate) kind: usize,
    /// `Some` when no register is free: the stub jumps to a frame adapter.
    pub(crate) frame: Option<Frame>,
    /// On 32-bit x86, a stdcall-like signature whose body is
    /// `extern "fastcall" fn(ctx, _edx: u32, a0, .., an)` rather than `fn(a0, .., an, ctx)`.
    #[cfg_attr(not(target_arch = "x86"), allow(dead_code))]
    pub(crate) fastcall_prefix: bool,
    /// Why the signature cannot have a thunk on this target, if it cannot.
    pub(crate) refusal: Option<&'static str>,
}

impl Plan {
    pub(crate) const fn register(kind: usize) -> Plan {
        Plan {
            kind,
            frame: None,
            fastcall_prefix: false,
            refusal: None,
        }
    }

    pub(crate) const fn frame(kind: usize, frame: Frame) -> Plan {
        Plan {
            kind,
            frame: Some(frame),
            fastcall_prefix: false,
            refusal: None,
        }
    }

    pub(crate) const fn refused(reason: &'static str) -> Plan {
        Plan {
            kind: 0,
            frame: None,
            fastcall_prefix: false,
            refusal: Some(reason),
        }
    }
}

/// The plan for a signature, with the target-independent refusals applied.
pub(crate) const fn plan(abi: Abi, args: &[AbiClass], unwind: bool) -> Plan {
    let plan = imp::plan(abi, args);
    if unwind && plan.frame.is_some() && !FRAMES_UNWIND {
        return Plan::refused(
            "this `-unwind` signature needs a frame adapter, which has no unwind information \
             on Windows: use the non-unwind ABI, or fewer arguments",
        );
    }
    plan
}
