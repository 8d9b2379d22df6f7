//! Drawing a presentation for a person: the QR code in Unicode half blocks (two modules per
//! character cell, at level Q, as edld's terminal QR codes are drawn) and a caption.

use keys::presentation::{Challenge, Slot};
use keys::token::CredentialId;
use qrcode::render::unicode;
use qrcode::{EcLevel, QrCode};

use crate::exit::Failure;

/// ANSI: clear the screen and move the cursor home, so each code replaces the last.
const CLEAR: &str = "\x1b[2J\x1b[H";

/// One screenful: the QR code of `text` and what it is. With `clear`, the screen is
/// cleared first (a terminal); otherwise frames follow one another, a blank line apart.
pub(crate) fn frame(
    text: &str,
    slot: Slot,
    credential: CredentialId,
    challenge: Option<&Challenge>,
    clear: bool,
) -> Result<String, Failure> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::Q)
        .map_err(|e| Failure::data(format!("the presentation does not fit a QR code: {e}")))?;
    // Dark modules drawn as blanks and light ones as full blocks: on the usual light-on-
    // dark terminal the code shows dark on light, as scanners expect.
    let drawn = code
        .render::<unicode::Dense1x2>()
        .dark_color(unicode::Dense1x2::Light)
        .light_color(unicode::Dense1x2::Dark)
        .build();
    let mut out = String::new();
    out.push_str(if clear { CLEAR } else { "\n" });
    out.push_str(&drawn);
    out.push('\n');
    out.push_str(&format!(
        "edl presentation of credential {credential}\nslot {} to {} ({} s)\n",
        slot.start(),
        slot.end(),
        slot.length()
    ));
    if let Some(challenge) = challenge {
        out.push_str(&format!("answers challenge {challenge}\n"));
    }
    if clear {
        out.push_str("a new code every slot; Ctrl-C to stop\n");
    }
    Ok(out)
}
