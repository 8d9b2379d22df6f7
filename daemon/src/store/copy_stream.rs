//! The records that pass between engines when `edld store copy` moves one box's state
//! into a cluster's database: a stream of typed records ([`CopyRecord`]) in a fixed order,
//! which the sled engine exports and the PostgreSQL engine imports, so neither sees the
//! other's keys or SQL.
//!
//! **Resuming.** The stream is deterministic for a given source, so a position in it (the
//! records imported so far) is a checkpoint: the importer stores it in the same
//! transaction as each batch, and a rerun skips that many records. The source is known by
//! its [`SourceId`]: the SHA-256 of every key and value the sled database holds, so a copy
//! resumes only from the very state it started from.

use keys::UnixTime;

use crate::domain::application::{Application, Ticket};
use crate::domain::issue::CredentialRecord;
use crate::domain::notify::Subscription;
use crate::domain::queue::Lane;
use crate::domain::registry::LicenceRecord;
use crate::store::{Delivery, StoreError, StoredClient};

/// One record of the copy stream, in the stream's order of kinds: clients, meta values,
/// licences, applications with their credentials (each licence's oldest first), the queue,
/// the lanes' counters, the change audit chain, then the notification outbox:
/// subscriptions (oldest first), the deliveries still owed, the credentials already noted
/// as expiring, and the events' next sequence.
#[derive(Clone, Debug)]
pub(crate) enum CopyRecord {
    /// An API client.
    Client(StoredClient),
    /// An operator value by name (throttle settings, the trust list's sequence, a signing
    /// key's first use), as its JSON document.
    Meta {
        name: String,
        value: serde_json::Value,
    },
    /// A licence of the registry.
    Licence(LicenceRecord),
    /// An application.
    Application(CopiedApplication),
    /// An issued credential (and so the status list index it holds).
    Credential {
        record: CredentialRecord,
        /// Its place among its licence's credentials, as [`CopiedApplication::order`].
        order: i64,
    },
    /// A waiting queue entry.
    Queued {
        lane: Lane,
        sequence: u64,
        ticket: Ticket,
    },
    /// How far a lane has been served, and the last sequence it handed out.
    Lane { lane: Lane, served: u64, last: u64 },
    /// A record of the change audit chain, as stored (see `audit::chain`).
    Audit { position: u64, bytes: Vec<u8> },
    /// A notification subscription and how many events were written for it.
    Subscription {
        subscription: Subscription,
        written: u64,
    },
    /// A delivery still owed (or dead-lettered).
    Delivery(CopiedDelivery),
    /// A credential `credential.expiring` was written for.
    ExpiringNoted { credential: String },
    /// The sequence the next event takes.
    OutboxSequence { next: u64 },
}

/// A delivery owed, as both engines keep it.
#[derive(Clone, Debug)]
pub(crate) struct CopiedDelivery {
    pub delivery: Delivery,
    /// When it is due.
    pub next_at: UnixTime,
    /// Dead-lettered.
    pub dead: bool,
}

/// An application with what the engines keep beside it.
#[derive(Clone, Debug)]
pub(crate) struct CopiedApplication {
    pub application: Application,
    /// Waiting for a reviewer.
    pub reviewing: bool,
    /// Accepted before the opening time and not yet in order: its lane.
    pub preopen: Option<Lane>,
    /// Its place among its licence's applications: increasing from the first to the
    /// latest. Applications on no licence's chain (none are, in a sound store) come before
    /// every chain's, with negative places.
    pub order: i64,
}

/// What identifies a copy's source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SourceId {
    /// SHA-256 of the source database's keys and values, in order.
    pub digest: [u8; 32],
    /// Where it was (for messages only: the digest decides).
    pub location: String,
}

/// What the source holds: its identity and how many records its stream has.
#[derive(Clone, Debug)]
pub(crate) struct Survey {
    pub source: SourceId,
    pub records: u64,
    /// Licences and credentials, for the operator's summary.
    pub licences: u64,
    pub credentials: u64,
}

/// Where a copy stands on its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Checkpoint {
    /// Nothing copied yet: the target is empty.
    Fresh,
    /// Resuming: this many records of the stream are in.
    Resume(u64),
    /// The same source was copied completely already.
    Finished,
}

/// Why a copy does not start or stops.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CopyError {
    /// The source directory holds no sled database.
    #[error("{0} holds no sled database (is it an edld data directory?)")]
    NoSource(String),
    /// A running edld holds the source.
    #[error("{0} is in use by a running edld: stop it first, the copy needs a still source")]
    InUse(String),
    /// The target holds state of its own.
    #[error("the target database is not empty ({0}): copy only into a fresh database")]
    NotEmpty(String),
    /// The target holds a copy of another source (or of this directory since changed).
    #[error(
        "the target database holds a copy of another source ({0}), or of this one before it \
         changed: copy only into a fresh database"
    )]
    OtherSource(String),
    /// A node serves the target.
    #[error("an edld node ({0}) is running on the target database: stop it first")]
    NodeRunning(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}
