//! The filesystem side of `edl-keys`: reading key files of either kind, creating private
//! key files with mode 0600 without ever overwriting one, and replacing outputs atomically.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use keys::{PublicKey, SigningKey};
use zeroize::Zeroizing;

use crate::exit::{self, Failure};

/// A key file: a private key (which has the public half too) or a public key alone.
pub(crate) enum KeyFile {
    /// A PKCS#8 private key (boxed: it is twice the size of a public key).
    Private(Box<SigningKey>),
    /// An SPKI public key.
    Public(PublicKey),
}

impl KeyFile {
    /// The public key, from either kind of file.
    pub(crate) fn public(&self) -> &PublicKey {
        match self {
            KeyFile::Private(key) => key.public(),
            KeyFile::Public(key) => key,
        }
    }
}

/// Reads a whole file. A missing or unreadable file is 66, a failed read 74.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    fs::read(path).map_err(|e| read_failure(path, &e))
}

/// Reads a whole file, or `None` if there is none.
pub(crate) fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, Failure> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(read_failure(path, &e)),
    }
}

/// Reads a whole text file; bytes that are not UTF-8 are bad data.
pub(crate) fn read_text(path: &Path) -> Result<String, Failure> {
    String::from_utf8(read(path)?)
        .map_err(|_| Failure::data(format!("{}: not a text file", path.display())))
}

fn read_failure(path: &Path, error: &io::Error) -> Failure {
    let message = format!("cannot read {}: {}", path.display(), plain(error));
    match error.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied | io::ErrorKind::IsADirectory => {
            Failure::no_input(message)
        }
        _ => Failure::io(message),
    }
}

/// Reads a private (PKCS#8) or public (SPKI) Ed25519 key in PEM form. A private key file
/// that group or others can access is read, with a warning.
pub(crate) fn load_key(path: &Path) -> Result<KeyFile, Failure> {
    // The text may be a secret: wipe it once parsed.
    let text = Zeroizing::new(read_text(path)?);
    let bad = |reason: String| Failure::data(format!("{}: {reason}", path.display()));
    match pem_label(&text) {
        Some("PRIVATE KEY") => {
            let key = SigningKey::from_pkcs8_pem(&text).map_err(|e| bad(e.to_string()))?;
            warn_if_exposed(path);
            Ok(KeyFile::Private(Box::new(key)))
        }
        Some("PUBLIC KEY") => PublicKey::from_spki_pem(&text)
            .map(KeyFile::Public)
            .map_err(|e| bad(e.to_string())),
        Some("ENCRYPTED PRIVATE KEY") => Err(bad(
            "an encrypted private key; edl keys are stored unencrypted with mode 0600 \
             (decrypt it with openssl pkey)"
                .into(),
        )),
        Some(other) => Err(bad(format!(
            "a {other} PEM, not an Ed25519 PRIVATE KEY or PUBLIC KEY"
        ))),
        None => Err(bad("not a PEM key file (no -----BEGIN line)".into())),
    }
}

/// Reads a private key file; a public key file is refused with a hint.
pub(crate) fn load_signing_key(path: &Path) -> Result<SigningKey, Failure> {
    match load_key(path)? {
        KeyFile::Private(key) => Ok(*key),
        KeyFile::Public(_) => Err(Failure::data(format!(
            "{}: a public key; signing needs the private key file",
            path.display()
        ))),
    }
}

/// The label of the first PEM block, e.g. `PRIVATE KEY`.
fn pem_label(text: &str) -> Option<&str> {
    let start = text.find("-----BEGIN ")? + "-----BEGIN ".len();
    let rest = &text[start..];
    let end = rest.find("-----")?;
    Some(&rest[..end])
}

/// Warns when a private key file is accessible to group or others.
pub(crate) fn warn_if_exposed(path: &Path) {
    if let Ok(metadata) = fs::metadata(path) {
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            exit::warn(format!(
                "{} is a private key that group or others can access (mode {mode:04o}); \
                 run chmod 600 on it",
                path.display()
            ));
        }
    }
}

/// Where the public key of the private key file `FILE` goes: `root.pem` → `root.pub.pem`
/// (`.pem` replaced by `.pub.pem`; any other name gets `.pub.pem` added). The daemon names
/// its public key files the same way, so one name works everywhere.
pub(crate) fn public_path(private: &Path) -> PathBuf {
    let stem = if private.extension().is_some_and(|ext| ext == "pem") {
        private.with_extension("")
    } else {
        private.to_path_buf()
    };
    let mut name = stem.into_os_string();
    name.push(".pub.pem");
    PathBuf::from(name)
}

/// Creates `path` with mode 0600 and writes `contents`, refusing to touch an existing
/// file. Creation is atomic (O_CREAT|O_EXCL with the mode): the secret is never readable
/// by others, not even for an instant, and never replaces another key.
pub(crate) fn create_private(path: &Path, contents: &[u8]) -> Result<(), Failure> {
    create_new(path, contents, 0o600)
}

/// Creates the public key file `path` (mode 0644), refusing to touch an existing file.
pub(crate) fn create_public(path: &Path, contents: &[u8]) -> Result<(), Failure> {
    create_new(path, contents, 0o644)
}

/// Refuses early if `path` exists, so that a command fails before it makes anything.
pub(crate) fn refuse_existing(path: &Path) -> Result<(), Failure> {
    match fs::symlink_metadata(path) {
        Ok(_) => Err(already_exists(path)),
        Err(_) => Ok(()),
    }
}

fn already_exists(path: &Path) -> Failure {
    Failure::cannot_create(format!(
        "{} already exists; refusing to overwrite it",
        path.display()
    ))
}

fn create_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), Failure> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => already_exists(path),
            _ => Failure::cannot_create(format!("cannot create {}: {}", path.display(), plain(&e))),
        })?;
    let written = write_durably(&mut file, contents)
        // The umask may have taken bits away at creation; set exactly the mode asked for.
        .and_then(|()| file.set_permissions(Permissions::from_mode(mode)));
    if let Err(e) = written {
        drop(file);
        // Leave no half-written key behind; the error below is what matters.
        let _ = fs::remove_file(path);
        return Err(Failure::io(format!(
            "cannot write {}: {}",
            path.display(),
            plain(&e)
        )));
    }
    Ok(())
}

/// Replaces `path` with `contents` atomically: a reader sees the old file or the new
/// one, never a mix. The new file gets `mode`.
pub(crate) fn replace(path: &Path, contents: &[u8], mode: u32) -> Result<(), Failure> {
    let directory = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Failure::usage(format!("{} is not a file name", path.display())))?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(format!(".{}.tmp", std::process::id()));
    let temporary = directory.join(temporary_name);
    let cannot_create = |e: io::Error| {
        Failure::cannot_create(format!(
            "cannot create {}: {}",
            temporary.display(),
            plain(&e)
        ))
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temporary)
        .map_err(cannot_create)?;
    let written = write_durably(&mut file, contents)
        .and_then(|()| file.set_permissions(Permissions::from_mode(mode)))
        .and_then(|()| fs::rename(&temporary, path));
    drop(file);
    if let Err(e) = written {
        let _ = fs::remove_file(&temporary);
        return Err(Failure::io(format!(
            "cannot write {}: {}",
            path.display(),
            plain(&e)
        )));
    }
    // Make the rename itself durable; a failure here leaves a complete file in place.
    if let Ok(dir) = File::open(&directory) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// The mode bits of an existing file, to keep them when replacing it.
pub(crate) fn mode_of(path: &Path) -> Option<u32> {
    fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

fn write_durably(file: &mut File, contents: &[u8]) -> io::Result<()> {
    file.write_all(contents)?;
    file.sync_all()
}

/// An I/O error without Rust's `(os error N)` suffix, lowercase like our messages.
fn plain(error: &io::Error) -> String {
    let text = error.to_string();
    let text = match text.find(" (os error") {
        Some(at) => text[..at].to_owned(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}
