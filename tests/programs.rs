//! Portability studies of real programs under `wsd run` (the report, SPEC §6.3):
//! python3 (scripts/demo.py), curl against `python3 -m http.server`, and
//! redis-server with redis-cli, each in the three modes. Each test checks the
//! report's rows against what the program is known to set (learned once with
//! strace), and that the programs still work in `switch` and `observe` mode.

mod support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use support::{San, library, tool};

const MODES: [&str; 3] = ["switch", "provider", "observe"];

/// `scripts/demo.py`: a loopback client and server that set a mix of socket options.
const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/demo.py");

/// `wsd run --json --report FILE` with the given flags; the program's output and
/// the report.
struct Run {
    report: std::path::PathBuf,
}

impl Run {
    fn new(tag: &str) -> Run {
        let report = std::env::temp_dir().join(format!("wsd-report-{}-{tag}.json", std::process::id()));
        Run { report }
    }

    fn command(&self, flags: &[&str], cmd: &[&str]) -> Command {
        let mut c = tool();
        c.arg("run")
            .arg("--lib")
            .arg(library())
            .args(["--json", "--report"])
            .arg(&self.report);
        c.args(flags).arg("--").args(cmd).env("WSD_LOG_FILE", "/dev/null");
        c
    }

    fn report(&self) -> Value {
        let doc = serde_json::from_slice(&std::fs::read(&self.report).expect("report written")).unwrap();
        let _ = std::fs::remove_file(&self.report);
        doc
    }
}

/// A row as (program, call, socket, level/option, answered by, verdict, bare provider).
type Row = (String, String, String, String, String, String, String);

fn rows(doc: &Value, program: &str) -> BTreeSet<Row> {
    let s = |r: &Value, k: &str| r[k].as_str().unwrap_or("").to_string();
    doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["program"] == program)
        .map(|r| {
            (
                s(r, "program"),
                s(r, "call"),
                s(r, "socket"),
                format!("{}/{}", s(r, "level_name"), s(r, "option_name")),
                s(r, "answered_by"),
                s(r, "verdict"),
                s(r, "provider"),
            )
        })
        .collect()
}

fn row(p: &str, call: &str, socket: &str, opt: &str, by: &str, verdict: &str, provider: &str) -> Row {
    (
        p.into(),
        call.into(),
        socket.into(),
        opt.into(),
        by.into(),
        verdict.into(),
        provider.into(),
    )
}

fn count(doc: &Value, program: &str, option: &str) -> u64 {
    doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["program"] == program && r["option_name"] == option)
        .map(|r| r["count"].as_u64().unwrap())
        .sum()
}

fn check(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn python_demo_in_each_mode() {
    for mode in MODES {
        let san = San::new(&format!("py-{mode}"));
        let run = Run::new(&format!("py-{mode}"));
        let out = check(
            &run.command(&["--mode", mode, "--san", &san.name], &["python3", DEMO])
                .output()
                .unwrap(),
        );
        assert!(out.contains("echo: HELLO OVER THE SAN"), "{mode}: {out}");
        let doc = run.report();
        assert_eq!(doc["mode"], mode);
        assert_eq!(doc["summary"]["san_connections"], 1, "{mode}");
        assert_eq!(doc["summary"]["san_accepts"], 1, "{mode}");
        let p = |call, socket, opt, by, verdict, prov| row("python3", call, socket, opt, by, verdict, prov);
        let set = "setsockopt";
        let get = "getsockopt";
        let (prio, debug_w, debug) = (
            "SOL_SOCKET/SO_GROUP_PRIORITY",
            "SOL_SOCKET(0xffff)/SO_DEBUG",
            "SOL_SOCKET/SO_DEBUG",
        );
        let nodelay = "IPPROTO_TCP/TCP_NODELAY";
        let keepalive = "SOL_SOCKET/SO_KEEPALIVE";
        let odd = "0x1234/0x1";
        let want: BTreeSet<Row> = match mode {
            "switch" => [
                p(set, "candidate", prio, "switch", "ok", "ok"),
                p(get, "san", prio, "provider", "ok", "ok"),
                p(set, "san", debug_w, "provider", "ok", "ok"),
                p(get, "san", debug, "provider", "ok", "ok"),
                p(set, "san", nodelay, "kernel", "ok", "WSAENOPROTOOPT"),
                p(set, "san", keepalive, "kernel", "ok", "WSAENOPROTOOPT"),
                p(set, "san", prio, "provider", "WSAEINVAL", "WSAEINVAL"),
                p(set, "san", odd, "kernel", "WSAENOPROTOOPT", "WSAEINVAL"),
            ]
            .into(),
            "provider" => [
                p(set, "candidate", prio, "switch", "ok", "ok"),
                p(get, "san", prio, "provider", "ok", "ok"),
                p(set, "san", debug_w, "provider", "ok", "ok"),
                p(get, "san", debug, "provider", "ok", "ok"),
                p(
                    set,
                    "san",
                    nodelay,
                    "provider",
                    "WSAENOPROTOOPT",
                    "WSAENOPROTOOPT",
                ),
                p(
                    set,
                    "san",
                    keepalive,
                    "provider",
                    "WSAENOPROTOOPT",
                    "WSAENOPROTOOPT",
                ),
                p(set, "san", prio, "provider", "WSAEINVAL", "WSAEINVAL"),
                p(set, "san", odd, "provider", "WSAEINVAL", "WSAEINVAL"),
            ]
            .into(),
            _ => [
                p(set, "candidate", prio, "kernel", "WSAENOPROTOOPT", "ok"),
                p(get, "san", prio, "kernel", "WSAENOPROTOOPT", "ok"),
                p(set, "san", debug_w, "kernel", "WSAENOPROTOOPT", "ok"),
                p(get, "san", debug, "kernel", "ok", "ok"),
                p(set, "san", nodelay, "kernel", "ok", "WSAENOPROTOOPT"),
                p(set, "san", keepalive, "kernel", "ok", "WSAENOPROTOOPT"),
                p(set, "san", prio, "kernel", "WSAENOPROTOOPT", "WSAEINVAL"),
                p(set, "san", odd, "kernel", "WSAENOPROTOOPT", "WSAEINVAL"),
            ]
            .into(),
        };
        assert_eq!(rows(&doc, "python3"), want, "{mode}");
        assert_eq!(
            count(&doc, "python3", "SO_DEBUG"),
            3,
            "{mode}: two sets grouped in one row, one get"
        );
        assert_eq!(doc["summary"]["provider_would_refuse"], 4, "{mode}");
    }
}

/// A program started under `wsd run`, stopped on drop: SIGTERM to the tool, which
/// passes it on to the program and still writes the report.
struct Background(Child);

impl Background {
    /// Starts `cmd`, its standard output piped, and reads that until a line
    /// contains `ready`: the program, and that line.
    fn start(cmd: &mut Command, ready: &str) -> (Background, String) {
        let mut program = Background(cmd.stdout(Stdio::piped()).spawn().unwrap());
        let line = read_until(&mut program.0, ready);
        (program, line)
    }

    fn stop(&mut self) -> std::process::ExitStatus {
        // SAFETY: sending a signal has no memory effects.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        self.0.wait().unwrap()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}

/// Reads lines of `child`'s standard output until one contains `needle`.
fn read_until(child: &mut Child, needle: &str) -> String {
    let mut out = BufReader::new(child.stdout.as_mut().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "output ended before {needle:?}"
        );
        if line.contains(needle) {
            return line;
        }
    }
}

#[test]
fn curl_against_python_http_server_in_each_mode() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/include");
    for mode in MODES {
        let san = San::new(&format!("curl-{mode}"));
        let flags = ["--mode", mode, "--san", &san.name];
        let server_run = Run::new(&format!("http-{mode}"));
        let http_server = ["python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"];
        let (server, line) = Background::start(
            server_run
                .command(&flags, &[&http_server[..], &["--directory", dir]].concat())
                .stderr(Stdio::null()),
            "Serving HTTP",
        );
        let port = line
            .split(" port ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap();
        let url = format!("http://127.0.0.1:{port}/wsd.h");
        let run = Run::new(&format!("curl-{mode}"));
        let out = check(
            &run.command(&flags, &["curl", "-sS", "--max-time", "30", &url])
                .output()
                .unwrap(),
        );
        assert!(out.contains("WSPSetSockOpt"), "{mode}: curl works");
        let doc = run.report();
        // curl sets keep-alive and no-delay before it connects, then reads SO_ERROR.
        let c = |call, socket, opt, prov| row("curl", call, socket, opt, "kernel", "ok", prov);
        let want: BTreeSet<Row> = [
            c(
                "setsockopt",
                "candidate",
                "SOL_SOCKET/SO_KEEPALIVE",
                "WSAENOPROTOOPT",
            ),
            c(
                "setsockopt",
                "candidate",
                "IPPROTO_TCP/TCP_NODELAY",
                "WSAENOPROTOOPT",
            ),
            c("setsockopt", "candidate", "IPPROTO_TCP/TCP_KEEPIDLE", "WSAEINVAL"),
            c(
                "setsockopt",
                "candidate",
                "IPPROTO_TCP/TCP_KEEPINTVL",
                "WSAEINVAL",
            ),
            c("getsockopt", "san", "SOL_SOCKET/SO_ERROR", "WSAENOPROTOOPT"),
        ]
        .into();
        assert_eq!(rows(&doc, "curl"), want, "{mode}");
        assert_eq!(doc["summary"]["san_connections"], 1, "{mode}");
        // The server's accept of curl's connection is a SAN socket too (shared segment).
        assert_eq!(doc["summary"]["san_accepts"], 1, "{mode}");
        drop(server);
        // http.server's listener sets SO_REUSEADDR before it listens, and (its
        // dual-stack server class) tries IPV6_V6ONLY, which an IPv4 socket refuses.
        let server_doc = server_run.report();
        let py = |opt, verdict, prov| row("python3", "setsockopt", "candidate", opt, "kernel", verdict, prov);
        assert_eq!(
            rows(&server_doc, "python3"),
            [
                py("SOL_SOCKET/SO_REUSEADDR", "ok", "WSAENOPROTOOPT"),
                py("IPPROTO_IPV6/IPV6_V6ONLY", "WSAENOPROTOOPT", "WSAEINVAL"),
            ]
            .into(),
            "{mode}"
        );
    }
}

#[test]
fn redis_server_and_cli_in_each_mode() {
    if Command::new("redis-server").arg("--version").output().is_err() {
        panic!(
            "redis-server is missing: scripts/test installs it (apt-get install redis-server redis-tools)"
        );
    }
    for mode in MODES {
        let san = San::new(&format!("redis-{mode}"));
        let flags = ["--mode", mode, "--san", &san.name];
        let port = support::free_port().to_string();
        let server_run = Run::new(&format!("redis-server-{mode}"));
        let redis_server = [&["redis-server"][..], &support::redis_server_args(&port)].concat();
        let (mut server, _) = Background::start(
            &mut server_run.command(&flags, &redis_server),
            "Ready to accept connections",
        );
        let cli = |args: &[&str], tag: &str| {
            let run = Run::new(&format!("redis-cli-{mode}-{tag}"));
            let mut cmd = vec!["redis-cli", "-p", &port];
            cmd.extend_from_slice(args);
            let out = run.command(&flags, &cmd).output().unwrap();
            (out, run.report())
        };
        let (set, set_doc) = cli(&["set", "k", "v"], "set");
        let cli_rows = rows(&set_doc, "redis-cli");
        if mode == "provider" {
            // hiredis gives up when TCP_NODELAY is refused: what a bare SAN provider means for it.
            assert!(
                String::from_utf8_lossy(&set.stderr).contains("TCP_NODELAY"),
                "{set:?}"
            );
            assert!(cli_rows.contains(&row(
                "redis-cli",
                "setsockopt",
                "san",
                "IPPROTO_TCP/TCP_NODELAY",
                "provider",
                "WSAENOPROTOOPT",
                "WSAENOPROTOOPT"
            )));
            server.stop();
        } else {
            assert_eq!(check(&set).trim(), "OK", "{mode}");
            let (get, _) = cli(&["get", "k"], "get");
            assert_eq!(check(&get).trim(), "v", "{mode}");
            let r = |opt, prov| row("redis-cli", "setsockopt", "san", opt, "kernel", "ok", prov);
            let want: BTreeSet<Row> = [
                r("IPPROTO_TCP/TCP_NODELAY", "WSAENOPROTOOPT"),
                r("SOL_SOCKET/SO_KEEPALIVE", "WSAENOPROTOOPT"),
                r("IPPROTO_TCP/TCP_KEEPIDLE", "WSAEINVAL"),
                r("IPPROTO_TCP/TCP_KEEPINTVL", "WSAEINVAL"),
                r("IPPROTO_TCP/TCP_KEEPCNT", "WSAEINVAL"),
            ]
            .into();
            assert_eq!(cli_rows, want, "{mode}");
            let _ = cli(&["shutdown", "nosave"], "shutdown");
        }
        let status = server.0.wait().unwrap();
        assert!(
            status.code().is_some(),
            "{mode}: wsd run exits with redis-server's status"
        );
        let doc = server_run.report();
        let server_rows = rows(&doc, "redis-server");
        let reuse = row(
            "redis-server",
            "setsockopt",
            "candidate",
            "SOL_SOCKET/SO_REUSEADDR",
            "kernel",
            "ok",
            "WSAENOPROTOOPT",
        );
        assert!(server_rows.contains(&reuse), "{mode}: {server_rows:?}");
        if mode != "provider" {
            // Each accepted client gets no-delay and keep-alive, as anetKeepAlive sets them.
            for opt in [
                "TCP_NODELAY",
                "SO_KEEPALIVE",
                "TCP_KEEPIDLE",
                "TCP_KEEPINTVL",
                "TCP_KEEPCNT",
            ] {
                assert_eq!(
                    count(&doc, "redis-server", opt),
                    3,
                    "{mode}: {opt} once per client"
                );
            }
        }
    }
}

#[test]
fn rules_decide_and_a_syntax_error_runs_without_the_san() {
    let dir = std::env::temp_dir();
    let log = dir.join(format!("wsd-rules-{}.log", std::process::id()));
    // python3 clients stay plain TCP; everything else falls back to the subnets.
    let rules = dir.join(format!("wsd-rules-{}.conf", std::process::id()));
    std::fs::write(
        &rules,
        "# clients of python3 never use the SAN\nuse tcp client python3 *:*\nlog debug\n",
    )
    .unwrap();
    // `wsd run` of demo.py with the rules, logging to the log.
    let with_rules = |run: &Run, san: &San| {
        run.command(
            &["--san", &san.name, "--rules", rules.to_str().unwrap()],
            &["python3", DEMO],
        )
        .env("WSD_LOG_FILE", &log)
        .output()
        .unwrap()
    };
    let run = Run::new("rules");
    check(&with_rules(&run, &San::new("rules")));
    let doc = run.report();
    assert_eq!(
        doc["summary"]["san_connections"], 0,
        "the client stayed plain TCP"
    );
    // No rule covers servers: the listener and the socket it accepts follow the subnets.
    assert_eq!(doc["summary"]["san_accepts"], 1);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("plain TCP: a `use tcp` rule (line 2) matched"),
        "{logged}"
    );
    assert!(
        logged.contains("SAN: no rule matched; the address is in the SAN subnet table"),
        "{logged}"
    );
    assert!(!logged.contains("not in the SAN subnet table"), "{logged}");

    // A syntax error: `wsd run` refuses it before the program runs (issue 14)...
    std::fs::write(&rules, "use san client python3 127.0.0.1:80-70\n").unwrap();
    let san = San::new("rules-bad");
    let out = with_rules(&Run::new("rules-bad"), &san);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("HELLO"),
        "the program ran"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(":1:24: expected ADDR[/PREFIX]:PORT[-PORT], with * for any address or port"),
        "{err}"
    );
    // ...and a program started under the library with it runs without the SAN,
    // saying why.
    let out = support::preloaded("python3", &san)
        .arg(DEMO)
        .env("WSD_CONFIG", &rules)
        .env("WSD_LOG_FILE", &log)
        .output()
        .unwrap();
    assert!(check(&out).contains("echo: HELLO OVER THE SAN"));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("the program runs without the SAN"), "{logged}");
    let _ = std::fs::remove_file(&rules);
    let _ = std::fs::remove_file(&log);
}
