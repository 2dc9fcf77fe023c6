//! Builds the C test library (`csrc/`) into a shared library when the `test-clib` feature is
//! on, which only this crate's own tests, benches and examples switch on (through a self
//! dev-dependency). The library is linked by the C compiler driver itself rather than by
//! rustc, because tests load it at run time with `libloading`, exactly as a real C library
//! that calls back into Rust would be loaded.
//!
//! Output: `cargo:rustc-env=TRAMPOLINE_TEST_CLIB=<absolute path of the shared library>`. On
//! musl, whose binaries are static and cannot `dlopen`, the library is also linked into every
//! test binary (cfg `testlib_static`).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(testlib_no_sysv64)");
    println!("cargo::rustc-check-cfg=cfg(testlib_seh)");
    println!("cargo::rustc-check-cfg=cfg(testlib_static)");
    #[cfg(feature = "test-clib")]
    test_clib::build();
}

#[cfg(feature = "test-clib")]
#[path = "tests/conformance/generate.rs"]
mod conformance;

#[cfg(feature = "test-clib")]
mod test_clib {
    use std::env;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    const SOURCES: &[&str] = &["csrc/testlib.c"];

    pub fn build() {
        println!("cargo:rerun-if-changed=csrc");
        let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
        let target_os = env::var("CARGO_CFG_TARGET_OS").expect("cargo sets CARGO_CFG_TARGET_OS");

        let mut build = cc::Build::new();
        let conformance = generate_conformance(&out_dir, &build);
        build
            .files(SOURCES)
            .file(conformance)
            .include("csrc")
            .pic(true)
            .warnings(true)
            .extra_warnings(true)
            .define("TESTLIB_BUILDING", None);
        if env::var("PROFILE").as_deref() == Ok("release") {
            build.opt_level(2);
        }
        // Unwind tables let `-unwind` callbacks propagate panics through the C frames.
        build.flag_if_supported("-fexceptions");
        let objects = build.compile_intermediates();
        if build.get_compiler().is_like_msvc() {
            // `__try` / `__except`: MSVC-style compilers only (not GCC, so not MinGW).
            println!("cargo:rustc-cfg=testlib_seh");
        }

        let library = out_dir.join(match target_os.as_str() {
            "windows" => "trampoline_testlib.dll",
            "macos" | "ios" => "libtrampoline_testlib.dylib",
            _ => "libtrampoline_testlib.so",
        });
        link(&build, &objects, &target_os, &library);
        if env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("musl") {
            link_static(&build, &objects, &out_dir);
        }
        println!(
            "cargo:rustc-env=TRAMPOLINE_TEST_CLIB={}",
            library.to_str().expect("OUT_DIR is valid UTF-8")
        );
        // For tests that re-run their own binary, to find cargo's runner for this target.
        let target = env::var("TARGET").expect("cargo sets TARGET");
        println!("cargo:rustc-env=TRAMPOLINE_TEST_TARGET={target}");
    }

    /// Whether the C test library can call `sysv64` callbacks on x86_64: not where cl.exe
    /// compiles it (it has no `sysv_abi`), and not under Control Flow Guard on Windows, where
    /// LLVM (rustc and clang-cl alike, checked with clang 14 and rustc 1.95) passes the target
    /// of a guarded call to a System V function in the next free System V argument register
    /// (rsi after one argument, rdx after two) instead of rax, so that the guard's dispatch
    /// jumps to whatever rax held. The Rust tests of `extern "sysv64"` against C are
    /// compiled out (cfg `testlib_no_sysv64`) where it cannot.
    fn c_has_sysv64(build: &cc::Build) -> bool {
        let compiler = build.get_compiler();
        let cl_exe = compiler.is_like_msvc() && !compiler.is_like_clang_cl();
        let guarded = env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("windows")
            && env::var("CARGO_ENCODED_RUSTFLAGS").is_ok_and(|flags| {
                flags.split('\x1f').any(|flag| {
                    flag.contains("control-flow-guard")
                        && !flag.ends_with("=no")
                        && !flag.ends_with("=nochecks")
                })
            });
        let has = !cl_exe && !guarded;
        if !has {
            println!("cargo:rustc-cfg=testlib_no_sysv64");
        }
        has
    }

    /// Writes the generated conformance suite (C and Rust) into `out_dir`; returns the C file.
    fn generate_conformance(out_dir: &Path, build: &cc::Build) -> PathBuf {
        println!("cargo:rerun-if-changed=tests/conformance/generate.rs");
        println!("cargo:rerun-if-changed=tests/conformance/structs.rs");
        println!("cargo:rerun-if-env-changed=TRAMPOLINE_CONFORMANCE_SEED");
        println!("cargo:rerun-if-env-changed=TRAMPOLINE_CONFORMANCE_COUNT");
        let seed = env::var("TRAMPOLINE_CONFORMANCE_SEED")
            .ok()
            .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
            .unwrap_or(0x7472_616d_706f_6c69);
        let count = env::var("TRAMPOLINE_CONFORMANCE_COUNT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1000);
        let target = super::conformance::Target {
            c_has_sysv64: c_has_sysv64(build),
            arch: env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets the target arch"),
            os: env::var("CARGO_CFG_TARGET_OS").expect("cargo sets the target OS"),
            vendor: env::var("CARGO_CFG_TARGET_VENDOR").expect("cargo sets the target vendor"),
            pointer_bytes: env::var("CARGO_CFG_TARGET_POINTER_WIDTH")
                .expect("cargo sets the pointer width")
                .parse::<u8>()
                .expect("a number")
                / 8,
        };
        let (c, rust) = super::conformance::generate(seed, count, &target);
        let c_file = out_dir.join("conformance.c");
        std::fs::write(&c_file, c).expect("write the generated C");
        std::fs::write(out_dir.join("conformance.rs"), rust).expect("write the generated Rust");
        c_file
    }

    /// Links `objects` into a shared library with the same compiler driver that compiled them,
    /// so that the driver supplies the right runtime and linker for the target:
    ///
    /// - MSVC (`cl.exe`, or `clang-cl`, which then needs `lld-link`): `/LD`, with the C runtime
    ///   the objects were compiled for. The exports are the `__declspec(dllexport)` functions;
    ///   `link.exe` and `lld-link` also read extra arguments and the library path from the
    ///   `LINK` and `LIB` environment variables, as a Visual Studio prompt sets them.
    /// - GCC and Clang: `-shared` (`-dynamiclib` on Apple), and on Windows `--kill-at` so that
    ///   stdcall functions are exported undecorated, as MSVC's `/export` aliases do.
    fn link(build: &cc::Build, objects: &[PathBuf], target_os: &str, output: &Path) {
        let compiler = build.get_compiler();
        let mut command: Command = compiler.to_command();
        if compiler.is_like_msvc() {
            // Run in the output directory with relative names: clang-cl on a Unix host would
            // take an absolute path (`/work/..`) for an option. Dash forms for the same reason.
            let dir = output.parent().expect("the library is in OUT_DIR");
            let relative = |path: &Path| path.strip_prefix(dir).unwrap_or(path).to_path_buf();
            let mut fe = std::ffi::OsString::from("-Fe");
            fe.push(relative(output));
            command.current_dir(dir).arg("-LD").arg(fe);
            command.args(objects.iter().map(|object| relative(object)));
            if compiler.is_like_clang_cl() {
                command.arg("-fuse-ld=lld");
            }
            command.arg("-link").arg("-NOLOGO");
        } else {
            let flags: &[&str] = match target_os {
                "windows" => &["-shared", "-Wl,--kill-at"],
                "macos" | "ios" => &["-dynamiclib"],
                _ => &["-shared", "-pthread"],
            };
            command.args(flags).arg("-o").arg(output).args(objects);
        }
        let status = command
            .status()
            .unwrap_or_else(|e| panic!("cannot run the C compiler {:?}: {e}", compiler.path()));
        assert!(
            status.success(),
            "linking the C test library failed ({status}): {command:?}"
        );
    }

    /// musl binaries are static and cannot `dlopen` the shared library: the objects go into
    /// an archive linked whole into every test binary instead (cfg `testlib_static`), and the
    /// tests find the functions in the binary's own symbol table (`tests/common`).
    fn link_static(build: &cc::Build, objects: &[PathBuf], out_dir: &Path) {
        let archive = out_dir.join("libtrampoline_testlib_static.a");
        let _ = std::fs::remove_file(&archive);
        let mut command = build.get_archiver();
        command.arg("crs").arg(&archive).args(objects);
        let status = command
            .status()
            .unwrap_or_else(|e| panic!("cannot run the archiver {command:?}: {e}"));
        assert!(
            status.success(),
            "archiving the C test library failed: {command:?}"
        );
        println!("cargo:rustc-link-search=native={}", out_dir.display());
        // Whole: no test references most of its functions by name at link time.
        println!("cargo:rustc-link-lib=static:-bundle,+whole-archive=trampoline_testlib_static");
        // And kept whole: rustc links with `--gc-sections`, which would drop them again.
        println!("cargo:rustc-link-arg=-Wl,--no-gc-sections");
        println!("cargo:rustc-cfg=testlib_static");
    }
}
