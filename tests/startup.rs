//! What the library costs a program that never makes a TCP socket: its start-up
//! (the constructor) may make only a few cheap system calls — no /proc read, no
//! allocation, no segment mapped — and leaves everything else to the first socket
//! (`state::start`). Shown with strace on `/bin/true`, with and without the library.

mod support;

use std::collections::BTreeMap;
use std::process::Command;

/// The system calls of `/bin/true`, by name, with `preload` or without.
fn calls(preload: bool, san: &str) -> (BTreeMap<String, usize>, String) {
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-e", "trace=all", "/bin/true"])
        .env_remove("LD_PRELOAD")
        .env("WSD_SAN", san);
    if preload {
        cmd.env("LD_PRELOAD", support::library());
    }
    let out = cmd.output().expect("run strace (scripts/test installs it)");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        if let Some((name, _)) = line.split_once('(') {
            *counts.entry(name.trim().to_string()).or_default() += 1;
        }
    }
    (counts, text)
}

#[test]
fn a_program_without_tcp_sockets_pays_only_a_few_system_calls() {
    let san = support::San::new("startup");
    let (without, _) = calls(false, &san.name);
    let (with, text) = calls(true, &san.name);
    // Loading the library (open, read, stat, its segments' mappings — four or five
    // with the debug build's layout —, close, mprotect), then the constructor:
    // getpid, fstat of fd 2, two getrlimit, the descriptor table's mapping, and a
    // look whether the segment exists. No brk or getrandom: nothing is allocated.
    let allowed: BTreeMap<&str, usize> = [
        ("openat", 1),
        ("read", 1),
        ("newfstatat", 2),
        ("mmap", 6),
        ("close", 1),
        ("mprotect", 2),
        ("getpid", 1),
        ("prlimit64", 2),
        ("access", 1),
    ]
    .into();
    for (name, &n) in &with {
        let extra = n.saturating_sub(without.get(name).copied().unwrap_or(0));
        assert!(
            extra <= allowed.get(name.as_str()).copied().unwrap_or(0),
            "{extra} more {name} than without the library:\n{text}"
        );
    }
    assert!(!text.contains("/proc/"), "start-up read /proc:\n{text}");
    assert!(
        !text.contains("/dev/shm/wsd.") || text.contains("access(\"/dev/shm/wsd."),
        "{text}"
    );
}

#[test]
fn the_first_tcp_socket_starts_the_library() {
    // python3 makes a TCP socket and sets an option the switch answers itself:
    // that the answer is the switch's shows the state was set up on that socket.
    let san = support::San::new("startup-late");
    let out = Command::new("python3")
        .args([
            "-c",
            "import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, 0x2002, 3); \
             print(int.from_bytes(s.getsockopt(socket.SOL_SOCKET, 0x2002, 4), 'little'))",
        ])
        .env("LD_PRELOAD", support::library())
        .env("WSD_SAN", &san.name)
        .output()
        .expect("run python3");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3");
}
