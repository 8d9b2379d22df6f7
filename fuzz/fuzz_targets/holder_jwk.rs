//! Fuzzes the holder key an application carries: `jwk::parse_holder_key` on any text. A key
//! it accepts must print back as a JWK that reads as the same key.

#![no_main]

use libfuzzer_sys::fuzz_target;

use keys::jwk::{self, HolderJwk};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = jwk::parse_holder_key(text) {
        let json =
            serde_json::to_string(&HolderJwk::from_public_key(&key)).expect("a JWK serializes");
        assert_eq!(jwk::parse_holder_key(&json), Ok(key));
    }
});
