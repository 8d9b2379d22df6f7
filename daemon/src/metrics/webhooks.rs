//! Notification metrics per subscription: events written for it (the store's durable
//! count), deliveries acknowledged, retried and dead-lettered, the time from an event to
//! its acknowledgement and of each attempt, and what is still owed: pending, dead letters,
//! the oldest undelivered event's age. The counters of outcomes are this node's; the
//! figures read from the store before each scrape are the whole cluster's.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use keys::UnixTime;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::exponential_buckets;

use crate::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::store::OutboxFigures;

/// Labels of a subscription.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SubscriptionLabels {
    /// The subscription's id.
    pub subscription: String,
}

/// Labels of a delivery attempt's outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    /// The subscription's id.
    pub subscription: String,
    /// `delivered`, `retried` or `dead`.
    pub outcome: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn delivery_histogram() -> Histogram {
    // 1 s (the events' time resolution) to about 9 hours.
    Histogram::new(exponential_buckets(1.0, 2.0, 16))
}

fn attempt_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_5, 2.0, 16))
}

/// The metrics.
pub struct WebhookMetrics {
    /// Events written for each subscription (from the store).
    pub written: Family<SubscriptionLabels, Counter>,
    /// Attempts by outcome.
    pub attempts: Family<AttemptLabels, Counter>,
    /// Seconds from the event to its acknowledgement.
    pub delivery_seconds: HistogramFamily<SubscriptionLabels>,
    /// Seconds of one attempt (resolve, connect, TLS, answer).
    pub attempt_seconds: HistogramFamily<SubscriptionLabels>,
    /// Deliveries owed, dead letters excluded.
    pub pending: Family<SubscriptionLabels, Gauge>,
    /// Dead letters.
    pub dead_letters: Family<SubscriptionLabels, Gauge>,
    /// Age of the oldest undelivered event, seconds (0 when none).
    pub oldest_undelivered: Family<SubscriptionLabels, Gauge<f64, AtomicU64>>,
    /// The store's `written` last seen, per subscription (the counter follows it).
    seen: Mutex<HashMap<String, u64>>,
}

impl WebhookMetrics {
    /// Registers the metrics in `registry`.
    pub(crate) fn register(registry: &mut Registry) -> WebhookMetrics {
        let m = WebhookMetrics {
            written: Family::default(),
            attempts: Family::default(),
            delivery_seconds: Family::new_with_constructor(delivery_histogram),
            attempt_seconds: Family::new_with_constructor(attempt_histogram),
            pending: Family::default(),
            dead_letters: Family::default(),
            oldest_undelivered: Family::default(),
            seen: Mutex::new(HashMap::new()),
        };
        registry.register(
            "webhook_events_written",
            "Events written to the outbox for each subscription",
            m.written.clone(),
        );
        registry.register(
            "webhook_attempts",
            "Webhook delivery attempts by outcome (delivered, retried, dead)",
            m.attempts.clone(),
        );
        registry.register(
            "webhook_delivery_seconds",
            "Time from an event to the subscriber's acknowledgement",
            m.delivery_seconds.clone(),
        );
        registry.register(
            "webhook_attempt_seconds",
            "Time of one delivery attempt: resolve, connect, TLS, request and answer",
            m.attempt_seconds.clone(),
        );
        registry.register(
            "webhook_pending",
            "Deliveries owed to each subscription (dead letters excluded)",
            m.pending.clone(),
        );
        registry.register(
            "webhook_dead_letters",
            "Deliveries given up after the retry horizon, waiting for a replay",
            m.dead_letters.clone(),
        );
        registry.register(
            "webhook_oldest_undelivered_seconds",
            "Age of the oldest event still owed to each subscription",
            m.oldest_undelivered.clone(),
        );
        m
    }

    fn labels(subscription: &str) -> SubscriptionLabels {
        SubscriptionLabels {
            subscription: subscription.to_owned(),
        }
    }

    fn outcome(&self, subscription: &str, outcome: &str) {
        self.attempts
            .get_or_create(&AttemptLabels {
                subscription: subscription.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// One attempt took `took`.
    pub fn attempt(&self, subscription: &str, took: Duration) {
        self.attempt_seconds
            .get_or_create(&Self::labels(subscription))
            .observe(took.as_secs_f64());
    }

    /// Acknowledged `seconds` after its event.
    pub fn delivered(&self, subscription: &str, seconds: u64) {
        self.outcome(subscription, "delivered");
        self.delivery_seconds
            .get_or_create(&Self::labels(subscription))
            .observe(seconds as f64);
    }

    /// Failed; tried again later.
    pub fn retried(&self, subscription: &str) {
        self.outcome(subscription, "retried");
    }

    /// Failed past the horizon.
    pub fn dead(&self, subscription: &str) {
        self.outcome(subscription, "dead");
    }

    /// Sets the gauges (and follows the written counts) from the store's figures at `now`.
    pub fn set(&self, figures: &[OutboxFigures], now: UnixTime) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for f in figures {
            let labels = Self::labels(&f.subscription);
            let before = seen.entry(f.subscription.clone()).or_default();
            if f.written > *before {
                self.written
                    .get_or_create(&labels)
                    .inc_by(f.written - *before);
                *before = f.written;
            } else {
                // Make the series exist even before its first event.
                let _ = self.written.get_or_create(&labels);
            }
            self.pending.get_or_create(&labels).set(f.pending as i64);
            self.dead_letters.get_or_create(&labels).set(f.dead as i64);
            let age = f.oldest_pending.map_or(0, |t| now.0.saturating_sub(t.0));
            self.oldest_undelivered
                .get_or_create(&labels)
                .set(age as f64);
        }
        // A removed subscription's gauges go with it.
        let live: std::collections::HashSet<&str> =
            figures.iter().map(|f| f.subscription.as_str()).collect();
        seen.retain(|id, _| {
            let keep = live.contains(id.as_str());
            if !keep {
                let labels = Self::labels(id);
                self.pending.remove(&labels);
                self.dead_letters.remove(&labels);
                self.oldest_undelivered.remove(&labels);
            }
            keep
        });
    }
}
