//! Which endpoint rows `wsd san status` shows: `--program`, `--port`, `--state`
//! and `--role`, all of which must match (the summary covers the whole segment
//! whatever they say).

use super::procs::Procs;
use super::{Entry, StatusArgs, conn_name};
use clap::ValueEnum;
use wsd::config::rules::glob;
use wsd::model::checks::Connection;
use wsd::san::EndpointRole;

/// `status --state`: the values of the state column.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum StateArg {
    /// No fault met (listeners, which have no connection, are healthy too).
    Healthy,
    /// The connection's keep-alive failed (`wsd san keepalive-fail`).
    KeepaliveFailed,
    /// The connection was reset (`wsd san reset`, an abortive close, a dead peer).
    Reset,
}

impl StateArg {
    pub(super) fn connection(self) -> Connection {
        match self {
            StateArg::Healthy => Connection::Healthy,
            StateArg::KeepaliveFailed => Connection::KeepAliveFailed,
            StateArg::Reset => Connection::Reset,
        }
    }
}

/// `status --role`: the values of the role column.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum RoleArg {
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
    pub(super) fn role(self) -> EndpointRole {
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

impl StatusArgs {
    pub(super) fn filtering(&self) -> bool {
        self.program.is_some() || self.port.is_some() || self.state.is_some() || self.role.is_some()
    }

    /// The filters as given, for the summary.
    pub(super) fn describe(&self) -> String {
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

    pub(super) fn keeps(&self, e: &Entry, procs: &mut Procs) -> bool {
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
