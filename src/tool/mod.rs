//! The `wsd` tool's command line (SPEC §6.3). Each verb lives in its own module;
//! they reuse the library's `model`, `san` and `config` so that tables and layout
//! are defined once.

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
