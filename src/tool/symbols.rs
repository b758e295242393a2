//! Names for call sites (issue 16): the library records where a program called
//! `setsockopt` as (module build-id, module path, offset within the module), and the
//! tool — perhaps long after the process exited — turns each into a function and a
//! source line, else the nearest symbol, else the module and offset.
//!
//! The offset is the address minus the module's load base as `dl_iterate_phdr` gives
//! it (`dlpi_addr`). That makes it a virtual address in the ELF file's own address
//! space whatever the module is: a PIE executable or a shared object (base = where
//! it was mapped) or a non-PIE executable (base 0, so the offset is the absolute
//! address). DWARF and the symbol tables speak in those same addresses, so the
//! offset is looked up as it is.
//!
//! Where the names come from, in order:
//! 1. DWARF line and function information (inlined frames too), from the module
//!    itself or, when it has none, from separate debug information: Debian's
//!    `-dbgsym` layout, `/usr/lib/debug/.build-id/xx/rest.debug`, found by the
//!    recorded build-id, else the file the module's `.gnu_debuglink` names (beside
//!    the module, in its `.debug/` folder, or under `/usr/lib/debug` + its folder;
//!    the link's CRC must match). Debug files that `dwz` shrank name a
//!    supplementary file (`.gnu_debugaltlink`), which is loaded too.
//! 2. The nearest symbol of `.symtab` (the module's or the debug file's) and
//!    `.dynsym`: the one with the largest start at or below the address, if the
//!    address is within its size (or its size is unknown, 0).
//! 3. The module's file name and the offset.
//!
//! The build-id the library recorded must be the module file's own: a file rebuilt
//! or upgraded since the program ran would name the wrong code. When they differ the
//! site is still named if a debug file for the *recorded* build-id is at hand (it
//! describes exactly the code that ran); otherwise it is [`Named::Module`] with
//! `stale` set. An empty recorded build-id means the module had none at run time:
//! then a file that has one now is a different file (stale too).
//!
//! Parsing is the `object`, `gimli` and `addr2line` crates' work; nothing here reads
//! ELF or DWARF by hand. Files are read into memory (no mapping, so no `unsafe`):
//! the DWARF sections kept for a module are copies, and the file itself is dropped
//! once the module is loaded.
//!
//! Here: the sites, their names and the symbolizer, with each module's symbols.
//! `symbols/debug.rs` finds the separate debug files and loads the DWARF;
//! `symbols/tests.rs` holds the unit tests (their C program in `tests/fixture.rs`).

mod debug;

use debug::{find_debug_file, has_dwarf, load_dwarf};
use object::{Object, ObjectSymbol, SymbolKind};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A call site as the library recorded it.
#[derive(Clone, Copy, Debug)]
pub struct Site<'a> {
    /// The module's path as the dynamic linker had it (`dlpi_name`, or the
    /// executable's path for the main program).
    pub path: &'a Path,
    /// The module's GNU build-id (the `NT_GNU_BUILD_ID` note's bytes); empty if it
    /// had none.
    pub build_id: &'a [u8],
    /// The address minus the module's load base (`dlpi_addr`).
    pub offset: u64,
}

/// What a site is called, from the best source there was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Named {
    /// From DWARF: the function (demangled) and the source line.
    Source {
        function: String,
        /// The file as DWARF names it (usually a full path); shown by its file name.
        file: String,
        line: u32,
        /// When the site is in code inlined into another function, that (outermost,
        /// not inlined) function.
        inlined_into: Option<String>,
        /// The module's file name.
        module: String,
    },
    /// From a symbol table: the symbol (demangled) and how far past its start the
    /// site is.
    Symbol { name: String, plus: u64, module: String },
    /// Only the module's file name and the offset.
    Module {
        module: String,
        offset: u64,
        /// The module's file is not the one that ran (its build-id differs) and no
        /// debug file for the recorded build-id was found.
        stale: bool,
    },
}

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Named::Source {
                function,
                file,
                line,
                inlined_into,
                ..
            } => {
                let file = Path::new(file)
                    .file_name()
                    .map_or_else(|| file.into(), |n| n.to_string_lossy());
                write!(f, "{function} ({file}:{line})")?;
                if let Some(outer) = inlined_into {
                    write!(f, " inlined into {outer}")?;
                }
                Ok(())
            }
            Named::Symbol {
                name,
                plus: 0,
                module,
            } => write!(f, "{name} ({module})"),
            Named::Symbol { name, plus, module } => write!(f, "{name}+{plus:#x} ({module})"),
            Named::Module {
                module,
                offset,
                stale,
            } => {
                write!(f, "{module}+{offset:#x}")?;
                if *stale {
                    write!(f, " (the file changed since: build-id differs)")?;
                }
                Ok(())
            }
        }
    }
}

/// The largest file the symbolizer reads (a module or a debug file).
const MAX_FILE: u64 = 1 << 30;

/// The bytes of the regular file at `path`, if it is one of at most
/// [`MAX_FILE`] bytes. The path comes from the segment, which another process
/// may have written: a FIFO, a device or a huge file is not read (opened without
/// blocking, checked on the descriptor itself, read no further than its size).
pub(super) fn read_file(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > MAX_FILE {
        return None;
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    file.take(meta.len()).read_to_end(&mut data).ok()?;
    Some(data)
}

/// The GNU build-id of the ELF file at `path`, if it is one and has the note
/// (the tests compare it with what the library recorded).
#[cfg(test)]
pub fn build_id(path: &Path) -> Option<Vec<u8>> {
    let data = read_file(path)?;
    let file = object::File::parse(&*data).ok()?;
    file.build_id().ok().flatten().map(<[u8]>::to_vec)
}

/// Names sites, keeping each module it opened (by path and build-id) for the next.
pub struct Symbolizer {
    /// Where separate debug files live (`/usr/lib/debug`).
    debug_root: PathBuf,
    modules: HashMap<(PathBuf, Vec<u8>), Loaded>,
}

impl Symbolizer {
    /// A symbolizer that finds separate debug files under `/usr/lib/debug`.
    pub fn new() -> Self {
        Self::with_debug_root("/usr/lib/debug")
    }

    /// A symbolizer that finds separate debug files under `root` instead (in its
    /// `.build-id/` and, for `.gnu_debuglink`, under `root` + the module's folder).
    pub fn with_debug_root(root: impl Into<PathBuf>) -> Self {
        Symbolizer {
            debug_root: root.into(),
            modules: HashMap::new(),
        }
    }

    /// Names a *return address*, as the library records them: the site's offset is
    /// the instruction after the call, which may already belong to the next line or
    /// (after a call that does not return) the next function, so the name is that
    /// of `offset - 1`, the call instruction's last byte. `plus` and a module's
    /// offset are still given from the return address, as debuggers show frames.
    pub fn name(&mut self, site: &Site<'_>) -> Named {
        self.lookup(site, site.offset.saturating_sub(1))
    }

    /// Names the exact address `site.offset` (a function's entry, a faulting
    /// instruction): no adjustment. (The tests name functions by their entry.)
    #[cfg(test)]
    pub fn name_at(&mut self, site: &Site<'_>) -> Named {
        self.lookup(site, site.offset)
    }

    fn lookup(&mut self, site: &Site<'_>, probe: u64) -> Named {
        let key = (site.path.to_path_buf(), site.build_id.to_vec());
        let debug_root = &self.debug_root;
        let loaded = self
            .modules
            .entry(key)
            .or_insert_with(|| Loaded::open(site.path, site.build_id, debug_root));
        match loaded {
            Loaded::Module(module) => module.name(probe, site.offset),
            Loaded::Unnamed { module, stale } => Named::Module {
                module: module.clone(),
                offset: site.offset,
                stale: *stale,
            },
        }
    }
}

/// The DWARF reader kept for a module: owned copies of its sections.
type Reader = gimli::EndianRcSlice<gimli::RunTimeEndian>;

/// A module as far as it could be opened.
enum Loaded {
    Module(Module),
    /// Nothing to name sites with: the file is missing or unreadable, has no
    /// symbols, or (`stale`) is not the file that ran.
    Unnamed {
        module: String,
        stale: bool,
    },
}

struct Module {
    /// The file name, for [`Named`].
    name: String,
    /// Function symbols, sorted by address, globals before locals at one address.
    symbols: Vec<Sym>,
    dwarf: Option<addr2line::Context<Reader>>,
}

struct Sym {
    address: u64,
    size: u64,
    name: String,
}

impl Loaded {
    fn open(path: &Path, recorded: &[u8], debug_root: &Path) -> Loaded {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        // The module's file, if it is the one that ran.
        let data = read_file(path);
        let parsed = data.as_deref().and_then(|d| object::File::parse(d).ok());
        let current = parsed
            .as_ref()
            .map(|f| f.build_id().ok().flatten().unwrap_or_default());
        let stale = current.is_some_and(|id| id != recorded);
        let main = parsed.filter(|_| !stale);

        // Separate debug information, if the module's own file has no DWARF (or is
        // not the one that ran).
        let debug_data = if main.as_ref().is_some_and(has_dwarf) {
            None
        } else {
            find_debug_file(path, recorded, main.as_ref(), debug_root)
        };
        let debug = debug_data.as_deref().and_then(|d| object::File::parse(d).ok());
        if main.is_none() && debug.is_none() {
            return Loaded::Unnamed { module: name, stale };
        }

        let mut symbols = Vec::new();
        for file in main.iter().chain(debug.iter()) {
            collect_symbols(file, &mut symbols);
        }
        symbols.sort_by(|a: &(Sym, bool), b| {
            a.0.address
                .cmp(&b.0.address)
                .then(b.1.cmp(&a.1))
                .then(a.0.name.cmp(&b.0.name))
        });
        let mut symbols: Vec<Sym> = symbols.into_iter().map(|(s, _)| s).collect();
        symbols.dedup_by(|a, b| a.address == b.address && a.name == b.name);

        let dwarf = match (&main, &debug) {
            (Some(m), _) if has_dwarf(m) => load_dwarf(m, path, debug_root),
            (_, Some(d)) if has_dwarf(d) => load_dwarf(d, path, debug_root),
            _ => None,
        };
        if symbols.is_empty() && dwarf.is_none() {
            return Loaded::Unnamed { module: name, stale };
        }
        Loaded::Module(Module { name, symbols, dwarf })
    }
}

impl Module {
    /// Names `probe`; `shown` is the site's offset as recorded (for `plus` and
    /// `offset`).
    fn name(&self, probe: u64, shown: u64) -> Named {
        let symbol = self.symbol(probe);
        if let Some(named) = self.source(probe, symbol) {
            return named;
        }
        match symbol {
            Some(sym) => Named::Symbol {
                name: sym.name.clone(),
                plus: shown.wrapping_sub(sym.address),
                module: self.name.clone(),
            },
            None => Named::Module {
                module: self.name.clone(),
                offset: shown,
                stale: false,
            },
        }
    }

    /// The symbol with the largest start at or below `probe`, if `probe` is within
    /// it (or its size is unknown).
    fn symbol(&self, probe: u64) -> Option<&Sym> {
        let after = self.symbols.partition_point(|s| s.address <= probe);
        let start = self.symbols[..after].last()?.address;
        let first = self.symbols.partition_point(|s| s.address < start);
        // Of the symbols starting there (globals first), one that covers `probe`.
        self.symbols[first..after]
            .iter()
            .find(|s| s.size == 0 || probe - s.address < s.size)
    }

    /// The DWARF name of `probe`: innermost function and line, and the function it
    /// was inlined into. A line without a function is named by `symbol`.
    fn source(&self, probe: u64, symbol: Option<&Sym>) -> Option<Named> {
        let dwarf = self.dwarf.as_ref()?;
        let mut frames = dwarf.find_frames(probe).skip_all_loads().ok()?;
        let mut inner: Option<(Option<String>, String, u32)> = None;
        let mut outer: Option<String> = None;
        let mut count = 0;
        while let Ok(Some(frame)) = frames.next() {
            count += 1;
            let function = frame.function.as_ref().and_then(|f| {
                let raw = f.raw_name().ok()?;
                Some(demangle(&raw, f.language))
            });
            if inner.is_none() {
                let location = frame.location.as_ref()?;
                let (file, line) = (location.file?, location.line?);
                if line == 0 {
                    return None;
                }
                inner = Some((function, file.to_owned(), line));
            } else {
                outer = function;
            }
        }
        let (function, file, line) = inner?;
        let function = function.or_else(|| symbol.map(|s| s.name.clone()))?;
        Some(Named::Source {
            function,
            file,
            line,
            inlined_into: if count > 1 { outer } else { None },
            module: self.name.clone(),
        })
    }
}

/// `name` demangled if it is a mangled name (`_Z…`: C++'s and Rust's legacy
/// scheme, `_R…`: Rust's v0), else as it is: the demanglers also read a bare type
/// code, and would call a C function `f` "float".
fn demangle(name: &str, language: Option<gimli::DwLang>) -> String {
    if ["_Z", "__Z", "_R"].iter().any(|p| name.starts_with(p)) {
        addr2line::demangle_auto(name.into(), language).into_owned()
    } else {
        name.to_owned()
    }
}

/// The function symbols of `.symtab` and `.dynsym`, demangled, each with whether it
/// is global.
fn collect_symbols(file: &object::File<'_>, out: &mut Vec<(Sym, bool)>) {
    for sym in file.symbols().chain(file.dynamic_symbols()) {
        if sym.kind() != SymbolKind::Text || !sym.is_definition() {
            continue;
        }
        let Ok(raw) = sym.name() else { continue };
        if raw.is_empty() {
            continue;
        }
        let name = demangle(raw, None);
        out.push((
            Sym {
                address: sym.address(),
                size: sym.size(),
                name,
            },
            sym.is_global(),
        ));
    }
}

#[cfg(test)]
mod tests;
