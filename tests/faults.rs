//! Faults on a connection (issue 13, SPEC §7): `wsd san reset`, `keepalive-fail`
//! and `down`/`up`, injected with the tool as a user would, from outside, and an
//! abortive close by the peer.
//!
//! - Data calls: real processes under the library (python3), both ends of each
//!   connection, each fault. A program's threads are blocked in the kernel (seen
//!   in `/proc/PID/task/*/syscall`) before the fault comes, so that what is tested
//!   is the wake-up, not a later call.
//! - Option calls: python3 agents (`tests/agents/san_agent.py`), one end of a
//!   connection each, in separate processes, answer each fault's code; the tool
//!   names its targets, and refuses one it cannot find.
//! - Which answer wins: an argument error over a fault, and `ENETRESET` for a
//!   keep-alive failure and a reset in either order (`c-tests/audit.c`).
//!
//! Faults with real programs are `tests/programs_faults.rs`'; faults scheduled at
//! launch (`wsd run --fault`) are `tests/schedule.rs`'.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use support::San;
use support::agent::{Agent, pair};
use support::c_run::passes;
use support::cc::program;
use support::san_tool::{assert_sound, endpoint, no_endpoint, status, wsd_san, wsd_san_ok};

/// `c-tests/audit.c`.
fn audit() -> PathBuf {
    program("audit")
}

/// What the python programs below share, besides [`support::PY_OUTCOME`].
/// `wsd(...)`: the tool's JSON answer; `listener()`: a listening socket and its
/// port; `connection(ls)`: a connection to it (both ends); `in_child(body)`: runs
/// `body(ready)` in a forked child that says "ready" then one JSON line (with
/// `clean`, the child first closes what it inherited);
/// `wait_blocked(pid, nr)`: until a thread of `pid` is in system call `nr`;
/// `story(sock, ready)`: blocked in `recv`, then what the next calls answer.
const PY: &str = r#"
import ctypes, errno, json, os, select, signal, socket, subprocess, sys, threading, time
WSD, SAN = sys.argv[1], sys.argv[2]
RECVFROM, EPOLL_WAIT, POLL, SELECT, PSELECT6, PPOLL = 45, 232, 7, 23, 270, 271
def wsd(*args, ok=True):
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    r = subprocess.run([WSD, "san", *args, "--san", SAN, "--json"], capture_output=True, text=True, env=env)
    if ok and r.returncode:
        raise SystemExit(f"wsd san {args}: exit {r.returncode}: {r.stderr}")
    return json.loads(r.stdout) if r.stdout.strip() else {"exit": r.returncode, "stderr": r.stderr}
def listener():
    ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(16)
    return ls, ls.getsockname()[1]
def connection(ls):
    c = socket.create_connection(ls.getsockname())
    return c, ls.accept()[0]
def in_child(body, clean=False):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        if clean:
            # Holds none of its parent's sockets: only its own connection.
            os.closerange(3, w); os.closerange(w + 1, 1024)
        out = os.fdopen(w, "w")
        def ready():
            out.write("ready\n"); out.flush()
        try:
            res = body(ready)
        except BaseException as e:
            res = {"error": repr(e)}
        out.write(json.dumps(res) + "\n"); out.flush()
        os._exit(0)
    os.close(w)
    f = os.fdopen(r)
    line = f.readline()
    assert line == "ready\n", line
    return pid, f
def collect(pid, f):
    res = json.loads(f.readline())
    os.waitpid(pid, 0)
    return res
def in_syscall(pid, nrs):
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/syscall") as s:
                if s.read().split()[0] in [str(n) for n in nrs]:
                    return True
        except (OSError, IndexError):
            pass
    return False
def wait_blocked(pid, *nrs):
    for _ in range(20000):
        if in_syscall(pid, nrs or [RECVFROM]):
            return
        time.sleep(0.0005)
    raise SystemExit(f"pid {pid} never blocked in {nrs}")
CAUGHT = []
def count_signals():
    for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGURG, signal.SIGIO, signal.SIGALRM, signal.SIGHUP):
        signal.signal(s, lambda n, _: CAUGHT.append(n))
def story(sock, ready):
    ready()
    first = outcome(lambda: sock.recv(100))
    return {"first": first, "then_recv": outcome(lambda: sock.recv(100)),
            "then_send": outcome(lambda: sock.send(b"x")), "signals": CAUGHT}
"#;

/// `body` run after [`PY`] by python3 under the library on a fresh segment
/// (named by `tag`), as [`support::python_json`] runs it: the JSON document it
/// prints last, once `wsd san check` found the segment sound.
fn run(tag: &str, body: &str) -> Value {
    support::python_json(&San::new(tag), &format!("{}{PY}{body}", support::PY_OUTCOME))
}

/// SPEC §7's table: the first data call on each end answers the fault's code —
/// a call already blocked in `recv` wakes with it — later reads return 0 and
/// writes `EPIPE`; no signal reaches the program. Client and server are two
/// processes; the server blocks in a thread, the client in its main thread.
#[test]
fn each_fault_wakes_both_ends_blocked_in_recv_with_its_code() {
    for (verb, code) in [
        ("reset", "ECONNRESET"),
        ("keepalive-fail", "ENETRESET"),
        ("down", "ENETDOWN"),
    ] {
        let v = run(
            "fault-codes",
            &format!(
                r#"
ls, port = listener()
def client(ready):
    count_signals()
    c = socket.create_connection(("127.0.0.1", port))
    return story(c, ready)
pid, f = in_child(client)
s, _ = ls.accept()
res = {{}}
count_signals()
t = threading.Thread(target=lambda: res.update(server=story(s, lambda: None)))
t.start()
wait_blocked(pid); wait_blocked(os.getpid())
hit = wsd("down") if "{verb}" == "down" else wsd("{verb}", f"127.0.0.1:{{port}}")
t.join()
print(json.dumps({{"hit": hit, "server": res["server"], "client": collect(pid, f)}}))
"#
            ),
        );
        for end in ["server", "client"] {
            let e = &v[end];
            assert_eq!(e["first"], code, "{verb}: {end}: {v:#}");
            assert_eq!(e["then_recv"], "", "{verb}: {end}: reads return 0 after: {v:#}");
            assert_eq!(e["then_send"], "EPIPE", "{verb}: {end}: {v:#}");
            assert_eq!(e["signals"], serde_json::json!([]), "{verb}: {end}: {v:#}");
        }
        assert_eq!(v["hit"]["endpoints"].as_array().map(Vec::len), Some(2), "{v:#}");
        assert_eq!(v["hit"]["unreached"], serde_json::json!([]), "{v:#}");
    }
}

/// `ADDR:PORT` of a server hits every connection accepted on it (and lists
/// them); the listener is not a connection: it keeps accepting, and a new
/// connection is healthy. `--pid` hits only that process's connections, and
/// `--program` a process name's.
#[test]
fn targets_a_server_address_a_pid_and_a_program() {
    let v = run(
        "fault-targets",
        r#"
ls, port = listener()
def client(name):
    def body(ready):
        ctypes.CDLL(None).prctl(15, name.encode())
        c = socket.create_connection(("127.0.0.1", port))
        return story(c, ready)
    return body
kids = [in_child(client(f"cli{i}"), clean=True) for i in range(3)]
servers = [ls.accept()[0] for _ in kids]
for pid, _ in kids:
    wait_blocked(pid)
by_address = wsd("reset", f"127.0.0.1:{port}")
first = [collect(pid, f)["first"] for pid, f in kids]
# The listener still accepts; the new connection is healthy.
c, s = connection(ls)
c.send(b"ping"); fresh = s.recv(10).decode()
# Two more clients: one aimed at by pid, one by program name.
kids = [in_child(client(f"cli{i}"), clean=True) for i in (3, 4)]
more = [ls.accept()[0] for _ in kids]
for pid, _ in kids:
    wait_blocked(pid)
by_pid = wsd("reset", "--pid", str(kids[0][0]))
by_program = wsd("keepalive-fail", "--program", "cli4")
none = wsd("reset", "--program", "nobody-here", ok=False)
later = [collect(pid, f)["first"] for pid, f in kids]
print(json.dumps({"by_address": by_address, "first": first, "fresh": fresh, "by_pid": by_pid,
                  "by_program": by_program, "later": later, "none": none,
                  "untouched": outcome(lambda: (c.send(b"pong"), s.recv(10))[1])}))
"#,
    );
    let hit: Vec<&Value> = v["by_address"]["hit"].as_array().unwrap().iter().collect();
    assert_eq!(hit.len(), 6, "three connections, both ends: {v:#}");
    assert_eq!(hit.iter().filter(|e| e["role"] == "accepted").count(), 3, "{v:#}");
    assert_eq!(
        v["first"],
        serde_json::json!(["ECONNRESET", "ECONNRESET", "ECONNRESET"]),
        "{v:#}"
    );
    assert_eq!(v["fresh"], "ping", "{v:#}");
    assert_eq!(
        v["by_pid"]["endpoints"].as_array().map(Vec::len),
        Some(2),
        "{v:#}"
    );
    assert_eq!(
        v["by_program"]["endpoints"].as_array().map(Vec::len),
        Some(2),
        "{v:#}"
    );
    assert_eq!(
        v["later"],
        serde_json::json!(["ECONNRESET", "ENETRESET"]),
        "{v:#}"
    );
    assert_eq!(v["none"]["exit"], 2, "{v:#}");
    assert_eq!(v["untouched"], "pong", "the fresh connection was not hit: {v:#}");
}

/// Threads waiting for readiness wake too, and see what a reset socket shows:
/// `poll` and `epoll` error and hang-up, `select` readable; the read that
/// follows answers the fault's code.
#[test]
fn poll_select_and_epoll_wake_with_error_and_hang_up() {
    let v = run(
        "fault-readiness",
        r#"
ls, port = listener()
def client(ready):
    cs = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    res = {}
    def by_poll():
        p = select.poll(); p.register(cs[0], select.POLLIN)
        ev = p.poll()[0][1]
        res["poll"] = [bool(ev & select.POLLERR), bool(ev & select.POLLHUP)]
        res["poll_read"] = outcome(lambda: cs[0].recv(10))
    def by_select():
        r, _, _ = select.select([cs[1]], [], [])
        res["select"] = len(r)
        res["select_read"] = outcome(lambda: cs[1].recv(10))
    def by_epoll():
        e = select.epoll(); e.register(cs[2], select.EPOLLIN)
        ev = e.poll()[0][1]
        res["epoll"] = [bool(ev & select.EPOLLERR), bool(ev & select.EPOLLHUP)]
        res["epoll_read"] = outcome(lambda: cs[2].recv(10))
    ts = [threading.Thread(target=f) for f in (by_poll, by_select, by_epoll)]
    for t in ts: t.start()
    ready()
    for t in ts: t.join()
    return res
pid, f = in_child(client)
servers = [ls.accept()[0] for _ in range(3)]
for _ in range(20000):
    if sum(in_syscall(pid, [n]) for n in (POLL, PPOLL, SELECT, PSELECT6, EPOLL_WAIT)) >= 1 and len(os.listdir(f"/proc/{pid}/task")) >= 4:
        break
    time.sleep(0.0005)
time.sleep(0)  # nothing: the threads are parked in the kernel or about to be
hit = wsd("reset", "--pid", str(pid))
print(json.dumps({"hit": hit, "client": collect(pid, f)}))
"#,
    );
    let c = &v["client"];
    assert_eq!(c["poll"], serde_json::json!([true, true]), "{v:#}");
    assert_eq!(c["epoll"], serde_json::json!([true, true]), "{v:#}");
    assert_eq!(c["select"], 1, "{v:#}");
    for k in ["poll_read", "select_read", "epoll_read"] {
        assert_eq!(c[k], "ECONNRESET", "{k}: {v:#}");
    }
}

/// `down` breaks every established connection; new connections are plain TCP
/// while it lasts; after `up` new ones are SAN sockets again, and the broken
/// ones stay broken (their first call answers `ENETDOWN`).
#[test]
fn down_breaks_connections_and_up_does_not_mend_them() {
    let v = run(
        "fault-down",
        r#"
ls, port = listener()
old, olds = connection(ls)
wsd("down")
during, durings = connection(ls)
st = wsd("status")
plain = st["stats"]["fallback_down"]
during.send(b"tcp"); during_ok = durings.recv(10).decode()
wsd("up")
after, afters = connection(ls)
after.send(b"san"); after_ok = afters.recv(10).decode()
st = wsd("status")
roles = sorted(e["role"] for e in st["endpoints"])
print(json.dumps({"plain": plain, "during_ok": during_ok, "after_ok": after_ok, "roles": roles,
                  "old": outcome(lambda: old.recv(10)), "olds": outcome(lambda: olds.send(b"x"))}))
"#,
    );
    assert!(v["plain"].as_u64().unwrap() >= 1, "{v:#}");
    assert_eq!(v["during_ok"], "tcp", "{v:#}");
    assert_eq!(v["after_ok"], "san", "{v:#}");
    assert_eq!(v["old"], "ENETDOWN", "{v:#}");
    assert_eq!(v["olds"], "ENETDOWN", "{v:#}");
    // The listener, the broken pair and the new pair: the connection made
    // while down is plain TCP and has no endpoint.
    assert_eq!(
        v["roles"],
        serde_json::json!(["accepted", "accepted", "connector", "connector", "listener"]),
        "{v:#}"
    );
}

/// A socket shared by `fork` is hit in both processes (each one's first call
/// answers the code); a socket inherited across `exec` by a program under the
/// library is hit there too.
#[test]
fn fork_and_exec_children_are_hit() {
    let v = run(
        "fault-fork",
        r#"
ls, port = listener()
c, s = connection(ls)
pid, f = in_child(lambda ready: story(c, ready))
res = {}
t = threading.Thread(target=lambda: res.update(parent=story(c, lambda: None)))
t.start()
wait_blocked(pid); wait_blocked(os.getpid())
wsd("reset", f"127.0.0.1:{port}")
t.join()
forked = collect(pid, f)
# exec: the socket crosses into a new python, which blocks in recv on it.
c2, s2 = connection(ls)
c2.set_inheritable(True)
code = "import socket, errno, sys\n" \
       "s = socket.socket(fileno=int(sys.argv[1]))\n" \
       "print('ready', flush=True)\n" \
       "try:\n    s.recv(10); print('data')\n" \
       "except OSError as e:\n    print(errno.errorcode[e.errno])\n"
p = subprocess.Popen([sys.executable, "-c", code, str(c2.fileno())], pass_fds=[c2.fileno()],
                     stdout=subprocess.PIPE, text=True)
assert p.stdout.readline() == "ready\n"
wait_blocked(p.pid)
c2.close()
wsd("reset", f"127.0.0.1:{s2.getsockname()[1]}")
print(json.dumps({"forked": forked, "parent": res["parent"], "exec": p.stdout.readline().strip(),
                  "exit": p.wait()}))
"#,
    );
    assert_eq!(v["forked"]["first"], "ECONNRESET", "{v:#}");
    assert_eq!(v["parent"]["first"], "ECONNRESET", "{v:#}");
    assert_eq!(v["exec"], "ECONNRESET", "{v:#}");
}

/// The watcher acts on a descriptor only when it is still the socket that was
/// hit: a descriptor number the library still knows, closed with a raw system
/// call and reused by another connection, is left alone.
#[test]
fn a_reused_descriptor_number_is_never_hit() {
    let v = run(
        "fault-reuse",
        r#"
libc = ctypes.CDLL(None, use_errno=True)
ls, port = listener()
c, s = connection(ls)
ep = [e for e in wsd("status")["endpoints"] if e["role"] == "connector"][0]["id"]
keep = libc.syscall(32, c.fileno())          # dup: the socket lives on, unseen
other_ls, other_port = listener()
n = c.fileno()
assert libc.syscall(3, n) == 0               # a raw close: the library still maps n
# Another connection at the same number, made behind the library's back.
assert libc.syscall(41, socket.AF_INET, socket.SOCK_STREAM, 0) == n
import struct
sa = struct.pack("=H", socket.AF_INET) + struct.pack("!H4s8x", other_port, socket.inet_aton("127.0.0.1"))
assert libc.syscall(42, n, ctypes.c_char_p(sa), len(sa)) == 0
o, _ = other_ls.accept()
hit = wsd("reset", str(ep))
c.detach()
fresh = socket.socket(fileno=n)
fresh.send(b"still")
print(json.dumps({"hit": hit["endpoints"], "other": o.recv(10).decode(),
                  "kept": outcome(lambda: socket.socket(fileno=keep).recv(10))}))
"#,
    );
    assert_eq!(v["other"], "still", "the reused number's connection works: {v:#}");
    assert_eq!(
        v["kept"], "ECONNRESET",
        "the hit socket itself was reset (by its peer's holder): {v:#}"
    );
}

/// Nothing runs in a process without a SAN socket: python under the library
/// with only a UDP socket and a pipe has one thread; with a SAN connection it
/// has one more, the watcher.
#[test]
fn the_watcher_runs_only_in_processes_with_san_sockets() {
    let v = run(
        "fault-bystander",
        r#"
def threads():
    out = []
    for t in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{t}/comm") as f:
            out.append(f.read().strip())
    return sorted(out)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
r, w = os.pipe(); os.write(w, b"x"); os.read(r, 1)
before = threads()
ls, port = listener()
c, s = connection(ls)
print(json.dumps({"before": before, "after": threads()}))
"#,
    );
    assert_eq!(v["before"], serde_json::json!(["python3"]), "{v:#}");
    assert_eq!(v["after"], serde_json::json!(["python3", "wsd-watch"]), "{v:#}");
}

/// A thread blocked in `send` (the peer reads nothing, the buffers are full)
/// and one blocked in `read` wake too, each with the fault's code.
#[test]
fn blocked_send_and_read_wake_too() {
    let v = run(
        "fault-send",
        r#"
ls, port = listener()
c, s = connection(ls)
c2, s2 = connection(ls)
res = {}
def sender():
    try:
        while True:
            c.send(b"x" * 65536)
    except OSError as e:
        res["send"] = errno.errorcode[e.errno]
def reader():
    res["read"] = outcome(lambda: os.read(c2.fileno(), 10))
ts = [threading.Thread(target=f) for f in (sender, reader)]
for t in ts: t.start()
SENDTO, READ = 44, 0
wait_blocked(os.getpid(), SENDTO); wait_blocked(os.getpid(), READ)
wsd("keepalive-fail", f"127.0.0.1:{port}")
for t in ts: t.join()
print(json.dumps(res))
"#,
    );
    assert_eq!(v["send"], "ENETRESET", "{v:#}");
    assert_eq!(v["read"], "ENETRESET", "{v:#}");
}

/// A process at its descriptor limit (the watcher cannot make its duplicate):
/// the fault still breaks the connection — a blocked `recv` wakes with the
/// code — and later calls are not held up.
#[test]
fn a_process_at_its_descriptor_limit_is_hit_too() {
    let v = run(
        "fault-nofile",
        r#"
import resource
ls, port = listener()
c, s = connection(ls)
res = {}
def reader():
    res["first"] = outcome(lambda: c.recv(10))
t = threading.Thread(target=reader); t.start()
wait_blocked(os.getpid())
# The tool is started first (its pipes made), and told to go once every
# descriptor of this process is taken.
inj = subprocess.Popen(["sh", "-c", 'read x; exec "$0" san reset "$1" --san "$2" --json', WSD,
                        f"127.0.0.1:{port}", SAN], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True,
                       env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
hold = []
while True:
    try:
        hold.append(os.open("/dev/null", os.O_RDONLY))
    except OSError:
        break
inj.stdin.write("go\n"); inj.stdin.flush()
t.join(10)
for fd in hold: os.close(fd)
_, err = inj.communicate()
t0 = time.monotonic()
res["then"] = [outcome(lambda: c.send(b"x")) for _ in range(5)]
res["later_ms"] = (time.monotonic() - t0) * 1000
res["alive"] = t.is_alive()
res["warned"] = "warning" in err
print(json.dumps(res))
"#,
    );
    assert_eq!(v["alive"], false, "the blocked recv woke: {v:#}");
    assert_eq!(v["first"], "ECONNRESET", "{v:#}");
    assert_eq!(v["warned"], false, "the holder acted: {v:#}");
    assert_eq!(
        v["then"],
        serde_json::json!(["EPIPE", "EPIPE", "EPIPE", "EPIPE", "EPIPE"]),
        "{v:#}"
    );
}

// ---- option calls after a fault, in two processes (python3 agents) ------------------

/// `down` reaches both processes' option calls, and new connections fall back
/// to TCP until `up`; what it does to data calls on the connections is above.
#[test]
fn network_down_and_up_reach_both_processes_and_new_connections_fall_back() {
    let san = San::new("down");
    let (mut server, mut client) = pair(&san);
    for a in [&mut server, &mut client] {
        assert_eq!(a.ask("set 0x2002 1"), "ok", "{}", a.what);
    }

    wsd_san_ok(&san, &["down"]);
    assert_eq!(status(&san)["network"], "down");
    for a in [&mut server, &mut client] {
        assert_eq!(a.ask("set 0x2002 1"), "ENETDOWN", "{}", a.what);
        assert_eq!(a.ask("nodelay"), "ENETDOWN", "{}", a.what);
    }

    // A connection made while the SAN is down is plain TCP: the kernel answers.
    let mut late = Agent::client(&san, server.listening);
    assert_eq!(late.ask("set 0x2002 1"), "ENOPROTOOPT");
    assert_eq!(late.ask("nodelay"), "ok");
    let v = status(&san);
    assert!(v["stats"]["fallback_down"].as_u64().unwrap() >= 1, "{v:#}");
    no_endpoint(&v, &[("pid", late.pid().into())]);
    assert_eq!(v["live"], 3);

    wsd_san_ok(&san, &["up"]);
    assert_eq!(status(&san)["network"], "up");
    // SPEC §7: `down` broke the connection, and `up` does not mend it: it answers
    // as a reset one.
    for a in [&mut server, &mut client] {
        assert_eq!(a.ask("set 0x2002 1"), "ENOTCONN", "{}", a.what);
        assert_eq!(a.ask("nodelay"), "ENOTCONN", "{}", a.what);
    }
    // A new connection is a SAN connection again.
    let mut fresh = Agent::client(&san, server.listening);
    assert_eq!(fresh.ask("set 0x2002 1"), "ok");
    // It stays what it became.
    assert_eq!(late.ask("set 0x2002 1"), "ENOPROTOOPT");
}

// ---- reset and keep-alive failure, by the target they name --------------------------
fn both_answer(server: &mut Agent, client: &mut Agent, want: &str) {
    for a in [server, client] {
        assert_eq!(a.ask("set 0x2002 1"), want, "{} set", a.what);
        assert_eq!(a.ask("nodelay"), want, "{} nodelay", a.what);
    }
}

#[test]
fn reset_and_keepalive_fail_reach_both_ends_of_the_named_connection() {
    let san = San::new("faults");
    let (mut s1, mut c1) = pair(&san);
    let (mut s2, mut c2) = pair(&san);
    let (mut s3, mut c3) = pair(&san);
    for (s, c) in [(&mut s1, &mut c1), (&mut s2, &mut c2), (&mut s3, &mut c3)] {
        both_answer(s, c, "ok");
    }

    // By the client end's address.
    let out = wsd_san_ok(&san, &["reset", &c1.local()]);
    assert!(out.contains("reset"), "{out}");
    both_answer(&mut s1, &mut c1, "ENOTCONN");
    both_answer(&mut s2, &mut c2, "ok");

    // By the server end's address (shared by the listener and the accepted socket).
    wsd_san_ok(&san, &["reset", &s2.local()]);
    both_answer(&mut s2, &mut c2, "ENOTCONN");
    both_answer(&mut s3, &mut c3, "ok");
    let v = status(&san);
    let listener2 = endpoint(&v, &[("pid", s2.pid().into()), ("role", "listener".into())]);
    assert_eq!(
        listener2["state"], "healthy",
        "the listener is not the connection"
    );

    // Keep-alive failure, by the client end's endpoint id.
    let id = endpoint(&v, &[("pid", c3.pid().into()), ("role", "connector".into())])["id"]
        .as_u64()
        .unwrap();
    let out = wsd_san_ok(&san, &["keepalive-fail", &id.to_string(), "--json"]);
    let done: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(done["endpoints"].as_array().unwrap().len(), 2, "{done}");
    both_answer(&mut s3, &mut c3, "ENETRESET");
    let v = status(&san);
    for (pid, role, state) in [
        (c1.pid(), "connector", "reset"),
        (s1.pid(), "accepted", "reset"),
        (c2.pid(), "connector", "reset"),
        (s2.pid(), "accepted", "reset"),
        (c3.pid(), "connector", "keepalive-failed"),
        (s3.pid(), "accepted", "keepalive-failed"),
    ] {
        let e = endpoint(&v, &[("pid", pid.into()), ("role", role.into())]);
        assert_eq!(e["state"], state, "{e}");
    }
}

#[test]
fn an_unknown_target_is_a_usage_error_that_changes_nothing() {
    let san = San::new("target");
    let (mut server, mut client) = pair(&san);
    let before = status(&san);
    for target in ["99999", "127.0.0.1:1", "garbage"] {
        for verb in ["reset", "keepalive-fail"] {
            let out = wsd_san(&san, &[verb, target]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{verb} {target}: {err}");
            assert!(
                err.contains(target),
                "{verb} {target}: the message names it: {err}"
            );
            assert!(out.stdout.is_empty(), "{verb} {target}");
        }
    }
    assert_eq!(status(&san), before);
    both_answer(&mut server, &mut client, "ok");
}

// ---- an abortive close --------------------------------------------------------------
#[test]
fn an_abortive_close_resets_the_peer_and_a_graceful_one_does_not() {
    let san = San::new("close");
    let (mut server, mut client) = pair(&san);
    assert_eq!(client.ask("abort"), "ok");
    assert_eq!(server.ask("set 0x2002 1"), "ENOTCONN");
    assert_eq!(server.ask("nodelay"), "ENOTCONN");
    let v = status(&san);
    no_endpoint(&v, &[("pid", client.pid().into())]);
    let accepted = endpoint(&v, &[("pid", server.pid().into()), ("role", "accepted".into())]);
    assert_eq!(accepted["state"], "reset");

    let (mut server, mut client) = pair(&san);
    let (st, _) = client.finish();
    assert!(st.success(), "{st:?}");
    assert_eq!(server.ask("set 0x2002 1"), "ok");
    assert_eq!(server.ask("nodelay"), "ok");
    let v = status(&san);
    no_endpoint(&v, &[("pid", client.pid().into())]);
    let accepted = endpoint(&v, &[("pid", server.pid().into()), ("role", "accepted".into())]);
    assert_eq!(accepted["state"], "healthy");
    assert_eq!(server.ask("set 0x2002 1"), "ok");
}

// ---- argument errors and two faults on one connection (c-tests/audit.c) -------------

#[test]
fn argument_errors_win_over_a_reset_or_keepalive_failure_in_switch_mode() {
    let san = San::new("args-switch");
    passes(
        &audit(),
        &san,
        &["args-win"],
        &[("WSD_MODE", Path::new("switch"))],
    );
}

#[test]
fn argument_errors_win_over_a_reset_or_keepalive_failure_in_provider_mode() {
    let san = San::new("args-provider");
    passes(
        &audit(),
        &san,
        &["args-win"],
        &[("WSD_MODE", Path::new("provider"))],
    );
}

#[test]
fn a_keepalive_failure_and_a_reset_answer_enetreset_in_either_order() {
    let san = San::new("both-facts");
    passes(&audit(), &san, &["both-facts"], &[]);
    // The segment stays consistent with both facts on a connection.
    assert_sound(&san, "after both facts");
}
