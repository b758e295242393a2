//! The study as one JSON document (its shape is in the module docs of
//! `study`), made from each mode's report and how each command ended. The text,
//! Markdown and HTML forms are rendered from this same document.

use super::lines;
use crate::tool::report::arr;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The modes a study compares, in the order they run.
pub const MODES: [&str; 2] = ["switch", "provider"];

/// Most error lines kept per command and mode.
pub const MAX_LINES: usize = 50;

/// What a command is to the study.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    /// `--server`: started first, waited for, stopped last.
    Server,
    /// A command run while the server runs.
    Client,
    /// A command of a study without a server.
    Command,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
            Role::Command => "command",
        }
    }
}

/// A command as the user wrote it.
pub struct Cmd {
    pub text: String,
    pub words: Vec<String>,
    pub role: Role,
}

/// How one command went in one mode.
#[derive(Default, Debug)]
pub struct Outcome {
    /// Its words with `{port}` replaced.
    pub argv: Vec<String>,
    /// Its exit status (128+N for a signal), None if it did not run.
    pub status: Option<i32>,
    /// It outlived `--timeout` and was stopped.
    pub timed_out: bool,
    /// It had to be killed after the grace period.
    pub killed: bool,
    /// The server, stopped by the study when the clients were done.
    pub stopped: bool,
    /// Why it did not run (or ran without a report), if so.
    pub note: Option<String>,
    pub seconds: f64,
    /// Its output lines that mention a socket call ([`lines`]), `{port}` for the
    /// mode's port, each once.
    pub error_lines: Vec<String>,
    /// Some of its output was not kept (the middle of a long stream).
    pub truncated: bool,
}

impl Outcome {
    /// The lines of `output` that mention a socket call, each shape once, at most
    /// [`MAX_LINES`].
    pub fn keep_lines(&mut self, output: impl IntoIterator<Item = String>, port: u16) {
        let mut seen: BTreeSet<String> = self.error_lines.iter().map(|l| lines::key(l)).collect();
        for line in output {
            if self.error_lines.len() >= MAX_LINES {
                break;
            }
            if !lines::mentions_socket_call(&line) {
                continue;
            }
            let line = lines::tidy(&super::words::unport(&line, port));
            if seen.insert(lines::key(&line)) {
                self.error_lines.push(line);
            }
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "argv": self.argv,
            "status": self.status,
            "timed_out": self.timed_out,
            "killed": self.killed,
            "stopped": self.stopped,
            "note": self.note,
            "seconds": (self.seconds * 1000.0).round() / 1000.0,
            "output_truncated": self.truncated,
            "error_lines": self.error_lines,
        })
    }

    /// What is compared between the modes.
    fn ending(&self) -> (Option<i32>, bool, bool) {
        (
            self.status,
            self.timed_out,
            self.note.is_some() && self.status.is_none(),
        )
    }
}

/// One mode of the study.
pub struct ModeRun {
    pub mode: &'static str,
    pub san: String,
    pub port: u16,
    /// One per command, in the commands' order.
    pub outcomes: Vec<Outcome>,
    /// The mode's report (`wsd run --json`'s document), or null.
    pub report: Value,
    /// Where the report came from.
    pub report_from: String,
}

/// The study's document.
pub fn build(cmds: &[Cmd], runs: &[ModeRun]) -> Value {
    let programs = programs(runs);
    let commands: Vec<Value> = cmds
        .iter()
        .enumerate()
        .map(|(i, cmd)| {
            let outcome = |m: &str| runs.iter().find(|r| r.mode == m).and_then(|r| r.outcomes.get(i));
            let (switch, provider) = (outcome("switch"), outcome("provider"));
            let changed = match (switch, provider) {
                (Some(s), Some(p)) => s.ending() != p.ending(),
                _ => false,
            };
            let before: BTreeSet<String> = switch
                .map(|s| s.error_lines.iter().map(|l| lines::key(l)).collect())
                .unwrap_or_default();
            let new_lines: Vec<&String> = provider
                .map(|p| {
                    p.error_lines
                        .iter()
                        .filter(|l| !before.contains(&lines::key(l)))
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "command": cmd.text,
                "role": cmd.role.name(),
                "program": super::words::program(&cmd.words),
                "switch": switch.map(Outcome::to_json),
                "provider": provider.map(Outcome::to_json),
                "status_changed": changed,
                "error_lines_provider": new_lines,
            })
        })
        .collect();
    let options: Vec<&Value> = programs.iter().flat_map(|p| arr(&p["options"])).collect();
    let refused_in = |o: &&&Value| o["provider"]["refused"].as_u64().unwrap_or(0) > 0;
    let totals = json!({
        "programs": programs.len(),
        "options": options.len(),
        "options_refused_provider": options.iter().filter(refused_in).count(),
        "calls_refused_provider": programs.iter().map(|p| p["refused"]["provider"].as_u64().unwrap_or(0)).sum::<u64>(),
        "options_changed": options.iter().filter(|o| o["changed"] == true).count(),
        "commands": commands.len(),
        "commands_changed": commands.iter().filter(|c| c["status_changed"] == true).count(),
    });
    let mut modes = Map::new();
    for run in runs {
        modes.insert(
            run.mode.to_string(),
            json!({
                "san": run.san,
                "port": run.port,
                "report_from": run.report_from,
                "sites": rows(&run.report).iter().any(|r| r.get("sites").is_some()),
                "summary": run.report["summary"],
            }),
        );
    }
    json!({
        "modes": modes,
        "server": cmds.iter().find(|c| c.role == Role::Server).map(|c| &c.text),
        "programs": programs,
        "commands": commands,
        "totals": totals,
    })
}

/// A report row's text field.
fn text<'a>(row: &'a Value, key: &str) -> &'a str {
    row[key].as_str().unwrap_or("")
}

/// The rows of a report.
fn rows(report: &Value) -> &[Value] {
    arr(&report["rows"])
}

/// What identifies an option of a program: (level, option, call, socket).
type OptionKey = (i64, i64, String, String);

fn option_key(row: &Value) -> OptionKey {
    (
        row["level"].as_i64().unwrap_or(0),
        row["option"].as_i64().unwrap_or(0),
        text(row, "call").to_string(),
        text(row, "socket").to_string(),
    )
}

/// Per program (by name, its processes merged), its options in both modes.
fn programs(runs: &[ModeRun]) -> Vec<Value> {
    // program -> option -> mode -> rows
    let mut by_program: BTreeMap<&str, BTreeMap<OptionKey, BTreeMap<&str, Vec<&Value>>>> = BTreeMap::new();
    for run in runs {
        for row in rows(&run.report) {
            by_program
                .entry(text(row, "program"))
                .or_default()
                .entry(option_key(row))
                .or_default()
                .entry(run.mode)
                .or_default()
                .push(row);
        }
    }
    by_program
        .into_iter()
        .map(|(name, options)| {
            let per_mode = |f: &dyn Fn(&[&Value]) -> u64| {
                let mut m = Map::new();
                for run in runs {
                    let rows: Vec<&Value> = rows(&run.report)
                        .iter()
                        .filter(|r| r["program"] == name)
                        .collect();
                    m.insert(run.mode.to_string(), json!(f(&rows)));
                }
                Value::Object(m)
            };
            let processes = per_mode(&|rows| {
                rows.iter()
                    .map(|r| r["pid"].as_u64())
                    .collect::<BTreeSet<_>>()
                    .len() as u64
            });
            let calls = per_mode(&|rows| rows.iter().map(|r| count(r)).sum());
            let refused = per_mode(&|rows| {
                rows.iter()
                    .filter(|r| r["verdict"] != "ok")
                    .map(|r| count(r))
                    .sum()
            });
            let options: Vec<Value> = options.values().map(|modes| option(runs, modes)).collect();
            json!({
                "name": name,
                "processes": processes,
                "calls": calls,
                "refused": refused,
                "options": options,
            })
        })
        .collect()
}

fn count(row: &Value) -> u64 {
    row["count"].as_u64().unwrap_or(0)
}

/// One option of a program, from its rows in each mode.
fn option(runs: &[ModeRun], modes: &BTreeMap<&str, Vec<&Value>>) -> Value {
    let first = modes.values().flatten().next().copied().unwrap_or(&Value::Null);
    let mut entry = json!({
        "call": first["call"],
        "socket": first["socket"],
        "level": first["level"],
        "level_name": first["level_name"],
        "option": first["option"],
        "option_name": first["option_name"],
        "name": first["name"],
        "count": modes.values().flatten().map(|r| count(r)).sum::<u64>(),
    });
    for run in runs {
        entry[run.mode] = modes.get(run.mode).map_or(Value::Null, |rows| in_mode(rows));
    }
    // Used in both modes, with another verdict in provider mode.
    let (switch, provider) = (&entry["switch"], &entry["provider"]);
    entry["changed"] =
        json!(!switch.is_null() && !provider.is_null() && switch["verdict"] != provider["verdict"]);
    // Provider-mode rows first: their sites and advice are those of the refusals.
    let ordered: Vec<&Value> = MODES
        .iter()
        .rev()
        .filter_map(|m| modes.get(m))
        .flatten()
        .copied()
        .collect();
    entry["bare_provider"] = ordered
        .iter()
        .map(|r| &r["provider"])
        .find(|p| p.as_str().is_some_and(|p| p != "ok"))
        .or_else(|| ordered.first().map(|r| &r["provider"]))
        .cloned()
        .unwrap_or(Value::Null);
    entry["sites"] = Value::Array(sites(&ordered));
    entry["advice"] = ordered
        .iter()
        .map(|r| &r["advice"])
        .find(|a| !a.is_null())
        .cloned()
        .unwrap_or(Value::Null);
    entry
}

/// An option's calls in one mode: each distinct outcome (verdict, errno, who
/// answered) with its count, the most counted first; the headline `verdict` is
/// the most counted refusal if any call was refused, else the most counted
/// outcome.
fn in_mode(rows: &[&Value]) -> Value {
    let mut outcomes: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for r in rows {
        let errno = r["errno"].as_str().unwrap_or("").to_string();
        let key = (
            text(r, "verdict").to_string(),
            errno,
            text(r, "answered_by").to_string(),
        );
        *outcomes.entry(key).or_default() += count(r);
    }
    let mut outcomes: Vec<((String, String, String), u64)> = outcomes.into_iter().collect();
    outcomes.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let refused: u64 = outcomes
        .iter()
        .filter(|((v, ..), _)| v != "ok")
        .map(|(_, n)| n)
        .sum();
    let head = outcomes
        .iter()
        .find(|((v, ..), _)| v != "ok")
        .or(outcomes.first())
        .map(|(k, _)| k.clone())
        .unwrap_or_default();
    let errno = |e: &str| if e.is_empty() { Value::Null } else { json!(e) };
    json!({
        "verdict": head.0,
        "errno": errno(&head.1),
        "answered_by": head.2,
        "count": outcomes.iter().map(|(_, n)| n).sum::<u64>(),
        "refused": refused,
        "outcomes": outcomes.iter().map(|((v, e, by), n)| json!({
            "verdict": v, "errno": errno(e), "answered_by": by, "count": n,
        })).collect::<Vec<_>>(),
    })
}

/// The rows' call sites, as the report gives them; a site (`at` and `stack`)
/// met in several rows is given once, its `count` the sum. The most counted
/// first.
fn sites(rows: &[&Value]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for site in rows.iter().flat_map(|r| arr(&r["sites"])) {
        match out
            .iter_mut()
            .find(|s| s["at"] == site["at"] && s["stack"] == site["stack"])
        {
            Some(s) => {
                if let (Some(a), Some(b)) = (s["count"].as_u64(), site["count"].as_u64()) {
                    s["count"] = json!(a + b);
                }
            }
            None => out.push(site.clone()),
        }
    }
    out.sort_by_key(|s| std::cmp::Reverse(s["count"].as_u64().unwrap_or(0)));
    out
}

/// The chart's rows: per program, its `setsockopt` calls in provider mode that
/// were refused and that were accepted.
pub fn chart_rows(doc: &Value) -> Vec<(String, u32, u32)> {
    arr(&doc["programs"])
        .iter()
        .map(|p| {
            let (mut refused, mut accepted) = (0u64, 0u64);
            for o in arr(&p["options"]) {
                if o["call"] != "setsockopt" {
                    continue;
                }
                let m = &o["provider"];
                let r = m["refused"].as_u64().unwrap_or(0);
                refused += r;
                accepted += m["count"].as_u64().unwrap_or(0).saturating_sub(r);
            }
            let n = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
            (
                p["name"].as_str().unwrap_or("?").to_string(),
                n(refused),
                n(accepted),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests;
