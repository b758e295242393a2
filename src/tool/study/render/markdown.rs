//! The study as Markdown: the modes and totals, a table per program, one of the
//! commands; and the escaping of table cells and code spans.

use super::super::document::MODES;
use super::{advice, arr, mode_line, notes, option_cells, processes, s, site, status, totals_line};
use serde_json::Value;
use std::fmt::Write;

/// `text` for a Markdown table cell.
fn md(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('<', "&lt;")
}

/// `text` as a Markdown code span (in a table cell).
pub(super) fn md_code(text: &str) -> String {
    let text = text.replace('|', "\\|").replace(['\n', '\r'], " ");
    if text.is_empty() {
        return String::new();
    }
    let fence = "`".repeat(text.split(|c| c != '`').map(str::len).max().unwrap_or(0) + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// The study as Markdown: the modes, the totals, a table per program and one of
/// the commands.
pub fn markdown(doc: &Value) -> String {
    let mut out = String::from("# wsd study\n\n");
    if let Some(server) = doc["server"].as_str() {
        let _ = writeln!(out, "Server: {}\n", md_code(server));
    }
    for mode in MODES {
        let _ = writeln!(out, "- {}", md(&mode_line(mode, &doc["modes"][mode])));
    }
    let _ = writeln!(out, "- totals: {}", md(&totals_line(&doc["totals"])));
    for p in arr(&doc["programs"]) {
        let _ = writeln!(out, "\n## {}\n\n{}\n", md(s(&p["name"])), md(&processes(p)));
        let _ = writeln!(
            out,
            "| call | socket | level/option | count | switch | provider | bare provider | sites |"
        );
        let _ = writeln!(out, "|---|---|---|--:|---|---|---|---|");
        for o in arr(&p["options"]) {
            let c = option_cells(o);
            let sites: Vec<String> = arr(&o["sites"]).iter().map(|x| md_code(&site(x))).collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                md(&c[0]),
                md(&c[1]),
                md_code(&c[2]),
                c[3],
                md(&c[4]),
                md(&c[5]),
                md(&c[6]),
                sites.join("<br>")
            );
        }
        let advice: Vec<(String, String)> = arr(&p["options"])
            .iter()
            .filter_map(|o| Some((s(&o["name"]).to_string(), advice(o)?)))
            .collect();
        if !advice.is_empty() {
            let _ = writeln!(out);
            for (name, a) in advice {
                let _ = writeln!(out, "- {}: {}", md_code(&name), md(&a));
            }
        }
    }
    let _ = writeln!(
        out,
        "\n## Commands\n\n| role | command | switch | provider | changed | error lines in provider mode only |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for c in arr(&doc["commands"]) {
        let mut lines: Vec<String> = notes(c).iter().map(|n| md(n)).collect();
        lines.extend(arr(&c["error_lines_provider"]).iter().map(|l| md_code(s(l))));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            s(&c["role"]),
            md_code(s(&c["command"])),
            md(&status(&c["switch"])),
            md(&status(&c["provider"])),
            if c["status_changed"] == true { "yes" } else { "no" },
            lines.join("<br>")
        );
    }
    out
}
