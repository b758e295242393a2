//! Process life: SAN sockets through everything a process does besides calling
//! the socket API — fork while other threads are inside the hooks
//! (`c-tests/life_fork.c`), vfork + exec and posix_spawn (`life_spawn.c`), children
//! that close every descriptor, with and without an exec after
//! (`life_close_all.c`), signal handlers that call setsockopt while the
//! interrupted thread is inside a hook (`life_signals.c`, `life_signal_in_hook.c`),
//! a dlopen()ed library (`life_dlopen.c` with `life_plugin.c`), threads started
//! from constructors, before and after the library's own (`life_constructors.c`
//! with `life_early.c`), an exec that keeps a SAN socket (a python3 agent), and
//! the real functions found past other libraries: one preloaded after libwsd.so
//! that defines a function it passes calls on to (`life_next.c`), two dozen
//! preloaded before libc, and libwsd.so dlopen()ed rather than preloaded.
//!
//! Every run has a fresh SAN segment (removed afterwards), its own log file, a
//! watchdog inside the program and a hang guard here.

mod support;

use serde_json::Value;
use std::ffi::{OsStr, OsString};
use std::path::Path;
use support::agent::pair;
use support::c_run::Run;
use support::cc::{program, shared};
use support::process::{HANG, run_guarded};
use support::san_tool::{endpoints, status};
use support::{San, library, preloaded};

/// `LD_PRELOAD`'s list of `libs`, in their order.
fn preload_list(libs: &[&Path]) -> OsString {
    let mut list = OsString::new();
    for (i, lib) in libs.iter().enumerate() {
        if i > 0 {
            list.push(":");
        }
        list.push(lib);
    }
    list
}

/// `python3 -c SCRIPT ARGS` on segment `san`, as [`preloaded`] makes it but with
/// `LD_PRELOAD` set to `preload` (or not set at all); it must succeed within
/// [`HANG`]. Its standard output.
fn python_out(san: &San, preload: Option<OsString>, script: &str, args: &[&OsStr]) -> String {
    let mut cmd = preloaded("python3", san);
    match preload {
        Some(p) => cmd.env("LD_PRELOAD", p),
        None => cmd.env_remove("LD_PRELOAD"),
    };
    cmd.args(["-c", script]).args(args);
    let (status, hung, out, err) = run_guarded(cmd, HANG);
    assert!(
        !hung && status.success(),
        "python3 -c {script:?}: {status:?}{}\n--- stdout\n{out}--- stderr\n{err}",
        if hung { " (hung: killed)" } else { "" }
    );
    out
}

#[test]
fn fork_while_four_threads_are_inside_set_and_get() {
    for round in 0..3 {
        let san = San::new("fork-threads");
        let o = Run::new(program("life_fork"), &[]).run(&san);
        o.assert_clean();
        if round == 0 {
            print!(
                "{}",
                o.stdout
                    .lines()
                    .last()
                    .map(|l| format!("{l}\n"))
                    .unwrap_or_default()
            );
        }
    }
}

#[test]
fn vfork_and_exec_leave_the_parents_san_sockets_working() {
    let san = San::new("vfork");
    Run::new(program("life_spawn"), &["vfork"])
        .run(&san)
        .assert_clean();
}

#[test]
fn posix_spawn_leaves_the_parents_san_sockets_working() {
    let san = San::new("spawn");
    Run::new(program("life_spawn"), &["spawn"])
        .run(&san)
        .assert_clean();
}

#[test]
fn a_child_that_closes_every_descriptor_starts_afresh_and_leaves_the_parent_alone() {
    for args in [
        &["loop"][..],
        &["range"],
        &["closefrom"],
        &["raw"],
        &["loop", "exec"],
        &["range", "exec"],
        &["range-cloexec", "exec"],
        &["raw", "exec"],
    ] {
        let san = San::new("close-all");
        Run::new(program("life_close_all"), args).run(&san).assert_clean();
    }
}

#[test]
fn signal_handlers_calling_setsockopt_while_the_main_thread_loops() {
    let san = San::new("signals");
    let o = Run::new(program("life_signals"), &[]).run(&san);
    print!("{}", o.stdout);
    o.assert_clean();
}

#[test]
fn a_signal_handled_inside_a_hook_gets_the_same_answers() {
    let san = San::new("signal-in-hook");
    Run::new(program("life_signal_in_hook"), &[])
        .run(&san)
        .assert_clean();
}

#[test]
fn a_dlopened_library_is_interposed_too() {
    let san = San::new("dlopen");
    Run::new(program("life_dlopen"), &[])
        .arg(shared("life_plugin"))
        .run(&san)
        .assert_clean();
}

#[test]
fn threads_started_from_constructors_get_correct_answers() {
    let early = shared("life_early");
    let wsd = library();
    let variants: [(&str, Option<OsString>); 3] = [
        ("constructors in the program", None),
        (
            "helper preloaded before libwsd",
            Some(preload_list(&[&early, wsd])),
        ),
        (
            "helper preloaded after libwsd",
            Some(preload_list(&[wsd, &early])),
        ),
    ];
    for (what, preload) in variants {
        let san = San::new("ctor");
        let mut run = Run::new(program("life_constructors"), &[]).env("LIFE_CTOR_THREADS", "1");
        if let Some(p) = preload {
            run = run.preload(p).env("LIFE_EARLY_THREAD", "1");
        }
        let o = run.run(&san);
        println!("{what}:\n{}", o.stdout);
        o.assert_clean();
    }
}

#[test]
fn an_exec_keeps_the_san_socket_and_its_values() {
    let san = San::new("exec");
    let (_server, mut client) = pair(&san);
    let before = client.ready;
    assert_eq!(client.ask("set 0x2002 9"), "ok");
    client.send("exec");
    let after = client.expect_ready();
    assert_eq!(after.pid, before.pid, "exec keeps the process");
    assert_eq!(
        (after.local, after.peer, after.fd),
        (before.local, before.peer, before.fd)
    );

    assert_eq!(
        client.ask("get 0x2002"),
        "9",
        "the new image found its SAN socket"
    );
    let v = status(&san);
    let mine: Vec<&Value> = endpoints(&v).iter().filter(|e| e["pid"] == before.pid).collect();
    assert_eq!(mine.len(), 1, "{v:#}");
    assert_eq!(mine[0]["role"], "connector");
    assert_eq!(mine[0]["group_priority"], 9);
    assert_eq!(mine[0]["holders"], serde_json::json!([before.pid]));
    assert_eq!(client.ask("set 0x2002 3"), "ok");
    assert_eq!(client.ask("get 0x2002"), "3");
}

#[test]
fn a_library_preloaded_after_libwsd_gets_the_calls_it_passes_on() {
    // libwsd.so's real getsockopt is the next definition after its own: here the
    // helper's, which answers its made-up level itself (libc would refuse it).
    let next = shared("life_next");
    let preload = preload_list(&[library(), &next]);
    let san = San::new("next");
    let out = python_out(
        &san,
        Some(preload),
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
         print(s.getsockopt(0x7777, 1), s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE))",
        &[],
    );
    let want = format!("4242 {}", libc::SOCK_DGRAM);
    assert_eq!(out.trim(), want);
}

#[test]
fn the_real_functions_are_found_however_many_objects_come_before_libc() {
    // libwsd.so, then 24 more libraries, then python's own and libc: the lookup
    // of the real functions walks past all of them.
    let plugin = shared("life_plugin");
    let dir = plugin.parent().expect("the plugin has a directory").join("many");
    std::fs::create_dir_all(&dir).expect("create <target>/c-tests/many");
    let copies: Vec<_> = (0..24)
        .map(|i| {
            let copy = dir.join(format!("libmany{i}.so"));
            std::fs::copy(&plugin, &copy).expect("copy life_plugin.so");
            copy
        })
        .collect();
    let mut libs = vec![library()];
    libs.extend(copies.iter().map(|c| c.as_path()));
    let san = San::new("many");
    let out = python_out(
        &san,
        Some(preload_list(&libs)),
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
         print(s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE)); s.close()",
        &[],
    );
    assert_eq!(out.trim(), libc::SOCK_DGRAM.to_string());
}

#[test]
fn libwsd_dlopened_by_a_program_passes_its_calls_on() {
    // Not preloaded: a program dlopens the library (for its C API, say). libc
    // comes before it in the loader's chain then, and its real functions are
    // what dlsym(RTLD_NEXT, ...) finds from it: libc's.
    let san = San::new("dlopened");
    let out = python_out(
        &san,
        None,
        "import ctypes, socket, sys; lib = ctypes.CDLL(sys.argv[1]); \
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
         v = ctypes.c_int(0); n = ctypes.c_uint(4); \
         r = lib.getsockopt(s.fileno(), socket.SOL_SOCKET, socket.SO_TYPE, ctypes.byref(v), ctypes.byref(n)); \
         print(r, v.value)",
        &[library().as_os_str()],
    );
    assert_eq!(out.trim(), format!("0 {}", libc::SOCK_DGRAM));
}

#[test]
fn a_fork_child_records_its_call_sites_while_the_parent_held_the_loaders_lock() {
    // Issue 16's review: call sites were found with dl_iterate_phdr, whose lock
    // a parent's thread held at the fork; the child then hung in its first
    // setsockopt. Found with _dl_find_object now, which takes no lock.
    let san = San::new("forksites");
    Run::new(program("life_fork_sites"), &[]).run(&san).assert_clean();
}
