//! The daemon's view of time. Everything that needs "now" asks a `Clock`; `main.rs`
//! passes the system clock and tests pass a `ManualClock` they move by hand.

use std::sync::atomic::{AtomicU64, Ordering};

use keys::UnixTime;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> UnixTime;
}

/// A clock that only moves when told to.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: UnixTime) -> ManualClock {
        ManualClock {
            now: AtomicU64::new(start.0),
        }
    }

    /// Moves the clock to `now`.
    pub fn set(&self, now: UnixTime) {
        self.now.store(now.0, Ordering::SeqCst);
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance(&self, seconds: u64) {
        self.now.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        UnixTime(self.now.load(Ordering::SeqCst))
    }
}

/// Monotonic time since the daemon started, for the throttles: the `now` their arithmetic
/// takes, and governor's clock for the keyed limits (the two always agree).
#[derive(Clone, Copy, Debug)]
pub struct Monotonic {
    origin: std::time::Instant,
}

impl Monotonic {
    /// Starts counting now.
    pub fn start() -> Monotonic {
        Monotonic {
            origin: std::time::Instant::now(),
        }
    }

    /// Time since the start.
    pub fn elapsed(&self) -> std::time::Duration {
        self.origin.elapsed()
    }
}

impl governor::clock::Clock for Monotonic {
    type Instant = governor::nanos::Nanos;

    fn now(&self) -> Self::Instant {
        governor::nanos::Nanos::from(self.origin.elapsed())
    }
}
