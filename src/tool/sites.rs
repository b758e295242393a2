//! The call sites of the report's rows (issue 16), named: the segment keeps each
//! site as frames (module, offset) — see `san::sites` — and this names them with
//! the symbolizer (`symbols`): function and file:line where the module has debug
//! information, else the nearest symbol, else the module and offset.
//!
//! A report row merges the rows of every counting lane with its key, so its
//! sites are those of all its rows, equal ones added together, the busiest
//! first, [`PER_ROW`] at most (the others are counted in `other_sites`).
//!
//! Interpreted programs: a call made by Python's `socket` module is said to be
//! so (`interpreter`), with a note that the Python file and line are not
//! recorded: the library sees the interpreter's C frames, not the script's.

use super::symbols::{Named, Site, Symbolizer};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use wsd::san::Segment;
use wsd::san::sites::{self, ModuleInfo, frame_parts};

/// Sites shown per report row.
pub const PER_ROW: usize = 4;

/// The segment's sites by report row index, and the names of their frames.
pub struct Sites<'a> {
    seg: &'a Segment,
    by_row: HashMap<u32, Vec<sites::Site>>,
    symbolizer: Symbolizer,
    names: HashMap<u64, Named>,
    /// The segment's modules, read once each.
    modules: HashMap<u16, Option<ModuleInfo>>,
}

impl<'a> Sites<'a> {
    pub fn of(seg: &'a Segment) -> Sites<'a> {
        let mut by_row: HashMap<u32, Vec<sites::Site>> = HashMap::new();
        for s in seg.sites() {
            by_row.entry(s.row).or_default().push(s);
        }
        Sites {
            seg,
            by_row,
            symbolizer: Symbolizer::new(),
            names: HashMap::new(),
            modules: HashMap::new(),
        }
    }

    /// Module number `n` of the segment.
    fn module(&mut self, n: u16) -> Option<&ModuleInfo> {
        let seg = self.seg;
        self.modules
            .entry(n)
            .or_insert_with(|| seg.module_info(n))
            .as_ref()
    }

    /// The name of one frame word.
    fn name(&mut self, word: u64) -> Option<Named> {
        if let Some(n) = self.names.get(&word) {
            return Some(n.clone());
        }
        let (module, offset) = frame_parts(word);
        let info = self.module(module)?.clone();
        let named = self.symbolizer.name(&Site {
            path: Path::new(&info.path),
            build_id: &info.build_id,
            offset,
        });
        self.names.insert(word, named.clone());
        Some(named)
    }

    /// The path of a frame word's module.
    fn module_path(&mut self, word: u64) -> Option<String> {
        self.module(frame_parts(word).0).map(|m| m.path.clone())
    }

    /// The JSON of the sites of a report row made of report rows `rows`, and
    /// how many further sites there were.
    pub fn of_rows(&mut self, rows: &[u32]) -> (Vec<Value>, usize) {
        let mut merged: HashMap<Vec<u64>, u64> = HashMap::new();
        for r in rows {
            for s in self.by_row.get(r).into_iter().flatten() {
                *merged.entry(s.frames.clone()).or_insert(0) += s.count;
            }
        }
        let mut all: Vec<(Vec<u64>, u64)> = merged.into_iter().collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let other = all.len().saturating_sub(PER_ROW);
        let shown = all
            .into_iter()
            .take(PER_ROW)
            .filter_map(|(frames, count)| self.site_json(&frames, count))
            .collect();
        (shown, other)
    }

    fn site_json(&mut self, frames: &[u64], count: u64) -> Option<Value> {
        let first = *frames.first()?;
        let named = self.name(first)?;
        let stack: Vec<String> = frames
            .iter()
            .filter_map(|&w| self.name(w).map(|n| n.to_string()))
            .collect();
        let (function, file, line) = match &named {
            Named::Source {
                function, file, line, ..
            } => (Some(function.clone()), Some(file.clone()), Some(*line)),
            Named::Symbol { name, .. } => (Some(name.clone()), None, None),
            Named::Module { .. } => (None, None, None),
        };
        let module = self.module_path(first).unwrap_or_default();
        let mut v = json!({
            "at": named.to_string(),
            "function": function,
            "file": file,
            "line": line,
            "module": module,
            "offset": frame_parts(first).1,
            "count": count,
            "stack": stack,
        });
        if let Some(note) = interpreter(&module, &stack) {
            v["interpreter"] = json!(note.0);
            v["note"] = json!(note.1);
        }
        Some(v)
    }
}

/// An interpreter's socket module, recognised by the module or the function the
/// call was made from: (interpreter, what the report can say).
fn interpreter(module: &str, stack: &[String]) -> Option<(&'static str, &'static str)> {
    let base = Path::new(module).file_name()?.to_string_lossy().into_owned();
    // The socket module built as its own object, or built into the interpreter
    // (then its functions name it).
    let socket_module = base.starts_with("_socket.");
    let interpreter = base.starts_with("python") || base.starts_with("libpython");
    let socket_call = stack
        .iter()
        .any(|f| f.contains("sock_setsockopt") || f.contains("sock_getsockopt"));
    (socket_module || interpreter && socket_call).then_some((
        "python",
        "called from Python's socket module (socket.setsockopt/getsockopt); the Python file and line are not recorded: the library sees the interpreter's C frames, not the script's",
    ))
}
