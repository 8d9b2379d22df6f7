//! The offline cache: the last synced trust list and status lists, as the server signed
//! them, plus a small `meta.json` (ETags, fetch times, sequence number). Signatures are
//! checked again on every use, so a tampered cache can only make checks INDETERMINATE.
//!
//! Layout: `<cache_dir>/current` is a symbolic link to a generation folder
//! `gen-<synced_at>-<pid>-<n>` holding `meta.json`, `trust-list.cose` and `status-<i>.cwt`.
//!
//! **Invariant:** a generation is complete and fsynced before `current` points at it, and
//! `current` is replaced by `rename(2)`, which is atomic: an interrupted sync leaves the old
//! cache intact. The previous generation is kept (a check running during a sync may still
//! be reading it); older ones are removed.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The link naming the generation in use.
const CURRENT: &str = "current";
const META: &str = "meta.json";
const TRUST_LIST: &str = "trust-list.cose";
const GENERATION_PREFIX: &str = "gen-";

/// What a generation's `meta.json` records.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// The format of this file.
    pub version: u32,
    /// The server synced from.
    pub server: String,
    /// The terminal's clock at the sync, Unix seconds.
    pub synced_at: u64,
    /// The server's `Date` at the sync, Unix seconds, if it sent one.
    pub server_time: Option<u64>,
    /// The trust list.
    pub trust_list: TrustListMeta,
    /// The status lists, in the trust list's order.
    pub status_lists: Vec<ListMeta>,
}

/// The cached trust list's bookkeeping.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustListMeta {
    /// Its sequence number (checked again on load).
    pub sequence: u64,
    /// The server's ETag, for `If-None-Match`.
    pub etag: Option<String>,
    /// When it was last fetched or confirmed unchanged.
    pub fetched_at: u64,
}

/// One cached status list's bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListMeta {
    /// The list's URI (its `sub`).
    pub uri: String,
    /// Its file name in the generation folder.
    pub file: String,
    /// The server's ETag, for `If-None-Match`.
    pub etag: Option<String>,
    /// When it was last fetched or confirmed unchanged.
    pub fetched_at: u64,
    /// Its `ttl`: no refetch before `fetched_at + ttl`.
    pub ttl: u64,
    /// Its `iat`.
    pub issued_at: u64,
}

/// The current generation, opened.
#[derive(Clone, Debug)]
pub struct Cache {
    generation: PathBuf,
    /// The bookkeeping.
    pub meta: Meta,
    /// The signed trust list, as fetched.
    pub trust_list: Vec<u8>,
}

/// Why the cache could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// `meta.json` does not parse.
    #[error("{path}: {message}")]
    Meta {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

impl Cache {
    /// Opens the current generation in `dir`, or `None` if nothing was ever synced.
    pub fn open(dir: &Path) -> Result<Option<Cache>, CacheError> {
        let link = dir.join(CURRENT);
        let target = match fs::read_link(&link) {
            Ok(target) => target,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(io_error("reading", &link, source)),
        };
        let generation = dir.join(target);
        let meta_path = generation.join(META);
        let meta_text = read(&meta_path)?;
        let meta: Meta = serde_json::from_slice(&meta_text).map_err(|e| CacheError::Meta {
            path: meta_path,
            message: e.to_string(),
        })?;
        let trust_list = read(&generation.join(TRUST_LIST))?;
        Ok(Some(Cache {
            generation,
            meta,
            trust_list,
        }))
    }

    /// The generation folder this cache was read from.
    pub fn generation(&self) -> &Path {
        &self.generation
    }

    /// The cached status list for `uri`: its bookkeeping and signed bytes.
    pub fn status_list(&self, uri: &str) -> Result<Option<(&ListMeta, Vec<u8>)>, CacheError> {
        let Some(meta) = self.meta.status_lists.iter().find(|l| l.uri == uri) else {
            return Ok(None);
        };
        Ok(Some((meta, read(&self.generation.join(&meta.file))?)))
    }
}

/// The generation folder `current` names in `dir` now, if any: a cheap way for a
/// long-running command to notice that a sync replaced the cache.
pub fn current_generation(dir: &Path) -> Option<PathBuf> {
    fs::read_link(dir.join(CURRENT))
        .ok()
        .map(|target| dir.join(target))
}

/// A complete new generation to be committed.
pub struct Generation<'a> {
    /// Its bookkeeping; `status_lists[i]` goes with `lists[i]`.
    pub meta: Meta,
    /// The signed trust list.
    pub trust_list: &'a [u8],
    /// The signed status lists.
    pub lists: Vec<&'a [u8]>,
}

/// The file name of the `i`th status list.
pub fn list_file(i: usize) -> String {
    format!("status-{i}.cwt")
}

/// Writes `generation` as a new folder, fsyncs it, then atomically points `current` at it.
pub fn commit(dir: &Path, generation: &Generation<'_>) -> Result<(), CacheError> {
    fs::create_dir_all(dir).map_err(|e| io_error("creating", dir, e))?;
    let previous = fs::read_link(dir.join(CURRENT)).ok();
    let pid = std::process::id();
    let (name, path) = (0u32..)
        .map(|n| {
            let name = format!("{GENERATION_PREFIX}{}-{pid}-{n}", generation.meta.synced_at);
            let path = dir.join(&name);
            (name, path)
        })
        .find(|(_, path)| !path.exists())
        .unwrap_or_else(|| (String::new(), PathBuf::new()));
    fs::create_dir(&path).map_err(|e| io_error("creating", &path, e))?;
    let meta = serde_json::to_vec_pretty(&generation.meta).unwrap_or_default();
    write_synced(&path.join(META), &meta)?;
    write_synced(&path.join(TRUST_LIST), generation.trust_list)?;
    for (meta, bytes) in generation.meta.status_lists.iter().zip(&generation.lists) {
        write_synced(&path.join(&meta.file), bytes)?;
    }
    sync_dir(&path)?;
    // Replace the link by renaming a new one over it: readers see the old or the new
    // generation, never a missing or half-written one.
    let staged = dir.join(format!(".{CURRENT}-{pid}"));
    let _ = fs::remove_file(&staged);
    symlink(Path::new(&name), &staged).map_err(|e| io_error("linking", &staged, e))?;
    fs::rename(&staged, dir.join(CURRENT)).map_err(|e| io_error("renaming", &staged, e))?;
    sync_dir(dir)?;
    remove_old_generations(dir, &name, previous.as_deref());
    Ok(())
}

/// Best effort: a leftover folder wastes space but never changes a verdict.
fn remove_old_generations(dir: &Path, current: &str, previous: Option<&Path>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let keep = name == current || previous.is_some_and(|p| p == Path::new(name));
        if name.starts_with(GENERATION_PREFIX) && !keep {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CacheError> {
    fs::read(path).map_err(|e| io_error("reading", path, e))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    let mut file = File::create(path).map_err(|e| io_error("creating", path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error("writing", path, e))
}

fn sync_dir(path: &Path) -> Result<(), CacheError> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| io_error("syncing", path, e))
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _link: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "the cache needs symbolic links",
    ))
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> CacheError {
    CacheError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}
