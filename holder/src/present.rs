//! `edl-holder present`: shows the credential as a presentation, signed with the device
//! key, for the current time slot; then, unless `--once`, a new one as each slot begins,
//! until the credential expires.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use keys::presentation::{self, Slot};
use keys::token::CredentialId;
use keys::{SigningKey, UnixTime, danger, qr};
use zeroize::Zeroizing;

use crate::cli::PresentArgs;
use crate::exit::{Failure, plain};
use crate::{Clock, Io, screen};

/// A credential as the device holds it: the token, and what the device reads from it
/// without verifying (it has no trust list, and needs none to present).
struct Credential {
    token: Vec<u8>,
    id: CredentialId,
    expires_at: UnixTime,
}

/// Runs `present`.
pub(crate) fn run(
    args: &PresentArgs,
    io: &mut Io<'_>,
    clock: &mut dyn Clock,
) -> Result<(), Failure> {
    let key = load_key(&args.key, io)?;
    let credential = load_credential(&args.credential, &key)?;
    let challenge = args.challenge.as_ref();
    if args.once {
        let now = clock.now();
        let slot = current_slot(&credential, now, args.slot)?;
        let text = qr::encode_presentation(&presentation::present(
            &credential.token,
            &key,
            slot,
            challenge,
        ));
        return write(io, &format!("{text}\n"));
    }
    loop {
        let now = clock.now();
        let slot = current_slot(&credential, now, args.slot)?;
        let text = qr::encode_presentation(&presentation::present(
            &credential.token,
            &key,
            slot,
            challenge,
        ));
        let frame = screen::frame(&text, slot, credential.id, challenge, io.stdout_is_terminal)?;
        write(io, &frame)?;
        clock.sleep_until(slot.end());
    }
}

/// The slot of `length` seconds at `now`, unless the credential has expired: verifiers
/// would refuse it, so the device says so instead.
fn current_slot(credential: &Credential, now: UnixTime, length: u64) -> Result<Slot, Failure> {
    if now >= credential.expires_at {
        return Err(Failure::data(format!(
            "the credential expired at {}; apply for a new one",
            credential.expires_at
        )));
    }
    // The command line allows only lengths a slot may have.
    Slot::containing(now, length).map_err(Failure::data)
}

fn write(io: &mut Io<'_>, text: &str) -> Result<(), Failure> {
    io.stdout
        .write_all(text.as_bytes())
        .and_then(|()| io.stdout.flush())
        .map_err(|e| Failure::io(format!("cannot write the presentation: {}", plain(&e))))
}

/// Reads the device key (PKCS#8 PEM). A key file others can read is used, with a warning.
fn load_key(path: &Path, io: &mut Io<'_>) -> Result<SigningKey, Failure> {
    let text = Zeroizing::new(read(path)?);
    let text = std::str::from_utf8(&text)
        .map_err(|_| Failure::data(format!("{}: not a PEM key file", path.display())))?;
    let key = SigningKey::from_pkcs8_pem(text)
        .map_err(|e| Failure::data(format!("{}: {e}", path.display())))?;
    if let Ok(metadata) = fs::metadata(path) {
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            let _ = writeln!(
                io.stderr,
                "edl-holder: warning: {} is a private key that group or others can access \
                 (mode {mode:04o}); run chmod 600 on it",
                path.display()
            );
        }
    }
    Ok(key)
}

/// Reads the credential file, `DL1:` text or the raw token, and checks that it is bound to
/// `key`: a presentation signed by any other key is refused by every verifier.
fn load_credential(path: &Path, key: &SigningKey) -> Result<Credential, Failure> {
    let bytes = read(path)?;
    let bad = |reason: String| Failure::data(format!("{}: {reason}", path.display()));
    let token = match std::str::from_utf8(&bytes).map(str::trim) {
        Ok(text) if text.starts_with(qr::PREFIX) || text.starts_with(qr::PRESENTATION_PREFIX) => {
            qr::decode(text).map_err(|e| bad(e.to_string()))?
        }
        // Anything else must be the token's bytes; reading it says whether it is.
        _ => bytes,
    };
    let not_a_credential =
        |e: danger::InspectError| bad(format!("neither DL1: text nor a credential token ({e})"));
    let claims = danger::inspect_credential(&token)
        .map_err(not_a_credential)?
        .claims;
    let holder_key = danger::inspect_holder_key(&token)
        .map_err(not_a_credential)?
        .claims;
    match holder_key {
        None => Err(bad(
            "the credential is not bound to a device key, so it cannot be presented; apply \
             again with this device's public key as holder_key"
                .into(),
        )),
        Some(bound) if &bound != key.public() => Err(bad(format!(
            "the credential is bound to device key {}, not to this key {}",
            bound.key_id(),
            key.key_id()
        ))),
        Some(_) => Ok(Credential {
            token,
            id: claims.credential_id,
            expires_at: claims.expires_at,
        }),
    }
}

/// Reads a whole file: missing or unreadable is 66, a failed read 74.
fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    fs::read(path).map_err(|e| {
        let message = format!("cannot read {}: {}", path.display(), plain(&e));
        match e.kind() {
            io::ErrorKind::NotFound
            | io::ErrorKind::PermissionDenied
            | io::ErrorKind::IsADirectory => Failure::no_input(message),
            _ => Failure::io(message),
        }
    })
}
