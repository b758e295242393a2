//! The provider's option table: one declaration ([`OPTIONS`]) from which the checks,
//! `wsd options`, the header test and the README table all follow. No other code in
//! wsd spells an option number.
//!
//! Source: SPEC §1 (the two numberings), §2.1 (settable options) and §3 (readable
//! options), after Microsoft's "WSPSetSockOpt function" (SAN) and "WSPGetSockOpt
//! function" (SAN).

/// `SOL_SOCKET` as Winsock numbers it.
pub const WINSOCK_SOL_SOCKET: i32 = 0xffff;
/// `SOL_SOCKET` as Linux numbers it.
pub const LINUX_SOL_SOCKET: i32 = libc::SOL_SOCKET;
/// `IPPROTO_TCP`: 6 in both numberings.
pub const IPPROTO_TCP: i32 = libc::IPPROTO_TCP;
/// `TCP_NODELAY`: 1 in both numberings. The one option the seed names at
/// `IPPROTO_TCP`; a valid level/option pair that is *not* a row of the table.
pub const TCP_NODELAY: i32 = libc::TCP_NODELAY;

/// A level the provider recognises (SPEC §2.2 row 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// `SOL_SOCKET`, in either numbering.
    Socket,
    /// `IPPROTO_TCP` (only `TCP_NODELAY` is a valid option there).
    Tcp,
}

impl Level {
    /// The level a raw number names, if the provider recognises it.
    pub fn from_raw(level: i32) -> Option<Level> {
        match level {
            WINSOCK_SOL_SOCKET | LINUX_SOL_SOCKET => Some(Level::Socket),
            IPPROTO_TCP => Some(Level::Tcp),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Socket => "SOL_SOCKET",
            Level::Tcp => "IPPROTO_TCP",
        }
    }
}

/// Which option a row is: the key under which values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionId {
    Debug,
    GroupId,
    GroupPriority,
}

/// How the 4 bytes of a value are read and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// Winsock `BOOL`: any nonzero value is TRUE, stored as 1.
    Bool,
    /// `int`, which must be nonnegative.
    NonNegativeInt,
    /// `unsigned int`, read-only.
    UnsignedInt,
}

/// One row of the option table.
#[derive(Clone, Copy, Debug)]
pub struct OptionSpec {
    pub id: OptionId,
    pub name: &'static str,
    pub level: Level,
    /// The optname in Winsock numbering (what `include/wsd.h` defines).
    pub winsock_optname: i32,
    /// The optname in Linux numbering, where Linux has the option.
    pub linux_optname: Option<i32>,
    pub value_type: ValueType,
    /// Bytes read or written: the option's own size.
    pub size: usize,
    /// `WSPSetSockOpt` accepts it (§2.1); otherwise it is read-only (§3).
    pub settable: bool,
    /// A socket-group option: unknown to a provider configured with `WSD_GROUPS=off`.
    pub group: bool,
    /// Value before any set.
    pub default: i32,
    pub doc: &'static str,
    pub source: &'static str,
}

impl OptionSpec {
    /// Does (`level`, `optname`) name this row, in either numbering?
    pub fn matches(&self, level: Level, optname: i32) -> bool {
        self.level == level && (optname == self.winsock_optname || self.linux_optname == Some(optname))
    }

    /// Is the option known to a provider with group support `groups`?
    pub fn known_with(&self, groups: bool) -> bool {
        groups || !self.group
    }
}

/// The options the provider knows. Settable: exactly `SO_DEBUG` and
/// `SO_GROUP_PRIORITY` (§2.1). Readable also `SO_GROUP_ID` (§3).
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        id: OptionId::Debug,
        name: "SO_DEBUG",
        level: Level::Socket,
        winsock_optname: 0x0001,
        linux_optname: Some(libc::SO_DEBUG),
        value_type: ValueType::Bool,
        size: 4,
        settable: true,
        group: false,
        default: 0,
        doc: "Debugging on or off; any nonzero value is TRUE and reads back as 1. While TRUE every operation on the socket writes one debug line.",
        source: "WSPSetSockOpt (SAN), option table; SPEC §2.1",
    },
    OptionSpec {
        id: OptionId::GroupId,
        name: "SO_GROUP_ID",
        level: Level::Socket,
        winsock_optname: 0x2001,
        linux_optname: None,
        value_type: ValueType::UnsignedInt,
        size: 4,
        settable: false,
        group: true,
        default: 0,
        doc: "The socket's group; always 0, as the emulation creates no groups. Read-only.",
        source: "WSPGetSockOpt (SAN); SPEC §3",
    },
    OptionSpec {
        id: OptionId::GroupPriority,
        name: "SO_GROUP_PRIORITY",
        level: Level::Socket,
        winsock_optname: 0x2002,
        linux_optname: None,
        value_type: ValueType::NonNegativeInt,
        size: 4,
        settable: true,
        group: true,
        default: 0,
        doc: "Relative priority in the socket's group; nonnegative, 0 is highest. Stored and shown, never used to schedule.",
        source: "WSPSetSockOpt (SAN), option table; SPEC §2.1",
    },
];

/// The row for (`level`, `optname`), if any, whatever its group support.
pub fn lookup(level: Level, optname: i32) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.matches(level, optname))
}

/// The row for (`level`, `optname`) given as raw numbers.
pub fn lookup_raw(level: i32, optname: i32) -> Option<&'static OptionSpec> {
    Level::from_raw(level).and_then(|l| lookup(l, optname))
}

/// One call's (`level`, `optname`), looked up in the table once: the level as
/// the provider recognises it (SPEC §2.2 row 3), and the option's row (row 4,
/// before group support is considered). The routing, the checks and the memo
/// all take it from here.
#[derive(Clone, Copy, Debug)]
pub struct Asked {
    pub level: i32,
    pub optname: i32,
    pub known_level: Option<Level>,
    pub row: Option<&'static OptionSpec>,
}

impl Asked {
    pub fn new(level: i32, optname: i32) -> Asked {
        let known_level = Level::from_raw(level);
        Asked {
            level,
            optname,
            known_level,
            row: known_level.and_then(|l| lookup(l, optname)),
        }
    }
}

/// The row of an option id.
pub fn spec(id: OptionId) -> &'static OptionSpec {
    match id {
        OptionId::Debug => &OPTIONS[0],
        OptionId::GroupId => &OPTIONS[1],
        OptionId::GroupPriority => &OPTIONS[2],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_is_indexed_by_id() {
        for row in OPTIONS {
            assert_eq!(spec(row.id).id, row.id);
        }
    }

    #[test]
    fn both_numberings_name_the_same_rows() {
        for level in [WINSOCK_SOL_SOCKET, LINUX_SOL_SOCKET] {
            assert_eq!(lookup_raw(level, 1).map(|o| o.id), Some(OptionId::Debug));
            assert_eq!(lookup_raw(level, 0x2001).map(|o| o.id), Some(OptionId::GroupId));
            assert_eq!(
                lookup_raw(level, 0x2002).map(|o| o.id),
                Some(OptionId::GroupPriority)
            );
        }
        assert!(lookup_raw(IPPROTO_TCP, TCP_NODELAY).is_none());
        assert!(lookup_raw(LINUX_SOL_SOCKET, libc::SO_KEEPALIVE).is_none());
    }

    #[test]
    fn group_optnames_collide_with_no_linux_option() {
        // Linux SOL_SOCKET options are small numbers; 0x2001/0x2002 are far above them.
        for row in OPTIONS.iter().filter(|o| o.group) {
            assert!(row.winsock_optname > 0x1000);
        }
    }
}
