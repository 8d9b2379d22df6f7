//! The credential token: CWT claims (RFC 8392) in a tagged COSE_Sign1 (RFC 9052) signed
//! with Ed25519, carrying the licence in private claim -65537, a status list reference
//! in claim 65535 (IETF Token Status List) and, for a holder-bound credential, the
//! holder's device key in `cnf` (claim 8, RFC 8747). `docs/FORMATS.md` has every key.

use ciborium::Value;

use crate::UnixTime;
use crate::cbor::{self, FormatError, Map};
use crate::cose::{self, EnvelopeError, Opened};
use crate::cose_key;
use crate::key::{KeyId, KeyUse, PublicKey, SigningKey};
use crate::keyring::{Keyring, TrustedKey};
use crate::licence::{LicenceClass, LicenceClasses, LicenceNumber, PhotoDigest, Validity};

/// CWT claim keys (RFC 8392 section 4 and the edl private claims).
mod claim {
    pub(super) const ISS: i64 = 1;
    pub(super) const SUB: i64 = 2;
    pub(super) const EXP: i64 = 4;
    pub(super) const NBF: i64 = 5;
    pub(super) const IAT: i64 = 6;
    pub(super) const CTI: i64 = 7;
    /// Confirmation: the holder's device key (RFC 8747).
    pub(super) const CNF: i64 = 8;
    /// Status reference (draft-ietf-oauth-status-list, CWT claim `status`).
    pub(super) const STATUS: i64 = 65535;
    /// The licence (edl private claim).
    pub(super) const LICENCE: i64 = -65537;
}

/// Keys of the licence map in claim -65537.
mod licence_key {
    pub(super) const NAME: i64 = 1;
    pub(super) const CLASSES: i64 = 2;
    pub(super) const VALID_FROM: i64 = 3;
    pub(super) const VALID_UNTIL: i64 = 4;
    pub(super) const AUTHORITY: i64 = 5;
    pub(super) const PHOTO: i64 = 6;
}

/// Clock skew tolerated by default between signer and verifier, in seconds.
pub const DEFAULT_CLOCK_SKEW: u64 = 300;

/// A credential's id: 16 random bytes (`cti`), written as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CredentialId(pub [u8; 16]);

impl std::fmt::Display for CredentialId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for CredentialId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CredentialId({self})")
    }
}

impl std::str::FromStr for CredentialId {
    type Err = FormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 16];
        if s.len() != 32 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(FormatError::Invalid {
                field: "credential id",
                expected: "32 lowercase hex digits",
            });
        }
        hex::decode_to_slice(s, &mut bytes).map_err(|_| FormatError::Invalid {
            field: "credential id",
            expected: "32 lowercase hex digits",
        })?;
        Ok(CredentialId(bytes))
    }
}

/// The licence as the credential shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LicenceDetails {
    /// The holder's name (UTF-8).
    pub name: String,
    /// The permitted classes.
    pub classes: LicenceClasses,
    /// Valid from / until (long-term when no end).
    pub validity: Validity,
    /// The issuing authority, as printed on the licence.
    pub authority: String,
    /// SHA-256 of the photo on file.
    pub photo: PhotoDigest,
}

/// Where the credential's status lives: an index in a status list token at a URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusReference {
    /// The index in the list.
    pub index: u64,
    /// The `sub` of the status list token.
    pub uri: String,
}

/// Everything a credential token asserts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialClaims {
    /// `iss`: the issuing authority's URI or code.
    pub issuer: String,
    /// `sub`: the licence number.
    pub licence_number: LicenceNumber,
    /// `cti`: the credential id.
    pub credential_id: CredentialId,
    /// `iat`.
    pub issued_at: UnixTime,
    /// `nbf`.
    pub not_before: UnixTime,
    /// `exp`.
    pub expires_at: UnixTime,
    /// Claim -65537.
    pub licence: LicenceDetails,
    /// Claim 65535.
    pub status: StatusReference,
}

/// When and how strictly to verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// The verifier's current time.
    pub now: UnixTime,
    /// Seconds of clock difference tolerated on every time comparison.
    pub clock_skew: u64,
}

impl VerifyPolicy {
    /// Verify at `now` with the default skew.
    pub fn at(now: UnixTime) -> VerifyPolicy {
        VerifyPolicy {
            now,
            clock_skew: DEFAULT_CLOCK_SKEW,
        }
    }
}

/// A credential whose signature, key and validity checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCredential {
    /// The claims.
    pub claims: CredentialClaims,
    /// The key that signed them.
    pub key_id: KeyId,
}

/// A verified credential token: the credential and, when it is holder-bound, the device
/// key its `cnf` claim names. A bound credential proves its holder only inside a
/// presentation signed with that key (`presentation`); shown alone (`DL1:`) it may be a copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The credential.
    pub credential: VerifiedCredential,
    /// `cnf`: the holder's device key, or `None` for a bearer credential.
    pub holder_key: Option<PublicKey>,
}

/// Why a credential token did not verify. The order of checks is: envelope, key lookup,
/// signature, key revocation and window, claims, token validity window.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum VerifyError {
    /// Not a well-formed token envelope (or a refused algorithm or critical header).
    #[error("malformed token: {0}")]
    Envelope(#[from] EnvelopeError),
    /// No trusted credential key has this id.
    #[error("unknown key id {0}")]
    UnknownKey(KeyId),
    /// No trusted key with the id verifies the signature.
    #[error("signature does not verify")]
    BadSignature,
    /// The signing key is revoked in the trust list.
    #[error("signing key {0} is revoked")]
    KeyRevoked(KeyId),
    /// The token was signed outside the key's validity window.
    #[error("signing key {key_id} was not valid at the signing time {signed_at}")]
    KeyNotValid {
        /// The key.
        key_id: KeyId,
        /// The token's `iat`.
        signed_at: UnixTime,
    },
    /// The signed claims are not a valid credential.
    #[error("malformed claims: {0}")]
    Claims(#[from] FormatError),
    /// `nbf` is in the future.
    #[error("token not valid before {0}")]
    NotYetValid(UnixTime),
    /// `exp` has passed.
    #[error("token expired at {0}")]
    Expired(UnixTime),
}

/// Signs `claims` with `key` into the token bytes (tagged COSE_Sign1): a bearer
/// credential, with no `cnf`.
pub fn sign(claims: &CredentialClaims, key: &SigningKey) -> Vec<u8> {
    cose::sign(key, None, cbor::encode(&claims.to_value(None)))
}

/// Signs `claims` with `key` into a credential bound to the holder's device key `holder`:
/// the same token as [`sign`] makes, with `cnf` (claim 8) carrying `holder` as a COSE_Key.
pub fn sign_bound(claims: &CredentialClaims, holder: &PublicKey, key: &SigningKey) -> Vec<u8> {
    cose::sign(key, None, cbor::encode(&claims.to_value(Some(holder))))
}

/// Verifies `token` against the credential keys in `keyring` at `policy.now`. A
/// holder-bound credential verifies here too, its `cnf` checked but not returned: callers
/// that must tell a bound credential shown alone from a bearer one use [`verify_token`].
pub fn verify(
    token: &[u8],
    keyring: &Keyring,
    policy: &VerifyPolicy,
) -> Result<VerifiedCredential, VerifyError> {
    verify_token(token, keyring, policy).map(|verified| verified.credential)
}

/// Verifies `token` as [`verify`] does and returns, besides the credential, the holder
/// key it is bound to, if any. The token may come wrapped in the CWT tag 61 (RFC 8392
/// section 6): `61(18([...]))`.
pub fn verify_token(
    token: &[u8],
    keyring: &Keyring,
    policy: &VerifyPolicy,
) -> Result<VerifiedToken, VerifyError> {
    let opened = Opened::parse_cwt(token, None)?;
    let key_id = opened.key_id();
    let candidates = keyring.candidates(key_id, KeyUse::Credential);
    if candidates.clone().next().is_none() {
        return Err(VerifyError::UnknownKey(key_id));
    }
    let (public, payload) = opened
        .verify(candidates.clone().map(|k| &k.public))
        .ok_or(VerifyError::BadSignature)?;
    // The key that verified is among the candidates: find its trust entry by identity.
    let trusted = candidates
        .into_iter()
        .find(|k| &k.public == public)
        .ok_or(VerifyError::BadSignature)?;
    accept(trusted, key_id, &payload, policy)
}

/// Verifies many tokens, with the same answer for each as [`verify`], but checking their
/// signatures together ([`PublicKey::verify_batch`](crate::key::PublicKey), about three
/// times cheaper per signature). A batch that fails is split in halves until every bad
/// signature is found, and each token refused there gets [`verify`]'s own answer (which
/// also tries the other keys with the same kid). Each token's signature is checked
/// with its kid's first candidate key, the one [`verify`] tries first; nothing reads a
/// payload before its signature verified.
pub fn verify_batch(
    tokens: &[&[u8]],
    keyring: &Keyring,
    policy: &VerifyPolicy,
) -> Vec<Result<VerifiedCredential, VerifyError>> {
    struct Pending<'a> {
        index: usize,
        opened: Opened,
        trusted: &'a TrustedKey,
        signed: Vec<u8>,
        signature: [u8; crate::key::SIGNATURE_LEN],
    }
    let mut results: Vec<Option<Result<VerifiedCredential, VerifyError>>> =
        vec![None; tokens.len()];
    let mut pending = Vec::with_capacity(tokens.len());
    for (index, token) in tokens.iter().enumerate() {
        let opened = match Opened::parse_cwt(token, None) {
            Ok(opened) => opened,
            Err(e) => {
                results[index] = Some(Err(e.into()));
                continue;
            }
        };
        let key_id = opened.key_id();
        let first = keyring.candidates(key_id, KeyUse::Credential).next();
        match (first, opened.signed_parts()) {
            (Some(trusted), Some((signed, signature))) => pending.push(Pending {
                index,
                opened,
                trusted,
                signed,
                signature,
            }),
            (None, _) => results[index] = Some(Err(VerifyError::UnknownKey(key_id))),
            (Some(_), None) => results[index] = Some(verify(token, keyring, policy)),
        }
    }
    let mut good = vec![false; pending.len()];
    find_good_signatures(&pending, &mut good, |p: &Pending<'_>| {
        (&p.trusted.public, p.signed.as_slice(), &p.signature)
    });
    for (item, good) in pending.into_iter().zip(good) {
        let key_id = item.opened.key_id();
        results[item.index] = Some(if good {
            accept(
                item.trusted,
                key_id,
                &item.opened.into_verified_payload(),
                policy,
            )
            .map(|verified| verified.credential)
        } else {
            verify(tokens[item.index], keyring, policy)
        });
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(VerifyError::BadSignature)))
        .collect()
}

/// Marks in `good` the items whose signature verifies: the whole group at once, and on
/// failure each half in turn, down to single items.
fn find_good_signatures<T>(
    items: &[T],
    good: &mut [bool],
    parts: impl Fn(&T) -> (&PublicKey, &[u8], &[u8; 64]) + Copy,
) {
    if items.is_empty() {
        return;
    }
    let batch: Vec<_> = items.iter().map(parts).collect();
    if PublicKey::verify_batch(&batch) {
        good.fill(true);
        return;
    }
    if items.len() == 1 {
        return;
    }
    let half = items.len() / 2;
    let (left_good, right_good) = good.split_at_mut(half);
    find_good_signatures(&items[..half], left_good, parts);
    find_good_signatures(&items[half..], right_good, parts);
}

/// What [`verify_token`] and [`verify_batch`] check once the signature verified with
/// `trusted`: the key's revocation and window, the claims (with the holder key, if bound),
/// the token's validity window.
fn accept(
    trusted: &TrustedKey,
    key_id: KeyId,
    payload: &[u8],
    policy: &VerifyPolicy,
) -> Result<VerifiedToken, VerifyError> {
    if trusted.revoked {
        return Err(VerifyError::KeyRevoked(key_id));
    }
    // Only now, with the signature checked, are the claims read.
    let (claims, holder_key) = CredentialClaims::from_payload_with_holder(payload)?;
    let skew = policy.clock_skew;
    if !trusted.covers(claims.issued_at, skew) || policy.now.plus(skew) < trusted.not_before {
        return Err(VerifyError::KeyNotValid {
            key_id,
            signed_at: claims.issued_at,
        });
    }
    if policy.now.plus(skew) < claims.not_before {
        return Err(VerifyError::NotYetValid(claims.not_before));
    }
    if policy.now >= claims.expires_at.plus(skew) {
        return Err(VerifyError::Expired(claims.expires_at));
    }
    Ok(VerifiedToken {
        credential: VerifiedCredential { claims, key_id },
        holder_key,
    })
}

impl CredentialClaims {
    /// The claims map; `cnf` sits between `cti` and the licence, so that a bearer
    /// credential's bytes are exactly what they were before holder binding existed.
    fn to_value(&self, holder: Option<&PublicKey>) -> Value {
        let licence = &self.licence;
        let mut licence_map = vec![
            (cbor::int(licence_key::NAME), cbor::text(&licence.name)),
            (
                cbor::int(licence_key::CLASSES),
                Value::Array(
                    licence
                        .classes
                        .iter()
                        .map(|c| cbor::text(c.as_str()))
                        .collect(),
                ),
            ),
            (
                cbor::int(licence_key::VALID_FROM),
                cbor::text(&crate::licence::format_date(licence.validity.valid_from())),
            ),
        ];
        if let Some(until) = licence.validity.valid_until() {
            licence_map.push((
                cbor::int(licence_key::VALID_UNTIL),
                cbor::text(&crate::licence::format_date(until)),
            ));
        }
        licence_map.push((
            cbor::int(licence_key::AUTHORITY),
            cbor::text(&licence.authority),
        ));
        licence_map.push((
            cbor::int(licence_key::PHOTO),
            Value::Bytes(licence.photo.as_bytes().to_vec()),
        ));
        let status = Value::Map(vec![(
            cbor::text("status_list"),
            Value::Map(vec![
                (cbor::text("idx"), cbor::uint(self.status.index)),
                (cbor::text("uri"), cbor::text(&self.status.uri)),
            ]),
        )]);
        let mut claims = vec![
            (cbor::int(claim::ISS), cbor::text(&self.issuer)),
            (
                cbor::int(claim::SUB),
                cbor::text(self.licence_number.as_str()),
            ),
            (cbor::int(claim::EXP), cbor::uint(self.expires_at.0)),
            (cbor::int(claim::NBF), cbor::uint(self.not_before.0)),
            (cbor::int(claim::IAT), cbor::uint(self.issued_at.0)),
            (
                cbor::int(claim::CTI),
                Value::Bytes(self.credential_id.0.to_vec()),
            ),
        ];
        if let Some(holder) = holder {
            claims.push((cbor::int(claim::CNF), cose_key::encode_cnf(holder)));
        }
        claims.push((cbor::int(claim::LICENCE), Value::Map(licence_map)));
        claims.push((cbor::int(claim::STATUS), status));
        Value::Map(claims)
    }

    /// Reads claims from a payload, checking but dropping any `cnf`. Callers outside
    /// `danger` only do so after the signature verified.
    pub(crate) fn from_payload(payload: &[u8]) -> Result<CredentialClaims, FormatError> {
        CredentialClaims::from_payload_with_holder(payload).map(|(claims, _)| claims)
    }

    /// Reads claims and the holder key in `cnf`, if there is one. Callers outside
    /// `danger` only do so after the signature verified.
    pub(crate) fn from_payload_with_holder(
        payload: &[u8],
    ) -> Result<(CredentialClaims, Option<PublicKey>), FormatError> {
        let mut claims = Map::from_value(cbor::decode(payload)?, "claims")?;
        let issuer = cbor::to_text(claims.require_int(claim::ISS, "iss")?, "iss")?;
        let licence_number = cbor::to_text(claims.require_int(claim::SUB, "sub")?, "sub")?;
        let licence_number = licence_number
            .parse::<LicenceNumber>()
            .map_err(|e| domain("sub", e))?;
        let expires_at = UnixTime(cbor::to_u64(claims.require_int(claim::EXP, "exp")?, "exp")?);
        let not_before = UnixTime(cbor::to_u64(claims.require_int(claim::NBF, "nbf")?, "nbf")?);
        let issued_at = UnixTime(cbor::to_u64(claims.require_int(claim::IAT, "iat")?, "iat")?);
        let credential_id = CredentialId(cbor::to_fixed(
            claims.require_int(claim::CTI, "cti")?,
            "cti",
            "16 bytes",
        )?);
        let holder_key = claims
            .take_int(claim::CNF)
            .map(cose_key::decode_cnf)
            .transpose()?;
        let licence = LicenceDetails::from_value(claims.require_int(claim::LICENCE, "licence")?)?;
        let status = StatusReference::from_value(claims.require_int(claim::STATUS, "status")?)?;
        if expires_at < not_before {
            return Err(FormatError::Domain {
                field: "exp",
                reason: "expires before it becomes valid".into(),
            });
        }
        let claims = CredentialClaims {
            issuer,
            licence_number,
            credential_id,
            issued_at,
            not_before,
            expires_at,
            licence,
            status,
        };
        Ok((claims, holder_key))
    }
}

impl LicenceDetails {
    fn from_value(value: Value) -> Result<LicenceDetails, FormatError> {
        let mut map = Map::from_value(value, "licence")?;
        let name = cbor::to_text(map.require_int(licence_key::NAME, "name")?, "name")?;
        let classes = cbor::to_array(map.require_int(licence_key::CLASSES, "classes")?, "classes")?
            .into_iter()
            .map(|c| {
                cbor::to_text(c, "class")?
                    .parse::<LicenceClass>()
                    .map_err(|e| domain("class", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let classes = LicenceClasses::new(&classes).map_err(|e| domain("classes", e))?;
        let from = cbor::to_text(
            map.require_int(licence_key::VALID_FROM, "valid from")?,
            "valid from",
        )?;
        let from = crate::licence::parse_date(&from).map_err(|e| domain("valid from", e))?;
        let until = match map.take_int(licence_key::VALID_UNTIL) {
            None => None,
            Some(v) => Some(
                crate::licence::parse_date(&cbor::to_text(v, "valid until")?)
                    .map_err(|e| domain("valid until", e))?,
            ),
        };
        let validity = Validity::new(from, until).map_err(|e| domain("validity", e))?;
        let authority = cbor::to_text(
            map.require_int(licence_key::AUTHORITY, "authority")?,
            "authority",
        )?;
        let photo = PhotoDigest::from_bytes(cbor::to_fixed(
            map.require_int(licence_key::PHOTO, "photo")?,
            "photo",
            "32 bytes",
        )?);
        Ok(LicenceDetails {
            name,
            classes,
            validity,
            authority,
            photo,
        })
    }
}

impl StatusReference {
    fn from_value(value: Value) -> Result<StatusReference, FormatError> {
        let mut status = Map::from_value(value, "status")?;
        let mut list = Map::from_value(
            status.require_text("status_list", "status_list")?,
            "status_list",
        )?;
        let index = cbor::to_u64(list.require_text("idx", "idx")?, "idx")?;
        let uri = cbor::to_text(list.require_text("uri", "uri")?, "uri")?;
        Ok(StatusReference { index, uri })
    }
}

fn domain(field: &'static str, error: impl std::fmt::Display) -> FormatError {
    FormatError::Domain {
        field,
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests;
