//! The lookup log's thread, its syncer: it takes whatever lookups have arrived, seals them
//! onto the chain and writes them in place (into the page cache), then makes them durable
//! with one `fdatasync` and answers their waiters. A lookup waits for the rest of the sync
//! in flight, then its own.
//!
//! One thread does it all. A writer thread of its own that handed written groups to the
//! syncers was one more thread to wake and schedule for every group (measured inside the
//! log under the benchmark's officer load: 80 to 160 µs from the hand-off to a syncer
//! taking the group); without it, officers' lookups ran 4 to 7 % faster
//! (`tests/bench/status-vs-nginx`, two runs each way). A second syncer taking turns with
//! this one made smaller groups and more syncs, not faster answers: in two back-to-back
//! pairs, one syncer served officers' lookups at 39 300 and 43 900 requests/s, against
//! 39 200 and 39 600 with two, with about 21 lookups per sync instead of 14 and 1 to 3 µs
//! less CPU per lookup.
//!
//! An `fdatasync` that returns makes every page written to the file before it was called
//! durable. A failed write or sync stops the log (after a failed sync the kernel may have
//! dropped the pages, and a later sync can succeed without them): every lookup is then
//! refused until edld is restarted, and the chain goes on from what is durable.
//!
//! It waits for lookups under `SCHED_BATCH`, so the lookup that wakes it is not preempted
//! by it, and for its `fdatasync` under `SCHED_OTHER`, so the disk's wake-up takes the core
//! at once (`priority::Waits`).
//!
//! After a group's waiters are answered, the syncer adds its lookups to the index by
//! licence (`index`), before the next group is taken, so the index grows in order and the
//! answer never waits for it.

use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use super::files::{SegmentDir, SegmentFile};
use super::index::{self, LicenceIndex, Position};
use super::segment;
use super::{Entry, LookupObserver, LookupWaiter, RecordHash};
use crate::clock::Clock;
use crate::domain::audit::chain::{self, Head};
use crate::priority::Waits;
use crate::store::StoreError;

/// The most records in one group.
const GROUP_MAX: usize = 4096;

/// A group is written out to the end of a page of this size (the common one), with the
/// zeros the segment holds there already. A write that covers a page whole never makes the
/// kernel read the page first; one that ends inside a page it no longer caches does, and
/// the lookups wait for that read. The spare segment's pages were written seconds before
/// the segment is used, and a kernel that reclaims cold pages may have dropped them by
/// then. Measured with `tests/bench/status-vs-nginx --profile` (one run each way) on a
/// machine whose kernel does (DAMON's page-out): unpadded, the syncer read 8 pages for
/// every 100 syncs, and the syncs took 0.37 ms on average and up to 20 ms; padded, it read
/// none, and they took 0.30 ms and up to 4.3 ms.
const PAGE: u64 = 4096;

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

fn refused() -> StoreError {
    StoreError::Io("the lookup audit log stopped after a write error".into())
}

/// The syncer: the lookups arriving, the chain's writer, and whom it tells.
struct Syncer {
    clock: Arc<dyn Clock>,
    observer: Option<Arc<dyn LookupObserver>>,
    index: Arc<LicenceIndex>,
    receiver: mpsc::Receiver<Entry>,
    /// A lookup taken that did not fit into the group before it: it goes first into the
    /// next.
    carried: Option<Entry>,
    writer: Writer,
}

/// The chain's writer: the segment being written and the chain's head.
struct Writer {
    segments: Arc<dyn SegmentDir>,
    /// The segment being written; none after a failed rotation, until one is started.
    file: Option<Arc<dyn SegmentFile>>,
    head: Head,
    /// Where the next record goes.
    len: u64,
    /// The segment's size.
    capacity: u64,
    segment_bytes: u64,
    /// Set by a failed write or sync: everything is refused from then on.
    failed: bool,
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

/// The log's thread, started on a writer that goes on at `len` in `file`, after `head`
/// (as `recover` found them), adding its lookups to `index`; it ends once `receiver`'s
/// senders are gone and everything taken is durable.
pub(super) fn start(
    clock: Arc<dyn Clock>,
    segments: Arc<dyn SegmentDir>,
    index: Arc<LicenceIndex>,
    (file, head, len): (Box<dyn SegmentFile>, Head, u64),
    segment_bytes: u64,
    observer: Option<Arc<dyn LookupObserver>>,
    receiver: mpsc::Receiver<Entry>,
) -> Result<JoinHandle<()>, StoreError> {
    let capacity = file.capacity()?;
    let syncer = Syncer {
        clock,
        observer,
        index,
        receiver,
        carried: None,
        writer: Writer {
            segments,
            file: Some(Arc::from(file)),
            head,
            len,
            capacity,
            segment_bytes,
            failed: false,
            group: Group {
                buffer: Vec::new(),
                next: head,
                waiters: Vec::new(),
                indexed: Vec::new(),
            },
        },
    };
    Ok(std::thread::Builder::new()
        .name("edld-lookup-sync".into())
        .spawn(move || syncer.run())?)
}

impl Syncer {
    /// Takes, writes and syncs groups until the senders are gone and nothing is left.
    fn run(mut self) {
        let mut waits = Waits::start();
        while let Some(written) = self.next(&mut waits) {
            waits.for_the_disk();
            self.sync(written);
        }
    }

    /// Waits for a lookup, then seals and writes it with whatever else has arrived (as
    /// much as fits in the segment): the group written, or None once the senders are gone
    /// and nothing is left. A lookup that does not fit closes the segment and goes first
    /// into the next; one refused is answered here.
    fn next(&mut self, waits: &mut Waits) -> Option<Written> {
        loop {
            let first = match self.carried.take() {
                Some(entry) => entry,
                None => match self.receiver.try_recv() {
                    Ok(entry) => entry,
                    Err(mpsc::TryRecvError::Disconnected) => return None,
                    Err(mpsc::TryRecvError::Empty) => {
                        waits.for_lookups();
                        self.receiver.recv().ok()?
                    }
                },
            };
            if self.writer.failed {
                let _ = first.1.send(Err(refused()));
                continue;
            }
            let writer = &mut self.writer;
            if writer.file.is_none() {
                writer.start_segment();
            }
            writer.group.next = writer.head;
            let room = writer.capacity.saturating_sub(writer.len);
            if let Some(entry) = writer.group.add(first, room) {
                if writer.len > 0 && writer.file.is_some() && writer.rotate() {
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
            if let Some(written) = writer.write_group() {
                return Some(written);
            }
        }
    }

    /// Makes a written group durable with one `fdatasync` and answers its waiters, then
    /// adds its lookups to the index.
    fn sync(&mut self, written: Written) {
        let started = self.clock.monotonic();
        let result = written.file.sync_data();
        if let Some(observer) = &self.observer {
            let seconds = self.clock.monotonic().saturating_sub(started);
            observer.committed(written.waiters.len(), seconds.as_secs_f64());
        }
        let result = match result {
            Ok(()) if !self.writer.failed => Ok(()),
            Ok(()) => Err(refused()),
            Err(e) => {
                tracing::error!(error = %e, "syncing the lookup audit log failed; lookups are refused until edld restarts");
                self.writer.failed = true;
                Err(StoreError::from(e))
            }
        };
        let durable = result.is_ok();
        if durable {
            self.index.answered(written.last);
        }
        for (waiter, hash) in written.waiters {
            let _ = waiter.send(result.clone().map(|()| hash));
        }
        // After the answers, before the next group's: the index grows in order.
        if durable {
            self.index.add(written.indexed, written.last);
        }
    }
}

impl Writer {
    /// Writes the sealed group where the next record goes: what a syncer must make
    /// durable, or None after a failure (which stops the log; its waiters are refused).
    fn write_group(&mut self) -> Option<Written> {
        // The next group starts with room for as many as this one, which it will
        // likely have: not grown one lookup at a time.
        let room = self.group.waiters.len();
        let waiters = std::mem::replace(&mut self.group.waiters, Vec::with_capacity(room));
        let mut indexed = std::mem::replace(&mut self.group.indexed, Vec::with_capacity(room));
        let written = match self.write() {
            Some(file) => {
                for (_, position) in &mut indexed {
                    position.offset += self.len;
                }
                self.head = self.group.next;
                self.len += self.group.buffer.len() as u64;
                Some(Written {
                    file,
                    waiters,
                    indexed,
                    last: self.head.next - 1,
                })
            }
            None => {
                for (waiter, _) in waiters {
                    let _ = waiter.send(Err(refused()));
                }
                None
            }
        };
        self.group.buffer.clear();
        written
    }

    /// Writes the group's frames where the next record goes; the file, or none after a
    /// failure (which stops the log).
    fn write(&mut self) -> Option<Arc<dyn SegmentFile>> {
        let file = self.file.clone()?;
        // Out to the end of its last page, with the zeros that are there already.
        let frames = self.group.buffer.len();
        let end = self.len + frames as u64;
        let padded = end.next_multiple_of(PAGE).min(self.capacity).max(end);
        self.group
            .buffer
            .resize(frames + (padded - end) as usize, 0);
        let written = file.write_at(&self.group.buffer, self.len);
        self.group.buffer.truncate(frames);
        match written {
            Ok(()) => Some(file),
            Err(e) => {
                tracing::error!(error = %e, "writing the lookup audit log failed; lookups are refused until edld restarts");
                self.failed = true;
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
            self.failed = true;
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
