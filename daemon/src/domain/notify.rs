//! Notifications (pure): the events a change causes, the subscriptions that receive them,
//! the body and signature of a delivery per the Standard Webhooks specification, the retry
//! schedule (exponential backoff with full jitter up to a horizon) and the policy for a
//! subscriber's URL. Engines call the event builders inside the command that makes the
//! change, so every engine writes the same events in the same atomic step.

use std::net::SocketAddr;

use base64::Engine as _;
use keys::UnixTime;
use keys::licence::{LicenceNumber, LicenceState};
use serde::{Deserialize, Serialize};

use crate::domain::application::{Application, ApplicationState, Ticket};
use crate::domain::issue::CredentialRecord;
use crate::domain::registry::LicenceRecord;

/// What happened (the `type` of a delivery).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventKind {
    /// An application was issued its credential.
    #[serde(rename = "application.issued")]
    ApplicationIssued,
    /// An application was refused (a reviewer's decision or the licence's state).
    #[serde(rename = "application.rejected")]
    ApplicationRejected,
    /// A credential was replaced because its licence changed (a re-issue may be queued).
    #[serde(rename = "credential.superseded")]
    CredentialSuperseded,
    /// The licence was revoked, cancelled or expired.
    #[serde(rename = "credential.revoked")]
    CredentialRevoked,
    /// The licence was suspended.
    #[serde(rename = "credential.suspended")]
    CredentialSuspended,
    /// A suspended licence is in force again.
    #[serde(rename = "credential.reinstated")]
    CredentialReinstated,
    /// A credential's `exp` is near.
    #[serde(rename = "credential.expiring")]
    CredentialExpiring,
}

impl EventKind {
    /// Every kind, in the order documented.
    pub(crate) const ALL: [EventKind; 7] = [
        EventKind::ApplicationIssued,
        EventKind::ApplicationRejected,
        EventKind::CredentialSuperseded,
        EventKind::CredentialRevoked,
        EventKind::CredentialSuspended,
        EventKind::CredentialReinstated,
        EventKind::CredentialExpiring,
    ];

    /// The name on the wire.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventKind::ApplicationIssued => "application.issued",
            EventKind::ApplicationRejected => "application.rejected",
            EventKind::CredentialSuperseded => "credential.superseded",
            EventKind::CredentialRevoked => "credential.revoked",
            EventKind::CredentialSuspended => "credential.suspended",
            EventKind::CredentialReinstated => "credential.reinstated",
            EventKind::CredentialExpiring => "credential.expiring",
        }
    }
}

impl std::str::FromStr for EventKind {
    type Err = UnknownEvent;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownEvent(s.to_owned()))
    }
}

/// A word that names no event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown event {0:?}")]
pub struct UnknownEvent(pub String);

/// One event, as the outbox keeps it. It names the licence, the application or the
/// credential, the time, and the client that made the application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The licence.
    pub licence: LicenceNumber,
    /// The client that made the application (for a credential: the licence's latest
    /// application); empty when the licence never had one.
    pub client: String,
    /// When it happened.
    pub at: UnixTime,
    /// The application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<Ticket>,
    /// The credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// Why an application was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The re-issue application a supersession queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reissue_ticket: Option<Ticket>,
    /// The credential's `exp` (`credential.expiring`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<UnixTime>,
}

impl Event {
    fn new(kind: EventKind, licence: &LicenceNumber, client: &str, at: UnixTime) -> Event {
        Event {
            kind,
            licence: licence.clone(),
            client: client.to_owned(),
            at,
            ticket: None,
            credential: None,
            reason: None,
            reissue_ticket: None,
            expires_at: None,
        }
    }
}

/// `application.issued` for an application and its new credential.
pub(crate) fn issued(app: &Application, credential: &CredentialRecord, at: UnixTime) -> Event {
    Event {
        ticket: Some(app.ticket),
        credential: Some(credential.id.clone()),
        ..Event::new(EventKind::ApplicationIssued, &app.licence, &app.client, at)
    }
}

/// `application.rejected` for an application now rejected, with its reason; none for an
/// application in another state.
pub(crate) fn rejected(app: &Application, at: UnixTime) -> Option<Event> {
    let ApplicationState::Rejected { reason } = &app.state else {
        return None;
    };
    Some(Event {
        ticket: Some(app.ticket),
        reason: Some(reason.clone()),
        ..Event::new(
            EventKind::ApplicationRejected,
            &app.licence,
            &app.client,
            at,
        )
    })
}

/// The events of a licence change, from what the change did: one
/// `credential.superseded` per credential it superseded (naming the re-issue it queued),
/// and, when the licence's state changed, one event per credential still current
/// (`credentials`: the licence's credentials before the change, newest first). `client`
/// is the one that made the licence's latest application.
pub(crate) fn licence_changed(
    old: Option<&LicenceRecord>,
    new: &LicenceRecord,
    credentials: &[CredentialRecord],
    superseded: &[CredentialRecord],
    reissue: Option<Ticket>,
    client: &str,
    at: UnixTime,
) -> Vec<Event> {
    let Some(old) = old else {
        return Vec::new();
    };
    let mut out: Vec<Event> = superseded
        .iter()
        .map(|c| Event {
            credential: Some(c.id.clone()),
            ticket: Some(c.ticket),
            reissue_ticket: reissue,
            ..Event::new(EventKind::CredentialSuperseded, &new.number, client, at)
        })
        .collect();
    let kind = match (old.state, new.state) {
        (before, after) if before == after => None,
        (_, LicenceState::Suspended) => Some(EventKind::CredentialSuspended),
        (_, LicenceState::Revoked | LicenceState::Cancelled | LicenceState::Expired) => {
            Some(EventKind::CredentialRevoked)
        }
        (LicenceState::Suspended, LicenceState::Normal) => Some(EventKind::CredentialReinstated),
        (_, LicenceState::Normal) => None,
    };
    if let Some(kind) = kind {
        out.extend(credentials.iter().filter(|c| !c.superseded).map(|c| Event {
            credential: Some(c.id.clone()),
            ticket: Some(c.ticket),
            ..Event::new(kind, &new.number, client, at)
        }));
    }
    out
}

/// `credential.expiring` for a current credential whose `exp` is near.
pub(crate) fn expiring(credential: &CredentialRecord, client: &str, at: UnixTime) -> Event {
    Event {
        credential: Some(credential.id.clone()),
        ticket: Some(credential.ticket),
        expires_at: Some(credential.expires_at),
        ..Event::new(
            EventKind::CredentialExpiring,
            &credential.licence,
            client,
            at,
        )
    }
}

/// The `webhook-id` of the event with outbox sequence `sequence`: stable across retries
/// and replays, so receivers deduplicate by it.
pub(crate) fn message_id(sequence: u64) -> String {
    format!("evt_{sequence:016x}")
}

/// The JSON body of a delivery: `{"type", "timestamp", "data"}` as the Standard Webhooks
/// specification recommends; `data` names the licence, application, credential and client.
pub(crate) fn body(event: &Event, sequence: u64) -> Vec<u8> {
    let timestamp = time::OffsetDateTime::from_unix_timestamp(event.at.0 as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let mut data = serde_json::to_value(event).unwrap_or_default();
    if let Some(map) = data.as_object_mut() {
        map.remove("type");
        map.remove("at");
        map.insert("id".into(), message_id(sequence).into());
    }
    let value = serde_json::json!({
        "type": event.kind.as_str(),
        "timestamp": timestamp,
        "data": data,
    });
    serde_json::to_vec(&value).unwrap_or_default()
}

/// A subscription's signing secret: `whsec_` then the base64 of 24 to 64 random bytes.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(Vec<u8>);

/// Why a secret was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a webhook secret is whsec_ followed by the base64 of 24 to 64 bytes")]
pub(crate) struct BadSecret;

impl Secret {
    /// Reads `whsec_<base64>` (surrounding whitespace ignored).
    pub(crate) fn parse(text: &str) -> Result<Secret, BadSecret> {
        let encoded = text.trim().strip_prefix("whsec_").ok_or(BadSecret)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| BadSecret)?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(BadSecret);
        }
        Ok(Secret(bytes))
    }

    /// `whsec_<base64>`, as stored.
    pub(crate) fn encoded(&self) -> String {
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(&self.0)
        )
    }

    /// The `webhook-signature` value: `v1,` and the base64 of HMAC-SHA256 over
    /// `{id}.{timestamp}.{body}`.
    pub(crate) fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0);
        let mut context = ring::hmac::Context::with_key(&key);
        context.update(id.as_bytes());
        context.update(b".");
        context.update(timestamp.to_string().as_bytes());
        context.update(b".");
        context.update(body);
        let tag = context.sign();
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
        )
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// An operator's subscription: where to send which events, signed with which secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Its id: 16 lowercase hex digits.
    pub id: String,
    /// The receiver: `https://…`, or `http://` on a loopback address.
    pub url: String,
    /// The events it receives.
    pub events: Vec<EventKind>,
    /// Only the events of applications made by this client, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// `whsec_…`.
    pub secret: String,
    /// When it was added.
    pub created_at: UnixTime,
}

impl Subscription {
    /// Whether `event` goes to this subscription.
    pub(crate) fn wants(&self, event: &Event) -> bool {
        self.events.contains(&event.kind) && self.client.as_ref().is_none_or(|c| *c == event.client)
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// How failed deliveries are retried: exponential backoff with full jitter (a delay drawn
/// uniformly up to `base · 2^attempt`, capped), until `horizon` after the event, then the
/// delivery is dead-lettered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first ceiling, seconds.
    pub base: u64,
    /// The largest ceiling, seconds.
    pub cap: u64,
    /// How long after the event deliveries are tried, seconds.
    pub horizon: u64,
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Try again then.
    At(UnixTime),
    /// Give up: a dead letter.
    Dead,
}

impl RetryPolicy {
    /// After the `attempts`-th failed attempt (1 for the first) at `now` of an event written
    /// at `written`; `draw` is a random number.
    pub(crate) fn after_failure(
        &self,
        attempts: u32,
        written: UnixTime,
        now: UnixTime,
        draw: u64,
    ) -> Retry {
        let deadline = written.0.saturating_add(self.horizon);
        if now.0 >= deadline {
            return Retry::Dead;
        }
        let exponent = attempts.saturating_sub(1).min(62);
        let ceiling = self
            .base
            .max(1)
            .saturating_mul(1u64 << exponent)
            .min(self.cap.max(1));
        // Full jitter, but never a retry within the same second as the failure.
        let delay = 1 + draw % ceiling;
        Retry::At(UnixTime(now.0.saturating_add(delay).min(deadline)))
    }
}

/// A subscriber URL, checked for its form: `https://host[:port]/path`, or `http://` only
/// on a loopback address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// TLS or not.
    pub https: bool,
    /// The host as written (a name or an address).
    pub host: String,
    /// The port.
    pub port: u16,
    /// Path and query.
    pub path: String,
}

/// Why a subscriber URL was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UrlError {
    /// Not an absolute http(s) URL with a host.
    #[error("not an absolute https:// URL")]
    Malformed,
    /// `http://` to an address that is not loopback.
    #[error("http:// is allowed only on a loopback address; use https://")]
    PlainHttp,
    /// It resolves to one of the daemon's own listeners.
    #[error("the URL resolves to one of edld's own listeners ({0})")]
    OwnListener(SocketAddr),
    /// It does not resolve.
    #[error("the host does not resolve")]
    Unresolved,
}

impl Target {
    /// Reads a URL's form (nothing resolved yet).
    pub(crate) fn parse(url: &str) -> Result<Target, UrlError> {
        let uri: http::Uri = url.parse().map_err(|_| UrlError::Malformed)?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(UrlError::Malformed),
        };
        let authority = uri.authority().ok_or(UrlError::Malformed)?;
        if authority.as_str().contains('@') {
            return Err(UrlError::Malformed);
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(UrlError::Malformed);
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let path = uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        Ok(Target {
            https,
            host: host.to_owned(),
            port,
            path,
        })
    }

    /// Checks where the host resolved: `http://` only when every address is loopback, and
    /// never one of the daemon's own listeners (`own`; an unspecified listener address
    /// stands for every local address on its port).
    pub(crate) fn check_addresses(
        &self,
        resolved: &[SocketAddr],
        own: &[SocketAddr],
    ) -> Result<(), UrlError> {
        if resolved.is_empty() {
            return Err(UrlError::Unresolved);
        }
        if !self.https && resolved.iter().any(|a| !a.ip().is_loopback()) {
            return Err(UrlError::PlainHttp);
        }
        for addr in resolved {
            let hit = own.iter().any(|l| {
                l.port() == addr.port()
                    && (l.ip() == addr.ip()
                        || (l.ip().is_unspecified()
                            && (addr.ip().is_loopback() || addr.ip().is_unspecified())))
            });
            if hit {
                return Err(UrlError::OwnListener(*addr));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
