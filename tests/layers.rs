//! The shim's layering (`src/shim/mod.rs`'s table, checked by `scripts/layers`):
//! the tree passes, and the check itself fails on an import pointing up, on a
//! cycle within a layer, on a module missing from the table and on an unsafe
//! function without a `# Safety` section — so that a
//! check that silently passed everything would be caught.

mod support;

use std::path::Path;
use std::process::Command;
use support::{TempDir, root};

/// `scripts/layers` on `shim`: its exit status and what it printed.
fn layers(shim: &Path) -> (bool, String) {
    let out = Command::new(root().join("scripts/layers"))
        .arg(shim)
        .output()
        .expect("run scripts/layers");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A copy of `src/shim` to break, in a directory of its own (removed however
/// the test ends).
fn copy_of_shim(name: &str) -> TempDir {
    let dir = TempDir::new(&format!("layers-{name}"));
    copy_dir(&root().join("src/shim"), &dir.0);
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// `scripts/layers` on a copy of `src/shim` (named by `tag`) that `change`
/// broke, which it must refuse: what it printed.
fn refuses(tag: &str, change: impl FnOnce(&Path)) -> String {
    let dir = copy_of_shim(tag);
    change(&dir.0);
    let (ok, out) = layers(&dir.0);
    drop(dir);
    assert!(!ok, "{out}");
    out
}

fn prepend(file: &Path, line: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    std::fs::write(file, format!("{line}\n{text}")).unwrap();
}

#[test]
fn the_shim_imports_only_downwards_without_cycles() {
    let (ok, out) = layers(&root().join("src/shim"));
    assert!(ok, "scripts/layers failed:\n{out}");
    assert!(out.contains("none pointing up, no cycle"), "{out}");
}

#[test]
fn the_check_finds_an_import_pointing_up() {
    let out = refuses("up", |dir| {
        prepend(&dir.join("thread.rs"), "use crate::shim::hooks::options;")
    });
    assert!(out.contains("`thread` (layer 5) uses `hooks` (layer 2)"), "{out}");
}

#[test]
fn the_check_finds_a_cycle_within_a_layer() {
    // `counting` uses `memo`; `memo` using `counting` back closes a cycle.
    let out = refuses("cycle", |dir| {
        prepend(&dir.join("memo.rs"), "use super::counting;")
    });
    assert!(
        out.contains("an import cycle: counting -> memo -> counting"),
        "{out}"
    );
}

#[test]
fn the_check_finds_a_module_without_a_layer() {
    let out = refuses("table", |dir| {
        std::fs::write(dir.join("extra.rs"), "").unwrap();
        prepend(&dir.join("mod.rs"), "mod extra;");
    });
    assert!(
        out.contains("module `extra` is declared in mod.rs but has no layer"),
        "{out}"
    );
}

#[test]
fn the_check_finds_an_unsafe_fn_without_its_safety_section() {
    let out = refuses("safety", |dir| {
        let file = dir.join("errno.rs");
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(
            &file,
            format!("{text}\n/// Says nothing of its contract.\npub unsafe fn careless() {{}}\n"),
        )
        .unwrap();
    });
    assert!(
        out.contains("unsafe fn `careless` has no `# Safety` section"),
        "{out}"
    );
}
