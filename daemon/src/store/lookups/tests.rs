//! Tests for the lookup log: one chained frame per lookup written in place, torn writes
//! zeroed, altered records kept for the chain check, segments, and a power cut that drops
//! every write not yet made durable.

use std::sync::Arc;

use super::files::{
    ACTIVE, Closed, FsSegments, LEGACY_ACTIVE, Layout, SegmentDir, SegmentFile, segment_name,
};
use super::{LookupLog, records, segment, segments};
use crate::clock::{Clock, ManualClock};
use crate::domain::access::{Caller, Role};
use crate::domain::audit::chain::{self, BreakReason};
use crate::domain::audit::{LOOKUP_ACTION, Purpose};

mod power_cut;

fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::new(keys::UnixTime(0)))
}

fn officer() -> Caller {
    Caller {
        client: "officer-1".into(),
        role: Role::Officer,
    }
}

/// Every record of the log in `dir`, closed segments first, as `edld audit` reads them.
fn all_records(dir: &std::path::Path) -> Vec<Vec<u8>> {
    records(Box::new(FsSegments::new(dir)))
        .unwrap()
        .map(|r| r.unwrap().1)
        .collect()
}

/// Checks `records` as one chain stored at positions 1, 2, …
#[track_caller]
fn check(records: &[Vec<u8>], expected: Result<u64, (u64, BreakReason)>) {
    let stored = records
        .iter()
        .enumerate()
        .map(|(i, b)| Ok::<_, ()>((i as u64 + 1, b.clone())));
    let result = chain::check(stored).unwrap();
    match (result, expected) {
        (Ok(head), Ok(n)) => assert_eq!(head.next, n + 1),
        (Err(b), Err((record, reason))) => {
            assert_eq!((b.record, b.reason), (record, reason))
        }
        (other, expected) => panic!("{other:?}, expected {expected:?}"),
    }
}

async fn lookups(log: &LookupLog, from: u64, to: u64) {
    for i in from..to {
        log.record(
            &officer(),
            keys::UnixTime(i),
            "L1",
            "c1",
            LOOKUP_ACTION,
            None,
        )
        .await
        .unwrap();
    }
}

fn open(dir: &std::path::Path, segment_bytes: u64) -> LookupLog {
    LookupLog::open_with(dir, clock(), segment_bytes, None).unwrap()
}

#[tokio::test]
async fn lookups_are_chained_in_place_and_a_torn_record_is_zeroed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(ACTIVE);
    let log = open(dir.path(), 1 << 16);
    let purpose: Purpose = "policy 1".parse().unwrap();
    log.record(
        &officer(),
        keys::UnixTime(5),
        "L1",
        "c1",
        LOOKUP_ACTION,
        Some(&purpose),
    )
    .await
    .unwrap();
    log.stop();
    // The segment was created at its full size and writing did not change it.
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 16);
    // A crash tore the next record: its header and the start of its record made it.
    let mut bytes = std::fs::read(&path).unwrap();
    let end = segment::scan(&bytes).end;
    let mut torn = Vec::new();
    segment::frame(b"{\"seq\":2,\"at\":1,\"client\":\"x\"}", &mut torn);
    bytes[end..end + 20].copy_from_slice(&torn[..20]);
    std::fs::write(&path, &bytes).unwrap();

    let log = open(dir.path(), 1 << 16);
    lookups(&log, 6, 7).await;
    log.stop();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 1 << 16);
    let scan = segment::scan(&bytes);
    assert_eq!(
        scan.end, scan.dirty_until,
        "nothing but zeros after the records"
    );
    let records = all_records(dir.path());
    assert_eq!(records.len(), 2);
    check(&records, Ok(2));
    let first = chain::decode(&records[0]).unwrap();
    assert_eq!(first.purpose.as_deref(), Some("policy 1"));
    let second = chain::decode(&records[1]).unwrap();
    assert_eq!(
        (
            second.action.as_str(),
            second.licence.as_deref(),
            second.seq
        ),
        ("status.lookup", Some("L1"), 2)
    );
    assert_eq!(second.client, "officer-1");
    // After stop, nothing more is accepted.
    assert!(
        log.record(
            &officer(),
            keys::UnixTime(7),
            "L3",
            "c3",
            LOOKUP_ACTION,
            None
        )
        .await
        .is_err()
    );
}

#[tokio::test]
async fn the_chain_goes_on_after_an_altered_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(ACTIVE);
    let log = open(dir.path(), 1 << 16);
    lookups(&log, 0, 3).await;
    log.stop();
    let bytes = std::fs::read(&path).unwrap();
    let scan = segment::scan(&bytes);
    let last = scan.frames[2];
    let mut altered = bytes.clone();
    let text = String::from_utf8(bytes[last.start..last.end].to_vec()).unwrap();
    altered[last.start..last.end]
        .copy_from_slice(text.replace("\"seq\":3", "\"seq\":9").as_bytes());
    std::fs::write(&path, altered).unwrap();
    let log = open(dir.path(), 1 << 16);
    lookups(&log, 4, 5).await;
    log.stop();
    let records = all_records(dir.path());
    assert_eq!(records.len(), 4);
    // The damage is reported where it is, and the new record carries on after it.
    check(&records, Err((3, BreakReason::Altered)));
    assert_eq!(chain::decode(&records[3]).unwrap().seq, 4);
}

#[tokio::test]
async fn full_segments_are_closed_and_the_chain_runs_on_across_them() {
    let dir = tempfile::tempdir().unwrap();
    // A log of JSON lines left by an earlier version: it becomes the first closed
    // segment, its torn last line left out.
    let legacy = dir.path().join(LEGACY_ACTIVE);
    {
        let log = open(dir.path(), 1 << 16);
        lookups(&log, 0, 2).await;
        log.stop();
    }
    let mut lines = Vec::new();
    for record in all_records(dir.path()) {
        lines.extend_from_slice(&record);
        lines.push(b'\n');
    }
    lines.extend_from_slice(b"{\"seq\":3,\"at");
    std::fs::remove_file(dir.path().join(ACTIVE)).unwrap();
    std::fs::write(&legacy, &lines).unwrap();

    // About three records a segment.
    let log = open(dir.path(), 600);
    lookups(&log, 2, 11).await;
    log.stop();
    assert!(!legacy.exists());
    let closed = segments(dir.path()).unwrap();
    assert!(closed.len() >= 3, "{closed:?}");
    assert_eq!(closed[0].name, segment_name(2, Layout::Lines));
    assert!(closed[1..].iter().all(|c| c.layout == Layout::Framed));
    check(&all_records(dir.path()), Ok(11));
    // Each closed segment is named after its last record, ends with it, and is trimmed
    // to its records.
    for c in &closed[1..] {
        let bytes = std::fs::read(dir.path().join(&c.name)).unwrap();
        let scan = segment::scan(&bytes);
        assert_eq!(scan.end, bytes.len());
        let last = scan.records(&bytes).last().unwrap();
        assert_eq!(chain::decode(last).unwrap().seq, c.last);
    }

    // A crash after a segment was closed, before the next was started: the chain goes on
    // from the closed segment.
    let before = segments(dir.path()).unwrap().len();
    std::fs::remove_file(dir.path().join(ACTIVE)).unwrap();
    let total = all_records(dir.path()).len() as u64;
    let log = open(dir.path(), 600);
    lookups(&log, total, total + 4).await;
    log.stop();
    assert!(segments(dir.path()).unwrap().len() > before);
    check(&all_records(dir.path()), Ok(total + 4));
    // `edld audit verify` reads the same: every segment, then the one being written.
    let store_dir = tempfile::tempdir().unwrap();
    let store = crate::store::sled::SledStore::open(store_dir.path(), None).unwrap();
    let report = crate::service::audit::verify(&store, &dir.path().join(ACTIVE))
        .await
        .unwrap();
    assert_eq!(
        (report.lookups.records, report.lookups.broken),
        (total + 4, None)
    );
    assert!(
        report
            .lookups
            .location
            .contains("closed segments beside it"),
        "{}",
        report.lookups.location
    );
}

#[tokio::test]
async fn a_record_larger_than_a_segment_is_refused_and_the_log_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 400);
    let long: Purpose = "x".repeat(Purpose::MAX_CHARS).parse().unwrap();
    let refused = log
        .record(
            &officer(),
            keys::UnixTime(1),
            "L1",
            "c1",
            LOOKUP_ACTION,
            Some(&long),
        )
        .await;
    assert!(refused.is_err());
    lookups(&log, 0, 2).await;
    log.stop();
    check(&all_records(dir.path()), Ok(2));
}

fn insurer() -> Caller {
    Caller {
        client: "insurer-1".into(),
        role: Role::Insurer,
    }
}

async fn lookup_of(log: &LookupLog, licence: &str, at: u64) {
    let purpose: Purpose = "policy 7".parse().unwrap();
    log.record(
        &insurer(),
        keys::UnixTime(at),
        licence,
        "c1",
        LOOKUP_ACTION,
        Some(&purpose),
    )
    .await
    .unwrap();
}

/// The times of `licence`'s lookups, page by page of `limit`, newest first.
async fn listed(log: &LookupLog, licence: &str, limit: usize) -> Vec<Vec<u64>> {
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = log.lookups_of(licence, before, limit).await.unwrap();
        for (number, record) in &page.records {
            assert_eq!(record.seq, *number);
            assert_eq!(record.licence.as_deref(), Some(licence));
            assert_eq!(record.client, "insurer-1");
            assert_eq!(record.purpose.as_deref(), Some("policy 7"));
        }
        pages.push(page.records.iter().map(|(_, r)| r.at.0).collect());
        before = page.records.last().map(|(n, _)| *n);
        if !page.more {
            return pages;
        }
    }
}

#[tokio::test]
async fn the_index_lists_a_licences_lookups_newest_first_in_pages() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 1 << 16);
    for at in 1..=5 {
        lookup_of(&log, "L1", at).await;
        lookup_of(&log, "L2", 100 + at).await;
    }
    // Other actions on the licence (a gateway reading its credential) are not lookups.
    log.record(
        &officer(),
        keys::UnixTime(50),
        "L1",
        "c1",
        "credential.read",
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        listed(&log, "L1", 2).await,
        [vec![5, 4], vec![3, 2], vec![1]]
    );
    assert_eq!(
        listed(&log, "L2", 10).await,
        [vec![105, 104, 103, 102, 101]]
    );
    assert_eq!(listed(&log, "L3", 10).await, [Vec::<u64>::new()]);
    log.stop();
}

#[tokio::test]
async fn the_index_is_rebuilt_across_segments_after_a_restart_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // Small segments: the records are spread over several closed ones.
    let log = open(dir.path(), 1024);
    for at in 1..=20 {
        lookup_of(&log, if at % 2 == 0 { "L1" } else { "L2" }, at).await;
    }
    log.stop();
    assert!(segments(dir.path()).unwrap().len() >= 3);
    let log = open(dir.path(), 1024);
    let evens: Vec<u64> = (1..=10).rev().map(|i| 2 * i).collect();
    assert_eq!(listed(&log, "L1", 100).await, std::slice::from_ref(&evens));
    lookup_of(&log, "L1", 22).await;
    let mut with_new = vec![22];
    with_new.extend(&evens);
    assert_eq!(listed(&log, "L1", 100).await, [with_new.clone()]);
    let three: Vec<Vec<u64>> = with_new.chunks(3).map(<[u64]>::to_vec).collect();
    assert_eq!(listed(&log, "L1", 3).await, three);
    log.stop();
}

#[tokio::test]
async fn a_record_a_crash_tore_is_not_indexed_and_the_next_one_is() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 1 << 16);
    lookup_of(&log, "L1", 1).await;
    lookup_of(&log, "L1", 2).await;
    log.stop();
    // A crash in the middle of writing a third lookup: its frame's header and half of
    // its record reached the disk, the rest is zeros.
    let path = dir.path().join(ACTIVE);
    let bytes = std::fs::read(&path).unwrap();
    let end = segment::scan(&bytes).end;
    let mut torn = Vec::new();
    segment::frame(
        br#"{"seq":3,"at":3,"client":"insurer-1","licence":"L1"}"#,
        &mut torn,
    );
    torn.truncate(torn.len() / 2);
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &torn, end as u64).unwrap();
    drop(file);
    let log = open(dir.path(), 1 << 16);
    assert_eq!(listed(&log, "L1", 10).await, [vec![2, 1]]);
    lookup_of(&log, "L1", 3).await;
    assert_eq!(listed(&log, "L1", 10).await, [vec![3, 2, 1]]);
    log.stop();
}

/// Every write the log makes to its segment files: where, and what.
type Writes = Arc<std::sync::Mutex<Vec<(u64, Vec<u8>)>>>;

/// Each `fdatasync` of a segment: the thread that called it and its scheduling policy then
/// (see [`class_of`]).
type Syncs = Arc<std::sync::Mutex<Vec<(String, u32)>>>;

/// The real file layer, with its segment writes and syncs recorded.
struct RecordingDir {
    inner: FsSegments,
    writes: Writes,
    syncs: Syncs,
}

struct RecordingFile {
    inner: Box<dyn SegmentFile>,
    writes: Writes,
    syncs: Syncs,
}

impl RecordingDir {
    /// A log in `dir` on the real file layer, and what it records of the log's writes and
    /// syncs.
    fn open(dir: &std::path::Path, segment_bytes: u64) -> (LookupLog, Writes, Syncs) {
        let (writes, syncs) = (Writes::default(), Syncs::default());
        let segments = RecordingDir {
            inner: FsSegments::new(dir),
            writes: writes.clone(),
            syncs: syncs.clone(),
        };
        let log = LookupLog::open_in(
            Box::new(segments),
            dir.join(ACTIVE),
            clock(),
            segment_bytes,
            None,
        )
        .unwrap();
        (log, writes, syncs)
    }

    fn wrap(&self, inner: Box<dyn SegmentFile>) -> Box<dyn SegmentFile> {
        Box::new(RecordingFile {
            inner,
            writes: self.writes.clone(),
            syncs: self.syncs.clone(),
        })
    }
}

/// `SCHED_OTHER` and `SCHED_BATCH` as `/proc` shows them.
const SCHED_OTHER: u32 = 0;
const SCHED_BATCH: u32 = 3;

/// The scheduling policy of the thread whose `/proc` directory is `task` (field 41 of its
/// `stat`, counted after the name, which may hold spaces).
fn class_of(task: &str) -> u32 {
    let stat = std::fs::read_to_string(format!("{task}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 1..];
    after_name
        .split_whitespace()
        .nth(41 - 3)
        .unwrap()
        .parse()
        .unwrap()
}

/// The calling thread's `/proc` directory, which stays valid for the whole process.
fn this_task() -> String {
    let link = std::fs::read_link("/proc/thread-self").unwrap();
    format!("/proc/{}", link.display())
}

impl SegmentFile for RecordingFile {
    fn read_all(&self) -> std::io::Result<Vec<u8>> {
        self.inner.read_all()
    }

    fn write_at(&self, bytes: &[u8], offset: u64) -> std::io::Result<()> {
        self.writes.lock().unwrap().push((offset, bytes.to_vec()));
        self.inner.write_at(bytes, offset)
    }

    fn sync_data(&self) -> std::io::Result<()> {
        let task = this_task();
        let class = class_of(&task);
        self.syncs.lock().unwrap().push((task, class));
        self.inner.sync_data()
    }

    fn capacity(&self) -> std::io::Result<u64> {
        self.inner.capacity()
    }
}

impl SegmentDir for RecordingDir {
    fn active(&self) -> std::io::Result<Option<Box<dyn SegmentFile>>> {
        Ok(self.inner.active()?.map(|f| self.wrap(f)))
    }

    fn start_active(&self, bytes: u64) -> std::io::Result<Box<dyn SegmentFile>> {
        Ok(self.wrap(self.inner.start_active(bytes)?))
    }

    fn close_active(&self, last: u64, end: u64) -> std::io::Result<()> {
        self.inner.close_active(last, end)
    }

    fn closed(&self) -> std::io::Result<Vec<Closed>> {
        self.inner.closed()
    }

    fn read_closed(&self, closed: &Closed) -> std::io::Result<Vec<u8>> {
        self.inner.read_closed(closed)
    }

    fn read_active(&self) -> std::io::Result<Vec<u8>> {
        self.inner.read_active()
    }
}

#[tokio::test]
async fn each_group_is_written_out_to_a_page_end_with_zeros_never_past_its_segment() {
    let dir = tempfile::tempdir().unwrap();
    // Not a whole number of pages: the last write of a segment ends at its end.
    let segment_bytes = 3 * 4096 + 1000;
    let (log, writes, _) = RecordingDir::open(dir.path(), segment_bytes);
    lookups(&log, 1, 151).await;
    log.stop();
    let writes = writes.lock().unwrap();
    assert!(writes.len() >= 150, "{} writes", writes.len());
    let mut segment_ends = 0;
    for (offset, bytes) in writes.iter() {
        let end = offset + bytes.len() as u64;
        assert!(end <= segment_bytes, "a write to {end}, past the segment");
        if end == segment_bytes {
            segment_ends += 1;
        } else {
            assert_eq!(
                end % 4096,
                0,
                "a write from {offset} ends inside a page, at {end}"
            );
        }
        // Whole frames, then zeros.
        let scan = segment::scan(bytes);
        assert!(!scan.frames.is_empty());
        assert_eq!(scan.dirty_until, scan.end, "the padding is not all zeros");
    }
    assert!(segment_ends > 0, "no write reached a segment's end");
    // Read back: every lookup, one chain across the segments.
    check(&all_records(dir.path()), Ok(150));
}

/// The syncer waits for its `fdatasync` as a normal thread, so that the disk's wake-up takes
/// the core at once, and for lookups under `SCHED_BATCH`, so that the connection thread
/// that hands it one is not preempted by it (`priority::Waits`).
#[tokio::test]
async fn the_syncer_waits_for_the_disk_as_a_normal_thread_and_for_lookups_as_a_batch_one() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _, syncs) = RecordingDir::open(dir.path(), 1 << 16);
    lookups(&log, 1, 21).await;
    let syncer = {
        let syncs = syncs.lock().unwrap();
        assert!(syncs.len() >= 20, "{} syncs for 20 lookups", syncs.len());
        for (task, class) in syncs.iter() {
            assert_eq!(*class, SCHED_OTHER, "{task} synced under policy {class}");
        }
        syncs[0].0.clone()
    };
    // Nothing more arrives: it goes back to waiting for lookups (within 10 s).
    let mut polls = 0;
    while class_of(&syncer) != SCHED_BATCH {
        polls += 1;
        assert!(
            polls < 1000,
            "the idle syncer is under policy {}",
            class_of(&syncer)
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    log.stop();
}
