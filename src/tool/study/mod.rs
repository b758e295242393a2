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
//!
//! Its files:
//! - `mod.rs` (this one): `study`, which checks every setting, runs both modes
//!   and writes the study in each format asked for.
//! - `args.rs`: the command line (`StudyArgs`), its help, the formats by extension.
//! - `mode.rs`: one mode: its fresh segment and port, the server and the commands
//!   run in turn, and what each ended with.
//! - `exec.rs`: running one command under `wsd run`: started, waited for, stopped.
//! - `words.rs`: a command split into words, `{port}` put in and taken out.
//! - `lines.rs`: which output lines mention a socket call.
//! - `document.rs`: the JSON document (its unit tests in `document/tests.rs`).
//! - `render.rs`: the text, Markdown and HTML forms (`render/text.rs`,
//!   `render/markdown.rs`, `render/html.rs`; unit tests in `render/tests.rs`).

mod args;
mod document;
mod exec;
mod lines;
mod mode;
mod render;
mod words;

pub use args::StudyArgs;

use super::run::{check_subnets, rules_path};
use super::{USAGE, fail, find_library, out};
use args::format_of;
use document::{Cmd, MODES, Role};
use exec::Runner;
use mode::{Plan, forget_old_studies, run_mode};
use serde_json::Value;
use std::path::Path;

fn rendered(doc: &Value, format: &str) -> String {
    match format {
        "json" => format!("{doc:#}\n"),
        "markdown" => render::markdown(doc),
        "html" => render::html(doc),
        _ => render::text(doc),
    }
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
    if let Err(e) = check_subnets(&args.subnets) {
        return fail(USAGE, e);
    }
    let rules = match args.rules.as_deref().map(rules_path).transpose() {
        Ok(r) => r,
        Err(e) => return fail(USAGE, e),
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
