//! The licence registry's records and the pure parts of changing them: parsing one import
//! line (CSV or JSON Lines) or API body into a checked `LicenceRecord`, and deciding what
//! a change means for issued credentials.

use keys::licence::{
    LicenceClasses, LicenceNumber, LicenceState, PhotoDigest, Points, Validity, parse_date,
};
use serde::{Deserialize, Serialize};

/// One licence as the registry holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenceRecord {
    /// The licence number.
    pub number: LicenceNumber,
    /// The holder's name.
    pub name: String,
    /// Permitted classes.
    pub classes: LicenceClasses,
    /// Validity.
    pub validity: Validity,
    /// Issuing authority.
    pub authority: String,
    /// State.
    pub state: LicenceState,
    /// Penalty points.
    pub points: Points,
    /// Digest of the compliant photo on file, if any.
    pub photo: Option<PhotoDigest>,
}

/// A licence record as written in an import line or an API body: every field as text
/// or a list, checked by [`RegistryLine::into_record`].
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryLine {
    /// Licence number.
    #[serde(default)]
    pub number: Option<String>,
    /// Holder's name.
    pub name: String,
    /// Classes: a list of codes, or codes separated by spaces or commas.
    pub classes: Classes,
    /// `YYYY-MM-DD`.
    pub valid_from: String,
    /// `YYYY-MM-DD`, absent or empty for long-term.
    #[serde(default)]
    pub valid_until: Option<String>,
    /// Issuing authority.
    pub authority: String,
    /// `normal` when absent.
    #[serde(default)]
    pub state: Option<String>,
    /// 0 when absent.
    #[serde(default)]
    pub points: Option<u8>,
    /// SHA-256 of the photo on file (64 lowercase hex digits), absent or empty for none.
    #[serde(default)]
    pub photo: Option<String>,
}

/// Classes as a list or as one string.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Classes {
    /// `["C1", "D"]`.
    List(Vec<String>),
    /// `"C1 D"`.
    Text(String),
}

impl Default for Classes {
    fn default() -> Self {
        Classes::Text(String::new())
    }
}

/// Why a line or body is not a licence record. The message names the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// The field.
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

fn field(field: &'static str) -> impl Fn(&dyn std::fmt::Display) -> FieldError {
    move |e| FieldError {
        field,
        reason: e.to_string(),
    }
}

/// Longest accepted holder name, in characters.
pub(crate) const MAX_NAME_CHARS: usize = 200;
/// Longest accepted authority, in characters.
pub(crate) const MAX_AUTHORITY_CHARS: usize = 200;

impl RegistryLine {
    /// Checks every field. `number` is the licence number from elsewhere (the URL), which
    /// the line's own number, if given, must equal.
    pub fn into_record(self, number: Option<&str>) -> Result<LicenceRecord, FieldError> {
        let text = match (number, self.number.as_deref()) {
            (Some(a), Some(b)) if a != b => {
                return Err(FieldError {
                    field: "number",
                    reason: format!("{b} differs from {a} in the URL"),
                });
            }
            (Some(a), _) => a.to_owned(),
            (None, Some(b)) => b.to_owned(),
            (None, None) => {
                return Err(FieldError {
                    field: "number",
                    reason: "missing".into(),
                });
            }
        };
        let number: LicenceNumber = text.parse().map_err(|e| field("number")(&e))?;
        let name = checked_text("name", self.name, MAX_NAME_CHARS)?;
        let classes = match self.classes {
            Classes::Text(t) => t.parse::<LicenceClasses>(),
            Classes::List(list) => list.join(" ").parse::<LicenceClasses>(),
        }
        .map_err(|e| field("classes")(&e))?;
        let from = parse_date(self.valid_from.trim()).map_err(|e| field("valid_from")(&e))?;
        let until = match self.valid_until.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(parse_date(text).map_err(|e| field("valid_until")(&e))?),
        };
        let validity = Validity::new(from, until).map_err(|e| field("valid_until")(&e))?;
        let authority = checked_text("authority", self.authority, MAX_AUTHORITY_CHARS)?;
        let state = match self.state.as_deref().map(str::trim) {
            None | Some("") => LicenceState::Normal,
            Some(s) => s.parse().map_err(|e| field("state")(&e))?,
        };
        let points = Points::try_from(self.points.unwrap_or(0)).map_err(|e| field("points")(&e))?;
        let photo = match self.photo.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) => Some(p.parse().map_err(|e| field("photo")(&e))?),
        };
        Ok(LicenceRecord {
            number,
            name,
            classes,
            validity,
            authority,
            state,
            points,
            photo,
        })
    }
}

fn checked_text(name: &'static str, text: String, max: usize) -> Result<String, FieldError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(FieldError {
            field: name,
            reason: "must not be empty".into(),
        });
    }
    if trimmed.chars().count() > max {
        return Err(FieldError {
            field: name,
            reason: format!("longer than {max} characters"),
        });
    }
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError {
            field: name,
            reason: "contains control characters".into(),
        });
    }
    Ok(trimmed.to_owned())
}

/// The CSV header `edld registry import` expects (and writes in its error message).
pub(crate) const CSV_HEADER: &str =
    "number,name,classes,valid_from,valid_until,authority,state,points,photo";

/// What a change from `old` to `new` means for the licence's credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChangeEffect {
    /// The credential shows something that changed (classes, validity, authority, photo):
    /// it is superseded and a new one is issued.
    pub supersede: bool,
    /// The state changed: status lists and live status change.
    pub state_changed: bool,
}

/// Compares two versions of a record.
pub(crate) fn change_effect(old: &LicenceRecord, new: &LicenceRecord) -> ChangeEffect {
    ChangeEffect {
        supersede: old.classes != new.classes
            || old.validity != new.validity
            || old.authority != new.authority
            || old.name != new.name
            || (new.photo.is_some() && old.photo != new.photo),
        state_changed: old.state != new.state,
    }
}

/// A state change the registry may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StateAction {
    /// Normal → suspended.
    Suspend,
    /// Normal or suspended → revoked (final).
    Revoke,
    /// Normal or suspended → cancelled (final).
    Cancel,
    /// Suspended → normal.
    Reinstate,
}

/// What a change does to a licence record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LicenceEdit {
    /// Create or replace the whole record.
    Put(LicenceRecord),
    /// Suspend, revoke, cancel or reinstate an existing record.
    State(StateAction),
    /// Set an existing record's points.
    Points(Points),
}

/// Why an edit cannot apply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EditError {
    /// A state or points change of a licence the registry does not hold.
    #[error("no such licence")]
    NotFound,
    /// A state change not allowed from the current state.
    #[error(transparent)]
    Transition(#[from] TransitionError),
}

/// The record after `edit` of `old` (none: not in the registry), and the audit action
/// that names the change.
pub(crate) fn edit(
    old: Option<&LicenceRecord>,
    edit: &LicenceEdit,
) -> Result<(LicenceRecord, &'static str), EditError> {
    match (edit, old) {
        (LicenceEdit::Put(record), None) => Ok((record.clone(), "licence.create")),
        (LicenceEdit::Put(record), Some(_)) => Ok((record.clone(), "licence.update")),
        (_, None) => Err(EditError::NotFound),
        (LicenceEdit::State(action), Some(old)) => {
            let mut new = old.clone();
            new.state = transition(old.state, *action)?;
            let name = match action {
                StateAction::Suspend => "licence.suspend",
                StateAction::Revoke => "licence.revoke",
                StateAction::Cancel => "licence.cancel",
                StateAction::Reinstate => "licence.reinstate",
            };
            Ok((new, name))
        }
        (LicenceEdit::Points(points), Some(old)) => {
            let mut new = old.clone();
            new.points = *points;
            Ok((new, "licence.points"))
        }
    }
}

/// A state change that is not allowed from the current state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action:?} a licence that is {from}")]
pub struct TransitionError {
    /// What was asked.
    pub action: StateAction,
    /// The current state.
    pub from: LicenceState,
}

/// The licence state after `action`.
pub(crate) fn transition(
    from: LicenceState,
    action: StateAction,
) -> Result<LicenceState, TransitionError> {
    use LicenceState::{Cancelled, Normal, Revoked, Suspended};
    match (from, action) {
        (Normal, StateAction::Suspend) => Ok(Suspended),
        (Normal | Suspended, StateAction::Revoke) => Ok(Revoked),
        (Normal | Suspended, StateAction::Cancel) => Ok(Cancelled),
        (Suspended, StateAction::Reinstate) => Ok(Normal),
        _ => Err(TransitionError { action, from }),
    }
}

#[cfg(test)]
mod tests;
