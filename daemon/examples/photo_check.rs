//! Times the photo pre-checks (`daemon::testing::photo::check`) per photo, and prints the
//! outcome: `cargo run --release -p daemon --example photo_check [FILE…]`.
//!
//! With files, checks each and prints its findings as JSON with the time taken: a way to
//! try the thresholds on real photos. Without, it draws a head-and-shoulders portrait at
//! 600 × 880 (an app's cropped upload) and 3000 × 4000 (a phone's 12 MP photo), saves them
//! as JPEG (quality 90), and times three rounds of decode-only and the full check, side by
//! side with the peer a Python back end would use: Pillow decoding the same file, scaling
//! it to the same analysis size, and taking the variance of its Laplacian and the mean
//! grey (a subset of the checks). Prints medians and the load average.

#![allow(
    clippy::disallowed_methods,
    reason = "timing the pre-checks is what this example is for"
)]
// A measuring tool: any failure ends the run with its message, like a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use daemon::testing::photo::{self, Thresholds};
use image::{Rgb, RgbImage};

const ROUNDS: usize = 3;

fn main() {
    let files: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let thresholds = Thresholds::default();
    if !files.is_empty() {
        for file in files {
            let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let started = Instant::now();
            let outcome = photo::check(&bytes, &thresholds);
            let took = started.elapsed();
            println!(
                "{}: {:.1} ms\n{}",
                file.display(),
                took.as_secs_f64() * 1e3,
                serde_json::to_string_pretty(&outcome).unwrap()
            );
        }
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    println!(
        "load average: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!("{ROUNDS} rounds; each figure is the median time per photo of its round\n");
    for (width, height, runs) in [(600u32, 880u32, 40usize), (3000, 4000, 8)] {
        let path = dir.path().join(format!("portrait-{width}x{height}.jpg"));
        portrait(width, height).save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let outcome = photo::check(&bytes, &thresholds);
        println!(
            "{width}x{height} JPEG, {} KiB, outcome {}",
            bytes.len() / 1024,
            serde_json::to_value(&outcome).unwrap()["outcome"]
        );
        let mut decode = Vec::new();
        let mut full = Vec::new();
        let mut peer = Vec::new();
        for _ in 0..ROUNDS {
            decode.push(median_of(runs, || {
                std::hint::black_box(photo::decode(&bytes, &thresholds).unwrap());
            }));
            full.push(median_of(runs, || {
                std::hint::black_box(photo::check(&bytes, &thresholds));
            }));
            peer.push(pillow(&path, runs, thresholds.analysis_height));
        }
        print_row(
            "edld decode only",
            &decode.iter().map(|d| Some(*d)).collect::<Vec<_>>(),
        );
        print_row(
            "edld check (decode + all checks)",
            &full.iter().map(|d| Some(*d)).collect::<Vec<_>>(),
        );
        print_row("Pillow decode + scale + Laplacian + mean", &peer);
        println!();
    }
}

fn print_row(what: &str, rounds: &[Option<Duration>]) {
    let ms = |d: &Option<Duration>| {
        d.map_or("n/a".to_owned(), |d| {
            format!("{:.1}", d.as_secs_f64() * 1e3)
        })
    };
    let mut sorted: Vec<Duration> = rounds.iter().flatten().copied().collect();
    sorted.sort();
    let median = sorted.get(sorted.len() / 2).copied();
    println!(
        "  {what:<42} rounds {} ms, median {} ms",
        rounds.iter().map(ms).collect::<Vec<_>>().join(" / "),
        ms(&median)
    );
}

fn median_of(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// The same work in Python with Pillow, timed in its own process: the median per photo of
/// `runs` runs, or None when python3 or Pillow is missing.
fn pillow(path: &Path, runs: usize, analysis_height: u32) -> Option<Duration> {
    const SCRIPT: &str = r#"
import sys, time
from PIL import Image, ImageFilter, ImageStat
path, runs, height = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
laplacian = ImageFilter.Kernel((3, 3), [0, 1, 0, 1, -4, 1, 0, 1, 0], scale=1, offset=128)
times = []
for _ in range(runs):
    start = time.perf_counter()
    image = Image.open(path)
    image.load()
    image = image.convert("RGB")
    width = max(1, image.width * height // image.height)
    small = image.reduce(max(1, image.height // (2 * height))).resize((width, height), Image.BILINEAR)
    grey = small.convert("L")
    variance = ImageStat.Stat(grey.filter(laplacian)).var[0]
    mean = ImageStat.Stat(grey).mean[0]
    times.append(time.perf_counter() - start)
times.sort()
print(times[len(times) // 2])
"#;
    let output = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(path)
        .arg(runs.to_string())
        .arg(analysis_height.to_string())
        .output()
        .ok()?;
    if !output.status.success() {
        eprintln!(
            "Pillow peer failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        return None;
    }
    let seconds: f64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs_f64(seconds))
}

/// A head-and-shoulders portrait on white with skin, hair and fabric texture, laid out in
/// fractions of the frame.
fn portrait(width: u32, height: u32) -> RgbImage {
    let (w, h) = (f64::from(width), f64::from(height));
    let (cx, cy, rx, ry) = (0.5 * w, 0.40 * h, 0.33 * w, 0.31 * h);
    RgbImage::from_fn(width, height, |x, y| {
        let (xf, yf) = (f64::from(x), f64::from(y));
        let (u, v) = ((xf - cx) / rx, (yf - cy) / ry);
        let grain = noise(x / 4, y / 4) * 10.0 + noise(x, y) * 4.0;
        let eye = |fx: f64| ((u - fx) / 0.11).powi(2) + ((v + 0.05) / 0.05).powi(2) <= 1.0;
        let colour: [f64; 3] = if u * u + v * v <= 1.0 {
            if v < -0.55 || (u.abs() > 0.85 && v < 0.1) {
                let strand = 14.0 * (xf * 0.35 * 600.0 / w).sin();
                [48.0 + strand + grain, 36.0 + strand + grain, 30.0 + strand]
            } else if eye(-0.36) || eye(0.36) {
                [40.0, 30.0, 30.0]
            } else if (u / 0.25).powi(2) + ((v - 0.45) / 0.06).powi(2) <= 1.0 {
                [170.0 + grain, 80.0, 85.0]
            } else {
                [224.0 + grain, 184.0 + grain, 160.0 + grain]
            }
        } else if (xf - cx).abs() < 0.09 * w && yf > cy && yf < 0.84 * h {
            [214.0 + grain, 172.0 + grain, 150.0 + grain]
        } else if yf > 0.80 * h && (xf - cx).abs() < 0.46 * w - (0.9 * h - yf).max(0.0) * 2.0 {
            [40.0 + grain, 52.0 + grain, 92.0 + grain]
        } else {
            [250.0 + noise(x, y) * 2.0; 3]
        };
        Rgb(colour.map(|c| c.round().clamp(0.0, 255.0) as u8))
    })
}

/// Deterministic noise in [-1, 1] from a pixel's coordinates.
fn noise(x: u32, y: u32) -> f64 {
    let mut v = u64::from(x).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ u64::from(y).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    v ^= v >> 29;
    v = v.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    v ^= v >> 32;
    (v % 2001) as f64 / 1000.0 - 1.0
}
