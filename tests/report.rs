//! The report counts every call exactly (`san::lanes`, `san::report`): threads
//! counting in parallel, threads that exit and give their lanes to the next ones,
//! and calls from signal handlers that interrupt the library (those count in the
//! shared lane). `c-tests/counting.c` says how many calls it made; the report of
//! its segment must show exactly that many.

mod support;

use std::time::Duration;

#[test]
fn every_call_is_counted_once() {
    let san = support::San::new("counting");
    let exe = support::cc::program("counting");
    let cmd = support::preloaded(&exe, &san);
    let (status, hung, out, err) = support::process::run_guarded(cmd, Duration::from_secs(120));
    assert!(status.success() && !hung, "{status:?}\n{out}\n{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("sets "))
        .expect("a `sets N gets N` line");
    let nums: Vec<u64> = line.split(' ').filter_map(|w| w.parse().ok()).collect();
    let (sets, gets) = (nums[0], nums[1]);

    let report = support::tool()
        .args(["report", "--json", "--san", &san.name])
        .output()
        .unwrap();
    assert!(report.status.success(), "{report:?}");
    let doc: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let counted = |call: &str| -> u64 {
        doc["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["program"] == "counting" && r["call"] == call && r["option"] == 0x2002)
            .map(|r| {
                assert_eq!(r["verdict"], "ok", "{r}");
                r["count"].as_u64().unwrap()
            })
            .sum()
    };
    assert_eq!(counted("setsockopt"), sets, "{doc:#}");
    assert_eq!(counted("getsockopt"), gets, "{doc:#}");
    assert_eq!(doc["summary"]["dropped"], 0);
}
