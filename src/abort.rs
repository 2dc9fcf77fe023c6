//! Aborting with a message, from any context a callback can run in.
//!
//! A stale or misused callback can be running inside a signal handler, or while another
//! thread holds std's stderr lock: the message is formatted into a buffer on the stack (no
//! allocation, no lock) and written with one system call (`write(2)` / `WriteFile`), then the
//! process aborts. Every step is async-signal-safe.

use core::fmt::{self, Write};

use crate::os;

/// Bytes of message kept; a longer one is cut, and says so.
const CAPACITY: usize = 1024;
const CUT: &[u8] = b"... (message cut)\n";

/// Writes `trampoline: <message>` and a newline to stderr, and aborts the process.
#[cold]
#[inline(never)]
pub(crate) fn abort_with(message: fmt::Arguments<'_>) -> ! {
    let mut buffer = Buffer {
        bytes: [0; CAPACITY],
        len: 0,
        cut: false,
    };
    // A formatting error only means the message was cut, which `Buffer` records.
    let _ = writeln!(buffer, "trampoline: {message}");
    if buffer.cut {
        let start = CAPACITY - CUT.len();
        buffer.bytes[start..].copy_from_slice(CUT);
        buffer.len = CAPACITY;
    }
    os::write_stderr(&buffer.bytes[..buffer.len]);
    std::process::abort()
}

/// A fixed-size message buffer that keeps what fits.
struct Buffer {
    bytes: [u8; CAPACITY],
    len: usize,
    cut: bool,
}

impl Write for Buffer {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let room = CAPACITY - self.len;
        let taken = text.len().min(room);
        self.bytes[self.len..self.len + taken].copy_from_slice(&text.as_bytes()[..taken]);
        self.len += taken;
        if taken < text.len() {
            self.cut = true;
            return Err(fmt::Error);
        }
        Ok(())
    }
}
