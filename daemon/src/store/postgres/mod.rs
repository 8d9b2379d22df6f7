//! The PostgreSQL engine: the daemon's state in one PostgreSQL database that several edld
//! nodes share. Every command is one transaction, acknowledged when its `COMMIT` returns
//! (with `synchronous_commit = on`, durable on the primary and its synchronous standbys).
//!
//! tokio-postgres with a deadpool pool: it is async (no thread per connection), needs no
//! database at compile time (sqlx's checked queries do), pipelines the statements of a
//! transaction that do not depend on each other, and caches prepared statements per
//! connection, so a drain step is a handful of round trips however many rows it writes.
//!
//! **Invariants the database enforces** (see `migrations/`): one open application per
//! licence (a partial unique index), one credential per application and per status list
//! index (unique constraints), status list indices never handed out twice
//! (`status_indices`), one gap-free audit chain (its head row is locked by every
//! transaction that appends).
//!
//! **Concurrency.** A command that reads and then writes one licence's records locks the
//! licence's row first (`SELECT … FOR UPDATE`), as the sled engine takes the licence's
//! stripe. The drain claims queue rows with `FOR UPDATE SKIP LOCKED`, stamping them with
//! this store's instance id and a lease; a completion writes only the rows it still holds,
//! so a credential is written once even when a node dies between signing and commit (its
//! lease lapses and another node signs again; the first signature is never stored).
//!
//! The trait's few synchronous figures (queue counters, status list room) are kept in
//! memory beside the database and updated by this store's own commands, as the sled engine
//! does.

mod audit;
mod drain;
mod import;
mod intake;
mod lookups;
mod meta;
mod nodes;
mod outbox;
mod registry;
pub(crate) mod schema;
mod sql;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use keys::UnixTime;
use keys::licence::LicenceNumber;
use rand_core::{OsRng, RngCore};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

pub(crate) use self::import::PgImport;
use self::lookups::Lookups;
pub(crate) use self::nodes::Replication;
use self::nodes::{beat, listen, replication};
use self::sql::pool_error;
pub(crate) use self::sql::{
    Abort, Tx, all_ok, attempts, col, credential_key, db_error, decode, encode, execute,
    is_retryable, optional_record, query, record, records, ticket, transaction,
};
use crate::clock::Clock;
use crate::config::PostgresConfig;
use crate::domain::access::ApiClient;
use crate::domain::application::{Application, Ticket};
use crate::domain::audit::AuditRecord;
use crate::domain::issue::CredentialRecord;
use crate::domain::queue::Lanes;
use crate::domain::registry::LicenceRecord;
use crate::domain::status_index::Allocator;
use crate::domain::throttle::settings::ThrottleSettings;
use crate::store::{
    Admit, AdmitError, Admitted, Allocations, ChangeError, Claim, ClientConflict, Completed,
    CompletedStep, DecideError, Delivery, DeliveryKey, DeliveryOutcome, KeptRecords, LicenceChange,
    LicenceChanged, LookedUp, NodeReport, OutboxFigures, QueueFigures, Refresh, RefreshConflict,
    Replay, ReviewDecision, StatusChanges, StatusCursor, StatusEntry, Store, StoreError,
    StoreResult, StoredClient, Subscription, TrustStamp,
};

/// What the PostgreSQL engine reports as it works (the daemon's metrics).
pub(crate) trait PgObserver: Send + Sync + 'static {
    /// A transaction committed (or failed) after `seconds`.
    fn transaction(&self, seconds: f64);
    /// A claim found `n` queue rows held by another node's step (skipped).
    fn claim_conflicts(&self, n: u64);
    /// A pool now (`shared`: intake, the drain and the rest; `lookups`: live-status
    /// lookups): connections open and idle, and its bound.
    fn pool(&self, pool: &'static str, open: usize, idle: usize, max: usize);
    /// The primary's replication, as last read.
    fn replication(&self, replication: Replication);
}

/// How transactions are timed and reported (offline tools do without).
#[derive(Clone)]
pub(crate) struct PgTiming {
    /// The monotonic clock transactions are timed by.
    pub clock: Arc<dyn Clock>,
    /// Who hears of each transaction.
    pub observer: Arc<dyn PgObserver>,
}

/// How long a drain step's claim holds its queue rows before another node may take them
/// (a node that died mid-step).
pub(crate) const CLAIM_LEASE_SECONDS: i64 = 30;

/// The PostgreSQL engine.
pub(crate) struct PgStore {
    pool: Pool,
    /// This store's claim stamp: queue rows it claimed carry it.
    instance: [u8; 16],
    /// Queue counters, for positions (see `domain::queue`).
    lanes: Lanes,
    /// Status list indices this node knows to be taken; the database decides.
    allocator: Mutex<Allocator>,
    /// Claimed queue rows given back (`release_claim`), claimable again by this store at
    /// once: the database still shows them as ours until their lease lapses.
    released: Mutex<HashSet<Ticket>>,
    /// Whether the last statement reached the database.
    reachable: Arc<AtomicBool>,
    closed: AtomicBool,
    /// Commits to fail on purpose (tests of acknowledgement).
    failing: AtomicU32,
    timing: Option<PgTiming>,
    /// This node's name in `nodes`.
    node: String,
    /// Nodes with a recent heartbeat, this one included.
    live: Arc<AtomicU64>,
    /// The primary's replication as last read (`None`: not read yet, or unreadable).
    replication: Arc<Mutex<Option<Replication>>>,
    /// What this node publishes with its heartbeat ([`Store::publish`]).
    figures: Arc<Mutex<serde_json::Value>>,
    /// Bumped when a node changes the throttle settings (`LISTEN edl_throttle`).
    throttle: tokio::sync::watch::Receiver<u64>,
    /// The tasks that beat the heartbeat and listen for changes.
    watcher: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Live-status lookups, coalesced into few statements.
    lookups: Lookups,
}

/// The figures this node last published, copied out of their lock for the heartbeat.
fn published(figures: &Mutex<serde_json::Value>) -> serde_json::Value {
    figures.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

impl PgStore {
    /// Connects to the database, checks that its schema is this edld's (applying the
    /// migrations first when `migrate`), and restores the queue's counters and the status
    /// list indices taken.
    pub(crate) async fn open(
        settings: &PostgresConfig,
        migrate: bool,
        timing: Option<PgTiming>,
    ) -> StoreResult<PgStore> {
        let pool = pool(settings)?;
        {
            let mut client = pool.get().await.map_err(pool_error)?;
            if migrate {
                schema::migrate(&mut client).await?;
            }
            schema::check(&client).await?;
            import::unfinished_copy(&client).await?;
        }
        let mut instance = [0u8; 16];
        OsRng.fill_bytes(&mut instance);
        let client = pool.get().await.map_err(pool_error)?;
        let lanes = drain::restore_lanes(&client).await?;
        let allocator = drain::restore_allocator(&client).await?;
        drop(client);
        let reachable = Arc::new(AtomicBool::new(true));
        let (throttle_tx, throttle) = tokio::sync::watch::channel(0u64);
        // Live-status lookups have connections of their own: under an issuance flood the
        // shared pool is busy with intake and the drain, and a lookup must not wait for it.
        let lookups = Lookups::start(sized_pool(settings, lookups::IN_FLIGHT)?, reachable.clone());
        let store = PgStore {
            pool,
            instance,
            lanes,
            allocator: Mutex::new(allocator),
            released: Mutex::new(HashSet::new()),
            reachable,
            closed: AtomicBool::new(false),
            failing: AtomicU32::new(0),
            timing,
            node: settings.node.clone(),
            live: Arc::new(AtomicU64::new(1)),
            replication: Arc::new(Mutex::new(None)),
            figures: Arc::new(Mutex::new(serde_json::json!({}))),
            throttle,
            watcher: Mutex::new(Vec::new()),
            lookups,
        };
        store.heartbeat().await?;
        let read = replication(&store.pool).await.ok();
        *store.replication.lock().unwrap_or_else(|p| p.into_inner()) = read;
        if let (Some(t), Some(read)) = (&store.timing, read) {
            t.observer.replication(read);
        }
        store.watch();
        if let Ok(config) = connection_config(settings) {
            let task = tokio::spawn(listen(config, throttle_tx));
            store.tasks().push(task);
        }
        Ok(store)
    }

    /// Writes this node's heartbeat and counts the live nodes.
    async fn heartbeat(&self) -> StoreResult<()> {
        let figures = published(&self.figures);
        let live = beat(&self.pool, &self.node, &self.instance, &figures).await?;
        self.live.store(live, Ordering::SeqCst);
        Ok(())
    }

    fn tasks(&self) -> MutexGuard<'_, Vec<tokio::task::JoinHandle<()>>> {
        self.watcher.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every second: the heartbeat, which also tells whether the database answers
    /// (readiness) and how many nodes are live; the primary's replication (readiness and
    /// metrics); and how full the pool is (metrics).
    fn watch(&self) {
        let (pool, reachable, timing) = (
            self.pool.clone(),
            self.reachable.clone(),
            self.timing.clone(),
        );
        let (node, instance, live) = (self.node.clone(), self.instance, self.live.clone());
        let figures = self.figures.clone();
        let replicated = self.replication.clone();
        let lookup_pool = self.lookups.pool().clone();
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(1));
            loop {
                ticker.tick().await;
                let published = published(&figures);
                let ok = match beat(&pool, &node, &instance, &published).await {
                    Ok(n) => {
                        live.store(n, Ordering::SeqCst);
                        true
                    }
                    Err(_) => false,
                };
                reachable.store(ok, Ordering::SeqCst);
                let read = match ok {
                    true => replication(&pool).await.ok(),
                    false => None,
                };
                *replicated.lock().unwrap_or_else(|p| p.into_inner()) = read;
                if let (Some(t), Some(read)) = (&timing, read) {
                    t.observer.replication(read);
                }
                if let Some(t) = &timing {
                    for (name, pool) in [("shared", &pool), ("lookups", &lookup_pool)] {
                        let status = pool.status();
                        t.observer
                            .pool(name, status.size, status.available, status.max_size);
                    }
                }
            }
        });
        self.tasks().push(task);
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Stopped);
        }
        match self.pool.get().await {
            Ok(c) => Ok(c),
            Err(e) => {
                self.reachable.store(false, Ordering::SeqCst);
                Err(pool_error(e))
            }
        }
    }

    /// Records a failed statement (a closed connection means the database is gone).
    pub(crate) fn failed(&self, e: tokio_postgres::Error) -> StoreError {
        if e.is_closed() {
            self.reachable.store(false, Ordering::SeqCst);
        }
        db_error(e)
    }

    /// Commits `tx`: the command is acknowledged only when this returns `Ok`.
    pub(crate) async fn commit(&self, tx: Tx<'_>) -> StoreResult<()> {
        let fail = self
            .failing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            let _ = tx.rollback().await;
            return Err(StoreError::Io("commit failed (injected)".into()));
        }
        tx.commit().await.map_err(|e| self.failed(e))
    }

    /// Makes the next `n` commits fail (tests).
    #[cfg(test)]
    pub(crate) fn fail_next(&self, n: u32) {
        self.failing.store(n, Ordering::SeqCst);
    }

    fn started(&self) -> Option<Duration> {
        self.timing.as_ref().map(|t| t.clock.monotonic())
    }

    fn finished(&self, started: Option<Duration>) {
        if let (Some(t), Some(started)) = (&self.timing, started) {
            let seconds = t.clock.monotonic().saturating_sub(started).as_secs_f64();
            t.observer.transaction(seconds);
        }
    }

    pub(crate) fn released(&self) -> MutexGuard<'_, HashSet<Ticket>> {
        self.released.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn allocator(&self) -> MutexGuard<'_, Allocator> {
        self.allocator.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One read outside a transaction.
    pub(crate) async fn read(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Vec<Row>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(sql)
            .await
            .map_err(|e| self.failed(e))?;
        client
            .query(&statement, params)
            .await
            .map_err(|e| self.failed(e))
    }

    async fn stored_credential(&self, id: &str) -> StoreResult<Option<CredentialRecord>> {
        let Some(key) = credential_key(id) else {
            return Ok(None);
        };
        let rows = self
            .read("SELECT record FROM credentials WHERE id = $1", &[&key])
            .await?;
        rows.first().map(|r| record(r, 0, "credential")).transpose()
    }
}

/// Applies the schema's migrations to the database `settings` names: the version before
/// and after.
pub(crate) async fn migrate(settings: &PostgresConfig) -> StoreResult<(i32, i32)> {
    let pool = pool(settings)?;
    let mut client = pool.get().await.map_err(pool_error)?;
    let migrated = schema::migrate(&mut client).await?;
    Ok((migrated.from, migrated.to))
}

/// How long one host may take to accept a connection before the next host of a multi-host
/// URL is tried (libpq's `connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long data sent on a connection may stay unacknowledged before the kernel drops the
/// connection (`TCP_USER_TIMEOUT`): a primary that vanished without a reset (a dead machine,
/// a cut network) is noticed in seconds, not after the kernel's retransmissions (≈ 15 min).
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(5);

/// TCP keepalives on an idle connection (a pooled one, the `LISTEN` one): the first probe
/// after this long idle, then one every [`KEEPALIVE_INTERVAL`], [`KEEPALIVE_RETRIES`] times.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(2);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
const KEEPALIVE_RETRIES: u32 = 3;

/// How long a command waits for a pooled connection, or for a new one to be made, before
/// it fails (and the request is answered 503 with Retry-After).
const POOL_TIMEOUT: Duration = Duration::from_secs(5);

/// Every statement edld sends touches a few hundred rows at most, through indexes; the
/// planner's costs of a drain step's statements (estimates of a licence's credentials
/// taken from a young table) were at times above `jit_above_cost`, and LLVM then spent
/// ≈ 14 ms compiling the claim's read of a 1 ms step, every step.
const NO_JIT: &str = "-c jit=off";

/// The connection settings of `settings`' URL, with the timeouts, keepalives and JIT
/// setting above wherever the URL names none of its own.
fn connection_config(settings: &PostgresConfig) -> StoreResult<tokio_postgres::Config> {
    let mut config: tokio_postgres::Config = settings
        .url
        .parse()
        .map_err(|e| StoreError::Engine(format!("the store URL: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
    }
    // tokio-postgres's defaults (libpq's) wait two hours before the first probe.
    if config.get_keepalives() && config.get_keepalives_idle() == Duration::from_secs(7200) {
        config.keepalives_idle(KEEPALIVE_IDLE);
    }
    if config.get_keepalives_interval().is_none() {
        config.keepalives_interval(KEEPALIVE_INTERVAL);
    }
    if config.get_keepalives_retries().is_none() {
        config.keepalives_retries(KEEPALIVE_RETRIES);
    }
    // Unless the URL says otherwise, the session runs without JIT compilation.
    let options = config.get_options().unwrap_or_default();
    if !options.contains("jit") {
        let options = format!("{options} {NO_JIT}");
        config.options(options.trim());
    }
    Ok(config)
}

/// The pool for `settings`.
fn pool(settings: &PostgresConfig) -> StoreResult<Pool> {
    sized_pool(settings, settings.pool_size.max(2))
}

/// A pool of at most `max_size` connections to `settings`' database.
fn sized_pool(settings: &PostgresConfig, max_size: usize) -> StoreResult<Pool> {
    let config = connection_config(settings)?;
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(max_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_TIMEOUT))
        .create_timeout(Some(POOL_TIMEOUT))
        .recycle_timeout(Some(POOL_TIMEOUT))
        .build()
        .map_err(|e| StoreError::Engine(format!("the connection pool: {e}")))
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn licence(&self, number: &LicenceNumber) -> StoreResult<Option<LicenceRecord>> {
        let rows = self
            .read(
                "SELECT record FROM licences WHERE number = $1",
                &[&number.as_str()],
            )
            .await?;
        rows.first().map(|r| record(r, 0, "licence")).transpose()
    }

    async fn change_licence(&self, change: LicenceChange) -> Result<LicenceChanged, ChangeError> {
        self.change_licence_tx(change).await
    }

    async fn change_licences(
        &self,
        changes: Vec<LicenceChange>,
    ) -> StoreResult<Vec<Result<LicenceChanged, ChangeError>>> {
        self.change_licences_tx(changes).await
    }

    async fn credentials_of(&self, number: &LicenceNumber) -> StoreResult<Vec<CredentialRecord>> {
        let rows = self
            .read(
                "SELECT record FROM credentials WHERE licence = $1 ORDER BY created DESC",
                &[&number.as_str()],
            )
            .await?;
        rows.iter().map(|r| record(r, 0, "credential")).collect()
    }

    async fn admit(&self, admit: Admit<'_>) -> Result<Admitted, AdmitError> {
        self.admit_tx(&admit).await
    }

    async fn application(&self, ticket: Ticket) -> StoreResult<Option<Application>> {
        let rows = self
            .read(
                "SELECT record FROM applications WHERE ticket = $1",
                &[&&ticket.0[..]],
            )
            .await?;
        rows.first()
            .map(|r| record(r, 0, "application"))
            .transpose()
    }

    async fn reviews(&self, limit: usize) -> StoreResult<Vec<Application>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .read(
                "SELECT record FROM applications WHERE reviewing \
                 ORDER BY created_at, created LIMIT $1",
                &[&limit],
            )
            .await?;
        rows.iter().map(|r| record(r, 0, "application")).collect()
    }

    async fn decide_review(&self, decision: ReviewDecision) -> Result<Application, DecideError> {
        self.decide_tx(decision).await
    }

    async fn order_opening(&self, limit: usize) -> StoreResult<u64> {
        self.order_opening_tx(limit).await
    }

    async fn claim_step(&self, take: [u64; 3]) -> StoreResult<Claim> {
        self.claim(take).await
    }

    async fn complete_step(&self, step: CompletedStep) -> StoreResult<Completed> {
        self.complete_tx(step).await
    }

    fn release_claim(&self, tickets: &[Ticket]) {
        self.released().extend(tickets.iter().copied());
    }

    async fn credential(&self, id: &str) -> StoreResult<Option<CredentialRecord>> {
        self.stored_credential(id).await
    }

    async fn lookup(&self, id: &str) -> StoreResult<Option<LookedUp>> {
        let Some(key) = credential_key(id) else {
            return Ok(None);
        };
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Stopped);
        }
        self.lookups.lookup(key).await
    }

    fn kept_records(&self) -> Vec<KeptRecords> {
        // Other nodes change the rows: nothing is kept.
        Vec::new()
    }

    async fn refresh_credential(&self, refresh: Refresh) -> Result<(), RefreshConflict> {
        self.refresh_tx(refresh).await
    }

    async fn status_entries(&self) -> StoreResult<Vec<StatusEntry>> {
        registry::status_entries(self).await
    }

    async fn allocate_indices(&self, n: usize, max_lists: u32) -> StoreResult<Allocations> {
        self.allocate(n, max_lists).await
    }

    fn index_room(&self, max_lists: u32) -> u64 {
        self.allocator().room(max_lists)
    }

    fn list_count(&self) -> u32 {
        self.allocator().count()
    }

    async fn status_changes(
        &self,
        since: Option<StatusCursor>,
    ) -> StoreResult<Option<StatusChanges>> {
        registry::status_changes(self, since).await.map(Some)
    }

    fn queue(&self) -> QueueFigures {
        self.lanes.figures()
    }

    async fn oldest_queued(&self) -> StoreResult<[Option<UnixTime>; 3]> {
        self.oldest().await
    }

    async fn throttle_settings(&self) -> StoreResult<Option<ThrottleSettings>> {
        self.meta_value("throttle", "throttle settings").await
    }

    async fn change_throttle(
        &self,
        settings: ThrottleSettings,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        self.change_throttle_tx(settings, audit).await
    }

    async fn clients(&self) -> StoreResult<Vec<StoredClient>> {
        self.stored_clients().await
    }

    async fn add_clients(
        &self,
        clients: Vec<StoredClient>,
        audit: Vec<AuditRecord>,
    ) -> Result<(), ClientConflict> {
        self.add_clients_tx(clients, audit).await
    }

    async fn update_client(
        &self,
        client: ApiClient,
        audit: AuditRecord,
    ) -> Result<(), ClientConflict> {
        self.update_client_tx(client, audit).await
    }

    async fn revoke_client(
        &self,
        name: &str,
        audit: AuditRecord,
    ) -> Result<ApiClient, ClientConflict> {
        self.revoke_client_tx(name, audit).await
    }

    async fn trust_sequence(&self) -> StoreResult<Option<u64>> {
        self.meta_value("trust-sequence", "trust list sequence")
            .await
    }

    async fn next_trust_list(
        &self,
        keys: &[String],
        first_use: UnixTime,
    ) -> StoreResult<TrustStamp> {
        self.next_trust_list_tx(keys, first_use).await
    }

    async fn serve_trust_list(&self, sequence: Option<u64>, audit: AuditRecord) -> StoreResult<()> {
        self.serve_trust_list_tx(sequence, audit).await
    }

    async fn record(&self, audit: AuditRecord) -> StoreResult<()> {
        transaction!(self, StoreError, |tx| {
            audit::append(&tx, vec![audit.clone()]).await?;
            Ok(())
        })
    }

    async fn audit_records(&self, from: u64, limit: usize) -> StoreResult<Vec<(u64, Vec<u8>)>> {
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .read(
                "SELECT position, record FROM audit WHERE position >= $1 \
                 ORDER BY position LIMIT $2",
                &[&from, &limit],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((col::<i64>(r, 0)? as u64, col::<Vec<u8>>(r, 1)?)))
            .collect()
    }

    async fn operator_changes(&self, limit: usize) -> StoreResult<Vec<(u64, Vec<u8>)>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .read(
                "SELECT position, record FROM audit WHERE operator \
                 ORDER BY position DESC LIMIT $1",
                &[&limit],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((col::<i64>(r, 0)? as u64, col::<Vec<u8>>(r, 1)?)))
            .collect()
    }

    async fn add_subscription(
        &self,
        subscription: Subscription,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        self.add_subscription_tx(subscription, audit).await
    }

    async fn remove_subscription(&self, id: &str, audit: AuditRecord) -> StoreResult<bool> {
        self.remove_subscription_tx(id, audit).await
    }

    async fn subscriptions(&self) -> StoreResult<Vec<Subscription>> {
        self.subscriptions_now().await
    }

    async fn claim_deliveries(
        &self,
        now: UnixTime,
        lease_until: UnixTime,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        self.claim_deliveries_tx(now, lease_until, limit).await
    }

    async fn finish_delivery(&self, key: DeliveryKey, outcome: DeliveryOutcome) -> StoreResult<()> {
        self.finish_delivery_tx(key, outcome).await
    }

    async fn dead_letters(
        &self,
        subscription: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        self.dead_letters_now(subscription, limit).await
    }

    async fn replay(&self, replay: Replay, audit: AuditRecord) -> StoreResult<u64> {
        self.replay_tx(replay, audit).await
    }

    async fn outbox_figures(&self) -> StoreResult<Vec<OutboxFigures>> {
        self.outbox_figures_now().await
    }

    async fn note_expiring(
        &self,
        until: UnixTime,
        now: UnixTime,
        limit: usize,
    ) -> StoreResult<u64> {
        self.note_expiring_tx(until, now, limit).await
    }

    fn healthy(&self) -> bool {
        !self.closed.load(Ordering::SeqCst) && self.reachable.load(Ordering::SeqCst)
    }

    fn readiness(&self) -> serde_json::Value {
        // A store only opens on a database whose schema is this edld's (`schema::check`).
        let replication = *self.replication.lock().unwrap_or_else(|p| p.into_inner());
        serde_json::json!({
            "engine": "postgres",
            "reachable": self.healthy(),
            "schema_version": schema::VERSION,
            "replication": replication.map(|r| r.json()),
        })
    }

    fn live_nodes(&self) -> u64 {
        self.live.load(Ordering::SeqCst).max(1)
    }

    fn publish(&self, figures: serde_json::Value) {
        *self.figures.lock().unwrap_or_else(|p| p.into_inner()) = figures;
    }

    async fn nodes(&self) -> StoreResult<Vec<NodeReport>> {
        nodes::list(&self.pool, &self.instance).await
    }

    fn throttle_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.throttle.clone())
    }

    async fn close(&self) -> StoreResult<()> {
        for task in self.tasks().drain(..) {
            task.abort();
        }
        // The node leaves at once: the others take its share of the drain.
        let _ = nodes::leave(&self.pool, &self.node, &self.instance).await;
        self.closed.store(true, Ordering::SeqCst);
        self.pool.close();
        Ok(())
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        for task in self.tasks().drain(..) {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests;
