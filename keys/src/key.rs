//! Ed25519 key material: signing keys (secret, zeroized, never printable), public keys,
//! key ids (RFC 7638 thumbprints) and their PEM forms (PKCS#8 v1 and SPKI).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Length of an Ed25519 signature in bytes.
pub const SIGNATURE_LEN: usize = 64;

/// A key id: the first 8 bytes of the RFC 7638 JWK thumbprint (SHA-256) of the public key.
/// Written as 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    /// The key id of `public`.
    pub fn of(public: &PublicKey) -> KeyId {
        public.key_id()
    }

    /// The id as bytes, as carried in COSE `kid`.
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }

    /// Reads a `kid` header value; it must be exactly 8 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<KeyId> {
        bytes.try_into().ok().map(KeyId)
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl std::str::FromStr for KeyId {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 8];
        if s.len() != 16 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(KeyError::BadKeyId(s.to_owned()));
        }
        hex::decode_to_slice(s, &mut bytes).map_err(|_| KeyError::BadKeyId(s.to_owned()))?;
        Ok(KeyId(bytes))
    }
}

impl serde::Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a key may sign. Keys of one use are never accepted for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyUse {
    /// The offline root: signs trust lists only; its public key is pinned on verifiers.
    Root,
    /// Signs credential tokens.
    Credential,
    /// Signs status list tokens.
    Status,
}

impl KeyUse {
    /// The lowercase name used in files, trust lists and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyUse::Root => "root",
            KeyUse::Credential => "credential",
            KeyUse::Status => "status",
        }
    }
}

impl std::fmt::Display for KeyUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for KeyUse {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "root" => Ok(KeyUse::Root),
            "credential" => Ok(KeyUse::Credential),
            "status" => Ok(KeyUse::Status),
            other => Err(KeyError::BadKeyUse(other.to_owned())),
        }
    }
}

/// Why key material was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum KeyError {
    /// The PEM or DER structure did not parse, or holds another algorithm.
    #[error("not an Ed25519 {0} key in PEM form")]
    Pem(&'static str),
    /// A PKCS#8 v2 file whose embedded public key does not match its secret.
    #[error("the public key inside the private key file does not match the secret")]
    MismatchedPublicKey,
    /// The public key is not a valid curve point, or is of small order.
    #[error("public key is not a usable Ed25519 point")]
    WeakKey,
    /// A key id that is not 16 lowercase hex digits.
    #[error("key id {0:?} is not 16 lowercase hex digits")]
    BadKeyId(String),
    /// A key use other than root, credential or status.
    #[error("key use {0:?} is not one of root, credential, status")]
    BadKeyUse(String),
}

/// An Ed25519 public key with its key id computed once.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    inner: ed25519_dalek::VerifyingKey,
    key_id: KeyId,
}

impl PublicKey {
    /// Reads the 32-byte compressed point; refuses invalid and small-order points.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, KeyError> {
        let inner =
            ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::WeakKey)?;
        PublicKey::from_point(inner)
    }

    /// A decompressed point, refused if of small order.
    fn from_point(inner: ed25519_dalek::VerifyingKey) -> Result<PublicKey, KeyError> {
        if inner.is_weak() {
            return Err(KeyError::WeakKey);
        }
        Ok(PublicKey::from_dalek(inner))
    }

    fn from_dalek(inner: ed25519_dalek::VerifyingKey) -> PublicKey {
        let key_id = key_id(inner.as_bytes());
        PublicKey { inner, key_id }
    }

    /// Reads an SPKI public key PEM (`-----BEGIN PUBLIC KEY-----`); refuses invalid and
    /// small-order points as [`PublicKey::from_bytes`] does. The PEM reader has already
    /// decompressed the point (a field exponentiation): it is not done a second time.
    pub fn from_spki_pem(pem: &str) -> Result<PublicKey, KeyError> {
        let inner = ed25519_dalek::VerifyingKey::from_public_key_pem(pem)
            .map_err(|_| KeyError::Pem("public"))?;
        PublicKey::from_point(inner)
    }

    /// The SPKI PEM form, as `openssl pkey -pubout` writes it.
    pub fn to_spki_pem(&self) -> String {
        // Encoding a 32-byte key into the fixed SPKI template cannot fail.
        #[allow(clippy::expect_used)]
        self.inner
            .to_public_key_pem(LineEnding::LF)
            .expect("SPKI encoding of an Ed25519 key is infallible")
    }

    /// The 32-byte compressed point.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.inner.to_bytes()
    }

    /// The RFC 7638 thumbprint of the key (SHA-256 of its canonical JWK).
    pub fn thumbprint(&self) -> [u8; 32] {
        thumbprint(&self.to_bytes())
    }

    /// The key id (first 8 bytes of the RFC 7638 thumbprint).
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Checks `signature` over `message` with the strict rules of RFC 8032 (no malleable
    /// signatures, no small-order keys or R values).
    pub fn verify_strict(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        self.inner.verify_strict(message, &signature).is_ok()
    }

    /// Checks many signatures at once (ed25519-dalek's `verify_batch`: one multiscalar
    /// multiplication, about three times cheaper per signature than one by one). True
    /// only if every one verifies; it does not say which failed. Deterministic: the
    /// batch's random weights come from a transcript of the inputs, not from an entropy
    /// source. Unlike [`PublicKey::verify_strict`] it does not reject a small-order `R`,
    /// which only the key's holder could produce.
    pub(crate) fn verify_batch(items: &[(&PublicKey, &[u8], &[u8; 64])]) -> bool {
        let messages: Vec<&[u8]> = items.iter().map(|(_, message, _)| *message).collect();
        let signatures: Vec<ed25519_dalek::Signature> = items
            .iter()
            .map(|(_, _, signature)| ed25519_dalek::Signature::from_bytes(signature))
            .collect();
        let keys: Vec<ed25519_dalek::VerifyingKey> =
            items.iter().map(|(key, _, _)| key.inner).collect();
        ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.key_id)
    }
}

/// An Ed25519 signing key. It has no `Debug`, `Display` or `Serialize`, its secret is
/// zeroized when dropped, and it leaves this type only as a PKCS#8 PEM in a
/// [`Zeroizing`] string.
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
    public: PublicKey,
}

impl SigningKey {
    /// A new random key from `rng`.
    pub fn generate(rng: &mut impl CryptoRngCore) -> SigningKey {
        SigningKey::from_dalek(ed25519_dalek::SigningKey::generate(rng))
    }

    /// The key with this 32-byte seed (RFC 8032's secret key).
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        SigningKey::from_dalek(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    fn from_dalek(inner: ed25519_dalek::SigningKey) -> SigningKey {
        let public = PublicKey::from_dalek(inner.verifying_key());
        SigningKey { inner, public }
    }

    /// Reads a PKCS#8 private key PEM (`-----BEGIN PRIVATE KEY-----`), version 1 as
    /// OpenSSL writes it or version 2 with the public key, which must then match.
    pub fn from_pkcs8_pem(pem: &str) -> Result<SigningKey, KeyError> {
        let keypair = ed25519_dalek::pkcs8::KeypairBytes::from_pkcs8_pem(pem)
            .map_err(|_| KeyError::Pem("private"))?;
        let key = SigningKey::from_seed(&keypair.secret_key);
        if let Some(public) = keypair.public_key
            && public.to_bytes() != key.public.to_bytes()
        {
            return Err(KeyError::MismatchedPublicKey);
        }
        Ok(key)
    }

    /// The PKCS#8 **v1** PEM that `openssl pkey` reads (v2, dalek's default, it rejects).
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        let keypair = ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: self.inner.to_bytes(),
            public_key: None,
        };
        // Encoding 32 bytes into the fixed PKCS#8 v1 template cannot fail.
        #[allow(clippy::expect_used)]
        keypair
            .to_pkcs8_pem(LineEnding::LF)
            .expect("PKCS#8 encoding of an Ed25519 key is infallible")
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The key id of the public half.
    pub fn key_id(&self) -> KeyId {
        self.public.key_id
    }

    /// Signs `message` (pure Ed25519, RFC 8032).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.inner.sign(message).to_bytes()
    }
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
fn key_id(public_key: &[u8; 32]) -> KeyId {
    let digest = thumbprint(public_key);
    let mut id = [0u8; 8];
    id.copy_from_slice(&digest[..8]);
    KeyId(id)
}

#[cfg(test)]
mod tests;
