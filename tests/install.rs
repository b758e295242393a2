//! Issue 14: `scripts/install` into a temporary prefix; the installed tool finds
//! its library in `PREFIX/lib` by itself, and `WSD_LIB` overrides it.

mod support;

use std::process::Command;

#[test]
fn an_installed_wsd_finds_its_library_and_runs_a_program() {
    let built = support::library().parent().unwrap().to_path_buf();
    let prefix = std::env::temp_dir().join(format!("wsd-install-{}", std::process::id()));
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(format!("{root}/scripts/install"))
        .arg("--from")
        .arg(&built)
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in [
        "bin/wsd",
        "lib/libwsd.so",
        "lib/libwsd_engine.so",
        "include/wsd.h",
    ] {
        assert!(prefix.join(f).is_file(), "{f}");
    }
    let san = support::San::new("installed");
    let run = |envs: &[(&str, &str)]| {
        let mut c = Command::new(prefix.join("bin/wsd"));
        c.args(["run", "--san", &san.name, "--", "python3", "-c"])
            .arg(support::ONE_CONNECTION)
            .env_remove("WSD_LIB")
            .env("WSD_LOG_FILE", "/dev/null");
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let out = run(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("SAN sockets connected: 1 by connect, 1 by accept"),
        "{err}"
    );
    // WSD_LIB wins over the installed one (and is checked like it).
    let out = run(&[("WSD_LIB", "/etc/passwd")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WSD_LIB /etc/passwd: not a shared library"));
    let _ = std::fs::remove_dir_all(&prefix);
}
