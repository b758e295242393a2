//! Advice for a porting engineer on an option a bare SAN provider refuses (issue
//! 16): what the provider says, what the switch does with it, and what a port
//! usually does. Declared once, beside the option table (`options`) and the code
//! table (`codes`); the report's rows and `wsd options` show it.
//!
//! The first two parts follow from the model itself — the provider's checks
//! (`checks`) and the switch's routing (`routing`) — so they cannot disagree with
//! what the library answers; only what a port does is written here, per option,
//! with a fallback for the options the table does not name.

use super::checks::{self, Facts};
use super::codes::WsaError;
use super::names;
use super::options::Asked;
use super::routing::{self, Mode, Role, Route};

/// What a port usually does about one option the provider refuses.
pub struct PortAdvice {
    /// The option, in Linux numbering.
    pub level: i32,
    pub optname: i32,
    pub port: &'static str,
}

/// What a port does, said of more than one option.
const KEEPALIVE_TUNING: &str =
    "As SO_KEEPALIVE: keep-alive tuning has no meaning on the SAN; ignore the refusal.";
const BUFFERS: &str = "Buffer sizes are the provider's own on a SAN: drop the call, or treat the refusal as harmless and size buffers in the application.";
const TIMEOUTS: &str = "Use poll/select with a timeout (or non-blocking calls) instead of socket timeouts.";

/// What ports do, for the options programs commonly set (each entry is checked
/// to be an option the provider refuses).
pub const PORT_ADVICE: &[PortAdvice] = &[
    PortAdvice {
        level: libc::IPPROTO_TCP,
        optname: libc::TCP_NODELAY,
        port: "Harmless: a SAN has no Nagle delay to turn off. Treat WSAENOPROTOOPT from setsockopt(TCP_NODELAY) as success (redis-cli, psql and Java's Socket.setTcpNoDelay treat it as fatal).",
    },
    PortAdvice {
        level: libc::SOL_SOCKET,
        optname: libc::SO_KEEPALIVE,
        port: "The SAN detects dead peers itself (SPEC §2.2 row 7 reports a failed keep-alive as WSAENETRESET): ignore the refusal; do not rely on TCP keep-alive probes.",
    },
    PortAdvice {
        level: libc::IPPROTO_TCP,
        optname: libc::TCP_KEEPIDLE,
        port: KEEPALIVE_TUNING,
    },
    PortAdvice {
        level: libc::IPPROTO_TCP,
        optname: libc::TCP_KEEPINTVL,
        port: KEEPALIVE_TUNING,
    },
    PortAdvice {
        level: libc::IPPROTO_TCP,
        optname: libc::TCP_KEEPCNT,
        port: KEEPALIVE_TUNING,
    },
    PortAdvice {
        level: libc::SOL_SOCKET,
        optname: libc::SO_REUSEADDR,
        port: "Set it on the listening socket before bind, where TCP/IP (the kernel) answers it; a refusal on a connected SAN socket is harmless.",
    },
    PortAdvice {
        level: libc::SOL_SOCKET,
        optname: libc::SO_REUSEPORT,
        port: "Set it before bind, where TCP/IP answers it; a SAN socket cannot share a port this way.",
    },
    PortAdvice {
        level: libc::SOL_SOCKET,
        optname: libc::SO_SNDBUF,
        port: BUFFERS,
    },
    PortAdvice {
        level: libc::SOL_SOCKET,
        optname: libc::SO_RCVBUF,
        port: BUFFERS,
    },
    PortAdvice {
        level: libc::SOL_SOCKET,
        optname: libc::SO_LINGER,
        port: "Close behaviour is the provider's: an abortive close (linger 0) must be asked of the switch before the socket reaches the SAN; otherwise ignore the refusal.",
    },
    PortAdvice {
        level: libc::SOL_SOCKET,
        optname: libc::SO_RCVTIMEO,
        port: TIMEOUTS,
    },
    PortAdvice {
        level: libc::SOL_SOCKET,
        optname: libc::SO_SNDTIMEO,
        port: TIMEOUTS,
    },
    PortAdvice {
        level: libc::SOL_SOCKET,
        optname: libc::SO_ERROR,
        port: "Read the error from the failing call itself (its return and errno), not from SO_ERROR.",
    },
    PortAdvice {
        level: libc::SOL_SOCKET,
        optname: libc::SO_TYPE,
        port: "The program knows the socket's type: keep it rather than ask.",
    },
    PortAdvice {
        level: libc::IPPROTO_IPV6,
        optname: libc::IPV6_V6ONLY,
        port: "Decide the address family before the socket reaches the SAN (at bind, where TCP/IP answers).",
    },
    PortAdvice {
        level: libc::IPPROTO_IP,
        optname: libc::IP_TOS,
        port: "The SAN has no IP header to mark: drop the call or ignore the refusal.",
    },
];

/// What a port does with an option the table does not name.
const DEFAULT_PORT: &str = "Find out what the program needs the option for: a SAN provider knows only SO_DEBUG and the group options. Most ports drop the call on SAN sockets, or treat WSAENOPROTOOPT/WSAEINVAL from it as harmless.";

/// The advice for one option.
pub struct Advice {
    /// What a bare provider answers a `setsockopt` of it, and why.
    pub provider: String,
    /// What the switch does with it on a SAN socket.
    pub switch: String,
    /// What a port usually does.
    pub port: &'static str,
}

/// The advice for (`level`, `optname`) as a program sets it; None when the
/// provider accepts the option (it is one of its own).
pub fn advice(level: i32, optname: i32, groups: bool) -> Option<Advice> {
    let asked = Asked::new(level, optname);
    let code = checks::set_asked(&Facts::healthy(groups), &asked, 4, |_| Some(1i32.to_ne_bytes())).err()?;
    Some(Advice {
        provider: provider_says(code),
        switch: switch_does(&asked, groups),
        port: port_advice(level, optname),
    })
}

fn provider_says(code: WsaError) -> String {
    format!("{}: {}", code.name(), code.spec().text)
}

fn switch_does(asked: &Asked, groups: bool) -> String {
    match routing::route_set(Mode::Switch, Role::San, groups, asked) {
        Route::Kernel => "The switch hands it to TCP/IP (the kernel here), which answers it: in switch mode the program sees no refusal.".into(),
        Route::Switch => "The switch answers it itself and remembers the value.".into(),
        Route::Provider => "The switch passes it to the provider, whose answer the program sees.".into(),
    }
}

/// What a port does about (`level`, `optname`), in either numbering.
pub fn port_advice(level: i32, optname: i32) -> &'static str {
    let name = names::option(level, optname);
    PORT_ADVICE
        .iter()
        .find(|a| names::option(a.level, a.optname) == name)
        .map_or(DEFAULT_PORT, |a| a.port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_nodelay_is_refused_with_enoprotoopt_and_the_switch_hands_it_to_the_kernel() {
        let a = advice(libc::IPPROTO_TCP, libc::TCP_NODELAY, true).expect("refused");
        assert!(a.provider.starts_with("WSAENOPROTOOPT"), "{}", a.provider);
        assert!(a.switch.contains("TCP/IP"), "{}", a.switch);
        assert!(a.port.contains("Treat WSAENOPROTOOPT"), "{}", a.port);
    }

    #[test]
    fn the_providers_own_options_need_no_advice() {
        assert!(advice(libc::SOL_SOCKET, libc::SO_DEBUG, true).is_none());
        assert!(advice(0xffff, 0x2002, true).is_none());
    }

    #[test]
    fn every_entry_is_an_option_the_provider_refuses() {
        for a in PORT_ADVICE {
            let name = names::option(a.level, a.optname);
            assert!(advice(a.level, a.optname, true).is_some(), "{name} is refused");
            assert_eq!(port_advice(a.level, a.optname), a.port, "{name}");
        }
    }

    #[test]
    fn an_option_without_an_entry_gets_the_default() {
        assert_eq!(port_advice(libc::SOL_SOCKET, libc::SO_PRIORITY), DEFAULT_PORT);
    }
}
