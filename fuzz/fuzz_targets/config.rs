//! edld's configuration: arbitrary text through the TOML parser and every check that turns
//! a `RawConfig` into a `Config`. Errors are expected; panics are bugs.

#![no_main]

use daemon::config::{Config, RawConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(raw) = RawConfig::parse(text) {
        let _ = Config::try_from(raw);
    }
});
