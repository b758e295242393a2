//! The switch's routing (SPEC §4.2–4.3): for a socket in a given role and mode, who
//! answers a `setsockopt`/`getsockopt` — the kernel, the switch itself, or the
//! provider. Pure: the hooks act on the answer.

use super::checks::{Connection, Network};
use super::codes::WsaError;
use super::options::{Asked, OptionSpec};

/// `WSD_MODE` (SPEC §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Provider options go to `WSPSetSockOpt`; every other option to the kernel.
    #[default]
    Switch,
    /// Every option on a SAN socket goes to `WSPSetSockOpt`.
    Provider,
    /// Everything goes to the kernel; the other modes' answers are only recorded.
    Observe,
}

impl Mode {
    pub const ALL: [(&'static str, Mode); 3] = [
        ("switch", Mode::Switch),
        ("provider", Mode::Provider),
        ("observe", Mode::Observe),
    ];

    pub fn parse(s: &str) -> Option<Mode> {
        Self::ALL.iter().find(|(n, _)| *n == s).map(|(_, m)| *m)
    }

    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, m)| *m == self).map_or("?", |(n, _)| n)
    }
}

/// What the switch knows a tracked TCP socket to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Role not known yet; the rules could still send it to the SAN.
    Candidate,
    /// Handed to the provider.
    San,
    /// Ended up plain TCP while holding remembered provider-option values, which the
    /// switch keeps answering (as Windows' TCP/IP provider keeps them).
    PlainRemembering,
}

/// Who answers one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Passed to the kernel socket unchanged.
    Kernel,
    /// Answered by the switch from its own memory, validated as §2.2 rows 3–6.
    Switch,
    /// `WSPSetSockOpt`/`WSPGetSockOpt`.
    Provider,
}

/// Route of a `setsockopt` (SPEC §4.2, §4.3).
pub fn route_set(mode: Mode, role: Role, groups: bool, asked: &Asked) -> Route {
    route(mode, role, groups, asked.row.filter(|o| o.settable))
}

/// Route of a `getsockopt` (SPEC §4.3: provider options from the provider or the
/// switch's memory, every other option from the kernel).
pub fn route_get(mode: Mode, role: Role, groups: bool, asked: &Asked) -> Route {
    match (mode, role, asked.row) {
        (_, _, None) => Route::Kernel,
        // Only the provider itself says WSAENOPROTOOPT for group options with groups off.
        (Mode::Provider, Role::San, Some(_)) => Route::Provider,
        (_, _, opt) => route(mode, role, groups, opt),
    }
}

fn route(mode: Mode, role: Role, groups: bool, opt: Option<&OptionSpec>) -> Route {
    let Some(opt) = opt else {
        return match (mode, role) {
            (Mode::Provider, Role::San) => Route::Provider,
            _ => Route::Kernel,
        };
    };
    match (mode, role) {
        (Mode::Observe, _) => Route::Kernel,
        (_, Role::Candidate | Role::PlainRemembering) => Route::Switch,
        (Mode::Provider, Role::San) => Route::Provider,
        // With groups off, Windows hands group options to TCP/IP, which keeps them.
        (Mode::Switch, Role::San) if !opt.known_with(groups) => Route::Switch,
        (Mode::Switch, Role::San) => Route::Provider,
    }
}

/// The switch's look at the SAN before any `setsockopt` on a SAN socket in `switch`
/// and `provider` mode (SPEC §4.3): a fault reaches every option a program sets.
pub fn san_gate(network: Network, connection: Connection) -> Result<(), WsaError> {
    match (network, connection) {
        (Network::Down, _) => Err(WsaError::ENETDOWN),
        (Network::Up, Connection::KeepAliveFailed) => Err(WsaError::ENETRESET),
        (Network::Up, Connection::Reset) => Err(WsaError::ENOTCONN),
        (Network::Up, Connection::Healthy) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Route::*;

    const KEEPALIVE: i32 = libc::SO_KEEPALIVE;

    /// The route of a `setsockopt` of (`l`, `o`).
    fn set(m: Mode, r: Role, g: bool, l: i32, o: i32) -> Route {
        route_set(m, r, g, &Asked::new(l, o))
    }

    /// The route of a `getsockopt` of (`l`, `o`).
    fn get(m: Mode, r: Role, g: bool, l: i32, o: i32) -> Route {
        route_get(m, r, g, &Asked::new(l, o))
    }

    #[test]
    fn observe_sends_everything_to_the_kernel() {
        for role in [Role::Candidate, Role::San, Role::PlainRemembering] {
            for (l, o) in [(0xffff, 1), (1, 0x2002), (1, KEEPALIVE), (6, 1)] {
                assert_eq!(set(Mode::Observe, role, true, l, o), Kernel);
                assert_eq!(get(Mode::Observe, role, true, l, o), Kernel);
            }
        }
    }

    #[test]
    fn candidates_keep_provider_and_group_options_in_the_switch() {
        for mode in [Mode::Switch, Mode::Provider] {
            for groups in [true, false] {
                assert_eq!(set(mode, Role::Candidate, groups, 1, 1), Switch);
                assert_eq!(set(mode, Role::Candidate, groups, 0xffff, 0x2002), Switch);
                assert_eq!(get(mode, Role::Candidate, groups, 1, 0x2001), Switch);
                assert_eq!(set(mode, Role::Candidate, groups, 1, KEEPALIVE), Kernel);
                assert_eq!(set(mode, Role::Candidate, groups, 6, 1), Kernel);
            }
        }
        // SO_GROUP_ID is not settable: the kernel says what it says.
        assert_eq!(set(Mode::Switch, Role::Candidate, true, 1, 0x2001), Kernel);
    }

    #[test]
    fn san_socket_in_switch_mode() {
        assert_eq!(set(Mode::Switch, Role::San, true, 0xffff, 1), Provider);
        assert_eq!(set(Mode::Switch, Role::San, true, 1, 0x2002), Provider);
        assert_eq!(set(Mode::Switch, Role::San, false, 1, 0x2002), Switch);
        assert_eq!(get(Mode::Switch, Role::San, false, 1, 0x2001), Switch);
        assert_eq!(set(Mode::Switch, Role::San, true, 1, KEEPALIVE), Kernel);
        assert_eq!(set(Mode::Switch, Role::San, true, 6, 1), Kernel);
    }

    #[test]
    fn san_socket_in_provider_mode() {
        for groups in [true, false] {
            assert_eq!(set(Mode::Provider, Role::San, groups, 1, KEEPALIVE), Provider);
            assert_eq!(set(Mode::Provider, Role::San, groups, 6, 1), Provider);
            assert_eq!(set(Mode::Provider, Role::San, groups, 1, 0x2002), Provider);
            assert_eq!(get(Mode::Provider, Role::San, groups, 1, 0x2001), Provider);
            // Other options are read from the kernel (SPEC §4.3).
            assert_eq!(get(Mode::Provider, Role::San, groups, 1, KEEPALIVE), Kernel);
        }
    }

    #[test]
    fn gate_order() {
        use Connection::*;
        assert_eq!(san_gate(Network::Down, Reset), Err(WsaError::ENETDOWN));
        assert_eq!(san_gate(Network::Up, KeepAliveFailed), Err(WsaError::ENETRESET));
        assert_eq!(san_gate(Network::Up, Reset), Err(WsaError::ENOTCONN));
        assert_eq!(san_gate(Network::Up, Healthy), Ok(()));
    }

    #[test]
    fn mode_names_round_trip() {
        for (n, m) in Mode::ALL {
            assert_eq!(Mode::parse(n), Some(m));
            assert_eq!(m.name(), n);
        }
        assert_eq!(Mode::parse("fast"), None);
    }
}
