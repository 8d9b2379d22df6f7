//! The hash chain that links audit records: a record's canonical bytes, sealing a record
//! onto a chain, and checking a chain from its stored records. Pure: no IO.
//!
//! A stored record is one compact JSON object with its members in this order: `seq`,
//! `at`, `client`, `role`, `action`, `licence`, `purpose`, `detail`, `prev`, `hash`. Its
//! **canonical bytes** are the stored bytes without the last member, that is with the
//! final `,"hash":"<64 hex digits>"` cut out (so `…,"prev":"…"}`). `hash` is the SHA-256 of
//! the canonical bytes; `prev` is the `hash` of the record before it, 64 zeros for the
//! first; `seq` counts from 1 with no gaps. Changing, removing, inserting or reordering a
//! record therefore breaks the chain at that record or the one after it. The last record
//! is protected only by its own hash: anchor the head (`edld audit verify` prints it)
//! somewhere else to protect it too.

use sha2::{Digest, Sha256};

use super::AuditRecord;

/// Length of the final `,"hash":"<64 hex>"}` of a stored record.
const HASH_SUFFIX_LEN: usize = 9 + 64 + 2;

/// Where a chain stands: the next record's sequence number and the last record's hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    /// The sequence number of the next record.
    pub next: u64,
    /// The hash of the last record (zeros before the first).
    pub hash: [u8; 32],
}

impl Head {
    /// An empty chain.
    pub(crate) const EMPTY: Head = Head {
        next: 1,
        hash: [0; 32],
    };

    /// The head after the stored record `bytes`, found at record number `position`: where
    /// a restarted writer continues. A record that does not parse still moves the chain
    /// on (by the SHA-256 of all its bytes), so `check` reports the damage where it is.
    pub(crate) fn after(position: u64, bytes: &[u8]) -> Head {
        let hash = match split(bytes) {
            Some((canonical, _)) => Sha256::digest(canonical).into(),
            None => Sha256::digest(bytes).into(),
        };
        Head {
            next: position.saturating_add(1),
            hash,
        }
    }
}

/// Puts `record` on the chain after `head`: sets its `seq` and `prev`, and returns its
/// stored bytes (no newline) and the new head.
pub(crate) fn seal(record: &mut AuditRecord, head: Head) -> (Vec<u8>, Head) {
    record.seq = head.next;
    record.prev = String::from_utf8_lossy(&keys::lower_hex::encode32(&head.hash)).into_owned();
    // A struct of strings, numbers and options: serializing it to JSON cannot fail.
    let mut bytes = serde_json::to_vec(record).unwrap_or_default();
    let hash: [u8; 32] = Sha256::digest(&bytes).into();
    // `bytes` ends with the object's closing brace: put the hash member before it.
    bytes.pop();
    bytes.extend_from_slice(b",\"hash\":\"");
    bytes.extend_from_slice(&keys::lower_hex::encode32(&hash));
    bytes.extend_from_slice(b"\"}");
    (
        bytes,
        Head {
            next: head.next.saturating_add(1),
            hash,
        },
    )
}

/// Reads a stored record: its canonical bytes and the hash it claims.
fn split(bytes: &[u8]) -> Option<(Vec<u8>, [u8; 32])> {
    let cut = bytes.len().checked_sub(HASH_SUFFIX_LEN)?;
    let suffix = bytes.get(cut..)?;
    let hex_digits = suffix.strip_prefix(b",\"hash\":\"")?.strip_suffix(b"\"}")?;
    let claimed: [u8; 32] = keys::lower_hex::decode(hex_digits)?;
    let mut canonical = bytes.get(..cut)?.to_vec();
    canonical.push(b'}');
    Some((canonical, claimed))
}

/// Decodes one stored record (without checking its place in the chain).
pub(crate) fn decode(bytes: &[u8]) -> Result<AuditRecord, String> {
    let (canonical, _) = split(bytes).ok_or("it does not end with a hash member")?;
    serde_json::from_slice(&canonical).map_err(|e| e.to_string())
}

/// Decodes one stored record whose hash matches its content (its place in the chain is
/// not checked); `None` for a damaged or altered record.
pub(crate) fn decode_intact(bytes: &[u8]) -> Option<AuditRecord> {
    let (canonical, claimed) = split(bytes)?;
    let hash: [u8; 32] = Sha256::digest(&canonical).into();
    if hash != claimed {
        return None;
    }
    serde_json::from_slice(&canonical).ok()
}

/// Why a chain does not check.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BreakReason {
    /// Not an audit record at all.
    #[error("not an audit record ({0})")]
    Malformed(String),
    /// Its hash does not match its content.
    #[error("its content does not match its hash: the record was altered")]
    Altered,
    /// Its `seq` is not its place.
    #[error("it carries sequence {found}: records were removed, inserted or reordered")]
    Sequence {
        /// The `seq` it carries.
        found: u64,
    },
    /// Missing from the store: the next stored record has a later number.
    #[error("it is missing (the next stored record is {next})")]
    Missing {
        /// The next record number found.
        next: u64,
    },
    /// Its `prev` is not the previous record's hash.
    #[error(
        "it does not link to the record before it: that record was altered, or records were removed or inserted"
    )]
    Link,
}

/// The first place a chain breaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("record {record}: {reason}")]
pub(crate) struct Break {
    /// The record number (from 1; in a file, its line number).
    pub record: u64,
    /// Why.
    pub reason: BreakReason,
}

/// Checks the records of one chain, given as (record number where stored, bytes) in
/// order, up to the first break. Returns the head of the intact chain.
pub(crate) fn check<E>(
    records: impl IntoIterator<Item = Result<(u64, Vec<u8>), E>>,
) -> Result<Result<Head, Break>, E> {
    let mut checker = Checker::default();
    for entry in records {
        let (position, bytes) = entry?;
        if let Err(broken) = checker.feed(position, &bytes) {
            return Ok(Err(broken));
        }
    }
    Ok(Ok(checker.head()))
}

/// Checks a chain one record at a time, for records that arrive in pages.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Checker {
    head: Head,
}

impl Default for Checker {
    fn default() -> Self {
        Checker { head: Head::EMPTY }
    }
}

impl Checker {
    /// The head of the chain checked so far.
    pub(crate) fn head(&self) -> Head {
        self.head
    }

    /// Checks the next stored record, found at record number `position`.
    pub(crate) fn feed(&mut self, position: u64, bytes: &[u8]) -> Result<(), Break> {
        let head = self.head;
        if position != head.next {
            return Err(Break {
                record: head.next,
                reason: BreakReason::Missing { next: position },
            });
        }
        let broken = |reason| {
            Err(Break {
                record: position,
                reason,
            })
        };
        let Some((canonical, claimed)) = split(bytes) else {
            return broken(BreakReason::Malformed(
                "it does not end with a hash member".into(),
            ));
        };
        let record: AuditRecord = match serde_json::from_slice(&canonical) {
            Ok(r) => r,
            Err(e) => return broken(BreakReason::Malformed(e.to_string())),
        };
        let hash: [u8; 32] = Sha256::digest(&canonical).into();
        if hash != claimed {
            return broken(BreakReason::Altered);
        }
        if record.seq != position {
            return broken(BreakReason::Sequence { found: record.seq });
        }
        if record.prev != hex::encode(head.hash) {
            return broken(BreakReason::Link);
        }
        self.head = Head {
            next: position.saturating_add(1),
            hash,
        };
        Ok(())
    }
}
