//! Throttle arithmetic: pure, clock-free logic for pacing the drain, estimating waits and
//! deciding admission, the operator-set values that tune it (`settings`) and the value
//! that combines them (`control`). Callers pass monotonic time in; nothing here sleeps or
//! does IO.

pub mod admission;
pub mod control;
pub mod estimate;
pub mod keyed;
pub mod lanes;
pub mod pacer;
pub mod settings;
pub mod simulate;
