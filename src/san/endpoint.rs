//! Endpoint records: claiming, filling, reading and releasing them (SPEC §5).
//!
//! The scheme is lock-free. A record is claimed by one compare-and-swap of its
//! `state` from FREE to CLAIMED; the claimer fills it in and publishes it with a
//! release store of LIVE. Every reference a process keeps is (index, id), and the
//! id is checked on each use, so a record that was released and reused is never
//! mistaken for the old one. `holders` counts the processes that hold the socket;
//! the one that drops it to zero clears the id and frees the record. Option values
//! and counters are single atomics: setting or reading an option touches only that
//! endpoint's record.

use super::layout::{
    AddrSlot, CONN_HEALTHY, CONN_KEEPALIVE_FAILED, CONN_RESET, EndpointRole, NETWORK_DOWN, Record,
    STATE_CLAIMED, STATE_FREE, STATE_LIVE,
};
use super::segment::Segment;
use crate::model::OptionId;
use crate::model::provider::Connection;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

/// A process's handle on a record: its index and the low 32 bits of the id it had
/// when taken (its tag), so that a freed and reused record is told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointRef {
    pub index: u32,
    pub tag: u32,
}

/// What a new record starts with.
#[derive(Clone, Copy, Debug)]
pub struct NewEndpoint {
    pub pid: u32,
    pub start_time: u64,
    pub fd: i32,
    pub role: EndpointRole,
    pub local: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
    pub comm: [u8; 16],
}

impl AddrSlot {
    pub fn store(&self, addr: Option<SocketAddr>) {
        let words = match addr {
            None => [0; 6],
            Some(a) => {
                let (family, bytes, scope) = match a {
                    SocketAddr::V4(v4) => {
                        let mut b = [0u8; 16];
                        b[..4].copy_from_slice(&v4.ip().octets());
                        (libc::AF_INET as u32, b, 0)
                    }
                    SocketAddr::V6(v6) => (libc::AF_INET6 as u32, v6.ip().octets(), v6.scope_id()),
                };
                let w = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
                [family << 16 | u32::from(a.port()), w(0), w(4), w(8), w(12), scope]
            }
        };
        for (slot, w) in self.0.iter().zip(words) {
            slot.store(w, Relaxed);
        }
    }

    pub fn load(&self) -> Option<SocketAddr> {
        let w: [u32; 6] = std::array::from_fn(|i| self.0[i].load(Relaxed));
        let mut bytes = [0u8; 16];
        for i in 0..4 {
            bytes[i * 4..i * 4 + 4].copy_from_slice(&w[i + 1].to_le_bytes());
        }
        let port = (w[0] & 0xffff) as u16;
        match (w[0] >> 16) as i32 {
            libc::AF_INET => Some(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
                port,
            )),
            libc::AF_INET6 => Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                Ipv6Addr::from(bytes),
                port,
                0,
                w[5],
            ))),
            _ => None,
        }
    }
}

impl Record {
    pub fn connection_state(&self) -> Connection {
        match self.connection.load(Acquire) {
            CONN_HEALTHY => Connection::Healthy,
            CONN_KEEPALIVE_FAILED => Connection::KeepAliveFailed,
            // Reset, or garbage: a connection we cannot read is not usable.
            _ => Connection::Reset,
        }
    }

    pub fn set_connection(&self, c: Connection) {
        let v = match c {
            Connection::Healthy => CONN_HEALTHY,
            Connection::KeepAliveFailed => CONN_KEEPALIVE_FAILED,
            Connection::Reset => CONN_RESET,
        };
        self.connection.store(v, Release);
    }

    /// The stored value of an option (SO_GROUP_ID is always 0, SPEC §3).
    pub fn option(&self, id: OptionId) -> i32 {
        match id {
            OptionId::Debug => (self.so_debug.load(Relaxed) != 0) as i32,
            OptionId::GroupId => 0,
            OptionId::GroupPriority => self.group_priority.load(Relaxed),
        }
    }

    pub fn store_option(&self, id: OptionId, value: i32) {
        match id {
            OptionId::Debug => self.so_debug.store(value as u32, Relaxed),
            OptionId::GroupId => {}
            OptionId::GroupPriority => self.group_priority.store(value, Relaxed),
        }
    }

    pub fn comm(&self) -> String {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.comm[0].load(Relaxed).to_le_bytes());
        b[8..].copy_from_slice(&self.comm[1].load(Relaxed).to_le_bytes());
        let end = b.iter().position(|&c| c == 0).unwrap_or(16);
        String::from_utf8_lossy(&b[..end]).into_owned()
    }

    pub fn role(&self) -> Option<EndpointRole> {
        EndpointRole::from_raw(self.role.load(Relaxed))
    }
}

impl Segment {
    pub fn network_down(&self) -> bool {
        self.header().network.load(Acquire) == NETWORK_DOWN
    }

    /// Claims a free record and fills it in; `None` when the table is full.
    pub fn allocate(&self, new: &NewEndpoint) -> Option<EndpointRef> {
        let cap = self.capacity();
        let h = self.header();
        let start = h.alloc_hint.load(Relaxed) % cap;
        for step in 0..cap {
            let index = (start + step) % cap;
            let rec = self.record(index)?;
            if rec.state.load(Relaxed) != STATE_FREE
                || rec
                    .state
                    .compare_exchange(STATE_FREE, STATE_CLAIMED, Acquire, Relaxed)
                    .is_err()
            {
                continue;
            }
            let id = h.next_id.fetch_add(1, Relaxed);
            rec.holders.store(1, Relaxed);
            rec.pid.store(new.pid, Relaxed);
            rec.start_time.store(new.start_time, Relaxed);
            rec.fd.store(new.fd, Relaxed);
            rec.role.store(new.role as u32, Relaxed);
            rec.connection.store(CONN_HEALTHY, Relaxed);
            rec.so_debug.store(0, Relaxed);
            rec.group_priority.store(0, Relaxed);
            rec.local.store(new.local);
            rec.peer.store(new.peer);
            rec.peer_id.store(0, Relaxed);
            rec.comm[0].store(
                u64::from_le_bytes(new.comm[..8].try_into().unwrap_or([0; 8])),
                Relaxed,
            );
            rec.comm[1].store(
                u64::from_le_bytes(new.comm[8..].try_into().unwrap_or([0; 8])),
                Relaxed,
            );
            for c in [
                &rec.sets,
                &rec.gets,
                &rec.set_errors,
                &rec.get_errors,
                &rec.provider_refusals,
            ] {
                c.store(0, Relaxed);
            }
            rec.id.store(id, Relaxed);
            rec.state.store(STATE_LIVE, Release);
            h.alloc_hint.store(index.wrapping_add(1), Relaxed);
            h.stats.endpoints_created.fetch_add(1, Relaxed);
            return Some(EndpointRef {
                index,
                tag: id as u32,
            });
        }
        None
    }

    /// The live record `ep` refers to, if it is still that endpoint.
    pub fn endpoint(&self, ep: EndpointRef) -> Option<&Record> {
        let rec = self.record(ep.index)?;
        (rec.state.load(Acquire) == STATE_LIVE && rec.id.load(Relaxed) as u32 == ep.tag).then_some(rec)
    }

    /// Another process now holds `ep` too (fork).
    pub fn hold(&self, ep: EndpointRef) -> bool {
        match self.endpoint(ep) {
            Some(rec) => {
                rec.holders.fetch_add(1, AcqRel);
                true
            }
            None => false,
        }
    }

    /// This process lets go of `ep`; the last holder frees the record.
    pub fn release(&self, ep: EndpointRef) {
        let Some(rec) = self.endpoint(ep) else { return };
        if rec.holders.fetch_sub(1, AcqRel) != 1 {
            return;
        }
        if rec
            .state
            .compare_exchange(STATE_LIVE, STATE_CLAIMED, Acquire, Relaxed)
            .is_ok()
        {
            rec.id.store(0, Relaxed);
            rec.state.store(STATE_FREE, Release);
        }
    }

    /// Live records, with their index.
    pub fn live(&self) -> impl Iterator<Item = (u32, &Record)> {
        self.records()
            .filter(|(_, r)| r.state.load(Acquire) == STATE_LIVE)
    }
}
