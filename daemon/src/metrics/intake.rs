//! What intake and review add to the metrics: the photo pre-checks' outcomes, the wait
//! quoted in each 202, and the review backlog the alert on the one-working-day promise
//! watches.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::exponential_buckets;

use crate::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::OutcomeLabels;

/// The metrics.
pub struct IntakeMetrics {
    /// Uploaded photos by pre-check outcome (`pass`, `review`, `refuse`).
    pub photo_prechecks: Family<OutcomeLabels, Counter>,
    /// High end of the wait range quoted in each 202 that quotes one, seconds.
    pub wait_quoted: Histogram,
    /// Applications waiting for a reviewer.
    pub reviews_waiting: Gauge,
    /// Age of the oldest of those, seconds.
    pub reviews_oldest_age: Gauge,
    /// Admitted applications the store then failed, whose per-client and per-licence
    /// counts were given back.
    pub admissions_refunded: Counter,
}

impl IntakeMetrics {
    /// Registers the metrics in `registry`.
    pub(crate) fn register(registry: &mut Registry) -> IntakeMetrics {
        let m = IntakeMetrics {
            photo_prechecks: Family::default(),
            // The buckets of `edld_wait_seconds`.
            wait_quoted: Histogram::new(exponential_buckets(1.0, 2.0, 18)),
            reviews_waiting: Gauge::default(),
            reviews_oldest_age: Gauge::default(),
            admissions_refunded: Counter::default(),
        };
        registry.register(
            "photo_prechecks",
            "Uploaded photos by pre-check outcome: pass, review (borderline) or refuse (422)",
            m.photo_prechecks.clone(),
        );
        registry.register(
            "wait_quoted_seconds",
            "High end of the wait range quoted in each 202 that quotes a range",
            m.wait_quoted.clone(),
        );
        registry.register(
            "reviews_waiting",
            "Applications waiting for a reviewer's decision on an uploaded photo",
            m.reviews_waiting.clone(),
        );
        registry.register(
            "reviews_oldest_age_seconds",
            "Age of the oldest application waiting for review (0 when none)",
            m.reviews_oldest_age.clone(),
        );
        registry.register(
            "admissions_refunded",
            "Admitted applications the store failed to accept (answered 503), whose per-client \
             and per-licence counts were given back",
            m.admissions_refunded.clone(),
        );
        m
    }

    /// Counts one admitted application the store failed, its limits given back.
    pub fn refunded(&self) {
        self.admissions_refunded.inc();
    }

    /// The review backlog: how many wait and the oldest's age.
    pub fn reviews(&self, waiting: u64, oldest_age: u64) {
        self.reviews_waiting
            .set(i64::try_from(waiting).unwrap_or(i64::MAX));
        self.reviews_oldest_age
            .set(i64::try_from(oldest_age).unwrap_or(i64::MAX));
    }

    /// Counts one uploaded photo's pre-check outcome.
    pub fn photo_outcome(&self, outcome: &str) {
        self.photo_prechecks
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }
}
