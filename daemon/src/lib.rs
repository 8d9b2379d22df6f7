//! edld, the issuance daemon: licence registry, application intake through a durable
//! queue, signing, live status, status lists and the trust list.
//!
//! `main.rs` parses arguments, loads a [`Config`], binds the listeners and calls [`run`];
//! tests call [`run`] in-process with `127.0.0.1:0` listeners and a [`ManualClock`].
//!
//! Layers (ARCHITECTURE.md draws them): `domain` (pure rules and arithmetic: no IO, no
//! clock, no runtime), `store` (the `Store` interface of domain commands and its
//! engines), `service` (the operations, one file per job), and the edges: `http` (route
//! tables, layers, handlers, problem+json, the TLS server) and `cli` (edld's commands).
//! Beside them: `config`, `clock`, `keyfiles`, `metrics`, `systemd`; `testing` is the
//! test harness's doorway to the inner layers.
//!
//! **Isolation.** Verification (live status, status lists, trust list, JWKS) is served by
//! the runtime `run` is called on. Issuance requests run on a separate one-worker runtime
//! behind a bound on requests in progress, signing runs on the drain thread, and the
//! store's group committer runs on the issuance runtime; relying-party lookups are audited
//! through their own log and its own group commit. Under saturation issuance is shed (503)
//! before verification waits.

pub mod cli;
pub(crate) mod clock;
pub mod config;
pub(crate) mod domain;
pub(crate) mod http;
pub(crate) mod keyfiles;
pub(crate) mod metrics;
pub(crate) mod priority;
pub(crate) mod service;
pub(crate) mod store;
pub(crate) mod systemd;
pub mod testing;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use clock::{Clock, ManualClock};
pub use config::Config;

use crate::config::{KeySource, StoreConfig};
use crate::http::server::stopped;
use crate::http::session::Desk;
use crate::http::state::AppState;
use crate::metrics::Metrics;
use crate::service::Service;
use crate::store::Store;
use crate::store::postgres::{PgStore, PgTiming};
use crate::store::sled::{CommitTiming, SledStore};

/// The bound listeners `run` serves on.
pub struct Listeners {
    /// The public API.
    pub public: TcpListener,
    /// The admin API (loopback).
    pub admin: TcpListener,
}

impl Listeners {
    /// Binds the configured addresses.
    pub async fn bind(config: &Config) -> anyhow::Result<Listeners> {
        let public = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding the public listener on {}", config.listen))?;
        let admin = TcpListener::bind(config.admin_listen)
            .await
            .with_context(|| format!("binding the admin listener on {}", config.admin_listen))?;
        Ok(Listeners { public, admin })
    }

    /// The bound public address.
    pub fn public_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.public.local_addr()?)
    }
}

/// Runs the daemon until `shutdown` completes, then stops accepting, finishes in-flight
/// requests and queued signing steps, makes everything durable and returns.
pub async fn run(
    config: Config,
    listeners: Listeners,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let public_addr = listeners.public.local_addr()?;
    let admin_addr = listeners.admin.local_addr()?;
    let base_url = config.base_url(public_addr);
    let tls = match &config.tls {
        Some(files) => Some(http::server::tls(files)?),
        None => None,
    };
    let (keys, reports) = keyfiles::load(&config.keys, &config.data_dir)?;
    for r in &reports {
        tracing::info!(
            key_use = r.key_use.as_str(),
            key_id = %r.key_id,
            path = %r.path.display(),
            created = r.created,
            "signing key"
        );
    }
    let metrics = Arc::new(Metrics::new());
    let store = open_store(&config, &clock, &metrics).await?;
    let service = Service::open(
        &config,
        keys,
        clock.clone(),
        base_url.clone(),
        metrics,
        store.clone(),
    )
    .await?;
    if config.dev_clients && config.keys == KeySource::Development {
        let (data_dir, url) = (config.data_dir.clone(), base_url.clone());
        tokio::task::spawn_blocking(move || {
            service::clients::write_dev_verify_config(&data_dir, &url)
        })
        .await?
        .context("writing the development verifier configuration")?;
    }
    let service = Arc::new(service);
    let issuance = IssuanceRuntime(Some(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("edld-issuance")
            .on_thread_start(priority::yield_cpu_to_verification)
            .enable_all()
            .build()
            .context("starting the issuance runtime")?,
    ));
    let issuance_handle = issuance.handle();

    // The drain worker: a dedicated thread, so signing never occupies the threads that
    // serve live status.
    let drain = {
        let service = service.clone();
        let runtime = issuance_handle.clone();
        std::thread::Builder::new()
            .name("edld-drain".into())
            .spawn(move || service::signing::run(&service, &runtime))
            .context("starting the drain thread")?
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let signer = tokio::spawn(status_signer(
        service.clone(),
        config.status_resign_every,
        config.status_coalesce,
        stop_rx.clone(),
    ));
    let trust = tokio::spawn(trust_signer(service.clone(), stop_rx.clone()));
    let cluster = tokio::spawn(cluster_follower(service.clone(), stop_rx.clone()));
    let statuses = tokio::spawn(status_follower(service.clone(), stop_rx.clone()));
    let sampler = tokio::spawn(history_sampler(service.clone(), stop_rx.clone()));
    // Notifications go out from the issuance runtime, never beside live status.
    service.notifier.listening_on(vec![public_addr, admin_addr]);
    let notifications =
        issuance_handle.spawn(service::webhooks::run(service.clone(), stop_rx.clone()));

    let (public_routes, admin_routes) = (http::routes::public(), http::routes::admin());
    let issuance_serving = http::server::IssuanceServing {
        runtime: issuance_handle.clone(),
        routes: Arc::new(http::first_request::IssuanceRoutes::of(&public_routes)),
    };
    let state = AppState::new(http::state::Shared {
        service: service.clone(),
        issuance: issuance_handle,
        intake: Arc::new(tokio::sync::Semaphore::new(ISSUANCE_IN_PROGRESS)),
        documents: http::router::documents(&public_routes, &admin_routes),
        sessions: http::session::Sessions::default(),
        public_tls: tls.is_some(),
    });
    let public_limits = http::state::Limits {
        // A photo in base64 plus the JSON around it.
        body_bytes: config.max_photo_bytes * 4 / 3 + 64 * 1024,
        body_timeout: config.body_timeout,
        header_bytes: config.max_header_bytes,
    };
    let admin_limits = http::state::Limits {
        body_bytes: 64 * 1024,
        ..public_limits
    };
    let public_router =
        http::router::router(public_routes, state.clone(), public_limits, Desk::Review);
    let admin_router =
        http::router::router(admin_routes, state.clone(), admin_limits, Desk::Console);
    let serving = http::server::ServeOptions {
        tls: None,
        header_timeout: config.header_timeout,
        handshake_timeout: config.handshake_timeout,
        write_timeout: config.write_timeout,
        issuance: None,
        threads: 0,
        live: None,
    };
    let public = tokio::spawn(http::server::serve(
        listeners.public,
        public_router,
        http::server::ServeOptions {
            tls,
            issuance: Some(issuance_serving),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            live: Some(http::live::LiveStatus {
                state: state.clone(),
                limits: public_limits,
            }),
            ..serving.clone()
        },
        stop_rx.clone(),
    ));
    let mut watchdog_stop = stop_rx.clone();
    let admin = tokio::spawn(http::server::serve(
        listeners.admin,
        admin_router,
        serving,
        stop_rx,
    ));
    // systemd's watchdog is pinged from the async runtime while the store can still make
    // writes durable: a wedged runtime or a dead committer gets restarted.
    let healthy = store.clone();
    let watchdog = tokio::spawn(systemd::watchdog(move || healthy.healthy(), async move {
        let _ = watchdog_stop.wait_for(|stopped| *stopped).await;
    }));
    tracing::info!(
        public = %public_addr,
        admin = %admin_addr,
        base_url = %base_url,
        tls = config.tls.is_some(),
        client_certificates = config.tls.as_ref().is_some_and(|t| t.clients.is_some()),
        "edld ready"
    );
    systemd::ready();

    shutdown.await;
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    systemd::stopping();
    let _ = stop_tx.send(true);
    let _ = watchdog.await;
    let _ = public.await;
    let _ = admin.await;
    service.signer.stop();
    let drain_done = tokio::task::spawn_blocking(move || drain.join()).await;
    if !matches!(drain_done, Ok(Ok(()))) {
        tracing::error!("the drain thread ended abnormally");
    }
    let _ = signer.await;
    let _ = trust.await;
    let _ = cluster.await;
    let _ = statuses.await;
    let _ = sampler.await;
    let _ = notifications.await;
    // The last commit: everything applied so far is durable before we return.
    store.close().await.context("closing the store")?;
    let lookups = service.clone();
    let _ = tokio::task::spawn_blocking(move || {
        lookups.lookups.stop();
        issuance.shutdown(Duration::from_secs(5));
    })
    .await;
    tracing::info!("stopped");
    Ok(())
}

/// Opens the configured store: sled in the data directory, or PostgreSQL.
async fn open_store(
    config: &Config,
    clock: &Arc<dyn Clock>,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Arc<dyn Store>> {
    match &config.store {
        StoreConfig::Sled(sled) => {
            let data_dir = config.data_dir.clone();
            let timing = CommitTiming {
                clock: clock.clone(),
                observer: metrics.clone(),
            };
            let record_cache = sled.record_cache_mib << 20;
            let store = tokio::task::spawn_blocking(move || {
                SledStore::open_keeping(&data_dir, Some(timing), record_cache)
            })
            .await
            .context("opening the store")?
            .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
            Ok(Arc::new(store))
        }
        StoreConfig::Postgres(pg) => {
            let timing = PgTiming {
                clock: clock.clone(),
                observer: metrics.clone(),
            };
            let store = PgStore::open(pg, pg.migrate, Some(timing))
                .await
                .context("opening the PostgreSQL store")?;
            tracing::info!(node = %pg.node, "state on PostgreSQL");
            Ok(Arc::new(store))
        }
    }
}

/// The issuance runtime. A runtime may only be dropped where blocking is allowed: when
/// `run` is cancelled (dropped) instead of stopped, this lets it go in the background.
struct IssuanceRuntime(Option<tokio::runtime::Runtime>);

impl IssuanceRuntime {
    fn handle(&self) -> tokio::runtime::Handle {
        match &self.0 {
            Some(rt) => rt.handle().clone(),
            // Only `shutdown` and `drop` take the runtime, and both consume `self`.
            None => tokio::runtime::Handle::current(),
        }
    }

    /// Waits up to `timeout` for its tasks (blocking).
    fn shutdown(mut self, timeout: Duration) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_timeout(timeout);
        }
    }
}

impl Drop for IssuanceRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Issuance requests in progress at once; more are shed with 503 before any work.
const ISSUANCE_IN_PROGRESS: usize = 512;

async fn status_signer(
    service: Arc<Service>,
    every: Duration,
    coalesce: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = ticker.tick() => {
                let s = service.clone();
                let _ = tokio::task::spawn_blocking(move || s.sign_status_lists(true)).await;
            }
            () = service.status_lists.changed() => {
                // Collect further changes for a moment, then sign once.
                tokio::time::sleep(coalesce).await;
                let s = service.clone();
                let _ = tokio::task::spawn_blocking(move || s.sign_status_lists(false)).await;
            }
        }
    }
}

/// On a store several nodes share: every second this node's share of the throttle as nodes
/// come and go, and at once the settings another node changed (within a second); and what
/// this node publishes of itself to the others (its next heartbeat carries it).
async fn cluster_follower(service: Arc<Service>, mut stop: watch::Receiver<bool>) {
    let mut changes = service.store.throttle_changes();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        let changed = tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = ticker.tick() => false,
            Ok(()) = async {
                match &mut changes {
                    Some(rx) => rx.changed().await,
                    None => std::future::pending().await,
                }
            } => true,
        };
        service.follow_cluster(changed).await;
        service.store.publish(service.node_figures());
    }
}

/// How often a node reads the status changes other nodes made.
const STATUS_FOLLOW_EVERY: Duration = Duration::from_millis(500);

/// On a store several nodes write: keeps this node's status lists in step with every
/// node's changes (see [`Service::follow_status_changes`]). Ends at once on a store only
/// this process writes.
async fn status_follower(service: Arc<Service>, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(STATUS_FOLLOW_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut cursor = None;
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = ticker.tick() => {}
        }
        match service.follow_status_changes(cursor).await {
            Ok(None) => return,
            Ok(Some(next)) => cursor = next,
            Err(e) => tracing::warn!(error = %e, "reading other nodes' status changes"),
        }
    }
}

async fn trust_signer(service: Arc<Service>, mut stop: watch::Receiver<bool>) {
    if service.trust.is_offline() {
        return trust_reloader(service, stop).await;
    }
    loop {
        // Re-sign well before next_update, or at once when a status list opened.
        let now = service.clock.now();
        let next_update = service.trust_list().next_update;
        let wait = Duration::from_secs(next_update.since(now) / 2).max(Duration::from_secs(1));
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(wait) => {}
            _ = service.trust.changed.notified() => {}
        }
        match service.resign_trust_list().await {
            Ok(()) => tracing::info!(
                sequence = service.trust_list().sequence,
                "trust list signed"
            ),
            Err(e) => tracing::error!(error = %e, "signing the trust list failed"),
        }
    }
}

/// Takes one point of the operator console's history a second until the stop.
async fn history_sampler(service: Arc<Service>, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = ticker.tick() => {}
        }
        service.sample_history().await;
    }
}

/// How often the file of a trust list signed offline is read again for a newer list.
const TRUST_LIST_POLL: Duration = Duration::from_secs(2);

/// With an offline root: serves a newer trust list once its file changes, checked every
/// [`TRUST_LIST_POLL`] and at once on SIGHUP. A list that does not verify is refused and
/// the one served stays.
async fn trust_reloader(service: Arc<Service>, mut stop: watch::Receiver<bool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup()).ok();
    let mut ticker = tokio::time::interval(TRUST_LIST_POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = ticker.tick() => {}
            Some(()) = async {
                match &mut hangup {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => tracing::info!("SIGHUP: reading the trust list again"),
        }
        if let Err(e) = service.load_trust_list(false).await {
            tracing::error!(
                error = format!("{e:#}"),
                "refused the new trust list; still serving the old one"
            );
        }
    }
}
