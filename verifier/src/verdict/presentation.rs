//! How a credential was shown — alone (`DL1:`) or presented by its holder's device
//! (`DL2:`) — as [`super::decide`] weighs it and the report prints it.

use keys::presentation::Slot;

use super::Reason;

/// How the credential was shown, and what that proves about who showed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PresentationCheck {
    /// `DL1:`, the credential alone. `holder_bound`: it carries a holder key (`cnf`)
    /// that nobody used to show it.
    Bearer {
        /// The credential names a holder key.
        holder_bound: bool,
    },
    /// `DL2:` whose holder signature and slot checked out.
    Fresh {
        /// The slot it was made for.
        slot: Slot,
    },
    /// `DL2:` refused for its holder signature or slot.
    Refused {
        /// [`Reason::NotPresentedByHolder`] or [`Reason::PresentationExpired`].
        reason: Reason,
        /// In words.
        detail: String,
        /// The slot it claims, when it could be read.
        slot: Option<Slot>,
        /// Whether the (verified) credential names a holder key.
        holder_bound: bool,
    },
    /// The credential was refused first (or the text could not be read), so how it was
    /// shown proves nothing.
    NotChecked {
        /// Shown as `DL2:`.
        presented: bool,
        /// The slot it claims, when it could be read.
        slot: Option<Slot>,
    },
}

/// What the verdict says about the way the credential was shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PresentationReport {
    /// Shown as a presentation (`DL2:`) rather than the credential alone (`DL1:`).
    pub presented: bool,
    /// The credential names a holder key (`cnf`), when known.
    pub holder_bound: Option<bool>,
    /// Signed by the credential's holder key: shown by the holder's device.
    pub bound: bool,
    /// Made for a slot current at the terminal's clock (± skew).
    pub fresh: bool,
    /// The slot it was made for, when it could be read.
    pub slot: Option<Slot>,
}

impl PresentationReport {
    pub(super) fn from_check(check: &PresentationCheck) -> PresentationReport {
        let presented = |holder_bound, bound, fresh, slot| PresentationReport {
            presented: true,
            holder_bound,
            bound,
            fresh,
            slot,
        };
        match check {
            PresentationCheck::Bearer { holder_bound } => PresentationReport {
                presented: false,
                holder_bound: Some(*holder_bound),
                bound: false,
                fresh: false,
                slot: None,
            },
            PresentationCheck::Fresh { slot } => presented(Some(true), true, true, Some(*slot)),
            PresentationCheck::Refused {
                reason: Reason::PresentationExpired,
                slot,
                ..
            } => presented(Some(true), true, false, *slot),
            PresentationCheck::Refused {
                slot, holder_bound, ..
            } => presented(Some(*holder_bound), false, false, *slot),
            PresentationCheck::NotChecked { presented, slot } => PresentationReport {
                presented: *presented,
                holder_bound: None,
                bound: false,
                fresh: false,
                slot: *slot,
            },
        }
    }
}
