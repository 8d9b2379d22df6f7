//! The lookup log: relying-party lookups, one hash-chained record per line in
//! `<data>/audit/lookups.jsonl`, written in 256 MiB segments. Its own writer thread seals,
//! appends and `fdatasync`s in groups ([`LookupLog`]), so a live-status answer waits for one
//! small file's sync and never behind the store's commits of an issuance flood.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use keys::UnixTime;

use crate::clock::Clock;
use crate::domain::access::Caller;
use crate::domain::audit::chain::{self, Head};
use crate::domain::audit::{AuditRecord, Purpose};
use crate::store::StoreError;
use crate::store::files::sync_dir;

/// While lookups keep arriving less than this apart (and the last group held more than
/// one), the writer gathers them into the group it is about to sync...
const GATHER_GAP: Duration = Duration::from_micros(50);
/// ...for at most this long after the first. Under load this turns thousands of tiny
/// `fdatasync`s a second (each a journal commit the whole file system queues behind) into
/// a few hundred larger ones, which shortens the slowest answers several-fold.
const GATHER_MAX: Duration = Duration::from_micros(500);
/// The most records in one group.
const GROUP_MAX: usize = 4096;

/// The lookup log's file name in `<data>/audit`: the segment being written.
pub(crate) const LOOKUPS_FILE: &str = "lookups.jsonl";

/// Once the segment being written reaches this size it is closed: renamed to
/// [`segment_name`] of its last record, and a new `lookups.jsonl` carries the chain on.
pub(crate) const SEGMENT_BYTES: u64 = 256 << 20;

/// A closed segment's file name: `lookups.<its last record number, 20 digits>.jsonl`, so
/// that names sort in record order.
pub(crate) fn segment_name(last: u64) -> String {
    format!("lookups.{last:020}.jsonl")
}

/// The closed segments in `dir`, oldest first, each with its last record number.
pub(crate) fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let last = name
            .to_str()
            .and_then(|n| n.strip_prefix("lookups."))
            .and_then(|n| n.strip_suffix(".jsonl"))
            .filter(|n| n.len() == 20)
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(last) = last {
            out.push((last, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

type LookupWaiter = tokio::sync::oneshot::Sender<Result<(), StoreError>>;
type LookupSender = mpsc::Sender<(AuditRecord, LookupWaiter)>;

/// The append-only, hash-chained log of relying-party lookups, made durable in groups by
/// its own thread.
pub struct LookupLog {
    path: PathBuf,
    sender: Mutex<Option<LookupSender>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl LookupLog {
    /// Opens (or creates) `<dir>/lookups.jsonl` and starts its writer thread, closing
    /// segments at [`SEGMENT_BYTES`]. A last line that a crash cut short was never
    /// acknowledged: it is cut off, so the chain goes on from the last whole record.
    pub fn open(dir: &Path, clock: Arc<dyn Clock>) -> Result<LookupLog, StoreError> {
        LookupLog::open_with_segments(dir, clock, SEGMENT_BYTES)
    }

    /// [`LookupLog::open`], closing segments at `segment_bytes`.
    pub fn open_with_segments(
        dir: &Path,
        clock: Arc<dyn Clock>,
        segment_bytes: u64,
    ) -> Result<LookupLog, StoreError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(LOOKUPS_FILE);
        let mut file = open_segment(&path)?;
        let (head, len) = recover(&mut file, &path, segments(dir)?.last())?;
        file.sync_all()?;
        sync_dir(dir)?;
        let (sender, receiver) = mpsc::channel();
        let writer = Writer {
            clock,
            path: path.clone(),
            file,
            head,
            len,
            segment_bytes,
        };
        let thread = std::thread::Builder::new()
            .name("edld-lookup-log".into())
            .spawn(move || writer.run(receiver))?;
        Ok(LookupLog {
            path,
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The segment being written (closed ones are beside it, see [`segments`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one lookup and waits until it is durable.
    pub async fn record(
        &self,
        caller: &Caller,
        at: UnixTime,
        licence: &str,
        credential: &str,
        action: &str,
        purpose: Option<&Purpose>,
    ) -> Result<(), StoreError> {
        let mut record = AuditRecord::new(caller, at, action, Some(licence), Some(credential));
        record.purpose = purpose.map(|p| p.as_str().to_owned());
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner());
            sender
                .as_ref()
                .ok_or(StoreError::Stopped)?
                .send((record, tx))
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

fn open_segment(path: &Path) -> Result<File, StoreError> {
    Ok(std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)?)
}

/// Cuts off a torn last line and finds the chain's head and the file's length. The
/// records before the file's first are in the closed segments, the newest of which is
/// `closed` (its last record number and path).
fn recover(
    file: &mut File,
    path: &Path,
    closed: Option<&(u64, PathBuf)>,
) -> Result<(Head, u64), StoreError> {
    let len = file.metadata()?.len();
    let (end, last) = last_line(file, len)?;
    if end < len {
        tracing::warn!(
            path = %path.display(),
            bytes = len - end,
            "cutting off a lookup record a crash left incomplete (it was never acknowledged)"
        );
        file.set_len(end)?;
    }
    let before = closed.map_or(0, |(last, _)| *last);
    let Some(last) = last else {
        // Nothing written since the last segment was closed: the chain goes on from it.
        let head = match closed {
            Some((number, segment)) => {
                let mut segment = File::open(segment)?;
                let len = segment.metadata()?.len();
                match last_line(&mut segment, len)? {
                    (_, Some(line)) => {
                        let seq = chain::decode_intact(&line).map_or(*number, |r| r.seq);
                        Head::after(seq, &line)
                    }
                    (_, None) => Head::EMPTY,
                }
            }
            None => Head::EMPTY,
        };
        return Ok((head, end));
    };
    let head = match chain::decode_intact(&last) {
        Some(record) => Head::after(record.seq, &last),
        // A damaged last record: count the lines to know its number.
        None => {
            file.seek(SeekFrom::Start(0))?;
            let mut lines = 0u64;
            let mut buffer = vec![0u8; 1 << 16];
            let mut left = end;
            while left > 0 {
                let n = file.read(&mut buffer)?;
                if n == 0 {
                    break;
                }
                let n = n.min(usize::try_from(left).unwrap_or(usize::MAX));
                lines += buffer[..n].iter().filter(|b| **b == b'\n').count() as u64;
                left -= n as u64;
            }
            Head::after(before + lines, &last)
        }
    };
    Ok((head, end))
}

/// The end of the last whole line (just after its newline; 0 when there is none) and that
/// line's bytes, reading backwards from `len` until two newlines or the start are in view.
fn last_line(file: &mut File, len: u64) -> Result<(u64, Option<Vec<u8>>), StoreError> {
    const CHUNK: u64 = 1 << 16;
    let mut tail: Vec<u8> = Vec::new();
    let mut start = len;
    loop {
        if let Some(last) = tail.iter().rposition(|b| *b == b'\n') {
            let end = start + last as u64 + 1;
            match tail[..last].iter().rposition(|b| *b == b'\n') {
                Some(before) => return Ok((end, Some(tail[before + 1..last].to_vec()))),
                None if start == 0 => return Ok((end, Some(tail[..last].to_vec()))),
                None => {}
            }
        } else if start == 0 {
            return Ok((0, None));
        }
        let from = start.saturating_sub(CHUNK);
        let mut chunk = vec![0u8; usize::try_from(start - from).unwrap_or(0)];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&tail);
        tail = chunk;
        start = from;
    }
}

/// The lookup log's writer thread: the segment being written and the chain's head.
struct Writer {
    /// Times the gathering of a group.
    clock: Arc<dyn Clock>,
    path: PathBuf,
    file: File,
    head: Head,
    len: u64,
    segment_bytes: u64,
}

impl Writer {
    /// Gathers what arrives (see [`GATHER_GAP`]), seals it onto the chain, writes it, one
    /// `fdatasync`, answers everyone; closes the segment once it is full. A failed write is
    /// cut back off, and the chain goes on from the last durable record.
    fn run(mut self, receiver: mpsc::Receiver<(AuditRecord, LookupWaiter)>) {
        let mut waiters: VecDeque<LookupWaiter> = VecDeque::new();
        let mut buffer = Vec::new();
        let mut last_group = 1;
        while let Ok(first) = receiver.recv() {
            let mut next = self.head;
            let mut add = |(mut record, waiter): (AuditRecord, LookupWaiter)| {
                let (bytes, after) = chain::seal(&mut record, next);
                next = after;
                buffer.extend_from_slice(&bytes);
                buffer.push(b'\n');
                waiters.push_back(waiter);
            };
            add(first);
            // Gather only while lookups come in together (the last group had company): a
            // lone lookup is synced at once.
            let gap = if last_group > 1 {
                GATHER_GAP
            } else {
                Duration::ZERO
            };
            let until = self.clock.monotonic() + GATHER_MAX;
            let mut group = 1;
            while group < GROUP_MAX {
                let left = until.saturating_sub(self.clock.monotonic());
                match receiver.recv_timeout(left.min(gap)) {
                    Ok(entry) => add(entry),
                    Err(_) => break,
                }
                group += 1;
            }
            last_group = group;
            let result = self
                .file
                .write_all(&buffer)
                .and_then(|()| self.file.sync_data())
                .map_err(StoreError::from);
            match &result {
                Ok(()) => {
                    self.head = next;
                    self.len += buffer.len() as u64;
                }
                Err(e) => {
                    tracing::error!(error = %e, "writing the lookup audit log failed");
                    let _ = self.file.set_len(self.len);
                }
            }
            buffer.clear();
            for waiter in waiters.drain(..) {
                let _ = waiter.send(result.clone());
            }
            if result.is_ok() && self.len >= self.segment_bytes {
                self.close_segment();
            }
        }
    }

    /// Renames the full segment after its last record and starts a new one. On failure
    /// the writer keeps appending where it was and tries again after the next write.
    fn close_segment(&mut self) {
        let last = self.head.next - 1;
        let Some(dir) = self.path.parent() else {
            return;
        };
        let closed = dir.join(segment_name(last));
        let result = std::fs::rename(&self.path, &closed)
            .map_err(StoreError::from)
            .and_then(|()| open_segment(&self.path))
            .and_then(|file| {
                file.sync_all()?;
                sync_dir(dir)?;
                Ok(file)
            });
        match result {
            Ok(file) => {
                self.file = file;
                self.len = 0;
                tracing::info!(segment = %closed.display(), last, "closed a lookup log segment");
            }
            Err(e) => tracing::error!(error = %e, "closing a lookup log segment failed"),
        }
    }
}

#[cfg(test)]
mod tests;
