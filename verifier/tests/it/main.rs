//! The verifier's integration tests: one binary. `support` builds real signed artefacts
//! with the keys library and serves them over HTTPS on 127.0.0.1 by the docs/HTTP.md
//! contract; the tests drive `verifier::run` in-process, and `cli` runs the built binary
//! for exit codes.

#![allow(
    clippy::disallowed_methods,
    reason = "end-to-end tests wait on real servers with real deadlines"
)]
// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod batch;
mod cli;
mod corpus;
mod hand_over;
mod images;
mod init;
mod memo;
mod offline;
mod online;
mod presentation;
mod receipt;
mod scan;
mod support;
mod sync;
