//! Unit tests of the `--fault` grammar: the valid forms and the messages and
//! descriptions people read here, each error where it is in `tests/errors.rs`.

mod errors;

use super::values::*;
use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn ok(spec: &str) -> FaultSpec {
    parse(spec).unwrap_or_else(|e| panic!("{spec:?} should parse: {e:#}"))
}

/// Parses `spec`, which must fail, and checks where and what was expected.
#[track_caller]
fn bad(spec: &str, position: usize, found: &str, expected: &str) -> SpecError {
    let e = parse(spec).expect_err(spec);
    assert_eq!(e.spec, spec);
    assert_eq!((e.position, e.found.as_str()), (position, found), "{spec:?}: {e}");
    assert!(
        e.expected.contains(expected),
        "{spec:?}: {:?} lacks {expected:?}",
        e.expected
    );
    e
}

// ---- valid forms ----------------------------------------------------------

#[test]
fn each_kind_alone_takes_the_defaults() {
    for (spec, kind) in [
        ("reset", FaultKind::Reset),
        ("keepalive-fail", FaultKind::KeepaliveFail),
        ("down", FaultKind::Down),
    ] {
        assert_eq!(
            ok(spec),
            FaultSpec {
                kind,
                when: When::AfterStart(Duration::ZERO),
                duration: None,
                port: None,
                program: None,
                probability: 1.0,
                text: spec.to_string(),
            }
        );
        assert_eq!(kind.name(), spec);
    }
}

#[test]
fn every_key_of_a_connection_fault() {
    let spec = "reset,after-connect=2s,port=6379,program=redis-cli,probability=0.5";
    assert_eq!(
        ok(spec),
        FaultSpec {
            kind: FaultKind::Reset,
            when: When::AfterConnect(ms(2000)),
            duration: None,
            port: Some(6379),
            program: Some("redis-cli".to_string()),
            probability: 0.5,
            text: spec.to_string(),
        }
    );
    let f = ok("keepalive-fail,after=1m,port=1,program=a");
    assert_eq!(f.kind, FaultKind::KeepaliveFail);
    assert_eq!(f.when, When::AfterStart(ms(60_000)));
    assert_eq!((f.port, f.program.as_deref()), (Some(1), Some("a")));
}

#[test]
fn down_takes_after_and_for() {
    let f = ok("down,after=1s,for=3s");
    assert_eq!(
        (f.kind, f.when, f.duration),
        (FaultKind::Down, When::AfterStart(ms(1000)), Some(ms(3000)))
    );
    assert_eq!(ok("down,for=250ms").duration, Some(ms(250)));
    assert_eq!(ok("down,for=250ms").when, When::AfterStart(Duration::ZERO));
}

#[test]
fn keys_come_in_any_order() {
    let a = ok("reset,probability=25%,program=x,port=80,after=2s");
    let b = ok("reset,after=2s,port=80,program=x,probability=0.25");
    assert_eq!(
        FaultSpec {
            text: String::new(),
            ..a
        },
        FaultSpec {
            text: String::new(),
            ..b
        }
    );
    assert_eq!(ok("down,for=3s,after=1s").duration, Some(ms(3000)));
}

#[test]
fn durations() {
    let after = |value: &str| match ok(&format!("reset,after={value}")).when {
        When::AfterStart(d) => d,
        other => panic!("{other:?}"),
    };
    assert_eq!(after("0"), Duration::ZERO);
    assert_eq!(after("0ms"), Duration::ZERO);
    assert_eq!(after("0s"), Duration::ZERO);
    assert_eq!(after("0.0s"), Duration::ZERO);
    assert_eq!(after("250ms"), ms(250));
    assert_eq!(after("2s"), ms(2000));
    assert_eq!(after("1.5s"), ms(1500));
    assert_eq!(after("1m"), ms(60_000));
    assert_eq!(after("1.5m"), ms(90_000));
    assert_eq!(after("0.5ms"), Duration::from_micros(500));
    assert_eq!(after("0.000000001s"), Duration::from_nanos(1));
    assert_eq!(
        after("0.0000000009s"),
        Duration::ZERO,
        "below a nanosecond is dropped"
    );
    assert_eq!(after("0.1s"), ms(100), "exact: no floating point");
    assert_eq!(after("007s"), ms(7000));
    assert_eq!(after("1.000000000000000000000000001m"), ms(60_000));
    assert_eq!(after("1440m"), MAX_DURATION);
    assert_eq!(after("86400s"), MAX_DURATION);
    assert_eq!(after("86400000ms"), MAX_DURATION);
    let connect = ok("keepalive-fail,after-connect=0").when;
    assert_eq!(connect, When::AfterConnect(Duration::ZERO));
    assert_eq!(ok("down,for=0").duration, Some(Duration::ZERO));
}

#[test]
fn ports() {
    assert_eq!(ok("reset,port=1").port, Some(1));
    assert_eq!(ok("reset,port=65535").port, Some(65535));
    assert_eq!(ok("reset,port=080").port, Some(80));
}

#[test]
fn programs() {
    assert_eq!(ok("reset,program=x").program.as_deref(), Some("x"));
    assert_eq!(
        ok("reset,program=abcdefghijklmno").program.as_deref(),
        Some("abcdefghijklmno")
    );
    assert_eq!(
        ok("reset,program=kworker/0:1").program.as_deref(),
        Some("kworker/0:1")
    );
    assert_eq!(
        ok("reset,program=python3.12").program.as_deref(),
        Some("python3.12")
    );
    // Bytes, not characters: "é" is two.
    assert_eq!(ok("reset,program=ééééééé").program.as_deref(), Some("ééééééé"));
}

#[test]
fn probabilities() {
    let p = |value: &str| ok(&format!("reset,probability={value}")).probability;
    assert_eq!(p("0"), 0.0);
    assert_eq!(p("1"), 1.0);
    assert_eq!(p("0.25"), 0.25);
    assert_eq!(p("1.0"), 1.0);
    assert_eq!(p("0.333"), 0.333);
    assert_eq!(p("25%"), 0.25);
    assert_eq!(p("0%"), 0.0);
    assert_eq!(p("100%"), 1.0);
    assert_eq!(p("12.5%"), 0.125);
    assert_eq!(p("33.3%"), 0.333, "rounded once, as 0.333 is");
    assert_eq!(p("100.0%"), 1.0);
}

#[test]
fn from_str_is_parse() {
    let f: FaultSpec = "down,after=1s".parse().unwrap();
    assert_eq!(f, ok("down,after=1s"));
    assert_eq!("bogus".parse::<FaultSpec>(), Err(parse("bogus").unwrap_err()));
}

// ---- messages -------------------------------------------------------------

#[test]
fn display_names_the_character_what_was_there_and_what_was_expected() {
    let e = parse("reset,after=2x").unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"at character 13 ("2x"): expected a duration with a unit, such as 500ms, 2s or 1m"#
    );
    assert_eq!(
        format!("{e:#}"),
        r#"--fault "reset,after=2x": at character 13 ("2x"): expected a duration with a unit, such as 500ms, 2s or 1m"#
    );
    assert_eq!(
        parse("").unwrap_err().to_string(),
        "at character 1 (nothing): expected a fault kind: reset, keepalive-fail or down"
    );
    assert_eq!(
        parse("reset,").unwrap_err().to_string(),
        "at character 7 (nothing): expected KEY=VALUE after ',', with a key: after, after-connect, for, \
         port, program or probability"
    );
    assert_eq!(
        parse("reset,\tport=1").unwrap_err().to_string(),
        r#"at character 7 ("\t"): expected no spaces: the parts are joined by ',' alone, as in reset,port=6379,after=2s"#
    );
    assert_eq!(
        format!("{:#}", parse(r#"reset,port="80""#).unwrap_err()),
        r#"--fault "reset,port=\"80\"": at character 12 ("\"80\""): expected a port number from 1 to 65535, such as 6379"#
    );
    assert_eq!(
        parse("down,port=1").unwrap_err().to_string(),
        r#"at character 6 ("port=1"): expected no port= with down: down acts on the whole network, so port=, program=, probability= and after-connect= do not apply to it"#
    );
}

#[test]
fn display_counts_characters_not_bytes() {
    // "ééé" is 6 bytes: the bad value starts at byte 27, character 25.
    let e = parse("reset,program=ééé,after=2x").unwrap_err();
    assert_eq!(e.position, 27);
    assert!(e.to_string().starts_with(r#"at character 25 ("2x")"#), "{e}");
    // And so are the earlier parts an error points back to.
    let e = parse("reset,program=é,port=1,port=2").unwrap_err();
    assert_eq!(e.position, 24);
    assert_eq!(
        e.to_string(),
        r#"at character 24 ("port=2"): expected each key at most once, and port= is already at character 17"#
    );
    let e = parse("reset,program=é,after=1s,after-connect=1s").unwrap_err();
    assert!(
        e.to_string().ends_with("(after= is already at character 17)"),
        "{e}"
    );
}

#[test]
fn the_error_is_a_std_error_clap_can_carry() {
    fn carried<E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>>(e: E) -> String {
        e.into().to_string()
    }
    assert_eq!(
        carried(parse("x").unwrap_err()),
        parse("x").unwrap_err().to_string()
    );
}

#[test]
fn describe_says_what_where_how_often_and_when() {
    let cases = [
        (
            "reset,port=6379,program=redis-cli,probability=0.5,after-connect=2s",
            "reset connections on port 6379 of redis-cli, each with probability 0.5, 2s after each \
             connection is established",
        ),
        (
            "down,after=1s,for=3s",
            "down the network 1s after the start, for 3s",
        ),
        ("down", "down the network at the start"),
        ("down,for=1.5m", "down the network at the start, for 90s"),
        ("reset", "reset all connections at the start"),
        ("reset,after=2s", "reset all connections 2s after the start"),
        ("reset,port=80", "reset connections on port 80, at the start"),
        (
            "reset,program=nginx,after=1m",
            "reset connections of nginx, 1m after the start",
        ),
        (
            "reset,probability=25%",
            "reset all connections, each with probability 0.25, at the start",
        ),
        (
            "reset,after-connect=0",
            "reset all connections as soon as each connection is established",
        ),
        (
            "keepalive-fail,port=5432,after-connect=250ms",
            "fail the keep-alive of connections on port 5432, 250ms after each connection is established",
        ),
        (
            "keepalive-fail,after=1.5s",
            "fail the keep-alive of all connections 1.5s after the start",
        ),
        (
            "keepalive-fail,probability=0",
            "fail the keep-alive of all connections, each with probability 0, at the start",
        ),
    ];
    for (spec, line) in cases {
        assert_eq!(ok(spec).describe(), line, "{spec}");
    }
}

#[test]
fn durations_are_shown_as_written() {
    for (d, shown) in [
        (Duration::ZERO, "0s"),
        (Duration::from_nanos(1), "0.000001ms"),
        (Duration::from_micros(500), "0.5ms"),
        (ms(250), "250ms"),
        (ms(1000), "1s"),
        (ms(1500), "1.5s"),
        (ms(1001), "1.001s"),
        (ms(59_000), "59s"),
        (ms(60_000), "1m"),
        (ms(90_000), "90s"),
        (ms(120_000), "2m"),
        (MAX_DURATION, "1440m"),
    ] {
        assert_eq!(show_duration(d), shown);
    }
}

#[test]
fn the_text_is_kept() {
    let spec = "reset,probability=25%,after=1.50s";
    assert_eq!(ok(spec).text, spec);
}
