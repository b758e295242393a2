//! The C test suite (`c-tests/*.c`): each program is compiled with the system `cc`
//! against `include/wsd.h`, linked with `-lwsd`, and run under
//! `LD_PRELOAD=libwsd.so` with a private SAN segment, its own log file and the
//! environment of its case. A program passes when it exits 0.
//!
//! `libwsd.so` (the `wsd-preload` package) is built once per test binary by a
//! nested `cargo build -p wsd-preload` in the main target directory (`cargo test`
//! has released its build lock by the time tests run, and it built the library
//! already as a default member of the workspace, so this is usually a no-op).

mod support;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// A run that has not finished by then is hung: it is killed and fails.
const HANG_GUARD: Duration = Duration::from_secs(120);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The directory holding the freshly built `libwsd.so`.
fn lib_dir() -> &'static Path {
    support::library().parent().expect("libwsd.so has a directory")
}

/// `target/c-tests/NAME`, compiled from `c-tests/NAME.c` once per test binary.
fn program(name: &'static str) -> PathBuf {
    type Slot = Arc<OnceLock<PathBuf>>;
    static PROGRAMS: OnceLock<Mutex<HashMap<&'static str, Slot>>> = OnceLock::new();
    let slot = PROGRAMS
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(name)
        .or_default()
        .clone();
    slot.get_or_init(|| compile(name)).clone()
}

fn compile(name: &str) -> PathBuf {
    let lib = lib_dir();
    let out_dir = root().join("target").join("c-tests");
    std::fs::create_dir_all(&out_dir).expect("create target/c-tests");
    let exe = out_dir.join(name);
    let mut cc = Command::new("cc");
    cc.current_dir(root())
        .args(["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-g", "-O1"])
        .args(["-Iinclude", "-Ic-tests"])
        .arg(format!("c-tests/{name}.c"))
        .arg("-o")
        .arg(&exe)
        .arg(format!("-L{}", lib.display()));
    // untouched.c is also the kernel baseline: it must run without the library, so
    // it is the one program not linked with it (it calls none of its functions).
    if name != "untouched" {
        cc.arg("-lwsd").arg(format!("-Wl,-rpath,{}", lib.display()));
    }
    cc.arg("-lpthread");
    let out = cc.output().expect("run cc");
    assert!(
        out.status.success(),
        "cc failed for c-tests/{name}.c:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// Removes the run's SAN segment and log file, however the test ends.
struct Cleanup {
    segment: PathBuf,
    log: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.segment);
        let _ = std::fs::remove_file(&self.log);
    }
}

/// One run of a C program.
struct Case {
    program: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    preload: bool,
}

impl Case {
    fn new(program: &'static str) -> Case {
        Case {
            program,
            args: &[],
            env: &[],
            preload: true,
        }
    }

    fn args(self, args: &'static [&'static str]) -> Case {
        Case { args, ..self }
    }

    fn env(self, env: &'static [(&'static str, &'static str)]) -> Case {
        Case { env, ..self }
    }

    fn without_library(self) -> Case {
        Case {
            preload: false,
            ..self
        }
    }

    fn run(self, test: &str) {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let exe = program(self.program);
        let san = format!(
            "ct-{}-{test}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        );
        let cleanup = Cleanup {
            segment: PathBuf::from(format!("/dev/shm/wsd.{san}")),
            log: std::env::temp_dir().join(format!("{san}.log")),
        };
        let mut cmd = Command::new(&exe);
        cmd.args(self.args)
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("WSD_") || k == "LD_PRELOAD" {
                cmd.env_remove(k);
            }
        }
        if self.preload {
            cmd.env("LD_PRELOAD", lib_dir().join("libwsd.so"));
        }
        cmd.env("WSD_SAN", &san).env("WSD_LOG_FILE", &cleanup.log);
        cmd.envs(self.env.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v))));

        let (status, hung, stdout, stderr) = support::run_guarded(cmd, HANG_GUARD);
        let log = std::fs::read(&cleanup.log).unwrap_or_default();
        let log = String::from_utf8_lossy(&log);
        let report = || {
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            format!(
                "{test}: {} {:?} with {:?}\n--- stdout\n{stdout}--- stderr\n{stderr}--- WSD_LOG_FILE (tail)\n{tail}",
                exe.display(),
                self.args,
                self.env
            )
        };
        assert!(!hung, "hung: killed after {HANG_GUARD:?}\n{}", report());
        assert!(status.success(), "exited with {status}\n{}", report());
        // A healthy run leaves no warning or error from the library.
        assert!(
            !log.lines()
                .any(|l| l.starts_with("wsd: warning:") || l.starts_with("wsd: error:")),
            "the library complained\n{}",
            report()
        );
    }
}

// ---- the cases ----------------------------------------------------------------

#[test]
fn direct_api() {
    Case::new("direct_api").run("direct_api");
}

#[test]
fn direct_api_groups_off() {
    Case::new("direct_api")
        .args(&["groups-off"])
        .env(&[("WSD_GROUPS", "off")])
        .run("direct_api_groups_off");
}

#[test]
fn switch_mode() {
    Case::new("switch_mode").args(&["switch"]).run("switch_mode");
}

#[test]
fn provider_mode() {
    Case::new("switch_mode")
        .args(&["provider"])
        .env(&[("WSD_MODE", "provider")])
        .run("provider_mode");
}

#[test]
fn switch_groups_off() {
    Case::new("switch_mode")
        .args(&["groups-off"])
        .env(&[("WSD_GROUPS", "off")])
        .run("switch_groups_off");
}

#[test]
fn provider_groups_off() {
    Case::new("switch_mode")
        .args(&["provider-groups-off"])
        .env(&[("WSD_MODE", "provider"), ("WSD_GROUPS", "off")])
        .run("provider_groups_off");
}

#[test]
fn observe_mode() {
    Case::new("observe_mode")
        .env(&[("WSD_MODE", "observe")])
        .run("observe_mode");
}

#[test]
fn candidates_replay() {
    Case::new("candidates").run("candidates_replay");
}

#[test]
fn candidates_nonsan() {
    Case::new("candidates")
        .args(&["nonsan"])
        .env(&[("WSD_SUBNETS", "127.0.0.2/32")])
        .run("candidates_nonsan");
}

#[test]
fn untouched_with_library() {
    Case::new("untouched")
        .args(&["with"])
        .env(&[("WSD_SUBNETS", "")])
        .run("untouched_with_library");
}

#[test]
fn untouched_without_library() {
    Case::new("untouched")
        .args(&["without"])
        .without_library()
        .run("untouched_without_library");
}

#[test]
fn dup_close() {
    Case::new("dup_close").run("dup_close");
}

#[test]
fn dup_close_candidates() {
    Case::new("dup_close")
        .args(&["candidates"])
        .run("dup_close_candidates");
}

#[test]
fn fork() {
    Case::new("fork").run("fork");
}

#[test]
fn threads() {
    Case::new("threads").run("threads");
}

#[test]
fn bad_memory_switch() {
    Case::new("bad_memory").args(&["switch"]).run("bad_memory_switch");
}

#[test]
fn bad_memory_provider() {
    Case::new("bad_memory")
        .args(&["provider"])
        .env(&[("WSD_MODE", "provider")])
        .run("bad_memory_provider");
}
