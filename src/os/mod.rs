//! Platform memory: mapping a block, that is, a copy of a code table (read+execute) followed
//! by a data table of the same size (read+write). No mapping is ever writable and executable
//! at once.
//!
//! - Linux (`linux.rs`): the code is mapped from the binary's own file, at the table's file
//!   offset, so no page is ever written and then executed. The file is found and checked once
//!   per process, and kept open.
//! - macOS (`apple.rs`): the code pages are remapped from the image with `vm_remap` (no copy,
//!   works under the hardened runtime).
//! - Both (`unix.rs`): if that fails, a copy: fresh read+write memory, filled, then switched
//!   to read+execute; the error keeps why the mapping failed.
//! - Windows (`windows.rs`): always the copy (Windows cannot map an image's pages twice),
//!   instruction cache flushed. The code pages are never written again.

use core::sync::atomic::AtomicUsize;

#[cfg(target_os = "macos")]
mod apple;
#[cfg(target_os = "linux")]
mod linux;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

#[cfg(unix)]
pub(crate) use unix::{at_fork, map_block, write_stderr};
#[cfg(windows)]
pub(crate) use windows::{at_fork, map_block, write_stderr};

/// A freshly mapped block.
pub(crate) struct MappedBlock {
    /// The code table copy; the data table follows it.
    pub(crate) code: *mut u8,
    /// Whether the code was copied (and so once writable) rather than mapped from the image.
    pub(crate) copied: bool,
}

/// How many times the process's list of mappings (`/proc/self/maps`) was read to find the
/// binary's file: once per process, not per block (see `PoolStats::image_lookups`).
pub(crate) static IMAGE_LOOKUPS: AtomicUsize = AtomicUsize::new(0);
