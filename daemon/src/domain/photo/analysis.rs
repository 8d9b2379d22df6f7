//! The measurements of a decoded photo: resolution, aspect, tonal spread, background
//! whiteness and evenness, exposure and clipping, sharpness, and where the head starts.

use image::{DynamicImage, GrayImage, RgbImage};

use super::{Code, Finding, Thresholds, Verdict};

/// Measures a decoded, upright photo against `thresholds`: every check, in a fixed
/// order, one finding each.
pub fn analyse(image: &RgbImage, thresholds: &Thresholds) -> Vec<Finding> {
    let t = thresholds;
    let (width, height) = image.dimensions();
    if width == 0 || height == 0 {
        return vec![Finding::new(Code::Unreadable, Verdict::Fail, 0.0, 0.0)];
    }
    let mut findings = Vec::with_capacity(10);

    let short_side = f64::from(width.min(height));
    findings.push(lower_is_worse(
        Code::TooSmall,
        short_side,
        f64::from(t.min_side_review),
        f64::from(t.min_side_fail),
    ));

    let ratio = f64::from(height) / f64::from(width.max(1));
    let deviation = (ratio / t.aspect - 1.0).abs();
    findings.push(higher_is_worse(
        Code::WrongAspect,
        deviation,
        t.aspect_review,
        t.aspect_fail,
    ));

    // Clamped so that thresholds that skipped `check_bounds` still leave pixels to
    // measure.
    let small = scaled(image, t.analysis_height.clamp(16, 8192));
    if small.width() == 0 || small.height() == 0 {
        return vec![Finding::new(Code::Unreadable, Verdict::Fail, 0.0, 0.0)];
    }
    let grey = DynamicImage::ImageRgb8(small.clone()).into_luma8();
    let (w, h) = small.dimensions();

    findings.push(lower_is_worse(
        Code::NotAPhoto,
        standard_deviation(grey.pixels().map(|p| f64::from(p.0[0]))),
        t.tonal_spread_review,
        t.tonal_spread_fail,
    ));

    // The band where the background must show: along the top, and down both sides to
    // about the chin (the shoulders may reach the lower edges). Split into segments so
    // that a shadow on one side shows as a difference between them; each segment's
    // median ignores a strand of hair that crosses it.
    let top = Region::of(w, h, (0.0, 1.0 / 3.0), (0.0, 0.05));
    let segments = [
        top,
        Region::of(w, h, (1.0 / 3.0, 2.0 / 3.0), (0.0, 0.05)),
        Region::of(w, h, (2.0 / 3.0, 1.0), (0.0, 0.05)),
        Region::of(w, h, (0.0, 0.06), (0.05, 0.30)),
        Region::of(w, h, (0.0, 0.06), (0.30, 0.55)),
        Region::of(w, h, (0.94, 1.0), (0.05, 0.30)),
        Region::of(w, h, (0.94, 1.0), (0.30, 0.55)),
    ];
    let mut deficits: Vec<u8> = Vec::new();
    let mut segment_greys: Vec<f64> = Vec::with_capacity(segments.len());
    for segment in &segments {
        let mut greys: Vec<u8> = Vec::new();
        for (x, y) in segment.points() {
            let [r, g, b] = small.get_pixel(x, y).0;
            deficits.push(255 - r.min(g).min(b));
            greys.push(grey.get_pixel(x, y).0[0]);
        }
        segment_greys.push(f64::from(median(&mut greys)));
    }
    findings.push(higher_is_worse(
        Code::BackgroundNotWhite,
        f64::from(median(&mut deficits)),
        t.background_review,
        t.background_fail,
    ));
    let brightest = segment_greys.iter().copied().fold(0.0, f64::max);
    let darkest = segment_greys.iter().copied().fold(255.0, f64::min);
    findings.push(higher_is_worse(
        Code::BackgroundUneven,
        brightest - darkest,
        t.uneven_review,
        t.uneven_fail,
    ));

    // The face area: the middle half of the width, from below the hairline to about the
    // mouth in a compliant layout.
    let face = Region::of(w, h, (0.25, 0.75), (0.2, 0.65));
    let face_greys: Vec<u8> = face
        .points()
        .map(|(x, y)| grey.get_pixel(x, y).0[0])
        .collect();
    let mean = face_greys.iter().map(|&g| f64::from(g)).sum::<f64>() / face_greys.len() as f64;
    findings.push(lower_is_worse(
        Code::TooDark,
        mean,
        t.dark_review,
        t.dark_fail,
    ));
    findings.push(higher_is_worse(
        Code::TooBright,
        mean,
        t.bright_review,
        t.bright_fail,
    ));
    let clipped = face_greys.iter().filter(|&&g| g <= 3 || g >= 252).count();
    findings.push(higher_is_worse(
        Code::Clipped,
        clipped as f64 / face_greys.len() as f64,
        t.clipped_review,
        t.clipped_fail,
    ));

    findings.push(lower_is_worse(
        Code::Blurred,
        laplacian_variance(&grey, face),
        t.sharpness_review,
        t.sharpness_fail,
    ));

    findings.push(higher_is_worse(
        Code::HeadTooSmall,
        head_top(&small, top),
        t.head_top_review,
        t.head_top_fail,
    ));
    findings
}

fn lower_is_worse(code: Code, measured: f64, review: f64, fail: f64) -> Finding {
    if measured < fail {
        Finding::new(code, Verdict::Fail, measured, fail)
    } else if measured < review {
        Finding::new(code, Verdict::Borderline, measured, review)
    } else {
        Finding::new(code, Verdict::Pass, measured, review)
    }
}

fn higher_is_worse(code: Code, measured: f64, review: f64, fail: f64) -> Finding {
    if measured > fail {
        Finding::new(code, Verdict::Fail, measured, fail)
    } else if measured > review {
        Finding::new(code, Verdict::Borderline, measured, review)
    } else {
        Finding::new(code, Verdict::Pass, measured, review)
    }
}

/// The photo at no more than `height` pixels high, aspect kept, by area averaging: each
/// source pixel adds to the one target pixel it falls in, which does not invent
/// sharpness. Written here because `image`'s `thumbnail` and `resize` took 10–20 ms for a
/// 600 × 880 photo, several times its decoding; this is one pass over the raw bytes.
fn scaled(image: &RgbImage, height: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    if h <= height {
        return image.clone();
    }
    let width = ((u64::from(w) * u64::from(height)) / u64::from(h)).max(1);
    let (w, h) = (w as usize, h as usize);
    let (tw, th) = (width as usize, height as usize);
    let column: Vec<usize> = (0..w).map(|x| x * tw / w).collect();
    let mut sums = vec![0u64; tw * 3];
    let mut counts = vec![0u64; tw];
    let mut out = vec![0u8; tw * th * 3];
    let mut flush = |row: usize, sums: &mut [u64], counts: &mut [u64]| {
        let target = &mut out[row * tw * 3..(row + 1) * tw * 3];
        for (x, count) in counts.iter_mut().enumerate() {
            let n = (*count).max(1);
            for c in 0..3 {
                target[x * 3 + c] = ((sums[x * 3 + c] + n / 2) / n) as u8;
                sums[x * 3 + c] = 0;
            }
            *count = 0;
        }
    };
    let mut current = 0;
    for (y, row) in image.as_raw().chunks_exact(w * 3).enumerate() {
        let target_row = y * th / h;
        if target_row != current {
            flush(current, &mut sums, &mut counts);
            current = target_row;
        }
        for (pixel, &x) in row.chunks_exact(3).zip(&column) {
            sums[x * 3] += u64::from(pixel[0]);
            sums[x * 3 + 1] += u64::from(pixel[1]);
            sums[x * 3 + 2] += u64::from(pixel[2]);
            counts[x] += 1;
        }
    }
    flush(current, &mut sums, &mut counts);
    // The buffer is exactly `tw` × `th` RGB pixels, so this cannot fail; an empty image
    // (which `analyse` then refuses) would only be a bug.
    RgbImage::from_raw(tw as u32, th as u32, out).unwrap_or_default()
}

/// A rectangle of the analysis image, never empty.
#[derive(Clone, Copy, Debug)]
struct Region {
    x0: u32,
    x1: u32,
    y0: u32,
    y1: u32,
}

impl Region {
    /// The part of a `w` × `h` image between the given fractions of its width and height,
    /// at least one pixel each way.
    fn of(w: u32, h: u32, (left, right): (f64, f64), (top, bottom): (f64, f64)) -> Region {
        let span = |size: u32, from: f64, to: f64| {
            let size_f = f64::from(size);
            let a = ((from * size_f).floor() as u32).min(size.saturating_sub(1));
            let b = ((to * size_f).ceil() as u32).clamp(a + 1, size.max(a + 1));
            (a, b)
        };
        let (x0, x1) = span(w, left, right);
        let (y0, y1) = span(h, top, bottom);
        Region { x0, x1, y0, y1 }
    }

    fn points(self) -> impl Iterator<Item = (u32, u32)> {
        (self.y0..self.y1).flat_map(move |y| (self.x0..self.x1).map(move |x| (x, y)))
    }
}

fn median(values: &mut [u8]) -> u8 {
    if values.is_empty() {
        return 0;
    }
    let mid = values.len() / 2;
    *values.select_nth_unstable(mid).1
}

fn standard_deviation(values: impl Iterator<Item = f64>) -> f64 {
    let (mut n, mut sum, mut squares) = (0.0, 0.0, 0.0);
    for v in values {
        n += 1.0;
        sum += v;
        squares += v * v;
    }
    if n == 0.0 {
        return 0.0;
    }
    let mean = sum / n;
    (squares / n - mean * mean).max(0.0).sqrt()
}

/// Variance of the 4-neighbour Laplacian over the region's interior: edges and texture
/// give large second derivatives, blur smooths them away. 0 when the region is too thin
/// to have an interior.
fn laplacian_variance(grey: &GrayImage, region: Region) -> f64 {
    let (w, h) = grey.dimensions();
    let x0 = region.x0.max(1);
    let y0 = region.y0.max(1);
    let x1 = region.x1.min(w.saturating_sub(1));
    let y1 = region.y1.min(h.saturating_sub(1));
    let at = |x: u32, y: u32| f64::from(grey.get_pixel(x, y).0[0]);
    let values = (y0..y1).flat_map(|y| {
        (x0..x1).map(move |x| {
            at(x - 1, y) + at(x + 1, y) + at(x, y - 1) + at(x, y + 1) - 4.0 * at(x, y)
        })
    });
    let sd = standard_deviation(values);
    sd * sd
}

/// Where the subject starts, as a fraction of the height: the first row whose middle
/// part differs clearly from the background seen in the top band. 1.0 when nothing
/// differs (no subject at all).
fn head_top(image: &RgbImage, top_band: Region) -> f64 {
    let (w, h) = image.dimensions();
    let mut channels: [Vec<u8>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let band = Region { x1: w, ..top_band };
    for (x, y) in band.points() {
        for (c, v) in channels.iter_mut().zip(image.get_pixel(x, y).0) {
            c.push(v);
        }
    }
    let background = channels.map(|mut c| i16::from(median(&mut c)));
    let middle = Region::of(w, h, (0.3, 0.7), (0.0, 1.0));
    for y in 0..h {
        let columns = middle.x1 - middle.x0;
        let differing = (middle.x0..middle.x1)
            .filter(|&x| {
                let p = image.get_pixel(x, y).0;
                (0..3).any(|c| (i16::from(p[c]) - background[c]).abs() > 48)
            })
            .count();
        // A quarter of the middle, so a stray hair or a speck of dust does not count.
        if differing * 4 >= columns as usize {
            return f64::from(y) / f64::from(h);
        }
    }
    1.0
}
