//! The durable FIFO's bookkeeping: lanes, sequence numbers, positions, and the measured
//! drain rate behind wait estimates. The entries themselves live in the store under
//! `Q/<lane><sequence>`; this module keeps the counters that make positions cheap.
//!
//! Position = own sequence − the sequence last served in the lane, plus everything waiting
//! in lanes served before it. Lanes are drained in priority order for now; weights slot in
//! at [`Lanes::drain_order`].

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// A lane of the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lane {
    /// Office window and re-issues after a registry change.
    Priority,
    /// First applications through the app.
    Standard,
}

impl Lane {
    /// Every lane, in drain order.
    pub const ALL: [Lane; 2] = [Lane::Priority, Lane::Standard];

    /// The byte that starts the lane's queue keys.
    pub fn byte(self) -> u8 {
        match self {
            Lane::Priority => 0,
            Lane::Standard => 1,
        }
    }

    fn slot(self) -> usize {
        usize::from(self.byte())
    }

    /// The lane's name, for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Priority => "priority",
            Lane::Standard => "standard",
        }
    }
}

/// The queue key of an entry.
pub fn entry_key(lane: Lane, sequence: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(11);
    key.extend_from_slice(crate::store::prefix::QUEUE);
    key.push(lane.byte());
    key.extend_from_slice(&sequence.to_be_bytes());
    key
}

/// The store key prefix of a lane.
pub fn lane_prefix(lane: Lane) -> Vec<u8> {
    let mut key = crate::store::prefix::QUEUE.to_vec();
    key.push(lane.byte());
    key
}

/// Reads the lane and sequence back from a queue key.
pub fn parse_entry_key(key: &[u8]) -> Option<(Lane, u64)> {
    let rest = key.strip_prefix(crate::store::prefix::QUEUE)?;
    let (&lane, sequence) = rest.split_first()?;
    let lane = Lane::ALL.into_iter().find(|l| l.byte() == lane)?;
    Some((lane, u64::from_be_bytes(sequence.try_into().ok()?)))
}

/// Counters per lane.
#[derive(Debug, Default)]
struct LaneCounters {
    /// The next sequence number to hand out.
    next: AtomicU64,
    /// The highest sequence number taken out for signing.
    served: AtomicU64,
    /// Entries waiting.
    depth: AtomicU64,
}

/// The lanes' counters, rebuilt from the store at start.
#[derive(Debug, Default)]
pub struct Lanes {
    lanes: [LaneCounters; 2],
}

impl Lanes {
    /// Counters from what the store holds: per lane, the last sequence issued, the first
    /// still waiting, and how many wait.
    pub fn restore(per_lane: [(u64, Option<u64>, u64); 2]) -> Lanes {
        let lanes = Lanes::default();
        for (lane, (last, first_waiting, depth)) in Lane::ALL.into_iter().zip(per_lane) {
            let c = &lanes.lanes[lane.slot()];
            c.next.store(last + 1, Ordering::SeqCst);
            c.served.store(
                first_waiting.map_or(last, |f| f.saturating_sub(1)),
                Ordering::SeqCst,
            );
            c.depth.store(depth, Ordering::SeqCst);
        }
        lanes
    }

    /// A new sequence number in `lane`.
    pub fn next_sequence(&self, lane: Lane) -> u64 {
        let c = &self.lanes[lane.slot()];
        c.depth.fetch_add(1, Ordering::SeqCst);
        c.next.fetch_add(1, Ordering::SeqCst)
    }

    /// An entry left the queue (issued or rejected) after `sequence` was taken.
    pub fn served(&self, lane: Lane, sequence: u64) {
        let c = &self.lanes[lane.slot()];
        c.served.fetch_max(sequence, Ordering::SeqCst);
        let _ = c
            .depth
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |d| {
                Some(d.saturating_sub(1))
            });
    }

    /// Entries waiting in `lane`.
    pub fn depth(&self, lane: Lane) -> u64 {
        self.lanes[lane.slot()].depth.load(Ordering::SeqCst)
    }

    /// Entries waiting in all lanes.
    pub fn total_depth(&self) -> u64 {
        Lane::ALL.into_iter().map(|l| self.depth(l)).sum()
    }

    /// Where `sequence` in `lane` stands: 1 is next.
    pub fn position(&self, lane: Lane, sequence: u64) -> u64 {
        let own = sequence.saturating_sub(self.lanes[lane.slot()].served.load(Ordering::SeqCst));
        let ahead: u64 = Lane::ALL
            .into_iter()
            .take_while(|l| *l != lane)
            .map(|l| self.depth(l))
            .sum();
        own.max(1) + ahead
    }

    /// The lanes in the order the next drain step serves them.
    pub fn drain_order(&self) -> [Lane; 2] {
        Lane::ALL
    }
}

/// A wait estimate shown to applicants.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WaitEstimate {
    /// Not enough measurements yet.
    Unknown,
    /// Between `low` and `high` seconds.
    Range {
        /// Seconds, at least.
        low: u64,
        /// Seconds, at most.
        high: u64,
    },
}

/// The measured drain rate: an exponentially weighted moving average of items per
/// second over drain steps.
#[derive(Debug, Default)]
pub struct DrainRate {
    inner: Mutex<RateInner>,
}

#[derive(Debug, Default)]
struct RateInner {
    rate: f64,
    samples: u32,
    seconds: f64,
}

impl DrainRate {
    /// Enough samples covering enough time before estimates are shown.
    const MIN_SAMPLES: u32 = 5;
    const MIN_SECONDS: f64 = 0.5;
    const WEIGHT: f64 = 0.2;

    /// Records that `items` were drained in `seconds` of busy time.
    pub fn record(&self, items: usize, seconds: f64) {
        if items == 0 || seconds <= 0.0 {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let sample = items as f64 / seconds;
        inner.rate = if inner.samples == 0 {
            sample
        } else {
            inner.rate * (1.0 - Self::WEIGHT) + sample * Self::WEIGHT
        };
        inner.samples = inner.samples.saturating_add(1);
        inner.seconds += seconds;
    }

    /// Items per second, once measured.
    pub fn rate(&self) -> Option<f64> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        (inner.samples >= Self::MIN_SAMPLES
            && inner.seconds >= Self::MIN_SECONDS
            && inner.rate > 0.0)
            .then_some(inner.rate)
    }

    /// The wait for someone at `position`: ±25% around position / rate, rounded outwards.
    pub fn estimate(&self, position: u64) -> WaitEstimate {
        match self.rate() {
            None => WaitEstimate::Unknown,
            Some(rate) => {
                let mid = position as f64 / rate;
                WaitEstimate::Range {
                    low: (mid * 0.75).floor() as u64,
                    high: (mid * 1.25).ceil().max(1.0) as u64,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
