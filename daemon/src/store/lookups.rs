//! The lookup log: relying-party lookups, one hash-chained record each, in preallocated
//! segments under `<data>/audit/` (see [`files`] for the files, [`segment`] for the
//! frames). Its own threads seal, write in place and `fdatasync` in groups ([`LookupLog`],
//! `writer`), so a live-status answer waits for one small data write of its own file,
//! never for a metadata or journal commit, and never behind the store's commits of an
//! issuance flood. An index by licence ([`index`]) lets a holder's listing of who looked
//! their licence up read that licence's records alone.

pub(crate) mod files;
pub(crate) mod index;
pub(crate) mod segment;
mod writer;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::thread::JoinHandle;

use keys::UnixTime;

use crate::clock::Clock;
use crate::domain::access::Caller;
use crate::domain::audit::chain::{self, Head};
use crate::domain::audit::{AuditRecord, Purpose};
use crate::store::StoreError;
pub(crate) use files::ACTIVE as LOOKUPS_FILE;
use files::{Closed, FsSegments, Layout, SegmentDir, SegmentFile};
use index::{LicenceIndex, Page, Reader};

/// The size of a segment: created at this size, zero-filled, and closed once the next
/// record does not fit.
pub(crate) const SEGMENT_BYTES: u64 = 64 << 20;

/// The `hash` of a sealed audit record (SHA-256 of its canonical bytes).
pub(crate) type RecordHash = [u8; 32];

/// Told how long each group commit took.
pub trait LookupObserver: Send + Sync {
    /// `records` were made durable in `seconds` (the `fdatasync` after their write).
    fn committed(&self, records: usize, seconds: f64);
}

/// Answered with the sealed record's `hash` once the record is durable.
type LookupWaiter = tokio::sync::oneshot::Sender<Result<RecordHash, StoreError>>;
type Entry = (AuditRecord, LookupWaiter);

/// The append-only, hash-chained log of relying-party lookups, made durable in groups by
/// its own thread.
pub struct LookupLog {
    path: PathBuf,
    /// Shared by the lookups sending at once (a sender is `Sync`); taken to stop. Not a
    /// mutex: a sender can be preempted in the send (which may wake the syncer), and the
    /// other lookups would queue behind it.
    sender: RwLock<Option<mpsc::Sender<Entry>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The index by licence, and the segments it points into.
    reader: Reader,
    /// Rebuilding the index from the records there at start.
    rebuild: Mutex<Option<JoinHandle<()>>>,
}

impl LookupLog {
    /// Opens (or creates) the lookup log in `dir` and starts its thread. Whatever
    /// a crash left after the last whole record was never acknowledged: it is zeroed, so
    /// the chain goes on from the last whole record.
    pub fn open(dir: &Path, clock: Arc<dyn Clock>) -> Result<LookupLog, StoreError> {
        LookupLog::open_with(dir, clock, SEGMENT_BYTES, None)
    }

    /// [`LookupLog::open`] with segments of `segment_bytes`, telling `observer` of every
    /// group commit.
    pub fn open_with(
        dir: &Path,
        clock: Arc<dyn Clock>,
        segment_bytes: u64,
        observer: Option<Arc<dyn LookupObserver>>,
    ) -> Result<LookupLog, StoreError> {
        std::fs::create_dir_all(dir)?;
        LookupLog::open_in(
            Box::new(FsSegments::new(dir)),
            dir.join(LOOKUPS_FILE),
            clock,
            segment_bytes,
            observer,
        )
    }

    /// The lookup log in `segments`, known to people as `path`.
    pub(crate) fn open_in(
        segments: Box<dyn SegmentDir>,
        path: PathBuf,
        clock: Arc<dyn Clock>,
        segment_bytes: u64,
        observer: Option<Arc<dyn LookupObserver>>,
    ) -> Result<LookupLog, StoreError> {
        let segments: Arc<dyn SegmentDir> = Arc::from(segments);
        let (file, head, len) = recover(segments.as_ref(), segment_bytes)?;
        let through = head.next - 1;
        let index = Arc::new(LicenceIndex::new(through));
        let reader = Reader {
            index: index.clone(),
            segments: segments.clone(),
        };
        let rebuild = if through > 0 {
            let reader = reader.clone();
            Some(
                std::thread::Builder::new()
                    .name("edld-lookup-index".into())
                    .spawn(move || reader.index.rebuild(reader.segments.as_ref(), through))?,
            )
        } else {
            None
        };
        let (sender, receiver) = mpsc::channel();
        let thread = writer::start(
            clock,
            segments,
            index,
            (file, head, len),
            segment_bytes,
            observer,
            receiver,
        )?;
        Ok(LookupLog {
            path,
            sender: RwLock::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
            reader,
            rebuild: Mutex::new(rebuild),
        })
    }

    /// The segment being written (closed ones are beside it).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one lookup and waits until it is durable; gives back the sealed record's
    /// `hash` (which a signed status receipt names).
    pub async fn record(
        &self,
        caller: &Caller,
        at: UnixTime,
        licence: &str,
        credential: &str,
        action: &str,
        purpose: Option<&Purpose>,
    ) -> Result<RecordHash, StoreError> {
        let mut record = AuditRecord::new(caller, at, action, Some(licence), Some(credential));
        record.purpose = purpose.map(|p| p.as_str().to_owned());
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let sender = self.sender.read().unwrap_or_else(|p| p.into_inner());
            sender
                .as_ref()
                .ok_or(StoreError::Stopped)?
                .send((record, tx))
                .map_err(|_| StoreError::Stopped)?;
        }
        rx.await.map_err(|_| StoreError::Stopped)?
    }

    /// A page of the relying-party lookups of `licence`'s credentials, newest first,
    /// numbered before `before` (from the newest if `None`), at most `limit`; read through
    /// the index by licence, off the async workers. Every lookup answered before the call
    /// is in it.
    pub(crate) async fn lookups_of(
        &self,
        licence: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let (reader, licence) = (self.reader.clone(), licence.to_owned());
        tokio::task::spawn_blocking(move || reader.page(&licence, before, limit))
            .await
            .map_err(|e| StoreError::Io(format!("reading the lookup log: {e}")))?
    }

    /// Stops the syncer after what it holds is durable; from then on no thread of the log
    /// changes its directory (another log may be opened on it).
    pub fn stop(&self) {
        let rebuild = self
            .rebuild
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(rebuild) = rebuild {
            let _ = rebuild.join();
        }
        self.sender
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        self.reader.segments.settle();
    }
}

/// The head after the stored record `bytes` found at record number `position`.
fn head_after(position: u64, bytes: &[u8]) -> Head {
    let seq = chain::decode_intact(bytes).map_or(position, |r| r.seq);
    Head::after(seq, bytes)
}

/// Finds the segment being written (starting one if there is none), zeroes what a crash
/// left after its last whole record, and finds the chain's head and where the next record
/// goes.
fn recover(
    segments: &dyn SegmentDir,
    segment_bytes: u64,
) -> Result<(Box<dyn SegmentFile>, Head, u64), StoreError> {
    // First: it closes a segment of JSON lines left by an earlier version.
    let active = segments.active()?;
    let closed = segments.closed()?;
    let before = closed.last().map_or(0, |c| c.last);
    let Some(file) = active else {
        let head = closed_head(segments, closed.last())?;
        return Ok((segments.start_active(segment_bytes)?, head, 0));
    };
    let bytes = file.read_all()?;
    let scan = segment::scan(&bytes);
    if scan.dirty_until > scan.end {
        tracing::warn!(
            bytes = scan.dirty_until - scan.end,
            "zeroing a lookup record a crash left incomplete (it was never acknowledged)"
        );
        file.write_at(&vec![0; scan.dirty_until - scan.end], scan.end as u64)?;
        file.sync_data()?;
    }
    let head = match scan.frames.last() {
        Some(last) => head_after(
            before + scan.frames.len() as u64,
            &bytes[last.start..last.end],
        ),
        None => closed_head(segments, closed.last())?,
    };
    Ok((file, head, scan.end as u64))
}

/// The chain's head after the closed segment `closed`.
fn closed_head(segments: &dyn SegmentDir, closed: Option<&Closed>) -> Result<Head, StoreError> {
    let Some(closed) = closed else {
        return Ok(Head::EMPTY);
    };
    let bytes = segments.read_closed(closed)?;
    Ok(match records_of(closed.layout, &bytes).pop() {
        Some(last) => head_after(closed.last, &last),
        None => Head::EMPTY,
    })
}

/// The records of one segment's bytes: frames, or whole lines.
fn records_of(layout: Layout, bytes: &[u8]) -> Vec<Vec<u8>> {
    match layout {
        Layout::Framed => {
            let scan = segment::scan(bytes);
            scan.records(bytes).map(<[u8]>::to_vec).collect()
        }
        Layout::Lines => {
            // A last line without its newline was still being written.
            match bytes.iter().rposition(|b| *b == b'\n') {
                Some(end) => bytes[..end]
                    .split(|b| *b == b'\n')
                    .map(<[u8]>::to_vec)
                    .collect(),
                None => Vec::new(),
            }
        }
    }
}

/// The closed segments in `dir`, oldest first.
pub(crate) fn segments(dir: &Path) -> Result<Vec<Closed>, StoreError> {
    Ok(FsSegments::new(dir).closed()?)
}

/// Every record of the lookup log in `segments`, closed segments first and then the one
/// being written, as (record number, stored bytes), numbered on across the segments. A
/// record still being written is left out. Reads one segment at a time.
pub(crate) fn records(
    segments: Box<dyn SegmentDir>,
) -> Result<impl Iterator<Item = Result<(u64, Vec<u8>), StoreError>> + use<>, StoreError> {
    let mut sources: VecDeque<Option<Closed>> = segments.closed()?.into_iter().map(Some).collect();
    sources.push_back(None);
    let mut current: std::vec::IntoIter<Vec<u8>> = Vec::new().into_iter();
    let mut number = 0u64;
    Ok(std::iter::from_fn(move || {
        loop {
            if let Some(bytes) = current.next() {
                number += 1;
                return Some(Ok((number, bytes)));
            }
            let source = sources.pop_front()?;
            let read = match &source {
                Some(closed) => segments
                    .read_closed(closed)
                    .map(|b| records_of(closed.layout, &b)),
                None => segments
                    .read_active()
                    .map(|b| records_of(Layout::Framed, &b)),
            };
            match read {
                Ok(records) => current = records.into_iter(),
                Err(e) => return Some(Err(e.into())),
            }
        }
    }))
}

#[cfg(test)]
mod tests;
