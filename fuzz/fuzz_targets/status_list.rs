//! Fuzzes status lists: `status_list::verify` on the whole input with a fixed keyring, and
//! `StatusList::decompress` on the input after its first byte, which picks the entry width.
//! A list that decompresses must read back and survive a compression round trip.

#![no_main]

#[path = "shared.rs"]
mod shared;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

use keys::status_list::{self, StatusList};
use keys::{KeyUse, Keyring, VerifyPolicy};

use shared::{NOW, keyring};

/// Lists up to this size also go through a compression round trip (it is slow for more).
const ROUND_TRIP_LIMIT: usize = 1 << 20;

static KEYRING: LazyLock<Keyring> = LazyLock::new(|| {
    keyring(&[
        (3, KeyUse::Status),
        (4, KeyUse::Status),
        (1, KeyUse::Credential),
    ])
});

fuzz_target!(|data: &[u8]| {
    let policy = VerifyPolicy::at(NOW);
    let _ = status_list::verify(data, &KEYRING, &policy, None);
    let _ = status_list::verify(data, &KEYRING, &policy, Some("https://dl.example/status/0"));

    let Some((&first, compressed)) = data.split_first() else {
        return;
    };
    // Mostly the valid widths, sometimes an invalid one.
    let bits = match first % 5 {
        0 => 1,
        1 => 2,
        2 => 4,
        3 => 8,
        _ => first,
    };
    let Ok(list) = StatusList::decompress(bits, compressed) else {
        return;
    };
    let len = list.len() as u64;
    assert_eq!(list.get(len), None);
    if len > 0 {
        let last = list
            .get(len - 1)
            .expect("the last entry is inside the list");
        assert!(u16::from(last) < 1 << list.bits());
    }
    if list.as_bytes().len() <= ROUND_TRIP_LIMIT {
        let again = StatusList::decompress(bits, &list.compress());
        assert_eq!(again.as_ref(), Ok(&list), "compression round trip");
    }
});
