//! What operators tune and watch: the throttles (admission, pacing, lanes, wait
//! estimates) changed live, audited and durable before they are in force; the queue's
//! figures; the gauges refreshed before a metrics scrape.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::{Clock, GovernorClock};
use crate::config::Config;
use crate::domain::access::Caller;
use crate::domain::audit::AuditRecord;
use crate::domain::queue::Lane;
use crate::domain::throttle::admission::{Refusal, Verdict};
use crate::domain::throttle::control::Throttle;
use crate::domain::throttle::estimate::WaitEstimate;
use crate::domain::throttle::settings::{ChangeError, Moved, Setting, ThrottleSettings};
use crate::service::Service;
use crate::store::{NodeState, Store, StoreError};

/// The throttle in force, behind a mutex held only for O(1) arithmetic.
pub struct Throttles {
    throttle: Mutex<Throttle<GovernorClock>>,
    /// The settings operators set for the whole cluster, and how many nodes share them
    /// (the throttle runs on this node's share; see `ThrottleSettings::share`).
    cluster: Mutex<(ThrottleSettings, u64)>,
    clock: Arc<dyn Clock>,
    /// Serializes operator changes: each is audited with the settings it replaced.
    change: tokio::sync::Mutex<()>,
}

/// Which settings were in force at start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SettingsSource {
    /// The configuration file's `[throttle]` tables (or the built-in defaults): operators
    /// never changed the settings.
    Configuration,
    /// The settings operators stored: once changed live, they win over the file, so a
    /// restart never undoes a change made during a rush.
    Stored,
}

impl Throttles {
    /// The throttle at start: the stored settings if operators ever changed them, else the
    /// configuration's. Which one wins is logged, with the file's settings it overrides.
    pub async fn restore(
        config: &Config,
        store: &dyn Store,
        clock: Arc<dyn Clock>,
    ) -> Result<Throttles, StoreError> {
        let stored = store.throttle_settings().await?;
        let (settings, source) = match stored {
            Some(s) => (s, SettingsSource::Stored),
            None => (config.throttle, SettingsSource::Configuration),
        };
        match source {
            SettingsSource::Stored => {
                let overridden: Vec<&str> = settings
                    .moved_from(&config.throttle)
                    .iter()
                    .map(|m| m.name)
                    .collect();
                tracing::info!(
                    source = "stored",
                    overrides_configuration = overridden.join(" "),
                    "throttle settings: the ones operators stored win over the configuration file (see `edld throttle show`)"
                );
            }
            SettingsSource::Configuration => tracing::info!(
                source = "configuration",
                "throttle settings: from the configuration (operators have not changed them)"
            ),
        }
        let mut throttle = Throttle::new(settings, GovernorClock(clock.clone()), clock.monotonic());
        throttle.set_step_cap(config.issuance_batch as u64);
        Ok(Throttles {
            throttle: Mutex::new(throttle),
            cluster: Mutex::new((settings, 1)),
            clock,
            change: tokio::sync::Mutex::new(()),
        })
    }

    /// The throttle, for the drain's arithmetic (held briefly).
    pub fn lock(&self) -> MutexGuard<'_, Throttle<GovernorClock>> {
        self.throttle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Monotonic time, as the throttle counts it.
    pub fn now(&self) -> Duration {
        self.clock.monotonic()
    }

    /// The settings in force for the whole cluster (on one node, the node's own).
    pub fn settings(&self) -> ThrottleSettings {
        self.cluster.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    /// How many nodes share the settings now.
    pub fn nodes(&self) -> u64 {
        self.cluster.lock().unwrap_or_else(|p| p.into_inner()).1
    }

    /// Puts `settings` in force for the cluster, this node running its share of `nodes`.
    pub fn apply(&self, settings: ThrottleSettings, nodes: u64) {
        let nodes = nodes.max(1);
        *self.cluster.lock().unwrap_or_else(|p| p.into_inner()) = (settings, nodes);
        let now = self.now();
        self.lock().retune(now, settings.share(nodes));
    }

    /// Admission's verdict on an application by `client` for `licence` joining `lane`,
    /// with `backlog` waiting; and the settings it was decided by.
    pub fn admit(
        &self,
        client: &str,
        licence: &str,
        lane: Lane,
        backlog: &[u64; 3],
    ) -> (Verdict, ThrottleSettings) {
        let now = self.now();
        let mut throttle = self.lock();
        let verdict = throttle.admit(now, client, licence, lane, backlog);
        (verdict, throttle.settings())
    }

    /// Gives back what an admitted application by `client` for `licence` counted against
    /// the per-client and per-licence limits: the store failed, so it was never accepted.
    pub fn refund(&self, client: &str, licence: &str, shadowed: &[Refusal]) {
        self.lock().refund(client, licence, shadowed);
    }

    /// The wait quoted for `position` in `lane` with `depths` waiting.
    pub fn quote(&self, lane: Lane, position: u64, depths: &[u64; 3]) -> WaitEstimate {
        let now = self.now();
        self.lock().estimate(now, lane, position, depths)
    }
}

/// Why a throttle change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ThrottleError {
    /// A setting or value that is not allowed.
    #[error(transparent)]
    Invalid(#[from] ChangeError),
    /// The store failed: the change is not in force.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A throttle change made.
#[derive(Clone, Debug)]
pub struct ThrottleChanged {
    /// The settings now in force.
    pub settings: ThrottleSettings,
    /// What moved (empty: nothing changed).
    pub moved: Vec<Moved>,
}

/// The queue as operators see it.
#[derive(Clone, Debug)]
pub struct QueueReport {
    /// Waiting, in order or not.
    pub depth: u64,
    /// Accepted before the opening, not yet in order.
    pub waiting_for_opening: u64,
    /// Per lane: depth and measured drain rate.
    pub lanes: [(Lane, u64, Option<f64>); 3],
    /// Measured drain rate.
    pub drain_rate: Option<f64>,
    /// Whether draining is paused.
    pub paused: bool,
    /// Why signing is held back, if it is.
    pub signing_held: Vec<String>,
    /// Signed, not yet durable.
    pub in_flight: u64,
    /// Credentials issued since start.
    pub issued: u64,
    /// Applications accepted since start.
    pub accepted: u64,
}

impl Service {
    /// Applies operator changes to the throttle: checked, stored with an audit record of
    /// who, when, old and new, durable, then in force (the drain woken).
    pub async fn change_throttle(
        &self,
        caller: &Caller,
        changes: &[Setting],
    ) -> Result<ThrottleChanged, ThrottleError> {
        let _serial = self.throttles.change.lock().await;
        let old = self.throttles.settings();
        let mut new = old;
        for setting in changes {
            new = new.with(*setting)?;
        }
        let moved = new.moved_from(&old);
        if moved.is_empty() {
            return Ok(ThrottleChanged {
                settings: new,
                moved,
            });
        }
        let detail: serde_json::Map<String, serde_json::Value> = moved
            .iter()
            .map(|m| {
                (
                    m.name.to_owned(),
                    serde_json::json!({"old": m.old, "new": m.new}),
                )
            })
            .collect();
        let detail = serde_json::Value::Object(detail).to_string();
        let audit = AuditRecord::change(caller, self.now(), "throttle.set", None, Some(&detail));
        self.store.change_throttle(new, audit).await?;
        self.throttles.apply(new, self.throttles.nodes());
        self.metrics.set_limits(&new);
        self.signer.wake();
        tracing::info!(client = %caller.client, changes = %detail, "throttle changed");
        Ok(ThrottleChanged {
            settings: new,
            moved,
        })
    }

    /// Follows the other nodes on a shared store: the throttle settings another node
    /// stored (when `changed`), and this node's share of them as nodes come and go.
    pub async fn follow_cluster(&self, changed: bool) {
        let _serial = self.throttles.change.lock().await;
        let nodes = self.store.live_nodes();
        let mut settings = self.throttles.settings();
        if changed {
            match self.store.throttle_settings().await {
                Ok(Some(stored)) => settings = stored,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "reading the throttle settings another node stored")
                }
            }
        }
        if nodes == self.throttles.nodes() && settings == self.throttles.settings() {
            return;
        }
        tracing::info!(
            nodes,
            "throttle: this node runs its share of the cluster's settings"
        );
        self.throttles.apply(settings, nodes);
        self.metrics.set_limits(&settings);
        self.signer.wake();
    }

    /// The queue now, for operators.
    pub fn queue_report(&self) -> QueueReport {
        let figures = self.store.queue();
        let now = self.throttles.now();
        let throttle = self.throttles.lock();
        let lanes = Lane::ALL.map(|l| (l, figures.depth[l.index()], throttle.lane_rate(now, l)));
        let report = QueueReport {
            depth: figures.total(),
            waiting_for_opening: figures.unordered_total(),
            lanes,
            drain_rate: throttle.measured_rate(now),
            paused: throttle.is_paused(),
            signing_held: Vec::new(),
            in_flight: self.signer.in_flight(),
            issued: self.metrics.credentials_issued.get(),
            accepted: self.metrics.applications_accepted.get(),
        };
        drop(throttle);
        QueueReport {
            signing_held: self.signing_held(),
            ..report
        }
    }

    /// What this node publishes of itself to the nodes sharing its store, and what the
    /// console's node table shows of it: version, start, store, health, queue, drain (its
    /// share of the cluster's target, and measured), pause and why signing is held.
    pub fn node_figures(&self) -> serde_json::Value {
        let queue = self.queue_report();
        let share = {
            let throttle = self.throttles.lock();
            if throttle.is_paused() {
                0.0
            } else {
                throttle.settings().drain.rate
            }
        };
        serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "started_at": self.started_at,
            "store": self.store.readiness()["engine"].clone(),
            "healthy": self.store.healthy(),
            "queue_depth": queue.depth,
            "in_flight": queue.in_flight,
            "drain_rate_target": share,
            "drain_rate_measured": queue.drain_rate,
            "paused": queue.paused,
            "signing_held": queue.signing_held,
        })
    }

    /// Every node serving this state, this one with its figures now, the others with
    /// what they last published; `false` beside them when the store could not be asked
    /// (then only this node is listed).
    pub async fn nodes(&self) -> (Vec<serde_json::Value>, bool) {
        let here = self.node_figures();
        let row = |name: &str, this: bool, state: NodeState, silent_for: Option<f64>, figures| {
            let mut row = serde_json::json!({
                "name": name,
                "this": this,
                "state": state.as_str(),
                "silent_for": silent_for,
            });
            if let (Some(row), serde_json::Value::Object(figures)) = (row.as_object_mut(), figures)
            {
                row.extend(figures);
            }
            row
        };
        match self.store.nodes().await {
            Ok(reports) if !reports.is_empty() => {
                let rows = reports
                    .into_iter()
                    .map(|r| {
                        let figures = if r.this { here.clone() } else { r.figures };
                        row(&r.name, r.this, r.state, r.silent_for, figures)
                    })
                    .collect();
                (rows, true)
            }
            Ok(_) => (
                vec![row("local", true, NodeState::Live, Some(0.0), here)],
                true,
            ),
            Err(e) => {
                tracing::warn!(error = %e, "listing the nodes sharing the store");
                (
                    vec![row("local", true, NodeState::Live, Some(0.0), here)],
                    false,
                )
            }
        }
    }

    /// Updates the gauges (before a metrics scrape): depth and oldest age per lane, the
    /// engine's kept records, work in flight, measured and target drain rates.
    pub async fn refresh_gauges(&self) {
        let now = self.now();
        let figures = self.store.queue();
        let oldest = self.store.oldest_queued().await.unwrap_or_default();
        for lane in Lane::ALL {
            let age = oldest[lane.index()].map_or(0, |t| now.0.saturating_sub(t.0));
            self.metrics.lane(lane, figures.depth[lane.index()], age);
        }
        self.metrics.records.set(&self.store.kept_records());
        let mono = self.throttles.now();
        let throttle = self.throttles.lock();
        self.metrics.drain(
            self.signer.in_flight(),
            figures.unordered_total(),
            throttle.measured_rate(mono),
            if throttle.is_paused() {
                0.0
            } else {
                throttle.settings().drain.rate
            },
        );
    }
}
