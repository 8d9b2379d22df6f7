//! Fuzzes status receipts: `receipt::verify` with a fixed keyring of status keys (and a
//! credential key, which must never verify one).

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

use keys::{KeyUse, Keyring, SigningKey, TrustedKey, UnixTime, receipt};

// Not `shared.rs`: a receipt has no expiry, so this target has no use for its `NOW`.
static KEYRING: LazyLock<Keyring> = LazyLock::new(|| {
    Keyring::new(
        [
            (3, KeyUse::Status),
            (4, KeyUse::Status),
            (1, KeyUse::Credential),
        ]
        .map(|(seed, key_use)| TrustedKey {
            public: SigningKey::from_seed(&[seed; 32]).public().clone(),
            key_use,
            not_before: UnixTime(0),
            not_after: UnixTime(u64::MAX),
            revoked: false,
        })
        .to_vec(),
    )
});

fuzz_target!(|data: &[u8]| {
    if let Ok(verified) = receipt::verify(data, &KEYRING) {
        // Only a status key signs a receipt the keyring accepts.
        assert!(
            KEYRING
                .candidates(verified.key_id, KeyUse::Status)
                .next()
                .is_some()
        );
    }
});
