//! The library's log: `SO_DEBUG` lines (SPEC §6.4) and the rest of what it writes
//! to `WSD_LOG_FILE` or standard error.
//!
//! - Every `SO_DEBUG` line has one shape; a line for every operation on a socket
//!   whose `SO_DEBUG` is on (the direct API, the replay of values remembered
//!   before `connect`, `connect`, `listen`, `dup`, `close`), and one name for an
//!   option, in the log as in the report.
//! - Lines from two processes writing one log file at once never interleave.
//! - A `WSD_LOG_FILE` that cannot be written without blocking is reported once,
//!   and the lines go to standard error.
//! - `WSD_LOG=debug` says why a socket is a SAN socket or plain TCP.
//!
//! The C side is `c-tests/audit.c` (its `debug` and `connect` cases); the
//! processes writing concurrently are python3 agents
//! (`tests/agents/san_agent.py`).

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use support::agent::{agent_command, pair_with};
use support::c_run::{passes, run_captured};
use support::cc::program;
use support::{San, TempDir, library, tool};

/// `c-tests/audit.c`.
fn audit() -> PathBuf {
    program("audit")
}

/// An `SO_DEBUG` line (SPEC §6.4):
/// `^wsd \d\d:\d\d:\d\d\.\d{6} pid=\d+ fd=\d+ ep=\d+ \S+( .*)? -> -?\d+`
fn is_debug_line(line: &str) -> bool {
    fn digits(s: &str, n: Option<usize>) -> Option<&str> {
        let k = s.bytes().take_while(u8::is_ascii_digit).count();
        (k > 0 && n.is_none_or(|n| n == k)).then(|| &s[k..])
    }
    fn field<'a>(s: &'a str, key: &str) -> Option<&'a str> {
        digits(s.strip_prefix(key)?, None)?.strip_prefix(' ')
    }
    let parse = || -> Option<()> {
        let s = line.strip_prefix("wsd ")?;
        let s = digits(s, Some(2))?.strip_prefix(':')?;
        let s = digits(s, Some(2))?.strip_prefix(':')?;
        let s = digits(s, Some(2))?.strip_prefix('.')?;
        let s = digits(s, Some(6))?.strip_prefix(' ')?;
        let s = field(s, "pid=")?;
        let s = field(s, "fd=")?;
        let s = field(s, "ep=")?;
        let (call, rest) = s.split_once(' ')?;
        if call.is_empty() {
            return None;
        }
        let rest = format!(" {rest}");
        rest.match_indices(" -> ")
            .any(|(i, _)| {
                let r = &rest[i + 4..];
                digits(r.strip_prefix('-').unwrap_or(r), None).is_some()
            })
            .then_some(())
    };
    parse().is_some()
}

// ---- the shape of a line ------------------------------------------------------------

#[test]
fn debug_line_shape() {
    assert!(is_debug_line(
        "wsd 12:00:01.123456 pid=4242 fd=5 ep=17 setsockopt SOL_SOCKET/SO_GROUP_PRIORITY len=4 -> 0"
    ));
    assert!(is_debug_line("wsd 12:00:01.123456 pid=1 fd=5 ep=17 close -> 0"));
    assert!(is_debug_line(
        "wsd 12:00:01.123456 pid=1 fd=5 ep=17 dup fd=7 -> 7"
    ));
    assert!(is_debug_line(
        "wsd 12:00:01.123456 pid=1 fd=5 ep=17 setsockopt x -> -1 WSAENOTCONN"
    ));
    for bad in [
        "wsd 12:00:01.12345 pid=4242 fd=5 ep=17 setsockopt x -> 0",
        "wsd 12:00:01.123456 pid=4242 fd=5 ep=17 setsockopt x -> ",
        "wsd 12:00:01.123456 pid=4242 fd=5 setsockopt x -> 0",
        "wsd 12:00:01.123456 pid=4242 fd=5 ep=17 setsockopt",
        "wsd 12:00:0wsd 12:00:01.123456 pid=4242 fd=5 ep=17 setsockopt x -> 0",
    ] {
        assert!(!is_debug_line(bad), "{bad}");
    }
}

// ---- a line for every operation -----------------------------------------------------

fn field(line: &str, key: &str) -> Option<String> {
    line.split(' ')
        .find_map(|w| w.strip_prefix(key))
        .map(str::to_string)
}

#[test]
fn so_debug_lines_for_every_operation_and_one_way_to_name_an_option() {
    let san = San::new("debug");
    let dir = TempDir::new("debug");
    let log = dir.path("log");
    let report = dir.path("report");
    let out = tool()
        .arg("run")
        .arg("--lib")
        .arg(library())
        .args(["--san", &san.name, "--report"])
        .arg(&report)
        .arg("--")
        .arg(audit())
        .arg("debug")
        .env("WSD_LOG_FILE", &log)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for l in &lines {
        assert!(is_debug_line(l), "not an SO_DEBUG line: {l:?}");
    }
    let fd_of = |what: &str| {
        let line = stdout.lines().find(|l| l.starts_with(what)).unwrap();
        (
            field(line, "fd=").unwrap(),
            field(line, "port=").unwrap_or_default(),
            field(line, "dup=").unwrap_or_default(),
        )
    };
    let has = |fd: &str, tail: &str| {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!(" fd={fd} ")) && l.ends_with(tail)),
            "no line for fd {fd} ending {tail:?} in\n{text}"
        );
    };
    // 5: the direct API.
    let (direct, _, _) = fd_of("direct ");
    has(&direct, "WSPSetSockOpt SOL_SOCKET(0xffff)/SO_DEBUG len=4 -> 0");
    has(
        &direct,
        "WSPSetSockOpt SOL_SOCKET(0xffff)/SO_GROUP_PRIORITY len=4 -> 0",
    );
    has(&direct, "WSPGetSockOpt SOL_SOCKET(0xffff)/SO_GROUP_PRIORITY -> 0");
    // 7: the replay, connect and dup; listen.
    let (s, port, d) = fd_of("connect ");
    has(&s, "setsockopt SOL_SOCKET(0xffff)/SO_DEBUG len=4 (replayed) -> 0");
    has(
        &s,
        "setsockopt SOL_SOCKET(0xffff)/SO_GROUP_PRIORITY len=4 (replayed) -> 0",
    );
    has(&s, &format!("connect to 127.0.0.1:{port} -> 0"));
    has(&s, &format!("dup fd={d} -> {d}"));
    has(&d, "close -> 0");
    let (l, lport, _) = fd_of("listen ");
    has(&l, &format!("listen on 127.0.0.1:{lport} -> 0"));
    // 6: one name for an option in the log and in the report, and the report's
    // columns line up whatever the names' lengths.
    has(&s, "setsockopt SOL_SOCKET/SO_KEEPALIVE len=4 -> 0");
    has(&s, "setsockopt SOL_SOCKET(0xffff)/SO_GROUP_PRIORITY len=4 -> 0");
    let report = std::fs::read_to_string(&report).unwrap();
    assert!(report.contains(" SOL_SOCKET/SO_KEEPALIVE "), "{report}");
    assert!(
        report.contains(" SOL_SOCKET(0xffff)/SO_GROUP_PRIORITY "),
        "{report}"
    );
    let table: Vec<&str> = report
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("program"))
        // The table ends where the report says where refused options are set.
        .take_while(|l| !l.starts_with("  where "))
        .collect();
    assert!(table.len() > 3, "{report}");
    let width = table[0].len();
    for row in &table {
        assert_eq!(row.len(), width, "misaligned row {row:?} in\n{report}");
    }
}

// ---- two processes, one file --------------------------------------------------------

#[test]
fn so_debug_lines_from_two_processes_never_interleave() {
    let san = San::new("debug");
    let dir = TempDir::new("san-debug");
    let log = dir.path("debug.log");

    let (mut server, mut client) = pair_with(|| {
        let mut cmd = agent_command(&san);
        cmd.env("WSD_LOG_FILE", &log);
        cmd
    });
    for a in [&mut server, &mut client] {
        assert_eq!(a.ask("set 1 1"), "ok", "{}", a.what);
    }
    const N: usize = 300;
    // Both agents get all their commands at once, so that they write concurrently.
    for a in [&mut server, &mut client] {
        let batch: String = (0..N).map(|n| format!("set 0x2002 {n}\n")).collect();
        let stdin = a.stdin.as_mut().unwrap();
        stdin.write_all(batch.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    for a in [&mut server, &mut client] {
        for n in 0..N {
            assert_eq!(a.line(), "ok", "{} set {n}", a.what);
        }
    }
    for a in [&mut server, &mut client] {
        let (st, _) = a.finish();
        assert!(st.success(), "{}: {st:?}", a.what);
    }

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.ends_with('\n'), "whole lines only");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 2 * N, "{} lines", lines.len());
    for line in &lines {
        assert!(is_debug_line(line), "not one whole SO_DEBUG line: {line:?}");
    }
    for pid in [server.pid(), client.pid()] {
        let sets = lines
            .iter()
            .filter(|l| l.contains(&format!(" pid={pid} ")) && l.contains("SO_GROUP_PRIORITY"))
            .count();
        assert_eq!(sets, N, "pid {pid}");
    }
}

// ---- a bad log file -----------------------------------------------------------------

/// Paths that cannot be written without blocking: each must be reported once on
/// standard error, and the lines must then go there, without a hang.
#[test]
fn a_bad_log_file_is_reported_once_and_lines_go_to_standard_error() {
    let dir = TempDir::new("logfile");
    let fifo = dir.path("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let missing = dir.path("no/such/dir/log");
    let bad: [(&str, &Path); 4] = [
        ("a FIFO with no reader", &fifo),
        ("a missing directory", &missing),
        ("a directory", &dir.0),
        ("/proc/version", Path::new("/proc/version")),
    ];
    for (what, path) in bad {
        let san = San::new("logfile");
        let (_, err) = passes(&audit(), &san, &["debug"], &[("WSD_LOG_FILE", path)]);
        let reports = err.lines().filter(|l| l.contains("WSD_LOG_FILE=")).count();
        assert_eq!(reports, 1, "{what}: one report on standard error\n{err}");
        let debug = err.lines().filter(|l| is_debug_line(l)).count();
        assert!(
            debug >= 5,
            "{what}: the SO_DEBUG lines go to standard error\n{err}"
        );

        // A bad WSD_MODE's message is not lost either.
        let san = San::new("logfile-mode");
        let (status, _, err) = run_captured(
            &audit(),
            &san,
            &["kernel"],
            &[("WSD_LOG_FILE", path), ("WSD_MODE", Path::new("fast"))],
        );
        assert!(status.success(), "{what}: {status}\n{err}");
        assert!(
            err.contains("WSD_MODE"),
            "{what}: the WSD_MODE message reaches standard error\n{err}"
        );
        assert_eq!(
            err.lines().filter(|l| l.contains("WSD_LOG_FILE=")).count(),
            1,
            "{what}\n{err}"
        );
    }
}

// ---- why a socket is what it is -----------------------------------------------------

#[test]
fn debug_log_names_the_rule_that_kept_a_socket_plain() {
    let san = San::new("reason");
    let dir = TempDir::new("reason");
    let log = dir.path("log");
    passes(
        &audit(),
        &san,
        &["connect"],
        &[
            ("WSD_LOG_FILE", &log),
            ("WSD_LOG", Path::new("debug")),
            ("WSD_RULES", Path::new("use tcp client * 127.0.0.0/8:*")),
        ],
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("Client 127.0.0.1:") && text.contains("plain TCP: a `use tcp` rule (line 1) matched"),
        "{text}"
    );
    assert!(!text.contains("not in the SAN subnet table"), "{text}");
    // The server side had no rule: the subnet table decided, and says so.
    assert!(
        text.contains("SAN: no rule matched; the address is in the SAN subnet table"),
        "{text}"
    );
}
