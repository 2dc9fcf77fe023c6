//! Platform memory: mapping a block, that is, a copy of a code table (read+execute) followed
//! by a data table of the same size (read+write). No mapping is ever writable and executable
//! at once.
//!
//! - Linux: the code is mapped from the executable's (or shared object's) own file, at the
//!   table's file offset, so no page is ever written and then executed. If that fails, it
//!   falls back to a copy: fresh read+write memory, filled, then switched to read+execute.
//! - macOS: the code pages are remapped from the image with `vm_remap` (no copy, works under
//!   the hardened runtime).
//! - Windows: fresh read+write memory, filled, switched to execute+read, instruction cache
//!   flushed. The code pages are never written again.

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
