//! The QR texts: `DL1:` followed by the base45 (RFC 9285) encoding of a credential
//! token's bytes, and `DL2:` followed by the base45 of a presentation's (a holder-bound
//! credential shown by its holder), uncompressed. Every character is in the QR
//! alphanumeric set, so a QR code holds either in alphanumeric mode.

/// The prefix of a credential's QR text.
pub const PREFIX: &str = "DL1:";

/// The prefix of a presentation's QR text.
pub const PRESENTATION_PREFIX: &str = "DL2:";

/// The base45 alphabet (RFC 9285 section 4.2); also QR's alphanumeric set. Only used to
/// say where a refused text goes wrong; decoding is the base45 crate's.
const ALPHABET: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// What an edl QR text holds, told by its prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QrText {
    /// `DL1:`: a credential token.
    Credential(Vec<u8>),
    /// `DL2:`: a presentation.
    Presentation(Vec<u8>),
}

/// Why a QR text was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum QrError {
    /// It starts with neither `DL1:` nor `DL2:`.
    #[error("not an edl QR text: it starts with neither {PREFIX} nor {PRESENTATION_PREFIX}")]
    WrongPrefix,
    /// An edl QR text of the other kind: a presentation where a credential was expected,
    /// or the other way round.
    #[error("a {found} QR text where a {expected} one was expected")]
    WrongKind {
        /// The prefix expected.
        expected: &'static str,
        /// The prefix found.
        found: &'static str,
    },
    /// Nothing after the prefix.
    #[error("no data after the prefix")]
    Empty,
    /// A character outside the base45 alphabet (lowercase letters included).
    #[error("character {character:?} at position {position} is not base45")]
    InvalidCharacter {
        /// Position in the text after the prefix.
        position: usize,
        /// The character.
        character: char,
    },
    /// A lone character at the end: base45 comes in groups of two or three.
    #[error("a dangling character at the end: base45 length cannot be 3n+1")]
    DanglingCharacter,
    /// A group whose value does not fit (over 65535 for three, 255 for two characters).
    #[error("the group at position {position} encodes a value out of range")]
    OutOfRange {
        /// Position of the group's first character.
        position: usize,
    },
}

/// Encodes token bytes as QR text. (Empty input gives `DL1:`, which [`decode`] refuses:
/// there is no empty token.)
pub fn encode(token: &[u8]) -> String {
    with_prefix(PREFIX, token)
}

/// Encodes presentation bytes as QR text, `DL2:` + base45.
pub fn encode_presentation(presentation: &[u8]) -> String {
    with_prefix(PRESENTATION_PREFIX, presentation)
}

/// Decodes a credential's QR text into token bytes, strictly: the exact prefix, only
/// base45 characters, no dangling character, no group out of range.
pub fn decode(text: &str) -> Result<Vec<u8>, QrError> {
    match parse(text)? {
        QrText::Credential(token) => Ok(token),
        QrText::Presentation(_) => Err(QrError::WrongKind {
            expected: PREFIX,
            found: PRESENTATION_PREFIX,
        }),
    }
}

/// Decodes a presentation's QR text into its bytes, as strictly as [`decode`].
pub fn decode_presentation(text: &str) -> Result<Vec<u8>, QrError> {
    match parse(text)? {
        QrText::Presentation(presentation) => Ok(presentation),
        QrText::Credential(_) => Err(QrError::WrongKind {
            expected: PRESENTATION_PREFIX,
            found: PREFIX,
        }),
    }
}

/// Decodes either kind of QR text, as strictly as [`decode`], telling which it was.
pub fn parse(text: &str) -> Result<QrText, QrError> {
    let (data, kind): (&str, fn(Vec<u8>) -> QrText) = if let Some(data) = text.strip_prefix(PREFIX)
    {
        (data, QrText::Credential)
    } else if let Some(data) = text.strip_prefix(PRESENTATION_PREFIX) {
        (data, QrText::Presentation)
    } else {
        return Err(QrError::WrongPrefix);
    };
    if data.is_empty() {
        return Err(QrError::Empty);
    }
    decode_base45(data).map(kind)
}

fn with_prefix(prefix: &str, bytes: &[u8]) -> String {
    let mut text = String::with_capacity(prefix.len() + bytes.len() * 3 / 2 + 2);
    text.push_str(prefix);
    text.push_str(&base45::encode(bytes));
    text
}

/// Strict base45 decoding (RFC 9285): the base45 crate decodes, and a text is accepted
/// only if the bytes it gave encode back to exactly the same text. That refuses what the
/// crate lets through (a final pair above 255 is truncated by it, not refused), so every
/// accepted text is the one canonical encoding of its bytes. A refused text is examined
/// again to say where it goes wrong.
pub fn decode_base45(data: &str) -> Result<Vec<u8>, QrError> {
    match base45::decode(data) {
        Ok(bytes) if base45::encode(&bytes) == data => Ok(bytes),
        _ => Err(refusal(data)),
    }
}

/// Why `data` is not canonical base45: the first character outside the alphabet, a
/// dangling last character, or the first group whose value does not fit.
fn refusal(data: &str) -> QrError {
    if let Some((position, character)) = data
        .char_indices()
        .find(|(_, c)| !c.is_ascii() || !ALPHABET.contains(&(*c as u8)))
    {
        return QrError::InvalidCharacter {
            position,
            character,
        };
    }
    let bytes = data.as_bytes();
    if bytes.len() % 3 == 1 {
        return QrError::DanglingCharacter;
    }
    let digit = |c: &u8| ALPHABET.iter().position(|a| a == c).unwrap_or(0) as u32;
    let position = bytes
        .chunks(3)
        .position(|group| {
            let value = group.iter().rev().fold(0u32, |acc, c| acc * 45 + digit(c));
            value > if group.len() == 3 { 0xFFFF } else { 0xFF }
        })
        .unwrap_or(0);
    QrError::OutOfRange {
        position: position * 3,
    }
}

#[cfg(test)]
mod tests;
