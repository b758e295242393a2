//! The provider's error codes: one table ([`CODES`]) that every other part of wsd
//! reads — the errno mapping, `wsd errors`, `wsd_strerror()` and the header test.
//!
//! Source: SPEC §2.3, which follows Microsoft's "WSPSetSockOpt function" (SAN,
//! ff566318) for the descriptions and Linux x86-64 `errno.h` for the counterparts.

/// One Winsock error code the provider may answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WsaError(i32);

/// A row of the code table.
#[derive(Clone, Copy, Debug)]
pub struct CodeSpec {
    /// The Winsock constant's name, as `include/wsd.h` spells it.
    pub name: &'static str,
    pub code: WsaError,
    /// The Linux errno the interposed calls set for it.
    pub errno: i32,
    /// The errno's name, for tables.
    pub errno_name: &'static str,
    /// The seed page's description.
    pub text: &'static str,
}

impl WsaError {
    pub const ENETDOWN: WsaError = WsaError(10050);
    pub const EFAULT: WsaError = WsaError(10014);
    pub const EINVAL: WsaError = WsaError(10022);
    pub const ENETRESET: WsaError = WsaError(10052);
    pub const ENOPROTOOPT: WsaError = WsaError(10042);
    pub const ENOTCONN: WsaError = WsaError(10057);
    pub const ENOTSOCK: WsaError = WsaError(10038);

    /// The Winsock number (`WSAE…`).
    pub const fn code(self) -> i32 {
        self.0
    }

    /// The row of [`CODES`] for this code. Every `WsaError` value has one: the
    /// constructor is private and the constants above are exactly the table's codes
    /// (a unit test holds the two together).
    pub fn spec(self) -> &'static CodeSpec {
        CODES.iter().find(|row| row.code == self).unwrap_or(&CODES[0])
    }

    /// The Linux errno the switch sets for this code.
    pub fn errno(self) -> i32 {
        self.spec().errno
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The code for a Winsock number, if it is one of the provider's.
    pub fn from_code(code: i32) -> Option<WsaError> {
        CODES.iter().find(|row| row.code.0 == code).map(|row| row.code)
    }

    /// The code whose Linux counterpart is `errno`, if any.
    pub fn from_errno(errno: i32) -> Option<WsaError> {
        CODES.iter().find(|row| row.errno == errno).map(|row| row.code)
    }
}

impl std::fmt::Display for WsaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// `SOCKET_ERROR`: what the provider functions return on failure.
pub const SOCKET_ERROR: i32 = -1;

/// The provider's codes, in the seed page's order.
pub const CODES: &[CodeSpec] = &[
    CodeSpec {
        name: "WSAENETDOWN",
        code: WsaError::ENETDOWN,
        errno: libc::ENETDOWN,
        errno_name: "ENETDOWN",
        text: "Network subsystem failed.",
    },
    CodeSpec {
        name: "WSAEFAULT",
        code: WsaError::EFAULT,
        errno: libc::EFAULT,
        errno_name: "EFAULT",
        text: "The optval parameter is not in a valid part of the process address space or the optlen parameter is too small.",
    },
    CodeSpec {
        name: "WSAEINVAL",
        code: WsaError::EINVAL,
        errno: libc::EINVAL,
        errno_name: "EINVAL",
        text: "The level parameter is not valid, or the information in the optval parameter is not valid.",
    },
    CodeSpec {
        name: "WSAENETRESET",
        code: WsaError::ENETRESET,
        errno: libc::ENETRESET,
        errno_name: "ENETRESET",
        text: "Connection has been broken due to keep-alive activity detecting a failure while the operation was in progress.",
    },
    CodeSpec {
        name: "WSAENOPROTOOPT",
        code: WsaError::ENOPROTOOPT,
        errno: libc::ENOPROTOOPT,
        errno_name: "ENOPROTOOPT",
        text: "The option is unknown or unsupported for the SAN service provider.",
    },
    CodeSpec {
        name: "WSAENOTCONN",
        code: WsaError::ENOTCONN,
        errno: libc::ENOTCONN,
        errno_name: "ENOTCONN",
        text: "The connection of the socket to the peer was reset.",
    },
    CodeSpec {
        name: "WSAENOTSOCK",
        code: WsaError::ENOTSOCK,
        errno: libc::ENOTSOCK,
        errno_name: "ENOTSOCK",
        text: "Descriptor is not a socket.",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_errnos_are_distinct_and_round_trip() {
        for row in CODES {
            assert_eq!(WsaError::from_code(row.code.code()), Some(row.code));
            assert_eq!(WsaError::from_errno(row.errno), Some(row.code));
            assert_eq!(row.code.errno(), row.errno);
            assert_eq!(row.code.spec().name, row.name);
            assert_eq!(CODES.iter().filter(|r| r.errno == row.errno).count(), 1);
        }
        assert_eq!(WsaError::from_code(0), None);
        assert_eq!(WsaError::from_errno(libc::EAGAIN), None);
    }

    #[test]
    fn linux_numbers_are_the_x86_64_ones() {
        let pairs: Vec<(i32, i32)> = CODES.iter().map(|r| (r.code.code(), r.errno)).collect();
        assert_eq!(
            pairs,
            [
                (10050, 100),
                (10014, 14),
                (10022, 22),
                (10052, 102),
                (10042, 92),
                (10057, 107),
                (10038, 88)
            ]
        );
    }

    #[test]
    fn never_in_progress_or_connreset() {
        // SPEC §2.2: WSAEINPROGRESS (10036) and WSAECONNRESET (10054) are never answered.
        assert_eq!(WsaError::from_code(10036), None);
        assert_eq!(WsaError::from_code(10054), None);
    }
}
