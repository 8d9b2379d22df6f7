//! `edl-holder keygen`: a new device key. The private key is written once, with mode 0600,
//! and never leaves the device; the public key is printed as the JWK an application sends
//! as `holder_key`. (On a phone the key lives in the platform's key store instead.)

use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use keys::SigningKey;
use keys::jwk::HolderJwk;
use rand_core::OsRng;

use crate::Io;
use crate::exit::{Failure, plain};

/// Runs `keygen --out FILE`.
pub(crate) fn run(out: &Path, io: &mut Io<'_>) -> Result<(), Failure> {
    // The operating system's entropy: a device key must be unpredictable to everyone else.
    let key = SigningKey::generate(&mut OsRng);
    create_private(out, key.to_pkcs8_pem().as_bytes())?;
    let jwk = serde_json::to_string(&HolderJwk::from_public_key(key.public()))
        .map_err(|e| Failure::io(format!("cannot write the public key: {e}")))?;
    writeln!(io.stdout, "{jwk}")
        .and_then(|()| io.stdout.flush())
        .map_err(|e| Failure::io(format!("cannot write the public key: {}", plain(&e))))?;
    let _ = writeln!(
        io.stderr,
        "wrote device key {} to {} (mode 0600); send the JWK above as holder_key when applying",
        key.key_id(),
        out.display()
    );
    Ok(())
}

/// Creates `path` with mode 0600 and writes `contents`, refusing to replace an existing
/// file. Creation is atomic (O_CREAT|O_EXCL with the mode): the secret is never readable by
/// others, not even for an instant.
fn create_private(path: &Path, contents: &[u8]) -> Result<(), Failure> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => Failure::cannot_create(format!(
                "{} already exists; refusing to replace a device key",
                path.display()
            )),
            _ => Failure::cannot_create(format!("cannot create {}: {}", path.display(), plain(&e))),
        })?;
    let written = file
        .write_all(contents)
        .and_then(|()| file.sync_all())
        // The umask may have taken bits away at creation; set exactly 0600.
        .and_then(|()| file.set_permissions(Permissions::from_mode(0o600)));
    if let Err(e) = written {
        drop(file);
        // Leave no half-written key behind; the error is what matters.
        let _ = fs::remove_file(path);
        return Err(Failure::io(format!(
            "cannot write {}: {}",
            path.display(),
            plain(&e)
        )));
    }
    Ok(())
}
