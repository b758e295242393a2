//! What the library costs a program that never makes a TCP socket: the front's
//! start-up (its constructor) may make only a few cheap system calls — no /proc
//! read, no allocation, no segment mapped, no engine loaded — and leaves
//! everything else to the first socket. Shown with strace on `/bin/true`, with
//! and without the library.

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

/// The calls loading the front makes (open, read, stat, its segments' mappings,
/// close, mprotect for its RELRO), then the constructor's, made as system calls
/// of its own (`wsd_front::sys`, so `fstat` where libc makes `newfstatat`):
/// fstat of fd 2, the descriptor limit, the descriptor table's mapping, and an
/// open of the segment to see whether it may list this process.
const LOADING_AND_STARTING: [(&str, usize); 8] = [
    ("openat", 2),
    ("read", 1),
    ("newfstatat", 1),
    ("fstat", 1),
    ("mmap", 6),
    ("close", 1),
    ("mprotect", 1),
    ("prlimit64", 1),
];

/// `/bin/true` with the library makes at most `allowed` more calls of each kind
/// than without, reads no /proc and allocates nothing (no brk or getrandom, which
/// malloc's first use makes). Returns strace's output.
fn only_these_calls(san: &str, allowed: &[(&str, usize)]) -> String {
    let allowed: BTreeMap<&str, usize> = allowed.iter().copied().collect();
    let (without, _) = calls(false, san);
    let (with, text) = calls(true, san);
    for (name, &n) in &with {
        let extra = n.saturating_sub(without.get(name).copied().unwrap_or(0));
        assert!(
            extra <= allowed.get(name.as_str()).copied().unwrap_or(0),
            "{extra} more {name} than without the library:\n{text}"
        );
    }
    assert!(!text.contains("/proc/"), "start-up read /proc:\n{text}");
    text
}

#[test]
fn a_program_without_tcp_sockets_pays_only_a_few_system_calls() {
    let san = support::San::new("startup");
    let text = only_these_calls(&san.name, &LOADING_AND_STARTING);
    // The one look at the segment finds none.
    let looks: Vec<&str> = text.lines().filter(|l| l.contains("/dev/shm/wsd.")).collect();
    assert!(looks.len() == 1 && looks[0].contains("ENOENT"), "{text}");
}

#[test]
fn an_existing_segment_that_does_not_list_the_program_costs_two_reads() {
    // The segment exists (as it does wherever wsd has been used), but this process
    // holds nothing in it: the front reads the header and the pid's byte of the
    // holder map, and neither maps the segment nor loads the engine.
    let san = support::San::new("startup-segment");
    let out = support::tool()
        .args(["san", "create", "--san", &san.name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut allowed = LOADING_AND_STARTING;
    for (name, n) in &mut allowed {
        *n += match *name {
            "close" => 1,
            _ => 0,
        };
    }
    let text = only_these_calls(
        &san.name,
        &[&allowed[..], &[("getpid", 1), ("pread64", 2)]].concat(),
    );
    // The two reads are made (the header, and this pid's byte of the holder map).
    let header = text
        .lines()
        .any(|l| l.starts_with("pread64(") && l.contains("\"WSD-SAN"));
    let bit = text
        .lines()
        .any(|l| l.starts_with("pread64(") && l.contains("\", 1, "));
    assert!(
        header && bit,
        "the front did not read the header and the holder map:\n{text}"
    );
    assert!(
        !text.contains("libwsd_engine.so"),
        "the engine was loaded:\n{text}"
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
