//! Licence domain types carried in credential tokens and the registry: the licence number,
//! permitted classes, licence state, validity dates, points and the photo digest.
//!
//! Every type here is valid by construction: parsing (`FromStr`, serde) is the only way to
//! build one from outside, so code that holds a value never re-checks it. Text forms are
//! canonical and parsing is strict (no lowercase `x`, no uppercase hex, no loose dates), so
//! each value has exactly one spelling.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use time::{Date, Month};

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

/// A class of vehicle a licence permits the holder to drive.
///
/// The variants are in the order the authority lists them, which is also their [`Ord`]
/// order. The text form (and the serde form) is the uppercase code, e.g. `C1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LicenceClass {
    /// Large passenger bus.
    A1,
    /// Tractor-trailer.
    A2,
    /// City bus.
    A3,
    /// Medium passenger vehicle.
    B1,
    /// Large goods vehicle.
    B2,
    /// Small car.
    C1,
    /// Small car with automatic transmission.
    C2,
    /// Low-speed goods vehicle.
    C3,
    /// Three-wheeled car.
    C4,
    /// Small automatic car adapted for disabled drivers.
    C5,
    /// Light trailer combination.
    C6,
    /// Three-wheeled motorcycle.
    D,
    /// Two-wheeled motorcycle.
    E,
    /// Light motorcycle.
    F,
    /// Wheeled self-propelled machinery.
    M,
    /// Trolleybus.
    N,
    /// Tram.
    P,
}

/// A code that names no [`LicenceClass`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown licence class {0:?}")]
pub struct UnknownLicenceClass(pub String);

impl LicenceClass {
    /// Every class, in the listed (and [`Ord`]) order.
    pub const ALL: &'static [LicenceClass] = &[
        Self::A1,
        Self::A2,
        Self::A3,
        Self::B1,
        Self::B2,
        Self::C1,
        Self::C2,
        Self::C3,
        Self::C4,
        Self::C5,
        Self::C6,
        Self::D,
        Self::E,
        Self::F,
        Self::M,
        Self::N,
        Self::P,
    ];

    /// The class code, e.g. `"C1"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::A1 => "A1",
            Self::A2 => "A2",
            Self::A3 => "A3",
            Self::B1 => "B1",
            Self::B2 => "B2",
            Self::C1 => "C1",
            Self::C2 => "C2",
            Self::C3 => "C3",
            Self::C4 => "C4",
            Self::C5 => "C5",
            Self::C6 => "C6",
            Self::D => "D",
            Self::E => "E",
            Self::F => "F",
            Self::M => "M",
            Self::N => "N",
            Self::P => "P",
        }
    }

    /// This class's bit in a [`LicenceClasses`] set.
    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

impl FromStr for LicenceClass {
    type Err = UnknownLicenceClass;

    /// Parses an uppercase class code; lowercase is rejected.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|class| class.as_str() == s)
            .ok_or_else(|| UnknownLicenceClass(s.to_owned()))
    }
}

impl fmt::Display for LicenceClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The classes a licence permits: a non-empty set of [`LicenceClass`].
///
/// The text form lists the codes in canonical order separated by single spaces, e.g.
/// `C1 D`; the serde form is a list of codes, e.g. `["C1", "D"]`.
///
/// **Invariant:** never empty.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<LicenceClass>", into = "Vec<LicenceClass>")]
pub struct LicenceClasses(u32);

/// Why a list of codes is not a [`LicenceClasses`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LicenceClassesError {
    /// No class was given.
    #[error("no licence class given")]
    Empty,
    /// A code names no class.
    #[error(transparent)]
    Unknown(#[from] UnknownLicenceClass),
    /// A class was given more than once.
    #[error("licence class {0} given more than once")]
    Duplicate(LicenceClass),
}

impl LicenceClasses {
    /// Builds a set from classes in any order; rejects an empty list and duplicates.
    pub fn new(classes: &[LicenceClass]) -> Result<Self, LicenceClassesError> {
        let mut bits = 0;
        for &class in classes {
            if bits & class.bit() != 0 {
                return Err(LicenceClassesError::Duplicate(class));
            }
            bits |= class.bit();
        }
        if bits == 0 {
            return Err(LicenceClassesError::Empty);
        }
        Ok(Self(bits))
    }

    /// Whether the set holds `class`.
    pub const fn contains(self, class: LicenceClass) -> bool {
        self.0 & class.bit() != 0
    }

    /// The classes in the set, in canonical order.
    pub fn iter(self) -> impl Iterator<Item = LicenceClass> {
        LicenceClass::ALL
            .iter()
            .copied()
            .filter(move |&class| self.contains(class))
    }
}

impl From<LicenceClass> for LicenceClasses {
    fn from(class: LicenceClass) -> Self {
        Self(class.bit())
    }
}

impl TryFrom<Vec<LicenceClass>> for LicenceClasses {
    type Error = LicenceClassesError;

    fn try_from(classes: Vec<LicenceClass>) -> Result<Self, Self::Error> {
        Self::new(&classes)
    }
}

impl From<LicenceClasses> for Vec<LicenceClass> {
    fn from(classes: LicenceClasses) -> Self {
        classes.iter().collect()
    }
}

impl FromStr for LicenceClasses {
    type Err = LicenceClassesError;

    /// Parses codes separated by commas or spaces, e.g. `C1 C2`, `C1,C2` or `C1, C2`.
    ///
    /// Each code must be exact uppercase; the separators are lenient because the list is
    /// re-written in canonical form anyway.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bits = 0;
        for code in s.split([',', ' ']).filter(|code| !code.is_empty()) {
            let class: LicenceClass = code.parse()?;
            if bits & class.bit() != 0 {
                return Err(LicenceClassesError::Duplicate(class));
            }
            bits |= class.bit();
        }
        if bits == 0 {
            return Err(LicenceClassesError::Empty);
        }
        Ok(Self(bits))
    }
}

impl fmt::Display for LicenceClasses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, class) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(class.as_str())?;
        }
        Ok(())
    }
}

impl fmt::Debug for LicenceClasses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawValidity", into = "RawValidity")]
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
        let found = s.chars().count();
        if found != 64 {
            return Err(PhotoDigestError::Length { found });
        }
        let mut bytes = [0; 32];
        for (position, c) in s.chars().enumerate() {
            let nibble = match u8::try_from(c) {
                Ok(b @ b'0'..=b'9') => b - b'0',
                Ok(b @ b'a'..=b'f') => b - b'a' + 10,
                _ => return Err(PhotoDigestError::NotHex { position, found: c }),
            };
            // Always `Some`: there are exactly 64 characters, two per byte.
            if let Some(byte) = bytes.get_mut(position / 2) {
                *byte = (*byte << 4) | nibble;
            }
        }
        Ok(Self(bytes))
    }
}

impl fmt::Display for PhotoDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for PhotoDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhotoDigest({self})")
    }
}

impl Serialize for PhotoDigest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PhotoDigest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The birth years a [`LicenceNumber`] may carry.
const BIRTH_YEARS: std::ops::RangeInclusive<i32> = 1900..=2099;

const SECONDS_PER_DAY: i64 = 86_400;

/// ISO 7064 MOD 11-2 weights, 2^(17 − i) mod 11, for positions `i` = 0..17.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// The serde form of a [`Validity`]; converting it back checks the invariant.
#[derive(Serialize, Deserialize)]
struct RawValidity {
    valid_from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_until: Option<String>,
}

impl TryFrom<RawValidity> for Validity {
    type Error = ValidityError;

    fn try_from(raw: RawValidity) -> Result<Self, Self::Error> {
        let valid_until = raw.valid_until.as_deref().map(parse_date).transpose()?;
        Self::new(parse_date(&raw.valid_from)?, valid_until)
    }
}

impl From<Validity> for RawValidity {
    fn from(validity: Validity) -> Self {
        Self {
            valid_from: format_date(validity.valid_from),
            valid_until: validity.valid_until.map(format_date),
        }
    }
}

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
