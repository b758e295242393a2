//! Issue 13, SPEC §7, with real programs: a client and its server, both under
//! the library and sharing one segment, first work normally for a moment, then
//! `wsd san reset` hits their connection; each test checks what the program
//! prints when it sees the fault. redis-cli against redis-server, curl
//! downloading a large file slowly from python3's http.server, node's
//! keep-alive `http.Agent` against a node server, psql looping `pg_sleep`
//! against postgres (run as an unprivileged user, on a segment shared with its
//! group). What each program prints tells a reset from an orderly end of the
//! connection (redis-cli "Server closed the connection", curl's exit 18, node's
//! "socket hang up"), so a test fails if the program saw only EOF, and it fails
//! too if the program just keeps working; `wsd report` must also show that
//! the ends' first data call after the fault answered ECONNRESET.

mod support;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};
use support::{San, TempDir, free_port, preloaded};

/// The bound on any one step: a server getting ready, a client's first
/// answers, a program reacting to the fault.
const STEP: Duration = Duration::from_secs(15);

/// A program in a process group of its own, its standard output and error read
/// line by line by threads of their own. Dropped: `stop` to the program, then,
/// once it exited or after a bound, SIGKILL to its group.
struct Program {
    name: String,
    child: Child,
    stop: libc::c_int,
    lines: Receiver<(bool, String)>,
    out: Vec<String>,
    err: Vec<String>,
    reaped: Option<ExitStatus>,
}

impl Program {
    fn start(name: &str, mut cmd: Command, stop: libc::c_int) -> Program {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        let (tx, lines) = mpsc::channel();
        let read = |r: Box<dyn Read + Send>, is_err: bool| {
            let tx = tx.clone();
            thread::spawn(move || {
                let mut r = BufReader::new(r);
                let mut buf = Vec::new();
                while r.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
                    let line = String::from_utf8_lossy(&buf).trim_end_matches('\n').to_string();
                    buf.clear();
                    if tx.send((is_err, line)).is_err() {
                        break;
                    }
                }
            });
        };
        read(Box::new(child.stdout.take().unwrap()), false);
        read(Box::new(child.stderr.take().unwrap()), true);
        Program {
            name: name.to_string(),
            child,
            stop,
            lines,
            out: Vec::new(),
            err: Vec::new(),
            reaped: None,
        }
    }

    fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    fn take(&mut self, (is_err, line): (bool, String)) {
        if is_err {
            self.err.push(line);
        } else {
            self.out.push(line);
        }
    }

    /// Everything it printed so far, for a failure's message.
    fn printed(&self) -> String {
        format!(
            "{} stdout:\n{}\n{} stderr:\n{}",
            self.name,
            self.out.join("\n"),
            self.name,
            self.err.join("\n")
        )
    }

    /// Reads its output until `done` holds of it; panics after `STEP`, or if
    /// its output ends first.
    fn wait_for(&mut self, what: &str, done: impl Fn(&Program) -> bool) {
        let deadline = Instant::now() + STEP;
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.take(l),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{}: no {what} within {STEP:?}\n{}", self.name, self.printed())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "{}: output ended before {what} ({:?})\n{}",
                        self.name,
                        self.child.try_wait(),
                        self.printed()
                    )
                }
            }
        }
    }

    /// A line of standard output (or error, with `err`) containing `needle`.
    fn wait_line(&mut self, needle: &str, err: bool) -> String {
        let find = |p: &Program| {
            let lines = if err { &p.err } else { &p.out };
            lines.iter().find(|l| l.contains(needle)).cloned()
        };
        self.wait_for(&format!("line with {needle:?}"), |p| find(p).is_some());
        find(self).unwrap()
    }

    /// Its next line of output, waiting at most `bound` (all of it when its
    /// output has ended).
    fn next_line(&self, bound: Duration) -> Option<(bool, String)> {
        match self.lines.recv_timeout(bound) {
            Ok(l) => Some(l),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                thread::sleep(bound);
                None
            }
        }
    }

    /// Whether it has exited (not reaped: its pid still names its group).
    fn exited(&self) -> bool {
        // SAFETY: an all-zero siginfo_t is a valid out-parameter.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid out-pointer.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pid() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: waitid filled `info` (si_pid 0: not exited yet).
        r == 0 && unsafe { info.si_pid() } != 0
    }

    /// Its exit status, reading its output meanwhile and to its end; panics if
    /// it is still running after `bound` (the fault did not stop it).
    fn wait_exit(&mut self, bound: Duration, why: &str) -> ExitStatus {
        let deadline = Instant::now() + bound;
        while !self.exited() {
            assert!(
                Instant::now() < deadline,
                "{}: still running {bound:?} after {why}\n{}",
                self.name,
                self.printed()
            );
            // A bounded wait for output, then look again.
            if let Some(l) = self.next_line(Duration::from_millis(5)) {
                self.take(l);
            }
        }
        let status = self.reap();
        // The rest of its output (its group is gone, so the pipes close).
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Ok(l) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.take(l);
        }
        status
    }

    /// Ends what is left of its group, and reaps it.
    fn reap(&mut self) -> ExitStatus {
        if let Some(s) = self.reaped {
            return s;
        }
        // SAFETY: signalling our own child's group; the child is not reaped yet,
        // so its pid still names the group.
        unsafe { libc::kill(-self.pid(), libc::SIGKILL) };
        let s = self.child.wait().expect("wait for a program");
        self.reaped = Some(s);
        s
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        if self.reaped.is_some() {
            return;
        }
        // SAFETY: signalling our own, unreaped child.
        unsafe { libc::kill(self.pid(), self.stop) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.exited() && Instant::now() < deadline {
            let _ = self.next_line(Duration::from_millis(5));
        }
        self.reap();
    }
}

/// Whether `program --version` runs.
fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn require(program: &str, packages: &str) {
    assert!(
        installed(program),
        "{program} is missing: scripts/test installs it (apt-get install {packages})"
    );
}

/// `wsd san status`, taken before the fault: the segment holds one connection
/// (besides the listener), both ends SAN sockets paired with each other, the
/// connector held by `client`, the accepted end by `server`. Their ids.
fn one_connection(san: &San, client: &str, server: &str) -> [u64; 2] {
    let v = support::san_tool::status(san);
    let ends: Vec<&Value> = support::san_tool::endpoints(&v)
        .iter()
        .filter(|e| e["role"] != "listener")
        .collect();
    let end = |role: &str, program: &str| {
        let found: Vec<&&Value> = ends.iter().filter(|e| e["role"] == role).collect();
        assert_eq!(found.len(), 1, "one {role}: {v:#}");
        let e = found[0];
        assert_eq!(e["state"], "healthy", "{v:#}");
        let held = e["held_by"].as_array().expect("held_by array");
        assert!(
            !held.is_empty() && held.iter().all(|h| h["program"] == program),
            "the {role} is held by {program}: {v:#}"
        );
        e
    };
    let (c, s) = (end("connector", client), end("accepted", server));
    assert_eq!(ends.len(), 2, "one connection: {v:#}");
    assert!(
        c["peer_id"] == s["id"] && s["peer_id"] == c["id"],
        "the two ends are paired: {v:#}"
    );
    [c["id"].as_u64().unwrap(), s["id"].as_u64().unwrap()]
}

/// `wsd san reset TARGET` of the one connection between `client` and `server`
/// (see `one_connection`): it hits both ends of that connection and nothing
/// else, and every holder has acted when it returns. Its JSON answer.
fn reset(san: &San, target: &str, client: &str, server: &str) -> Value {
    let pair = one_connection(san, client, server);
    let out = support::san_tool::wsd_san_ok(san, &["reset", target, "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    // Nothing else was hit (which ends were is checked in the report: `sights`).
    let ids = v["hit"]
        .as_array()
        .expect("hit array")
        .iter()
        .map(|e| &e["id"])
        .chain(v["endpoints"].as_array().expect("endpoints array"));
    let mut hit: Vec<u64> = ids.map(|id| id.as_u64().expect("an id")).collect();
    hit.sort();
    hit.dedup();
    let mut want = pair.to_vec();
    want.sort();
    assert_eq!(hit, want, "both ends of that connection, and only them: {v:#}");
    assert_eq!(v["unreached"], serde_json::json!([]), "every holder acted: {v:#}");
    v
}

/// What the ends of the one fault so far first saw, as `wsd report` has it
/// (SPEC §7: each program's first sight is recorded): `(role, program, call,
/// error)`, polled (with a bound) until both ends have one. (The tool
/// describes both ends before it marks either: a program quick to close its end
/// after its peer saw the fault is still in the story.)
fn sights(san: &San, client: &str, server: &str) -> Vec<(String, String, String, String)> {
    let deadline = Instant::now() + STEP;
    loop {
        let out = support::tool()
            .args(["report", "--json", "--san", &san.name])
            .env_remove("WSD_SAN")
            .output()
            .expect("run wsd report");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).expect("report JSON");
        let faults = v["faults"].as_array().expect("faults array");
        assert_eq!(faults.len(), 1, "{:#}", v["faults"]);
        let hit = faults[0]["hit"].as_array().expect("hit array");
        assert_eq!(hit.len(), 2, "both ends: {:#}", v["faults"]);
        let reached: Vec<&Value> = hit.iter().collect();
        assert!(reached.iter().all(|h| h["endpoint"] != 0), "{:#}", v["faults"]);
        let s = |v: &Value| v.as_str().unwrap_or("?").to_string();
        let seen: Vec<(String, String, String, String)> = reached
            .iter()
            .filter_map(|h| {
                let saw = h["saw"].as_array()?.first()?;
                Some((
                    s(&h["role"]),
                    s(&saw["program"]),
                    s(&saw["call"]),
                    s(&saw["error"]),
                ))
            })
            .collect();
        if seen.len() == reached.len() {
            for h in &reached {
                let want = if h["role"] == "connector" { client } else { server };
                assert_eq!(h["program"], want, "{:#}", v["faults"]);
            }
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "an end saw no fault within {STEP:?}: {:#}",
            v["faults"]
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// Checks that the ends first saw ECONNRESET (not an end of file), and shows
/// in which calls.
fn saw_econnreset(san: &San, client: &str, server: &str) {
    let seen = sights(san, client, server);
    eprintln!("--- first sights (wsd report): {seen:?}");
    for (role, program, _, error) in &seen {
        assert_eq!(error, "ECONNRESET", "{role} {program}: {seen:?}");
    }
}

/// `cmd` (program `name`) runs to its end within `STEP` (`what` it does, for
/// the failure's message), succeeds, and prints `want` on standard output.
fn answers(name: &str, cmd: Command, what: &str, want: &[&str]) {
    let mut p = Program::start(name, cmd, libc::SIGTERM);
    let status = p.wait_exit(STEP, what);
    assert!(status.success(), "{}", p.printed());
    assert_eq!(p.out, want, "{}", p.printed());
}

/// `wsd san reset` of the server's address, `127.0.0.1:PORT`, which must hit
/// just the one connection between `client` (the program its name says) and the
/// server (see [`reset`]); then the client's exit (within `STEP`), with its
/// standard error shown. The exit status, and when the reset was injected.
fn reset_then_exit(
    san: &San,
    port: &str,
    client: &mut Program,
    (client_name, server_name): (&str, &str),
) -> (ExitStatus, Instant) {
    let t = Instant::now();
    reset(san, &format!("127.0.0.1:{port}"), client_name, server_name);
    let status = client.wait_exit(STEP, "the reset");
    show(&format!("{} (stderr)", client.name), &client.err, t.elapsed());
    (status, t)
}

/// Shows what a program printed when the fault hit (`cargo test -- --nocapture`).
fn show(program: &str, lines: &[String], took: Duration) {
    eprintln!("--- {program}, {took:?} after the reset was injected:");
    for l in lines {
        eprintln!("    {l}");
    }
}

/// redis-cli pinging every 100 ms: after the reset of the server's address it
/// says "Error: Connection reset by peer" (an orderly close would be "Error:
/// Server closed the connection") and exits 1. The server is not hurt: a new
/// client's ping is answered.
#[test]
fn redis_cli_reports_connection_reset_by_peer() {
    require("redis-server", "redis-server");
    require("redis-cli", "redis-tools");
    let san = San::new("pf-redis");
    let port = free_port().to_string();
    let mut server = preloaded("redis-server", &san);
    server.args(support::redis_server_args(&port));
    let mut server = Program::start("redis-server", server, libc::SIGTERM);
    server.wait_line("Ready to accept connections", false);

    let mut cli = preloaded("redis-cli", &san);
    cli.args(["-p", &port, "-r", "-1", "-i", "0.1", "ping"]);
    let mut cli = Program::start("redis-cli", cli, libc::SIGTERM);
    // It works under the library: pings answered over the SAN connection.
    cli.wait_for("three PONGs", |p| {
        p.out.iter().filter(|l| *l == "PONG").count() >= 3
    });
    assert!(cli.err.is_empty(), "{}", cli.printed());

    let (status, _) = reset_then_exit(&san, &port, &mut cli, ("redis-cli", "redis-server"));
    assert_eq!(cli.err, ["Error: Connection reset by peer"], "{}", cli.printed());
    assert_eq!(status.code(), Some(1), "{}", cli.printed());
    assert!(cli.out.iter().all(|l| l == "PONG"), "{}", cli.printed());
    saw_econnreset(&san, "redis-cli", "redis-server");

    // The listener was not hit: a new connection works.
    let mut again = preloaded("redis-cli", &san);
    again.args(["-p", &port, "ping"]);
    answers("redis-cli", again, "a ping", &["PONG"]);
}

/// python3's http.server, its handler throttled (16 KiB every 10 ms), serves a
/// 32 MiB file; curl downloads it. After the reset curl exits 56, "Recv
/// failure: Connection reset by peer" (an orderly close would be exit 18, a
/// partial file); the server's handler fails with ConnectionResetError and the
/// server goes on serving.
#[test]
fn curl_download_fails_with_recv_failure_56() {
    require("curl", "curl");
    let san = San::new("pf-curl");
    let dir = TempDir::new("pf-curl");
    let size: u64 = 32 << 20;
    std::fs::write(dir.0.join("big.bin"), vec![b'x'; size as usize]).unwrap();
    std::fs::write(dir.0.join("small.txt"), "small\n").unwrap();
    let script = r#"
import functools, http.server, sys, time
class Slow(http.server.SimpleHTTPRequestHandler):
    def copyfile(self, src, dst):
        while chunk := src.read(16384):
            dst.write(chunk)
            time.sleep(0.01)
    def log_message(self, *args):
        pass
handler = functools.partial(Slow, directory=sys.argv[1])
with http.server.HTTPServer(("127.0.0.1", 0), handler) as s:
    print("port", s.server_address[1], flush=True)
    s.serve_forever()
"#;
    let mut server = preloaded("python3", &san);
    server.args(["-u", "-c", script]).arg(&dir.0);
    let mut server = Program::start("python3 http.server", server, libc::SIGTERM);
    let port = server.wait_line("port ", false)[5..].trim().to_string();

    let out = dir.0.join("download");
    let url = format!("http://127.0.0.1:{port}/big.bin");
    let mut curl = preloaded("curl", &san);
    curl.args(["-sS", "--max-time", "60", "-o"]).arg(&out).arg(&url);
    let mut curl = Program::start("curl", curl, libc::SIGTERM);
    // It works under the library: the download advances.
    let got = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let deadline = Instant::now() + STEP;
    while got(&out) < 256 << 10 {
        assert!(
            Instant::now() < deadline && !curl.exited(),
            "curl's download did not advance: {} bytes\n{}\n{}",
            got(&out),
            curl.printed(),
            server.printed()
        );
        thread::sleep(Duration::from_millis(5));
    }

    let (status, t) = reset_then_exit(&san, &port, &mut curl, ("curl", "python3"));
    assert_eq!(
        curl.err,
        ["curl: (56) Recv failure: Connection reset by peer"],
        "{}",
        curl.printed()
    );
    assert_eq!(status.code(), Some(56), "{}", curl.printed());
    let partial = got(&out);
    assert!(partial < size, "curl got the whole file: {partial} bytes");

    // The handler's write failed with the reset; the server is still serving.
    let line = server.wait_line("ConnectionResetError", true);
    show(
        "python3 http.server (last line of its traceback)",
        std::slice::from_ref(&line),
        t.elapsed(),
    );
    assert_eq!(line, "ConnectionResetError: [Errno 104] Connection reset by peer");
    saw_econnreset(&san, "curl", "python3");
    let mut small = preloaded("curl", &san);
    small.args([
        "-sS",
        "--max-time",
        "10",
        &format!("http://127.0.0.1:{port}/small.txt"),
    ]);
    answers("curl", small, "a small download", &["small"]);
}

/// node's `http.Agent({keepAlive: true})` (one socket) makes requests in a loop
/// to a node server; the first three are answered on one reused connection,
/// the fourth never is, so it is in flight when the reset comes: it fails with
/// `Error: read ECONNRESET` (an orderly close would be "socket hang up"). The
/// server sees its request's connection end before the answer.
#[test]
fn node_keep_alive_request_in_flight_fails_with_econnreset() {
    if !installed("node") {
        eprintln!(
            "SKIPPED node_keep_alive_request_in_flight_fails_with_econnreset: node is not installed \
             (scripts/test installs it: apt-get install nodejs)"
        );
        return;
    }
    let san = San::new("pf-node");
    let server_js = r#"
const http = require('http');
let n = 0;
const server = http.createServer((req, res) => {
  const k = ++n;
  console.log(`request ${k} from port ${req.socket.remotePort}`);
  if (k <= 3) {
    res.end('hello\n');
    return;
  }
  res.on('close', () => console.log(`request ${k}: connection closed before the answer`));
});
server.on('clientError', (e, socket) => {
  console.log(`clientError ${e.code}`);
  socket.destroy();
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
"#;
    let client_js = r#"
const http = require('http');
const port = +process.argv[1];
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let n = 0;
function next() {
  const k = ++n;
  const req = http.get({ host: '127.0.0.1', port, path: `/${k}`, agent }, (res) => {
    const local = res.socket.localPort;
    let body = '';
    res.on('data', (d) => (body += d));
    res.on('end', () => {
      console.log(`response ${k}: ${res.statusCode} ${body.trim()} on port ${local}`);
      setTimeout(next, 20);
    });
  });
  req.on('error', (e) => {
    console.error(`request ${k} failed:`, e);
    process.exit(2);
  });
}
next();
"#;
    let mut server = preloaded("node", &san);
    server.args(["-e", server_js]);
    let mut server = Program::start("node server", server, libc::SIGTERM);
    let port = server.wait_line("port ", false)[5..].trim().to_string();

    let mut client = preloaded("node", &san);
    client.args(["-e", client_js, &port]);
    let mut client = Program::start("node client", client, libc::SIGTERM);
    client.wait_for("three responses", |p| p.out.len() >= 3);
    // Keep-alive works under the library: one connection for all of them.
    let ports: Vec<&str> = client.out.iter().map(|l| l.rsplit(' ').next().unwrap()).collect();
    assert!(
        client.out.iter().all(|l| l.contains(": 200 hello on port ")) && ports.iter().all(|p| *p == ports[0]),
        "{}",
        client.printed()
    );
    // The fourth request reached the server: it is in flight.
    server.wait_line("request 4 ", false);
    assert!(
        server.out[1..5]
            .iter()
            .all(|l| l.ends_with(&format!("from port {}", ports[0]))),
        "the same connection: {}",
        server.printed()
    );

    let (status, t) = reset_then_exit(&san, &port, &mut client, ("node", "node"));
    assert_eq!(status.code(), Some(2), "{}", client.printed());
    let err = client.err.join("\n");
    assert!(
        client
            .err
            .first()
            .is_some_and(|l| l == "request 4 failed: Error: read ECONNRESET"),
        "{}",
        client.printed()
    );
    assert!(err.contains("code: 'ECONNRESET'"), "{}", client.printed());
    assert!(err.contains("syscall: 'read'"), "{}", client.printed());
    assert!(!err.contains("socket hang up"), "{}", client.printed());
    server.wait_line("clientError ECONNRESET", false);
    let line = server.wait_line("request 4: ", false);
    show("node server (stdout)", &server.out[5..], t.elapsed());
    assert_eq!(line, "request 4: connection closed before the answer");
    saw_econnreset(&san, "node", "node");
}

/// Whether `pid`'s main thread is blocked in `poll` or `ppoll`.
fn in_poll(pid: libc::pid_t) -> bool {
    let polls = [
        libc::SYS_ppoll,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_poll,
    ];
    std::fs::read_to_string(format!("/proc/{pid}/syscall")).is_ok_and(|s| {
        let nr = s.split_whitespace().next().and_then(|n| n.parse().ok());
        nr.is_some_and(|nr: libc::c_long| polls.contains(&nr))
    })
}

/// The newest postgres installed: its `bin` directory.
fn postgres_bin() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("postgres").is_file() && bin.join("psql").is_file()).then_some((v, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin)
}

/// psql runs `select pg_sleep(0.2)` over and over against postgres (run as
/// `nobody` when the test runs as root: postgres refuses root; the segment is
/// then shared with nobody's group). When the reset of the server's address
/// comes while psql waits for an answer, psql says "server closed the
/// connection unexpectedly" — libpq's words for ECONNRESET as for EOF — and
/// "connection to server was lost", exit 2 (the report shows psql's `recv`
/// answered ECONNRESET); the backend logs "could not send data to client:
/// Connection reset by peer" ("could not receive", when the fault came before it
/// read the query), and the server goes on serving.
#[test]
fn psql_reports_server_closed_the_connection_unexpectedly() {
    let Some(bin) = postgres_bin() else {
        panic!("postgres is missing: scripts/test installs it (apt-get install postgresql)");
    };
    let san = San::new("pf-pg");
    let dir = TempDir::new("pf-pg");
    let root = support::is_root();
    // As root: the server runs as nobody, in a directory of its own, on a
    // segment of nobody's group (root, its owner, may use it too).
    let user = root.then(|| {
        // SAFETY: getpwnam with a NUL-terminated name; the record is copied at once.
        let pw = unsafe { libc::getpwnam(c"nobody".as_ptr()) };
        assert!(!pw.is_null(), "no user nobody");
        // SAFETY: checked non-null above.
        let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
        let path = std::ffi::CString::new(dir.0.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::chown(path.as_ptr(), uid, gid) }, 0);
        let lib = support::library();
        let readable = Command::new("test")
            .arg("-r")
            .arg(lib)
            .uid(uid)
            .gid(gid)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            readable,
            "{} must be readable by nobody, who runs postgres under it",
            lib.display()
        );
        support::san_tool::wsd_san_ok(&san, &["create", "--group", &gid.to_string()]);
        (uid, gid)
    });
    let as_server = |cmd: &mut Command| {
        if let Some((uid, gid)) = user {
            cmd.uid(uid).gid(gid);
        }
    };
    let data = dir.0.join("data");
    let mut initdb = Command::new(bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(&data)
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .stdin(Stdio::null());
    as_server(&mut initdb);
    let (status, hung, out, err) = support::process::run_guarded(initdb, Duration::from_secs(60));
    assert!(!hung && status.success(), "initdb: {status:?}\n{out}\n{err}");

    let port = free_port().to_string();
    let mut server = preloaded(bin.join("postgres"), &san);
    server.arg("-D").arg(&data).args([
        "-p",
        &port,
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "unix_socket_directories=",
        "-c",
        "fsync=off",
        "-c",
        "max_connections=10",
        "-c",
        "shared_buffers=16MB",
    ]);
    as_server(&mut server);
    // SIGINT: a fast shutdown (the backends end, then the server).
    let mut server = Program::start("postgres", server, libc::SIGINT);
    server.wait_line("database system is ready to accept connections", true);

    let sql = dir.0.join("loop.sql");
    std::fs::write(&sql, "select pg_sleep(0.2);\n".repeat(200)).unwrap();
    let conn = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres");
    let mut psql = preloaded(bin.join("psql"), &san);
    psql.args(["-X", "-d", &conn, "-f"]).arg(&sql);
    let mut psql = Program::start("psql", psql, libc::SIGTERM);
    // It works under the library: three answers.
    psql.wait_for("three answers", |p| {
        p.out.iter().filter(|l| *l == "(1 row)").count() >= 3
    });
    assert!(psql.err.is_empty(), "{}", psql.printed());
    // Then it waits for the next one, in poll.
    let deadline = Instant::now() + STEP;
    while !in_poll(psql.pid()) {
        assert!(
            Instant::now() < deadline,
            "psql never waited in poll\n{}",
            psql.printed()
        );
        thread::sleep(Duration::from_millis(1));
    }

    let (status, t) = reset_then_exit(&san, &port, &mut psql, ("psql", "postgres"));
    // The statement in flight is the one after the last answered (its line
    // number in the file).
    let answered = psql.out.iter().filter(|l| *l == "(1 row)").count();
    let at = format!("psql:{}:{}:", sql.display(), answered + 1);
    let want = [
        format!("{at} server closed the connection unexpectedly"),
        "\tThis probably means the server terminated abnormally".into(),
        "\tbefore or while processing the request.".into(),
        format!("{at} error: connection to server was lost"),
    ];
    assert_eq!(psql.err, want, "{}", psql.printed());
    assert_eq!(status.code(), Some(2), "{}", psql.printed());

    // The backend sees the reset too: when its sleep ends it cannot send the
    // answer (or, when the fault came before it read the query, it cannot
    // receive it).
    let line = server.wait_line("Connection reset by peer", true);
    show("postgres (log)", std::slice::from_ref(&line), t.elapsed());
    assert!(
        line.ends_with("LOG:  could not send data to client: Connection reset by peer")
            || line.ends_with("LOG:  could not receive data from client: Connection reset by peer"),
        "{line}"
    );
    // libpq words a reset as it words an end of file: the report tells them apart.
    saw_econnreset(&san, "psql", "postgres");

    // The listener was not hit: a new session works.
    let mut again = preloaded(bin.join("psql"), &san);
    again.args(["-X", "-At", "-d", &conn, "-c", "select 6 * 7"]);
    answers("psql", again, "a query", &["42"]);
}
