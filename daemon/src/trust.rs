//! The daemon's trust list: built at start (and when a status list opens) from the
//! credential and status keys with their validity windows and the status list URIs,
//! signed with the root key, with a sequence number kept in the store that only grows.

use keys::jwk::Jwks;
use keys::trust_list::TrustList;
use keys::{KeyUse, SigningKey, TrustedKey, UnixTime};

/// A signed trust list as served.
#[derive(Debug, Clone)]
pub struct SignedTrust {
    /// The COSE_Sign1 bytes.
    pub bytes: Vec<u8>,
    /// A strong ETag.
    pub etag: String,
    /// The same keys as a JWKS document.
    pub jwks: String,
    /// Its sequence number.
    pub sequence: u64,
    /// Its `next_update`.
    pub next_update: UnixTime,
}

/// What goes into a trust list.
pub struct TrustInput<'a> {
    /// The sequence number.
    pub sequence: u64,
    /// Now.
    pub now: UnixTime,
    /// Seconds until `next_update`.
    pub validity: u64,
    /// `iss` of the credentials.
    pub issuer: &'a str,
    /// Signing keys with their `not_before`.
    pub keys: Vec<(&'a SigningKey, KeyUse, UnixTime)>,
    /// Seconds a key signs for.
    pub key_validity: u64,
    /// Status list URIs.
    pub status_lists: Vec<String>,
}

/// Builds and signs the trust list (pure).
pub fn sign(input: TrustInput<'_>, root: &SigningKey) -> SignedTrust {
    let list = TrustList {
        sequence: input.sequence,
        issued_at: input.now,
        next_update: input.now.plus(input.validity),
        issuer: input.issuer.to_owned(),
        keys: input
            .keys
            .iter()
            .map(|(key, key_use, not_before)| TrustedKey {
                public: key.public().clone(),
                key_use: *key_use,
                not_before: *not_before,
                not_after: not_before.plus(input.key_validity),
                revoked: false,
            })
            .collect(),
        status_lists: input.status_lists,
    };
    let bytes = list.sign(root);
    let jwks: Jwks = list.jwks();
    let digest = <sha2::Sha256 as sha2::Digest>::digest(&bytes);
    SignedTrust {
        etag: format!("\"{}\"", hex::encode(&digest[..16])),
        jwks: serde_json::to_string(&jwks).unwrap_or_else(|_| "{\"keys\":[]}".into()),
        sequence: list.sequence,
        next_update: list.next_update,
        bytes,
    }
}
