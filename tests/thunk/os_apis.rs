//! Real OS and C runtime APIs with no user-data slot: qsort/bsearch, glibc, Windows.

use super::*;

type Cmp = unsafe extern "C" fn(*const c_void, *const c_void) -> i32;

// The C runtime's own qsort and bsearch: glibc on Linux, msvcrt under Windows (or wine).
unsafe extern "C" {
    fn qsort(base: *mut c_void, n: usize, size: usize, cmp: Cmp);
    fn bsearch(
        key: *const c_void,
        base: *const c_void,
        n: usize,
        size: usize,
        cmp: Cmp,
    ) -> *mut c_void;
}

/// Deterministic pseudo-random values, so a failure can be replayed.
fn scrambled(n: usize) -> Vec<i32> {
    let mut x = 0x2545_f491_u32;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x % 100_000) as i32 - 50_000
        })
        .collect()
}

#[test]
fn c_runtime_qsort_and_bsearch() {
    let mut values = scrambled(1000);
    let mut expected = values.clone();
    expected.sort_by(|a, b| b.cmp(a));
    let mut calls = 0usize;
    let descending = ThunkMut::<Cmp>::new(|a: *const c_void, b: *const c_void| {
        calls += 1;
        // SAFETY: qsort passes pointers to two elements.
        let (a, b) = unsafe { (*a.cast::<i32>(), *b.cast::<i32>()) };
        b.cmp(&a) as i32
    });
    // SAFETY: `descending` compares i32s and outlives the call.
    unsafe {
        qsort(
            values.as_mut_ptr().cast(),
            values.len(),
            4,
            descending.as_fn(),
        )
    };
    drop(descending);
    assert_eq!(values, expected);
    assert!(calls >= 999, "qsort compared {calls} times");

    let probes = Cell::new(0usize);
    let by_ref = Thunk::<Cmp>::new(|key: *const c_void, element: *const c_void| {
        probes.set(probes.get() + 1);
        // SAFETY: bsearch passes the key and an element, both i32.
        let (key, element) = unsafe { (*key.cast::<i32>(), *element.cast::<i32>()) };
        element.cmp(&key) as i32
    });
    for &key in values.iter().step_by(97) {
        // SAFETY: as above.
        let found = unsafe {
            bsearch(
                (&raw const key).cast(),
                values.as_ptr().cast(),
                values.len(),
                4,
                by_ref.as_fn(),
            )
        };
        assert!(!found.is_null(), "{key} is in the array");
        // SAFETY: bsearch returns a pointer into `values`.
        assert_eq!(unsafe { *found.cast::<i32>() }, key);
    }
    let absent = 1_000_000;
    // SAFETY: as above.
    let found = unsafe {
        bsearch(
            (&raw const absent).cast(),
            values.as_ptr().cast(),
            values.len(),
            4,
            by_ref.as_fn(),
        )
    };
    assert!(found.is_null());
    assert!(probes.get() >= 11, "bsearch probed {} times", probes.get());
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use super::*;
    use core::ffi::{c_char, c_int};
    use std::ffi::{CStr, CString};
    use std::path::Path;

    #[repr(C)]
    struct Ftw {
        base: c_int,
        level: c_int,
    }
    type NftwFn = unsafe extern "C" fn(*const c_char, *const c_void, c_int, *mut Ftw) -> c_int;
    type Action = unsafe extern "C" fn(*const c_void, c_int, c_int);
    type FreeNode = unsafe extern "C" fn(*mut c_void);

    const FTW_F: c_int = 0;
    const FTW_D: c_int = 1;
    const FTW_PHYS: c_int = 1;
    // VISIT
    const POSTORDER: c_int = 1;
    const LEAF: c_int = 3;

    unsafe extern "C" {
        fn nftw(dir: *const c_char, f: NftwFn, nopenfd: c_int, flags: c_int) -> c_int;
        fn tsearch(key: *const c_void, root: *mut *mut c_void, cmp: Cmp) -> *mut c_void;
        fn tfind(key: *const c_void, root: *const *mut c_void, cmp: Cmp) -> *mut c_void;
        fn twalk(root: *const c_void, action: Action);
        fn tdestroy(root: *mut c_void, free_node: FreeNode);
    }

    /// A directory tree of our own, removed when dropped.
    struct TempTree(std::path::PathBuf);
    impl Drop for TempTree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn nftw_walks_a_directory_tree() {
        let root = std::env::temp_dir().join(format!("trampoline-nftw-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let tree = TempTree(root.clone());
        std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
        for file in ["a.txt", "sub/b.txt", "sub/deeper/c.txt", "sub/deeper/d.txt"] {
            std::fs::write(root.join(file), file).unwrap();
        }
        let root_c = CString::new(root.to_str().unwrap()).unwrap();
        let mut seen = Vec::new();
        let visit = ThunkMut::<NftwFn>::new(
            |path: *const c_char, _stat: *const c_void, flag: c_int, ftw: *mut Ftw| {
                // SAFETY: nftw passes a C string and its FTW record.
                let (path, level) = unsafe { (CStr::from_ptr(path), (*ftw).level) };
                let path = Path::new(path.to_str().unwrap());
                let relative = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                seen.push((relative, flag, level));
                0
            },
        );
        // SAFETY: `visit` outlives the call and matches nftw's callback type.
        let status = unsafe { nftw(root_c.as_ptr(), visit.as_fn(), 8, FTW_PHYS) };
        drop(visit);
        assert_eq!(status, 0);
        seen.sort();
        let expected = [
            ("", FTW_D, 0),
            ("a.txt", FTW_F, 1),
            ("sub", FTW_D, 1),
            ("sub/b.txt", FTW_F, 2),
            ("sub/deeper", FTW_D, 2),
            ("sub/deeper/c.txt", FTW_F, 3),
            ("sub/deeper/d.txt", FTW_F, 3),
        ]
        .map(|(p, f, l)| (p.to_owned(), f, l));
        assert_eq!(seen, expected);

        // A non-zero return stops the walk, and nftw returns it.
        let mut calls = 0;
        let stop = ThunkMut::<NftwFn>::new(
            |_: *const c_char, _: *const c_void, _: c_int, _: *mut Ftw| {
                calls += 1;
                if calls == 3 { 42 } else { 0 }
            },
        );
        // SAFETY: as above.
        let status = unsafe { nftw(root_c.as_ptr(), stop.as_fn(), 8, FTW_PHYS) };
        drop(stop);
        assert_eq!((status, calls), (42, 3));
        drop(tree);
    }

    #[test]
    fn tsearch_twalk_and_tdestroy() {
        let values = scrambled(200);
        let mut compares = 0usize;
        let cmp = ThunkMut::<Cmp>::new(|a: *const c_void, b: *const c_void| {
            compares += 1;
            // SAFETY: the tree holds pointers to elements of `values`.
            let (a, b) = unsafe { (*a.cast::<i32>(), *b.cast::<i32>()) };
            a.cmp(&b) as i32
        });
        let mut root: *mut c_void = core::ptr::null_mut();
        // SAFETY: the keys point into `values`, which outlives the tree; `cmp` outlives the
        // calls.
        unsafe {
            for v in &values {
                assert!(!tsearch((v as *const i32).cast(), &mut root, cmp.as_fn()).is_null());
            }
            let probe = values[17];
            let node = tfind((&raw const probe).cast(), &root, cmp.as_fn());
            assert_eq!(**node.cast::<*const i32>(), probe);
        }
        drop(cmp);
        assert!(compares > 200);

        let mut in_order = Vec::new();
        let mut deepest = 0;
        let walk = ThunkMut::<Action>::new(|node: *const c_void, which: c_int, depth: c_int| {
            deepest = deepest.max(depth);
            if which == POSTORDER || which == LEAF {
                // SAFETY: a node starts with its key pointer.
                in_order.push(unsafe { **node.cast::<*const i32>() });
            }
        });
        // SAFETY: `root` is a valid tree; `walk` outlives the call.
        unsafe { twalk(root, walk.as_fn()) };
        drop(walk);
        let mut expected = values.clone();
        expected.sort();
        expected.dedup();
        assert_eq!(in_order, expected);
        assert!(deepest >= 7, "a balanced tree of {} keys", expected.len());

        let mut freed = HashSet::new();
        let free_node = ThunkMut::<FreeNode>::new(|key: *mut c_void| {
            freed.insert(key as usize);
        });
        // SAFETY: frees the tree's nodes; the keys themselves belong to `values`.
        unsafe { tdestroy(root, free_node.as_fn()) };
        drop(free_node);
        assert_eq!(freed.len(), expected.len(), "one call per node");
    }
}

#[cfg(windows)]
mod windows_api {
    use super::*;

    type EnumProc = unsafe extern "system" fn(*mut u16) -> i32;
    const LCID_INSTALLED: u32 = 1;
    const CP_INSTALLED: u32 = 1;

    #[link(name = "kernel32")]
    unsafe extern "system" {
        fn EnumSystemLocalesW(proc_: EnumProc, flags: u32) -> i32;
        fn EnumSystemCodePagesW(proc_: EnumProc, flags: u32) -> i32;
    }

    /// The NUL-terminated UTF-16 string at `p`.
    unsafe fn wide(p: *const u16) -> String {
        let mut n = 0;
        // SAFETY: the caller passes a NUL-terminated string.
        unsafe {
            while *p.add(n) != 0 {
                n += 1;
            }
            String::from_utf16(core::slice::from_raw_parts(p, n)).unwrap()
        }
    }

    #[test]
    fn enum_system_locales_and_code_pages() {
        let mut locales = Vec::new();
        let collect = ThunkMut::<EnumProc>::new(|name: *mut u16| {
            // SAFETY: Windows passes a NUL-terminated locale id.
            locales.push(unsafe { wide(name) });
            1
        });
        // SAFETY: `collect` outlives the call.
        assert_ne!(
            unsafe { EnumSystemLocalesW(collect.as_fn(), LCID_INSTALLED) },
            0
        );
        drop(collect);
        assert!(locales.len() > 3, "{locales:?}");
        assert!(
            locales
                .iter()
                .all(|l| !l.is_empty() && u32::from_str_radix(l, 16).is_ok())
        );
        // English (United States) is always there.
        assert!(
            locales
                .iter()
                .any(|l| u32::from_str_radix(l, 16) == Ok(0x409)),
            "{locales:?}"
        );

        // Returning FALSE stops the enumeration.
        let calls = Cell::new(0);
        let stop = Thunk::<EnumProc>::new(|_: *mut u16| {
            calls.set(calls.get() + 1);
            (calls.get() < 3) as i32
        });
        // SAFETY: as above.
        unsafe { EnumSystemLocalesW(stop.as_fn(), LCID_INSTALLED) };
        assert_eq!(calls.get(), 3);

        let mut pages = Vec::new();
        let collect = ThunkMut::<EnumProc>::new(|name: *mut u16| {
            // SAFETY: Windows passes a NUL-terminated code page number.
            pages.push(unsafe { wide(name) }.parse::<u32>().unwrap());
            1
        });
        // SAFETY: as above.
        assert_ne!(
            unsafe { EnumSystemCodePagesW(collect.as_fn(), CP_INSTALLED) },
            0
        );
        drop(collect);
        assert!(pages.contains(&65001) || pages.contains(&1252), "{pages:?}");
    }
}
