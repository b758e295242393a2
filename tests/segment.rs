//! The SAN segment as programs share it: created on first use with mode 0600 and a
//! versioned header; a second process reads the values a first one set; a segment
//! that cannot be trusted is refused with one warning and nothing breaks.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use support::{San, library};
use wsd::san::Segment;
use wsd::san::layout::{LAYOUT_VERSION, MAGIC};

/// A python3 program that makes a loopback connection, sets options on both ends,
/// reports its pid, and holds the sockets until its standard input closes.
const HOLDER: &str = r#"
import os, socket, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
c = socket.socket(); c.connect(srv.getsockname()); a, _ = srv.accept()
c.setsockopt(socket.SOL_SOCKET, 0x2002, 5)
a.setsockopt(0xffff, socket.SO_DEBUG, 7)
print(os.getpid(), c.getsockname()[1], flush=True)
sys.stdin.read()
"#;

fn python_under_library(san: &San) -> Command {
    let mut cmd = Command::new("python3");
    cmd.env("LD_PRELOAD", library())
        .env("WSD_SAN", &san.name)
        .env("WSD_LOG_FILE", "/dev/null")
        .env_remove("WSD_MODE")
        .env_remove("WSD_SUBNETS");
    cmd
}

#[test]
fn a_second_process_reads_what_the_first_one_set() {
    let san = San::new("share");
    let mut child = python_under_library(&san)
        .args(["-c", HOLDER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let mut words = line.split_whitespace().map(|w| w.parse::<u32>().unwrap());
    let (pid, client_port) = (words.next().unwrap(), words.next().unwrap());

    let meta = std::fs::metadata(san.path()).expect("segment created on first use");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    let seg = Segment::open(&san.name).expect("the segment validates");
    let h = seg.header();
    assert_eq!(h.magic.load(Relaxed), MAGIC);
    assert_eq!(h.layout_version.load(Relaxed), LAYOUT_VERSION);

    let mine: Vec<_> = seg
        .live()
        .filter(|(_, r)| r.pid.load(Relaxed) == pid)
        .map(|(_, r)| r)
        .collect();
    assert_eq!(mine.len(), 3, "listener, client and accepted socket");
    let client = mine
        .iter()
        .find(|r| r.local.load().map(|a| a.port()) == Some(client_port as u16))
        .expect("client endpoint");
    assert_eq!(client.group_priority.load(Relaxed), 5);
    assert!(
        mine.iter().any(|r| r.so_debug.load(Relaxed) == 1),
        "SO_DEBUG 7 stored as 1"
    );
    assert!(mine.iter().all(|r| r.comm().starts_with("python")));

    child.stdin.take().unwrap().write_all(b"").unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        seg.live().filter(|(_, r)| r.pid.load(Relaxed) == pid).count(),
        0,
        "closing released every record"
    );
}

/// A program that connects on loopback and tries a provider option.
const PROBE: &str = r#"
import errno, socket
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
c = socket.socket(); c.connect(srv.getsockname())
try:
    c.setsockopt(socket.SOL_SOCKET, 0x2002, 1); print("accepted")
except OSError as e:
    print(errno.errorcode[e.errno])
"#;

fn probe_with_segment_bytes(tag: &str, bytes: &[u8], mode: u32) -> (String, String) {
    let san = San::new(tag);
    std::fs::write(san.path(), bytes).unwrap();
    std::fs::set_permissions(san.path(), std::fs::Permissions::from_mode(mode)).unwrap();
    let out = python_under_library(&san)
        .env_remove("WSD_LOG_FILE")
        .args(["-c", PROBE])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        std::fs::read(san.path()).unwrap(),
        bytes,
        "a refused segment is left untouched"
    );
    (
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn untrusted_segments_are_refused_once_and_sockets_stay_plain() {
    let good_size = wsd::san::layout::segment_size(4);
    let mut wrong_version = vec![0u8; good_size];
    wrong_version[..8].copy_from_slice(&MAGIC.to_le_bytes());
    wrong_version[8..12].copy_from_slice(&(LAYOUT_VERSION + 1).to_le_bytes());
    for (tag, bytes, mode, reason) in [
        ("magic", vec![0xa5u8; good_size], 0o600, "bad magic"),
        // An older (or newer) layout: said so, with how to replace it.
        ("version", wrong_version, 0o600, "made by another version of wsd"),
        ("short", vec![0u8; 16], 0o600, "size 16"),
        ("mode", vec![0u8; good_size], 0o644, "permissions 0644"),
    ] {
        let (stdout, stderr) = probe_with_segment_bytes(tag, &bytes, mode);
        // The socket fell back to plain TCP: the kernel answers the group option.
        assert_eq!(stdout, "ENOPROTOOPT", "{tag}");
        assert_eq!(stderr.matches("cannot be used").count(), 1, "{tag}: {stderr}");
        assert!(stderr.contains(reason), "{tag}: {stderr}");
        if tag == "version" {
            assert!(stderr.contains("`wsd san destroy`"), "{stderr}");
        }
    }
}

#[test]
fn a_symlink_is_not_followed() {
    let san = San::new("link");
    let target = San::new("link-target");
    Segment::create(&target.name, 4).unwrap();
    std::os::unix::fs::symlink(target.path(), san.path()).unwrap();
    assert_eq!(
        Segment::open(&san.name).err(),
        Some(wsd::san::SegmentError::Symlink)
    );
}

#[test]
fn create_is_exclusive_and_destroy_removes() {
    let san = San::new("excl");
    let seg = Segment::create(&san.name, 8).unwrap();
    assert_eq!(seg.capacity(), 8);
    assert_eq!(
        Segment::create(&san.name, 8).err(),
        Some(wsd::san::SegmentError::Exists)
    );
    Segment::destroy(&san.name).unwrap();
    assert_eq!(
        Segment::open(&san.name).err(),
        Some(wsd::san::SegmentError::Missing)
    );
}
