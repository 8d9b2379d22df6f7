//! The daemon's view of time, both kinds: wall time (Unix seconds, for what is written and
//! signed) and monotonic time (for the throttles, timings and pacing, which must never go
//! backwards). Everything asks a [`Clock`]; `main.rs` passes the system clock, tests pass a
//! [`ManualClock`] they move by hand. Nothing below `main.rs` reads `SystemTime::now` or
//! `Instant::now` (clippy's `disallowed-methods` enforces it).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use keys::UnixTime;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current wall time.
    fn now(&self) -> UnixTime;

    /// Time since an arbitrary fixed origin; never goes backwards.
    fn monotonic(&self) -> Duration;
}

/// A clock that only moves when told to: wall time in seconds and monotonic time in
/// nanoseconds, moved together by [`ManualClock::advance_by`] or separately.
#[derive(Debug, Default)]
pub struct ManualClock {
    wall: AtomicU64,
    monotonic_nanos: AtomicU64,
}

impl ManualClock {
    /// A clock showing `start`, with monotonic time at zero.
    pub fn new(start: UnixTime) -> ManualClock {
        ManualClock {
            wall: AtomicU64::new(start.0),
            monotonic_nanos: AtomicU64::new(0),
        }
    }

    /// Moves the wall clock to `now` (monotonic time stays).
    pub fn set(&self, now: UnixTime) {
        self.wall.store(now.0, Ordering::SeqCst);
    }

    /// Moves the wall clock forward by `seconds` (monotonic time stays).
    pub fn advance(&self, seconds: u64) {
        self.wall.fetch_add(seconds, Ordering::SeqCst);
    }

    /// Moves monotonic time forward by `by` (wall time stays).
    pub fn advance_monotonic(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.monotonic_nanos.fetch_add(nanos, Ordering::SeqCst);
    }

    /// Moves both clocks forward by `by` (the wall clock by its whole seconds as they
    /// accumulate).
    pub fn advance_by(&self, by: Duration) {
        let before = self.monotonic();
        self.advance_monotonic(by);
        let whole = self.monotonic().as_secs() - before.as_secs();
        self.advance(whole);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        UnixTime(self.wall.load(Ordering::SeqCst))
    }

    fn monotonic(&self) -> Duration {
        Duration::from_nanos(self.monotonic_nanos.load(Ordering::SeqCst))
    }
}

/// The daemon's clock as governor's clock, for the keyed admission limits: the same
/// monotonic time the throttle's arithmetic takes, so the two always agree.
#[derive(Clone)]
pub struct GovernorClock(pub Arc<dyn Clock>);

impl governor::clock::Clock for GovernorClock {
    type Instant = governor::nanos::Nanos;

    fn now(&self) -> Self::Instant {
        governor::nanos::Nanos::from(self.0.monotonic())
    }
}

impl std::fmt::Debug for GovernorClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GovernorClock")
    }
}
