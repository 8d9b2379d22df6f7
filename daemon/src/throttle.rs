//! Throttle arithmetic: pure, clock-free logic for pacing the drain, estimating waits and
//! deciding admission. Callers pass monotonic time in; nothing here sleeps or does IO.

pub mod admission;
pub mod estimate;
pub mod keyed;
pub mod lanes;
pub mod pacer;
pub mod simulate;
