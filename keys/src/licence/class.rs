//! The vehicle classes a licence permits, one and as a set.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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
