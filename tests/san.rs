//! The SAN across processes, as `wsd san` shows it and as programs feel it: python3
//! agents (`tests/agents/san_agent.py`, one end of a loopback connection each, in
//! separate processes under the library) set options and report what each call
//! answered, while the real `wsd` tool inspects the segment and injects faults.
//!
//! Every wait is bounded: each agent command gets exactly one reply line, read with
//! a time limit (a hang guard, not synchronisation), and every child is killed when
//! its guard drops.

mod support;

use serde_json::Value;
use std::io::Write;
use support::agent::{Agent, agent_command, pair, pair_with};
use support::san_tool::{endpoint, endpoints, no_endpoint, status, wsd_san, wsd_san_ok};
use support::{San, is_debug_line};

fn addr(port: u16) -> Value {
    Value::from(format!("127.0.0.1:{port}"))
}

// 1 ---------------------------------------------------------------------------

#[test]
fn status_lists_both_processes_endpoints_as_peers_with_their_values() {
    let san = San::new("peers");
    let (mut server, mut client) = pair(&san);
    let before = status(&san);

    assert_eq!(client.ask("set 0x2002 4"), "ok");
    assert_eq!(server.ask("set 1 1"), "ok");
    assert_eq!(client.ask("get 0x2002"), "4");
    assert_eq!(server.ask("get 1"), "1");

    let v = status(&san);
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
    let text = wsd_san_ok(&san, &["status"]);
    for e in [listener, connector, accepted] {
        let row = text.lines().find(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.first() == Some(&e["id"].to_string().as_str()) && w.len() > 5
        });
        let row = row.unwrap_or_else(|| panic!("a row for endpoint {} in\n{text}", e["id"]));
        for want in [
            e["pid"].to_string(),
            "python3".to_string(),
            e["role"].as_str().unwrap().to_string(),
            e["local"].as_str().unwrap().to_string(),
        ] {
            assert!(row.split_whitespace().any(|w| w == want), "{want} in {row:?}");
        }
    }
    let live = format!("3 of {} endpoints live", wsd::san::layout::DEFAULT_CAPACITY);
    assert!(text.contains(&live), "{text}");
}

// 2 ---------------------------------------------------------------------------

/// `down` reaches both processes' option calls, and new connections fall back
/// to TCP until `up`; what it does to the connections themselves is
/// `tests/faults.rs`'.
#[test]
fn network_down_and_up_reach_both_processes_and_new_connections_fall_back() {
    let san = San::new("down");
    let (mut server, mut client) = pair(&san);
    for a in [&mut server, &mut client] {
        assert_eq!(a.ask("set 0x2002 1"), "ok", "{}", a.what);
    }

    wsd_san_ok(&san, &["down"]);
    assert_eq!(status(&san)["network"], "down");
    for a in [&mut server, &mut client] {
        assert_eq!(a.ask("set 0x2002 1"), "ENETDOWN", "{}", a.what);
        assert_eq!(a.ask("nodelay"), "ENETDOWN", "{}", a.what);
    }

    // A connection made while the SAN is down is plain TCP: the kernel answers.
    let mut late = Agent::client(&san, server.listening);
    assert_eq!(late.ask("set 0x2002 1"), "ENOPROTOOPT");
    assert_eq!(late.ask("nodelay"), "ok");
    let v = status(&san);
    assert!(v["stats"]["fallback_down"].as_u64().unwrap() >= 1, "{v:#}");
    no_endpoint(&v, &[("pid", late.pid().into())]);
    assert_eq!(v["live"], 3);

    wsd_san_ok(&san, &["up"]);
    assert_eq!(status(&san)["network"], "up");
    // SPEC §7: `down` broke the connection, and `up` does not mend it: it answers
    // as a reset one.
    for a in [&mut server, &mut client] {
        assert_eq!(a.ask("set 0x2002 1"), "ENOTCONN", "{}", a.what);
        assert_eq!(a.ask("nodelay"), "ENOTCONN", "{}", a.what);
    }
    // A new connection is a SAN connection again.
    let mut fresh = Agent::client(&san, server.listening);
    assert_eq!(fresh.ask("set 0x2002 1"), "ok");
    // It stays what it became.
    assert_eq!(late.ask("set 0x2002 1"), "ENOPROTOOPT");
}

// 3 ---------------------------------------------------------------------------

fn both_answer(server: &mut Agent, client: &mut Agent, want: &str) {
    for a in [server, client] {
        assert_eq!(a.ask("set 0x2002 1"), want, "{} set", a.what);
        assert_eq!(a.ask("nodelay"), want, "{} nodelay", a.what);
    }
}

#[test]
fn reset_and_keepalive_fail_reach_both_ends_of_the_named_connection() {
    let san = San::new("faults");
    let (mut s1, mut c1) = pair(&san);
    let (mut s2, mut c2) = pair(&san);
    let (mut s3, mut c3) = pair(&san);
    for (s, c) in [(&mut s1, &mut c1), (&mut s2, &mut c2), (&mut s3, &mut c3)] {
        both_answer(s, c, "ok");
    }

    // By the client end's address.
    let out = wsd_san_ok(&san, &["reset", &c1.local()]);
    assert!(out.contains("reset"), "{out}");
    both_answer(&mut s1, &mut c1, "ENOTCONN");
    both_answer(&mut s2, &mut c2, "ok");

    // By the server end's address (shared by the listener and the accepted socket).
    wsd_san_ok(&san, &["reset", &s2.local()]);
    both_answer(&mut s2, &mut c2, "ENOTCONN");
    both_answer(&mut s3, &mut c3, "ok");
    let v = status(&san);
    let listener2 = endpoint(&v, &[("pid", s2.pid().into()), ("role", "listener".into())]);
    assert_eq!(
        listener2["state"], "healthy",
        "the listener is not the connection"
    );

    // Keep-alive failure, by the client end's endpoint id.
    let id = endpoint(&v, &[("pid", c3.pid().into()), ("role", "connector".into())])["id"]
        .as_u64()
        .unwrap();
    let out = wsd_san_ok(&san, &["keepalive-fail", &id.to_string(), "--json"]);
    let done: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(done["endpoints"].as_array().unwrap().len(), 2, "{done}");
    both_answer(&mut s3, &mut c3, "ENETRESET");
    let v = status(&san);
    for (pid, role, state) in [
        (c1.pid(), "connector", "reset"),
        (s1.pid(), "accepted", "reset"),
        (c2.pid(), "connector", "reset"),
        (s2.pid(), "accepted", "reset"),
        (c3.pid(), "connector", "keepalive-failed"),
        (s3.pid(), "accepted", "keepalive-failed"),
    ] {
        let e = endpoint(&v, &[("pid", pid.into()), ("role", role.into())]);
        assert_eq!(e["state"], state, "{e}");
    }
}

#[test]
fn an_unknown_target_is_a_usage_error_that_changes_nothing() {
    let san = San::new("target");
    let (mut server, mut client) = pair(&san);
    let before = status(&san);
    for target in ["99999", "127.0.0.1:1", "garbage"] {
        for verb in ["reset", "keepalive-fail"] {
            let out = wsd_san(&san, &[verb, target]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{verb} {target}: {err}");
            assert!(
                err.contains(target),
                "{verb} {target}: the message names it: {err}"
            );
            assert!(out.stdout.is_empty(), "{verb} {target}");
        }
    }
    assert_eq!(status(&san), before);
    both_answer(&mut server, &mut client, "ok");
}

// 4 ---------------------------------------------------------------------------

#[test]
fn an_abortive_close_resets_the_peer_and_a_graceful_one_does_not() {
    let san = San::new("close");
    let (mut server, mut client) = pair(&san);
    assert_eq!(client.ask("abort"), "ok");
    assert_eq!(server.ask("set 0x2002 1"), "ENOTCONN");
    assert_eq!(server.ask("nodelay"), "ENOTCONN");
    let v = status(&san);
    no_endpoint(&v, &[("pid", client.pid().into())]);
    let accepted = endpoint(&v, &[("pid", server.pid().into()), ("role", "accepted".into())]);
    assert_eq!(accepted["state"], "reset");

    let (mut server, mut client) = pair(&san);
    let (st, _) = client.finish();
    assert!(st.success(), "{st:?}");
    assert_eq!(server.ask("set 0x2002 1"), "ok");
    assert_eq!(server.ask("nodelay"), "ok");
    let v = status(&san);
    no_endpoint(&v, &[("pid", client.pid().into())]);
    let accepted = endpoint(&v, &[("pid", server.pid().into()), ("role", "accepted".into())]);
    assert_eq!(accepted["state"], "healthy");
    assert_eq!(server.ask("set 0x2002 1"), "ok");
}

// 8 ---------------------------------------------------------------------------

#[test]
fn an_exec_keeps_the_san_socket_and_its_values() {
    let san = San::new("exec");
    let (_server, mut client) = pair(&san);
    let before = client.ready;
    assert_eq!(client.ask("set 0x2002 9"), "ok");
    client.send("exec");
    let after = client.expect_ready();
    assert_eq!(after.pid, before.pid, "exec keeps the process");
    assert_eq!(
        (after.local, after.peer, after.fd),
        (before.local, before.peer, before.fd)
    );

    assert_eq!(
        client.ask("get 0x2002"),
        "9",
        "the new image found its SAN socket"
    );
    let v = status(&san);
    let mine: Vec<&Value> = endpoints(&v).iter().filter(|e| e["pid"] == before.pid).collect();
    assert_eq!(mine.len(), 1, "{v:#}");
    assert_eq!(mine[0]["role"], "connector");
    assert_eq!(mine[0]["group_priority"], 9);
    assert_eq!(mine[0]["holders"], serde_json::json!([before.pid]));
    assert_eq!(client.ask("set 0x2002 3"), "ok");
    assert_eq!(client.ask("get 0x2002"), "3");
}

// 9 ---------------------------------------------------------------------------

#[test]
fn a_full_segment_makes_new_sockets_fall_back_and_nothing_breaks() {
    let san = San::new("full");
    wsd_san_ok(&san, &["create", "--capacity", "2"]);
    let (mut server, mut client) = pair(&san);

    let v = status(&san);
    assert_eq!(v["capacity"], 2);
    assert_eq!(v["live"], 2, "{v:#}");
    assert!(v["stats"]["fallback_full"].as_u64().unwrap() >= 1, "{v:#}");
    endpoint(&v, &[("role", "listener".into())]);

    for a in [&mut server, &mut client] {
        let set = a.ask("set 0x2002 2");
        assert!(["ok", "ENOPROTOOPT"].contains(&set.as_str()), "{}: {set}", a.what);
        let get = a.ask("get 0x2002");
        let sane = if set == "ok" {
            get == "2"
        } else {
            get == "ENOPROTOOPT"
        };
        assert!(sane, "{}: set {set}, get {get}", a.what);
        assert_eq!(a.ask("nodelay"), "ok", "{}", a.what);
    }
    let out = wsd_san(&san, &["check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for a in [&mut server, &mut client] {
        let (st, _) = a.finish();
        assert!(st.success(), "{}: {st:?}", a.what);
    }
}

// 11 --------------------------------------------------------------------------

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

#[test]
fn so_debug_lines_from_two_processes_never_interleave() {
    let san = San::new("debug");
    let dir = std::env::temp_dir().join(format!("wsd-san-debug-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    struct RmDir(std::path::PathBuf);
    impl Drop for RmDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _rm = RmDir(dir.clone());
    let log = dir.join("debug.log");

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
