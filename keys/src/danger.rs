//! Reading documents **without** verifying them. Nothing here may decide validity: it
//! exists for `edl-keys inspect` and for diagnostics, and every result says so in its type.

use crate::cbor::FormatError;
use crate::cose::{EnvelopeError, Opened};
use crate::key::KeyId;
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
    let opened = Opened::parse(token, None)?;
    let key_id = opened.key_id();
    let claims = CredentialClaims::from_payload(&opened.unverified_payload())?;
    Ok(Unverified { key_id, claims })
}

/// Decodes a trust list without checking its root signature or sequence: for showing a
/// list to an operator who has no root key at hand.
pub fn inspect_trust_list(signed: &[u8]) -> Result<Unverified<TrustList>, TrustListError> {
    let opened = Opened::parse(signed, Some(crate::trust_list::TYP))?;
    let key_id = opened.key_id();
    let claims = TrustList::from_payload(&opened.unverified_payload())?;
    Ok(Unverified { key_id, claims })
}
