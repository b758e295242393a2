//! `wsd san VERB`: inspect the SAN segment and inject faults (SPEC §6.3). Exit
//! status 0 on success, 1 when `check` finds a violation, 2 for a usage error, a
//! segment that cannot be opened, or an unknown target.
//!
//! `create --json` prints `{san, capacity, created, mode ("0600", or "0660" with
//! --group), group (null, or {gid, name}: name null when the group database has
//! no such gid)}`.
//!
//! `status --json` prints one object: `san`, `capacity`, `network` ("up"/"down"),
//! `live`, `summary` (the whole segment, whatever the filters: `san`, `capacity`,
//! `network`, `live`, `roles` {`listener`, `connector`, `accepted`, `adopted`, `candidate`,
//! `direct`}, `states` {`healthy`, `keepalive-failed`, `reset`}, `processes`
//! (distinct processes in holder slots), `unidentified_holders`, `report_rows`
//! {`used`, `capacity`}; then the rows: `filters` {`program`, `port`, `state`,
//! `role`, each null when not given}, `limit` (null: every row), `matched`,
//! `shown`, `omitted`), `stats` {`endpoints_created`, `fallback_down`,
//! `fallback_full`, `fallback_replay`, and `sets`, `gets`, `provider_refusals`
//! summed over the live endpoints}, `reaped` {`holders`, `endpoints`, `claims`},
//! and `endpoints`: the rows the filters and `--limit` kept, an array of {`id`,
//! `pid` (the creator), `program` (the creator's process name while it runs, else
//! `comm`), `comm` (the name the record was made with: the creating thread's),
//! `fd`, `role`, `local`, `peer`, `state`, `peer_id`, `so_debug`,
//! `group_priority`, `holders` (pids), `held_by` [{`pid`, `program`: its process
//! name, null once gone}], `extra_holders` (holders beyond the slots, without
//! identity), `sets`, `gets`, `set_errors`, `get_errors`, `provider_refusals`}.
//!
//! Process names come from `/proc/PID/stat`, read once per pid (with the start
//! time, which tells a holder from a process that reused its pid); nothing else
//! in `status` makes a system call per endpoint, and the text is written at once.

use super::{USAGE, fail};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use wsd::config::rules::glob;
use wsd::config::{DEFAULT_SAN, SAN_NAME_RULE, valid_san_name};
use wsd::model::checks::Connection;
use wsd::san::faults::{Fault, Injected, Selector};
use wsd::san::layout::{DEFAULT_CAPACITY, REPORT_ROWS, ROW_EMPTY, Record, identity_pid, identity_start};
use wsd::san::reap::Reaped;
use wsd::san::{EndpointRole, Segment, SegmentError, Target};

#[derive(Args)]
pub struct SanArgs {
    #[command(subcommand)]
    verb: Verb,
    /// Segment name; default: $WSD_SAN, else "default".
    #[arg(long, global = true)]
    san: Option<String>,
    /// One JSON document instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Verb {
    /// Show a summary of the segment, then its endpoints (reclaims dead processes' first).
    ///
    /// The summary covers the whole segment: its name and capacity, the network
    /// state, the endpoints live by role and by connection state (healthy,
    /// keepalive-failed, reset), the processes holding endpoints, and the report
    /// rows used. The endpoint rows follow: the process that made each endpoint
    /// (pid, and program: the process's name, or the name the endpoint was made
    /// with once that process is gone), and in the holders column every process
    /// holding the socket now, as PID/NAME (a forked child that kept a socket its
    /// parent closed, say).
    ///
    /// --program, --port, --state and --role choose the endpoint rows, in text and
    /// in JSON (all must match); the summary still covers the whole segment and
    /// says how many rows matched and how many --limit left out.
    Status(StatusArgs),
    /// Create the segment: private to this user (0600), or shared with a group.
    Create {
        /// Endpoint records, from 1 to 2^21 (each 256 bytes of a sparse file).
        #[arg(long, default_value_t = DEFAULT_CAPACITY, value_parser = capacity, allow_negative_numbers = true)]
        capacity: u32,
        /// Share the segment with group G (a name or a number): mode 0660, group G,
        /// so that programs that drop privileges to a user of G (`memcached -u
        /// nobody`) still use it. Only root may name a group it is not in.
        #[arg(long, value_name = "G")]
        group: Option<String>,
    },
    /// Remove the segment.
    Destroy,
    /// Verify the segment's invariants; exit 1 on any violation.
    Check,
    /// Bring the SAN network down: every established SAN connection breaks (its
    /// first data call answers ENETDOWN), SAN calls answer WSAENETDOWN, new
    /// connections are plain TCP until `up`.
    Down,
    /// Bring the SAN network up again (connections `down` broke stay broken).
    Up,
    /// Reset connections, both ends: the first data call on each answers
    /// ECONNRESET, setsockopt answers WSAENOTCONN (SPEC §7).
    Reset(Aim),
    /// Fail connections' keep-alive, both ends: the first data call answers
    /// ENETRESET, setsockopt answers WSAENETRESET.
    #[command(name = "keepalive-fail")]
    KeepaliveFail(Aim),
}

/// Which connections a fault hits: those with an end that matches everything given.
#[derive(Args)]
struct Aim {
    /// An endpoint id, or ADDR:PORT: every connection with an end there (a
    /// server's address hits every connection accepted on it; 0.0.0.0:PORT, any
    /// address with that port).
    target: Option<String>,
    /// Connections with an end in a process of this name.
    #[arg(long, value_name = "NAME")]
    program: Option<String>,
    /// Connections with an end held by this process.
    #[arg(long, value_name = "PID")]
    pid: Option<u32>,
}

pub fn san(args: SanArgs) -> i32 {
    let name = args
        .san
        .clone()
        .or_else(|| std::env::var("WSD_SAN").ok())
        .unwrap_or_else(|| DEFAULT_SAN.to_string());
    if !valid_san_name(&name) {
        return fail(
            USAGE,
            format_args!("segment name {name:?}: expected {SAN_NAME_RULE}"),
        );
    }
    let open = || Segment::open(&name).map_err(|e| refused(&name, &e));
    match args.verb {
        Verb::Create { capacity, ref group } => {
            let group = match group.as_deref().map(super::group).transpose() {
                Ok(g) => g,
                Err(e) => return fail(USAGE, e),
            };
            let made = match &group {
                Some((gid, _)) => Segment::create_shared(&name, capacity, *gid),
                None => Segment::create(&name, capacity),
            };
            match made {
                Ok(seg) => say(
                    args.json,
                    json!({
                        "san": name,
                        "capacity": seg.capacity(),
                        "created": true,
                        "mode": if group.is_some() { "0660" } else { "0600" },
                        "group": group.as_ref().map(|(gid, name)| json!({"gid": gid, "name": name})),
                    }),
                    || match &group {
                        Some((gid, gname)) => format!(
                            "created SAN {name:?} with {} endpoint records, shared with group {}: mode 0660",
                            seg.capacity(),
                            super::group_text(*gid, gname.as_deref())
                        ),
                        None => format!(
                            "created SAN {name:?} with {} endpoint records, private to this user: mode 0600",
                            seg.capacity()
                        ),
                    },
                ),
                Err(e) => match &group {
                    Some((gid, gname)) => fail(
                        USAGE,
                        super::shared_creation_failed(&name, &e, *gid, gname.as_deref()),
                    ),
                    None => refused(&name, &e),
                },
            }
        }
        Verb::Destroy => match Segment::destroy(&name) {
            Ok(()) => say(args.json, json!({"san": name, "destroyed": true}), || {
                format!("destroyed SAN {name:?}")
            }),
            Err(e) => fail(USAGE, format_args!("SAN {name:?}: {e}")),
        },
        Verb::Status(ref status_args) => {
            open().map_or_else(|s| s, |seg| status(&seg, status_args, args.json))
        }
        // A segment that cannot be opened at all is a usage error (exit status 2),
        // as for every verb; one that opens is checked (1 on a violation).
        Verb::Check => open().map_or_else(|s| s, |seg| check(&seg, args.json)),
        Verb::Up => open().map_or_else(
            |s| s,
            |seg| {
                let seq = seg.bring_up();
                say(
                    args.json,
                    json!({"san": name, "network": "up", "fault": seq}),
                    || format!("SAN {name:?} network up"),
                )
            },
        ),
        Verb::Down => open().map_or_else(
            |s| s,
            |seg| {
                seg.reap();
                let hit = seg.bring_down();
                delivered(&seg, Fault::Down, "network down", &hit, args.json)
            },
        ),
        Verb::Reset(ref aim) => open().map_or_else(|s| s, |seg| fault(&seg, aim, Fault::Reset, args.json)),
        Verb::KeepaliveFail(ref aim) => {
            open().map_or_else(|s| s, |seg| fault(&seg, aim, Fault::KeepaliveFail, args.json))
        }
    }
}

/// How long `reset`, `keepalive-fail` and `down` wait for the processes holding
/// the sockets to act on them (SPEC §7: within 100 ms).
const ACT_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

fn refused(name: &str, e: &SegmentError) -> i32 {
    let hint = match e {
        SegmentError::Missing => ": create it with `wsd san create`, or name another with --san",
        _ => "",
    };
    fail(USAGE, format_args!("SAN {name:?}: {e}{hint}"))
}

/// `--capacity`: a number within the capacity rule, said as the segment says it.
fn capacity(s: &str) -> Result<u32, String> {
    match s.trim().parse::<i128>() {
        Ok(n) if wsd::san::layout::capacity_ok(n) => Ok(n as u32),
        Ok(n) => Err(wsd::san::layout::capacity_rule(n)),
        Err(_) => Err(format!(
            "{s:?}: expected a number of endpoint records from 1 to {}",
            wsd::san::layout::MAX_CAPACITY
        )),
    }
}

fn say(json: bool, value: Value, text: impl FnOnce() -> String) -> i32 {
    if json {
        outln!("{value}");
    } else {
        outln!("{}", text());
    }
    0
}

fn fault(seg: &Segment, aim: &Aim, fault: Fault, json: bool) -> i32 {
    let target = match aim.target.as_deref().map(|t| (t, Target::parse(t))) {
        None => None,
        Some((_, Some(t))) => Some(t),
        Some((t, None)) => {
            return fail(
                USAGE,
                format_args!("target {t:?}: expected an endpoint id or ADDR:PORT"),
            );
        }
    };
    if target.is_none() && aim.program.is_none() && aim.pid.is_none() {
        return fail(
            USAGE,
            "name the connections: an endpoint id or ADDR:PORT, --program NAME or --pid PID",
        );
    }
    let sel = Selector {
        target,
        port: None,
        program: aim.program.clone(),
        pid: aim.pid,
    };
    seg.reap();
    let records = seg.select(&sel);
    if records.is_empty() {
        return fail(
            USAGE,
            format_args!(
                "no live SAN connection matches {} in SAN {:?}",
                sel.describe(),
                seg.name()
            ),
        );
    }
    let hit = seg.inject(fault, &records, &sel.describe());
    delivered(seg, fault, Fault::name(fault.code()), &hit, json)
}

/// Waits until the processes holding the hit sockets acted on them, then says
/// what was hit (each connection, both ends) and what no process took up.
fn delivered(seg: &Segment, fault: Fault, what: &str, hit: &Injected, json: bool) -> i32 {
    // As they were when hit: a program that sees the fault may close the socket
    // at once.
    let ends: Vec<Value> = hit
        .ends
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "pid": e.pid,
                "program": e.program(),
                "fd": e.fd,
                "role": EndpointRole::from_raw(e.role).map_or("?", EndpointRole::name),
                "local": e.local.map_or("-".to_string(), |a| a.to_string()),
                "peer": e.peer.map_or("-".to_string(), |a| a.to_string()),
                "peer_id": e.peer_id,
            })
        })
        .collect();
    let unreached = seg.wait_acted(hit.seq, &hit.ids, ACT_WITHIN);
    if !unreached.is_empty() {
        let ids: Vec<String> = unreached.iter().map(u64::to_string).collect();
        eprintln!(
            "wsd: warning: no process holding endpoint {} acted on the {} within {} s \
             (a holder without the library, or stopped)",
            ids.join(", "),
            Fault::name(fault.code()),
            ACT_WITHIN.as_secs()
        );
    }
    say(
        json,
        json!({"san": seg.name(), "fault": Fault::name(fault.code()), "seq": hit.seq,
               "endpoints": hit.ids, "hit": ends, "unreached": unreached}),
        || {
            let mut text = format!(
                "{what}: {} endpoint{} hit (fault {})",
                hit.ids.len(),
                if hit.ids.len() == 1 { "" } else { "s" },
                hit.seq
            );
            for e in &ends {
                let _ = write!(
                    text,
                    "\n  endpoint {:>5}  {:<15} pid {:<7} fd {:<4} {:<9} {} -> {}",
                    e["id"],
                    e["program"].as_str().unwrap_or(""),
                    e["pid"],
                    e["fd"],
                    e["role"].as_str().unwrap_or(""),
                    e["local"].as_str().unwrap_or(""),
                    e["peer"].as_str().unwrap_or("")
                );
            }
            text
        },
    )
}

fn conn_name(state: Connection) -> &'static str {
    match state {
        Connection::Healthy => "healthy",
        Connection::KeepAliveFailed => "keepalive-failed",
        Connection::Reset => "reset",
    }
}

fn addr(slot: &wsd::san::layout::AddrSlot) -> String {
    slot.load().map_or("-".to_string(), |a| a.to_string())
}

/// Endpoint rows `status` prints in text unless `--limit` says otherwise.
const DEFAULT_LIMIT: usize = 50;

/// The roles, in the order the summary counts them.
const ROLES: [EndpointRole; 6] = [
    EndpointRole::Listener,
    EndpointRole::Connector,
    EndpointRole::Accepted,
    EndpointRole::Adopted,
    EndpointRole::Direct,
    EndpointRole::Candidate,
];

/// The connection states, in the order the summary counts them.
const STATES: [Connection; 3] = [
    Connection::Healthy,
    Connection::KeepAliveFailed,
    Connection::Reset,
];

/// `status --state`: the values of the state column.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StateArg {
    /// No fault met (listeners, which have no connection, are healthy too).
    Healthy,
    /// The connection's keep-alive failed (`wsd san keepalive-fail`).
    KeepaliveFailed,
    /// The connection was reset (`wsd san reset`, an abortive close, a dead peer).
    Reset,
}

impl StateArg {
    fn connection(self) -> Connection {
        match self {
            StateArg::Healthy => Connection::Healthy,
            StateArg::KeepaliveFailed => Connection::KeepAliveFailed,
            StateArg::Reset => Connection::Reset,
        }
    }
}

/// `status --role`: the values of the role column.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RoleArg {
    /// Listening sockets.
    Listener,
    /// Sockets that connected.
    Connector,
    /// Sockets returned by accept.
    Accepted,
    /// Sockets named in WSD_FDS.
    Adopted,
    /// Sockets first used through WSPSetSockOpt/WSPGetSockOpt.
    Direct,
    /// Candidates a fork shared, whose remembered values live in the segment.
    Candidate,
}

impl RoleArg {
    fn role(self) -> EndpointRole {
        match self {
            RoleArg::Listener => EndpointRole::Listener,
            RoleArg::Connector => EndpointRole::Connector,
            RoleArg::Accepted => EndpointRole::Accepted,
            RoleArg::Adopted => EndpointRole::Adopted,
            RoleArg::Direct => EndpointRole::Direct,
            RoleArg::Candidate => EndpointRole::Candidate,
        }
    }
}

#[derive(Args)]
pub struct StatusArgs {
    /// Endpoint rows to print, after the filters: 50 by default in text, every row
    /// with --json; 0 prints every row. The summary says how many were left out.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Only endpoints whose program, or a process holding them now, is named NAME:
    /// an exact name or a shell glob (`*`, `?`, `[...]`; quote it), e.g. 'postgres*'.
    /// Names are the kernel's process names (/proc/PID/comm, at most 15 bytes).
    #[arg(long, value_name = "NAME")]
    program: Option<String>,
    /// Only endpoints with PORT at either end: their local or their peer address.
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
    /// Only endpoints in this connection state (the state column).
    #[arg(long, value_enum, value_name = "STATE")]
    state: Option<StateArg>,
    /// Only endpoints with this role (the role column); listening sockets: --role listener.
    #[arg(long, value_enum, value_name = "ROLE")]
    role: Option<RoleArg>,
}

impl StatusArgs {
    fn filtering(&self) -> bool {
        self.program.is_some() || self.port.is_some() || self.state.is_some() || self.role.is_some()
    }

    /// The filters as given, for the summary.
    fn describe(&self) -> String {
        let mut words = Vec::new();
        if let Some(p) = &self.program {
            words.push(format!("--program {p}"));
        }
        if let Some(p) = self.port {
            words.push(format!("--port {p}"));
        }
        if let Some(s) = self.state {
            words.push(format!("--state {}", conn_name(s.connection())));
        }
        if let Some(r) = self.role {
            words.push(format!("--role {}", r.role().name()));
        }
        words.join(" ")
    }

    fn keeps(&self, e: &Entry, procs: &mut Procs) -> bool {
        if let Some(port) = self.port {
            let at = |slot: &wsd::san::layout::AddrSlot| slot.load().is_some_and(|a| a.port() == port);
            if !at(&e.rec.local) && !at(&e.rec.peer) {
                return false;
            }
        }
        if self.state.is_some_and(|s| s.connection() != e.state) {
            return false;
        }
        if self.role.is_some_and(|r| e.rec.role() != Some(r.role())) {
            return false;
        }
        match &self.program {
            None => true,
            Some(pattern) => {
                let matches = |name: &str| name == pattern || glob(pattern, name);
                matches(&procs.program(e))
                    || e.holders
                        .iter()
                        .any(|&h| procs.identity(h).is_some_and(|p| matches(&p.name)))
            }
        }
    }
}

/// What `/proc/PID/stat` says about a running process: when it started (clock
/// ticks after boot, as in holder identities) and its name — the `comm` of its
/// thread-group leader, as `/proc/PID/comm` gives it, not that of whichever
/// thread made a socket.
struct Proc {
    start: u64,
    name: String,
}

/// Processes looked up in `/proc`, each once (one open and read per pid, however
/// many endpoints it holds).
#[derive(Default)]
struct Procs(HashMap<u32, Option<Proc>>);

impl Procs {
    fn pid(&mut self, pid: u32) -> Option<&Proc> {
        self.0.entry(pid).or_insert_with(|| read_proc(pid)).as_ref()
    }

    /// The process with this holder identity, if it still runs (the same pid and
    /// start time).
    fn identity(&mut self, identity: u64) -> Option<&Proc> {
        let want = identity_start(identity);
        self.pid(identity_pid(identity))
            .filter(|p| want == 0 || identity_start(p.start) == want)
    }

    /// The program column: the name of the process that made the endpoint while it
    /// runs, else the name the record was made with (the creating thread's).
    fn program(&mut self, e: &Entry) -> String {
        let pid = e.rec.pid.load(Relaxed);
        let holders = &e.holders;
        let creator = match holders.iter().find(|&&h| identity_pid(h) == pid) {
            // It holds the socket still: its identity tells it from a reused pid.
            Some(&own) => self.identity(own),
            // It let go (a server that handed the socket to a forked child). Holders
            // got the socket from it, so they started after it did: a process at
            // its pid that started later than a holder reuses a dead creator's pid.
            None => self.pid(pid).filter(|p| {
                holders.iter().all(|&h| {
                    let since = identity_start(h);
                    since == 0 || identity_start(p.start) <= since
                })
            }),
        };
        creator.map_or_else(|| e.rec.comm(), |p| p.name.clone())
    }

    /// The holders, as (pid, name while it runs).
    fn held_by(&mut self, e: &Entry) -> Vec<(u32, Option<String>)> {
        e.holders
            .iter()
            .map(|&h| (identity_pid(h), self.identity(h).map(|p| p.name.clone())))
            .collect()
    }
}

fn read_proc(pid: u32) -> Option<Proc> {
    if pid == 0 {
        return None;
    }
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    // The name may hold any bytes, parentheses among them: it ends at the last ')',
    // and the fields after it are ASCII.
    let open = stat.iter().position(|&b| b == b'(')?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let name = String::from_utf8_lossy(stat.get(open + 1..close)?).into_owned();
    let mut fields = std::str::from_utf8(stat.get(close + 2..)?).ok()?.split(' ');
    if matches!(fields.next()?, "Z" | "X" | "x") {
        return None;
    }
    let start = fields.nth(18)?.parse().ok()?;
    Some(Proc { start, name })
}

/// One live endpoint, with what is read from it more than once read once.
struct Entry<'a> {
    rec: &'a Record,
    holders: Vec<u64>,
    state: Connection,
}

/// The whole segment, whatever the filters.
struct Summary {
    live: usize,
    roles: [u64; ROLES.len()],
    states: [u64; STATES.len()],
    /// Distinct processes in holder slots.
    processes: usize,
    /// Holders counted beyond the slots, whose identity is not known.
    unidentified: u64,
    report_rows: u32,
}

impl Summary {
    fn of(seg: &Segment, entries: &[Entry]) -> Summary {
        let mut roles = [0; ROLES.len()];
        let mut states = [0; STATES.len()];
        let mut pids = HashSet::new();
        let mut unidentified = 0;
        for e in entries {
            if let Some(i) = e.rec.role().and_then(|r| ROLES.iter().position(|&x| x == r)) {
                roles[i] += 1;
            }
            if let Some(i) = STATES.iter().position(|&s| s == e.state) {
                states[i] += 1;
            }
            pids.extend(e.holders.iter().map(|&h| identity_pid(h)));
            unidentified += u64::from(e.rec.extra_holders.load(Relaxed));
        }
        let report_rows = (0..REPORT_ROWS)
            .filter_map(|i| seg.row(i))
            .filter(|r| r.state.load(Relaxed) != ROW_EMPTY)
            .count() as u32;
        Summary {
            live: entries.len(),
            roles,
            states,
            processes: pids.len(),
            unidentified,
            report_rows,
        }
    }

    fn roles_json(&self) -> Value {
        let map = ROLES
            .iter()
            .zip(self.roles)
            .map(|(r, n)| (r.name().to_string(), Value::from(n)));
        Value::Object(map.collect())
    }

    fn states_json(&self) -> Value {
        let map = STATES
            .iter()
            .zip(self.states)
            .map(|(&s, n)| (conn_name(s).to_string(), Value::from(n)));
        Value::Object(map.collect())
    }

    fn counts<T>(names: impl Iterator<Item = T>, counts: &[u64]) -> String
    where
        T: std::fmt::Display,
    {
        names
            .zip(counts)
            .map(|(name, n)| format!("{n} {name}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One endpoint in `status --json` (serialized straight from this struct, not
/// through a map per endpoint: tens of thousands of them stay fast).
#[derive(Serialize)]
struct EndpointJson {
    id: u64,
    pid: u32,
    program: String,
    /// The name the record was made with: the creating thread's.
    comm: String,
    fd: i32,
    role: &'static str,
    local: Option<String>,
    peer: Option<String>,
    state: &'static str,
    peer_id: u64,
    so_debug: u32,
    group_priority: i32,
    holders: Vec<u32>,
    held_by: Vec<HolderJson>,
    extra_holders: u32,
    sets: u64,
    gets: u64,
    set_errors: u64,
    get_errors: u64,
    provider_refusals: u64,
}

#[derive(Serialize)]
struct HolderJson {
    pid: u32,
    program: Option<String>,
}

impl EndpointJson {
    fn of(e: &Entry, procs: &mut Procs) -> EndpointJson {
        let rec = e.rec;
        EndpointJson {
            id: rec.id.load(Relaxed),
            pid: rec.pid.load(Relaxed),
            program: procs.program(e),
            comm: rec.comm(),
            fd: rec.fd.load(Relaxed),
            role: rec.role().map_or("?", |r| r.name()),
            local: rec.local.load().map(|a| a.to_string()),
            peer: rec.peer.load().map(|a| a.to_string()),
            state: conn_name(e.state),
            peer_id: rec.peer_id.load(Relaxed),
            so_debug: rec.so_debug.load(Relaxed),
            group_priority: rec.group_priority.load(Relaxed),
            holders: e.holders.iter().map(|&h| identity_pid(h)).collect(),
            held_by: procs
                .held_by(e)
                .into_iter()
                .map(|(pid, program)| HolderJson { pid, program })
                .collect(),
            extra_holders: rec.extra_holders.load(Relaxed),
            sets: rec.sets.load(Relaxed),
            gets: rec.gets.load(Relaxed),
            set_errors: rec.set_errors.load(Relaxed),
            get_errors: rec.get_errors.load(Relaxed),
            provider_refusals: rec.provider_refusals.load(Relaxed),
        }
    }
}

/// The whole `status --json` document.
#[derive(Serialize)]
struct StatusJson<'a> {
    san: &'a str,
    capacity: u32,
    network: &'static str,
    live: usize,
    summary: Value,
    stats: Value,
    reaped: Value,
    endpoints: Vec<EndpointJson>,
}

/// The holders column: `PID/NAME` of each holder (`PID/?` for one that is gone
/// and not reclaimed yet), `+N` for holders without identity, `-` for none.
fn holders_text(e: &Entry, procs: &mut Procs) -> String {
    let mut words: Vec<String> = procs
        .held_by(e)
        .into_iter()
        .map(|(pid, name)| format!("{pid}/{}", name.as_deref().unwrap_or("?")))
        .collect();
    let extra = e.rec.extra_holders.load(Relaxed);
    if extra > 0 {
        words.push(format!("+{extra}"));
    }
    if words.is_empty() {
        "-".to_string()
    } else {
        words.join(",")
    }
}

fn status(seg: &Segment, args: &StatusArgs, json: bool) -> i32 {
    let reaped: Reaped = seg.reap();
    let h = seg.header();
    let s = &h.stats;
    let network = if seg.network_down() { "down" } else { "up" };
    let entries: Vec<Entry> = seg
        .live()
        .map(|(_, rec)| Entry {
            rec,
            holders: rec.holder_identities().collect(),
            state: rec.connection_state(),
        })
        .collect();
    let summary = Summary::of(seg, &entries);
    let mut procs = Procs::default();
    // 0, or none given with --json: every row.
    let limit = match args.limit.unwrap_or(if json { 0 } else { DEFAULT_LIMIT }) {
        0 => usize::MAX,
        n => n,
    };
    let mut matched = 0;
    let mut shown: Vec<&Entry> = Vec::new();
    for e in &entries {
        if !args.filtering() || args.keeps(e, &mut procs) {
            matched += 1;
            if shown.len() < limit {
                shown.push(e);
            }
        }
    }
    let omitted = matched - shown.len();
    let live = &entries;
    if json {
        let doc = StatusJson {
            san: seg.name(),
            capacity: seg.capacity(),
            network,
            live: live.len(),
            summary: json!({
                "san": seg.name(),
                "capacity": seg.capacity(),
                "network": network,
                "live": summary.live,
                "roles": summary.roles_json(),
                "states": summary.states_json(),
                "processes": summary.processes,
                "unidentified_holders": summary.unidentified,
                "report_rows": {"used": summary.report_rows, "capacity": REPORT_ROWS},
                "filters": {
                    "program": args.program,
                    "port": args.port,
                    "state": args.state.map(|s| conn_name(s.connection())),
                    "role": args.role.map(|r| r.role().name()),
                },
                "limit": (limit != usize::MAX).then_some(limit),
                "matched": matched,
                "shown": shown.len(),
                "omitted": omitted,
            }),
            stats: json!({
                "endpoints_created": s.endpoints_created.load(Relaxed),
                "fallback_down": s.fallback_down.load(Relaxed),
                "fallback_full": s.fallback_full.load(Relaxed),
                "fallback_replay": s.fallback_replay.load(Relaxed),
                "sets": live.iter().map(|e| e.rec.sets.load(Relaxed)).sum::<u64>(),
                "gets": live.iter().map(|e| e.rec.gets.load(Relaxed)).sum::<u64>(),
                "provider_refusals": live.iter().map(|e| e.rec.provider_refusals.load(Relaxed)).sum::<u64>(),
            }),
            reaped: json!({"holders": reaped.holders, "endpoints": reaped.endpoints, "claims": reaped.claims}),
            endpoints: shown.iter().map(|e| EndpointJson::of(e, &mut procs)).collect(),
        };
        // Serialized first, then written at once: one write, not one per kilobyte.
        let doc = serde_json::to_string(&doc).unwrap_or_default();
        outln!("{doc}");
        return 0;
    }
    // The whole text is written at once: one write, however many rows.
    let mut t = String::new();
    let _ = writeln!(
        t,
        "SAN {:?}: network {network}, {} of {} endpoints live, {} created; fallbacks to TCP: {} network down, {} table full, {} replay refused",
        seg.name(),
        live.len(),
        seg.capacity(),
        s.endpoints_created.load(Relaxed),
        s.fallback_down.load(Relaxed),
        s.fallback_full.load(Relaxed),
        s.fallback_replay.load(Relaxed),
    );
    if reaped != Reaped::default() {
        let _ = writeln!(
            t,
            "reclaimed: {} endpoints whose sockets are gone, {} dead holders, {} abandoned claims",
            reaped.endpoints, reaped.holders, reaped.claims
        );
    }
    let _ = writeln!(
        t,
        "  roles: {}",
        Summary::counts(ROLES.iter().map(|r| r.name()), &summary.roles)
    );
    let _ = writeln!(
        t,
        "  states: {}",
        Summary::counts(STATES.iter().map(|&s| conn_name(s)), &summary.states)
    );
    let unidentified = match summary.unidentified {
        0 => String::new(),
        n => format!(" (and {n} holders without identity)"),
    };
    let _ = writeln!(
        t,
        "  processes holding endpoints: {}{unidentified}; report rows used: {} of {REPORT_ROWS}",
        summary.processes, summary.report_rows
    );
    let of = if args.filtering() {
        format!("{matched} matching {}", args.describe())
    } else {
        matched.to_string()
    };
    let more = match omitted {
        0 => String::new(),
        n => format!("; {n} not shown (--limit 0 shows all)"),
    };
    let _ = writeln!(t, "  endpoints shown: {} of {of}{more}", shown.len());
    if !shown.is_empty() {
        let _ = writeln!(
            t,
            "{:>5} {:>7} {:<15} {:>4} {:<9} {:<22} {:<22} {:<16} {:>5} {:>5} {:>5} {:>6} {:>6} holders",
            "id",
            "pid",
            "program",
            "fd",
            "role",
            "local",
            "peer",
            "state",
            "peer",
            "debug",
            "prio",
            "sets",
            "gets"
        );
    }
    for e in shown {
        let r = e.rec;
        let peer_id = r.peer_id.load(Relaxed);
        let _ = writeln!(
            t,
            "{:>5} {:>7} {:<15} {:>4} {:<9} {:<22} {:<22} {:<16} {:>5} {:>5} {:>5} {:>6} {:>6} {}",
            r.id.load(Relaxed),
            r.pid.load(Relaxed),
            procs.program(e),
            r.fd.load(Relaxed),
            r.role().map_or("?", |r| r.name()),
            addr(&r.local),
            addr(&r.peer),
            conn_name(e.state),
            if peer_id == 0 {
                "-".to_string()
            } else {
                peer_id.to_string()
            },
            r.so_debug.load(Relaxed),
            r.group_priority.load(Relaxed),
            r.sets.load(Relaxed),
            r.gets.load(Relaxed),
            holders_text(e, &mut procs),
        );
    }
    super::out(format_args!("{t}"), false);
    0
}

fn check(seg: &Segment, json: bool) -> i32 {
    seg.reap();
    report_violations(seg.name(), &seg.check(), json)
}

fn report_violations(name: &str, violations: &[String], json: bool) -> i32 {
    if json {
        outln!(
            "{}",
            json!({"san": name, "ok": violations.is_empty(), "violations": violations})
        );
    } else if violations.is_empty() {
        outln!("SAN {name:?}: no violation");
    } else {
        for v in violations {
            outln!("SAN {name:?}: {v}");
        }
    }
    i32::from(!violations.is_empty())
}
