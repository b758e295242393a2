//! `wsd study`: a portability study of one or more programs in one go (issue 16).
//!
//! The study runs its commands — a server and its clients, or a test suite's
//! commands — once in `switch` mode and once in `provider` mode, each mode on a
//! fresh SAN segment of its own (`study-PID-switch`, `study-PID-provider`, removed
//! at the end), and writes one study: per program, the options it used with their
//! verdicts in each mode, who answered, their call sites and advice; per command,
//! its exit status in each mode and the lines of its own output that mention a
//! socket call and appear only in provider mode; and totals.
//!
//! How a mode runs:
//! - Each command is one argument, split into words as a shell splits a simple
//!   command (`words`); no shell runs unless the command is `sh -c '…'`. `{port}`
//!   in any word is the mode's port: `--port N`, else a port free on loopback when
//!   the mode starts (bound to port 0, read, let go).
//! - Every command runs under `wsd run --mode MODE --san SEGMENT --json --report
//!   FILE --lib LIB -- WORDS…` (this same binary): the library check, the
//!   environment, the side channel and the report are `wsd run`'s. Each runs in a
//!   process group of its own with standard input empty; its standard output and
//!   error are captured (the first and last 256 KiB of each).
//! - With `--server`, the server starts first (unless something listens on the
//!   port already: it would pass for the server) and the study waits (at most
//!   `--ready-timeout`, polling) until a socket listens on the port — read from
//!   `/proc/net/tcp{,6}`, so that no probe connection is counted in the study.
//!   Then each client runs in order, for at most `--timeout` each, and then the
//!   server is stopped: `SIGTERM` to its `wsd run`, which passes it on and writes
//!   the report, then `SIGKILL` to its process group after `--grace`. A server
//!   that does not listen in time (or ends first) is stopped, and the mode's
//!   clients are not run; the study says so.
//! - Without `--server`, the commands run in order, each for at most `--timeout`.
//! - All the commands of a mode share its segment, so the report of the `wsd run`
//!   that ended last holds every program's rows (rows carry `program` and `pid`);
//!   that report is the mode's. If none was written (the last command could not
//!   start, or had to be killed), the study reads the segment itself, as `wsd
//!   report` does.
//!
//! SIGINT, SIGTERM and SIGHUP stop what runs, remove the segments and end the
//! study with status 128+N, writing no study. `wsd study` exits 0 when it wrote
//! the study, whatever the commands' statuses (a command failing in provider mode
//! is a finding), 1 when it could not make or write it, 2 for a usage error.
//!
//! The JSON document (`--format json`), one object:
//! - `modes`: {`switch`, `provider`}: each {`san`, `port`, `report_from` (which
//!   report the rows come from, in words), `summary` (that report's `summary`),
//!   `sites` (whether that report's rows carry call sites)}
//! - `server`: the `--server` command as written, or null
//! - `programs[]`, by name: {`name`, `processes` {`switch`, `provider`}: distinct
//!   pids of that name, `calls` and `refused` {`switch`, `provider`}: calls
//!   counted and those whose verdict was not `ok`, `options[]`}
//!   - `options[]`, one per (level, option, call, socket), in level and option
//!     order: {`call`, `socket`, `level`, `level_name`, `option`, `option_name`,
//!     `name` (as the report writes it: `IPPROTO_TCP/TCP_NODELAY`), `count` (calls
//!     in both modes), `switch` and `provider` (null if the option was not used in
//!     that mode): {`verdict` (the most counted refusal if any call was refused,
//!     else the most counted verdict), `errno`, `answered_by` (of that verdict),
//!     `count`, `refused`, `outcomes[]` {`verdict`, `errno`, `answered_by`,
//!     `count`}, the most counted first}, `changed` (used in both modes, with
//!     another verdict in provider mode),
//!     `bare_provider` (what a bare SAN provider says: the report's `provider`),
//!     `sites[]` (the rows' `sites` as the report gives them, provider mode's
//!     first; a site met in several rows once, its `count` summed; empty when the
//!     report has none), `advice` (the first row's `advice`, provider mode's
//!     first, or null)}
//! - `commands[]`, in the order given, the server first: {`command` (as written),
//!   `role` (`server`, `client` or `command`), `program` (its first word's file
//!   name), `switch` and `provider`: {`argv` (the words run), `status` (its exit
//!   status, 128+N for a signal; null if it did not run), `timed_out`, `killed`
//!   (after the grace period), `stopped` (the server, by the study), `note` (why
//!   it did not run, or has no report; else null), `seconds`, `output_truncated`,
//!   `error_lines[]` (its output's lines that mention a socket call, `{port}` for
//!   the port, each shape once)}, `status_changed`, `error_lines_provider[]` (the
//!   provider mode's error lines whose shape — digits aside — switch mode's lack)}
//! - `totals`: {`programs`, `options`, `options_refused_provider`,
//!   `calls_refused_provider`, `options_changed`, `commands`, `commands_changed`}
//!
//! Which lines "mention a socket call" is declared in `lines`.

mod document;
mod exec;
mod lines;
mod render;
mod words;

use super::report::{self, RunInfo};
use super::{USAGE, fail, find_library, out};
use clap::Args;
use document::{Cmd, MODES, ModeRun, Outcome, Role};
use exec::{Ended, Runner};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wsd::config::{SAN_NAME_RULE, Subnet, valid_san_name};
use wsd::san::Segment;
use wsd::san::layout::DEFAULT_CAPACITY;

/// What `wsd study --help` says after the flags.
const HELP: &str = "\
Each command is ONE argument, split into words as a shell splits a simple command
(quotes and backslashes; no shell runs: write sh -c '...' for pipes or variables).
{port} in any word is the mode's port: --port N, else a free loopback port.

With --server, in each mode the server starts first; the study waits until a socket
listens on the port (at most --ready-timeout), runs each client in order (at most
--timeout each), then stops the server (SIGTERM, SIGKILL after --grace). Without it
the commands run in order. Every command runs under `wsd run --mode switch|provider`
on the mode's own fresh segment (study-PID-MODE, removed at the end).

The study: per program, the options it used, their verdicts in each mode, who
answered, call sites and advice; per command, its exit status in both modes and its
own output lines that mention a socket call and appear only in provider mode; totals.
Formats: text, json, markdown, html (one self-contained page with a chart of the
setsockopt calls refused per program). -o FILE takes its format from its extension
(.txt, .json, .md, .html) unless --format is given; repeat -o for several files.

{LINES}

Exit status: 0 when the study is written (whatever the commands' statuses), 1 when
it could not be made or written, 2 for a usage error, 128+N after signal N.

Examples:
  wsd study --server 'redis-server --port {port} --save \"\" --appendonly no' \\
      'redis-cli -p {port} ping' 'redis-cli -p {port} set k v'
  wsd study -o study.html --server 'python3 -m http.server --bind 127.0.0.1 {port}' \\
      'curl -s http://127.0.0.1:{port}/'
  wsd study --timeout 600 'python3 -m pytest tests/net'";

/// [`HELP`] with the words that make an output line one about a socket call,
/// from their one declaration ([`lines`]).
fn help() -> String {
    let quoted = |list: &[&str]| {
        list.iter()
            .map(|w| format!("\"{w}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let prefixes: Vec<String> = lines::OPTION_PREFIXES.iter().map(|p| format!("{p}X")).collect();
    let text = format!(
        "A line mentions a socket call when it has one of {} in any case, one of {}, or an option's name \
         ({} with X an upper-case letter), and is not wsd's own (starting {}).",
        quoted(lines::CALL_WORDS),
        quoted(lines::MARKS),
        prefixes.join(", "),
        quoted(lines::OURS)
    );
    HELP.replace("{LINES}", &wrap(&text, 84))
}

/// `text` broken into lines of at most `width` characters, at spaces.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out
}

#[derive(Args)]
#[command(after_long_help = help())]
pub struct StudyArgs {
    /// A server to start first in each mode and stop when the other commands
    /// are done (one argument, split as a shell would).
    #[arg(long, value_name = "CMD")]
    server: Option<String>,
    /// The port {port} stands for, on which the server is awaited; default: a
    /// port free on loopback, picked afresh in each mode.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    port: Option<u16>,
    /// How long to wait for the server to listen on the port.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    ready_timeout: Duration,
    /// How long each command may run before it is stopped.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = seconds)]
    timeout: Duration,
    /// How long a command has to end after SIGTERM before SIGKILL.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = seconds)]
    grace: Duration,
    /// text, json, markdown or html; default: text, or each -o file's extension.
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json", "markdown", "html"])]
    format: Option<String>,
    /// Write the study to FILE instead of standard output (repeatable).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Vec<PathBuf>,
    /// The library to preload (as for `wsd run`); default: WSD_LIB, else
    /// libwsd.so beside this tool.
    #[arg(long, value_name = "PATH")]
    lib: Option<PathBuf>,
    /// A SAN subnet (CIDR), passed to `wsd run`; repeat for several.
    #[arg(long = "subnet", value_name = "CIDR")]
    subnets: Vec<String>,
    /// A rules file, passed to `wsd run`.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// The commands, each one argument: 'redis-cli -p {port} ping'.
    #[arg(required = true, value_name = "CMD")]
    commands: Vec<String>,
}

/// A number of seconds, more than 0 (fractions allowed).
fn seconds(arg: &str) -> Result<Duration, String> {
    match arg.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!("{arg}: expected a number of seconds, more than 0")),
    }
}

/// The formats, and the file extensions that choose them.
fn format_of(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("json") => "json",
        Some("md" | "markdown") => "markdown",
        Some("html" | "htm") => "html",
        _ => "text",
    }
}

fn rendered(doc: &Value, format: &str) -> String {
    match format {
        "json" => format!("{doc:#}\n"),
        "markdown" => render::markdown(doc),
        "html" => render::html(doc),
        _ => render::text(doc),
    }
}

/// The study's settings for a mode.
struct Plan<'a> {
    cmds: &'a [Cmd],
    runner: &'a Runner,
    port: Option<u16>,
    ready_timeout: Duration,
    timeout: Duration,
    grace: Duration,
}

pub fn study(args: StudyArgs) -> i32 {
    // Every setting is checked before anything runs.
    let lib = match find_library(args.lib.as_deref()) {
        Ok(lib) => lib,
        Err(e) => return fail(USAGE, e),
    };
    let mut cmds = Vec::new();
    let texts = args
        .server
        .iter()
        .map(|s| (s, Role::Server))
        .chain(args.commands.iter().map(|c| {
            let role = if args.server.is_some() {
                Role::Client
            } else {
                Role::Command
            };
            (c, role)
        }));
    for (text, role) in texts {
        let words = match words::split(text) {
            Ok(w) => w,
            Err(e) => return fail(USAGE, format_args!("{e}")),
        };
        if words.len() == 1 && words[0].starts_with('-') {
            return fail(
                USAGE,
                format_args!(
                    "{text:?}: a command cannot start with '-': each command is ONE argument \
                     (quote it: 'redis-cli -p {{port}} ping')"
                ),
            );
        }
        cmds.push(Cmd {
            text: text.clone(),
            words,
            role,
        });
    }
    if let Some(bad) = args.subnets.iter().find(|s| Subnet::parse(s).is_none()) {
        return fail(
            USAGE,
            format_args!("--subnet {bad}: expected a CIDR such as 10.77.0.0/24"),
        );
    }
    let rules = match &args.rules {
        Some(r) => match std::fs::canonicalize(r) {
            Ok(p) => Some(p),
            Err(e) => return fail(USAGE, format_args!("--rules {}: {e}", r.display())),
        },
        None => None,
    };
    for path in &args.output {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() || path.is_dir() {
            return fail(
                USAGE,
                format_args!("-o {}: not a file in a directory that exists", path.display()),
            );
        }
    }
    let wsd = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            return fail(
                1,
                format_args!("cannot find the wsd binary to run commands with: {e}"),
            );
        }
    };
    let scratch = match exec::ScratchDir::new() {
        Ok(d) => d,
        Err(e) => return fail(1, format_args!("cannot make a directory for the reports: {e}")),
    };
    let runner = Runner {
        wsd,
        lib,
        subnets: args.subnets.clone(),
        rules,
        dir: scratch.path().to_path_buf(),
    };
    let plan = Plan {
        cmds: &cmds,
        runner: &runner,
        port: args.port,
        ready_timeout: args.ready_timeout,
        timeout: args.timeout,
        grace: args.grace,
    };
    exec::catch_signals();
    forget_old_studies();
    let mut runs = Vec::new();
    for mode in MODES {
        match run_mode(mode, &plan) {
            Ok(run) => runs.push(run),
            Err(e) => return fail(1, e),
        }
        if let Some(signal) = exec::interrupted() {
            return fail(128 + signal, "the study was interrupted; no study written");
        }
    }
    let doc = document::build(&cmds, &runs);
    if args.output.is_empty() {
        let format = args.format.as_deref().unwrap_or("text");
        out(format_args!("{}", rendered(&doc, format)), false);
        return 0;
    }
    let mut status = 0;
    for path in &args.output {
        let format = args.format.as_deref().unwrap_or_else(|| format_of(path));
        if let Err(e) = std::fs::write(path, rendered(&doc, format)) {
            status = fail(1, format_args!("-o {}: {e}", path.display()));
        }
    }
    status
}

/// A mode's segment, removed when dropped.
struct Fresh {
    name: String,
    seg: Segment,
}

impl Fresh {
    fn new(name: String) -> Result<Fresh, String> {
        if !valid_san_name(&name) {
            return Err(format!("SAN {name:?}: expected {SAN_NAME_RULE}"));
        }
        let seg = match Segment::create(&name, DEFAULT_CAPACITY) {
            // Left by an earlier study with this pid, which has ended.
            Err(wsd::san::SegmentError::Exists) => {
                let _ = Segment::destroy(&name);
                Segment::create(&name, DEFAULT_CAPACITY)
            }
            r => r,
        };
        let seg = seg.map_err(|e| format!("SAN {name:?}: {e}"))?;
        Ok(Fresh { name, seg })
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        let _ = Segment::destroy(&self.name);
    }
}

/// Removes the segments of this user's earlier studies (`study-PID-MODE`) whose
/// study has ended and which nothing has touched for a minute (a study removes
/// its own; these are those of studies that were killed).
fn forget_old_studies() {
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
        let Some(pid) = san
            .strip_prefix("study-")
            .and_then(|rest| rest.split_once('-'))
            .filter(|(_, mode)| MODES.contains(mode))
            .and_then(|(pid, _)| pid.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(meta) = entry.metadata() else { continue };
        let mine = std::os::unix::fs::MetadataExt::uid(&meta) == me;
        let idle = meta
            .modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= Duration::from_secs(60));
        // SAFETY: signal 0 only asks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if mine && gone && idle && pid != std::process::id() as i32 {
            let _ = Segment::destroy(san);
        }
    }
}

/// The report a command's `wsd run` wrote, if it wrote one.
fn report_of(path: &Path) -> Option<Value> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice::<Value>(&text)
        .ok()
        .filter(Value::is_object)
}

/// Fills `o` from how its command ended and the report its `wsd run` wrote.
fn record(o: &mut Outcome, ended: Ended, report: Option<&Value>, port: u16) {
    use std::os::unix::process::ExitStatusExt;
    o.seconds = ended.seconds;
    o.timed_out = ended.timed_out;
    o.killed = ended.killed;
    o.truncated = ended.stdout.dropped > 0 || ended.stderr.dropped > 0;
    let exit = ended
        .status
        .code()
        .unwrap_or_else(|| 128 + ended.status.signal().unwrap_or(0));
    let (out, err) = (ended.stdout.lines(), ended.stderr.lines());
    match report.and_then(|r| r["status"].as_i64()) {
        Some(st) => o.status = i32::try_from(st).ok(),
        None if ended.killed => {
            o.status = Some(exit);
            o.note = Some("killed after the grace period, so it wrote no report".into());
        }
        None => {
            // `wsd run` said why the program did not run (it cannot be started:
            // status 127), in a line of its own.
            let why = err.iter().rev().find(|l| l.starts_with("wsd: ")).cloned();
            o.status = None;
            o.note = Some(why.unwrap_or_else(|| format!("wsd run ended with status {exit} and no report")));
        }
    }
    o.keep_lines(out.into_iter().chain(err), port);
}

/// Runs every command in `mode` on a fresh segment of its own.
fn run_mode(mode: &'static str, plan: &Plan<'_>) -> Result<ModeRun, String> {
    let fresh = Fresh::new(format!("study-{}-{mode}", std::process::id()))?;
    let port = match plan.port {
        Some(p) => p,
        None => exec::free_port().map_err(|e| format!("cannot find a free port: {e}"))?,
    };
    let mut outcomes: Vec<Outcome> = plan
        .cmds
        .iter()
        .map(|c| Outcome {
            argv: words::with_port(&c.words, port),
            ..Outcome::default()
        })
        .collect();
    // The report of the `wsd run` that ended last, and whose it is.
    let mut latest: Option<(Value, usize)> = None;
    let start =
        |i: usize, o: &mut Outcome| match plan.runner.start(mode, &fresh.name, &i.to_string(), &o.argv) {
            Ok(r) => Some(r),
            Err(e) => {
                o.note = Some(format!("cannot start wsd run: {e}"));
                None
            }
        };
    let mut server = None;
    let mut clients_may_run = true;
    if plan.cmds.first().is_some_and(|c| c.role == Role::Server) {
        let o = &mut outcomes[0];
        // Something else listening there would pass for the server.
        if exec::listening(port) {
            o.note = Some(format!(
                "not run: port {port} was in use before the server started (another program listens there)"
            ));
        } else {
            server = start(0, o);
        }
        let ready = match server.as_mut() {
            Some(s) => exec::wait_listening(s, port, plan.ready_timeout),
            None => false,
        };
        if let (Some(s), false) = (server.as_mut(), ready) {
            o.note = Some(if exec::interrupted().is_some() {
                "the study was interrupted before it listened".to_string()
            } else if s.ended().is_some() {
                format!("it ended before it listened on port {port}")
            } else {
                format!(
                    "it did not listen on port {port} within {} s, and was stopped",
                    plan.ready_timeout.as_secs_f64()
                )
            });
        }
        clients_may_run = ready;
    }
    for (i, cmd) in plan.cmds.iter().enumerate() {
        if cmd.role == Role::Server {
            continue;
        }
        let o = &mut outcomes[i];
        if !clients_may_run {
            o.note = Some("not run: the server was not listening".into());
            continue;
        }
        if exec::interrupted().is_some() {
            o.note = Some("not run: the study was interrupted".into());
            continue;
        }
        let Some(running) = start(i, o) else { continue };
        let path = running.report.clone();
        let ended = running.wait(Instant::now() + plan.timeout, plan.grace);
        let report = report_of(&path);
        record(o, ended, report.as_ref(), port);
        if let Some(r) = report {
            latest = Some((r, i));
        }
    }
    if let Some(running) = server {
        let path = running.report.clone();
        let ended = running.stop(plan.grace);
        let o = &mut outcomes[0];
        let note = o.note.take();
        let report = report_of(&path);
        record(o, ended, report.as_ref(), port);
        o.stopped = true;
        if note.is_some() {
            o.note = note;
        }
        if let Some(r) = report {
            latest = Some((r, 0));
        }
    }
    let (report, report_from) = match latest {
        Some((r, i)) => (r, format!("wsd run of `{}`, the last to end", plan.cmds[i].text)),
        None => {
            let info = RunInfo {
                command: None,
                status: None,
                mode: mode.to_string(),
                config_error: None,
                started_ns: None,
                seed: None,
            };
            (
                report::build(&fresh.seg, &info, None),
                format!(
                    "the segment {:?}, as no command's wsd run wrote a report",
                    fresh.name
                ),
            )
        }
    };
    Ok(ModeRun {
        mode,
        san: fresh.name.clone(),
        port,
        outcomes,
        report,
        report_from,
    })
}
