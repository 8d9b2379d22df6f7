//! JSON Web Keys for Ed25519 (RFC 7517, RFC 8037): edl's own keys in the JWKS, the RFC
//! 7638 thumbprint that key ids derive from, and the holder's device key an application
//! carries as `holder_key`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

pub use crate::key::thumbprint;
use crate::key::{KeyId, KeyUse, PublicKey};

/// One OKP public key in JWK form.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Jwk {
    /// Always `OKP`.
    pub kty: String,
    /// Always `Ed25519`.
    pub crv: String,
    /// The public key, base64url without padding.
    pub x: String,
    /// The key id, 16 lowercase hex digits.
    pub kid: String,
    /// `sig`.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub public_key_use: Option<String>,
    /// `EdDSA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Which edl signing role the key has (`credential`, `status` or `root`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edl_use: Option<KeyUse>,
}

/// A JWK Set (RFC 7517 section 5).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// A holder's device key as an application carries it (`holder_key`): a public OKP
/// Ed25519 JWK (RFC 8037) such as `{"kty":"OKP","crv":"Ed25519","x":"…"}`.
///
/// Reading one refuses a private key (`d`, even `null`), another `kty` or `crv`, an `x`
/// that is not 43 base64url characters (32 bytes, no padding) of a usable point, an `alg`
/// other than `EdDSA` or `Ed25519`, a `use` other than `sig`, and a member given twice.
/// Other members (`kid`, `key_ops`, …) are ignored (RFC 7517 section 4): edl names a
/// holder key by its thumbprint, never by the app's `kid`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HolderJwk {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// The public key, base64url without padding.
    pub x: String,
    /// `EdDSA` or `Ed25519` if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// `sig` if present.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub public_key_use: Option<String>,
    /// Whether the JWK carried a private part: a device key's secret never leaves the
    /// device, so such a JWK is refused rather than quietly stripped.
    #[serde(
        rename = "d",
        default,
        deserialize_with = "member_present",
        skip_serializing
    )]
    private_part: bool,
}

/// Reads a holder key from JWK JSON text, as `POST /v1/applications` carries it.
pub fn parse_holder_key(json: &str) -> Result<PublicKey, JwkError> {
    serde_json::from_str::<HolderJwk>(json)
        .map_err(|e| JwkError::Syntax(e.to_string()))?
        .to_public_key()
}

impl HolderJwk {
    /// The minimal JWK of `public`: `kty`, `crv` and `x`.
    pub fn from_public_key(public: &PublicKey) -> HolderJwk {
        HolderJwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(public.to_bytes()),
            alg: None,
            public_key_use: None,
            private_part: false,
        }
    }

    /// The public key, after every check listed on [`HolderJwk`].
    pub fn to_public_key(&self) -> Result<PublicKey, JwkError> {
        if self.private_part {
            return Err(JwkError::PrivateKey);
        }
        if self.kty != "OKP" || self.crv != "Ed25519" {
            return Err(JwkError::WrongType {
                kty: self.kty.clone(),
                crv: self.crv.clone(),
            });
        }
        if let Some(alg) = self
            .alg
            .as_deref()
            .filter(|a| !matches!(*a, "EdDSA" | "Ed25519"))
        {
            return Err(JwkError::WrongAlgorithm(alg.to_owned()));
        }
        if let Some(public_key_use) = self.public_key_use.as_deref().filter(|u| *u != "sig") {
            return Err(JwkError::WrongUse(public_key_use.to_owned()));
        }
        public_key_from_x(&self.x)
    }
}

/// For a member whose mere presence matters: `true` whatever its value.
fn member_present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(deserializer)?;
    Ok(true)
}

/// Why a JWK was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwkError {
    /// Not JSON, not an object, a required member missing or of the wrong type, or a
    /// member given twice.
    #[error("not a JWK: {0}")]
    Syntax(String),
    /// A private key (`d`) where only a public key belongs.
    #[error("the JWK holds a private key (d): give only the public key")]
    PrivateKey,
    /// `alg` names another algorithm.
    #[error("alg {0:?} is not EdDSA or Ed25519")]
    WrongAlgorithm(String),
    /// `use` is not `sig`.
    #[error("use {0:?} is not sig")]
    WrongUse(String),
    /// Not an OKP Ed25519 key.
    #[error("not an OKP Ed25519 key (kty {kty:?}, crv {crv:?})")]
    WrongType {
        /// The `kty` found.
        kty: String,
        /// The `crv` found.
        crv: String,
    },
    /// `x` is not 32 bytes of base64url, or not a valid point.
    #[error("the x coordinate is not a valid Ed25519 public key")]
    BadKey,
    /// The `kid` does not match the key's thumbprint.
    #[error("kid {found} does not match the key's thumbprint kid {expected}")]
    KidMismatch {
        /// The kid computed from the key.
        expected: KeyId,
        /// The kid the JWK carried.
        found: String,
    },
}

impl Jwk {
    /// The JWK of `public`, labelled with its edl use when given.
    pub fn from_public_key(public: &PublicKey, key_use: Option<KeyUse>) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(public.to_bytes()),
            kid: public.key_id().to_string(),
            public_key_use: Some("sig".into()),
            alg: Some("EdDSA".into()),
            edl_use: key_use,
        }
    }

    /// The public key this JWK holds, checking that its `kid` is the thumbprint kid.
    pub fn to_public_key(&self) -> Result<PublicKey, JwkError> {
        if self.kty != "OKP" || self.crv != "Ed25519" {
            return Err(JwkError::WrongType {
                kty: self.kty.clone(),
                crv: self.crv.clone(),
            });
        }
        let public = public_key_from_x(&self.x)?;
        if self.kid != public.key_id().to_string() {
            return Err(JwkError::KidMismatch {
                expected: public.key_id(),
                found: self.kid.clone(),
            });
        }
        Ok(public)
    }

    /// The RFC 7638 thumbprint of this key, base64url.
    pub fn thumbprint_b64(&self) -> Result<String, JwkError> {
        let public = self.to_public_key()?;
        Ok(URL_SAFE_NO_PAD.encode(public.thumbprint()))
    }
}

/// The key in an OKP JWK's `x`: 32 bytes in unpadded base64url, a usable point.
fn public_key_from_x(x: &str) -> Result<PublicKey, JwkError> {
    let bytes = URL_SAFE_NO_PAD.decode(x).map_err(|_| JwkError::BadKey)?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| JwkError::BadKey)?;
    PublicKey::from_bytes(&bytes).map_err(|_| JwkError::BadKey)
}

#[cfg(test)]
mod tests;
