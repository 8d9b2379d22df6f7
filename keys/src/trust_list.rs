//! The trust list: a CBOR document naming every credential and status key (with use,
//! validity and revocation) and the status list URIs, signed by an offline root key in a
//! COSE_Sign1. Verifiers pin the root public keys and refuse a sequence number lower than
//! one they have seen.

use ciborium::Value;

use crate::UnixTime;
use crate::cbor::{self, FormatError, Map};
use crate::cose::{self, EnvelopeError, Opened};
use crate::jwk::{Jwk, Jwks};
use crate::key::{KeyId, KeyUse, PublicKey, SigningKey};
use crate::keyring::{Keyring, TrustedKey};
use crate::memo::SignatureMemo;

/// The `typ` every trust list carries.
pub const TYP: &str = "application/edl-trust-list+cbor";

mod field {
    pub(super) const SEQUENCE: i64 = 1;
    pub(super) const ISSUED_AT: i64 = 2;
    pub(super) const NEXT_UPDATE: i64 = 3;
    pub(super) const KEYS: i64 = 4;
    pub(super) const STATUS_LISTS: i64 = 5;
    pub(super) const ISSUER: i64 = 6;
}

mod key_field {
    pub(super) const KID: i64 = 1;
    pub(super) const USE: i64 = 2;
    pub(super) const PUBLIC_KEY: i64 = 3;
    pub(super) const NOT_BEFORE: i64 = 4;
    pub(super) const NOT_AFTER: i64 = 5;
    pub(super) const REVOKED: i64 = 6;
}

/// The trust list document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustList {
    /// Grows with every new list; verifiers refuse to go back.
    pub sequence: u64,
    /// When the root signed it.
    pub issued_at: UnixTime,
    /// When a newer list will be published at the latest.
    pub next_update: UnixTime,
    /// The issuing authority (URI or code), as credentials' `iss`.
    pub issuer: String,
    /// Credential and status keys.
    pub keys: Vec<TrustedKey>,
    /// The status list URIs credentials may reference.
    pub status_lists: Vec<String>,
}

/// Why a trust list was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum TrustListError {
    /// The envelope is malformed.
    #[error("malformed trust list: {0}")]
    Envelope(#[from] EnvelopeError),
    /// Signed by a key that is not a pinned root.
    #[error("trust list signed by unknown root key {0}")]
    UnknownRoot(KeyId),
    /// No pinned root with the id verifies the signature.
    #[error("trust list signature does not verify")]
    BadSignature,
    /// The document is malformed.
    #[error("malformed trust list document: {0}")]
    Document(#[from] FormatError),
    /// A key entry whose kid is not its key's thumbprint kid.
    #[error("trust list entry {found} does not match its key's id {expected}")]
    KidMismatch {
        /// The kid computed from the key.
        expected: KeyId,
        /// The kid the entry carried.
        found: KeyId,
    },
    /// The list's sequence number is lower than one already accepted.
    #[error("trust list sequence {found} is older than the {seen} already seen (rollback)")]
    Rollback {
        /// The sequence number of this list.
        found: u64,
        /// The highest sequence number seen before.
        seen: u64,
    },
    /// A root key listed as a signing key.
    #[error("trust list names a key with use root")]
    RootInList,
}

impl TrustList {
    /// The keys as a keyring for verifying credentials and status lists.
    pub fn keyring(&self) -> Keyring {
        Keyring::new(self.keys.clone())
    }

    /// The same keys as a JWKS (RFC 7517/8037), for tools. Revoked keys are left out.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self
                .keys
                .iter()
                .filter(|k| !k.revoked)
                .map(|k| Jwk::from_public_key(&k.public, Some(k.key_use)))
                .collect(),
        }
    }

    /// Signs the list with a root key.
    pub fn sign(&self, root: &SigningKey) -> Vec<u8> {
        cose::sign(root, Some(TYP), cbor::encode(&self.to_value()))
    }

    fn to_value(&self) -> Value {
        let keys = self
            .keys
            .iter()
            .map(|k| {
                Value::Map(vec![
                    (
                        cbor::int(key_field::KID),
                        Value::Bytes(k.key_id().as_bytes().to_vec()),
                    ),
                    (cbor::int(key_field::USE), cbor::text(k.key_use.as_str())),
                    (
                        cbor::int(key_field::PUBLIC_KEY),
                        Value::Bytes(k.public.to_bytes().to_vec()),
                    ),
                    (cbor::int(key_field::NOT_BEFORE), cbor::uint(k.not_before.0)),
                    (cbor::int(key_field::NOT_AFTER), cbor::uint(k.not_after.0)),
                    (cbor::int(key_field::REVOKED), Value::Bool(k.revoked)),
                ])
            })
            .collect();
        Value::Map(vec![
            (cbor::int(field::SEQUENCE), cbor::uint(self.sequence)),
            (cbor::int(field::ISSUED_AT), cbor::uint(self.issued_at.0)),
            (
                cbor::int(field::NEXT_UPDATE),
                cbor::uint(self.next_update.0),
            ),
            (cbor::int(field::KEYS), Value::Array(keys)),
            (
                cbor::int(field::STATUS_LISTS),
                Value::Array(self.status_lists.iter().map(|u| cbor::text(u)).collect()),
            ),
            (cbor::int(field::ISSUER), cbor::text(&self.issuer)),
        ])
    }

    pub(crate) fn from_payload(payload: &[u8]) -> Result<TrustList, TrustListError> {
        let mut doc = Map::from_value(cbor::decode(payload)?, "trust list")?;
        let sequence = cbor::to_u64(doc.require_int(field::SEQUENCE, "sequence")?, "sequence")?;
        let issued_at = UnixTime(cbor::to_u64(
            doc.require_int(field::ISSUED_AT, "issued at")?,
            "issued at",
        )?);
        let next_update = UnixTime(cbor::to_u64(
            doc.require_int(field::NEXT_UPDATE, "next update")?,
            "next update",
        )?);
        let issuer = cbor::to_text(doc.require_int(field::ISSUER, "issuer")?, "issuer")?;
        let keys = cbor::to_array(doc.require_int(field::KEYS, "keys")?, "keys")?
            .into_iter()
            .map(key_from_value)
            .collect::<Result<Vec<_>, _>>()?;
        let status_lists = cbor::to_array(
            doc.require_int(field::STATUS_LISTS, "status lists")?,
            "status lists",
        )?
        .into_iter()
        .map(|v| cbor::to_text(v, "status list uri"))
        .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustList {
            sequence,
            issued_at,
            next_update,
            issuer,
            keys,
            status_lists,
        })
    }
}

fn key_from_value(value: Value) -> Result<TrustedKey, TrustListError> {
    let mut entry = Map::from_value(value, "key entry")?;
    let kid = KeyId(cbor::to_fixed(
        entry.require_int(key_field::KID, "kid")?,
        "kid",
        "8 bytes",
    )?);
    let key_use = cbor::to_text(entry.require_int(key_field::USE, "use")?, "use")?
        .parse::<KeyUse>()
        .map_err(|e| FormatError::Domain {
            field: "use",
            reason: e.to_string(),
        })?;
    if key_use == KeyUse::Root {
        return Err(TrustListError::RootInList);
    }
    let bytes: [u8; 32] = cbor::to_fixed(
        entry.require_int(key_field::PUBLIC_KEY, "public key")?,
        "public key",
        "32 bytes",
    )?;
    let public = PublicKey::from_bytes(&bytes).map_err(|e| FormatError::Domain {
        field: "public key",
        reason: e.to_string(),
    })?;
    if public.key_id() != kid {
        return Err(TrustListError::KidMismatch {
            expected: public.key_id(),
            found: kid,
        });
    }
    let not_before = UnixTime(cbor::to_u64(
        entry.require_int(key_field::NOT_BEFORE, "not before")?,
        "not before",
    )?);
    let not_after = UnixTime(cbor::to_u64(
        entry.require_int(key_field::NOT_AFTER, "not after")?,
        "not after",
    )?);
    let revoked = cbor::to_bool(entry.require_int(key_field::REVOKED, "revoked")?, "revoked")?;
    Ok(TrustedKey {
        public,
        key_use,
        not_before,
        not_after,
        revoked,
    })
}

/// Verifies a signed trust list against the pinned `roots`. With `seen_sequence`, the
/// highest sequence number accepted before, a lower one is refused as a rollback (an equal
/// one is accepted: it is the same list fetched again).
pub fn verify(
    signed: &[u8],
    roots: &[PublicKey],
    seen_sequence: Option<u64>,
) -> Result<TrustList, TrustListError> {
    verify_with_root(signed, roots, seen_sequence).map(|(list, _)| list)
}

/// As [`verify`], also saying which pinned root signed the list.
pub fn verify_with_root(
    signed: &[u8],
    roots: &[PublicKey],
    seen_sequence: Option<u64>,
) -> Result<(TrustList, KeyId), TrustListError> {
    verify_remembered(signed, roots, seen_sequence, None)
}

/// As [`verify_with_root`], the signature taken as verified if `memo` remembers it (and
/// remembered there once it verified).
pub fn verify_remembered(
    signed: &[u8],
    roots: &[PublicKey],
    seen_sequence: Option<u64>,
    memo: Option<&SignatureMemo>,
) -> Result<(TrustList, KeyId), TrustListError> {
    let opened = Opened::parse(signed, Some(TYP))?;
    let key_id = opened.key_id();
    let candidates: Vec<&PublicKey> = roots.iter().filter(|r| r.key_id() == key_id).collect();
    if candidates.is_empty() {
        return Err(TrustListError::UnknownRoot(key_id));
    }
    let (root, payload) = opened
        .verify_remembered(candidates, memo)
        .ok_or(TrustListError::BadSignature)?;
    let list = TrustList::from_payload(&payload)?;
    if let Some(seen) = seen_sequence
        && list.sequence < seen
    {
        return Err(TrustListError::Rollback {
            found: list.sequence,
            seen,
        });
    }
    Ok((list, root.key_id()))
}

#[cfg(test)]
mod tests;
