//! The verdict: a pure function from what the token check found, where the status came
//! from and how old it is, the policy and the time, to VALID, NOT VALID or INDETERMINATE.
//! No IO and no clock here, so every verdict is a unit test away.
//!
//! **Invariant:** verdicts are never collapsed. A status that could not be had, or that is
//! older than the policy allows, makes an otherwise good credential INDETERMINATE: never
//! VALID, and never NOT VALID on the strength of a fetch error.

use keys::UnixTime;
use keys::status_list::CredentialStatus;
use keys::token::{VerifiedCredential, VerifyError};

/// What the policy allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// A status older than this many seconds cannot support VALID.
    pub max_status_age: u64,
    /// Clock differences from the server above this many seconds are reported.
    pub clock_tolerance: u64,
    /// A holder-bound credential is accepted only inside a presentation (`DL2:`) signed
    /// by its holder's device, never shown alone (`DL1:`, which a screenshot reproduces).
    pub require_holder_binding: bool,
    /// Seconds a presentation's slot may lie outside the terminal's clock, either side.
    pub slot_skew: u64,
}

/// The three verdicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Signature, key, validity window and a fresh status all check out.
    Valid,
    /// Something proves the credential must not be accepted.
    NotValid,
    /// The signature is good but the status is unknown or too old.
    Indeterminate,
}

impl Outcome {
    /// The process exit code (DESIGN section 5).
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Valid => 0,
            Outcome::NotValid => 1,
            Outcome::Indeterminate => 2,
        }
    }
}

/// Why a verdict is not VALID. The snake_case names are part of the JSON schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Not an edl QR text or token at all.
    Malformed,
    /// The signature does not verify: forged or altered.
    BadSignature,
    /// Signed by a key the trust list does not name.
    UnknownKey,
    /// Signed by a key the trust list has revoked.
    KeyRevoked,
    /// Signed outside the signing key's validity window.
    KeyNotValid,
    /// `nbf` is in the future.
    NotYetValid,
    /// `exp` has passed, or the status service says expired.
    Expired,
    /// The licence is revoked or cancelled.
    Revoked,
    /// The licence is suspended.
    Suspended,
    /// A newer credential replaced this one.
    Superseded,
    /// No status could be had.
    StatusUnknown,
    /// The only status at hand is older than the policy allows.
    StatusStale,
    /// Not shown by the holder's device: a presentation not signed by the credential's
    /// holder key, a presentation of a bearer credential, or (under
    /// `require_holder_binding`) a holder-bound credential shown alone.
    NotPresentedByHolder,
    /// A presentation made for a time slot outside the terminal's clock ± skew: a replay
    /// or a screenshot.
    PresentationExpired,
}

impl Reason {
    /// The verdict this reason leads to.
    pub fn outcome(self) -> Outcome {
        match self {
            Reason::StatusUnknown | Reason::StatusStale => Outcome::Indeterminate,
            _ => Outcome::NotValid,
        }
    }
}

/// The result of checking the token itself (envelope, key, signature, times).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenCheck {
    /// Everything checked out.
    Verified(Box<VerifiedCredential>),
    /// Refused. `credential` is there when the signature verified and only a time check
    /// failed, so that the report can still say whose credential it is.
    Refused {
        /// Why.
        reason: Reason,
        /// In words.
        detail: String,
        /// The authenticated claims, when the signature was good.
        credential: Option<Box<VerifiedCredential>>,
    },
}

impl TokenCheck {
    /// Classifies a verification error.
    pub fn refused(error: &VerifyError, credential: Option<VerifiedCredential>) -> TokenCheck {
        let reason = match error {
            VerifyError::Envelope(_) | VerifyError::Claims(_) => Reason::Malformed,
            VerifyError::UnknownKey(_) => Reason::UnknownKey,
            VerifyError::BadSignature => Reason::BadSignature,
            VerifyError::KeyRevoked(_) => Reason::KeyRevoked,
            VerifyError::KeyNotValid { .. } => Reason::KeyNotValid,
            VerifyError::NotYetValid(_) => Reason::NotYetValid,
            VerifyError::Expired(_) => Reason::Expired,
        };
        let detail = match reason {
            // The library's words would only repeat the sentence.
            Reason::BadSignature => reason_sentence(reason).to_owned(),
            _ => format!("{}: {error}", reason_sentence(reason)),
        };
        TokenCheck::Refused {
            reason,
            detail,
            credential: credential.map(Box::new),
        }
    }
}

/// A status as the live service states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusValue {
    /// Valid.
    Valid,
    /// Licence suspended.
    Suspended,
    /// Licence revoked or cancelled.
    Revoked,
    /// Replaced by a newer credential.
    Superseded,
    /// Expired.
    Expired,
    /// Not known.
    Unknown,
}

impl StatusValue {
    /// Reads the live status body's `status` field.
    pub fn from_live(text: &str) -> Option<StatusValue> {
        match text {
            "valid" => Some(StatusValue::Valid),
            "suspended" => Some(StatusValue::Suspended),
            "revoked" => Some(StatusValue::Revoked),
            "superseded" => Some(StatusValue::Superseded),
            "expired" => Some(StatusValue::Expired),
            _ => None,
        }
    }

    fn from_list(status: CredentialStatus) -> StatusValue {
        match status {
            CredentialStatus::Valid => StatusValue::Valid,
            CredentialStatus::Invalid => StatusValue::Revoked,
            CredentialStatus::Suspended => StatusValue::Suspended,
            CredentialStatus::Superseded => StatusValue::Superseded,
        }
    }

    fn refusal(self) -> Option<Reason> {
        match self {
            StatusValue::Valid => None,
            StatusValue::Suspended => Some(Reason::Suspended),
            StatusValue::Revoked => Some(Reason::Revoked),
            StatusValue::Superseded => Some(Reason::Superseded),
            StatusValue::Expired => Some(Reason::Expired),
            StatusValue::Unknown => Some(Reason::StatusUnknown),
        }
    }
}

/// Where a status came from. The snake_case names are part of the JSON schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusSource {
    /// The daemon's live status endpoint.
    Live,
    /// A signed status list from the cache.
    CachedList,
    /// None: not consulted or not available.
    None,
}

/// What was found out about the credential's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusEvidence {
    /// The live service answered, at its own clock's `server_time`.
    Live {
        /// The status.
        status: StatusValue,
        /// The server's `checked_at`.
        server_time: UnixTime,
    },
    /// A cached, signature-checked status list holds the entry.
    Cached {
        /// The entry.
        status: CredentialStatus,
        /// The list's `iat`.
        issued_at: UnixTime,
        /// The list's `exp`.
        expires_at: UnixTime,
    },
    /// The live service answered that it does not know this credential.
    ServerUnknown,
    /// No live answer and no usable cached list.
    Unavailable,
}

/// The status part of a verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusReport {
    /// The (last known) status.
    pub value: StatusValue,
    /// Where it came from.
    pub source: StatusSource,
    /// The time the status was true: the server's `checked_at` or the list's `iat`.
    pub as_of: Option<UnixTime>,
    /// Seconds from `as_of` to now (zero if `as_of` is in the future).
    pub age: Option<u64>,
    /// Older than the policy allows, or the list is past its `exp`.
    pub stale: bool,
    /// The list's `exp`, for cached lists.
    pub list_expires_at: Option<UnixTime>,
}

/// A terminal clock found to be off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockOffset {
    /// Server time minus terminal time, seconds: positive when the terminal is behind.
    pub seconds: i64,
    /// What the terminal's clock was compared with.
    pub reference: ClockReference,
}

/// What a clock offset was measured against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockReference {
    /// The live status answer's `checked_at`.
    LiveStatus,
    /// A status list issued after the terminal's "now".
    StatusList,
    /// The server's `Date` at the last sync.
    LastSync,
}

/// Everything a verdict says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// VALID, NOT VALID or INDETERMINATE.
    pub outcome: Outcome,
    /// Why not VALID.
    pub reason: Option<Reason>,
    /// One sentence for a person.
    pub detail: String,
    /// The credential's authenticated claims, when the signature was good.
    pub credential: Option<Box<VerifiedCredential>>,
    /// The status and where it came from.
    pub status: StatusReport,
    /// How it was shown: presented by the holder's device, or as a bearer credential.
    pub presentation: PresentationReport,
    /// The terminal's clock, when found to be off.
    pub clock: Option<ClockOffset>,
    /// Other things worth knowing (a failed live query, a fallback), in words.
    pub notes: Vec<String>,
    /// The terminal's time of the check.
    pub checked_at: UnixTime,
}

/// What [`decide`] weighs.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// The token check.
    pub token: TokenCheck,
    /// How it was shown, and the presentation's check.
    pub presentation: PresentationCheck,
    /// The status found (ignored when the token was refused).
    pub evidence: StatusEvidence,
    /// The server's time at the last sync, if known.
    pub last_sync_server_time: Option<UnixTime>,
    /// Notes gathered on the way (fallbacks, fetch errors).
    pub notes: Vec<String>,
}

/// Decides the verdict.
pub fn decide(inputs: Inputs, policy: &Policy, now: UnixTime) -> Verdict {
    let Inputs {
        token,
        presentation,
        evidence,
        last_sync_server_time,
        mut notes,
    } = inputs;
    let clock = clock_offset(&evidence, last_sync_server_time, policy, now);
    if let Some(offset) = clock {
        notes.push(describe_clock(offset));
    }
    let shown = PresentationReport::from_check(&presentation);
    let credential = match token {
        TokenCheck::Refused {
            reason,
            detail,
            credential,
        } => {
            return Verdict {
                outcome: reason.outcome(),
                reason: Some(reason),
                detail,
                credential,
                status: StatusReport::not_consulted(),
                presentation: shown,
                clock,
                notes,
                checked_at: now,
            };
        }
        TokenCheck::Verified(credential) => credential,
    };
    let status = StatusReport::from_evidence(&evidence, policy, now);
    let (reason, detail) = match (&evidence, status.value.refusal()) {
        (StatusEvidence::ServerUnknown, _) => (
            Some(Reason::StatusUnknown),
            "the status service does not know this credential".to_owned(),
        ),
        (StatusEvidence::Unavailable, _) => (
            Some(Reason::StatusUnknown),
            "the signature is good but no status could be obtained".to_owned(),
        ),
        (_, _) if status.stale => (
            Some(Reason::StatusStale),
            format!(
                "the signature is good but the last known status ({}) is older than allowed",
                status_word(status.value)
            ),
        ),
        (_, None) => (None, "signature, validity and status check out".to_owned()),
        (_, Some(reason)) => (Some(reason), reason_sentence(reason).to_owned()),
    };
    // Who showed it weighs before the status: a replayed or foreign presentation proves
    // the person at the counter is not shown to be the holder, whatever the status.
    let (reason, detail) = match presentation {
        PresentationCheck::Refused { reason, detail, .. } => (Some(reason), detail),
        PresentationCheck::Bearer { holder_bound: true } if policy.require_holder_binding => (
            Some(Reason::NotPresentedByHolder),
            "this credential is bound to its holder's device but was shown alone: \
             a copy or screenshot would look the same"
                .to_owned(),
        ),
        _ => (reason, detail),
    };
    Verdict {
        outcome: reason.map_or(Outcome::Valid, Reason::outcome),
        reason,
        detail,
        credential: Some(credential),
        status,
        presentation: shown,
        clock,
        notes,
        checked_at: now,
    }
}

impl StatusReport {
    fn not_consulted() -> StatusReport {
        StatusReport {
            value: StatusValue::Unknown,
            source: StatusSource::None,
            as_of: None,
            age: None,
            stale: false,
            list_expires_at: None,
        }
    }

    fn from_evidence(evidence: &StatusEvidence, policy: &Policy, now: UnixTime) -> StatusReport {
        match *evidence {
            StatusEvidence::Live {
                status,
                server_time,
            } => StatusReport {
                value: status,
                source: StatusSource::Live,
                as_of: Some(server_time),
                age: Some(0),
                stale: false,
                list_expires_at: None,
            },
            StatusEvidence::Cached {
                status,
                issued_at,
                expires_at,
            } => {
                let age = now.since(issued_at);
                StatusReport {
                    value: StatusValue::from_list(status),
                    source: StatusSource::CachedList,
                    as_of: Some(issued_at),
                    age: Some(age),
                    stale: age > policy.max_status_age || now >= expires_at,
                    list_expires_at: Some(expires_at),
                }
            }
            StatusEvidence::ServerUnknown | StatusEvidence::Unavailable => {
                StatusReport::not_consulted()
            }
        }
    }
}

fn clock_offset(
    evidence: &StatusEvidence,
    last_sync_server_time: Option<UnixTime>,
    policy: &Policy,
    now: UnixTime,
) -> Option<ClockOffset> {
    let signed = |server: UnixTime| i64::try_from(server.0).unwrap_or(i64::MAX) - now.0 as i64;
    let tolerance = i64::try_from(policy.clock_tolerance).unwrap_or(i64::MAX);
    match *evidence {
        // The live answer is the one reference good both ways.
        StatusEvidence::Live { server_time, .. } => {
            let seconds = signed(server_time);
            (seconds.abs() > tolerance).then_some(ClockOffset {
                seconds,
                reference: ClockReference::LiveStatus,
            })
        }
        // A list signed "in the future" or a sync "in the future" prove the terminal is
        // behind by at least that much; neither says anything about being ahead.
        StatusEvidence::Cached { issued_at, .. } if signed(issued_at) > tolerance => {
            Some(ClockOffset {
                seconds: signed(issued_at),
                reference: ClockReference::StatusList,
            })
        }
        _ => last_sync_server_time
            .map(signed)
            .filter(|&seconds| seconds > tolerance)
            .map(|seconds| ClockOffset {
                seconds,
                reference: ClockReference::LastSync,
            }),
    }
}

/// A sentence saying how far off the clock is.
pub fn describe_clock(offset: ClockOffset) -> String {
    let direction = if offset.seconds > 0 {
        "behind"
    } else {
        "ahead of"
    };
    let reference = match offset.reference {
        ClockReference::LiveStatus => "the server's clock",
        ClockReference::StatusList => "the time a cached status list was signed",
        ClockReference::LastSync => "the server's clock at the last sync",
    };
    format!(
        "this terminal's clock is {} {direction} {reference}: set the clock, expiry checks depend on it",
        format_span(offset.seconds.unsigned_abs())
    )
}

/// The status in one word, as the report prints it.
pub fn status_word(value: StatusValue) -> &'static str {
    match value {
        StatusValue::Valid => "valid",
        StatusValue::Suspended => "suspended",
        StatusValue::Revoked => "revoked",
        StatusValue::Superseded => "superseded",
        StatusValue::Expired => "expired",
        StatusValue::Unknown => "unknown",
    }
}

/// A sentence for a person, per reason.
pub fn reason_sentence(reason: Reason) -> &'static str {
    match reason {
        Reason::Malformed => "this is not a well-formed licence credential",
        Reason::BadSignature => {
            "the signature does not verify: the credential is forged or altered"
        }
        Reason::UnknownKey => "signed by a key this terminal does not trust",
        Reason::KeyRevoked => "signed by a key that has been revoked",
        Reason::KeyNotValid => "signed outside the signing key's validity period",
        Reason::NotYetValid => "the credential is not valid yet",
        Reason::Expired => "the credential has expired",
        Reason::Revoked => "the licence is revoked or cancelled",
        Reason::Suspended => "the licence is suspended",
        Reason::Superseded => "replaced by a newer credential",
        Reason::StatusUnknown => "the signature is good but no status could be obtained",
        Reason::StatusStale => "the signature is good but the status is older than allowed",
        Reason::NotPresentedByHolder => "not presented by the holder's device",
        Reason::PresentationExpired => {
            "the presentation was made for another time: a replay or a screenshot"
        }
    }
}

/// A duration for a person: `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`.
pub fn format_span(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds / 60),
        3600..86_400 => match (seconds % 3600) / 60 {
            0 => format!("{} h", seconds / 3600),
            minutes => format!("{} h {minutes} min", seconds / 3600),
        },
        _ => match (seconds % 86_400) / 3600 {
            0 => format!("{} d", seconds / 86_400),
            hours => format!("{} d {hours} h", seconds / 86_400),
        },
    }
}

mod presentation;
pub use presentation::{PresentationCheck, PresentationReport};

#[cfg(test)]
mod tests;
