//! The `wsd` tool's command line (SPEC §6.3). Each verb lives in its own module;
//! they reuse the library's `model`, `san` and `config` so that tables and layout
//! are defined once.

mod report;
mod run;
mod san;
mod tables;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

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
    Run(run::RunArgs),
    /// Print the portability report of a (shared) SAN segment.
    Report {
        /// Segment name; default: $WSD_SAN, else "default".
        #[arg(long)]
        san: Option<String>,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Inspect the SAN segment and inject faults.
    San(san::SanArgs),
    /// Print the provider's option table.
    Options {
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the provider's error codes and their Linux counterparts.
    Errors {
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Exit status for a usage error (SPEC §6.3).
pub const USAGE: i32 = 2;

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { USAGE } else { 0 };
        }
    };
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::San(args) => san::san(args),
        Command::Report { san, json } => report_of(san, json),
        Command::Options { json } => tables::options(json),
        Command::Errors { json } => tables::errors(json),
    }
}

/// Prints `wsd: message` to standard error and returns `status`.
pub fn fail(status: i32, message: impl std::fmt::Display) -> i32 {
    eprintln!("wsd: {message}");
    status
}

/// `libwsd.so` beside the running `wsd` binary.
pub fn library_beside_tool() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let lib = exe.parent()?.join("libwsd.so");
    lib.is_file().then_some(lib)
}

/// `wsd report`: the report of a segment shared by earlier runs.
fn report_of(san: Option<String>, json: bool) -> i32 {
    let name = san
        .or_else(|| std::env::var("WSD_SAN").ok())
        .unwrap_or_else(|| wsd::config::DEFAULT_SAN.to_string());
    let seg = match wsd::san::Segment::open(&name) {
        Ok(seg) => seg,
        Err(e) => return fail(USAGE, format_args!("SAN {name:?}: {e}")),
    };
    let info = report::RunInfo {
        command: None,
        status: None,
        mode: std::env::var("WSD_MODE").unwrap_or_else(|_| "switch".into()),
        config_error: None,
    };
    let doc = report::build(&seg, &info);
    if json {
        println!("{doc}");
    } else {
        print!("{}", report::render(&doc));
    }
    0
}
