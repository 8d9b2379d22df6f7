//! Throttle arithmetic: pure, clock-free logic for pacing the drain, estimating waits and
//! deciding admission, the operator-set values that tune it (`settings`) and the value
//! that combines them (`control`). Callers pass monotonic time in; nothing here sleeps or
//! does IO.

pub(crate) mod admission;
pub(crate) mod control;
pub(crate) mod estimate;
pub(crate) mod keyed;
pub(crate) mod lanes;
pub(crate) mod pacer;
pub(crate) mod settings;
pub(crate) mod simulate;

use std::time::Duration;

/// A century: the longest wait quoted and the longest window a limiter keeps. Longer says
/// the same to a person ("never", "unlimited") and keeps sums of times in range.
pub(crate) const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
