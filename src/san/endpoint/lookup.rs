//! Finding a live record: by a process's reference to it, by endpoint id, by
//! socket cookie, as a record's peer; and the scan of the live records, for the
//! tool and `check` (no call's path scans).

use super::EndpointRef;
use crate::san::index::Index;
use crate::san::layout::{Record, STATE_FREE, STATE_LIVE, STATE_MASK};
use crate::san::segment::Segment;
use std::sync::atomic::Ordering::{Acquire, Relaxed};

impl Segment {
    /// The live record `ep` refers to, if it is still that endpoint.
    pub fn endpoint(&self, ep: EndpointRef) -> Option<&Record> {
        let rec = self.record(ep.index)?;
        (rec.state.load(Acquire) & STATE_MASK == STATE_LIVE && rec.id.load(Relaxed) as u32 == ep.tag)
            .then_some(rec)
    }

    /// The live record with id `id`. A scan, for the tool (`wsd san reset ID`,
    /// `check`): calls find a record's peer through [`Segment::peer_of`].
    pub fn by_id(&self, id: u64) -> Option<(u32, &Record)> {
        if id == 0 {
            return None;
        }
        self.live().find(|(_, r)| r.id.load(Relaxed) == id)
    }

    /// `rec`'s peer record, if it is still the endpoint `rec` was paired with:
    /// its index is in `rec`, checked against the peer's id. With its state, live
    /// or (a claimer that died after pairing) claimed.
    pub fn peer_of(&self, rec: &Record) -> Option<(&Record, u32)> {
        let id = rec.peer_id.load(Acquire);
        let peer = self.record(rec.peer_index.load(Acquire).checked_sub(1)?)?;
        let state = peer.state.load(Acquire);
        (id != 0 && peer.id.load(Relaxed) == id && state & STATE_MASK != STATE_FREE).then_some((peer, state))
    }

    /// [`Segment::peer_of`], live only.
    pub(super) fn live_peer_of(&self, rec: &Record) -> Option<&Record> {
        self.peer_of(rec)
            .filter(|(_, state)| state & STATE_MASK == STATE_LIVE)
            .map(|(p, _)| p)
    }

    /// The live record of the socket with cookie `cookie`.
    pub fn by_cookie(&self, cookie: u64) -> Option<EndpointRef> {
        if cookie == 0 {
            return None;
        }
        let _lock = self.lock_index()?;
        self.find_in(Index::Cookie, cookie as u32, |r| {
            r.cookie.load(Relaxed) == cookie && r.state.load(Acquire) & STATE_MASK == STATE_LIVE
        })
        .map(|(index, r)| EndpointRef {
            index,
            tag: r.id.load(Relaxed) as u32,
        })
    }

    /// Live records, with their index, below the high-water mark (no record above
    /// it was ever handed out). For the tool and `check`: no call's path scans.
    pub fn live(&self) -> impl Iterator<Item = (u32, &Record)> {
        let high = self.header().high_water.load(Relaxed).min(self.capacity());
        (0..high)
            .filter_map(|i| self.record(i).map(|r| (i, r)))
            .filter(|(_, r)| r.state.load(Acquire) & STATE_MASK == STATE_LIVE)
    }
}
