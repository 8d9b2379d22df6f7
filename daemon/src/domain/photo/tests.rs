//! Tests for the photo pre-checks, on images drawn here with the `image` crate: a
//! head-and-shoulders portrait on white, and the ways a real upload goes wrong.

use std::sync::OnceLock;

use image::codecs::jpeg::JpegEncoder;
use image::{ImageEncoder, Rgb, RgbImage};
use proptest::prelude::*;

use super::{Code, Finding, Outcome, Thresholds, ThresholdsError, Verdict, check as precheck};
use crate::testing::portrait::{Scene, blurred, exposed, jpeg, png, portrait, resized};

/// What a case expects: the outcome's kind and, unless it passes, one code with its
/// verdict among the findings.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Pass,
    Review(Code),
    Refuse(Code),
}

#[track_caller]
fn check(bytes: Vec<u8>, expect: Expect) {
    let outcome = precheck(&bytes, &Thresholds::default());
    let summary: Vec<String> = outcome
        .findings()
        .iter()
        .map(|f| format!("{}={:?}({:.3})", f.code, f.verdict, f.measured))
        .collect();
    let has = |code: Code, verdict: Verdict| {
        outcome
            .findings()
            .iter()
            .any(|f| f.code == code && f.verdict == verdict)
    };
    match expect {
        Expect::Pass => assert!(
            matches!(outcome, Outcome::Pass(_)),
            "expected pass: {summary:?}"
        ),
        Expect::Review(code) => assert!(
            matches!(outcome, Outcome::Review(_)) && has(code, Verdict::Borderline),
            "expected review for {code}: {summary:?}"
        ),
        Expect::Refuse(code) => assert!(
            matches!(outcome, Outcome::Refuse(_)) && has(code, Verdict::Fail),
            "expected refusal for {code}: {summary:?}"
        ),
    }
    // Every finding that did not pass tells the holder why, in both languages; a pass
    // says nothing.
    for finding in outcome.findings() {
        assert_eq!(
            finding.message.is_some(),
            finding.verdict != Verdict::Pass,
            "{finding:?}"
        );
        assert!(finding.measured.is_finite(), "{finding:?}");
    }
}

#[test]
fn portrait_passes() {
    check(jpeg(&standard()), Expect::Pass);
}
#[test]
fn portrait_png_passes() {
    check(png(&standard()), Expect::Pass);
}
#[test]
fn portrait_at_print_resolution_passes() {
    check(jpeg(&resized(&standard(), 264, 384)), Expect::Pass);
}
#[test]
fn portrait_at_four_times_the_analysis_size_passes() {
    check(jpeg(&resized(&standard(), 1100, 1600)), Expect::Pass);
}
/// A phone's full-size photo: slow in a debug build, so only with `RUN_SLOW_TESTS`.
#[test]
fn portrait_at_twelve_megapixels_passes() {
    if std::env::var_os("RUN_SLOW_TESTS").is_none() {
        return;
    }
    check(jpeg(&resized(&standard(), 2750, 4000)), Expect::Pass);
}
#[test]
fn portrait_turned_by_exif_passes() {
    check(jpeg_rotated_by_exif(&standard()), Expect::Pass);
}
#[test]
fn trailer_after_eoi_passes() {
    let mut bytes = jpeg(&standard());
    bytes.extend_from_slice(b"trailer data some phones append");
    check(bytes, Expect::Pass);
}
#[test]
fn tiny_refused() {
    check(
        jpeg(&resized(&standard(), 110, 160)),
        Expect::Refuse(Code::TooSmall),
    );
}
#[test]
fn below_print_resolution_reviewed() {
    check(
        jpeg(&resized(&standard(), 220, 320)),
        Expect::Review(Code::TooSmall),
    );
}
#[test]
fn landscape_refused() {
    check(
        jpeg(&resized(&standard(), 880, 600)),
        Expect::Refuse(Code::WrongAspect),
    );
}
#[test]
fn square_refused() {
    check(
        jpeg(&portrait(Scene {
            width: 600,
            height: 600,
            ..Scene::default()
        })),
        Expect::Refuse(Code::WrongAspect),
    );
}
#[test]
fn uncropped_three_by_four_reviewed() {
    check(
        jpeg(&portrait(Scene {
            width: 600,
            height: 800,
            ..Scene::default()
        })),
        Expect::Review(Code::WrongAspect),
    );
}
#[test]
fn dark_refused() {
    check(
        jpeg(&exposed(&standard(), 0.15, 0.0)),
        Expect::Refuse(Code::TooDark),
    );
}
#[test]
fn slightly_dim_passes() {
    check(jpeg(&exposed(&standard(), 0.9, 0.0)), Expect::Pass);
}
#[test]
fn backlit_face_refused() {
    check(
        jpeg(&portrait(Scene {
            face_light: 0.2,
            ..Scene::default()
        })),
        Expect::Refuse(Code::TooDark),
    );
}
#[test]
fn face_in_shade_reviewed() {
    check(
        jpeg(&portrait(Scene {
            face_light: 0.4,
            ..Scene::default()
        })),
        Expect::Review(Code::TooDark),
    );
}
#[test]
fn overexposed_refused() {
    check(
        jpeg(&exposed(&standard(), 1.0, 110.0)),
        Expect::Refuse(Code::TooBright),
    );
}
#[test]
fn overexposed_clipped() {
    check(
        jpeg(&exposed(&standard(), 1.6, 60.0)),
        Expect::Refuse(Code::Clipped),
    );
}
#[test]
fn blurred_refused() {
    check(
        jpeg(&blurred(&standard(), 6.0)),
        Expect::Refuse(Code::Blurred),
    );
}
#[test]
fn soft_focus_reviewed() {
    check(
        jpeg(&blurred(&standard(), 2.5)),
        Expect::Review(Code::Blurred),
    );
}
#[test]
fn blue_background_refused() {
    check(
        jpeg(&portrait(Scene {
            background: [70, 130, 200],
            ..Scene::default()
        })),
        Expect::Refuse(Code::BackgroundNotWhite),
    );
}
#[test]
fn red_background_refused() {
    check(
        jpeg(&portrait(Scene {
            background: [200, 30, 40],
            ..Scene::default()
        })),
        Expect::Refuse(Code::BackgroundNotWhite),
    );
}
#[test]
fn cream_background_reviewed() {
    check(
        jpeg(&portrait(Scene {
            background: [245, 232, 190],
            ..Scene::default()
        })),
        Expect::Review(Code::BackgroundNotWhite),
    );
}
#[test]
fn light_grey_wall_passes() {
    check(
        jpeg(&portrait(Scene {
            background: [226, 226, 226],
            ..Scene::default()
        })),
        Expect::Pass,
    );
}
#[test]
fn shadow_on_one_side_refused() {
    check(
        jpeg(&portrait(Scene {
            shadow: 0.45,
            ..Scene::default()
        })),
        Expect::Refuse(Code::BackgroundUneven),
    );
}
#[test]
fn soft_shadow_reviewed() {
    check(
        jpeg(&portrait(Scene {
            shadow: 0.85,
            ..Scene::default()
        })),
        Expect::Review(Code::BackgroundUneven),
    );
}
#[test]
fn head_far_away_refused() {
    check(
        jpeg(&portrait(Scene {
            head: 0.45,
            ..Scene::default()
        })),
        Expect::Refuse(Code::HeadTooSmall),
    );
}
#[test]
fn head_a_little_small_reviewed() {
    check(
        jpeg(&portrait(Scene {
            head: 0.7,
            ..Scene::default()
        })),
        Expect::Review(Code::HeadTooSmall),
    );
}
#[test]
fn solid_red_png_refused() {
    check(
        png(&RgbImage::from_pixel(50, 50, Rgb([255, 0, 0]))),
        Expect::Refuse(Code::NotAPhoto),
    );
}
#[test]
fn blank_white_page_refused() {
    check(
        jpeg(&RgbImage::from_pixel(600, 880, Rgb([250, 250, 250]))),
        Expect::Refuse(Code::NotAPhoto),
    );
}
#[test]
fn truncated_jpeg_refused() {
    let bytes = jpeg(&standard());
    check(
        bytes[..bytes.len() * 3 / 5].to_vec(),
        Expect::Refuse(Code::Unreadable),
    );
}
#[test]
fn jpeg_without_scan_refused() {
    let bytes = jpeg(&standard());
    let sos = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let mut cut = bytes[..sos].to_vec();
    cut.extend_from_slice(&[0xFF, 0xD9]);
    check(cut, Expect::Refuse(Code::Unreadable));
}
#[test]
fn truncated_png_refused() {
    let bytes = png(&standard());
    check(
        bytes[..bytes.len() / 2].to_vec(),
        Expect::Refuse(Code::Unreadable),
    );
}
#[test]
fn png_bomb_refused() {
    check(
        png_bomb(20_000, 20_000),
        Expect::Refuse(Code::TooManyPixels),
    );
}
#[test]
fn gif_refused() {
    check(
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(),
        Expect::Refuse(Code::Unreadable),
    );
}
#[test]
fn empty_refused() {
    check(Vec::new(), Expect::Refuse(Code::Unreadable));
}

/// The bomb is what it claims: a few hundred kilobytes that inflate to a 400-megapixel
/// image, and nothing of it is decoded.
#[test]
fn png_bomb_is_small_and_refused_from_its_header() {
    let bomb = png_bomb(20_000, 20_000);
    assert!(bomb.len() < 400_000, "{}", bomb.len());
    let outcome = precheck(&bomb, &Thresholds::default());
    assert_eq!(
        outcome.findings(),
        &[Finding {
            code: Code::TooManyPixels,
            verdict: Verdict::Fail,
            measured: 400_000_000.0,
            threshold: 16_000_000.0,
            message: Some(Code::TooManyPixels.message()),
        }]
    );
}

/// Every check runs on a decodable photo, once each, in a fixed order.
#[test]
fn every_check_reports() {
    let outcome = precheck(&jpeg(&standard()), &Thresholds::default());
    let codes: Vec<&str> = outcome.findings().iter().map(|f| f.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "too_small",
            "wrong_aspect",
            "not_a_photo",
            "background_not_white",
            "background_uneven",
            "too_dark",
            "too_bright",
            "clipped",
            "blurred",
            "head_too_small"
        ]
    );
}

/// The JSON the service stores and shows the app and the reviewer.
#[test]
fn outcome_json_shape() {
    let outcome = Outcome::from_findings(vec![
        Finding::new(Code::TooSmall, Verdict::Fail, 50.0, 180.0),
        Finding::new(Code::WrongAspect, Verdict::Pass, 0.0, 0.04),
    ]);
    let json = serde_json::to_value(&outcome).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "outcome": "refuse",
            "findings": [
                {
                    "code": "too_small", "verdict": "fail", "measured": 50.0, "threshold": 180.0,
                    "message": {
                        "en": "The photo's resolution is too low. Take it again at the camera's full resolution.",
                        "zh": "照片分辨率过低，请使用相机的完整分辨率重新拍摄。"
                    }
                },
                {"code": "wrong_aspect", "verdict": "pass", "measured": 0.0, "threshold": 0.04}
            ]
        })
    );
    let back: Outcome = serde_json::from_value(json).unwrap();
    assert_eq!(back, outcome);
}

#[test]
fn outcome_follows_the_worst_finding() {
    let f = |verdict| Finding::new(Code::Blurred, verdict, 1.0, 1.0);
    assert!(matches!(Outcome::from_findings(vec![]), Outcome::Pass(_)));
    assert!(matches!(
        Outcome::from_findings(vec![f(Verdict::Pass), f(Verdict::Borderline)]),
        Outcome::Review(_)
    ));
    assert!(matches!(
        Outcome::from_findings(vec![f(Verdict::Fail), f(Verdict::Borderline)]),
        Outcome::Refuse(_)
    ));
}

#[test]
fn thresholds_default_from_an_empty_section() {
    let t: Thresholds = toml::from_str("").unwrap();
    assert_eq!(t, Thresholds::default());
    assert_eq!(Thresholds::default().check_bounds(), Ok(()));
}
#[test]
fn thresholds_take_one_field() {
    let t: Thresholds = toml::from_str("sharpness_fail = 10.0\nmin_side_fail = 150").unwrap();
    assert_eq!(t.sharpness_fail, 10.0);
    assert_eq!(t.min_side_fail, 150);
    assert_eq!(t.max_pixels, Thresholds::default().max_pixels);
}
#[test]
fn thresholds_refuse_unknown_fields() {
    assert!(toml::from_str::<Thresholds>("blur = 3.0").is_err());
}
#[test]
fn thresholds_refuse_inverted_bounds() {
    let t = Thresholds {
        sharpness_fail: 100.0,
        ..Thresholds::default()
    };
    assert_eq!(
        t.check_bounds(),
        Err(ThresholdsError::Inverted {
            review: "sharpness_review",
            fail: "sharpness_fail"
        })
    );
    let t = Thresholds {
        background_review: 90.0,
        ..Thresholds::default()
    };
    assert!(matches!(
        t.check_bounds(),
        Err(ThresholdsError::Inverted { .. })
    ));
}
#[test]
fn thresholds_refuse_out_of_range() {
    let t = Thresholds {
        clipped_fail: f64::NAN,
        ..Thresholds::default()
    };
    assert_eq!(
        t.check_bounds(),
        Err(ThresholdsError::OutOfRange("clipped_fail"))
    );
    let t = Thresholds {
        max_pixels: 0,
        ..Thresholds::default()
    };
    assert_eq!(
        t.check_bounds(),
        Err(ThresholdsError::OutOfRange("max_pixels"))
    );
}

#[test]
fn analyse_without_pixels_refuses() {
    let findings = super::analyse(&RgbImage::new(0, 0), &Thresholds::default());
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].code, Code::Unreadable);
}

/// Thresholds that skipped `check_bounds` give odd verdicts, never a panic.
#[test]
fn unchecked_thresholds_do_not_panic() {
    let bytes = small_jpeg();
    for analysis_height in [0, 1, u32::MAX] {
        let t = Thresholds {
            analysis_height,
            aspect: 0.0,
            sharpness_review: f64::NAN,
            ..Thresholds::default()
        };
        assert!(!precheck(&bytes, &t).findings().is_empty());
    }
}

/// A lower pixel budget refuses a photo the default admits.
#[test]
fn pixel_budget_is_configurable() {
    let bytes = jpeg(&standard());
    let t = Thresholds {
        max_pixels: 500_000,
        ..Thresholds::default()
    };
    let outcome = precheck(&bytes, &t);
    assert_eq!(outcome.findings()[0].code, Code::TooManyPixels);
    assert_eq!(outcome.findings()[0].measured, 528_000.0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let outcome = precheck(&bytes, &Thresholds::default());
        prop_assert!(matches!(outcome, Outcome::Refuse(_)));
    }

    #[test]
    fn never_panics_behind_a_valid_signature(
        png_header in any::<bool>(),
        tail in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut bytes: Vec<u8> = if png_header { b"\x89PNG\r\n\x1a\n".to_vec() } else { vec![0xFF, 0xD8, 0xFF] };
        bytes.extend(tail);
        let _ = precheck(&bytes, &Thresholds::default());
    }

    #[test]
    fn never_panics_on_damaged_photos(
        as_png in any::<bool>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = if as_png { small_png() } else { small_jpeg() };
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let keep = bytes.len() / 2 + cut.index(bytes.len() / 2 + 1);
        bytes.truncate(keep);
        let outcome = precheck(&bytes, &Thresholds::default());
        for finding in outcome.findings() {
            prop_assert!(finding.measured.is_finite());
        }
    }
}

// ---- images ----

/// The compliant portrait, drawn once for all the tests that start from it.
fn standard() -> RgbImage {
    static STANDARD: OnceLock<RgbImage> = OnceLock::new();
    STANDARD.get_or_init(|| portrait(Scene::default())).clone()
}

fn small_jpeg() -> Vec<u8> {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES
        .get_or_init(|| jpeg(&resized(&standard(), 66, 96)))
        .clone()
}

fn small_png() -> Vec<u8> {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES
        .get_or_init(|| png(&resized(&standard(), 66, 96)))
        .clone()
}

/// The portrait stored on its side, as a phone's sensor writes it, with the EXIF
/// orientation (6: turn 90° clockwise to view) that puts it upright.
fn jpeg_rotated_by_exif(image: &RgbImage) -> Vec<u8> {
    let sideways = image::imageops::rotate270(image);
    // A minimal little-endian TIFF block: one IFD entry, Orientation (0x0112) = 6.
    let exif: Vec<u8> = [
        &b"II*\0"[..],
        &8u32.to_le_bytes(),
        &1u16.to_le_bytes(),
        &0x0112u16.to_le_bytes(),
        &3u16.to_le_bytes(),
        &1u32.to_le_bytes(),
        &6u16.to_le_bytes(),
        &[0, 0],
        &0u32.to_le_bytes(),
    ]
    .concat();
    let mut out = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut out, 90);
    encoder.set_exif_metadata(exif).unwrap();
    encoder
        .write_image(
            &sideways,
            sideways.width(),
            sideways.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

/// A valid one-bit greyscale PNG of `width` × `height` black pixels whose IDAT is a
/// hand-made deflate stream (fixed Huffman codes, one literal then back-references of
/// 258 bytes at distance 1): about 13 bits per 258 bytes of image, a compression of
/// about 160:1, as a real decompression bomb has.
fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let row = u64::from(width).div_ceil(8) + 1; // filter byte + packed bits
    let raw = row * u64::from(height);

    let mut bits = BitWriter::default();
    bits.put(1, 1); // BFINAL
    bits.put(1, 2); // BTYPE = 01, fixed Huffman
    bits.put_code(0x30, 8); // literal 0
    let copies = (raw - 1) / 258;
    for _ in 0..copies {
        bits.put_code(0xC5, 8); // length symbol 285: 258 bytes
        bits.put_code(0, 5); // distance symbol 0: distance 1
    }
    for _ in 0..(raw - 1) % 258 {
        bits.put_code(0x30, 8);
    }
    bits.put_code(0, 7); // end of block
    let mut zlib = vec![0x78, 0x01];
    zlib.extend(bits.finish());
    // Adler-32 of `raw` zero bytes: a stays 1, b adds 1 per byte.
    let adler = (((raw % 65521) as u32) << 16) | 1;
    zlib.extend(adler.to_be_bytes());

    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([1, 0, 0, 0, 0]); // depth 1, greyscale, deflate, no filter, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(&b"IHDR"[..], &ihdr[..]), (b"IDAT", &zlib), (b"IEND", &[])] {
        out.extend((data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend(kind);
        out.extend(data);
        let crc = crc32(&out[start..]);
        out.extend(crc.to_be_bytes());
    }
    out
}

/// Deflate's bit order: values least significant bit first, Huffman codes most
/// significant bit first.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    current: u8,
    used: u8,
}

impl BitWriter {
    fn bit(&mut self, bit: u32) {
        self.current |= ((bit & 1) as u8) << self.used;
        self.used += 1;
        if self.used == 8 {
            self.bytes.push(self.current);
            self.current = 0;
            self.used = 0;
        }
    }
    fn put(&mut self, value: u32, count: u32) {
        for i in 0..count {
            self.bit(value >> i);
        }
    }
    fn put_code(&mut self, code: u32, count: u32) {
        for i in (0..count).rev() {
            self.bit(code >> i);
        }
    }
    fn finish(mut self) -> Vec<u8> {
        if self.used > 0 {
            self.bytes.push(self.current);
        }
        self.bytes
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The bomb is a well-formed PNG: the same writer, at a size the decoder may open,
/// decodes to the black image it declares.
#[test]
fn png_bomb_writer_makes_valid_png() {
    let small = png_bomb(64, 48);
    let decoded = image::load_from_memory(&small).unwrap().into_luma8();
    assert_eq!(decoded.dimensions(), (64, 48));
    assert!(decoded.pixels().all(|p| p.0[0] == 0));
}
