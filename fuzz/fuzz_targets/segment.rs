//! Segment validation over arbitrary bytes: a segment file holding them is refused,
//! or every reader runs over it without panicking or leaving the mapping.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::os::unix::fs::PermissionsExt;
use wsd::san::{Segment, Target};

fuzz_target!(|bytes: &[u8]| {
    let name = format!("fuzz-{}", std::process::id());
    let path = wsd::san::segment::path_of(&name);
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    if let Ok(seg) = Segment::open(&name) {
        let _ = seg.check();
        let _ = seg.calls();
        let _ = seg.live().count();
        let _ = seg.find(Target::Id(1));
        let _ = seg.reap();
    }
    let _ = std::fs::remove_file(&path);
});
