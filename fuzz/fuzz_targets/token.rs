//! Fuzzes credential token bytes: `token::verify` with a fixed keyring, and the unverified
//! claims reader, which parses claims without a signature and so reaches deeper.

#![no_main]

#[path = "shared.rs"]
mod shared;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

use keys::{KeyUse, Keyring, VerifyPolicy, danger, token};

use shared::{NOW, keyring};

static KEYRING: LazyLock<Keyring> = LazyLock::new(|| {
    keyring(&[
        (1, KeyUse::Credential),
        (2, KeyUse::Credential),
        (3, KeyUse::Status),
    ])
});

fuzz_target!(|data: &[u8]| {
    let _ = token::verify(data, &KEYRING, &VerifyPolicy::at(NOW));
    let _ = danger::inspect_credential(data);
});
