//! Durable state in sled 0.34: one tree with a one-letter prefix per table, so that one
//! `Batch` changes several tables atomically, and the group committer that makes writes
//! durable.
//!
//! **Durability.** sled 0.34's `flush()` writes its log with `sync_file_range`, which on
//! Linux neither flushes the drive's cache nor the file's metadata, and it never syncs
//! the files it writes under `blobs/` (values over ~128 KiB). So a commit here is
//! `flush()`, then `fdatasync` of the `db` file, then `fsync` of any new blob file and of
//! the `blobs` directory. An acknowledgement waits for a commit that started after its
//! write; commits are grouped: whoever arrives while one is running shares the next.
//!
//! Key layout (all multi-byte integers big-endian, so keys sort numerically):
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `L/` | licence number | `LicenceRecord` JSON |
//! | `A/` | ticket (16 bytes) | `Application` JSON; `previous` chains a licence's applications (and so its credentials) |
//! | `O/` | licence number | ticket of its latest application (open while queued or in review) |
//! | `Q/` | lane (1) + sequence (8) | ticket |
//! | `P/` | ticket | lane (1): accepted before the opening time, not yet in order |
//! | `R/` | ticket | (empty): applications waiting for review |
//! | `C/` | credential id (16) | `CredentialRecord` JSON |
//! | `M/` | name | meta values (trust list sequence, key windows) |
//! | `K/` | SHA-256 of an API key | `ApiClient` JSON |
//! | `U/` | sequence (8) | audit record: one hash-chained JSON record (see `audit::chain`) |

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};

use crate::audit::AuditRecord;
use crate::audit::chain::{self, Head};

/// Why a store operation failed. Internal: clients only ever see "service unavailable".
#[derive(Debug, thiserror::Error, Clone)]
pub enum StoreError {
    /// sled refused.
    #[error("sled: {0}")]
    Sled(String),
    /// fsync or another file operation failed.
    #[error("io: {0}")]
    Io(String),
    /// A stored value did not decode.
    #[error("corrupt value under {0}")]
    Corrupt(String),
    /// The committer has stopped (shutdown).
    #[error("the committer has stopped")]
    Stopped,
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Sled(e.to_string())
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

/// Table prefixes.
pub mod prefix {
    /// Licence records.
    pub const LICENCE: &[u8] = b"L/";
    /// Applications.
    pub const APPLICATION: &[u8] = b"A/";
    /// Latest application per licence (open while queued or in review).
    pub const OPEN: &[u8] = b"O/";
    /// The queue.
    pub const QUEUE: &[u8] = b"Q/";
    /// Applications accepted before the opening time, in ticket (random) order.
    pub const PREOPEN: &[u8] = b"P/";
    /// Applications waiting for review.
    pub const REVIEW: &[u8] = b"R/";
    /// Credentials.
    pub const CREDENTIAL: &[u8] = b"C/";
    /// Meta values.
    pub const META: &[u8] = b"M/";
    /// API clients.
    pub const CLIENT: &[u8] = b"K/";
    /// Audit records.
    pub const AUDIT: &[u8] = b"U/";
}

/// `prefix` followed by `parts`.
pub fn key(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + parts.iter().map(|p| p.len()).sum::<usize>());
    key.extend_from_slice(prefix);
    for part in parts {
        key.extend_from_slice(part);
    }
    key
}

/// The sled database and the directory it lives in.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    dir: PathBuf,
    /// The head of the change audit chain, held while a batch with audit records applies.
    audit: Arc<Mutex<Head>>,
}

impl Store {
    /// Opens (or creates) the database in `<data_dir>/db`.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let dir = data_dir.join("db");
        std::fs::create_dir_all(&dir)?;
        let db = sled::Config::new()
            .path(&dir)
            .cache_capacity(256 << 20)
            // sled's own background flush runs every 500 ms by default; our commits are
            // explicit, so a slower background flush only saves work.
            .flush_every_ms(Some(1_000))
            .open()
            .map_err(|e| match e {
                sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                    StoreError::Io(format!(
                        "{} is in use by another process (is edld running?)",
                        dir.display()
                    ))
                }
                other => other.into(),
            })?;
        // Make the files sled may just have created durable in their directories.
        sync_dir(&dir)?;
        sync_dir(data_dir)?;
        let head = match db.scan_prefix(prefix::AUDIT).next_back() {
            Some(entry) => {
                let (k, v) = entry?;
                Head::after(audit_position(&k).unwrap_or(0), &v)
            }
            None => Head::EMPTY,
        };
        Ok(Store {
            db,
            dir,
            audit: Arc::new(Mutex::new(head)),
        })
    }

    /// The sled tree.
    pub fn tree(&self) -> &sled::Db {
        &self.db
    }

    /// Reads raw bytes.
    pub fn get_raw(&self, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        Ok(self.db.get(key)?)
    }

    /// Reads and decodes a JSON value.
    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        match self.db.get(key)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|_| StoreError::Corrupt(String::from_utf8_lossy(key).into_owned())),
        }
    }

    /// Applies a batch atomically (not yet durable: see [`Committer`]). Its audit records
    /// are sealed onto the change chain here, under the chain's lock: the chain's order is
    /// the order batches apply in, and a batch that fails leaves no gap.
    pub fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        let Batch { mut inner, audit } = batch;
        if audit.is_empty() {
            return Ok(self.db.apply_batch(inner)?);
        }
        let mut head = self.audit.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = *head;
        for mut record in audit {
            let position = next.next;
            let (bytes, after) = chain::seal(&mut record, next);
            inner.insert(key(prefix::AUDIT, &[&position.to_be_bytes()]), bytes);
            next = after;
        }
        self.db.apply_batch(inner)?;
        *head = next;
        Ok(())
    }

    /// The change audit records, as (record number, stored bytes) in order.
    pub fn audit_records(
        &self,
    ) -> impl Iterator<Item = Result<(u64, Vec<u8>), StoreError>> + use<> {
        self.db.scan_prefix(prefix::AUDIT).map(|entry| {
            let (k, v) = entry?;
            let position = audit_position(&k)
                .ok_or_else(|| StoreError::Corrupt(String::from_utf8_lossy(&k).into_owned()))?;
            Ok((position, v.to_vec()))
        })
    }

    /// Keys and values under `prefix`, in key order.
    pub fn scan(
        &self,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec), StoreError>> + use<> {
        self.db
            .scan_prefix(prefix)
            .map(|r| r.map_err(StoreError::from))
    }

    /// The last key under `prefix`.
    pub fn last_key(&self, prefix: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        match self.db.scan_prefix(prefix).next_back() {
            Some(r) => Ok(Some(r?.0)),
            None => Ok(None),
        }
    }

    /// Makes everything applied so far durable: sled flush, then a real fsync. Blocking;
    /// callers on the async runtime go through [`Committer`].
    pub fn sync(&self, synced_blobs: &mut HashSet<OsString>) -> Result<(), StoreError> {
        self.db.flush()?;
        File::open(self.dir.join("db"))?.sync_data()?;
        let blobs = self.dir.join("blobs");
        if let Ok(entries) = std::fs::read_dir(&blobs) {
            let mut new_blob = false;
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name();
                if !synced_blobs.contains(&name) {
                    File::open(entry.path())?.sync_all()?;
                    synced_blobs.insert(name);
                    new_blob = true;
                }
            }
            if new_blob {
                sync_dir(&blobs)?;
            }
        }
        Ok(())
    }
}

/// A set of writes applied atomically, with the audit records that describe them.
#[derive(Default)]
pub struct Batch {
    inner: sled::Batch,
    audit: Vec<AuditRecord>,
}

impl Batch {
    /// Writes raw bytes.
    pub fn put_raw(&mut self, key: Vec<u8>, value: impl Into<sled::IVec>) {
        self.inner.insert(key, value);
    }

    /// Writes a value as JSON.
    pub fn put<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        // Our records are plain structs of strings, numbers and lists: serializing them
        // to JSON cannot fail.
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        self.inner.insert(key, bytes);
    }

    /// Removes a key.
    pub fn remove(&mut self, key: Vec<u8>) {
        self.inner.remove(key);
    }

    /// Adds an audit record, sealed onto the change chain when the batch applies.
    pub fn audit(&mut self, record: AuditRecord) {
        self.audit.push(record);
    }
}

/// The record number in a `U/` key.
fn audit_position(key: &[u8]) -> Option<u64> {
    key.get(prefix::AUDIT.len()..)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
}

/// Syncs a directory so that entries created in it survive power loss.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Writes a file durably: temporary name, fsync, rename, fsync of the directory.
pub fn write_file_durably(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Observes commit sizes and durations, for metrics.
pub trait CommitObserver: Send + Sync + 'static {
    /// One commit of `waiters` acknowledgements took `seconds`.
    fn committed(&self, waiters: usize, seconds: f64);
}

type Waiter = oneshot::Sender<Result<(), StoreError>>;

/// The group committer: a task that makes the store durable on behalf of every waiter
/// that arrived before the commit started, with one flush and one fsync per group.
#[derive(Clone)]
pub struct Committer {
    sender: mpsc::UnboundedSender<Waiter>,
}

/// The committer's task; await [`CommitterTask::run`] and drop every [`Committer`] to
/// stop it.
pub struct CommitterTask {
    store: Store,
    receiver: mpsc::UnboundedReceiver<Waiter>,
    observer: Arc<dyn CommitObserver>,
    max_group: usize,
}

impl Committer {
    /// A committer for `store` and its task.
    pub fn new(store: Store, observer: Arc<dyn CommitObserver>) -> (Committer, CommitterTask) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (
            Committer { sender },
            CommitterTask {
                store,
                receiver,
                observer,
                max_group: 4096,
            },
        )
    }

    /// Waits until everything this caller wrote before calling is durable.
    pub async fn commit(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.sender.send(tx).map_err(|_| StoreError::Stopped)?;
        rx.await.map_err(|_| StoreError::Stopped)?
    }

    /// The same, from a blocking thread (the drain worker).
    pub fn commit_blocking(&self) -> Result<(), StoreError> {
        self.commit_later()?
            .blocking_recv()
            .map_err(|_| StoreError::Stopped)?
    }

    /// Asks for a commit of everything written so far and returns at once: the receiver
    /// answers when it is durable. The drain signs its next step meanwhile.
    pub fn commit_later(&self) -> Result<oneshot::Receiver<Result<(), StoreError>>, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.sender.send(tx).map_err(|_| StoreError::Stopped)?;
        Ok(rx)
    }
}

impl CommitterTask {
    /// Runs until every [`Committer`] is dropped, then returns after a last commit.
    pub async fn run(mut self) {
        let mut synced_blobs = HashSet::new();
        let mut group: Vec<Waiter> = Vec::new();
        while let Some(first) = self.receiver.recv().await {
            group.push(first);
            // Everyone already waiting joins this group; those who arrive while it runs
            // form the next one. No fixed delay: under load groups grow by themselves.
            while group.len() < self.max_group {
                match self.receiver.try_recv() {
                    Ok(w) => group.push(w),
                    Err(_) => break,
                }
            }
            let store = self.store.clone();
            let started = Instant::now();
            let mut blobs = std::mem::take(&mut synced_blobs);
            let result = tokio::task::spawn_blocking(move || {
                let r = store.sync(&mut blobs);
                (r, blobs)
            })
            .await;
            let result = match result {
                Ok((r, blobs)) => {
                    synced_blobs = blobs;
                    r
                }
                Err(e) => Err(StoreError::Io(format!("commit task failed: {e}"))),
            };
            if let Err(e) = &result {
                tracing::error!(error = %e, "durable commit failed");
            }
            self.observer
                .committed(group.len(), started.elapsed().as_secs_f64());
            for waiter in group.drain(..) {
                let _ = waiter.send(result.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests;
