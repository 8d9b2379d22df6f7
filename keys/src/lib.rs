//! Sans-IO key material and codecs for edl: Ed25519 keys and key ids, the credential
//! token (CWT in COSE_Sign1), holder presentations, their QR texts, status lists, the
//! signed trust list and signed status receipts.
//!
//! **Invariant:** nothing in this crate reads the clock, the filesystem, the network or an
//! entropy source on its own. Time comes in as a [`UnixTime`], randomness as an RNG or as
//! bytes the caller drew. The daemon, the verifier and `edl-keys` do the IO.
//!
//! Every format here is specified byte for byte in `docs/FORMATS.md`.

#![deny(missing_docs)]

mod cbor;
mod cose;
mod cose_key;
pub mod danger;
#[cfg(test)]
mod fixtures;
pub mod jwk;
pub mod key;
pub mod keyring;
pub mod licence;
pub mod lower_hex;
pub mod memo;
pub mod presentation;
pub mod qr;
pub mod receipt;
pub mod status_list;
pub mod token;
pub mod trust_list;

pub use cbor::FormatError;
pub use cose::EnvelopeError;
pub use key::{KeyError, KeyId, KeyUse, PublicKey, SigningKey};
pub use keyring::{Keyring, TrustedKey};
pub use token::{CredentialClaims, VerifyError, VerifyPolicy};

/// Seconds since the Unix epoch (1970-01-01T00:00:00Z), as CWT's NumericDate without
/// fractions. Callers read the clock; this crate only compares.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// The time `seconds` later, saturating at the far future.
    pub fn plus(self, seconds: u64) -> UnixTime {
        UnixTime(self.0.saturating_add(seconds))
    }

    /// The time `seconds` earlier, saturating at the epoch.
    pub fn minus(self, seconds: u64) -> UnixTime {
        UnixTime(self.0.saturating_sub(seconds))
    }

    /// Seconds from `earlier` to `self`, or zero if `earlier` is later.
    pub fn since(self, earlier: UnixTime) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl std::fmt::Display for UnixTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match i64::try_from(self.0)
            .ok()
            .and_then(|s| ::time::OffsetDateTime::from_unix_timestamp(s).ok())
        {
            Some(t) => write!(
                f,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            None => write!(f, "@{}", self.0),
        }
    }
}
