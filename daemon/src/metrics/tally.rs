//! Running totals the operator console's history samples once a second: arrivals,
//! admissions and refusals by limit, waits (actual and quoted), and the latency of live
//! status, of the store's durable commits and of the lookup audit log's group commits. Prometheus histograms expose no totals to the process that
//! owns them, so these few sums are kept beside them as plain atomics, updated at the same
//! points.

use std::sync::atomic::{AtomicU64, Ordering};

/// The limits a refusal can come from, in the order [`Totals::refused`] holds them.
pub(crate) const LIMITS: [&str; 5] = ["client", "licence", "intake", "queue", "overload"];

/// Monotonic totals since start.
#[derive(Debug, Default)]
pub struct Tally {
    arrivals: AtomicU64,
    admitted: AtomicU64,
    refused: [AtomicU64; 5],
    waits: AtomicU64,
    wait_sum: AtomicU64,
    quotes: AtomicU64,
    quoted_sum: AtomicU64,
    live_status: AtomicU64,
    live_status_micros: AtomicU64,
    commits: AtomicU64,
    commit_micros: AtomicU64,
    audit_commits: AtomicU64,
    audit_commit_micros: AtomicU64,
}

/// A snapshot of a [`Tally`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Applications that reached admission (admitted or refused).
    pub arrivals: u64,
    /// Admitted.
    pub admitted: u64,
    /// Refused, by limit as in [`LIMITS`].
    pub refused: [u64; 5],
    /// Issued applications whose wait was measured.
    pub waits: u64,
    /// Their waits, seconds, summed.
    pub wait_sum: u64,
    /// Applications quoted a range at acceptance.
    pub quotes: u64,
    /// The quoted ranges' midpoints, seconds, summed.
    pub quoted_sum: u64,
    /// Live-status answers timed.
    pub live_status: u64,
    /// Their latency, microseconds, summed.
    pub live_status_micros: u64,
    /// Durable commits of the store.
    pub commits: u64,
    /// Their latency, microseconds, summed.
    pub commit_micros: u64,
    /// Group commits of the lookup audit log.
    pub audit_commits: u64,
    /// Their latency, microseconds, summed.
    pub audit_commit_micros: u64,
}

impl Tally {
    /// One arrival: admitted, or refused by the limit named.
    pub fn arrival(&self, refused_by: Option<&str>) {
        self.arrivals.fetch_add(1, Ordering::Relaxed);
        match refused_by.and_then(|l| LIMITS.iter().position(|x| *x == l)) {
            Some(i) => self.refused[i].fetch_add(1, Ordering::Relaxed),
            None => self.admitted.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// An issued application's actual wait.
    pub fn waited(&self, seconds: u64) {
        self.waits.fetch_add(1, Ordering::Relaxed);
        self.wait_sum.fetch_add(seconds, Ordering::Relaxed);
    }

    /// The midpoint of a range quoted at acceptance.
    pub fn quoted(&self, seconds: u64) {
        self.quotes.fetch_add(1, Ordering::Relaxed);
        self.quoted_sum.fetch_add(seconds, Ordering::Relaxed);
    }

    /// One live-status answer's latency.
    pub fn live_status(&self, micros: u64) {
        self.live_status.fetch_add(1, Ordering::Relaxed);
        self.live_status_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// One durable commit's latency.
    pub fn commit(&self, micros: u64) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.commit_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// One group commit of the lookup audit log: its latency.
    pub fn audit_commit(&self, micros: u64) {
        self.audit_commits.fetch_add(1, Ordering::Relaxed);
        self.audit_commit_micros
            .fetch_add(micros, Ordering::Relaxed);
    }

    /// The totals now.
    pub fn totals(&self) -> Totals {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Totals {
            arrivals: get(&self.arrivals),
            admitted: get(&self.admitted),
            refused: std::array::from_fn(|i| get(&self.refused[i])),
            waits: get(&self.waits),
            wait_sum: get(&self.wait_sum),
            quotes: get(&self.quotes),
            quoted_sum: get(&self.quoted_sum),
            live_status: get(&self.live_status),
            live_status_micros: get(&self.live_status_micros),
            commits: get(&self.commits),
            commit_micros: get(&self.commit_micros),
            audit_commits: get(&self.audit_commits),
            audit_commit_micros: get(&self.audit_commit_micros),
        }
    }
}
