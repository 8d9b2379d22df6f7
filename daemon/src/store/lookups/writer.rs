//! The lookup log's threads, its syncers: each takes whatever lookups have arrived, seals
//! them onto the chain and writes them in place (into the page cache), then makes them
//! durable with `fdatasync` and answers their waiters. Taking and writing is done under
//! one lock (the chain has one head), the syncs are not, so with more than one syncer,
//! one takes and writes what arrives while another is in its sync. There is one
//! ([`SYNCERS`]): its groups are larger, so there are fewer syncs to pay for, and answers
//! came no later. A lookup waits for the rest of the sync in flight, then its own.
//!
//! Not a writer thread of its own that hands written groups to the syncers: that was one
//! more thread to wake and schedule for every group (measured inside the log under the
//! benchmark's officer load: 80 to 160 µs from the hand-off to a syncer taking the group).
//! Without it, officers' lookups ran 4 to 7 % faster (`tests/bench/status-vs-nginx`, two
//! runs each way).
//!
//! An `fdatasync` that returns makes every page written to the file before it was called
//! durable (it waits for pages another sync started writing, then flushes the device's
//! cache), so groups may be made durable in any order; they are answered in the order
//! they were written. A failed write or sync stops the log (after a failed sync the kernel
//! may have dropped the pages, and a later sync can succeed without them): every lookup is
//! then refused until edld is restarted, and the chain goes on from what is durable.
//!
//! They run under `SCHED_BATCH` (`priority::no_wakeup_preemption`): the lookup that wakes
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

/// Syncs in flight at once: the threads of the log. One, not two: in two back-to-back
/// pairs of `tests/bench/status-vs-nginx`, one syncer served officers' lookups as fast or
/// faster (39 300 and 43 900 requests/s against 39 200 and 39 600), with about 21 lookups
/// per sync instead of 14 and 1 to 3 µs less CPU per lookup.
const SYNCERS: usize = 1;
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
    /// Its place among the groups written (from 1): they are answered in this order.
    number: u64,
}

/// What the syncers share.
struct Shared {
    clock: Arc<dyn Clock>,
    observer: Option<Arc<dyn LookupObserver>>,
    index: Arc<LicenceIndex>,
    /// The lookups arriving and the chain they go onto: taken and written by one syncer
    /// at a time.
    intake: Mutex<Intake>,
    /// Set by a failed write or sync: everything is refused from then on.
    failed: AtomicBool,
    /// Groups are answered in the order they were written: the last one answered.
    answered: Mutex<u64>,
    turn: Condvar,
}

impl Shared {
    fn refused() -> StoreError {
        StoreError::Io("the lookup audit log stopped after a write error".into())
    }
}

/// The lookups arriving, and the writer of the chain.
struct Intake {
    receiver: mpsc::Receiver<Entry>,
    /// A lookup taken that did not fit into the group before it: it goes first into the
    /// next.
    carried: Option<Entry>,
    writer: Writer,
}

/// The chain's writer: the segment being written and the chain's head.
pub(super) struct Writer {
    segments: Arc<dyn SegmentDir>,
    /// The segment being written; none after a failed rotation, until one is started.
    file: Option<Arc<dyn SegmentFile>>,
    head: Head,
    /// Where the next record goes.
    len: u64,
    /// The segment's size.
    capacity: u64,
    segment_bytes: u64,
    /// The groups written so far.
    groups: u64,
    /// The group being sealed (its buffers are reused).
    group: Group,
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

/// The log's threads, started on a writer that goes on at `len` in `file`, after `head`
/// (as `recover` found them), adding its lookups to `index`; they end once `receiver`'s
/// senders are gone and everything taken is durable.
pub(super) fn start(
    clock: Arc<dyn Clock>,
    segments: Arc<dyn SegmentDir>,
    index: Arc<LicenceIndex>,
    (file, head, len): (Box<dyn SegmentFile>, Head, u64),
    segment_bytes: u64,
    observer: Option<Arc<dyn LookupObserver>>,
    receiver: mpsc::Receiver<Entry>,
) -> Result<Vec<JoinHandle<()>>, StoreError> {
    let capacity = file.capacity()?;
    let writer = Writer {
        segments,
        file: Some(Arc::from(file)),
        head,
        len,
        capacity,
        segment_bytes,
        groups: 0,
        group: Group {
            buffer: Vec::new(),
            next: head,
            waiters: Vec::new(),
            indexed: Vec::new(),
        },
    };
    let shared = Arc::new(Shared {
        clock,
        observer,
        index,
        intake: Mutex::new(Intake {
            receiver,
            carried: None,
            writer,
        }),
        failed: AtomicBool::new(false),
        answered: Mutex::new(0),
        turn: Condvar::new(),
    });
    (0..SYNCERS)
        .map(|i| {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("edld-lookup-sync{i}"))
                .spawn(move || {
                    crate::priority::no_wakeup_preemption();
                    sync_loop(&shared)
                })
                .map_err(StoreError::from)
        })
        .collect()
}

impl Intake {
    /// Waits for a lookup, then seals and writes it with whatever else has arrived (as
    /// much as fits in the segment): the group written, or None once the senders are gone
    /// and nothing is left. A lookup that does not fit closes the segment and goes first
    /// into the next; one refused is answered here.
    fn next(&mut self, failed: &AtomicBool) -> Option<Written> {
        loop {
            let first = match self.carried.take() {
                Some(entry) => entry,
                None => self.receiver.recv().ok()?,
            };
            if failed.load(Ordering::SeqCst) {
                let _ = first.1.send(Err(Shared::refused()));
                continue;
            }
            let writer = &mut self.writer;
            if writer.file.is_none() {
                writer.start_segment();
            }
            writer.group.next = writer.head;
            let room = writer.capacity.saturating_sub(writer.len);
            if let Some(entry) = writer.group.add(first, room) {
                if writer.len > 0 && writer.file.is_some() && writer.rotate(failed) {
                    // The segment was full: the record goes first into the next.
                    self.carried = Some(entry);
                } else {
                    let _ = entry.1.send(Err(StoreError::Io(
                        "the lookup audit log cannot take the record".into(),
                    )));
                }
                continue;
            }
            // Whatever else has arrived goes along, without waiting for more.
            while writer.group.waiters.len() < GROUP_MAX {
                let Ok(entry) = self.receiver.try_recv() else {
                    break;
                };
                if let Some(entry) = writer.group.add(entry, room) {
                    self.carried = Some(entry);
                    break;
                }
            }
            if let Some(written) = writer.write_group(failed) {
                return Some(written);
            }
        }
    }
}

impl Writer {
    /// Writes the sealed group where the next record goes: what a syncer must make
    /// durable, or None after a failure (which stops the log; its waiters are refused).
    fn write_group(&mut self, failed: &AtomicBool) -> Option<Written> {
        let waiters = std::mem::take(&mut self.group.waiters);
        let mut indexed = std::mem::take(&mut self.group.indexed);
        let written = match self.write(&self.group.buffer, failed) {
            Some(file) => {
                for (_, position) in &mut indexed {
                    position.offset += self.len;
                }
                self.head = self.group.next;
                self.len += self.group.buffer.len() as u64;
                self.groups += 1;
                Some(Written {
                    file,
                    waiters,
                    indexed,
                    last: self.head.next - 1,
                    number: self.groups,
                })
            }
            None => {
                for (waiter, _) in waiters {
                    let _ = waiter.send(Err(Shared::refused()));
                }
                None
            }
        };
        self.group.buffer.clear();
        written
    }

    /// Writes `buffer` where the next record goes; the file, or none after a failure
    /// (which stops the log).
    fn write(&self, buffer: &[u8], failed: &AtomicBool) -> Option<Arc<dyn SegmentFile>> {
        let file = self.file.clone()?;
        match file.write_at(buffer, self.len) {
            Ok(()) => Some(file),
            Err(e) => {
                tracing::error!(error = %e, "writing the lookup audit log failed; lookups are refused until edld restarts");
                failed.store(true, Ordering::SeqCst);
                None
            }
        }
    }

    /// Makes the full segment durable, closes it under its last record's number and
    /// starts the next. False if it could not be closed (the writer keeps the full one).
    fn rotate(&mut self, failed: &AtomicBool) -> bool {
        let Some(file) = self.file.as_ref() else {
            return false;
        };
        // The segment's records must all be durable before a later segment's can be.
        if let Err(e) = file.sync_data() {
            tracing::error!(error = %e, "syncing a full lookup log segment failed; lookups are refused until edld restarts");
            failed.store(true, Ordering::SeqCst);
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

/// A syncer: takes and writes what has arrived, makes it durable with one `fdatasync`, and
/// answers its waiters once the groups written before have been answered (so that a group
/// synced after a failed one is never answered as durable); until the senders are gone
/// and nothing is left.
fn sync_loop(shared: &Shared) {
    loop {
        let taken = shared
            .intake
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .next(&shared.failed);
        let Some(written) = taken else {
            return;
        };
        let started = shared.clock.monotonic();
        let result = written.file.sync_data();
        if let Some(observer) = &shared.observer {
            let seconds = shared.clock.monotonic().saturating_sub(started);
            observer.committed(written.waiters.len(), seconds.as_secs_f64());
        }
        let mut answered = shared
            .turn
            .wait_while(
                shared.answered.lock().unwrap_or_else(|p| p.into_inner()),
                |answered| *answered + 1 != written.number,
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
        if durable {
            shared.index.answered(written.last);
        }
        for (waiter, hash) in written.waiters {
            let _ = waiter.send(result.clone().map(|()| hash));
        }
        // After the answers, before the next group's: the index grows in order.
        if durable {
            shared.index.add(written.indexed, written.last);
        }
        *answered = written.number;
        drop(answered);
        shared.turn.notify_all();
    }
}
