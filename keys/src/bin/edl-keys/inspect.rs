//! `edl-keys inspect`: every claim of a credential, read from its QR text (or token hex)
//! **without** checking the signature, for diagnostics. `edl-verify` is what decides.

use std::fmt::Write as _;
use std::io::Read;

use keys::danger::{self, Unverified};
use keys::licence::format_date;
use keys::{CredentialClaims, UnixTime, qr};

use crate::cli::InspectArgs;
use crate::exit::Failure;
use crate::times;

/// The first line of every answer.
const UNVERIFIED: &str = "UNVERIFIED — signature not checked";

/// `inspect --json`.
#[derive(serde::Serialize)]
struct TokenView {
    verified: bool,
    warning: &'static str,
    /// The kid the token names.
    kid: String,
    iss: String,
    sub: String,
    cti: String,
    iat: UnixTime,
    nbf: UnixTime,
    exp: UnixTime,
    licence: LicenceView,
    status: StatusView,
}

#[derive(serde::Serialize)]
struct LicenceView {
    name: String,
    classes: Vec<&'static str>,
    valid_from: String,
    /// Absent for a long-term licence.
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_until: Option<String>,
    authority: String,
    photo_sha256: String,
}

#[derive(serde::Serialize)]
struct StatusView {
    idx: u64,
    uri: String,
}

/// Runs `inspect`.
pub(crate) fn run(args: &InspectArgs, now: UnixTime) -> Result<String, Failure> {
    let input = if args.input == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::io(format!("cannot read standard input: {e}")))?;
        text
    } else {
        args.input.clone()
    };
    let input = input.trim();
    let token = if args.hex {
        hex::decode(input).map_err(|e| Failure::data(format!("the token is not hex: {e}")))?
    } else {
        qr::decode(input).map_err(|e| Failure::data(format!("bad QR text: {e}")))?
    };
    let Unverified { key_id, claims } = danger::inspect_credential(&token)
        .map_err(|e| Failure::data(format!("not a credential token: {e}")))?;
    let view = view(key_id.to_string(), &claims);
    if args.json {
        return crate::json(&view);
    }
    Ok(text(&view, now))
}

fn view(kid: String, claims: &CredentialClaims) -> TokenView {
    let licence = &claims.licence;
    TokenView {
        verified: false,
        warning: UNVERIFIED,
        kid,
        iss: claims.issuer.clone(),
        sub: claims.licence_number.to_string(),
        cti: claims.credential_id.to_string(),
        iat: claims.issued_at,
        nbf: claims.not_before,
        exp: claims.expires_at,
        licence: LicenceView {
            name: licence.name.clone(),
            classes: licence.classes.iter().map(|c| c.as_str()).collect(),
            valid_from: format_date(licence.validity.valid_from()),
            valid_until: licence.validity.valid_until().map(format_date),
            authority: licence.authority.clone(),
            photo_sha256: hex::encode(licence.photo.as_bytes()),
        },
        status: StatusView {
            idx: claims.status.index,
            uri: claims.status.uri.clone(),
        },
    }
}

fn text(view: &TokenView, now: UnixTime) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{UNVERIFIED}");
    let rows: [(&str, String); 15] = [
        ("kid", format!("{} (as the token claims)", view.kid)),
        ("iss", view.iss.clone()),
        ("sub (licence no.)", view.sub.clone()),
        ("cti (credential)", view.cti.clone()),
        ("iat (issued)", timed(view.iat, now)),
        ("nbf (not before)", timed(view.nbf, now)),
        ("exp (expires)", timed(view.exp, now)),
        ("name", view.licence.name.clone()),
        ("classes", view.licence.classes.join(" ")),
        ("valid from", view.licence.valid_from.clone()),
        (
            "valid until",
            view.licence
                .valid_until
                .clone()
                .unwrap_or_else(|| "long-term".into()),
        ),
        ("authority", view.licence.authority.clone()),
        ("photo sha-256", view.licence.photo_sha256.clone()),
        ("status list", view.status.uri.clone()),
        ("status index", view.status.idx.to_string()),
    ];
    for (label, value) in rows {
        let _ = writeln!(out, "  {label:<18} {value}");
    }
    out
}

fn timed(time: UnixTime, now: UnixTime) -> String {
    format!("{time} ({})", times::relative(time, now))
}
