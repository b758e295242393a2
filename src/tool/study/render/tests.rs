//! Unit tests of the renderings: one small document in text, Markdown and HTML.

use super::markdown::md_code;
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
