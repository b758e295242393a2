//! The rules parser over arbitrary text: never panics; errors point into the text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    for sep in ['\n', ';'] {
        if let Err(e) = wsd::config::rules::parse("f", text, sep) {
            let lines: Vec<&str> = text.split(sep).collect();
            assert!(e.line >= 1 && e.line <= lines.len());
            assert!(e.column >= 1 && e.column <= lines[e.line - 1].len() + 1);
        }
    }
});
