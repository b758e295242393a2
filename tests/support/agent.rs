//! python3 agents (`tests/agents/san_agent.py`): each is one end of a loopback
//! connection in a process of its own under the library, driven line by line —
//! one command on its standard input, one reply line on its standard output, read
//! with a time limit (a hang guard, not synchronisation). Every agent, and every
//! child it was made to fork, is killed when its guard drops. Other programs
//! are driven the same way ([`Agent::program`]).

use super::San;
use super::process::{HANG, Proc, gather, lines_of};
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub const AGENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/agents/san_agent.py");

/// A python3 agent under the library, for segment `san` (its role still to be
/// added: `server` or `client PORT`).
pub fn agent_command(san: &San) -> Command {
    let mut cmd = super::preloaded("python3", san);
    cmd.arg(AGENT);
    cmd
}

/// What an agent's "ready PID LOCAL_PORT PEER_PORT FD" line said.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ready {
    pub pid: u32,
    pub local: u16,
    pub peer: u16,
    pub fd: i64,
}

/// One running agent; killed (with any child it forked) when dropped.
pub struct Agent {
    pub what: String,
    proc: Proc,
    pub stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_reader: Option<JoinHandle<()>>,
    /// The server's listening port.
    pub listening: u16,
    pub ready: Ready,
    /// Processes the agent forked that are still to be killed.
    pub forked: Vec<u32>,
}

impl Agent {
    fn spawn(mut cmd: Command, what: &str) -> Agent {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Agent::driving(Proc::spawn(cmd, what))
    }

    /// `cmd`, driven as an agent is (a command a line on its standard input, a
    /// reply a line on its standard output), in a process group of its own that
    /// is killed when it is dropped. Its [`Agent::pid`] is the program's own.
    pub fn program(mut cmd: Command, what: &str) -> Agent {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut a = Agent::driving(Proc::spawn_group(cmd, what));
        a.ready.pid = a.proc.pid();
        a
    }

    /// `python3 -c PROGRAM` under the library for `san`, driven as by
    /// [`Agent::program`].
    pub fn python(san: &San, what: &str, program: &str) -> Agent {
        let mut cmd = super::preloaded("python3", san);
        cmd.args(["-c", program]);
        Agent::program(cmd, what)
    }

    fn driving(mut proc: Proc) -> Agent {
        let what = proc.what.clone();
        let lines = lines_of(proc.child.stdout.take().unwrap());
        let (stderr, stderr_reader) = gather(proc.child.stderr.take().unwrap());
        Agent {
            what,
            stdin: proc.child.stdin.take(),
            proc,
            lines,
            stderr,
            stderr_reader: Some(stderr_reader),
            listening: 0,
            ready: Ready::default(),
            forked: Vec::new(),
        }
    }

    /// A server agent made from `cmd` (see [`agent_command`]); returns once it
    /// listens.
    pub fn server_with(cmd: Command) -> Agent {
        let mut cmd = cmd;
        cmd.arg("server");
        let mut a = Agent::spawn(cmd, "server");
        a.expect_listening();
        a
    }

    /// Reads "listening PORT": the port, which [`Agent::listening`] keeps too.
    pub fn expect_listening(&mut self) -> u16 {
        let line = self.line();
        self.listening = line
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{}: expected `listening PORT`, got {line:?}", self.what));
        self.listening
    }

    /// A server agent on `san`; returns once it listens.
    pub fn server(san: &San) -> Agent {
        Agent::server_with(agent_command(san))
    }

    /// A client agent made from `cmd`, connected to `port`; returns once it is
    /// ready.
    pub fn client_with(cmd: Command, port: u16) -> Agent {
        let mut cmd = cmd;
        cmd.args(["client", &port.to_string()]);
        let mut a = Agent::spawn(cmd, "client");
        a.expect_ready();
        a
    }

    /// A client agent on `san` connected to `port`; returns once it is ready.
    pub fn client(san: &San, port: u16) -> Agent {
        Agent::client_with(agent_command(san), port)
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// The next line the agent prints (hang guard: [`HANG`]).
    pub fn line(&mut self) -> String {
        match self.lines.recv_timeout(HANG) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!(
                "{} (pid {}): no line within {HANG:?}; stderr: {}",
                self.what,
                self.proc.pid(),
                self.stderr_text()
            ),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "{} (pid {}): its output ended; status {:?}; stderr: {}",
                self.what,
                self.proc.pid(),
                self.proc.child.try_wait(),
                self.stderr_text()
            ),
        }
    }

    /// Reads "ready PID LOCAL_PORT PEER_PORT FD".
    pub fn expect_ready(&mut self) -> Ready {
        let line = self.line();
        let words: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| -> i64 {
            words
                .get(i)
                .and_then(|w| w.parse().ok())
                .unwrap_or_else(|| panic!("{}: expected a ready line, got {line:?}", self.what))
        };
        assert_eq!(words.first(), Some(&"ready"), "{}: {line:?}", self.what);
        self.ready = Ready {
            pid: num(1) as u32,
            local: num(2) as u16,
            peer: num(3) as u16,
            fd: num(4),
        };
        self.ready
    }

    pub fn send(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{command}").expect("write to the agent");
        stdin.flush().unwrap();
    }

    /// One command, its one reply.
    pub fn ask(&mut self, command: &str) -> String {
        self.send(command);
        self.line()
    }

    /// The pid its ready line gave (a program's own, for [`Agent::program`]).
    pub fn pid(&self) -> u32 {
        self.ready.pid
    }

    /// `127.0.0.1:PORT` of this end of the connection.
    pub fn local(&self) -> String {
        format!("127.0.0.1:{}", self.ready.local)
    }

    /// Waits (bounded by [`HANG`]) for the agent to exit.
    pub fn wait(&mut self) -> ExitStatus {
        self.proc.wait()
    }

    /// `exit`, then the exit status and everything written to standard error.
    pub fn finish(&mut self) -> (ExitStatus, String) {
        self.send("exit");
        self.stdin = None;
        let st = self.wait();
        if self.forked.is_empty()
            && let Some(h) = self.stderr_reader.take()
        {
            h.join().unwrap();
        }
        (st, self.stderr_text())
    }

    /// SIGKILL, and reap it.
    pub fn kill9(&mut self) {
        let st = self.proc.kill9();
        assert_eq!(st.signal(), Some(libc::SIGKILL), "{}", self.what);
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        for &pid in &self.forked {
            // SAFETY: plain signal delivery to a process this test made the agent fork.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        // The agent itself: killed and reaped when `proc` drops.
    }
}

/// A server agent and a client agent connected to it (two processes), each made
/// from `cmd()`.
pub fn pair_with(cmd: impl Fn() -> Command) -> (Agent, Agent) {
    let mut server = Agent::server_with(cmd());
    let client = Agent::client_with(cmd(), server.listening);
    server.expect_ready();
    (server, client)
}

/// A server agent and a client agent on `san`, connected.
pub fn pair(san: &San) -> (Agent, Agent) {
    pair_with(|| agent_command(san))
}
