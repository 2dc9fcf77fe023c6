//! Builds the C test library (`csrc/`) into a shared library when the `test-clib` feature is
//! on, which only this crate's own tests, benches and examples switch on (through a self
//! dev-dependency). The library is linked by the C compiler driver itself rather than by
//! rustc, because tests load it at run time with `libloading`, exactly as a real C library
//! that calls back into Rust would be loaded.
//!
//! Output: `cargo:rustc-env=TRAMPOLINE_TEST_CLIB=<absolute path of the shared library>`.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
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

        let conformance = generate_conformance(&out_dir);
        let mut build = cc::Build::new();
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

        let (file_name, link_flags): (&str, &[&str]) = match target_os.as_str() {
            "windows" => ("trampoline_testlib.dll", &["-shared", "-Wl,--kill-at"]),
            "macos" | "ios" => ("libtrampoline_testlib.dylib", &["-dynamiclib"]),
            _ => ("libtrampoline_testlib.so", &["-shared", "-pthread"]),
        };
        let library = out_dir.join(file_name);
        link(&build, &objects, link_flags, &library);
        println!(
            "cargo:rustc-env=TRAMPOLINE_TEST_CLIB={}",
            library.to_str().expect("OUT_DIR is valid UTF-8")
        );
    }

    /// Writes the generated conformance suite (C and Rust) into `out_dir`; returns the C file.
    fn generate_conformance(out_dir: &Path) -> PathBuf {
        println!("cargo:rerun-if-changed=tests/conformance/generate.rs");
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
            arch: env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets the target arch"),
            windows: env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("windows"),
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
    /// so that the driver supplies the right runtime and linker for the target.
    fn link(build: &cc::Build, objects: &[PathBuf], flags: &[&str], output: &Path) {
        let compiler = build.get_compiler();
        let mut command: Command = compiler.to_command();
        command.args(flags).arg("-o").arg(output).args(objects);
        let status = command
            .status()
            .unwrap_or_else(|e| panic!("cannot run the C compiler {:?}: {e}", compiler.path()));
        assert!(
            status.success(),
            "linking the C test library failed ({status}): {command:?}"
        );
    }
}
