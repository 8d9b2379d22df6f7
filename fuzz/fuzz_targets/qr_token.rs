//! Fuzzes the verifier's path from scanned text: `qr::decode`, then the unverified claims
//! reader and `token::verify` with a fixed keyring. Whatever decodes must re-encode to the
//! same text (base45 as edl reads it has one spelling per byte string).

#![no_main]

#[path = "shared.rs"]
mod shared;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

use keys::{KeyUse, Keyring, VerifyPolicy, danger, qr, token};

use shared::{NOW, keyring};

static KEYRING: LazyLock<Keyring> = LazyLock::new(|| {
    keyring(&[
        (1, KeyUse::Credential),
        (2, KeyUse::Credential),
        (3, KeyUse::Status),
    ])
});

fuzz_target!(|data: &[u8]| {
    // QR text is always ASCII; anything else is refused before base45 looks at it.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(bytes) = qr::decode(text) else {
        return;
    };
    assert_eq!(qr::encode(&bytes), text, "decoded text is not canonical");
    let _ = danger::inspect_credential(&bytes);
    let _ = token::verify(&bytes, &KEYRING, &VerifyPolicy::at(NOW));
});
