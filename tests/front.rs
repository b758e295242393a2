//! The preloaded front, `libwsd.so`, and the engine it loads, `libwsd_engine.so`
//! (issue 17): the engine is loaded only where a process needs it, found beside
//! the front however the front was named, and a missing engine is said once and
//! costs the program nothing else; the holder map tells a new image whether it
//! may have SAN sockets to take back, and a stale bit is cleared.

mod support;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;
use support::process::{self, next_line};
use support::{San, TempDir, library, preloaded, python};

/// python3's own executable (not a wrapper script that runs it: pyenv's shim
/// runs several processes, in other directories, before python).
fn python3() -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("run python3");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// What python prints after `setup`: whether the engine is mapped.
fn engine_after(san: &San, setup: &str) -> String {
    let script = format!(
        "import os, socket\n{setup}\nprint('engine' if 'libwsd_engine.so' in open('/proc/self/maps').read() else 'front only')"
    );
    python(san, &script).trim().to_string()
}

#[test]
fn the_engine_is_loaded_only_by_a_process_that_needs_it() {
    let san = San::new("front-lazy");
    assert_eq!(engine_after(&san, "pass"), "front only");
    assert_eq!(
        engine_after(&san, "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()"),
        "front only"
    );
    assert_eq!(
        engine_after(&san, "a, b = socket.socketpair(); a.send(b'x'); b.recv(1)"),
        "front only"
    );
    // A message received without control data needs no engine, room for it
    // or not, nor one whose control data is not descriptors (credentials);
    // one that carried a descriptor does.
    assert_eq!(
        engine_after(
            &san,
            "a, b = socket.socketpair(); b.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1); a.send(b'x')\n_, anc, _, _ = b.recvmsg(1, 64); assert anc and anc[0][1] == socket.SCM_CREDENTIALS, anc"
        ),
        "front only"
    );
    assert_eq!(
        engine_after(
            &san,
            "a, b = socket.socketpair(); a.sendmsg([b'x']); b.recvmsg(1, 64)"
        ),
        "front only"
    );
    assert_eq!(
        engine_after(
            &san,
            "import array\na, b = socket.socketpair()\na.sendmsg([b'x'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [0]))])\nb.recvmsg(1, 64)"
        ),
        "engine"
    );
    assert_eq!(engine_after(&san, "socket.socket().close()"), "engine");
    // A SAN connection leaves the segment behind; a later process that never
    // held anything in it does not load the engine for it.
    assert_eq!(engine_after(&san, support::ONE_CONNECTION), "engine");
    assert!(san.path().exists());
    assert_eq!(engine_after(&san, "pass"), "front only");
}

#[test]
fn the_engine_is_found_beside_a_front_named_relatively_after_the_program_moved() {
    let san = San::new("front-relative");
    let lib = library();
    let dir = lib
        .parent()
        .and_then(|d| d.parent())
        .expect("target/PROFILE/libwsd.so");
    let relative = lib.strip_prefix(dir).expect("under its directory");
    let mut cmd = preloaded(python3(), &san);
    cmd.env("LD_PRELOAD", relative).current_dir(dir).args([
        "-c",
        "import os, socket\nos.chdir('/')\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_DEBUG, 1)\nprint(s.getsockopt(socket.SOL_SOCKET, socket.SO_DEBUG), 'libwsd_engine.so' in open('/proc/self/maps').read())",
    ]);
    let (status, hung, out, err) = process::run_guarded(cmd, Duration::from_secs(60));
    assert!(!hung && status.success(), "{status:?}\n{out}\n{err}");
    // SO_DEBUG is remembered by the switch for a candidate (SPEC §4.2): the
    // engine ran.
    assert_eq!(out.trim(), "1 True", "{err}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn a_missing_engine_is_said_once_and_the_program_runs_without_the_san() {
    let san = San::new("front-alone");
    let alone = TempDir::new("front-alone");
    let front = alone.path("libwsd.so");
    std::fs::copy(library(), &front).expect("copy the front alone");
    let mut cmd = preloaded("python3", &san);
    cmd.env("LD_PRELOAD", &front).args([
        "-c",
        &format!(
            "import ctypes, socket\n{}\nfor i in range(3):\n    s = socket.socket(); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)\ne = ctypes.c_int(12345); v = ctypes.c_int(1)\nrc = ctypes.CDLL(None).WSPSetSockOpt(s.fileno(), 0xffff, 1, ctypes.byref(v), 4, ctypes.byref(e))\nprint('ran', rc, e.value)",
            support::ONE_CONNECTION
        ),
    ]);
    cmd.env("WSD_MODE", "provider");
    let (status, hung, out, err) = process::run_guarded(cmd, Duration::from_secs(60));
    assert!(!hung && status.success(), "{status:?}\n{out}\n{err}");
    // A provider call without the engine: SOCKET_ERROR and WSAENETDOWN.
    assert_eq!(out.trim(), "ran -1 10050");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with(&format!(
            "wsd: cannot load {}",
            alone.path("libwsd_engine.so").display()
        )) && lines[0].ends_with("; the program runs without the SAN"),
        "{err}"
    );
    assert!(!san.path().exists(), "no engine, no segment");
    // The tool says so before it runs anything.
    let out = support::tool()
        .args(["run", "--lib"])
        .arg(&front)
        .args(["--san", &san.name, "--", "true"])
        .output()
        .expect("run wsd");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("libwsd_engine.so") && said.contains("cannot be read"),
        "{said}"
    );
}

#[test]
fn the_holder_map_answers_the_fronts_two_reads() {
    let san = San::new("front-map");
    let seg = wsd::san::Segment::create(&san.name, 64).expect("create a segment");
    let file = std::fs::File::open(san.path()).expect("open the segment's file");
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    let pid = 4_000_000;
    assert!(!wsd_front::segment::may_hold(fd, pid));
    seg.note_holder(pid);
    assert!(wsd_front::segment::may_hold(fd, pid));
    assert!(!wsd_front::segment::may_hold(fd, pid + 1));
    assert!(!wsd_front::segment::may_hold(fd, pid - 8));
    seg.forget_holder(pid);
    assert!(!wsd_front::segment::may_hold(fd, pid));
    // A holder map that is not at the segment's end: nothing to take back from
    // a segment the engine will refuse (and report, when the SAN is needed).
    seg.note_holder(pid);
    let map = &seg.header().holder_map;
    let saved = map.load(std::sync::atomic::Ordering::Relaxed);
    map.store(saved + 8, std::sync::atomic::Ordering::Relaxed);
    assert!(!wsd_front::segment::may_hold(fd, pid));
    map.store(saved, std::sync::atomic::Ordering::Relaxed);
    assert!(wsd_front::segment::may_hold(fd, pid));
    // Another layout's, not a segment at all, too short to be one: no.
    seg.header()
        .layout_version
        .store(8, std::sync::atomic::Ordering::Relaxed);
    assert!(!wsd_front::segment::may_hold(fd, pid));
    for (tag, bytes) in [("foreign", vec![7u8; 4096]), ("short", b"WSD".to_vec())] {
        let other = support::TempFile::new(&format!("front-map-{tag}"));
        std::fs::write(&other.0, bytes).expect("write the file");
        let file = std::fs::File::open(&other.0).expect("open it");
        assert!(
            !wsd_front::segment::may_hold(std::os::fd::AsRawFd::as_raw_fd(&file), 1),
            "{tag}"
        );
    }
}

#[test]
fn a_stale_holder_bit_loads_the_engine_once_and_is_cleared() {
    let san = San::new("front-stale");
    let seg = wsd::san::Segment::create(&san.name, 64).expect("create a segment");
    // A shell under the library waits; its pid's bit is set as if a holder of
    // that pid had exited; then it execs python, the same pid.
    let mut cmd = preloaded("sh", &san);
    cmd.args([
        "-c",
        "echo $$; read go; exec \"$0\" -c \"$1\"",
        &python3(),
        // Says whether the engine is loaded, then execs itself once more (the
        // same pid, whose bit is clear by now) to say it again.
        "import os, sys\nprint('engine' if 'libwsd_engine.so' in open('/proc/self/maps').read() else 'front only', flush=True)\nif len(sys.argv) < 2: os.execv(sys.executable, sys.orig_argv + ['again'])",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped());
    let mut child = process::Proc::spawn(cmd, "sh then python3");
    let lines = process::lines_of(child.child.stdout.take().expect("stdout"));
    let pid: u32 = next_line(&lines, "the shell's pid")
        .trim()
        .parse()
        .expect("a pid");
    assert_eq!(pid, child.pid());
    seg.note_holder(pid);
    let mut stdin = child.child.stdin.take().expect("stdin");
    writeln!(stdin, "go").expect("tell the shell to exec");
    assert_eq!(next_line(&lines, "python's answer").trim(), "engine");
    assert_eq!(next_line(&lines, "its next image's answer").trim(), "front only");
    assert!(child.wait().success());
    assert!(!seg.may_hold(pid), "the engine found nothing and cleared the bit");
}
