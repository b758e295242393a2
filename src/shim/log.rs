//! Log lines and `SO_DEBUG` output (SPEC §6.4), formatted into a fixed stack buffer
//! and written with one `write(2)`: no allocation, and lines from several processes
//! never interleave mid-line. With `WSD_LOG_FILE` each line opens the file in
//! append mode and closes it again, so a program that closes every descriptor can
//! never make the library write into a number it reused. Standard error is written
//! only while descriptor 2 is still the file it was at start-up: a daemon that
//! closed it and got a socket as number 2 never sees our lines in its stream.

use crate::config::LogLevel;
use std::fmt::{self, Write};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};

const LINE_MAX: usize = 512;

/// `WSD_LOG`, as a number so that reading it costs one load.
static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Warn as u8);
/// `WSD_LOG_FILE` as a NUL-terminated path, or empty for standard error.
static FILE: once_cell::sync::OnceCell<std::ffi::CString> = once_cell::sync::OnceCell::new();

/// Device and inode of descriptor 2 at start-up (0 if it was not open).
static STDERR_ID: AtomicU64 = AtomicU64::new(0);

fn stderr_id() -> u64 {
    // SAFETY: an all-zero stat is valid; fstat only writes into it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer.
    if unsafe { libc::fstat(libc::STDERR_FILENO, &mut st) } != 0 {
        return 0;
    }
    (st.st_dev ^ st.st_ino.rotate_left(32)) | 1
}

/// Notes which file descriptor 2 is (start-up, before the program runs).
pub fn remember_stderr() {
    STDERR_ID.store(stderr_id(), Relaxed);
}

pub fn configure(level: LogLevel, file: Option<&str>) {
    LEVEL.store(level as u8, Relaxed);
    if let Some(f) = file.and_then(|f| std::ffi::CString::new(f).ok()) {
        let _ = FILE.set(f);
    }
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
        let n = s.len().min(room);
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

    /// Ends the line and writes it with one `write`.
    pub fn emit(mut self) {
        self.buf[self.len] = b'\n';
        let bytes = &self.buf[..=self.len];
        let fd = match FILE.get() {
            // SAFETY: a valid path; the descriptor is closed below before returning.
            Some(path) => unsafe {
                libc::open(
                    path.as_ptr(),
                    libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC,
                    0o600,
                )
            },
            None if STDERR_ID.load(Relaxed) != 0 && stderr_id() == STDERR_ID.load(Relaxed) => {
                libc::STDERR_FILENO
            }
            None => return,
        };
        if fd < 0 {
            return;
        }
        // SAFETY: `bytes` is valid for its length; errno is saved around the calls.
        unsafe {
            let errno = libc::__errno_location();
            let saved = *errno;
            libc::write(fd, bytes.as_ptr().cast(), bytes.len());
            if fd != libc::STDERR_FILENO {
                libc::syscall(libc::SYS_close, libc::c_long::from(fd));
            }
            *errno = saved;
        }
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
