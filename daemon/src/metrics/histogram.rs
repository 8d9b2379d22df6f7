//! A histogram whose observations take no lock. prometheus-client's `Histogram` takes a
//! write lock for every observation; each live-status request observes two or three
//! histograms from whichever connection thread serves it, and a thread preempted while
//! holding one of those locks stalled the other connection thread's requests behind it
//! (under the issuance flood, 40 ms of the connection threads' 8 s waited there, up to
//! 2 ms at once). Here each observation is two atomic additions: its bucket and its sum.
//!
//! A scrape reads the buckets one by one while observations go on, so it may count an
//! observation in `_count` and its bucket but not yet in `_sum`, or the reverse; the
//! next scrape counts it. `_count` is always the sum of the buckets.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// A histogram with fixed bucket bounds; clones share their counts.
#[derive(Clone, Debug)]
pub struct Histogram {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The buckets' upper bounds, ascending; the last is `f64::MAX`, written `+Inf`.
    bounds: Box<[f64]>,
    /// How many observations fell in each bucket (not cumulative).
    counts: Box<[AtomicU64]>,
    /// The sum of the observations, as `f64` bits.
    sum: AtomicU64,
}

impl Histogram {
    /// A histogram with these upper bounds (ascending) and `+Inf`.
    pub fn new(bounds: impl IntoIterator<Item = f64>) -> Histogram {
        let bounds: Box<[f64]> = bounds
            .into_iter()
            .filter(|b| *b < f64::MAX)
            .chain(std::iter::once(f64::MAX))
            .collect();
        let counts = bounds.iter().map(|_| AtomicU64::new(0)).collect();
        Histogram {
            inner: Arc::new(Inner {
                bounds,
                counts,
                sum: AtomicU64::new(0f64.to_bits()),
            }),
        }
    }

    /// Counts `value` in the first bucket whose bound is at least `value` (`+Inf` for
    /// what is above every bound, and for NaN).
    pub fn observe(&self, value: f64) {
        let inner = &*self.inner;
        let last = inner.bounds.len() - 1;
        let bucket = inner
            .bounds
            .partition_point(|bound| *bound < value)
            .min(last);
        let bucket = if value.is_nan() { last } else { bucket };
        inner.counts[bucket].fetch_add(1, Relaxed);
        // `fetch_update` retries only when another thread added in between.
        let _ = inner.sum.fetch_update(Relaxed, Relaxed, |bits| {
            Some((f64::from_bits(bits) + value).to_bits())
        });
    }

    /// The sum, the count and each bucket's bound and count (not cumulative).
    fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let inner = &*self.inner;
        let buckets: Vec<(f64, u64)> = inner
            .bounds
            .iter()
            .zip(inner.counts.iter())
            .map(|(bound, count)| (*bound, count.load(Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        (f64::from_bits(inner.sum.load(Relaxed)), count, buckets)
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = self.snapshot();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;
    use prometheus_client::metrics::histogram::Histogram as LockedHistogram;
    use prometheus_client::registry::Registry;

    use super::*;

    fn text(register: impl FnOnce(&mut Registry)) -> String {
        let mut registry = Registry::default();
        register(&mut registry);
        let mut out = String::new();
        encode(&mut out, &registry).unwrap();
        out
    }

    /// Renders exactly as prometheus-client's own histogram does for the same
    /// observations, bucket edges and `+Inf` included (it counts NaN in no bucket).
    #[test]
    fn renders_as_prometheus_clients_histogram() {
        let bounds = [0.001, 0.01, 0.1, 1.0];
        let values = [
            0.0, 0.000_5, 0.001, 0.002, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 1e300, -1.0,
        ];
        let ours = Histogram::new(bounds);
        let theirs = LockedHistogram::new(bounds);
        for v in values {
            ours.observe(v);
            theirs.observe(v);
        }
        let a = text(|r| r.register("latency", "help", ours.clone()));
        let b = text(|r| r.register("latency", "help", theirs.clone()));
        assert_eq!(a, b);
        assert!(a.contains("latency_bucket{le=\"+Inf\"} 12"), "{a}");
        assert!(a.contains("latency_bucket{le=\"0.001\"} 4"), "{a}");
    }

    #[test]
    fn nan_is_counted_above_every_bound() {
        let h = Histogram::new([1.0]);
        h.observe(f64::NAN);
        let (_, count, buckets) = h.snapshot();
        assert_eq!(count, 1);
        assert_eq!(buckets, vec![(1.0, 0), (f64::MAX, 1)]);
    }

    /// Observations from several threads at once are all counted, and summed.
    #[test]
    fn concurrent_observations_are_all_counted() {
        let h = Histogram::new([0.5, 1.5]);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let h = h.clone();
                scope.spawn(move || {
                    for i in 0..10_000 {
                        h.observe(f64::from(i % 3));
                    }
                });
            }
        });
        let (sum, count, buckets) = h.snapshot();
        assert_eq!(count, 40_000);
        // Per thread: 3 334 zeros, 3 333 ones, 3 333 twos.
        assert_eq!(
            buckets,
            vec![(0.5, 13_336), (1.5, 13_332), (f64::MAX, 13_332)]
        );
        assert_eq!(sum, 4.0 * (3_333.0 + 2.0 * 3_333.0));
    }
}
