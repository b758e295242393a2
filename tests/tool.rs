//! The `wsd` tool as users run it: the tables, `wsd run`'s exit status and its
//! refusal of bad settings, and a python3 client and server in each mode
//! (tests/programs.rs holds the portability studies of curl and redis).

mod support;

use std::process::Command;
use support::{San, tool, wsd_run};
use wsd::model::{CODES, OPTIONS};

fn json(args: &[&str]) -> serde_json::Value {
    let out = tool().args(args).output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn options_json_is_the_option_table() {
    let v = json(&["options", "--json"]);
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), OPTIONS.len());
    for (row, o) in rows.iter().zip(OPTIONS) {
        assert_eq!(row["name"], o.name);
        assert_eq!(row["winsock_optname"], o.winsock_optname);
        assert_eq!(row["settable"], o.settable);
        assert_eq!(row["size"], o.size);
    }
}

#[test]
fn errors_json_is_the_code_table() {
    let v = json(&["errors", "--json"]);
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), CODES.len());
    for (row, c) in rows.iter().zip(CODES) {
        assert_eq!(row["name"], c.name);
        assert_eq!(row["code"], c.code.code());
        assert_eq!(row["errno"], c.errno);
    }
}

#[test]
fn human_tables_name_every_row() {
    let out = tool().arg("options").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(OPTIONS.iter().all(|o| text.contains(o.name)));
    let out = tool().arg("errors").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        CODES
            .iter()
            .all(|c| text.contains(c.name) && text.contains(c.errno_name))
    );
}

#[test]
fn run_exits_with_the_programs_status() {
    let san = San::new("status");
    let st = wsd_run(&san, &[], &["sh", "-c", "exit 7"]).status().unwrap();
    assert_eq!(st.code(), Some(7));
    let st = wsd_run(&san, &[], &["sh", "-c", "kill -9 $$"]).status().unwrap();
    assert_eq!(st.code(), Some(128 + 9));
    let st = wsd_run(&san, &[], &["/nonexistent/program"]).status().unwrap();
    assert_eq!(st.code(), Some(127));
}

#[test]
fn run_refuses_bad_settings_naming_them() {
    let san = San::new("bad");
    for (args, needle) in [
        (
            &["--mode", "fast"][..],
            "--mode fast: expected switch, provider or observe",
        ),
        (&["--subnet", "10.0.0.0/99"][..], "--subnet 10.0.0.0/99"),
    ] {
        let out = wsd_run(&san, args, &["true"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle), "{args:?}");
    }
    let out = tool()
        .args(["run", "--lib", "/nonexistent.so", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--lib /nonexistent.so: No such file"));
    let out = wsd_run(&san, &[], &["true"])
        .env("WSD_GROUPS", "maybe")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WSD_GROUPS=\"maybe\": expected on or off"));
}

/// A python3 client and server on loopback, setting a mix of options and printing
/// what each call answered.
const CLIENT_SERVER: &str = r#"
import errno, socket, threading
def try_(f):
    try:
        r = f(); return "ok" if r is None else str(r)
    except OSError as e:
        return errno.errorcode[e.errno]
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
def serve():
    a, _ = srv.accept()
    a.sendall(a.recv(5).upper()); a.close()
t = threading.Thread(target=serve); t.start()
c = socket.socket()
c.connect(srv.getsockname())
out = [
    try_(lambda: c.setsockopt(socket.SOL_SOCKET, 0x2002, 3)),
    try_(lambda: c.getsockopt(socket.SOL_SOCKET, 0x2002)),
    try_(lambda: c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)),
    try_(lambda: c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)),
    try_(lambda: c.setsockopt(socket.SOL_SOCKET, 0x2002, -1)),
]
c.sendall(b"hello"); out.append(c.recv(5).decode()); t.join()
print(" ".join(out))
"#;

#[test]
fn python_client_and_server_in_each_mode() {
    for (mode, want) in [
        ("switch", "ok 3 ok ok EINVAL HELLO"),
        ("provider", "ok 3 ENOPROTOOPT ENOPROTOOPT EINVAL HELLO"),
        ("observe", "ENOPROTOOPT ENOPROTOOPT ok ok ENOPROTOOPT HELLO"),
    ] {
        let san = San::new(mode);
        let out = wsd_run(&san, &["--mode", mode], &["python3", "-c", CLIENT_SERVER])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), want, "{mode}");
    }
}

#[test]
fn python_outside_the_san_subnets_is_untouched() {
    let san = San::new("outside");
    let report = std::env::temp_dir().join(format!("wsd-outside-{}.json", std::process::id()));
    let report_arg = report.to_str().unwrap();
    let out = wsd_run(
        &san,
        &["--subnet", "10.77.0.0/24", "--json", "--report", report_arg],
        &["python3", "-c", CLIENT_SERVER],
    )
    .output()
    .unwrap();
    assert!(out.status.success());
    // Exactly what the kernel says without the library.
    let bare = Command::new("python3")
        .args(["-c", CLIENT_SERVER])
        .output()
        .unwrap();
    assert_eq!(out.stdout, bare.stdout);
    assert_eq!(
        String::from_utf8_lossy(&bare.stdout).trim(),
        "ENOPROTOOPT ENOPROTOOPT ok ok ENOPROTOOPT HELLO"
    );
    // The report says it saw no SAN socket and no call on one.
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let _ = std::fs::remove_file(&report);
    assert_eq!(doc["summary"]["endpoints"], 0);
    assert_eq!(doc["summary"]["calls"], 0);
    assert_eq!(doc["rows"].as_array().map(Vec::len), Some(0));
}
