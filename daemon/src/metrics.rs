//! Prometheus metrics: requests and latency per route, queue depth, issuance and
//! rejection counts, signing and commit latency. Rendered in the text exposition format
//! at `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::store::CommitObserver;

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
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
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
        Metrics {
            registry,
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
    }
}
