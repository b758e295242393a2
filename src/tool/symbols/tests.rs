//! Unit tests of `symbols`: sites of a small C program (`tests/fixture.rs`) named
//! from each source (DWARF, a stripped file's symbols, separate debug files, another
//! build), demangling, how names are shown, and a Debian-stripped program.

mod fixture;

use super::*;
use fixture::{A_C, B_C, fixture, hex, line_of, nm, return_offset, run};
use std::process::Command;
use std::time::Instant;

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
