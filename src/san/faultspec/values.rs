//! The values of a `--fault` spec's keys (the grammar is in [`super`]): the
//! parsers of DURATION, port, program name and probability, what each says it
//! expected when a value does not parse, and a duration said back as a user
//! would write it.

use std::time::Duration;

pub(super) const EXPECTED_DURATION: &str = "a duration with a unit, such as 500ms, 2s or 1m";
pub(super) const EXPECTED_SHORT_DURATION: &str = "a duration of at most 24 hours (1440m)";
pub(super) const EXPECTED_PORT: &str = "a port number from 1 to 65535, such as 6379";
pub(super) const EXPECTED_PROGRAM: &str =
    "a program name of 1 to 15 bytes without ',', '=', spaces or control characters, such as redis-server";
pub(super) const EXPECTED_PROBABILITY: &str =
    "a probability: a decimal from 0 to 1, such as 0.25, or a percentage, such as 25%";
pub(super) const EXPECTED_SMALL_PROBABILITY: &str = "a probability of at most 1, such as 0.25 or 25%";
pub(super) const EXPECTED_SMALL_PERCENTAGE: &str = "a percentage of at most 100%, such as 25%";

/// The longest delay or outage a spec may ask for.
pub(super) const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);
/// The kernel's limit on a process name (`comm`, `TASK_COMM_LEN` less the NUL).
const MAX_PROGRAM: usize = 15;

/// `\d+(\.\d+)?`: the numbers of durations and probabilities (no sign, no
/// exponent, no `inf`).
fn is_decimal(number: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match number.split_once('.') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(number),
    }
}

/// DURATION: a decimal and `ms`, `s` or `m`, or `0` alone; at most 24 hours.
/// Exact to the nanosecond (no floating point).
pub(super) fn parse_duration(value: &str) -> Result<Duration, &'static str> {
    if value == "0" {
        return Ok(Duration::ZERO);
    }
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let unit_nanos: u128 = match unit {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        _ => return Err(EXPECTED_DURATION),
    };
    if !is_decimal(number) {
        return Err(EXPECTED_DURATION);
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let accumulate = |digits: &str| {
        digits.bytes().fold(0u128, |n, b| {
            n.saturating_mul(10).saturating_add(u128::from(b - b'0'))
        })
    };
    // Digits past the 20th are worth less than a nanosecond of a minute.
    let fraction = &fraction[..fraction.len().min(20)];
    let nanos = accumulate(whole)
        .saturating_mul(unit_nanos)
        .saturating_add(accumulate(fraction) * unit_nanos / 10u128.pow(fraction.len() as u32));
    if nanos > MAX_DURATION.as_nanos() {
        return Err(EXPECTED_SHORT_DURATION);
    }
    Ok(Duration::from_nanos(nanos as u64))
}

pub(super) fn parse_port(value: &str) -> Result<u16, &'static str> {
    // u16's own parser takes a leading '+'.
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EXPECTED_PORT);
    }
    match value.parse::<u16>() {
        Ok(port) if port >= 1 => Ok(port),
        _ => Err(EXPECTED_PORT),
    }
}

pub(super) fn parse_program(value: &str) -> Result<String, String> {
    if value.is_empty()
        || value
            .chars()
            .any(|c| c == ',' || c == '=' || c.is_whitespace() || c.is_control())
    {
        return Err(EXPECTED_PROGRAM.to_string());
    }
    if value.len() > MAX_PROGRAM {
        let mut expected = format!(
            "a program name of at most {MAX_PROGRAM} bytes, as the kernel keeps it (this one has {})",
            value.len()
        );
        if let Some(cut) = value.get(..MAX_PROGRAM) {
            expected.push_str(&format!(", such as {cut}"));
        }
        return Err(expected);
    }
    Ok(value.to_string())
}

/// A decimal in 0..=1, or a percentage in 0..=100 (`25%`, `12.5%`).
pub(super) fn parse_probability(value: &str) -> Result<f64, &'static str> {
    let (number, percent) = match value.strip_suffix('%') {
        Some(number) => (number, true),
        None => (value, false),
    };
    if !is_decimal(number) {
        return Err(EXPECTED_PROBABILITY);
    }
    // A percentage as `NUMBERe-2`, so that it is rounded once: 33.3% is 0.333.
    let text = if percent {
        format!("{number}e-2")
    } else {
        number.to_string()
    };
    let probability: f64 = text.parse().map_err(|_| EXPECTED_PROBABILITY)?;
    if probability > 1.0 {
        return Err(if percent {
            EXPECTED_SMALL_PERCENTAGE
        } else {
            EXPECTED_SMALL_PROBABILITY
        });
    }
    Ok(probability)
}

/// A duration as a user would write it: `1m`, `90s`, `1.5s`, `250ms`, `0.5ms`.
pub(super) fn show_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    let trimmed = |whole: u128, fraction: u128, digits: usize, unit: &str| {
        if fraction == 0 {
            format!("{whole}{unit}")
        } else {
            let fraction = format!("{fraction:0digits$}");
            format!("{whole}.{}{unit}", fraction.trim_end_matches('0'))
        }
    };
    if nanos >= 60_000_000_000 && nanos.is_multiple_of(60_000_000_000) {
        format!("{}m", nanos / 60_000_000_000)
    } else if nanos >= 1_000_000_000 {
        trimmed(nanos / 1_000_000_000, nanos % 1_000_000_000, 9, "s")
    } else if nanos == 0 {
        "0s".to_string()
    } else {
        trimmed(nanos / 1_000_000, nanos % 1_000_000, 6, "ms")
    }
}
