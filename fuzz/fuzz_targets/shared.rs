//! What several targets share: a fixed "now" and a keyring of keys made from fixed seeds.
//! Included with `#[path]`: it is not a target itself.

use keys::{KeyUse, Keyring, SigningKey, TrustedKey, UnixTime};

/// 2026-11-01T00:00:00Z.
pub(crate) const NOW: UnixTime = UnixTime(1_793_491_200);

/// A keyring of `(seed, use)` keys, each valid for all time.
pub(crate) fn keyring(keys: &[(u8, KeyUse)]) -> Keyring {
    Keyring::new(
        keys.iter()
            .map(|&(seed, key_use)| TrustedKey {
                public: SigningKey::from_seed(&[seed; 32]).public().clone(),
                key_use,
                not_before: UnixTime(0),
                not_after: UnixTime(u64::MAX),
                revoked: false,
            })
            .collect(),
    )
}
