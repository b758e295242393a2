//! Running a study's commands: each under `wsd run` (this very binary), in a
//! process group of its own, its standard output and error captured (bounded),
//! waited for with a deadline, and stopped — `SIGTERM` to `wsd run`, which passes
//! it on to the program and still writes the report, then `SIGKILL` to the whole
//! group after a grace period.
//!
//! Waiting polls (`try_wait`, a few milliseconds apart) so that a deadline, a
//! server that dies while the study waits for it, and a signal to the study are
//! all seen; nothing waits a fixed time for something to happen.

use std::collections::VecDeque;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering::Relaxed};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(10);

/// Bytes kept of each stream: its first [`HEAD`] and its last [`TAIL`].
pub const HEAD: usize = 256 * 1024;
pub const TAIL: usize = 256 * 1024;

/// How long the study waits, once a command has ended, for the rest of its output
/// (a process that escaped its group may hold the pipe open).
const DRAIN: Duration = Duration::from_secs(2);

/// The signal that interrupted the study (SIGINT, SIGTERM, SIGHUP), or 0.
static STOP: AtomicI32 = AtomicI32::new(0);

extern "C" fn note_stop(signal: libc::c_int) {
    STOP.store(signal, Relaxed);
}

/// From now on SIGINT, SIGTERM and SIGHUP make the study stop what runs, clean
/// up and end ([`interrupted`]) rather than end at once: the commands run in
/// process groups of their own, which a terminal's ^C does not reach.
pub fn catch_signals() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
        unsafe { libc::signal(signal, note_stop as *const () as libc::sighandler_t) };
    }
}

/// The signal that asked the study to stop, if one did.
pub fn interrupted() -> Option<i32> {
    match STOP.load(Relaxed) {
        0 => None,
        s => Some(s),
    }
}

/// What was kept of one stream of a command's output.
#[derive(Default)]
pub struct Captured {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    /// Bytes between the head and the tail that were not kept.
    pub dropped: u64,
}

impl Captured {
    fn push(&mut self, mut bytes: &[u8]) {
        let room = HEAD - self.head.len();
        let now = bytes.len().min(room);
        self.head.extend_from_slice(&bytes[..now]);
        bytes = &bytes[now..];
        // The tail keeps the last TAIL bytes of the old tail and the new ones.
        let over = (self.tail.len() + bytes.len()).saturating_sub(TAIL);
        self.dropped += over as u64;
        let old = over.min(self.tail.len());
        self.tail.drain(..old);
        self.tail.extend(&bytes[over - old..]);
    }

    /// The lines kept (a line cut by the gap between head and tail is left out).
    pub fn lines(&self) -> Vec<String> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let mut lines: Vec<String> = text(&self.head).lines().map(str::to_string).collect();
        if self.tail.is_empty() {
            return lines;
        }
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        let tail = text(&tail);
        let mut tail_lines = tail.lines();
        if self.dropped > 0 {
            // Lines cut by the gap are left out.
            if !self.head.ends_with(b"\n") {
                lines.pop();
            }
            tail_lines.next();
        } else if !self.head.ends_with(b"\n") {
            // The head ended inside a line that the tail goes on with.
            let first = tail_lines.next().unwrap_or("");
            match lines.last_mut() {
                Some(last) => last.push_str(first),
                None => lines.push(first.to_string()),
            }
        }
        lines.extend(tail_lines.map(str::to_string));
        lines
    }
}

/// One command started under `wsd run`.
pub struct Running {
    child: Child,
    started: Instant,
    out: Reader,
    err: Reader,
    /// Its `wsd run --report` file.
    pub report: PathBuf,
}

/// A thread gathering one stream, and word of its end.
struct Reader {
    kept: Arc<Mutex<Captured>>,
    done: mpsc::Receiver<()>,
}

impl Reader {
    fn start(stream: Option<impl Read + Send + 'static>) -> Reader {
        let kept = Arc::new(Mutex::new(Captured::default()));
        let (tx, done) = mpsc::channel();
        let sink = Arc::clone(&kept);
        std::thread::spawn(move || {
            if let Some(mut stream) = stream {
                let mut buf = [0u8; 8192];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut kept) = sink.lock() {
                        kept.push(&buf[..n]);
                    }
                }
            }
            let _ = tx.send(());
        });
        Reader { kept, done }
    }

    /// What was gathered, once the stream has ended or `until` has passed.
    fn finish(self, until: Instant) -> Captured {
        let _ = self
            .done
            .recv_timeout(until.saturating_duration_since(Instant::now()));
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *kept)
    }
}

/// How a command ended.
pub struct Ended {
    pub status: ExitStatus,
    /// It outlived its deadline and was stopped.
    pub timed_out: bool,
    /// It had to be killed (`SIGKILL` to its group) after the grace period.
    pub killed: bool,
    pub seconds: f64,
    pub stdout: Captured,
    pub stderr: Captured,
}

/// What every command of the study is run with: `wsd run` (this binary) and the
/// flags the study passes on to it.
pub struct Runner {
    pub wsd: PathBuf,
    pub lib: PathBuf,
    pub subnets: Vec<String>,
    pub rules: Option<PathBuf>,
    /// Where the commands' report files go.
    pub dir: PathBuf,
}

impl Runner {
    /// Starts `argv` under `wsd run --mode MODE --san SAN --json --report FILE`,
    /// in a process group of its own, standard input empty, standard output and
    /// error captured.
    pub fn start(&self, mode: &str, san: &str, tag: &str, argv: &[String]) -> std::io::Result<Running> {
        let report = self.dir.join(format!("{mode}-{tag}.json"));
        let mut cmd = Command::new(&self.wsd);
        cmd.arg("run")
            .arg("--lib")
            .arg(&self.lib)
            .args(["--mode", mode, "--san", san, "--json", "--report"])
            .arg(&report);
        for subnet in &self.subnets {
            cmd.args(["--subnet", subnet]);
        }
        if let Some(rules) = &self.rules {
            cmd.arg("--rules").arg(rules);
        }
        cmd.arg("--")
            .args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd.spawn()?;
        let out = Reader::start(child.stdout.take());
        let err = Reader::start(child.stderr.take());
        Ok(Running {
            child,
            started: Instant::now(),
            out,
            err,
            report,
        })
    }
}

impl Running {
    /// Has it ended? (Reaps it if so.)
    pub fn ended(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits until it ends, `deadline` passes or the study is interrupted; then
    /// stops it if it still runs ([`Running::stop`]).
    pub fn wait(mut self, deadline: Instant, grace: Duration) -> Ended {
        loop {
            if let Some(status) = self.ended() {
                return self.finish(status, false, false);
            }
            if Instant::now() >= deadline || interrupted().is_some() {
                return self.stop_now(grace, true);
            }
            std::thread::sleep(POLL);
        }
    }

    /// Stops it: `SIGTERM` to `wsd run` (which passes it on to the program and
    /// writes the report when the program has ended), then `SIGKILL` to its
    /// process group if it has not ended after `grace`.
    pub fn stop(self, grace: Duration) -> Ended {
        self.stop_now(grace, false)
    }

    fn stop_now(mut self, grace: Duration, timed_out: bool) -> Ended {
        let pid = self.child.id() as libc::pid_t;
        if let Some(status) = self.ended() {
            return self.finish(status, timed_out, false);
        }
        // SAFETY: the child is not reaped yet, so `pid` is still ours.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if let Some(status) = self.ended() {
                return self.finish(status, timed_out, false);
            }
            std::thread::sleep(POLL);
        }
        // SAFETY: as above: the child, leader of group `pid`, is not reaped, so
        // the group is still ours.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let status = self
            .child
            .wait()
            .unwrap_or_else(|_| ExitStatus::from_raw(libc::SIGKILL));
        self.finish(status, timed_out, true)
    }

    fn finish(self, status: ExitStatus, timed_out: bool, killed: bool) -> Ended {
        let seconds = self.started.elapsed().as_secs_f64();
        let until = Instant::now() + DRAIN;
        Ended {
            status,
            timed_out,
            killed,
            seconds,
            stdout: self.out.finish(until),
            stderr: self.err.finish(until),
        }
    }
}

/// Waits until something listens on TCP port `port`, `server` ends, `timeout`
/// passes or the study is interrupted. True if something listens.
///
/// The study looks in `/proc/net/tcp` and `/proc/net/tcp6` for a listening
/// socket on the port rather than connecting to it: a connection would be one
/// more the server sets its options on, counted in the study. Where those files
/// cannot be read, it connects to 127.0.0.1 and [::1].
pub fn wait_listening(server: &mut Running, port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if listening(port) {
            return true;
        }
        if server.ended().is_some() || interrupted().is_some() || Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// Does a socket listen on TCP port `port` (any address, IPv4 or IPv6)?
pub fn listening(port: u16) -> bool {
    let mut readable = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        readable = true;
        if listens_in(&text, port) {
            return true;
        }
    }
    if readable {
        return false;
    }
    let timeout = Duration::from_millis(200);
    ["127.0.0.1", "[::1]"].iter().any(|host| {
        format!("{host}:{port}")
            .parse()
            .is_ok_and(|addr| std::net::TcpStream::connect_timeout(&addr, timeout).is_ok())
    })
}

/// Does the kernel's table `text` (`/proc/net/tcp`'s format: `sl local_address
/// rem_address st …`, addresses `HEX:PORT`) hold a listening socket (`st` 0A) on
/// `port`?
fn listens_in(text: &str, port: u16) -> bool {
    text.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let local_port = fields
            .get(1)
            .and_then(|local| local.rsplit_once(':'))
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
        local_port == Some(port) && fields.get(3) == Some(&"0A")
    })
}

/// A TCP port free now on loopback (bound to port 0, then let go).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A directory of the study's own for the commands' report files, removed on drop.
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new() -> std::io::Result<ScratchDir> {
        let base = std::env::temp_dir();
        for n in 0..100u32 {
            let dir = base.join(format!("wsd-study-{}-{n}", std::process::id()));
            match std::fs::create_dir(&dir) {
                Ok(()) => {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
                    return Ok(ScratchDir(dir));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_are_found_in_the_kernels_table() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:1F91 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0\n";
        assert!(listens_in(table, 0x1f90));
        // Established, not listening.
        assert!(!listens_in(table, 0x1f91));
        assert!(!listens_in(table, 80));
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(listening(l.local_addr().unwrap().port()));
    }

    #[test]
    fn output_keeps_its_head_and_tail() {
        let mut c = Captured::default();
        c.push(b"one\ntw");
        c.push(b"o\nthree\n");
        assert_eq!(c.lines(), ["one", "two", "three"]);
        let mut c = Captured::default();
        let line = format!("{}\n", "x".repeat(99));
        for _ in 0..(HEAD + TAIL) / 100 + 50 {
            c.push(line.as_bytes());
        }
        c.push(b"last words\n");
        assert!(c.dropped > 0);
        let lines = c.lines();
        assert_eq!(lines.last().unwrap(), "last words");
        assert!(
            lines.iter().rev().skip(1).all(|l| l.len() == 99),
            "whole lines only"
        );
    }

    /// The tail is kept as it was byte by byte: the same bytes, the same count
    /// dropped, whatever the sizes of the pieces.
    #[test]
    fn the_tail_is_kept_as_byte_by_byte() {
        fn byte_by_byte(c: &mut Captured, mut bytes: &[u8]) {
            let now = bytes.len().min(HEAD - c.head.len());
            c.head.extend_from_slice(&bytes[..now]);
            bytes = &bytes[now..];
            for &b in bytes {
                if c.tail.len() == TAIL {
                    c.tail.pop_front();
                    c.dropped += 1;
                }
                c.tail.push_back(b);
            }
        }
        let (mut bulk, mut single) = (Captured::default(), Captured::default());
        let mut next = 0u8;
        for size in [1, 7, HEAD - 3, 5, 1000, TAIL - 1, 2, TAIL + 17, 0, 3, TAIL, 12345] {
            let piece: Vec<u8> = (0..size)
                .map(|_| {
                    next = next.wrapping_add(1);
                    next
                })
                .collect();
            bulk.push(&piece);
            byte_by_byte(&mut single, &piece);
            assert_eq!(bulk.head, single.head);
            assert_eq!(bulk.tail, single.tail);
            assert_eq!(bulk.dropped, single.dropped);
        }
        assert!(bulk.dropped > 0);
    }
}
