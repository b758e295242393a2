//! Several hosts on one machine (SPEC §4.1 subnets, §5 sharing): two network
//! namespaces joined by veth on a private test subnet share one SAN segment,
//! through `scripts/netns-demo`. Needs root; says it was skipped otherwise.

mod support;

use std::process::Command;
use support::{San, library};

#[test]
fn client_and_server_in_two_namespaces_share_one_san() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root || Command::new("ip").arg("-V").output().is_err() {
        eprintln!("skipped: network namespaces need root and iproute2");
        return;
    }
    let san = San::new("netns");
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/netns-demo"))
        .args(["--json", "--wsd", env!("CARGO_BIN_EXE_wsd"), "--lib"])
        .arg(library())
        .args([
            "--san",
            &san.name,
            "--prefix",
            &format!("wt{}", std::process::id()),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let eps = v["status"]["endpoints"].as_array().unwrap();
    let by_role = |role: &str| {
        eps.iter()
            .find(|e| e["role"] == role)
            .unwrap_or_else(|| panic!("{role}"))
    };
    let (client, server) = (by_role("connector"), by_role("accepted"));
    assert!(client["local"].as_str().unwrap().starts_with("10.77.0.1:"));
    assert!(server["local"].as_str().unwrap().starts_with("10.77.0.2:"));
    assert_eq!(client["peer_id"], server["id"]);
    assert_eq!(server["peer_id"], client["id"]);
    assert_ne!(client["pid"], server["pid"]);
    assert_eq!(client["group_priority"], 9);
    assert_eq!(server["group_priority"], 4);
    let seen = &v["seen"];
    assert_eq!(seen["server_set"], "ok");
    assert_eq!(seen["client_set"], "ok");
    assert_eq!(seen["server_after_reset"], "ENOTCONN");
    assert_eq!(seen["client_after_reset"], "ENOTCONN");
}
