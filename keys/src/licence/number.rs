//! The licence number: the holder's national ID number, with its check character.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::Date;

use super::{calendar_date, decimal, format_date};

/// A licence number: the holder's 18-character national ID number.
///
/// Layout: a 6-digit region code, the birth date as 8 digits `YYYYMMDD` (a real calendar
/// date in 1900..=2099), a 3-digit sequence number, and the ISO 7064 MOD 11-2 check
/// character (`0`–`9` or uppercase `X`), e.g. `11010519491231002X`.
///
/// **Invariant:** only [`FromStr`], [`TryFrom<String>`] and [`LicenceNumber::from_parts`]
/// build one, so every value has a correct check character and birth date.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LicenceNumber {
    // `text` comes first so that the derived `Ord` sorts by the written number; the other
    // fields are functions of `text`, which keeps `Eq`, `Ord` and `Hash` consistent.
    text: String,
    region: u32,
    birth_date: Date,
    sequence: u16,
}

/// Why a string or parts are not a [`LicenceNumber`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LicenceNumberError {
    /// The number does not have 18 characters.
    #[error("licence number must be 18 characters, found {found}")]
    Length {
        /// The number of characters found.
        found: usize,
    },
    /// One of the first 17 characters is not an ASCII digit.
    #[error("licence number has {found:?} at index {position}, expected a digit")]
    NotDigit {
        /// Zero-based index of the character.
        position: usize,
        /// The character found there.
        found: char,
    },
    /// The birth date is not a calendar date from 1900-01-01 to 2099-12-31.
    #[error("licence number birth date {0} is not a calendar date from 1900 to 2099")]
    BirthDate(String),
    /// The check character does not match the first 17 digits.
    #[error("licence number check character is {found:?}, expected {expected:?}")]
    CheckCharacter {
        /// The check character the first 17 digits call for.
        expected: char,
        /// The character found.
        found: char,
    },
    /// The region code given to [`LicenceNumber::from_parts`] has more than 6 digits.
    #[error("licence number region code {0} has more than 6 digits")]
    Region(u32),
    /// The sequence number given to [`LicenceNumber::from_parts`] has more than 3 digits.
    #[error("licence number sequence {0} has more than 3 digits")]
    Sequence(u16),
}

/// The number of characters in a [`LicenceNumber`].
pub const LICENCE_NUMBER_LEN: usize = 18;

/// The ISO 7064 MOD 11-2 check character for the first 17 digits of a licence number.
///
/// `digits` are ASCII digits (`b'0'..=b'9'`). Returns `'0'`–`'9'` or `'X'` (for a check
/// value of 10), or `None` if any byte is not an ASCII digit.
///
/// Position `i` (from 0) has weight 2^(17 − i) mod 11, and the check value is
/// (12 − (Σ weight × digit mod 11)) mod 11. Being modulo a prime with no zero weight, it
/// catches every single-digit substitution.
pub fn iso7064_mod11_2_check(digits: &[u8; 17]) -> Option<char> {
    digits
        .iter()
        .all(u8::is_ascii_digit)
        .then(|| check_character(digits))
}

impl LicenceNumber {
    /// Builds a licence number from its parts and computes its check character.
    ///
    /// `region` must have at most 6 digits, `birth` must lie in 1900..=2099 and `sequence`
    /// must have at most 3 digits; shorter values are zero-padded.
    pub fn from_parts(region: u32, birth: Date, sequence: u16) -> Result<Self, LicenceNumberError> {
        if region > 999_999 {
            return Err(LicenceNumberError::Region(region));
        }
        if sequence > 999 {
            return Err(LicenceNumberError::Sequence(sequence));
        }
        if !BIRTH_YEARS.contains(&birth.year()) {
            return Err(LicenceNumberError::BirthDate(format_date(birth)));
        }
        let mut text = format!(
            "{region:06}{:04}{:02}{:02}{sequence:03}",
            birth.year(),
            u8::from(birth.month()),
            birth.day(),
        );
        text.push(check_character(text.as_bytes()));
        // Parse what we wrote, so that `FromStr` stays the one place that checks the
        // invariant; it cannot fail for the parts checked above.
        text.try_into()
    }

    /// The number as written, e.g. `11010519491231002X`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The 6-digit region code (the first six digits).
    pub fn region(&self) -> u32 {
        self.region
    }

    /// The holder's birth date (digits 7 to 14).
    pub fn birth_date(&self) -> Date {
        self.birth_date
    }

    /// The 3-digit sequence number (digits 15 to 17).
    pub fn sequence(&self) -> u16 {
        self.sequence
    }
}

impl FromStr for LicenceNumber {
    type Err = LicenceNumberError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts = Parts::parse(s)?;
        Ok(parts.with_text(s.to_owned()))
    }
}

impl TryFrom<String> for LicenceNumber {
    type Error = LicenceNumberError;

    /// Like [`FromStr`], but keeps the string's allocation.
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let parts = Parts::parse(&s)?;
        Ok(parts.with_text(s))
    }
}

impl From<LicenceNumber> for String {
    fn from(number: LicenceNumber) -> Self {
        number.text
    }
}

impl fmt::Display for LicenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for LicenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LicenceNumber").field(&self.text).finish()
    }
}

impl Serialize for LicenceNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for LicenceNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .try_into()
            .map_err(serde::de::Error::custom)
    }
}

/// The birth years a [`LicenceNumber`] may carry.
const BIRTH_YEARS: std::ops::RangeInclusive<i32> = 1900..=2099;

/// ISO 7064 MOD 11-2 weights, 2^(17 − i) mod 11, for positions `i` = 0..17.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// The fields of a licence number, checked, without its text.
struct Parts {
    region: u32,
    birth_date: Date,
    sequence: u16,
}

impl Parts {
    /// Checks, in order: length, digits, birth date, check character.
    fn parse(s: &str) -> Result<Self, LicenceNumberError> {
        let found = s.chars().count();
        if found != LICENCE_NUMBER_LEN {
            return Err(LicenceNumberError::Length { found });
        }
        let mut body = [0; 17];
        let mut check = '\0';
        for (position, c) in s.chars().enumerate() {
            match body.get_mut(position) {
                Some(slot) => match u8::try_from(c) {
                    Ok(b) if b.is_ascii_digit() => *slot = b,
                    _ => return Err(LicenceNumberError::NotDigit { position, found: c }),
                },
                None => check = c,
            }
        }
        let [
            r0,
            r1,
            r2,
            r3,
            r4,
            r5,
            y0,
            y1,
            y2,
            y3,
            m0,
            m1,
            d0,
            d1,
            s0,
            s1,
            s2,
        ] = body;
        let birth_date = decimal(&[y0, y1, y2, y3])
            .zip(decimal(&[m0, m1]))
            .zip(decimal(&[d0, d1]))
            .and_then(|((year, month), day)| calendar_date(year, month, day))
            .filter(|date| BIRTH_YEARS.contains(&date.year()))
            .ok_or_else(|| {
                let digits = [y0, y1, y2, y3, m0, m1, d0, d1];
                LicenceNumberError::BirthDate(digits.iter().copied().map(char::from).collect())
            })?;
        let expected = check_character(&body);
        if check != expected {
            return Err(LicenceNumberError::CheckCharacter {
                expected,
                found: check,
            });
        }
        // The `decimal` calls cannot fail here (the body is all digits) and the values fit:
        // at most 999 999 and 999.
        let region = decimal(&[r0, r1, r2, r3, r4, r5]).unwrap_or_default();
        let sequence = decimal(&[s0, s1, s2])
            .and_then(|sequence| u16::try_from(sequence).ok())
            .unwrap_or_default();
        Ok(Self {
            region,
            birth_date,
            sequence,
        })
    }

    fn with_text(self, text: String) -> LicenceNumber {
        LicenceNumber {
            text,
            region: self.region,
            birth_date: self.birth_date,
            sequence: self.sequence,
        }
    }
}

/// The check character for ASCII digits; the result is meaningless (but there is no panic)
/// if a byte is not an ASCII digit or there are not 17 of them.
fn check_character(digits: &[u8]) -> char {
    let sum: u32 = digits
        .iter()
        .zip(WEIGHTS)
        .map(|(&digit, weight)| u32::from(digit.wrapping_sub(b'0')) * weight)
        .sum();
    match (12 - sum % 11) % 11 {
        10 => 'X',
        value => char::from_digit(value, 10).unwrap_or('?'),
    }
}
