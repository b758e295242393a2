//! Issue 14: `wsd run` checks everything before the program starts — its flags
//! (the program's arguments come only after `--`), the report's file, the
//! rules, the library — and refuses a bad one with exit status 2 and a line that
//! names it; `--json` never shares a stream with the program; `WSD_SAN` is
//! honoured; a program that cannot be started gives one line and no report; the
//! report's header quotes the command as a shell would.

mod support;

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};
use support::{San, TempDir, library, run_reporting, tool, wsd_run};

/// A fresh scratch directory, and the path of a marker file in it that the
/// refused programs would create.
fn scratch(tag: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new(&format!("refusals-{tag}"));
    let marker = dir.path("ran");
    (dir, marker)
}

/// The library under test's path, as a flag's value.
fn lib() -> String {
    library().to_str().unwrap().to_string()
}

/// `wsd run --lib LIB -- CMD`, the segment not named (no `WSD_SAN`).
fn run_lib(cmd: &[&str]) -> Command {
    let mut c = tool();
    c.args(["run", "--lib"])
        .arg(library())
        .arg("--")
        .args(cmd)
        .env_remove("WSD_SAN");
    c
}

/// `cmd` (a `wsd report --json`), which must succeed: its report.
fn report_json(cmd: &mut Command) -> Value {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn run(args: &[&str], marker: &std::path::Path) -> Output {
    let mut c = tool();
    c.arg("run").args(args).arg("--").arg("touch").arg(marker);
    c.env_remove("WSD_SAN").env_remove("WSD_LIB");
    c.output().unwrap()
}

/// Refused: exit status 2, `wsd: ` and every `needles` in the message, and the
/// program did not run.
fn refused(out: &Output, marker: &std::path::Path, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} in {err}");
    }
    assert!(!marker.exists(), "the program ran: {err}");
}

#[test]
fn a_mistyped_flag_is_refused_not_run_as_the_program() {
    let (_dir, marker) = scratch("flag");
    let lib = lib();
    let out = run(&["--lib", &lib, "--bogus"], &marker);
    refused(&out, &marker, &["--bogus"]);
    // The program comes after `--` only.
    let out = tool()
        .args(["run", "--lib", &lib, "touch"])
        .arg(&marker)
        .output()
        .unwrap();
    refused(&out, &marker, &["touch", "--"]);
}

#[test]
fn bad_settings_are_refused_before_the_program_runs() {
    let (dir, marker) = scratch("settings");
    let lib = lib();
    let lost = dir.path("no/such/dir/report");
    let bad_rules = dir.path("bad.rules");
    std::fs::write(&bad_rules, "use san client python3 127.0.0.1:80-70\n").unwrap();
    let not_ours = dir.path("libnot.so");
    std::fs::copy("/usr/lib/x86_64-linux-gnu/libc.so.6", &not_ours).unwrap();
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (
            vec![
                "--lib".into(),
                lib.clone(),
                "--report".into(),
                lost.display().to_string(),
            ],
            vec!["--report", "no/such/dir", "would be lost"],
        ),
        (
            vec![
                "--lib".into(),
                lib.clone(),
                "--rules".into(),
                bad_rules.display().to_string(),
            ],
            vec![":1:24: expected ADDR[/PREFIX]:PORT[-PORT]"],
        ),
        (
            vec![
                "--lib".into(),
                lib.clone(),
                "--rules".into(),
                dir.0.display().to_string(),
            ],
            vec!["cannot read it"],
        ),
        (
            vec!["--lib".into(), "/etc/passwd".into()],
            vec!["--lib /etc/passwd", "not a shared library"],
        ),
        (
            vec!["--lib".into(), not_ours.display().to_string()],
            vec!["not wsd's libwsd.so"],
        ),
        (
            vec!["--lib".into(), lib.clone(), "--json".into()],
            vec!["--json", "--report FILE"],
        ),
        (
            vec!["--lib".into(), lib.clone(), "--san".into(), "bad name".into()],
            vec!["--san \"bad name\""],
        ),
        (
            vec![
                "--lib".into(),
                lib.clone(),
                "--fault".into(),
                "reset,after=2x".into(),
            ],
            vec!["at character 13"],
        ),
    ];
    for (args, needles) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args, &marker);
        refused(&out, &marker, &needles);
    }
    // WSD_LIB too, by name.
    let mut c = tool();
    c.args(["run", "--", "touch"])
        .arg(&marker)
        .env("WSD_LIB", "/etc/passwd");
    refused(&c.output().unwrap(), &marker, &["WSD_LIB /etc/passwd"]);
}

/// `--json --report FILE`: the file holds one JSON document, whatever the
/// program writes to its standard output and error.
#[test]
fn json_goes_to_its_file_and_parses() {
    let (dir, _) = scratch("json");
    let report = dir.path("r.json");
    let (out, doc) = run_reporting(
        &San::new("json"),
        &["--json", "--report", report.to_str().unwrap()],
        &["sh", "-c", "echo out; echo err >&2"],
        &report,
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(doc["status"], 0);
}

/// A program that cannot be started: exit status 127, one line, no report.
#[test]
fn a_failed_exec_gives_one_line_and_no_report() {
    let out = run_lib(&["/nonexistent/program"]).output().unwrap();
    assert_eq!(out.status.code(), Some(127));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.starts_with("wsd: running on SAN"))
        .collect();
    assert_eq!(
        lines,
        ["wsd: /nonexistent/program: No such file or directory (os error 2)"],
        "{err}"
    );
}

/// `WSD_SAN` names the run's segment, as it does for `wsd san` and `wsd report`:
/// it is shared, so it exists after the run, and `wsd report` reads it again.
#[test]
fn wsd_san_names_the_runs_segment() {
    let san = San::new("from-env");
    let out = run_lib(&["python3", "-c", support::ONE_CONNECTION])
        .env("WSD_SAN", &san.name)
        .env("WSD_LOG_FILE", "/dev/null")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("SAN {:?}", san.name)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = report_json(tool().args(["report", "--json"]).env("WSD_SAN", &san.name));
    assert_eq!(doc["san"], san.name.as_str());
    assert_eq!(doc["summary"]["san_connections"], 1, "{doc:#}");
}

/// The report's header writes the command as a shell would need it.
#[test]
fn the_report_quotes_the_command() {
    let san = San::new("quotes");
    let out = wsd_run(&san, &[], &["sh", "-c", "true 'it''s' %{x}\\n", ""])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r"wsd report for `sh -c 'true '\''it'\'''\''s'\'' %{x}\n' ''`"),
        "{err}"
    );
}

/// The manual page and the shell completions are made from the command line's
/// definition: every verb has its page, every flag is in them.
#[test]
fn man_page_and_completions_come_from_the_command_line() {
    let man = tool().arg("man").output().unwrap();
    assert!(man.status.success());
    let man = String::from_utf8_lossy(&man.stdout);
    for page in [
        "wsd",
        "wsd-run",
        "wsd-san",
        "wsd-report",
        "wsd-options",
        "wsd-errors",
    ] {
        assert!(man.contains(&format!(".TH {page} 1")), "{page}: {man}");
    }
    for flag in [
        "\\-\\-fault",
        "\\-\\-groups",
        "\\-\\-log\\-file",
        "\\-\\-fds",
        "\\-\\-seed",
    ] {
        assert!(man.contains(flag), "{flag}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = tool().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("fault") && text.contains("keepalive-fail"),
            "{shell}: {text}"
        );
    }
}

/// The library's variables have flags, refused by the flag's name; the common
/// options have short forms.
#[test]
fn flags_for_the_librarys_variables() {
    let (dir, marker) = scratch("vars");
    let lib = lib();
    for (args, needle) in [
        (["--groups", "maybe"], "--groups maybe: expected on or off"),
        (
            ["--log", "loud"],
            "--log loud: expected off, error, warn, info or debug",
        ),
        (
            ["-m", "fast"],
            "--mode fast: expected switch, provider or observe",
        ),
    ] {
        let mut all = vec!["--lib", lib.as_str()];
        all.extend(args);
        refused(&run(&all, &marker), &marker, &[needle]);
    }
    let report = dir.path("r.json");
    let (_, doc) = run_reporting(
        &San::new("flags"),
        &[
            "-m",
            "observe",
            "--log",
            "off",
            "-o",
            report.to_str().unwrap(),
            "--json",
        ],
        &["true"],
        &report,
    );
    assert_eq!(doc["mode"], "observe");
}

/// One set of rules, said one way: the segment name (the library's rule, 64
/// characters, no leading dot), the capacity range (the segment's words), exit
/// status 2 and the `wsd:` prefix for every usage error — `san check` of a
/// missing segment included — and the "create it" hint only where creating
/// helps.
#[test]
fn one_set_of_rules_said_one_way() {
    let rule = wsd::config::SAN_NAME_RULE;
    let long = "a".repeat(65);
    for (args, needle) in [
        (
            vec!["san", "status", "--san", ".hidden"],
            format!("expected {rule}"),
        ),
        (
            vec!["san", "status", "--san", long.as_str()],
            format!("expected {rule}"),
        ),
        (
            vec!["run", "--san", ".hidden", "--", "true"],
            format!("expected {rule}"),
        ),
        (
            vec!["san", "create", "--san", "x", "--capacity", "-5"],
            "capacity -5: expected a number of endpoint records from 1 to 2097152".to_string(),
        ),
        (
            vec!["san", "create", "--san", "x", "--capacity", "4294967296"],
            "capacity 4294967296: expected a number of endpoint records from 1 to 2097152".to_string(),
        ),
        (
            vec!["san", "check", "--san", "no-such-segment-here"],
            "no such segment: create it with `wsd san create`".to_string(),
        ),
        (
            vec!["run", "--bogus", "--", "true"],
            "unexpected argument '--bogus'".to_string(),
        ),
    ] {
        let out = tool().args(&args).env_remove("WSD_SAN").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with("wsd: ") && err.contains(&needle),
            "{args:?}: {err}"
        );
    }
    // No creation hint where creating is not the answer.
    for args in [
        vec!["san", "destroy", "--san", "no-such-segment-here"],
        vec!["report", "--san", "no-such-segment-here"],
    ] {
        let out = tool().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with("wsd: ") && !err.contains("wsd san create"),
            "{args:?}: {err}"
        );
    }
    // The library says the same rule for WSD_SAN.
    let out = std::process::Command::new("python3")
        .args(["-c", "pass"])
        .env("LD_PRELOAD", library())
        .env("WSD_SAN", ".hidden")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(rule), "{err}");
}

/// The report's views: `--only refused` keeps the rows a bare provider would
/// refuse, `--sort count` orders them most first (JSON and text alike), and
/// `-q` prints the header and one summary line.
#[test]
fn report_views_filter_sort_and_quiet() {
    let (dir, _) = scratch("views");
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/demo.py");
    let report = dir.path("r.json");
    let san = San::new("views");
    let (_, doc) = run_reporting(
        &san,
        &[
            "--only",
            "refused",
            "--sort",
            "count",
            "--json",
            "-o",
            report.to_str().unwrap(),
        ],
        &["python3", demo],
        &report,
    );
    let rows = doc["rows"].as_array().unwrap();
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r["provider"] != "ok"),
        "{doc:#}"
    );
    let counts: Vec<u64> = rows.iter().map(|r| r["count"].as_u64().unwrap()).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    let out = wsd_run(&san, &["-q"], &["python3", demo]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let report: Vec<&str> = err
        .lines()
        .skip_while(|l| !l.starts_with("wsd report for"))
        .collect();
    assert_eq!(report.len(), 2, "{err}");
    assert!(report[1].contains("a bare SAN provider would refuse"), "{err}");
}

/// A shared segment's report tells its processes apart: each row names the
/// process (pid) and, on a SAN socket, which end it is; client and server, both
/// python3, are two sets of rows.
#[test]
fn a_shared_segment_report_has_a_row_per_process_and_end() {
    let san = San::new("per-process");
    let script = r#"
import os, socket, sys
l = socket.create_server(("127.0.0.1", 0))
if os.fork() == 0:
    c = socket.create_connection(l.getsockname())
    c.setsockopt(socket.SOL_SOCKET, 0x2002, 1)
    c.recv(1)
    os._exit(0)
s, _ = l.accept()
s.setsockopt(socket.SOL_SOCKET, 0x2002, 2)
s.send(b"x")
os.wait()
print(os.getpid())
"#;
    let out = wsd_run(&san, &[], &["python3", "-c", script]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let server: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let doc = report_json(tool().args(["report", "--json", "--san", &san.name]));
    let prio: Vec<(u64, String)> = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["option_name"] == "SO_GROUP_PRIORITY")
        .map(|r| {
            (
                r["pid"].as_u64().unwrap(),
                r["end"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    assert_eq!(prio.len(), 2, "{doc:#}");
    assert!(prio.contains(&(server, "accepted".to_string())), "{prio:?}");
    assert!(
        prio.iter().any(|(pid, end)| *pid != server && end == "connector"),
        "{prio:?}"
    );
    let text = tool().args(["report", "--san", &san.name]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("san (accepted)") && text.contains("san (connector)"),
        "{text}"
    );
}

/// A run's own segment stays after the run, so that its report can be read again
/// with the name the run printed; a later run removes the segments of runs that
/// ended a minute ago or more (and leaves those of runs still going).
#[test]
fn a_runs_own_segment_is_read_again_with_the_name_it_printed() {
    let printed = |out: &Output| -> String {
        let err = String::from_utf8_lossy(&out.stderr);
        err.split("`wsd report --san ")
            .nth(1)
            .and_then(|rest| rest.split('`').next())
            .unwrap_or_else(|| panic!("the name in {err}"))
            .to_string()
    };
    let out = run_lib(&["python3", "-c", support::ONE_CONNECTION])
        .env("WSD_LOG_FILE", "/dev/null")
        .output()
        .unwrap();
    let first = San { name: printed(&out) };
    let doc = report_json(tool().args(["report", "--json", "--san", &first.name]));
    assert_eq!(doc["summary"]["san_connections"], 1, "{doc:#}");

    // An old run's segment (its tool gone, untouched for a minute) goes at the
    // next run; one of a run still going (this test's pid) stays.
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let old = San {
        name: format!("run-{dead_pid}"),
    };
    let live = San {
        name: format!("run-{}", std::process::id()),
    };
    for s in [&old, &live] {
        wsd::san::Segment::create(&s.name, 16).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(s.path())
            .unwrap()
            .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(120))
            .unwrap();
    }
    let out = run_lib(&["true"]).output().unwrap();
    assert!(out.status.success());
    let _second = San { name: printed(&out) };
    assert!(!old.path().exists(), "the old run's segment was removed");
    assert!(live.path().exists(), "a running run's segment stays");
}
