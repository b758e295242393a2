//! Which endpoints a fault hits: a [`Target`] named on the command line (an
//! endpoint id or `ADDR:PORT`), and the [`Selector`] that holds it with a port, a
//! program and a pid, each optional.

use super::process_name;
use crate::san::layout::{Record, identity_pid};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;

/// A target named on the command line: an endpoint id or `ADDR:PORT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Id(u64),
    Addr(SocketAddr),
}

impl Target {
    pub fn parse(s: &str) -> Option<Target> {
        match s.parse::<u64>() {
            Ok(id) => Some(Target::Id(id)),
            Err(_) => s.parse::<SocketAddr>().ok().map(Target::Addr),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Id(id) => write!(f, "endpoint {id}"),
            Target::Addr(a) => write!(f, "{a}"),
        }
    }
}

/// Which connections a fault hits: those with an end that matches every part
/// given (none given: every connection).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    pub target: Option<Target>,
    /// Either end's port (`wsd run --fault …,port=N`).
    pub port: Option<u16>,
    pub program: Option<String>,
    pub pid: Option<u32>,
}

impl Selector {
    /// Does the endpoint `rec` match? (A connection is hit when either end does.)
    /// `names` keeps the process names read from /proc for this look over the
    /// table, each read once.
    pub fn matches(&self, rec: &Record, names: &mut HashMap<u32, Option<String>>) -> bool {
        let id_ok = match self.target {
            None => true,
            Some(Target::Id(id)) => rec.id.load(Relaxed) == id,
            // An unspecified address (0.0.0.0:P, [::]:P) stands for the port on
            // any address, as a wildcard listener does.
            Some(Target::Addr(a)) => rec
                .local
                .load()
                .is_some_and(|l| l.port() == a.port() && (a.ip().is_unspecified() || same_ip(l, a))),
        };
        let port_ok = self.port.is_none_or(|p| {
            rec.local.load().is_some_and(|l| l.port() == p) || rec.peer.load().is_some_and(|l| l.port() == p)
        });
        // The name the record was made with, or the name now of a process that
        // holds it (a child may have renamed itself since, as status shows).
        let program_ok = self.program.as_deref().is_none_or(|p| {
            rec.comm() == p
                || rec.holder_identities().any(|h| {
                    let pid = identity_pid(h);
                    names.entry(pid).or_insert_with(|| process_name(pid)).as_deref() == Some(p)
                })
        });
        let pid_ok = self.pid.is_none_or(|pid| {
            rec.pid.load(Relaxed) == pid || rec.holder_identities().any(|h| identity_pid(h) == pid)
        });
        id_ok && port_ok && program_ok && pid_ok
    }

    /// The words of the fault log's target text.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = self.target {
            parts.push(t.to_string());
        }
        if let Some(p) = self.port {
            parts.push(format!("port {p}"));
        }
        if let Some(p) = &self.program {
            parts.push(format!("program {p}"));
        }
        if let Some(p) = self.pid {
            parts.push(format!("pid {p}"));
        }
        if parts.is_empty() {
            "every connection".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// IPv4 and IPv4-mapped IPv6 compare equal (records store the mapped form as IPv4).
fn same_ip(a: SocketAddr, b: SocketAddr) -> bool {
    a.ip().to_canonical() == b.ip().to_canonical()
}
