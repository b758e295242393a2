//! The SAN segment as programs share it: created on first use with mode 0600 and a
//! versioned header; a second process reads the values a first one set; `create`
//! is exclusive and `destroy` removes it. (Which segments the library refuses to
//! use is `tests/segment_trust.rs`'.)

mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::sync::atomic::Ordering::Relaxed;
use support::{San, preloaded};
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

#[test]
fn a_second_process_reads_what_the_first_one_set() {
    let san = San::new("share");
    let mut child = preloaded("python3", &san)
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
