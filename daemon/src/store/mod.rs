//! The daemon's durable state behind one interface of domain commands: [`Store`]. Each
//! command happens whole or not at all and is durable when it returns; a reader never sees
//! what a crash could take back. The engines implement it: `sled` (the embedded default,
//! one box) today. No key layout, prefix or engine type is visible outside an engine's own
//! module; `conformance` is the suite every engine must pass.
//!
//! The decisions a command makes under its lock or transaction (what a registry change
//! supersedes, whether an application is a re-issue, where it is placed) are the pure
//! functions of `domain`, so every engine decides alike.

pub(crate) mod copy;
pub(crate) mod copy_stream;
pub(crate) mod files;
pub(crate) mod lookups;
pub(crate) mod postgres;
pub(crate) mod sled;

#[cfg(test)]
mod conformance;

use std::sync::Arc;

use keys::UnixTime;
use keys::jwk::HolderJwk;
use keys::licence::{LicenceNumber, LicenceState};

use crate::domain::access::{ApiClient, Caller};
use crate::domain::application::{
    Application, ApplicationState, Channel, DamagedHolderKey, Photo, Ticket, is_reissue,
};
use crate::domain::audit::AuditRecord;
use crate::domain::issue::CredentialRecord;
pub(crate) use crate::domain::issue::StatusEntry;
pub(crate) use crate::domain::notify::{Event, Subscription};
use crate::domain::queue::Lane;
pub(crate) use crate::domain::queue::QueueFigures;
pub(crate) use crate::domain::registry::LicenceEdit;
use crate::domain::registry::{LicenceRecord, TransitionError};
use crate::domain::throttle::settings::ThrottleSettings;

/// A credential and its licence as a live-status lookup reads them: shared, so that an
/// engine may answer from records it has already decoded.
pub(crate) type LookedUp = (Arc<CredentialRecord>, Arc<LicenceRecord>);

/// What an engine keeps of one kind of record for lookups (`credential`, `licence`), as
/// the metrics show it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeptRecords {
    /// The kind.
    pub kind: &'static str,
    /// Reads answered from what is kept, since the start.
    pub hits: u64,
    /// Reads that went to the database.
    pub misses: u64,
    /// Records kept.
    pub records: u64,
    /// Their weight.
    pub bytes: u64,
    /// The weight they may reach.
    pub capacity: u64,
}

/// Why a store command failed. Internal: clients only ever see "service unavailable".
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The engine refused.
    #[error("engine: {0}")]
    Engine(String),
    /// fsync or another file operation failed.
    #[error("io: {0}")]
    Io(String),
    /// A stored value did not decode.
    #[error("corrupt value: {0}")]
    Corrupt(String),
    /// Another process holds the store (a second edld, or a command run beside it).
    #[error("{0} is in use by another process (is edld running?)")]
    InUse(String),
    /// The store is closing or closed.
    #[error("the store has stopped")]
    Stopped,
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

impl From<DamagedHolderKey> for StoreError {
    fn from(e: DamagedHolderKey) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// The result of a command that can only fail in the store.
pub(crate) type StoreResult<T> = Result<T, StoreError>;

/// The daemon's durable state. Each command happens whole or not at all, and is durable
/// when it returns. Reads show only durable state.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    // ----- the registry -----

    /// A licence record.
    async fn licence(&self, number: &LicenceNumber) -> StoreResult<Option<LicenceRecord>>;

    /// Creates, replaces or edits a licence record with its consequences, all in one
    /// atomic step: the credentials it supersedes (see `registry::consequences`), the
    /// re-issue application it queues, and its audit record.
    async fn change_licence(&self, change: LicenceChange) -> Result<LicenceChanged, ChangeError>;

    /// [`Store::change_licence`] for many records (an import), durable together at the
    /// end: one outcome per change, in order.
    async fn change_licences(
        &self,
        changes: Vec<LicenceChange>,
    ) -> StoreResult<Vec<Result<LicenceChanged, ChangeError>>>;

    /// Every credential of a licence, newest first.
    async fn credentials_of(&self, number: &LicenceNumber) -> StoreResult<Vec<CredentialRecord>>;

    // ----- applications -----

    /// Accepts an application, or returns the licence's open one (one open application per
    /// licence, whoever asks).
    async fn admit(&self, admit: Admit<'_>) -> Result<Admitted, AdmitError>;

    /// An application by ticket, as far as it is durable: an issuance whose step is not
    /// yet durable still shows the application queued.
    async fn application(&self, ticket: Ticket) -> StoreResult<Option<Application>>;

    /// Applications waiting for review, oldest first, at most `limit`.
    async fn reviews(&self, limit: usize) -> StoreResult<Vec<Application>>;

    /// A reviewer's decision on an application waiting for review, with its audit record.
    async fn decide_review(&self, decision: ReviewDecision) -> Result<Application, DecideError>;

    /// Puts the applications accepted before the opening time in order: the next `limit`
    /// in ticket (random) order, or all that remain when that is no more than `limit`, so
    /// that no newcomer slips ahead of the last ones. Returns how many were ordered.
    async fn order_opening(&self, limit: usize) -> StoreResult<u64>;

    // ----- the drain -----

    /// Claims up to `take[i]` entries from the front of each lane `i` that no earlier
    /// claim holds, with what signing them needs.
    async fn claim_step(&self, take: [u64; 3]) -> StoreResult<Claim>;

    /// Completes a claimed step in one atomic step: every issued credential with its
    /// application and the credentials it supersedes, every rejection, every served
    /// queue entry. An issuance whose licence changed since the claim is not written: its
    /// entry stays queued for the next step (returned in [`Completed::requeued`]).
    async fn complete_step(&self, step: CompletedStep) -> StoreResult<Completed>;

    /// Gives back the entries of a claim that will not be completed.
    fn release_claim(&self, tickets: &[Ticket]);

    // ----- credentials -----

    /// A credential by id.
    async fn credential(&self, id: &str) -> StoreResult<Option<CredentialRecord>>;

    /// A credential and its licence, for a live status lookup.
    async fn lookup(&self, id: &str) -> StoreResult<Option<LookedUp>>;

    /// Replaces a credential's token (a refresh), if the credential and its licence are
    /// still as read (`expected`); with its audit record.
    async fn refresh_credential(&self, refresh: Refresh) -> Result<(), RefreshConflict>;

    /// Every allocated status list index with its value, for restoring the lists.
    async fn status_entries(&self) -> StoreResult<Vec<StatusEntry>>;

    /// Allocates `n` fresh, never-used status list indices at random in the newest list,
    /// opening a new list when it is half full and fewer than `max_lists` exist. Fewer
    /// than `n` when the allowed lists are full (see [`Store::index_room`]).
    async fn allocate_indices(&self, n: usize, max_lists: u32) -> StoreResult<Allocations>;

    /// How many indices may still be allocated within `max_lists` lists.
    fn index_room(&self, max_lists: u32) -> u64;

    /// How many status lists are open.
    fn list_count(&self) -> u32;

    /// For an engine several nodes write: the status list entries whose value changed, by
    /// any node, since the read that returned `since` (`None`: any change still on record),
    /// with their values now and how many lists exist. `None` from an engine only this
    /// process writes (its own changes are all it needs).
    async fn status_changes(
        &self,
        since: Option<StatusCursor>,
    ) -> StoreResult<Option<StatusChanges>> {
        let _ = since;
        Ok(None)
    }

    /// The decoded records the engine keeps for lookups, by kind; none if it keeps none.
    fn kept_records(&self) -> Vec<KeptRecords>;

    // ----- queue figures -----

    /// The queue's counters now: what positions and wait estimates are computed from.
    fn queue(&self) -> QueueFigures;

    /// When the oldest application waiting in each lane was made.
    async fn oldest_queued(&self) -> StoreResult<[Option<UnixTime>; 3]>;

    // ----- operators -----

    /// The throttle settings operators stored, if they ever changed them.
    async fn throttle_settings(&self) -> StoreResult<Option<ThrottleSettings>>;

    /// Stores new throttle settings with the audit record of the change.
    async fn change_throttle(
        &self,
        settings: ThrottleSettings,
        audit: AuditRecord,
    ) -> StoreResult<()>;

    /// Every API client with the SHA-256 of its key.
    async fn clients(&self) -> StoreResult<Vec<StoredClient>>;

    /// Adds API clients (names unique), with their audit records.
    async fn add_clients(
        &self,
        clients: Vec<StoredClient>,
        audit: Vec<AuditRecord>,
    ) -> Result<(), ClientConflict>;

    /// Replaces a stored client's record (its delegates), with its audit record.
    async fn update_client(
        &self,
        client: ApiClient,
        audit: AuditRecord,
    ) -> Result<(), ClientConflict>;

    /// Removes an API client by name, with its audit record; returns it.
    async fn revoke_client(
        &self,
        name: &str,
        audit: AuditRecord,
    ) -> Result<ApiClient, ClientConflict>;

    // ----- the trust list -----

    /// The sequence number of the last trust list signed or served.
    async fn trust_sequence(&self) -> StoreResult<Option<u64>>;

    /// Takes the next trust list sequence number and each key's first use (set to
    /// `first_use` for a key never listed before).
    async fn next_trust_list(
        &self,
        keys: &[String],
        first_use: UnixTime,
    ) -> StoreResult<TrustStamp>;

    /// Records that a trust list signed offline is served: its sequence when it is newer
    /// than the last, and its audit record.
    async fn serve_trust_list(&self, sequence: Option<u64>, audit: AuditRecord) -> StoreResult<()>;

    // ----- the audit chain of changes -----

    /// Appends a change record that goes with no other command.
    async fn record(&self, audit: AuditRecord) -> StoreResult<()>;

    /// Stored change records from number `from` on, at most `limit`: (number, bytes).
    async fn audit_records(&self, from: u64, limit: usize) -> StoreResult<Vec<(u64, Vec<u8>)>>;

    /// The last `limit` operator changes (`audit::is_operator_change`) on the chain,
    /// newest first: (number, bytes), read through an index, never a scan of the chain.
    async fn operator_changes(&self, limit: usize) -> StoreResult<Vec<(u64, Vec<u8>)>>;

    // ----- notifications (the outbox) -----
    //
    // The commands that change a licence, decide a review or complete a drain step also
    // write the events they cause (`domain::notify`'s builders), in the same atomic step,
    // with one delivery per subscription that wants each event.

    /// Adds a subscription, with its audit record.
    async fn add_subscription(
        &self,
        subscription: Subscription,
        audit: AuditRecord,
    ) -> StoreResult<()>;

    /// Removes a subscription and every delivery still owed to it, with its audit record;
    /// `false` when there was none by that id (nothing is then recorded).
    async fn remove_subscription(&self, id: &str, audit: AuditRecord) -> StoreResult<bool>;

    /// Every subscription, oldest first.
    async fn subscriptions(&self) -> StoreResult<Vec<Subscription>>;

    /// Claims up to `limit` deliveries due at `now`, leased until `lease_until` (a
    /// claimed delivery not finished by then is due again, so a node that dies holding it
    /// loses nothing). Per subscription and licence only the oldest undelivered delivery
    /// is ever due: a later event waits for the earlier ones of the same licence. Several
    /// nodes claim without overlap. Oldest events first.
    async fn claim_deliveries(
        &self,
        now: UnixTime,
        lease_until: UnixTime,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>>;

    /// Records how a claimed delivery went. Finishing a delivery that no longer exists
    /// (its subscription removed) is not an error.
    async fn finish_delivery(&self, key: DeliveryKey, outcome: DeliveryOutcome) -> StoreResult<()>;

    /// Dead-lettered deliveries, oldest event first, at most `limit`; of one subscription
    /// when given.
    async fn dead_letters(
        &self,
        subscription: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>>;

    /// Makes the dead-lettered deliveries of events written at or after `replay.since`
    /// (of one subscription when given) due again at `replay.now`, with no attempts and a
    /// fresh retry horizon from `replay.now`, with its audit record. Returns how many.
    async fn replay(&self, replay: Replay, audit: AuditRecord) -> StoreResult<u64>;

    /// Each subscription's figures: events written for it, deliveries owed and dead, and
    /// the oldest undelivered event's time.
    async fn outbox_figures(&self) -> StoreResult<Vec<OutboxFigures>>;

    /// Writes `credential.expiring` once for each current credential (not superseded) of
    /// a licence in force whose `exp` is at or before `until` and still after `now`, at
    /// most `limit` per call; returns how many were written. A credential is noted once
    /// whatever happens later (a restart, another node).
    async fn note_expiring(&self, until: UnixTime, now: UnixTime, limit: usize)
    -> StoreResult<u64>;

    // ----- life -----

    /// Whether the engine can still make writes durable.
    fn healthy(&self) -> bool;

    /// How many nodes serve this state now, this one included (1 for an engine only one
    /// node opens): they share the cluster-wide throttle settings.
    fn live_nodes(&self) -> u64 {
        1
    }

    /// Hands the store what this node publishes to the others sharing it (its queue,
    /// drain and health, as `GET /admin/v1/nodes` shows them); an engine several nodes
    /// share writes the latest with its next heartbeat. Nothing for an engine only one
    /// node opens.
    fn publish(&self, _figures: serde_json::Value) {}

    /// Every node that shares this state, with what it last published; empty for an
    /// engine only one node opens (the node itself is then the only one).
    async fn nodes(&self) -> StoreResult<Vec<NodeReport>> {
        Ok(Vec::new())
    }

    /// For an engine several nodes share: a value bumped whenever some node changed the
    /// throttle settings (read them again with [`Store::throttle_settings`]).
    fn throttle_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// What `/readyz` reports of the engine: its name, and for a database whether it
    /// answers and which schema version it holds.
    fn readiness(&self) -> serde_json::Value {
        serde_json::json!({"engine": "sled", "durable": self.healthy()})
    }

    /// Makes everything durable and stops; commands fail afterwards.
    async fn close(&self) -> StoreResult<()>;
}

/// A node sharing the store, as [`Store::nodes`] lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeReport {
    /// Its `[store] node` name.
    pub name: String,
    /// Whether it is the node asking.
    pub this: bool,
    /// Live, silent (no heartbeat for a few seconds: dead or cut off) or left (closed).
    pub state: NodeState,
    /// Seconds since its last heartbeat (none once it left).
    pub silent_for: Option<f64>,
    /// What it last published ([`Store::publish`]).
    pub figures: serde_json::Value,
}

/// Whether a node still takes part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// It beat within the last few seconds: it takes its share of the throttle.
    Live,
    /// No heartbeat for a few seconds: dead, or cut off from the database.
    Silent,
    /// It closed and left.
    Left,
}

impl NodeState {
    /// How `GET /admin/v1/nodes` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Live => "live",
            NodeState::Silent => "silent",
            NodeState::Left => "left",
        }
    }
}

/// Where a reader of [`Store::status_changes`] left off (opaque to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusCursor(pub u64);

/// Status list entries other nodes may have changed, with their values now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusChanges {
    /// Where the next read starts.
    pub cursor: Option<StatusCursor>,
    /// The entries, each with its current value (an entry may come again).
    pub entries: Vec<StatusEntry>,
    /// How many status lists exist now, opened by any node.
    pub lists: u32,
}

/// Who made a change and when: what its audit record names.
#[derive(Clone, Debug)]
pub struct Actor {
    /// The caller.
    pub caller: Caller,
    /// When.
    pub at: UnixTime,
}

/// A change to a licence record.
#[derive(Clone, Debug)]
pub struct LicenceChange {
    /// The licence.
    pub number: LicenceNumber,
    /// What changes.
    pub edit: LicenceEdit,
    /// Who and when.
    pub actor: Actor,
    /// The ticket a re-issue application gets, if the change queues one (drawn by the
    /// caller: engines draw no randomness).
    pub reissue_ticket: Ticket,
}

/// What a licence change did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LicenceChanged {
    /// The record now.
    pub record: LicenceRecord,
    /// Whether it was created.
    pub created: bool,
    /// The re-issue application queued because the current credential was superseded.
    pub reissue: Option<Ticket>,
    /// Status list entries whose value changed.
    pub list_updates: Vec<StatusEntry>,
    /// The licence's credentials right after the change, newest first.
    pub credentials: Vec<CredentialRecord>,
}

/// Why a licence change was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ChangeError {
    /// An edit of a licence the registry does not hold.
    #[error("no such licence")]
    NotFound,
    /// A state change not allowed from the current state.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An application to admit.
pub struct Admit<'a> {
    /// A fresh random ticket.
    pub ticket: Ticket,
    /// The licence.
    pub licence: LicenceNumber,
    /// How it arrived.
    pub channel: Channel,
    /// The client that made it.
    pub client: String,
    /// The photo.
    pub photo: Photo,
    /// The holder's device key, checked.
    pub holder_key: Option<HolderJwk>,
    /// When.
    pub at: UnixTime,
    /// Whether the opening time is still ahead (applications wait to be put in order).
    pub before_opening: bool,
    /// The wait quoted for a position in a lane (low and high seconds), when known.
    pub quote: &'a (dyn Fn(Lane, u64) -> Option<(u64, u64)> + Send + Sync),
}

impl Admit<'_> {
    /// Whether the registry allows this application for `licence`: in force, and with a
    /// photo on file when it asks for the one on file. Every engine checks alike.
    pub(crate) fn allowed_by(&self, licence: &LicenceRecord) -> Result<(), AdmitError> {
        if licence.state != LicenceState::Normal {
            return Err(AdmitError::NotInForce(licence.state));
        }
        if self.photo == Photo::OnFile && licence.photo.is_none() {
            return Err(AdmitError::NoPhotoOnFile);
        }
        Ok(())
    }

    /// The new application, before it is placed: it follows `previous` (the licence's latest
    /// application) and is a re-issue when the licence already has credentials.
    pub(crate) fn application(
        &self,
        previous: Option<Ticket>,
        has_credentials: bool,
    ) -> Application {
        Application {
            ticket: self.ticket,
            licence: self.licence.clone(),
            channel: self.channel,
            client: self.client.clone(),
            photo: self.photo,
            state: ApplicationState::Reviewing,
            created_at: self.at,
            updated_at: self.at,
            reissue: is_reissue(self.channel, has_credentials),
            quoted: None,
            previous,
            holder_key: self.holder_key.clone(),
        }
    }
}

/// The outcome of [`Store::admit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admitted {
    /// A new application.
    New(Application),
    /// The licence's open application, unchanged.
    Existing(Application),
}

/// Why an application was not admitted.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AdmitError {
    /// The registry holds no such licence.
    #[error("no licence with this number in the registry")]
    UnknownLicence,
    /// The licence is not in force.
    #[error("the licence is {0}")]
    NotInForce(LicenceState),
    /// An on-file photo was asked for and there is none.
    #[error("no compliant photo on file")]
    NoPhotoOnFile,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A reviewer's decision.
#[derive(Clone, Debug)]
pub struct ReviewDecision {
    /// The application.
    pub ticket: Ticket,
    /// Approve (`None`) or reject with a reason.
    pub rejection: Option<String>,
    /// Who and when.
    pub actor: Actor,
}

/// Why a review decision was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DecideError {
    /// No such application.
    #[error("no such application")]
    NotFound,
    /// The application is not waiting for review.
    #[error("the application is {0}, not waiting for review")]
    NotWaiting(&'static str),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Queue entries claimed for one drain step.
#[derive(Clone, Debug, Default)]
pub struct Claim {
    /// In lane order, then queue order.
    pub entries: Vec<Claimed>,
}

/// One claimed queue entry with what signing it needs.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// Its lane.
    pub lane: Lane,
    /// Its sequence in the lane.
    pub sequence: u64,
    /// The application it names.
    pub ticket: Ticket,
    /// The application, if it is still queued under this entry (otherwise the entry is
    /// stale and is only served).
    pub application: Option<Application>,
    /// The licence as the registry holds it now.
    pub licence: Option<LicenceRecord>,
    /// The licence's credentials so far, newest first.
    pub credentials: Vec<CredentialRecord>,
}

/// What a drain step did with its claim.
#[derive(Clone, Debug, Default)]
pub struct CompletedStep {
    /// Every claimed entry: (lane, sequence, ticket), served whatever its outcome.
    pub served: Vec<(Lane, u64, Ticket)>,
    /// Issued credentials.
    pub issued: Vec<Issuance>,
    /// Rejected applications.
    pub rejected: Vec<Rejection>,
}

/// One application a drain step rejects (its licence cannot be issued a credential).
#[derive(Clone, Debug)]
pub struct Rejection {
    /// The application, now rejected with the reason.
    pub application: Application,
    /// The licence as it was claimed (none: not in the registry): the rejection is
    /// written only if it still is.
    pub licence: Option<LicenceRecord>,
}

/// One credential issued by a drain step.
#[derive(Clone, Debug)]
pub struct Issuance {
    /// The application, now issued.
    pub application: Application,
    /// The new credential.
    pub credential: CredentialRecord,
    /// The credentials it supersedes, now marked superseded.
    pub superseded: Vec<CredentialRecord>,
    /// The licence as it was claimed: the issuance is written only if it still is.
    pub licence: LicenceRecord,
    /// The licence with the uploaded photo now on file, when that changes it.
    pub new_licence: Option<LicenceRecord>,
}

/// What a completed step wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Completed {
    /// Issuances written.
    pub issued: usize,
    /// Applications left queued because their licence changed since the claim.
    pub requeued: Vec<Ticket>,
}

/// A refreshed credential to store.
#[derive(Clone, Debug)]
pub struct Refresh {
    /// The credential and licence as read before signing.
    pub expected: (CredentialRecord, LicenceRecord),
    /// The credential with its new token.
    pub refreshed: CredentialRecord,
    /// The audit record.
    pub audit: AuditRecord,
}

/// Why a refresh was not stored.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RefreshConflict {
    /// The credential or its licence changed since it was read: read and sign again.
    #[error("the credential changed meanwhile")]
    Changed,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Fresh status list indices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allocations {
    /// (list, index) pairs.
    pub indices: Vec<(u32, u32)>,
    /// Whether a new list was opened (the trust list must name it).
    pub opened_list: bool,
}

/// An API client as stored: the SHA-256 of its key and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredClient {
    /// SHA-256 of the API key.
    pub key_hash: [u8; 32],
    /// The client.
    pub client: ApiClient,
}

/// Why a client change was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ClientConflict {
    /// The name is taken.
    #[error("a client named {0:?} exists")]
    Exists(String),
    /// No such client.
    #[error("no client named {0:?}")]
    Unknown(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A trust list's sequence number and its keys' first use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustStamp {
    /// The new sequence number.
    pub sequence: u64,
    /// Each key's first use, in the order asked.
    pub first_use: Vec<UnixTime>,
}

/// Which delivery: the subscription and the event's outbox sequence.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DeliveryKey {
    /// The subscription's id.
    pub subscription: String,
    /// The event's sequence in the outbox (its `webhook-id` is `notify::message_id` of it).
    pub sequence: u64,
}

/// One event owed to one subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Which.
    pub key: DeliveryKey,
    /// The event.
    pub event: Event,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Where the retry horizon starts: when the event was written, or replayed.
    pub started: UnixTime,
    /// The last failure, for the operator.
    pub last_error: Option<String>,
}

/// How a claimed delivery went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The subscriber acknowledged it (2xx): it is done.
    Delivered,
    /// It failed: one more attempt counted, due again at `at`.
    Retry {
        /// When to try again.
        at: UnixTime,
        /// What went wrong.
        error: String,
    },
    /// It failed past the horizon: one more attempt counted, kept as a dead letter.
    Dead {
        /// What went wrong.
        error: String,
    },
}

/// Which dead letters to deliver again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replay {
    /// Only this subscription's, when given.
    pub subscription: Option<String>,
    /// Only events written at or after this.
    pub since: UnixTime,
    /// Now: when they are due again and their new horizon starts.
    pub now: UnixTime,
}

/// One subscription's outbox figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxFigures {
    /// The subscription's id.
    pub subscription: String,
    /// Events ever written for it (a counter: never goes down).
    pub written: u64,
    /// Deliveries owed (due, waiting for a retry or leased), dead letters excluded.
    pub pending: u64,
    /// Dead letters.
    pub dead: u64,
    /// When the oldest owed (not dead) delivery's event was written.
    pub oldest_pending: Option<UnixTime>,
}
