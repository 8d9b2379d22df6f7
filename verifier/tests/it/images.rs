//! `check --image`: QR codes drawn by the Rust `qrcode` crate (the daemon's renderer) and
//! by Python's segno (an independent encoder), plain and made harder.

use std::path::Path;
use std::process::Command;

use image::{GrayImage, Luma};
use qrcode::{EcLevel, QrCode};

use crate::support::*;

fn setup() -> (Authority, Terminal, String) {
    let authority = Authority::new("https://edl.example");
    let terminal = Terminal::new(&authority, None, "");
    terminal.seed_cache(
        &authority,
        1,
        &authority.status_list(&[], HOUR),
        NOW.minus(HOUR),
    );
    let qr = authority.qr(&authority.claims(7));
    (authority, terminal, qr)
}

/// The QR as the daemon renders it: level Q, alphanumeric mode.
fn render(text: &str) -> GrayImage {
    QrCode::with_error_correction_level(text, EcLevel::Q)
        .unwrap()
        .render::<Luma<u8>>()
        .module_dimensions(4, 4)
        .build()
}

#[track_caller]
fn check_image(terminal: &Terminal, path: &Path, qr: &str) {
    assert_eq!(
        verifier::qr_image::decode_file(path).unwrap(),
        qr,
        "{}",
        path.display()
    );
    let run = terminal.run(&["check", "--json", "--image", path.to_str().unwrap()], NOW);
    assert_eq!(
        (run.code, run.json()["verdict"].as_str()),
        (0, Some("valid")),
        "{run:?}"
    );
}

#[test]
fn rust_qrcode_png() {
    let (_, terminal, qr) = setup();
    let path = terminal.dir.path().join("qr.png");
    render(&qr).save(&path).unwrap();
    check_image(&terminal, &path, &qr);
}

#[test]
fn rust_qrcode_rotated_90() {
    let (_, terminal, qr) = setup();
    let path = terminal.dir.path().join("rot.png");
    image::imageops::rotate90(&render(&qr)).save(&path).unwrap();
    check_image(&terminal, &path, &qr);
}

#[test]
fn rust_qrcode_noisy_jpeg_with_margin() {
    let (_, terminal, qr) = setup();
    let code = render(&qr);
    let mut canvas = GrayImage::from_pixel(code.width() + 400, code.height() + 260, Luma([235]));
    image::imageops::overlay(&mut canvas, &code, 250, 90);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for pixel in canvas.pixels_mut() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let noise = (seed % 81) as i16 - 40;
        pixel.0[0] = (i16::from(pixel.0[0]) + noise).clamp(0, 255) as u8;
    }
    let path = terminal.dir.path().join("noisy.jpg");
    image::DynamicImage::ImageLuma8(canvas)
        .to_rgb8()
        .save(&path)
        .unwrap();
    check_image(&terminal, &path, &qr);
}

/// Renders `qr` with segno; fails loudly when it is missing, never skips.
fn segno_images(dir: &Path, qr: &str) {
    let script = cases_dir().join("qr_images.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(dir)
        .arg(qr)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}): run `bash .ci/setup` to install the test tools")
        });
    assert!(
        output.status.success(),
        "{} failed: {}\nsegno and pillow come from .ci/requirements.txt: run `bash .ci/setup`",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn independent_encoder_images() {
    let (_, terminal, qr) = setup();
    let dir = terminal.dir.path();
    segno_images(dir, &qr);
    let unreadable: Vec<_> = ["plain.png", "rot90.png", "noise.png", "photo.jpg"]
        .into_iter()
        .filter(|name| {
            verifier::qr_image::decode_file(&dir.join(name))
                .ok()
                .as_ref()
                != Some(&qr)
        })
        .collect();
    assert!(unreadable.is_empty(), "not decoded: {unreadable:?}");
    for name in ["plain.png", "rot90.png", "noise.png", "photo.jpg"] {
        check_image(&terminal, &dir.join(name), &qr);
    }
}

#[test]
fn image_without_a_code_is_a_usage_error() {
    let (_, terminal, _) = setup();
    let path = terminal.dir.path().join("blank.png");
    GrayImage::from_pixel(200, 200, Luma([255]))
        .save(&path)
        .unwrap();
    let run = terminal.run(&["check", "--image", path.to_str().unwrap()], NOW);
    assert_eq!(run.code, 64, "{run:?}");
    assert!(run.stderr.contains("no readable QR code"), "{run:?}");
}

#[test]
fn missing_image_is_an_io_error() {
    let (_, terminal, _) = setup();
    let run = terminal.run(&["check", "--image", "/nonexistent/qr.png"], NOW);
    assert_eq!(run.code, 74, "{run:?}");
}

/// A presentation's QR (`DL2:`), as the holder's phone shows it, photographed.
#[test]
fn presentation_png() {
    let (authority, terminal, _) = setup();
    let device = keys::SigningKey::from_seed(&[0x5a; 32]);
    let token =
        keys::token::sign_bound(&authority.claims(7), device.public(), &authority.credential);
    let slot = keys::presentation::Slot::containing(NOW, 30).unwrap();
    let qr =
        keys::qr::encode_presentation(&keys::presentation::present(&token, &device, slot, None));
    let path = terminal.dir.path().join("presentation.png");
    render(&qr).save(&path).unwrap();
    check_image(&terminal, &path, &qr);
}
