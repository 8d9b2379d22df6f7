//! The daemon's pure domain logic: licence records and what a change to one means,
//! applications and their state machine, issuing, the queue's bookkeeping, the throttles
//! and the trust list. No IO, no clock reads, no store, no async runtime: time and
//! randomness come in as arguments.

pub(crate) mod access;
pub(crate) mod application;
pub(crate) mod audit;
pub(crate) mod issue;
// The notification building blocks (events, signatures, retries, URL policy); the
// store's outbox and the delivery service are built on them.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod notify;
pub mod photo;
pub(crate) mod queue;
pub(crate) mod registry;
pub(crate) mod status_index;
pub(crate) mod throttle;
pub(crate) mod trust;
