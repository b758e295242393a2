//! A thread's memo of its last SAN call (`shim::recent`) never changes what a
//! program sees. `c-tests/memo.c` runs one random program of `setsockopt` and
//! `getsockopt` calls twice: with every call on the main thread, where a call
//! that repeats the last one is answered from the memo, and with every call on a
//! thread of its own, which has no memo and always takes the whole path. Between
//! calls the test changes what the memo must notice: it brings the network down
//! and up and resets connections or fails their keep-alive (with the `wsd` tool),
//! turns `SO_DEBUG` on, moves descriptors with `dup2`, gives a number a new
//! connection, corrupts a record in the segment, and passes buffers that are on the heap, read-only, NULL or
//! unmapped. The two runs must agree on every answer and every byte written back,
//! on the endpoints' values and counters, on the report, and on the debug lines.
//!
//! The programs of calls come in bursts that repeat one call with different values
//! (what a memo answers), from a fixed seed per case so a failure can be replayed.

mod support;

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc;
use std::time::Duration;
use support::San;
use wsd::san::{Segment, Target};

/// Steps of one program.
const STEPS: usize = 1500;
/// A run still going after this long is hung: its program is killed.
const RUN_LIMIT: Duration = Duration::from_secs(120);
/// Sockets the C program holds (three connections, both ends).
const SOCKETS: u64 = 6;

/// splitmix64: a small generator with a fixed seed, so a run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ z >> 30).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ z >> 27).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ z >> 31
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }

    /// True `percent` times in 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One step: a command for the program, or a fault for the tool on the socket's
/// connection.
#[derive(Clone, Debug)]
enum Step {
    Command(String),
    Down,
    Up,
    Reset(u64),
    KeepAliveFail(u64),
    /// Garbage in the state word of the connection's client-end record, as a
    /// corrupt segment would hold: the record is no longer live.
    Corrupt(u64),
}

/// A buffer kind (see `memo.c`), mostly the caller's stack.
fn buffer(r: &mut Rng) -> char {
    if r.chance(85) {
        's'
    } else {
        r.pick(&['h', 'r', 'n', 'u'])
    }
}

/// A level and option: mostly the provider's options, in both numberings, and a
/// few the kernel answers.
fn option(r: &mut Rng) -> (i32, i32) {
    let sol = r.pick(&[libc::SOL_SOCKET, 0xffff]);
    match r.below(10) {
        0..=3 => (sol, 0x2002),
        4..=5 => (sol, libc::SO_DEBUG),
        6 => (sol, 0x2001),
        7 => (sol, libc::SO_KEEPALIVE),
        8 => (libc::IPPROTO_TCP, libc::TCP_NODELAY),
        _ => (r.pick(&[0, 41, 0x7fff_0000]), 1),
    }
}

/// Each change a memo must notice, made between two equal calls that succeed (the
/// second answered from the memo), for a `setsockopt` and a `getsockopt`.
fn every_change_once() -> Vec<Step> {
    let c = |line: &str| Step::Command(line.to_string());
    let debug = |on: u8| c(&format!("set 0 1 {} 4 {on} s", libc::SO_DEBUG));
    let mut steps = Vec::new();
    for call in ["set 0 1 8194 4 3 s", "get 0 1 8194 4 s s"] {
        let changes: [&[Step]; 8] = [
            &[Step::Down],
            &up_and_renew(),
            &[debug(1)],
            &[debug(0)],
            &[c("dup 2 0")],
            &[Step::KeepAliveFail(0), c(call), c("renew 0")],
            &[Step::Reset(0), c(call), c("renew 0")],
            &[Step::Corrupt(0), c(call), c("renew 0")],
        ];
        for change in changes {
            steps.extend([c(call), c(call)]);
            steps.extend(change.iter().cloned());
            steps.extend([c(call), c(call)]);
        }
        steps.push(c("renew 0"));
    }
    steps
}

/// `up`, then every slot's connection made anew: `down` broke them (SPEC §7),
/// and `up` does not mend them.
fn up_and_renew() -> Vec<Step> {
    std::iter::once(Step::Up)
        .chain((0..SOCKETS).map(|s| Step::Command(format!("renew {s}"))))
        .collect()
}

/// The network down if it is up, else up (and the connections made anew).
fn toggle(steps: &mut Vec<Step>, down: &mut bool) {
    if *down {
        steps.extend(up_and_renew());
    } else {
        steps.push(Step::Down);
    }
    *down = !*down;
}

fn program(seed: u64) -> Vec<Step> {
    let mut r = Rng(seed);
    let mut steps = every_change_once();
    let mut down = false;
    while steps.len() < STEPS {
        let s = r.below(SOCKETS);
        match r.below(100) {
            0..=74 => {
                // A burst: one call repeated, the value and buffers changing now and then.
                let (level, opt) = option(&mut r);
                let len = if r.chance(85) {
                    4
                } else {
                    r.pick(&[0, 2, 3, 8, -1])
                };
                let set = r.chance(60);
                let mut p = buffer(&mut r);
                let mut q = buffer(&mut r);
                let mut len = len;
                for _ in 0..1 + r.below(8) {
                    if r.chance(10) {
                        p = buffer(&mut r);
                        q = buffer(&mut r);
                    }
                    if r.chance(5) {
                        len = r.pick(&[4, 8, 3]);
                    }
                    let value = if opt == libc::SO_DEBUG {
                        // SO_DEBUG on is rare: every call then writes a line.
                        i32::from(r.chance(10))
                    } else {
                        r.pick(&[0, 1, 2, 7, 1000, -1, i32::MIN])
                    };
                    steps.push(Step::Command(if set {
                        format!("set {s} {level} {opt} {len} {value} {p}")
                    } else {
                        format!("get {s} {level} {opt} {len} {p} {q}")
                    }));
                    // Faults and SO_DEBUG land inside bursts too, between two equal calls.
                    match r.below(100) {
                        0..=3 => {
                            toggle(&mut steps, &mut down);
                        }
                        4 => steps.push(Step::Reset(s)),
                        5 => steps.push(Step::KeepAliveFail(s)),
                        6..=7 => steps.push(Step::Command(format!(
                            "set {s} 1 {} 4 {} s",
                            libc::SO_DEBUG,
                            r.below(2)
                        ))),
                        _ => {}
                    }
                }
            }
            75..=82 => toggle(&mut steps, &mut down),
            83..=86 => steps.push(match r.below(10) {
                0 => Step::Corrupt(s),
                1..=5 => Step::Reset(s),
                _ => Step::KeepAliveFail(s),
            }),
            87..=91 => steps.push(Step::Command(format!("dup {s} {}", r.below(SOCKETS)))),
            92..=95 => steps.push(Step::Command(format!("renew {s}"))),
            _ => steps.push(Step::Command(format!("set {s} 1 {} 4 0 s", libc::SO_DEBUG))),
        }
    }
    steps
}

/// What one run showed.
#[derive(Debug)]
struct Transcript {
    /// One line per step: the program's reply, or the tool's exit status.
    replies: Vec<String>,
    endpoints: Value,
    report: Value,
    debug_lines: Vec<String>,
    /// Calls the main thread's memo answered.
    hits: u64,
}

/// A file removed when the run ends, however it ends.
struct Removed(PathBuf);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The program, with a watchdog that kills it if the run outlives [`RUN_LIMIT`]
/// (a hang guard, not synchronisation: a hung call then fails the test instead
/// of hanging it).
struct Running {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    /// Dropped when the run ends, which stops the watchdog.
    _done: mpsc::Sender<()>,
}

impl Running {
    fn ask(&mut self, line: &str) -> String {
        writeln!(self.input, "{line}").expect("write a command");
        self.input.flush().unwrap();
        let mut reply = String::new();
        self.output.read_line(&mut reply).expect("read a reply");
        assert!(!reply.is_empty(), "the program ended at {line:?}");
        reply.trim_end().to_string()
    }
}

fn tool(san: &San, args: &[&str]) -> std::process::Output {
    support::tool()
        .args(args)
        .args(["--san", &san.name])
        .env_remove("LD_PRELOAD")
        .output()
        .expect("run wsd")
}

/// The fields of an endpoint that do not depend on the run (not its process,
/// addresses or holders).
fn endpoint_facts(e: &Value) -> Value {
    let mut e = e.clone();
    for k in ["pid", "local", "peer", "holders", "held_by"] {
        e.as_object_mut().unwrap().remove(k);
    }
    e
}

/// A debug line without its time, process and port numbers.
fn debug_facts(line: &str) -> String {
    line.split(' ')
        .enumerate()
        .filter(|(i, _)| *i != 1 && *i != 2)
        .map(|(_, w)| match w.rfind(':') {
            Some(i) if w[i + 1..].trim_end_matches([')', ',']).parse::<u16>().is_ok() => &w[..i],
            _ => w,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn run(exe: &Path, threads: &str, env: &[(&str, &str)], steps: &[Step]) -> Transcript {
    let san = San::new(&format!("memo-{threads}"));
    let log = Removed(std::env::temp_dir().join(format!("{}.log", san.name)));
    let log = &log.0;
    let mut cmd = support::preloaded(exe, &san);
    cmd.arg(threads)
        .env("WSD_LOG_FILE", log)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().expect("start memo");
    let (done, timer) = mpsc::channel::<()>();
    let pid = child.id() as libc::pid_t;
    std::thread::spawn(move || {
        if timer.recv_timeout(RUN_LIMIT) == Err(mpsc::RecvTimeoutError::Timeout) {
            // SAFETY: plain signal delivery; the child is not reaped before the run
            // ends, which ends this wait first.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    let mut p = Running {
        input: child.stdin.take().unwrap(),
        output: BufReader::new(child.stdout.take().unwrap()),
        child,
        _done: done,
    };
    let mut replies = Vec::new();
    for step in steps {
        let fault = |p: &mut Running, verb: &str, s: &u64| {
            let port = p.ask(&format!("port {s}"));
            let o = tool(&san, &["san", verb, &format!("127.0.0.1:{port}")]);
            format!("{verb} {:?}", o.status.code())
        };
        replies.push(match step {
            Step::Command(line) => p.ask(line),
            Step::Down => format!("down {:?}", tool(&san, &["san", "down"]).status.code()),
            Step::Up => format!("up {:?}", tool(&san, &["san", "up"]).status.code()),
            Step::Reset(s) => fault(&mut p, "reset", s),
            Step::KeepAliveFail(s) => fault(&mut p, "keepalive-fail", s),
            Step::Corrupt(s) => {
                let port = p.ask(&format!("port {s}"));
                let seg = Segment::open(&san.name).expect("open the segment");
                let target = Target::parse(&format!("127.0.0.1:{port}")).unwrap();
                let sel = wsd::san::faults::Selector {
                    target: Some(target),
                    ..Default::default()
                };
                let words = target_words(target);
                match seg.select(&sel).into_iter().find(|r| r.local.words() == words) {
                    Some(rec) => {
                        rec.state.store(0x77, Relaxed);
                        "corrupt".to_string()
                    }
                    None => "corrupt: no live record".to_string(),
                }
            }
        });
    }
    // Values and counters while the program still holds its endpoints.
    let status = tool(&san, &["san", "status", "--json"]);
    assert!(status.status.success(), "{status:?}");
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let endpoints = Value::Array(
        status["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(endpoint_facts)
            .collect(),
    );
    let hits = p.ask("quit");
    let hits: u64 = hits
        .strip_prefix("hits ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("expected `hits N`, got {hits:?}"));
    drop(p.input);
    let exit = p.child.wait().unwrap();
    assert!(exit.success(), "memo {threads}: {exit:?}");
    let report = tool(&san, &["report", "--json"]);
    assert!(report.status.success(), "{report:?}");
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    let debug_lines = std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("wsd ") && l.contains(" fd="))
        .map(debug_facts)
        .collect();
    Transcript {
        hits,
        replies,
        endpoints,
        // The two runs are two processes: everything but the pid must agree.
        report: serde_json::json!({"rows": without_pids(&report["rows"]), "summary": report["summary"]}),
        debug_lines,
    }
}

/// `<target>/c-tests/memo`, compiled once per test binary.
fn exe() -> PathBuf {
    support::cc::program("memo")
}

/// Runs the program of `seed` both ways and compares. `provider_answers`: the
/// mode has the provider answer SAN sockets' options (all but `observe`).
fn same_either_way(seed: u64, env: &[(&str, &str)], provider_answers: bool) {
    let exe = exe();
    let steps = program(seed);
    let with_memo = run(&exe, "same", env, &steps);
    let without = run(&exe, "fresh", env, &steps);
    if let Some(i) = (0..steps.len()).find(|&i| with_memo.replies[i] != without.replies[i]) {
        let from = i.saturating_sub(12);
        let context: Vec<String> = (from..=i)
            .map(|j| {
                format!(
                    "{:>5} {:<40} memo: {:<24} fresh: {}",
                    j,
                    format!("{:?}", steps[j]),
                    with_memo.replies[j],
                    without.replies[j]
                )
            })
            .collect();
        panic!("seed {seed:#x} {env:?}: step {i} differs\n{}", context.join("\n"));
    }
    assert_eq!(
        with_memo.endpoints, without.endpoints,
        "seed {seed:#x} {env:?}: endpoints"
    );
    assert_eq!(with_memo.report, without.report, "seed {seed:#x} {env:?}: report");
    assert_eq!(
        with_memo.debug_lines, without.debug_lines,
        "seed {seed:#x} {env:?}: debug lines"
    );
    if !provider_answers {
        // The kernel answers everything: nothing is remembered.
        assert_eq!(with_memo.hits, 0);
        return;
    }
    // The program did what it is for: calls that repeat the previous one and
    // succeed (which a memo answers), faults, and debug lines.
    let repeats = steps
        .windows(2)
        .zip(&with_memo.replies[1..])
        .filter(|(w, reply)| {
            matches!((&w[0], &w[1]), (Step::Command(a), Step::Command(b)) if a == b)
                && reply.starts_with("0 ")
        })
        .count();
    assert!(repeats > STEPS / 20, "only {repeats} repeated successful calls");
    // And the memo answered calls on the one thread (here 22 to 186 of them: with
    // groups off only SO_DEBUG is the provider's), none on fresh ones.
    assert!(with_memo.hits >= 10, "{} memo hits", with_memo.hits);
    assert_eq!(without.hits, 0);
    assert!(
        with_memo.replies.iter().any(|r| r.starts_with("-1 100")),
        "no call saw the network down"
    );
    assert!(!with_memo.debug_lines.is_empty(), "no debug line was written");
}

#[test]
fn switch_mode_answers_the_same_with_and_without_memos() {
    same_either_way(0x5eed_0001, &[], true);
}

#[test]
fn provider_mode_answers_the_same_with_and_without_memos() {
    same_either_way(0x5eed_0002, &[("WSD_MODE", "provider")], true);
}

#[test]
fn groups_off_answers_the_same_with_and_without_memos() {
    same_either_way(0x5eed_0003, &[("WSD_GROUPS", "off")], true);
}

#[test]
fn observe_mode_answers_the_same_with_and_without_memos() {
    same_either_way(0x5eed_0004, &[("WSD_MODE", "observe")], false);
}

/// The stored form of an `ADDR:PORT` target's address.
fn target_words(t: Target) -> [u32; 6] {
    match t {
        Target::Addr(a) => wsd::san::endpoint::encode(a),
        Target::Id(_) => [0; 6],
    }
}

/// Report rows without their `pid` (which differs from one run to the next).
/// The rows without their pids, and with each call site as its place and
/// count only: the memo must count every call at its place as the whole path
/// does, while the frames above the place differ between the runs (one thread,
/// or a fresh thread per call).
fn without_pids(rows: &Value) -> Value {
    let mut rows = rows.clone();
    for r in rows.as_array_mut().into_iter().flatten() {
        if let Some(o) = r.as_object_mut() {
            o.remove("pid");
            if let Some(sites) = o.get_mut("sites").and_then(Value::as_array_mut) {
                for site in sites {
                    *site = serde_json::json!({"at": site["at"], "count": site["count"]});
                }
            }
        }
    }
    rows
}
