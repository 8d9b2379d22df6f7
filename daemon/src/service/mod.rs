//! The daemon's operations over its state, one file per operation: `intake`
//! (applications), `review`, `signing` (the drain that issues credentials), `refresh`,
//! `licences` (the registry), `lookup` (live status), `trust` (the trust list),
//! `status_lists`, `operators` (throttles, API clients, gauges), `webhooks` (subscriptions
//! and the delivery loop; `delivery` sends one). HTTP handlers and the CLI
//! call these; the decisions are the pure functions of `domain`, and the state is behind
//! the [`Store`] interface.
//!
//! Each operation returns its own error type; `http::problem` turns them into answers.

pub(crate) mod audit;
pub(crate) mod checks;
pub(crate) mod clients;
pub(crate) mod delivery;
pub(crate) mod history;
pub(crate) mod intake;
pub(crate) mod licences;
pub(crate) mod lookup;
pub(crate) mod operators;
pub(crate) mod receipt;
pub(crate) mod refresh;
pub(crate) mod review;
pub(crate) mod signing;
pub(crate) mod status_lists;
pub(crate) mod trust;
pub(crate) mod webhooks;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use keys::UnixTime;

use self::operators::Throttles;
use self::signing::Signer;
use self::status_lists::StatusLists;
use self::trust::TrustState;
use crate::clock::Clock;
use crate::config::Config;
use crate::keyfiles::KeySet;
use crate::metrics::Metrics;
use crate::service::clients::ApiClients;
use crate::store::Store;
use crate::store::lookups::LookupLog;

/// Settings the operations need, from the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `iss`.
    pub issuer: String,
    /// Credential lifetime cap.
    pub credential_lifetime: u64,
    /// Largest photo.
    pub max_photo_bytes: usize,
    /// Status list `ttl`.
    pub status_ttl: u64,
    /// Status list validity.
    pub status_validity: u64,
    /// Signing key validity.
    pub key_validity: u64,
    /// Trust list validity.
    pub trust_list_validity: u64,
    /// Where uploaded photos are kept.
    pub photos_dir: PathBuf,
    /// The bounds of the photo pre-checks at intake.
    pub photo: crate::domain::photo::Thresholds,
}

/// The daemon's state and operations.
pub struct Service {
    /// The durable state.
    pub store: Arc<dyn Store>,
    /// API clients, for authenticating every request without a store read.
    pub clients: ApiClients,
    /// The durable log of relying-party lookups (its own group commit, never behind the
    /// store's).
    pub lookups: LookupLog,
    /// Admission, pacing, lanes and wait estimates, tuned live by operators.
    pub throttles: Throttles,
    /// The status lists' values and their signed tokens.
    pub status_lists: StatusLists,
    /// The trust list served and whether the signing keys may sign.
    pub trust: TrustState,
    /// The drain: what it has in flight, and its wake-up.
    pub signer: Signer,
    /// Counters, gauges and histograms for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Wall and monotonic time.
    pub clock: Arc<dyn Clock>,
    /// From the configuration.
    pub settings: Settings,
    /// The console's last minutes and hours, in memory.
    pub history: history::History,
    /// When this process started serving (Unix seconds), for the console's node list.
    pub started_at: UnixTime,
    /// Notifications: subscriptions and the delivery loop's state.
    pub notifier: webhooks::Notifier,
}

impl Service {
    /// The service over `store`: restores the API clients, the throttle settings, the
    /// status lists and the trust list; creates the development clients on a first start
    /// with `dev_clients`.
    pub async fn open(
        config: &Config,
        keys: KeySet,
        clock: Arc<dyn Clock>,
        base_url: String,
        metrics: Arc<Metrics>,
        store: Arc<dyn Store>,
    ) -> anyhow::Result<Service> {
        let photos_dir = config.data_dir.join("photos");
        std::fs::create_dir_all(&photos_dir)
            .with_context(|| format!("creating {}", photos_dir.display()))?;
        let clients = ApiClients::new(store.clients().await?);
        let lookups = LookupLog::open_with(
            &config.data_dir.join("audit"),
            clock.clone(),
            crate::store::lookups::SEGMENT_BYTES,
            Some(metrics.clone()),
        )?;
        let throttles = Throttles::restore(config, store.as_ref(), clock.clone()).await?;
        metrics.set_limits(&throttles.settings());
        let status_lists =
            StatusLists::restore(base_url, store.status_entries().await?, store.list_count());
        let settings = Settings {
            issuer: config.issuer.clone(),
            credential_lifetime: config.credential_lifetime,
            max_photo_bytes: config.max_photo_bytes,
            status_ttl: config.status_ttl,
            status_validity: config.status_validity,
            key_validity: config.key_validity,
            trust_list_validity: config.trust_list_validity,
            photos_dir,
            photo: config.photo.clone(),
        };
        let service = Service {
            store,
            clients,
            lookups,
            throttles,
            status_lists,
            trust: TrustState::new(keys),
            signer: Signer::new(),
            metrics,
            started_at: clock.now(),
            clock,
            settings,
            history: history::History::default(),
            notifier: webhooks::Notifier::new(&config.webhooks)?,
        };
        if service.clients.is_empty() && config.dev_clients {
            service.create_dev_clients(&config.data_dir).await?;
        }
        if service.trust.is_offline() {
            service.load_trust_list(true).await?;
        } else {
            service.resign_trust_list().await?;
        }
        service.sign_status_lists(true);
        Ok(service)
    }

    /// The wall clock now.
    fn now(&self) -> UnixTime {
        self.clock.now()
    }
}
