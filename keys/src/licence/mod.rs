//! Licence domain types carried in credential tokens and the registry: the licence number,
//! permitted classes, licence state, validity dates, points and the photo digest.
//!
//! Every type here is valid by construction: parsing (`FromStr`, serde) is the only way to
//! build one from outside, so code that holds a value never re-checks it. Text forms are
//! canonical and parsing is strict (no lowercase `x`, no uppercase hex, no loose dates), so
//! each value has exactly one spelling.

mod class;
mod number;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use time::{Date, Month};

pub use class::{LicenceClass, LicenceClasses, LicenceClassesError, UnknownLicenceClass};
pub use number::{LICENCE_NUMBER_LEN, LicenceNumber, LicenceNumberError, iso7064_mod11_2_check};

/// The state of a licence in the registry. The text and serde forms are lowercase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LicenceState {
    /// In force.
    Normal,
    /// Temporarily withdrawn; it may return to normal.
    Suspended,
    /// Withdrawn by a decision of the authority.
    Revoked,
    /// Given up or cancelled on administrative grounds.
    Cancelled,
    /// Past its validity and not renewed.
    Expired,
}

/// A word that names no [`LicenceState`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown licence state {0:?}")]
pub struct UnknownLicenceState(pub String);

impl LicenceState {
    /// Every state.
    pub const ALL: &'static [LicenceState] = &[
        Self::Normal,
        Self::Suspended,
        Self::Revoked,
        Self::Cancelled,
        Self::Expired,
    ];

    /// The state as a lowercase word, e.g. `"suspended"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }
}

impl FromStr for LicenceState {
    type Err = UnknownLicenceState;

    /// Parses the lowercase word; other spellings are rejected.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownLicenceState(s.to_owned()))
    }
}

impl fmt::Display for LicenceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The days a licence is valid: from `valid_from` to `valid_until`, both inclusive, or
/// with no end (a long-term licence).
///
/// The serde form is `{"valid_from": "YYYY-MM-DD", "valid_until": "YYYY-MM-DD"}`, with
/// `valid_until` left out for a long-term licence.
///
/// **Invariant:** `valid_until`, if any, is not before `valid_from`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Validity {
    valid_from: Date,
    valid_until: Option<Date>,
}

/// Why dates are not a [`Validity`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValidityError {
    /// The last valid day comes before the first.
    #[error("valid until {valid_until} is before valid from {valid_from}")]
    UntilBeforeFrom {
        /// The first valid day.
        valid_from: Date,
        /// The last valid day.
        valid_until: Date,
    },
    /// A date is not written `YYYY-MM-DD`.
    #[error(transparent)]
    Date(#[from] DateError),
}

impl Validity {
    /// Builds a validity; `valid_until` of `None` means long-term.
    pub fn new(valid_from: Date, valid_until: Option<Date>) -> Result<Self, ValidityError> {
        match valid_until {
            Some(until) if until < valid_from => Err(ValidityError::UntilBeforeFrom {
                valid_from,
                valid_until: until,
            }),
            _ => Ok(Self {
                valid_from,
                valid_until,
            }),
        }
    }

    /// A long-term validity starting on `valid_from`.
    pub const fn long_term(valid_from: Date) -> Self {
        Self {
            valid_from,
            valid_until: None,
        }
    }

    /// The first valid day.
    pub const fn valid_from(&self) -> Date {
        self.valid_from
    }

    /// The last valid day, or `None` for a long-term licence.
    pub const fn valid_until(&self) -> Option<Date> {
        self.valid_until
    }

    /// Whether the licence is valid on `date`.
    pub fn covers(&self, date: Date) -> bool {
        self.valid_from <= date && self.valid_until.is_none_or(|until| date <= until)
    }

    /// The Unix time (seconds) at which validity ends: midnight UTC at the start of the
    /// day after `valid_until`, or `None` for a long-term licence.
    ///
    /// A token time `t` is within validity while `t < until_unix_end`.
    pub fn until_unix_end(&self) -> Option<i64> {
        self.valid_until
            .map(|until| until.midnight().assume_utc().unix_timestamp() + SECONDS_PER_DAY)
    }
}

/// Why a string is not a date.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// The string is not ten characters of the form `YYYY-MM-DD`.
    #[error("date {0:?} is not written YYYY-MM-DD")]
    Format(String),
    /// The string has the right form but names no calendar day, e.g. `2023-02-29`.
    #[error("date {0} is not in the calendar")]
    Calendar(String),
}

/// Parses a date written `YYYY-MM-DD`: exactly ten characters, ASCII digits and two dashes.
pub fn parse_date(s: &str) -> Result<Date, DateError> {
    let format = || DateError::Format(s.to_owned());
    let bytes: &[u8; 10] = s.as_bytes().try_into().map_err(|_| format())?;
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *bytes else {
        return Err(format());
    };
    let (year, month, day) = (
        decimal(&[y0, y1, y2, y3]).ok_or_else(format)?,
        decimal(&[m0, m1]).ok_or_else(format)?,
        decimal(&[d0, d1]).ok_or_else(format)?,
    );
    calendar_date(year, month, day).ok_or_else(|| DateError::Calendar(s.to_owned()))
}

/// Writes a date as `YYYY-MM-DD` (the form [`parse_date`] reads, for years 0 to 9999).
pub fn format_date(date: Date) -> String {
    if let Some(digits) = date_digits(date) {
        return digits.as_str().to_owned();
    }
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Penalty points on a licence, 0 to 12. The serde form is the number.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(try_from = "u8", into = "u8")]
pub struct Points(u8);

/// A number of points above [`Points::MAX`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("points {0} out of range 0 to 12")]
pub struct PointsError(pub u8);

impl Points {
    /// No points.
    pub const ZERO: Self = Self(0);
    /// The most points a licence can hold.
    pub const MAX: Self = Self(12);

    /// The number of points.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Points {
    type Error = PointsError;

    fn try_from(points: u8) -> Result<Self, Self::Error> {
        if points > Self::MAX.0 {
            return Err(PointsError(points));
        }
        Ok(Self(points))
    }
}

impl From<Points> for u8 {
    fn from(points: Points) -> Self {
        points.0
    }
}

impl fmt::Display for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The SHA-256 digest of a holder's photo bytes.
///
/// The text and serde forms are 64 lowercase hex digits; parsing rejects uppercase.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhotoDigest([u8; 32]);

/// Why a string is not a [`PhotoDigest`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PhotoDigestError {
    /// The string does not have 64 characters.
    #[error("photo digest must be 64 hex digits, found {found} characters")]
    Length {
        /// The number of characters found.
        found: usize,
    },
    /// A character is not a lowercase hex digit.
    #[error("photo digest has {found:?} at index {position}, expected a lowercase hex digit")]
    NotHex {
        /// Zero-based index of the character.
        position: usize,
        /// The character found there.
        found: char,
    },
}

impl PhotoDigest {
    /// The digest of `photo`, the bytes of the photo file.
    pub fn of(photo: &[u8]) -> Self {
        Self(Sha256::digest(photo).into())
    }

    /// Wraps a digest computed elsewhere.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<[u8; 32]> for PhotoDigest {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl FromStr for PhotoDigest {
    type Err = PhotoDigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // The common case first: 64 lowercase hex digits, read in one pass (`hex` also
        // reads uppercase, which a digest must not have, and every stored licence and
        // credential has a digest to read on each live-status lookup).
        if let Some(bytes) = crate::lower_hex::decode(s.as_bytes()) {
            return Ok(Self(bytes));
        }
        // Otherwise say what is wrong, in characters.
        let found = s.chars().count();
        if found != 64 {
            return Err(PhotoDigestError::Length { found });
        }
        match s
            .chars()
            .enumerate()
            .find(|(_, c)| !matches!(c, '0'..='9' | 'a'..='f'))
        {
            Some((position, found)) => Err(PhotoDigestError::NotHex { position, found }),
            // Unreachable: 64 characters, all hex digits, are 64 bytes parsed above.
            None => Err(PhotoDigestError::Length { found }),
        }
    }
}

impl PhotoDigest {
    /// The 64 lowercase hex digits, on the stack.
    fn hex_digits(&self) -> [u8; 64] {
        crate::lower_hex::encode32(&self.0)
    }
}

impl fmt::Display for PhotoDigest {
    /// 64 lowercase hex digits, written at once.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.hex_digits();
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for PhotoDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhotoDigest({self})")
    }
}

impl Serialize for PhotoDigest {
    /// The digits as one string, not through the formatting machinery: every live-status
    /// answer and every stored licence and credential carries a digest.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self.hex_digits();
        let text = std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(text)
    }
}

impl<'de> Deserialize<'de> for PhotoDigest {
    /// Parses the text where the deserializer holds it, without a `String` of its own.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        from_text(deserializer, "a string", str::parse)
    }
}

const SECONDS_PER_DAY: i64 = 86_400;

impl Serialize for Validity {
    /// Each date written from the stack: every live-status answer and every stored licence
    /// carries a validity.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let fields = 1 + usize::from(self.valid_until.is_some());
        let mut out = serializer.serialize_struct("Validity", fields)?;
        out.serialize_field("valid_from", &DateForm(self.valid_from))?;
        if let Some(until) = self.valid_until {
            out.serialize_field("valid_until", &DateForm(until))?;
        }
        out.end()
    }
}

impl<'de> Deserialize<'de> for Validity {
    /// Each date parsed where the deserializer holds it; then the invariant is checked.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawValidity::deserialize(deserializer)?;
        Self::new(raw.valid_from.0, raw.valid_until.map(|d| d.0)).map_err(serde::de::Error::custom)
    }
}

/// The serde form of a [`Validity`] as read, before the invariant is checked.
#[derive(Deserialize)]
struct RawValidity {
    valid_from: DateForm,
    #[serde(default)]
    valid_until: Option<DateForm>,
}

/// A date in its serde form, `YYYY-MM-DD`.
struct DateForm(Date);

impl Serialize for DateForm {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match date_digits(self.0) {
            Some(digits) => serializer.serialize_str(digits.as_str()),
            None => serializer.serialize_str(&format_date(self.0)),
        }
    }
}

impl<'de> Deserialize<'de> for DateForm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        from_text(deserializer, "a date written YYYY-MM-DD", |text| {
            parse_date(text).map(DateForm)
        })
    }
}

/// A value read from a string where the deserializer holds it (without a `String` of its
/// own, as a `String` field then parsed would need), by `parse`, whose error is the
/// deserializer's.
fn from_text<'de, D, T, P>(
    deserializer: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, P>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    P: fmt::Display,
{
    struct Text<T, P> {
        expecting: &'static str,
        parse: fn(&str) -> Result<T, P>,
    }
    impl<T, P: fmt::Display> serde::de::Visitor<'_> for Text<T, P> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
            (self.parse)(text).map_err(E::custom)
        }
    }
    deserializer.deserialize_str(Text { expecting, parse })
}

/// `YYYY-MM-DD` on the stack, for a year from 0 to 9999.
struct DateDigits([u8; 10]);

impl DateDigits {
    fn as_str(&self) -> &str {
        // Only ASCII digits and dashes are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// The date written `YYYY-MM-DD`, if its year has four digits.
fn date_digits(date: Date) -> Option<DateDigits> {
    let year = u16::try_from(date.year())
        .ok()
        .filter(|&year| year <= 9999)?;
    let (month, day) = (u16::from(u8::from(date.month())), u16::from(date.day()));
    let digit = |value: u16, unit: u16| b'0' + ((value / unit) % 10) as u8;
    Some(DateDigits([
        digit(year, 1000),
        digit(year, 100),
        digit(year, 10),
        digit(year, 1),
        b'-',
        digit(month, 10),
        digit(month, 1),
        b'-',
        digit(day, 10),
        digit(day, 1),
    ]))
}

/// The value of ASCII decimal digits, or `None` if a byte is not an ASCII digit or the
/// value overflows.
fn decimal(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0, |value: u32, &digit| {
        let digit = digit.is_ascii_digit().then(|| u32::from(digit - b'0'))?;
        value.checked_mul(10)?.checked_add(digit)
    })
}

/// The calendar date for a year, month and day, if there is one.
fn calendar_date(year: u32, month: u32, day: u32) -> Option<Date> {
    let year = i32::try_from(year).ok()?;
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let day = u8::try_from(day).ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

#[cfg(test)]
mod tests;
