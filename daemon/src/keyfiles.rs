//! Signing key files: reading them (refusing group- or world-readable private keys),
//! reading pinned root public keys, and creating development keys on first start (PKCS#8
//! v1 PEM, mode 0600, with an SPKI PEM public key beside each).

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

/// Loads the configured keys, creating development keys in `<data>/keys` if absent. With
/// an offline root, reads the pinned root public keys instead of a root key.
pub fn load(source: &KeySource, data_dir: &Path) -> Result<(KeySet, Vec<KeyReport>), KeyFileError> {
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
pub fn check(source: &KeySource, issuer: &str, now: keys::UnixTime) -> anyhow::Result<()> {
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
pub fn read_private(path: &Path) -> Result<SigningKey, KeyFileError> {
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
