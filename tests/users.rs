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
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::agent::Agent;
use support::process::{Proc, run_guarded};
use support::san_tool::{endpoints, status, wsd_san_ok};
use support::{San, TempFile, is_root, preloaded, uid_of, wsd_run};

const DROP: &str = include_str!("agents/drop_to_user.py");
const CLIENT: &str = include_str!("agents/memcached_client.py");

/// How long any one step may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(60);

/// What every refusal names: the modes a segment may have.
const EXPECTED: &str = "expected 0600 owned by this user, or 0660 of one of its groups";

fn root_or_skip(what: &str) -> bool {
    let root = is_root();
    if !root {
        println!("skipped: {what} needs root (to give a segment to a group and drop privileges)");
    }
    root
}

/// The uid and primary gid of user `nobody`, when the tests run as root;
/// otherwise `None`, the test (`what`) said to be skipped.
fn nobody_as_root(what: &str) -> Option<(u32, u32)> {
    if !root_or_skip(what) {
        return None;
    }
    assert!(uid_of("nobody").is_some(), "no user nobody");
    Some(support::nobody())
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

/// python3 running `agents/drop_to_user.py` as `uid`/`gid`, preloaded for `san`,
/// its warnings on standard error.
fn dropping_python(san: &San, uid: u32, gid: u32, how: &str) -> Command {
    let mut cmd = preloaded("python3", san);
    cmd.env_remove("WSD_LOG_FILE")
        .args(["-c", DROP, &uid.to_string(), &gid.to_string(), how]);
    cmd
}

/// What a run's report (`doc`) says of its refused segments: one reason, root's
/// private segment refused to nobody. That reason's entry.
fn refused_private_segment(doc: &Value) -> &Value {
    let reasons = doc["summary"]["segment_refusals"]
        .as_array()
        .expect("segment_refusals");
    assert_eq!(reasons.len(), 1, "{doc}");
    let reason = reasons[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("permission denied: owned by uid 0")
            && reason.contains("permissions 0600")
            && reason.contains(EXPECTED),
        "{reason}"
    );
    &reasons[0]
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
    let Some((uid, gid)) = nobody_as_root("a segment shared with nobody's group") else {
        return;
    };
    let group = group_name(gid);
    let san = San::new("group");
    let made: Value =
        serde_json::from_str(&wsd_san_ok(&san, &["create", "--group", &group, "--json"])).unwrap();
    assert_eq!(made["group"]["gid"], gid, "{made}");
    assert_eq!(made["mode"], "0660", "{made}");
    let meta = std::fs::metadata(san.path()).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (0, gid, 0o660),
        "root's, of group {group}, 0660"
    );

    let mut p = Agent::program(dropping_python(&san, uid, gid, "hold"), "python3 as nobody");
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
    let Some((uid, gid)) = nobody_as_root("dropping to nobody") else {
        return;
    };
    let san = San::new("private");
    wsd_san_ok(&san, &["create"]);
    let meta = std::fs::metadata(san.path()).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o600));

    let mut texts = Vec::new();
    for json in [true, false] {
        let report = TempFile::new(if json { "private.json" } else { "private.txt" });
        let mut flags = vec!["--report", report.0.to_str().unwrap()];
        flags.extend(json.then_some("--json"));
        let (uid, gid) = (uid.to_string(), gid.to_string());
        let mut cmd = wsd_run(&san, &flags, &["python3", "-c", DROP, &uid, &gid, "probe"]);
        cmd.env_remove("WSD_LOG_FILE");
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
            let refusal = refused_private_segment(&doc);
            assert_eq!(refusal["count"], 2, "{doc}");
            assert_eq!(refusal["programs"], serde_json::json!(["python3"]), "{doc}");
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
    let Some((uid, gid)) = nobody_as_root("segments of nobody's group") else {
        return;
    };
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
        wsd_san_ok(&san, &["create", "--group", &group.to_string()]);
        std::fs::set_permissions(san.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        assert_eq!(std::fs::metadata(san.path()).unwrap().mode() & 0o7777, mode);
        let cmd = dropping_python(&san, uid, gid, "probe");
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
    let mut flags: Vec<&str> = group.map(|g| ["--group", g]).into_iter().flatten().collect();
    flags.extend(["--report", report.0.to_str().unwrap(), "--json"]);
    let port_arg = port.to_string();
    let mut cmd = wsd_run(
        san,
        &flags,
        &["memcached", "-u", "nobody", "-l", "127.0.0.1", "-p", &port_arg],
    );
    cmd.env_remove("WSD_LOG_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log.0).unwrap());
    let mut server = Proc::spawn_group(cmd, "memcached's wsd run");
    // Polled until it accepts, or the run ends.
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let end = Instant::now() + DEADLINE;
    while TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
        if let Some(st) = server.child.try_wait().expect("try_wait") {
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
fn start_client(san: &San, port: u16) -> Agent {
    let mut cmd = wsd_run(san, &[], &["python3", "-c", CLIENT, &port.to_string()]);
    cmd.env_remove("WSD_LOG_FILE");
    let mut client = Agent::program(cmd, "the memcached client's wsd run");
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
    unsafe { libc::kill(server.pid() as libc::pid_t, libc::SIGTERM) };
    let st = server.wait();
    assert!(st.success(), "memcached's run: {st:?}\n{}", log.read());
    serde_json::from_str(&report.read()).unwrap_or_else(|e| panic!("report: {e}\n{}", log.read()))
}

#[test]
fn memcached_that_drops_to_nobody_stays_on_a_group_san() {
    let Some((_, gid)) = nobody_as_root("memcached -u nobody") else {
        return;
    };
    if !memcached_or_skip() {
        return;
    }
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
    let refusal = refused_private_segment(&doc);
    assert_eq!(refusal["programs"], serde_json::json!(["memcached"]), "{doc}");
    let warned = log.read();
    assert_eq!(warned.matches("cannot be used").count(), 1, "{warned}");
    println!("{refusal}");
}
