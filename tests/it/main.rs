//! The one end-to-end test binary.

#![allow(
    clippy::disallowed_methods,
    reason = "end-to-end tests wait on real processes with real deadlines"
)]
// Test helpers outside `#[test]` functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod audit;
mod cluster;
mod crash;
mod holder;
mod issue;
mod keys;
mod limits;
mod live;
mod lookups;
mod monitoring;
mod node_keys;
mod pages;
mod photos;
mod postgres;
mod receipts;
mod scheduling;
mod secrets;
mod store_copy;
mod systemd;
mod throttle;
mod verify;
mod webhooks;
