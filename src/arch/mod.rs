//! Architecture-specific stubs: the code tables and frame adapters, one file per architecture,
//! and `plan`, which decides at compile time how a signature's thunk receives its context.
//!
//! Every instruction that runs between C's call and the Rust body is here, hand-written, with
//! its register and stack contract next to it.
//!
//! Supported targets are listed by (architecture, OS, pointer width): the stubs load and store
//! pointer-sized slot fields with 64-bit (or, on x86, 32-bit) instructions, and each OS has its
//! own way of mapping code. Anything else is refused here, by name, at compile time.

// The target gate. x86_64 x32 and aarch64 ILP32 (arm64_32) have 4-byte pointers, which the
// 64-bit stubs would misread; Windows on Arm needs SEH unwind codes for the AAPCS64 frame
// adapter, which no run of ours could check.
#[cfg(not(any(
    all(
        target_arch = "x86_64",
        target_pointer_width = "64",
        any(target_os = "linux", target_os = "macos", target_os = "windows")
    ),
    all(
        target_arch = "x86",
        target_pointer_width = "32",
        any(target_os = "linux", target_os = "windows")
    ),
    all(
        target_arch = "aarch64",
        target_pointer_width = "64",
        any(target_os = "linux", target_os = "macos")
    ),
)))]
compile_error!(
    "trampoline does not support this target. Supported: x86_64 Linux, macOS and Windows; \
     x86 (i686) Linux and Windows; aarch64 Linux and macOS. Not supported: Windows on Arm \
     (aarch64-pc-windows-*), ILP32 ABIs (x86_64 x32, arm64_32), and every other OS."
);

/// `.balign` for the start of a stub table, as the asm operand `align = const TABLE_ALIGN`.
macro_rules! table_align {
    () => {
        ".balign {align}"
    };
}

/// A DWARF CFI directive, emitted where unwinders read DWARF: every supported target except
/// Windows x64 (SEH tables, see `seh!`) and MSVC x86 (frame-based SEH, nothing to describe).
#[cfg(any(not(windows), all(target_arch = "x86", target_env = "gnu")))]
macro_rules! cfi {
    ($($directive:literal),*) => {
        concat!($($directive, "\n"),*)
    };
}
#[cfg(not(any(not(windows), all(target_arch = "x86", target_env = "gnu"))))]
macro_rules! cfi {
    ($($directive:literal),*) => {
        ""
    };
}

/// A Windows x64 SEH directive (`.seh_proc`, `.seh_pushreg`, ...), from which the assembler
/// writes the function's `.pdata`/`.xdata` unwind codes; nothing elsewhere. Written next to
/// the matching `cfi!` so that the two descriptions of a frame cannot drift apart.
#[cfg(all(windows, target_arch = "x86_64"))]
macro_rules! seh {
    ($($directive:literal),*) => {
        concat!($($directive, "\n"),*)
    };
}
#[cfg(not(all(windows, target_arch = "x86_64")))]
#[allow(unused_macros)] // x86_64 only
macro_rules! seh {
    ($($directive:literal),*) => {
        ""
    };
}

/// Opens a Windows x64 function's unwind description: `.seh_proc` for the naked function named
/// by the asm operand `this = sym <the function>`. Elsewhere that operand only appears in an
/// assembler comment, because every asm operand must be used.
#[cfg(all(windows, target_arch = "x86_64"))]
macro_rules! seh_proc {
    () => {
        ".seh_proc {this}"
    };
}
#[cfg(all(not(windows), any(target_arch = "x86_64", target_arch = "x86")))]
#[allow(unused_macros)] // x86_64 only
macro_rules! seh_proc {
    () => {
        "# {this}"
    };
}

/// Declares an architecture's stub kinds, each named by the register its stubs put the context
/// in and paired with its table: the `StubKind` constants are numbered in the order written,
/// and `TABLES` lists the tables in that same order, so a name can never pick another
/// register's table.
macro_rules! stub_kinds {
    ($($(#[$doc:meta])* $kind:ident => $table:ident,)*) => {
        stub_kinds!(@number 0u8, $($(#[$doc])* $kind,)*);
        /// How many stub kinds (and tables, and pools) there are.
        pub(crate) const KINDS: usize = [$(stringify!($kind)),*].len();
        /// The stub tables, by kind.
        pub(crate) const TABLES: [unsafe extern "C" fn(); KINDS] = [$($table),*];
    };
    (@number $n:expr, $(#[$doc:meta])* $kind:ident, $($rest:tt)*) => {
        $(#[$doc])*
        pub(crate) const $kind: super::StubKind = super::StubKind($n);
        stub_kinds!(@number $n + 1, $($rest)*);
    };
    (@number $n:expr,) => {};
}

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

pub(crate) use imp::{KINDS, TABLE_SIZE, TABLES};

/// Where a table starts relative to its naked function. In ELF and Mach-O it is page-aligned
/// (Linux maps it from the file, macOS remaps its pages). COFF sections cannot be aligned
/// beyond 8 KiB, and Windows copies the table anyway, so there it is cache-line aligned.
pub(crate) const TABLE_ALIGN: usize = if cfg!(windows) { 64 } else { TABLE_SIZE };

use crate::error::Error;
use crate::signature::Abi;
use crate::slot::SLOT_SIZE;
use crate::types::AbiClass;

/// One stub table, and the pool of slots behind it: named (in each architecture's file) by the
/// register its stubs put the context in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct StubKind(u8);

/// The kind whose pool also holds the slots of C-owned user-data callbacks
/// (`UserData::into_c`): any kind would do, since their stubs are never called.
pub(crate) const OWNED_DATA: StubKind = StubKind(0);

impl StubKind {
    /// Every kind, in table order.
    pub(crate) fn all() -> impl Iterator<Item = StubKind> {
        (0..KINDS as u8).map(StubKind)
    }

    /// The kind's index in `TABLES`, and in the pools.
    #[inline]
    pub(crate) const fn index(self) -> usize {
        self.0 as usize
    }
}

/// The start of the code table of stub kind `kind`, in this binary's own text, checked to
/// hold stubs.
pub(crate) fn table(kind: StubKind) -> Result<*const u8, Error> {
    let mut function = TABLES[kind.index()] as usize;
    if cfg!(all(
        windows,
        any(target_arch = "x86", target_arch = "x86_64")
    )) {
        function = jump_thunk_target(function);
    }
    // The naked function's first directive aligns the table; where the symbol itself is
    // placed before that padding (Mach-O), round up to where the table really starts.
    let table = function.next_multiple_of(TABLE_ALIGN) as *const u8;
    // SAFETY: `table` is in this binary's text, where the table's `TABLE_SIZE` bytes are
    // (whatever they hold, they are readable code).
    if unsafe { is_stub_table(table) } {
        Ok(table)
    } else {
        Err(Error::StubTableNotFound)
    }
}

/// Whether the `TABLE_SIZE` bytes at `table` are a stub table: every stub's code is
/// position-independent (PC-relative), so all are byte for byte the same, and each starts with
/// the landing pad.
///
/// # Safety
///
/// `TABLE_SIZE` bytes at `table` are readable.
unsafe fn is_stub_table(table: *const u8) -> bool {
    // SAFETY: per the caller.
    let bytes = unsafe { core::slice::from_raw_parts(table, TABLE_SIZE) };
    let (first, rest) = bytes.split_at(SLOT_SIZE);
    first.starts_with(&imp::LANDING_PAD) && rest.chunks_exact(SLOT_SIZE).all(|stub| stub == first)
}

/// Where a function's address leads when the linker made it a jump thunk rather than the
/// function itself (x86 and x86_64 code). MSVC's `link.exe` does that for every function when
/// it links incrementally: its default with `/DEBUG` unless `/OPT:REF` is given, which rustc
/// passes except with `-C link-dead-code` (`/OPT:NOREF`, as coverage tools use). The address is
/// then a `jmp rel32` into the real function: copying the table from there would copy
/// garbage. `table` checks what it found either way (`is_stub_table`).
fn jump_thunk_target(address: usize) -> usize {
    const JMP_REL32: u8 = 0xe9;
    let code = address as *const u8;
    // SAFETY: `address` is code in this binary's text, readable, at least 5 bytes long (a
    // jump thunk is exactly that; anything else here is a whole stub table).
    unsafe {
        if *code == JMP_REL32 {
            let offset = code.add(1).cast::<i32>().read_unaligned();
            return address
                .wrapping_add(5)
                .wrapping_add(offset as isize as usize);
        }
    }
    address
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
pub(crate) enum Plan {
    /// The stub puts the context in an argument register and jumps straight to the body.
    Register {
        kind: StubKind,
        /// On 32-bit x86, a stdcall-like signature whose body is
        /// `extern "fastcall" fn(ctx, _edx: u32, a0, .., an)` rather than `fn(a0, .., an, ctx)`.
        fastcall_prefix: bool,
    },
    /// No register is free: the stub puts the context in a scratch register and jumps to a
    /// frame adapter, which calls the body.
    Frame { kind: StubKind, frame: Frame },
    /// The signature cannot have a thunk on this target, for this reason.
    #[cfg_attr(not(target_arch = "x86"), allow(dead_code))]
    Refused(&'static str),
}

impl Plan {
    pub(crate) const fn register(kind: StubKind) -> Plan {
        Plan::Register {
            kind,
            fastcall_prefix: false,
        }
    }

    /// The stub kind, for a plan that is not refused (the thunk constructors refuse those at
    /// compile time, before asking).
    #[inline]
    pub(crate) const fn kind(self) -> StubKind {
        match self {
            Plan::Register { kind, .. } | Plan::Frame { kind, .. } => kind,
            Plan::Refused(reason) => panic!("{}", reason),
        }
    }

    /// The frame adapter's setup, if the plan goes through one.
    #[inline]
    pub(crate) const fn frame(self) -> Option<Frame> {
        match self {
            Plan::Frame { frame, .. } => Some(frame),
            _ => None,
        }
    }

    /// Whether the body takes the context first, fastcall-style (32-bit x86).
    #[cfg_attr(not(target_arch = "x86"), allow(dead_code))]
    #[inline]
    pub(crate) const fn fastcall_prefix(self) -> bool {
        matches!(
            self,
            Plan::Register {
                fastcall_prefix: true,
                ..
            }
        )
    }
}

/// The plan for a signature. Every frame adapter carries unwind information for its target
/// (DWARF CFI, Windows x64 SEH codes; x86 Windows unwinds without tables), so `-unwind`
/// signatures may use them too.
pub(crate) const fn plan(abi: Abi, args: &[AbiClass], ret: AbiClass) -> Plan {
    imp::plan(abi, args, ret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jump_thunk_is_followed_to_its_target() {
        let mut code = [0x90u8; 32];
        code[0] = 0xe9;
        code[1..5].copy_from_slice(&11i32.to_le_bytes());
        code[8] = 0xe9;
        code[9..13].copy_from_slice(&(-13i32).to_le_bytes());
        // (black_box: the bytes are read through a raw address, which the compiler cannot see.)
        let base = core::hint::black_box(&code).as_ptr() as usize;
        assert_eq!(jump_thunk_target(base), base + 5 + 11);
        assert_eq!(jump_thunk_target(base + 8), base + 8 + 5 - 13);
        assert_eq!(
            jump_thunk_target(base + 16),
            base + 16,
            "not a jump: the address itself"
        );
    }

    #[test]
    fn every_table_is_found_and_a_changed_byte_is_noticed() {
        for kind in StubKind::all() {
            let table = table(kind).expect("this binary's own table");
            // SAFETY: `table` found `TABLE_SIZE` bytes of stubs there.
            let mut copy = unsafe { core::slice::from_raw_parts(table, TABLE_SIZE) }.to_vec();
            // SAFETY: `copy` is `TABLE_SIZE` bytes.
            assert!(unsafe { is_stub_table(copy.as_ptr()) });
            copy[7 * SLOT_SIZE + 5] ^= 1;
            // SAFETY: as above.
            assert!(!unsafe { is_stub_table(copy.as_ptr()) }, "stub 7 differs");
            copy[7 * SLOT_SIZE + 5] ^= 1;
            // Every stub alike, but none starting with the landing pad.
            copy.chunks_exact_mut(SLOT_SIZE)
                .for_each(|stub| stub[0] ^= 1);
            // SAFETY: as above.
            assert!(!unsafe { is_stub_table(copy.as_ptr()) }, "no landing pad");
        }
    }
}
