//! `wsd options` (and `--advice`) and `wsd errors`: the model's tables, as a
//! human table, as JSON, or as the markdown tables the README carries
//! (`tests/readme.rs` holds the README to this output).
//! JSON schema: `options` is an array of objects with `name`, `level`,
//! `winsock_optname`, `linux_optname` (number or null), `type`, `size`, `settable`,
//! `group`, `default`, `doc`, `source`; `errors` is an array of objects with `name`,
//! `code`, `errno`, `errno_name`, `description`; `advice` is an array of objects
//! with `option`, `level`, `optname`, `provider`, `switch`, `port`.

use wsd::model::advice::{PORT_ADVICE, advice as advice_of};
use wsd::model::names::OptionName;
use wsd::model::options::ValueType;
use wsd::model::{CODES, OPTIONS};

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Bool => "BOOL",
        ValueType::NonNegativeInt => "int (>= 0)",
        ValueType::UnsignedInt => "unsigned int",
    }
}

pub fn options(json: bool, markdown: bool) -> i32 {
    if markdown {
        outln!("| option | level | Winsock optname | Linux optname | type | size | access | rule |");
        outln!("|---|---|---|---|---|---|---|---|");
        for o in OPTIONS {
            outln!(
                "| `{}` | `{}` | `{:#06x}` | {} | {} | {} | {} | {} |",
                o.name,
                o.level.name(),
                o.winsock_optname,
                o.linux_optname.map_or("—".to_string(), |n| format!("`{n}`")),
                type_name(o.value_type),
                o.size,
                if o.settable { "set/get" } else { "get" },
                o.doc
            );
        }
        return 0;
    }
    if json {
        let rows: Vec<_> = OPTIONS
            .iter()
            .map(|o| {
                serde_json::json!({
                    "name": o.name,
                    "level": o.level.name(),
                    "winsock_optname": o.winsock_optname,
                    "linux_optname": o.linux_optname,
                    "type": type_name(o.value_type),
                    "size": o.size,
                    "settable": o.settable,
                    "group": o.group,
                    "default": o.default,
                    "doc": o.doc,
                    "source": o.source,
                })
            })
            .collect();
        outln!("{}", serde_json::Value::from(rows));
        return 0;
    }
    outln!(
        "{:<18} {:<10} {:>8} {:>6} {:<13} {:>4} {:<9} {:<5} doc",
        "option",
        "level",
        "winsock",
        "linux",
        "type",
        "size",
        "access",
        "group"
    );
    for o in OPTIONS {
        outln!(
            "{:<18} {:<10} {:>#8x} {:>6} {:<13} {:>4} {:<9} {:<5} {}",
            o.name,
            o.level.name(),
            o.winsock_optname,
            o.linux_optname.map_or("-".to_string(), |n| n.to_string()),
            type_name(o.value_type),
            o.size,
            if o.settable { "set/get" } else { "get" },
            if o.group { "yes" } else { "no" },
            o.doc
        );
    }
    0
}

pub fn errors(json: bool, markdown: bool) -> i32 {
    if markdown {
        outln!("| code | value | errno | meaning |");
        outln!("|---|---|---|---|");
        for c in CODES {
            outln!(
                "| `{}` | {} | `{}` ({}) | {} |",
                c.name,
                c.code.code(),
                c.errno_name,
                c.errno,
                c.text
            );
        }
        return 0;
    }
    if json {
        let rows: Vec<_> = CODES
            .iter()
            .map(|c| {
                serde_json::json!({
                    "name": c.name,
                    "code": c.code.code(),
                    "errno": c.errno,
                    "errno_name": c.errno_name,
                    "description": c.text,
                })
            })
            .collect();
        outln!("{}", serde_json::Value::from(rows));
        return 0;
    }
    outln!(
        "{:<15} {:>5}  {:<12} {:>5}  description",
        "code",
        "value",
        "errno",
        ""
    );
    for c in CODES {
        outln!(
            "{:<15} {:>5}  {:<12} {:>5}  {}",
            c.name,
            c.code.code(),
            c.errno_name,
            c.errno,
            c.text
        );
    }
    0
}

/// `wsd options --advice`: for each option of `model::advice`'s table, what a
/// bare provider says, what the switch does and what a port does.
pub fn advice(json: bool, markdown: bool) -> i32 {
    let rows: Vec<(String, i32, i32, wsd::model::advice::Advice)> = PORT_ADVICE
        .iter()
        .filter_map(|a| {
            let name = OptionName {
                level: a.level,
                optname: a.optname,
            }
            .to_string();
            Some((name, a.level, a.optname, advice_of(a.level, a.optname, true)?))
        })
        .collect();
    if markdown {
        outln!("| option | a bare SAN provider says | the switch | a port |");
        outln!("|---|---|---|---|");
        for (name, _, _, a) in &rows {
            outln!("| `{name}` | {} | {} | {} |", a.provider, a.switch, a.port);
        }
        return 0;
    }
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|(name, level, optname, a)| {
                serde_json::json!({
                    "option": name,
                    "level": level,
                    "optname": optname,
                    "provider": a.provider,
                    "switch": a.switch,
                    "port": a.port,
                })
            })
            .collect();
        outln!("{}", serde_json::Value::from(v));
        return 0;
    }
    for (name, _, _, a) in &rows {
        outln!("{name}");
        outln!("  provider: {}", a.provider);
        outln!("  switch:   {}", a.switch);
        outln!("  port:     {}", a.port);
    }
    0
}
