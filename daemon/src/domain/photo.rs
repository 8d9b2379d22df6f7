//! Automatic pre-checks of an uploaded photo against the authority's published rules
//! (32 × 22 mm portrait, plain white background, even light, head 19–22 mm tall): pure
//! functions from bytes and [`Thresholds`] to an [`Outcome`], no IO, no clock.
//!
//! [`check`] decodes the photo fully ([`decode()`]: JPEG or PNG, within a pixel budget so a
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

mod analysis;
mod decode;
mod thresholds;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

pub use self::analysis::analyse;
pub use self::decode::{DecodeError, decode};
pub use self::thresholds::{Thresholds, ThresholdsError};

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

#[cfg(test)]
mod tests;
