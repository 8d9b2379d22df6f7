//! Strict CBOR reading shared by the codecs: one item with nothing after it, no duplicate
//! map keys at any level we read, and typed accessors that say what was wrong.

use ciborium::Value;

/// Why bytes are not a well-formed edl structure. Says nothing about signatures.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum FormatError {
    /// Not CBOR at all, or cut short.
    #[error("not well-formed CBOR: {0}")]
    Syntax(String),
    /// Bytes left over after the one item.
    #[error("trailing bytes after the CBOR item")]
    TrailingBytes,
    /// A map with the same key twice.
    #[error("duplicate map key in {0}")]
    DuplicateKey(&'static str),
    /// A required field is absent.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A field of the wrong CBOR type or out of range.
    #[error("{field} is not {expected}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What it should have been.
        expected: &'static str,
    },
    /// A field that parses as CBOR but not as the domain value it names.
    #[error("{field}: {reason}")]
    Domain {
        /// Which field.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
}

/// Decodes exactly one CBOR item from `bytes`.
pub(crate) fn decode(bytes: &[u8]) -> Result<Value, FormatError> {
    let mut rest = bytes;
    let value: Value =
        ciborium::de::from_reader(&mut rest).map_err(|e| FormatError::Syntax(e.to_string()))?;
    if !rest.is_empty() {
        return Err(FormatError::TrailingBytes);
    }
    Ok(value)
}

/// Encodes one CBOR item.
pub(crate) fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing a `Value` into a `Vec` cannot fail: the writer never errors and every `Value`
    // we build (integers, text, bytes, arrays, maps, booleans) is serializable.
    #[allow(clippy::expect_used)]
    ciborium::ser::into_writer(value, &mut out).expect("CBOR into a Vec is infallible");
    out
}

/// A CBOR map being taken apart field by field. Building one rejects duplicate keys.
pub(crate) struct Map {
    entries: Vec<(Value, Value)>,
}

impl Map {
    pub(crate) fn from_value(value: Value, what: &'static str) -> Result<Map, FormatError> {
        let Value::Map(entries) = value else {
            return Err(FormatError::Invalid {
                field: what,
                expected: "a map",
            });
        };
        for (i, (key, _)) in entries.iter().enumerate() {
            if entries[..i].iter().any(|(earlier, _)| earlier == key) {
                return Err(FormatError::DuplicateKey(what));
            }
        }
        Ok(Map { entries })
    }

    /// Removes and returns the value under `key`, if present.
    pub(crate) fn take(&mut self, key: &Value) -> Option<Value> {
        let at = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.swap_remove(at).1)
    }

    /// The keys not taken yet, for readers that refuse keys they do not know.
    pub(crate) fn remaining_keys(&self) -> impl Iterator<Item = &Value> {
        self.entries.iter().map(|(key, _)| key)
    }

    pub(crate) fn take_int(&mut self, key: i64) -> Option<Value> {
        self.take(&Value::Integer(key.into()))
    }

    pub(crate) fn take_text(&mut self, key: &str) -> Option<Value> {
        self.take(&Value::Text(key.to_owned()))
    }

    pub(crate) fn require_int(
        &mut self,
        key: i64,
        field: &'static str,
    ) -> Result<Value, FormatError> {
        self.take_int(key).ok_or(FormatError::Missing(field))
    }

    pub(crate) fn require_text(
        &mut self,
        key: &str,
        field: &'static str,
    ) -> Result<Value, FormatError> {
        self.take_text(key).ok_or(FormatError::Missing(field))
    }
}

pub(crate) fn to_u64(value: Value, field: &'static str) -> Result<u64, FormatError> {
    match value {
        Value::Integer(i) => u64::try_from(i).map_err(|_| FormatError::Invalid {
            field,
            expected: "an unsigned integer",
        }),
        _ => Err(FormatError::Invalid {
            field,
            expected: "an unsigned integer",
        }),
    }
}

pub(crate) fn to_text(value: Value, field: &'static str) -> Result<String, FormatError> {
    match value {
        Value::Text(s) => Ok(s),
        _ => Err(FormatError::Invalid {
            field,
            expected: "a text string",
        }),
    }
}

pub(crate) fn to_bytes(value: Value, field: &'static str) -> Result<Vec<u8>, FormatError> {
    match value {
        Value::Bytes(b) => Ok(b),
        _ => Err(FormatError::Invalid {
            field,
            expected: "a byte string",
        }),
    }
}

pub(crate) fn to_fixed<const N: usize>(
    value: Value,
    field: &'static str,
    expected: &'static str,
) -> Result<[u8; N], FormatError> {
    to_bytes(value, field)?
        .try_into()
        .map_err(|_| FormatError::Invalid { field, expected })
}

pub(crate) fn to_bool(value: Value, field: &'static str) -> Result<bool, FormatError> {
    match value {
        Value::Bool(b) => Ok(b),
        _ => Err(FormatError::Invalid {
            field,
            expected: "a boolean",
        }),
    }
}

pub(crate) fn to_array(value: Value, field: &'static str) -> Result<Vec<Value>, FormatError> {
    match value {
        Value::Array(a) => Ok(a),
        _ => Err(FormatError::Invalid {
            field,
            expected: "an array",
        }),
    }
}

/// A CBOR value as a person reads it in an error: `-4`, `"kid"`, `a byte string`.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Integer(i) => i128::from(*i).to_string(),
        Value::Text(t) => format!("{t:?}"),
        Value::Bytes(_) => "a byte string".into(),
        Value::Float(_) => "a float".into(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Tag(tag, _) => format!("tag {tag}"),
        Value::Array(_) => "an array".into(),
        Value::Map(_) => "a map".into(),
        _ => "an unknown CBOR item".into(),
    }
}

pub(crate) fn int(i: i64) -> Value {
    Value::Integer(i.into())
}

pub(crate) fn uint(u: u64) -> Value {
    Value::Integer(u.into())
}

pub(crate) fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}
