//! The QR texts: `DL1:` followed by the base45 (RFC 9285) encoding of a credential
//! token's bytes, and `DL2:` followed by the base45 of a presentation's (a holder-bound
//! credential shown by its holder), uncompressed. Every character is in the QR
//! alphanumeric set, so a QR code holds either in alphanumeric mode.

/// The prefix of a credential's QR text.
pub const PREFIX: &str = "DL1:";

/// The prefix of a presentation's QR text.
pub const PRESENTATION_PREFIX: &str = "DL2:";

/// The base45 alphabet (RFC 9285 section 4.2); also QR's alphanumeric set.
const ALPHABET: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// Each byte's base45 value, or `INVALID`: one lookup per character instead of a search.
const VALUES: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};
const INVALID: u8 = 0xff;

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

/// Strict base45 decoding (RFC 9285).
pub fn decode_base45(data: &str) -> Result<Vec<u8>, QrError> {
    if let Some((position, character)) = data
        .char_indices()
        .find(|(_, c)| !c.is_ascii() || VALUES[*c as usize] == INVALID)
    {
        return Err(QrError::InvalidCharacter {
            position,
            character,
        });
    }
    let bytes = data.as_bytes();
    if bytes.len() % 3 == 1 {
        return Err(QrError::DanglingCharacter);
    }
    // The base45 crate decodes; it does not reject a final pair above 255 (it truncates),
    // so check every group's range here first.
    for (n, group) in bytes.chunks(3).enumerate() {
        let value = group.iter().rev().fold(0u32, |acc, &c| acc * 45 + digit(c));
        let limit = if group.len() == 3 { 0xFFFF } else { 0xFF };
        if value > limit {
            return Err(QrError::OutOfRange { position: n * 3 });
        }
    }
    // Every character and group was checked above, so the crate cannot refuse the input.
    base45::decode(data).map_err(|_| QrError::OutOfRange { position: 0 })
}

fn digit(c: u8) -> u32 {
    u32::from(VALUES[usize::from(c)])
}

#[cfg(test)]
mod tests;
