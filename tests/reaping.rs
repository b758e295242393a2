//! Reaping: what a process that dies, or hands a socket over, leaves in the
//! segment is reclaimed — and nothing that is still held ever is.
//!
//! - A killed peer's endpoint is reclaimed (by any `wsd san` run, or by the
//!   library itself) and its peer reset; a forked child that holds the socket
//!   keeps the connection alive until it dies too (python3 agents,
//!   `tests/agents/san_agent.py`, and the real `wsd` tool).
//! - A reused pid inherits nothing: a holder is a pid and its start time.
//! - Two races through the segment's own API, on threads of this process, made
//!   frequent: a reaper against holders taking and letting go of records, and a
//!   fork child's settling of its hold against the parent's release (the race the
//!   fork program shows under valgrind).
//!
//! Every wait is bounded, and every child is killed when its guard drops. Crash
//! safety at scale (thousands of processes killed mid-call, then the segment
//! checked) is `tests/scale.rs`'.

mod support;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use support::agent::pair;
use support::process::{HANG, dead, wait_dead};
use support::san_tool::{endpoint, no_endpoint, status};
use support::{San, new_endpoint};
use wsd::san::Segment;
use wsd::san::layout::identity;
use wsd::san::reap::process_stat;

/// The two races run one at a time: each wants the machine's CPUs for its
/// spinning threads.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---- a killed peer ------------------------------------------------------------------

#[test]
fn a_killed_peer_is_reclaimed_by_status_and_its_peer_reset() {
    let san = San::new("kill");
    let (mut server, mut client) = pair(&san);
    assert_eq!(server.ask("set 0x2002 1"), "ok");
    let connector = endpoint(&status(&san), &[("pid", client.pid().into())])["id"].clone();
    client.kill9();

    let v = status(&san);
    assert!(v["reaped"]["endpoints"].as_u64().unwrap() >= 1, "{v:#}");
    no_endpoint(&v, &[("pid", client.pid().into())]);
    no_endpoint(&v, &[("id", connector)]);
    let accepted = endpoint(&v, &[("pid", server.pid().into()), ("role", "accepted".into())]);
    assert_eq!(accepted["state"], "reset");
    assert_eq!(accepted["holders"], serde_json::json!([server.pid()]));
    assert_eq!(server.ask("set 0x2002 1"), "ENOTCONN");
}

#[test]
fn a_killed_peer_is_noticed_by_the_library_itself() {
    let san = San::new("notice");
    let (mut server, mut client) = pair(&san);
    assert_eq!(server.ask("set 0x2002 1"), "ok");
    client.kill9();
    assert_eq!(server.ask("until ENOTCONN"), "ENOTCONN");
    let v = status(&san);
    no_endpoint(&v, &[("pid", client.pid().into())]);
}

// ---- a forked child -----------------------------------------------------------------

#[test]
fn a_forked_child_keeps_the_connection_alive_until_it_dies() {
    let san = San::new("fork");
    let (mut server, mut client) = pair(&san);
    let reply = client.ask("fork");
    let child: u32 = reply
        .parse()
        .unwrap_or_else(|_| panic!("fork: expected a pid, got {reply:?}"));
    client.forked.push(child);
    wait_forked(child);
    let v = status(&san);
    let connector = endpoint(&v, &[("pid", client.pid().into()), ("role", "connector".into())]);
    let id = connector["id"].clone();
    let holders = connector["holders"].as_array().unwrap();
    assert!(
        holders.contains(&child.into()) && holders.contains(&client.pid().into()),
        "{connector}"
    );

    // The agent's child lives until its stdin, a pipe whose only writer is the agent,
    // reports end of file: it would follow the agent into death at once. The test
    // holds that pipe open so that the child outlives the agent, as a forked worker
    // does.
    let keep_child = hold_pipe_between(client.pid(), child);
    client.kill9();
    let v = status(&san);
    let connector = endpoint(&v, &[("id", id.clone())]);
    assert_eq!(connector["holders"], serde_json::json!([child]), "{connector}");
    assert_eq!(connector["state"], "healthy");
    assert!(!dead(child), "the forked child is still running");
    assert_eq!(server.ask("set 0x2002 1"), "ok");

    // SAFETY: plain signal delivery to the agent's forked child.
    assert_eq!(unsafe { libc::kill(child as i32, libc::SIGKILL) }, 0);
    client.forked.clear();
    wait_dead(child);
    drop(keep_child);
    let v = status(&san);
    no_endpoint(&v, &[("id", id)]);
    let accepted = endpoint(&v, &[("pid", server.pid().into()), ("role", "accepted".into())]);
    assert_eq!(accepted["state"], "reset");
    assert_eq!(server.ask("set 0x2002 1"), "ENOTCONN");
}

/// The pipes among `pid`'s descriptors above 2 that are open for `access`
/// (`O_RDONLY` or `O_WRONLY`): (descriptor, "pipe:[INODE]").
fn pipes_of(pid: u32, access: i32) -> Vec<(String, String)> {
    let dir = format!("/proc/{pid}/fd");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(|e| {
            let e = e.ok()?;
            let fd = e.file_name().into_string().ok()?;
            let link = std::fs::read_link(e.path())
                .ok()?
                .into_os_string()
                .into_string()
                .ok()?;
            let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
            let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?.trim();
            let flags = i32::from_str_radix(flags, 8).ok()?;
            let wanted =
                fd.parse::<u32>().ok()? > 2 && link.starts_with("pipe:") && flags & libc::O_ACCMODE == access;
            wanted.then_some((fd, link))
        })
        .collect()
}

/// Waits (bounded) until the agent's forked `child` is past `fork()`: it has closed
/// its copy of the write end of the pipe it reads, which it does right after `fork`
/// returns, so the library's fork handler (which makes it a holder) has run.
fn wait_forked(child: u32) {
    let deadline = Instant::now() + HANG;
    loop {
        let writes = pipes_of(child, libc::O_WRONLY);
        if !pipes_of(child, libc::O_RDONLY)
            .iter()
            .any(|(_, l)| writes.iter().any(|(_, w)| w == l))
        {
            return;
        }
        assert!(Instant::now() < deadline, "forked child {child} stuck in fork");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Opens, for writing, the pipe that `parent` writes and `child` reads, so that it
/// stays open after `parent` dies.
fn hold_pipe_between(parent: u32, child: u32) -> std::fs::File {
    let reads = pipes_of(child, libc::O_RDONLY);
    let shared: Vec<String> = pipes_of(parent, libc::O_WRONLY)
        .into_iter()
        .filter(|(_, link)| reads.iter().any(|(_, l)| l == link))
        .map(|(fd, _)| fd)
        .collect();
    assert_eq!(shared.len(), 1, "one pipe from {parent} to {child}: {shared:?}");
    std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{parent}/fd/{}", shared[0]))
        .expect("open the fork's pipe")
}

// ---- a reused pid -------------------------------------------------------------------

#[test]
fn a_reused_pid_does_not_inherit_a_dead_processs_endpoints() {
    let san = San::new("reuse");
    let seg = Segment::create(&san.name, 8).unwrap();
    let pid = std::process::id();
    let (start, _) = process_stat(pid).unwrap().expect("our own /proc/PID/stat");

    // Same pid, another start time: another process, which is not running.
    let other = seg
        .allocate(&new_endpoint(identity(pid, start + 1), pid))
        .unwrap()
        .endpoint();
    assert!(seg.endpoint(other).is_some());
    let r = seg.reap();
    assert_eq!((r.endpoints, r.holders), (1, 1), "{r:?}");
    assert!(seg.endpoint(other).is_none(), "freed");
    assert_eq!(seg.live().count(), 0);

    // This very process: kept.
    let mine = seg
        .allocate(&new_endpoint(identity(pid, start), pid))
        .unwrap()
        .endpoint();
    let r = seg.reap();
    assert_eq!((r.endpoints, r.holders), (0, 0), "{r:?}");
    assert!(seg.endpoint(mine).is_some(), "not freed");
    assert_eq!(seg.live().count(), 1);
}

// ---- races --------------------------------------------------------------------------

/// The race that processes dying and closing while others reap can run into
/// (`tests/scale.rs`), made frequent: threads of this process take a record,
/// check it is still theirs, and let it go, while another thread reaps. Every
/// holder is alive, so a reaper may only ever free a record whose holder has just
/// let go of it — never one that a holder took since (the record freed, then taken
/// again, between the reaper's look at the holders and its freeing: a live
/// endpoint lost). Stops at the first loss, or after a few seconds.
#[test]
fn reaping_never_frees_an_endpoint_that_is_still_held() {
    use std::sync::atomic::AtomicU64;
    let _serial = serial();
    let san = San::new("aba");
    let seg = Segment::create(&san.name, 4).expect("create the segment");
    let pid = std::process::id();
    let (start, _) = process_stat(pid).unwrap().expect("our own /proc/PID/stat");
    let new = wsd::san::NewEndpoint {
        holder: wsd::san::layout::identity(pid, start),
        pid,
        fd: 3,
        role: wsd::san::EndpointRole::Connector,
        local: None,
        peer: None,
        comm: *b"aba\0\0\0\0\0\0\0\0\0\0\0\0\0",
        cookie: 0,
        netns: 0,
        inode: 0,
    };
    let stop = AtomicBool::new(false);
    let (rounds, lost, passes) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(5);
    thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let Some(ep) = seg.allocate(&new).map(|c| c.endpoint()) else {
                        continue;
                    };
                    for _ in 0..50 {
                        std::hint::spin_loop();
                    }
                    if seg.endpoint(ep).is_none() {
                        // Freed by someone else while still held: a lost endpoint.
                        lost.fetch_add(1, Ordering::Relaxed);
                        stop.store(true, Ordering::Relaxed);
                        break;
                    }
                    seg.release(ep, new.holder, pid);
                    rounds.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let r = seg.reap();
                assert_eq!((r.holders, r.claims), (0, 0), "a live holder taken for dead");
                passes.fetch_add(1, Ordering::Relaxed);
                if Instant::now() > until {
                    stop.store(true, Ordering::Relaxed);
                }
            }
        });
    });
    let (rounds, lost, passes) = (rounds.into_inner(), lost.into_inner(), passes.into_inner());
    println!("reaper race: {rounds} takes and releases against {passes} reaping passes, {lost} lost");
    assert_eq!(
        lost, 0,
        "a reaper freed an endpoint its (live) holder still held, after {rounds} rounds: it saw the \
         record without holders (its holder letting go), then the record was freed and taken again, \
         and the reaper's LIVE -> CLAIMED compare-and-swap freed the new endpoint (src/san/endpoint.rs \
         `free` checks only the state, not the id)"
    );
}

/// Spins until `done`, yielding every `patience` spins (the machine may have
/// fewer free cores than spinning threads).
fn spin_until(patience: u32, done: impl Fn() -> bool) {
    let mut spins = 0u32;
    while !done() {
        spins += 1;
        if spins.is_multiple_of(patience) {
            thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// A fork child takes over the hold its parent counted as pending before the fork
/// (`hold_pending` in the parent, `settle_pending` in the child); the parent may
/// close its own copy at the same moment (`release`). Whatever the interleaving, the
/// record must stay live while the child holds it. The two sides run here on two
/// threads, many times, as the library runs them in two processes.
#[test]
fn a_release_racing_a_fork_childs_settle_never_frees_what_the_child_holds() {
    use std::sync::atomic::{AtomicU32, AtomicU64};
    use wsd::san::{EndpointRef, EndpointRole, NewEndpoint};
    const ROUNDS: u32 = 20_000;
    let _serial = serial();
    let san = San::new("settle-race");
    let seg = Segment::create(&san.name, 4).unwrap();
    let pid = std::process::id();
    let (start, _) = wsd::san::reap::process_stat(pid)
        .unwrap()
        .expect("our /proc/PID/stat");
    let parent = wsd::san::layout::identity(pid, start);
    // Another identity of a live process (this one), so no reaper ever frees it.
    let child = parent ^ 1;
    let new = NewEndpoint {
        holder: parent,
        pid,
        fd: 3,
        role: EndpointRole::Connector,
        local: None,
        peer: None,
        comm: *b"settle-race\0\0\0\0\0",
        cookie: 0,
        netns: 0,
        inode: 0,
    };
    // The endpoint of the current round (index << 32 | tag), and the round number
    // (STOP ends the other thread, however this one ends).
    const STOP: u32 = u32::MAX;
    let current = AtomicU64::new(0);
    let round = AtomicU32::new(0);
    let settled = AtomicU32::new(0);
    let mut lost = Vec::new();
    let mut rounds = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    thread::scope(|s| {
        s.spawn(|| {
            for r in 1..=ROUNDS {
                // Hot: the hand-over starts the moment the round does.
                spin_until(
                    1 << 16,
                    || matches!(round.load(Ordering::Acquire), x if x == r || x == STOP),
                );
                if round.load(Ordering::Acquire) == STOP {
                    return;
                }
                let v = current.load(Ordering::Acquire);
                let ep = EndpointRef {
                    index: (v >> 32) as u32,
                    tag: v as u32,
                };
                seg.settle_pending(ep, child);
                settled.store(r, Ordering::Release);
            }
        });
        for r in 1..=ROUNDS {
            if Instant::now() > deadline {
                break;
            }
            let Some(ep) = seg
                .allocate(&new)
                .map(|c| c.endpoint())
                .filter(|&ep| seg.hold_pending(ep))
            else {
                break;
            };
            current.store(u64::from(ep.index) << 32 | u64::from(ep.tag), Ordering::Release);
            round.store(r, Ordering::Release);
            // The parent closes its copy while the child settles.
            for _ in 0..(r % 64) {
                std::hint::spin_loop();
            }
            seg.release(ep, parent, pid);
            spin_until(64, || settled.load(Ordering::Acquire) == r);
            match seg.endpoint(ep) {
                Some(_) => seg.release(ep, child, pid),
                None => lost.push(r),
            }
            rounds = r;
        }
        round.store(STOP, Ordering::Release);
    });
    assert!(rounds >= ROUNDS / 10, "only {rounds} rounds ran");
    assert!(
        lost.is_empty(),
        "{} of {rounds} records were freed while the fork child held them (rounds {:?}…)",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
}
