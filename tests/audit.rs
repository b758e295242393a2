//! Issue 11: the deviations from SPEC an outside audit found, each with the test
//! that showed it. The C side is `c-tests/audit.c`; faults are injected with the
//! `wsd` tool itself, on a fresh segment per test.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use support::c_run::{passes, run_captured};
use support::cc::program;
use support::san_tool::wsd_san;
use support::{San, TempDir, is_debug_line, library, tool};

/// `c-tests/audit.c`.
fn audit() -> PathBuf {
    program("audit")
}

// 1 ---- a bad WSD_LOG_FILE ----------------------------------------------------

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

// 2 ---- rules that can never route to the SAN leave sockets alone ---------------

#[test]
fn rules_that_route_nothing_to_the_san_leave_every_socket_to_the_kernel() {
    let baseline = {
        let san = San::new("kernel-base");
        passes(&audit(), &san, &["kernel"], &[("WSD_SUBNETS", Path::new(""))]).0
    };
    // Linux has no level 0xffff: the kernel refuses it.
    assert!(baseline.starts_with("set -1 92 get -1 95"), "{baseline}");
    for rules in [
        "use tcp * * *:*",
        "use tcp * audit *",
        "use tcp client * *;use tcp server * *",
    ] {
        let san = San::new("kernel-rules");
        let (out, _) = passes(&audit(), &san, &["kernel"], &[("WSD_RULES", Path::new(rules))]);
        assert_eq!(out, baseline, "WSD_RULES={rules:?}");
    }
    // A rule that can route something keeps candidates.
    let san = San::new("kernel-san");
    let (out, _) = passes(
        &audit(),
        &san,
        &["kernel"],
        &[("WSD_RULES", Path::new("use san * * 127.0.0.1:*;use tcp * * *"))],
    );
    assert!(out.starts_with("set 0 0 get 0 0 6"), "{out}");
}

// 3, 4 ---- argument errors before connection state; both facts kept --------------

#[test]
fn argument_errors_win_over_a_reset_or_keepalive_failure_in_switch_mode() {
    let san = San::new("args-switch");
    passes(
        &audit(),
        &san,
        &["args-win"],
        &[("WSD_MODE", Path::new("switch"))],
    );
}

#[test]
fn argument_errors_win_over_a_reset_or_keepalive_failure_in_provider_mode() {
    let san = San::new("args-provider");
    passes(
        &audit(),
        &san,
        &["args-win"],
        &[("WSD_MODE", Path::new("provider"))],
    );
}

#[test]
fn a_keepalive_failure_and_a_reset_answer_enetreset_in_either_order() {
    let san = San::new("both-facts");
    passes(&audit(), &san, &["both-facts"], &[]);
    // The segment stays consistent with both facts on a connection.
    let out = wsd_san(&san, &["check"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

// 5, 6, 7 ---- SO_DEBUG lines for every operation, one way to name an option --------

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
        .collect();
    assert!(table.len() > 3, "{report}");
    let width = table[0].len();
    for row in &table {
        assert_eq!(row.len(), width, "misaligned row {row:?} in\n{report}");
    }
}

// 8 ---- debug logging states the real reason ------------------------------------

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
