//! The daemon's pure domain logic: licence records and what a change to one means,
//! applications and their state machine, issuing, the queue's bookkeeping, the throttles
//! and the trust list. No IO, no clock reads, no store, no async runtime: time and
//! randomness come in as arguments.

pub mod access;
pub mod application;
pub mod audit;
pub mod issue;
pub mod photo;
pub mod queue;
pub mod registry;
pub mod status_index;
pub mod throttle;
pub mod trust;
