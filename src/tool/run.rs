//! `wsd run`: runs an existing program with `libwsd.so` preloaded and the run's
//! settings in its environment, and exits with the program's status.

use super::{USAGE, fail, library_beside_tool};
use clap::Args;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;
use wsd::config::{Config, Subnet, valid_san_name};
use wsd::model::switch::Mode;

#[derive(Args)]
pub struct RunArgs {
    /// switch, provider or observe (WSD_MODE).
    #[arg(long)]
    mode: Option<String>,
    /// SAN segment name (WSD_SAN).
    #[arg(long)]
    san: Option<String>,
    /// A SAN subnet (CIDR); repeat for several. Replaces the default loopback table.
    #[arg(long = "subnet", value_name = "CIDR")]
    subnets: Vec<String>,
    /// The library to preload; default: libwsd.so beside this tool.
    #[arg(long)]
    lib: Option<PathBuf>,
    /// The program and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    command: Vec<String>,
}

pub fn run(args: RunArgs) -> i32 {
    let lib = match args.lib.clone().or_else(library_beside_tool) {
        Some(lib) if lib.is_file() => lib,
        Some(lib) => return fail(USAGE, format_args!("--lib {}: no such file", lib.display())),
        None => {
            return fail(
                USAGE,
                "cannot find libwsd.so beside the wsd binary; pass --lib PATH",
            );
        }
    };
    let lib = std::fs::canonicalize(&lib).unwrap_or(lib);
    let mut cmd = Command::new(&args.command[0]);
    cmd.args(&args.command[1..]);
    if let Some(mode) = &args.mode {
        if Mode::parse(mode).is_none() {
            return fail(
                USAGE,
                format_args!("--mode {mode}: expected switch, provider or observe"),
            );
        }
        cmd.env("WSD_MODE", mode);
    }
    if let Some(san) = &args.san {
        if !valid_san_name(san) {
            return fail(
                USAGE,
                format_args!("--san {san:?}: expected letters, digits, '-', '_' or '.'"),
            );
        }
        cmd.env("WSD_SAN", san);
    }
    if !args.subnets.is_empty() {
        if let Some(bad) = args.subnets.iter().find(|s| Subnet::parse(s).is_none()) {
            return fail(
                USAGE,
                format_args!("--subnet {bad}: expected a CIDR such as 10.77.0.0/24"),
            );
        }
        cmd.env("WSD_SUBNETS", args.subnets.join(","));
    }
    // The program would only be told at start-up; say it now, before it runs.
    let env_for_child = |k: &str| match k {
        "WSD_MODE" => args.mode.clone(),
        "WSD_SAN" => args.san.clone(),
        "WSD_SUBNETS" if !args.subnets.is_empty() => Some(args.subnets.join(",")),
        _ => std::env::var(k).ok(),
    };
    if let Err(e) = Config::from_env(|k| env_for_child(k).or_else(|| std::env::var(k).ok())) {
        return fail(USAGE, e);
    }
    let preload = match std::env::var("LD_PRELOAD") {
        Ok(old) if !old.is_empty() => format!("{}:{old}", lib.display()),
        _ => lib.display().to_string(),
    };
    cmd.env("LD_PRELOAD", preload);
    match cmd.status() {
        Ok(status) => status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
        Err(e) => fail(127, format_args!("{}: {e}", args.command[0])),
    }
}
