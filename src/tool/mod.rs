//! The `wsd` tool's command line (SPEC §6.3). Each verb lives in its own module;
//! they reuse the library's `model`, `san` and `config` so that tables and layout
//! are defined once.
//!
//! - `run`: `wsd run` (`run/child.rs`: the program's life as a process), and
//!   `sidechannel`, the tool's end of the pipe through which the program's
//!   processes tell it what the segment cannot;
//! - `report`: the portability report of `wsd run` and `wsd report`, built as
//!   JSON (`report/text.rs`: rendered as text);
//! - `san`: `wsd san VERB` (`san/faults.rs`: `reset`, `keepalive-fail`, `down`;
//!   `san/status.rs`: `status`, with `status/filters.rs` and `status/procs.rs`);
//! - `tables`: `wsd options` (and `--advice`) and `wsd errors`;
//! - `study`: `wsd study`, a portability study of several commands in both
//!   modes, as text, JSON, Markdown or one HTML page with `chart`'s chart;
//! - `sites`: the report rows' call sites, named by `symbols` (the symbolizer).
//!
//! This file owns the command line itself, `wsd report`, `wsd man` and `wsd
//! completions`, and what several verbs share: the tool's output, the `--group`
//! lookup and its messages, and finding `libwsd.so`.
//!
//! Everything the tool prints goes through [`out`] (standard output, by way of
//! `outln!`) or [`fail`]/[`err`] (standard error), never `println!`/`eprintln!`:
//! those panic when the reader has gone, and the tool is a Unix filter (SPEC §6.3:
//! output to a closed pipe ends it quietly).

/// `println!` for the tool's standard output: see [`out`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::tool::out(format_args!($($arg)*), true)
    };
}

mod chart;
mod report;
mod run;
mod san;
mod sidechannel;
mod sites;
mod study;
mod symbols;
mod tables;

use clap::{CommandFactory, Parser, Subcommand};
use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

#[derive(Parser)]
#[command(
    name = "wsd",
    version,
    about = "Windows Sockets Direct socket-option semantics for unmodified Linux programs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a program with libwsd.so preloaded; exits with the program's status.
    Run(Box<run::RunArgs>),
    /// Print the portability report of a (shared) SAN segment.
    Report {
        /// Segment name; default: $WSD_SAN, else "default".
        #[arg(long)]
        san: Option<String>,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        view: report::View,
    },
    /// Inspect the SAN segment and inject faults.
    San(san::SanArgs),
    /// Run commands (a server and its clients, or a test suite) in switch and in
    /// provider mode, and write one study of their socket options.
    Study(Box<study::StudyArgs>),
    /// Print the provider's option table (or, with --advice, what ports do about
    /// the options it refuses).
    Options {
        /// One JSON document instead of a table.
        #[arg(long, conflicts_with = "markdown")]
        json: bool,
        /// A markdown table (the README's, which a test holds to this output).
        #[arg(long)]
        markdown: bool,
        /// The options a bare provider refuses that programs commonly set: what
        /// the provider says, what the switch does, what a port does.
        #[arg(long)]
        advice: bool,
    },
    /// Print wsd's manual page (roff), made from this command line's definition:
    /// `wsd man > wsd.1; man ./wsd.1`.
    Man,
    /// Print the completions of this command line for a shell:
    /// `wsd completions bash > /etc/bash_completion.d/wsd`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the provider's error codes and their Linux counterparts.
    Errors {
        /// One JSON document instead of a table.
        #[arg(long, conflicts_with = "markdown")]
        json: bool,
        /// A markdown table (the README's, which a test holds to this output).
        #[arg(long)]
        markdown: bool,
    },
}

/// `wsd man`: the manual page of wsd and of each verb, one document.
fn man() -> i32 {
    let cmd = Cli::command();
    let mut out = Vec::new();
    if clap_mangen::Man::new(cmd.clone()).render(&mut out).is_err() {
        return 1;
    }
    // Then a page for each verb (`wsd-run`, `wsd-san`, …), every argument described.
    for sub in cmd.get_subcommands() {
        let name = format!("wsd-{}", sub.get_name());
        let sub = sub.clone().name(name).version(env!("CARGO_PKG_VERSION"));
        if clap_mangen::Man::new(sub).render(&mut out).is_err() {
            return 1;
        }
    }
    outln!("{}", String::from_utf8_lossy(&out).trim_end());
    0
}

/// Exit status for a usage error (SPEC §6.3).
pub const USAGE: i32 = 2;

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if !e.use_stderr() {
                // --help, --version: clap's text, on standard output.
                let _ = e.print();
                return 0;
            }
            // A usage error, with the prefix every message of wsd's has.
            let text = e.render().to_string();
            err(format_args!(
                "wsd: {}",
                text.strip_prefix("error: ").unwrap_or(&text)
            ));
            return USAGE;
        }
    };
    let status = match cli.command {
        Command::Run(args) => run::run(*args),
        Command::San(args) => san::san(args),
        Command::Study(args) => study::study(*args),
        Command::Report { san, json, view } => report_of(san, json, &view),
        Command::Options {
            json,
            markdown,
            advice: false,
        } => tables::options(json, markdown),
        Command::Options {
            json,
            markdown,
            advice: true,
        } => tables::advice(json, markdown),
        Command::Errors { json, markdown } => tables::errors(json, markdown),
        Command::Man => man(),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "wsd", &mut out);
            outln!("{}", String::from_utf8_lossy(&out).trim_end());
            0
        }
    };
    // A reader that went away is no failure of the verb; output that could not be
    // written for any other reason (a full disk) is.
    match STDOUT.load(Relaxed) {
        STDOUT_FAILED if status == 0 => 1,
        _ => status,
    }
}

/// What became of standard output: still open, closed by its reader (a pipe whose
/// reader has gone: EPIPE, as SIGPIPE stays ignored in the tool), or failed.
static STDOUT: AtomicU8 = AtomicU8::new(STDOUT_OPEN);
const STDOUT_OPEN: u8 = 0;
const STDOUT_CLOSED: u8 = 1;
const STDOUT_FAILED: u8 = 2;

/// Writes `args` (and a newline if `newline`) to standard output, as one locked,
/// flushed write. Once the reader has closed the pipe, this and every later call
/// write nothing and say nothing, and the verb goes on to return its own status,
/// as any Unix filter does; any other write error is reported once on standard
/// error and makes the tool's status 1 ([`main`]). Never panics.
pub fn out(args: fmt::Arguments<'_>, newline: bool) {
    if STDOUT.load(Relaxed) != STDOUT_OPEN {
        return;
    }
    let mut stdout = io::stdout().lock();
    let written = stdout
        .write_fmt(args)
        .and_then(|()| if newline { stdout.write_all(b"\n") } else { Ok(()) })
        .and_then(|()| stdout.flush());
    if let Err(e) = written {
        if e.kind() == io::ErrorKind::BrokenPipe {
            STDOUT.store(STDOUT_CLOSED, Relaxed);
        } else {
            STDOUT.store(STDOUT_FAILED, Relaxed);
            err(format_args!("wsd: standard output: {e}\n"));
        }
    }
}

/// Writes `args` to standard error, ignoring any error (there is nowhere left to
/// report it). Never panics.
pub fn err(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

/// `s` cut to `max` characters, its last an ellipsis if it was cut.
pub(crate) fn ellipsize(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// Prints `wsd: message` to standard error and returns `status`.
pub fn fail(status: i32, message: impl fmt::Display) -> i32 {
    err(format_args!("wsd: {message}\n"));
    status
}

/// A group named by `arg`, a name or a number (`--group`): its gid and, if the
/// group database has it, its name.
pub fn group(arg: &str) -> Result<(u32, Option<String>), String> {
    let lookup = |by: &dyn Fn(*mut libc::group, *mut libc::c_char, usize, *mut *mut libc::group) -> i32| {
        let mut buf = vec![0 as libc::c_char; 1024];
        loop {
            // SAFETY: an all-zero `group` is a valid out-parameter.
            let mut grp: libc::group = unsafe { std::mem::zeroed() };
            let mut found: *mut libc::group = std::ptr::null_mut();
            match by(&mut grp, buf.as_mut_ptr(), buf.len(), &mut found) {
                libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
                0 if !found.is_null() => {
                    // SAFETY: on success `gr_name` points to a NUL-terminated name in `buf`.
                    let name = unsafe { std::ffi::CStr::from_ptr(grp.gr_name) };
                    return Some((grp.gr_gid, name.to_string_lossy().into_owned()));
                }
                _ => return None,
            }
        }
    };
    if let Ok(gid) = arg.parse::<u32>() {
        // SAFETY: the pointers come from `lookup` and are valid for the sizes given.
        let found = lookup(&|g, b, n, r| unsafe { libc::getgrgid_r(gid, g, b, n, r) });
        return Ok((gid, found.map(|(_, name)| name)));
    }
    let name = std::ffi::CString::new(arg).map_err(|_| format!("--group {arg:?}: not a group name"))?;
    // SAFETY: as above; `name` is NUL-terminated.
    let found = lookup(&|g, b, n, r| unsafe { libc::getgrnam_r(name.as_ptr(), g, b, n, r) });
    found
        .map(|(gid, name)| (gid, Some(name)))
        .ok_or_else(|| format!("--group {arg}: no such group (a name from /etc/group, or a number)"))
}

/// How a group is shown: `nogroup (gid 65534)`, or `gid 4242` without a name.
pub fn group_text(gid: u32, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{name} (gid {gid})"),
        None => format!("gid {gid}"),
    }
}

/// Why a segment shared with group `gid` could not be made, said for the user.
pub fn shared_creation_failed(
    name: &str,
    e: &wsd::san::SegmentError,
    gid: u32,
    gname: Option<&str>,
) -> String {
    let group = group_text(gid, gname);
    match e {
        wsd::san::SegmentError::Os {
            what: "chown",
            errno: libc::EPERM,
        } => format!(
            "SAN {name:?}: cannot give the segment to group {group}: only root may name a group it is not in"
        ),
        e => format!("SAN {name:?} for group {group}: {e}"),
    }
}

/// The group a segment is shared with (its file is `0660`), if it is.
pub fn shared_with(name: &str) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(wsd::san::segment::path_of(name)).ok()?;
    (meta.mode() & 0o7777 == wsd::san::segment::GROUP_MODE).then(|| meta.gid())
}

/// `libwsd.so` beside the running `wsd` binary.
pub fn library_beside_tool() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    // Beside the tool (a build directory), or PREFIX/lib for PREFIX/bin/wsd.
    [dir.join("libwsd.so"), dir.join("../lib/libwsd.so")]
        .into_iter()
        .find(|lib| lib.is_file())
}

/// The library `wsd run` preloads: `--lib`, else `WSD_LIB`, else the one beside
/// the tool (or in `PREFIX/lib`); checked to be this wsd's `libwsd.so` (an ELF
/// shared object carrying this version's mark), so that a wrong path is refused
/// before the program runs rather than ignored by the loader.
pub fn find_library(flag: Option<&std::path::Path>) -> Result<PathBuf, String> {
    let (lib, from) = match (flag, std::env::var_os("WSD_LIB").filter(|v| !v.is_empty())) {
        (Some(p), _) => (p.to_path_buf(), "--lib"),
        (None, Some(v)) => (PathBuf::from(v), "WSD_LIB"),
        (None, None) => match library_beside_tool() {
            Some(p) => (p, "the library beside wsd"),
            None => {
                return Err(
                    "cannot find libwsd.so beside the wsd binary or in ../lib: pass --lib PATH or set WSD_LIB"
                        .to_string(),
                );
            }
        },
    };
    let bytes = std::fs::read(&lib).map_err(|e| format!("{from} {}: {e}", lib.display()))?;
    let is_shared_object = bytes.len() > 18 && bytes.starts_with(b"\x7fELF") && bytes[16] == 3;
    if !is_shared_object {
        return Err(format!(
            "{from} {}: not a shared library (the loader would ignore it and the program would run without wsd)",
            lib.display()
        ));
    }
    let mark = wsd::LIBRARY_MARK.as_bytes();
    let version = bytes.windows(mark.len()).position(|w| w == mark).map(|at| {
        let rest = &bytes[at + mark.len()..];
        let end = rest.iter().position(|&b| b == 0).unwrap_or(0).min(32);
        String::from_utf8_lossy(&rest[..end]).into_owned()
    });
    match version {
        None => Err(format!(
            "{from} {}: a shared library, but not wsd's libwsd.so",
            lib.display()
        )),
        Some(v) if v != env!("CARGO_PKG_VERSION") => Err(format!(
            "{from} {}: libwsd.so of wsd {v}, but this is wsd {}: use the library built with it",
            lib.display(),
            env!("CARGO_PKG_VERSION")
        )),
        Some(_) => {
            let lib = std::fs::canonicalize(&lib).unwrap_or(lib);
            engine_beside(&lib).map_err(|e| format!("{from} {}: {e}", lib.display()))?;
            Ok(lib)
        }
    }
}

/// The engine that `lib` (the front) loads from beside itself: there, and a
/// shared object with the engine's entry point, or why not.
fn engine_beside(lib: &std::path::Path) -> Result<(), String> {
    let file = wsd_front::api::ENGINE_FILE;
    let engine = lib.with_file_name(file);
    let bytes = std::fs::read(&engine).map_err(|e| {
        format!(
            "its engine {} cannot be read ({e}); the two are built and installed together",
            engine.display()
        )
    })?;
    let name = wsd_front::api::ENGINE_INIT.to_bytes();
    let is_engine = bytes.starts_with(b"\x7fELF") && bytes.windows(name.len()).any(|w| w == name);
    if !is_engine {
        return Err(format!("{} beside it is not wsd's engine", engine.display()));
    }
    Ok(())
}

/// `wsd report`: the report of a segment shared by earlier runs.
fn report_of(san: Option<String>, json: bool, view: &report::View) -> i32 {
    let name = san
        .or_else(|| std::env::var("WSD_SAN").ok())
        .unwrap_or_else(|| wsd::config::DEFAULT_SAN.to_string());
    let seg = match wsd::san::Segment::open(&name) {
        Ok(seg) => seg,
        Err(e @ wsd::san::SegmentError::Missing) => {
            return fail(
                USAGE,
                format_args!(
                    "SAN {name:?}: {e} (a run's own segment ends with the run: run with --san NAME, \
                     or WSD_SAN, to read its report again)"
                ),
            );
        }
        Err(e) => return fail(USAGE, format_args!("SAN {name:?}: {e}")),
    };
    let info = report::RunInfo {
        command: None,
        status: None,
        mode: std::env::var("WSD_MODE").unwrap_or_else(|_| "switch".into()),
        config_error: None,
        started_ns: None,
        seed: None,
    };
    let doc = report::build(&seg, &info, None, view);
    if json {
        outln!("{doc}");
    } else {
        out(format_args!("{}", report::render(&doc)), false);
    }
    0
}
