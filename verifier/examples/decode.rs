//! The QR image decoder alone, in-process, over a corpus from `verifier/corpus/generate.py`:
//! per category, how many images it reads and how long it takes. For working on the
//! decoder; `verifier/corpus/run` measures the whole program against zbarimg.
//!
//! `cargo run --release -p verifier --example decode -- CORPUS_DIR`

// A measurement tool: failures abort it, and it reads the monotonic clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::time::Instant;

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: decode CORPUS_DIR"));
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv")).unwrap();
    let mut counts: BTreeMap<&str, (u32, u32, f64)> = BTreeMap::new();
    let mut missed = Vec::new();
    for row in manifest.lines() {
        let fields: Vec<&str> = row.split('\t').collect();
        let [file, category, expected] = fields[..] else {
            panic!("bad manifest row {row:?}");
        };
        let started = Instant::now();
        let read = verifier::qr_image::decode_file(&dir.join(file)).ok();
        let seconds = started.elapsed().as_secs_f64();
        let ok = read.as_deref() == Some(expected);
        if !ok {
            missed.push(file);
        }
        let entry = counts.entry(category).or_default();
        *entry = (entry.0 + 1, entry.1 + u32::from(ok), entry.2 + seconds);
    }
    let mut total = (0, 0, 0.0);
    for (category, (n, ok, seconds)) in &counts {
        println!(
            "{category:<12} {n:>4} {ok:>4}  {:>7.1} ms/image",
            1000.0 * seconds / f64::from(*n)
        );
        total = (total.0 + n, total.1 + ok, total.2 + seconds);
    }
    println!(
        "{:<12} {:>4} {:>4}  {:>7.1} ms/image",
        "all",
        total.0,
        total.1,
        1000.0 * total.2 / f64::from(total.0)
    );
    println!("missed: {}", missed.join(" "));
}
