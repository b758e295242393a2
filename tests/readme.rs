//! Issue 14: the README's option and code tables are the tool's own output
//! (`wsd options --markdown`, `wsd errors --markdown`; issue 16's advice,
//! `wsd options --advice --markdown`), and none of its links leaves the
//! repository.

mod support;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The text between `<!-- wsd ARGS --markdown -->` and the next `<!-- end -->`.
fn block<'a>(text: &'a str, verb: &str) -> &'a str {
    let open = format!("<!-- wsd {verb} --markdown -->\n");
    let start = text
        .find(&open)
        .unwrap_or_else(|| panic!("no {open:?} in the README"))
        + open.len();
    let len = text[start..].find("<!-- end -->").expect("an end marker");
    &text[start..start + len]
}

#[test]
fn the_readme_tables_are_the_tools_output() {
    let text = readme();
    for verb in ["options", "errors", "options --advice"] {
        let out = support::tool()
            .args(verb.split(' '))
            .arg("--markdown")
            .output()
            .unwrap();
        assert!(out.status.success());
        let want = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            block(&text, verb),
            want,
            "README.md's {verb} table differs from `wsd {verb} --markdown`: paste that output between its markers"
        );
    }
}

#[test]
fn no_readme_link_leaves_the_repository() {
    let text = readme();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // Markdown links `](target)` whose target is a path (not a web address or an anchor).
    for (i, _) in text.match_indices("](") {
        let rest = &text[i + 2..];
        let target = &rest[..rest.find(')').unwrap_or(0)];
        if target.starts_with("http") || target.starts_with('#') || target.is_empty() {
            continue;
        }
        let path = target.split('#').next().unwrap();
        let full = root.join(path);
        assert!(
            full.canonicalize()
                .is_ok_and(|p| p.starts_with(root.canonicalize().unwrap())),
            "README links {target:?}, which is not in the repository"
        );
    }
}
