//! Signing key files: reading them (refusing group- or world-readable private keys),
//! reading pinned root public keys, and creating development keys on first start (PKCS#8
//! v1 PEM, mode 0600, with an SPKI PEM public key beside each). Every file written here
//! is written durably ([`write_new_durably`], [`replace_durably`]): after a crash or a
//! power cut it is whole or absent, never empty. A development key's public key file that
//! is missing, empty or not its key's is derived again at start.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use keys::{KeyUse, PublicKey, SigningKey};
use rand_core::OsRng;
use zeroize::Zeroizing;

use crate::config::KeySource;

/// The keys the daemon signs with, and where its trust list comes from.
pub struct KeySet {
    /// The root key, or the pre-signed trust list and the pinned roots.
    pub root: Root,
    /// Signs credentials.
    pub credential: SigningKey,
    /// Signs status lists.
    pub status: SigningKey,
}

/// Where the trust list comes from.
pub enum Root {
    /// The daemon holds the root key and signs its own trust list (boxed: a signing key
    /// with its precomputed public key is large).
    Key(Box<SigningKey>),
    /// The root key stays offline: the daemon serves a list signed with it.
    Offline {
        /// The signed trust list's file, read at start and again when it changes.
        trust_list: PathBuf,
        /// The root public keys the list must verify against.
        pinned: Vec<PublicKey>,
    },
}

/// What happened to each key file at start, for the log.
#[derive(Debug, Clone)]
pub(crate) struct KeyReport {
    /// The key's use.
    pub key_use: KeyUse,
    /// Its file.
    pub path: PathBuf,
    /// Its key id.
    pub key_id: keys::KeyId,
    /// Whether it was created now.
    pub created: bool,
}

/// Why the keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyFileError {
    /// Group or world may read the private key.
    #[error("{path} is readable by group or others (mode {mode:o}); run chmod 600 on it")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Not an Ed25519 PKCS#8 PEM.
    #[error("{path}: {source}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Why.
        source: keys::KeyError,
    },
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Loads the configured keys, creating development keys in `<data>/keys` if absent. With
/// an offline root, reads the pinned root public keys instead of a root key.
pub(crate) fn load(
    source: &KeySource,
    data_dir: &Path,
) -> Result<(KeySet, Vec<KeyReport>), KeyFileError> {
    // The root: a key file to read (`Ok`), or already the offline root (`Err`).
    let (root, credential, status, create) = match source {
        KeySource::Development => {
            let dir = data_dir.join("keys");
            fs::create_dir_all(&dir).map_err(|source| KeyFileError::Io {
                path: dir.clone(),
                source,
            })?;
            (
                Ok(dir.join("root.pem")),
                dir.join("credential.pem"),
                dir.join("status.pem"),
                true,
            )
        }
        KeySource::Files {
            root,
            credential,
            status,
        } => (Ok(root.clone()), credential.clone(), status.clone(), false),
        KeySource::OfflineRoot {
            credential,
            status,
            trust_list,
            root_public,
        } => {
            let pinned = root_public
                .iter()
                .map(|path| read_public(path))
                .collect::<Result<Vec<_>, _>>()?;
            let root = Root::Offline {
                trust_list: trust_list.clone(),
                pinned,
            };
            (Err(root), credential.clone(), status.clone(), false)
        }
    };
    let mut reports = Vec::new();
    let mut one = |key_use: KeyUse, path: PathBuf| -> Result<SigningKey, KeyFileError> {
        let (key, created) = if create && !path.exists() {
            (create_key(&path)?, true)
        } else {
            (read_private(&path)?, false)
        };
        if create && !created {
            restore_public(&key, &path)?;
        }
        reports.push(KeyReport {
            key_use,
            key_id: key.key_id(),
            path,
            created,
        });
        Ok(key)
    };
    let keys = KeySet {
        root: match root {
            Ok(path) => Root::Key(Box::new(one(KeyUse::Root, path)?)),
            Err(offline) => offline,
        },
        credential: one(KeyUse::Credential, credential)?,
        status: one(KeyUse::Status, status)?,
    };
    Ok((keys, reports))
}

/// What `edld check-config` checks beyond the configuration file: the configured private
/// keys parse and only their owner may read them, and with an offline root the trust list
/// verifies against the pinned roots, is for `issuer` and lets both keys sign at `now`.
/// Development keys are neither created nor checked.
pub(crate) fn check(source: &KeySource, issuer: &str, now: keys::UnixTime) -> anyhow::Result<()> {
    use anyhow::Context;
    if *source == KeySource::Development {
        return Ok(());
    }
    let (keys, _) = load(source, Path::new("."))?;
    let Root::Offline {
        trust_list: path,
        pinned,
    } = &keys.root
    else {
        return Ok(());
    };
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let context = || format!("trust list {}", path.display());
    let served =
        crate::domain::trust::check_offline(&bytes, pinned, None, issuer).with_context(context)?;
    for (key, key_use) in [
        (&keys.credential, KeyUse::Credential),
        (&keys.status, KeyUse::Status),
    ] {
        crate::domain::trust::may_sign(&served.list, key_use, key.public(), now)
            .with_context(context)?;
    }
    Ok(())
}

/// Reads a private key file after checking that only its owner may read it. In systemd's
/// credentials directory (`$CREDENTIALS_DIRECTORY`, `LoadCredential=`) the group may too:
/// systemd 254 and later make credentials group-readable (0440) for a `DynamicUser=`
/// service, in a directory that only the service can enter.
pub(crate) fn read_private(path: &Path) -> Result<SigningKey, KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    let mode = fs::metadata(path).map_err(io)?.permissions().mode();
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY")
        .is_some_and(|dir| !dir.is_empty() && path.starts_with(&dir));
    let forbidden = if credentials { 0o007 } else { 0o077 };
    if mode & forbidden != 0 {
        return Err(KeyFileError::Permissions {
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    let pem = Zeroizing::new(fs::read_to_string(path).map_err(io)?);
    SigningKey::from_pkcs8_pem(&pem).map_err(|source| KeyFileError::Format {
        path: path.to_owned(),
        source,
    })
}

/// Reads an SPKI public key PEM.
pub(crate) fn read_public(path: &Path) -> Result<PublicKey, KeyFileError> {
    let pem = fs::read_to_string(path).map_err(|source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    })?;
    PublicKey::from_spki_pem(&pem).map_err(|source| KeyFileError::Format {
        path: path.to_owned(),
        source,
    })
}

/// The public key file written beside a private key file: `root.pem` → `root.pub.pem`.
pub(crate) fn public_path(private: &Path) -> PathBuf {
    private.with_extension("pub.pem")
}

fn create_key(path: &Path) -> Result<SigningKey, KeyFileError> {
    let key = SigningKey::generate(&mut OsRng);
    let pem = key.to_pkcs8_pem();
    // Never overwrite a key; mode 0600 from the first byte on.
    write_new_durably(path, pem.as_bytes(), 0o600).map_err(|source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    })?;
    let public = public_path(path);
    replace_durably(&public, key.public().to_spki_pem().as_bytes(), 0o644).map_err(|source| {
        KeyFileError::Io {
            path: public,
            source,
        }
    })?;
    Ok(key)
}

/// Writes the public key file of the development key at `private` again unless it holds
/// that key: it may be missing, or empty after a power cut that an older edld's
/// unsynced write did not survive. Logged, since the file changes under the operator.
fn restore_public(key: &SigningKey, private: &Path) -> Result<(), KeyFileError> {
    let path = public_path(private);
    let found = match fs::read_to_string(&path) {
        Ok(pem) if pem.trim().is_empty() => "empty",
        Ok(pem) => match PublicKey::from_spki_pem(&pem) {
            Ok(public) if public == *key.public() => return Ok(()),
            Ok(_) => "another key",
            Err(_) => "not a public key",
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "missing",
        Err(source) => return Err(KeyFileError::Io { path, source }),
    };
    replace_durably(&path, key.public().to_spki_pem().as_bytes(), 0o644).map_err(|source| {
        KeyFileError::Io {
            path: path.clone(),
            source,
        }
    })?;
    tracing::warn!(
        path = %path.display(),
        found,
        key_id = %key.key_id(),
        "public key file written again from its private key"
    );
    Ok(())
}

/// Writes a new file at `path` whole or not at all, failing if it exists: a temporary
/// file beside it, written with `mode` and fsynced, is hard-linked to `path` (which, unlike
/// a rename, never replaces an existing file), then the directory is fsynced.
pub(crate) fn write_new_durably(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = write_temporary(path, bytes, mode)?;
    let linked = fs::hard_link(&tmp, path);
    let removed = fs::remove_file(&tmp);
    linked?;
    removed?;
    sync_parent(path)
}

/// Writes `bytes` to `path`, replacing it atomically: a temporary file beside it, written
/// with `mode` and fsynced, is renamed over `path`, then the directory is fsynced. After a
/// crash `path` holds the old contents or the new, never a part.
pub(crate) fn replace_durably(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = write_temporary(path, bytes, mode)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_parent(path)
}

/// `.<name>.tmp` beside `path`, created afresh with `mode`, holding `bytes`, fsynced. A
/// leftover from an interrupted write is removed first, so `mode` applies.
fn write_temporary(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(tmp)
}

/// Makes the directory entry of `path` durable.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => fs::File::open(dir)?.sync_all(),
        _ => fs::File::open(".")?.sync_all(),
    }
}

#[cfg(test)]
mod tests;
