//! Property tests (bounded, part of `cargo test`) of what takes untrusted input:
//! the rules parser, the environment, segment validation over arbitrary bytes, and
//! the model's answers against its invariants. The fuzz targets in `fuzz/` drive
//! the same functions without bounds.

mod support;

use proptest::prelude::*;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::Ordering::Relaxed;
use support::San;
use wsd::config::Config;
use wsd::config::rules;
use wsd::model::checks::{self, Connection, Facts, Network};
use wsd::model::options::{self, Level, OptionId};
use wsd::model::{CODES, WsaError};
use wsd::san::layout::{HEADER_SIZE, segment_size};
use wsd::san::{Segment, Target};

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn rules_never_panic_and_errors_point_into_the_text(text in "(\\PC|[\\n;*:/\\[\\]-]){0,120}") {
        for sep in ['\n', ';'] {
            if let Err(e) = rules::parse("f", &text, sep) {
                let lines: Vec<&str> = text.split(sep).collect();
                prop_assert!(e.line >= 1 && e.line <= lines.len());
                prop_assert!(e.column >= 1 && e.column <= lines[e.line - 1].len() + 1);
                prop_assert!(!e.expected.is_empty());
            }
        }
    }

    #[test]
    fn rules_made_of_valid_words_parse(
        transport in "san|tcp", side in "client|server|\\*", prog in "[a-z*?]{1,8}",
        addr in "\\*|127\\.0\\.0\\.1|10\\.0\\.0\\.0/8|\\[::1\\]", port in "\\*|[0-9]{1,4}|[0-9]{1,3}-[1-9][0-9]{3}",
    ) {
        let line = format!("use {transport} {side} {prog} {addr}:{port}");
        prop_assert!(rules::parse("f", &line, '\n').is_ok(), "{}", line);
    }

    #[test]
    fn environment_never_panics_and_names_the_bad_variable(
        var in "WSD_MODE|WSD_SAN|WSD_SUBNETS|WSD_GROUPS|WSD_LOG|WSD_LOG_FILE|WSD_FDS|WSD_RULES",
        value in "\\PC{0,40}",
    ) {
        let r = Config::from_env(|k| (k == var).then(|| value.clone()), |_| Ok(String::new()));
        if let Err(e) = r {
            prop_assert_eq!(e.var(), var.as_str());
            prop_assert!(e.to_string().contains("expected"));
        }
    }

    #[test]
    fn targets_parse_or_refuse(s in "\\PC{0,30}") {
        let _ = Target::parse(&s);
    }

    #[test]
    fn set_answers_obey_the_table(
        is_ours: bool, down: bool, conn in 0u8..3, groups: bool,
        level in prop_oneof![Just(0xffff), Just(1), Just(6), any::<i32>()],
        optname in prop_oneof![Just(1), Just(0x2001), Just(0x2002), Just(9), any::<i32>()],
        optlen in prop_oneof![Just(4), Just(3), Just(8), any::<i32>()],
        value in proptest::option::of(any::<i32>()),
    ) {
        let facts = Facts {
            is_ours,
            network: if down { Network::Down } else { Network::Up },
            connection: [Connection::Healthy, Connection::KeepAliveFailed, Connection::Reset][conn as usize],
            groups,
        };
        let mut read = false;
        let r = checks::set_sock_opt(&facts, level, optname, optlen, |n| {
            read = true;
            assert_eq!(n, 4);
            value.map(i32::to_ne_bytes)
        });
        match r {
            Ok(a) => {
                let spec = options::lookup_raw(level, optname).unwrap();
                prop_assert!(is_ours && !down && conn == 0 && spec.settable && spec.known_with(groups));
                prop_assert!(optlen >= 4 && value.is_some());
                match a.option {
                    OptionId::Debug => prop_assert_eq!(a.value, (value.unwrap() != 0) as i32),
                    _ => prop_assert!(a.value >= 0 && a.value == value.unwrap()),
                }
            }
            Err(e) => {
                prop_assert!(CODES.iter().any(|c| c.code == e));
                // Memory is read only once the level and the option are known good.
                if read {
                    prop_assert!(Level::from_raw(level).is_some() && optlen >= 4);
                }
                if !is_ours {
                    prop_assert_eq!(e, WsaError::ENOTSOCK);
                }
            }
        }
    }

    #[test]
    fn get_answers_obey_the_table(
        groups: bool,
        level in prop_oneof![Just(0xffff), Just(1), Just(6), any::<i32>()],
        optname in prop_oneof![Just(1), Just(0x2001), Just(0x2002), any::<i32>()],
        optlen in proptest::option::of(prop_oneof![Just(4), Just(2), any::<i32>()]),
        present: bool,
    ) {
        let r = checks::get_sock_opt(&Facts::healthy(groups), level, optname, optlen, present);
        match r {
            Ok(spec) => prop_assert!(optlen.is_some_and(|l| l >= 4) && present && spec.known_with(groups)),
            Err(e) => {
                prop_assert!(CODES.iter().any(|c| c.code == e.code));
                if let Some(n) = e.needed_len {
                    prop_assert_eq!(e.code, WsaError::EFAULT);
                    prop_assert_eq!(n, 4);
                }
            }
        }
    }
}

/// Writes `bytes` as segment `san` (mode 0600), opens it, and if it validates,
/// runs every reader over it. Nothing may panic or read outside the mapping.
fn open_and_walk(san: &San, bytes: &[u8]) -> Result<(), TestCaseError> {
    std::fs::write(san.path(), bytes).unwrap();
    std::fs::set_permissions(san.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    if let Ok(seg) = Segment::open(&san.name) {
        prop_assert_eq!(seg.header().total_size.load(Relaxed) as usize, bytes.len());
        let _ = seg.check();
        let _ = seg.calls();
        let _ = seg.live().count();
        for target in [Target::Id(1), Target::Addr("127.0.0.1:1".parse().unwrap())] {
            let _ = seg.select(&wsd::san::faults::Selector {
                target: Some(target),
                ..Default::default()
            });
        }
        let _ = seg.reap();
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_refused_or_survive_every_reader(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let san = San::new("prop-raw");
        open_and_walk(&san, &bytes)?;
    }

    #[test]
    fn a_valid_segment_with_random_corruption_survives_every_reader(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..64),
    ) {
        let san = San::new("prop-flip");
        Segment::create(&san.name, 2).unwrap();
        let mut bytes = std::fs::read(san.path()).unwrap();
        prop_assert_eq!(bytes.len(), segment_size(2));
        for (at, v) in flips {
            // Mostly records and rows, sometimes the header.
            let i = if at % 4 == 0 { at % HEADER_SIZE } else { at % bytes.len() };
            bytes[i] = v;
        }
        open_and_walk(&san, &bytes)?;
    }
}
