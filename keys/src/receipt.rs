//! Signed status receipts: what edld answered a relying party's live status lookup, as a
//! CWT signed with a status key of the trust list, so that the relying party can later
//! prove to an auditor or a court that it checked a credential, when, and what it was
//! told. `docs/FORMATS.md` section 9 has the bytes.

use ciborium::Value;

use crate::UnixTime;
use crate::cbor::{self, FormatError, Map};
use crate::cose::{self, EnvelopeError, Opened};
use crate::key::{KeyId, KeyUse, SigningKey};
use crate::keyring::Keyring;
use crate::token::{CredentialId, DEFAULT_CLOCK_SKEW};

/// The `typ` every receipt carries.
pub const TYP: &str = "application/edl-receipt+cwt";

/// CWT claim keys: `iat` (RFC 8392) and the edl private claim holding the lookup.
mod claim {
    pub(super) const IAT: i64 = 6;
    pub(super) const LOOKUP: i64 = -65538;
}

/// Keys of the lookup map in claim -65538.
mod field {
    pub(super) const CREDENTIAL: i64 = 1;
    pub(super) const STATUS: i64 = 2;
    pub(super) const CLIENT: i64 = 3;
    pub(super) const ROLE: i64 = 4;
    pub(super) const PURPOSE: i64 = 5;
    pub(super) const AUDIT_RECORD: i64 = 6;
}

/// A credential's status as a live lookup reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LiveStatus {
    /// Valid.
    Valid,
    /// The licence is suspended.
    Suspended,
    /// The licence is revoked or cancelled.
    Revoked,
    /// A newer credential replaced this one.
    Superseded,
    /// The credential or the licence has expired.
    Expired,
}

/// A status word that is not one of the five.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
#[error("{0:?} is not a status (valid, suspended, revoked, superseded, expired)")]
pub struct UnknownStatus(pub String);

impl LiveStatus {
    /// The word the API and receipts use.
    pub fn as_str(self) -> &'static str {
        match self {
            LiveStatus::Valid => "valid",
            LiveStatus::Suspended => "suspended",
            LiveStatus::Revoked => "revoked",
            LiveStatus::Superseded => "superseded",
            LiveStatus::Expired => "expired",
        }
    }
}

impl std::fmt::Display for LiveStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for LiveStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "valid" => Ok(LiveStatus::Valid),
            "suspended" => Ok(LiveStatus::Suspended),
            "revoked" => Ok(LiveStatus::Revoked),
            "superseded" => Ok(LiveStatus::Superseded),
            "expired" => Ok(LiveStatus::Expired),
            other => Err(UnknownStatus(other.to_owned())),
        }
    }
}

/// What a receipt states: at `at`, edld told `client` (in `role`, for `purpose`) that
/// credential `credential_id` was `status`, and audited that lookup in the record whose
/// hash is `audit_record`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The credential looked up.
    pub credential_id: CredentialId,
    /// Its live status then.
    pub status: LiveStatus,
    /// When edld answered, by its clock.
    pub at: UnixTime,
    /// The relying party's client name.
    pub client: String,
    /// Its role (`insurer`, `rental`, `officer`, …).
    pub role: String,
    /// The purpose it declared, if it declared one.
    pub purpose: Option<String>,
    /// The `hash` of the lookup's audit record (SHA-256, `docs/FORMATS.md` section 7): it
    /// finds the record on the audit chain.
    pub audit_record: [u8; 32],
}

/// A receipt that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedReceipt {
    /// What it states.
    pub receipt: Receipt,
    /// The status key that signed it.
    pub key_id: KeyId,
}

/// Why a receipt did not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ReceiptError {
    /// Not a receipt envelope (including another document's `typ`).
    #[error("malformed receipt: {0}")]
    Envelope(#[from] EnvelopeError),
    /// No trusted status key has this id.
    #[error("unknown status key id {0}")]
    UnknownKey(KeyId),
    /// No trusted status key with the id verifies the signature.
    #[error("receipt signature does not verify")]
    BadSignature,
    /// The status key is revoked in the trust list.
    #[error("status key {0} is revoked")]
    KeyRevoked(KeyId),
    /// The receipt's time is outside the status key's signing window.
    #[error("status key {key_id} was not valid at the receipt's time {signed_at}")]
    KeyNotValid {
        /// The key.
        key_id: KeyId,
        /// The receipt's time.
        signed_at: UnixTime,
    },
    /// The signed payload is not a receipt.
    #[error("malformed receipt: {0}")]
    Format(#[from] FormatError),
}

/// Signs `receipt` with a status key.
pub fn sign(receipt: &Receipt, key: &SigningKey) -> Vec<u8> {
    let mut lookup = vec![
        (
            cbor::int(field::CREDENTIAL),
            Value::Bytes(receipt.credential_id.0.to_vec()),
        ),
        (
            cbor::int(field::STATUS),
            cbor::text(receipt.status.as_str()),
        ),
        (cbor::int(field::CLIENT), cbor::text(&receipt.client)),
        (cbor::int(field::ROLE), cbor::text(&receipt.role)),
    ];
    if let Some(purpose) = &receipt.purpose {
        lookup.push((cbor::int(field::PURPOSE), cbor::text(purpose)));
    }
    lookup.push((
        cbor::int(field::AUDIT_RECORD),
        Value::Bytes(receipt.audit_record.to_vec()),
    ));
    let claims = Value::Map(vec![
        (cbor::int(claim::IAT), cbor::uint(receipt.at.0)),
        (cbor::int(claim::LOOKUP), Value::Map(lookup)),
    ]);
    cose::sign(key, Some(TYP), cbor::encode(&claims))
}

/// Verifies a receipt with the status keys in `keyring`: signed by one, unrevoked, whose
/// signing window covers the receipt's time (with the default clock skew). A receipt does
/// not expire: it states what was true when it was made.
pub fn verify(signed: &[u8], keyring: &Keyring) -> Result<VerifiedReceipt, ReceiptError> {
    let opened = Opened::parse(signed, Some(TYP))?;
    let key_id = opened.key_id();
    let candidates = keyring.candidates(key_id, KeyUse::Status);
    if candidates.clone().next().is_none() {
        return Err(ReceiptError::UnknownKey(key_id));
    }
    let (public, payload) = opened
        .verify(candidates.clone().map(|k| &k.public))
        .ok_or(ReceiptError::BadSignature)?;
    // The key that verified is among the candidates: find its trust entry by identity.
    let trusted = candidates
        .into_iter()
        .find(|k| &k.public == public)
        .ok_or(ReceiptError::BadSignature)?;
    if trusted.revoked {
        return Err(ReceiptError::KeyRevoked(key_id));
    }
    let receipt = Receipt::from_payload(&payload)?;
    if !trusted.covers(receipt.at, DEFAULT_CLOCK_SKEW) {
        return Err(ReceiptError::KeyNotValid {
            key_id,
            signed_at: receipt.at,
        });
    }
    Ok(VerifiedReceipt { receipt, key_id })
}

impl Receipt {
    fn from_payload(payload: &[u8]) -> Result<Receipt, FormatError> {
        let mut claims = Map::from_value(cbor::decode(payload)?, "claims")?;
        let at = UnixTime(cbor::to_u64(claims.require_int(claim::IAT, "iat")?, "iat")?);
        let mut map = Map::from_value(claims.require_int(claim::LOOKUP, "lookup")?, "lookup")?;
        let credential_id = CredentialId(cbor::to_fixed(
            map.require_int(field::CREDENTIAL, "credential")?,
            "credential",
            "16 bytes",
        )?);
        let status = cbor::to_text(map.require_int(field::STATUS, "status")?, "status")?
            .parse::<LiveStatus>()
            .map_err(|e| FormatError::Domain {
                field: "status",
                reason: e.to_string(),
            })?;
        let client = cbor::to_text(map.require_int(field::CLIENT, "client")?, "client")?;
        let role = cbor::to_text(map.require_int(field::ROLE, "role")?, "role")?;
        let purpose = map
            .take_int(field::PURPOSE)
            .map(|v| cbor::to_text(v, "purpose"))
            .transpose()?;
        let audit_record = cbor::to_fixed(
            map.require_int(field::AUDIT_RECORD, "audit record")?,
            "audit record",
            "32 bytes",
        )?;
        Ok(Receipt {
            credential_id,
            status,
            at,
            client,
            role,
            purpose,
            audit_record,
        })
    }
}

#[cfg(test)]
mod tests;
