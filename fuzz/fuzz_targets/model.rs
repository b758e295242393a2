//! The provider's answers against their invariants, for arbitrary inputs.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsd::model::CODES;
use wsd::model::options;
use wsd::model::checks::{self, Connection, Facts, Network};

fuzz_target!(|input: (bool, bool, u8, bool, i32, i32, i32, Option<i32>)| {
    let (is_ours, down, conn, groups, level, optname, optlen, value) = input;
    let facts = Facts {
        is_ours,
        network: if down { Network::Down } else { Network::Up },
        connection: [Connection::Healthy, Connection::KeepAliveFailed, Connection::Reset][conn as usize % 3],
        groups,
    };
    match checks::set_sock_opt(&facts, level, optname, optlen, |_| value.map(i32::to_ne_bytes)) {
        Ok(a) => {
            let spec = options::lookup_raw(level, optname).expect("a known option");
            assert!(spec.settable && spec.known_with(groups) && optlen >= 4 && is_ours && !down);
            assert!(a.value >= 0);
        }
        Err(e) => assert!(CODES.iter().any(|c| c.code == e)),
    }
    if let Err(e) = checks::get_sock_opt(&facts, level, optname, value, optlen > 0) {
        assert!(CODES.iter().any(|c| c.code == e.code));
    }
});
