//! Issuing, as functions from values to values: the claims of a credential from a licence
//! record, the time and random bytes; its expiry; and a credential's status from its
//! record, its licence and the time. No IO here.

use keys::UnixTime;
use keys::licence::{LicenceNumber, LicenceState, PhotoDigest};
use keys::status_list::CredentialStatus;
use keys::token::{CredentialClaims, CredentialId, LicenceDetails, StatusReference};
use serde::{Deserialize, Serialize};

use crate::domain::application::Ticket;
use crate::domain::registry::{ChangeEffect, LicenceRecord, change_effect};

/// An issued credential as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialRecord {
    /// The credential id (`cti`), hex.
    pub id: String,
    /// The licence.
    pub licence: LicenceNumber,
    /// The application it was issued for.
    pub ticket: Ticket,
    /// Its status list.
    pub list: u32,
    /// Its index in the list.
    pub index: u32,
    /// `iat` of the current token (changes on refresh).
    pub issued_at: UnixTime,
    /// `exp` of the current token (changes on refresh).
    pub expires_at: UnixTime,
    /// Replaced by a newer credential.
    pub superseded: bool,
    /// The current token (tagged COSE_Sign1), base64url.
    pub token: String,
    /// The photo the credential shows.
    pub photo: PhotoDigest,
}

/// Why a licence cannot get a credential now.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    /// The licence is not in force.
    #[error("the licence is {0}")]
    NotInForce(LicenceState),
    /// Its validity has ended.
    #[error("the licence's validity has ended")]
    ValidityEnded,
    /// Its validity has not begun.
    #[error("the licence is not valid yet")]
    NotYetValid,
    /// No photo to show.
    #[error("no compliant photo on file")]
    NoPhoto,
}

/// What a credential is issued from.
#[derive(Clone, Debug)]
pub(crate) struct IssueInput<'a> {
    /// The licence as the registry holds it now.
    pub licence: &'a LicenceRecord,
    /// The photo the credential shows.
    pub photo: Option<PhotoDigest>,
    /// `iss`.
    pub issuer: &'a str,
    /// The credential id: 16 random bytes.
    pub credential_id: [u8; 16],
    /// Where its status lives.
    pub status: StatusReference,
    /// The time of issue.
    pub now: UnixTime,
    /// The configured lifetime cap, seconds.
    pub lifetime: u64,
}

/// The claims for a new (or refreshed) credential.
pub(crate) fn claims(input: &IssueInput<'_>) -> Result<CredentialClaims, IssueError> {
    let licence = input.licence;
    if licence.state != LicenceState::Normal {
        return Err(IssueError::NotInForce(licence.state));
    }
    let photo = input.photo.ok_or(IssueError::NoPhoto)?;
    let starts = licence
        .validity
        .valid_from()
        .midnight()
        .assume_utc()
        .unix_timestamp();
    if i128::from(input.now.0) < i128::from(starts) {
        return Err(IssueError::NotYetValid);
    }
    let expires_at = expiry(licence, input.now, input.lifetime).ok_or(IssueError::ValidityEnded)?;
    Ok(CredentialClaims {
        issuer: input.issuer.to_owned(),
        licence_number: licence.number.clone(),
        credential_id: CredentialId(input.credential_id),
        issued_at: input.now,
        not_before: input.now,
        expires_at,
        licence: LicenceDetails {
            name: licence.name.clone(),
            classes: licence.classes,
            validity: licence.validity,
            authority: licence.authority.clone(),
            photo,
        },
        status: input.status.clone(),
    })
}

/// `exp` = the earlier of the licence's end of validity and `now + lifetime`; `None` when
/// the validity has already ended.
pub(crate) fn expiry(licence: &LicenceRecord, now: UnixTime, lifetime: u64) -> Option<UnixTime> {
    let cap = now.plus(lifetime);
    let exp = match licence.validity.until_unix_end() {
        None => cap,
        Some(end) => UnixTime(u64::try_from(end).unwrap_or(0)).min(cap),
    };
    (exp > now).then_some(exp)
}

/// A credential's status as live status reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LiveStatus {
    /// Valid.
    Valid,
    /// The licence is suspended.
    Suspended,
    /// The licence is revoked or cancelled.
    Revoked,
    /// A newer credential replaced this one.
    Superseded,
    /// The token or the licence has expired.
    Expired,
}

impl LiveStatus {
    /// The word the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            LiveStatus::Valid => "valid",
            LiveStatus::Suspended => "suspended",
            LiveStatus::Revoked => "revoked",
            LiveStatus::Superseded => "superseded",
            LiveStatus::Expired => "expired",
        }
    }
}

/// The live status: the licence's state first (revoked and suspended say most), then
/// superseded, then expiry of the token or the licence.
pub(crate) fn live_status(
    credential: &CredentialRecord,
    licence: &LicenceRecord,
    now: UnixTime,
) -> LiveStatus {
    match licence.state {
        LicenceState::Revoked | LicenceState::Cancelled => return LiveStatus::Revoked,
        LicenceState::Suspended => return LiveStatus::Suspended,
        LicenceState::Expired => return LiveStatus::Expired,
        LicenceState::Normal => {}
    }
    if credential.superseded {
        return LiveStatus::Superseded;
    }
    let licence_ended = licence
        .validity
        .until_unix_end()
        .is_some_and(|end| i128::from(now.0) >= i128::from(end));
    if now >= credential.expires_at || licence_ended {
        return LiveStatus::Expired;
    }
    LiveStatus::Valid
}

/// A status list entry: list, index, value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusEntry {
    /// The list.
    pub list: u32,
    /// The index.
    pub index: u32,
    /// Its value.
    pub value: CredentialStatus,
}

/// What a change of a licence record means for its credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Consequences {
    /// Credentials the change supersedes, already marked superseded.
    pub superseded: Vec<CredentialRecord>,
    /// Status list entries whose value the change sets.
    pub list_updates: Vec<StatusEntry>,
    /// Whether a re-issue application is queued: the current credential was superseded,
    /// the licence is in force and no application is open.
    pub reissue: bool,
}

/// The consequences of changing `old` (none: a new record) to `new` for the licence's
/// `credentials` (newest first), when an application is open or not. A change the
/// credential shows supersedes it and, if the licence is in force and nothing is open,
/// queues a re-issue; a change of state sets every credential's status list value.
pub(crate) fn consequences(
    old: Option<&LicenceRecord>,
    new: &LicenceRecord,
    credentials: Vec<CredentialRecord>,
    open_application: bool,
) -> Consequences {
    let Some(old) = old else {
        return Consequences::default();
    };
    let ChangeEffect {
        supersede,
        state_changed,
    } = change_effect(old, new);
    if !(supersede || state_changed) {
        return Consequences::default();
    }
    let had_current = credentials.iter().any(|c| !c.superseded);
    let mut out = Consequences::default();
    for mut c in credentials {
        if supersede && !c.superseded {
            c.superseded = true;
            out.superseded.push(c.clone());
        }
        out.list_updates.push(StatusEntry {
            list: c.list,
            index: c.index,
            value: list_status(c.superseded, new.state),
        });
    }
    out.reissue =
        supersede && had_current && new.state == LicenceState::Normal && !open_application;
    out
}

/// The value in the status list: expiry is left to the token's `exp`.
pub(crate) fn list_status(superseded: bool, licence: LicenceState) -> CredentialStatus {
    match licence {
        LicenceState::Revoked | LicenceState::Cancelled | LicenceState::Expired => {
            CredentialStatus::Invalid
        }
        LicenceState::Suspended => CredentialStatus::Suspended,
        LicenceState::Normal if superseded => CredentialStatus::Superseded,
        LicenceState::Normal => CredentialStatus::Valid,
    }
}

#[cfg(test)]
mod tests;
