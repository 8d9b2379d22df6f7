//! Signing key files: reading them (refusing group- or world-readable private keys) and
//! creating development keys on first start (PKCS#8 v1 PEM, mode 0600, with an SPKI PEM
//! public key beside each).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use keys::{KeyUse, PublicKey, SigningKey};
use rand_core::OsRng;
use zeroize::Zeroizing;

use crate::config::KeySource;

/// The three keys the daemon signs with.
pub struct KeySet {
    /// Signs the trust list at start.
    pub root: SigningKey,
    /// Signs credentials.
    pub credential: SigningKey,
    /// Signs status lists.
    pub status: SigningKey,
}

/// What happened to each key file at start, for the log.
#[derive(Debug, Clone)]
pub struct KeyReport {
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
pub enum KeyFileError {
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

/// Loads the configured keys, creating development keys in `<data>/keys` if absent.
pub fn load(source: &KeySource, data_dir: &Path) -> Result<(KeySet, Vec<KeyReport>), KeyFileError> {
    let (root, credential, status, create) = match source {
        KeySource::Development => {
            let dir = data_dir.join("keys");
            fs::create_dir_all(&dir).map_err(|source| KeyFileError::Io {
                path: dir.clone(),
                source,
            })?;
            (
                dir.join("root.pem"),
                dir.join("credential.pem"),
                dir.join("status.pem"),
                true,
            )
        }
        KeySource::Files {
            root,
            credential,
            status,
        } => (root.clone(), credential.clone(), status.clone(), false),
    };
    let mut reports = Vec::new();
    let mut one = |key_use: KeyUse, path: PathBuf| -> Result<SigningKey, KeyFileError> {
        let (key, created) = if create && !path.exists() {
            (create_key(&path)?, true)
        } else {
            (read_private(&path)?, false)
        };
        reports.push(KeyReport {
            key_use,
            key_id: key.key_id(),
            path,
            created,
        });
        Ok(key)
    };
    let keys = KeySet {
        root: one(KeyUse::Root, root)?,
        credential: one(KeyUse::Credential, credential)?,
        status: one(KeyUse::Status, status)?,
    };
    Ok((keys, reports))
}

/// Reads a private key file after checking that only its owner may read it.
pub fn read_private(path: &Path) -> Result<SigningKey, KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    let mode = fs::metadata(path).map_err(io)?.permissions().mode();
    if mode & 0o077 != 0 {
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
pub fn read_public(path: &Path) -> Result<PublicKey, KeyFileError> {
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
pub fn public_path(private: &Path) -> PathBuf {
    private.with_extension("pub.pem")
}

fn create_key(path: &Path) -> Result<SigningKey, KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    let key = SigningKey::generate(&mut OsRng);
    let pem = key.to_pkcs8_pem();
    // create_new: never overwrite a key; mode 0600 from the first byte on.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.write_all(pem.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    let public = public_path(path);
    fs::write(&public, key.public().to_spki_pem()).map_err(|source| KeyFileError::Io {
        path: public,
        source,
    })?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(key)
}
