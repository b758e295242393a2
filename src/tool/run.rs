//! `wsd run`: runs an existing program with `libwsd.so` preloaded and the run's
//! settings in its environment, waits for it and every process it started, prints
//! the portability report, and exits with the program's status.
//!
//! Each run uses a fresh SAN segment (`run-PID`, kept for `wsd report` to read
//! again until a run a minute or more later removes it) unless `--san` names one
//! to share; `--group G` makes it one shared with group G (`0660`), for programs
//! that drop privileges.
//!
//! The program also inherits the write end of a pipe, named by `WSD_REPORT_FD`
//! (see `sidechannel`): a process that refused the segment tells the tool there
//! about each socket that stayed plain TCP because of it, and the report counts
//! them with their reasons.
//!
//! This file owns the run: its settings, its segment, the program's environment
//! and the report; `child` owns the program's life as a process (the signals it
//! is given and passed, and the wait for it and every process it leaves).

mod child;

use super::report::{self, RunInfo};
use super::sidechannel::{self, Channel};
use super::{USAGE, err, fail, find_library};
use child::run_to_the_end;
use clap::Args;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Instant;
use wsd::config::{Config, ConfigError, SAN_NAME_RULE, Subnet, valid_san_name};
use wsd::model::routing::Mode;
use wsd::san::faultspec::FaultSpec;
use wsd::san::layout::DEFAULT_CAPACITY;
use wsd::san::schedule;
use wsd::san::{Segment, SegmentError};

#[derive(Args)]
pub struct RunArgs {
    /// switch (provider options to the provider, the rest to the kernel),
    /// provider (every option on a SAN socket to the provider) or observe
    /// (everything to the kernel, verdicts recorded) (WSD_MODE; default switch).
    #[arg(long, short = 'm', value_name = "MODE")]
    mode: Option<String>,
    /// on or off: does the provider support socket groups (WSD_GROUPS; default on).
    #[arg(long, value_name = "on|off")]
    groups: Option<String>,
    /// off, error, warn, info or debug (WSD_LOG; default warn).
    #[arg(long, value_name = "LEVEL")]
    log: Option<String>,
    /// Where log lines and SO_DEBUG lines go (WSD_LOG_FILE; default standard error).
    #[arg(long, value_name = "FILE")]
    log_file: Option<PathBuf>,
    /// Inherited descriptors to adopt as SAN sockets at start-up, comma-separated
    /// (WSD_FDS).
    #[arg(long, value_name = "FD,...")]
    fds: Option<String>,
    /// Share this SAN segment (WSD_SAN) instead of a fresh one for the run.
    #[arg(long)]
    san: Option<String>,
    /// Make the run's segment shared with group G (a name or a number: mode
    /// 0660, group G), so that a server that drops privileges to a user of G
    /// (`memcached -u nobody`) stays on the SAN. With --san, a segment that exists
    /// already must be shared with G.
    #[arg(long, value_name = "G")]
    group: Option<String>,
    /// A SAN subnet (CIDR); repeat for several. Replaces the default loopback table.
    #[arg(long = "subnet", value_name = "CIDR")]
    subnets: Vec<String>,
    /// A rules file (WSD_CONFIG).
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Write the report to FILE instead of standard error.
    #[arg(long, short = 'o', value_name = "FILE")]
    report: Option<PathBuf>,
    /// The report as one JSON document (in the --report file).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    view: report::View,
    /// The library to preload; default: libwsd.so beside this tool.
    #[arg(long)]
    lib: Option<PathBuf>,
    /// A fault to inject during the run (repeatable): KIND[,KEY=VALUE]... with
    /// KIND reset, keepalive-fail or down and keys after=DURATION,
    /// after-connect=DURATION, for=DURATION (down), port=N, program=NAME,
    /// probability=P — e.g. `reset,port=6379,after=2s` or `down,after=1s,for=3s`.
    #[arg(long = "fault", value_name = "SPEC")]
    faults: Vec<FaultSpec>,
    /// The seed that decides which connections a fault with a probability hits
    /// (default: from the clock; the report says which).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// The program and its arguments, after `--` (so that a mistyped flag of
    /// wsd's is refused, not run as the program).
    #[arg(required = true, last = true, value_name = "CMD")]
    command: Vec<String>,
}

/// The variables flags set, and the flag that sets each (for messages).
const FLAGS: [(&str, &str); 6] = [
    ("WSD_MODE", "--mode"),
    ("WSD_GROUPS", "--groups"),
    ("WSD_LOG", "--log"),
    ("WSD_LOG_FILE", "--log-file"),
    ("WSD_FDS", "--fds"),
    ("WSD_CONFIG", "--rules"),
];

/// The variables the run sets, each from a flag.
fn overrides(args: &RunArgs, san: &str) -> Result<Vec<(&'static str, String)>, String> {
    let mut vars = vec![("WSD_SAN", san.to_string())];
    if let Some(mode) = &args.mode {
        Mode::parse(mode).ok_or(format!("--mode {mode}: expected switch, provider or observe"))?;
        vars.push(("WSD_MODE", mode.clone()));
    }
    check_subnets(&args.subnets)?;
    if !args.subnets.is_empty() {
        vars.push(("WSD_SUBNETS", args.subnets.join(",")));
    }
    for (var, value) in [
        ("WSD_GROUPS", args.groups.clone()),
        ("WSD_LOG", args.log.clone()),
        (
            "WSD_LOG_FILE",
            args.log_file.as_ref().map(|p| p.display().to_string()),
        ),
        ("WSD_FDS", args.fds.clone()),
    ] {
        if let Some(v) = value {
            vars.push((var, v));
        }
    }
    if let Some(rules) = &args.rules {
        let path = rules_path(rules)?;
        vars.push(("WSD_CONFIG", path.display().to_string()));
    }
    Ok(vars)
}

/// `--subnet`: each must be a CIDR (`wsd study` checks its own the same way).
pub(super) fn check_subnets(subnets: &[String]) -> Result<(), String> {
    match subnets.iter().find(|s| Subnet::parse(s).is_none()) {
        Some(bad) => Err(format!("--subnet {bad}: expected a CIDR such as 10.77.0.0/24")),
        None => Ok(()),
    }
}

/// `--rules`: the file's absolute path, for a program that may change directory
/// (`wsd study` passes its own on the same way).
pub(super) fn rules_path(rules: &Path) -> Result<PathBuf, String> {
    std::fs::canonicalize(rules).map_err(|e| format!("--rules {}: {e}", rules.display()))
}

pub fn run(args: RunArgs) -> i32 {
    let lib = match find_library(args.lib.as_deref()) {
        Ok(lib) => lib,
        Err(e) => return fail(USAGE, e),
    };
    // A segment named by --san or WSD_SAN is shared: it exists before and after
    // the run. Otherwise the run gets a fresh one of its own.
    let named = args
        .san
        .clone()
        .or_else(|| std::env::var("WSD_SAN").ok().filter(|s| !s.is_empty()));
    let fresh = named.is_none();
    if fresh {
        forget_old_runs();
    }
    let san = named.unwrap_or_else(|| format!("run-{}", std::process::id()));
    if !valid_san_name(&san) {
        return fail(USAGE, format_args!("--san {san:?}: expected {SAN_NAME_RULE}"));
    }
    if args.json && args.report.is_none() {
        return fail(
            USAGE,
            "--json writes the report as one JSON document, which must not share a stream with the \
             program's own output: name its file with --report FILE",
        );
    }
    let vars = match overrides(&args, &san) {
        Ok(v) => v,
        Err(e) => return fail(USAGE, e),
    };
    let env = |k: &str| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(k).ok())
    };
    // Every setting is checked before the program runs: a bad variable, a rules
    // file that cannot be read or does not parse.
    if let Err(e) = Config::from_env(env, |p| std::fs::read_to_string(p)) {
        // Named as the user gave it: the flag that set the variable, if one did.
        let flag = FLAGS
            .iter()
            .find(|(var, _)| vars.iter().any(|(v, _)| v == var) && *var == e.var());
        return match (flag, &e) {
            (Some((_, flag)), ConfigError::Var { value, expected, .. }) => {
                fail(USAGE, format_args!("{flag} {value}: expected {expected}"))
            }
            (Some((_, flag)), ConfigError::File { path, error }) => {
                fail(USAGE, format_args!("{flag} {path}: cannot read it: {error}"))
            }
            _ => fail(USAGE, e),
        };
    }
    let config_error = None;
    let group = match args.group.as_deref().map(super::group).transpose() {
        Ok(g) => g,
        Err(e) => return fail(USAGE, e),
    };
    let seg = match &group {
        None if fresh => Segment::create(&san, DEFAULT_CAPACITY),
        None => Segment::open_or_create(&san, DEFAULT_CAPACITY),
        Some((gid, gname)) => match shared_segment(&san, fresh, *gid, gname.as_deref()) {
            Ok(seg) => Ok(seg),
            Err(e) => return fail(USAGE, e),
        },
    };
    let seg = match seg {
        Ok(seg) => seg,
        Err(e) => return fail(USAGE, format_args!("SAN {san:?}: {e}")),
    };
    let preload = match std::env::var("LD_PRELOAD") {
        Ok(old) if !old.is_empty() => format!("{}:{old}", lib.display()),
        _ => lib.display().to_string(),
    };
    let mut cmd = Command::new(&args.command[0]);
    cmd.args(&args.command[1..])
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .env("LD_PRELOAD", preload);
    // The side channel; without it (no descriptor left?) the run goes on, and
    // refusals of the segment are not counted.
    let channel = match Channel::new() {
        Ok(ch) => {
            cmd.env("WSD_REPORT_FD", ch.var());
            let fd = ch.child_fd();
            // SAFETY: the closure runs in the child between fork and exec and only
            // calls fcntl(2), which is async-signal-safe.
            unsafe { cmd.pre_exec(move || sidechannel::inherit_in_child(fd)) };
            Some(ch)
        }
        Err(e) => {
            err(format_args!(
                "wsd: cannot make the report's side channel ({e}); sockets refused the segment are not counted\n"
            ));
            cmd.env_remove("WSD_REPORT_FD");
            None
        }
    };
    let mut listener = channel.map(Channel::listen);
    child::give_sigpipe_back(&mut cmd);
    // The segment's name, for faults injected from another terminal.
    let hello = format!(
        "wsd: running on SAN {san:?}: inject faults with `wsd san reset|keepalive-fail|down --san {san} ...`\n"
    );
    match &args.report {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &hello) {
                if fresh {
                    let _ = Segment::destroy(&san);
                }
                return fail(
                    USAGE,
                    format_args!(
                        "--report {}: cannot write it ({e}), so the report would be lost; name a file \
                         in a directory that exists and that you may write",
                        path.display()
                    ),
                );
            }
        }
        None => err(format_args!("{hello}")),
    }
    let started_ns = wall_clock_ns();
    let seed = args.seed.unwrap_or(started_ns ^ u64::from(std::process::id()));
    let stop = AtomicBool::new(false);
    let status = std::thread::scope(|scope| {
        if !args.faults.is_empty() {
            let (seg, faults, stop) = (&seg, &args.faults, &stop);
            let start = Instant::now();
            scope.spawn(move || schedule::run(seg, faults, seed, start, stop));
        }
        let status = run_to_the_end(&mut cmd, || {
            if let Some(l) = listener.as_mut() {
                l.close_write_end();
            }
        });
        stop.store(true, Relaxed);
        status
    });
    let refusals = listener.map(sidechannel::Listener::finish).unwrap_or_default();
    let code = match &status {
        Ok(st) => st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)),
        Err(e) => {
            // The program never ran: one line says why, and there is no report.
            if fresh {
                let _ = Segment::destroy(&san);
            }
            if let Some(path) = &args.report {
                let _ = std::fs::remove_file(path);
            }
            return fail(127, format_args!("{}: {e}", args.command[0]));
        }
    };
    let info = RunInfo {
        command: Some(args.command.clone()),
        status: status.is_ok().then_some(code),
        mode: env("WSD_MODE").unwrap_or_else(|| Mode::default().name().to_string()),
        config_error,
        started_ns: Some(started_ns),
        seed: (!args.faults.is_empty()).then_some(seed),
    };
    let doc = report::build(&seg, &info, Some(&refusals), &args.view);
    let text = if args.json {
        format!("{doc}\n")
    } else {
        report::render(&doc)
    };
    match &args.report {
        Some(path) => {
            if let Err(e) = std::fs::write(path, text) {
                fail(1, format_args!("--report {}: {e}", path.display()));
            }
        }
        // A closed standard error loses the report, not the program's status.
        None => err(format_args!("{text}")),
    }
    // A run's own segment stays, so that its report can be read again with the
    // name the run printed, until the next run removes it (`forget_old_runs`).
    if fresh && args.report.is_none() {
        err(format_args!(
            "wsd: `wsd report --san {san}` shows this report again (a wsd run a minute or more \
             later removes it; `wsd san destroy --san {san}` now)\n"
        ));
    }
    code
}

/// Removes the segments of this user's earlier runs (`run-PID`) whose tool has
/// ended and which nothing has touched for a minute: each run keeps its own
/// segment for its report to be read again, until a run a minute later. Segments
/// of runs still going are left alone.
fn forget_old_runs() {
    forget_ended(|san| san.strip_prefix("run-")?.parse().ok());
}

/// Removes this user's segments whose name `owner` ties to a process (the pid
/// it returns) that has ended — not this one — and which nothing has touched for
/// a minute: the segments runs and studies leave (`wsd study` uses it too).
pub(super) fn forget_ended(owner: impl Fn(&str) -> Option<i32>) {
    let Ok(dir) = std::fs::read_dir("/dev/shm") else {
        return;
    };
    // SAFETY: getuid has no preconditions.
    let me = unsafe { libc::getuid() };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(san) = name.to_str().and_then(|n| n.strip_prefix("wsd.")) else {
            continue;
        };
        let Some(pid) = owner(san) else { continue };
        let Ok(meta) = entry.metadata() else { continue };
        let mine = std::os::unix::fs::MetadataExt::uid(&meta) == me;
        let idle = meta
            .modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= std::time::Duration::from_secs(60));
        // SAFETY: signal 0 only asks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if mine && gone && idle {
            let _ = Segment::destroy(san);
        }
    }
}

/// `--group`: the run's segment, shared with group `gid`: made so (a fresh one,
/// or a named one that does not exist yet), or a named one that exists and is
/// shared with that group already.
fn shared_segment(san: &str, fresh: bool, gid: u32, gname: Option<&str>) -> Result<Segment, String> {
    match Segment::create_shared(san, DEFAULT_CAPACITY, gid) {
        Err(SegmentError::Exists) if !fresh => {
            let seg = Segment::open(san).map_err(|e| format!("SAN {san:?}: {e}"))?;
            match super::shared_with(san) {
                Some(g) if g == gid => Ok(seg),
                _ => Err(format!(
                    "SAN {san:?} exists and is not shared with group {}: --group needs it \
                     mode 0660 of that group; remove it with `wsd san destroy` first, or run \
                     without --group",
                    super::group_text(gid, gname)
                )),
            }
        }
        Err(e) => Err(super::shared_creation_failed(san, &e, gid, gname)),
        Ok(seg) => Ok(seg),
    }
}

/// The wall clock, nanoseconds since the epoch (what the fault log holds).
fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
