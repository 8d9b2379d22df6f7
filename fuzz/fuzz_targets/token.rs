//! Fuzzes credential token bytes: `token::verify` with a fixed keyring, and the unverified
//! claims reader, which parses claims without a signature and so reaches deeper.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

use keys::{KeyUse, Keyring, SigningKey, TrustedKey, UnixTime, VerifyPolicy, danger, token};

/// 2026-11-01T00:00:00Z.
const NOW: UnixTime = UnixTime(1_793_491_200);

static KEYRING: LazyLock<Keyring> = LazyLock::new(|| {
    Keyring::new(
        [
            (1, KeyUse::Credential),
            (2, KeyUse::Credential),
            (3, KeyUse::Status),
        ]
        .into_iter()
        .map(|(seed, key_use)| TrustedKey {
            public: SigningKey::from_seed(&[seed; 32]).public().clone(),
            key_use,
            not_before: UnixTime(0),
            not_after: UnixTime(u64::MAX),
            revoked: false,
        })
        .collect(),
    )
});

fuzz_target!(|data: &[u8]| {
    let _ = token::verify(data, &KEYRING, &VerifyPolicy::at(NOW));
    let _ = danger::inspect_credential(data);
});
