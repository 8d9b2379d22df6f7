//! Durability for the sled engine: the group committer, one thread that makes the database
//! durable on behalf of every waiter that arrived before its commit started.
//!
//! **Why more than `flush`.** sled 0.34's `flush()` writes its log with
//! `sync_file_range`, which on Linux neither flushes the drive's cache nor the file's
//! metadata, and it never syncs the files it writes under `blobs/` (values over ~128 KiB).
//! So a commit here is `flush()`, then `fdatasync` of the `db` file, then `fsync` of any new
//! blob file and of the `blobs` directory. Commits are grouped: whoever arrives while one
//! runs shares the next, so under load one fsync serves thousands of writes.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::store::StoreError;
use crate::store::files::sync_dir;

/// Observes commit sizes and durations, for metrics.
pub(crate) trait CommitObserver: Send + Sync + 'static {
    /// One commit of `waiters` acknowledgements took `seconds`.
    fn committed(&self, waiters: usize, seconds: f64);
}

/// How commits are timed and reported (offline tools do without).
#[derive(Clone)]
pub(crate) struct CommitTiming {
    /// The monotonic clock commits are timed by.
    pub clock: Arc<dyn Clock>,
    /// Who hears of each commit.
    pub observer: Arc<dyn CommitObserver>,
}

type Waiter = oneshot::Sender<Result<(), StoreError>>;

/// The most waiters one commit answers (the rest form the next group).
const MAX_GROUP: usize = 4096;

/// The group committer and its thread.
pub(super) struct Committer {
    sender: Mutex<Option<mpsc::Sender<Waiter>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Commits still to fail on purpose (fault injection for the conformance suite; only
    /// tests set it).
    #[cfg_attr(not(test), allow(dead_code))]
    failing: Arc<AtomicU32>,
}

impl Committer {
    /// Starts the committer thread for `db` in `dir`.
    pub(super) fn start(
        db: sled::Db,
        dir: PathBuf,
        timing: Option<CommitTiming>,
    ) -> Result<Committer, StoreError> {
        let (sender, receiver) = mpsc::channel::<Waiter>();
        let failing = Arc::new(AtomicU32::new(0));
        let fail = failing.clone();
        let thread = std::thread::Builder::new()
            .name("edld-commit".into())
            .spawn(move || {
                // Nearly all it commits is issuance; lookups never wait for it. sled's I/O
                // threads started from here inherit this (see `open_at_issuance_priority`).
                crate::priority::yield_cpu_to_verification();
                run(&db, &dir, timing.as_ref(), &fail, &receiver)
            })?;
        Ok(Committer {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
            failing,
        })
    }

    /// Asks for a commit of everything applied so far; the receiver answers once it is
    /// durable.
    pub(super) fn request(&self) -> oneshot::Receiver<Result<(), StoreError>> {
        let (tx, rx) = oneshot::channel();
        let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sender) = sender.as_ref() {
            // A send fails only when the thread is gone; the dropped `tx` then answers
            // the receiver with an error.
            let _ = sender.send(tx);
        }
        rx
    }

    /// Waits until everything applied before the call is durable.
    pub(super) async fn commit(&self) -> Result<(), StoreError> {
        self.request().await.map_err(|_| StoreError::Stopped)?
    }

    /// Makes the next `n` commits fail as if the disk refused them.
    #[cfg(test)]
    pub(super) fn fail_next(&self, n: u32) {
        self.failing.store(n, Ordering::SeqCst);
    }

    /// Whether the thread still runs.
    pub(super) fn alive(&self) -> bool {
        self.thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }

    /// Stops the thread after a last commit (blocking).
    pub(super) fn stop(&self) {
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

fn run(
    db: &sled::Db,
    dir: &Path,
    timing: Option<&CommitTiming>,
    failing: &AtomicU32,
    receiver: &mpsc::Receiver<Waiter>,
) {
    let mut synced_blobs = HashSet::new();
    let mut group: Vec<Waiter> = Vec::new();
    while let Ok(first) = receiver.recv() {
        group.push(first);
        // Everyone already waiting joins this group; those who arrive while it runs form
        // the next one. No fixed delay: under load groups grow by themselves.
        while group.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(w) => group.push(w),
                Err(_) => break,
            }
        }
        let started = timing.map(|t| t.clock.monotonic());
        let injected = failing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let result = if injected {
            Err(StoreError::Io("a commit failed on purpose".into()))
        } else {
            sync(db, dir, &mut synced_blobs)
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, "durable commit failed");
        }
        if let (Some(t), Some(started)) = (timing, started) {
            let seconds = t.clock.monotonic().saturating_sub(started).as_secs_f64();
            t.observer.committed(group.len(), seconds);
        }
        for waiter in group.drain(..) {
            let _ = waiter.send(result.clone());
        }
    }
    // Every sender is gone: one last commit of whatever was applied since.
    if let Err(e) = sync(db, dir, &mut synced_blobs) {
        tracing::error!(error = %e, "the last durable commit failed");
    }
}

/// Makes everything applied so far durable: sled flush, then a real fsync (blocking).
pub(super) fn sync(
    db: &sled::Db,
    dir: &Path,
    synced_blobs: &mut HashSet<OsString>,
) -> Result<(), StoreError> {
    db.flush().map_err(super::engine_error)?;
    File::open(dir.join("db"))?.sync_data()?;
    let blobs = dir.join("blobs");
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
