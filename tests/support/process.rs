//! Children of a test: run to their end under a hang guard, or held and killed
//! (and reaped) when dropped; their output read by threads of their own, so that
//! no pipe ever fills and every read has a time limit.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use wsd::san::reap::process_stat;

/// The hang guard of a held child: no reply, exit or tool run takes longer than
/// this.
pub const HANG: Duration = Duration::from_secs(30);

/// Runs `cmd` to its end, in a process group of its own and its standard output
/// and error piped, killing the group if it outlives `guard`. Returns the status,
/// whether the guard fired, and the output.
pub fn run_guarded(mut cmd: Command, guard: Duration) -> (ExitStatus, bool, String, String) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let mut child = cmd.spawn().expect("spawn a test program");
    let pid = child.id() as libc::pid_t;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let (done, timer) = mpsc::channel::<()>();
    let dog = thread::spawn(move || match timer.recv_timeout(guard) {
        Err(RecvTimeoutError::Timeout) => {
            // SAFETY: the child is not reaped yet, so `pid` (its group) is still ours.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            true
        }
        _ => false,
    });
    // Wait for the exit without reaping, so the watchdog can never hit a reused pid.
    loop {
        // SAFETY: an all-zero siginfo_t is a valid out-parameter.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid out-pointer.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    let _ = done.send(());
    let hung = dog.join().unwrap();
    // Grandchildren left behind would keep the pipes open: end the group. The child
    // is a zombie until reaped below, so `pid` still names its group.
    // SAFETY: signalling our own child's process group.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    let status = child.wait().expect("wait for a test program");
    (status, hung, out.join().unwrap(), err.join().unwrap())
}

/// Reads `r` (if any) to its end on a thread.
pub fn drain(r: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// The lines `r` (a child's standard output) yields, on a channel, read by a
/// thread of its own.
pub fn lines_of(r: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// The next line, within [`HANG`]; `what` names the child in the failure.
pub fn next_line(lines: &Receiver<String>, what: &str) -> String {
    match lines.recv_timeout(HANG) {
        Ok(line) => line,
        Err(RecvTimeoutError::Timeout) => panic!("{what}: no line within {HANG:?}"),
        Err(RecvTimeoutError::Disconnected) => panic!("{what}: its output ended"),
    }
}

/// What a child writes to standard error, gathered by a thread of its own (which
/// ends when the child's end closes).
pub fn gather(mut err: impl Read + Send + 'static) -> (Arc<Mutex<Vec<u8>>>, JoinHandle<()>) {
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&stderr);
    let reader = thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    (stderr, reader)
}

/// What the threads of a process are doing: state, kernel wait channel and system
/// call of each (for a hang report).
pub fn describe(pid: u32) -> String {
    let mut out = String::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return format!("  pid {pid}: gone\n");
    };
    for t in tasks.flatten() {
        let dir = t.path();
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        let stat = read("stat");
        let state = stat
            .rfind(')')
            .and_then(|i| stat.get(i + 2..i + 3))
            .unwrap_or("?")
            .to_string();
        out.push_str(&format!(
            "  pid {pid} task {}: state {state}, wchan {}, syscall {}\n",
            t.file_name().to_string_lossy(),
            read("wchan").trim(),
            read("syscall").trim()
        ));
    }
    out
}

/// Is the process gone (or a zombie nobody has reaped yet: dead all the same)?
pub fn dead(pid: u32) -> bool {
    !matches!(process_stat(pid), Ok(Some((_, s))) if s != 'Z' && s != 'X')
}

/// Waits, bounded by [`HANG`], until `pid` has died.
pub fn wait_dead(pid: u32) {
    let deadline = Instant::now() + HANG;
    while !dead(pid) {
        assert!(Instant::now() < deadline, "pid {pid} still alive after {HANG:?}");
        thread::yield_now();
        thread::sleep(Duration::from_millis(1));
    }
}

/// A child process, killed (and reaped) when dropped. `Child::kill` never signals
/// a child that was already reaped, so no reused pid is ever hit.
pub struct Proc {
    pub child: Child,
    pub what: String,
    /// Leads a process group of its own, killed with it when dropped.
    group: bool,
}

impl Proc {
    pub fn spawn(mut cmd: Command, what: impl Into<String>) -> Proc {
        let what = what.into();
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        Proc {
            child,
            what,
            group: false,
        }
    }

    /// `cmd` in a process group of its own; dropped while it still runs, it is
    /// killed with the whole group (whatever it started).
    pub fn spawn_group(mut cmd: Command, what: impl Into<String>) -> Proc {
        cmd.process_group(0);
        let mut p = Proc::spawn(cmd, what);
        p.group = true;
        p
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits, bounded by [`HANG`], for the exit (a poll: the wait's outcome is the
    /// exit status, whatever the pace). A hang is reported with what the threads
    /// were doing, and killed.
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + HANG;
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return st;
            }
            if Instant::now() > deadline {
                let pid = self.pid();
                let stack = describe(pid);
                self.kill_group();
                let _ = self.child.kill();
                panic!(
                    "{} (pid {pid}) did not exit within {HANG:?}: hung\n{stack}",
                    self.what
                );
            }
            thread::sleep(Duration::from_micros(200));
        }
    }

    /// SIGKILL to its process group, if it leads one ([`Proc::spawn_group`]) and
    /// is still running.
    fn kill_group(&mut self) {
        if self.group && matches!(self.child.try_wait(), Ok(None)) {
            // SAFETY: the child is not reaped, so its pid (and group) is still ours.
            unsafe { libc::kill(-(self.pid() as libc::pid_t), libc::SIGKILL) };
        }
    }

    /// SIGKILL and reap: its exit status (SIGKILL, or its own exit if it ended first).
    pub fn kill9(&mut self) -> ExitStatus {
        let _ = self.child.kill();
        self.wait()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill_group();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
