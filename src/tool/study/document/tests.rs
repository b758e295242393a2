//! Unit tests of the study's document: programs and options met across the modes,
//! a mode's outcomes, and the error lines kept.

use super::*;

fn row(program: &str, pid: u32, option: &str, by: &str, verdict: &str, n: u64) -> Value {
    json!({
        "program": program, "pid": pid, "end": "connector", "call": "setsockopt", "socket": "san",
        "level": 6, "level_name": "IPPROTO_TCP", "option": if option == "TCP_NODELAY" { 1 } else { 4 },
        "option_name": option, "name": format!("IPPROTO_TCP/{option}"), "optlen": 4,
        "answered_by": by, "verdict": verdict,
        "errno": if verdict == "ok" { Value::Null } else { json!("ENOPROTOOPT") },
        "provider": "WSAENOPROTOOPT", "count": n,
    })
}

fn run(mode: &'static str, rows: Vec<Value>, statuses: &[i32], lines: &[&[&str]]) -> ModeRun {
    ModeRun {
        mode,
        san: format!("s-{mode}"),
        port: 4000,
        outcomes: statuses
            .iter()
            .zip(lines)
            .map(|(&s, l)| Outcome {
                status: Some(s),
                error_lines: l.iter().map(|l| l.to_string()).collect(),
                ..Outcome::default()
            })
            .collect(),
        report: json!({"summary": {"calls": 1}, "rows": rows}),
        report_from: "test".into(),
    }
}

fn cmds() -> Vec<Cmd> {
    ["srv --port {port}", "cli -p {port}"]
        .iter()
        .enumerate()
        .map(|(i, t)| Cmd {
            text: t.to_string(),
            words: super::super::words::split(t).unwrap(),
            role: if i == 0 { Role::Server } else { Role::Client },
        })
        .collect()
}

#[test]
fn programs_merge_processes_and_modes_meet_per_option() {
    let mut refused = row("cli", 11, "TCP_NODELAY", "provider", "WSAENOPROTOOPT", 2);
    refused["sites"] = json!([{"at": "f+0x1 (cli)", "stack": [], "count": 2}]);
    refused["advice"] = json!({"provider": "p", "switch": "s", "port": "q"});
    let runs = [
        run(
            "switch",
            vec![
                row("cli", 10, "TCP_NODELAY", "kernel", "ok", 1),
                row("srv", 20, "TCP_NODELAY", "kernel", "ok", 1),
                row("srv", 21, "TCP_NODELAY", "kernel", "ok", 1),
            ],
            &[0, 0],
            &[&[], &["Connected to 127.0.0.1:{port}"]],
        ),
        run(
            "provider",
            vec![
                refused,
                row("srv", 30, "TCP_NODELAY", "provider", "WSAENOPROTOOPT", 1),
            ],
            &[0, 1],
            &[
                &[],
                &[
                    "Connected to 127.0.0.1:{port}",
                    "setsockopt(TCP_NODELAY): Protocol not available",
                ],
            ],
        ),
    ];
    let doc = build(&cmds(), &runs);
    let programs = doc["programs"].as_array().unwrap();
    assert_eq!(programs.len(), 2);
    let srv = &programs[1];
    assert_eq!(srv["name"], "srv");
    assert_eq!(srv["processes"], json!({"switch": 2, "provider": 1}));
    assert_eq!(srv["options"][0]["switch"]["count"], 2);
    let cli = &programs[0]["options"][0];
    assert_eq!(cli["switch"]["verdict"], "ok");
    assert_eq!(cli["switch"]["answered_by"], "kernel");
    assert_eq!(cli["provider"]["verdict"], "WSAENOPROTOOPT");
    assert_eq!(cli["provider"]["errno"], "ENOPROTOOPT");
    assert_eq!(cli["provider"]["refused"], 2);
    assert_eq!(cli["count"], 3);
    assert_eq!(cli["changed"], true);
    assert_eq!(cli["bare_provider"], "WSAENOPROTOOPT");
    assert_eq!(cli["sites"][0]["at"], "f+0x1 (cli)");
    assert_eq!(cli["advice"]["switch"], "s");
    assert_eq!(srv["options"][0]["sites"], json!([]));
    assert_eq!(srv["options"][0]["advice"], Value::Null);
    let commands = doc["commands"].as_array().unwrap();
    assert_eq!(commands[0]["status_changed"], false);
    assert_eq!(commands[1]["status_changed"], true);
    assert_eq!(commands[1]["program"], "cli");
    assert_eq!(
        commands[1]["error_lines_provider"],
        json!(["setsockopt(TCP_NODELAY): Protocol not available"])
    );
    assert_eq!(doc["totals"]["programs"], 2);
    assert_eq!(doc["totals"]["options"], 2);
    assert_eq!(doc["totals"]["options_refused_provider"], 2);
    assert_eq!(doc["totals"]["calls_refused_provider"], 3);
    assert_eq!(doc["totals"]["commands_changed"], 1);
    assert_eq!(doc["server"], "srv --port {port}");
    assert_eq!(
        chart_rows(&doc),
        [("cli".to_string(), 2, 0), ("srv".to_string(), 1, 0)]
    );
}

#[test]
fn a_mixed_mode_says_its_refusal_and_every_outcome() {
    let rows = [
        row("p", 1, "TCP_NODELAY", "kernel", "ok", 5),
        row("p", 1, "TCP_NODELAY", "provider", "WSAEINVAL", 1),
    ];
    let m = in_mode(&rows.iter().collect::<Vec<_>>());
    assert_eq!(m["verdict"], "WSAEINVAL");
    assert_eq!(m["answered_by"], "provider");
    assert_eq!(m["count"], 6);
    assert_eq!(m["refused"], 1);
    assert_eq!(m["outcomes"][0]["count"], 5);
}

#[test]
fn error_lines_are_kept_once_per_shape_with_the_port_as_written() {
    let mut o = Outcome::default();
    o.keep_lines(
        [
            "PONG".to_string(),
            "Could not connect to Redis at 127.0.0.1:4321: Connection refused".to_string(),
            "Could not connect to Redis at 127.0.0.1:4321: Connection refused".to_string(),
            "12:M setsockopt failed".to_string(),
            "13:M setsockopt failed".to_string(),
        ],
        4321,
    );
    assert_eq!(
        o.error_lines,
        [
            "Could not connect to Redis at 127.0.0.1:{port}: Connection refused",
            "12:M setsockopt failed"
        ]
    );
}
