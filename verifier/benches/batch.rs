//! Batch throughput against the floor: raw ed25519-dalek `verify_strict` on the same number
//! of threads, three interleaved rounds, medians. Also leaves a ready terminal (config,
//! synced cache, QR texts) in `target/verifier-bench/` for whole-process timing; the whole
//! measurement is `verifier/bench/run`.
//!
//! `cargo bench -p verifier --bench batch [-- TOKENS THREADS [raw]]`: with `raw`, one round
//! of the floor alone (`verifier/bench/run` interleaves it with whole-process batches).

// A benchmark harness: failures abort it, and it reads the real clock for its fixture.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::io::Write;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::Signer;
use keys::UnixTime;
use keys::token;
use verifier::check::Trust;
use verifier::verdict::Policy;

#[path = "support/terminal.rs"]
mod terminal;

use terminal::{claims, seed_terminal};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let tokens: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let threads: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2);
    let raw_only = args.get(2).is_some_and(|a| a == "raw");
    let now = UnixTime(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    );

    // The floor: verify_strict over messages and signatures of the same size, same threads.
    let dalek = ed25519_dalek::SigningKey::from_bytes(&[2; 32]);
    let public = dalek.verifying_key();
    let messages: Vec<(Vec<u8>, ed25519_dalek::Signature)> = (0..tokens)
        .map(|i| {
            let message = format!("{i:0>300}").into_bytes();
            let signature = dalek.sign(&message);
            (message, signature)
        })
        .collect();
    // Same work distribution as the batch: chunks of 64 from a shared counter.
    let raw_once = || {
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    loop {
                        let start = next.fetch_add(64, std::sync::atomic::Ordering::Relaxed);
                        if start >= tokens {
                            return;
                        }
                        for (message, signature) in &messages[start..(start + 64).min(tokens)] {
                            assert!(public.verify_strict(message, signature).is_ok());
                        }
                    }
                });
            }
        });
    };

    let rate = |d: Duration| tokens as f64 / d.as_secs_f64();
    if raw_only {
        raw_once();
        println!("raw verify_strict: {:.0}/s", rate(timed(&raw_once)));
        return;
    }

    let (root, credential, status) = terminal::keys();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/verifier-bench/in-process");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    seed_terminal(&dir, &root, &credential, &status, now);

    let texts: Vec<String> = (0..tokens as u64)
        .map(|i| keys::qr::encode(&token::sign(&claims(i, now), &credential)))
        .collect();
    std::fs::write(dir.join("qr.txt"), &texts[0]).unwrap();
    std::fs::write(dir.join("batch.txt"), texts.join("\n") + "\n").unwrap();

    let trust = Trust::load(&dir.join("cache"), &[root.public().clone()]).unwrap();
    let policy = Policy {
        max_status_age: 86_400,
        clock_tolerance: 300,
        require_holder_binding: false,
        slot_skew: keys::presentation::DEFAULT_SLOT_SKEW,
    };
    let input = std::fs::read(dir.join("batch.txt")).unwrap();
    let mut sample = Vec::new();
    verifier::batch::run(
        &mut &input[..2_000],
        &mut sample,
        &trust,
        &policy,
        now,
        NonZeroUsize::MIN,
    )
    .unwrap();
    assert!(String::from_utf8_lossy(&sample).contains("\"verdict\":\"valid\""));
    let batch_once = || {
        let mut out = CountingSink(0);
        verifier::batch::run(
            &mut &input[..],
            &mut out,
            &trust,
            &policy,
            now,
            NonZeroUsize::new(threads).unwrap(),
        )
        .unwrap();
        assert_eq!(out.0, tokens);
    };
    // Three interleaved rounds, medians: the machine is shared, and a neighbour's burst
    // should not land on one side of the comparison only.
    println!("tokens: {tokens}, threads: {threads}");
    let (mut raw, mut batch) = (Vec::new(), Vec::new());
    for round in 1..=3 {
        raw.push(rate(timed(&raw_once)));
        batch.push(rate(timed(&batch_once)));
        println!(
            "round {round}: raw verify_strict {:>7.0}/s, edl-verify batch {:>7.0}/s",
            raw[round - 1],
            batch[round - 1]
        );
    }
    let (raw, batch) = (median(&mut raw), median(&mut batch));
    println!("raw verify_strict, median {raw:.0} verifications/s");
    println!("edl-verify batch, median {batch:.0} tokens/s (decode, verify, status, JSON)");
    println!("ratio: {:.2}", batch / raw);
    println!(
        "terminal for hyperfine: {}",
        dir.canonicalize().unwrap().display()
    );
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn timed(f: &dyn Fn()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

struct CountingSink(usize);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.iter().filter(|&&b| b == b'\n').count();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
