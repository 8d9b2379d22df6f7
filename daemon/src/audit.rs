//! The audit hook: every registry, review and throttle change and every relying-party
//! status lookup is recorded here before the answer is sent. Changes are appended under
//! `U/` in the store, in the same durable commit as the change they describe.
//!
//! Lookups go to their own append-only file, `<data>/audit/lookups.jsonl`, with its own
//! group commit on its own thread ([`LookupLog`]): a live-status answer waits for one
//! `fdatasync` of a small file, never behind the store's commits of an issuance flood.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, mpsc};
use std::thread::JoinHandle;

use keys::UnixTime;
use serde::Serialize;

use crate::auth::Caller;
use crate::store::{Batch, Store, StoreError, key, prefix, sync_dir};

/// One audited action.
#[derive(Clone, Debug, Serialize)]
pub struct AuditRecord<'a> {
    /// When.
    pub at: UnixTime,
    /// Which client.
    pub client: &'a str,
    /// Its role.
    pub role: &'a str,
    /// What, e.g. `licence.revoke`, `status.lookup`.
    pub action: &'a str,
    /// Which licence, when there is one.
    pub licence: Option<&'a str>,
    /// Details (e.g. the credential id, the reason).
    pub detail: Option<&'a str>,
}

/// Appends audit records.
pub struct Audit {
    next: AtomicU64,
}

impl Audit {
    /// Continues after the last stored record.
    pub fn restore(store: &Store) -> Result<Audit, StoreError> {
        let next = match store.last_key(prefix::AUDIT)? {
            Some(k) => k
                .get(prefix::AUDIT.len()..)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(0, |b| u64::from_be_bytes(b) + 1),
            None => 0,
        };
        Ok(Audit {
            next: AtomicU64::new(next),
        })
    }

    /// Adds a record to `batch`, to be committed with the change it describes.
    pub fn record(
        &self,
        batch: &mut Batch,
        caller: &Caller,
        at: UnixTime,
        action: &str,
        licence: Option<&str>,
        detail: Option<&str>,
    ) {
        let sequence = self.next.fetch_add(1, Ordering::SeqCst);
        let record = AuditRecord {
            at,
            client: &caller.client,
            role: caller.role.as_str(),
            action,
            licence,
            detail,
        };
        tracing::info!(target: "audit", sequence, client = %caller.client, role = caller.role.as_str(), action, "audit");
        batch.put(key(prefix::AUDIT, &[&sequence.to_be_bytes()]), &record);
    }
}

type LookupWaiter = tokio::sync::oneshot::Sender<Result<(), StoreError>>;
type LookupSender = mpsc::Sender<(Vec<u8>, LookupWaiter)>;

/// The append-only log of relying-party lookups, made durable in groups by its own thread.
pub struct LookupLog {
    sender: Mutex<Option<LookupSender>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl LookupLog {
    /// Opens (or creates) `<dir>/lookups.jsonl` and starts its writer thread. A line a
    /// crash cut short is closed with a newline, so it stands alone.
    pub fn open(dir: &Path) -> Result<LookupLog, StoreError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("lookups.jsonl");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        let len = file.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
            }
        }
        file.sync_all()?;
        sync_dir(dir)?;
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("edld-lookup-log".into())
            .spawn(move || write_lookups(file, receiver))?;
        Ok(LookupLog {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Appends one lookup and waits until it is durable.
    pub async fn record(
        &self,
        caller: &Caller,
        at: UnixTime,
        licence: &str,
        credential: &str,
    ) -> Result<(), StoreError> {
        let record = AuditRecord {
            at,
            client: &caller.client,
            role: caller.role.as_str(),
            action: "status.lookup",
            licence: Some(licence),
            detail: Some(credential),
        };
        let mut line = serde_json::to_vec(&record).map_err(|e| StoreError::Io(e.to_string()))?;
        line.push(b'\n');
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner());
            sender
                .as_ref()
                .ok_or(StoreError::Stopped)?
                .send((line, tx))
                .map_err(|_| StoreError::Stopped)?;
        }
        rx.await.map_err(|_| StoreError::Stopped)?
    }

    /// Stops the writer after what it holds is durable.
    pub fn stop(&self) {
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// The writer: takes everything waiting, writes it, one `fdatasync`, answers everyone.
fn write_lookups(mut file: File, receiver: mpsc::Receiver<(Vec<u8>, LookupWaiter)>) {
    let mut waiters: VecDeque<LookupWaiter> = VecDeque::new();
    let mut buffer = Vec::new();
    while let Ok((line, waiter)) = receiver.recv() {
        buffer.extend_from_slice(&line);
        waiters.push_back(waiter);
        while let Ok((line, waiter)) = receiver.try_recv() {
            buffer.extend_from_slice(&line);
            waiters.push_back(waiter);
            if waiters.len() >= 4096 {
                break;
            }
        }
        let result = file
            .write_all(&buffer)
            .and_then(|()| file.sync_data())
            .map_err(StoreError::from);
        if let Err(e) = &result {
            tracing::error!(error = %e, "writing the lookup audit log failed");
        }
        buffer.clear();
        for waiter in waiters.drain(..) {
            let _ = waiter.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests;
