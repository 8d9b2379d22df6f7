//! The drain pacer: lets signing proceed at an operator-set rate with a small burst, and
//! can be re-tuned, paused and resumed while running.
//!
//! Why not governor: its limiters cannot change quota in place, and `until_ready()` with a
//! burst of 1 under-drains badly at high rates (one wake-up per cell). The pacer is instead
//! *ticked*: every few milliseconds the drain asks how many cells it may take now and takes
//! that many at once.
//!
//! Credit is kept in exact integer units (10⁻¹² of a cell), so a day of ticks never drifts.
//! **Invariants:** credit never exceeds the burst, so in any window of length `w` at most
//! `rate × w + burst` cells are taken; a retune keeps the credit already earned (no
//! lockout) but clamps it to the new burst (no windfall).

use std::time::Duration;

/// Units of credit in one cell.
const UNIT: u128 = 1_000_000_000_000;

/// What the operator sets.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PaceSettings {
    /// Cells per second (signatures per second). Fractions are allowed (0.5 = one every 2 s).
    pub rate: f64,
    /// Cells that may be taken at once after an idle spell. At least 1.
    pub burst: u32,
}

impl PaceSettings {
    /// The rate in millicells per second, the pacer's exact internal unit: rounded down,
    /// so the pacer never runs faster than the rate set (a rate under 0.001/s runs at
    /// 0.001/s).
    fn millirate(self) -> u128 {
        if self.rate.is_finite() && self.rate > 0.0 {
            ((self.rate * 1000.0).floor() as u128).max(1)
        } else {
            0
        }
    }

    fn cap(self) -> u128 {
        u128::from(self.burst.max(1)) * UNIT
    }
}

/// A live-retunable pacer. `now` is a monotonic offset from any fixed origin the caller
/// chooses (a `tokio::time::Instant` at start in the daemon, zero in the simulator).
#[derive(Clone, Debug)]
pub(crate) struct Pacer {
    settings: PaceSettings,
    /// Earned credit, in units; never above `settings.cap()`.
    credit: u128,
    /// Credit has been accounted up to this time.
    last: Duration,
    paused: bool,
}

impl Pacer {
    /// A pacer starting at `now` with no credit: the first cell comes after `1/rate`.
    pub(crate) fn new(settings: PaceSettings, now: Duration) -> Pacer {
        Pacer {
            settings,
            credit: 0,
            last: now,
            paused: false,
        }
    }

    /// A pacer starting at `now` with a full burst of credit: for admission buckets, where
    /// the first arrivals after a quiet spell should pass at once.
    pub(crate) fn full(settings: PaceSettings, now: Duration) -> Pacer {
        Pacer {
            credit: settings.cap(),
            ..Pacer::new(settings, now)
        }
    }

    /// Whether draining is paused.
    pub(crate) fn is_paused(&self) -> bool {
        self.paused
    }

    /// Takes up to `want` cells at `now` and returns how many were granted.
    pub(crate) fn take(&mut self, now: Duration, want: u64) -> u64 {
        self.accrue(now);
        let granted = (self.credit / UNIT).min(u128::from(want));
        self.credit -= granted * UNIT;
        // `granted` is at most `want`, a u64.
        granted as u64
    }

    /// Cells that could be taken at `now` without taking them.
    #[cfg(test)]
    pub(crate) fn available(&mut self, now: Duration) -> u64 {
        self.accrue(now);
        u64::try_from(self.credit / UNIT).unwrap_or(u64::MAX)
    }

    /// Changes rate and burst from `now` on. Credit earned so far at the old rate is kept,
    /// clamped to the new burst.
    pub(crate) fn retune(&mut self, now: Duration, settings: PaceSettings) {
        self.accrue(now);
        self.settings = settings;
        self.credit = self.credit.min(settings.cap());
    }

    /// Stops granting cells from `now` on; credit already earned is kept.
    pub(crate) fn pause(&mut self, now: Duration) {
        self.accrue(now);
        self.paused = true;
    }

    /// Grants cells again; the paused spell earns nothing.
    pub(crate) fn resume(&mut self, now: Duration) {
        self.accrue(now);
        self.paused = false;
    }

    /// How long after `now` until one more cell is available, or `None` while paused or at
    /// rate zero. Drains sleep this long (bounded by their tick) when idle.
    pub(crate) fn next_cell_in(&mut self, now: Duration) -> Option<Duration> {
        self.accrue(now);
        let millirate = self.settings.millirate();
        if self.paused || millirate == 0 {
            return None;
        }
        if self.credit >= UNIT {
            return Some(Duration::ZERO);
        }
        // Units earned per nanosecond = millirate (see `accrue`); round up.
        let missing = UNIT - self.credit;
        let nanos = missing.div_ceil(millirate);
        Some(Duration::from_nanos(
            u64::try_from(nanos).unwrap_or(u64::MAX),
        ))
    }

    fn accrue(&mut self, now: Duration) {
        if now <= self.last {
            return;
        }
        let elapsed = (now - self.last).as_nanos();
        self.last = now;
        if self.paused {
            return;
        }
        // One cell per second at millirate 1000 is UNIT units per 10⁹ ns, i.e. one unit per
        // ns per millicell/s: earned units = elapsed ns × millirate.
        let earned = elapsed.saturating_mul(self.settings.millirate());
        self.credit = self.credit.saturating_add(earned).min(self.settings.cap());
    }
}

#[cfg(test)]
mod tests;
