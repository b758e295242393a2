//! Leaks and invalid accesses: every C test program under `valgrind
//! --leak-check=full` with libwsd.so preloaded, with nothing invalid and no
//! definite leak attributed to libwsd.so (the verdict is
//! `tests/support/valgrind.rs`'); and that verdict's parser, on a log made up
//! for it, blames exactly the findings in libwsd.so's code, whatever module of
//! the shim the hooks live in.
//!
//! Skips are printed (valgrind missing, the time budget spent).

mod support;

use std::time::{Duration, Instant};
use support::San;
use support::c_run::Run;
use support::cc::program;
use support::valgrind::{self, findings};

/// The leak test stops starting optional programs once this much time is spent.
const LEAK_BUDGET: Duration = Duration::from_secs(600);

#[test]
fn every_c_test_program_is_clean_under_valgrind() {
    if !valgrind::present() {
        println!("skipped: valgrind is not installed (Debian: apt-get install valgrind)");
        return;
    }
    // (program, args, environment); the first five are required, the rest run while
    // the time budget lasts. Switch mode, except where the program tests another.
    type Case = (
        &'static str,
        &'static [&'static str],
        &'static [(&'static str, &'static str)],
    );
    let cases: &[Case] = &[
        ("direct_api", &[], &[]),
        ("switch_mode", &["switch"], &[]),
        ("bad_memory", &["switch"], &[]),
        ("dup_close", &[], &[]),
        ("fork", &[], &[]),
        ("threads", &[], &[]),
        ("candidates", &[], &[]),
        ("dup_close", &["candidates"], &[]),
        ("candidates", &["nonsan"], &[("WSD_SUBNETS", "127.0.0.2/32")]),
        ("untouched", &["with"], &[("WSD_SUBNETS", "")]),
        ("observe_mode", &[], &[("WSD_MODE", "observe")]),
        ("switch_mode", &["provider"], &[("WSD_MODE", "provider")]),
        ("bad_memory", &["provider"], &[("WSD_MODE", "provider")]),
    ];
    let start = Instant::now();
    for (i, (name, args, env)) in cases.iter().enumerate() {
        if i >= 5 && start.elapsed() > LEAK_BUDGET {
            println!("skipped {name} {args:?}: the time budget of {LEAK_BUDGET:?} is spent");
            continue;
        }
        let san = San::new("valgrind");
        let mut run = Run::new(program(name), args).valgrind(true);
        for (k, v) in *env {
            run = run.env(k, *v);
        }
        let o = run.run(&san);
        let note = valgrind::assert_clean(&o);
        assert!(o.warnings().is_empty(), "the library complained\n{}", o.report());
        println!("{name} {args:?}: clean in {:.1?} {note}", o.elapsed);
    }
}

/// One made-up log holds a finding of each kind the parser must tell apart; each
/// comes with the verdict it must get. The hooks are checked in both shapes the
/// shim has had: `wsd::shim::hooks::NAME` and `wsd::shim::hooks::MODULE::NAME`.
#[test]
fn the_valgrind_log_parser_blames_only_libwsd() {
    let root = support::root().display();
    // A system call's complaint about the program's pointer, in libc's `call`,
    // made by `wsd::shim::real::call`, called by `caller`.
    let syscall = |call: &str, caller: &str| {
        format!(
            "Syscall param socketcall.{call}(optval) points to unaddressable byte(s)\n   \
             at 0x3: {call} ({call}.c:95)\n   \
             by 0x4: wsd::shim::real::{call} (real.rs:68)\n   \
             by 0x5: {caller}"
        )
    };
    // (block, libwsd's?)
    let blocks: Vec<(String, bool)> = vec![
        // An invalid read in a hook's own code, in either shape.
        (
            format!(
                "Invalid read of size 4\n   \
                 at 0x1: wsd::shim::hooks::setsockopt ({root}/src/shim/hooks.rs:10)\n   \
                 by 0x2: main (prog.c:3)\n \
                 Address 0x0 is not stack'd"
            ),
            true,
        ),
        (
            format!(
                "Invalid read of size 4\n   \
                 at 0x1: wsd::shim::hooks::options::setsockopt ({root}/src/shim/hooks/options.rs:10)\n   \
                 by 0x2: main (prog.c:3)"
            ),
            true,
        ),
        // The program's bad pointer, passed on unchanged by the hook of the same
        // name (inside its closure, or in the hook itself), in either shape, or by
        // the export of that name.
        (
            syscall(
                "setsockopt",
                "wsd::shim::hooks::setsockopt::{{closure}} (hooks.rs:197)",
            ),
            false,
        ),
        (
            syscall(
                "setsockopt",
                "wsd::shim::hooks::options::setsockopt::{{closure}} (options.rs:197)",
            ),
            false,
        ),
        (
            syscall(
                "getsockopt",
                "wsd::shim::hooks::options::getsockopt (options.rs:40)",
            ),
            false,
        ),
        (
            syscall("getsockopt", "wsd::shim::exports::getsockopt (exports.rs:40)"),
            false,
        ),
        // ... or with the real call inlined into the export: the pass-through path.
        (
            format!(
                "Syscall param socketcall.getsockopt(optval) points to unaddressable byte(s)\n   \
                 at 0x3: getsockopt (getsockopt.c:95)\n   \
                 by 0x9: getsockopt ({root}/src/shim/real.rs:85)\n   \
                 by 0x2: main (prog.c:3)"
            ),
            false,
        ),
        // A real call made by a hook of another name did not pass the program's
        // arguments on: libwsd's, in either shape, however alike the names.
        (
            syscall(
                "setsockopt",
                "wsd::shim::hooks::life::close::{{closure}} (life.rs:12)",
            ),
            true,
        ),
        (
            syscall("setsockopt", "wsd::shim::hooks::setsockopt_replay (hooks.rs:300)"),
            true,
        ),
        (
            syscall(
                "setsockopt",
                "wsd::shim::hooks::options::replay::{{closure}} (options.rs:300)",
            ),
            true,
        ),
        // A leak of the program's own (after a thread's header line), and one in
        // Rust's allocator: the library's.
        (
            "Thread 2:\n\
             40 bytes in 1 blocks are definitely lost in loss record 1 of 1\n   \
             at 0x6: malloc (vg_replace_malloc.c:381)\n   \
             by 0x7: main (prog.c:9)"
                .to_string(),
            false,
        ),
        (
            "8 bytes in 1 blocks are definitely lost in loss record 2 of 2\n   \
             at 0x6: malloc (vg_replace_malloc.c:381)\n   \
             by 0x8: alloc::alloc::alloc (/rustc/abc/library/alloc/src/alloc.rs:94)"
                .to_string(),
            true,
        ),
    ];
    let mut log = String::from("==1== Memcheck, a memory error detector\n==1== \n");
    for (block, _) in &blocks {
        for line in block.lines() {
            log.push_str(&format!("==1== {line}\n"));
        }
        log.push_str("==1== \n");
    }
    let f = findings(&log);
    let verdicts: Vec<bool> = f.iter().map(|f| f.ours).collect();
    let want: Vec<bool> = blocks.iter().map(|(_, ours)| *ours).collect();
    assert_eq!(verdicts, want, "{f:#?}");
}
