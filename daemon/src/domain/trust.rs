//! The daemon's trust list, in one of two ways:
//!
//! - **self-signed** (development, or `[keys] root = PATH`): built at start and when a
//!   status list opens, from the credential and status keys with their validity windows
//!   and the status list URIs, signed with the root key, with a sequence number kept in the
//!   store that only grows ([`sign`]);
//! - **offline root** (`[keys] trust_list` and `root_public`, production): the daemon never
//!   holds the root key. It serves a list signed elsewhere, as-is, after checking it
//!   against the pinned root public keys and checking that it names the daemon's own keys
//!   ([`check_offline`]).
//!
//! Either way [`may_sign`] decides, from the list being served, whether a key may sign
//! now: a key the list revokes, leaves out or whose window does not cover now signs
//! nothing, since every verifier would reject what it signed.

use keys::jwk::Jwks;
use keys::trust_list::{self, TrustList, TrustListError};
use keys::{KeyId, KeyUse, PublicKey, SigningKey, TrustedKey, UnixTime};

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
    /// The list itself.
    pub list: TrustList,
}

impl SignedTrust {
    /// Nothing signed yet (before the first list).
    pub fn empty() -> SignedTrust {
        SignedTrust {
            bytes: Vec::new(),
            etag: String::new(),
            jwks: String::new(),
            sequence: 0,
            next_update: UnixTime(0),
            list: TrustList {
                sequence: 0,
                issued_at: UnixTime(0),
                next_update: UnixTime(0),
                issuer: String::new(),
                keys: Vec::new(),
                status_lists: Vec::new(),
            },
        }
    }

    /// A list as served: its bytes and what they say.
    fn served(bytes: Vec<u8>, list: TrustList) -> SignedTrust {
        let jwks: Jwks = list.jwks();
        let digest = <sha2::Sha256 as sha2::Digest>::digest(&bytes);
        SignedTrust {
            etag: format!("\"{}\"", hex::encode(&digest[..16])),
            jwks: serde_json::to_string(&jwks).unwrap_or_else(|_| "{\"keys\":[]}".into()),
            sequence: list.sequence,
            next_update: list.next_update,
            bytes,
            list,
        }
    }
}

/// What goes into a trust list.
pub(crate) struct TrustInput<'a> {
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
pub(crate) fn sign(input: TrustInput<'_>, root: &SigningKey) -> SignedTrust {
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
    SignedTrust::served(bytes, list)
}

/// Why a pre-signed trust list is refused, or why a key may not sign under it. Each
/// message says what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// The list does not verify against the pinned roots.
    #[error("the trust list does not verify against the pinned root keys ({pinned}): {source}")]
    Verify {
        /// The pinned roots' key ids.
        pinned: String,
        /// Why.
        source: TrustListError,
    },
    /// Older than a list served before.
    #[error(
        "the trust list's sequence {found} is lower than {served}, the sequence this daemon served before; verifiers refuse to go back: install the newest list"
    )]
    Rollback {
        /// The list's sequence.
        found: u64,
        /// The highest sequence served before.
        served: u64,
    },
    /// Another issuer.
    #[error("the trust list is for issuer {found:?}, but issuer = {expected:?}")]
    Issuer {
        /// The list's issuer.
        found: String,
        /// The configured issuer.
        expected: String,
    },
    /// The key is not in the list.
    #[error(
        "the trust list (sequence {sequence}) does not name the {key_use} key {key_id}: sign a list that names it, or configure the key it names"
    )]
    Missing {
        /// The list's sequence.
        sequence: u64,
        /// The key's use.
        key_use: KeyUse,
        /// The key.
        key_id: KeyId,
    },
    /// The key is revoked in the list.
    #[error(
        "the {key_use} key {key_id} is revoked in the trust list (sequence {sequence}): edld does not sign with a revoked key; configure a new key and a list that names it"
    )]
    Revoked {
        /// The list's sequence.
        sequence: u64,
        /// The key's use.
        key_use: KeyUse,
        /// The key.
        key_id: KeyId,
    },
    /// The key's signing window does not cover now.
    #[error(
        "the {key_use} key {key_id} may sign from {not_before} to {not_after} by the trust list (sequence {sequence}), not now ({now})"
    )]
    Window {
        /// The list's sequence.
        sequence: u64,
        /// The key's use.
        key_use: KeyUse,
        /// The key.
        key_id: KeyId,
        /// Its window's start.
        not_before: UnixTime,
        /// Its window's end.
        not_after: UnixTime,
        /// Now.
        now: UnixTime,
    },
    /// A status list in use is not in the list.
    #[error(
        "the trust list (sequence {sequence}) does not name status list {uri}, which credentials already use: sign a list that names it"
    )]
    StatusList {
        /// The list's sequence.
        sequence: u64,
        /// The missing URI.
        uri: String,
    },
}

/// Checks a pre-signed trust list for serving (pure): it verifies against `pinned`, is
/// not older than `served` (the highest sequence served before) and is for `issuer`.
/// Whether it names the daemon's keys is [`may_sign`]'s question.
pub(crate) fn check_offline(
    bytes: &[u8],
    pinned: &[PublicKey],
    served: Option<u64>,
    issuer: &str,
) -> Result<SignedTrust, TrustError> {
    let list = trust_list::verify(bytes, pinned, None).map_err(|source| TrustError::Verify {
        pinned: pinned
            .iter()
            .map(|k| k.key_id().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        source,
    })?;
    if let Some(served) = served
        && list.sequence < served
    {
        return Err(TrustError::Rollback {
            found: list.sequence,
            served,
        });
    }
    if list.issuer != issuer {
        return Err(TrustError::Issuer {
            found: list.issuer,
            expected: issuer.to_owned(),
        });
    }
    Ok(SignedTrust::served(bytes.to_vec(), list))
}

/// Whether `key` may sign as `key_use` at `now` under `list`: it is named with that use,
/// no entry for it is revoked, and an entry's signing window covers now.
pub(crate) fn may_sign(
    list: &TrustList,
    key_use: KeyUse,
    key: &PublicKey,
    now: UnixTime,
) -> Result<(), TrustError> {
    let entries: Vec<&TrustedKey> = list
        .keys
        .iter()
        .filter(|k| k.key_use == key_use && k.public == *key)
        .collect();
    let key_id = key.key_id();
    let sequence = list.sequence;
    if entries.is_empty() {
        return Err(TrustError::Missing {
            sequence,
            key_use,
            key_id,
        });
    }
    if entries.iter().any(|k| k.revoked) {
        return Err(TrustError::Revoked {
            sequence,
            key_use,
            key_id,
        });
    }
    match entries.iter().find(|k| k.covers(now, 0)) {
        Some(_) => Ok(()),
        None => Err(TrustError::Window {
            sequence,
            key_use,
            key_id,
            not_before: entries[0].not_before,
            not_after: entries[0].not_after,
            now,
        }),
    }
}

/// How many status lists, counting from list 0, `list` names under `uri` (which gives
/// list `n`'s URI): the daemon opens no list beyond them.
pub(crate) fn named_status_lists(list: &TrustList, uri: impl Fn(u32) -> String) -> u32 {
    (0..u32::MAX)
        .take_while(|n| list.status_lists.contains(&uri(*n)))
        .count() as u32
}

#[cfg(test)]
mod tests;
