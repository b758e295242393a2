//! `wsd run`'s end of the side channel (`shim::sidechannel` is the library's):
//! a pipe whose write end the program inherits, named by `WSD_REPORT_FD`, and a
//! thread that reads it while the program runs. It carries what the segment
//! cannot: a process that refused the segment (SPEC §5 "Users": a server that
//! dropped privileges to a user who may not open it) cannot count there the
//! sockets that stayed plain TCP because of it.
//!
//! The write end is non-blocking, so the library never waits for the tool (a
//! line that finds the pipe full is lost; the reader drains it as lines come).
//! The reader ends at end of file, or once told the run is over (every process of
//! the run has exited) and it has read what was left — so a descriptor that leaked
//! to a process outside the run cannot keep the tool waiting.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Acquire, Ordering::Release};
use std::thread::JoinHandle;
use wsd::config::ReportFd;

/// Sockets that stayed plain TCP because the segment was refused, by reason.
#[derive(Default)]
pub struct Refusals {
    /// reason → (sockets, programs that said so)
    by_reason: BTreeMap<String, (u64, BTreeSet<String>)>,
}

impl Refusals {
    /// Takes one line of the channel (see `shim::sidechannel`); other kinds of
    /// line, and malformed ones, are ignored.
    fn take(&mut self, line: &str) {
        let mut fields = line.splitn(4, '\t');
        let (Some("segment-refused"), Some(_pid), Some(program), Some(reason)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return;
        };
        let (count, programs) = self.by_reason.entry(reason.to_string()).or_default();
        *count += 1;
        programs.insert(program.to_string());
    }

    /// Sockets refused in all.
    pub fn total(&self) -> u64 {
        self.by_reason.values().map(|(n, _)| n).sum()
    }

    /// `[{reason, count, programs}]`, the most frequent first.
    pub fn to_json(&self) -> Value {
        let mut v: Vec<_> = self.by_reason.iter().collect();
        v.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
        v.into_iter()
            .map(
                |(reason, (count, programs))| json!({"reason": reason, "count": count, "programs": programs}),
            )
            .collect()
    }
}

/// The pipe, before the program starts.
pub struct Channel {
    read: OwnedFd,
    write: OwnedFd,
    id: ReportFd,
}

impl Channel {
    /// A new pipe, both ends close-on-exec (the program's end is made inheritable
    /// in the child only, see [`Channel::inherit_in_child`]) and non-blocking.
    pub fn new() -> std::io::Result<Channel> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just made and belong to nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: an all-zero `stat` is a valid out-parameter.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: an open descriptor and a valid out-pointer.
        if unsafe { libc::fstat(write.as_raw_fd(), &mut st) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let id = ReportFd {
            fd: write.as_raw_fd(),
            dev: st.st_dev,
            ino: st.st_ino,
        };
        Ok(Channel { read, write, id })
    }

    /// `WSD_REPORT_FD`'s value.
    pub fn var(&self) -> String {
        self.id.to_string()
    }

    /// The descriptor the child must keep across exec.
    pub fn child_fd(&self) -> i32 {
        self.id.fd
    }

    /// Starts reading; the tool's copy of the write end is closed by
    /// [`Listener::close_write_end`] once the program has started.
    pub fn listen(self) -> Listener {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let read = self.read;
        let thread = std::thread::spawn(move || read_all(&read, &flag));
        Listener {
            write: Some(self.write),
            stop,
            thread,
        }
    }
}

/// Clears close-on-exec on `fd`: called in the child between fork and exec, so
/// only the program inherits it.
pub fn inherit_in_child(fd: i32) -> std::io::Result<()> {
    // SAFETY: fcntl is async-signal-safe and has no memory effects.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The reading thread.
pub struct Listener {
    write: Option<OwnedFd>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Refusals>,
}

impl Listener {
    /// The program has its copy: the tool lets go of its own, so that the reader
    /// sees end of file once every process of the run has closed theirs.
    pub fn close_write_end(&mut self) {
        self.write = None;
    }

    /// The run is over: what the channel said.
    pub fn finish(mut self) -> Refusals {
        self.write = None;
        self.stop.store(true, Release);
        self.thread.join().unwrap_or_default()
    }
}

/// Reads lines until end of file, or until `stop` is set and the pipe is empty.
fn read_all(read: &OwnedFd, stop: &AtomicBool) -> Refusals {
    let mut refusals = Refusals::default();
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let stopping = stop.load(Acquire);
        let eof = loop {
            // SAFETY: `buf` is valid for its length; `read` is an open descriptor.
            let n = unsafe { libc::read(read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            match n {
                0 => break true,
                n if n > 0 => pending.extend_from_slice(&buf[..n as usize]),
                _ => match std::io::Error::last_os_error().raw_os_error() {
                    Some(libc::EINTR) => {}
                    Some(libc::EAGAIN) => break false,
                    _ => break true,
                },
            }
        };
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            refusals.take(String::from_utf8_lossy(&line[..end]).as_ref());
        }
        if eof || stopping {
            return refusals;
        }
        let mut pfd = libc::pollfd {
            fd: read.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd. A tenth of a second at most, so that `stop` is
        // seen soon after it is set.
        unsafe { libc::poll(&mut pfd, 1, 100) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_grouped_by_reason() {
        let mut r = Refusals::default();
        r.take("segment-refused\t12\tmemcached\tpermission denied: x");
        r.take("segment-refused\t13\tmemcached\tpermission denied: x");
        r.take("segment-refused\t14\tpython3\tbad magic");
        r.take("something-else\t1\tx\ty");
        r.take("segment-refused\t1");
        assert_eq!(r.total(), 3);
        assert_eq!(
            r.to_json(),
            json!([
                {"reason": "permission denied: x", "count": 2, "programs": ["memcached"]},
                {"reason": "bad magic", "count": 1, "programs": ["python3"]},
            ])
        );
    }
}
