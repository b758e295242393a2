//! Issue 12: an endpoint is the kernel socket — one record however the socket is
//! reached, found through indexes at constant cost. The in-process tests drive
//! the segment's API directly; the others use real processes under the library.

mod support;

use std::sync::atomic::Ordering::Relaxed;
use support::agent::Agent;
use support::san_tool::assert_sound;
use support::{San, me};
use wsd::san::endpoint::Claimed;
use wsd::san::layout::identity;
use wsd::san::{EndpointRole, NewEndpoint, Segment};

/// An endpoint of this process (`who`: its pid and holder identity, as [`me`]
/// gives them) with `cookie`, `role` and addresses.
fn end((pid, holder): (u32, u64), cookie: u64, role: EndpointRole, local: &str, peer: &str) -> NewEndpoint {
    NewEndpoint {
        holder,
        pid,
        fd: 3,
        role,
        local: Some(local.parse().unwrap()),
        peer: Some(peer.parse().unwrap()),
        comm: *b"identity\0\0\0\0\0\0\0\0",
        cookie,
        netns: 0,
        inode: 0,
    }
}

#[test]
fn indexes_find_every_record_pair_both_ends_and_reuse_freed_ones() {
    let san = San::new("indexes");
    let seg = Segment::create(&san.name, 4096).unwrap();
    let who @ (pid, holder) = me();
    const PAIRS: u64 = 1500;
    let mut eps = Vec::new();
    for i in 0..PAIRS {
        let (a, b) = (
            format!("127.0.0.1:{}", 10_000 + i),
            format!("127.0.0.2:{}", 40_000 + i),
        );
        let c = seg
            .allocate(&end(who, 1_000 + 2 * i, EndpointRole::Connector, &a, &b))
            .unwrap();
        let s = seg
            .allocate(&end(who, 1_001 + 2 * i, EndpointRole::Accepted, &b, &a))
            .unwrap();
        let (Claimed::New(c), Claimed::New(s)) = (c, s) else {
            panic!("fresh cookies make new records")
        };
        eps.push((c, s));
    }
    for (i, &(c, s)) in eps.iter().enumerate() {
        let (rc, rs) = (seg.endpoint(c).unwrap(), seg.endpoint(s).unwrap());
        let (ic, is) = (rc.id.load(Relaxed), rs.id.load(Relaxed));
        assert_eq!(rc.peer_id.load(Relaxed), is, "pair {i}");
        assert_eq!(rs.peer_id.load(Relaxed), ic, "pair {i}");
        assert_eq!(seg.by_id(ic).map(|(x, _)| x), Some(c.index));
        assert_eq!(seg.by_cookie(1_000 + 2 * i as u64), Some(c));
        // The same socket claimed again (another process, another descriptor) is
        // the same record: never adopted twice.
        let again = seg
            .allocate(&end(
                who,
                1_001 + 2 * i as u64,
                EndpointRole::Adopted,
                "127.0.0.9:1",
                "127.0.0.9:2",
            ))
            .unwrap();
        assert_eq!(again, Claimed::Existing(s));
    }
    assert_eq!(seg.check(), Vec::<String>::new());
    let high = seg.header().high_water.load(Relaxed);
    assert_eq!(high as u64, 2 * PAIRS, "records handed out from the bottom");

    // Freed records go back to the free list and are taken again first: the
    // high-water mark (and the memory touched) does not grow.
    for &(c, s) in &eps[..500] {
        seg.release(c, holder, pid);
        seg.release(s, holder, pid);
    }
    assert_eq!(seg.live().count() as u64, 2 * PAIRS - 1000);
    assert_eq!(seg.by_cookie(1_000), None, "a freed record leaves the indexes");
    for i in 0..1000u64 {
        let a = format!("10.1.0.1:{}", 1 + i);
        seg.allocate(&end(who, 90_000 + i, EndpointRole::Connector, &a, "10.1.0.2:80"))
            .unwrap();
    }
    assert_eq!(seg.header().high_water.load(Relaxed), high);
    assert_eq!(seg.check(), Vec::<String>::new());
    // And a corrupted link is found by check.
    let (_, victim) = seg.live().next().unwrap();
    victim.cookie.store(7, Relaxed);
    assert!(
        seg.check()
            .iter()
            .any(|v| v.contains("not found in the index by cookie")),
        "{:?}",
        seg.check()
    );
}

/// A connection's ends are claimed without their cookie (connect and accept ask
/// the kernel for nothing more); a later claim of the same socket with its cookie
/// (another process adopting it) finds the record by its address pair, and the
/// record learns the cookie.
#[test]
fn a_record_made_without_its_cookie_is_found_by_its_address_pair_and_learns_it() {
    let san = San::new("lazy-cookie");
    let seg = Segment::create(&san.name, 64).unwrap();
    let who = me();
    let (a, b) = ("127.0.0.1:5001", "127.0.0.1:6001");
    let Claimed::New(c) = seg.allocate(&end(who, 0, EndpointRole::Connector, a, b)).unwrap() else {
        panic!("new")
    };
    assert_eq!(seg.by_cookie(777), None);
    // The other end of the connection has the swapped pair: not the same socket.
    let Claimed::New(s) = seg.allocate(&end(who, 0, EndpointRole::Accepted, b, a)).unwrap() else {
        panic!("new")
    };
    let again = seg.allocate(&end(who, 777, EndpointRole::Adopted, a, b)).unwrap();
    assert_eq!(again, Claimed::Existing(c));
    assert_eq!(seg.by_cookie(777), Some(c));
    assert_ne!(c, s);
    assert_eq!(seg.check(), Vec::<String>::new());
}

#[test]
fn a_full_table_falls_back_without_scanning_and_frees_what_the_dead_left() {
    let san = San::new("full");
    let seg = Segment::create(&san.name, 64).unwrap();
    let who @ (pid, _) = me();
    for i in 0..64u64 {
        let a = format!("127.0.0.1:{}", 2000 + i);
        seg.allocate(&end(who, 5_000 + i, EndpointRole::Connector, &a, "127.0.0.1:1"))
            .unwrap();
    }
    let one_more = end(who, 9_999, EndpointRole::Connector, "127.0.0.1:9", "127.0.0.1:1");
    assert!(seg.allocate(&one_more).is_none());
    // A dead process's records: a bounded pass frees them.
    let dead = identity(pid, 1);
    for (_, r) in seg.live().take(10) {
        r.holders[0].store(dead, Relaxed);
    }
    let r = seg.reap_some();
    assert_eq!(r.endpoints, 10, "{r:?}");
    assert!(seg.allocate(&one_more).is_some());
    assert_eq!(seg.check(), Vec::<String>::new());
}

/// A python3 client connected over the SAN runs `sh -c true` with its socket
/// named in `WSD_FDS` (as a program started that way passes its sockets on): the
/// shell must join the socket's record, not adopt it a second time, and its exit
/// must leave the connection healthy on both ends.
#[test]
fn a_shell_given_the_socket_through_wsd_fds_joins_it_and_resets_nothing() {
    let san = San::new("fds-system");
    let script = r#"
import os, socket, subprocess, sys, json
srv = listening(); c, s = connected(srv)
fd = c.fileno(); os.set_inheritable(fd, True)
env = dict(os.environ, WSD_FDS=str(fd))
subprocess.run(["sh", "-c", "true"], env=env, pass_fds=(fd,), check=True)
# The tool reaps what dead processes left (the shell is gone): nothing of the
# connection may be reset by that.
st = subprocess.run([sys.argv[1], "san", "status", "--json", "--san", sys.argv[2]], capture_output=True, text=True)
out = {}
for name, sock in (("client", c), ("server", s)):
    try:
        sock.setsockopt(socket.SOL_SOCKET, 0x2002, 3); out[name] = "ok"
    except OSError as e:
        out[name] = os.strerror(e.errno)
print(json.dumps(out), flush=True)
print(st.stdout, flush=True)
"#;
    let out = support::python(&san, &format!("{PY_COMMON}{script}"));
    let mut lines = out.lines();
    let verdict: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(verdict["client"], "ok", "{out}");
    assert_eq!(verdict["server"], "ok", "{out}");
    let status: serde_json::Value = serde_json::from_str(&lines.collect::<Vec<_>>().join("\n")).unwrap();
    let eps = status["endpoints"].as_array().unwrap();
    // Listener, client, server: one record each, the client's adopted by nobody.
    assert_eq!(eps.len(), 3, "{status:#}");
    assert!(eps.iter().all(|e| e["role"] != "adopted"), "{status:#}");
    assert!(eps.iter().all(|e| e["state"] == "healthy"), "{status:#}");
    assert_sound(&san, "after the shell");
}

/// `body` run after [`PY_COMMON`] by python3 under the library on a fresh
/// segment (named by `tag`), as [`support::python_json`] runs it: the JSON
/// document it prints last, once `wsd san check` found the segment sound.
fn py_json(tag: &str, body: &str) -> serde_json::Value {
    support::python_json(&San::new(tag), &format!("{PY_COMMON}{body}"))
}

/// The helpers the python programs below share: the tool's status as JSON, a
/// setsockopt that answers "ok" or the error's name, a listener on a port of its
/// own, and a connection to it (both ends).
const PY_COMMON: &str = r#"
import ctypes, errno, json, os, select, socket, subprocess, sys
def status():
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    out = subprocess.run([sys.argv[1], "san", "status", "--json", "--san", sys.argv[2]],
                         capture_output=True, text=True, env=env).stdout
    return json.loads(out)
def prio(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, 0x2002, 1); return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
def ports(st):
    return sorted((e["role"], e["state"]) for e in st["endpoints"])
def listening():
    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
    return srv
def connected(srv):
    c = socket.socket(); c.connect(srv.getsockname()); s, _ = srv.accept()
    return c, s
"#;

/// node (libuv) closes sockets with a raw `close` system call: the library never
/// sees it, the kernel does. The endpoint ends — no phantom in `status` — and
/// the connection's other end is not reset.
#[test]
fn a_raw_close_ends_the_endpoint_and_resets_nothing() {
    let v = py_json(
        "raw-close",
        r#"
srv = listening(); c, s = connected(srv)
before = ports(status())
libc = ctypes.CDLL(None, use_errno=True)
assert libc.syscall(3, c.detach()) == 0   # SYS_close, behind the library's back
after = status()
print(json.dumps({"before": before, "after": ports(after), "server": prio(s)}))
"#,
    );
    assert_eq!(v["before"].as_array().unwrap().len(), 3, "{v}");
    assert_eq!(
        v["after"],
        serde_json::json!([["accepted", "healthy"], ["listener", "healthy"]]),
        "the client's endpoint ended, the server's end is not reset: {v}"
    );
    assert_eq!(v["server"], "ok", "{v}");
}

/// A socket made before `fork` and connected in the child (as servers that hand
/// a socket to a worker do), the child exiting without closing it while the
/// parent still holds it: the connection lives on, and nothing is reset.
#[test]
fn a_socket_connected_in_a_forked_child_lives_while_the_parent_holds_it() {
    let v = py_json(
        "fork-connect",
        r#"
srv = listening()
c = socket.socket()
pid = os.fork()
if pid == 0:
    c.connect(srv.getsockname())
    os._exit(0)                       # the kernel closes the child's copy
os.waitpid(pid, 0)
s, _ = srv.accept()
st = status()                         # reaps what the dead child left
print(json.dumps({"endpoints": ports(st), "server": prio(s), "client": prio(c)}))
"#,
    );
    assert_eq!(v["server"], "ok", "{v}");
    let endpoints = v["endpoints"].as_array().unwrap();
    assert!(endpoints.iter().all(|e| e[1] == "healthy"), "{v}");
    assert!(
        endpoints.iter().any(|e| e[0] == "connector"),
        "the child's connection is the parent's too: it stays: {v}"
    );
}

/// A non-blocking `connect` that the peer refuses leaves no endpoint behind.
#[test]
fn a_refused_nonblocking_connect_leaves_no_endpoint() {
    let v = py_json(
        "refused",
        r#"
closed = socket.socket(); closed.bind(("127.0.0.1", 0)); port = closed.getsockname()[1]; closed.close()
c = socket.socket(); c.setblocking(False)
rc = c.connect_ex(("127.0.0.1", port))
if rc == errno.EINPROGRESS:
    select.select([], [c], [], 10)
err = c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if rc == errno.EINPROGRESS else rc
print(json.dumps({"error": errno.errorcode.get(err, str(err)), "endpoints": ports(status())}))
"#,
    );
    assert_eq!(v["error"], "ECONNREFUSED", "{v}");
    assert_eq!(v["endpoints"], serde_json::json!([]), "no phantom: {v}");
}

/// An abortive close resets the other end on the SAN however `SO_LINGER {1, 0}`
/// was set — before `connect` (on a candidate), inherited from the listener, or
/// by a process without the library — because the kernel says so: the surviving
/// end's connection is in `TCP_CLOSE` after the reset.
#[test]
fn an_abortive_close_resets_the_peer_however_its_linger_was_set() {
    let v = py_json(
        "linger",
        r#"
import struct, time
LINGER0 = struct.pack("ii", 1, 0)
def until_reset(sock):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        r = prio(sock)
        if r != "ok":
            return r
    return "still ok"
out = {}
# Set before connect, on the client while it was a candidate.
srv = listening()
c = socket.socket(); c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
c.connect(srv.getsockname()); s, _ = srv.accept()
c.close(); out["before connect"] = until_reset(s)
# Inherited from the listener by the accepted socket.
srv2 = socket.socket(); srv2.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
srv2.bind(("127.0.0.1", 0)); srv2.listen()
c2, s2 = connected(srv2)
s2.close(); out["from the listener"] = until_reset(c2)
# Set by another process, which runs without the library.
c3, s3 = connected(srv)
env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
subprocess.run([sys.executable, "-c",
    "import socket, struct, sys; s = socket.socket(fileno=int(sys.argv[1])); "
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); s.detach()",
    str(c3.fileno())], pass_fds=(c3.fileno(),), env=env, check=True, stdin=subprocess.DEVNULL)
c3.close()
out["by another process"] = until_reset(s3)
st = status()
out["states"] = sorted(e["state"] for e in st["endpoints"] if e["role"] != "listener")
print(json.dumps(out))
"#,
    );
    for case in ["before connect", "from the listener", "by another process"] {
        assert_eq!(v[case], "ENOTCONN", "{case}: {v}");
    }
    assert!(
        v["states"].as_array().unwrap().iter().all(|s| s == "reset"),
        "the survivors show reset: {v}"
    );
}

/// More processes hold one socket than a record names (six: the creator and five
/// forked workers), and all of them are killed: the record is reclaimed and the
/// other end reset, as when one holder dies.
#[test]
fn a_socket_held_by_many_processes_all_killed_is_reclaimed() {
    let v = py_json(
        "many-holders",
        r#"
import signal, time
srv = listening()
holder_script = '''
import os, socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
pids = [os.getpid()]
r, w = os.pipe()
for _ in range(5):
    pid = os.fork()
    if pid == 0:
        os.close(r); os.write(w, b"x"); time.sleep(600); os._exit(0)
    pids.append(pid)
os.close(w)
for _ in range(5):
    os.read(r, 1)
print(" ".join(map(str, pids)), flush=True)
time.sleep(600)
'''
holder = subprocess.Popen([sys.executable, "-c", holder_script, str(srv.getsockname()[1])],
                          stdout=subprocess.PIPE, text=True, start_new_session=True)
s, _ = srv.accept()
pids = [int(p) for p in holder.stdout.readline().split()]
before = [e for e in status()["endpoints"] if e["role"] == "connector"]
os.killpg(holder.pid, signal.SIGKILL)
holder.wait()
for p in pids[1:]:
    try: os.waitpid(p, 0)
    except ChildProcessError: pass
deadline = time.monotonic() + 10
def running(p):
    try:
        with open(f"/proc/{p}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False
while time.monotonic() < deadline:
    # The children are reparented and reaped by init: wait until none runs.
    if not any(running(p) for p in pids):
        break
after = status()
print(json.dumps({"holders": len(pids), "before": before,
                  "connectors_after": [e for e in after["endpoints"] if e["role"] == "connector"],
                  "server": prio(s)}))
"#,
    );
    assert_eq!(v["holders"], 6, "{v}");
    let before = &v["before"][0];
    assert_eq!(before["extra_holders"], 2, "four named, two counted: {v}");
    assert_eq!(v["connectors_after"], serde_json::json!([]), "reclaimed: {v}");
    assert_eq!(v["server"], "ENOTCONN", "the other end is reset: {v}");
}

/// A SAN socket passed to another process with `SCM_RIGHTS`: the receiver's
/// calls on it are answered as on a SAN socket (the kernel would refuse the group
/// option), it is one endpoint with one set of values, and the sender's close of
/// its own copy ends nothing.
#[test]
fn a_san_socket_passed_with_scm_rights_is_the_same_endpoint_in_the_receiver() {
    passed_with_scm_rights("")
}

/// The same, the descriptor sent with `sendmmsg` and received with `recvmmsg`.
#[test]
fn a_san_socket_passed_with_sendmmsg_is_the_same_endpoint_in_the_receiver() {
    passed_with_scm_rights(MMSG)
}

/// `send_fds`/`recv_fds` made of `sendmmsg`/`recvmmsg` (one message each).
const MMSG: &str = r#"
import ctypes, array
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
class msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.POINTER(iovec)),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]
class mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", msghdr), ("len", ctypes.c_uint)]
LIBC = ctypes.CDLL(None, use_errno=True)
def mmsg(fd, data, fds, send):
    buf = ctypes.create_string_buffer(data, len(data))
    iov = iovec(ctypes.cast(buf, ctypes.c_void_p), len(data))
    space = socket.CMSG_SPACE(4 * max(len(fds), 1))
    ctl = ctypes.create_string_buffer(space)
    if send:
        hdr = struct.pack("=QiI", socket.CMSG_LEN(4 * len(fds)), socket.SOL_SOCKET, socket.SCM_RIGHTS)
        ctypes.memmove(ctl, hdr + array.array("i", fds).tobytes(), len(hdr) + 4 * len(fds))
    m = mmsghdr(msghdr(None, 0, ctypes.pointer(iov), 1, ctypes.cast(ctl, ctypes.c_void_p), space, 0), 0)
    n = (LIBC.sendmmsg if send else LIBC.recvmmsg)(fd, ctypes.byref(m), 1, 0, *([] if send else [None]))
    assert n == 1, ctypes.get_errno()
    if not send:
        return buf.raw[:m.len], list(array.array("i", ctl.raw[16:16 + 4]))
import struct
socket.send_fds = lambda sock, bufs, fds: mmsg(sock.fileno(), b"".join(bufs), fds, True)
socket.recv_fds = lambda sock, n, maxfds: (*mmsg(sock.fileno(), bytes(n), [], False), 0, None)
"#;

fn passed_with_scm_rights(prelude: &str) {
    let v = py_json(
        "scm-rights",
        &r#"
PRELUDE

srv = listening(); c, s = connected(srv)
c.setsockopt(socket.SOL_SOCKET, 0x2002, 5)
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
receiver = subprocess.Popen([sys.executable, "-c", '''
import socket, sys
PRELUDE
b = socket.socket(fileno=int(sys.argv[1]))
msg, fds, _, _ = socket.recv_fds(b, 16, 1)
c = socket.socket(fileno=fds[0])
def ask(what):
    try:
        if what == "get":
            return str(c.getsockopt(socket.SOL_SOCKET, 0x2002))
        c.setsockopt(socket.SOL_SOCKET, 0x2002, 9); return "ok"
    except OSError as e:
        return e.strerror
print(ask("get"), ask("set"), flush=True)
sys.stdin.readline()
print(ask("get"), ask("set"), flush=True)
sys.stdin.readline()
''', str(b.fileno())], pass_fds=(b.fileno(),), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
socket.send_fds(a, [b"x"], [c.fileno()])
first = receiver.stdout.readline().split()
parent_sees = c.getsockopt(socket.SOL_SOCKET, 0x2002)
c.close()                                   # the sender's copy: ends nothing
receiver.stdin.write("\n"); receiver.stdin.flush()
second = receiver.stdout.readline().split()
st = [e for e in status()["endpoints"] if e["role"] == "connector"]
server = prio(s)
receiver.stdin.write("\n"); receiver.stdin.flush(); receiver.wait()
print(json.dumps({"first": first, "parent_sees": parent_sees, "second": second,
                  "connectors": len(st), "server": server}))
"#
        .replace("PRELUDE", prelude),
    );
    assert_eq!(
        v["first"],
        serde_json::json!(["5", "ok"]),
        "the receiver reads the value the sender set: {v}"
    );
    assert_eq!(v["parent_sees"], 9, "one set of values: {v}");
    assert_eq!(
        v["second"],
        serde_json::json!(["9", "ok"]),
        "the sender's close ended nothing: {v}"
    );
    assert_eq!(v["connectors"], 1, "one endpoint: {v}");
    assert_eq!(v["server"], "ok", "{v}");
}

/// Values remembered on a candidate belong to the socket: after a fork, what the
/// child sets the parent reads, and when the parent connects the socket, both
/// processes hold the one SAN endpoint, with those values.
#[test]
fn a_candidate_shared_by_fork_has_one_set_of_values() {
    let v = py_json(
        "shared-candidate",
        r#"
srv = listening()
c = socket.socket()
c.setsockopt(socket.SOL_SOCKET, 0x2002, 3)
r1, w1 = os.pipe(); r2, w2 = os.pipe()
pid = os.fork()
if pid == 0:
    c.setsockopt(socket.SOL_SOCKET, 0x2002, 7)
    os.write(w1, b"x")
    os.read(r2, 1)                     # the parent has connected
    v = c.getsockopt(socket.SOL_SOCKET, 0x2002)
    answer = prio(c)
    held = [e for e in status()["endpoints"] if e["role"] == "connector"][0]["held_by"]
    os.write(w1, ("%d %s %d" % (v, answer, len(held))).encode())
    os._exit(0)
os.read(r1, 1)
parent_reads = c.getsockopt(socket.SOL_SOCKET, 0x2002)
c.connect(srv.getsockname()); s, _ = srv.accept()
after_connect = c.getsockopt(socket.SOL_SOCKET, 0x2002)
os.write(w2, b"x")
child_after = os.read(r1, 64).decode().split()
os.waitpid(pid, 0)
st = status()
print(json.dumps({"parent_reads": parent_reads, "after_connect": after_connect, "child_after": child_after,
                  "roles": sorted(e["role"] for e in st["endpoints"])}))
"#,
    );
    assert_eq!(v["parent_reads"], 7, "the child's value: {v}");
    assert_eq!(v["after_connect"], 7, "replayed from the socket's values: {v}");
    // The child, which connected nothing, now holds the SAN endpoint: it reads
    // its value and is answered as on a SAN socket.
    assert_eq!(
        v["child_after"],
        serde_json::json!(["7", "ok", "2"]),
        "both hold it: {v}"
    );
    assert_eq!(
        v["roles"],
        serde_json::json!(["accepted", "connector", "listener"]),
        "one endpoint, the candidate's record retired: {v}"
    );
}

/// A socket that disconnects (`connect` with `AF_UNSPEC`) and connects again is
/// paired with its new peer only; its old peer no longer names it, and the new
/// connection starts healthy even if the old one was reset.
#[test]
fn a_socket_that_reconnects_is_paired_with_its_new_peer_only() {
    let v = py_json(
        "reconnect",
        r#"
a, b = listening(), listening()
c, sa = connected(a)
sa_names = (sa.getsockname(), sa.getpeername())
env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
subprocess.run([sys.argv[1], "san", "reset", "127.0.0.1:%d" % c.getsockname()[1], "--san", sys.argv[2]],
               env=env, check=True, capture_output=True)
first = prio(c)
libc = ctypes.CDLL(None, use_errno=True)
unspec = ctypes.create_string_buffer(16)          # struct sockaddr, sa_family AF_UNSPEC
assert libc.connect(c.fileno(), unspec, 16) == 0, ctypes.get_errno()
c.connect(b.getsockname()); sb, _ = b.accept()
eps = {(e["role"], e["local"], e["peer"]): e for e in status()["endpoints"]}
def ep(role, local, peer):
    return eps[(role, "%s:%d" % local, "%s:%d" % peer)]
cl = ep("connector", c.getsockname(), b.getsockname())
new_peer = ep("accepted", sb.getsockname(), sb.getpeername())
old_peer = ep("accepted", *sa_names)
print(json.dumps({"first": first, "again": prio(c), "peer_is_new": cl["peer_id"] == new_peer["id"],
                  "new_names_it": new_peer["peer_id"] == cl["id"], "old_names_it": old_peer["peer_id"] == cl["id"],
                  "state": cl["state"]}))
"#,
    );
    assert_eq!(v["first"], "ENOTCONN", "{v}");
    assert_eq!(v["again"], "ok", "the new connection is healthy: {v}");
    assert_eq!(v["peer_is_new"], true, "{v}");
    assert_eq!(v["new_names_it"], true, "{v}");
    assert_eq!(v["old_names_it"], false, "{v}");
    assert_eq!(v["state"], "healthy", "{v}");
}

/// A socket first used through the direct API before it is connected is in
/// `TCP_CLOSE` as far as the kernel is concerned: that is not a reset. Its SAN
/// calls keep answering, however long the program goes on (the now-and-then look
/// at the socket's own state runs at most every 50 ms).
#[test]
fn an_unconnected_socket_under_the_direct_api_is_not_taken_for_reset() {
    let v = py_json(
        "direct-unconnected",
        r#"
import time
lib = ctypes.CDLL(None)
s = socket.socket()
err = ctypes.c_int(0); one = ctypes.c_int(1)
rc = lib.WSPSetSockOpt(s.fileno(), 0xffff, 0x2002, ctypes.byref(one), 4, ctypes.byref(err))
answers = set()
deadline = time.monotonic() + 0.3
while time.monotonic() < deadline:
    answers.add(prio(s))
print(json.dumps({"direct": rc, "answers": sorted(answers)}))
"#,
    );
    assert_eq!(v["direct"], 0, "{v}");
    assert_eq!(v["answers"], serde_json::json!(["ok"]), "{v}");
}

/// `accept` and `accept4` however a program calls them — no room for the
/// address, room on the stack large enough or too small, room on the heap — on
/// listeners bound to one address or to the wildcard, IPv4 and IPv6: the program
/// gets what libc gives it (checked by the program), and each accepted endpoint
/// has its socket's true addresses and is paired with its connector. (The
/// library reads the peer's address from what the kernel wrote back where it can
/// without a system call, and the local one from a listener bound to one address.)
#[test]
fn accepted_endpoints_have_their_sockets_addresses_however_accept_is_called() {
    let san = San::new("accept-addr");
    let mut program = Agent::program(
        support::preloaded(support::cc::program("accept_addr"), &san),
        "accept_addr",
    );
    let mut conns = Vec::new();
    loop {
        let line = program.line();
        if line == "ready" {
            break;
        }
        conns.push(line);
    }
    assert!(
        conns.len() >= 15,
        "three listeners at least, five ways each: {conns:?}"
    );
    let v = support::san_tool::status(&san);
    for line in &conns {
        let field = |k: &str| {
            line.split(' ')
                .find_map(|w| w.strip_prefix(&format!("{k}=")[..]))
                .unwrap_or_else(|| panic!("{k} in {line}"))
                .to_string()
        };
        let fd = |k: &str| serde_json::json!(field(k).parse::<u64>().unwrap());
        let accepted =
            support::san_tool::endpoint(&v, &[("fd", fd("accepted")), ("role", "accepted".into())]);
        let client = support::san_tool::endpoint(&v, &[("fd", fd("client")), ("role", "connector".into())]);
        assert_eq!(accepted["local"], field("local"), "{line}");
        assert_eq!(accepted["peer"], field("peer"), "{line}");
        assert_eq!(accepted["peer_id"], client["id"], "{line}");
        assert_eq!(client["peer_id"], accepted["id"], "{line}");
    }
    program.stdin = None;
    assert!(program.wait().success());
    assert_sound(&san, "after the program");
}
