//! The side channel to `wsd run`: what the report must count but this process
//! cannot write into the segment (SPEC §5: a socket that stayed plain TCP because
//! the segment was refused — a process refused it cannot write to it).
//!
//! `wsd run` hands the program the write end of a pipe (non-blocking, read by a
//! thread of the tool) and names it in `WSD_REPORT_FD=FD:DEV:INO`. Each message is
//! one line, written with one `write(2)` of fewer than `PIPE_BUF` bytes, so lines
//! from many processes never interleave:
//!
//! ```text
//! segment-refused<TAB>PID<TAB>PROGRAM<TAB>REASON
//! ```
//!
//! PROGRAM is the kernel's short name for the process, REASON why the segment was
//! refused (`SegmentError`'s text); neither holds a tab or a newline. A full pipe
//! drops the line rather than block (the descriptor is `O_NONBLOCK`, set by the
//! tool). Nothing here allocates or takes a lock, and `errno` is kept.
//!
//! Before each line the descriptor is checked with `fstat`: it must still be a
//! FIFO with the device and inode the variable names. A program that closed the
//! descriptor and reused its number (daemons close everything), or a child that
//! inherited the variable but not the descriptor, is never written to; the first
//! mismatch ends the channel for the process.

use crate::config::ReportFd;
use crate::shim::errno;
use crate::shim::log::Line;
use std::fmt::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// Set once the descriptor was found not to be the tool's pipe.
static LOST: AtomicBool = AtomicBool::new(false);

/// Writes into a log line with tabs and line ends made spaces: the fields of a
/// side-channel line hold neither.
struct OneField<'a>(&'a mut Line);

impl Write for OneField<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for part in s.split(['\t', '\n', '\r']).enumerate() {
            if part.0 > 0 {
                self.0.write_str(" ")?;
            }
            self.0.write_str(part.1)?;
        }
        Ok(())
    }
}

/// Tells `wsd run` (if it is listening on `channel`) that a socket of this
/// process stayed plain TCP because the segment was refused, and why. `comm` is
/// the process's short name (NUL-padded).
pub fn segment_refused(channel: Option<ReportFd>, comm: &[u8; 16], reason: &dyn fmt::Display) {
    let Some(ch) = channel else { return };
    if LOST.load(Relaxed) {
        return;
    }
    let _errno = errno::keep();
    if is_the_pipe(ch) {
        let mut line = Line::new();
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        let _ = write!(line, "segment-refused\t{pid}\t");
        // The kernel's name may hold any byte but NUL: printable ASCII is kept.
        for &b in comm.iter().take_while(|&&b| b != 0) {
            let c = if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            };
            let _ = line.write_char(c);
        }
        let _ = line.write_str("\t");
        let _ = write!(OneField(&mut line), "{reason}");
        // SAFETY: the descriptor was just checked to be the tool's pipe.
        unsafe { write_quietly(ch.fd, line.with_newline()) };
    } else {
        LOST.store(true, Relaxed);
    }
}

/// Is `ch.fd` still the FIFO `wsd run` made (same device and inode)?
fn is_the_pipe(ch: ReportFd) -> bool {
    // SAFETY: an all-zero `stat` is a valid value of this plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer; fstat on any number is harmless.
    let r = unsafe { libc::fstat(ch.fd, &mut st) };
    r == 0 && st.st_mode & libc::S_IFMT == libc::S_IFIFO && st.st_dev == ch.dev && st.st_ino == ch.ino
}

/// Writes `bytes` to `fd` with one `write(2)`, ignoring the result: a full pipe
/// (`EAGAIN`) or one the tool no longer reads (`EPIPE`) only loses the line.
/// `SIGPIPE` is blocked around the write and, if the write raised it, taken back,
/// so the program never sees it (unless one was pending already: that one stays).
///
/// # Safety
/// `fd` must be a descriptor the caller may write to.
unsafe fn write_quietly(fd: i32, bytes: &[u8]) {
    // SAFETY: all-zero sigset_t values are valid out-parameters; sigemptyset and
    // sigaddset initialise `pipe`; pthread_sigmask, sigpending and sigtimedwait
    // only read and write these sets and this thread's signal state.
    unsafe {
        let mut pipe: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        let mut pending: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut pipe);
        libc::sigaddset(&mut pipe, libc::SIGPIPE);
        let blocked = libc::pthread_sigmask(libc::SIG_BLOCK, &pipe, &mut old) == 0;
        let was_pending =
            libc::sigpending(&mut pending) == 0 && libc::sigismember(&pending, libc::SIGPIPE) == 1;
        // The raw system call: the library's own `write` export is not involved.
        // `bytes` is valid for its length.
        let n = libc::syscall(
            libc::SYS_write,
            libc::c_long::from(fd),
            bytes.as_ptr(),
            bytes.len(),
        );
        if blocked {
            if n < 0 && errno::get() == libc::EPIPE && !was_pending {
                let now = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                libc::sigtimedwait(&pipe, std::ptr::null_mut(), &now);
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        }
    }
}
