//! The COSE_Sign1 envelope (RFC 9052) shared by every signed edl document: Ed25519 only,
//! protected `alg`, a protected `kid` (or, for presentations, none), no critical
//! parameters, and the optional CWT tag 61 (RFC 8392 section 6) around credential tokens.
//!
//! Opening checks the envelope's shape; [`Opened::verify`] finds the signing key. Nothing
//! trusts a payload before a signature over it has verified. (A presentation's payload is
//! parsed to find the credential inside it, whose own signature names the key that must
//! have signed the presentation: see `presentation`.)

use ciborium::Value;
use coset::{
    CoseError, CoseSign1, CoseSign1Builder, HeaderBuilder, Label, RegisteredLabelWithPrivate,
    TaggedCborSerializable, iana,
};

use crate::cbor::FormatError;
use crate::key::{KeyId, PublicKey, SIGNATURE_LEN, SigningKey};
use crate::memo::SignatureMemo;

/// The COSE header label of `typ` (RFC 9596).
const TYP: i64 = 16;

/// The CBOR head of tag 61, the CWT tag (RFC 8392 section 6), in its one shortest form.
const CWT_TAG: [u8; 2] = [0xd8, 0x3d];

/// Why a COSE_Sign1 envelope was refused before any key was tried.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum EnvelopeError {
    /// The bytes are not a tagged COSE_Sign1.
    #[error("not a COSE_Sign1: {0}")]
    Format(#[from] FormatError),
    /// `alg` is absent or not EdDSA (-8) / Ed25519 (-19).
    #[error("algorithm {0} is not accepted (only EdDSA -8 and Ed25519 -19)")]
    UnsupportedAlgorithm(String),
    /// The protected header lists critical parameters; edl defines none.
    #[error("unknown critical header parameter")]
    UnknownCriticalHeader,
    /// No 8-byte `kid` in the protected header.
    #[error("no 8-byte kid in the protected header")]
    MissingKeyId,
    /// A `kid` in a document whose signing key is named inside it (a presentation).
    #[error("a kid in the protected header of a document that must not carry one")]
    UnexpectedKeyId,
    /// The `typ` header is not what this kind of document carries.
    #[error("content type {found:?} where {expected:?} was expected")]
    WrongType {
        /// The `typ` this document must carry (empty: none).
        expected: &'static str,
        /// The `typ` found (empty: none).
        found: String,
    },
}

/// A structurally sound COSE_Sign1 whose signature has not been checked yet.
pub(crate) struct Opened {
    message: CoseSign1,
    key_id: KeyId,
}

impl Opened {
    /// Parses `bytes` as a tagged COSE_Sign1 and checks its protected header. `typ` is the
    /// content type the document must declare, or `None` if it must declare none.
    pub(crate) fn parse(bytes: &[u8], typ: Option<&'static str>) -> Result<Opened, EnvelopeError> {
        let message = open(bytes, typ)?;
        let key_id = KeyId::from_slice(&message.protected.header.key_id)
            .ok_or(EnvelopeError::MissingKeyId)?;
        Ok(Opened { message, key_id })
    }

    /// [`Opened::parse`] for a CWT: the tagged COSE_Sign1 may also come wrapped in the CWT
    /// tag, `61(18([...]))` (RFC 8392 section 6). Nothing else may wrap it, and the tag 61
    /// must be in its shortest form, once.
    pub(crate) fn parse_cwt(
        bytes: &[u8],
        typ: Option<&'static str>,
    ) -> Result<Opened, EnvelopeError> {
        Opened::parse(bytes.strip_prefix(&CWT_TAG).unwrap_or(bytes), typ)
    }

    /// The `kid` from the protected header. Not authenticated until [`Opened::verify`].
    pub(crate) fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Tries each candidate key in turn and returns the first whose signature verifies
    /// (RFC 8032 strict), with the now authenticated payload.
    pub(crate) fn verify<'k, I>(self, candidates: I) -> Option<(&'k PublicKey, Vec<u8>)>
    where
        I: IntoIterator<Item = &'k PublicKey>,
    {
        self.verify_remembered(candidates, None)
    }

    /// [`Opened::verify`], taking a verification `memo` remembers as done.
    pub(crate) fn verify_remembered<'k, I>(
        self,
        candidates: I,
        memo: Option<&SignatureMemo>,
    ) -> Option<(&'k PublicKey, Vec<u8>)>
    where
        I: IntoIterator<Item = &'k PublicKey>,
    {
        let to_be_signed = to_be_signed(&self.message);
        let signature = &self.message.signature;
        let key = candidates.into_iter().find(|key| match memo {
            Some(memo) => memo.verify(key, &to_be_signed, signature),
            None => key.verify_strict(&to_be_signed, signature),
        })?;
        Some((key, self.message.payload.unwrap_or_default()))
    }

    /// The bytes the signature covers (the Sig_structure) and the signature, for checking
    /// many signatures at once ([`crate::token::verify_batch`]); the payload stays unread.
    pub(crate) fn signed_parts(&self) -> Option<(Vec<u8>, [u8; SIGNATURE_LEN])> {
        let protected = self.message.protected.original_data.as_deref()?;
        let signature = self.message.signature.as_slice().try_into().ok()?;
        let payload = self.message.payload.as_deref().unwrap_or_default();
        Some((sig_structure(protected, payload), signature))
    }

    /// The payload, once the caller has verified [`Opened::signed_parts`] with a key
    /// [`crate::token::verify_batch`] found for it.
    pub(crate) fn into_verified_payload(self) -> Vec<u8> {
        self.message.payload.unwrap_or_default()
    }

    /// The payload without any check: for the `danger` module only.
    pub(crate) fn unverified_payload(self) -> Vec<u8> {
        self.message.payload.unwrap_or_default()
    }
}

/// A structurally sound COSE_Sign1 that names no key: its signer is named inside the
/// payload (a presentation's credential), so the caller reads that first, then verifies.
pub(crate) struct Keyless {
    message: CoseSign1,
}

impl Keyless {
    /// Parses `bytes` as a tagged COSE_Sign1 with the protected `typ`, which must carry no
    /// `kid` at all.
    pub(crate) fn parse(bytes: &[u8], typ: &'static str) -> Result<Keyless, EnvelopeError> {
        let message = open(bytes, Some(typ))?;
        // coset refuses an empty `kid` (`4: h''`) while parsing, so an empty one is none.
        if !message.protected.header.key_id.is_empty() {
            return Err(EnvelopeError::UnexpectedKeyId);
        }
        Ok(Keyless { message })
    }

    /// The payload, **not yet authenticated**: only for finding the key that must have
    /// signed it, and for `danger`.
    pub(crate) fn unverified_payload(&self) -> &[u8] {
        self.message.payload.as_deref().unwrap_or_default()
    }

    /// Whether `key` signed this message (RFC 8032 strict).
    pub(crate) fn verify(&self, key: &PublicKey) -> bool {
        key.verify_strict(&to_be_signed(&self.message), &self.message.signature)
    }
}

/// Parses a tagged COSE_Sign1 and checks everything but the `kid`: the algorithm, no
/// critical parameters, the `typ`, an attached payload and a 64-byte signature.
fn open(bytes: &[u8], typ: Option<&'static str>) -> Result<CoseSign1, EnvelopeError> {
    let message = CoseSign1::from_tagged_slice(bytes).map_err(format_error)?;
    let header = &message.protected.header;
    match &header.alg {
        Some(RegisteredLabelWithPrivate::Assigned(
            iana::Algorithm::EdDSA | iana::Algorithm::Ed25519,
        )) => {}
        Some(other) => return Err(EnvelopeError::UnsupportedAlgorithm(algorithm_name(other))),
        None => return Err(EnvelopeError::UnsupportedAlgorithm("(none)".into())),
    }
    if !header.crit.is_empty() {
        return Err(EnvelopeError::UnknownCriticalHeader);
    }
    let found = header
        .rest
        .iter()
        .find(|(label, _)| *label == Label::Int(TYP));
    match (typ, found) {
        (None, None) => {}
        (Some(expected), Some((_, Value::Text(found)))) if found == expected => {}
        (expected, found) => {
            return Err(EnvelopeError::WrongType {
                expected: expected.unwrap_or(""),
                found: match found {
                    Some((_, Value::Text(t))) => t.clone(),
                    Some((_, other)) => format!("{other:?}"),
                    None => String::new(),
                },
            });
        }
    }
    if message.payload.is_none() {
        return Err(FormatError::Missing("payload").into());
    }
    if message.signature.len() != SIGNATURE_LEN {
        return Err(FormatError::Invalid {
            field: "signature",
            expected: "64 bytes",
        }
        .into());
    }
    Ok(message)
}

/// The bytes the signature covers: the Sig_structure over the protected header bytes as
/// received.
fn to_be_signed(message: &CoseSign1) -> Vec<u8> {
    match &message.protected.original_data {
        Some(protected) => sig_structure(protected, message.payload.as_deref().unwrap_or_default()),
        // Only a message built in memory lacks its original header bytes.
        None => message.tbs_data(b""),
    }
}

/// The `Signature1` Sig_structure (RFC 9052 section 4.4) over the protected header bytes as
/// received and the payload, with empty external AAD, written directly: no intermediate
/// CBOR tree and a single copy of the payload.
fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(protected.len() + payload.len() + 32);
    // array(4), text(10) "Signature1"
    out.push(0x84);
    out.push(0x6a);
    out.extend_from_slice(b"Signature1");
    bstr_header(&mut out, protected.len());
    out.extend_from_slice(protected);
    // external_aad: empty bstr
    out.push(0x40);
    bstr_header(&mut out, payload.len());
    out.extend_from_slice(payload);
    out
}

/// The CBOR head of a byte string of `len` bytes (major type 2, shortest form).
fn bstr_header(out: &mut Vec<u8>, len: usize) {
    let len = len as u64;
    match len {
        0..=23 => out.push(0x40 | len as u8),
        24..=0xff => out.extend_from_slice(&[0x58, len as u8]),
        0x100..=0xffff => {
            out.push(0x59);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0x5a);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
        _ => {
            out.push(0x5b);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
}

/// Signs `payload` into a tagged COSE_Sign1 with protected `alg` EdDSA, `kid` and, when
/// given, `typ`.
pub(crate) fn sign(key: &SigningKey, typ: Option<&str>, payload: Vec<u8>) -> Vec<u8> {
    let header = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .key_id(key.key_id().as_bytes().to_vec());
    seal(key, header, typ, payload)
}

/// Signs `payload` into a tagged COSE_Sign1 with protected `alg` EdDSA and `typ` and no
/// `kid`: the verifier finds the key inside the payload (a presentation's credential).
pub(crate) fn sign_keyless(key: &SigningKey, typ: &str, payload: Vec<u8>) -> Vec<u8> {
    let header = HeaderBuilder::new().algorithm(iana::Algorithm::EdDSA);
    seal(key, header, Some(typ), payload)
}

fn seal(key: &SigningKey, header: HeaderBuilder, typ: Option<&str>, payload: Vec<u8>) -> Vec<u8> {
    let header = match typ {
        Some(typ) => header.value(TYP, Value::Text(typ.to_owned())),
        None => header,
    };
    let message = CoseSign1Builder::new()
        .protected(header.build())
        .payload(payload)
        .create_signature(b"", |to_be_signed| key.sign(to_be_signed).to_vec())
        .build();
    // Serializing a COSE_Sign1 we just built from bytes and integers cannot fail.
    #[allow(clippy::expect_used)]
    message
        .to_tagged_vec()
        .expect("COSE_Sign1 serialization is infallible")
}

/// A refused algorithm as people read it: `ES256 (-7)`, `-1000`, `"text"`.
fn algorithm_name(alg: &coset::Algorithm) -> String {
    use coset::iana::EnumI64;
    match alg {
        RegisteredLabelWithPrivate::Assigned(a) => format!("{a:?} ({})", a.to_i64()),
        RegisteredLabelWithPrivate::PrivateUse(i) => i.to_string(),
        RegisteredLabelWithPrivate::Text(t) => format!("{t:?}"),
    }
}

fn format_error(error: CoseError) -> EnvelopeError {
    let format = match error {
        CoseError::ExtraneousData => FormatError::TrailingBytes,
        CoseError::DuplicateMapKey => FormatError::DuplicateKey("header"),
        other => FormatError::Syntax(other.to_string()),
    };
    EnvelopeError::Format(format)
}

#[cfg(test)]
mod tests;
