//! Every row of SPEC §2.2 and §3, alone and in every pair (precedence).

use super::*;
use crate::model::options::{IPPROTO_TCP, LINUX_SOL_SOCKET, WINSOCK_SOL_SOCKET};

/// One call's inputs.
#[derive(Clone, Copy, Debug)]
struct Call {
    facts: Facts,
    level: i32,
    optname: i32,
    optlen: i32,
    /// `None`: the bytes are not readable.
    value: Option<i32>,
}

const GOOD: Call = Call {
    facts: Facts::healthy(true),
    level: WINSOCK_SOL_SOCKET,
    optname: 0x2002,
    optlen: 4,
    value: Some(5),
};

fn set(c: Call) -> Result<Assignment, WsaError> {
    set_sock_opt(&c.facts, c.level, c.optname, c.optlen, |n| {
        assert_eq!(n, 4, "only the option's own size is read");
        c.value.map(i32::to_ne_bytes)
    })
}

/// Each row of §2.2 as (a change that makes it fail, the code it must give).
#[allow(clippy::type_complexity)]
const ROWS: [(&str, fn(&mut Call), WsaError); 8] = [
    ("1 not a socket", |c| c.facts.is_ours = false, WsaError::ENOTSOCK),
    (
        "2 network down",
        |c| c.facts.network = Network::Down,
        WsaError::ENETDOWN,
    ),
    ("3 bad level", |c| c.level = 0x1234, WsaError::EINVAL),
    (
        "4 unknown option",
        |c| c.optname = libc::SO_KEEPALIVE,
        WsaError::ENOPROTOOPT,
    ),
    ("5 optlen too small", |c| c.optlen = 3, WsaError::EFAULT),
    ("6 negative priority", |c| c.value = Some(-1), WsaError::EINVAL),
    (
        "7 keep-alive failed",
        |c| c.facts.connection = Connection::KeepAliveFailed,
        WsaError::ENETRESET,
    ),
    (
        "8 reset",
        |c| c.facts.connection = Connection::Reset,
        WsaError::ENOTCONN,
    ),
];

#[test]
fn good_call_stores_the_value() {
    assert_eq!(
        set(GOOD),
        Ok(Assignment {
            option: OptionId::GroupPriority,
            value: 5
        })
    );
}

#[test]
fn each_row_alone() {
    for (name, break_it, code) in ROWS {
        let mut c = GOOD;
        break_it(&mut c);
        assert_eq!(set(c), Err(code), "{name}");
    }
}

#[test]
fn each_pair_the_earlier_row_wins() {
    for (i, (first, break_first, code)) in ROWS.iter().enumerate() {
        for (later, break_later, _) in &ROWS[i + 1..] {
            // 7 and 8 are two states of one connection: they cannot both hold.
            if first.starts_with('7') && later.starts_with('8') {
                continue;
            }
            let mut c = GOOD;
            break_later(&mut c);
            break_first(&mut c);
            assert_eq!(set(c), Err(*code), "{first} + {later}");
        }
    }
}

#[test]
fn unreadable_bytes_and_negative_optlen_are_faults() {
    assert_eq!(set(Call { value: None, ..GOOD }), Err(WsaError::EFAULT));
    assert_eq!(set(Call { optlen: -1, ..GOOD }), Err(WsaError::EFAULT));
    assert_eq!(
        set(Call {
            optlen: i32::MIN,
            ..GOOD
        }),
        Err(WsaError::EFAULT)
    );
    assert_eq!(set(Call { optlen: 0, ..GOOD }), Err(WsaError::EFAULT));
}

#[test]
fn memory_is_not_read_when_an_earlier_row_fails() {
    for optname in [libc::SO_KEEPALIVE, 0x2001] {
        let r = set_sock_opt(&GOOD.facts, GOOD.level, optname, 4, |_| panic!("read"));
        assert_eq!(r, Err(WsaError::ENOPROTOOPT));
    }
    let r = set_sock_opt(&GOOD.facts, GOOD.level, 0x2002, 2, |_| panic!("read"));
    assert_eq!(r, Err(WsaError::EFAULT));
}

#[test]
fn larger_optlen_is_accepted() {
    for optlen in [5, 8, 42, 4096, i32::MAX] {
        assert!(set(Call { optlen, ..GOOD }).is_ok(), "optlen {optlen}");
    }
}

#[test]
fn bool_is_normalised_in_both_numberings() {
    for level in [WINSOCK_SOL_SOCKET, LINUX_SOL_SOCKET] {
        for (raw, stored) in [(0, 0), (1, 1), (2, 1), (-1, 1), (i32::MIN, 1)] {
            let c = Call {
                level,
                optname: 1,
                value: Some(raw),
                ..GOOD
            };
            assert_eq!(set(c).map(|a| a.value), Ok(stored), "level {level:#x} raw {raw}");
        }
    }
}

#[test]
fn priority_zero_and_max_are_valid() {
    for v in [0, 1, i32::MAX] {
        assert_eq!(
            set(Call {
                value: Some(v),
                ..GOOD
            })
            .map(|a| a.value),
            Ok(v)
        );
    }
}

#[test]
fn tcp_level_is_valid_only_with_nodelay_and_nodelay_is_unsupported() {
    let tcp = |optname| Call {
        level: IPPROTO_TCP,
        optname,
        ..GOOD
    };
    assert_eq!(set(tcp(TCP_NODELAY)), Err(WsaError::ENOPROTOOPT));
    assert_eq!(set(tcp(libc::TCP_KEEPIDLE)), Err(WsaError::EINVAL));
    assert_eq!(set(tcp(0x2002)), Err(WsaError::EINVAL));
}

#[test]
fn other_levels_are_invalid() {
    for level in [0, 41, -1, 0x8000, i32::MIN, libc::IPPROTO_IP, libc::IPPROTO_IPV6] {
        assert_eq!(
            set(Call { level, ..GOOD }),
            Err(WsaError::EINVAL),
            "level {level}"
        );
    }
}

#[test]
fn group_id_is_read_only() {
    assert_eq!(
        set(Call {
            optname: 0x2001,
            ..GOOD
        }),
        Err(WsaError::ENOPROTOOPT)
    );
}

#[test]
fn groups_off_makes_group_options_unknown() {
    let mut c = GOOD;
    c.facts.groups = false;
    assert_eq!(set(c), Err(WsaError::ENOPROTOOPT));
    c.value = Some(-1);
    assert_eq!(set(c), Err(WsaError::ENOPROTOOPT), "row 4 before row 6");
    c.optname = 1;
    assert!(set(c).is_ok(), "SO_DEBUG stays");
}

// ---- WSPGetSockOpt (SPEC §3) ----

fn get(
    facts: Facts,
    level: i32,
    optname: i32,
    optlen: Option<i32>,
    writable: bool,
) -> Result<OptionId, GetError> {
    get_sock_opt(&facts, level, optname, optlen, writable).map(|s| s.id)
}

fn code(r: Result<OptionId, GetError>) -> Result<OptionId, WsaError> {
    r.map_err(|e| e.code)
}

#[test]
fn get_reads_the_three_readable_options() {
    let h = Facts::healthy(true);
    for level in [WINSOCK_SOL_SOCKET, LINUX_SOL_SOCKET] {
        assert_eq!(code(get(h, level, 1, Some(4), true)), Ok(OptionId::Debug));
        assert_eq!(code(get(h, level, 0x2001, Some(4), true)), Ok(OptionId::GroupId));
        assert_eq!(
            code(get(h, level, 0x2002, Some(8), true)),
            Ok(OptionId::GroupPriority)
        );
    }
}

#[test]
fn get_rows_in_order() {
    let h = Facts::healthy(true);
    let not_ours = Facts { is_ours: false, ..h };
    let down = Facts {
        network: Network::Down,
        ..h
    };
    // Each row alone.
    assert_eq!(
        code(get(not_ours, 0xffff, 1, Some(4), true)),
        Err(WsaError::ENOTSOCK)
    );
    assert_eq!(code(get(down, 0xffff, 1, Some(4), true)), Err(WsaError::ENETDOWN));
    assert_eq!(code(get(h, 0x1234, 1, Some(4), true)), Err(WsaError::EINVAL));
    assert_eq!(code(get(h, 6, 2, Some(4), true)), Err(WsaError::EINVAL));
    assert_eq!(code(get(h, 6, 1, Some(4), true)), Err(WsaError::ENOPROTOOPT));
    assert_eq!(code(get(h, 0xffff, 9, Some(4), true)), Err(WsaError::ENOPROTOOPT));
    assert_eq!(code(get(h, 0xffff, 1, None, true)), Err(WsaError::EFAULT));
    assert_eq!(code(get(h, 0xffff, 1, Some(4), false)), Err(WsaError::EFAULT));
    // Pairs: the earlier wins.
    assert_eq!(
        code(get(not_ours, 0x1234, 9, None, false)),
        Err(WsaError::ENOTSOCK)
    );
    assert_eq!(code(get(down, 0x1234, 9, None, false)), Err(WsaError::ENETDOWN));
    assert_eq!(code(get(h, 0x1234, 9, None, false)), Err(WsaError::EINVAL));
    assert_eq!(code(get(h, 0xffff, 9, None, false)), Err(WsaError::ENOPROTOOPT));
}

#[test]
fn get_small_optlen_reports_the_size_needed() {
    let h = Facts::healthy(true);
    for len in [-1, 0, 3, i32::MIN] {
        assert_eq!(
            get(h, 0xffff, 0x2002, Some(len), true),
            Err(GetError {
                code: WsaError::EFAULT,
                needed_len: Some(4)
            })
        );
    }
}

#[test]
fn get_connection_state_is_no_error() {
    for connection in [Connection::KeepAliveFailed, Connection::Reset] {
        let f = Facts {
            connection,
            ..Facts::healthy(true)
        };
        assert_eq!(code(get(f, 0xffff, 1, Some(4), true)), Ok(OptionId::Debug));
    }
}

#[test]
fn get_groups_off_makes_both_group_options_unknown() {
    let f = Facts::healthy(false);
    assert_eq!(
        code(get(f, 0xffff, 0x2001, Some(4), true)),
        Err(WsaError::ENOPROTOOPT)
    );
    assert_eq!(
        code(get(f, 0xffff, 0x2002, Some(4), true)),
        Err(WsaError::ENOPROTOOPT)
    );
    assert_eq!(code(get(f, 0xffff, 1, Some(4), true)), Ok(OptionId::Debug));
}
