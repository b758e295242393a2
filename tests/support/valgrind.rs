//! Valgrind's verdict on a run (see [`super::c_run`]): every error and definite
//! leak in its logs, each blamed on libwsd.so or not. A finding is libwsd's when
//! one of its stack frames is the library's code or Rust's standard library (the
//! C programs contain no other Rust) — unless it is a system call the library
//! passed the program's own arguments to, unchanged.

use super::c_run::Outcome;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Is valgrind installed?
pub fn present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    *PRESENT.get_or_init(|| {
        Command::new("valgrind")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// One error or leak record of a valgrind log: its headline and stack lines, and
/// whether it is libwsd's.
#[derive(Debug)]
pub struct Finding {
    pub text: String,
    pub ours: bool,
}

/// The stack frames' function names (`at 0x…: NAME (…)` / `by 0x…: NAME (…)`).
fn frames(lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| {
            let l = l.trim_start();
            let rest = l.strip_prefix("at ").or_else(|| l.strip_prefix("by "))?;
            let (_, f) = rest.split_once(": ")?;
            Some(f.to_string())
        })
        .collect()
}

/// Does this frame belong to libwsd.so: its code, or Rust's standard library (the
/// C programs contain no other Rust)?
fn frame_is_ours(frame: &str) -> bool {
    let src = format!("{}/src/", super::root().display());
    let front = format!("{}/front/src/", super::root().display());
    frame.contains("libwsd")
        || frame.starts_with("wsd::")
        || frame.contains(&src)
        || frame.contains(&front)
        || frame.contains("/rustc/")
        || ["(library/std/", "(library/core/", "(library/alloc/"]
            .iter()
            .any(|p| frame.contains(p))
}

/// Is `frame` the hook of `name`: a function whose path starts with
/// `wsd::shim::hooks::` and ends in `name` (at any depth of submodules:
/// `wsd::shim::hooks::name`, `wsd::shim::hooks::options::name`), or a closure
/// inside it (`…::name::{{closure}}`)?
fn is_hook_of(frame: &str, name: &str) -> bool {
    let function = frame.split(" (").next().unwrap_or(frame);
    let Some(mut path) = function.strip_prefix("wsd::shim::hooks::") else {
        return false;
    };
    while let Some(outer) = path.strip_suffix("::{{closure}}") {
        path = outer;
    }
    path.rsplit("::").next() == Some(name)
}

/// Is `frame` the export of `name` (`wsd::shim::exports::name`), or inside it?
fn is_export_of(frame: &str, name: &str) -> bool {
    frame.starts_with(&format!("wsd::shim::exports::{name} "))
        || frame.starts_with(&format!("wsd::shim::exports::{name}::"))
}

/// A system call that libwsd passed the program's own arguments to, unchanged: the
/// first of our frames is `wsd::shim::real::NAME`, called by the hook or export of
/// the same NAME, or the real function NAME inlined (`NAME (…/real.rs:…)`, the
/// front's or the engine's expansion of `wsd_front::real_functions!`). A bad pointer there is the
/// program's, as it is without the library (bad_memory.c hands the kernel such
/// pointers on purpose).
fn passed_on_unchanged(headline: &str, frames: &[String]) -> bool {
    if !headline.starts_with("Syscall param") {
        return false;
    }
    let Some(i) = frames.iter().position(|f| frame_is_ours(f)) else {
        return false;
    };
    if let Some((name, place)) = frames[i].split_once(" (")
        && !name.contains("::")
        && (place.contains("src/shim/real.rs:") || place.contains("front/src/real.rs:"))
    {
        return true;
    }
    let Some(name) = frames[i]
        .strip_prefix("wsd::shim::real::")
        .and_then(|r| r.split([' ', '(']).next())
    else {
        return false;
    };
    frames
        .get(i + 1)
        .is_some_and(|caller| is_hook_of(caller, name) || is_export_of(caller, name))
}

const ERROR_HEADLINES: &[&str] = &[
    "Invalid ",
    "Syscall param",
    "Conditional jump",
    "Use of uninitialised",
    "Mismatched free",
    "Source and destination overlap",
    "Argument '",
    "Jump to the invalid address",
    "Process terminating with default action",
];

/// Every error and definite leak in one valgrind log.
pub fn findings(log: &str) -> Vec<Finding> {
    let mut blocks: Vec<Vec<&str>> = vec![Vec::new()];
    for line in log.lines() {
        // `==PID== text`
        let text = match line.strip_prefix("==").and_then(|l| l.split_once("== ")) {
            Some((_, t)) => t,
            None if line.starts_with("==") => "",
            None => continue,
        };
        if text.trim().is_empty() {
            blocks.push(Vec::new());
        } else {
            blocks.last_mut().unwrap().push(text);
        }
    }
    let mut out = Vec::new();
    for b in blocks {
        let lines: Vec<&str> = b.into_iter().skip_while(|l| l.starts_with("Thread ")).collect();
        let Some(&headline) = lines.first() else { continue };
        let is_error = ERROR_HEADLINES.iter().any(|h| headline.starts_with(h))
            || headline.contains("definitely lost in loss record");
        if !is_error {
            continue;
        }
        let fr = frames(&lines);
        let ours = fr.iter().any(|f| frame_is_ours(f)) && !passed_on_unchanged(headline, &fr);
        out.push(Finding {
            text: lines.join("\n"),
            ours,
        });
    }
    out
}

/// The valgrind verdict of a run: it ran under valgrind, and nothing invalid and no
/// definite leak is attributed to libwsd.so. Returns a note on the other findings.
pub fn assert_clean(o: &Outcome) -> String {
    assert!(!o.hung, "hung\n{}", o.report());
    assert!(
        !o.stderr.contains("panicked at"),
        "the library panicked\n{}",
        o.report()
    );
    assert!(
        o.valgrind_logs.iter().any(|l| l.contains("Memcheck")),
        "valgrind wrote no log\n{}",
        o.report()
    );
    let all: Vec<Finding> = o.valgrind_logs.iter().flat_map(|l| findings(l)).collect();
    let ours: Vec<&Finding> = all.iter().filter(|f| f.ours).collect();
    assert!(
        ours.is_empty(),
        "valgrind: {} finding(s) in libwsd.so\n\n{}\n\n{}",
        ours.len(),
        ours.iter()
            .map(|f| f.text.as_str())
            .collect::<Vec<_>>()
            .join("\n\n"),
        o.report()
    );
    // 99 is valgrind's verdict; any other failure is the program's own checks.
    let code = o.status.code();
    assert!(
        code == Some(0) || (code == Some(99) && !all.is_empty()),
        "failed under valgrind\n{}",
        o.report()
    );
    if all.is_empty() {
        String::new()
    } else {
        format!(
            "{} finding(s) not libwsd's (the program's own, passed on unchanged): {}",
            all.len(),
            all.iter()
                .map(|f| f.text.lines().next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("; ")
        )
    }
}
