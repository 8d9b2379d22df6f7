//! Per-client limits that operators can re-tune live, built on governor.
//!
//! governor's GCRA keeps one number per key, the theoretical arrival time (TAT), and a
//! limiter's quota cannot change. Rebuilding a keyed limiter with a new quota would forget
//! every client: a client that just used its burst would get a fresh one (a windfall). So
//! the state lives in one `SharedState` that outlives the limiters: every generation of
//! limiter reads and writes it through a `GenerationStore` view, which
//!
//! * translates TATs between the shared origin and each limiter's own start, and
//! * rescales a client's backlog written under another quota: `n` cells of debt at the old
//!   emission interval become `n` cells at the new one. A client is then exactly where it
//!   would be had the new quota always been in force for its recent requests — no lockout,
//!   no windfall.
//!
//! Idle clients are dropped by [`RetunableLimiter::purge`], so memory stays bounded by the
//! clients active within one burst period.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use dashmap::DashMap;
use governor::clock::{Clock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::{Quota, RateLimiter};

use super::CENTURY;

/// A quota as operators write it: a sustained rate and a burst.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LimitSettings {
    /// Requests per second allowed on average (fractions allowed: 0.1 = 6 per minute).
    pub per_second: f64,
    /// Requests allowed at once after an idle spell. At least 1.
    pub burst: u32,
}

impl LimitSettings {
    /// The GCRA quota, or `None` for a rate that admits nothing. The limiter keeps its
    /// burst window (interval × burst) in u64 nanoseconds, so both are clamped to
    /// a [`CENTURY`]: a slower rate or a longer burst than that is "never" and
    /// "unlimited" in practice, and must not overflow.
    fn quota(self) -> Option<Quota> {
        if !(self.per_second.is_finite() && self.per_second > 0.0) {
            return None;
        }
        let interval = Duration::try_from_secs_f64(1.0 / self.per_second)
            .unwrap_or(CENTURY)
            .clamp(Duration::from_nanos(1), CENTURY);
        let longest_burst = CENTURY.as_nanos() / interval.as_nanos();
        let burst = u32::try_from(longest_burst).map_or(self.burst, |b| self.burst.min(b));
        let burst = NonZeroU32::new(burst.max(1))?;
        Some(Quota::with_period(interval)?.allow_burst(burst))
    }
}

/// One client's state: its TAT in nanoseconds since the shared origin, and the emission
/// interval it was written under.
#[derive(Clone, Copy, Debug)]
struct Cell {
    tat: u64,
    interval: u64,
}

/// The state every generation of limiter shares.
struct SharedState<K: Hash + Eq> {
    cells: DashMap<K, Cell>,
}

/// One limiter generation's view of the shared state.
struct GenerationStore<K: Hash + Eq, C: Clock> {
    state: Arc<SharedState<K>>,
    clock: C,
    origin: C::Instant,
    /// This generation's limiter start, in ns since the origin.
    start: u64,
    /// This generation's emission interval, ns.
    interval: u64,
}

impl<K: Hash + Eq + Clone, C: Clock> StateStore for GenerationStore<K, C> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        // The shard lock is held across `f`, a pure GCRA step: updates to one key serialize.
        let mut entry = self.state.cells.entry(key.clone());
        let previous = match &entry {
            dashmap::Entry::Occupied(cell) => Some(self.rescaled(*cell.get())),
            dashmap::Entry::Vacant(_) => None,
        };
        // A TAT before this limiter's start means "fully rested": governor's `None`.
        let relative = previous
            .and_then(|tat| tat.checked_sub(self.start))
            .map(Nanos::from);
        let (outcome, next) = f(relative)?;
        let cell = Cell {
            tat: u64::from(next).saturating_add(self.start),
            interval: self.interval,
        };
        match &mut entry {
            dashmap::Entry::Occupied(existing) => *existing.get_mut() = cell,
            dashmap::Entry::Vacant(_) => {
                entry.or_insert(cell);
            }
        }
        Ok(outcome)
    }
}

impl<K: Hash + Eq, C: Clock> GenerationStore<K, C> {
    /// The cell's TAT, with any backlog written under another interval rescaled to ours.
    fn rescaled(&self, cell: Cell) -> u64 {
        if cell.interval == self.interval || cell.interval == 0 {
            return cell.tat;
        }
        let now = u64::from(self.clock.now().duration_since(self.origin));
        if cell.tat <= now {
            return cell.tat;
        }
        let backlog = u128::from(cell.tat - now);
        let scaled = backlog * u128::from(self.interval) / u128::from(cell.interval);
        now.saturating_add(u64::try_from(scaled).unwrap_or(u64::MAX))
    }
}

type Limiter<K, C> =
    RateLimiter<K, GenerationStore<K, C>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// The limiter generation in force, with the settings it was built from (`None`: a zero
/// rate, which admits nothing).
type Generation<K, C> = Option<(LimitSettings, Arc<Limiter<K, C>>)>;

/// Why a request was limited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limited {
    /// The earliest a retry can succeed, from now.
    pub retry_after: Duration,
}

/// A keyed limiter whose quota can change while running.
pub(crate) struct RetunableLimiter<K: Hash + Eq + Clone, C: Clock> {
    state: Arc<SharedState<K>>,
    clock: C,
    origin: C::Instant,
    current: RwLock<Generation<K, C>>,
}

impl<K: Hash + Eq + Clone, C: Clock + Clone> RetunableLimiter<K, C> {
    /// A limiter with `settings` (a rate of zero or less admits nothing).
    pub(crate) fn new(settings: LimitSettings, clock: C) -> Self {
        let origin = clock.now();
        let limiter = RetunableLimiter {
            state: Arc::new(SharedState {
                cells: DashMap::new(),
            }),
            clock,
            origin,
            current: RwLock::new(None),
        };
        limiter.retune(settings);
        limiter
    }

    /// Changes the quota for every client from now on, keeping each client's recent usage.
    pub(crate) fn retune(&self, settings: LimitSettings) {
        let generation = settings.quota().map(|quota| {
            let start = u64::from(self.clock.now().duration_since(self.origin));
            let store = GenerationStore {
                state: Arc::clone(&self.state),
                clock: self.clock.clone(),
                origin: self.origin,
                start,
                interval: u64::try_from(quota.replenish_interval().as_nanos()).unwrap_or(u64::MAX),
            };
            (
                settings,
                Arc::new(RateLimiter::new(quota, store, self.clock.clone())),
            )
        });
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        *current = generation;
    }

    /// Counts one request by `key`; `Err` says when a retry can succeed.
    pub(crate) fn check(&self, key: &K) -> Result<(), Limited> {
        let Some((_, limiter)) = self.read() else {
            return Err(Limited {
                retry_after: Duration::MAX,
            });
        };
        limiter.check_key(key).map_err(|not_until| Limited {
            retry_after: not_until.wait_time_from(self.clock.now()),
        })
    }

    /// Gives back one request counted for `key` (its admission came to nothing: the store
    /// failed): its TAT moves back by the interval it was counted under. Never a windfall:
    /// a TAT moved before now only means "rested", which GCRA reads as now.
    pub(crate) fn refund(&self, key: &K) {
        if let Some(mut cell) = self.state.cells.get_mut(key) {
            cell.tat = cell.tat.saturating_sub(cell.interval);
        }
    }

    /// Drops clients whose state is fully rested: they would get a full burst anyway.
    pub(crate) fn purge(&self) {
        let now = u64::from(self.clock.now().duration_since(self.origin));
        self.state.cells.retain(|_, cell| cell.tat > now);
        self.state.cells.shrink_to_fit();
    }

    /// Clients currently remembered.
    pub(crate) fn len(&self) -> usize {
        self.state.cells.len()
    }

    fn read(&self) -> Generation<K, C> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current.as_ref().map(|(s, l)| (*s, Arc::clone(l)))
    }
}

#[cfg(test)]
mod tests;
