//! `wsd san status` on real processes: both ends of a connection in two processes
//! as peers, with their values and counts; who holds a socket now (a forked child
//! that kept an accepted socket its parent closed), the program column as the
//! process's name rather than the creating thread's, and the summary, `--limit`
//! and the filters (`--program`, `--port`, `--state`, `--role`) in text and JSON.
//!
//! Every program is a python3 process under the library, driven line by line over
//! its standard input and output (a python3 agent, `tests/agents/san_agent.py`,
//! or a program of this file's); each reply is read with a time limit (a hang
//! guard, not synchronisation), and every process group is killed when its guard
//! drops.

mod support;

use serde_json::Value;
use std::process::Output;
use std::time::Duration;
use support::agent::{Agent, pair};
use support::san_tool::{endpoint, endpoints, wsd_san};
use support::{San, tool};
use wsd::san::layout::{DEFAULT_CAPACITY, REPORT_ROWS};

/// `wsd san status ARGS --san NAME`.
fn wsd_status(san: &San, args: &[&str]) -> Output {
    let mut all = vec!["status"];
    all.extend_from_slice(args);
    wsd_san(san, &all)
}

/// `wsd san status ARGS` (text), which must succeed; its standard output.
fn text(san: &San, args: &[&str]) -> String {
    let out = wsd_status(san, args);
    assert!(
        out.status.success(),
        "wsd san status {args:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `wsd san status --json ARGS`.
fn json(san: &San, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&text(san, &all)).expect("status --json is JSON")
}

/// The endpoint rows of the text form: the lines after the column header (none
/// when no row is shown, and then there is no header either).
fn rows(text: &str) -> Vec<Vec<&str>> {
    let mut lines = text.lines();
    if !lines.any(|l| l.split_whitespace().next() == Some("id")) {
        assert!(
            text.contains("endpoints shown: 0 of "),
            "a column header in\n{text}"
        );
        return Vec::new();
    }
    lines.map(|l| l.split_whitespace().collect()).collect()
}

/// The text row of endpoint `id`.
fn row<'a>(text: &'a str, id: &Value) -> Vec<&'a str> {
    rows(text)
        .into_iter()
        .find(|w| w.first() == Some(&id.to_string().as_str()))
        .unwrap_or_else(|| panic!("a row for endpoint {id} in\n{text}"))
}

fn port_of(addr: &Value) -> Option<u16> {
    addr.as_str()?.rsplit_once(':')?.1.parse().ok()
}

fn addr(port: u16) -> Value {
    Value::from(format!("127.0.0.1:{port}"))
}

// ----------------------------------------------------------------------------

#[test]
fn status_lists_both_processes_endpoints_as_peers_with_their_values() {
    let san = San::new("peers");
    let (mut server, mut client) = pair(&san);
    let before = json(&san, &[]);

    assert_eq!(client.ask("set 0x2002 4"), "ok");
    assert_eq!(server.ask("set 1 1"), "ok");
    assert_eq!(client.ask("get 0x2002"), "4");
    assert_eq!(server.ask("get 1"), "1");

    let v = json(&san, &[]);
    assert_eq!(v["san"], san.name.as_str());
    assert_eq!(v["network"], "up");
    assert_eq!(v["live"], 3, "{v:#}");
    assert_eq!(endpoints(&v).len(), 3);

    let (sp, cp) = (server.pid(), client.pid());
    let listener = endpoint(&v, &[("role", "listener".into())]);
    let connector = endpoint(&v, &[("role", "connector".into())]);
    let accepted = endpoint(&v, &[("role", "accepted".into())]);
    for (e, pid) in [(listener, sp), (connector, cp), (accepted, sp)] {
        assert_eq!(e["pid"], pid, "{e}");
        assert_eq!(e["program"], "python3", "{e}");
        assert_eq!(e["state"], "healthy", "{e}");
        assert_eq!(e["holders"], serde_json::json!([pid]), "{e}");
        assert_ne!(e["id"], 0, "{e}");
    }
    assert_eq!(listener["local"], addr(server.listening));
    assert_eq!(listener["peer"], Value::Null);
    assert_eq!(listener["peer_id"], 0);
    assert_eq!(connector["local"], addr(client.ready.local));
    assert_eq!(connector["peer"], addr(server.listening));
    assert_eq!(connector["fd"], client.ready.fd);
    assert_eq!(accepted["local"], addr(server.listening));
    assert_eq!(accepted["peer"], addr(client.ready.local));
    assert_eq!(accepted["fd"], server.ready.fd);
    assert_eq!(connector["peer_id"], accepted["id"]);
    assert_eq!(accepted["peer_id"], connector["id"]);

    assert_eq!(connector["group_priority"], 4);
    assert_eq!(connector["so_debug"], 0);
    assert_eq!(accepted["so_debug"], 1);
    assert_eq!(accepted["group_priority"], 0);

    // One set and one get through each agent, counted per endpoint and in total.
    let n = |v: &Value, role: &str, key: &str| -> u64 {
        endpoint(v, &[("role", role.into())])[key].as_u64().unwrap()
    };
    for role in ["connector", "accepted"] {
        assert_eq!(n(&v, role, "sets"), n(&before, role, "sets") + 1, "{role}");
        assert_eq!(n(&v, role, "gets"), n(&before, role, "gets") + 1, "{role}");
        assert_eq!(n(&v, role, "set_errors"), 0, "{role}");
    }
    let total = |v: &Value, key: &str| v["stats"][key].as_u64().unwrap();
    assert_eq!(total(&v, "sets"), total(&before, "sets") + 2);
    assert_eq!(total(&v, "gets"), total(&before, "gets") + 2);
    assert!(total(&v, "endpoints_created") >= 3);

    // The human table names every endpoint: a row with its id, pid, program, role
    // and local address.
    let text = text(&san, &[]);
    for e in [listener, connector, accepted] {
        let row = row(&text, &e["id"]);
        for want in [
            e["pid"].to_string(),
            "python3".to_string(),
            e["role"].as_str().unwrap().to_string(),
            e["local"].as_str().unwrap().to_string(),
        ] {
            assert!(row.contains(&want.as_str()), "{want} in {row:?}");
        }
    }
    let live = format!("3 of {} endpoints live", wsd::san::layout::DEFAULT_CAPACITY);
    assert!(text.contains(&live), "{text}");
}

// ----------------------------------------------------------------------------

/// A server that accepts one connection, then forks a child ("backend", by its
/// kernel name) that keeps the accepted socket while the parent closes its copy,
/// as a postmaster hands a connection to a backend. `exit` ends the parent only.
const FORKING_SERVER: &str = r#"
import ctypes, os, signal, socket, sys
lst = socket.socket()
lst.bind(("127.0.0.1", 0))
lst.listen()
print("listening", lst.getsockname()[1], flush=True)
conn, _ = lst.accept()
pid = os.fork()
if pid == 0:
    ctypes.CDLL(None).prctl(15, b"backend", 0, 0, 0)  # PR_SET_NAME
    lst.close()
    os.write(1, b"backend %d\n" % os.getpid())  # one write: the parent writes too
    while True:
        signal.pause()
conn.close()
os.write(1, b"closed\n")
sys.stdin.readline()
os._exit(0)
"#;

#[test]
fn status_names_the_forked_child_that_holds_an_accepted_socket_now() {
    let san = San::new("holder");
    let mut server = Agent::python(&san, "forking server", FORKING_SERVER);
    let port = server.expect_listening();
    let client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let client_port = client.local_addr().unwrap().port();
    // The child's line and the parent's come in either order.
    let mut backend = 0u32;
    for _ in 0..2 {
        let line = server.line();
        if let Some(pid) = line.strip_prefix("backend ") {
            backend = pid.parse().expect("the backend's pid");
        } else {
            assert_eq!(line, "closed");
        }
    }
    assert_ne!(backend, 0);
    server.forked.push(backend);
    let parent = server.pid();

    let v = json(&san, &[]);
    let peer = Value::from(format!("127.0.0.1:{client_port}"));
    let accepted = endpoint(&v, &[("role", "accepted".into()), ("peer", peer.clone())]);
    // Made by the parent, which is still running; held by the child alone.
    assert_eq!(accepted["pid"], parent, "{accepted}");
    assert_eq!(accepted["program"], "python3", "{accepted}");
    assert_eq!(accepted["holders"], serde_json::json!([backend]), "{accepted}");
    assert_eq!(
        accepted["held_by"],
        serde_json::json!([{"pid": backend, "program": "backend"}]),
        "{accepted}"
    );
    let listener = endpoint(&v, &[("role", "listener".into())]);
    assert_eq!(
        listener["held_by"],
        serde_json::json!([{"pid": parent, "program": "python3"}]),
        "{listener}"
    );
    let t = text(&san, &[]);
    let r = row(&t, &accepted["id"]);
    assert!(r.contains(&format!("{backend}/backend").as_str()), "{r:?}\n{t}");
    assert!(!r.iter().any(|w| w.contains(&format!("{parent}/"))), "{r:?}");
    let r = row(&t, &listener["id"]);
    assert!(r.contains(&format!("{parent}/python3").as_str()), "{r:?}\n{t}");

    // The parent exits: the child still holds the socket; the program column falls
    // back to the name the record was made with.
    server.send("");
    let status = server.wait();
    assert!(status.success(), "{status:?}");
    let v = json(&san, &[]);
    let accepted = endpoint(&v, &[("role", "accepted".into()), ("peer", peer)]);
    assert_eq!(accepted["pid"], parent, "{accepted}");
    assert_eq!(accepted["program"], "python3", "{accepted}");
    assert_eq!(
        accepted["held_by"],
        serde_json::json!([{"pid": backend, "program": "backend"}]),
        "{accepted}"
    );
    assert_eq!(v["summary"]["processes"], 1, "{v:#}");
    drop(client);
}

// ----------------------------------------------------------------------------

/// Makes its one listening socket on a thread named "worker-5" by Python and by
/// the kernel (PR_SET_NAME), so the thread's name differs from the process's.
const NAMED_THREAD: &str = r#"
import ctypes, os, signal, socket, threading
keep = []
def work():
    ctypes.CDLL(None).prctl(15, b"worker-5", 0, 0, 0)  # PR_SET_NAME
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    keep.append(s)
t = threading.Thread(target=work, name="worker-5")
t.start()
t.join()
print("listening", keep[0].getsockname()[1], flush=True)
while True:
    signal.pause()
"#;

#[test]
fn the_program_column_is_the_processs_name_not_the_creating_threads() {
    let san = San::new("thread");
    let mut py = Agent::python(&san, "named thread", NAMED_THREAD);
    let port = py.expect_listening();
    let v = json(&san, &[]);
    let listener = endpoint(&v, &[("local", format!("127.0.0.1:{port}").into())]);
    assert_eq!(listener["pid"], py.pid(), "{listener}");
    assert_eq!(listener["program"], "python3", "{listener}");
    assert_eq!(
        listener["held_by"],
        serde_json::json!([{"pid": py.pid(), "program": "python3"}]),
        "{listener}"
    );
    let t = text(&san, &[]);
    let r = row(&t, &listener["id"]);
    assert_eq!(r.get(2), Some(&"python3"), "the program column of {r:?}\n{t}");
    assert!(!t.contains("worker-5"), "{t}");
    let t = text(&san, &["--program", "python3"]);
    assert_eq!(rows(&t).len(), 1, "{t}");
    let t = text(&san, &["--program", "worker-5"]);
    assert_eq!(rows(&t).len(), 0, "{t}");
}

// ----------------------------------------------------------------------------

/// Opens and accepts connections on command: `name NAME` (PR_SET_NAME on the main
/// thread: the process's name), `listen` (-> port), `connect PORT N` (-> ok),
/// `accept PORT N` (-> ok), `prio` (SO_GROUP_PRIORITY on the first connection:
/// one report row).
const MANY: &str = r#"
import ctypes, socket, sys
listeners, conns = {}, []
for line in sys.stdin:
    w = line.split()
    if w[0] == "name":
        ctypes.CDLL(None).prctl(15, w[1].encode(), 0, 0, 0)
        reply = "ok"
    elif w[0] == "listen":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        listeners[s.getsockname()[1]] = s
        reply = s.getsockname()[1]
    elif w[0] == "connect":
        conns += [socket.create_connection(("127.0.0.1", int(w[1]))) for _ in range(int(w[2]))]
        reply = "ok"
    elif w[0] == "accept":
        conns += [listeners[int(w[1])].accept()[0] for _ in range(int(w[2]))]
        reply = "ok"
    elif w[0] == "prio":
        conns[0].setsockopt(socket.SOL_SOCKET, 0x2002, 3)
        reply = "ok"
    print(reply, flush=True)
"#;

/// Process A (python3): listener 1 with 12 connections to itself, listener 2;
/// process B (named client-b): 3 connections to listener 2. 32 endpoints: 2
/// listeners, 15 connectors, 15 accepted. Then one of A's connections is reset and
/// one keep-alive-failed (both ends each). Returns A, B, listener 2's port.
fn many(san: &San) -> (Agent, Agent, u16) {
    let mut a = Agent::python(san, "A", MANY);
    let mut b = Agent::python(san, "B", MANY);
    assert_eq!(b.ask("name client-b"), "ok");
    let p1 = a.ask("listen");
    assert_eq!(a.ask(&format!("connect {p1} 12")), "ok");
    assert_eq!(a.ask(&format!("accept {p1} 12")), "ok");
    let p2 = a.ask("listen");
    assert_eq!(b.ask(&format!("connect {p2} 3")), "ok");
    assert_eq!(a.ask(&format!("accept {p2} 3")), "ok");
    assert_eq!(a.ask("prio"), "ok");

    let v = json(san, &[]);
    let mut connectors: Vec<u64> = endpoints(&v)
        .iter()
        .filter(|e| e["role"] == "connector" && e["pid"] == a.pid())
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    connectors.sort_unstable();
    assert_eq!(connectors.len(), 12, "{v:#}");
    for (verb, id) in [("reset", connectors[0]), ("keepalive-fail", connectors[1])] {
        let out = tool()
            .args(["san", verb, &id.to_string(), "--san", &san.name])
            .env_remove("WSD_SAN")
            .output()
            .unwrap();
        assert!(out.status.success(), "{verb} {id}: {out:?}");
    }
    (a, b, p2.parse().unwrap())
}

#[test]
fn the_summary_covers_the_whole_segment_and_limit_cuts_the_rows() {
    let san = San::new("summary");
    let (_a, _b, _) = many(&san);

    let live = format!("32 of {DEFAULT_CAPACITY} endpoints live");
    let t = text(&san, &[]);
    for want in [
        live.as_str(),
        "2 listener, 15 connector, 15 accepted, 0 adopted, 0 direct, 0 candidate",
        "28 healthy, 2 keepalive-failed, 2 reset",
        "processes holding endpoints: 2",
        "report rows used: ",
        &format!(" of {REPORT_ROWS}"),
    ] {
        assert!(t.contains(want), "{want:?} in\n{t}");
    }
    // The summary comes first; the default limit (50) shows all 32.
    let header = t.lines().position(|l| l.split_whitespace().next() == Some("id"));
    assert!(header.is_some_and(|h| h >= 3), "{t}");
    assert_eq!(rows(&t).len(), 32, "{t}");
    assert!(!t.contains("--limit 0"), "nothing left out:\n{t}");

    let t = text(&san, &["--limit", "5"]);
    assert_eq!(rows(&t).len(), 5, "{t}");
    assert!(t.contains(&live), "{t}");
    assert!(t.contains("28 healthy, 2 keepalive-failed, 2 reset"), "{t}");
    assert!(t.contains("27 not shown"), "{t}");
    assert!(t.contains("--limit 0"), "how to see them:\n{t}");
    let t = text(&san, &["--limit", "0"]);
    assert_eq!(rows(&t).len(), 32, "{t}");

    let v = json(&san, &[]);
    let s = &v["summary"];
    assert_eq!(s["san"], san.name.as_str(), "{s:#}");
    assert_eq!(s["capacity"], DEFAULT_CAPACITY, "{s:#}");
    assert_eq!(s["network"], "up", "{s:#}");
    assert_eq!(s["live"], 32, "{s:#}");
    assert_eq!(
        s["roles"],
        serde_json::json!({"listener": 2, "connector": 15, "accepted": 15, "adopted": 0, "direct": 0, "candidate": 0}),
        "{s:#}"
    );
    assert_eq!(
        s["states"],
        serde_json::json!({"healthy": 28, "keepalive-failed": 2, "reset": 2}),
        "{s:#}"
    );
    assert_eq!(s["processes"], 2, "{s:#}");
    assert!(s["report_rows"]["used"].as_u64().unwrap() >= 1, "{s:#}");
    assert_eq!(s["report_rows"]["capacity"], REPORT_ROWS, "{s:#}");
    assert_eq!(s["matched"], 32, "{s:#}");
    assert_eq!(s["shown"], 32, "{s:#}");
    assert_eq!(endpoints(&v).len(), 32);
    // The existing keys stay.
    assert_eq!(v["live"], 32);
    assert_eq!(v["capacity"], DEFAULT_CAPACITY);
    assert!(v["stats"]["endpoints_created"].as_u64().unwrap() >= 32);

    let v = json(&san, &["--limit", "5"]);
    assert_eq!(endpoints(&v).len(), 5, "{v:#}");
    assert_eq!(v["summary"]["live"], 32);
    assert_eq!(v["summary"]["matched"], 32);
    assert_eq!(v["summary"]["shown"], 5);
}

#[test]
fn filters_choose_the_rows_in_text_and_json_and_leave_the_summary() {
    let san = San::new("filters");
    let (a, b, p2) = many(&san);
    let p2s = p2.to_string();
    let live = format!("32 of {DEFAULT_CAPACITY} endpoints live");

    // Each filter: its arguments, the endpoints it must keep, checked in both forms.
    type Keep = Box<dyn Fn(&Value) -> bool>;
    let (pa, pb) = (a.pid(), b.pid());
    let filters: Vec<(Vec<&str>, usize, Keep)> = vec![
        (
            vec!["--program", "client-b"],
            3,
            Box::new(move |e| e["pid"] == pb && e["program"] == "client-b"),
        ),
        (
            vec!["--program", "client-*"],
            3,
            Box::new(move |e| e["pid"] == pb),
        ),
        (
            vec!["--program", "py*"],
            29,
            Box::new(move |e| e["pid"] == pa && e["program"] == "python3"),
        ),
        (vec!["--program", "nobody"], 0, Box::new(|_| false)),
        (
            vec!["--port", &p2s],
            7,
            Box::new(move |e| port_of(&e["local"]) == Some(p2) || port_of(&e["peer"]) == Some(p2)),
        ),
        (vec!["--state", "reset"], 2, Box::new(|e| e["state"] == "reset")),
        (
            vec!["--state", "keepalive-failed"],
            2,
            Box::new(|e| e["state"] == "keepalive-failed"),
        ),
        (
            vec!["--state", "healthy"],
            28,
            Box::new(|e| e["state"] == "healthy"),
        ),
        (
            vec!["--role", "listener"],
            2,
            Box::new(|e| e["role"] == "listener"),
        ),
        (
            vec!["--port", &p2s, "--role", "accepted"],
            3,
            Box::new(move |e| e["role"] == "accepted" && port_of(&e["local"]) == Some(p2)),
        ),
        (
            vec!["--program", "client-b", "--state", "reset"],
            0,
            Box::new(|_| false),
        ),
    ];
    for (args, n, keep) in &filters {
        let v = json(&san, args);
        let es = endpoints(&v);
        assert_eq!(es.len(), *n, "{args:?}: {v:#}");
        assert!(es.iter().all(keep), "{args:?}: {v:#}");
        // The summary is the whole segment's.
        assert_eq!(v["summary"]["live"], 32, "{args:?}");
        assert_eq!(v["summary"]["processes"], 2, "{args:?}");
        assert_eq!(v["summary"]["states"]["healthy"], 28, "{args:?}");
        assert_eq!(v["summary"]["matched"], *n, "{args:?}");
        assert_eq!(v["live"], 32, "{args:?}");

        let t = text(&san, args);
        assert!(t.contains(&live), "{args:?}: {t}");
        assert!(
            t.contains("28 healthy, 2 keepalive-failed, 2 reset"),
            "{args:?}: {t}"
        );
        let ids: Vec<String> = es.iter().map(|e| e["id"].to_string()).collect();
        let shown: Vec<String> = rows(&t).iter().map(|w| w[0].to_string()).collect();
        assert_eq!(shown, ids, "{args:?}: the same rows in text and JSON\n{t}");
    }

    // A filter and a limit together: the summary says how many matched.
    let t = text(&san, &["--state", "healthy", "--limit", "10"]);
    assert_eq!(rows(&t).len(), 10, "{t}");
    assert!(t.contains("18 not shown"), "{t}");
    let v = json(&san, &["--state", "healthy", "--limit", "10"]);
    assert_eq!(endpoints(&v).len(), 10);
    assert_eq!(v["summary"]["matched"], 28);
    assert_eq!(v["summary"]["shown"], 10);

    // A state that status never shows is a usage error.
    let out = wsd_status(&san, &["--state", "broken"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn help_documents_every_status_flag() {
    let out = tool().args(["san", "status", "--help"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in ["--limit", "--program", "--port", "--state", "--role", "--json"] {
        assert!(help.contains(flag), "{flag} in\n{help}");
    }
    for word in ["keepalive-failed", "summary", "glob"] {
        assert!(help.contains(word), "{word:?} in\n{help}");
    }
}

// ----------------------------------------------------------------------------

/// Timing, on a segment of 40,000 live endpoints held by this test process: text
/// with the default limit within 0.5 s, JSON within 2 s. Meaningful in release
/// builds only: `cargo test --release --test status -- --ignored`.
#[test]
#[ignore = "timing; run with --release -- --ignored"]
fn status_of_40000_endpoints_is_fast() {
    use std::time::Instant;
    use wsd::san::layout::identity;
    use wsd::san::reap::process_stat;
    use wsd::san::{EndpointRole, NewEndpoint, Segment};

    const N: u32 = 40_000;
    let san = San::new("many");
    let seg = Segment::create(&san.name, 65_536).unwrap();
    let pid = std::process::id();
    let (start, _) = process_stat(pid).unwrap().expect("our own /proc/PID/stat");
    let roles = [
        EndpointRole::Listener,
        EndpointRole::Connector,
        EndpointRole::Accepted,
    ];
    for i in 0..N {
        let port = 10_000 + (i % 50_000) as u16;
        let new = NewEndpoint {
            holder: identity(pid, start),
            pid,
            fd: 3 + i as i32,
            role: roles[i as usize % 3],
            local: Some(format!("127.0.0.1:{port}").parse().unwrap()),
            peer: Some("127.0.0.1:9".parse().unwrap()),
            comm: *b"timing\0\0\0\0\0\0\0\0\0\0",
            cookie: 0,
            netns: 0,
            inode: 0,
        };
        seg.allocate(&new).expect("room for every endpoint");
    }
    let time = |args: &[&str]| {
        let t0 = Instant::now();
        let out = wsd_status(&san, args);
        let took = t0.elapsed();
        assert!(out.status.success(), "{out:?}");
        (took, out.stdout.len())
    };
    let (text_took, _) = time(&[]);
    let (all_took, _) = time(&["--limit", "0"]);
    let (json_took, json_len) = time(&["--json"]);
    let (port_took, _) = time(&["--port", "10007"]);
    let (program_took, _) = time(&["--json", "--program", "tim*"]);
    eprintln!(
        "{N} endpoints: text {text_took:?}, text --limit 0 {all_took:?}, --json {json_took:?} ({json_len} bytes), --port {port_took:?}, --json --program {program_took:?}"
    );
    if !cfg!(debug_assertions) {
        assert!(text_took <= Duration::from_millis(500), "text: {text_took:?}");
        assert!(json_took <= Duration::from_secs(2), "json: {json_took:?}");
        assert!(
            program_took <= Duration::from_secs(2),
            "json --program: {program_took:?}"
        );
    }
}
