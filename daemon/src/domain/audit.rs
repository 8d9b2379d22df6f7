//! The audit records: every registry, review, credential, client and throttle change and
//! every relying-party lookup is one record naming who (client and role), what, which
//! licence, when, and the purpose the client declared; `chain` links them. Two logs keep
//! them: the change log in the store, sealed in the same atomic step as the change, and
//! the lookup log (`store::lookups`), made durable before the lookup is answered.

pub(crate) mod chain;

use keys::UnixTime;
use serde::{Deserialize, Serialize};

use crate::domain::access::Caller;

/// The action of a relying-party status lookup.
pub(crate) const LOOKUP_ACTION: &str = "status.lookup";

/// Whether `action` is an operator's change the console's trail lists: throttle settings
/// (pause and resume among them), API clients and notification subscriptions (added,
/// removed, replayed). Engines index these records, so the
/// trail is read newest first without scanning the chain.
pub(crate) fn is_operator_change(action: &str) -> bool {
    action.starts_with("throttle.")
        || action.starts_with("client.")
        || action.starts_with("webhook.")
}

/// One audited action, as stored (members in this order; see `chain`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// Its place in its chain, from 1 (set when sealed).
    pub seq: u64,
    /// When (Unix seconds).
    pub at: UnixTime,
    /// Which client.
    pub client: String,
    /// Its role.
    pub role: String,
    /// What, e.g. `licence.revoke`, `status.lookup`.
    pub action: String,
    /// Which licence, when there is one.
    pub licence: Option<String>,
    /// The purpose the client declared (lookups).
    pub purpose: Option<String>,
    /// Details: the credential id, the ticket, the old and new throttle values.
    pub detail: Option<String>,
    /// The previous record's hash, hex (set when sealed).
    pub prev: String,
}

impl AuditRecord {
    /// An unsealed record of a change, logged (who and what, never holder data) as it is
    /// made.
    pub fn change(
        caller: &Caller,
        at: UnixTime,
        action: &str,
        licence: Option<&str>,
        detail: Option<&str>,
    ) -> AuditRecord {
        tracing::info!(target: "audit", client = %caller.client, role = caller.role.as_str(), action, "audit");
        AuditRecord::new(caller, at, action, licence, detail)
    }

    /// An unsealed record.
    pub fn new(
        caller: &Caller,
        at: UnixTime,
        action: &str,
        licence: Option<&str>,
        detail: Option<&str>,
    ) -> AuditRecord {
        AuditRecord {
            seq: 0,
            at,
            client: caller.client.clone(),
            role: caller.role.as_str().to_owned(),
            action: action.to_owned(),
            licence: licence.map(str::to_owned),
            purpose: None,
            detail: detail.map(str::to_owned),
            prev: String::new(),
        }
    }
}

/// The purpose a relying party declares for a lookup (`X-Edl-Purpose` or `?purpose=`).
/// It is printed by `edld audit query` and shown to holders, so it must read as what it
/// is. Invariant: 1 to [`Purpose::MAX_CHARS`] characters as sent, spaces trimmed at both
/// ends, at least one other character; no control characters (a trailing CR or LF
/// included: nothing but spaces is trimmed), no Unicode bidi controls or line separators
/// (they reorder or break the text around them on a terminal), and no U+FFFD (the mark of
/// bytes that were not UTF-8, which must be refused rather than stored as a guess).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purpose(String);

impl Purpose {
    /// The longest purpose, in characters.
    pub const MAX_CHARS: usize = 200;

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `c` may not appear in a purpose: control characters (C0, DEL, C1), the
    /// bidi embeddings, overrides, isolates and marks (U+202A–U+202E, U+2066–U+2069,
    /// U+200E, U+200F, U+061C), the line and paragraph separators (U+2028, U+2029) and the
    /// replacement character U+FFFD.
    pub fn refuses(c: char) -> bool {
        c.is_control()
            || matches!(
                c,
                '\u{061C}'
                    | '\u{200E}'
                    | '\u{200F}'
                    | '\u{2028}'..='\u{202E}'
                    | '\u{2066}'..='\u{2069}'
                    | '\u{FFFD}'
            )
    }
}

/// Why a purpose was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PurposeError {
    /// Nothing but spaces.
    #[error("purpose must not be empty")]
    Empty,
    /// Over [`Purpose::MAX_CHARS`].
    #[error("purpose is longer than 200 characters")]
    TooLong,
    /// A control character.
    #[error("purpose must not contain control characters")]
    Control,
    /// A bidi control or a line separator.
    #[error("purpose must not contain bidi controls or line separators")]
    Layout,
    /// U+FFFD: bytes that were not UTF-8, decoded as a guess.
    #[error("purpose must be UTF-8 (percent-encoded in the query) and must not contain U+FFFD")]
    Encoding,
}

impl std::str::FromStr for Purpose {
    type Err = PurposeError;

    fn from_str(text: &str) -> Result<Purpose, PurposeError> {
        if text.chars().count() > Purpose::MAX_CHARS {
            return Err(PurposeError::TooLong);
        }
        if let Some(c) = text.chars().find(|c| Purpose::refuses(*c)) {
            return Err(match c {
                '\u{FFFD}' => PurposeError::Encoding,
                c if c.is_control() => PurposeError::Control,
                _ => PurposeError::Layout,
            });
        }
        let text = text.trim_matches(' ');
        if text.is_empty() {
            return Err(PurposeError::Empty);
        }
        Ok(Purpose(text.to_owned()))
    }
}

#[cfg(test)]
mod tests;
