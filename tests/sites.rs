//! Issue 16: each report row names the places in the program that made its
//! calls — function and file:line where the binary has debug information, the
//! module and offset where it is stripped — counted per place, up to a few per
//! row; refused rows carry advice; a python program's calls are said to come
//! from the interpreter's socket module.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{San, TempDir, TempFile};

/// Two files, two functions setting options; `set_nodelay_again` sets the
/// same option from another line, and `set_nodelay` runs twice.
const A_C: &str = r#"#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
int set_nodelay(int fd) {
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* A_LINE */
}
int set_nodelay_again(int fd) {
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* A2_LINE */
}
"#;

const B_C: &str = r#"#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
int set_nodelay(int fd);
int set_nodelay_again(int fd);
int loopback_pair(int *accepted);
static int set_keepalive(int fd) {
    int on = 1;
    return setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on); /* B_LINE */
}
int main(void) {
    int s, c = loopback_pair(&s);
    if (c < 0)
        return 2;
    set_nodelay(c);
    set_nodelay(c);
    set_nodelay_again(c);
    set_keepalive(c);
    close(s);
    close(c);
    return 0;
}
"#;

/// A loopback connection for the programs above and below, appended to them
/// (their line numbers stay): the connected end, the accepted one in `*accepted`.
const PAIR_C: &str = r#"
int loopback_pair(int *accepted) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &n))
        return -1;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&a, sizeof a))
        return -1;
    *accepted = accept(l, NULL, NULL);
    close(l);
    return c;
}
"#;

/// The line of `marker` in `source` (from 1).
fn line_of(source: &str, marker: &str) -> u64 {
    source.lines().position(|l| l.contains(marker)).expect("marker") as u64 + 1
}

/// `cc ARGS -o EXE` in `dir`, which must succeed.
fn cc(dir: &Path, args: &[&str], exe: &Path) {
    let out = Command::new("cc")
        .current_dir(dir)
        .args(args)
        .arg("-o")
        .arg(exe)
        .output()
        .expect("run cc");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The program built from the two files with `-g` into a directory of its own
/// (removed with it), and a stripped copy beside it.
fn build() -> (TempDir, PathBuf, PathBuf) {
    let dir = TempDir::new("sites");
    std::fs::write(dir.path("a.c"), A_C).unwrap();
    std::fs::write(dir.path("b.c"), format!("{B_C}{PAIR_C}")).unwrap();
    let exe = dir.path("twofiles");
    cc(&dir.0, &["-g", "-O0", "-fno-inline", "a.c", "b.c"], &exe);
    let stripped = dir.path("twofiles.stripped");
    std::fs::copy(&exe, &stripped).unwrap();
    let out = Command::new("strip").arg(&stripped).output().expect("run strip");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (dir, exe, stripped)
}

/// The JSON report of `program` run under `wsd run` in `mode`.
fn report(program: &Path, mode: &str) -> Value {
    let san = San::new("sites");
    let file = TempFile::new("sites-report");
    let (_, doc) = support::run_reporting(
        &san,
        &["--mode", mode, "--json", "--report", file.0.to_str().unwrap()],
        &[program.to_str().unwrap()],
        &file.0,
    );
    doc
}

fn row<'a>(doc: &'a Value, option: &str) -> &'a Value {
    doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["option_name"] == option && r["call"] == "setsockopt")
        .unwrap_or_else(|| panic!("a {option} row: {doc:#}"))
}

fn sites(row: &Value) -> &Vec<Value> {
    row["sites"]
        .as_array()
        .unwrap_or_else(|| panic!("sites: {row:#}"))
}

#[test]
fn rows_name_their_call_sites_by_function_and_line_and_by_offset_when_stripped() {
    let (dir, exe, stripped) = build();
    let doc = report(&exe, "provider");

    // TCP_NODELAY from two places in a.c: set_nodelay (twice) and set_nodelay_again.
    let nodelay = row(&doc, "TCP_NODELAY");
    assert_eq!(nodelay["count"], 3, "{nodelay:#}");
    let s = sites(nodelay);
    assert_eq!(s.len(), 2, "{nodelay:#}");
    assert_eq!(s[0]["function"], "set_nodelay", "{nodelay:#}");
    assert!(s[0]["file"].as_str().unwrap().ends_with("a.c"), "{nodelay:#}");
    assert_eq!(s[0]["line"], line_of(A_C, "A_LINE"), "{nodelay:#}");
    assert_eq!(s[0]["count"], 2, "{nodelay:#}");
    assert_eq!(s[1]["function"], "set_nodelay_again", "{nodelay:#}");
    assert_eq!(s[1]["line"], line_of(A_C, "A2_LINE"), "{nodelay:#}");
    assert_eq!(s[1]["count"], 1, "{nodelay:#}");
    // Its caller, a frame up, in the other file.
    let stack = s[0]["stack"].as_array().unwrap();
    assert!(
        stack.len() >= 2 && stack[1].as_str().unwrap().starts_with("main (b.c:"),
        "{nodelay:#}"
    );
    assert_eq!(
        s[0]["at"],
        format!("set_nodelay (a.c:{})", line_of(A_C, "A_LINE"))
    );

    // SO_KEEPALIVE from the static function in b.c.
    let keepalive = row(&doc, "SO_KEEPALIVE");
    let k = sites(keepalive);
    assert_eq!(k.len(), 1, "{keepalive:#}");
    assert_eq!(k[0]["function"], "set_keepalive");
    assert_eq!(k[0]["line"], line_of(B_C, "B_LINE"));
    assert!(
        k[0]["module"].as_str().unwrap().ends_with("/twofiles"),
        "{keepalive:#}"
    );

    // Refused rows carry the advice, from the model's tables.
    assert!(
        nodelay["advice"]["provider"]
            .as_str()
            .unwrap()
            .starts_with("WSAENOPROTOOPT")
    );
    assert!(nodelay["advice"]["switch"].as_str().unwrap().contains("TCP/IP"));
    assert_eq!(
        nodelay["advice"]["port"],
        wsd::model::advice::port_advice(libc::IPPROTO_TCP, libc::TCP_NODELAY)
    );

    // Stripped: the module and the same offset, no function.
    let doc = report(&stripped, "provider");
    let nodelay_stripped = row(&doc, "TCP_NODELAY");
    let t = sites(nodelay_stripped);
    assert_eq!(t.len(), 2, "{nodelay_stripped:#}");
    let first = t.iter().find(|x| x["count"] == 2).unwrap();
    assert_eq!(first["function"], Value::Null, "{nodelay_stripped:#}");
    assert_eq!(first["offset"], s[0]["offset"], "same code, same offset");
    assert_eq!(
        first["at"],
        format!("twofiles.stripped+{:#x}", s[0]["offset"].as_u64().unwrap())
    );

    // The text report says where, too.
    drop(dir);
}

#[test]
fn a_python_programs_calls_are_said_to_come_from_its_socket_module() {
    let san = San::new("sites-py");
    let file = TempFile::new("sites-py-report");
    let script = format!(
        "{}; import socket as s; c.setsockopt(s.IPPROTO_TCP, s.TCP_NODELAY, 1)",
        support::ONE_CONNECTION
    );
    let (_, doc) = support::run_reporting(
        &san,
        &["--json", "--report", file.0.to_str().unwrap()],
        &["python3", "-c", &script],
        &file.0,
    );
    drop(file);
    let nodelay = row(&doc, "TCP_NODELAY");
    let s = sites(nodelay);
    assert!(!s.is_empty(), "{nodelay:#}");
    assert_eq!(s[0]["interpreter"], "python", "{nodelay:#}");
    assert!(
        s[0]["note"]
            .as_str()
            .unwrap()
            .contains("Python file and line are not recorded"),
        "{nodelay:#}"
    );
}

#[test]
fn a_module_path_planted_in_the_segment_is_not_read_unless_it_is_a_regular_file() {
    // The segment is shared: another process may have written a module's path.
    // A FIFO would block the report forever, /dev/zero would fill the memory.
    let san = San::new("sites-hostile");
    let out = support::wsd_run(&san, &["-q"], &["python3", "-c", support::ONE_CONNECTION])
        .output()
        .expect("run wsd");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = TempDir::new("sites-hostile");
    let fifo = dir.path("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let seg = wsd::san::Segment::open(&san.name).expect("open the run's segment");
    let rows: Vec<u32> = seg
        .calls_with_rows()
        .into_iter()
        .flat_map(|(_, _, r)| r)
        .collect();
    assert!(!rows.is_empty());
    for path in [fifo.to_str().unwrap(), "/dev/zero"] {
        let m = seg.enter_module(b"", path.as_bytes()).expect("room for a module");
        for &r in &rows {
            seg.enter_site(r, &[wsd::san::sites::frame_word(m, 0x10)]);
        }
    }
    drop(seg);
    let mut report = support::tool();
    report.args(["report", "--json", "--san", &san.name]);
    let (status, hung, out, err) = support::process::run_guarded(report, std::time::Duration::from_secs(60));
    drop(dir);
    assert!(!hung, "wsd report hung on a planted module path\n{err}");
    assert!(status.success(), "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let ats: Vec<&str> = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["sites"].as_array().unwrap().iter())
        .filter_map(|s| s["at"].as_str())
        .collect();
    assert!(ats.contains(&"fifo+0x10"), "{ats:?}");
    assert!(ats.contains(&"zero+0x10"), "{ats:?}");
}

/// One helper sets an option on both ends of a connection: the same place, the
/// same option and length, two report rows (the endpoint's role is in the key).
const ENDS_C: &str = r#"#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
int loopback_pair(int *accepted);
__attribute__((noinline)) static int set_prio(int fd, int v) {
    return setsockopt(fd, SOL_SOCKET, 0x2002, &v, sizeof v);
}
int main(void) {
    int s, c = loopback_pair(&s);
    if (c < 0)
        return 2;
    for (int i = 0; i < 3; i++)
        if (set_prio(c, 1)) return 1;
    for (int i = 0; i < 5; i++)
        if (set_prio(s, 1)) return 1;
    return 0;
}
"#;

#[test]
fn a_memo_counts_each_end_of_a_connection_in_its_own_row() {
    // The memo's key once lacked the endpoint's role: the accepted end's calls,
    // made from the connector's place, were counted in the connector's row.
    let dir = TempDir::new("sites-ends");
    std::fs::write(dir.path("ends.c"), format!("{ENDS_C}{PAIR_C}")).unwrap();
    let exe = dir.path("ends");
    cc(&dir.0, &["-O1", "ends.c"], &exe);
    let doc = report(&exe, "switch");
    drop(dir);
    let counts: Vec<(String, u64)> = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["option_name"] == "SO_GROUP_PRIORITY")
        .map(|r| {
            (
                r["end"].as_str().unwrap_or("-").to_string(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [("connector".to_string(), 3), ("accepted".to_string(), 5)],
        "{doc:#}"
    );
}
