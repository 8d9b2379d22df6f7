//! Drawing the QR text (`DL1:` + base45) as a QR code at error-correction level Q: PNG and
//! SVG for the API, Unicode half blocks for a terminal.

use qrcode::render::{svg, unicode};
use qrcode::{EcLevel, QrCode};

/// Why a QR code could not be drawn.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RenderError {
    /// The text does not fit in a QR code at level Q.
    #[error("the text does not fit in a QR code: {0}")]
    TooLong(String),
    /// PNG encoding failed.
    #[error("png encoding failed: {0}")]
    Png(String),
}

fn code(text: &str) -> Result<QrCode, RenderError> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::Q)
        .map_err(|e| RenderError::TooLong(e.to_string()))
}

/// A PNG, 4 pixels per module, with the quiet zone.
pub(crate) fn png(text: &str) -> Result<Vec<u8>, RenderError> {
    let image = code(text)?
        .render::<image::Luma<u8>>()
        .module_dimensions(4, 4)
        .build();
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| RenderError::Png(e.to_string()))?;
    Ok(out.into_inner())
}

/// An SVG document.
pub(crate) fn svg(text: &str) -> Result<String, RenderError> {
    Ok(code(text)?
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build())
}

/// Text for a terminal: two modules per character cell. Dark modules are drawn as blanks
/// and light ones as full blocks, so on the usual light-on-dark terminal the code shows
/// dark on light, as scanners expect.
pub(crate) fn terminal(text: &str) -> Result<String, RenderError> {
    Ok(code(text)?
        .render::<unicode::Dense1x2>()
        .dark_color(unicode::Dense1x2::Light)
        .light_color(unicode::Dense1x2::Dark)
        .build())
}
