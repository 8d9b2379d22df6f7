//! Prometheus metrics: requests and latency per route, verification latency, admission
//! decisions, queue depth and oldest age per lane, waits (actual, and against the quote),
//! drain rates, work in flight, the throttle settings in force, issuance and rejection
//! counts, signing and commit latency, live-status latency and its audit wait, the lookup
//! audit log's commits, notifications per subscription. Rendered in the text exposition format at `GET /metrics`.

pub(crate) mod histogram;
pub(crate) mod intake;
pub(crate) mod records;
pub(crate) mod tally;
pub(crate) mod trust;
pub(crate) mod webhooks;

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;

use histogram::Histogram;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::registry::Registry;

use crate::domain::queue::Lane;
use crate::domain::throttle::admission::{AdmissionSettings, LimitName, Mode, Verdict};
use crate::domain::throttle::settings::ThrottleSettings;
use crate::store::lookups::LookupObserver;
use crate::store::postgres::{PgObserver, Replication};
use crate::store::sled::CommitObserver;

/// Labels of a request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route pattern, e.g. `/v1/applications/{ticket}`.
    pub route: String,
    /// The method.
    pub method: String,
    /// The status code.
    pub status: u16,
}

/// Labels of a route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route pattern.
    pub route: String,
}

/// Labels of a lane.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LaneLabels {
    /// The lane.
    pub lane: String,
}

/// Labels of an application outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Why.
    pub reason: String,
}

/// Labels of an admission decision.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `client`, `licence`, `intake`, `queue`, or `overload` (issuance shed at once).
    pub limit: String,
    /// `admit`, `reject` or `would_reject`.
    pub decision: String,
    /// `shadow` or `enforce`.
    pub mode: String,
}

/// Labels of one limit.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    /// The limit.
    pub limit: String,
}

/// Labels of a throttle setting.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SettingLabels {
    /// Its name, as `edld throttle set` takes it.
    pub setting: String,
}

/// Labels of a quote's outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `held` (the actual wait fell in the quoted range), `early` or `late`.
    pub outcome: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 18))
}

/// Every metric the daemon exports.
pub struct Metrics {
    registry: Registry,
    /// Requests by route, method and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency by route.
    pub request_seconds: HistogramFamily<RouteLabels>,
    /// Applications accepted (202).
    pub applications_accepted: Counter,
    /// Applications rejected, by reason.
    pub applications_rejected: Family<ReasonLabels, Counter>,
    /// Credentials issued.
    pub credentials_issued: Counter,
    /// Credentials refreshed.
    pub credentials_refreshed: Counter,
    /// Queue depth per lane.
    pub queue_depth: Family<LaneLabels, Gauge>,
    /// Seconds to sign one credential.
    pub signing_seconds: Histogram,
    /// Seconds per durable commit.
    pub commit_seconds: Histogram,
    /// Acknowledgements per durable commit.
    pub commit_group_size: Histogram,
    /// Status list signings.
    pub status_lists_signed: Counter,
    /// Signed status receipts answered.
    pub receipts_signed: Counter,
    /// Latency of the verification routes (live status, status lists, trust list, JWKS).
    pub verification_seconds: HistogramFamily<RouteLabels>,
    /// The live-status route's series, found once.
    pub live_status: RouteSeries,
    /// Admission decisions by limit, decision and mode.
    pub admission_decisions: Family<DecisionLabels, Counter>,
    /// Refusals by shadow-mode limits (admitted anyway).
    pub would_reject: Family<LimitLabels, Counter>,
    /// Oldest waiting application per lane, seconds.
    pub queue_oldest_age: Family<LaneLabels, Gauge>,
    /// Applications accepted before the opening, not yet in order.
    pub queue_unordered: Gauge,
    /// Seconds from acceptance to issuance.
    pub wait_seconds: Histogram,
    /// Actual wait over the quoted midpoint.
    pub wait_quote_ratio: Histogram,
    /// Quotes by outcome.
    pub wait_quotes: Family<OutcomeLabels, Counter>,
    /// Measured drain rate (busy seconds of the last minute), per second.
    pub drain_rate_measured: FloatGauge,
    /// The drain rate set (0 while paused), per second.
    pub drain_rate_target: FloatGauge,
    /// Applications signed but not yet durable.
    pub in_flight: Gauge,
    /// Every numeric throttle setting in force.
    pub throttle_setting: Family<SettingLabels, FloatGauge>,
    /// Photo pre-checks, quoted waits and the review backlog.
    pub intake: intake::IntakeMetrics,
    /// Totals the operator console samples.
    pub tally: tally::Tally,
    /// The trust list, signing keys, status lists and held signing.
    pub trust: trust::TrustGauges,
    /// Notifications per subscription.
    pub webhooks: webhooks::WebhookMetrics,
    /// sled: the decoded records kept for lookups.
    pub records: records::RecordMetrics,
    /// Seconds per group commit of the lookup audit log.
    pub audit_commit_seconds: Histogram,
    /// Seconds a relying-party lookup waited for its audit record to be durable.
    pub lookup_audit_wait_seconds: Histogram,
    /// Seconds of a whole live-status lookup in the service (store read, audit, answer).
    pub lookup_seconds: Histogram,
    /// PostgreSQL: seconds per transaction (commit included).
    pub db_transaction_seconds: Histogram,
    /// PostgreSQL: queue entries a drain step found taken over by another node.
    pub db_claim_conflicts: Counter,
    /// PostgreSQL: connections by pool (`shared`, `lookups`) and state (`open`, `idle`,
    /// `max`).
    pub db_pool_connections: Family<PoolLabels, Gauge>,
    /// PostgreSQL: the worst standby's replay lag, seconds.
    pub db_replication_lag_seconds: FloatGauge,
    /// PostgreSQL: standbys of the primary by commit mode (`sync`, `async`). Empty on sled,
    /// so an alert on a missing synchronous standby never fires for a single box.
    pub db_standbys: Family<CommitLabels, Gauge>,
}

/// Labels of the standby gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommitLabels {
    /// `sync` (a commit waits for it) or `async`.
    pub commit: String,
}

/// Labels of the connection pool gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    /// `shared` (intake, the drain and the rest) or `lookups` (live status).
    pub pool: String,
    /// `open`, `idle` or `max`.
    pub state: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The series of one route that nearly every request adds to, found on first use and
/// kept: finding a labelled series takes the family's lock, hashes the labels and copies
/// their strings, on every request of the route that carries nearly all the traffic (live
/// status). The handles kept are the family's own series, so the exposition is the same.
#[derive(Default)]
pub struct RouteSeries {
    verification: OnceLock<Histogram>,
    /// `GET` answered 200: the request count and latency.
    ok: OnceLock<(Counter, Histogram)>,
}

impl RouteSeries {
    /// As [`Metrics::verified`], for this route.
    pub fn verified(&self, metrics: &Metrics, route: &str, seconds: f64) {
        self.verification
            .get_or_init(|| {
                metrics
                    .verification_seconds
                    .get_or_create(&RouteLabels {
                        route: route.to_owned(),
                    })
                    .clone()
            })
            .observe(seconds);
    }

    /// As [`Metrics::answered`], for this route.
    pub fn answered(
        &self,
        metrics: &Metrics,
        route: &str,
        method: &str,
        status: u16,
        seconds: f64,
    ) {
        if status != 200 || method != "GET" {
            return metrics.answered(route, method, status, seconds);
        }
        let (count, latency) = self.ok.get_or_init(|| {
            let count = metrics.requests.get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            });
            let latency = metrics.request_seconds.get_or_create(&RouteLabels {
                route: route.to_owned(),
            });
            (count.clone(), latency.clone())
        });
        count.inc();
        latency.observe(seconds);
    }
}

impl Metrics {
    /// Counts a request of `route` answered with `status`, and its latency.
    pub fn answered(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.request_seconds
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// The latency of a verification request of `route`.
    pub fn verified(&self, route: &str, seconds: f64) {
        self.verification_seconds
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("edld");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        let request_seconds: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            request_seconds.clone(),
        );
        let applications_accepted = Counter::default();
        registry.register(
            "applications_accepted",
            "Applications answered 202 once durable",
            applications_accepted.clone(),
        );
        let applications_rejected = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "applications_rejected",
            "Applications rejected, by reason",
            applications_rejected.clone(),
        );
        let credentials_issued = Counter::default();
        registry.register(
            "credentials_issued",
            "Credentials issued",
            credentials_issued.clone(),
        );
        let credentials_refreshed = Counter::default();
        registry.register(
            "credentials_refreshed",
            "Credentials re-signed with a new expiry",
            credentials_refreshed.clone(),
        );
        let queue_depth = Family::<LaneLabels, Gauge>::default();
        registry.register(
            "queue_depth",
            "Applications waiting, per lane",
            queue_depth.clone(),
        );
        let signing_seconds = latency_histogram();
        registry.register(
            "signing_duration_seconds",
            "Time to sign one credential",
            signing_seconds.clone(),
        );
        let commit_seconds = latency_histogram();
        registry.register(
            "commit_duration_seconds",
            "Time of one durable commit (flush and fsync)",
            commit_seconds.clone(),
        );
        let commit_group_size = Histogram::new(exponential_buckets(1.0, 2.0, 14));
        registry.register(
            "commit_group_size",
            "Acknowledgements made durable per commit",
            commit_group_size.clone(),
        );
        let status_lists_signed = Counter::default();
        registry.register(
            "status_lists_signed",
            "Status List Tokens signed",
            status_lists_signed.clone(),
        );
        let receipts_signed = Counter::default();
        registry.register(
            "receipts_signed",
            "Signed status receipts answered to relying parties",
            receipts_signed.clone(),
        );
        let verification_seconds: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "verification_duration_seconds",
            "Latency of live status, status lists, trust list and JWKS",
            verification_seconds.clone(),
        );
        let admission_decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "admission_decisions",
            "Admission decisions by limit, decision and mode",
            admission_decisions.clone(),
        );
        let would_reject = Family::<LimitLabels, Counter>::default();
        registry.register(
            "admission_would_reject",
            "Refusals computed by shadow-mode limits (admitted anyway)",
            would_reject.clone(),
        );
        let queue_oldest_age = Family::<LaneLabels, Gauge>::default();
        registry.register(
            "queue_oldest_age_seconds",
            "Age of the oldest waiting application, per lane",
            queue_oldest_age.clone(),
        );
        let queue_unordered = Gauge::default();
        registry.register(
            "queue_waiting_for_opening",
            "Applications accepted before the opening time, not yet in order",
            queue_unordered.clone(),
        );
        let wait_seconds = Histogram::new(exponential_buckets(1.0, 2.0, 18));
        registry.register(
            "wait_seconds",
            "Seconds from acceptance to issuance",
            wait_seconds.clone(),
        );
        let wait_quote_ratio = Histogram::new(exponential_buckets(0.125, 1.25, 25));
        registry.register(
            "wait_quote_ratio",
            "Actual wait over the midpoint of the wait quoted on acceptance",
            wait_quote_ratio.clone(),
        );
        let wait_quotes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "wait_quotes",
            "Quoted waits: held (actual within the range), early or late",
            wait_quotes.clone(),
        );
        let drain_rate_measured = FloatGauge::default();
        registry.register(
            "drain_rate_measured",
            "Measured drain rate over the busy seconds of the last minute, per second",
            drain_rate_measured.clone(),
        );
        let drain_rate_target = FloatGauge::default();
        registry.register(
            "drain_rate_target",
            "Drain rate set by the operators (0 while paused), per second",
            drain_rate_target.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "drain_in_flight",
            "Applications signed but not yet durable",
            in_flight.clone(),
        );
        let throttle_setting = Family::<SettingLabels, FloatGauge>::default();
        registry.register(
            "throttle_setting",
            "Throttle settings in force (modes: 0 off, 1 shadow, 2 enforce)",
            throttle_setting.clone(),
        );
        let db_transaction_seconds = latency_histogram();
        registry.register(
            "db_transaction_duration_seconds",
            "PostgreSQL engine: time of one transaction, commit included",
            db_transaction_seconds.clone(),
        );
        let db_claim_conflicts = Counter::default();
        registry.register(
            "db_claim_conflicts",
            "PostgreSQL engine: claimed queue entries another node took over before the step completed",
            db_claim_conflicts.clone(),
        );
        let db_pool_connections = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "PostgreSQL engine: connections open, idle and allowed, by pool (shared; lookups: live status)",
            db_pool_connections.clone(),
        );
        let db_replication_lag_seconds = FloatGauge::default();
        registry.register(
            "db_replication_lag_seconds",
            "PostgreSQL engine: the worst standby's replay lag behind the primary (pg_stat_replication), 0 without standbys",
            db_replication_lag_seconds.clone(),
        );
        let db_standbys = Family::<CommitLabels, Gauge>::default();
        registry.register(
            "db_standbys",
            "PostgreSQL engine: standbys streaming from the primary, by commit mode (sync: a commit waits for it; async)",
            db_standbys.clone(),
        );
        let audit_commit_seconds = latency_histogram();
        registry.register(
            "audit_commit_duration_seconds",
            "Time of one group commit of the lookup audit log (the fdatasync of the records written since the last)",
            audit_commit_seconds.clone(),
        );
        let lookup_audit_wait_seconds = latency_histogram();
        registry.register(
            "lookup_audit_wait_seconds",
            "Time a relying-party lookup waited for its audit record to be durable",
            lookup_audit_wait_seconds.clone(),
        );
        let lookup_seconds = latency_histogram();
        registry.register(
            "lookup_duration_seconds",
            "Time of a live-status lookup: store read, audit record made durable, answer",
            lookup_seconds.clone(),
        );
        let intake = intake::IntakeMetrics::register(&mut registry);
        let trust = trust::TrustGauges::register(&mut registry);
        let webhooks = webhooks::WebhookMetrics::register(&mut registry);
        let records = records::RecordMetrics::register(&mut registry);
        Metrics {
            registry,
            audit_commit_seconds,
            lookup_audit_wait_seconds,
            lookup_seconds,
            requests,
            request_seconds,
            applications_accepted,
            applications_rejected,
            credentials_issued,
            credentials_refreshed,
            queue_depth,
            signing_seconds,
            commit_seconds,
            commit_group_size,
            status_lists_signed,
            receipts_signed,
            verification_seconds,
            live_status: RouteSeries::default(),
            admission_decisions,
            would_reject,
            queue_oldest_age,
            queue_unordered,
            wait_seconds,
            wait_quote_ratio,
            wait_quotes,
            drain_rate_measured,
            drain_rate_target,
            in_flight,
            throttle_setting,
            db_transaction_seconds,
            db_claim_conflicts,
            db_pool_connections,
            db_replication_lag_seconds,
            db_standbys,
            intake,
            tally: tally::Tally::default(),
            trust,
            webhooks,
            records,
        }
    }

    /// The range quoted to an accepted application (its high end is observed).
    pub fn quoted(&self, low: u64, high: u64) {
        self.intake.wait_quoted.observe(high as f64);
        self.tally.quoted((low + high) / 2);
    }

    /// Counts one admission: every limit evaluated, with its decision and mode.
    pub fn admission(&self, verdict: &Verdict, settings: &AdmissionSettings) {
        let (refused, shadowed) = match verdict {
            Verdict::Admit { shadowed } => (None, shadowed),
            Verdict::Refuse { refusal, shadowed } => (Some(refusal.limit), shadowed),
        };
        self.tally.arrival(refused.map(LimitName::as_str));
        let modes = [
            (LimitName::Client, settings.client_mode),
            (LimitName::Licence, settings.licence_mode),
            (LimitName::Intake, settings.intake_mode),
            (LimitName::Queue, settings.queue_mode),
        ];
        for (limit, mode) in modes {
            if mode == Mode::Off {
                continue;
            }
            let decision = if refused == Some(limit) {
                "reject"
            } else if shadowed.iter().any(|r| r.limit == limit) {
                self.would_reject
                    .get_or_create(&LimitLabels {
                        limit: limit.as_str().to_owned(),
                    })
                    .inc();
                "would_reject"
            } else {
                "admit"
            };
            self.decision(limit.as_str(), decision, mode.as_str());
            if refused == Some(limit) {
                // Later limits were not evaluated.
                break;
            }
        }
    }

    /// Counts one admission decision.
    pub fn decision(&self, limit: &str, decision: &str, mode: &str) {
        if limit == "overload" {
            self.tally.arrival(Some(limit));
        }
        self.admission_decisions
            .get_or_create(&DecisionLabels {
                limit: limit.to_owned(),
                decision: decision.to_owned(),
                mode: mode.to_owned(),
            })
            .inc();
    }

    /// An application was issued after `waited` seconds; `quoted` is the range it was told.
    pub fn waited(&self, waited: u64, quoted: Option<(u64, u64)>) {
        self.wait_seconds.observe(waited as f64);
        self.tally.waited(waited);
        if let Some((low, high)) = quoted {
            let mid = (low + high) as f64 / 2.0;
            if mid > 0.0 {
                self.wait_quote_ratio.observe(waited as f64 / mid);
            }
            let outcome = if waited < low {
                "early"
            } else if waited > high {
                "late"
            } else {
                "held"
            };
            self.wait_quotes
                .get_or_create(&OutcomeLabels {
                    outcome: outcome.to_owned(),
                })
                .inc();
        }
    }

    /// Depth and oldest age of a lane.
    pub fn lane(&self, lane: Lane, depth: u64, oldest_age: u64) {
        let labels = LaneLabels {
            lane: lane.as_str().to_owned(),
        };
        self.queue_depth
            .get_or_create(&labels)
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
        self.queue_oldest_age
            .get_or_create(&labels)
            .set(i64::try_from(oldest_age).unwrap_or(i64::MAX));
    }

    /// The drain's gauges.
    pub fn drain(&self, in_flight: u64, unordered: u64, measured: Option<f64>, target: f64) {
        self.in_flight
            .set(i64::try_from(in_flight).unwrap_or(i64::MAX));
        self.queue_unordered
            .set(i64::try_from(unordered).unwrap_or(i64::MAX));
        self.drain_rate_measured.set(measured.unwrap_or(0.0));
        self.drain_rate_target.set(target);
    }

    /// Publishes the throttle settings in force.
    pub fn set_limits(&self, settings: &ThrottleSettings) {
        for (name, value) in settings.entries() {
            let number = match value.as_str() {
                "off" | "false" => Some(0.0),
                "shadow" | "true" => Some(1.0),
                "enforce" => Some(2.0),
                "none" => Some(0.0),
                v => v.parse::<f64>().ok(),
            };
            if let Some(number) = number {
                self.throttle_setting
                    .get_or_create(&SettingLabels {
                        setting: name.to_owned(),
                    })
                    .set(number);
            }
        }
    }

    /// Counts a rejected application.
    pub fn rejected(&self, reason: &str) {
        self.applications_rejected
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl CommitObserver for Metrics {
    fn committed(&self, waiters: usize, seconds: f64) {
        self.commit_seconds.observe(seconds);
        self.commit_group_size.observe(waiters as f64);
        self.tally.commit((seconds * 1e6) as u64);
    }
}

impl PgObserver for Metrics {
    fn transaction(&self, seconds: f64) {
        self.db_transaction_seconds.observe(seconds);
    }

    fn claim_conflicts(&self, n: u64) {
        self.db_claim_conflicts.inc_by(n);
    }

    fn pool(&self, pool: &'static str, open: usize, idle: usize, max: usize) {
        for (state, n) in [("open", open), ("idle", idle), ("max", max)] {
            self.db_pool_connections
                .get_or_create(&PoolLabels {
                    pool: pool.to_owned(),
                    state: state.to_owned(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    fn replication(&self, replication: Replication) {
        self.db_replication_lag_seconds.set(replication.lag_seconds);
        let asynchronous = replication.standbys.saturating_sub(replication.synchronous);
        for (commit, n) in [("sync", replication.synchronous), ("async", asynchronous)] {
            self.db_standbys
                .get_or_create(&CommitLabels {
                    commit: commit.to_owned(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}

impl LookupObserver for Metrics {
    fn committed(&self, _records: usize, seconds: f64) {
        self.audit_commit_seconds.observe(seconds);
        self.tally.audit_commit((seconds * 1e6) as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The series a route keeps are the families' own: answers counted through them and
    /// through the families show as one series.
    #[test]
    fn kept_series_are_the_families_own() {
        let metrics = Metrics::new();
        let route = "/v1/credentials/{id}/status";
        metrics
            .live_status
            .answered(&metrics, route, "GET", 200, 0.001);
        metrics
            .live_status
            .answered(&metrics, route, "GET", 200, 0.001);
        metrics.answered(route, "GET", 200, 0.001);
        metrics
            .live_status
            .answered(&metrics, route, "GET", 404, 0.001);
        metrics.live_status.verified(&metrics, route, 0.001);
        metrics.verified(route, 0.001);
        let text = metrics.render();
        let mut counts: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("edld_http_requests_total{"))
            .collect();
        counts.sort_unstable();
        assert_eq!(
            counts,
            [
                format!(
                    r#"edld_http_requests_total{{route="{route}",method="GET",status="200"}} 3"#
                ),
                format!(
                    r#"edld_http_requests_total{{route="{route}",method="GET",status="404"}} 1"#
                ),
            ],
            "{text}"
        );
        assert!(text.contains(&format!(
            r#"edld_http_request_duration_seconds_count{{route="{route}"}} 4"#
        )));
        assert!(text.contains(&format!(
            r#"edld_verification_duration_seconds_count{{route="{route}"}} 2"#
        )));
    }
}
