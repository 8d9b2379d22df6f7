//! The bounds the photo pre-checks hold measurements against, as the `[photo]`
//! configuration gives them, each with why its default is what it is.

use serde::{Deserialize, Serialize};

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
