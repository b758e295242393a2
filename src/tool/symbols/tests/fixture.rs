//! The unit tests' program: `main` in `a.c` calls `helper` in `b.c`, compiled once
//! per test run in the forms the names come from (with DWARF, non-PIE, `-rdynamic`,
//! stripped, its debug file by `.gnu_debuglink` and by build-id); and `run`, `nm`
//! and the like, which read the programs with the system's tools.

use crate::tool::symbols::build_id;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `main` calls `helper` (another file), which stores its return address; the
/// program prints it minus the load base, as the library records it. The call's
/// result is unused, so the return address is the first byte of the next line.
pub(super) const A_C: &str = r#"#define _GNU_SOURCE
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
pub(super) const B_C: &str = r#"#include <stdint.h>
extern uintptr_t returned_to;

int mangled(void) __asm__("_ZN3wsd4siteEv");
int mangled(void) { return 7; }

int helper(int x) { /* HELPER */
    returned_to = (uintptr_t)__builtin_return_address(0);
    return x * 3 + 1;
}
"#;

pub(super) fn line_of(source: &str, marker: &str) -> u32 {
    let index = source.lines().position(|l| l.contains(marker)).unwrap();
    u32::try_from(index + 1).unwrap()
}

pub(super) struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

pub(super) fn run(cmd: &mut Command) -> String {
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
pub(super) fn fixture() -> &'static Fixture {
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

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The return offset the program records for its call of `helper`.
pub(super) fn return_offset(program: &Path) -> u64 {
    let out = run(&mut Command::new(program));
    let first = out.split_whitespace().next().unwrap();
    u64::from_str_radix(first, 16).unwrap()
}

/// A symbol's address, by `nm` (not by this module's reading).
pub(super) fn nm(program: &Path, symbol: &str) -> u64 {
    let out = run(Command::new("nm").arg(program));
    let line = out
        .lines()
        .find(|l| l.split_whitespace().nth(2) == Some(symbol))
        .unwrap_or_else(|| panic!("{symbol} not in nm {}", program.display()));
    u64::from_str_radix(line.split_whitespace().next().unwrap(), 16).unwrap()
}
