//! This process's memory as the OS counts it, for the `memory` and `scale` tables. Linux
//! splits resident memory by kind (`/proc/self/status`); Windows gives the working set and
//! the private commit charge (`K32GetProcessMemoryInfo`). Elsewhere there is no reading, and
//! the tables say so instead of printing zeros.

#[cfg(target_os = "linux")]
mod os {
    /// The columns `read` returns, in order.
    pub const COLUMNS: &[&str] = &["RSS", "anon", "file", "shmem"];
    pub const LEGEND: &str = "RSS = anon + file + shmem; anon = private memory; file = pages \
                              of mapped files,\nshared with the page cache; shmem = shared \
                              memory, e.g. dual-mapped code";

    /// Bytes per column of `COLUMNS`, from `/proc/self/status`.
    pub fn read() -> Result<Vec<u64>, String> {
        let status = std::fs::read_to_string("/proc/self/status")
            .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
        let field = |name: &str| -> Result<u64, String> {
            let line = status
                .lines()
                .find(|l| l.starts_with(name))
                .ok_or_else(|| format!("no {name} line in /proc/self/status"))?;
            let kb = line
                .split_whitespace()
                .nth(1)
                .and_then(|n| n.parse::<u64>().ok());
            kb.map(|kb| kb * 1024)
                .ok_or_else(|| format!("unreadable line in /proc/self/status: {line}"))
        };
        ["VmRSS:", "RssAnon:", "RssFile:", "RssShmem:"]
            .into_iter()
            .map(field)
            .collect()
    }
}

#[cfg(windows)]
mod os {
    use core::ffi::c_void;

    pub const COLUMNS: &[&str] = &["wset", "private"];
    pub const LEGEND: &str = "wset = working set (resident pages, shared ones included); \
                              private = private commit charge";

    /// `PROCESS_MEMORY_COUNTERS_EX` (psapi.h).
    #[repr(C)]
    #[derive(Default)]
    struct ProcessMemoryCountersEx {
        cb: u32,
        page_fault_count: u32,
        peak_working_set_size: usize,
        working_set_size: usize,
        quota_peak_paged_pool_usage: usize,
        quota_paged_pool_usage: usize,
        quota_peak_non_paged_pool_usage: usize,
        quota_non_paged_pool_usage: usize,
        pagefile_usage: usize,
        peak_pagefile_usage: usize,
        private_usage: usize,
    }

    #[link(name = "kernel32")]
    unsafe extern "system" {
        fn GetCurrentProcess() -> *mut c_void;
        fn K32GetProcessMemoryInfo(
            process: *mut c_void,
            counters: *mut ProcessMemoryCountersEx,
            size: u32,
        ) -> i32;
    }

    /// Bytes per column of `COLUMNS`.
    pub fn read() -> Result<Vec<u64>, String> {
        let mut counters = ProcessMemoryCountersEx {
            cb: size_of::<ProcessMemoryCountersEx>() as u32,
            ..Default::default()
        };
        // SAFETY: `counters` is a writable PROCESS_MEMORY_COUNTERS_EX whose size is passed;
        // the pseudo-handle of the current process needs no closing.
        let ok =
            unsafe { K32GetProcessMemoryInfo(GetCurrentProcess(), &mut counters, counters.cb) };
        if ok == 0 {
            return Err(format!(
                "K32GetProcessMemoryInfo failed: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(vec![
            counters.working_set_size as u64,
            counters.private_usage as u64,
        ])
    }
}

#[cfg(not(any(target_os = "linux", windows)))]
mod os {
    pub const COLUMNS: &[&str] = &[];
    pub const LEGEND: &str = "";

    pub fn read() -> Result<Vec<u64>, String> {
        Err("no memory reading on this OS (Linux and Windows only)".into())
    }
}

pub use os::{COLUMNS, LEGEND, read};
