//! How the sled engine lays out the daemon's state: one tree with a two-byte prefix per
//! table, so that one batch changes several tables atomically. Multi-byte integers are
//! big-endian, so keys sort numerically.
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `L/` | licence number | `LicenceRecord` JSON |
//! | `A/` | ticket (16 bytes) | `Application` JSON; `previous` chains a licence's applications (and so its credentials) |
//! | `O/` | licence number | ticket of its latest application (open while queued or in review) |
//! | `Q/` | lane (1) + sequence (8) | ticket |
//! | `P/` | ticket | lane (1): accepted before the opening time, not yet in order |
//! | `R/` | created at (8, Unix seconds) + ticket | (empty): applications waiting for review, oldest first |
//! | `C/` | credential id (16) | `CredentialRecord` JSON |
//! | `M/` | name | meta values (trust list sequence, key windows, throttle settings, lane progress) |
//! | `K/` | SHA-256 of an API key | `ApiClient` JSON |
//! | `U/` | sequence (8) | audit record: one hash-chained JSON record (see `audit::chain`) |
//! | `W/` | sequence (8) | (empty): the audit records of operator changes (`audit::is_operator_change`) |
//! | `N/` | subscription id | `Subscription` JSON |
//! | `D/` | subscription id + `/` + event sequence (8) | a delivery owed: its event, attempts, due time, dead or not |
//! | `X/` | `exp` (8) + credential id (16) | (empty): current credentials by expiry, until `credential.expiring` is written |
//! | `Y/` | credential id (16) | (empty): `credential.expiring` was written for it |

use serde::Serialize;
use serde::de::DeserializeOwned;

use keys::UnixTime;

use crate::domain::application::Ticket;
use crate::domain::queue::Lane;
use crate::store::StoreError;

/// Licence records.
pub(super) const LICENCE: &[u8] = b"L/";
/// Applications.
pub(super) const APPLICATION: &[u8] = b"A/";
/// Latest application per licence.
pub(super) const OPEN: &[u8] = b"O/";
/// The queue.
pub(super) const QUEUE: &[u8] = b"Q/";
/// Applications accepted before the opening time, in ticket (random) order.
pub(super) const PREOPEN: &[u8] = b"P/";
/// Applications waiting for review.
pub(super) const REVIEW: &[u8] = b"R/";
/// Credentials.
pub(super) const CREDENTIAL: &[u8] = b"C/";
/// Meta values.
pub(super) const META: &[u8] = b"M/";
/// API clients.
pub(super) const CLIENT: &[u8] = b"K/";
/// Audit records.
pub(super) const AUDIT: &[u8] = b"U/";
/// The audit records of operator changes.
pub(super) const OPERATOR_CHANGE: &[u8] = b"W/";

/// Notification subscriptions.
pub(super) const SUBSCRIPTION: &[u8] = b"N/";
/// Deliveries owed.
pub(super) const DELIVERY: &[u8] = b"D/";
/// Credentials by expiry, not yet noted as expiring.
pub(super) const EXPIRY: &[u8] = b"X/";
/// Credentials noted as expiring.
pub(super) const EXPIRY_NOTED: &[u8] = b"Y/";

/// `prefix` followed by `parts`.
pub(super) fn key(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + parts.iter().map(|p| p.len()).sum::<usize>());
    key.extend_from_slice(prefix);
    for part in parts {
        key.extend_from_slice(part);
    }
    key
}

pub(super) fn licence(number: &str) -> Vec<u8> {
    key(LICENCE, &[number.as_bytes()])
}

pub(super) fn application(ticket: Ticket) -> Vec<u8> {
    key(APPLICATION, &[&ticket.0])
}

pub(super) fn open(number: &str) -> Vec<u8> {
    key(OPEN, &[number.as_bytes()])
}

pub(super) fn preopen(ticket: Ticket) -> Vec<u8> {
    key(PREOPEN, &[&ticket.0])
}

/// An application waiting for review, keyed by when it was made, so the waiting list is
/// read oldest first.
pub(super) fn review(created_at: UnixTime, ticket: Ticket) -> Vec<u8> {
    key(REVIEW, &[&created_at.0.to_be_bytes(), &ticket.0])
}

/// The ticket in an `R/` key.
pub(super) fn review_ticket(key: &[u8]) -> Result<Ticket, StoreError> {
    ticket(key.get(REVIEW.len() + 8..).unwrap_or_default())
}

/// A credential's key from its hex id; `None` for text that is not 32 hex digits.
pub(super) fn credential(id_hex: &str) -> Option<Vec<u8>> {
    credential_id(id_hex).map(|id| credential_at(&id))
}

/// A credential's key from its 16-byte id.
pub(super) fn credential_at(id: &[u8; 16]) -> Vec<u8> {
    key(CREDENTIAL, &[id])
}

/// The 16 bytes of a credential id in hex; `None` for text that is not 32 hex digits.
pub(super) fn credential_id(id_hex: &str) -> Option<[u8; 16]> {
    let mut bytes = [0u8; 16];
    hex::decode_to_slice(id_hex, &mut bytes).ok()?;
    Some(bytes)
}

/// A record a batch changes, as the records lookups keep (`records::Records`) key it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Changed {
    /// A credential, by its 16-byte id.
    Credential([u8; 16]),
    /// A licence, by its number's bytes.
    Licence(Vec<u8>),
}

/// The record `key` holds, if it is a kind that lookups read and so keep
/// (`records::Records`): a credential or a licence.
pub(super) fn cached(key: &[u8]) -> Option<Changed> {
    if let Some(id) = key.strip_prefix(CREDENTIAL) {
        return id.try_into().ok().map(Changed::Credential);
    }
    key.strip_prefix(LICENCE)
        .map(|number| Changed::Licence(number.to_vec()))
}

pub(super) fn subscription(id: &str) -> Vec<u8> {
    key(SUBSCRIPTION, &[id.as_bytes()])
}

/// Every delivery owed to one subscription.
pub(super) fn deliveries_of(subscription: &str) -> Vec<u8> {
    key(DELIVERY, &[subscription.as_bytes(), b"/"])
}

pub(super) fn delivery(subscription: &str, sequence: u64) -> Vec<u8> {
    key(
        DELIVERY,
        &[subscription.as_bytes(), b"/", &sequence.to_be_bytes()],
    )
}

/// The subscription and event sequence in a `D/` key.
pub(super) fn parse_delivery(key: &[u8]) -> Option<(String, u64)> {
    let rest = key.strip_prefix(DELIVERY)?;
    let split = rest.len().checked_sub(9)?;
    let (subscription, tail) = rest.split_at(split);
    let sequence = tail.strip_prefix(b"/")?;
    Some((
        String::from_utf8(subscription.to_vec()).ok()?,
        u64::from_be_bytes(sequence.try_into().ok()?),
    ))
}

/// A credential in the expiry index; `None` for an id that is not 32 hex digits.
pub(super) fn expiry(expires_at: UnixTime, id_hex: &str) -> Option<Vec<u8>> {
    let mut bytes = [0u8; 16];
    hex::decode_to_slice(id_hex, &mut bytes).ok()?;
    Some(key(EXPIRY, &[&expires_at.0.to_be_bytes(), &bytes]))
}

/// Where the expiry index reaches `at`.
pub(super) fn expiry_from(at: UnixTime) -> Vec<u8> {
    key(EXPIRY, &[&at.0.to_be_bytes()])
}

/// The credential's hex id in an `X/` key.
pub(super) fn expiry_credential(key: &[u8]) -> Option<String> {
    key.get(EXPIRY.len() + 8..)
        .filter(|b| b.len() == 16)
        .map(hex::encode)
}

pub(super) fn expiry_noted(id_hex: &str) -> Option<Vec<u8>> {
    let mut bytes = [0u8; 16];
    hex::decode_to_slice(id_hex, &mut bytes).ok()?;
    Some(key(EXPIRY_NOTED, &[&bytes]))
}

/// The `M/` name of the outbox's next event sequence.
pub(super) const OUTBOX_SEQUENCE: &str = "outbox-sequence";

/// The `M/` value counting the events written for a subscription.
pub(super) fn written(subscription: &str) -> Vec<u8> {
    meta(&format!("outbox-written/{subscription}"))
}

/// The `M/` prefix of every subscription's written counter.
pub(super) fn written_prefix() -> Vec<u8> {
    meta("outbox-written/")
}

/// The `M/` name marking that the `X/` expiry index was built.
pub(super) const EXPIRY_INDEXED: &str = "expiry_indexed";

/// The `M/` name marking that the `W/` index of operator changes was built.
pub(super) const OPERATOR_CHANGES_INDEXED: &str = "operator_changes_indexed";

pub(super) fn meta(name: &str) -> Vec<u8> {
    key(META, &[name.as_bytes()])
}

/// The meta value holding how far a lane has been served.
pub(super) fn served(lane: Lane) -> Vec<u8> {
    meta(&format!("served/{}", lane.as_str()))
}

/// The meta value holding a signing key's first use.
pub(super) fn key_window(key_id: &str) -> Vec<u8> {
    meta(&format!("key-window/{key_id}"))
}

pub(super) fn client(hash: &[u8; 32]) -> Vec<u8> {
    key(CLIENT, &[hash])
}

pub(super) fn audit(position: u64) -> Vec<u8> {
    key(AUDIT, &[&position.to_be_bytes()])
}

pub(super) fn operator_change(position: u64) -> Vec<u8> {
    key(OPERATOR_CHANGE, &[&position.to_be_bytes()])
}

/// The record number in a `W/` key.
pub(super) fn operator_change_position(key: &[u8]) -> Option<u64> {
    key.get(OPERATOR_CHANGE.len()..)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
}

/// The record number in a `U/` key.
pub(super) fn audit_position(key: &[u8]) -> Option<u64> {
    key.get(AUDIT.len()..)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
}

pub(super) fn lane_byte(lane: Lane) -> u8 {
    // `Lane::index` is 0, 1 or 2.
    lane.index() as u8
}

pub(super) fn lane_from_byte(byte: u8) -> Option<Lane> {
    Lane::ALL.into_iter().find(|l| lane_byte(*l) == byte)
}

pub(super) fn queue(lane: Lane, sequence: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(11);
    key.extend_from_slice(QUEUE);
    key.push(lane_byte(lane));
    key.extend_from_slice(&sequence.to_be_bytes());
    key
}

pub(super) fn lane_prefix(lane: Lane) -> Vec<u8> {
    let mut key = QUEUE.to_vec();
    key.push(lane_byte(lane));
    key
}

pub(super) fn parse_queue(key: &[u8]) -> Option<(Lane, u64)> {
    let rest = key.strip_prefix(QUEUE)?;
    let (&lane, sequence) = rest.split_first()?;
    Some((
        lane_from_byte(lane)?,
        u64::from_be_bytes(sequence.try_into().ok()?),
    ))
}

/// A 16-byte ticket stored as a value or a key suffix.
pub(super) fn ticket(bytes: &[u8]) -> Result<Ticket, StoreError> {
    <[u8; 16]>::try_from(bytes)
        .map(Ticket)
        .map_err(|_| StoreError::Corrupt("a ticket".into()))
}

/// A value as stored: JSON. Our records are plain structs of strings, numbers and lists,
/// so serializing them cannot fail.
pub(super) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// A stored JSON value; `what` names it in the error.
pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|_| StoreError::Corrupt(what.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_keys_round_trip() {
        for lane in Lane::ALL {
            assert_eq!(parse_queue(&queue(lane, 42)), Some((lane, 42)));
        }
    }

    #[test]
    fn queue_keys_sort_by_sequence() {
        assert!(queue(Lane::First, 255) < queue(Lane::First, 256));
        assert!(queue(Lane::Window, u64::MAX) < queue(Lane::Reissue, 0));
    }

    #[test]
    fn delivery_keys_round_trip_and_sort_by_sequence() {
        let key = delivery("00aa11bb22cc33dd", 258);
        assert_eq!(
            parse_delivery(&key),
            Some(("00aa11bb22cc33dd".to_owned(), 258))
        );
        assert!(key.starts_with(&deliveries_of("00aa11bb22cc33dd")));
        assert!(delivery("s", 255) < delivery("s", 256));
    }

    #[test]
    fn expiry_keys_sort_by_time() {
        let id = "00112233445566778899aabbccddeeff";
        let key = expiry(UnixTime(7), id).unwrap();
        assert_eq!(expiry_credential(&key).as_deref(), Some(id));
        assert!(expiry_from(UnixTime(7)) <= key && key < expiry_from(UnixTime(8)));
    }

    #[test]
    fn credential_keys_take_hex_ids_only() {
        assert!(credential("00112233445566778899aabbccddeeff").is_some());
        assert!(credential("not hex").is_none());
        assert!(credential("0011").is_none());
    }
}
