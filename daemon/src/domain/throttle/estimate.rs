//! Wait estimates from the measured drain rate: a moving average over the last minute of
//! seconds in which the drain had work, and a range around it that widens when the rate
//! wobbles. Until enough has been measured, or while draining is paused, the estimate is
//! honestly "unknown".

use std::collections::VecDeque;
use std::time::Duration;

use super::CENTURY;

/// Seconds the moving average looks back.
pub(crate) const WINDOW_SECONDS: u64 = 60;
/// Busy seconds needed before any estimate is given.
pub(crate) const MIN_SAMPLES: usize = 5;
/// The narrowest relative half-width of a quoted range.
pub(crate) const MIN_SPREAD: f64 = 0.10;
/// The widest.
pub(crate) const MAX_SPREAD: f64 = 0.60;

/// A quoted wait.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WaitEstimate {
    /// Not enough measured yet, or draining is paused.
    Unknown,
    /// Expected between `low` and `high` from now.
    Range {
        /// Earliest expected.
        low: Duration,
        /// Latest expected.
        high: Duration,
    },
}

impl WaitEstimate {
    /// The middle of the range, if known.
    pub fn midpoint(self) -> Option<Duration> {
        match self {
            WaitEstimate::Unknown => None,
            WaitEstimate::Range { low, high } => Some((low + high) / 2),
        }
    }

    /// Whether `actual` falls inside the range.
    pub fn contains(self, actual: Duration) -> bool {
        match self {
            WaitEstimate::Unknown => false,
            WaitEstimate::Range { low, high } => low <= actual && actual <= high,
        }
    }
}

/// Measures how fast the drain actually goes.
#[derive(Clone, Debug, Default)]
pub(crate) struct DrainMeter {
    /// (second since origin, cells drained in it, whether work waited during it)
    seconds: VecDeque<(u64, u64, bool)>,
}

impl DrainMeter {
    /// A meter with nothing measured.
    pub(crate) fn new() -> DrainMeter {
        DrainMeter::default()
    }

    /// Records `drained` cells at `now`. `backlogged` says whether work was still waiting
    /// after this step: seconds in which the queue ran dry say nothing about capacity and
    /// are left out of the average.
    pub(crate) fn record(&mut self, now: Duration, drained: u64, backlogged: bool) {
        let second = now.as_secs();
        match self.seconds.back_mut() {
            Some((s, count, busy)) if *s == second => {
                *count += drained;
                *busy |= backlogged;
            }
            _ => self.seconds.push_back((second, drained, backlogged)),
        }
        while let Some(&(s, _, _)) = self.seconds.front() {
            if s + WINDOW_SECONDS <= second {
                self.seconds.pop_front();
            } else {
                break;
            }
        }
    }

    /// Cells per second over the busy, completed seconds of the window, and their
    /// coefficient of variation; `None` until [`MIN_SAMPLES`] busy seconds are in.
    pub(crate) fn rate(&self, now: Duration) -> Option<(f64, f64)> {
        let current = now.as_secs();
        let samples: Vec<f64> = self
            .seconds
            .iter()
            .filter(|(s, _, busy)| *busy && *s < current && s + WINDOW_SECONDS > current)
            .map(|(_, n, _)| *n as f64)
            .collect();
        if samples.len() < MIN_SAMPLES {
            return None;
        }
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        if mean <= 0.0 {
            return None;
        }
        let variance =
            samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / samples.len() as f64;
        Some((mean, variance.sqrt() / mean))
    }

    /// The wait for a ticket with `ahead` cells to be served before it (itself included),
    /// in a lane that gets `share` (0..=1) of the drain. Unknown while `paused`.
    pub(crate) fn estimate(
        &self,
        now: Duration,
        ahead: u64,
        share: f64,
        paused: bool,
    ) -> WaitEstimate {
        if paused || share.is_nan() || share <= 0.0 {
            return WaitEstimate::Unknown;
        }
        let Some((rate, variation)) = self.rate(now) else {
            return WaitEstimate::Unknown;
        };
        let rate = rate * share.min(1.0);
        let expected = ahead as f64 / rate;
        let spread = (2.0 * variation).clamp(MIN_SPREAD, MAX_SPREAD);
        // Waits are quoted to people in whole seconds: a second of slack either side keeps
        // sub-second jitter (tick granularity, bursts) from making short quotes dishonest.
        WaitEstimate::Range {
            low: seconds((expected * (1.0 - spread) - 1.0).max(0.0)),
            high: seconds(expected * (1.0 + spread) + 1.0),
        }
    }
}

/// The wait for a ticket in a lane: from the lane's own measured drain rate when it has
/// one (it reflects how the lane weights actually played out), otherwise from the whole
/// drain's rate times the lane's weighted `share`.
pub(crate) fn lane_estimate(
    lane: &DrainMeter,
    all: &DrainMeter,
    now: Duration,
    ahead: u64,
    share: f64,
    paused: bool,
) -> WaitEstimate {
    match lane.estimate(now, ahead, 1.0, paused) {
        WaitEstimate::Unknown => all.estimate(now, ahead, share, paused),
        known => known,
    }
}

/// `x` seconds as a quoted wait, at most a [`CENTURY`] (a queue of millions in a lane
/// weighted next to nothing).
fn seconds(x: f64) -> Duration {
    Duration::try_from_secs_f64(x)
        .unwrap_or(if x > 0.0 { CENTURY } else { Duration::ZERO })
        .min(CENTURY)
}

#[cfg(test)]
mod tests;
