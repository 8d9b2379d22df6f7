//! Synthetic portraits for tests and examples: a head-and-shoulders photo drawn in
//! fractions of the frame as the authority's template lays it out, and the ways a real
//! upload goes wrong (exposure, blur, background, crop), encoded as JPEG or PNG. The photo
//! pre-check tests, the end-to-end tests and the browser tests upload these.

// Test fixtures: an encoder failing on an in-memory image is a bug worth a panic.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageEncoder, ImageFormat, Rgb, RgbImage};

/// A synthetic head-and-shoulders portrait: hair, a textured face with eyes, brows,
/// nose and mouth, neck and clothes, on a background, all laid out in fractions of the
/// frame as the authority's template does (head top about 8 % down, chin about 70 %).
#[derive(Clone, Copy, Debug)]
pub struct Scene {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The background colour.
    pub background: [u8; 3],
    /// The background's brightness on the left edge relative to the right (1 = even).
    pub shadow: f64,
    /// The head's size relative to a compliant one; smaller heads sit lower.
    pub head: f64,
    /// The light on the person relative to the background (1 = even, lower = backlit).
    pub face_light: f64,
}

impl Default for Scene {
    fn default() -> Self {
        Scene {
            width: 600,
            height: 880,
            background: [250, 250, 250],
            shadow: 1.0,
            head: 1.0,
            face_light: 1.0,
        }
    }
}

pub fn portrait(scene: Scene) -> RgbImage {
    let (w, h) = (f64::from(scene.width), f64::from(scene.height));
    // The head is an ellipse; its bottom (the chin) stays at 70 % of the height and a
    // smaller head therefore starts lower.
    let ry = 0.31 * h * scene.head;
    let rx = 0.33 * w * scene.head.min(1.0);
    let (cx, cy) = (0.5 * w, 0.71 * h - ry);
    RgbImage::from_fn(scene.width, scene.height, |x, y| {
        let (xf, yf) = (f64::from(x), f64::from(y));
        let (u, v) = ((xf - cx) / rx, (yf - cy) / ry);
        let in_head = u * u + v * v <= 1.0;
        let near = |fx: f64, fy: f64, ax: f64, ay: f64| {
            let (a, b) = (
                (xf - (cx + fx * rx)) / (ax * rx),
                (yf - (cy + fy * ry)) / (ay * ry),
            );
            a * a + b * b <= 1.0
        };
        let texture = smooth_noise(x, y, 4.0, 1);
        let subject: Option<[f64; 3]> = if in_head {
            if v < -0.55 || (u.abs() > 0.85 && v < 0.1) {
                // Hair, with strands.
                let strand = 14.0 * ((xf * 0.35 + yf * 0.05).sin());
                Some([
                    48.0 + strand + 10.0 * texture,
                    36.0 + strand + 8.0 * texture,
                    30.0 + strand,
                ])
            } else if near(-0.38, -0.2, 0.14, 0.045) || near(0.38, -0.2, 0.14, 0.045) {
                Some([55.0, 40.0, 35.0]) // brows
            } else if near(-0.36, -0.05, 0.11, 0.05) || near(0.36, -0.05, 0.11, 0.05) {
                if near(-0.36, -0.05, 0.04, 0.04) || near(0.36, -0.05, 0.04, 0.04) {
                    Some([30.0, 25.0, 25.0]) // pupils
                } else {
                    Some([235.0, 232.0, 228.0]) // whites of the eyes
                }
            } else if near(0.0, 0.45, 0.25, 0.06) {
                Some([170.0 + 6.0 * texture, 80.0, 85.0]) // mouth
            } else if (u.abs() < 0.08 && (-0.05..0.3).contains(&v)) || near(0.0, 0.3, 0.12, 0.04) {
                Some([200.0 + 6.0 * texture, 158.0, 135.0]) // nose
            } else {
                Some([
                    224.0 + 9.0 * texture,
                    184.0 + 8.0 * texture,
                    160.0 + 7.0 * texture,
                ])
            }
        } else if (xf - cx).abs() < 0.09 * w && yf > cy && yf < 0.84 * h {
            Some([
                214.0 + 8.0 * texture,
                172.0 + 7.0 * texture,
                150.0 + 6.0 * texture,
            ]) // neck
        } else if yf > 0.80 * h && (xf - cx).abs() < 0.46 * w - (0.9 * h - yf).max(0.0) * 2.0 {
            Some([
                40.0 + 12.0 * texture,
                52.0 + 12.0 * texture,
                92.0 + 14.0 * texture,
            ]) // clothes
        } else {
            None
        };
        let colour = match subject {
            Some(colour) => colour.map(|c| c * scene.face_light),
            None => {
                // Background, lit from the right when there is a shadow.
                let light = scene.shadow + (1.0 - scene.shadow) * xf / w;
                let grain = 2.0 * smooth_noise(x, y, 2.0, 2);
                scene.background.map(|c| f64::from(c) * light + grain)
            }
        };
        Rgb(colour.map(|c| c.round().clamp(0.0, 255.0) as u8))
    })
}

/// Value noise in [-1, 1], smooth over `cell` pixels: texture like skin or fabric
/// rather than per-pixel static.
fn smooth_noise(x: u32, y: u32, cell: f64, seed: u32) -> f64 {
    let hash = |i: i64, j: i64| {
        let mut v = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (j as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
            ^ u64::from(seed).wrapping_mul(0x1656_67B1_9E37_79F9);
        v ^= v >> 29;
        v = v.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        v ^= v >> 32;
        (v % 2001) as f64 / 1000.0 - 1.0
    };
    let (fx, fy) = (f64::from(x) / cell, f64::from(y) / cell);
    let (i, j) = (fx.floor() as i64, fy.floor() as i64);
    let (tx, ty) = (fx - fx.floor(), fy - fy.floor());
    let top = hash(i, j) * (1.0 - tx) + hash(i + 1, j) * tx;
    let bottom = hash(i, j + 1) * (1.0 - tx) + hash(i + 1, j + 1) * tx;
    top * (1.0 - ty) + bottom * ty
}

pub fn resized(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    image::imageops::resize(image, width, height, image::imageops::FilterType::Triangle)
}

pub fn exposed(image: &RgbImage, gain: f64, offset: f64) -> RgbImage {
    let mut out = image.clone();
    for p in out.pixels_mut() {
        p.0 =
            p.0.map(|c| (f64::from(c) * gain + offset).round().clamp(0.0, 255.0) as u8);
    }
    out
}

pub fn blurred(image: &RgbImage, sigma: f32) -> RgbImage {
    image::imageops::blur(image, sigma)
}

pub fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(
            image,
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

pub fn png(image: &RgbImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image.clone())
        .write_to(&mut out, ImageFormat::Png)
        .unwrap();
    out.into_inner()
}
