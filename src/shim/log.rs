//! Log lines and `SO_DEBUG` output (SPEC §6.1, §6.4), formatted into a fixed stack
//! buffer and written with one `write(2)`: no allocation, and lines from several
//! processes never interleave mid-line. With `WSD_LOG_FILE` each line opens the
//! file in append mode and closes it again, so a program that closes every
//! descriptor can never make the library write into a number it reused.
//!
//! The file is opened without blocking (`O_NONBLOCK`): a FIFO with no reader, a
//! missing directory, a directory, a file that cannot be written or a full disk is
//! found at `configure` (or at the first line that fails), reported once on
//! standard error, and from then on every line goes to standard error. Standard
//! error is written only while descriptor 2 is still the file it was at start-up:
//! a daemon that closed it and got a socket as number 2 never sees our lines in
//! its stream.

use crate::config::LogLevel;
use crate::model::WsaError;
use crate::shim::errno;
use std::fmt::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::Relaxed};

const LINE_MAX: usize = 512;

/// `WSD_LOG`, as a number so that reading it costs one load.
static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Warn as u8);
/// `WSD_LOG_FILE` as a NUL-terminated path, or empty for standard error.
static FILE: once_cell::sync::OnceCell<std::ffi::CString> = once_cell::sync::OnceCell::new();
/// Set once `WSD_LOG_FILE` was found unusable: lines go to standard error.
static FILE_FAILED: AtomicBool = AtomicBool::new(false);

/// Device and inode of descriptor 2 at start-up (0 if it was not open).
static STDERR_ID: AtomicU64 = AtomicU64::new(0);

fn stderr_id() -> u64 {
    wsd_front::sys::file_identity(libc::STDERR_FILENO)
}

/// Notes which file descriptor 2 was when the program started (the front
/// looked, before the program ran).
pub fn remember_stderr(id: u64) {
    STDERR_ID.store(id, Relaxed);
}

/// Sets the level and `WSD_LOG_FILE`. The file is tried once here, without
/// blocking; if it cannot be written, that is said once on standard error and
/// lines go there instead.
pub fn configure(level: LogLevel, file: Option<&str>) {
    LEVEL.store(level as u8, Relaxed);
    if let Some(f) = file.and_then(|f| std::ffi::CString::new(f).ok())
        && FILE.set(f).is_ok()
        && let Some(path) = FILE.get()
    {
        match open_log(path) {
            Ok(fd) => close(fd),
            Err(e) => give_up_file(path, e),
        }
    }
}

/// Opens the log file for one line: append, create, never block, never become
/// the controlling terminal. Returns the descriptor or the errno.
fn open_log(path: &std::ffi::CStr) -> Result<libc::c_int, libc::c_int> {
    let flags =
        libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY;
    // SAFETY: a valid NUL-terminated path; the caller closes the descriptor.
    let fd = unsafe { libc::open(path.as_ptr(), flags, 0o600) };
    if fd < 0 { Err(errno::get()) } else { Ok(fd) }
}

fn close(fd: libc::c_int) {
    // SAFETY: a descriptor this file opened; the raw system call, so that our own
    // `close` export (and its bookkeeping) is not involved.
    unsafe { libc::syscall(libc::SYS_close, libc::c_long::from(fd)) };
}

/// `WSD_LOG_FILE` cannot be used: said once on standard error, and every later
/// line goes there.
fn give_up_file(path: &std::ffi::CStr, errno: libc::c_int) {
    if FILE_FAILED.swap(true, Relaxed) {
        return;
    }
    let why = match errno {
        libc::ENXIO => "a FIFO with no reader",
        libc::EISDIR => "a directory",
        libc::ENOENT => "its directory does not exist",
        libc::ENOTDIR => "a part of the path is not a directory",
        libc::EACCES | libc::EPERM => "permission denied",
        libc::EROFS => "a read-only file system",
        libc::ENOSPC => "no space left on the device",
        libc::EAGAIN => "it would block",
        _ => "it cannot be written",
    };
    let mut line = Line::new();
    let _ = write!(
        line,
        "wsd: warning: WSD_LOG_FILE={}: cannot be written without blocking ({why}, errno {errno}); log and SO_DEBUG lines go to standard error",
        path.to_string_lossy()
    );
    line.write_to_stderr();
}

pub fn enabled(level: LogLevel) -> bool {
    level != LogLevel::Off && level as u8 <= LEVEL.load(Relaxed)
}

/// A line being built; longer lines are cut, never reallocated.
pub struct Line {
    buf: [u8; LINE_MAX],
    len: usize,
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = LINE_MAX - 1 - self.len;
        let mut n = s.len().min(room);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

impl Line {
    pub fn new() -> Line {
        Line {
            buf: [0; LINE_MAX],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        // Only whole characters are ever copied in (`write_str`).
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }

    /// The line with its newline, at most 512 bytes (under `PIPE_BUF`: one
    /// `write` of it is atomic).
    pub fn with_newline(&mut self) -> &[u8] {
        self.buf[self.len] = b'\n';
        &self.buf[..=self.len]
    }

    /// Ends the line and writes it with one `write`: to `WSD_LOG_FILE` while it
    /// can be written without blocking, else to standard error. `errno` is kept.
    pub fn emit(mut self) {
        let _errno = errno::keep();
        match FILE.get() {
            Some(path) if !FILE_FAILED.load(Relaxed) => match open_log(path) {
                Ok(fd) => {
                    let bytes = self.with_newline();
                    // SAFETY: `bytes` is valid for its length; `fd` is ours.
                    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
                    let e = errno::get();
                    close(fd);
                    // A full pipe drops the line rather than block; any other
                    // failure (a full disk, an I/O error) gives the file up.
                    if n < 0 && e != libc::EAGAIN {
                        give_up_file(path, e);
                        self.write_to_stderr();
                    }
                }
                Err(e) => {
                    give_up_file(path, e);
                    self.write_to_stderr();
                }
            },
            _ => self.write_to_stderr(),
        }
    }

    /// Writes the line to standard error if descriptor 2 is still the file it was
    /// at start-up. `errno` may change.
    fn write_to_stderr(&mut self) {
        let id = STDERR_ID.load(Relaxed);
        if id == 0 || stderr_id() != id {
            return;
        }
        let bytes = self.with_newline();
        // SAFETY: `bytes` is valid for its length.
        unsafe { libc::write(libc::STDERR_FILENO, bytes.as_ptr().cast(), bytes.len()) };
    }
}

impl Default for Line {
    fn default() -> Self {
        Line::new()
    }
}

/// Writes `wsd: LEVEL: message` if `level` is enabled.
pub fn log(level: LogLevel, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let mut line = Line::new();
    let tag = match level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warning",
        LogLevel::Info => "info",
        _ => "debug",
    };
    let _ = write!(line, "wsd: {tag}: {args}");
    line.emit();
}

#[macro_export]
#[doc(hidden)]
macro_rules! wsd_log {
    ($level:ident, $($arg:tt)*) => {
        $crate::shim::log::log($crate::config::LogLevel::$level, format_args!($($arg)*))
    };
}

/// One `SO_DEBUG` line (SPEC §6.4) for endpoint `ep` on descriptor `fd`: time,
/// pid, descriptor, endpoint, the call, what it was about, and its result; after
/// a failure (`rc < 0`) its error `err` (an errno value), by name. `errno` is
/// kept.
pub fn debug_line(
    ep: u64,
    fd: libc::c_int,
    call: &str,
    what: fmt::Arguments<'_>,
    rc: libc::c_int,
    err: libc::c_int,
) {
    let e = err;
    let mut line = Line::new();
    let _ = line.write_str("wsd ");
    write_time(&mut line);
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let _ = write!(line, " pid={pid} fd={fd} ep={ep} {call}");
    let mut what_text = Line::new();
    let _ = what_text.write_fmt(what);
    if what_text.len > 0 {
        let _ = write!(line, " ");
        let _ = line.write_str(what_text.as_str());
    }
    let _ = write!(line, " -> {rc}");
    if rc < 0 {
        let _ = match WsaError::from_errno(e) {
            Some(w) => write!(line, " {}", w.name()),
            None => write!(line, " errno {e}"),
        };
    }
    line.emit();
}

/// The time of day as `HH:MM:SS.micros` (UTC), for `SO_DEBUG` lines.
pub fn write_time(line: &mut Line) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    let day = ts.tv_sec.rem_euclid(86_400);
    let _ = write!(
        line,
        "{:02}:{:02}:{:02}.{:06}",
        day / 3600,
        day / 60 % 60,
        day % 60,
        ts.tv_nsec / 1000
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_not_grown() {
        let mut l = Line::new();
        for _ in 0..100 {
            let _ = l.write_str("0123456789");
        }
        assert_eq!(l.len, LINE_MAX - 1);
    }
}
