//! Status lists (draft-ietf-oauth-status-list): a zlib-compressed bit array with a fixed
//! number of bits per entry, LSB first, and the signed Status List Token in CWT form.

use std::io::Write;

use ciborium::Value;
use flate2::Compression;
use flate2::write::ZlibEncoder;

use crate::UnixTime;
use crate::cbor::{self, FormatError, Map};
use crate::cose::{self, EnvelopeError, Opened};
use crate::key::{KeyId, KeyUse, SigningKey};
use crate::keyring::Keyring;
use crate::memo::SignatureMemo;
use crate::token::VerifyPolicy;

/// The `typ` every Status List Token carries.
pub const TYP: &str = "application/statuslist+cwt";

/// Entries in every edl list, at least (herd privacy: one index reveals little).
pub const MIN_ENTRIES: usize = 131_072;

/// Decompressed lists larger than this are refused (a zlib bomb guard): 64 MiB holds
/// 268 million two-bit entries.
pub const MAX_DECOMPRESSED: usize = 64 << 20;

mod claim {
    pub(super) const SUB: i64 = 2;
    pub(super) const EXP: i64 = 4;
    pub(super) const IAT: i64 = 6;
    pub(super) const TTL: i64 = 65534;
    pub(super) const STATUS_LIST: i64 = 65533;
}

/// The status of a credential as edl writes it in two-bit lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialStatus {
    /// 0: valid.
    Valid = 0,
    /// 1: invalid (licence revoked or cancelled).
    Invalid = 1,
    /// 2: suspended.
    Suspended = 2,
    /// 3: superseded by a newer credential.
    Superseded = 3,
}

impl CredentialStatus {
    /// The entry value.
    pub fn value(self) -> u8 {
        self as u8
    }

    /// The status of an entry value in a two-bit list.
    pub fn from_value(value: u8) -> Option<CredentialStatus> {
        match value {
            0 => Some(CredentialStatus::Valid),
            1 => Some(CredentialStatus::Invalid),
            2 => Some(CredentialStatus::Suspended),
            3 => Some(CredentialStatus::Superseded),
            _ => None,
        }
    }
}

/// Why a status list or its token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum StatusListError {
    /// `bits` is not 1, 2, 4 or 8.
    #[error("bits per entry must be 1, 2, 4 or 8, not {0}")]
    BadBits(u64),
    /// An index past the end of the list.
    #[error("index {index} is outside a list of {len} entries")]
    IndexOutOfRange {
        /// The index.
        index: u64,
        /// The list's length.
        len: usize,
    },
    /// A value that does not fit in the entry width.
    #[error("value {value} does not fit in {bits} bits")]
    ValueTooLarge {
        /// The value.
        value: u8,
        /// Bits per entry.
        bits: u8,
    },
    /// A signed list that is not an edl list: other than 2 bits per entry, or shorter than
    /// [`MIN_ENTRIES`].
    #[error("not an edl status list: {bits} bits per entry, {len} entries")]
    NotEdlList {
        /// Bits per entry.
        bits: u8,
        /// Entries.
        len: usize,
    },
    /// `lst` is not valid zlib data, or inflates past the size guard.
    #[error("the compressed list is not valid zlib data or is too large")]
    BadCompression,
    /// The envelope is malformed.
    #[error("malformed status list token: {0}")]
    Envelope(#[from] EnvelopeError),
    /// No trusted status key has this id.
    #[error("unknown status key id {0}")]
    UnknownKey(KeyId),
    /// No trusted status key with the id verifies the signature.
    #[error("status list signature does not verify")]
    BadSignature,
    /// The signing key is revoked in the trust list.
    #[error("status key {0} is revoked")]
    KeyRevoked(KeyId),
    /// Signed outside the key's window.
    #[error("status key {key_id} was not valid at the signing time {signed_at}")]
    KeyNotValid {
        /// The key.
        key_id: KeyId,
        /// The list's `iat`.
        signed_at: UnixTime,
    },
    /// The claims are malformed.
    #[error("malformed status list claims: {0}")]
    Claims(#[from] FormatError),
    /// `sub` is not the URI the list was fetched from.
    #[error("status list is for {found}, not {expected}")]
    WrongUri {
        /// The URI asked for.
        expected: String,
        /// The `sub` found.
        found: String,
    },
    /// `exp` has passed.
    #[error("status list expired at {0}")]
    Expired(UnixTime),
    /// `iat` is in the future.
    #[error("status list issued in the future at {0}")]
    IssuedInFuture(UnixTime),
}

/// A bit array of `len` entries of `bits` bits, entry `i` at bit offset `i * bits`, least
/// significant bit first within each byte.
#[derive(Clone, PartialEq, Eq)]
pub struct StatusList {
    bits: u8,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for StatusList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StatusList({} x {} bits)", self.len(), self.bits)
    }
}

impl StatusList {
    /// A list of at least `len` entries, all 0, rounded up to whole bytes. Refuses lists
    /// larger than [`MAX_DECOMPRESSED`] bytes: no reader would accept them.
    pub fn new(bits: u8, len: usize) -> Result<StatusList, StatusListError> {
        check_bits(u64::from(bits))?;
        let bytes = len
            .checked_mul(usize::from(bits))
            .map(|b| b.div_ceil(8))
            .filter(|b| *b <= MAX_DECOMPRESSED)
            .ok_or(StatusListError::IndexOutOfRange {
                index: len as u64,
                len: MAX_DECOMPRESSED * 8 / usize::from(bits),
            })?;
        Ok(StatusList {
            bits,
            bytes: vec![0; bytes],
        })
    }

    /// Bits per entry.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// Entries held (whole bytes' worth).
    pub fn len(&self) -> usize {
        self.bytes.len() * 8 / usize::from(self.bits)
    }

    /// Whether the list holds no entries.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The raw, uncompressed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The value of entry `index`, or `None` past the end.
    pub fn get(&self, index: u64) -> Option<u8> {
        let (byte, shift, mask) = self.locate(index)?;
        Some((self.bytes[byte] >> shift) & mask)
    }

    /// Sets entry `index` to `value`.
    pub fn set(&mut self, index: u64, value: u8) -> Result<(), StatusListError> {
        let (byte, shift, mask) = self.locate(index).ok_or(StatusListError::IndexOutOfRange {
            index,
            len: self.len(),
        })?;
        if value > mask {
            return Err(StatusListError::ValueTooLarge {
                value,
                bits: self.bits,
            });
        }
        self.bytes[byte] = (self.bytes[byte] & !(mask << shift)) | (value << shift);
        Ok(())
    }

    fn locate(&self, index: u64) -> Option<(usize, u32, u8)> {
        let index = usize::try_from(index).ok()?;
        if index >= self.len() {
            return None;
        }
        let bit = index * usize::from(self.bits);
        let mask = u8::MAX >> (8 - self.bits);
        Some((bit / 8, (bit % 8) as u32, mask))
    }

    /// The zlib (RFC 1950) compressed bytes, at the highest compression level.
    pub fn compress(&self) -> Vec<u8> {
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
        // Writing into a Vec cannot fail, and `finish` only flushes into it.
        #[allow(clippy::expect_used)]
        {
            encoder.write_all(&self.bytes).expect("zlib into a Vec");
            encoder.finish().expect("zlib into a Vec")
        }
    }

    /// Reads a compressed list, refusing more than [`MAX_DECOMPRESSED`] bytes.
    pub fn decompress(bits: u8, compressed: &[u8]) -> Result<StatusList, StatusListError> {
        check_bits(u64::from(bits))?;
        // An edl list has at least MIN_ENTRIES entries (`verify` refuses a shorter one), so
        // its bytes are at least this many: most lists inflate in one pass.
        let expected = MIN_ENTRIES * usize::from(bits) / 8;
        let bytes = inflate_zlib(compressed, expected).ok_or(StatusListError::BadCompression)?;
        Ok(StatusList { bits, bytes })
    }
}

/// Inflates a zlib stream (RFC 1950) of at most [`MAX_DECOMPRESSED`] bytes, its Adler-32
/// checked, into one buffer of `expected` bytes grown as needed (flate2's reader
/// zero-fills and probes a buffer per call and its stream copies through a 32 KiB window,
/// which cost an offline check more than the inflating itself).
///
/// Written here rather than `miniz_oxide::inflate::decompress_to_vec_zlib_with_limit`
/// for one reason: flate2 turns on miniz_oxide's SIMD Adler-32 for the whole build, which
/// picks its code by asking the CPU with nine `cpuid` instructions, each a trap to the
/// hypervisor on a virtual machine (~7 µs each here), for a checksum over a few
/// kilobytes. So the inflater is told to skip the checksum, and the scalar `adler2` (what
/// miniz_oxide itself uses without SIMD) checks it.
fn inflate_zlib(compressed: &[u8], expected: usize) -> Option<Vec<u8>> {
    use miniz_oxide::inflate::TINFLStatus;
    use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};

    let flags = inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER
        | inflate_flags::TINFL_FLAG_IGNORE_ADLER32
        | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let mut out = vec![0; expected.clamp(64, MAX_DECOMPRESSED)];
    let mut inflater = Box::<DecompressorOxide>::default();
    let (mut read, mut written) = (0, 0);
    loop {
        let (status, used, produced) = decompress(
            &mut inflater,
            compressed.get(read..)?,
            &mut out,
            written,
            flags,
        );
        read += used;
        written += produced;
        match status {
            TINFLStatus::Done => break,
            TINFLStatus::HasMoreOutput if out.len() < MAX_DECOMPRESSED => {
                let longer = out.len().saturating_mul(2).min(MAX_DECOMPRESSED);
                out.resize(longer, 0);
            }
            _ => return None,
        }
    }
    out.truncate(written);
    // The stream ends with the Adler-32 of what it inflates to, big-endian.
    let trailer = compressed.get(read.checked_sub(4)?..read)?;
    (adler2::adler32_slice(&out).to_be_bytes() == trailer).then_some(out)
}

fn check_bits(bits: u64) -> Result<(), StatusListError> {
    match bits {
        1 | 2 | 4 | 8 => Ok(()),
        other => Err(StatusListError::BadBits(other)),
    }
}

/// The claims of a Status List Token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusListClaims {
    /// `sub`: the URI this list is served at, as credentials reference it.
    pub uri: String,
    /// `iat`.
    pub issued_at: UnixTime,
    /// `exp`.
    pub expires_at: UnixTime,
    /// `ttl` (65534): seconds a fetched copy may be used before fetching again.
    pub ttl: u64,
    /// `status_list` (65533).
    pub list: StatusList,
}

/// A Status List Token that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedStatusList {
    /// The claims.
    pub claims: StatusListClaims,
    /// The status key that signed it.
    pub key_id: KeyId,
}

/// Signs a Status List Token.
pub fn sign(claims: &StatusListClaims, key: &SigningKey) -> Vec<u8> {
    let payload = Value::Map(vec![
        (cbor::int(claim::SUB), cbor::text(&claims.uri)),
        (cbor::int(claim::IAT), cbor::uint(claims.issued_at.0)),
        (cbor::int(claim::EXP), cbor::uint(claims.expires_at.0)),
        (cbor::int(claim::TTL), cbor::uint(claims.ttl)),
        (
            cbor::int(claim::STATUS_LIST),
            Value::Map(vec![
                (cbor::text("bits"), cbor::uint(u64::from(claims.list.bits))),
                (cbor::text("lst"), Value::Bytes(claims.list.compress())),
            ]),
        ),
    ]);
    cose::sign(key, Some(TYP), cbor::encode(&payload))
}

/// Verifies a Status List Token with the status keys in `keyring`. When `expected_uri` is
/// given, `sub` must equal it. The list must be an edl list: 2 bits per entry and at
/// least [`MIN_ENTRIES`] entries. An expired list is refused; callers that want to show a
/// stale list's age read [`VerifiedStatusList::claims`] of a list verified at its `iat`.
pub fn verify(
    token: &[u8],
    keyring: &Keyring,
    policy: &VerifyPolicy,
    expected_uri: Option<&str>,
) -> Result<VerifiedStatusList, StatusListError> {
    verify_remembered(token, keyring, policy, expected_uri, None)
}

/// As [`verify`], the signature taken as verified if `memo` remembers it (and remembered
/// there once it verified); every other check runs as in [`verify`].
pub fn verify_remembered(
    token: &[u8],
    keyring: &Keyring,
    policy: &VerifyPolicy,
    expected_uri: Option<&str>,
    memo: Option<&SignatureMemo>,
) -> Result<VerifiedStatusList, StatusListError> {
    let opened = Opened::parse(token, Some(TYP))?;
    let key_id = opened.key_id();
    let candidates = keyring.candidates(key_id, KeyUse::Status);
    if candidates.clone().next().is_none() {
        return Err(StatusListError::UnknownKey(key_id));
    }
    let (public, payload) = opened
        .verify_remembered(candidates.clone().map(|k| &k.public), memo)
        .ok_or(StatusListError::BadSignature)?;
    // The key that verified is among the candidates: find its trust entry by identity.
    let trusted = candidates
        .into_iter()
        .find(|k| &k.public == public)
        .ok_or(StatusListError::BadSignature)?;
    if trusted.revoked {
        return Err(StatusListError::KeyRevoked(key_id));
    }
    let claims = StatusListClaims::from_payload(&payload)?;
    let skew = policy.clock_skew;
    if !trusted.covers(claims.issued_at, skew) {
        return Err(StatusListError::KeyNotValid {
            key_id,
            signed_at: claims.issued_at,
        });
    }
    if let Some(expected) = expected_uri
        && claims.uri != expected
    {
        return Err(StatusListError::WrongUri {
            expected: expected.to_owned(),
            found: claims.uri,
        });
    }
    if claims.list.bits() != 2 || claims.list.len() < MIN_ENTRIES {
        return Err(StatusListError::NotEdlList {
            bits: claims.list.bits(),
            len: claims.list.len(),
        });
    }
    if claims.issued_at > policy.now.plus(skew) {
        return Err(StatusListError::IssuedInFuture(claims.issued_at));
    }
    if policy.now >= claims.expires_at.plus(skew) {
        return Err(StatusListError::Expired(claims.expires_at));
    }
    Ok(VerifiedStatusList { claims, key_id })
}

impl StatusListClaims {
    fn from_payload(payload: &[u8]) -> Result<StatusListClaims, StatusListError> {
        let mut claims = Map::from_value(cbor::decode(payload)?, "claims")?;
        let uri = cbor::to_text(claims.require_int(claim::SUB, "sub")?, "sub")?;
        let issued_at = UnixTime(cbor::to_u64(claims.require_int(claim::IAT, "iat")?, "iat")?);
        let expires_at = UnixTime(cbor::to_u64(claims.require_int(claim::EXP, "exp")?, "exp")?);
        let ttl = cbor::to_u64(claims.require_int(claim::TTL, "ttl")?, "ttl")?;
        let mut list = Map::from_value(
            claims.require_int(claim::STATUS_LIST, "status_list")?,
            "status_list",
        )?;
        let bits = cbor::to_u64(list.require_text("bits", "bits")?, "bits")?;
        check_bits(bits)?;
        let lst = cbor::to_bytes(list.require_text("lst", "lst")?, "lst")?;
        let list = StatusList::decompress(bits as u8, &lst)?;
        Ok(StatusListClaims {
            uri,
            issued_at,
            expires_at,
            ttl,
            list,
        })
    }
}

#[cfg(test)]
mod tests;
