//! The holder's device key as a credential carries it: the `cnf` claim (RFC 8747) holding
//! one COSE_Key (RFC 9052 section 7, RFC 9053 section 7.2) of an Ed25519 public key, and
//! nothing else. `docs/FORMATS.md` section 3 lists the labels.

use ciborium::Value;

use crate::cbor::{self, FormatError, Map};
use crate::key::PublicKey;

/// `cnf` confirmation methods (RFC 8747 section 3.1).
mod method {
    /// `COSE_Key`: the key itself.
    pub(super) const COSE_KEY: i64 = 1;
}

/// COSE_Key labels and values (RFC 9052 section 7.1, RFC 9053 section 7.2).
mod label {
    /// `kty`.
    pub(super) const KTY: i64 = 1;
    /// `crv` (OKP keys).
    pub(super) const CRV: i64 = -1;
    /// `x`: the public key (OKP keys).
    pub(super) const X: i64 = -2;
    /// The only labels a holder key may carry: anything else (`d`, `kid`, `alg`,
    /// `key_ops`, …) is refused, so one key has one encoding.
    pub(super) const ALLOWED: [i64; 3] = [KTY, CRV, X];
}

/// `kty` OKP (RFC 9053 section 7.2).
const KTY_OKP: i64 = 1;
/// `crv` Ed25519 (RFC 9053 section 7.1).
const CRV_ED25519: i64 = 6;

/// The `cnf` claim value for `holder`: `{1: {1: 1, -1: 6, -2: x}}`.
pub(crate) fn encode_cnf(holder: &PublicKey) -> Value {
    Value::Map(vec![(cbor::int(method::COSE_KEY), encode(holder))])
}

/// Reads a `cnf` claim value: a map with exactly one entry, the COSE_Key under 1.
pub(crate) fn decode_cnf(value: Value) -> Result<PublicKey, FormatError> {
    let mut cnf = Map::from_value(value, "cnf")?;
    let key = cnf
        .take_int(method::COSE_KEY)
        .ok_or_else(|| domain("cnf", "no COSE_Key (1)"))?;
    if let Some(other) = cnf.remaining_keys().next() {
        return Err(domain(
            "cnf",
            format!(
                "confirmation method {} is not allowed (only a COSE_Key, 1)",
                cbor::describe(other)
            ),
        ));
    }
    decode(key)
}

/// The COSE_Key of an Ed25519 public key: `{1: 1, -1: 6, -2: x}`.
fn encode(public: &PublicKey) -> Value {
    Value::Map(vec![
        (cbor::int(label::KTY), cbor::int(KTY_OKP)),
        (cbor::int(label::CRV), cbor::int(CRV_ED25519)),
        (
            cbor::int(label::X),
            Value::Bytes(public.to_bytes().to_vec()),
        ),
    ])
}

/// Reads a COSE_Key that must be an Ed25519 public key with exactly the labels `kty`,
/// `crv` and `x`, `x` a usable point.
fn decode(value: Value) -> Result<PublicKey, FormatError> {
    let mut key = Map::from_value(value, "cnf COSE_Key")?;
    let kty = key.require_int(label::KTY, "cnf COSE_Key kty")?;
    if kty != cbor::int(KTY_OKP) {
        return Err(domain(
            "cnf COSE_Key kty",
            format!("{} is not OKP (1)", cbor::describe(&kty)),
        ));
    }
    let crv = key.require_int(label::CRV, "cnf COSE_Key crv")?;
    if crv != cbor::int(CRV_ED25519) {
        return Err(domain(
            "cnf COSE_Key crv",
            format!("{} is not Ed25519 (6)", cbor::describe(&crv)),
        ));
    }
    let x: [u8; 32] = cbor::to_fixed(
        key.require_int(label::X, "cnf COSE_Key x")?,
        "cnf COSE_Key x",
        "32 bytes",
    )?;
    if let Some(extra) = key.remaining_keys().next() {
        return Err(domain(
            "cnf COSE_Key",
            format!(
                "label {} is not allowed (only {:?})",
                cbor::describe(extra),
                label::ALLOWED
            ),
        ));
    }
    PublicKey::from_bytes(&x).map_err(|e| domain("cnf COSE_Key x", e))
}

fn domain(field: &'static str, reason: impl std::fmt::Display) -> FormatError {
    FormatError::Domain {
        field,
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests;
