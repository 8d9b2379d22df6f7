//! Golden vectors: files in `keys/testdata/` written once by
//! `EDL_WRITE_GOLDEN=1 cargo test -p keys --test golden` and then only read, so that a
//! change to an encoding changes bytes and fails a test. Each kind of document has its own
//! module and folder.

// Test helpers panic on broken fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod presentations;
mod receipts;
mod tokens;
