//! The study as text: the modes and totals, a table per program with its sites
//! and advice, and one of the commands with their notes and new error lines.

use super::super::document::MODES;
use super::{
    OPTION_HEADER, advice, arr, mode_line, notes, option_cells, processes, s, site, status, totals_line,
};
use serde_json::Value;
use std::fmt::Write;

/// Columns padded to their widest cell.
fn table(out: &mut String, indent: &str, header: &[&str], rows: &[Vec<String>]) {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |out: &mut String, cells: &[&str]| {
        let mut text = String::from(indent);
        for (c, w) in cells.iter().zip(&width) {
            let _ = write!(text, "{c:<w$}  ");
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(out, header);
    for row in rows {
        line(out, &row.iter().map(String::as_str).collect::<Vec<_>>());
    }
}

/// The study as text.
pub fn text(doc: &Value) -> String {
    let mut out = String::new();
    let _ = write!(out, "wsd study, modes switch and provider");
    if let Some(server) = doc["server"].as_str() {
        let _ = write!(out, ", server `{server}`");
    }
    let _ = writeln!(out);
    for mode in MODES {
        let _ = writeln!(out, "  {}", mode_line(mode, &doc["modes"][mode]));
    }
    let _ = writeln!(out, "  totals: {}", totals_line(&doc["totals"]));
    for p in arr(&doc["programs"]) {
        let _ = writeln!(out, "\n{}: {}", s(&p["name"]), processes(p));
        let rows: Vec<Vec<String>> = arr(&p["options"]).iter().map(option_cells).collect();
        table(&mut out, "  ", &OPTION_HEADER, &rows);
        for o in arr(&p["options"]) {
            let sites = arr(&o["sites"]);
            let advice = advice(o);
            if sites.is_empty() && advice.is_none() {
                continue;
            }
            let _ = writeln!(out, "  {} {}:", s(&o["call"]), s(&o["name"]));
            for st in sites {
                let _ = writeln!(out, "    at {}", site(st));
            }
            if let Some(a) = advice {
                let _ = writeln!(out, "    advice: {a}");
            }
        }
    }
    let _ = writeln!(out, "\ncommands (exit status in switch and provider mode):");
    let rows: Vec<Vec<String>> = arr(&doc["commands"])
        .iter()
        .map(|c| {
            vec![
                s(&c["role"]).to_string(),
                s(&c["command"]).to_string(),
                status(&c["switch"]),
                status(&c["provider"]),
                if c["status_changed"] == true {
                    "changed"
                } else {
                    ""
                }
                .to_string(),
            ]
        })
        .collect();
    table(
        &mut out,
        "  ",
        &["role", "command", "switch", "provider", ""],
        &rows,
    );
    for c in arr(&doc["commands"]) {
        let lines = arr(&c["error_lines_provider"]);
        let notes = notes(c);
        if lines.is_empty() && notes.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  `{}`:", s(&c["command"]));
        for n in notes {
            let _ = writeln!(out, "    {n}");
        }
        for l in lines {
            let _ = writeln!(out, "    provider mode only: {}", s(l));
        }
    }
    out
}
