//! Routing: which sockets the library takes for the SAN. Rules that can route
//! nothing to the SAN (`WSD_RULES`) leave every socket to the kernel — a
//! program's answers are exactly what they are with no SAN subnet at all — while
//! a rule that can route something keeps candidates. The C side is
//! `c-tests/audit.c` (its `kernel` case).
//!
//! (Routing as real programs feel it, in the run's report, is also checked by
//! `tests/programs.rs`' rules test and `tests/tool.rs`' program outside the SAN
//! subnets.)

mod support;

use std::path::{Path, PathBuf};
use support::San;
use support::c_run::passes;
use support::cc::program;

/// `c-tests/audit.c`.
fn audit() -> PathBuf {
    program("audit")
}

#[test]
fn rules_that_route_nothing_to_the_san_leave_every_socket_to_the_kernel() {
    let baseline = {
        let san = San::new("kernel-base");
        passes(&audit(), &san, &["kernel"], &[("WSD_SUBNETS", Path::new(""))]).0
    };
    // Linux has no level 0xffff: the kernel refuses it.
    assert!(baseline.starts_with("set -1 92 get -1 95"), "{baseline}");
    for rules in [
        "use tcp * * *:*",
        "use tcp * audit *",
        "use tcp client * *;use tcp server * *",
    ] {
        let san = San::new("kernel-rules");
        let (out, _) = passes(&audit(), &san, &["kernel"], &[("WSD_RULES", Path::new(rules))]);
        assert_eq!(out, baseline, "WSD_RULES={rules:?}");
    }
    // A rule that can route something keeps candidates.
    let san = San::new("kernel-san");
    let (out, _) = passes(
        &audit(),
        &san,
        &["kernel"],
        &[("WSD_RULES", Path::new("use san * * 127.0.0.1:*;use tcp * * *"))],
    );
    assert!(out.starts_with("set 0 0 get 0 0 6"), "{out}");
}
