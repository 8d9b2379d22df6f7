//! Decoding an upload fully (JPEG or PNG, within a pixel budget, upright by its EXIF
//! orientation), and refusing one that is truncated or damaged.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use super::Thresholds;

/// Why a photo could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Neither a JPEG nor a PNG.
    #[error("photo is neither JPEG nor PNG")]
    Format,
    /// The header declares more pixels than allowed.
    #[error("photo declares {pixels} pixels, more than the {limit} allowed")]
    TooManyPixels {
        /// Width × height from the header.
        pixels: u64,
        /// [`Thresholds::max_pixels`].
        limit: u64,
    },
    /// The data is truncated or damaged.
    #[error("photo is truncated or damaged: {0}")]
    Damaged(String),
}

/// Decodes a JPEG or PNG completely into RGB, turned upright by its EXIF orientation.
/// Transparency is dropped: a cut-out is judged by the colour stored under it.
/// The header's dimensions are checked against [`Thresholds::max_pixels`] before any
/// pixel is decoded, and the decoder's own allocation limit is set to what an image of
/// that size needs.
pub fn decode(bytes: &[u8], thresholds: &Thresholds) -> Result<RgbImage, DecodeError> {
    let format = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        ImageFormat::Jpeg
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        ImageFormat::Png
    } else {
        return Err(DecodeError::Format);
    };
    let damaged = |e: image::ImageError| DecodeError::Damaged(e.to_string());
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(damaged)?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > thresholds.max_pixels {
        return Err(DecodeError::TooManyPixels {
            pixels,
            limit: thresholds.max_pixels,
        });
    }
    if pixels == 0 {
        return Err(DecodeError::Damaged("no pixels".into()));
    }
    if format == ImageFormat::Jpeg && !jpeg_reaches_end(bytes) {
        return Err(DecodeError::Damaged("JPEG data ends before its EOI".into()));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    // Sixteen-bit RGBA (PNG) is the widest layout: 8 bytes a pixel, plus room for the
    // decoder's own buffers.
    limits.max_alloc = Some(pixels.saturating_mul(8).saturating_add(16 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(damaged)?;
    let orientation = decoder.orientation().map_err(damaged)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(damaged)?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

/// Whether a JPEG's markers lead, through every segment and entropy-coded scan, to an
/// EOI marker. Written here because `image` decodes JPEG through zune-jpeg in its lenient
/// mode, which fills a truncated scan with grey instead of failing, and does not expose
/// the strict mode. Bytes after the EOI (phone makers' trailers) are allowed.
fn jpeg_reaches_end(bytes: &[u8]) -> bool {
    let mut i = 2; // after SOI
    let mut scans = 0;
    loop {
        if bytes.get(i) != Some(&0xFF) {
            return false;
        }
        // Any number of 0xFF fill bytes may precede a marker.
        while bytes.get(i) == Some(&0xFF) {
            i += 1;
        }
        let Some(&marker) = bytes.get(i) else {
            return false;
        };
        i += 1;
        match marker {
            0xD9 => return scans > 0,
            // Standalone markers: restart markers and TEM carry no length.
            0xD0..=0xD7 | 0x01 => continue,
            0x00 => return false,
            _ => {}
        }
        let Some(length) = bytes
            .get(i..i + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        else {
            return false;
        };
        if length < 2 || i + length > bytes.len() {
            return false;
        }
        i += length;
        if marker == 0xDA {
            scans += 1;
            // Entropy-coded data: 0xFF is followed by 0x00 (a stuffed byte), a restart
            // marker, more fill, or the next marker, which ends the scan.
            loop {
                match bytes.get(i) {
                    None => return false,
                    Some(0xFF) => match bytes.get(i + 1) {
                        None => return false,
                        Some(0x00 | 0xD0..=0xD7) => i += 2,
                        Some(0xFF) => i += 1,
                        Some(_) => break,
                    },
                    Some(_) => i += 1,
                }
            }
        }
    }
}
