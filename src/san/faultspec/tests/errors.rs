//! Unit tests of the `--fault` grammar: each spec that does not parse is refused
//! where the fault is, with what was found there and what was expected.

use super::*;

#[test]
fn spaces_are_refused_where_they_are() {
    bad(" reset", 0, " ", "no spaces");
    bad("reset ", 5, " ", "no spaces");
    bad("reset, after=2s", 6, " ", "no spaces");
    bad("reset,after=2s ,port=1", 14, " ", "no spaces");
    bad("reset,after= 2s", 12, " ", "no spaces");
    bad("reset,port=1\t", 12, "\t", "no spaces");
    bad("reset,program=a\u{a0}b", 15, "\u{a0}", "no spaces");
    // Before anything else is checked.
    bad("bogus ", 5, " ", "no spaces");
}

#[test]
fn unknown_or_missing_kinds_list_the_kinds() {
    bad("", 0, "", EXPECTED_KIND);
    bad("bogus", 0, "bogus", EXPECTED_KIND);
    bad("Reset", 0, "Reset", EXPECTED_KIND);
    bad("keepalive", 0, "keepalive", EXPECTED_KIND);
    bad("keepalive_fail,after=1s", 0, "keepalive_fail", EXPECTED_KIND);
    bad("after=2s,reset", 0, "after=2s", EXPECTED_KIND);
    bad(",reset", 0, "", EXPECTED_KIND);
}

#[test]
fn unknown_keys_list_the_keys() {
    bad("reset,delay=2s", 6, "delay", EXPECTED_KEY);
    bad("reset,Port=1", 6, "Port", EXPECTED_KEY);
    bad("reset,=1", 6, "", EXPECTED_KEY);
    bad("reset,after=1s,toxicity=0.5", 15, "toxicity", EXPECTED_KEY);
}

#[test]
fn parts_without_a_value() {
    bad("reset,", 6, "", "KEY=VALUE after ','");
    bad("reset,,after=1s", 6, "", "KEY=VALUE after ','");
    bad("reset,after=1s,", 15, "", "KEY=VALUE after ','");
    let e = bad(
        "reset,bogus",
        6,
        "bogus",
        "KEY=VALUE, with a key: after, after-connect",
    );
    assert!(e.expected.ends_with("program or probability"), "{e}");
    bad("reset,port", 6, "port", "port= and a value, such as port=6379");
    bad("reset,after", 6, "after", "after= and a value, such as after=2s");
    bad("down,for", 5, "for", "for= and a value, such as for=3s");
}

#[test]
fn repeated_keys() {
    bad(
        "reset,port=1,port=2",
        13,
        "port=2",
        "each key at most once, and port= is already at character 7",
    );
    bad(
        "down,for=1s,after=1s,for=2s",
        21,
        "for=2s",
        "for= is already at character 6",
    );
    bad(
        "reset,after=1s,after=1s",
        15,
        "after=1s",
        "after= is already at character 7",
    );
    // Even when the first value was bad, it is the first error that counts.
    bad("reset,port=0,port=1", 11, "0", EXPECTED_PORT);
}

#[test]
fn after_and_after_connect_exclude_each_other() {
    let both = "after= or after-connect=, not both";
    bad("reset,after=1s,after-connect=2s", 15, "after-connect=2s", both);
    let e = bad("reset,after-connect=2s,port=1,after=1s", 30, "after=1s", both);
    assert!(
        e.expected.ends_with("(after-connect= is already at character 7)"),
        "{e}"
    );
}

#[test]
fn for_applies_only_to_down() {
    bad(
        "reset,for=3s",
        6,
        "for=3s",
        "no for= with reset: for= applies only to down",
    );
    bad(
        "keepalive-fail,after=1s,for=3s",
        24,
        "for=3s",
        "no for= with keepalive-fail: for= applies only to down",
    );
    // Before its value is looked at.
    bad("reset,for=x", 6, "for=x", "for= applies only to down");
}

#[test]
fn down_takes_no_connection_keys() {
    let whole =
        "down acts on the whole network, so port=, program=, probability= and after-connect= do not apply";
    let e = bad("down,port=6379", 5, "port=6379", whole);
    assert!(e.expected.starts_with("no port= with down: "), "{e}");
    bad("down,program=x", 5, "program=x", "no program= with down");
    bad(
        "down,probability=0.5",
        5,
        "probability=0.5",
        "no probability= with down",
    );
    bad(
        "down,after-connect=1s",
        5,
        "after-connect=1s",
        "no after-connect= with down",
    );
    bad("down,after=1s,port=bogus", 14, "port=bogus", whole);
}

#[test]
fn bad_durations() {
    for (spec, position, found) in [
        ("reset,after=2x", 12, "2x"),
        ("reset,after=2", 12, "2"),
        ("reset,after=1.5", 12, "1.5"),
        ("reset,after=00", 12, "00"),
        ("reset,after=0.0", 12, "0.0"),
        ("reset,after=", 12, ""),
        ("reset,after=s", 12, "s"),
        ("reset,after=ms", 12, "ms"),
        ("reset,after=.5s", 12, ".5s"),
        ("reset,after=5.s", 12, "5.s"),
        ("reset,after=1..5s", 12, "1..5s"),
        ("reset,after=1.2.3s", 12, "1.2.3s"),
        ("reset,after=-1s", 12, "-1s"),
        ("reset,after=+1s", 12, "+1s"),
        ("reset,after=1h", 12, "1h"),
        ("reset,after=1us", 12, "1us"),
        ("reset,after=2S", 12, "2S"),
        ("reset,after=2sec", 12, "2sec"),
        ("reset,after=1e3ms", 12, "1e3ms"),
        ("reset,after=infs", 12, "infs"),
        ("reset,after=2s2s", 12, "2s2s"),
        ("reset,after-connect=2x", 20, "2x"),
        ("down,for=2", 9, "2"),
        ("reset,port=1,after=x", 19, "x"),
    ] {
        bad(spec, position, found, EXPECTED_DURATION);
    }
}

#[test]
fn durations_past_a_day() {
    bad("reset,after=1441m", 12, "1441m", EXPECTED_SHORT_DURATION);
    bad(
        "reset,after=86400.000000001s",
        12,
        "86400.000000001s",
        EXPECTED_SHORT_DURATION,
    );
    bad(
        "reset,after=86400001ms",
        12,
        "86400001ms",
        EXPECTED_SHORT_DURATION,
    );
    bad(
        "down,for=99999999999999999999999999999999999999999m",
        9,
        "99999999999999999999999999999999999999999m",
        "at most 24 hours",
    );
    bad("reset,after-connect=2000m", 20, "2000m", "at most 24 hours");
}

#[test]
fn bad_ports() {
    for (spec, found) in [
        ("reset,port=0", "0"),
        ("reset,port=65536", "65536"),
        ("reset,port=99999999999999999999", "99999999999999999999"),
        ("reset,port=", ""),
        ("reset,port=+80", "+80"),
        ("reset,port=-1", "-1"),
        ("reset,port=http", "http"),
        ("reset,port=80.0", "80.0"),
    ] {
        bad(spec, 11, found, EXPECTED_PORT);
    }
}

#[test]
fn bad_programs() {
    bad("reset,program=", 14, "", EXPECTED_PROGRAM);
    bad("reset,program=a=b", 14, "a=b", EXPECTED_PROGRAM);
    bad("reset,program=a\u{1}b", 14, "a\u{1}b", EXPECTED_PROGRAM);
    let e = bad(
        "reset,program=abcdefghijklmnop",
        14,
        "abcdefghijklmnop",
        "at most 15 bytes",
    );
    assert_eq!(
        e.expected,
        "a program name of at most 15 bytes, as the kernel keeps it (this one has 16), such as abcdefghijklmno"
    );
    // 16 bytes in 8 characters; the 15th byte is inside one, so no cut is offered.
    let e = bad("reset,program=éééééééé", 14, "éééééééé", "(this one has 16)");
    assert!(!e.expected.contains("such as"), "{e}");
}

#[test]
fn bad_probabilities() {
    for (value, expected) in [
        ("", EXPECTED_PROBABILITY),
        ("%", EXPECTED_PROBABILITY),
        ("half", EXPECTED_PROBABILITY),
        (".5", EXPECTED_PROBABILITY),
        ("-0.5", EXPECTED_PROBABILITY),
        ("+0.5", EXPECTED_PROBABILITY),
        ("1e-1", EXPECTED_PROBABILITY),
        ("nan", EXPECTED_PROBABILITY),
        ("inf", EXPECTED_PROBABILITY),
        ("25%%", EXPECTED_PROBABILITY),
        ("%25", EXPECTED_PROBABILITY),
        ("0.5%0", EXPECTED_PROBABILITY),
        ("1/2", EXPECTED_PROBABILITY),
        ("1.5", EXPECTED_SMALL_PROBABILITY),
        ("25", EXPECTED_SMALL_PROBABILITY),
        ("1.0000001", EXPECTED_SMALL_PROBABILITY),
        ("101%", EXPECTED_SMALL_PERCENTAGE),
        ("100.1%", EXPECTED_SMALL_PERCENTAGE),
    ] {
        bad(&format!("reset,probability={value}"), 18, value, expected);
    }
}
