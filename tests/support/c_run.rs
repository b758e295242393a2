//! One run of a C program (see [`super::cc`]) under the library: a SAN segment
//! the caller made (and may have prepared), a fresh log file, none of the caller's
//! `WSD_*`/`LIFE_*` settings, no standard input, optionally under valgrind, and a
//! hang guard that kills the program's process group. Its [`Outcome`] carries the
//! verdicts.

use super::{San, TempDir, TempFile, library, temp_name};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A native run that has not finished by then is hung: its group is killed.
pub const HANG_GUARD: Duration = Duration::from_secs(120);
/// The same under valgrind (about 30 times slower).
pub const VALGRIND_GUARD: Duration = Duration::from_secs(300);

/// What `LD_PRELOAD` holds for the run.
enum Preload {
    /// libwsd.so alone.
    Library,
    /// This list.
    These(OsString),
    /// Nothing: the program runs without the library.
    Nothing,
}

/// One run of a C program under the library.
pub struct Run {
    exe: PathBuf,
    args: Vec<OsString>,
    env: Vec<(String, OsString)>,
    preload: Preload,
    valgrind: bool,
}

/// How a run ended.
pub struct Outcome {
    pub what: String,
    pub status: ExitStatus,
    pub hung: bool,
    pub stdout: String,
    pub stderr: String,
    /// What the library wrote to `WSD_LOG_FILE`.
    pub log: String,
    /// One valgrind log per process (`--log-file=…%p`).
    pub valgrind_logs: Vec<String>,
    pub elapsed: Duration,
}

impl Run {
    pub fn new(exe: PathBuf, args: &[&str]) -> Run {
        Run {
            exe,
            args: args.iter().map(OsString::from).collect(),
            env: Vec::new(),
            preload: Preload::Library,
            valgrind: false,
        }
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> Run {
        self.args.push(a.into());
        self
    }

    pub fn env(mut self, k: &str, v: impl Into<OsString>) -> Run {
        self.env.push((k.to_string(), v.into()));
        self
    }

    /// `LD_PRELOAD` is `p` instead of libwsd.so alone.
    pub fn preload(mut self, p: OsString) -> Run {
        self.preload = Preload::These(p);
        self
    }

    /// No `LD_PRELOAD` at all.
    pub fn without_library(mut self) -> Run {
        self.preload = Preload::Nothing;
        self
    }

    pub fn valgrind(mut self, on: bool) -> Run {
        self.valgrind = on;
        self
    }

    /// Runs with segment `san` (which the caller may have prepared) and a fresh log.
    pub fn run(self, san: &San) -> Outcome {
        let log = TempFile(temp_name("log"));
        let vg_dir = TempDir(temp_name("vg"));
        let what = format!(
            "{} {:?}{}{}",
            self.exe.file_name().unwrap_or_default().to_string_lossy(),
            self.args,
            if self.env.is_empty() {
                String::new()
            } else {
                format!(" with {:?}", self.env)
            },
            if self.valgrind { " under valgrind" } else { "" }
        );
        let mut cmd = if self.valgrind {
            std::fs::create_dir_all(&vg_dir.0).expect("valgrind log directory");
            let mut c = Command::new("valgrind");
            c.args([
                "--error-exitcode=99",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite",
                "--show-leak-kinds=definite",
                "--trace-children=no",
                "--num-callers=40",
                "--fullpath-after=",
            ])
            .arg(format!("--log-file={}/vg.%p", vg_dir.0.display()))
            .arg(&self.exe);
            c
        } else {
            Command::new(&self.exe)
        };
        cmd.args(&self.args)
            .current_dir(super::root())
            .stdin(Stdio::null());
        super::clear_wsd_env(&mut cmd);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("LIFE_") {
                cmd.env_remove(k);
            }
        }
        match self.preload {
            Preload::Library => {
                cmd.env("LD_PRELOAD", library());
            }
            Preload::These(p) => {
                cmd.env("LD_PRELOAD", p);
            }
            Preload::Nothing => {}
        }
        cmd.env("WSD_SAN", &san.name).env("WSD_LOG_FILE", &log.0);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let guard = if self.valgrind { VALGRIND_GUARD } else { HANG_GUARD };
        let start = Instant::now();
        let (status, hung, stdout, stderr) = super::process::run_guarded(cmd, guard);
        let elapsed = start.elapsed();
        let log_text = String::from_utf8_lossy(&std::fs::read(&log.0).unwrap_or_default()).into_owned();
        let mut valgrind_logs = Vec::new();
        if let Ok(dir) = std::fs::read_dir(&vg_dir.0) {
            for e in dir.flatten() {
                valgrind_logs
                    .push(String::from_utf8_lossy(&std::fs::read(e.path()).unwrap_or_default()).into_owned());
            }
        }
        Outcome {
            what,
            status,
            hung,
            stdout,
            stderr,
            log: log_text,
            valgrind_logs,
            elapsed,
        }
    }
}

impl Outcome {
    /// What happened, for a failure message: status, output and the log's tail.
    pub fn report(&self) -> String {
        let lines: Vec<&str> = self.log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        format!(
            "{}: {} after {:.1?}{}\n--- stdout\n{}--- stderr\n{}--- WSD_LOG_FILE (tail)\n{tail}",
            self.what,
            self.status,
            self.elapsed,
            if self.hung {
                " (HUNG: killed by the hang guard)"
            } else {
                ""
            },
            self.stdout,
            self.stderr
        )
    }

    /// The library's warnings and errors in its log.
    pub fn warnings(&self) -> Vec<&str> {
        self.log
            .lines()
            .filter(|l| l.starts_with("wsd: warning:") || l.starts_with("wsd: error:"))
            .collect()
    }

    /// Exited 0, not hung, and the library complained about nothing (a healthy
    /// run leaves no warning or error in its log).
    pub fn assert_passed(&self) {
        assert!(!self.hung, "hung\n{}", self.report());
        assert!(self.status.success(), "failed\n{}", self.report());
        assert!(
            self.warnings().is_empty(),
            "the library complained\n{}",
            self.report()
        );
    }

    /// [`Outcome::assert_passed`], and the library did not panic (a panic it
    /// caught still prints to the program's standard error, and is a bug).
    pub fn assert_clean(&self) {
        self.assert_passed();
        assert!(
            !self.stderr.contains("panicked at"),
            "the library panicked\n{}",
            self.report()
        );
    }
}

/// How long [`run_captured`] lets a program run.
pub const CAPTURED_GUARD: Duration = Duration::from_secs(60);

/// `exe ARGS` under the library on `san` (as [`super::preloaded`] makes it:
/// logging to /dev/null unless `env` says otherwise), with `env`, and the tool's
/// path in `WSD_TEST_TOOL` (for a program that injects faults with it); its
/// output captured, and a hang ([`CAPTURED_GUARD`]) killed and failed. Its status
/// and output.
pub fn run_captured(
    exe: &Path,
    san: &San,
    args: &[&str],
    env: &[(&str, &Path)],
) -> (ExitStatus, String, String) {
    let mut cmd = super::preloaded(exe, san);
    cmd.args(args).env("WSD_TEST_TOOL", env!("CARGO_BIN_EXE_wsd"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (status, hung, out, err) = super::process::run_guarded(cmd, CAPTURED_GUARD);
    let name = exe.file_name().unwrap_or_default().to_string_lossy();
    assert!(
        !hung,
        "{name} {args:?} {env:?} hung: killed after {CAPTURED_GUARD:?}\n{out}{err}"
    );
    (status, out, err)
}

/// [`run_captured`], which must exit 0: its output.
pub fn passes(exe: &Path, san: &San, args: &[&str], env: &[(&str, &Path)]) -> (String, String) {
    let (status, out, err) = run_captured(exe, san, args, env);
    let name = exe.file_name().unwrap_or_default().to_string_lossy();
    assert!(
        status.success(),
        "{name} {args:?} {env:?}: {status}\n--- stdout\n{out}--- stderr\n{err}"
    );
    (out, err)
}
