//! Fuzzes presentations: `presentation::verify` with a fixed keyring and a challenge
//! expected or not, and the unverified reader, which parses the payload without a
//! signature and so reaches deeper. Input that is `DL2:` text is decoded first; whatever
//! decodes must re-encode to the same text, and whatever the reader accepts must carry an
//! aligned slot of at most `MAX_SLOT_LENGTH` and a challenge of 1 to 32 bytes.

#![no_main]

#[path = "shared.rs"]
mod shared;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

use keys::presentation::{self, Challenge, PresentationPolicy};
use keys::{KeyUse, Keyring, danger, qr};

use shared::{NOW, keyring};

static KEYRING: LazyLock<Keyring> = LazyLock::new(|| {
    keyring(&[
        (1, KeyUse::Credential),
        (2, KeyUse::Credential),
        (3, KeyUse::Status),
    ])
});

static POLICIES: LazyLock<[PresentationPolicy; 2]> = LazyLock::new(|| {
    let challenge = Challenge::new(b"fuzz".to_vec()).ok();
    [
        PresentationPolicy::at(NOW),
        PresentationPolicy {
            challenge,
            ..PresentationPolicy::at(NOW)
        },
    ]
});

fuzz_target!(|data: &[u8]| {
    let decoded;
    let bytes = match std::str::from_utf8(data).map(qr::decode_presentation) {
        Ok(Ok(bytes)) => {
            assert_eq!(
                qr::encode_presentation(&bytes).as_bytes(),
                data,
                "decoded text is not canonical"
            );
            decoded = bytes;
            &decoded[..]
        }
        _ => data,
    };
    if let Ok(inspected) = danger::inspect_presentation(bytes) {
        let slot = inspected.slot;
        assert!((1..=presentation::MAX_SLOT_LENGTH).contains(&slot.length()));
        assert_eq!(slot.start().0 % slot.length(), 0);
        if let Some(challenge) = &inspected.challenge {
            assert!((1..=presentation::MAX_CHALLENGE_LEN).contains(&challenge.as_bytes().len()));
        }
        let _ = danger::inspect_holder_key(&inspected.token);
    }
    for policy in POLICIES.iter() {
        let _ = presentation::verify(bytes, &KEYRING, policy);
    }
});
