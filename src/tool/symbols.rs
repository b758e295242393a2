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

use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

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

/// The GNU build-id of the ELF file at `path`, if it is one and has the note
/// (the tests compare it with what the library recorded).
#[cfg(test)]
pub fn build_id(path: &Path) -> Option<Vec<u8>> {
    let data = std::fs::read(path).ok()?;
    let file = object::File::parse(&*data).ok()?;
    file.build_id().ok().flatten().map(<[u8]>::to_vec)
}

/// Names sites, keeping each module it opened (by path and build-id) for the next.
pub struct Symbolizer {
    /// Where separate debug files live (`/usr/lib/debug`).
    debug_root: PathBuf,
    modules: HashMap<(PathBuf, Vec<u8>), Loaded>,
}

impl Default for Symbolizer {
    fn default() -> Self {
        Self::new()
    }
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
        let data = std::fs::read(path).ok();
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

fn has_dwarf(file: &object::File<'_>) -> bool {
    file.section_by_name(".debug_info")
        .is_some_and(|s| s.size() > 0 && s.file_range().is_some())
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

/// The separate debug file's contents: by the recorded build-id, else by the
/// module's `.gnu_debuglink` (only if `main` is the file that ran).
fn find_debug_file(
    path: &Path,
    recorded: &[u8],
    main: Option<&object::File<'_>>,
    debug_root: &Path,
) -> Option<Vec<u8>> {
    if let Some(data) = by_build_id(recorded, debug_root) {
        return Some(data);
    }
    let (link, crc) = main?.gnu_debuglink().ok().flatten()?;
    let link = Path::new(std::str::from_utf8(link).ok()?);
    let dir = path.parent().unwrap_or(Path::new(""));
    let dir_abs = std::fs::canonicalize(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| dir.to_path_buf());
    let candidates = [
        dir.join(link),
        dir.join(".debug").join(link),
        debug_root
            .join(dir_abs.strip_prefix("/").unwrap_or(&dir_abs))
            .join(link),
    ];
    candidates.iter().find_map(|candidate| {
        let data = std::fs::read(candidate).ok()?;
        (crc32fast::hash(&data) == crc).then_some(data)
    })
}

/// `root/.build-id/xx/rest.debug` for `id`, if that file has that build-id.
fn by_build_id(id: &[u8], root: &Path) -> Option<Vec<u8>> {
    let (first, rest) = id.split_first()?;
    let hex: String = rest.iter().map(|b| format!("{b:02x}")).collect();
    let file = root
        .join(".build-id")
        .join(format!("{first:02x}"))
        .join(format!("{hex}.debug"));
    let data = std::fs::read(file).ok()?;
    let same = object::File::parse(&*data)
        .ok()
        .and_then(|f| f.build_id().ok().flatten().map(|b| b == id))
        .unwrap_or(false);
    same.then_some(data)
}

/// An addr2line context for `file`'s DWARF, with its `dwz` supplementary file if it
/// names one (`.gnu_debugaltlink`) and that is found.
fn load_dwarf(file: &object::File<'_>, path: &Path, debug_root: &Path) -> Option<addr2line::Context<Reader>> {
    let mut dwarf = dwarf_sections(file)?;
    if let Ok(Some((alt, id))) = file.gnu_debugaltlink() {
        let alt = std::str::from_utf8(alt).ok().map(Path::new);
        let sup = by_build_id(id, debug_root).or_else(|| {
            // As named: absolute (Debian's), else beside the module.
            let dir = path.parent().unwrap_or(Path::new(""));
            let data = std::fs::read(dir.join(alt?)).ok()?;
            let same = object::File::parse(&*data)
                .ok()
                .and_then(|f| f.build_id().ok().flatten().map(|b| b == id))
                .unwrap_or(false);
            same.then_some(data)
        });
        if let Some(sup) = sup.as_deref().and_then(|d| object::File::parse(d).ok())
            && let Some(sup) = dwarf_sections(&sup)
        {
            dwarf.set_sup(sup);
        }
    }
    addr2line::Context::from_dwarf(dwarf).ok()
}

/// `file`'s DWARF sections, copied out (decompressed if need be).
fn dwarf_sections(file: &object::File<'_>) -> Option<gimli::Dwarf<Reader>> {
    let endian = if file.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<Reader, gimli::Error> {
        let data = file
            .section_by_name(id.name())
            .and_then(|s| s.uncompressed_data().ok())
            .unwrap_or_default();
        Ok(Reader::new(Rc::from(&*data), endian))
    };
    gimli::Dwarf::load(load).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::sync::OnceLock;
    use std::time::Instant;

    /// `main` calls `helper` (another file), which stores its return address; the
    /// program prints it minus the load base, as the library records it. The call's
    /// result is unused, so the return address is the first byte of the next line.
    const A_C: &str = r#"#define _GNU_SOURCE
#include <link.h>
#include <stdint.h>
#include <stdio.h>

int helper(int x);
int mangled(void) __asm__("_ZN3wsd4siteEv");
uintptr_t returned_to;
static uintptr_t base;

static int first(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size; (void)data;
    base = info->dlpi_addr;
    return 1;
}

static int hidden(int x) { return x - 1; }

int main(int argc, char **argv) {
    (void)argv;
    dl_iterate_phdr(first, NULL);
    helper(argc); /* CALL: the return address is the next line's code */
    int r = hidden(argc);
    printf("%lx %d %d\n", (unsigned long)(returned_to - base), r, mangled());
    return 0;
}
"#;
    const B_C: &str = r#"#include <stdint.h>
extern uintptr_t returned_to;

int mangled(void) __asm__("_ZN3wsd4siteEv");
int mangled(void) { return 7; }

int helper(int x) { /* HELPER */
    returned_to = (uintptr_t)__builtin_return_address(0);
    return x * 3 + 1;
}
"#;

    fn line_of(source: &str, marker: &str) -> u32 {
        let index = source.lines().position(|l| l.contains(marker)).unwrap();
        u32::try_from(index + 1).unwrap()
    }

    struct Fixture {
        dir: PathBuf,
    }

    impl Fixture {
        fn path(&self, name: &str) -> PathBuf {
            self.dir.join(name)
        }
    }

    fn run(cmd: &mut Command) -> String {
        let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Compiles the program once per test run, in `target/symbols-tests/PID`, in
    /// the forms the tests need (the directories of runs that are gone are removed).
    fn fixture() -> &'static Fixture {
        static FIXTURE: OnceLock<Fixture> = OnceLock::new();
        FIXTURE.get_or_init(|| {
            let top = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/symbols-tests");
            if let Ok(entries) = std::fs::read_dir(&top) {
                for entry in entries.flatten() {
                    let gone = entry
                        .file_name()
                        .to_str()
                        .and_then(|n| n.parse::<u32>().ok())
                        .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
                    if gone {
                        let _ = std::fs::remove_dir_all(entry.path());
                    }
                }
            }
            let dir = top.join(std::process::id().to_string());
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("a.c"), A_C).unwrap();
            std::fs::write(dir.join("b.c"), B_C).unwrap();
            let cc = |out: &str, extra: &[&str]| {
                run(Command::new("cc")
                    .current_dir(&dir)
                    .args(["-g", "-O0", "-Wl,--build-id", "-o", out, "a.c", "b.c"])
                    .args(extra));
            };
            cc("prog", &[]);
            cc("prog-nopie", &["-fno-pie", "-no-pie"]);
            cc("prog-rdyn", &["-rdynamic"]);
            let tool = |name: &str, args: &[&str]| {
                run(Command::new(name).current_dir(&dir).args(args));
            };
            tool("strip", &["-o", "prog-rdyn.stripped", "prog-rdyn"]);
            tool("strip", &["-o", "prog.stripped", "prog"]);
            tool("objcopy", &["--only-keep-debug", "prog", "prog.debug"]);
            // `.gnu_debuglink` to `.debug/prog.debug` beside the stripped program.
            std::fs::create_dir_all(dir.join("linked/.debug")).unwrap();
            std::fs::copy(dir.join("prog.debug"), dir.join("linked/.debug/prog.debug")).unwrap();
            tool(
                "objcopy",
                &[
                    "--add-gnu-debuglink=linked/.debug/prog.debug",
                    "prog.stripped",
                    "linked/prog",
                ],
            );
            // Debian's layout: ROOT/.build-id/xx/rest.debug.
            let id = hex(&build_id(&dir.join("prog")).unwrap());
            let by_id = dir.join("root/.build-id").join(&id[..2]);
            std::fs::create_dir_all(&by_id).unwrap();
            std::fs::copy(dir.join("prog.debug"), by_id.join(format!("{}.debug", &id[2..]))).unwrap();
            Fixture { dir }
        })
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The return offset the program records for its call of `helper`.
    fn return_offset(program: &Path) -> u64 {
        let out = run(&mut Command::new(program));
        let first = out.split_whitespace().next().unwrap();
        u64::from_str_radix(first, 16).unwrap()
    }

    /// A symbol's address, by `nm` (not by this module's reading).
    fn nm(program: &Path, symbol: &str) -> u64 {
        let out = run(Command::new("nm").arg(program));
        let line = out
            .lines()
            .find(|l| l.split_whitespace().nth(2) == Some(symbol))
            .unwrap_or_else(|| panic!("{symbol} not in nm {}", program.display()));
        u64::from_str_radix(line.split_whitespace().next().unwrap(), 16).unwrap()
    }

    fn site(path: &Path, offset: u64) -> (PathBuf, Vec<u8>, u64) {
        (path.to_path_buf(), build_id(path).unwrap(), offset)
    }

    fn name(s: &mut Symbolizer, (path, id, offset): &(PathBuf, Vec<u8>, u64)) -> Named {
        s.name(&Site {
            path,
            build_id: id,
            offset: *offset,
        })
    }

    fn name_at(s: &mut Symbolizer, (path, id, offset): &(PathBuf, Vec<u8>, u64)) -> Named {
        s.name_at(&Site {
            path,
            build_id: id,
            offset: *offset,
        })
    }

    fn source(function: &str, file: &str, line: u32, module: &str) -> Named {
        Named::Source {
            function: function.into(),
            file: file.into(),
            line,
            inlined_into: None,
            module: module.into(),
        }
    }

    /// The file of a `Source` reduced to its name, to compare.
    fn short(named: Named) -> Named {
        match named {
            Named::Source {
                function,
                file,
                line,
                inlined_into,
                module,
            } => Named::Source {
                function,
                file: Path::new(&file).file_name().unwrap().to_string_lossy().into(),
                line,
                inlined_into,
                module,
            },
            other => other,
        }
    }

    #[test]
    fn build_id_is_the_notes() {
        let f = fixture();
        let out = run(Command::new("readelf").arg("-n").arg(f.path("prog")));
        let note = out
            .lines()
            .find_map(|l| l.trim().strip_prefix("Build ID: "))
            .unwrap();
        assert_eq!(hex(&build_id(&f.path("prog")).unwrap()), note.trim());
        // Stripping keeps the note; the debug file has it too.
        assert_eq!(build_id(&f.path("prog.stripped")), build_id(&f.path("prog")));
        assert_eq!(build_id(&f.path("prog.debug")), build_id(&f.path("prog")));
        assert_eq!(build_id(&f.path("a.c")), None);
        assert_eq!(build_id(&f.path("absent")), None);
    }

    #[test]
    fn dwarf_names_function_file_and_line() {
        let f = fixture();
        let mut s = Symbolizer::with_debug_root(f.path("no-debug-root"));
        // A function's entry: its line.
        let helper = site(&f.path("prog"), nm(&f.path("prog"), "helper"));
        let named = name_at(&mut s, &helper);
        assert_eq!(
            short(named.clone()),
            source("helper", "b.c", line_of(B_C, "HELPER"), "prog")
        );
        assert!(named.to_string().starts_with("helper (b.c:"), "{named}");
        // A return address (PIE: offset from the load base): the line of the call.
        let ret = site(&f.path("prog"), return_offset(&f.path("prog")));
        assert_eq!(
            short(name(&mut s, &ret)),
            source("main", "a.c", line_of(A_C, "CALL"), "prog")
        );
        // A non-PIE executable: base 0, the offset is the address.
        let nopie = f.path("prog-nopie");
        let ret = return_offset(&nopie);
        assert!(ret > nm(&nopie, "main"), "{ret:#x} is absolute");
        let named = name(&mut s, &site(&nopie, ret));
        assert_eq!(
            short(named),
            source("main", "a.c", line_of(A_C, "CALL"), "prog-nopie")
        );
    }

    #[test]
    fn stripped_gives_the_dynamic_symbol_or_the_module() {
        let f = fixture();
        let mut s = Symbolizer::with_debug_root(f.path("no-debug-root"));
        let (full, stripped) = (f.path("prog-rdyn"), f.path("prog-rdyn.stripped"));
        assert!(build_id(&stripped).is_some());
        // `-rdynamic` puts main in .dynsym.
        let ret = return_offset(&stripped);
        let main = nm(&full, "main");
        let named = name(&mut s, &site(&stripped, ret));
        let plus = ret - main;
        assert_eq!(
            named,
            Named::Symbol {
                name: "main".into(),
                plus,
                module: "prog-rdyn.stripped".into()
            }
        );
        assert_eq!(named.to_string(), format!("main+{plus:#x} (prog-rdyn.stripped)"));
        // Names are demangled (C++'s scheme here).
        let mangled = nm(&full, "_ZN3wsd4siteEv");
        let named = name_at(&mut s, &site(&stripped, mangled + 1));
        assert_eq!(named.to_string(), "wsd::site()+0x1 (prog-rdyn.stripped)");
        // A static function is in no exported symbol: module and offset.
        let hidden = nm(&full, "hidden");
        let named = name_at(&mut s, &site(&stripped, hidden));
        assert_eq!(
            named,
            Named::Module {
                module: "prog-rdyn.stripped".into(),
                offset: hidden,
                stale: false
            }
        );
        assert_eq!(named.to_string(), format!("prog-rdyn.stripped+{hidden:#x}"));
        // Without -rdynamic, main is not exported either.
        let ret = return_offset(&f.path("prog.stripped"));
        let named = name(&mut s, &site(&f.path("prog.stripped"), ret));
        assert!(
            matches!(named, Named::Module { offset, stale: false, .. } if offset == ret),
            "{named}"
        );
    }

    #[test]
    fn separate_debug_info_by_build_id_and_by_debuglink() {
        let f = fixture();
        let ret = return_offset(&f.path("prog"));
        let call = line_of(A_C, "CALL");
        // Debian's layout, by the build-id.
        let mut s = Symbolizer::with_debug_root(f.path("root"));
        let named = name(&mut s, &site(&f.path("prog.stripped"), ret));
        assert_eq!(short(named), source("main", "a.c", call, "prog.stripped"));
        // `.gnu_debuglink`, in `.debug/` beside the module.
        let mut s = Symbolizer::with_debug_root(f.path("no-debug-root"));
        let named = name(&mut s, &site(&f.path("linked/prog"), ret));
        assert_eq!(short(named), source("main", "a.c", call, "prog"));
        // A debug link whose CRC does not match is not used.
        std::fs::create_dir_all(f.path("badlink/.debug")).unwrap();
        std::fs::copy(f.path("linked/prog"), f.path("badlink/prog")).unwrap();
        std::fs::copy(f.path("prog-rdyn"), f.path("badlink/.debug/prog.debug")).unwrap();
        let named = name(&mut s, &site(&f.path("badlink/prog"), ret));
        assert!(matches!(named, Named::Module { stale: false, .. }), "{named}");
    }

    #[test]
    fn a_different_build_id_is_stale() {
        let f = fixture();
        let mut s = Symbolizer::with_debug_root(f.path("root"));
        let path = f.path("prog");
        let ret = return_offset(&path);
        let other = [0xde, 0xad, 0xbe, 0xef];
        let named = s.name(&Site {
            path: &path,
            build_id: &other,
            offset: ret,
        });
        assert_eq!(
            named,
            Named::Module {
                module: "prog".into(),
                offset: ret,
                stale: true
            }
        );
        assert!(named.to_string().contains("build-id differs"), "{named}");
        // No build-id recorded, but the file has one: not the file that ran.
        let named = s.name(&Site {
            path: &path,
            build_id: &[],
            offset: ret,
        });
        assert!(matches!(named, Named::Module { stale: true, .. }), "{named}");
        // The file rebuilt (here: another program in its place) but the debug file
        // of the recorded build-id at hand: named from that.
        let id = build_id(&path).unwrap();
        let named = s.name(&Site {
            path: &f.path("prog-rdyn"),
            build_id: &id,
            offset: ret,
        });
        assert_eq!(
            short(named),
            source("main", "a.c", line_of(A_C, "CALL"), "prog-rdyn")
        );
        // A file that is not there: module and offset, not stale.
        let named = s.name(&Site {
            path: &f.path("absent.so"),
            build_id: &other,
            offset: 0x1234,
        });
        assert_eq!(named.to_string(), "absent.so+0x1234");
    }

    #[test]
    fn demangles_mangled_names_only() {
        assert_eq!(demangle("_ZN3wsd4siteEv", None), "wsd::site()");
        assert_eq!(demangle("_ZN3foo3bar17h0123456789abcdefE", None), "foo::bar");
        assert_eq!(demangle("_RNvCs1234_3foo3bar", None), "foo::bar");
        assert_eq!(demangle("_Z1fv", Some(gimli::DW_LANG_C_plus_plus)), "f()");
        // Bare type codes are C names, not types.
        for name in ["f", "i", "v", "Ss", "main"] {
            assert_eq!(demangle(name, None), name);
            assert_eq!(demangle(name, Some(gimli::DW_LANG_C_plus_plus)), name);
        }
    }

    #[test]
    fn display() {
        let named = Named::Source {
            function: "set_nodelay".into(),
            file: "/src/net.c".into(),
            line: 42,
            inlined_into: None,
            module: "redis-cli".into(),
        };
        assert_eq!(named.to_string(), "set_nodelay (net.c:42)");
        let named = Named::Source {
            function: "set_nodelay".into(),
            file: "net.c".into(),
            line: 42,
            inlined_into: Some("connect_to".into()),
            module: "redis-cli".into(),
        };
        assert_eq!(
            named.to_string(),
            "set_nodelay (net.c:42) inlined into connect_to"
        );
        let named = Named::Symbol {
            name: "redisSetTcpNoDelay".into(),
            plus: 0x1c,
            module: "redis-cli".into(),
        };
        assert_eq!(named.to_string(), "redisSetTcpNoDelay+0x1c (redis-cli)");
        let named = Named::Module {
            module: "libfoo.so".into(),
            offset: 0x1234,
            stale: false,
        };
        assert_eq!(named.to_string(), "libfoo.so+0x1234");
    }

    /// A Debian-stripped program (scripts/test installs redis-server): ten sites
    /// named from `.dynsym` as `nm -D` has them. Prints the time taken.
    #[test]
    fn names_redis_server_from_its_dynamic_symbols() {
        let Ok(path) = std::fs::canonicalize("/usr/bin/redis-server") else {
            return;
        };
        let out = run(Command::new("nm").args(["-D", "-S", "--defined-only"]).arg(&path));
        let functions: Vec<(u64, String)> = out
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let size = u64::from_str_radix(f.get(1)?, 16).ok()?;
                (f.len() == 4 && f[2] == "T" && size > 16 && !f[3].contains('@'))
                    .then(|| (u64::from_str_radix(f[0], 16).unwrap(), f[3].to_owned()))
            })
            .collect();
        assert!(functions.len() >= 10);
        let id = build_id(&path).unwrap();
        let started = Instant::now();
        let mut s = Symbolizer::new();
        let step = functions.len() / 10;
        let named: Vec<Named> = (0..10)
            .map(|i| {
                s.name(&Site {
                    path: &path,
                    build_id: &id,
                    offset: functions[i * step].0 + 5,
                })
            })
            .collect();
        let took = started.elapsed();
        eprintln!("redis-server: 10 sites in {took:?}");
        for (i, named) in named.iter().enumerate() {
            match named {
                Named::Symbol { name, plus, .. } => {
                    // Another exported name for the same address would do too.
                    let address = functions[i * step].0;
                    assert!(
                        functions.iter().any(|(a, n)| *a == address && n == name),
                        "{named}"
                    );
                    assert_eq!(*plus, 5);
                }
                // With redis-server's debug symbols installed.
                Named::Source { .. } => {}
                Named::Module { .. } => panic!("{named}"),
            }
        }
    }
}
