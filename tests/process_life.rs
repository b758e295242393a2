//! Process life: SAN sockets through everything a process does besides calling
//! the socket API — fork while other threads are inside the hooks
//! (`c-tests/life_fork.c`), vfork + exec and posix_spawn (`life_spawn.c`), children
//! that close every descriptor, with and without an exec after
//! (`life_close_all.c`), signal handlers that call setsockopt while the
//! interrupted thread is inside a hook (`life_signals.c`, `life_signal_in_hook.c`),
//! a dlopen()ed library (`life_dlopen.c` with `life_plugin.c`), threads started
//! from constructors, before and after the library's own (`life_constructors.c`
//! with `life_early.c`), and an exec that keeps a SAN socket (a python3 agent).
//!
//! Every run has a fresh SAN segment (removed afterwards), its own log file, a
//! watchdog inside the program and a hang guard here.

mod support;

use serde_json::Value;
use std::ffi::OsString;
use support::agent::pair;
use support::c_run::Run;
use support::cc::{program, shared};
use support::san_tool::{endpoints, status};
use support::{San, library};

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
    let wsd = library().as_os_str().to_owned();
    let join = |a: &OsString, b: &OsString| {
        let mut p = a.clone();
        p.push(":");
        p.push(b);
        p
    };
    let variants: [(&str, Option<OsString>); 3] = [
        ("constructors in the program", None),
        (
            "helper preloaded before libwsd",
            Some(join(&early.clone().into(), &wsd)),
        ),
        (
            "helper preloaded after libwsd",
            Some(join(&wsd, &early.clone().into())),
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
