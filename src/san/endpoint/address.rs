//! A socket address in a record's words ([`AddrSlot`]): stored as six words, an
//! IPv4-mapped IPv6 address as IPv4, so that the two ends of one connection name
//! each other the same way, and read back.

use crate::san::layout::AddrSlot;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;

impl AddrSlot {
    /// Stores `addr`; an IPv4-mapped IPv6 address is stored as IPv4, so that the two
    /// ends of one connection name each other the same way.
    pub fn store(&self, addr: Option<SocketAddr>) {
        self.store_words(addr.map_or([0; 6], encode));
    }

    fn store_words(&self, words: [u32; 6]) {
        for (slot, w) in self.0.iter().zip(words) {
            slot.store(w, Relaxed);
        }
    }

    pub fn words(&self) -> [u32; 6] {
        std::array::from_fn(|i| self.0[i].load(Relaxed))
    }

    pub fn load(&self) -> Option<SocketAddr> {
        decode(self.words())
    }
}

/// The six words an address is stored as (see [`AddrSlot`]).
pub fn encode(a: SocketAddr) -> [u32; 6] {
    let ip = a.ip().to_canonical();
    let (family, bytes, scope) = match (ip, a) {
        (IpAddr::V4(v4), _) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v4.octets());
            (libc::AF_INET as u32, b, 0)
        }
        (IpAddr::V6(v6), SocketAddr::V6(s)) => (libc::AF_INET6 as u32, v6.octets(), s.scope_id()),
        (IpAddr::V6(v6), SocketAddr::V4(_)) => (libc::AF_INET6 as u32, v6.octets(), 0),
    };
    let w = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    [family << 16 | u32::from(a.port()), w(0), w(4), w(8), w(12), scope]
}

fn decode(w: [u32; 6]) -> Option<SocketAddr> {
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
