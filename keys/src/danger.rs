//! Reading documents **without** verifying them. Nothing here may decide validity: it
//! exists for `edl-keys inspect` and for diagnostics, and every result says so in its type.

use crate::cbor::FormatError;
use crate::cose::{EnvelopeError, Keyless, Opened};
use crate::key::{KeyId, PublicKey};
use crate::presentation::{self, Presentation};
use crate::token::CredentialClaims;
use crate::trust_list::{TrustList, TrustListError};

/// Claims read from a token whose signature was **not** checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unverified<T> {
    /// The key id the token names; not authenticated.
    pub key_id: KeyId,
    /// What the token claims; not authenticated.
    pub claims: T,
}

/// Why a token could not even be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum InspectError {
    /// The envelope is malformed.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The claims are malformed.
    #[error("malformed claims: {0}")]
    Claims(#[from] FormatError),
}

/// Decodes a credential token's claims without checking its signature, key or times.
pub fn inspect_credential(token: &[u8]) -> Result<Unverified<CredentialClaims>, InspectError> {
    let opened = Opened::parse_cwt(token, None)?;
    let key_id = opened.key_id();
    let claims = CredentialClaims::from_payload(&opened.unverified_payload())?;
    Ok(Unverified { key_id, claims })
}

/// Decodes the holder key a credential token's `cnf` names, without checking anything
/// else: for a holder's device, which holds its own credential and no trust list, to tell
/// whether the credential is bound to its key before it presents it.
pub fn inspect_holder_key(token: &[u8]) -> Result<Unverified<Option<PublicKey>>, InspectError> {
    let opened = Opened::parse_cwt(token, None)?;
    let key_id = opened.key_id();
    let (_, holder_key) = CredentialClaims::from_payload_with_holder(&opened.unverified_payload())?;
    Ok(Unverified {
        key_id,
        claims: holder_key,
    })
}

/// Decodes a trust list without checking its root signature or sequence: for showing a
/// list to an operator who has no root key at hand.
pub fn inspect_trust_list(signed: &[u8]) -> Result<Unverified<TrustList>, TrustListError> {
    let opened = Opened::parse(signed, Some(crate::trust_list::TYP))?;
    let key_id = opened.key_id();
    let claims = TrustList::from_payload(&opened.unverified_payload())?;
    Ok(Unverified { key_id, claims })
}

/// Decodes a presentation without checking either signature, the slot or the challenge:
/// the credential inside is as unverified as the rest.
pub fn inspect_presentation(bytes: &[u8]) -> Result<Presentation, InspectError> {
    let envelope = Keyless::parse(bytes, presentation::TYP)?;
    Ok(Presentation::from_payload(envelope.unverified_payload())?)
}

/// The signature-memo line (`crate::memo`) that makes the signature of `cose`, a
/// COSE_Sign1 of content type `typ`, count as made by `key`, **without checking it**: for
/// tests that plant an entry in a memo.
#[doc(hidden)]
pub fn memo_entry(cose: &[u8], typ: &'static str, key: &PublicKey) -> Option<String> {
    let opened = Opened::parse(cose, Some(typ)).ok()?;
    let (signed, signature) = opened.signed_parts()?;
    Some(hex::encode(crate::memo::entry(key, &signed, &signature)))
}
