//! Faults injected into the SAN from outside (SPEC §5, `wsd san down|up|reset|
//! keepalive-fail`): the network state, and a connection's state on both ends.
//! A target is an endpoint id or `ADDR:PORT`, either end of a connection.

use super::layout::{NETWORK_DOWN, NETWORK_UP, Record};
use super::segment::Segment;
use crate::model::provider::Connection;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::{Relaxed, Release};

/// What `reset`/`keepalive-fail` aim at.
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

impl Segment {
    pub fn set_network(&self, up: bool) {
        self.header()
            .network
            .store(if up { NETWORK_UP } else { NETWORK_DOWN }, Release);
    }

    /// The live endpoint a target names: by id, or the one whose local address is
    /// `ADDR:PORT` (an accepted socket before its listener, which shares the port).
    pub fn find(&self, target: Target) -> Option<&Record> {
        match target {
            Target::Id(id) => self.by_id(id).map(|(_, r)| r),
            Target::Addr(a) => {
                let words = super::endpoint::encode(a);
                let mut matches = self.live().map(|(_, r)| r).filter(|r| r.local.words() == words);
                let first = matches.next()?;
                Some(
                    std::iter::once(first)
                        .chain(matches)
                        .find(|r| r.peer_id.load(Relaxed) != 0 || r.peer.words()[0] != 0)
                        .unwrap_or(first),
                )
            }
        }
    }

    /// Puts the connection of `rec` into `state` on both ends; returns the ids
    /// affected.
    pub fn fault(&self, rec: &Record, state: Connection) -> Vec<u64> {
        rec.set_connection(state);
        let mut ids = vec![rec.id.load(Relaxed)];
        if let Some((peer, _)) = self.peer_of(rec) {
            peer.set_connection(state);
            ids.push(peer.id.load(Relaxed));
        }
        ids
    }
}
