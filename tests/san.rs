//! The SAN across processes, as `wsd san` shows it and as programs feel it: python3
//! agents (`tests/agents/san_agent.py`, one end of a loopback connection each, in
//! separate processes under the library) set options and report what each call
//! answered, while the real `wsd` tool inspects the segment. (Faults on the
//! connection are `tests/faults.rs`', `SO_DEBUG` lines `tests/debug_log.rs`'.)
//!
//! Every wait is bounded: each agent command gets exactly one reply line, read with
//! a time limit (a hang guard, not synchronisation), and every child is killed when
//! its guard drops.

mod support;

use serde_json::Value;
use support::San;
use support::agent::pair;
use support::san_tool::{endpoint, endpoints, status, wsd_san, wsd_san_ok};

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
