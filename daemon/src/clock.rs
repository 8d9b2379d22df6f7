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
