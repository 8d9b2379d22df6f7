//! The lookup log's threads. The writer seals what has arrived onto the chain and writes it
//! in place at once (into the page cache: no wait); [`SYNCERS`] syncers make it durable
//! with `fdatasync` and answer its waiters. Each syncer takes every group written since the
//! last one it took, so while one sync is in flight the next already gathers the records
//! that arrive meanwhile, and a lookup waits for about one device flush, not for the rest
//! of the one in flight and then its own.
//!
//! An `fdatasync` that returns makes every page written to the file before it was called
//! durable (it waits for pages another sync started writing, then flushes the device's
//! cache), so groups may be answered in any order. A failed write or sync stops the log
//! (after a failed sync the kernel may have dropped the pages, and a later sync can
//! succeed without them): every lookup is then refused until edld is restarted, and the
//! chain goes on from what is durable.
//!
//! Both run under `SCHED_BATCH` (`priority::no_wakeup_preemption`): the lookup that wakes
//! one is not preempted by it.
//!
//! After a group's waiters are answered, its syncer adds its lookups to the index by
//! licence (`index`), before the next group is answered, so the index grows in order and
//! the answer never waits for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread::JoinHandle;

use super::files::{SegmentDir, SegmentFile};
use super::index::{self, LicenceIndex, Position};
use super::segment;
use super::{Entry, LookupObserver, LookupWaiter, RecordHash};
use crate::clock::Clock;
use crate::domain::audit::chain::{self, Head};
use crate::store::StoreError;

/// Syncs in flight at once.
const SYNCERS: usize = 2;
/// The most records in one group.
const GROUP_MAX: usize = 4096;

/// Who waits for a record, and the record's hash to answer with.
type Waiting = (LookupWaiter, RecordHash);

/// Written records waiting to be made durable.
struct Written {
    file: Arc<dyn SegmentFile>,
    waiters: Vec<Waiting>,
    /// The group's lookups, for the index by licence.
    indexed: Vec<(String, Position)>,
    /// The number of its last record.
    last: u64,
}

/// What the writer and the syncers share.
struct Shared {
    clock: Arc<dyn Clock>,
    observer: Option<Arc<dyn LookupObserver>>,
    index: Arc<LicenceIndex>,
    /// Set by a failed write or sync: everything is refused from then on.
    failed: AtomicBool,
    /// Batches are answered in the order they were taken: the last one answered.
    answered: Mutex<u64>,
    turn: Condvar,
}

impl Shared {
    fn refused() -> StoreError {
        StoreError::Io("the lookup audit log stopped after a write error".into())
    }
}

/// The writer: the segment being written and the chain's head.
pub(super) struct Writer {
    shared: Arc<Shared>,
    segments: Arc<dyn SegmentDir>,
    /// The segment being written; none after a failed rotation, until one is started.
    file: Option<Arc<dyn SegmentFile>>,
    head: Head,
    /// Where the next record goes.
    len: u64,
    /// The segment's size.
    capacity: u64,
    segment_bytes: u64,
}

/// A group being sealed: its frames, the head after them, who waits for them, and its
/// lookups for the index (offsets in `buffer`).
struct Group {
    buffer: Vec<u8>,
    next: Head,
    waiters: Vec<Waiting>,
    indexed: Vec<(String, Position)>,
}

impl Group {
    /// Seals `entry` onto the group if it fits in `room` bytes; gives it back otherwise.
    fn add(&mut self, (mut record, waiter): Entry, room: u64) -> Option<Entry> {
        let (bytes, after) = chain::seal(&mut record, self.next);
        let framed = segment::framed_len(&bytes) as u64;
        if bytes.len() > segment::MAX_RECORD || self.buffer.len() as u64 + framed > room {
            return Some((record, waiter));
        }
        if let Some(licence) = index::indexed(&record) {
            let position = Position {
                number: record.seq,
                offset: (self.buffer.len() + segment::HEADER) as u64,
                len: bytes.len() as u32,
            };
            self.indexed.push((licence.to_owned(), position));
        }
        segment::frame(&bytes, &mut self.buffer);
        self.next = after;
        self.waiters.push((waiter, after.hash));
        None
    }
}

impl Writer {
    /// A writer that goes on at `len` in `file`, after `head` (as `recover` found them),
    /// adding its lookups to `index`.
    pub(super) fn new(
        clock: Arc<dyn Clock>,
        segments: Arc<dyn SegmentDir>,
        index: Arc<LicenceIndex>,
        (file, head, len): (Box<dyn SegmentFile>, Head, u64),
        segment_bytes: u64,
        observer: Option<Arc<dyn LookupObserver>>,
    ) -> Result<Writer, StoreError> {
        let capacity = file.capacity()?;
        Ok(Writer {
            shared: Arc::new(Shared {
                clock,
                observer,
                index,
                failed: AtomicBool::new(false),
                answered: Mutex::new(0),
                turn: Condvar::new(),
            }),
            segments,
            file: Some(Arc::from(file)),
            head,
            len,
            capacity,
            segment_bytes,
        })
    }

    /// Seals and writes whatever has arrived (as much as fits in the segment), hands it
    /// to the syncers, and so on until the log is stopped; then waits until the syncers
    /// have made everything durable. A record that does not fit closes the segment and
    /// goes first into the next.
    pub(super) fn run(mut self, receiver: mpsc::Receiver<Entry>) {
        crate::priority::no_wakeup_preemption();
        let (to_sync, written) = mpsc::channel::<Written>();
        let written = Arc::new(Mutex::new((written, 0u64)));
        let syncers: Vec<JoinHandle<()>> = (0..SYNCERS)
            .filter_map(|i| {
                let (shared, written) = (self.shared.clone(), written.clone());
                std::thread::Builder::new()
                    .name(format!("edld-lookup-sync{i}"))
                    .spawn(move || {
                        crate::priority::no_wakeup_preemption();
                        sync_loop(&shared, &written)
                    })
                    .map_err(|e| tracing::error!(error = %e, "starting a lookup log syncer failed"))
                    .ok()
            })
            .collect();
        let mut group = Group {
            buffer: Vec::new(),
            next: self.head,
            waiters: Vec::new(),
            indexed: Vec::new(),
        };
        let mut carried: Option<Entry> = None;
        loop {
            let Some(first) = carried.take().or_else(|| receiver.recv().ok()) else {
                break;
            };
            if syncers.is_empty() || self.shared.failed.load(Ordering::SeqCst) {
                let _ = first.1.send(Err(Shared::refused()));
                continue;
            }
            if self.file.is_none() {
                self.start_segment();
            }
            group.next = self.head;
            let room = self.capacity.saturating_sub(self.len);
            if let Some(entry) = group.add(first, room) {
                if self.len > 0 && self.file.is_some() && self.rotate() {
                    // The segment was full: the record goes first into the next.
                    carried = Some(entry);
                } else {
                    let _ = entry.1.send(Err(StoreError::Io(
                        "the lookup audit log cannot take the record".into(),
                    )));
                }
                continue;
            }
            // Whatever else has arrived goes along, without waiting for more.
            while group.waiters.len() < GROUP_MAX {
                let Ok(entry) = receiver.try_recv() else {
                    break;
                };
                if let Some(entry) = group.add(entry, room) {
                    carried = Some(entry);
                    break;
                }
            }
            let waiters = std::mem::take(&mut group.waiters);
            let mut indexed = std::mem::take(&mut group.indexed);
            match self.write(&group.buffer) {
                Some(file) => {
                    for (_, position) in &mut indexed {
                        position.offset += self.len;
                    }
                    self.head = group.next;
                    self.len += group.buffer.len() as u64;
                    let last = self.head.next - 1;
                    // The syncers outlive this sender: it cannot fail while they run.
                    let _ = to_sync.send(Written {
                        file,
                        waiters,
                        indexed,
                        last,
                    });
                }
                None => {
                    for (waiter, _) in waiters {
                        let _ = waiter.send(Err(Shared::refused()));
                    }
                }
            }
            group.buffer.clear();
        }
        drop(to_sync);
        for syncer in syncers {
            let _ = syncer.join();
        }
    }

    /// Writes `buffer` where the next record goes; the file, or none after a failure
    /// (which stops the log).
    fn write(&mut self, buffer: &[u8]) -> Option<Arc<dyn SegmentFile>> {
        let file = self.file.clone()?;
        match file.write_at(buffer, self.len) {
            Ok(()) => Some(file),
            Err(e) => {
                tracing::error!(error = %e, "writing the lookup audit log failed; lookups are refused until edld restarts");
                self.shared.failed.store(true, Ordering::SeqCst);
                None
            }
        }
    }

    /// Makes the full segment durable, closes it under its last record's number and
    /// starts the next. False if it could not be closed (the writer keeps the full one).
    fn rotate(&mut self) -> bool {
        let Some(file) = self.file.as_ref() else {
            return false;
        };
        // The segment's records must all be durable before a later segment's can be.
        if let Err(e) = file.sync_data() {
            tracing::error!(error = %e, "syncing a full lookup log segment failed; lookups are refused until edld restarts");
            self.shared.failed.store(true, Ordering::SeqCst);
            return false;
        }
        let last = self.head.next - 1;
        if let Err(e) = self.segments.close_active(last, self.len) {
            tracing::error!(error = %e, "closing a lookup log segment failed");
            return false;
        }
        tracing::info!(last, "closed a lookup log segment");
        self.file = None;
        self.start_segment();
        true
    }

    /// Starts a new segment to write.
    fn start_segment(&mut self) {
        match self.segments.start_active(self.segment_bytes) {
            Ok(file) => {
                self.capacity = file.capacity().unwrap_or(self.segment_bytes);
                self.file = Some(Arc::from(file));
                self.len = 0;
            }
            Err(e) => tracing::error!(error = %e, "starting a lookup log segment failed"),
        }
    }
}

/// A syncer: takes every group written so far, one `fdatasync` per file among them, and
/// answers their waiters once the batches taken before have been answered (so that a
/// batch synced after a failed one is never answered as durable); until the writer is
/// gone and nothing is left.
fn sync_loop(shared: &Shared, written: &Mutex<(mpsc::Receiver<Written>, u64)>) {
    loop {
        let (batch, number) = {
            let mut taken = written.lock().unwrap_or_else(|p| p.into_inner());
            let Ok(first) = taken.0.recv() else {
                return;
            };
            let batch: Vec<Written> = std::iter::once(first).chain(taken.0.try_iter()).collect();
            taken.1 += 1;
            (batch, taken.1)
        };
        let started = shared.clock.monotonic();
        let mut result = Ok(());
        let mut synced: Vec<&Arc<dyn SegmentFile>> = Vec::new();
        for w in &batch {
            if result.is_ok() && !synced.iter().any(|f| Arc::ptr_eq(f, &w.file)) {
                result = w.file.sync_data();
                synced.push(&w.file);
            }
        }
        let records: usize = batch.iter().map(|w| w.waiters.len()).sum();
        if let Some(observer) = &shared.observer {
            let seconds = shared.clock.monotonic().saturating_sub(started);
            observer.committed(records, seconds.as_secs_f64());
        }
        let mut answered = shared
            .turn
            .wait_while(
                shared.answered.lock().unwrap_or_else(|p| p.into_inner()),
                |answered| *answered + 1 != number,
            )
            .unwrap_or_else(|p| p.into_inner());
        let result = match result {
            Ok(()) if !shared.failed.load(Ordering::SeqCst) => Ok(()),
            Ok(()) => Err(Shared::refused()),
            Err(e) => {
                tracing::error!(error = %e, "syncing the lookup audit log failed; lookups are refused until edld restarts");
                shared.failed.store(true, Ordering::SeqCst);
                Err(StoreError::from(e))
            }
        };
        let durable = result.is_ok();
        if durable && let Some(last) = batch.iter().map(|w| w.last).max() {
            shared.index.answered(last);
        }
        let mut indexed = Vec::new();
        let mut last = 0;
        for w in batch {
            for (waiter, hash) in w.waiters {
                let _ = waiter.send(result.clone().map(|()| hash));
            }
            indexed.extend(w.indexed);
            last = last.max(w.last);
        }
        // After the answers, before the next batch's: the index grows in order.
        if durable {
            shared.index.add(indexed, last);
        }
        *answered = number;
        drop(answered);
        shared.turn.notify_all();
    }
}
