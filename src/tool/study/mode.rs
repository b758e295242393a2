//! How one mode of the study runs (the steps are in `study`'s module docs): its
//! fresh segment and its port, the server started and awaited, the commands run in
//! turn under `wsd run`, the server stopped, and what each command ended with; the
//! mode's report is that of the `wsd run` that ended last, else the segment read.
//! Also the removal of segments that killed studies left behind.

use super::document::{Cmd, MODES, ModeRun, Outcome, Role};
use super::exec::{self, Ended, Runner};
use super::words;
use crate::tool::report::{self, RunInfo};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};
use wsd::san::Segment;
use wsd::san::layout::DEFAULT_CAPACITY;

/// The study's settings for a mode.
pub(super) struct Plan<'a> {
    pub(super) cmds: &'a [Cmd],
    pub(super) runner: &'a Runner,
    pub(super) port: Option<u16>,
    pub(super) ready_timeout: Duration,
    pub(super) timeout: Duration,
    pub(super) grace: Duration,
}

/// A mode's segment, removed when dropped.
struct Fresh {
    name: String,
    seg: Segment,
}

impl Fresh {
    fn new(name: String) -> Result<Fresh, String> {
        let seg = match Segment::create(&name, DEFAULT_CAPACITY) {
            // Left by an earlier study with this pid, which has ended.
            Err(wsd::san::SegmentError::Exists) => {
                let _ = Segment::destroy(&name);
                Segment::create(&name, DEFAULT_CAPACITY)
            }
            r => r,
        };
        let seg = seg.map_err(|e| format!("SAN {name:?}: {e}"))?;
        Ok(Fresh { name, seg })
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        let _ = Segment::destroy(&self.name);
    }
}

/// Removes the segments of this user's earlier studies (`study-PID-MODE`) whose
/// study has ended and which nothing has touched for a minute (a study removes
/// its own; these are those of studies that were killed).
pub(super) fn forget_old_studies() {
    crate::tool::run::forget_ended(|san| {
        let (pid, mode) = san.strip_prefix("study-")?.split_once('-')?;
        MODES.contains(&mode).then(|| pid.parse().ok()).flatten()
    });
}

/// The report a command's `wsd run` wrote, if it wrote one.
fn report_of(path: &Path) -> Option<Value> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice::<Value>(&text)
        .ok()
        .filter(Value::is_object)
}

/// Fills `o` from how its command ended and the report its `wsd run` wrote.
fn record(o: &mut Outcome, ended: Ended, report: Option<&Value>, port: u16) {
    use std::os::unix::process::ExitStatusExt;
    o.seconds = ended.seconds;
    o.timed_out = ended.timed_out;
    o.killed = ended.killed;
    o.truncated = ended.stdout.dropped > 0 || ended.stderr.dropped > 0;
    let exit = ended
        .status
        .code()
        .unwrap_or_else(|| 128 + ended.status.signal().unwrap_or(0));
    let (out, err) = (ended.stdout.lines(), ended.stderr.lines());
    match report.and_then(|r| r["status"].as_i64()) {
        Some(st) => o.status = i32::try_from(st).ok(),
        None if ended.killed => {
            o.status = Some(exit);
            o.note = Some("killed after the grace period, so it wrote no report".into());
        }
        None => {
            // `wsd run` said why the program did not run (it cannot be started:
            // status 127), in a line of its own.
            let why = err.iter().rev().find(|l| l.starts_with("wsd: ")).cloned();
            o.status = None;
            o.note = Some(why.unwrap_or_else(|| format!("wsd run ended with status {exit} and no report")));
        }
    }
    o.keep_lines(out.into_iter().chain(err), port);
}

/// Runs every command in `mode` on a fresh segment of its own.
pub(super) fn run_mode(mode: &'static str, plan: &Plan<'_>) -> Result<ModeRun, String> {
    let fresh = Fresh::new(format!("study-{}-{mode}", std::process::id()))?;
    let port = match plan.port {
        Some(p) => p,
        None => exec::free_port().map_err(|e| format!("cannot find a free port: {e}"))?,
    };
    let mut outcomes: Vec<Outcome> = plan
        .cmds
        .iter()
        .map(|c| Outcome {
            argv: words::with_port(&c.words, port),
            ..Outcome::default()
        })
        .collect();
    // The report of the `wsd run` that ended last, and whose it is.
    let mut latest: Option<(Value, usize)> = None;
    let start =
        |i: usize, o: &mut Outcome| match plan.runner.start(mode, &fresh.name, &i.to_string(), &o.argv) {
            Ok(r) => Some(r),
            Err(e) => {
                o.note = Some(format!("cannot start wsd run: {e}"));
                None
            }
        };
    let mut server = None;
    let mut clients_may_run = true;
    if plan.cmds.first().is_some_and(|c| c.role == Role::Server) {
        let o = &mut outcomes[0];
        // Something else listening there would pass for the server.
        if exec::listening(port) {
            o.note = Some(format!(
                "not run: port {port} was in use before the server started (another program listens there)"
            ));
        } else {
            server = start(0, o);
        }
        let ready = match server.as_mut() {
            Some(s) => exec::wait_listening(s, port, plan.ready_timeout),
            None => false,
        };
        if let (Some(s), false) = (server.as_mut(), ready) {
            o.note = Some(if exec::interrupted().is_some() {
                "the study was interrupted before it listened".to_string()
            } else if s.ended().is_some() {
                format!("it ended before it listened on port {port}")
            } else {
                format!(
                    "it did not listen on port {port} within {} s, and was stopped",
                    plan.ready_timeout.as_secs_f64()
                )
            });
        }
        clients_may_run = ready;
    }
    for (i, cmd) in plan.cmds.iter().enumerate() {
        if cmd.role == Role::Server {
            continue;
        }
        let o = &mut outcomes[i];
        if !clients_may_run {
            o.note = Some("not run: the server was not listening".into());
            continue;
        }
        if exec::interrupted().is_some() {
            o.note = Some("not run: the study was interrupted".into());
            continue;
        }
        let Some(running) = start(i, o) else { continue };
        let path = running.report.clone();
        let ended = running.wait(Instant::now() + plan.timeout, plan.grace);
        let report = report_of(&path);
        record(o, ended, report.as_ref(), port);
        if let Some(r) = report {
            latest = Some((r, i));
        }
    }
    if let Some(running) = server {
        let path = running.report.clone();
        let ended = running.stop(plan.grace);
        let o = &mut outcomes[0];
        let note = o.note.take();
        let report = report_of(&path);
        record(o, ended, report.as_ref(), port);
        o.stopped = true;
        if note.is_some() {
            o.note = note;
        }
        if let Some(r) = report {
            latest = Some((r, 0));
        }
    }
    let (report, report_from) = match latest {
        Some((r, i)) => (r, format!("wsd run of `{}`, the last to end", plan.cmds[i].text)),
        None => {
            let info = RunInfo {
                command: None,
                status: None,
                mode: mode.to_string(),
                config_error: None,
                started_ns: None,
                seed: None,
            };
            (
                report::build(&fresh.seg, &info, None, &report::View::default()),
                format!(
                    "the segment {:?}, as no command's wsd run wrote a report",
                    fresh.name
                ),
            )
        }
    };
    Ok(ModeRun {
        mode,
        san: fresh.name.clone(),
        port,
        outcomes,
        report,
        report_from,
    })
}
