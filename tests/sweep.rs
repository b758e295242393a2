//! The hardening sweep (issue 6, point 1): `c-tests/sweep.c` drives `WSPSetSockOpt`,
//! `WSPGetSockOpt` and the interposed `setsockopt`/`getsockopt` over the cross
//! product of descriptors × levels × optnames × optvals × optlens, under
//! `LD_PRELOAD=libwsd.so`, once per mode, and prints one line per call. Every line
//! is compared here with what the model predicts:
//!
//! - the direct API: `model::checks::set_sock_opt`/`get_sock_opt`, with the facts
//!   of the descriptor's kind (only TCP stream sockets are the provider's; the network
//!   is up and every connection healthy) and the optval kind's readability and
//!   writability;
//! - the interposed calls on a SAN socket or a candidate: `model::routing::route_set`/
//!   `route_get` decide who answers. The switch or the provider: the model's answer,
//!   as errno. The kernel: the kernel's own answer, which the program gets by making
//!   the same call again as a raw system call;
//! - the interposed calls on every other descriptor (UDP, pipe, closed, -1, beyond the
//!   limit): exactly the raw system call's answer, in every mode.
//!
//! The model is the oracle: nothing here re-states a check. What the test adds is
//! only what the model leaves to its caller: which optval kinds can be read or
//! written, and the facts of each descriptor kind.

mod support;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};
use support::San;
use wsd::model::WsaError;
use wsd::model::checks::{self, Connection, Facts, Network};
use wsd::model::options::Asked;
use wsd::model::routing::{self, Mode, Role, Route};

/// One run of the program may take this long; then it is killed and fails.
const RUN_LIMIT: Duration = Duration::from_secs(40);

/// Descriptor kinds × levels × optnames × optvals × optlens × the four calls.
const EXPECTED_CASES: usize = 7 * 8 * 10 * 7 * 10 * 4;

/// The value every readable optval of the program holds.
const VALUE: i32 = 1;

/// Mismatch classes shown in full in a failure message (all are counted).
const SHOWN: usize = 60;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `<target>/c-tests/sweep`, compiled from `c-tests/sweep.c` once per test binary.
fn program() -> PathBuf {
    support::cc::program("sweep")
}

// ---- the program's lines ---------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Call {
    /// `WSPSetSockOpt`
    Wset,
    /// `WSPGetSockOpt`
    Wget,
    /// interposed `setsockopt`
    Set,
    /// interposed `getsockopt`
    Get,
}

impl Call {
    fn parse(s: &str) -> Option<Call> {
        Some(match s {
            "wset" => Call::Wset,
            "wget" => Call::Wget,
            "set" => Call::Set,
            "get" => Call::Get,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Call::Wset => "WSPSetSockOpt",
            Call::Wget => "WSPGetSockOpt",
            Call::Set => "setsockopt",
            Call::Get => "getsockopt",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum FdKind {
    /// The client end of a loopback connection: a SAN socket.
    San,
    /// An unconnected TCP socket: a candidate.
    Candidate,
    Udp,
    Pipe,
    Closed,
    MinusOne,
    /// `RLIMIT_NOFILE`'s soft limit: one past the last valid descriptor.
    Beyond,
}

impl FdKind {
    fn parse(s: &str) -> Option<FdKind> {
        Some(match s {
            "san" => FdKind::San,
            "candidate" => FdKind::Candidate,
            "udp" => FdKind::Udp,
            "pipe" => FdKind::Pipe,
            "closed" => FdKind::Closed,
            "minus1" => FdKind::MinusOne,
            "beyond" => FdKind::Beyond,
            _ => return None,
        })
    }

    /// An open TCP stream socket: what the direct API treats as its own (SPEC §2).
    fn tcp_stream(self) -> bool {
        matches!(self, FdKind::San | FdKind::Candidate)
    }

    /// What the switch knows the descriptor to be (None: not tracked, SPEC §4.3).
    fn role(self) -> Option<Role> {
        match self {
            FdKind::San => Some(Role::San),
            FdKind::Candidate => Some(Role::Candidate),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ValKind {
    /// An int on the stack holding [`VALUE`].
    Valid,
    Null,
    /// `(char*)1`
    One,
    ProtNone,
    Unmapped,
    /// 2 bytes before the end of a page whose next page is unmapped.
    Tail,
    /// A read-only page whose first int is [`VALUE`].
    ReadOnly,
}

impl ValKind {
    fn parse(s: &str) -> Option<ValKind> {
        Some(match s {
            "valid" => ValKind::Valid,
            "null" => ValKind::Null,
            "one" => ValKind::One,
            "protnone" => ValKind::ProtNone,
            "unmapped" => ValKind::Unmapped,
            "tail" => ValKind::Tail,
            "readonly" => ValKind::ReadOnly,
            _ => return None,
        })
    }

    /// The bytes `WSPSetSockOpt` reads, if they can be read (SPEC §2.2 row 5).
    fn read(self) -> Option<[u8; 4]> {
        matches!(self, ValKind::Valid | ValKind::ReadOnly).then_some(VALUE.to_ne_bytes())
    }

    fn present(self) -> bool {
        self != ValKind::Null
    }

    /// Can the option's 4 bytes be written here (SPEC §3: unwritable → `WSAEFAULT`)?
    fn writable(self) -> bool {
        self == ValKind::Valid
    }
}

/// What one call answered: `err` is the Winsock code (direct API) or errno
/// (interposed), 0 on success; `olen` is `*optlen` after a get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Answer {
    rc: i64,
    err: i32,
    olen: Option<i32>,
}

impl Answer {
    fn ok(olen: Option<i32>) -> Answer {
        Answer { rc: 0, err: 0, olen }
    }

    fn fail(err: i32, olen: Option<i32>) -> Answer {
        Answer { rc: -1, err, olen }
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rc={}", self.rc)?;
        if self.rc != 0 {
            write!(f, " err={}", self.err)?;
        }
        if let Some(olen) = self.olen {
            write!(f, " olen={olen}")?;
        }
        Ok(())
    }
}

/// One line of the program's output.
#[derive(Debug)]
struct Line<'a> {
    text: &'a str,
    call: Call,
    fd: FdKind,
    level: i32,
    optname: i32,
    val: ValKind,
    len: i32,
    /// What the call answered.
    got: Answer,
    /// The direct API left errno alone.
    kept_errno: bool,
    /// The raw system call's answer (interposed calls only).
    kernel: Option<Answer>,
}

fn parse_line(text: &str) -> Result<Line<'_>, String> {
    let bad = |why: &str| format!("unparsable line ({why}): {text:?}");
    let mut tokens = text.split_ascii_whitespace();
    let call = tokens.next().and_then(Call::parse).ok_or_else(|| bad("call"))?;
    let mut fields = BTreeMap::new();
    for token in tokens {
        let (k, v) = token.split_once('=').ok_or_else(|| bad("token"))?;
        fields.insert(k, v);
    }
    let text_of = |k: &str| fields.get(k).copied().ok_or_else(|| bad(k));
    let num = |k: &str| -> Result<i64, String> { text_of(k)?.parse::<i64>().map_err(|_| bad(k)) };
    let int = |k: &str| -> Result<i32, String> { i32::try_from(num(k)?).map_err(|_| bad(k)) };
    let opt_int = |k: &str| -> Result<Option<i32>, String> {
        match fields.contains_key(k) {
            true => int(k).map(Some),
            false => Ok(None),
        }
    };
    let rc = num("rc")?;
    let err = int("err")?;
    let direct = matches!(call, Call::Wset | Call::Wget);
    let is_get = matches!(call, Call::Wget | Call::Get);
    let olen = if is_get { Some(int("olen")?) } else { None };
    let got = Answer {
        rc,
        // The direct API's code is only meaningful on failure (SPEC §2).
        err: if rc == 0 { 0 } else { err },
        olen,
    };
    let kernel = if direct {
        None
    } else {
        Some(Answer {
            rc: num("krc")?,
            err: int("kerr")?,
            olen: if is_get { Some(int("kolen")?) } else { None },
        })
    };
    Ok(Line {
        text,
        call,
        fd: FdKind::parse(text_of("fd")?).ok_or_else(|| bad("fd"))?,
        level: int("lvl")?,
        optname: int("opt")?,
        val: ValKind::parse(text_of("val")?).ok_or_else(|| bad("val"))?,
        len: int("len")?,
        got,
        kept_errno: !direct || opt_int("keep")? == Some(1),
        kernel,
    })
}

// ---- the oracle ------------------------------------------------------------------

/// One run's configuration.
#[derive(Clone, Copy, Debug)]
struct Run {
    name: &'static str,
    mode: Mode,
    groups: bool,
}

/// Who answers, by the model: the provider called directly, or a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Direct,
    /// `Route::Provider`
    Provider,
    /// `Route::Switch`
    Switch,
    /// `Route::Kernel`
    Kernel,
    /// A descriptor the switch does not track: libc, as without the library.
    Untracked,
}

impl Who {
    fn of(route: Route) -> Who {
        match route {
            Route::Provider => Who::Provider,
            Route::Switch => Who::Switch,
            Route::Kernel => Who::Kernel,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Who::Direct => "provider (direct API)",
            Who::Provider => "route Provider",
            Who::Switch => "route Switch",
            Who::Kernel => "route Kernel",
            Who::Untracked => "untracked (libc)",
        }
    }
}

/// The facts the provider sees for a descriptor of `kind` (SPEC §2.2 rows 1, 2, 7, 8).
fn facts_of(kind: FdKind, groups: bool) -> Facts {
    Facts {
        is_ours: kind.tcp_stream(),
        network: Network::Up,
        connection: Connection::Healthy,
        groups,
    }
}

/// `WSPSetSockOpt`'s answer by the model: 0 or the Winsock code.
fn model_set(facts: &Facts, l: &Line) -> Result<(), WsaError> {
    checks::set_sock_opt(facts, l.level, l.optname, l.len, |_| l.val.read()).map(|_| ())
}

/// `WSPGetSockOpt`'s answer by the model, and `*optlen` after it: the option's size
/// on success, the size needed when `*optlen` was too small, else unchanged. An
/// optval that is present but cannot be written is found by the final write
/// (`WSAEFAULT`, `*optlen` unchanged).
fn model_get(facts: &Facts, l: &Line) -> (Result<(), WsaError>, i32) {
    match checks::get_sock_opt(facts, l.level, l.optname, Some(l.len), l.val.present()) {
        Ok(spec) if l.val.writable() => (Ok(()), spec.size as i32),
        Ok(_) => (Err(WsaError::EFAULT), l.len),
        Err(e) => (Err(e.code), e.needed_len.unwrap_or(l.len)),
    }
}

fn as_code(r: Result<(), WsaError>, olen: Option<i32>) -> Answer {
    match r {
        Ok(()) => Answer::ok(olen),
        Err(e) => Answer::fail(e.code(), olen),
    }
}

fn as_errno(r: Result<(), WsaError>, olen: Option<i32>) -> Answer {
    match r {
        Ok(()) => Answer::ok(olen),
        Err(e) => Answer::fail(e.errno(), olen),
    }
}

/// What `l`'s call should have answered, and who answers it.
fn expect(run: &Run, l: &Line) -> (Answer, Who) {
    let kernel = || l.kernel.expect("interposed lines carry the kernel's answer");
    // The switch answers provider options itself as rows 3–6 would, with group
    // options known whatever WSD_GROUPS says (SPEC §4.2: with groups off it answers
    // and remembers them on every candidate and SAN socket).
    let switch_facts = Facts::healthy(true);
    // A SAN socket as the provider sees it through the switch.
    let san_facts = facts_of(FdKind::San, run.groups);
    match l.call {
        Call::Wset => (
            as_code(model_set(&facts_of(l.fd, run.groups), l), None),
            Who::Direct,
        ),
        Call::Wget => {
            let (r, olen) = model_get(&facts_of(l.fd, run.groups), l);
            (as_code(r, Some(olen)), Who::Direct)
        }
        Call::Set => {
            let Some(role) = l.fd.role() else {
                return (kernel(), Who::Untracked);
            };
            let route = routing::route_set(run.mode, role, run.groups, &Asked::new(l.level, l.optname));
            let who = Who::of(route);
            // SPEC §4.3: in switch and provider mode the SAN's state is looked at
            // before any setsockopt on a SAN socket.
            if role == Role::San
                && run.mode != Mode::Observe
                && let Err(e) = routing::san_gate(Network::Up, Connection::Healthy)
            {
                return (Answer::fail(e.errno(), None), who);
            }
            let answer = match route {
                Route::Kernel => kernel(),
                Route::Switch => as_errno(model_set(&switch_facts, l), None),
                Route::Provider => as_errno(model_set(&san_facts, l), None),
            };
            (answer, who)
        }
        Call::Get => {
            let Some(role) = l.fd.role() else {
                return (kernel(), Who::Untracked);
            };
            let route = routing::route_get(run.mode, role, run.groups, &Asked::new(l.level, l.optname));
            let answer = match route {
                Route::Kernel => kernel(),
                Route::Switch => {
                    let (r, olen) = model_get(&switch_facts, l);
                    as_errno(r, Some(olen))
                }
                Route::Provider => {
                    let (r, olen) = model_get(&san_facts, l);
                    as_errno(r, Some(olen))
                }
            };
            (answer, Who::of(route))
        }
    }
}

// ---- running and comparing -------------------------------------------------------

/// A class of mismatch: the same call, descriptor, optval and answerer, expected
/// one answer and got another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Class {
    call: Call,
    fd: FdKind,
    who: Who,
    val: ValKind,
    expected: Answer,
    got: Answer,
}

struct Outcome {
    stdout: String,
    stderr: String,
    status: Option<std::process::ExitStatus>,
    elapsed: Duration,
}

/// Runs the program under the library with `env`, killing it after [`RUN_LIMIT`].
fn run_program(env: &[(&str, &str)]) -> Outcome {
    let san = San::new("sweep");
    let mut cmd = support::preloaded(program(), &san);
    cmd.current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .envs(env.iter().copied());
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn c-tests/sweep");
    let drain = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let err = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for c-tests/sweep") {
            break Some(status);
        }
        if started.elapsed() > RUN_LIMIT {
            // Our own child, not yet reaped: its pid is still ours.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed();
    Outcome {
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
        status,
        elapsed,
    }
}

fn sweep(run: Run, env: &[(&str, &str)]) {
    let outcome = run_program(env);
    let tail = |s: &str| {
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    };
    let context = || {
        format!(
            "sweep [{}] with {env:?}\n--- stdout (tail)\n{}\n--- stderr (tail)\n{}",
            run.name,
            tail(&outcome.stdout),
            tail(&outcome.stderr)
        )
    };
    let status = outcome
        .status
        .unwrap_or_else(|| panic!("still running after {RUN_LIMIT:?}: killed\n{}", context()));
    assert!(status.success(), "exited with {status}\n{}", context());

    let mut declared = None;
    let mut tried = 0usize;
    let mut per_call: BTreeMap<Call, usize> = BTreeMap::new();
    let mut per_who: BTreeMap<Who, usize> = BTreeMap::new();
    let mut mismatches: BTreeMap<Class, (usize, String)> = BTreeMap::new();
    let mut errno_touched: Vec<&str> = Vec::new();
    for text in outcome.stdout.lines() {
        if let Some(n) = text.strip_prefix("cases ") {
            declared = Some(n.parse::<usize>().expect("case count"));
            continue;
        }
        let line = parse_line(text).unwrap_or_else(|e| panic!("{e}\n{}", context()));
        tried += 1;
        *per_call.entry(line.call).or_default() += 1;
        let (expected, who) = expect(&run, &line);
        *per_who.entry(who).or_default() += 1;
        if !line.kept_errno {
            errno_touched.push(line.text);
        }
        if line.got != expected {
            let class = Class {
                call: line.call,
                fd: line.fd,
                who,
                val: line.val,
                expected,
                got: line.got,
            };
            let entry = mismatches.entry(class).or_insert((0, line.text.to_owned()));
            entry.0 += 1;
        }
    }

    let calls: Vec<String> = per_call
        .iter()
        .map(|(c, n)| format!("{} {n}", c.name()))
        .collect();
    let whos: Vec<String> = per_who.iter().map(|(w, n)| format!("{} {n}", w.name())).collect();
    let wrong: usize = mismatches.values().map(|(n, _)| n).sum();
    eprintln!(
        "sweep [{}]: {tried} cases tried in {:.2?} ({}); answered by {}; {wrong} mismatches in {} classes",
        run.name,
        outcome.elapsed,
        calls.join(", "),
        whos.join(", "),
        mismatches.len()
    );

    assert_eq!(declared, Some(tried), "the program's own count\n{}", context());
    assert_eq!(
        tried,
        EXPECTED_CASES,
        "the whole cross product ran\n{}",
        context()
    );
    let mut report = String::new();
    for (class, (n, example)) in mismatches.iter().take(SHOWN) {
        report.push_str(&format!(
            "  [{}] {} on {:?} via {}, optval {:?}: expected {}, got {} ({n} cases), e.g.\n    {example}\n",
            run.name,
            class.call.name(),
            class.fd,
            class.who.name(),
            class.val,
            class.expected,
            class.got,
        ));
    }
    if mismatches.len() > SHOWN {
        report.push_str(&format!("  … and {} more classes\n", mismatches.len() - SHOWN));
    }
    assert!(
        mismatches.is_empty() && errno_touched.is_empty(),
        "sweep [{}]: {wrong} of {tried} answers differ from the model/kernel ({} classes); \
         {} direct calls changed errno (first: {:?})\n{report}",
        run.name,
        mismatches.len(),
        errno_touched.len(),
        errno_touched.first(),
    );
}

#[test]
fn sweep_switch_mode() {
    let run = Run {
        name: "switch",
        mode: Mode::Switch,
        groups: true,
    };
    sweep(run, &[("WSD_MODE", "switch")]);
}

#[test]
fn sweep_provider_mode() {
    let run = Run {
        name: "provider",
        mode: Mode::Provider,
        groups: true,
    };
    sweep(run, &[("WSD_MODE", "provider")]);
}

#[test]
fn sweep_observe_mode() {
    let run = Run {
        name: "observe",
        mode: Mode::Observe,
        groups: true,
    };
    sweep(run, &[("WSD_MODE", "observe")]);
}

#[test]
fn sweep_groups_off() {
    let run = Run {
        name: "groups-off",
        mode: Mode::Switch,
        groups: false,
    };
    sweep(run, &[("WSD_GROUPS", "off")]);
}
