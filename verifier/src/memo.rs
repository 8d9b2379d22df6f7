//! Where `edl-verify check` keeps its [`SignatureMemo`] between processes: the cached
//! trust list's and status list's signatures, verified by an earlier check of the same
//! user, are not verified again (two of an offline check's three Ed25519 verifications);
//! see `keys::memo` for what an entry vouches for.
//!
//! The file is `$XDG_CACHE_HOME/edl-verify/signatures` (else `~/.cache/…`). An entry
//! read counts as verified, so the memo is used only when the directory and the file are
//! the user's own and no one else can write them; anything else (another owner, group or
//! world write, a symbolic link, no such variables) means no memo: every signature is
//! verified, as without one. Failing to read or write it is never an error: it only saves
//! work.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use keys::memo::SignatureMemo;

/// Larger than any memo `keys` writes (256 entries of 65 bytes).
const MAX_LEN: u64 = 64 << 10;

/// The memo file's place.
pub struct MemoFile {
    dir: PathBuf,
}

impl MemoFile {
    /// The place for this user, from the environment; `None` without one.
    pub fn locate(env: &dyn Fn(&str) -> Option<String>) -> Option<MemoFile> {
        let base = env("XDG_CACHE_HOME")
            .filter(|d| d.starts_with('/'))
            .map(PathBuf::from)
            .or_else(|| {
                env("HOME")
                    .filter(|h| h.starts_with('/'))
                    .map(|h| PathBuf::from(h).join(".cache"))
            })?;
        Some(MemoFile {
            dir: base.join("edl-verify"),
        })
    }

    /// The memo, if there is a private one; an empty one where none was written yet;
    /// `None` where one must not be trusted (nor written).
    pub fn read(&self) -> Option<SignatureMemo> {
        match fs::symlink_metadata(&self.dir) {
            Ok(dir) if dir.is_dir() && private(&dir) => {}
            Ok(_) => return None,
            Err(_) => return Some(SignatureMemo::new()),
        }
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.dir.join("signatures"));
        let file = match file {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Some(SignatureMemo::new());
            }
            Err(_) => return None,
        };
        let metadata = file.metadata().ok()?;
        if !metadata.is_file() || !private(&metadata) || metadata.len() > MAX_LEN {
            return None;
        }
        let mut bytes = Vec::new();
        file.take(MAX_LEN).read_to_end(&mut bytes).ok()?;
        Some(SignatureMemo::from_bytes(&bytes))
    }

    /// Writes `memo` if this process verified something new: a private directory, the
    /// new file in place by one rename.
    pub fn save(&self, memo: &SignatureMemo) {
        let Some(bytes) = memo.to_bytes() else {
            return;
        };
        let _ = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir);
        match fs::symlink_metadata(&self.dir) {
            Ok(dir) if dir.is_dir() && private(&dir) => {}
            _ => return,
        }
        let temporary = self
            .dir
            .join(format!("signatures.{}.tmp", std::process::id()));
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .and_then(|mut file: File| file.write_all(&bytes));
        if written.is_err() || fs::rename(&temporary, self.dir.join("signatures")).is_err() {
            let _ = fs::remove_file(&temporary);
        }
    }
}

/// Owned by this process's user, and no one else may write it.
fn private(metadata: &fs::Metadata) -> bool {
    metadata.uid() == rustix::process::geteuid().as_raw() && metadata.mode() & 0o022 == 0
}
