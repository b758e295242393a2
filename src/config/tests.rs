//! Unit tests of the environment: defaults, every variable, bad values, subnet
//! prefixes, and `use` rules together with the variables.

use super::*;
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_env(|k| m.get(k).cloned(), |p| std::fs::read_to_string(p))
}

#[test]
fn defaults() {
    let c = env(&[]).unwrap();
    assert_eq!(c.mode, Mode::Switch);
    assert_eq!(c.san, "default");
    assert!(c.groups);
    assert!(c.is_san_address("127.0.0.1".parse().unwrap()));
    assert!(c.is_san_address("127.9.8.7".parse().unwrap()));
    assert!(c.is_san_address("::1".parse().unwrap()));
    assert!(c.is_san_address("::ffff:127.0.0.1".parse().unwrap()));
    assert!(!c.is_san_address("10.0.0.1".parse().unwrap()));
    assert!(!c.is_san_address("::2".parse().unwrap()));
}

#[test]
fn every_variable_parses() {
    let c = env(&[
        ("WSD_MODE", "observe"),
        ("WSD_SAN", "t-1.x"),
        ("WSD_SUBNETS", "10.77.0.0/24, 127.0.0.2"),
        ("WSD_GROUPS", "off"),
        ("WSD_LOG", "debug"),
        ("WSD_LOG_FILE", "/tmp/x"),
        ("WSD_FDS", "3,4"),
        ("WSD_REPORT_FD", "9:15:123456"),
    ])
    .unwrap();
    assert_eq!(
        c.report_fd,
        Some(ReportFd {
            fd: 9,
            dev: 15,
            ino: 123456
        })
    );
    assert_eq!(c.mode, Mode::Observe);
    assert_eq!(c.san, "t-1.x");
    assert_eq!(c.subnets.len(), 2);
    assert!(c.is_san_address("127.0.0.2".parse().unwrap()));
    assert!(!c.is_san_address("127.0.0.1".parse().unwrap()));
    assert!(c.is_san_address("10.77.0.200".parse().unwrap()));
    assert!(!c.groups);
    assert_eq!(c.log, LogLevel::Debug);
    assert_eq!(c.fds, [3, 4]);
}

#[test]
fn empty_subnets_route_nothing() {
    assert!(!env(&[("WSD_SUBNETS", "")]).unwrap().could_route("x"));
    let r = env(&[("WSD_SUBNETS", ""), ("WSD_RULES", "use san client py* *:*")]).unwrap();
    assert!(r.could_route("python3") && !r.could_route("curl"));
}

#[test]
fn a_catch_all_tcp_rule_routes_nothing() {
    let rules = |r: &str| env(&[("WSD_RULES", r)]).unwrap();
    assert!(!rules("use tcp * * *:*").could_route("python3"));
    assert!(!rules("use tcp * * *").could_route("python3"));
    assert!(!rules("use tcp * python3 *:*").could_route("python3"));
    assert!(rules("use tcp * python3 *:*").could_route("curl"));
    // Both sides must be closed off.
    assert!(rules("use tcp client * *").could_route("x"));
    assert!(!rules("use tcp client * *;use tcp server * *").could_route("x"));
    // A rule before the catch-all, or a narrower one, still could.
    assert!(rules("use san * * 127.0.0.1:80;use tcp * * *").could_route("x"));
    assert!(rules("use tcp * * *:80").could_route("x"));
    assert!(rules("use tcp * * 10.0.0.0/8:*").could_route("x"));
}

#[test]
fn bad_values_name_the_variable_and_what_was_expected() {
    for (var, value) in [
        ("WSD_MODE", "fast"),
        ("WSD_SAN", "../etc"),
        ("WSD_SAN", ""),
        ("WSD_SUBNETS", "127.0.0.0/33"),
        ("WSD_SUBNETS", "loopback"),
        ("WSD_GROUPS", "yes"),
        ("WSD_LOG", "loud"),
        ("WSD_FDS", "3,x"),
        ("WSD_FDS", "-1"),
        ("WSD_REPORT_FD", "9"),
        ("WSD_REPORT_FD", "9:1:2:3"),
        ("WSD_REPORT_FD", "-1:1:2"),
    ] {
        let e = env(&[(var, value)]).unwrap_err();
        assert_eq!(e.var(), var);
        let msg = e.to_string();
        assert!(msg.starts_with(var) && msg.contains("expected"), "{msg}");
    }
    assert_eq!(
        env(&[("WSD_MODE", "fast")]).unwrap_err().to_string(),
        "WSD_MODE=\"fast\": expected switch, provider or observe"
    );
}

#[test]
fn prefixes() {
    let s = Subnet::parse("10.77.0.0/23").unwrap();
    assert!(s.contains("10.77.1.255".parse().unwrap()));
    assert!(!s.contains("10.77.2.0".parse().unwrap()));
    assert!(
        Subnet::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap())
    );
    assert!(
        Subnet::parse("fe80::/10")
            .unwrap()
            .contains("febf::1".parse().unwrap())
    );
    assert!(
        !Subnet::parse("fe80::/10")
            .unwrap()
            .contains("fec0::1".parse().unwrap())
    );
}

// ---- rules and the environment together -----------------------------------

#[test]
fn first_matching_rule_wins_then_subnets() {
    let c = Config::from_env(
        |k| {
            (k == "WSD_RULES").then(|| "use tcp client curl *:*;use san * * 10.0.0.0/8:*;mode observe".into())
        },
        |_| Err(std::io::ErrorKind::NotFound.into()),
    )
    .unwrap();
    assert_eq!(c.mode, Mode::Observe);
    let a = |s: &str| s.parse::<SocketAddr>().unwrap();
    assert_eq!(
        c.decide("curl", Side::Client, a("127.0.0.1:80")),
        (false, Some(1))
    );
    assert_eq!(c.decide("curl", Side::Server, a("10.1.1.1:80")), (true, Some(2)));
    assert_eq!(c.decide("nc", Side::Client, a("127.0.0.1:80")), (true, None));
    assert_eq!(c.decide("nc", Side::Client, a("192.168.1.1:80")), (false, None));
}

#[test]
fn environment_overrides_rules_and_errors_name_the_source() {
    let get = |k: &str| match k {
        "WSD_RULES" => Some("mode observe".to_string()),
        "WSD_MODE" => Some("provider".to_string()),
        _ => None,
    };
    assert_eq!(
        Config::from_env(get, |_| Ok(String::new())).unwrap().mode,
        Mode::Provider
    );
    let e = Config::from_env(
        |k| (k == "WSD_CONFIG").then(|| "/etc/wsd.conf".into()),
        |_| Ok("use san client\n".into()),
    )
    .unwrap_err();
    assert_eq!(e.var(), "WSD_CONFIG");
    assert!(
        e.to_string()
            .starts_with("/etc/wsd.conf:1:15: expected a program name"),
        "{e}"
    );
    let e = Config::from_env(
        |k| (k == "WSD_CONFIG").then(|| "/nonexistent".into()),
        |p| std::fs::read_to_string(p),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("WSD_CONFIG=\"/nonexistent\": cannot read it"),
        "{e}"
    );
}
