//! Scale: the library under many processes, many threads and full tables (SPEC
//! §5), with `c-tests/churn.c` as the worker: threads that make loopback
//! connections, set and read options on both ends, close (sometimes abortively),
//! and classify every answer against what the socket's state allows, exiting 1 on
//! anything else.
//!
//! - **Crash safety**: many short-lived churn processes are SIGKILLed at
//!   pseudo-random moments (0–3 ms after spawn, from a seeded PRNG; `CRASH_SEED`
//!   overrides the seed), so that deaths land in every step of the endpoint scheme
//!   (`src/san/endpoint.rs`): claiming, filling, linking, releasing, reaping.
//!   Meanwhile survivors (python3 agents, `tests/agents/san_agent.py`) hold one end
//!   of connections whose other end is a churn process killed mid-traffic: each must
//!   then answer `ENOTCONN`. Afterwards `wsd san check` finds no violation, no
//!   endpoint is live and no record is left claimed (nothing leaked), and no
//!   half-made segment file is left behind.
//! - **Load with faults**: 8 churn processes × 4 threads run for a bounded time
//!   while this test flips the network down and up and resets or fails the
//!   keep-alive of live endpoints taken from `wsd san status --json`. Every worker
//!   must exit 0 (it saw only allowed answers) before a watchdog expires (else:
//!   deadlock), the workers' counters must add up, and the segment must end sound
//!   and empty.
//! - **A full segment**: sockets that find no free record fall back to plain TCP,
//!   and nothing breaks.
//!
//! Results never depend on sleeps: a sleep only times a kill, or paces a bounded
//! poll for an exit; every wait has a hang guard and every child is killed (and
//! reaped) when its guard drops. The races these tests can run into, made
//! frequent in one process, are `tests/reaping.rs`'.

mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use support::San;
use support::agent::{Agent, pair};
use support::process::{Proc, dead, describe, drain, lines_of, next_line};
use support::san_tool::{assert_sound, endpoint, status, text, wsd_san, wsd_san_ok};
use wsd::san::Segment;
use wsd::san::layout::{STATE_CLAIMED, STATE_FREE, STATE_LIVE, STATE_MASK, identity_pid};
use wsd::san::reap::{Reaped, alive, process_stat};

/// The tests run one at a time: the crash and load tests time their kills and
/// faults against processes that should have the machine's CPUs to themselves.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---- the PRNG -----------------------------------------------------------------------

/// SplitMix64: small, seeded, the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A seed for a churn worker (`strtol` takes it).
    fn worker_seed(&mut self) -> String {
        (self.next() >> 2).to_string()
    }
}

/// The run's seed: `CRASH_SEED`, else a fixed one.
fn seed() -> u64 {
    std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x0006_c4a5_5eed)
}

// ---- the churn worker ---------------------------------------------------------------

/// `c-tests/churn.c`, compiled once per test binary.
fn churn() -> PathBuf {
    support::cc::program("churn")
}

/// `churn THREADS COUNT ROUNDS DEADLINE_MS MODE SEED` under the library.
fn churn_command(
    san: &San,
    threads: u32,
    count: u32,
    rounds: u32,
    deadline: Duration,
    mode: &str,
    seed: &str,
) -> Command {
    let mut cmd = support::preloaded(churn(), san);
    cmd.args([
        threads.to_string(),
        count.to_string(),
        rounds.to_string(),
        deadline.as_millis().to_string(),
        mode.to_string(),
        seed.to_string(),
    ]);
    cmd
}

/// The counters a worker printed: `counters calls=N ok=N …`.
fn counters(stdout: &str) -> Option<BTreeMap<String, u64>> {
    let line = stdout.lines().rev().find(|l| l.starts_with("counters "))?;
    line.split_whitespace()
        .skip(1)
        .map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// The errors a worker may count; with `ok` they make up `calls`.
const ERRORS: [&str; 4] = ["ENETDOWN", "ENOTCONN", "ENETRESET", "ENOPROTOOPT"];

// ---- the end state ------------------------------------------------------------------

/// The end state the crash and load tests demand once every process is dead:
/// `check` finds no violation, no endpoint is live, no record is left claimed, no
/// temporary segment file is left behind. Returns the final status.
fn assert_sound_and_empty(san: &San) -> Value {
    assert_sound(san, "at the end");
    let v = status(san);
    assert_eq!(v["live"], 0, "every record reclaimed: {v:#}");

    // Nothing else is left either: `status` reaped, so every record is free again
    // (a record still claimed would be one a dead process took and nobody undid).
    let seg = Segment::open(&san.name).expect("open the segment");
    let taken: Vec<String> = seg
        .records()
        .filter(|(_, r)| r.state.load(Ordering::Relaxed) & STATE_MASK != STATE_FREE)
        .map(|(i, r)| {
            let state = r.state.load(Ordering::Relaxed);
            let pid = state >> 8;
            format!(
                "record {i}: state {:#x} (pid {pid}: {:?})",
                state,
                process_stat(pid)
            )
        })
        .collect();
    drop(seg);
    assert!(
        taken.is_empty(),
        "records left taken after reaping:\n{}",
        taken.join("\n")
    );

    // A process killed while creating the segment must not leave its private copy.
    let prefix = format!(".wsd.{}.", san.name);
    let leftovers: Vec<String> = std::fs::read_dir("/dev/shm")
        .expect("read /dev/shm")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    for n in &leftovers {
        let _ = std::fs::remove_file(Path::new("/dev/shm").join(n));
    }
    assert!(
        leftovers.is_empty(),
        "temporary segment files left in /dev/shm: {leftovers:?}"
    );
    v
}

// ---- a reaper -----------------------------------------------------------------------

/// What the reaper did: passes made, and what they reclaimed in all.
#[derive(Clone, Debug, Default)]
struct Reaping {
    passes: u64,
    holders: u64,
    endpoints: u64,
    claims: u64,
    /// With `deaths_expected` off: what it found left by dead processes, just before
    /// reclaiming it (the first few).
    dead: Vec<String>,
}

/// Live records held by a process that is gone, and records claimed by one.
fn left_by_the_dead(seg: &Segment) -> Vec<String> {
    let mut out = Vec::new();
    for (i, r) in seg.records() {
        let state = r.state.load(Ordering::Acquire);
        if state & STATE_MASK == STATE_CLAIMED && dead(state >> 8) {
            out.push(format!(
                "record {i}: claimed by pid {}, which is gone",
                state >> 8
            ));
        }
        if state & STATE_MASK != STATE_LIVE {
            continue;
        }
        for h in r.holder_identities().filter(|&h| !alive(h)) {
            out.push(format!(
                "record {i}: endpoint {} ({:?}, pid {}, fd {}, local {:?}, peer {:?}, peer id {}) held by \
                 pid {}, which is gone",
                r.id.load(Ordering::Relaxed),
                r.role(),
                r.pid.load(Ordering::Relaxed),
                r.fd.load(Ordering::Relaxed),
                r.local.load(),
                r.peer.load(),
                r.peer_id.load(Ordering::Relaxed),
                identity_pid(h)
            ));
        }
    }
    out
}

/// Reaps the segment over and over on a thread of this process, as every `wsd san`
/// run and every process attaching to the segment does (`status` is this call
/// and a print): one more reaper racing the processes' own claims and releases.
/// Stopped when dropped.
struct Reaper {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Reaping>>,
}

impl Reaper {
    /// `deaths_expected` off: nothing should ever be left by a dead process, so each
    /// pass first looks for it and describes what it finds.
    fn start(san: &San, deaths_expected: bool) -> Reaper {
        let stop = Arc::new(AtomicBool::new(false));
        let name = san.name.clone();
        let flag = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            let mut done = Reaping::default();
            // The segment may not exist yet: the first process makes it.
            let seg = loop {
                match Segment::open(&name) {
                    Ok(seg) => break seg,
                    Err(_) if flag.load(Ordering::Relaxed) => return done,
                    Err(_) => thread::yield_now(),
                }
            };
            while !flag.load(Ordering::Relaxed) {
                if !deaths_expected && done.dead.len() < 20 {
                    done.dead.extend(left_by_the_dead(&seg));
                }
                let r: Reaped = seg.reap();
                done.passes += 1;
                done.holders += u64::from(r.holders);
                done.endpoints += u64::from(r.endpoints);
                done.claims += u64::from(r.claims);
                // A pace, not a wait: thousands of passes a second, and CPU left over.
                thread::sleep(Duration::from_micros(100));
            }
            done
        });
        Reaper {
            stop,
            handle: Some(handle),
        }
    }

    fn finish(mut self) -> Reaping {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().expect("the reaper thread")
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

// ---- 1: crash safety ----------------------------------------------------------------

/// Processes killed per lane; lanes run side by side.
const LANES: u64 = 2;
const KILLS_PER_LANE: u64 = 1000;
/// Survivors whose peer is killed.
const SURVIVORS: u64 = 6;

#[derive(Default)]
struct Lane {
    killed: u64,
    /// Where the kills landed (from the progress marks on standard error): before
    /// `main`, between connections (making the next one: its claims), or while a
    /// connection was open (options, closes, releases).
    before_main: u64,
    between: u64,
    open: u64,
    /// Connections the killed processes had made.
    connections: u64,
    /// Ended (successfully) before the kill came.
    finished: u64,
    failures: Vec<String>,
}

/// One lane: spawn a churn process, SIGKILL it 0–3 ms later, reap it; repeat.
fn kill_lane(san: &San, lane: u64, seed: u64) -> Lane {
    let mut rng = Rng::new(seed ^ (lane + 1).wrapping_mul(0xa076_1d64_78bd_642f));
    let mut done = Lane::default();
    for n in 0..KILLS_PER_LANE {
        // 2 threads, at most 16 connections each with up to 30 rounds of options:
        // busy for a few milliseconds, so that the kill lands in the middle of it.
        let mut cmd = churn_command(
            san,
            2,
            16,
            30,
            Duration::from_secs(20),
            "calm",
            &rng.worker_seed(),
        );
        cmd.env("CHURN_PROGRESS", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let delay = Duration::from_micros(rng.below(3001));
        let spawned = Instant::now();
        let mut p = Proc::spawn(cmd, format!("churn (lane {lane}, run {n})"));
        let at = spawned + delay;
        let now = Instant::now();
        if at > now {
            thread::sleep(at - now);
        }
        let st = p.kill9();
        // What it wrote is all in the pipes already (a few bytes: it is dead).
        let mut out = String::new();
        let mut err = String::new();
        let _ = p.child.stdout.take().unwrap().read_to_string(&mut out);
        let _ = p.child.stderr.take().unwrap().read_to_string(&mut err);
        if st.signal() == Some(libc::SIGKILL) {
            done.killed += 1;
            let made = err.matches('+').count() as u64;
            done.connections += made;
            if !err.starts_with('S') {
                done.before_main += 1;
            } else if made == err.matches('-').count() as u64 {
                done.between += 1;
            } else {
                done.open += 1;
            }
            continue;
        }
        if st.success() {
            done.finished += 1;
        } else {
            done.failures.push(format!(
                "lane {lane} run {n} (pid {}): {st:?}\n{out}{err}",
                p.pid()
            ));
        }
    }
    done
}

/// A survivor: a python3 agent accepts a connection from a churn peer, which sets
/// options on its end until it is killed 0–3 ms later; the survivor must then get
/// `ENOTCONN` (the dead peer's endpoint reclaimed, its connection reset).
fn survivor(san: &San, rng: &mut Rng) {
    let mut server = Agent::server(san);
    server.what = "survivor (python3 server agent)".into();
    let port = server.listening;
    let mut cmd = support::preloaded(churn(), san);
    cmd.args(["peer", &port.to_string(), "20000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut peer = Proc::spawn(cmd, "churn peer");
    let peer_lines = lines_of(peer.child.stdout.take().unwrap());
    let peer_err = drain(peer.child.stderr.take());
    // The peer's socket is a SAN endpoint once connect has returned in it.
    let connected = next_line(&peer_lines, "churn peer");
    let peer_port: u16 = connected
        .strip_prefix("connected ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("churn peer: expected `connected PORT`, got {connected:?}"));
    let ready = server.line();
    assert_eq!(
        ready.split_whitespace().nth(3),
        Some(peer_port.to_string().as_str()),
        "the survivor's peer is the churn peer: {ready:?}"
    );
    assert_eq!(server.ask("set 0x2002 1"), "ok", "a healthy connection first");

    let at = Instant::now() + Duration::from_micros(rng.below(3001));
    let now = Instant::now();
    if at > now {
        thread::sleep(at - now);
    }
    let st = peer.kill9();
    assert_eq!(
        st.signal(),
        Some(libc::SIGKILL),
        "the peer runs until killed: {st:?} {}",
        peer_err.join().unwrap()
    );

    assert_eq!(
        server.ask("until ENOTCONN"),
        "ENOTCONN",
        "the dead peer is noticed"
    );
    assert_eq!(server.ask("set 0x2002 1"), "ENOTCONN");
    assert_eq!(server.ask("nodelay"), "ENOTCONN");
    assert_eq!(server.ask("get 0x2002"), "1", "a reset is not a getsockopt error");
    let (st, _) = server.finish();
    assert!(st.success(), "survivor: {st:?}");
}

#[test]
fn crash_safety_sigkill_at_random_moments_leaks_nothing_and_violates_nothing() {
    let _serial = serial();
    let san = San::new("crash");
    let seed = seed();
    churn();
    let started = Instant::now();

    // The segment is not created beforehand: the first processes race to make it.
    let reaper = Reaper::start(&san, true);
    let (lanes, survivors) = thread::scope(|s| {
        let lanes: Vec<_> = (0..LANES)
            .map(|lane| {
                let san = &san;
                s.spawn(move || kill_lane(san, lane, seed))
            })
            .collect();
        let survivors = s.spawn(|| {
            let mut rng = Rng::new(seed ^ 0x5u64.wrapping_mul(0xe703_7ed1_a0b4_28db));
            for _ in 0..SURVIVORS {
                survivor(&san, &mut rng);
            }
            SURVIVORS
        });
        let lanes: Vec<Lane> = lanes.into_iter().map(|h| h.join().unwrap()).collect();
        (lanes, survivors.join().unwrap())
    });
    let reaped = reaper.finish();
    let sum = |f: fn(&Lane) -> u64| -> u64 { lanes.iter().map(f).sum() };
    let killed = sum(|l| l.killed);
    let finished = sum(|l| l.finished);
    let failures: Vec<&String> = lanes.iter().flat_map(|l| &l.failures).collect();
    assert!(
        failures.is_empty(),
        "churn processes failed (seed {seed}):\n{}",
        failures.iter().map(|f| f.as_str()).collect::<Vec<_>>().join("\n")
    );
    assert!(
        killed >= 500,
        "{killed} kills (seed {seed}), {finished} ended first"
    );
    // Most kills land while the loader and the library start; enough must land in
    // the churn itself (else start-up takes longer than the 3 ms of kill delays).
    let churning = sum(|l| l.between) + sum(|l| l.open);
    assert!(
        churning >= killed / 20,
        "only {churning} of {killed} kills landed after main started: start-up is too slow here"
    );

    let v = assert_sound_and_empty(&san);
    let created = v["stats"]["endpoints_created"].as_u64().unwrap();
    println!(
        "crash safety (seed {seed}): {killed} processes SIGKILLed 0-3 ms after spawn ({finished} ended \
         first): {} before main, {} making a connection, {} with a connection open; they had made {} \
         connections; {survivors} survivors saw ENOTCONN from their killed peer; {created} endpoints \
         created, all reclaimed; check clean; a reaper racing them made {} passes and reclaimed {} \
         endpoints, {} dead holders, {} abandoned claims; {:.1} s",
        sum(|l| l.before_main),
        sum(|l| l.between),
        sum(|l| l.open),
        sum(|l| l.connections),
        reaped.passes,
        reaped.endpoints,
        reaped.holders,
        reaped.claims,
        started.elapsed().as_secs_f64()
    );
    assert!(created > 0, "the killed processes made SAN endpoints: {v:#}");
}

// ---- 2: load with faults ------------------------------------------------------------

const WORKERS: usize = 8;
const THREADS: u32 = 4;
/// How long the workers run (at most: COUNT may end a thread first).
const RUN: Duration = Duration::from_secs(10);
/// The watchdog: every worker has exited by the end of its run plus this.
const GRACE: Duration = Duration::from_secs(30);

struct Worker {
    proc: Proc,
    out: Option<JoinHandle<String>>,
    err: Option<JoinHandle<String>>,
    status: Option<ExitStatus>,
    ended: Option<Duration>,
}

#[derive(Default, Debug)]
struct Faults {
    down: u64,
    up: u64,
    reset: u64,
    keepalive: u64,
    /// The endpoint had closed before the tool came, or was a listener (exit 2,
    /// "no live SAN connection matches").
    gone: u64,
}

/// One fault on a target taken from the status: `reset` or `keepalive-fail`, by id
/// or by local address.
fn fault_one(san: &San, e: &Value, rng: &mut Rng, faults: &mut Faults) {
    let target = match (rng.below(2), e["local"].as_str()) {
        (0, Some(local)) => local.to_string(),
        _ => e["id"].to_string(),
    };
    let verb = if rng.below(2) == 0 {
        "reset"
    } else {
        "keepalive-fail"
    };
    let out = wsd_san(san, &[verb, &target]);
    match out.status.code() {
        Some(0) if verb == "reset" => faults.reset += 1,
        Some(0) => faults.keepalive += 1,
        // Closed before the tool came, or not a connection (a listener).
        Some(2) if String::from_utf8_lossy(&out.stderr).contains("no live SAN connection matches") => {
            faults.gone += 1
        }
        _ => panic!("wsd san {verb} {target}: {}", text(&out)),
    }
}

#[test]
fn load_with_faults_ends_with_only_allowed_errors_and_no_deadlock() {
    let _serial = serial();
    let san = San::new("load");
    let seed = seed();
    churn();
    wsd_san_ok(&san, &["create"]);
    let mut rng = Rng::new(seed ^ 0x10ad);

    let started = Instant::now();
    let mut workers: Vec<Worker> = (0..WORKERS)
        .map(|i| {
            // At most 250 connections a thread (8000 in all, half of them closed
            // abortively: few ports in TIME_WAIT), each carrying up to 1000 rounds.
            let mut cmd = churn_command(&san, THREADS, 250, 1000, RUN, "faults", &rng.worker_seed());
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            // The workers always have work; the faults should not wait for a turn on
            // the CPU behind 32 busy threads.
            // SAFETY: setpriority is async-signal-safe and touches only the child.
            unsafe {
                cmd.pre_exec(|| {
                    libc::setpriority(libc::PRIO_PROCESS, 0, 19);
                    Ok(())
                });
            }
            let mut proc = Proc::spawn(cmd, format!("churn worker {i}"));
            let out = Some(drain(proc.child.stdout.take()));
            let err = Some(drain(proc.child.stderr.take()));
            Worker {
                proc,
                out,
                err,
                status: None,
                ended: None,
            }
        })
        .collect();
    let watchdog = started + RUN + GRACE;
    let reaper = Reaper::start(&san, false);

    let mut faults = Faults::default();
    let mut down = false;
    loop {
        for w in workers.iter_mut().filter(|w| w.status.is_none()) {
            if let Some(st) = w.proc.child.try_wait().expect("try_wait") {
                w.status = Some(st);
                w.ended = Some(started.elapsed());
            }
        }
        if workers.iter().all(|w| w.status.is_some()) {
            break;
        }
        if Instant::now() > watchdog {
            let stuck: String = workers
                .iter()
                .filter(|w| w.status.is_none())
                .map(|w| {
                    format!(
                        "{} (pid {}):\n{}",
                        w.proc.what,
                        w.proc.pid(),
                        describe(w.proc.pid())
                    )
                })
                .collect();
            for w in &mut workers {
                let _ = w.proc.child.kill();
            }
            panic!("deadlock: workers still running {GRACE:?} after their deadline\n{stuck}");
        }
        match rng.below(10) {
            0 if !down => {
                wsd_san_ok(&san, &["down"]);
                down = true;
                faults.down += 1;
            }
            0..=2 if down => {
                wsd_san_ok(&san, &["up"]);
                down = false;
                faults.up += 1;
            }
            _ => {
                let v = status(&san);
                let live = v["endpoints"].as_array().expect("endpoints").clone();
                for _ in 0..live.len().min(3) {
                    let e = &live[rng.below(live.len() as u64) as usize];
                    fault_one(&san, e, &mut rng, &mut faults);
                }
            }
        }
    }
    if down {
        wsd_san_ok(&san, &["up"]);
        faults.up += 1;
    }
    let reaped = reaper.finish();

    // Every worker exited 0: it saw only answers its sockets' states allow.
    let mut total: BTreeMap<String, u64> = BTreeMap::new();
    let mut last_end = Duration::ZERO;
    for w in &mut workers {
        let st = w.status.unwrap();
        let out = w.out.take().unwrap().join().unwrap();
        let err = w.err.take().unwrap().join().unwrap();
        assert!(
            st.success(),
            "{} (pid {}, seed {seed}): {st:?}\n--- stdout\n{out}--- stderr\n{err}",
            w.proc.what,
            w.proc.pid()
        );
        let c = counters(&out).unwrap_or_else(|| panic!("{}: no counters in {out:?}", w.proc.what));
        let errors: u64 = ERRORS.iter().map(|e| c[*e]).sum();
        assert_eq!(
            c["calls"],
            c["ok"] + errors,
            "{}: counters add up: {c:?}",
            w.proc.what
        );
        for (k, v) in c {
            *total.entry(k).or_default() += v;
        }
        last_end = last_end.max(w.ended.unwrap());
    }
    let t = |k: &str| total.get(k).copied().unwrap_or(0);
    assert!(t("calls") > 0 && t("conns") > 0, "{total:?}");
    // Every worker closed all it had before exiting: nothing may have been left
    // for a reaper to reclaim from a dead process.
    assert!(
        reaped.holders == 0 && reaped.claims == 0,
        "records left behind by exited workers (a leak): {reaped:#?}"
    );

    // The faults reached the programs: each kind was answered somewhere.
    assert!(
        faults.down > 0 && faults.reset + faults.keepalive > 0,
        "{faults:?}"
    );
    for e in ["ENETDOWN", "ENOTCONN", "ENETRESET"] {
        assert!(t(e) > 0, "no worker ever saw {e}: {total:?}, {faults:?}");
    }

    let v = assert_sound_and_empty(&san);
    let stat = |k: &str| v["stats"][k].as_u64().unwrap();
    // Every listener and connector became an endpoint or fell back, and so did every
    // accepted socket of a SAN listener: between 2 and 3 per connection.
    // (A replay refused would count one socket twice: created, then fallen back.)
    let made = stat("endpoints_created") + stat("fallback_down") + stat("fallback_full");
    let conns = t("conns");
    assert!(
        (2 * conns..=3 * conns).contains(&made),
        "{conns} connections, but {made} endpoints or fallbacks: {:#}",
        v["stats"]
    );
    if t("ENOPROTOOPT") > 0 {
        assert!(
            stat("fallback_down") > 0,
            "plain sockets without a fallback: {:#}",
            v["stats"]
        );
    }
    println!(
        "load with faults (seed {seed}): {WORKERS} processes x {THREADS} threads, all exited 0 within \
         {:.1} s; {} calls: {} ok, {} ENETDOWN, {} ENOTCONN, {} ENETRESET, {} ENOPROTOOPT; {} connections \
         ({} closed abortively; sockets seen as SAN {}, plain {}, not told apart {}); faults: {} down, {} \
         up, {} resets, {} keep-alive failures, {} targets already gone; segment: {} endpoints created, {} \
         fallbacks (network down), {} (full); a reaper made {} passes meanwhile",
        last_end.as_secs_f64(),
        t("calls"),
        t("ok"),
        t("ENETDOWN"),
        t("ENOTCONN"),
        t("ENETRESET"),
        t("ENOPROTOOPT"),
        conns,
        t("aborts"),
        t("san"),
        t("plain"),
        t("unknown"),
        faults.down,
        faults.up,
        faults.reset,
        faults.keepalive,
        faults.gone,
        stat("endpoints_created"),
        stat("fallback_down"),
        stat("fallback_full"),
        reaped.passes,
    );
}

// ---- 3: a full segment --------------------------------------------------------------

#[test]
fn a_full_segment_makes_new_sockets_fall_back_and_nothing_breaks() {
    let _serial = serial();
    let san = San::new("full");
    wsd_san_ok(&san, &["create", "--capacity", "2"]);
    let (mut server, mut client) = pair(&san);

    let v = status(&san);
    assert_eq!(v["capacity"], 2);
    assert_eq!(v["live"], 2, "{v:#}");
    assert!(v["stats"]["fallback_full"].as_u64().unwrap() >= 1, "{v:#}");
    endpoint(&v, &[("role", "listener".into())]);

    for a in [&mut server, &mut client] {
        let set = a.ask("set 0x2002 2");
        assert!(["ok", "ENOPROTOOPT"].contains(&set.as_str()), "{}: {set}", a.what);
        let get = a.ask("get 0x2002");
        let sane = if set == "ok" {
            get == "2"
        } else {
            get == "ENOPROTOOPT"
        };
        assert!(sane, "{}: set {set}, get {get}", a.what);
        assert_eq!(a.ask("nodelay"), "ok", "{}", a.what);
    }
    assert_sound(&san, "after both ends set and read options");
    for a in [&mut server, &mut client] {
        let (st, _) = a.finish();
        assert!(st.success(), "{}: {st:?}", a.what);
    }
}
