//! Writes a ready terminal and real credentials for measurements from outside: the QR
//! corpus (`verifier/corpus/run`), `verifier/bench/run` and the scan latency script.
//!
//! `cargo run --release -p verifier --example fixture -- DIR [TOKENS]` writes
//! `DIR/verify.toml`, `DIR/root.pub.pem`, a synced `DIR/cache/`, `DIR/qr.txt` (one QR text)
//! and `DIR/tokens.txt` (TOKENS QR texts, default 20 000, one per line), all signed with
//! fixed test keys and valid for 30 days from now; `DIR/bound.txt` (the first credential
//! bound to a fixed device key) and `DIR/presentation.txt` (its `DL2:` presentation for
//! the longest slot, 300 s, holding now: check it within five minutes).

// A measurement tool: failures abort it, and it reads the real clock for its fixture.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use keys::UnixTime;

#[path = "../benches/support/terminal.rs"]
mod terminal;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("usage: fixture DIR [TOKENS]"));
    let tokens: u64 = args.next().map_or(20_000, |n| n.parse().expect("TOKENS"));
    let now = UnixTime(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    );
    let (root, credential, status) = terminal::keys();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    terminal::seed_terminal(&dir, &root, &credential, &status, now);
    let texts: Vec<String> = (0..tokens)
        .map(|i| keys::qr::encode(&keys::token::sign(&terminal::claims(i, now), &credential)))
        .collect();
    std::fs::write(
        dir.join("qr.txt"),
        texts.first().cloned().unwrap_or_default(),
    )
    .unwrap();
    std::fs::write(dir.join("tokens.txt"), texts.join("\n") + "\n").unwrap();
    let device = keys::SigningKey::from_seed(&[0x5a; 32]);
    let bound = keys::token::sign_bound(&terminal::claims(0, now), device.public(), &credential);
    let slot =
        keys::presentation::Slot::containing(now, keys::presentation::MAX_SLOT_LENGTH).unwrap();
    std::fs::write(dir.join("bound.txt"), keys::qr::encode(&bound)).unwrap();
    std::fs::write(
        dir.join("presentation.txt"),
        keys::qr::encode_presentation(&keys::presentation::present(&bound, &device, slot, None)),
    )
    .unwrap();
    println!("{}", dir.canonicalize().unwrap().display());
}
