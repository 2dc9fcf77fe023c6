//! Linux: the code table's pages, mapped again from the binary's own file.
//!
//! The file is found once per process: one read of `/proc/self/maps` finds the mapping that
//! holds the tables, and so the file's device, inode and path. It is opened once and kept open,
//! and trusted only if it is that file:
//!
//! - `/proc/self/exe` first (for the main executable it reaches the loaded file even after a
//!   `mv` or `rm`), then the path;
//! - `stat` before `open`, and `fstat` after: a regular file with the mapping's device and
//!   inode, so that a FIFO, a device or another file mounted over the path is never opened for
//!   long, never blocks (`O_NONBLOCK`), and is never mapped;
//! - for each block, the file's bytes at the table's offset are read and compared with the
//!   table in memory before they are mapped executable, and again once mapped (the file could
//!   change in between).

use core::ffi::c_int;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::sync::OnceLock;
use std::sync::atomic::Ordering;

use super::IMAGE_LOOKUPS;
use super::unix::{ImageFailure, os_error};
use crate::arch::TABLE_SIZE;
use crate::error::ImageError;

/// The file this crate's code was loaded from.
struct Image {
    file: File,
    /// The file's size when it was checked: a table must lie within it.
    len: u64,
    /// The file's mappings in this process, from the one `/proc/self/maps` read: start and end
    /// addresses, and the file offset of the start.
    ranges: Vec<(usize, usize, u64)>,
}

/// The image, or why there is none usable, found at the first block of the process.
static IMAGE: OnceLock<Result<Image, ImageError>> = OnceLock::new();

/// The protection of a block's code: read+execute, and BTI-guarded where the CPU has BTI (the
/// stubs start with `bti c`), as the binary's own text is when it was built for it.
pub(super) fn code_protection() -> c_int {
    #[cfg(target_arch = "aarch64")]
    {
        /// `HWCAP2_BTI` of `<asm/hwcap.h>`.
        const HWCAP2_BTI: libc::c_ulong = 1 << 17;
        // SAFETY: getauxval has no preconditions.
        if unsafe { libc::getauxval(libc::AT_HWCAP2) } & HWCAP2_BTI != 0 {
            return libc::PROT_READ | libc::PROT_EXEC | libc::PROT_BTI;
        }
    }
    libc::PROT_READ | libc::PROT_EXEC
}

/// Maps the table's own pages from the file they were loaded from, over `code`, with
/// [`code_protection`].
///
/// # Safety
///
/// `code` is the start of a mapping of at least `TABLE_SIZE` bytes owned by the caller, which
/// nothing points into.
pub(super) unsafe fn map_code(code: *mut u8, table: *const u8) -> Result<(), ImageFailure> {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if page <= 0 || !TABLE_SIZE.is_multiple_of(page as usize) {
        return Err(ImageError::PageSize.into());
    }
    let image = IMAGE
        .get_or_init(|| Image::find(table as usize))
        .as_ref()
        .map_err(|e| e.clone())?;
    let offset = image.offset_of(table as usize)?;
    if !offset.is_multiple_of(page as u64) {
        return Err(ImageError::PageSize.into());
    }
    // SAFETY: the table's `TABLE_SIZE` bytes are this binary's code, readable.
    let expected = unsafe { core::slice::from_raw_parts(table, TABLE_SIZE) };
    image.compare(offset, expected)?;
    // SAFETY: replaces the caller's pages at `code` with a private view of the file, whose
    // bytes were just checked; nothing else points into them.
    let mapped = unsafe {
        libc::mmap(
            code.cast(),
            TABLE_SIZE,
            code_protection(),
            libc::MAP_PRIVATE | libc::MAP_FIXED,
            std::os::fd::AsRawFd::as_raw_fd(&image.file),
            offset as libc::off_t,
        )
    };
    if mapped != code.cast() {
        // A failed fixed mapping may have unmapped the range already.
        return Err(ImageFailure {
            error: os_error("mmap"),
            region_intact: false,
        });
    }
    // The file could have changed between the read and the mapping.
    // SAFETY: both ranges are mapped and readable for `TABLE_SIZE` bytes.
    if unsafe { core::slice::from_raw_parts(code, TABLE_SIZE) } != expected {
        return Err(ImageFailure {
            error: ImageError::ContentDiffers,
            region_intact: false,
        });
    }
    Ok(())
}

impl Image {
    /// Finds and opens the file whose mapping holds `address`.
    fn find(address: usize) -> Result<Image, ImageError> {
        IMAGE_LOOKUPS.fetch_add(1, Ordering::Relaxed);
        let maps = std::fs::read_to_string("/proc/self/maps")
            .map_err(|e| io_error("read /proc/self/maps", &e))?;
        let lines: Vec<MapsLine<'_>> = maps.lines().filter_map(MapsLine::parse).collect();
        let own = lines
            .iter()
            .find(|line| (line.start..line.end).contains(&address))
            .filter(|line| line.inode != 0)
            .ok_or(ImageError::NotFileBacked)?;
        let ranges = lines
            .iter()
            .filter(|line| {
                (line.major, line.minor, line.inode) == (own.major, own.minor, own.inode)
            })
            .map(|line| (line.start, line.end, line.offset))
            .collect();
        let file = open_checked("/proc/self/exe", own).or_else(|_| open_checked(own.path, own))?;
        let len = file.metadata().map_err(|e| io_error("fstat", &e))?.len();
        Ok(Image { file, len, ranges })
    }

    /// The file offset of the table at `address`, whose `TABLE_SIZE` bytes must lie in one of
    /// the file's mappings and within the file.
    fn offset_of(&self, address: usize) -> Result<u64, ImageError> {
        let &(start, _, offset) = self
            .ranges
            .iter()
            .find(|&&(start, end, _)| start <= address && address + TABLE_SIZE <= end)
            .ok_or(ImageError::NotFileBacked)?;
        let offset = offset + (address - start) as u64;
        if offset + TABLE_SIZE as u64 > self.len {
            return Err(ImageError::FileReplaced);
        }
        Ok(offset)
    }

    /// Reads the file's bytes at `offset` and compares them with `expected`, a chunk at a time
    /// (no allocation: this also runs when memory is short).
    fn compare(&self, offset: u64, expected: &[u8]) -> Result<(), ImageError> {
        let mut chunk = [0u8; 1024];
        for (i, want) in expected.chunks(chunk.len()).enumerate() {
            let got = &mut chunk[..want.len()];
            self.file
                .read_exact_at(got, offset + (i * 1024) as u64)
                .map_err(|e| io_error("pread", &e))?;
            if got != want {
                return Err(ImageError::ContentDiffers);
            }
        }
        Ok(())
    }
}

/// The `ImageError` for a failed `call` that std reported as `error`.
fn io_error(call: &'static str, error: &std::io::Error) -> ImageError {
    ImageError::Os {
        call,
        code: error.raw_os_error().unwrap_or(0),
    }
}

/// Opens `path` if it is the regular file that `line` maps: checked by path before opening,
/// so nothing else is opened, and by descriptor after, in case the path changed in between.
fn open_checked(path: &str, line: &MapsLine<'_>) -> Result<File, ImageError> {
    let is_mapped_file = |meta: &std::fs::Metadata| {
        meta.file_type().is_file()
            && meta.dev() == libc::makedev(line.major, line.minor)
            && meta.ino() == line.inode
    };
    let meta = std::fs::metadata(path).map_err(|e| io_error("stat", &e))?;
    if !is_mapped_file(&meta) {
        return Err(ImageError::FileReplaced);
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| io_error("open", &e))?;
    match file.metadata() {
        Ok(meta) if is_mapped_file(&meta) => Ok(file),
        Ok(_) => Err(ImageError::FileReplaced),
        Err(e) => Err(io_error("fstat", &e)),
    }
}

/// One line of `/proc/self/maps`: `start-end perms offset major:minor inode path`.
struct MapsLine<'a> {
    start: usize,
    end: usize,
    offset: u64,
    major: u32,
    minor: u32,
    inode: u64,
    path: &'a str,
}

impl<'a> MapsLine<'a> {
    fn parse(line: &'a str) -> Option<MapsLine<'a>> {
        let mut fields = line.splitn(6, ' ');
        let (start, end) = fields.next()?.split_once('-')?;
        let _perms = fields.next()?;
        let offset = u64::from_str_radix(fields.next()?, 16).ok()?;
        let (major, minor) = fields.next()?.split_once(':')?;
        let (major, minor) = (
            u32::from_str_radix(major, 16).ok()?,
            u32::from_str_radix(minor, 16).ok()?,
        );
        let inode = fields.next()?.parse().ok()?;
        Some(MapsLine {
            start: usize::from_str_radix(start, 16).ok()?,
            end: usize::from_str_radix(end, 16).ok()?,
            offset,
            major,
            minor,
            inode,
            path: fields.next().unwrap_or("").trim_start(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_parse_with_spaces_in_paths() {
        let line = MapsLine::parse(
            "7f00a000-7f00e000 r-xp 00002000 fe:01 247030                     /opt/my app/lib.so",
        )
        .unwrap();
        assert_eq!(
            (line.start, line.end, line.offset),
            (0x7f00a000, 0x7f00e000, 0x2000)
        );
        assert_eq!((line.major, line.minor, line.inode), (0xfe, 1, 247030));
        assert_eq!(line.path, "/opt/my app/lib.so");
        let anonymous = MapsLine::parse("7f00a000-7f00e000 rw-p 00000000 00:00 0 ").unwrap();
        assert_eq!((anonymous.inode, anonymous.path), (0, ""));
        assert!(MapsLine::parse("not a maps line").is_none());
    }

    #[test]
    fn the_image_is_found_once_and_holds_every_table() {
        for kind in crate::arch::StubKind::all() {
            let table = crate::arch::table(kind).unwrap();
            let image = Image::find(table as usize).expect("the test binary's own file");
            let offset = image.offset_of(table as usize).unwrap();
            // SAFETY: the table's bytes are readable code.
            let expected = unsafe { core::slice::from_raw_parts(table, TABLE_SIZE) };
            image.compare(offset, expected).unwrap();
        }
    }

    /// The maps line of this test binary's table, as `Image::find` sees it.
    fn own_line(maps: &str) -> MapsLine<'_> {
        let table =
            crate::arch::table(crate::arch::StubKind::all().next().unwrap()).unwrap() as usize;
        maps.lines()
            .filter_map(MapsLine::parse)
            .find(|line| (line.start..line.end).contains(&table))
            .unwrap()
    }

    #[test]
    fn only_the_mapped_file_is_opened() {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let line = own_line(&maps);
        // (`/proc/self/exe` is checked by the deleted-executable test of `tests/hardening.rs`:
        // under qemu-user it is the emulator's, which this unit test cannot tell from a bug.)
        assert!(open_checked(line.path, &line).is_ok());

        let dir = std::env::temp_dir().join(format!("trampoline-open-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A FIFO would block an ordinary `open` for reading until a writer came: refused
        // before it is opened.
        let fifo = dir.join("fifo");
        let c_fifo = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: creates a FIFO at a fresh path.
        assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o600) }, 0);
        assert_eq!(
            open_checked(fifo.to_str().unwrap(), &line).unwrap_err(),
            ImageError::FileReplaced
        );
        // A copy of the right file is still another file (another inode).
        let copy = dir.join("copy");
        std::fs::copy(line.path, &copy).unwrap();
        assert_eq!(
            open_checked(copy.to_str().unwrap(), &line).unwrap_err(),
            ImageError::FileReplaced
        );
        assert!(matches!(
            open_checked(dir.join("missing").to_str().unwrap(), &line),
            Err(ImageError::Os { call: "stat", code }) if code == libc::ENOENT
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bytes_that_differ_from_the_table_are_refused() {
        let table = crate::arch::table(crate::arch::StubKind::all().next().unwrap()).unwrap();
        let image = Image::find(table as usize).unwrap();
        let offset = image.offset_of(table as usize).unwrap();
        // SAFETY: the table's bytes are readable code.
        let mut expected = unsafe { core::slice::from_raw_parts(table, TABLE_SIZE) }.to_vec();
        expected[TABLE_SIZE - 1] ^= 1;
        assert_eq!(
            image.compare(offset, &expected),
            Err(ImageError::ContentDiffers)
        );
        // A table that would run past the end of the file is refused before any read.
        let short = Image {
            file: image.file.try_clone().unwrap(),
            len: offset + TABLE_SIZE as u64 - 1,
            ranges: image.ranges.clone(),
        };
        assert_eq!(
            short.offset_of(table as usize),
            Err(ImageError::FileReplaced)
        );
    }
}
