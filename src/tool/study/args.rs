//! `wsd study`'s command line: its flags (`StudyArgs`), the help after them (with
//! the words that make a line one about a socket call, from `lines`), and which
//! format an output file's extension chooses.

use super::lines;
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    pub(super) server: Option<String>,
    /// The port {port} stands for, on which the server is awaited; default: a
    /// port free on loopback, picked afresh in each mode.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub(super) port: Option<u16>,
    /// How long to wait for the server to listen on the port.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    pub(super) ready_timeout: Duration,
    /// How long each command may run before it is stopped.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = seconds)]
    pub(super) timeout: Duration,
    /// How long a command has to end after SIGTERM before SIGKILL.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = seconds)]
    pub(super) grace: Duration,
    /// text, json, markdown or html; default: text, or each -o file's extension.
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json", "markdown", "html"])]
    pub(super) format: Option<String>,
    /// Write the study to FILE instead of standard output (repeatable).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub(super) output: Vec<PathBuf>,
    /// The library to preload (as for `wsd run`); default: WSD_LIB, else
    /// libwsd.so beside this tool.
    #[arg(long, value_name = "PATH")]
    pub(super) lib: Option<PathBuf>,
    /// A SAN subnet (CIDR), passed to `wsd run`; repeat for several.
    #[arg(long = "subnet", value_name = "CIDR")]
    pub(super) subnets: Vec<String>,
    /// A rules file, passed to `wsd run`.
    #[arg(long, value_name = "FILE")]
    pub(super) rules: Option<PathBuf>,
    /// The commands, each one argument: 'redis-cli -p {port} ping'.
    #[arg(required = true, value_name = "CMD")]
    pub(super) commands: Vec<String>,
}

/// A number of seconds, more than 0 (fractions allowed).
fn seconds(arg: &str) -> Result<Duration, String> {
    match arg.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!("{arg}: expected a number of seconds, more than 0")),
    }
}

/// The formats, and the file extensions that choose them.
pub(super) fn format_of(path: &Path) -> &'static str {
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
