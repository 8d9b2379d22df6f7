//! Lanes: the queue is split into FIFO lanes (office window and re-issues ahead of first
//! applications) and the drain serves them by weight. The scheduler is smooth weighted
//! round-robin over the non-empty lanes, so a lane of weight 3 next to one of weight 1 gets
//! three cells in every four, interleaved, and an empty lane's share goes to the others.
//!
//! Positions are per lane: a ticket's own lane sequence minus the lane's sequence being
//! served. Arrivals in other lanes never push it back, so positions never go backwards.

use std::time::Duration;

/// The lanes, in priority order.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Lane {
    /// Applications made at a licence-office window: the person is standing there.
    Window,
    /// Re-issues of an existing credential (changed licence or photo).
    Reissue,
    /// First applications through the national app.
    First,
}

impl Lane {
    /// Every lane.
    pub const ALL: [Lane; 3] = [Lane::Window, Lane::Reissue, Lane::First];

    /// The index of this lane in [`Lane::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Window => "window",
            Lane::Reissue => "reissue",
            Lane::First => "first",
        }
    }
}

impl std::str::FromStr for Lane {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Lane::ALL
            .into_iter()
            .find(|lane| lane.as_str() == s)
            .ok_or_else(|| format!("lane {s:?} is not one of window, reissue, first"))
    }
}

/// Lane weights as operators set them; a weight of 0 stops serving that lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LaneWeights {
    /// Weight of the window lane.
    pub window: u32,
    /// Weight of the re-issue lane.
    pub reissue: u32,
    /// Weight of the first-application lane.
    pub first: u32,
}

impl Default for LaneWeights {
    fn default() -> Self {
        LaneWeights {
            window: 6,
            reissue: 3,
            first: 1,
        }
    }
}

impl LaneWeights {
    /// The weight of `lane`.
    pub fn of(&self, lane: Lane) -> u32 {
        match lane {
            Lane::Window => self.window,
            Lane::Reissue => self.reissue,
            Lane::First => self.first,
        }
    }

    /// The share of the drain `lane` gets while the lanes with `depths` (by index) wait:
    /// its weight over the weights of the non-empty lanes (its own counted as non-empty).
    pub fn share(&self, lane: Lane, depths: &[u64; 3]) -> f64 {
        let own = self.of(lane);
        if own == 0 {
            return 0.0;
        }
        let total: u32 = Lane::ALL
            .into_iter()
            .filter(|l| *l == lane || depths[l.index()] > 0)
            .map(|l| self.of(l))
            .sum();
        f64::from(own) / f64::from(total)
    }
}

/// Smooth weighted round-robin state.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scheduler {
    current: [i64; 3],
}

impl Scheduler {
    /// Splits `cells` among lanes with `depths` waiting, by `weights`; returns how many to
    /// take from each lane (never more than it holds).
    pub(crate) fn split(
        &mut self,
        cells: u64,
        depths: &[u64; 3],
        weights: &LaneWeights,
    ) -> [u64; 3] {
        let mut remaining = *depths;
        let mut taken = [0u64; 3];
        for _ in 0..cells {
            let eligible: Vec<Lane> = Lane::ALL
                .into_iter()
                .filter(|l| remaining[l.index()] > 0 && weights.of(*l) > 0)
                .collect();
            if eligible.is_empty() {
                break;
            }
            let total: i64 = eligible.iter().map(|l| i64::from(weights.of(*l))).sum();
            for lane in &eligible {
                self.current[lane.index()] += i64::from(weights.of(*lane));
            }
            let Some(pick) = eligible
                .iter()
                .copied()
                .max_by_key(|l| (self.current[l.index()], std::cmp::Reverse(l.index())))
            else {
                break;
            };
            self.current[pick.index()] -= total;
            remaining[pick.index()] -= 1;
            taken[pick.index()] += 1;
        }
        taken
    }
}

/// How long a client should wait before polling its ticket again: a quarter of the expected
/// wait, between 5 s and 5 min, spread by ±20% with `jitter` (uniform in 0..1) so that
/// millions of clients do not poll in lock-step.
pub(crate) fn poll_after(expected: Option<Duration>, jitter: f64) -> u64 {
    let base = expected.map_or(30.0, |e| (e.as_secs_f64() / 4.0).clamp(5.0, 300.0));
    let spread = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
    (base * spread).round().max(1.0) as u64
}

#[cfg(test)]
mod tests;
