//! Issue 13: faults scheduled at launch (`wsd run --fault`) hit exactly the
//! connections they name — by port, by program, with a probability of 0 or 1,
//! after a delay from the start or from each connection's establishment, the
//! network down for a while — and the report tells each fault's story.

mod support;

use serde_json::Value;
use std::process::{Command, Stdio};

/// `wsd run` of python3 running `script` after [`support::PY_OUTCOME`] (with
/// the tool's path, the report's and `args`), its
/// report as JSON in a file; returns (exit status, the program's standard output,
/// the tool's standard error, the report).
///
/// A fault scheduled `after=` the start of the run must find the connections
/// the script makes first: the script checks it was on time (`on_time`), and a
/// run that was late — the machine too loaded to start python and connect
/// before the fault — is run again, up to four times in all.
fn run(faults: &[String], script: &str, args: &[String]) -> (i32, String, String, Value) {
    let script = format!("{}{script}", support::PY_OUTCOME);
    for _ in 0..3 {
        let r = run_once(faults, &script, args);
        if !(r.0 == 75 && r.1.contains("LATE")) {
            return r;
        }
    }
    run_once(faults, &script, args)
}

/// `CLOCK_MONOTONIC` now, in seconds (python's `time.monotonic()`).
fn monotonic() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

fn run_once(faults: &[String], script: &str, args: &[String]) -> (i32, String, String, Value) {
    let dir = std::env::temp_dir().join(format!(
        "wsd-schedule-{}-{}",
        std::process::id(),
        support::free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("report.json");
    let san = support::San::new("schedule");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsd"));
    cmd.arg("run")
        .args(["--san", &san.name])
        .arg("--json")
        .arg("--report")
        .arg(&report)
        .args(["--lib"])
        .arg(support::library());
    for f in faults {
        cmd.args(["--fault", f]);
    }
    cmd.args([
        "--seed",
        "7",
        "--",
        "python3",
        "-c",
        script,
        env!("CARGO_BIN_EXE_wsd"),
    ])
    .arg(&report)
    .args(args)
    .env_remove("WSD_SAN")
    .env("WSD_TEST_T0", format!("{:.6}", monotonic()))
    .stdin(Stdio::null());
    let (status, hung, out, err) = support::process::run_guarded(cmd, std::time::Duration::from_secs(60));
    assert!(!hung, "{out}\n{err}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap_or(Value::Null);
    let _ = std::fs::remove_dir_all(&dir);
    (status.code().unwrap_or(-1), out, err, doc)
}

/// What the python programs below share, besides [`support::PY_OUTCOME`] (which
/// [`run`] puts before every program): `on_time(after)`, `listener(port)` and
/// `in_child(name, port)`.
const PY: &str = r#"
import ctypes, errno, json, os, socket, subprocess, sys, threading, time
WSD, REPORT = sys.argv[1], sys.argv[2]
T0, CHILDREN = float(os.environ["WSD_TEST_T0"]), []
def on_time(after):
    """Is everything set up before a fault due `after` seconds into the run? The
    run started after T0, so the fault comes after T0 + after. If not (a loaded
    machine), the children go and the run says so, for the test to run again."""
    if time.monotonic() - T0 > after - 0.05:
        for pid in CHILDREN:
            os.kill(pid, 9)
        print(f"LATE {time.monotonic() - T0:.3f}", flush=True)
        os._exit(75)
def listener(port):
    ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port)); ls.listen(16)
    return ls
def in_child(name, port):
    """A process named `name` with one connection to `port`, blocked in recv;
    what it saw comes back on a pipe."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        # It holds none of its parent's sockets (a process holding a socket is
        # at that end of the connection): only its own.
        os.closerange(3, w); os.closerange(w + 1, 1024)
        ctypes.CDLL(None).prctl(15, name.encode())
        c = socket.create_connection(("127.0.0.1", port))
        os.write(w, b"connected\n")
        os.write(w, (outcome(lambda: c.recv(10)) + "\n").encode())
        os._exit(0)
    CHILDREN.append(pid)
    os.close(w)
    f = os.fdopen(r)
    assert f.readline() == "connected\n"
    return pid, f
"#;

/// Four faults at once: a probability of 0 (hits nothing), a port, a program, and
/// a program's connections some time after each is made. A connection none of
/// them names is never hit; the report lists each fault with exactly the
/// endpoints it hit and what each program saw; the run's segment is named in the
/// report file while the program runs.
#[test]
fn scheduled_faults_hit_exactly_what_they_name() {
    let (p1, p2) = (support::free_port(), support::free_port());
    let faults = [
        "reset,after=1s,probability=0".to_string(),
        format!("reset,after=1s,port={p1}"),
        "keepalive-fail,after=1s,program=victim".to_string(),
        "reset,after-connect=100ms,program=late".to_string(),
    ];
    let script = format!(
        r#"{PY}
hello = open(REPORT).read()
p1, p2 = int(sys.argv[3]), int(sys.argv[4])
l1, l2 = listener(p1), listener(p2)
keep = []
a = socket.create_connection(("127.0.0.1", p1)); keep.append(l1.accept())
b = socket.create_connection(("127.0.0.1", p2)); bs, _ = l2.accept()
victim = in_child("victim", p2); keep.append(l2.accept())
on_time(1.0)
res = {{"a": outcome(lambda: a.recv(10)), "victim": victim[1].readline().strip()}}
late = in_child("late", p2); keep.append(l2.accept())
res["late"] = late[1].readline().strip()
b.send(b"still"); res["b"] = bs.recv(10).decode()
res["hello"] = hello
print(json.dumps(res))
"#
    );
    let (code, out, err, doc) = run(&faults, &script, &[p1.to_string(), p2.to_string()]);
    assert_eq!(code, 0, "{out}\n{err}");
    let res: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(res["a"], "ECONNRESET", "{res:#}");
    assert_eq!(res["victim"], "ENETRESET", "{res:#}");
    assert_eq!(res["late"], "ECONNRESET", "{res:#}");
    assert_eq!(res["b"], "still", "the connection no fault names: {res:#}");
    let san = doc["san"].as_str().unwrap();
    assert!(res["hello"].as_str().unwrap().contains(san), "{res:#}");

    let faults = doc["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 3, "probability 0 injects nothing: {doc:#}");
    let hit = |f: &Value| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = f["hit"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["program"].as_str().unwrap().to_string(),
                    h["role"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let find = |needle: &str| {
        faults
            .iter()
            .find(|f| f["target"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("{needle} in {doc:#}"))
    };
    let by_port = find(&format!("port={p1}"));
    assert_eq!(by_port["kind"], "reset");
    assert_eq!(by_port["endpoints_hit"], 2, "{by_port:#}");
    for h in by_port["hit"].as_array().unwrap() {
        let ends = format!("{} {}", h["local"], h["remote"]);
        assert!(ends.contains(&format!(":{p1}")), "{h:#}");
    }
    let victim = find("program=victim");
    assert_eq!(victim["kind"], "keepalive-fail");
    assert_eq!(
        hit(victim),
        [
            ("python3".to_string(), "accepted".to_string()),
            ("victim".to_string(), "connector".to_string())
        ]
    );
    let late = find("program=late");
    assert_eq!(
        hit(late),
        [
            ("late".to_string(), "connector".to_string()),
            ("python3".to_string(), "accepted".to_string())
        ]
    );
    // What the programs saw first: the victim's recv, with the fault's code.
    let saw: Vec<&Value> = victim["hit"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| h["saw"].as_array().unwrap())
        .collect();
    assert!(
        saw.iter()
            .any(|s| s["program"] == "victim" && s["call"] == "recv" && s["error"] == "ENETRESET"),
        "{victim:#}"
    );
    assert_eq!(doc["fault_seed"], 7);
}

/// `down` for a while: the connections break with `ENETDOWN`; the network comes
/// up again by itself, and a new connection is a SAN connection again.
#[test]
fn down_for_a_while_then_up() {
    let faults = ["down,after=1s,for=300ms".to_string()];
    let script = format!(
        r#"{PY}
SAN = open(REPORT).read().split('SAN "')[1].split('"')[0]
ls = listener(0); port = ls.getsockname()[1]
a = socket.create_connection(("127.0.0.1", port)); keep = ls.accept()
on_time(1.0)
res = {{"a": outcome(lambda: a.recv(10))}}
env = {{k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}}
def network():
    return json.loads(subprocess.run([WSD, "san", "status", "--json", "--san", SAN], capture_output=True, text=True, env=env).stdout)["network"]
for _ in range(10000):
    if network() == "up":
        break
    time.sleep(0.001)
b = socket.create_connection(("127.0.0.1", port)); bs, _ = ls.accept()
b.send(b"again"); res["b"] = bs.recv(10).decode()
st = json.loads(subprocess.run([WSD, "san", "status", "--json", "--san", SAN], capture_output=True, text=True, env=env).stdout)
res["roles"] = sorted(e["role"] for e in st["endpoints"] if e["state"] == "healthy")
print(json.dumps(res))
"#
    );
    let (code, out, err, doc) = run(&faults, &script, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let res: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(res["a"], "ENETDOWN", "{res:#}");
    assert_eq!(res["b"], "again", "{res:#}");
    assert_eq!(
        res["roles"],
        serde_json::json!(["accepted", "connector", "listener"]),
        "the new connection is a SAN connection: {res:#}"
    );
    let kinds: Vec<&str> = doc["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["down", "up"], "{doc:#}");
}

/// A `--fault` that does not parse is refused before the program starts: exit
/// status 2, the position and what was expected.
#[test]
fn a_bad_fault_is_refused_before_the_program_runs() {
    let marker = std::env::temp_dir().join(format!("wsd-bad-fault-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_wsd"))
        .args(["run", "--fault", "reset,after=2x", "--", "touch"])
        .arg(&marker)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("at character 13") && err.contains("expected a duration"),
        "{err}"
    );
    assert!(!marker.exists(), "the program ran");
}
