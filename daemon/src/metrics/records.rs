//! The sled engine's kept records (`store::sled::records`), set before each scrape: reads
//! answered from them and not, what they hold and may hold, by kind (`credential`,
//! `licence`). An operator sizes `[store] record_cache_mib` from the hit share. Nothing is
//! exported on PostgreSQL, which keeps no records.

use std::sync::{Mutex, PoisonError};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::store::KeptRecords;

/// Labels as name-value pairs.
type Labels = Vec<(&'static str, String)>;

/// The metrics.
pub struct RecordMetrics {
    /// Lookups' reads, by `kind` and `result` (`hit`, `miss`).
    reads: Family<Labels, Counter>,
    /// Records kept, by `kind`.
    records: Family<Labels, Gauge>,
    /// Their weight (their strings' bytes and a fixed part each), by `kind`.
    bytes: Family<Labels, Gauge>,
    /// The weight they may have, by `kind`.
    capacity: Family<Labels, Gauge>,
    /// Held while the counters are brought up to the engine's totals, so that two scrapes
    /// at once add each read once.
    setting: Mutex<()>,
}

impl RecordMetrics {
    /// Registers the metrics in `registry`.
    pub(crate) fn register(registry: &mut Registry) -> RecordMetrics {
        let m = RecordMetrics {
            reads: Family::default(),
            records: Family::default(),
            bytes: Family::default(),
            capacity: Family::default(),
            setting: Mutex::new(()),
        };
        registry.register(
            "record_cache_reads",
            "sled engine: live-status reads of a credential or licence, by kind, answered from the decoded records kept (hit) or from the database (miss)",
            m.reads.clone(),
        );
        registry.register(
            "record_cache_records",
            "sled engine: decoded records kept for live-status lookups, by kind",
            m.records.clone(),
        );
        registry.register(
            "record_cache_bytes",
            "sled engine: the weight of the records kept, by kind (their strings and a fixed part each)",
            m.bytes.clone(),
        );
        registry.register(
            "record_cache_capacity_bytes",
            "sled engine: the weight the records kept may reach, by kind ([store] record_cache_mib)",
            m.capacity.clone(),
        );
        m
    }

    /// Sets the metrics from the engine's figures.
    pub fn set(&self, kept: &[KeptRecords]) {
        let _setting = self.setting.lock().unwrap_or_else(PoisonError::into_inner);
        for k in kept {
            let kind = || vec![("kind", k.kind.to_owned())];
            for (result, total) in [("hit", k.hits), ("miss", k.misses)] {
                let mut labels = kind();
                labels.push(("result", result.to_owned()));
                let counter = self.reads.get_or_create(&labels);
                counter.inc_by(total.saturating_sub(counter.get()));
            }
            let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            self.records.get_or_create(&kind()).set(gauge(k.records));
            self.bytes.get_or_create(&kind()).set(gauge(k.bytes));
            self.capacity.get_or_create(&kind()).set(gauge(k.capacity));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        text
    }

    #[test]
    fn counters_follow_the_engines_totals_and_gauges_its_figures() {
        let mut registry = Registry::with_prefix("edld");
        let m = RecordMetrics::register(&mut registry);
        let figures = |hits, misses, records| {
            [
                KeptRecords {
                    kind: "credential",
                    hits,
                    misses,
                    records,
                    bytes: records * 900,
                    capacity: 1 << 20,
                },
                KeptRecords {
                    kind: "licence",
                    ..KeptRecords::default()
                },
            ]
        };
        m.set(&figures(10, 3, 2));
        m.set(&figures(10, 3, 2));
        m.set(&figures(25, 4, 3));
        let text = scrape(&registry);
        for line in [
            "edld_record_cache_reads_total{kind=\"credential\",result=\"hit\"} 25",
            "edld_record_cache_reads_total{kind=\"credential\",result=\"miss\"} 4",
            "edld_record_cache_reads_total{kind=\"licence\",result=\"hit\"} 0",
            "edld_record_cache_records{kind=\"credential\"} 3",
            "edld_record_cache_bytes{kind=\"credential\"} 2700",
            "edld_record_cache_capacity_bytes{kind=\"credential\"} 1048576",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
    }
}
