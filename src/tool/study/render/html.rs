//! The study as one self-contained HTML page.
//!
//! The page has no external resources: its CSS is inline and its chart — "options
//! refused per program", drawn by `chart::refused_per_program` with plotters — is
//! inline SVG. Its parts have stable ids and classes: `#totals`, `#modes`,
//! `figure#refused-chart` (the `svg` in it), `#programs` holding one
//! `section.program` per program (`data-program` its name, a `table.options`
//! whose rows refused in provider mode are `tr.refused`), and `#commands` (rows
//! whose exit status changed are `tr.changed`, their new error lines `ul.error-lines`).

use super::super::document::MODES;
use super::{OPTION_HEADER, advice, arr, mode_line, notes, option_cells, processes, s, site, status};
use crate::tool::chart;
use serde_json::Value;
use std::fmt::Write;

/// `text` for HTML text or an attribute value.
fn h(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str =
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top;max-width:30em;overflow-wrap:break-word}
th{background:#f3f3f3}
td.n{text-align:right}
td.v{white-space:nowrap}
tr.refused td,tr.changed td{background:#fbeae8}
code{font-family:ui-monospace,monospace;font-size:90%}
figure{margin:1em 0}
figure svg{max-width:100%;height:auto}
ul.error-lines,ul.sites{margin:0;padding-left:1.2em}
.advice{color:#555;font-size:90%}
";

/// The study as one self-contained HTML page.
pub fn html(doc: &Value) -> String {
    let mut out = String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(
        out,
        "<title>wsd study</title>\n<style>\n{CSS}</style>\n</head>\n<body>"
    );
    let _ = writeln!(out, "<h1>wsd study</h1>");
    if let Some(server) = doc["server"].as_str() {
        let _ = writeln!(out, "<p id=\"server\">Server: <code>{}</code></p>", h(server));
    }
    let _ = writeln!(out, "<ul id=\"modes\">");
    for mode in MODES {
        let _ = writeln!(
            out,
            "<li data-mode=\"{mode}\">{}</li>",
            h(&mode_line(mode, &doc["modes"][mode]))
        );
    }
    let _ = writeln!(out, "</ul>");
    let t = &doc["totals"];
    let _ = writeln!(out, "<table id=\"totals\">");
    for (label, key) in [
        ("programs", "programs"),
        ("options", "options"),
        ("options refused in provider mode", "options_refused_provider"),
        ("calls refused in provider mode", "calls_refused_provider"),
        ("options with another verdict in provider mode", "options_changed"),
        ("commands", "commands"),
        ("commands whose exit status changed", "commands_changed"),
    ] {
        let _ = writeln!(
            out,
            "<tr data-total=\"{key}\"><th>{label}</th><td class=\"n\">{}</td></tr>",
            t[key]
        );
    }
    let _ = writeln!(out, "</table>");
    let svg = chart::refused_per_program(&super::super::document::chart_rows(doc));
    let _ = writeln!(
        out,
        "<figure id=\"refused-chart\">\n{}\n<figcaption>setsockopt calls per program in provider mode: \
         refused (red) and accepted (grey)</figcaption>\n</figure>",
        svg.trim()
    );
    let _ = writeln!(out, "<section id=\"programs\">");
    for (i, p) in arr(&doc["programs"]).iter().enumerate() {
        let name = s(&p["name"]);
        let _ = writeln!(
            out,
            "<section class=\"program\" id=\"program-{i}\" data-program=\"{}\">\n<h2>{}</h2>\n<p>{}</p>",
            h(name),
            h(name),
            h(&processes(p))
        );
        let _ = write!(out, "<table class=\"options\">\n<tr>");
        for col in OPTION_HEADER.iter().chain(&["sites", "advice"]) {
            let _ = write!(out, "<th>{col}</th>");
        }
        let _ = writeln!(out, "</tr>");
        for o in arr(&p["options"]) {
            let refused = o["provider"]["refused"].as_u64().unwrap_or(0) > 0;
            let c = option_cells(o);
            let _ = write!(
                out,
                "<tr{} data-option=\"{}\">",
                if refused { " class=\"refused\"" } else { "" },
                h(&c[2])
            );
            for (j, cell) in c.iter().enumerate() {
                let _ = match j {
                    2 => write!(out, "<td><code>{}</code></td>", h(cell)),
                    3 => write!(out, "<td class=\"n\">{}</td>", h(cell)),
                    4 | 5 => write!(out, "<td class=\"v\">{}</td>", h(cell)),
                    _ => write!(out, "<td>{}</td>", h(cell)),
                };
            }
            let sites = arr(&o["sites"]);
            if sites.is_empty() {
                let _ = write!(out, "<td></td>");
            } else {
                let _ = write!(out, "<td><ul class=\"sites\">");
                for st in sites {
                    let _ = write!(out, "<li><code>{}</code></li>", h(&site(st)));
                }
                let _ = write!(out, "</ul></td>");
            }
            let _ = writeln!(
                out,
                "<td class=\"advice\">{}</td></tr>",
                h(&advice(o).unwrap_or_default())
            );
        }
        let _ = writeln!(out, "</table>\n</section>");
    }
    let _ = writeln!(out, "</section>");
    let _ = writeln!(
        out,
        "<section id=\"commands\">\n<h2>Commands</h2>\n<table>\n<tr><th>role</th><th>command</th>\
         <th>switch</th><th>provider</th><th>error lines in provider mode only</th></tr>"
    );
    for c in arr(&doc["commands"]) {
        let changed = c["status_changed"] == true;
        let _ = write!(
            out,
            "<tr{}><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>",
            if changed { " class=\"changed\"" } else { "" },
            h(s(&c["role"])),
            h(s(&c["command"])),
            h(&status(&c["switch"])),
            h(&status(&c["provider"]))
        );
        for n in notes(c) {
            let _ = write!(out, "<p>{}</p>", h(&n));
        }
        let lines = arr(&c["error_lines_provider"]);
        if !lines.is_empty() {
            let _ = write!(out, "<ul class=\"error-lines\">");
            for l in lines {
                let _ = write!(out, "<li><code>{}</code></li>", h(s(l)));
            }
            let _ = write!(out, "</ul>");
        }
        let _ = writeln!(out, "</td></tr>");
    }
    let _ = writeln!(out, "</table>\n</section>\n</body>\n</html>");
    out
}
