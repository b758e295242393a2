//! The study as text, Markdown and one self-contained HTML page, each rendered
//! from the JSON document ([`super::document`]).
//!
//! Here: what the three forms share — a command's ending, an option's verdicts,
//! sites, advice, the modes' and totals' lines, an option's cells. Each form has
//! a file of its own: `render/text.rs`, `render/markdown.rs`, `render/html.rs`;
//! the unit tests are in `render/tests.rs`.

mod html;
mod markdown;
mod text;

pub use html::html;
pub use markdown::markdown;
pub use text::text;

use super::document::MODES;
use crate::tool::report::arr;
use serde_json::Value;
use std::fmt::Write;

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A command's ending in one mode, in words: `0`, `1`, `143 (timed out)`, `not run`.
fn status(o: &Value) -> String {
    if o.is_null() {
        return "-".into();
    }
    let mut text = match o["status"].as_i64() {
        Some(st) => st.to_string(),
        None => "not run".into(),
    };
    if o["timed_out"] == true {
        text.push_str(" (timed out)");
    } else if o["killed"] == true {
        text.push_str(" (killed)");
    } else if o["stopped"] == true {
        text.push_str(" (stopped)");
    }
    text
}

/// An option's outcome in one mode: `WSAENOPROTOOPT by provider ×2`.
fn verdict(m: &Value) -> String {
    if m.is_null() {
        return "not called".into();
    }
    let mut text = format!("{} by {} ×{}", s(&m["verdict"]), s(&m["answered_by"]), m["count"]);
    let others = arr(&m["outcomes"]).len().saturating_sub(1);
    if others > 0 {
        let _ = write!(
            text,
            " (+{others} other outcome{})",
            if others == 1 { "" } else { "s" }
        );
    }
    text
}

/// A site as one line: `at` and its count.
fn site(site: &Value) -> String {
    let at = site["at"]
        .as_str()
        .map_or_else(|| site["at"].to_string(), str::to_string);
    match site["count"].as_u64() {
        Some(n) => format!("{at} ×{n}"),
        None => at,
    }
}

/// A command's notes, one per mode that has one: `switch: NOTE`.
fn notes(c: &Value) -> Vec<String> {
    MODES
        .iter()
        .filter_map(|m| c[*m]["note"].as_str().map(|n| format!("{m}: {n}")))
        .collect()
}

/// An option's advice as one line, if it has some.
fn advice(o: &Value) -> Option<String> {
    let a = &o["advice"];
    let parts: Vec<String> = match a {
        Value::Null => return None,
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}: {}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_string)
                )
            })
            .collect(),
        v => vec![v.as_str().map_or_else(|| v.to_string(), str::to_string)],
    };
    Some(parts.join("; "))
}

/// A command's processes in both modes: `1 process in switch mode, 2 in provider mode`.
fn processes(p: &Value) -> String {
    let n = |m: &str| p["processes"][m].as_u64().unwrap_or(0);
    format!(
        "{} in switch mode, {} in provider mode; calls {} and {} ({} and {} refused)",
        plural(n("switch"), "process", "processes"),
        n("provider"),
        p["calls"]["switch"],
        p["calls"]["provider"],
        p["refused"]["switch"],
        p["refused"]["provider"],
    )
}

/// One mode's line: its segment, port, SAN sockets and calls.
fn mode_line(mode: &str, m: &Value) -> String {
    let sum = &m["summary"];
    let mut line = format!("{mode} mode: SAN {}, port {}", m["san"], m["port"]);
    if sum.is_null() {
        line.push_str("; no report");
    } else {
        let _ = write!(
            line,
            "; SAN sockets {} by connect, {} by accept; calls {} (switch {}, provider {}, kernel {})",
            sum["san_connections"],
            sum["san_accepts"],
            sum["calls"],
            sum["answered_by"]["switch"],
            sum["answered_by"]["provider"],
            sum["answered_by"]["kernel"]
        );
        if sum["endpoints"] == 0 {
            line.push_str("; saw no SAN socket: nothing of this mode reached the SAN");
        }
    }
    let _ = write!(line, " (report: {})", s(&m["report_from"]));
    line
}

fn totals_line(t: &Value) -> String {
    let n = |k: &str| t[k].as_u64().unwrap_or(0);
    format!(
        "{}, {} ({} refused in provider mode, {}; {} with another verdict than in switch mode); \
         {} of {} ended otherwise in provider mode",
        plural(n("programs"), "program", "programs"),
        plural(n("options"), "option", "options"),
        n("options_refused_provider"),
        plural(n("calls_refused_provider"), "call", "calls"),
        n("options_changed"),
        n("commands_changed"),
        plural(n("commands"), "command", "commands"),
    )
}

const OPTION_HEADER: [&str; 7] = [
    "call",
    "socket",
    "level/option",
    "count",
    "switch",
    "provider",
    "bare provider",
];

fn option_cells(o: &Value) -> Vec<String> {
    vec![
        s(&o["call"]).to_string(),
        s(&o["socket"]).to_string(),
        s(&o["name"]).to_string(),
        o["count"].to_string(),
        verdict(&o["switch"]),
        verdict(&o["provider"]),
        s(&o["bare_provider"]).to_string(),
    ]
}

#[cfg(test)]
mod tests;
