//! The semantics as C programs see them: the direct provider API (`WSPSetSockOpt`,
//! `WSPGetSockOpt`), the switch, provider and observe modes with and without
//! groups, candidates and the replay of their values, sockets the library leaves
//! untouched, `dup` and `close`, fork, threads, and bad memory passed to every
//! call — one program per concern in `c-tests/`, each checking its own answers
//! with the checks of `c-tests/harness.h`.
//!
//! Each program is compiled with the system `cc` against `include/wsd.h`, linked
//! with `-lwsd` (`tests/support/cc.rs`), and run under `LD_PRELOAD=libwsd.so` with
//! a private SAN segment, its own log file and the environment of its case
//! (`tests/support/c_run.rs`). A program passes when it exits 0 and the library
//! complained about nothing. `libwsd.so` (the `wsd-preload` package) is built
//! once per test binary by a nested `cargo build -p wsd-preload` in the main
//! target directory (`cargo test` has released its build lock by the time tests
//! run, and it built the library already as a default member of the workspace,
//! so this is usually a no-op).

mod support;

use support::San;
use support::c_run::Run;
use support::cc::program;

/// One run of a C program: `c-tests/PROGRAM.c` with these arguments and this
/// environment, under the library unless [`Case::without_library`].
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

    /// Runs on a fresh segment named after `test`: exits 0, within the hang guard,
    /// and the library complains about nothing.
    fn run(self, test: &str) {
        let san = San::new(test);
        let mut run = Run::new(program(self.program), self.args);
        for (k, v) in self.env {
            run = run.env(k, *v);
        }
        if !self.preload {
            run = run.without_library();
        }
        run.run(&san).assert_passed();
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

/// A program that checks the same answers with the library (`with`) and
/// without it (`without`, the kernel's baseline), as both.
fn with_and_without(program: &'static str) {
    Case::new(program)
        .args(&["with"])
        .run(&format!("{program}_with_library"));
    Case::new(program)
        .args(&["without"])
        .without_library()
        .run(&format!("{program}_without_library"));
}

#[test]
fn front_recv() {
    with_and_without("front_recv");
}

#[test]
fn front_vfork() {
    with_and_without("front_vfork");
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
