//! `include/wsd.h` says the same numbers as the library's tables, and declares
//! every function the library exports for C.

use std::collections::HashMap;
use wsd::model::options::{IPPROTO_TCP, TCP_NODELAY, WINSOCK_SOL_SOCKET};
use wsd::model::{CODES, OPTIONS, SOCKET_ERROR};

fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim().trim_start_matches('(').trim_end_matches(')');
    match s.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn defines() -> HashMap<String, i64> {
    let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/wsd.h")).unwrap();
    header
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            (parts.next()? == "#define").then_some(())?;
            let name = parts.next()?.to_string();
            Some((name, parse_int(parts.next()?)?))
        })
        .collect()
}

#[test]
fn every_code_is_defined_with_its_number() {
    let d = defines();
    for c in CODES {
        assert_eq!(d.get(c.name), Some(&i64::from(c.code.code())), "{}", c.name);
    }
    let wsae = d.keys().filter(|k| k.starts_with("WSAE")).count();
    assert_eq!(
        wsae,
        CODES.len(),
        "the header defines a code the library does not answer"
    );
    assert_eq!(d.get("SOCKET_ERROR"), Some(&i64::from(SOCKET_ERROR)));
}

#[test]
fn every_option_and_level_is_defined_in_winsock_numbering() {
    let d = defines();
    for o in OPTIONS {
        let name = if d.contains_key(o.name) {
            o.name.to_string()
        } else {
            format!("WSD_{}", o.name)
        };
        assert_eq!(d.get(&name), Some(&i64::from(o.winsock_optname)), "{}", o.name);
    }
    assert_eq!(d.get("WSD_SOL_SOCKET"), Some(&i64::from(WINSOCK_SOL_SOCKET)));
    assert_eq!(d.get("WSD_IPPROTO_TCP"), Some(&i64::from(IPPROTO_TCP)));
    assert_eq!(d.get("WSD_TCP_NODELAY"), Some(&i64::from(TCP_NODELAY)));
}

#[test]
fn every_c_export_is_declared() {
    let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/wsd.h")).unwrap();
    let exports =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/shim/exports/capi.rs")).unwrap();
    for f in [
        "WSPSetSockOpt",
        "WSPGetSockOpt",
        "wsd_errno_from_wsa",
        "wsd_wsa_from_errno",
        "wsd_strerror",
        "wsd_self_test",
        "wsd_memo_hits",
    ] {
        assert!(header.contains(&format!("{f}(")), "{f} not declared in wsd.h");
        assert!(exports.contains(&format!("fn {f}(")), "{f} not exported");
    }
}
