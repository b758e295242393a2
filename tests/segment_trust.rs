//! Segment trust: the library uses a SAN segment only if it can trust it, and a
//! segment it refuses costs one warning and breaks nothing — sockets stay plain
//! TCP, and every other option works.
//!
//! - Files at the segment's path that are not a private segment of this user:
//!   loose permissions, another owner (as root), a symbolic link, a FIFO, a
//!   directory — each refused, and left exactly as it was.
//! - A segment root made is out of reach of `nobody` (as root).
//! - Bytes that are not a segment of this version: bad magic, another layout
//!   version, a short file; hostile header fields, refused or survived without a
//!   read outside the mapping (under valgrind when it is installed); garbage in
//!   every record byte.
//! - `wsd san check` names each planted violation of a record, by the endpoint id
//!   `wsd san status` shows.
//!
//! The C side is `c-tests/segment_trust.c`; other programs are python3 agents
//! (`tests/agents/san_agent.py`) and one-line probes. Segments that several users
//! share on purpose (a group's `0660` segment) are `tests/users.rs`'; bounded
//! random corruption is `tests/properties.rs`'.

mod support;

use serde_json::Value;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::atomic::Ordering::Relaxed;
use support::agent::{agent_command, pair, pair_with};
use support::c_run::{Outcome, Run};
use support::cc::program;
use support::san_tool::{assert_sound, endpoint, status, wsd_san, wsd_san_ok};
use support::valgrind;
use support::{San, TempDir, TempFile, is_root, library, me, new_endpoint, nobody, preloaded, temp_name};
use wsd::san::layout::{HEADER_SIZE, Header, LAYOUT_VERSION, MAGIC, MAX_CAPACITY, REPORT_ROWS, segment_size};
use wsd::san::{EndpointRef, Segment};

/// `c-tests/segment_trust.c`.
fn segment_trust() -> PathBuf {
    program("segment_trust")
}

/// Did not hang, exited 0, and the library did not panic. `case` names what was
/// planted.
fn assert_ran(o: &Outcome, case: &str) {
    assert!(!o.hung, "{case}: hung\n{}", o.report());
    assert!(o.status.success(), "{case}: failed\n{}", o.report());
    assert!(
        !o.stderr.contains("panicked at"),
        "{case}: the library panicked\n{}",
        o.report()
    );
}

/// [`assert_ran`], with exactly one warning, which says the segment cannot be
/// used and mentions `reason`.
fn assert_refused_once(o: &Outcome, case: &str, reason: &str) {
    assert_ran(o, case);
    let w = o.warnings();
    assert_eq!(w.len(), 1, "{case}: one warning, not {}\n{}", w.len(), o.report());
    assert!(
        w[0].contains("cannot be used") && w[0].contains(reason),
        "{case}: the warning names the reason {reason:?}\n{}",
        o.report()
    );
}

// ---- bytes that are not a segment ---------------------------------------------------

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
    let out = preloaded("python3", &san)
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

// ---- what is at the path ------------------------------------------------------------

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

/// Can any user (nobody) reach `path`: every directory above it searchable by
/// others, and the file itself readable (and executable, if `exec`) by them?
fn reachable_by_others(path: &Path, exec: bool) -> bool {
    let want = if exec { 0o005 } else { 0o004 };
    std::fs::metadata(path).is_ok_and(|m| m.mode() & want == want)
        && path
            .ancestors()
            .skip(1)
            .all(|d| std::fs::metadata(d).is_ok_and(|m| m.mode() & 0o001 != 0))
}

#[test]
fn a_segment_made_by_root_is_out_of_reach_of_nobody() {
    if !is_root() {
        println!("skipped: needs root (to drop to nobody)");
        return;
    }
    for (path, exec) in [(segment_trust(), true), (library().to_path_buf(), false)] {
        if !reachable_by_others(&path, exec) {
            println!("skipped: nobody cannot reach {}", path.display());
            return;
        }
    }
    let san = San::new("root-made");
    drop(Segment::create(&san.name, 16).expect("create the segment as root"));
    let meta = std::fs::metadata(san.path()).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o600));
    let before = std::fs::read(san.path()).unwrap();

    // Not created beforehand: nobody creates it, in a directory anyone may write to.
    let dir = TempDir(PathBuf::from("/tmp").join(temp_name("nobody").file_name().unwrap()));
    std::fs::create_dir(&dir.0).unwrap();
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o777)).unwrap();
    let nobody_log = TempFile(dir.0.join("log"));
    let o = Run::new(segment_trust(), &["drop-to-nobody"])
        .arg(&nobody_log.0)
        .run(&san);
    o.assert_clean();
    let text = nobody_log.read();
    let warnings: Vec<&str> = text.lines().filter(|l| l.starts_with("wsd: ")).collect();
    assert_eq!(warnings.len(), 1, "nobody's log:\n{text}\n{}", o.report());
    assert!(
        warnings[0].starts_with("wsd: warning:")
            && warnings[0].contains("cannot be used")
            && warnings[0].contains("ermission denied"),
        "nobody's warning: {}",
        warnings[0]
    );
    let meta = std::fs::metadata(san.path()).unwrap();
    assert_eq!(
        (meta.uid(), meta.mode() & 0o7777),
        (0, 0o600),
        "still root's, 0600"
    );
    let after = std::fs::read(san.path()).unwrap();
    assert_eq!(before.len(), after.len());
    let (uid, _) = nobody();
    println!("nobody (uid {uid}) was refused: {}", warnings[0]);
}

/// A pre-created object at the segment's path.
enum Planted {
    /// A real segment with this mode and owner.
    Segment {
        mode: u32,
        owner: Option<(u32, u32)>,
    },
    /// A symbolic link to a valid segment.
    Symlink,
    Fifo,
    Directory,
}

#[test]
fn pre_created_segments_that_are_not_private_or_not_ours_are_refused() {
    let root_user = is_root();
    let (uid, gid) = nobody();
    let mut cases: Vec<(String, Planted, String)> = Vec::new();
    for mode in [
        // 0660 is a group's shared segment when the file's group is one of the
        // process's (tests/users.rs covers it); every other mode is refused.
        0o644, 0o640, 0o604, 0o606, 0o666, 0o700, 0o620, 0o4600, 0o1600,
    ] {
        cases.push((
            format!("mode {mode:04o}"),
            Planted::Segment { mode, owner: None },
            format!("permissions {mode:04o}"),
        ));
    }
    if root_user {
        cases.push((
            "mode 0400 (root opens it anyway)".into(),
            Planted::Segment {
                mode: 0o400,
                owner: None,
            },
            "permissions 0400".into(),
        ));
        cases.push((
            "owned by nobody".into(),
            Planted::Segment {
                mode: 0o600,
                owner: Some((uid, gid)),
            },
            format!("owned by uid {uid}"),
        ));
        cases.push((
            "owned by nobody, mode 0666".into(),
            Planted::Segment {
                mode: 0o666,
                owner: Some((uid, 0)),
            },
            format!("owned by uid {uid}"),
        ));
    } else {
        println!("skipped: segments owned by another user (needs root to chown)");
    }
    cases.push(("a symbolic link".into(), Planted::Symlink, "symbolic link".into()));
    cases.push(("a FIFO".into(), Planted::Fifo, "not a regular".into()));
    cases.push(("a directory".into(), Planted::Directory, "Is a directory".into()));

    for (what, planted, reason) in cases {
        let san = San::new("planted");
        let target = San::new("planted-target");
        let path = san.path();
        match &planted {
            Planted::Segment { mode, owner } => {
                drop(Segment::create(&san.name, 8).unwrap());
                if let Some((u, g)) = owner {
                    std::os::unix::fs::chown(&path, Some(*u), Some(*g)).unwrap();
                }
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
            }
            Planted::Symlink => {
                drop(Segment::create(&target.name, 8).unwrap());
                std::os::unix::fs::symlink(target.path(), &path).unwrap();
            }
            Planted::Fifo => {
                let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
                // SAFETY: a valid path.
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            }
            Planted::Directory => {
                std::fs::create_dir(&path).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
            }
        }
        let before = std::fs::symlink_metadata(&path).unwrap();
        let bytes = before.is_file().then(|| std::fs::read(&path).unwrap());
        let target_bytes = std::fs::read(target.path()).ok();

        let o = Run::new(segment_trust(), &["refused"]).run(&san);
        // Whatever was planted is left exactly as it was.
        let after = std::fs::symlink_metadata(&path).unwrap();
        if matches!(planted, Planted::Directory) {
            let _ = std::fs::remove_dir(&path);
        }
        assert_refused_once(&o, &what, &reason);
        assert_eq!(
            after.file_type().is_fifo(),
            before.file_type().is_fifo(),
            "{what}"
        );
        assert_eq!(
            after.file_type().is_symlink(),
            before.file_type().is_symlink(),
            "{what}"
        );
        assert_eq!(
            (after.ino(), after.mode(), after.uid()),
            (before.ino(), before.mode(), before.uid()),
            "{what}: replaced or changed"
        );
        if let Some(b) = bytes {
            assert!(
                std::fs::read(&path).unwrap() == b,
                "{what}: a refused segment was written to"
            );
        }
        if let Some(b) = target_bytes {
            assert!(
                std::fs::read(target.path()).unwrap() == b,
                "{what}: the link's target was written to"
            );
        }
    }
}

// ---- another user -------------------------------------------------------------------

#[test]
fn a_segment_owned_by_another_user_is_refused_with_one_warning() {
    if !is_root() {
        println!("skipped: chowning a segment to nobody needs root");
        return;
    }
    let nobody = nobody().0;
    let san = San::new("foreign");
    wsd_san_ok(&san, &["create"]);
    std::os::unix::fs::chown(san.path(), Some(nobody), None).unwrap();

    let (mut server, mut client) = pair_with(|| {
        let mut cmd = agent_command(&san);
        cmd.env_remove("WSD_LOG_FILE");
        cmd
    });
    for a in [&mut server, &mut client] {
        assert_eq!(a.ask("set 0x2002 1"), "ENOPROTOOPT", "{}: plain TCP", a.what);
        assert_eq!(a.ask("nodelay"), "ok", "{}", a.what);
    }
    for a in [&mut server, &mut client] {
        let (st, err) = a.finish();
        assert!(st.success(), "{}: {st:?}", a.what);
        assert_eq!(err.matches("owned by uid").count(), 1, "{}: {err}", a.what);
        assert_eq!(err.matches("warning").count(), 1, "{}: {err}", a.what);
        assert!(
            err.contains(&format!("owned by uid {nobody}")),
            "{}: {err}",
            a.what
        );
    }
}

// ---- hostile headers and records ----------------------------------------------------

/// One hostile header: what is done to a freshly made segment of capacity 4, and
/// whether it must be refused (with a reason in the warning).
struct Hostile {
    what: &'static str,
    header: fn(&Header),
    /// The file's size afterwards, if changed.
    len: Option<u64>,
    /// Every byte after the header set to this.
    fill: Option<u8>,
    refused: Option<&'static str>,
}

impl Hostile {
    fn new(what: &'static str, refused: Option<&'static str>, header: fn(&Header)) -> Hostile {
        Hostile {
            what,
            header,
            len: None,
            fill: None,
            refused,
        }
    }

    fn len(self, len: usize) -> Hostile {
        Hostile {
            len: Some(len as u64),
            ..self
        }
    }

    fn fill(self, byte: u8) -> Hostile {
        Hostile {
            fill: Some(byte),
            ..self
        }
    }
}

fn hostile_cases() -> Vec<Hostile> {
    use Ordering::Relaxed;
    vec![
        // The first check that fails decides: the geometry, here.
        Hostile::new("every field at its worst", Some("geometry"), |h| {
            h.capacity.store(u32::MAX, Relaxed);
            h.total_size.store(u64::MAX, Relaxed);
            h.report_rows.store(REPORT_ROWS + 1, Relaxed);
            h.high_water.store(u32::MAX, Relaxed);
            h.next_id.store(0, Relaxed);
            h.network.store(7, Relaxed);
        }),
        Hostile::new("capacity 0xffffffff", Some("capacity 4294967295"), |h| {
            h.capacity.store(u32::MAX, Relaxed)
        }),
        Hostile::new("capacity 0", Some("capacity 0"), |h| h.capacity.store(0, Relaxed)),
        Hostile::new("capacity 5 in a file sized for 4", Some("size"), |h| {
            h.capacity.store(5, Relaxed)
        }),
        Hostile::new("the largest capacity in a file sized for 4", Some("size"), |h| {
            h.capacity.store(MAX_CAPACITY, Relaxed)
        }),
        Hostile::new("total_size 2^64-1", Some("size"), |h| {
            h.total_size.store(u64::MAX, Relaxed)
        }),
        Hostile::new("header and file sized for 8, capacity 4", Some("size"), |h| {
            h.total_size.store(segment_size(8) as u64, Relaxed)
        })
        .len(segment_size(8)),
        Hostile::new("a file larger than the largest segment", Some("size"), |_| {})
            .len(segment_size(MAX_CAPACITY) + 4096),
        Hostile::new("a file shorter than its header", Some("size"), |_| {}).len(HEADER_SIZE - 8),
        Hostile::new("report_rows wrong", Some("geometry"), |h| {
            h.report_rows.store(u32::MAX, Relaxed)
        }),
        Hostile::new("record_size wrong", Some("geometry"), |h| {
            h.record_size.store(1, Relaxed)
        }),
        Hostile::new("header_size wrong", Some("geometry"), |h| {
            h.header_size.store(u32::MAX, Relaxed)
        }),
        Hostile::new("index buckets wrong", Some("geometry"), |h| {
            h.key_buckets.store(3, Relaxed);
            h.addr_buckets.store(u32::MAX, Relaxed);
        }),
        Hostile::new("free list, index lock and reaping cursor hostile", None, |h| {
            h.free_head.store(u32::MAX, Relaxed);
            // A lock held by a thread that does not exist: taken over.
            h.index_lock.store(u64::MAX, Relaxed);
            h.reap_cursor.store(u32::MAX, Relaxed);
            h.reap_due_ms.store(0, Relaxed);
        }),
        // Held "by" init's thread, which lives for ever: every call does without
        // the lock (the program runs, its sockets stay plain TCP), and only the
        // first waits for it.
        Hostile::new("index lock held by a thread that never lets go", None, |h| {
            h.index_lock.store(wsd::san::layout::lane_owner(1, 1), Relaxed)
        }),
        Hostile::new("free list pointing at itself", None, |h| {
            h.free_head.store(1, Relaxed)
        })
        .fill(0x00),
        Hostile::new("high_water 0xffffffff", None, |h| {
            h.high_water.store(u32::MAX, Relaxed)
        }),
        Hostile::new("next_id 0", None, |h| h.next_id.store(0, Relaxed)),
        Hostile::new("next_id 2^64-1", None, |h| h.next_id.store(u64::MAX, Relaxed)),
        Hostile::new("network 7", None, |h| h.network.store(7, Relaxed)),
        Hostile::new(
            "every accepted field at its worst, every record and report byte 0xff",
            None,
            |h| {
                h.high_water.store(u32::MAX, Relaxed);
                h.next_id.store(0, Relaxed);
                h.network.store(7, Relaxed);
                for c in [
                    &h.stats.endpoints_created,
                    &h.stats.fallback_full,
                    &h.stats.connections,
                    &h.stats.report_dropped,
                ] {
                    c.store(u64::MAX, Relaxed);
                }
            },
        )
        .fill(0xff),
        Hostile::new(
            "high_water and next_id hostile, every record byte 0x02 (LIVE, held by dead pids)",
            None,
            |h| {
                h.high_water.store(u32::MAX, Relaxed);
                h.next_id.store(u64::MAX - 1, Relaxed);
            },
        )
        .fill(0x02),
    ]
}

#[test]
fn hostile_header_fields_are_refused_or_survived_without_reading_outside_the_mapping() {
    let under_valgrind = valgrind::present();
    if !under_valgrind {
        println!("valgrind missing: the hostile segments run natively only");
    }
    for case in hostile_cases() {
        let san = San::new("hostile");
        {
            let seg = Segment::create(&san.name, 4).unwrap();
            (case.header)(seg.header());
        }
        if let Some(fill) = case.fill {
            let mut bytes = std::fs::read(san.path()).unwrap();
            bytes[HEADER_SIZE..].fill(fill);
            std::fs::write(san.path(), &bytes).unwrap();
        }
        if let Some(len) = case.len {
            std::fs::OpenOptions::new()
                .write(true)
                .open(san.path())
                .unwrap()
                .set_len(len)
                .unwrap();
        }
        let before = std::fs::read(san.path()).unwrap();
        let expect = if case.refused.is_some() { "refused" } else { "any" };
        for valgrind in [false, true] {
            if valgrind && !under_valgrind {
                continue;
            }
            let o = Run::new(segment_trust(), &["hostile", expect])
                .valgrind(valgrind)
                .run(&san);
            let what = format!("{} ({})", case.what, o.what);
            if valgrind {
                let note = valgrind::assert_clean(&o);
                assert!(note.is_empty(), "{what}: {note}\n{}", o.report());
            }
            match case.refused {
                Some(reason) => {
                    assert_refused_once(&o, &what, reason);
                    assert!(
                        std::fs::read(san.path()).unwrap() == before,
                        "{what}: a refused segment was written to"
                    );
                }
                None => assert_ran(&o, &what),
            }
        }
    }
}

#[test]
fn garbage_in_every_record_byte_crashes_nothing() {
    let san = San::new("garbage");
    let capacity = 8;
    drop(Segment::create(&san.name, capacity).unwrap());
    let mut bytes = std::fs::read(san.path()).unwrap();
    assert_eq!(bytes.len(), segment_size(capacity));
    bytes[HEADER_SIZE..].fill(0xa5);
    std::fs::OpenOptions::new()
        .write(true)
        .open(san.path())
        .unwrap()
        .write_all(&bytes)
        .unwrap();

    let (mut server, mut client) = pair(&san);
    for a in [&mut server, &mut client] {
        let set = a.ask("set 0x2002 1");
        assert!(
            ["ok", "ENOPROTOOPT", "ENETDOWN"].contains(&set.as_str()),
            "{}: {set}",
            a.what
        );
        let get = a.ask("get 0x2002");
        assert!(
            ["1", "0", "ENOPROTOOPT", "ENETDOWN"].contains(&get.as_str()),
            "{}: {get}",
            a.what
        );
        assert_eq!(a.ask("nodelay"), "ok", "{}", a.what);
    }
    for a in [&mut server, &mut client] {
        let (st, err) = a.finish();
        assert!(st.success(), "{}: {st:?} {err}", a.what);
    }
    // The tool reads the same bytes without crashing either.
    for verb in [&["status", "--json"][..], &["check"][..]] {
        let out = wsd_san(&san, verb);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{verb:?}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// ---- wsd san check ------------------------------------------------------------------

#[test]
fn check_reports_each_planted_violation() {
    let san = San::new("corrupt");
    let seg = Segment::create(&san.name, 8).unwrap();
    let (pid, me) = me();
    let refs: Vec<EndpointRef> = (0..6)
        .map(|_| seg.allocate(&new_endpoint(me, pid)).unwrap().endpoint())
        .collect();
    let rec = |i: usize| seg.record(refs[i].index).unwrap();
    assert_sound(&san, "before the corruption");

    rec(0).state.store(0x77, Relaxed);
    rec(1).group_priority.store(-5, Relaxed);
    rec(2).so_debug.store(9, Relaxed);
    rec(3).role.store(42, Relaxed);
    let dup = rec(1).id.load(Relaxed);
    rec(4).id.store(dup, Relaxed);
    // rec(5) stays sound.

    let (first, second) = (refs[1].index.min(refs[4].index), refs[1].index.max(refs[4].index));
    let want: Vec<(u32, Vec<String>)> = vec![
        (refs[0].index, vec!["state 119".into()]),
        (refs[1].index, vec!["SO_GROUP_PRIORITY".into(), "-5".into()]),
        (refs[2].index, vec!["SO_DEBUG".into(), "9".into()]),
        (refs[3].index, vec!["role 42".into()]),
        (second, vec![format!("id {dup}"), format!("record {first}")]),
    ];
    let mentions = |line: &str, (index, words): &(u32, Vec<String>)| {
        line.contains(&format!("record {index}:")) && words.iter().all(|w| line.contains(w.as_str()))
    };

    let out = wsd_san(&san, &["check"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), want.len(), "one line per violation:\n{text}");
    for w in &want {
        assert!(lines.iter().any(|l| mentions(l, w)), "{w:?} in\n{text}");
    }
    assert!(
        !text.contains(&format!("record {}:", refs[5].index)),
        "the sound record is not blamed:\n{text}"
    );

    let out = wsd_san(&san, &["check", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let violations: Vec<&str> = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(violations.len(), want.len(), "{v:#}");
    for w in &want {
        assert!(violations.iter().any(|l| mentions(l, w)), "{w:?} in {v:#}");
    }
}

/// `wsd san check` names a bad record by the endpoint id `wsd san status` shows,
/// not by its slot in the table.
#[test]
fn check_names_a_bad_record_by_the_id_status_shows() {
    let san = San::new("check-ids");
    let seg = Segment::create(&san.name, 8).unwrap();
    let (pid, me) = me();
    let new = new_endpoint(me, pid);
    // Ids and table slots part ways: the first ids go to endpoints already gone.
    for _ in 0..5 {
        let gone = seg.allocate(&new).unwrap().endpoint();
        seg.release(gone, me, pid);
    }
    let refs: Vec<_> = (0..3).map(|_| seg.allocate(&new).unwrap().endpoint()).collect();
    let bad = seg.record(refs[1].index).unwrap();
    bad.so_debug.store(9, Relaxed);
    bad.fd.store(12345, Relaxed);

    let v = status(&san);
    let id = endpoint(&v, &[("fd", 12345.into())])["id"].as_u64().unwrap();
    assert_ne!(
        u64::from(refs[1].index),
        id,
        "the test needs an id that is not the slot"
    );

    for json in [false, true] {
        let args: &[&str] = if json { &["check", "--json"] } else { &["check"] };
        let out = wsd_san(&san, args);
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(1), "{text}");
        let lines: Vec<String> = if json {
            let v: Value = serde_json::from_str(&text).unwrap();
            v["violations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        } else {
            text.lines().map(str::to_string).collect()
        };
        assert_eq!(lines.len(), 1, "one violation: {text}");
        assert!(
            lines[0].contains(&format!("endpoint {id} ")),
            "status shows the bad record as endpoint {id}; check says: {}",
            lines[0]
        );
        assert!(lines[0].contains("SO_DEBUG"), "{}", lines[0]);
    }
}
