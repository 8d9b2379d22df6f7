//! `edl-keys show`: a key file's kid, public key PEM and JWK.

use std::fmt::Write as _;

use keys::jwk::Jwk;

use crate::cli::ShowArgs;
use crate::exit::Failure;
use crate::files::{self, KeyFile};

/// `show --json`: one object.
#[derive(serde::Serialize)]
struct KeyView<'a> {
    kid: String,
    /// `private` or `public`: which kind of file was read.
    file: &'a str,
    public_key_pem: String,
    jwk: Jwk,
}

/// Runs `show`.
pub(crate) fn run(args: &ShowArgs) -> Result<String, Failure> {
    // `load_key` warns on stderr when a private key file is group or world accessible.
    let key = files::load_key(&args.file)?;
    let public = key.public();
    let file = match key {
        KeyFile::Private(_) => "private",
        KeyFile::Public(_) => "public",
    };
    let view = KeyView {
        kid: public.key_id().to_string(),
        file,
        public_key_pem: public.to_spki_pem(),
        jwk: Jwk::from_public_key(public, None),
    };
    if args.json {
        return crate::json(&view);
    }
    let mut out = String::new();
    let _ = writeln!(out, "kid  {}", view.kid);
    let _ = writeln!(out, "file {} key (Ed25519)", view.file);
    let _ = writeln!(out, "jwk  {}", crate::json_line(&view.jwk)?);
    let _ = write!(out, "{}", view.public_key_pem);
    Ok(out)
}
