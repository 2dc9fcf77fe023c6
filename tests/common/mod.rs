//! Loads the C test library (`csrc/`, built by `build.rs`) and looks up its functions.
#![allow(dead_code)]

#[cfg(not(testlib_static))]
use libloading::Library;
#[cfg(not(testlib_static))]
use std::sync::OnceLock;

#[allow(unused_macros)]
pub mod edge_values;

/// The path `build.rs` built the C test library at.
pub const CLIB_PATH: &str = env!("TRAMPOLINE_TEST_CLIB");

/// The C test library, loaded once for the whole test binary and never unloaded, since
/// function pointers into it are copied around freely.
#[cfg(not(testlib_static))]
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
#[cfg(not(testlib_static))]
pub unsafe fn sym<T: Copy>(name: &str) -> T {
    // SAFETY: the caller promises `T` is the symbol's type.
    let symbol = unsafe { clib().get::<T>(name.as_bytes()) }
        .unwrap_or_else(|e| panic!("the C test library has no `{name}`: {e}"));
    *symbol
}

/// The C test library's function `name`, as the function-pointer type `T`: where the library
/// is linked into the (static) test binary (musl), found in the binary's own symbol table.
///
/// # Safety
///
/// `T` must be the function's exact C type.
#[cfg(testlib_static)]
pub unsafe fn sym<T: Copy>(name: &str) -> T {
    assert_eq!(
        size_of::<T>(),
        size_of::<usize>(),
        "a function pointer type"
    );
    let address = static_symbols::address(name)
        .unwrap_or_else(|| panic!("the C test library has no `{name}`"));
    // SAFETY: `T` is a function-pointer type (the caller's promise), and `address` is the
    // function's address in this process.
    unsafe { core::mem::transmute_copy::<usize, T>(&address) }
}

/// The function symbols of this binary's own ELF symbol table (64-bit little-endian), at their
/// addresses in this process.
#[cfg(testlib_static)]
mod static_symbols {
    use std::collections::HashMap;
    use std::sync::OnceLock;

    unsafe extern "C" {
        /// A C test library function whose runtime address gives the load bias.
        fn tl_plain_add1(x: i64) -> i64;
    }

    pub fn address(name: &str) -> Option<usize> {
        static TABLE: OnceLock<HashMap<String, usize>> = OnceLock::new();
        let table = TABLE.get_or_init(|| {
            let elf = std::fs::read("/proc/self/exe").expect("read this test binary");
            let symbols = function_symbols(&elf);
            let known = tl_plain_add1 as unsafe extern "C" fn(i64) -> i64 as usize;
            let bias = known.wrapping_sub(symbols["tl_plain_add1"]);
            symbols
                .into_iter()
                .map(|(name, value)| (name, value.wrapping_add(bias)))
                .collect()
        });
        table.get(name).copied()
    }

    /// Name and value of every defined function symbol in `.symtab`.
    fn function_symbols(elf: &[u8]) -> HashMap<String, usize> {
        let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().unwrap()) as usize;
        let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) as usize;
        let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap()) as usize;
        assert_eq!(&elf[..5], b"\x7fELF\x02", "a 64-bit ELF file");
        let (sections, entry_size, count) = (u64_at(0x28), u16_at(0x3a), u16_at(0x3c));
        let section = |i: usize| sections + i * entry_size;
        let symtab = (0..count)
            .map(section)
            .find(|&header| u32_at(header + 4) == 2) // SHT_SYMTAB
            .expect("a symbol table (the test binary is not stripped)");
        let (offset, size) = (u64_at(symtab + 0x18), u64_at(symtab + 0x20));
        let strings = u64_at(section(u32_at(symtab + 0x28)) + 0x18);
        let mut symbols = HashMap::new();
        for symbol in (offset..offset + size).step_by(24) {
            let (name, info, index) = (u32_at(symbol), elf[symbol + 4], u16_at(symbol + 6));
            if info & 0xf == 2 && index != 0 {
                // STT_FUNC, defined
                let start = strings + name;
                let end = start + elf[start..].iter().position(|&b| b == 0).unwrap();
                let name = String::from_utf8_lossy(&elf[start..end]).into_owned();
                symbols.insert(name, u64_at(symbol + 8));
            }
        }
        symbols
    }
}

/// Twelve pointer-sized integers, `-unwind`: no free register on any target, so a frame
/// adapter runs a thunk of this type everywhere (and a panic may cross it).
pub type Cb12Unwind = unsafe extern "C-unwind" fn(
    isize,
    isize,
    isize,
    isize,
    isize,
    isize,
    isize,
    isize,
    isize,
    isize,
    isize,
    isize,
) -> isize;

const CHILD: &str = "TRAMPOLINE_ABORT_CHILD";

/// The command that runs a binary of this target, for a test that re-runs its own binary:
/// `TRAMPOLINE_TEST_RUNNER`, else cargo's `CARGO_TARGET_<TRIPLE>_RUNNER` (an emulator such as
/// qemu-user, which cannot run a foreign binary by itself without binfmt_misc). Not on
/// Windows, where the runner (wine) is a host program that Windows processes cannot start,
/// and not needed: a process under wine starts Windows programs itself.
fn runner() -> String {
    if let Ok(runner) = std::env::var("TRAMPOLINE_TEST_RUNNER") {
        return runner;
    }
    if cfg!(windows) {
        return String::new();
    }
    let triple = env!("TRAMPOLINE_TEST_TARGET")
        .to_uppercase()
        .replace('-', "_");
    std::env::var(format!("CARGO_TARGET_{triple}_RUNNER")).unwrap_or_default()
}

/// For tests whose scenario aborts the process. In the parent: runs test `name` of this test
/// binary in a child process and checks that it aborted, printing each of `expected` on
/// stderr; returns false. In the child: returns true, and the caller runs the scenario.
///
/// Under an emulator (qemu-user), the child runs through the same runner as the parent (see
/// `runner`).
pub fn in_child(name: &str, expected: &[&str]) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let output = run_child(name, &std::env::current_exe().unwrap(), &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "{name}: the child did not fail: {stderr}"
    );
    assert!(
        aborted(&output.status),
        "{name}: the child did not abort ({:?}): {stderr}",
        output.status
    );
    for text in expected {
        assert!(
            stderr.contains(text),
            "{name}: missing {text:?} in the child's stderr:\n{stderr}"
        );
    }
    false
}

/// Whether this test binary runs under an emulator: a cargo runner that starts qemu-user (a
/// runner such as `timeout` runs it natively). Prints why `name` is skipped if so: the
/// emulator handles `/proc/self/exe`, the address space and mappings itself, so scenarios
/// about those would test the emulator.
pub fn skipped_under_emulator(name: &str) -> bool {
    let runner = runner();
    let emulated = !cfg!(windows)
        && runner
            .split_whitespace()
            .any(|word| word.rsplit('/').next().unwrap_or(word).starts_with("qemu"));
    if emulated {
        println!(
            "{name}: skipped: under an emulator ({runner}), which emulates /proc/self/exe and \
             the address space itself"
        );
    }
    emulated
}

/// For tests whose scenario changes the whole process (its limits, its mounts, its
/// executable): as [`in_child`], but the child must pass. `exe` is the binary to run (this
/// one, or a copy of it), with `env` added to its environment. Returns false in the parent,
/// true in the child.
pub fn in_passing_child(name: &str, exe: &std::path::Path, env: &[(&str, &str)]) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let output = run_child(name, exe, env);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{name}: the child failed ({:?}):\n{stdout}\n{stderr}",
        output.status
    );
    // What the child skipped, and why, shows in the parent's output.
    for line in stdout.lines().filter(|line| line.starts_with("skipped:")) {
        println!("{name}: {line}");
    }
    false
}

/// Runs test `name` of `exe` alone, as a child, through this target's runner.
fn run_child(name: &str, exe: &std::path::Path, env: &[(&str, &str)]) -> std::process::Output {
    let runner = runner();
    let mut words = runner.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut command = std::process::Command::new(program);
            command.args(words).arg(exe);
            command
        }
        None => std::process::Command::new(exe),
    };
    command
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .envs(env.iter().copied())
        .output()
        .expect("run the test binary as a child")
}

/// Whether the status is that of an aborted process.
fn aborted(status: &std::process::ExitStatus) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        // SIGABRT; qemu-user reports a guest abort as the host signal too.
        status.signal() == Some(6)
    }
    #[cfg(windows)]
    {
        // Rust aborts with __fastfail (STATUS_STACK_BUFFER_OVERRUN); Wine may report abort()'s
        // exit code 3 instead.
        matches!(status.code(), Some(code) if code as u32 == 0xC000_0409 || code == 3)
    }
}

/// The text of a caught panic (a `String` or `&str` payload).
pub fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => payload
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}
