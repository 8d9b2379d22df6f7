//! The set of public keys a verifier trusts, each with its use, validity window and
//! revocation flag, as a trust list delivers them.

use crate::UnixTime;
use crate::key::{KeyId, KeyUse, PublicKey};

/// One trusted signing key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedKey {
    /// The key.
    pub public: PublicKey,
    /// What it may sign.
    pub key_use: KeyUse,
    /// Start of the period in which it signs.
    pub not_before: UnixTime,
    /// End of the period in which it signs. Documents it signed stay verifiable after
    /// this, until their own expiry: the window bounds the signing time.
    pub not_after: UnixTime,
    /// Compromised or withdrawn: nothing it signed verifies any more.
    pub revoked: bool,
}

impl TrustedKey {
    /// The key id.
    pub fn key_id(&self) -> KeyId {
        self.public.key_id()
    }

    /// Whether a document signed at `signed_at` falls in this key's signing window, with
    /// `skew` seconds of tolerance either side.
    pub fn covers(&self, signed_at: UnixTime, skew: u64) -> bool {
        signed_at.plus(skew) >= self.not_before && signed_at <= self.not_after.plus(skew)
    }
}

/// Trusted keys, searched by key id and use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keyring {
    keys: Vec<TrustedKey>,
}

impl Keyring {
    /// A keyring holding `keys`.
    pub fn new(keys: Vec<TrustedKey>) -> Keyring {
        Keyring { keys }
    }

    /// Every key, in the order given.
    pub fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }

    /// The keys with this id and use, unrevoked ones first. Several keys may share an id
    /// (8 bytes is a hint, not a name): verifiers try each.
    pub fn candidates(
        &self,
        key_id: KeyId,
        key_use: KeyUse,
    ) -> impl Iterator<Item = &TrustedKey> + Clone {
        let matching = move |k: &&TrustedKey| k.key_use == key_use && k.key_id() == key_id;
        let unrevoked = self.keys.iter().filter(matching).filter(|k| !k.revoked);
        let revoked = self.keys.iter().filter(matching).filter(|k| k.revoked);
        unrevoked.chain(revoked)
    }
}
