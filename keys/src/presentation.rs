//! Presentations: a holder-bound credential shown by its holder. The holder's device signs,
//! with the key the credential's `cnf` names, a COSE_Sign1 over the credential token and
//! the current time slot (and a verifier's challenge, when there is one), so that a
//! screenshot stops verifying once its slot is past. `docs/FORMATS.md` section 8 has the
//! bytes; `qr` has the `DL2:` text.

use ciborium::Value;

use crate::cbor::{self, FormatError, Map};
use crate::cose::{self, EnvelopeError, Keyless};
use crate::key::{PublicKey, SigningKey};
use crate::keyring::Keyring;
use crate::token::{self, VerifiedCredential, VerifyError, VerifyPolicy};
use crate::{CredentialClaims, UnixTime};

/// The `typ` every presentation carries: it cannot stand in for any other document, nor
/// another document for it.
pub const TYP: &str = "application/edl-presentation+cbor";

/// The slot length holders use unless told otherwise, in seconds.
pub const DEFAULT_SLOT_LENGTH: u64 = 30;

/// The longest slot a presentation may declare, in seconds: past it, a presentation is no
/// fresher than a screenshot of one.
pub const MAX_SLOT_LENGTH: u64 = 300;

/// Seconds a verifier's clock and a holder's may differ by default: a slot is accepted from
/// this long before it starts until this long after it ends.
pub const DEFAULT_SLOT_SKEW: u64 = 30;

/// The longest challenge, in bytes (a SHA-256 digest fits).
pub const MAX_CHALLENGE_LEN: usize = 32;

/// Keys of the presentation payload map.
mod field {
    pub(super) const CREDENTIAL: i64 = 1;
    pub(super) const SLOT_START: i64 = 2;
    pub(super) const SLOT_LENGTH: i64 = 3;
    pub(super) const CHALLENGE: i64 = 4;
}

/// A time slot: `length` seconds from `start`, `start` a multiple of `length` (slots are
/// aligned on the Unix epoch, as TOTP's are, so every device agrees on them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Slot {
    start: UnixTime,
    length: u64,
}

/// Why a slot was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum SlotError {
    /// The length is 0 or above [`MAX_SLOT_LENGTH`].
    #[error("slot length {0} s is not between 1 and {MAX_SLOT_LENGTH} s")]
    Length(u64),
    /// The start is not a multiple of the length.
    #[error("slot start {start} is not a multiple of the slot length {length} s")]
    NotAligned {
        /// The start, in Unix seconds.
        start: u64,
        /// The length.
        length: u64,
    },
}

impl Slot {
    /// The slot of `length` seconds that starts at `start`.
    pub fn new(start: UnixTime, length: u64) -> Result<Slot, SlotError> {
        if !(1..=MAX_SLOT_LENGTH).contains(&length) {
            return Err(SlotError::Length(length));
        }
        if !start.0.is_multiple_of(length) {
            return Err(SlotError::NotAligned {
                start: start.0,
                length,
            });
        }
        Ok(Slot { start, length })
    }

    /// The slot of `length` seconds that `now` falls in.
    pub fn containing(now: UnixTime, length: u64) -> Result<Slot, SlotError> {
        if !(1..=MAX_SLOT_LENGTH).contains(&length) {
            return Err(SlotError::Length(length));
        }
        Slot::new(UnixTime(now.0 - now.0 % length), length)
    }

    /// The first second of the slot.
    pub fn start(&self) -> UnixTime {
        self.start
    }

    /// The slot's length in seconds.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// The first second after the slot (the next slot's start).
    pub fn end(&self) -> UnixTime {
        self.start.plus(self.length)
    }

    /// Whether a verifier whose clock reads `now` accepts this slot, allowing clocks `skew`
    /// seconds apart: from `skew` before the start until `skew` after the end.
    pub fn is_current(&self, now: UnixTime, skew: u64) -> bool {
        self.start <= now.plus(skew) && now < self.end().plus(skew)
    }
}

/// A verifier's challenge: 1 to [`MAX_CHALLENGE_LEN`] bytes the holder's presentation must
/// carry, so that it was made for this check and no earlier one. Written in hex.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Challenge(Vec<u8>);

/// Why a challenge was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ChallengeError {
    /// Empty, or longer than [`MAX_CHALLENGE_LEN`].
    #[error("a challenge is 1 to {MAX_CHALLENGE_LEN} bytes, not {0}")]
    Length(usize),
    /// Not an even number of hex digits.
    #[error("a challenge is written as hex digits")]
    NotHex,
}

impl Challenge {
    /// A challenge of these bytes.
    pub fn new(bytes: Vec<u8>) -> Result<Challenge, ChallengeError> {
        if bytes.is_empty() || bytes.len() > MAX_CHALLENGE_LEN {
            return Err(ChallengeError::Length(bytes.len()));
        }
        Ok(Challenge(bytes))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Display for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl std::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Challenge({self})")
    }
}

impl std::str::FromStr for Challenge {
    type Err = ChallengeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Challenge::new(hex::decode(s).map_err(|_| ChallengeError::NotHex)?)
    }
}

/// What a presentation says, read but not verified (see `danger::inspect_presentation`)
/// or verified (inside [`VerifiedPresentation`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presentation {
    /// The credential token, byte for byte as issued.
    pub token: Vec<u8>,
    /// The slot it was made for.
    pub slot: Slot,
    /// The verifier's challenge it answers, if any.
    pub challenge: Option<Challenge>,
}

/// How to verify a presentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresentationPolicy {
    /// The verifier's time, and the clock skew for the credential's own times (as for a
    /// credential shown alone).
    pub credential: VerifyPolicy,
    /// Seconds the slot may lie outside `now`, either side.
    pub slot_skew: u64,
    /// The challenge this verifier gave the holder, if it gave one: then the presentation
    /// must carry exactly it.
    pub challenge: Option<Challenge>,
}

impl PresentationPolicy {
    /// Verify at `now` with the default skews and no challenge.
    pub fn at(now: UnixTime) -> PresentationPolicy {
        PresentationPolicy {
            credential: VerifyPolicy::at(now),
            slot_skew: DEFAULT_SLOT_SKEW,
            challenge: None,
        }
    }
}

/// A presentation that verified, and what it proves: the credential is valid, was shown
/// by the device holding the key it is bound to, in a slot current at the verifier's
/// clock, answering the challenge (when the verifier gave one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedPresentation {
    /// The credential, verified as a `DL1:` credential is.
    pub credential: VerifiedCredential,
    /// The holder key (the credential's `cnf`) that signed the presentation.
    pub holder_key: PublicKey,
    /// The slot it was made for.
    pub slot: Slot,
    /// The challenge it carries: the verifier's own, if the policy named one.
    pub challenge: Option<Challenge>,
}

/// Why a presentation did not verify. Checks run in this order: envelope and payload,
/// the credential inside, its binding, the holder's signature, the slot, the challenge.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum PresentationError {
    /// Not a presentation envelope (including another document's `typ`, or a `kid`).
    #[error("malformed presentation: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The payload is not a presentation.
    #[error("malformed presentation: {0}")]
    Format(#[from] FormatError),
    /// The credential inside does not verify.
    #[error("credential: {0}")]
    Credential(#[from] VerifyError),
    /// The credential has no holder key (`cnf`): it is a bearer credential, and nobody can
    /// present it.
    #[error("the credential is not bound to a holder key")]
    NotHolderBound,
    /// The presentation is not signed by the credential's holder key.
    #[error("the presentation is not signed by the credential's holder key")]
    BadSignature,
    /// The slot is outside the verifier's `now` ± skew: a replay, or clocks far apart.
    #[error("presentation for {}..{} is outside the verifier's time window", .0.start(), .0.end())]
    Expired(Slot),
    /// The verifier gave a challenge and the presentation does not carry it.
    #[error("the presentation does not answer this verifier's challenge")]
    ChallengeMismatch,
    /// ([`verify_presented`]) The presentation carries another credential than the one
    /// verified.
    #[error("the presentation carries another credential than the one verified")]
    OtherCredential,
}

/// Makes a presentation of `token` (a credential bound to `holder`'s public key) for
/// `slot`, answering `challenge` if there is one. Deterministic: the same inputs give the
/// same bytes (Ed25519 signatures are), so a holder's screen can redraw it freely within
/// a slot.
pub fn present(
    token: &[u8],
    holder: &SigningKey,
    slot: Slot,
    challenge: Option<&Challenge>,
) -> Vec<u8> {
    let mut payload = vec![
        (cbor::int(field::CREDENTIAL), Value::Bytes(token.to_vec())),
        (cbor::int(field::SLOT_START), cbor::uint(slot.start.0)),
        (cbor::int(field::SLOT_LENGTH), cbor::uint(slot.length)),
    ];
    if let Some(challenge) = challenge {
        payload.push((
            cbor::int(field::CHALLENGE),
            Value::Bytes(challenge.0.clone()),
        ));
    }
    cose::sign_keyless(holder, TYP, cbor::encode(&Value::Map(payload)))
}

/// Verifies a presentation against the credential keys in `keyring`.
pub fn verify(
    presentation: &[u8],
    keyring: &Keyring,
    policy: &PresentationPolicy,
) -> Result<VerifiedPresentation, PresentationError> {
    let envelope = Keyless::parse(presentation, TYP)?;
    // The payload is read before its signature is checked because it names the key that
    // must have signed it; nothing in it is trusted until both signatures have verified.
    let contents = Presentation::from_payload(envelope.unverified_payload())?;
    let verified = token::verify_token(&contents.token, keyring, &policy.credential)?;
    let holder_key = verified
        .holder_key
        .ok_or(PresentationError::NotHolderBound)?;
    by_holder(&envelope, contents, holder_key, verified.credential, policy)
}

/// Verifies a presentation whose credential the caller has verified already: `credential`
/// is what verifying `token` gave (e.g. one of [`token::verify_batch`]'s results), so only
/// the holder's signature, the slot and the challenge are checked here, not the issuer's
/// signature again. The presentation must carry exactly `token`, and `credential` must be
/// what `token` states (its claims are decoded again and compared: cheap, no signature),
/// so a verified credential cannot vouch for another. `policy.credential` is not used: the
/// credential's own times were checked when it was verified.
pub fn verify_presented(
    presentation: &[u8],
    token: &[u8],
    credential: &VerifiedCredential,
    policy: &PresentationPolicy,
) -> Result<VerifiedPresentation, PresentationError> {
    let envelope = Keyless::parse(presentation, TYP)?;
    let contents = Presentation::from_payload(envelope.unverified_payload())?;
    if contents.token != token {
        return Err(PresentationError::OtherCredential);
    }
    // The token's signature verified (the caller's `credential`): what it states, the
    // holder key included, is the issuer's word, provided it is what was verified.
    let opened = cose::Opened::parse_cwt(token, None)
        .map_err(|e| PresentationError::Credential(VerifyError::Envelope(e)))?;
    let key_id = opened.key_id();
    let (claims, holder_key) =
        CredentialClaims::from_payload_with_holder(&opened.unverified_payload())
            .map_err(|e| PresentationError::Credential(VerifyError::Claims(e)))?;
    if claims != credential.claims || key_id != credential.key_id {
        return Err(PresentationError::OtherCredential);
    }
    let holder_key = holder_key.ok_or(PresentationError::NotHolderBound)?;
    by_holder(&envelope, contents, holder_key, credential.clone(), policy)
}

/// What both ways of verifying check once the credential is settled: the holder's
/// signature with the credential's `cnf` key, the slot against the verifier's time, and
/// the challenge.
fn by_holder(
    envelope: &Keyless,
    contents: Presentation,
    holder_key: PublicKey,
    credential: VerifiedCredential,
    policy: &PresentationPolicy,
) -> Result<VerifiedPresentation, PresentationError> {
    if !envelope.verify(&holder_key) {
        return Err(PresentationError::BadSignature);
    }
    let now = policy.credential.now;
    if !contents.slot.is_current(now, policy.slot_skew) {
        return Err(PresentationError::Expired(contents.slot));
    }
    if let Some(expected) = &policy.challenge
        && contents.challenge.as_ref() != Some(expected)
    {
        return Err(PresentationError::ChallengeMismatch);
    }
    Ok(VerifiedPresentation {
        credential,
        holder_key,
        slot: contents.slot,
        challenge: contents.challenge,
    })
}

impl Presentation {
    /// Reads a presentation's payload. Nothing in it is trusted until both signatures
    /// have verified.
    pub(crate) fn from_payload(payload: &[u8]) -> Result<Presentation, FormatError> {
        let mut map = Map::from_value(cbor::decode(payload)?, "presentation")?;
        let token = cbor::to_bytes(
            map.require_int(field::CREDENTIAL, "credential")?,
            "credential",
        )?;
        let start = cbor::to_u64(
            map.require_int(field::SLOT_START, "slot start")?,
            "slot start",
        )?;
        let length = cbor::to_u64(
            map.require_int(field::SLOT_LENGTH, "slot length")?,
            "slot length",
        )?;
        let slot = Slot::new(UnixTime(start), length).map_err(|e| FormatError::Domain {
            field: "slot",
            reason: e.to_string(),
        })?;
        let challenge = match map.take_int(field::CHALLENGE) {
            None => None,
            Some(value) => Some(Challenge::new(cbor::to_bytes(value, "challenge")?).map_err(
                |e| FormatError::Domain {
                    field: "challenge",
                    reason: e.to_string(),
                },
            )?),
        };
        Ok(Presentation {
            token,
            slot,
            challenge,
        })
    }
}

#[cfg(test)]
mod tests;
