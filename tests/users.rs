//! Segments several users share (SPEC §5 "Users"): `wsd san create --group G` and
//! `wsd run --group G` make a `0660` segment of group G, which a process that
//! dropped privileges to a user of G uses; exactly `0660` and nothing looser; and a
//! socket that stays plain TCP because its process refused the segment is counted
//! in `wsd run`'s report, with the reason. The privileges are dropped by a python3
//! helper (`agents/drop_to_user.py`) and by `memcached -u nobody`.
//!
//! Needs root (to give segments to a group and to drop privileges); each test says
//! it was skipped otherwise, and the memcached ones when memcached is missing
//! (`scripts/test` installs it). Every segment is fresh and removed afterwards;
//! every process is started in its own process group and killed at the end.

mod support;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::process::run_guarded;
use support::{San, library, preloaded, tool};

const DROP: &str = include_str!("agents/drop_to_user.py");
const CLIENT: &str = include_str!("agents/memcached_client.py");

/// How long any one step may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(60);

/// What every refusal names: the modes a segment may have.
const EXPECTED: &str = "expected 0600 owned by this user, or 0660 of one of its groups";

fn root_or_skip(what: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        println!("skipped: {what} needs root (to give a segment to a group and drop privileges)");
    }
    root
}

/// The uid and primary gid of user `nobody`.
fn nobody() -> (u32, u32) {
    // SAFETY: a valid name; the entry is read at once, before any other call.
    let pw = unsafe { libc::getpwnam(c"nobody".as_ptr()) };
    assert!(!pw.is_null(), "no user nobody");
    // SAFETY: a non-null result points to a valid passwd entry.
    unsafe { ((*pw).pw_uid, (*pw).pw_gid) }
}

/// The name of group `gid` (`nogroup` on Debian), or its number.
fn group_name(gid: u32) -> String {
    // SAFETY: the entry is read at once, before any other call.
    let gr = unsafe { libc::getgrgid(gid) };
    if gr.is_null() {
        return gid.to_string();
    }
    // SAFETY: a non-null result points to a valid group entry with a NUL-terminated name.
    unsafe { std::ffi::CStr::from_ptr((*gr).gr_name) }
        .to_string_lossy()
        .into_owned()
}

/// `wsd ARGS`, which must succeed; its standard output.
fn wsd_ok(args: &[&str]) -> String {
    let out = tool().args(args).output().expect("run wsd");
    assert!(
        out.status.success(),
        "wsd {args:?}: {:?}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `wsd san status --json` of `san`.
fn status(san: &San) -> Value {
    serde_json::from_str(&wsd_ok(&[
        "san", "status", "--san", &san.name, "--json", "--limit", "0",
    ]))
    .expect("status JSON")
}

fn endpoints(status: &Value) -> Vec<Value> {
    status["endpoints"].as_array().cloned().unwrap_or_default()
}

/// A file under the temporary directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(tag: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("wsd-users-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TempFile(path)
    }

    fn read(&self) -> String {
        std::fs::read_to_string(&self.0).unwrap_or_default()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A process started in its own process group; the whole group is killed when
/// this is dropped (a test that fails half-way leaves nothing running).
struct Proc {
    child: Child,
    lines: Option<mpsc::Receiver<String>>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        cmd.process_group(0);
        let mut child = cmd.spawn().expect("spawn");
        // Standard output, if piped, is read line by line on a thread, so that a
        // line can be waited for with a deadline.
        let lines = child.stdout.take().map(|out| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        });
        Proc { child, lines }
    }

    /// The next line of its standard output.
    fn line(&mut self) -> String {
        let lines = self.lines.as_ref().expect("standard output piped");
        lines
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|e| panic!("no line from the process: {e:?}"))
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Has it exited? (Not reaped: its pid stays its own.)
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Waits for it to exit, polling until the deadline.
    fn wait(&mut self) -> ExitStatus {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(st) = self.exited() {
                return st;
            }
            assert!(
                Instant::now() < end,
                "process {} did not exit in time",
                self.pid()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Closes its standard input and waits for it; returns its status and
    /// standard error.
    fn finish(&mut self) -> (ExitStatus, String) {
        drop(self.child.stdin.take());
        let st = self.wait();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (st, err)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // SAFETY: the child is not reaped, so its pid (and group) is still ours.
            unsafe { libc::kill(-self.pid(), libc::SIGKILL) };
            let _ = self.child.wait();
        }
    }
}

/// python3 running `agents/drop_to_user.py` as `uid`/`gid`, preloaded for `san`,
/// its warnings on standard error.
fn dropping_python(san: &San, uid: u32, gid: u32, how: &str) -> Command {
    let mut cmd = preloaded("python3", san);
    cmd.env_remove("WSD_LOG_FILE")
        .args(["-c", DROP, &uid.to_string(), &gid.to_string(), how])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The warnings the library wrote on standard error.
fn warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("wsd: warning:"))
        .collect()
}

#[test]
fn a_group_segment_keeps_a_process_that_dropped_to_nobody_on_the_san() {
    if !root_or_skip("a segment shared with nobody's group") {
        return;
    }
    let (uid, gid) = nobody();
    let group = group_name(gid);
    let san = San::new("group");
    let made: Value = serde_json::from_str(&wsd_ok(&[
        "san", "create", "--san", &san.name, "--group", &group, "--json",
    ]))
    .unwrap();
    assert_eq!(made["group"]["gid"], gid, "{made}");
    assert_eq!(made["mode"], "0660", "{made}");
    let meta = std::fs::metadata(san.path()).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (0, gid, 0o660),
        "root's, of group {group}, 0660"
    );

    let mut cmd = dropping_python(&san, uid, gid, "hold");
    cmd.stdin(Stdio::piped());
    let mut p = Proc::spawn(cmd);
    let line = p.line();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.len(), 3, "{line}");
    let pid: u64 = words[0].parse().unwrap();
    assert_eq!(words[1], uid.to_string(), "the helper runs as nobody");
    assert_eq!(words[2], "san", "the option went to the provider: a SAN socket");

    let st = status(&san);
    let mut roles: Vec<String> = endpoints(&st)
        .iter()
        .filter(|e| e["pid"] == pid)
        .map(|e| e["role"].as_str().unwrap_or("?").to_string())
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        ["accepted", "connector", "listener"],
        "nobody's endpoints: {st}"
    );
    let (exit, err) = p.finish();
    assert!(exit.success(), "{exit:?}: {err}");
    assert!(warnings(&err).is_empty(), "no refusal: {err}");
    println!("nobody (uid {uid}) used a 0660 segment of group {group}: endpoints {roles:?}");
}

#[test]
fn a_private_segment_is_refused_to_nobody_and_the_run_report_counts_it() {
    if !root_or_skip("dropping to nobody") {
        return;
    }
    let (uid, gid) = nobody();
    let san = San::new("private");
    wsd_ok(&["san", "create", "--san", &san.name]);
    let meta = std::fs::metadata(san.path()).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o600));

    let mut texts = Vec::new();
    for json in [true, false] {
        let report = TempFile::new(if json { "private.json" } else { "private.txt" });
        let mut cmd = tool();
        cmd.arg("run")
            .arg("--lib")
            .arg(library())
            .args(["--san", &san.name, "--report"])
            .arg(&report.0)
            .args(json.then_some("--json"))
            .args([
                "--",
                "python3",
                "-c",
                DROP,
                &uid.to_string(),
                &gid.to_string(),
                "probe",
            ])
            .env_remove("WSD_LOG_FILE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let (exit, hung, out, err) = run_guarded(cmd, DEADLINE);
        assert!(!hung && exit.success(), "{exit:?}\n{out}{err}");
        assert!(out.trim().ends_with(" ENOPROTOOPT"), "plain TCP: {out}");
        assert_eq!(warnings(&err).len(), 1, "one warning: {err}");
        if json {
            let doc: Value = serde_json::from_str(&report.read()).expect("report JSON");
            let sum = &doc["summary"];
            // The listener and the client: the accepted socket came from a plain
            // listener and was never a candidate.
            assert_eq!(sum["fallbacks"]["segment_refused"], 2, "{doc}");
            assert_eq!(sum["endpoints"], 0, "{doc}");
            let reasons = sum["segment_refusals"].as_array().expect("segment_refusals");
            assert_eq!(reasons.len(), 1, "{doc}");
            let reason = reasons[0]["reason"].as_str().unwrap();
            assert!(
                reason.starts_with("permission denied: owned by uid 0")
                    && reason.contains("permissions 0600")
                    && reason.contains(EXPECTED),
                "{reason}"
            );
            assert_eq!(reasons[0]["count"], 2, "{doc}");
            assert_eq!(reasons[0]["programs"], serde_json::json!(["python3"]), "{doc}");
        } else {
            texts.push(report.read());
        }
    }
    let text = &texts[0];
    assert!(
        text.contains("fell back to plain TCP: 2 (network down 0, table full 0, replay refused 0, segment refused 2 by python3: permission denied: owned by uid 0"),
        "{text}"
    );
    for line in text.lines().filter(|l| l.contains("fell back")) {
        println!("{line}");
    }
}

#[test]
fn only_exactly_0660_of_one_of_its_groups_is_shared() {
    if !root_or_skip("segments of nobody's group") {
        return;
    }
    let (uid, gid) = nobody();
    // (mode, group of the file, accepted, what the refusal says)
    let cases: [(u32, u32, bool, &str); 7] = [
        (0o660, gid, true, ""),
        (0o666, gid, false, "permissions 0666"),
        (0o640, gid, false, "permissions 0640"),
        (0o670, gid, false, "permissions 0670"),
        (0o4660, gid, false, "permissions 4660"),
        (0o2660, gid, false, "permissions 2660"),
        // 0660, but of a group nobody is not in (root's).
        (0o660, 0, false, "group 0, permissions 0660"),
    ];
    for (mode, group, accepted, says) in cases {
        let what = format!("mode {mode:04o} of group {group}");
        let san = San::new("mode");
        wsd_ok(&["san", "create", "--san", &san.name, "--group", &group.to_string()]);
        std::fs::set_permissions(san.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        assert_eq!(std::fs::metadata(san.path()).unwrap().mode() & 0o7777, mode);
        let mut cmd = dropping_python(&san, uid, gid, "probe");
        cmd.process_group(0);
        let (exit, hung, out, err) = run_guarded(cmd, DEADLINE);
        assert!(!hung && exit.success(), "{what}: {exit:?}\n{out}{err}");
        let warned = warnings(&err);
        if accepted {
            assert!(out.trim().ends_with(" san"), "{what}: {out}");
            assert!(warned.is_empty(), "{what}: {err}");
        } else {
            assert!(out.trim().ends_with(" ENOPROTOOPT"), "{what}: plain TCP: {out}");
            assert_eq!(warned.len(), 1, "{what}: {err}");
            assert!(
                warned[0].contains("cannot be used")
                    && warned[0].contains(says)
                    && warned[0].contains(EXPECTED),
                "{what}: {}",
                warned[0]
            );
            println!("{what}: {}", warned[0]);
        }
    }
}

// memcached --------------------------------------------------------------------

fn memcached_or_skip() -> bool {
    let found = Command::new("memcached")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        println!("skipped: memcached is not installed (scripts/test installs it)");
    }
    found
}

/// `wsd run [--group G] -- memcached -u nobody` on `port`, once it accepts
/// connections; its report goes to `report` as JSON, its standard error to `log`.
fn start_memcached(san: &San, group: Option<&str>, port: u16, report: &TempFile, log: &TempFile) -> Proc {
    let mut cmd = tool();
    cmd.arg("run")
        .arg("--lib")
        .arg(library())
        .args(["--san", &san.name])
        .args(group.map(|g| ["--group", g]).into_iter().flatten())
        .arg("--report")
        .arg(&report.0)
        .args([
            "--json",
            "--",
            "memcached",
            "-u",
            "nobody",
            "-l",
            "127.0.0.1",
            "-p",
        ])
        .arg(port.to_string())
        .env_remove("WSD_LOG_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log.0).unwrap());
    let mut server = Proc::spawn(cmd);
    // Polled until it accepts, or the run ends.
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let end = Instant::now() + DEADLINE;
    while TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
        if let Some(st) = server.exited() {
            panic!("memcached's run ended: {st:?}\n{}", log.read());
        }
        assert!(
            Instant::now() < end,
            "memcached did not listen in time\n{}",
            log.read()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

/// The client, under `wsd run` on the same segment: once it has stored and read
/// back a value, returns it, still connected.
fn start_client(san: &San, port: u16) -> Proc {
    let mut cmd = tool();
    cmd.arg("run")
        .arg("--lib")
        .arg(library())
        .args(["--san", &san.name, "--", "python3", "-c", CLIENT])
        .arg(port.to_string())
        .env_remove("WSD_LOG_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut client = Proc::spawn(cmd);
    assert_eq!(
        client.line(),
        "STORED x",
        "memcached stored and returned the value"
    );
    client
}

/// Ends memcached's run as a user would (SIGTERM to `wsd run`, which passes it
/// on) and returns its report.
fn stop_memcached(mut server: Proc, report: &TempFile, log: &TempFile) -> Value {
    // SAFETY: the child is not reaped, so its pid is still ours.
    unsafe { libc::kill(server.pid(), libc::SIGTERM) };
    let st = server.wait();
    assert!(st.success(), "memcached's run: {st:?}\n{}", log.read());
    serde_json::from_str(&report.read()).unwrap_or_else(|e| panic!("report: {e}\n{}", log.read()))
}

#[test]
fn memcached_that_drops_to_nobody_stays_on_a_group_san() {
    if !root_or_skip("memcached -u nobody") || !memcached_or_skip() {
        return;
    }
    let (_, gid) = nobody();
    let group = group_name(gid);
    let san = San::new("mc-group");
    let (report, log) = (TempFile::new("mc-group.json"), TempFile::new("mc-group.log"));
    let port = support::free_port();
    let server = start_memcached(&san, Some(&group), port, &report, &log);
    let meta = std::fs::metadata(san.path()).unwrap();
    assert_eq!((meta.gid(), meta.mode() & 0o7777), (gid, 0o660));
    let mut client = start_client(&san, port);

    let st = status(&san);
    let eps = endpoints(&st);
    let find = |role: &str, program: &str| {
        eps.iter()
            .filter(|e| e["role"] == role && e["program"] == program)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        find("listener", "memcached").len(),
        1,
        "memcached's listener: {st}"
    );
    let connector = find("connector", "python3");
    assert_eq!(connector.len(), 1, "the client: {st}");
    let accepted: Vec<_> = find("accepted", "memcached")
        .into_iter()
        .filter(|e| e["peer_id"] == connector[0]["id"])
        .collect();
    assert_eq!(
        accepted.len(),
        1,
        "memcached accepted the client on the SAN: {st}"
    );
    assert_eq!(connector[0]["peer_id"], accepted[0]["id"], "{st}");

    let (exit, err) = client.finish();
    assert!(exit.success(), "{exit:?}: {err}");
    let doc = stop_memcached(server, &report, &log);
    let sum = &doc["summary"];
    assert_eq!(sum["fallbacks"]["segment_refused"], 0, "{doc}");
    assert_eq!(sum["segment_refusals"], serde_json::json!([]), "{doc}");
    assert!(sum["san_accepts"].as_u64().unwrap_or(0) >= 1, "{doc}");
    assert!(!log.read().contains("cannot be used"), "{}", log.read());
}

#[test]
fn memcached_that_drops_to_nobody_off_a_private_san_is_counted() {
    if !root_or_skip("memcached -u nobody") || !memcached_or_skip() {
        return;
    }
    let san = San::new("mc-private");
    let (report, log) = (TempFile::new("mc-private.json"), TempFile::new("mc-private.log"));
    let port = support::free_port();
    let server = start_memcached(&san, None, port, &report, &log);
    let mut client = start_client(&san, port);

    let st = status(&san);
    let eps = endpoints(&st);
    assert!(
        eps.iter().all(|e| e["program"] != "memcached"),
        "memcached has no SAN socket: {st}"
    );
    let (exit, err) = client.finish();
    assert!(exit.success(), "{exit:?}: {err}");
    let doc = stop_memcached(server, &report, &log);
    let sum = &doc["summary"];
    // Its listener stayed plain; the connections it accepted on it were never
    // candidates.
    assert_eq!(sum["fallbacks"]["segment_refused"], 1, "{doc}");
    let reasons = sum["segment_refusals"].as_array().expect("segment_refusals");
    assert_eq!(reasons.len(), 1, "{doc}");
    let reason = reasons[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("permission denied: owned by uid 0")
            && reason.contains("permissions 0600")
            && reason.contains(EXPECTED),
        "{reason}"
    );
    assert_eq!(reasons[0]["programs"], serde_json::json!(["memcached"]), "{doc}");
    let warned = log.read();
    assert_eq!(warned.matches("cannot be used").count(), 1, "{warned}");
    println!("{}", reasons[0]);
}
