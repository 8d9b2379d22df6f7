//! The embedded engine: the daemon's state in sled 0.34, in `<data>/db`. One tree with a
//! prefix per table (`layout`), every command one atomic batch, and acknowledgements after a
//! group commit (`commit`).
//!
//! **Concurrency.** A command that reads and then writes one licence's records (its
//! registry entry, latest application, credentials) holds that licence's stripe lock, so
//! its batch is built from a consistent view. The drain's claims are held in memory
//! ([`SledStore::claimed`]), so a step never takes what an earlier step still signs.
//! **Visibility.** A drain step's batch applies before its commit is durable; until then its
//! applications read as still queued and its credentials as absent ([`SledStore::pending`]),
//! so no client ever sees a credential a crash could take back.

mod commit;
mod export;
mod layout;
mod meta;
mod outbox;
mod queue;
mod raw;
mod records;
mod registry;

pub(crate) use self::export::SledExport;
pub(crate) use self::raw::raw_issue;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use keys::UnixTime;
use keys::licence::LicenceNumber;
use serde::de::DeserializeOwned;

use self::commit::Committer;
pub(crate) use self::commit::{CommitObserver, CommitTiming};
use self::records::{Batch, Records};
use crate::domain::access::ApiClient;
use crate::domain::application::{Application, Ticket};
use crate::domain::audit::chain::{self, Head};
use crate::domain::audit::{self, AuditRecord};
use crate::domain::issue::CredentialRecord;
use crate::domain::queue::Lanes;
use crate::domain::registry::LicenceRecord;
use crate::domain::status_index::Allocator;
use crate::domain::throttle::settings::ThrottleSettings;
use crate::store::files::sync_dir;
use crate::store::{
    Admit, AdmitError, Admitted, Allocations, ChangeError, Claim, ClientConflict, Completed,
    CompletedStep, DecideError, Delivery, DeliveryKey, DeliveryOutcome, KeptRecords, LicenceChange,
    LicenceChanged, LookedUp, OutboxFigures, QueueFigures, Refresh, RefreshConflict, Replay,
    ReviewDecision, StatusEntry, Store, StoreError, StoreResult, StoredClient, Subscription,
    TrustStamp,
};

/// Licence stripes: commands on one licence serialize on its stripe.
const STRIPES: usize = 1024;

/// The sled engine.
pub(crate) struct SledStore {
    db: sled::Db,
    committer: Committer,
    /// The head of the change audit chain, held while a batch with audit records applies.
    chain: Mutex<Head>,
    /// Queue sequences, depths and what has been served, per lane.
    lanes: Lanes,
    stripes: Vec<Mutex<()>>,
    /// Held (shared) by applications deciding whether they arrive before the opening;
    /// held (exclusive) while the last of those are put in order.
    opening_gate: RwLock<()>,
    /// Queue entries claimed by a drain step that has not completed yet.
    claimed: Mutex<HashSet<Ticket>>,
    /// Applications a completed step issued whose commit is not yet durable, as they were
    /// before (queued): what readers see until it is. Read by every live-status lookup,
    /// written by the drain: shared, so that lookups never wait for each other.
    pending: RwLock<HashMap<Ticket, Application>>,
    /// Status list indices taken.
    allocator: Mutex<Allocator>,
    /// The entries read at open, for the first [`Store::status_entries`].
    restored_entries: Mutex<Option<Vec<StatusEntry>>>,
    /// Serializes changes to API clients (names are unique) and to the trust list state.
    meta_lock: Mutex<()>,
    /// The notification outbox in memory (subscriptions, what is owed, what is due), held
    /// while a batch that writes events applies: see `outbox`.
    outbox: Mutex<outbox::Outbox>,
    /// Serializes `note_expiring` (a credential is noted once).
    expiry_lock: Mutex<()>,
    /// The credentials and licences lookups read, decoded (see `records`).
    records: Records,
}

/// Opens sled on a thread at the issuance threads' priority
/// ([`crate::priority::yield_cpu_to_verification`]: nice 19 under `SCHED_BATCH`), so that
/// the threads sled starts inherit it: its flusher and its pool of I/O threads
/// (`sled-io-*`), which its open starts (on a new database and an existing one alike;
/// `tests/it/scheduling` checks it), and the I/O threads it adds later from the thread
/// whose write finds too few idle: nearly always the issuance threads or the committer,
/// which run so too (a registry change on a thread of normal priority may add one at
/// nice 0). Live-status lookups read the records kept (`records`), not sled, so sled's
/// work, nearly all of it an issuance flood's batches and commits, is what the kernel
/// sheds first under CPU saturation. `tests/bench/status-vs-nginx --flood`, with the
/// records kept: sled's threads, an applier thread and the committer at nice 0 gave an
/// officer's p99 under the flood 2.15x its p99 without; sled's threads alone at nice 19,
/// 1.38x; all of sled at nice 19, as here, 1.21x and 1.57x in two runs.
fn open_at_issuance_priority(config: sled::Config) -> sled::Result<sled::Db> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("edld-sled-open".into())
            .spawn_scoped(scope, || {
                crate::priority::yield_cpu_to_verification();
                config.open()
            })
            .map_err(sled::Error::Io)?
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// A sled error as a store error.
pub(crate) fn engine_error(e: sled::Error) -> StoreError {
    StoreError::Engine(e.to_string())
}

impl SledStore {
    /// Opens (or creates) the database in `<data_dir>/db`, restores the queue's counters
    /// and the status list indices, and starts the group committer.
    pub(crate) fn open(data_dir: &Path, timing: Option<CommitTiming>) -> StoreResult<SledStore> {
        SledStore::open_keeping(data_dir, timing, records::DEFAULT_BYTES)
    }

    /// As [`SledStore::open`], keeping up to `record_bytes` of decoded credentials and
    /// licences for lookups (0 keeps none).
    pub(crate) fn open_keeping(
        data_dir: &Path,
        timing: Option<CommitTiming>,
        record_bytes: u64,
    ) -> StoreResult<SledStore> {
        let dir = data_dir.join("db");
        std::fs::create_dir_all(&dir)?;
        let config = sled::Config::new()
            .path(&dir)
            .cache_capacity(256 << 20)
            // sled's own background flush runs every 500 ms by default; our commits are
            // explicit, so a slower background flush only saves work.
            .flush_every_ms(Some(1_000));
        let db = open_at_issuance_priority(config).map_err(|e| match e {
            // sled reports another process's lock on the database as an I/O error
            // whose kind it does not keep: only its message tells.
            sled::Error::Io(io)
                if io.kind() == std::io::ErrorKind::WouldBlock
                    || io.to_string().contains("could not acquire lock") =>
            {
                StoreError::InUse(dir.display().to_string())
            }
            other => engine_error(other),
        })?;
        // Make the files sled may just have created durable in their directories.
        sync_dir(&dir)?;
        sync_dir(data_dir)?;
        let head = match db.scan_prefix(layout::AUDIT).next_back() {
            Some(entry) => {
                let (k, v) = entry.map_err(engine_error)?;
                Head::after(layout::audit_position(&k).unwrap_or(0), &v)
            }
            None => Head::EMPTY,
        };
        index_operator_changes(&db)?;
        rekey_reviews(&db)?;
        outbox::index_expiry(&db)?;
        let outbox = outbox::Outbox::restore(&db)?;
        let lanes = queue::restore_lanes(&db)?;
        let (allocator, entries) = registry::restore_indices(&db)?;
        let committer = Committer::start(db.clone(), dir.clone(), timing)?;
        let records = Records::new(record_bytes);
        Ok(SledStore {
            db,
            committer,
            chain: Mutex::new(head),
            lanes,
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            opening_gate: RwLock::new(()),
            claimed: Mutex::new(HashSet::new()),
            pending: RwLock::new(HashMap::new()),
            allocator: Mutex::new(allocator),
            restored_entries: Mutex::new(Some(entries)),
            meta_lock: Mutex::new(()),
            outbox: Mutex::new(outbox),
            expiry_lock: Mutex::new(()),
            records,
        })
    }

    fn stripe_index(number: &str) -> usize {
        let hash = <sha2::Sha256 as sha2::Digest>::digest(number.as_bytes());
        usize::from(u16::from_be_bytes([hash[0], hash[1]])) % STRIPES
    }

    fn stripe(&self, number: &LicenceNumber) -> MutexGuard<'_, ()> {
        self.stripe_at(Self::stripe_index(number.as_str()))
    }

    fn stripe_at(&self, index: usize) -> MutexGuard<'_, ()> {
        // `stripe_index` is below STRIPES and `stripes` has STRIPES entries.
        self.stripes[index % STRIPES]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Reads and decodes a JSON value.
    fn get<T: DeserializeOwned>(&self, key: &[u8], what: &str) -> StoreResult<Option<T>> {
        match self.db.get(key).map_err(engine_error)? {
            None => Ok(None),
            Some(bytes) => layout::decode(&bytes, what).map(Some),
        }
    }

    fn stored_licence(&self, number: &str) -> StoreResult<Option<LicenceRecord>> {
        self.get(&layout::licence(number), "licence")
    }

    /// An application as applied (an issuance not yet durable shows as issued).
    fn stored_application(&self, ticket: Ticket) -> StoreResult<Option<Application>> {
        self.get(&layout::application(ticket), "application")
    }

    fn stored_credential(&self, id: &str) -> StoreResult<Option<CredentialRecord>> {
        match layout::credential(id) {
            Some(key) => self.get(&key, "credential"),
            None => Ok(None),
        }
    }

    /// The ticket of the licence's latest application, if it ever had one.
    fn latest(&self, number: &str) -> StoreResult<Option<Ticket>> {
        match self.db.get(layout::open(number)).map_err(engine_error)? {
            None => Ok(None),
            Some(bytes) => layout::ticket(&bytes).map(Some),
        }
    }

    fn pending(&self) -> RwLockReadGuard<'_, HashMap<Ticket, Application>> {
        self.pending.read().unwrap_or_else(|p| p.into_inner())
    }

    fn pending_mut(&self) -> RwLockWriteGuard<'_, HashMap<Ticket, Application>> {
        self.pending.write().unwrap_or_else(|p| p.into_inner())
    }

    fn claimed(&self) -> MutexGuard<'_, HashSet<Ticket>> {
        self.claimed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a batch atomically (not yet durable), and forgets the records lookups keep
    /// that it changed before anyone is told it applied (see `records`). Its audit records
    /// are sealed onto the change chain here, under the chain's lock: the chain's order is
    /// the order batches apply in, and a batch that fails leaves no gap.
    fn apply(&self, mut batch: Batch, audit: Vec<AuditRecord>) -> StoreResult<()> {
        if audit.is_empty() {
            return self.apply_forgetting(batch);
        }
        let mut head = self.chain.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = *head;
        for mut record in audit {
            let position = next.next;
            if audit::is_operator_change(&record.action) {
                batch.insert(layout::operator_change(position), &[][..]);
            }
            let (bytes, after) = chain::seal(&mut record, next);
            batch.insert(layout::audit(position), bytes);
            next = after;
        }
        self.apply_forgetting(batch)?;
        *head = next;
        Ok(())
    }

    /// Applies `batch` on the calling thread, then forgets the records it changed (whether
    /// or not it applied: a failed batch may have changed nothing, and a miss costs only a
    /// read). sled applies every batch under one process-wide lock, held exclusively, that
    /// every read takes shared; lookups read sled only for records not kept, so a batch of
    /// an issuance thread at nice 19, preempted while it holds that lock, holds up those
    /// reads alone.
    fn apply_forgetting(&self, batch: Batch) -> StoreResult<()> {
        let (writes, changed) = batch.into_parts();
        let applied = self.db.apply_batch(writes).map_err(engine_error);
        self.records.changed(&changed);
        applied
    }

    /// Applies `batch` and waits until it is durable.
    async fn apply_durably(&self, batch: Batch, audit: Vec<AuditRecord>) -> StoreResult<()> {
        self.apply(batch, audit)?;
        self.committer.commit().await
    }
}

#[async_trait::async_trait]
impl Store for SledStore {
    async fn licence(&self, number: &LicenceNumber) -> StoreResult<Option<LicenceRecord>> {
        self.stored_licence(number.as_str())
    }

    async fn change_licence(&self, change: LicenceChange) -> Result<LicenceChanged, ChangeError> {
        let (changed, keys) = self.change_licence_applied(change)?;
        self.committer.commit().await?;
        self.outbox_durable(&keys);
        Ok(changed)
    }

    async fn change_licences(
        &self,
        changes: Vec<LicenceChange>,
    ) -> StoreResult<Vec<Result<LicenceChanged, ChangeError>>> {
        let mut out = Vec::with_capacity(changes.len());
        let mut keys = Vec::new();
        for change in changes {
            match self.change_licence_applied(change) {
                Err(ChangeError::Store(e)) => return Err(e),
                Err(refused) => out.push(Err(refused)),
                Ok((changed, k)) => {
                    keys.extend(k);
                    out.push(Ok(changed));
                }
            }
        }
        self.committer.commit().await?;
        self.outbox_durable(&keys);
        Ok(out)
    }

    async fn credentials_of(&self, number: &LicenceNumber) -> StoreResult<Vec<CredentialRecord>> {
        let latest = self.latest(number.as_str())?;
        let pending = self.pending().clone();
        Ok(self
            .credentials_from(latest)?
            .into_iter()
            .filter(|c| !pending.contains_key(&c.ticket))
            .collect())
    }

    async fn admit(&self, admit: Admit<'_>) -> Result<Admitted, AdmitError> {
        let admitted = self.admit_applied(&admit)?;
        if matches!(admitted, Admitted::New(_)) {
            self.committer.commit().await?;
        }
        Ok(admitted)
    }

    async fn application(&self, ticket: Ticket) -> StoreResult<Option<Application>> {
        if let Some(before) = self.pending().get(&ticket) {
            return Ok(Some(before.clone()));
        }
        self.stored_application(ticket)
    }

    async fn reviews(&self, limit: usize) -> StoreResult<Vec<Application>> {
        self.waiting_reviews(limit)
    }

    async fn decide_review(&self, decision: ReviewDecision) -> Result<Application, DecideError> {
        let (decided, keys) = self.decide_applied(decision)?;
        self.committer.commit().await?;
        self.outbox_durable(&keys);
        Ok(decided)
    }

    async fn order_opening(&self, limit: usize) -> StoreResult<u64> {
        let ordered = self.order_opening_applied(limit)?;
        self.committer.commit().await?;
        Ok(ordered)
    }

    async fn claim_step(&self, take: [u64; 3]) -> StoreResult<Claim> {
        self.claim(take)
    }

    async fn complete_step(&self, step: CompletedStep) -> StoreResult<Completed> {
        let (completed, issued, keys) = self.complete_applied(step)?;
        // Its issuances are durable once this commit is: until then they read as queued,
        // and their events cannot be claimed.
        let result = self.committer.commit().await;
        if result.is_ok() {
            self.outbox_durable(&keys);
            let mut pending = self.pending_mut();
            for ticket in &issued {
                pending.remove(ticket);
            }
        }
        result.map(|()| completed)
    }

    fn release_claim(&self, tickets: &[Ticket]) {
        let mut claimed = self.claimed();
        for ticket in tickets {
            claimed.remove(ticket);
        }
    }

    async fn credential(&self, id: &str) -> StoreResult<Option<CredentialRecord>> {
        let credential = self.stored_credential(id)?;
        Ok(credential.filter(|c| !self.pending().contains_key(&c.ticket)))
    }

    async fn lookup(&self, id: &str) -> StoreResult<Option<LookedUp>> {
        let Some(id) = layout::credential_id(id) else {
            return Ok(None);
        };
        let read = || self.get(&layout::credential_at(&id), "credential");
        let Some(credential) = self
            .records
            .credential(id, read)?
            .filter(|c| !self.pending().contains_key(&c.ticket))
        else {
            return Ok(None);
        };
        let number = credential.licence.as_str();
        let licence = self
            .records
            .licence(number, || self.stored_licence(number))?;
        Ok(licence.map(|l| (credential, l)))
    }

    fn kept_records(&self) -> Vec<KeptRecords> {
        self.records.figures()
    }

    async fn refresh_credential(&self, refresh: Refresh) -> Result<(), RefreshConflict> {
        self.refresh_applied(refresh)?;
        self.committer.commit().await?;
        Ok(())
    }

    async fn status_entries(&self) -> StoreResult<Vec<StatusEntry>> {
        let restored = self
            .restored_entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match restored {
            Some(entries) => Ok(entries),
            None => Ok(registry::restore_indices(&self.db)?.1),
        }
    }

    async fn allocate_indices(&self, n: usize, max_lists: u32) -> StoreResult<Allocations> {
        let mut allocator = self.allocator.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Allocations::default();
        for _ in 0..n {
            let Some(a) = allocator.allocate(&mut rand_core::OsRng, max_lists) else {
                break;
            };
            out.opened_list |= a.opened_list;
            out.indices.push((a.list, a.index));
        }
        Ok(out)
    }

    fn index_room(&self, max_lists: u32) -> u64 {
        self.allocator
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .room(max_lists)
    }

    fn list_count(&self) -> u32 {
        self.allocator
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .count()
    }

    fn queue(&self) -> QueueFigures {
        self.lanes.figures()
    }

    async fn oldest_queued(&self) -> StoreResult<[Option<UnixTime>; 3]> {
        self.oldest()
    }

    async fn throttle_settings(&self) -> StoreResult<Option<ThrottleSettings>> {
        self.get(&layout::meta("throttle"), "throttle settings")
    }

    async fn change_throttle(
        &self,
        settings: ThrottleSettings,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let mut batch = Batch::default();
        batch.insert(layout::meta("throttle"), layout::encode(&settings));
        self.apply_durably(batch, vec![audit]).await
    }

    async fn clients(&self) -> StoreResult<Vec<StoredClient>> {
        self.stored_clients()
    }

    async fn add_clients(
        &self,
        clients: Vec<StoredClient>,
        audit: Vec<AuditRecord>,
    ) -> Result<(), ClientConflict> {
        self.add_clients_applied(clients, audit)?;
        self.committer.commit().await?;
        Ok(())
    }

    async fn update_client(
        &self,
        client: ApiClient,
        audit: AuditRecord,
    ) -> Result<(), ClientConflict> {
        self.update_client_applied(client, audit)?;
        self.committer.commit().await?;
        Ok(())
    }

    async fn revoke_client(
        &self,
        name: &str,
        audit: AuditRecord,
    ) -> Result<ApiClient, ClientConflict> {
        let revoked = self.revoke_client_applied(name, audit)?;
        self.committer.commit().await?;
        Ok(revoked)
    }

    async fn trust_sequence(&self) -> StoreResult<Option<u64>> {
        self.get(&layout::meta("trust-sequence"), "trust list sequence")
    }

    async fn next_trust_list(
        &self,
        keys: &[String],
        first_use: UnixTime,
    ) -> StoreResult<TrustStamp> {
        let stamp = self.next_trust_list_applied(keys, first_use)?;
        self.committer.commit().await?;
        Ok(stamp)
    }

    async fn serve_trust_list(&self, sequence: Option<u64>, audit: AuditRecord) -> StoreResult<()> {
        let mut batch = Batch::default();
        if let Some(sequence) = sequence {
            batch.insert(layout::meta("trust-sequence"), layout::encode(&sequence));
        }
        self.apply_durably(batch, vec![audit]).await
    }

    async fn record(&self, audit: AuditRecord) -> StoreResult<()> {
        self.apply_durably(Batch::default(), vec![audit]).await
    }

    async fn audit_records(&self, from: u64, limit: usize) -> StoreResult<Vec<(u64, Vec<u8>)>> {
        self.db
            .range(layout::audit(from)..)
            .take_while(|entry| {
                entry
                    .as_ref()
                    .map_or(true, |(k, _)| k.starts_with(layout::AUDIT))
            })
            .take(limit)
            .map(|entry| {
                let (k, v) = entry.map_err(engine_error)?;
                let position = layout::audit_position(&k)
                    .ok_or_else(|| StoreError::Corrupt("an audit record's key".into()))?;
                Ok((position, v.to_vec()))
            })
            .collect()
    }

    async fn operator_changes(&self, limit: usize) -> StoreResult<Vec<(u64, Vec<u8>)>> {
        let mut changes = Vec::new();
        for entry in self
            .db
            .scan_prefix(layout::OPERATOR_CHANGE)
            .rev()
            .take(limit)
        {
            let (k, _) = entry.map_err(engine_error)?;
            let position = layout::operator_change_position(&k)
                .ok_or_else(|| StoreError::Corrupt("an operator change's key".into()))?;
            let record = self
                .db
                .get(layout::audit(position))
                .map_err(engine_error)?
                .ok_or_else(|| StoreError::Corrupt(format!("audit record {position} missing")))?;
            changes.push((position, record.to_vec()));
        }
        Ok(changes)
    }

    async fn add_subscription(
        &self,
        subscription: Subscription,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        self.add_subscription_applied(subscription, audit)?;
        self.committer.commit().await
    }

    async fn remove_subscription(&self, id: &str, audit: AuditRecord) -> StoreResult<bool> {
        let removed = self.remove_subscription_applied(id, audit)?;
        if removed {
            self.committer.commit().await?;
        }
        Ok(removed)
    }

    async fn subscriptions(&self) -> StoreResult<Vec<Subscription>> {
        Ok(self.subscriptions_now())
    }

    async fn claim_deliveries(
        &self,
        now: UnixTime,
        lease_until: UnixTime,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        self.claim_deliveries_now(now, lease_until, limit)
    }

    async fn finish_delivery(&self, key: DeliveryKey, outcome: DeliveryOutcome) -> StoreResult<()> {
        self.finish_delivery_applied(key, outcome)?;
        self.committer.commit().await
    }

    async fn dead_letters(
        &self,
        subscription: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        self.dead_letters_now(subscription, limit)
    }

    async fn replay(&self, replay: Replay, audit: AuditRecord) -> StoreResult<u64> {
        let replayed = self.replay_applied(replay, audit)?;
        self.committer.commit().await?;
        Ok(replayed)
    }

    async fn outbox_figures(&self) -> StoreResult<Vec<OutboxFigures>> {
        Ok(self.outbox_figures_now())
    }

    async fn note_expiring(
        &self,
        until: UnixTime,
        now: UnixTime,
        limit: usize,
    ) -> StoreResult<u64> {
        let (written, keys) = self.note_expiring_applied(until, now, limit)?;
        self.committer.commit().await?;
        self.outbox_durable(&keys);
        Ok(written)
    }

    fn healthy(&self) -> bool {
        self.committer.alive()
    }

    async fn close(&self) -> StoreResult<()> {
        let result = self.committer.commit().await;
        self.committer.stop();
        result
    }
}

/// Builds the `W/` index of operator changes once, for a database written before it
/// existed: the index and its marker go in one batch, so a crash before the next commit
/// only means building it again.
fn index_operator_changes(db: &sled::Db) -> StoreResult<()> {
    const MARKER: &str = layout::OPERATOR_CHANGES_INDEXED;
    if db
        .get(layout::meta(MARKER))
        .map_err(engine_error)?
        .is_some()
    {
        return Ok(());
    }
    /// The one member the index needs.
    #[derive(serde::Deserialize)]
    struct Action {
        action: String,
    }
    let mut batch = sled::Batch::default();
    for entry in db.scan_prefix(layout::AUDIT) {
        let (k, v) = entry.map_err(engine_error)?;
        let position = layout::audit_position(&k)
            .ok_or_else(|| StoreError::Corrupt("an audit record's key".into()))?;
        let record: Action = serde_json::from_slice(&v)
            .map_err(|e| StoreError::Corrupt(format!("audit record {position}: {e}")))?;
        if audit::is_operator_change(&record.action) {
            batch.insert(layout::operator_change(position), &[][..]);
        }
    }
    batch.insert(layout::meta(MARKER), &[1u8][..]);
    db.apply_batch(batch).map_err(engine_error)
}

/// Rewrites the `R/` keys of a database written before they led with the time an
/// application was made (ticket only, 16 bytes), so the waiting list reads oldest first.
/// Idempotent: the old keys are told apart by their length.
fn rekey_reviews(db: &sled::Db) -> StoreResult<()> {
    let mut batch = sled::Batch::default();
    for entry in db.scan_prefix(layout::REVIEW) {
        let (k, _) = entry.map_err(engine_error)?;
        if k.len() != layout::REVIEW.len() + 16 {
            continue;
        }
        let ticket = layout::ticket(&k[layout::REVIEW.len()..])?;
        let app: crate::domain::application::Application = db
            .get(layout::application(ticket))
            .map_err(engine_error)?
            .map(|v| layout::decode(&v, "application"))
            .transpose()?
            .ok_or_else(|| StoreError::Corrupt("an application waiting for review".into()))?;
        batch.remove(k);
        batch.insert(layout::review(app.created_at, ticket), &[][..]);
    }
    db.apply_batch(batch).map_err(engine_error)
}

impl Drop for SledStore {
    fn drop(&mut self) {
        self.committer.stop();
    }
}

#[cfg(test)]
mod conformance {
    //! The sled engine passes the conformance suite.

    use std::sync::Arc;

    use super::SledStore;
    use crate::store::Store;
    use crate::store::conformance::{Engine, conformance_tests};

    /// A sled store in a temporary directory, opened again on the same directory.
    struct SledEngine {
        dir: tempfile::TempDir,
        /// The store last opened, for injecting faults into its committer.
        last: std::sync::Mutex<Option<Arc<SledStore>>>,
    }

    impl SledEngine {
        fn new() -> SledEngine {
            SledEngine {
                dir: tempfile::tempdir().unwrap(),
                last: std::sync::Mutex::new(None),
            }
        }
    }

    impl Engine for SledEngine {
        fn open(&self) -> Arc<dyn Store> {
            let mut last = self.last.lock().unwrap();
            // The previous store (closed by the test) lets go of the database first.
            last.take();
            // sled's background flusher lets go of a closed database's lock a moment
            // after the last handle is dropped.
            let mut attempts = 0;
            let store = loop {
                match SledStore::open(self.dir.path(), None) {
                    Err(crate::store::StoreError::InUse(_)) if attempts < 500 => {
                        attempts += 1;
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    other => break Arc::new(other.unwrap()),
                }
            };
            *last = Some(store.clone());
            store
        }

        fn fail_next_commits(&self, _store: &Arc<dyn Store>, n: u32) -> bool {
            match self.last.lock().unwrap().as_ref() {
                Some(sled) => {
                    sled.committer.fail_next(n);
                    true
                }
                None => false,
            }
        }
    }

    conformance_tests!(SledEngine::new());
}
