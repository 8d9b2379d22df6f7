//! Fuzzes trust list bytes: `trust_list::verify` against fixed pinned roots, with and
//! without a sequence number seen before.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

use keys::{PublicKey, SigningKey, trust_list};

static ROOTS: LazyLock<Vec<PublicKey>> = LazyLock::new(|| {
    [5, 6]
        .map(|seed| SigningKey::from_seed(&[seed; 32]).public().clone())
        .to_vec()
});

fuzz_target!(|data: &[u8]| {
    let _ = trust_list::verify(data, &ROOTS, None);
    let _ = trust_list::verify(data, &ROOTS, Some(7));
});
