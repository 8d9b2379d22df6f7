//! Where batches are applied. sled 0.34 applies every batch under one process-wide lock,
//! held exclusively, that every read takes shared once a batch has ever been applied
//! (`concurrency_control` in sled): while a batch applies, every live-status lookup waits.
//! A batch applied on an issuance thread (the drain, the issuance runtime: nice 19) that
//! the kernel preempts while holding the lock would leave the lookups waiting until that
//! thread runs again, for as long as verification keeps the cores busy: a priority
//! inversion, and under an issuance flood the cores are always busy. So batches from those
//! threads are applied by a thread of normal priority, which competes for the CPU as an
//! equal of the lookups; batches from other threads apply where they are. The same goes
//! for forgetting the records a batch changed (`records`): that takes the cache's shard
//! locks, which lookups take too.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use super::engine_error;
use super::records::{Batch, Records};
use crate::store::{StoreError, StoreResult};

type Job = (Batch, mpsc::SyncSender<sled::Result<()>>);

/// The thread that applies the lowered-priority threads' batches.
pub(super) struct Applier {
    db: sled::Db,
    records: Arc<Records>,
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Applies `batch` to `db`, then forgets the records it changed (whether or not it
/// applied: a failed batch may have changed nothing, and a miss costs only a read).
fn apply_forgetting(db: &sled::Db, records: &Records, batch: Batch) -> sled::Result<()> {
    let (writes, changed) = batch.into_parts();
    let applied = db.apply_batch(writes);
    records.changed(&changed);
    applied
}

impl Applier {
    /// Starts the thread.
    pub(super) fn start(db: sled::Db, records: Arc<Records>) -> std::io::Result<Applier> {
        let (sender, receiver) = mpsc::channel::<Job>();
        let (applying, forgetting) = (db.clone(), records.clone());
        let thread = std::thread::Builder::new()
            .name("edld-sled-apply".into())
            .spawn(move || {
                // sled's I/O threads started from here inherit this (see
                // `open_without_wakeup_preemption`).
                crate::priority::no_wakeup_preemption();
                for (batch, answer) in receiver {
                    let _ = answer.send(apply_forgetting(&applying, &forgetting, batch));
                }
            })?;
        Ok(Applier {
            db,
            records,
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Applies `batch` atomically (not yet durable) and forgets the records it changed:
    /// on the applier's thread when the calling thread runs at the lowered priority, here
    /// otherwise.
    pub(super) fn apply(&self, batch: Batch) -> StoreResult<()> {
        if !crate::priority::yields_cpu() {
            return apply_forgetting(&self.db, &self.records, batch).map_err(engine_error);
        }
        let (answer, answered) = mpsc::sync_channel(1);
        self.sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .ok_or(StoreError::Stopped)?
            .send((batch, answer))
            .map_err(|_| StoreError::Stopped)?;
        answered
            .recv()
            .map_err(|_| StoreError::Stopped)?
            .map_err(engine_error)
    }

    /// Stops the thread once the batches handed to it are applied (blocking).
    pub(super) fn stop(&self) {
        self.sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(key: &str) -> Batch {
        let mut batch = Batch::default();
        batch.insert(key.as_bytes(), &b"v"[..]);
        batch
    }

    /// Runs `f` on a thread at the issuance threads' lowered priority.
    fn lowered<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(move || {
            crate::priority::yield_cpu_to_verification();
            assert!(crate::priority::yields_cpu());
            f()
        })
        .join()
        .unwrap()
    }

    #[test]
    fn lowered_threads_batches_go_through_the_applier_others_apply_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let records = Arc::new(Records::new(1 << 20));
        let applier = Arc::new(Applier::start(db.clone(), records).unwrap());

        assert!(!crate::priority::yields_cpu());
        applier.apply(batch("here")).unwrap();
        let a = applier.clone();
        lowered(move || a.apply(batch("there"))).unwrap();
        assert!(db.get("here").unwrap().is_some());
        assert!(db.get("there").unwrap().is_some());

        // Once the applier is stopped, only the lowered threads' batches are refused:
        // theirs were the ones handed to it.
        applier.stop();
        let a = applier.clone();
        assert!(matches!(
            lowered(move || a.apply(batch("refused"))),
            Err(StoreError::Stopped)
        ));
        assert!(db.get("refused").unwrap().is_none());
        applier.apply(batch("still here")).unwrap();
        assert!(db.get("still here").unwrap().is_some());
    }
}
