//! The portability report as text, rendered from its JSON document (see
//! [`super`] for the schema): the summary lines, the story of each fault, and
//! the table of calls, each column as wide as its widest cell.

use super::arr;
use serde_json::Value;
use std::fmt::Write;
use wsd::model::names;

/// The faults section of the text report.
fn render_faults(out: &mut String, faults: &[Value]) {
    if faults.is_empty() {
        return;
    }
    let _ = writeln!(out, "  faults: {}", faults.len());
    for f in faults {
        let when = match f["after_start_ms"].as_u64() {
            Some(ms) => format!("{}.{:03} s into the run", ms / 1000, ms % 1000),
            None => {
                let ns = f["at_unix_ns"].as_u64().unwrap_or(0);
                let day = (ns / 1_000_000_000) % 86_400;
                format!(
                    "at {:02}:{:02}:{:02}.{:03} UTC",
                    day / 3600,
                    day / 60 % 60,
                    day % 60,
                    ns / 1_000_000 % 1000
                )
            }
        };
        let hit = arr(&f["hit"]);
        let _ = writeln!(
            out,
            "    fault {}: {} of {}, {when}: {} endpoint{} hit",
            f["fault"],
            f["kind"].as_str().unwrap_or("?"),
            f["target"].as_str().unwrap_or("?"),
            f["endpoints_hit"],
            if f["endpoints_hit"] == 1 { "" } else { "s" }
        );
        for h in hit {
            let s = |k: &str| h[k].as_str().unwrap_or("-").to_string();
            let _ = write!(
                out,
                "      {} pid {} fd {} ({}, {} -> {}): ",
                s("program"),
                h["pid"],
                h["fd"],
                s("role"),
                s("local"),
                s("remote")
            );
            let saw = arr(&h["saw"]);
            if saw.is_empty() {
                let _ = writeln!(out, "no data call met it");
                continue;
            }
            let seen: Vec<String> = saw
                .iter()
                .map(|t| {
                    format!(
                        "{} pid {} saw {} in {} on fd {}, {} ms after",
                        t["program"].as_str().unwrap_or("?"),
                        t["pid"],
                        t["error"].as_str().unwrap_or("?"),
                        t["call"].as_str().unwrap_or("?"),
                        t["fd"],
                        t["after_ms"]
                    )
                })
                .collect();
            let _ = writeln!(out, "{}", seen.join("; "));
        }
    }
}

/// `word` as a POSIX shell would need it written to mean that one word: as it
/// is when it holds only characters no shell treats specially, else in single
/// quotes (a quote inside as `'\''`).
pub fn shell_quoted(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The report as text, from the JSON document.
pub fn render(r: &Value) -> String {
    let mut out = String::new();
    let sum = &r["summary"];
    let _ = write!(out, "wsd report");
    if let Some(cmd) = r["command"].as_array() {
        let words: Vec<String> = cmd.iter().filter_map(Value::as_str).map(shell_quoted).collect();
        let _ = write!(out, " for `{}`", words.join(" "));
        if let Some(st) = r["status"].as_i64() {
            let _ = write!(out, " (exit status {st})");
        }
    }
    let _ = writeln!(
        out,
        ": mode {}, SAN {}",
        r["mode"].as_str().unwrap_or("?"),
        r["san"]
    );
    if r["quiet"] == true {
        let faults = r["faults"].as_array().map_or(0, Vec::len);
        let _ = writeln!(
            out,
            "  {} SAN sockets ({} by connect, {} by accept), {} calls, {} a bare SAN provider would refuse, {faults} faults",
            sum["endpoints"],
            sum["san_connections"],
            sum["san_accepts"],
            sum["calls"],
            sum["provider_would_refuse"]
        );
        return out;
    }
    if let Some(e) = r["config_error"].as_str() {
        let _ = writeln!(
            out,
            "  configuration error, so the program ran without the SAN: {e}"
        );
    }
    let fb = &sum["fallbacks"];
    let fallbacks = ["network_down", "table_full", "replay_refused", "segment_refused"]
        .iter()
        .map(|k| fb[k].as_u64().unwrap_or(0));
    let total_fb: u64 = fallbacks.sum();
    if sum["endpoints"].as_u64() == Some(0) && total_fb == 0 {
        let _ = writeln!(out, "  saw no SAN sockets: no socket of this run reached the SAN");
    }
    let _ = write!(
        out,
        "  SAN sockets connected: {} by connect, {} by accept; fell back to plain TCP: {total_fb} (network down {}, table full {}, replay refused {}",
        sum["san_connections"],
        sum["san_accepts"],
        fb["network_down"],
        fb["table_full"],
        fb["replay_refused"]
    );
    // Only `wsd run` hears of sockets whose process refused the segment.
    if let Some(n) = fb["segment_refused"].as_u64() {
        // `segment refused 2 by memcached: REASON`, or with several reasons
        // `segment refused 3: 2 by memcached: REASON; 1 by python3: REASON`.
        let _ = write!(out, ", segment refused {n}");
        let reasons = arr(&sum["segment_refusals"]);
        for (i, r) in reasons.iter().enumerate() {
            let programs: Vec<&str> = arr(&r["programs"]).iter().filter_map(Value::as_str).collect();
            let reason = r["reason"].as_str().unwrap_or("?");
            let by = programs.join(", ");
            let _ = match (i, reasons.len()) {
                (_, 1) => write!(out, " by {by}: {reason}"),
                (0, _) => write!(out, ": {} by {by}: {reason}", r["count"]),
                _ => write!(out, "; {} by {by}: {reason}", r["count"]),
            };
        }
    }
    let _ = writeln!(out, ")");
    let by = &sum["answered_by"];
    let _ = writeln!(
        out,
        "  calls: {} (switch {}, provider {}, kernel {}); a bare SAN provider would refuse {}",
        sum["calls"], by["switch"], by["provider"], by["kernel"], sum["provider_would_refuse"]
    );
    if sum["dropped"].as_u64().unwrap_or(0) > 0 {
        let _ = writeln!(
            out,
            "  {} calls not counted: the report table was full",
            sum["dropped"]
        );
    }
    render_faults(&mut out, arr(&r["faults"]));
    if let Some(seed) = r["fault_seed"].as_u64() {
        let _ = writeln!(
            out,
            "  scheduled faults chose their connections with --seed {seed}"
        );
    }
    let rows = arr(&r["rows"]);
    if rows.is_empty() {
        return out;
    }
    let header = [
        "program",
        "pid",
        "call",
        "socket",
        "level/option",
        "optlen",
        "answered",
        "verdict",
        "bare provider",
        "count",
    ];
    let cells: Vec<[String; 10]> = rows
        .iter()
        .map(|row| {
            let s = |k: &str| row[k].as_str().unwrap_or("").to_string();
            let verdict = match row["errno"].as_str() {
                Some(e) if s("verdict") != e => format!("{} ({e})", s("verdict")),
                _ => s("verdict"),
            };
            let int = |k: &str| row[k].as_i64().unwrap_or(0);
            // A SAN socket's row says which end: `san (connector)`.
            let socket = match row["end"].as_str() {
                Some(end) => format!("{} ({end})", s("socket")),
                None => s("socket"),
            };
            [
                s("program"),
                row["pid"].as_u64().unwrap_or(0).to_string(),
                s("call"),
                socket,
                names::OptionName {
                    level: int("level") as i32,
                    optname: int("option") as i32,
                }
                .to_string(),
                int("optlen").to_string(),
                s("answered_by"),
                verdict,
                s("provider"),
                row["count"].as_u64().unwrap_or(0).to_string(),
            ]
        })
        .collect();
    // Each column as wide as its widest cell; numbers to the right.
    let mut width = header.map(str::len);
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let numeric = [false, true, false, false, false, true, false, false, false, true];
    let line = |out: &mut String, cells: &[&str]| {
        let mut text = String::from(" ");
        for ((c, w), right) in cells.iter().zip(width).zip(numeric) {
            let _ = if right {
                write!(text, " {c:>w$}")
            } else {
                write!(text, " {c:<w$}")
            };
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(&mut out, &header);
    for row in &cells {
        line(&mut out, &row.each_ref().map(String::as_str));
    }
    render_where(&mut out, rows);
    out
}

/// Where the program makes the calls a bare provider would refuse, and what a
/// port does about each (issue 16): the rows' call sites and advice.
fn render_where(out: &mut String, rows: &[Value]) {
    let refused: Vec<&Value> = rows.iter().filter(|r| r["provider"] != "ok").collect();
    if refused.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "  where a bare SAN provider would refuse, and what a port does:"
    );
    for row in refused {
        let s = |k: &str| row[k].as_str().unwrap_or("?").to_string();
        let _ = writeln!(
            out,
            "    {} pid {} {} {}: {}",
            s("program"),
            row["pid"],
            s("call"),
            s("name"),
            s("provider")
        );
        let sites = arr(&row["sites"]);
        if sites.is_empty() {
            let _ = writeln!(out, "      at: not known (no call site was recorded)");
        }
        for site in sites {
            let _ = write!(out, "      at {}", site["at"].as_str().unwrap_or("?"));
            let callers: Vec<&str> = arr(&site["stack"])
                .iter()
                .skip(1)
                .filter_map(Value::as_str)
                .collect();
            if !callers.is_empty() {
                let _ = write!(out, ", called from {}", callers.join(" < "));
            }
            let _ = writeln!(out, " ({} calls)", site["count"]);
            if let Some(note) = site["note"].as_str() {
                let _ = writeln!(out, "        {note}");
            }
        }
        if let Some(n) = row["other_sites"].as_u64() {
            let _ = writeln!(out, "      and {n} more places");
        }
        if let Some(port) = row["advice"]["port"].as_str() {
            let _ = writeln!(out, "      port: {port}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quoted;

    #[test]
    fn words_are_quoted_only_when_a_shell_needs_it() {
        assert_eq!(shell_quoted("curl"), "curl");
        assert_eq!(shell_quoted("-w"), "-w");
        assert_eq!(shell_quoted("http://a:80/x.y"), "http://a:80/x.y");
        assert_eq!(shell_quoted("%{http_code}\n"), "'%{http_code}\n'");
        assert_eq!(shell_quoted("two words"), "'two words'");
        assert_eq!(shell_quoted("it's"), "'it'\\''s'");
        assert_eq!(shell_quoted(""), "''");
    }
}
