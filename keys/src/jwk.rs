//! JSON Web Keys for Ed25519 (RFC 7517, RFC 8037) and the RFC 7638 thumbprint that key ids
//! derive from.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

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

/// Why a JWK was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwkError {
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

/// The RFC 7638 thumbprint: SHA-256 over `{"crv":"Ed25519","kty":"OKP","x":"…"}`.
pub fn thumbprint(public_key: &[u8; 32]) -> [u8; 32] {
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(public_key)
    );
    Sha256::digest(canonical.as_bytes()).into()
}

/// The key id of a raw public key: the first 8 bytes of its thumbprint.
pub fn key_id(public_key: &[u8; 32]) -> KeyId {
    let digest = thumbprint(public_key);
    let mut id = [0u8; 8];
    id.copy_from_slice(&digest[..8]);
    KeyId(id)
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
        let bytes = URL_SAFE_NO_PAD
            .decode(&self.x)
            .map_err(|_| JwkError::BadKey)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| JwkError::BadKey)?;
        let public = PublicKey::from_bytes(&bytes).map_err(|_| JwkError::BadKey)?;
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
        Ok(URL_SAFE_NO_PAD.encode(thumbprint(&public.to_bytes())))
    }
}
