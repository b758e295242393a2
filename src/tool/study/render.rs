//! The study as text, Markdown and one self-contained HTML page, each rendered
//! from the JSON document ([`super::document`]).
//!
//! The page has no external resources: its CSS is inline and its chart — "options
//! refused per program", drawn by `chart::refused_per_program` with plotters — is
//! inline SVG. Its parts have stable ids and classes: `#totals`, `#modes`,
//! `figure#refused-chart` (the `svg` in it), `#programs` holding one
//! `section.program` per program (`data-program` its name, a `table.options`
//! whose rows refused in provider mode are `tr.refused`), and `#commands` (rows
//! whose exit status changed are `tr.changed`, their new error lines `ul.error-lines`).

use super::super::chart;
use super::document::MODES;
use serde_json::Value;
use std::fmt::Write;

fn arr(v: &Value) -> &[Value] {
    v.as_array().map_or(&[][..], Vec::as_slice)
}

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
        let notes: Vec<String> = MODES
            .iter()
            .filter_map(|m| c[*m]["note"].as_str().map(|n| format!("{m}: {n}")))
            .collect();
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

/// `text` for a Markdown table cell.
fn md(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('<', "&lt;")
}

/// `text` as a Markdown code span (in a table cell).
fn md_code(text: &str) -> String {
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
        let mut lines: Vec<String> = MODES
            .iter()
            .filter_map(|m| c[*m]["note"].as_str().map(|n| md(&format!("{m}: {n}"))))
            .collect();
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
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
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
    let svg = chart::refused_per_program(&super::document::chart_rows(doc));
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
        let notes: Vec<String> = MODES
            .iter()
            .filter_map(|m| c[*m]["note"].as_str().map(|n| format!("{m}: {n}")))
            .collect();
        for n in notes {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "modes": {
                "switch": {"san": "s1", "port": 5, "report_from": "x", "summary": {"endpoints": 2, "calls": 3}},
                "provider": {"san": "s2", "port": 6, "report_from": "x", "summary": null},
            },
            "server": "srv --port {port}",
            "programs": [{
                "name": "a<b>|c", "processes": {"switch": 1, "provider": 2},
                "calls": {"switch": 1, "provider": 2}, "refused": {"switch": 0, "provider": 2},
                "options": [{
                    "call": "setsockopt", "socket": "san", "name": "IPPROTO_TCP/TCP_NODELAY", "count": 3,
                    "switch": {"verdict": "ok", "answered_by": "kernel", "count": 1, "refused": 0, "outcomes": [{}]},
                    "provider": {"verdict": "WSAENOPROTOOPT", "answered_by": "provider", "count": 2, "refused": 2, "outcomes": [{}]},
                    "bare_provider": "WSAENOPROTOOPT",
                    "sites": [{"at": "f+0x1 (a)", "count": 2}],
                    "advice": {"provider": "set it <never>"},
                }],
            }],
            "commands": [{
                "command": "cli -p {port} 'x|y'", "role": "client",
                "switch": {"status": 0}, "provider": {"status": 1, "note": null},
                "status_changed": true, "error_lines_provider": ["setsockopt(TCP_NODELAY): <no>"],
            }],
            "totals": {"programs": 1, "options": 1, "options_refused_provider": 1, "calls_refused_provider": 2,
                       "options_changed": 1, "commands": 1, "commands_changed": 1},
        })
    }

    #[test]
    fn text_and_markdown_say_it_all() {
        let t = text(&doc());
        for want in [
            "IPPROTO_TCP/TCP_NODELAY",
            "ok by kernel ×1",
            "WSAENOPROTOOPT by provider ×2",
            "at f+0x1 (a) ×2",
            "advice: provider: set it <never>",
            "provider mode only: setsockopt(TCP_NODELAY): <no>",
            "changed",
            "1 process in switch mode, 2 in provider mode",
        ] {
            assert!(t.contains(want), "{want} in\n{t}");
        }
        let m = markdown(&doc());
        assert!(m.contains("## a&lt;b>\\|c"), "{m}");
        assert!(
            m.contains("| setsockopt | san | `IPPROTO_TCP/TCP_NODELAY` | 3 |"),
            "{m}"
        );
        assert!(m.contains("`cli -p {port} 'x\\|y'`"), "{m}");
        assert!(m.contains("| yes | `setsockopt(TCP_NODELAY): <no>` |"), "{m}");
        assert_eq!(md_code("a`b"), "``a`b``");
        assert_eq!(md_code("`a"), "`` `a ``");
    }

    #[test]
    fn the_page_is_whole_and_escaped() {
        let page = html(&doc());
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.trim_end().ends_with("</html>"));
        assert!(page.contains("<figure id=\"refused-chart\">\n<svg"), "{page}");
        assert!(page.contains("data-program=\"a&lt;b&gt;|c\""));
        assert!(page.contains("<tr class=\"refused\""));
        assert!(page.contains("<tr class=\"changed\">"));
        assert!(page.contains("<code>setsockopt(TCP_NODELAY): &lt;no&gt;</code>"));
        assert!(!page.contains("<no>"));
        // Self-contained: nothing is fetched.
        for external in ["<link", "<script", "src=", "@import", "url("] {
            assert!(!page.contains(external), "{external}");
        }
    }
}
