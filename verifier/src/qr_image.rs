//! QR codes in photos and screenshots (PNG or JPEG). The first attempt runs the decoder on
//! the image as it is (rqrr finds the code at any rotation and binarises adaptively);
//! if that fails, further attempts try a smaller copy (large photos), a median-filtered one
//! (speckle noise), slightly blurred ones (sensor noise, JPEG artefacts), a global Otsu threshold (uneven light) and an
//! inverted one (light-on-dark screens). The first text found that starts with the edl
//! prefix wins; otherwise the first text found at all, for the verifier to refuse.

use std::path::Path;

use image::GrayImage;
use image::imageops::{self, FilterType};

/// Images larger than this on their longer side are also tried scaled down.
const WORKING_SIZE: u32 = 1200;

/// Why no QR text came out of an image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not a PNG or JPEG we can decode.
    #[error("not a PNG or JPEG image: {0}")]
    Format(String),
    /// No QR code could be read.
    #[error("no readable QR code in the image")]
    NoCode,
}

/// Reads the QR text from the image file at `path`.
pub fn decode_file(path: &Path) -> Result<String, ImageError> {
    let bytes = std::fs::read(path).map_err(|source| ImageError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    decode_bytes(&bytes)
}

/// A credential (`DL1:`) or a presentation (`DL2:`).
fn is_edl_text(text: &str) -> bool {
    text.starts_with(keys::qr::PREFIX) || text.starts_with(keys::qr::PRESENTATION_PREFIX)
}

/// Reads the QR text from PNG or JPEG bytes.
pub fn decode_bytes(bytes: &[u8]) -> Result<String, ImageError> {
    let image = image::load_from_memory(bytes).map_err(|e| ImageError::Format(e.to_string()))?;
    decode_gray(&image.to_luma8())
}

/// Reads the QR text from a greyscale image, trying the preprocessing steps in turn.
pub fn decode_gray(image: &GrayImage) -> Result<String, ImageError> {
    let mut fallback = None;
    let mut attempt = |candidate: &GrayImage| -> Option<String> {
        let texts = decode_once(candidate);
        if let Some(text) = texts.iter().find(|t| is_edl_text(t)) {
            return Some(text.clone());
        }
        if fallback.is_none() {
            fallback = texts.into_iter().next();
        }
        None
    };
    if let Some(text) = attempt(image) {
        return Ok(text);
    }
    if let Some(text) = attempt_zxing(image) {
        return Ok(text);
    }
    let longer = image.width().max(image.height());
    let working = if longer > WORKING_SIZE {
        let scale = f64::from(WORKING_SIZE) / f64::from(longer);
        let small = imageops::resize(
            image,
            ((f64::from(image.width()) * scale) as u32).max(1),
            ((f64::from(image.height()) * scale) as u32).max(1),
            FilterType::Triangle,
        );
        if let Some(text) = attempt(&small) {
            return Ok(text);
        }
        small
    } else {
        image.clone()
    };
    let median = median3(&working);
    if let Some(text) = attempt(&median) {
        return Ok(text);
    }
    if let Some(text) = attempt(&threshold(&median, otsu(&median))) {
        return Ok(text);
    }
    for sigma in [1.0, 2.0] {
        let blurred = imageops::blur(&working, sigma);
        if let Some(text) = attempt(&blurred) {
            return Ok(text);
        }
        if let Some(text) = attempt(&threshold(&blurred, otsu(&blurred))) {
            return Ok(text);
        }
    }
    if let Some(text) = attempt(&threshold(&working, otsu(&working))) {
        return Ok(text);
    }
    let mut inverted = working.clone();
    imageops::invert(&mut inverted);
    if let Some(text) = attempt(&inverted) {
        return Ok(text);
    }
    // Small modules (a code far from the camera): rqrr samples one pixel per module and
    // misses at under ~2 pixels; twice the size, interpolated, gives it room.
    if working.width().max(working.height()) <= UPSCALE_LIMIT {
        let larger = upscale(&working);
        if let Some(text) = attempt(&larger) {
            return Ok(text);
        }
        if let Some(text) = attempt(&threshold(&larger, otsu(&larger))) {
            return Ok(text);
        }
    }
    // A small code in a large, busy photo: the finder search drowns in the clutter and
    // the scaled-down copy lost the code's detail. Look at overlapping windows of the
    // full image, each also at twice its size.
    if longer > TILE {
        for window in windows(image) {
            let larger = upscale(&window);
            if let Some(text) = attempt(&window).or_else(|| attempt(&larger)) {
                return Ok(text);
            }
        }
    }
    fallback.ok_or(ImageError::NoCode)
}

/// Images up to this size are also tried at twice their size.
const UPSCALE_LIMIT: u32 = 1000;

/// The side of the windows a large image is searched in, overlapping by half.
const TILE: u32 = 640;

fn upscale(image: &GrayImage) -> GrayImage {
    imageops::resize(
        image,
        image.width() * 2,
        image.height() * 2,
        FilterType::Triangle,
    )
}

/// Overlapping `TILE`-sized windows covering `image`, stride half a window.
fn windows(image: &GrayImage) -> impl Iterator<Item = GrayImage> + '_ {
    let (width, height) = image.dimensions();
    let starts = |length: u32| {
        let last = length.saturating_sub(TILE);
        (0..=last / (TILE / 2))
            .map(|i| i * (TILE / 2))
            .chain((!last.is_multiple_of(TILE / 2)).then_some(last))
            .collect::<Vec<_>>()
    };
    let (xs, ys) = (starts(width), starts(height));
    ys.into_iter().flat_map(move |y| {
        xs.clone().into_iter().map(move |x| {
            imageops::crop_imm(image, x, y, TILE.min(width), TILE.min(height)).to_image()
        })
    })
}

/// A second finder (rxing's port of ZXing's QR detector): its hybrid binariser and
/// finder-pattern search locate blurred, JPEG-damaged, moire-covered and small codes in
/// busy photos that rqrr's does not. Only the detector and sampler are used: the sampled
/// modules go to rqrr's decoder (error correction and data), so rxing's decoder and its
/// character-set tables stay out of the binary.
fn attempt_zxing(image: &GrayImage) -> Option<String> {
    use rxing::Binarizer;
    use rxing::common::{DetectorRXingResult, HybridBinarizer};
    use rxing::qrcode::cpp_port::detector;

    let source =
        rxing::Luma8Source::new_with_slice(image.as_raw(), image.width(), image.height()).ok()?;
    let binarizer = HybridBinarizer::new(source);
    let matrix = binarizer.get_black_matrix().ok()?;
    let mut patterns = detector::FindFinderPatterns(matrix, true, 0);
    detector::GenerateFinderPatternSets(&mut patterns)
        .iter()
        .filter_map(|set| detector::SampleQR(matrix, set).ok())
        .find_map(|sampled| {
            let bits = sampled.getBits();
            let size = bits.getWidth();
            let grid =
                rqrr::SimpleGrid::from_func(size as usize, |x, y| bits.get(x as u32, y as u32));
            let (_, text) = rqrr::Grid::new(grid).decode().ok()?;
            is_edl_text(&text).then_some(text)
        })
}

fn decode_once(image: &GrayImage) -> Vec<String> {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        image.get_pixel(x as u32, y as u32).0[0]
    });
    prepared
        .detect_grids()
        .iter()
        .filter_map(|grid| grid.decode().ok().map(|(_, text)| text))
        .collect()
}

/// A 3×3 median filter: removes salt-and-pepper noise and keeps module edges sharp.
fn median3(image: &GrayImage) -> GrayImage {
    let (width, height) = image.dimensions();
    GrayImage::from_fn(width, height, |x, y| {
        let mut window = [0u8; 9];
        let mut n = 0;
        for dy in [-1i64, 0, 1] {
            for dx in [-1i64, 0, 1] {
                let sx = (i64::from(x) + dx).clamp(0, i64::from(width) - 1) as u32;
                let sy = (i64::from(y) + dy).clamp(0, i64::from(height) - 1) as u32;
                window[n] = image.get_pixel(sx, sy).0[0];
                n += 1;
            }
        }
        window.sort_unstable();
        image::Luma([window[4]])
    })
}

/// Otsu's threshold: the grey level that best separates dark from light pixels.
fn otsu(image: &GrayImage) -> u8 {
    let mut histogram = [0u64; 256];
    for pixel in image.pixels() {
        histogram[usize::from(pixel.0[0])] += 1;
    }
    let total: u64 = histogram.iter().sum();
    let sum: f64 = histogram
        .iter()
        .enumerate()
        .map(|(level, &count)| level as f64 * count as f64)
        .sum();
    let (mut background, mut background_sum) = (0u64, 0f64);
    let (mut best, mut best_level) = (0f64, 128u8);
    for (level, &count) in histogram.iter().enumerate() {
        background += count;
        if background == 0 {
            continue;
        }
        let foreground = total - background;
        if foreground == 0 {
            break;
        }
        background_sum += level as f64 * count as f64;
        let mean_background = background_sum / background as f64;
        let mean_foreground = (sum - background_sum) / foreground as f64;
        let between =
            background as f64 * foreground as f64 * (mean_background - mean_foreground).powi(2);
        if between > best {
            best = between;
            best_level = level as u8;
        }
    }
    best_level
}

fn threshold(image: &GrayImage, level: u8) -> GrayImage {
    let mut out = image.clone();
    for pixel in out.pixels_mut() {
        pixel.0[0] = if pixel.0[0] > level { 255 } else { 0 };
    }
    out
}
