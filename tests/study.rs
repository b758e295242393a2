//! `wsd study` (issue 16): redis-server with redis-cli, and python3's http.server
//! with curl, each studied in switch and provider mode; the study's JSON, its
//! Markdown, and its HTML page as a real browser (headless chromium) makes it;
//! commands without a server, a server that never listens, a client that never
//! ends; and the command line's refusals.
//!
//! Every study here picks its own free ports, runs on fresh segments it removes,
//! and is bounded: by its own --timeout/--ready-timeout and by a guard that kills
//! it.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use support::process::{Proc, drain};
use support::{library, tool};

const REDIS_SERVER: &str = "redis-server --port {port} --bind 127.0.0.1 --save \"\" --appendonly no";

/// `wsd study ARGS` with the library under test, none of the caller's `WSD_*`
/// settings, bounded by a guard; its status, output and error.
fn study(args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let mut cmd = tool();
    support::clear_wsd_env(&mut cmd);
    cmd.arg("study")
        .arg("--lib")
        .arg(library())
        .args(args)
        .stdin(Stdio::null());
    let (status, hung, out, err) = support::process::run_guarded(cmd, Duration::from_secs(180));
    assert!(!hung, "wsd study {args:?} outlived its guard\n{out}\n{err}");
    (status, out, err)
}

/// A file in the temporary directory unique to this test binary.
fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("wsd-study-test-{}-{name}", std::process::id()))
}

/// The segments and the report directory of the study that wrote `doc` are gone.
fn cleaned_up(doc: &Value) {
    let mut pid = None;
    for mode in ["switch", "provider"] {
        let san = doc["modes"][mode]["san"].as_str().expect("the mode's segment");
        assert!(san.starts_with("study-") && san.ends_with(mode), "{san}");
        assert!(!support::San::path_of(san).exists(), "segment {san} left behind");
        pid = san.split('-').nth(1).map(str::to_string);
    }
    let prefix = format!("wsd-study-{}-", pid.unwrap());
    for entry in std::fs::read_dir(std::env::temp_dir()).unwrap().flatten() {
        let name = entry.file_name();
        assert!(
            !name.to_string_lossy().starts_with(&prefix),
            "report directory {name:?} left behind"
        );
    }
}

fn program<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["programs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {doc:#}"))
}

fn option<'a>(program: &'a Value, call: &str, name: &str) -> &'a Value {
    program["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["call"] == call && o["name"] == name)
        .unwrap_or_else(|| panic!("{call} {name} in {program:#}"))
}

fn command<'a>(doc: &'a Value, text: &str) -> &'a Value {
    doc["commands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["command"] == text)
        .unwrap_or_else(|| panic!("{text} in {doc:#}"))
}

/// The redis study, made once for every test here: its JSON, its Markdown, its
/// HTML page's path, and how long it took.
struct Redis {
    doc: Value,
    markdown: String,
    html: PathBuf,
    seconds: f64,
}

fn redis() -> &'static Redis {
    static STUDY: OnceLock<Redis> = OnceLock::new();
    STUDY.get_or_init(|| {
        assert!(
            Command::new("redis-server").arg("--version").output().is_ok(),
            "redis-server is missing: scripts/test installs it (apt-get install redis-server redis-tools)"
        );
        let (json, md, html) = (temp("redis.json"), temp("redis.md"), temp("redis.html"));
        let [j, m, h] = [&json, &md, &html].map(|p| p.to_str().unwrap().to_string());
        let start = Instant::now();
        let (status, out, err) = study(&[
            "-o",
            &j,
            "-o",
            &m,
            "-o",
            &h,
            "--server",
            REDIS_SERVER,
            "redis-cli -p {port} ping",
            "redis-cli -p {port} set k v",
        ]);
        let seconds = start.elapsed().as_secs_f64();
        assert!(status.success(), "{status:?}\n{out}\n{err}");
        assert!(out.is_empty(), "with -o, nothing on standard output: {out}");
        let doc: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        let markdown = std::fs::read_to_string(&md).unwrap();
        let _ = std::fs::remove_file(&json);
        let _ = std::fs::remove_file(&md);
        eprintln!("the redis study took {seconds:.2} s; its Markdown:\n{markdown}");
        Redis {
            doc,
            markdown,
            html,
            seconds,
        }
    })
}

#[test]
fn redis_study_finds_that_redis_cli_gives_up_in_provider_mode() {
    let r = redis();
    let doc = &r.doc;
    assert!(r.seconds < 60.0, "a redis study took {} s", r.seconds);
    cleaned_up(doc);
    for mode in ["switch", "provider"] {
        let m = &doc["modes"][mode];
        assert!(
            m["summary"]["san_connections"].as_u64().unwrap() > 0,
            "{mode}: {m:#}"
        );
        assert!(
            m["report_from"].as_str().unwrap().contains("redis-server"),
            "{m:#}"
        );
        assert_ne!(m["port"], 0);
    }
    assert_eq!(doc["server"], REDIS_SERVER);

    // Both programs, each with its options and verdicts in both modes.
    let cli = program(doc, "redis-cli");
    let server = program(doc, "redis-server");
    assert_eq!(cli["processes"]["switch"], 2, "two redis-cli commands: {cli:#}");
    let nodelay = option(cli, "setsockopt", "IPPROTO_TCP/TCP_NODELAY");
    assert_eq!(nodelay["socket"], "san");
    assert_eq!(nodelay["level_name"], "IPPROTO_TCP");
    assert_eq!(nodelay["option_name"], "TCP_NODELAY");
    assert_eq!(nodelay["switch"]["verdict"], "ok", "{nodelay:#}");
    assert_eq!(nodelay["switch"]["answered_by"], "kernel");
    assert_eq!(nodelay["provider"]["verdict"], "WSAENOPROTOOPT", "{nodelay:#}");
    assert_eq!(nodelay["provider"]["answered_by"], "provider");
    assert_eq!(nodelay["provider"]["errno"], "ENOPROTOOPT");
    assert_eq!(nodelay["bare_provider"], "WSAENOPROTOOPT");
    assert_eq!(nodelay["changed"], true);
    assert!(nodelay["sites"].is_array());
    // redis-cli gives up at TCP_NODELAY: its keep-alive is never set in provider mode.
    let keepalive = option(cli, "setsockopt", "SOL_SOCKET/SO_KEEPALIVE");
    assert_eq!(keepalive["switch"]["verdict"], "ok");
    assert!(keepalive["provider"].is_null(), "{keepalive:#}");
    // The server's options on accepted connections are refused too, and it goes on.
    let server_nodelay = option(server, "setsockopt", "IPPROTO_TCP/TCP_NODELAY");
    assert_eq!(server_nodelay["provider"]["verdict"], "WSAENOPROTOOPT");
    let reuse = option(server, "setsockopt", "SOL_SOCKET/SO_REUSEADDR");
    assert_eq!(reuse["socket"], "candidate");
    assert_eq!(reuse["provider"]["verdict"], "ok");
    assert!(server["refused"]["provider"].as_u64().unwrap() > 0);
    assert_eq!(server["refused"]["switch"], 0);

    // What changed: redis-cli's exit status, and its own line saying why.
    for text in ["redis-cli -p {port} ping", "redis-cli -p {port} set k v"] {
        let c = command(doc, text);
        assert_eq!(c["role"], "client");
        assert_eq!(c["program"], "redis-cli");
        assert_eq!(c["switch"]["status"], 0, "{c:#}");
        assert_ne!(c["provider"]["status"], 0, "{c:#}");
        assert!(c["provider"]["status"].is_i64(), "{c:#}");
        assert_eq!(c["status_changed"], true);
        let lines: Vec<&str> = c["error_lines_provider"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert!(
            lines.iter().any(|l| l.contains("setsockopt")
                && l.contains("TCP_NODELAY")
                && l.contains("Protocol not available")
                && l.contains("127.0.0.1:{port}")),
            "{c:#}"
        );
        assert!(c["switch"]["error_lines"].as_array().unwrap().is_empty(), "{c:#}");
    }
    let s = command(doc, REDIS_SERVER);
    assert_eq!(s["role"], "server");
    assert_eq!(s["switch"]["stopped"], true);
    assert_eq!(s["switch"]["killed"], false, "redis-server ends on SIGTERM");
    assert_eq!(s["switch"]["status"], 0, "{s:#}");
    assert_eq!(s["status_changed"], false, "{s:#}");

    let t = &doc["totals"];
    assert_eq!(t["programs"], 2);
    assert_eq!(t["commands"], 3);
    assert_eq!(t["commands_changed"], 2);
    let options: usize = doc["programs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["options"].as_array().unwrap().len())
        .sum();
    assert_eq!(t["options"], options);
    assert!(t["options_refused_provider"].as_u64().unwrap() >= 3, "{t}");
    let refused: u64 = doc["programs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["refused"]["provider"].as_u64().unwrap())
        .sum();
    assert_eq!(t["calls_refused_provider"], refused);

    // The Markdown: a table per program and one of the commands.
    let md = &r.markdown;
    assert!(md.starts_with("# wsd study\n"), "{md}");
    for want in [
        "## redis-cli\n",
        "## redis-server\n",
        "| call | socket | level/option | count | switch | provider | bare provider | sites |",
        "| setsockopt | san | `IPPROTO_TCP/TCP_NODELAY` |",
        "WSAENOPROTOOPT by provider",
        "## Commands\n",
        "| client | `redis-cli -p {port} ping` | 0 | 1 | yes | `Could not connect to Redis at 127.0.0.1:{port}: setsockopt(TCP_NODELAY): Protocol not available` |",
    ] {
        assert!(md.contains(want), "{want:?} in\n{md}");
    }
}

/// Enforced once report rows carry call sites (`sites`, issue 16): redis-cli's
/// refused TCP_NODELAY names where redis-cli called setsockopt.
#[test]
fn redis_cli_tcp_nodelay_names_its_call_sites() {
    let doc = &redis().doc;
    let nodelay = option(program(doc, "redis-cli"), "setsockopt", "IPPROTO_TCP/TCP_NODELAY");
    if doc["modes"]["provider"]["sites"] != true {
        eprintln!("report rows carry no `sites` yet: the call-site check waits for them");
        assert_eq!(nodelay["sites"], serde_json::json!([]));
        return;
    }
    let sites = nodelay["sites"].as_array().unwrap();
    assert!(
        !sites.is_empty(),
        "no call site for redis-cli's TCP_NODELAY: {nodelay:#}"
    );
    for site in sites {
        assert!(site["at"].as_str().is_some_and(|at| !at.is_empty()), "{site:#}");
    }
    assert!(
        !nodelay["advice"].is_null(),
        "a refused option has advice: {nodelay:#}"
    );
}

#[test]
fn http_server_and_curl_are_both_studied() {
    let server = "python3 -m http.server --bind 127.0.0.1 {port}";
    let client = "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:{port}/";
    let (status, out, err) = study(&["--format", "json", "--server", server, client]);
    assert!(status.success(), "{status:?}\n{out}\n{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    cleaned_up(&doc);
    let names: Vec<&str> = doc["programs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"curl"), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("python3")), "{names:?}");
    let curl = program(&doc, "curl");
    let nodelay = option(curl, "setsockopt", "IPPROTO_TCP/TCP_NODELAY");
    assert!(
        !nodelay["switch"].is_null() && !nodelay["provider"].is_null(),
        "{nodelay:#}"
    );
    let c = command(&doc, client);
    assert_eq!(c["switch"]["status"], 0, "{c:#}");
    assert_eq!(c["provider"]["status"], 0, "curl does not give up: {c:#}");
    let s = command(&doc, server);
    assert_eq!(s["switch"]["stopped"], true);
    assert_eq!(s["switch"]["status"], s["provider"]["status"], "{s:#}");
    assert_eq!(doc["totals"]["programs"], names.len());
}

#[test]
fn commands_without_a_server_and_ones_that_never_end() {
    // A test suite's commands: run in order, their statuses kept.
    let (status, out, err) = study(&["--format", "json", "sh -c 'exit 3'", "true"]);
    assert!(status.success(), "{status:?}\n{out}\n{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    cleaned_up(&doc);
    let c = command(&doc, "sh -c 'exit 3'");
    assert_eq!(c["role"], "command");
    assert_eq!(c["switch"]["status"], 3);
    assert_eq!(c["provider"]["status"], 3);
    assert_eq!(c["status_changed"], false);
    assert_eq!(command(&doc, "true")["provider"]["status"], 0);
    assert_eq!(doc["totals"]["programs"], 0, "no socket options: {doc:#}");
    assert!(doc["server"].is_null());

    // A server that never listens is stopped and its clients are not run; a
    // client that never ends is stopped at --timeout. Neither holds the study up.
    let start = Instant::now();
    let (status, out, err) = study(&[
        "--format",
        "json",
        "--ready-timeout",
        "0.5",
        "--grace",
        "2",
        "--server",
        "sleep 60",
        "true",
    ]);
    assert!(status.success(), "{status:?}\n{out}\n{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let s = command(&doc, "sleep 60");
    assert!(
        s["switch"]["note"].as_str().unwrap().contains("did not listen"),
        "{s:#}"
    );
    assert_eq!(s["switch"]["stopped"], true);
    let t = command(&doc, "true");
    assert!(t["switch"]["status"].is_null(), "{t:#}");
    assert!(t["switch"]["note"].as_str().unwrap().contains("not run"), "{t:#}");
    let (status, out, err) = study(&["--format", "json", "--timeout", "0.5", "sleep 60"]);
    assert!(status.success(), "{status:?}\n{out}\n{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let c = command(&doc, "sleep 60");
    for mode in ["switch", "provider"] {
        assert_eq!(c[mode]["timed_out"], true, "{c:#}");
        assert_eq!(
            c[mode]["status"],
            128 + 15,
            "sleep ends on the SIGTERM passed on: {c:#}"
        );
    }
    assert!(start.elapsed() < Duration::from_secs(30), "{:?}", start.elapsed());

    // Text by default, on standard output.
    let (status, out, _) = study(&["true"]);
    assert!(status.success());
    assert!(out.starts_with("wsd study, modes switch and provider\n"), "{out}");
    assert!(out.contains("0 programs"), "{out}");
}

#[test]
fn the_command_line_is_checked_before_anything_runs() {
    let refused = |args: &[&str], says: &str| {
        let (status, out, err) = study(args);
        assert_eq!(status.code(), Some(2), "{args:?}: {out}\n{err}");
        assert!(err.contains(says), "{args:?}: {says:?} in {err}");
    };
    refused(&[], "CMD");
    refused(&["echo 'open"], "single quote is not closed");
    refused(&["--", "-p"], "each command is ONE argument");
    refused(&["--server", "   ", "true"], "an empty command");
    refused(&["--timeout", "0", "true"], "expected a number of seconds");
    refused(&["--format", "pdf", "true"], "pdf");
    refused(&["--subnet", "nonsense", "true"], "--subnet nonsense");
    refused(
        &["-o", "/nonexistent/dir/study.html", "true"],
        "-o /nonexistent/dir/study.html",
    );
    let mut cmd = tool();
    let out = cmd
        .args(["study", "--lib", "/nonexistent/libwsd.so", "true"])
        .env_remove("WSD_LIB")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/libwsd.so"));
    let help = tool().args(["study", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for want in [
        "--server",
        "{port}",
        "--ready-timeout",
        "--timeout",
        "--format",
        "Exit status",
    ] {
        assert!(help.contains(want), "{want} in {help}");
    }
}

/// Chromium, if it runs here: its command name.
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|name| {
        Command::new(name)
            .args(["--headless", "--no-sandbox", "--version"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// `chromium --headless` with `args` and a profile of its own, bounded.
fn headless(browser: &str, profile: &Path, args: &[String]) -> (std::process::ExitStatus, String, String) {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args)
    .stdin(Stdio::null());
    let (status, hung, out, err) = support::process::run_guarded(cmd, Duration::from_secs(120));
    assert!(!hung, "chromium {args:?} hung\n{err}");
    (status, out, err)
}

/// The size of a PNG file, from its IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn the_html_page_as_chromium_makes_it() {
    let Some(browser) = chromium() else {
        eprintln!(
            "\n\n************************************************************************\n\
             SKIPPED the_html_page_as_chromium_makes_it: chromium cannot run here.\n\
             scripts/test installs it (apt-get install chromium).\n\
             ************************************************************************\n"
        );
        return;
    };
    let r = redis();
    let page = std::fs::read_to_string(&r.html).unwrap();
    // Self-contained: nothing to fetch.
    for external in ["<link", "<script", " src=", "@import", "url(http"] {
        assert!(!page.contains(external), "{external} in the page");
    }
    let profile = temp("chromium-profile");
    let url = format!("file://{}", r.html.display());
    let (status, dom, err) = headless(browser, &profile, &["--dump-dom".into(), url.clone()]);
    assert!(status.success(), "{status:?}\n{err}");

    // The chart, drawn in the DOM: one red bar per program whose setsockopt
    // calls were refused in provider mode (plus the legend's red swatch), and
    // every program's name.
    let figure = dom
        .split_once("<figure id=\"refused-chart\">")
        .and_then(|(_, rest)| rest.split_once("</figure>"))
        .map(|(figure, _)| figure)
        .unwrap_or_else(|| panic!("no figure#refused-chart in the DOM:\n{dom}"));
    assert!(figure.trim_start().starts_with("<svg"), "{figure}");
    assert!(figure.contains("</svg>"));
    let red = figure
        .split("<rect")
        .skip(1)
        .filter(|rect| {
            let attrs = rect.split_once('>').map_or("", |(a, _)| a);
            attrs.to_ascii_uppercase().contains("FILL=\"#C0392B\"")
        })
        .count();
    let programs = r.doc["programs"].as_array().unwrap();
    let with_refusals = programs
        .iter()
        .filter(|p| {
            p["options"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o["call"] == "setsockopt" && o["provider"]["refused"].as_u64().unwrap_or(0) > 0)
        })
        .count();
    assert_eq!(with_refusals, 2, "redis-cli and redis-server");
    assert_eq!(red, with_refusals + 1, "{figure}");
    let texts: Vec<&str> = figure
        .split("<text")
        .skip(1)
        .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim()))
        .collect();
    for p in programs {
        let name = p["name"].as_str().unwrap();
        assert!(texts.contains(&name), "{name} in {texts:?}");
        assert!(
            dom.contains(&format!("data-program=\"{name}\"")),
            "section for {name}"
        );
    }
    assert!(dom.contains("<table id=\"totals\">"));
    assert!(dom.contains("<section id=\"commands\">"));
    assert!(dom.contains("<tr class=\"refused\""));
    assert!(dom.contains("Protocol not available"));

    // And drawn: a screenshot of the page holds far more than one of an empty page.
    let shot = |url: &str, name: &str| {
        let png = temp(name);
        let (status, _, err) = headless(
            browser,
            &profile,
            &[
                "--window-size=1200,1600".into(),
                "--hide-scrollbars".into(),
                format!("--screenshot={}", png.display()),
                url.to_string(),
            ],
        );
        assert!(status.success(), "{status:?}\n{err}");
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}\n{err}", png.display()));
        let _ = std::fs::remove_file(&png);
        bytes
    };
    let empty = temp("empty.html");
    std::fs::write(&empty, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let blank = shot(&format!("file://{}", empty.display()), "empty.png");
    let png = shot(&url, "study.png");
    assert_eq!(png_size(&png), (1200, 1600));
    assert!(
        png.len() > 5 * blank.len() && png.len() > 50_000,
        "the page's screenshot ({} bytes) is hardly more than an empty page's ({} bytes)",
        png.len(),
        blank.len()
    );
    eprintln!(
        "chromium drew the study: {red} red bars with the legend, {} bytes of PNG (an empty page: {})",
        png.len(),
        blank.len()
    );
    let _ = std::fs::remove_file(&empty);
    let _ = std::fs::remove_file(&r.html);
    let _ = std::fs::remove_dir_all(&profile);
}

#[test]
fn a_port_in_use_is_not_taken_for_the_server() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (status, out, err) = study(&[
        "--format", "json", "--port", &port, "--server", "sleep 60", "true",
    ]);
    assert!(status.success(), "{status:?}\n{out}\n{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    cleaned_up(&doc);
    for mode in ["switch", "provider"] {
        let s = &command(&doc, "sleep 60")[mode];
        assert!(s["note"].as_str().unwrap().contains("in use"), "{s:#}");
        assert!(s["status"].is_null(), "{s:#}");
        assert!(
            command(&doc, "true")[mode]["note"]
                .as_str()
                .unwrap()
                .contains("not run")
        );
    }
}

#[test]
fn a_signal_stops_the_study_and_what_it_runs() {
    // A word no other process has, to find the program by.
    let mark = format!("{}.{}", 60 + std::process::id() % 1000, std::process::id() % 997);
    let mut cmd = tool();
    cmd.arg("study")
        .arg("--lib")
        .arg(library())
        .arg(format!("sleep {mark}"))
        .env_remove("WSD_SAN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut study = Proc::spawn(cmd, "wsd study, to be stopped by SIGTERM");
    let stdout = drain(study.child.stdout.take());
    let stderr = drain(study.child.stderr.take());
    let san = support::San::path_of(&format!("study-{}-switch", study.pid()));
    let sleeping = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == format!("sleep\0{mark}\0").as_bytes())
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(san.exists() && sleeping()) {
        assert!(Instant::now() < deadline, "the study did not start its command");
        assert!(study.child.try_wait().unwrap().is_none(), "the study ended early");
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: the child is not reaped yet.
    unsafe { libc::kill(study.pid() as libc::pid_t, libc::SIGTERM) };
    let status = study.wait();
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{stderr}");
    assert!(stderr.contains("interrupted"));
    assert!(stdout.is_empty(), "no study written");
    assert!(!san.exists(), "the segment is removed");
    assert!(!sleeping(), "the command is stopped");
}
