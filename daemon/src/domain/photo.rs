//! Automatic pre-checks of an uploaded photo against the authority's published rules
//! (32 × 22 mm portrait, plain white background, even light, head 19–22 mm tall): pure
//! functions from bytes and [`Thresholds`] to an [`Outcome`], no IO, no clock.
//!
//! [`check`] decodes the photo fully ([`decode`]: JPEG or PNG, within a pixel budget so a
//! decompression bomb is refused before anything is allocated), scales it down to a fixed
//! analysis size and runs cheap, robust measurements ([`analyse`]): resolution, aspect
//! ratio, tonal spread (a solid colour is not a photo), background whiteness and evenness
//! along the border band where the background must show, exposure and clipping of the face
//! area, sharpness (variance of the Laplacian) and how far down the head starts. Each
//! measurement is a [`Finding`] with a stable [`Code`], the measured value, the bound it was
//! held against, a [`Verdict`] and, unless it passed, a short English and Chinese message
//! the app can show the holder. A clear failure refuses the upload at once; a borderline
//! result sends it to a reviewer with the findings.
//!
//! What is not checked, and why: the head's exact height (19–22 mm) and "no heavy
//! retouching" need a face detector or a forensic model; no maintained Rust crate ships
//! one that is small and clearly maintained, so a reviewer judges those. The head's top
//! edge is measured (see [`Code::HeadTooSmall`]): a head that starts too far down cannot be
//! 19 mm tall.

use std::borrow::Cow;
use std::io::Cursor;

use image::{DynamicImage, GrayImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};
use serde::{Deserialize, Serialize};

/// The result of the pre-checks: what the service does with the upload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "findings", rename_all = "snake_case")]
pub enum Outcome {
    /// Every check passed: the upload goes to review as usual.
    Pass(Vec<Finding>),
    /// At least one check is borderline and none failed: a reviewer decides, with these
    /// findings beside the photo.
    Review(Vec<Finding>),
    /// At least one check failed clearly: refuse the upload at once (422) and show the
    /// holder the messages of the failed findings.
    Refuse(Vec<Finding>),
}

impl Outcome {
    /// Every finding, passed ones included, in the order the checks ran.
    pub fn findings(&self) -> &[Finding] {
        match self {
            Outcome::Pass(f) | Outcome::Review(f) | Outcome::Refuse(f) => f,
        }
    }

    /// The findings that did not pass: what the holder or the reviewer should see first.
    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings()
            .iter()
            .filter(|f| f.verdict != Verdict::Pass)
    }

    /// The outcome the worst of `findings` calls for.
    pub fn from_findings(findings: Vec<Finding>) -> Outcome {
        let worst = findings.iter().map(|f| f.verdict).max();
        match worst {
            Some(Verdict::Fail) => Outcome::Refuse(findings),
            Some(Verdict::Borderline) => Outcome::Review(findings),
            Some(Verdict::Pass) | None => Outcome::Pass(findings),
        }
    }
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Which check, as a stable machine code.
    pub code: Code,
    /// Pass, borderline or fail.
    pub verdict: Verdict,
    /// The measured value, in the unit [`Code`] documents for this check.
    pub measured: f64,
    /// The bound `measured` was held against: the failing bound when the verdict is
    /// `fail`, otherwise the review bound.
    pub threshold: f64,
    /// What to tell the holder; absent when the check passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
}

impl Finding {
    fn new(code: Code, verdict: Verdict, measured: f64, threshold: f64) -> Finding {
        let message = (verdict != Verdict::Pass).then(|| code.message());
        Finding {
            code,
            verdict,
            measured,
            threshold,
            message,
        }
    }
}

/// A check's verdict, ordered from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Within the rules.
    Pass,
    /// Close to a limit: a person should look.
    Borderline,
    /// Clearly against the rules.
    Fail,
}

/// A short message for the holder, in English and Chinese.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// English.
    pub en: Cow<'static, str>,
    /// Simplified Chinese.
    pub zh: Cow<'static, str>,
}

/// The stable machine code of a check. Apps and reviewers' tools key on these; the
/// strings never change meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// Not a JPEG or PNG, or damaged or truncated. `measured` and `threshold` are 0.
    Unreadable,
    /// More pixels than [`Thresholds::max_pixels`] (e.g. a decompression bomb): refused
    /// before decoding. `measured` is the pixel count the header declares.
    TooManyPixels,
    /// The shorter side, in pixels, is below what a print at 300 dpi needs.
    TooSmall,
    /// Height:width differs from 32:22. `measured` is the relative deviation
    /// (|ratio / expected − 1|, 0.1 = 10 %).
    WrongAspect,
    /// Hardly any tonal variation (a solid colour, a blank page). `measured` is the
    /// standard deviation of the grey level (0–255) over the whole image.
    NotAPhoto,
    /// The border band is not white. `measured` is the median, over the band, of 255
    /// minus a pixel's darkest channel: 0 for white, larger for grey or coloured.
    BackgroundNotWhite,
    /// The border band is unevenly lit (a shadow, a gradient). `measured` is the spread
    /// (max − min) of the median grey level of the band's segments, 0–255.
    BackgroundUneven,
    /// The face area is too dark. `measured` is its mean grey level, 0–255.
    TooDark,
    /// The face area is too bright. `measured` is its mean grey level, 0–255.
    TooBright,
    /// Detail lost in the face area. `measured` is the fraction of its pixels that are
    /// pure black or pure white (grey ≤ 3 or ≥ 252).
    Clipped,
    /// Out of focus or shaken. `measured` is the variance of the Laplacian of the grey
    /// face area at the analysis size.
    Blurred,
    /// The head starts too far down to be 19–22 mm tall in a 32 mm photo. `measured` is
    /// the fraction of the height above the first row that is not background.
    HeadTooSmall,
}

impl Code {
    /// The code as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unreadable => "unreadable",
            Code::TooManyPixels => "too_many_pixels",
            Code::TooSmall => "too_small",
            Code::WrongAspect => "wrong_aspect",
            Code::NotAPhoto => "not_a_photo",
            Code::BackgroundNotWhite => "background_not_white",
            Code::BackgroundUneven => "background_uneven",
            Code::TooDark => "too_dark",
            Code::TooBright => "too_bright",
            Code::Clipped => "clipped",
            Code::Blurred => "blurred",
            Code::HeadTooSmall => "head_too_small",
        }
    }

    /// What the holder is told when this check does not pass.
    pub fn message(self) -> Message {
        let (en, zh) = match self {
            Code::Unreadable => (
                "The file is not a readable JPEG or PNG photo. Take or choose the photo again.",
                "文件不是可读取的 JPEG 或 PNG 照片，请重新拍摄或选择照片。",
            ),
            Code::TooManyPixels => (
                "The image is too large to process. Upload it at a lower resolution.",
                "图片尺寸过大，无法处理，请降低分辨率后重新上传。",
            ),
            Code::TooSmall => (
                "The photo's resolution is too low. Take it again at the camera's full resolution.",
                "照片分辨率过低，请使用相机的完整分辨率重新拍摄。",
            ),
            Code::WrongAspect => (
                "The photo must be upright and 32 mm high by 22 mm wide. Crop it to that shape.",
                "照片须为竖幅，高 32 毫米、宽 22 毫米，请按此比例裁剪。",
            ),
            Code::NotAPhoto => (
                "This does not look like a photo of a person. Upload a photo of your face.",
                "这看起来不是人像照片，请上传本人正面照片。",
            ),
            Code::BackgroundNotWhite => (
                "The background must be plain white. Stand in front of a white wall.",
                "背景须为纯白色，请站在白色墙壁前拍摄。",
            ),
            Code::BackgroundUneven => (
                "The background has shadows or uneven light. Light it evenly from the front.",
                "背景有阴影或光线不均匀，请从正面均匀照明。",
            ),
            Code::TooDark => (
                "The photo is too dark. Take it again in brighter, even light.",
                "照片过暗，请在更明亮、均匀的光线下重新拍摄。",
            ),
            Code::TooBright => (
                "The photo is too bright. Avoid direct flash and sunlight.",
                "照片过亮，请避免闪光灯或阳光直射。",
            ),
            Code::Clipped => (
                "Parts of your face are washed out or lost in shadow. Use softer, even light.",
                "面部部分过亮或过暗，细节丢失，请使用柔和、均匀的光线。",
            ),
            Code::Blurred => (
                "The photo is blurred. Hold the camera still and focus on your face.",
                "照片模糊，请保持相机稳定并对焦面部。",
            ),
            Code::HeadTooSmall => (
                "Your head is too small in the photo. Move closer, or crop so your head fills most of the height.",
                "照片中头部过小，请靠近镜头，或裁剪使头部占照片高度的大部分。",
            ),
        };
        Message {
            en: Cow::Borrowed(en),
            zh: Cow::Borrowed(zh),
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The bounds every check holds its measurement against: the daemon's `[photo]` config
/// section. Each check has a review bound (worse than it: a reviewer looks) and a fail
/// bound (worse than it: refused at once). The defaults come from the authority's rules
/// (32 × 22 mm, white background, even light, head 19–22 mm) and from measuring synthetic
/// and camera-like portraits; `check_bounds` refuses a set whose bounds are inverted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Most pixels (width × height, from the header) decoded. Larger is refused before
    /// any pixel is decoded, so a few hundred bytes declaring 400 megapixels cost nothing.
    /// 16 MP admits a phone's default 12 MP (4000 × 3000) photo and bounds the decoded
    /// image to 48 MiB of RGB (64 MiB as RGBA).
    pub max_pixels: u64,
    /// Height, in pixels, the photo is scaled down to before the measurements (never
    /// up). 400 is about the printed photo at 300 dpi (32 mm = 378 px): blur or noise
    /// invisible at that size does not matter, and the work per photo stays bounded.
    pub analysis_height: u32,
    /// Shorter side below this many pixels: review. 260 px is 22 mm at 300 dpi, the
    /// resolution a printed licence photo needs.
    pub min_side_review: u32,
    /// Shorter side below this many pixels: refused. 180 px is 22 mm at about 200 dpi,
    /// below which a face is not recognisable in print.
    pub min_side_fail: u32,
    /// The expected height:width ratio: 32 mm / 22 mm.
    pub aspect: f64,
    /// Relative deviation from `aspect` above which a reviewer looks. 4 % admits a 2:3
    /// crop (3.1 % off) and sends a phone's uncropped 3:4 (8.3 % off) to review.
    pub aspect_review: f64,
    /// Relative deviation above which the photo is refused. 12 %: a square (31 %) or a
    /// landscape photo is clearly not a licence photo.
    pub aspect_fail: f64,
    /// Standard deviation of grey over the whole image below which a reviewer looks.
    /// A real portrait on white measures 40–80; a scan of a blank or nearly uniform
    /// surface measures a few units.
    pub tonal_spread_review: f64,
    /// Standard deviation of grey below which the image is refused as not a photo: a
    /// solid colour measures 0, and JPEG noise on one adds about 1.
    pub tonal_spread_fail: f64,
    /// Median of (255 − darkest channel) over the border band above which a reviewer
    /// looks. 40: a white wall a phone exposes as light grey (≈ 225) passes; cream, pale
    /// blue or mid grey goes to review.
    pub background_review: f64,
    /// The same median above which the photo is refused. 80: blue, red or dark
    /// backgrounds (the other ID-photo colours) are refused at once.
    pub background_fail: f64,
    /// Spread of the band segments' median grey above which a reviewer looks. 24: a
    /// soft gradient passes; a shadow cast on one side goes to review.
    pub uneven_review: f64,
    /// The same spread above which the photo is refused. 60: half the background in
    /// deep shadow.
    pub uneven_fail: f64,
    /// Mean grey of the face area below which a reviewer looks. Skin under even light
    /// measures 110–200 on the 0–255 scale; 80 is a dim room.
    pub dark_review: f64,
    /// Mean grey of the face area below which the photo is refused: at 50 facial
    /// features are lost in noise.
    pub dark_fail: f64,
    /// Mean grey of the face area above which a reviewer looks (pale skin under flash).
    pub bright_review: f64,
    /// Mean grey of the face area above which the photo is refused: the face is
    /// washed out.
    pub bright_fail: f64,
    /// Fraction of the face area that is pure black or white above which a reviewer
    /// looks. Deep black hair or a small specular highlight stays well below 0.15.
    pub clipped_review: f64,
    /// Fraction above which the photo is refused: a third of the face has no detail.
    pub clipped_fail: f64,
    /// Variance of the Laplacian of the face area below which a reviewer looks. A real
    /// studio portrait (scikit-image's `astronaut`, face crop 305 px high) measures 886
    /// sharp, 162 after a Gaussian blur of σ 0.8 px, 62 at σ 1.2 and 19 at σ 2: 60 sends
    /// a visible softness to a person.
    pub sharpness_review: f64,
    /// Variance of the Laplacian below which the photo is refused: 20 is that portrait
    /// blurred at σ 2 px, features smeared over several pixels at print size.
    pub sharpness_fail: f64,
    /// Fraction of the height above the head above which a reviewer looks. A compliant
    /// layout leaves 2–5 mm of 32 (6–16 %).
    pub head_top_review: f64,
    /// Fraction above which the photo is refused: starting lower than 40 % (13 mm), the
    /// head cannot be 19 mm tall within 32 mm.
    pub head_top_fail: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            max_pixels: 16_000_000,
            analysis_height: 400,
            min_side_review: 260,
            min_side_fail: 180,
            aspect: 32.0 / 22.0,
            aspect_review: 0.04,
            aspect_fail: 0.12,
            tonal_spread_review: 6.0,
            tonal_spread_fail: 2.5,
            background_review: 40.0,
            background_fail: 80.0,
            uneven_review: 24.0,
            uneven_fail: 60.0,
            dark_review: 80.0,
            dark_fail: 50.0,
            bright_review: 215.0,
            bright_fail: 240.0,
            clipped_review: 0.15,
            clipped_fail: 0.35,
            sharpness_review: 60.0,
            sharpness_fail: 20.0,
            head_top_review: 0.25,
            head_top_fail: 0.40,
        }
    }
}

/// A `[photo]` configuration whose bounds make no sense.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ThresholdsError {
    /// A review bound lies beyond its fail bound, so nothing could be borderline.
    #[error("photo.{review} must be on the safe side of photo.{fail}")]
    Inverted {
        /// The review bound's name.
        review: &'static str,
        /// The fail bound's name.
        fail: &'static str,
    },
    /// A value outside the range it can take.
    #[error("photo.{0} is out of range")]
    OutOfRange(&'static str),
}

impl Thresholds {
    /// Checks that every bound is in range and every review bound lies on the safe side
    /// of its fail bound. The daemon calls this once when it loads its configuration.
    pub fn check_bounds(&self) -> Result<(), ThresholdsError> {
        let t = self;
        if t.max_pixels == 0 || t.max_pixels > 100_000_000 {
            return Err(ThresholdsError::OutOfRange("max_pixels"));
        }
        if !(64..=4096).contains(&t.analysis_height) {
            return Err(ThresholdsError::OutOfRange("analysis_height"));
        }
        if !(t.aspect.is_finite() && (0.2..=5.0).contains(&t.aspect)) {
            return Err(ThresholdsError::OutOfRange("aspect"));
        }
        use Worse::{Higher, Lower};
        let side = |v: u32| f64::from(v);
        bounds(
            side(t.min_side_review),
            side(t.min_side_fail),
            ["min_side_review", "min_side_fail"],
            Lower,
            1.0,
            1e5,
        )?;
        bounds(
            t.aspect_review,
            t.aspect_fail,
            ["aspect_review", "aspect_fail"],
            Higher,
            0.0,
            10.0,
        )?;
        bounds(
            t.tonal_spread_review,
            t.tonal_spread_fail,
            ["tonal_spread_review", "tonal_spread_fail"],
            Lower,
            0.0,
            128.0,
        )?;
        bounds(
            t.background_review,
            t.background_fail,
            ["background_review", "background_fail"],
            Higher,
            0.0,
            255.0,
        )?;
        bounds(
            t.uneven_review,
            t.uneven_fail,
            ["uneven_review", "uneven_fail"],
            Higher,
            0.0,
            255.0,
        )?;
        bounds(
            t.dark_review,
            t.dark_fail,
            ["dark_review", "dark_fail"],
            Lower,
            0.0,
            255.0,
        )?;
        bounds(
            t.bright_review,
            t.bright_fail,
            ["bright_review", "bright_fail"],
            Higher,
            0.0,
            255.0,
        )?;
        bounds(
            t.clipped_review,
            t.clipped_fail,
            ["clipped_review", "clipped_fail"],
            Higher,
            0.0,
            1.0,
        )?;
        bounds(
            t.sharpness_review,
            t.sharpness_fail,
            ["sharpness_review", "sharpness_fail"],
            Lower,
            0.0,
            1e6,
        )?;
        bounds(
            t.head_top_review,
            t.head_top_fail,
            ["head_top_review", "head_top_fail"],
            Higher,
            0.0,
            1.0,
        )?;
        if t.dark_review >= t.bright_review {
            return Err(ThresholdsError::Inverted {
                review: "dark_review",
                fail: "bright_review",
            });
        }
        Ok(())
    }
}

/// Which way a measurement gets worse.
#[derive(Clone, Copy)]
enum Worse {
    Higher,
    Lower,
}

/// Checks one pair of bounds, named `names` (review, fail): both finite and within
/// `low..=high`, the review bound on the safe side of the fail bound.
fn bounds(
    review: f64,
    fail: f64,
    names: [&'static str; 2],
    worse: Worse,
    low: f64,
    high: f64,
) -> Result<(), ThresholdsError> {
    let [review_name, fail_name] = names;
    for (value, name) in [(review, review_name), (fail, fail_name)] {
        if !(value.is_finite() && (low..=high).contains(&value)) {
            return Err(ThresholdsError::OutOfRange(name));
        }
    }
    let inverted = match worse {
        Worse::Higher => review > fail,
        Worse::Lower => review < fail,
    };
    if inverted {
        return Err(ThresholdsError::Inverted {
            review: review_name,
            fail: fail_name,
        });
    }
    Ok(())
}

/// Decodes and checks an uploaded photo. Never panics on any input; a photo that cannot
/// be decoded is refused with one [`Code::Unreadable`] or [`Code::TooManyPixels`]
/// finding.
pub fn check(bytes: &[u8], thresholds: &Thresholds) -> Outcome {
    match decode(bytes, thresholds) {
        Ok(image) => Outcome::from_findings(analyse(&image, thresholds)),
        Err(DecodeError::TooManyPixels { pixels, limit }) => Outcome::Refuse(vec![Finding::new(
            Code::TooManyPixels,
            Verdict::Fail,
            pixels as f64,
            limit as f64,
        )]),
        Err(DecodeError::Format | DecodeError::Damaged(_)) => Outcome::Refuse(vec![Finding::new(
            Code::Unreadable,
            Verdict::Fail,
            0.0,
            0.0,
        )]),
    }
}

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

#[cfg(test)]
mod tests;
