//! The environment over arbitrary values: never panics; an error names the variable.
#![no_main]
use libfuzzer_sys::fuzz_target;

const VARS: [&str; 9] = [
    "WSD_MODE", "WSD_SAN", "WSD_SUBNETS", "WSD_GROUPS", "WSD_LOG", "WSD_LOG_FILE", "WSD_FDS", "WSD_RULES", "WSD_CONFIG",
];

fuzz_target!(|input: (u8, String, String)| {
    let (which, value, file) = input;
    let var = VARS[which as usize % VARS.len()];
    let r = wsd::config::Config::from_env(|k| (k == var).then(|| value.clone()), |_| Ok(file.clone()));
    if let Err(e) = r {
        assert_eq!(e.var(), var);
    }
});
