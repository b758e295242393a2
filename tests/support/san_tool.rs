//! `wsd san` as the tests run it: bounded by the hang guard, with the segment
//! named on its command line (never taken from the caller's `WSD_SAN`), and the
//! status document it prints.

use super::San;
use super::process::{Proc, drain};
use serde_json::Value;
use std::process::{Output, Stdio};

/// `wsd san ARGS --san NAME`, which must end within
/// [`HANG`](super::process::HANG).
pub fn wsd_san(san: &San, args: &[&str]) -> Output {
    let mut cmd = super::tool();
    cmd.arg("san")
        .args(args)
        .args(["--san", &san.name])
        .env_remove("WSD_SAN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut p = Proc::spawn(cmd, format!("wsd san {args:?}"));
    let out = drain(p.child.stdout.take());
    let err = drain(p.child.stderr.take());
    let status = p.wait();
    Output {
        status,
        stdout: out.join().unwrap().into_bytes(),
        stderr: err.join().unwrap().into_bytes(),
    }
}

/// A tool run's status and output, for a failure message.
pub fn text(out: &Output) -> String {
    format!(
        "{:?}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `wsd san ARGS`, which must succeed; its standard output.
pub fn wsd_san_ok(san: &San, args: &[&str]) -> String {
    let out = wsd_san(san, args);
    assert!(out.status.success(), "wsd san {args:?}: {}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// `wsd san check`, which must find the segment sound; `context` says when, in
/// the failure's message.
pub fn assert_sound(san: &San, context: &str) {
    let check = wsd_san(san, &["check"]);
    assert!(
        check.status.success(),
        "wsd san check {context}: {}",
        text(&check)
    );
}

/// `wsd san status --json`.
pub fn status(san: &San) -> Value {
    serde_json::from_str(&wsd_san_ok(san, &["status", "--json"])).expect("status --json is JSON")
}

/// The endpoints of a `wsd san status --json` document.
pub fn endpoints(v: &Value) -> &Vec<Value> {
    v["endpoints"].as_array().expect("endpoints array")
}

/// The one endpoint of a status document whose fields have the given values.
pub fn endpoint<'a>(v: &'a Value, tests: &[(&str, Value)]) -> &'a Value {
    let found: Vec<&Value> = endpoints(v)
        .iter()
        .filter(|e| tests.iter().all(|(k, want)| &e[*k] == want))
        .collect();
    assert_eq!(found.len(), 1, "one endpoint with {tests:?} in {v:#}");
    found[0]
}

/// No endpoint of a status document has all the given values.
pub fn no_endpoint(v: &Value, tests: &[(&str, Value)]) {
    assert!(
        !endpoints(v)
            .iter()
            .any(|e| tests.iter().all(|(k, want)| &e[*k] == want)),
        "no endpoint with {tests:?} in {v:#}"
    );
}
