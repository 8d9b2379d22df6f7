//! Tests for the lookup log: one chained line per lookup, torn lines cut off, segments.

use std::sync::Arc;

use super::LookupLog;
use crate::clock::{Clock, ManualClock};
use crate::domain::access::{Caller, Role};
use crate::domain::audit::chain::{self, BreakReason};
use crate::domain::audit::{LOOKUP_ACTION, Purpose};

fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::new(keys::UnixTime(0)))
}

fn officer() -> Caller {
    Caller {
        client: "officer-1".into(),
        role: Role::Officer,
    }
}

fn lines(path: &std::path::Path) -> Vec<Vec<u8>> {
    std::fs::read(path)
        .unwrap()
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
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
#[tokio::test]
async fn lookups_are_chained_one_line_each_and_a_torn_line_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lookups.jsonl");
    let log = LookupLog::open(dir.path(), clock()).unwrap();
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
    // A crash cut the next line short.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"{\"seq\":2,\"at\":1,\"cli");
    std::fs::write(&path, bytes).unwrap();

    let log = LookupLog::open(dir.path(), clock()).unwrap();
    log.record(
        &officer(),
        keys::UnixTime(6),
        "L2",
        "c2",
        LOOKUP_ACTION,
        None,
    )
    .await
    .unwrap();
    log.stop();
    let records = lines(&path);
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
        ("status.lookup", Some("L2"), 2)
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
async fn the_chain_goes_on_after_a_damaged_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lookups.jsonl");
    let log = LookupLog::open(dir.path(), clock()).unwrap();
    for i in 0..3 {
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
    log.stop();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"seq\":3", "\"seq\":9")).unwrap();
    let log = LookupLog::open(dir.path(), clock()).unwrap();
    log.record(
        &officer(),
        keys::UnixTime(4),
        "L1",
        "c1",
        LOOKUP_ACTION,
        None,
    )
    .await
    .unwrap();
    log.stop();
    let records = lines(&path);
    assert_eq!(records.len(), 4);
    // The damage is reported where it is, and the new record carries on after it.
    check(&records, Err((3, BreakReason::Altered)));
    assert_eq!(chain::decode(&records[3]).unwrap().seq, 4);
}

/// Every record of the log, closed segments first, as `edld audit` reads them.
fn all_records(dir: &std::path::Path) -> Vec<Vec<u8>> {
    crate::service::audit::lookup_lines(&dir.join(super::LOOKUPS_FILE))
        .unwrap()
        .map(|r| r.unwrap().1)
        .collect()
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

#[tokio::test]
async fn full_segments_are_closed_and_the_chain_runs_on_across_them() {
    let dir = tempfile::tempdir().unwrap();
    // About two records a segment.
    let log = LookupLog::open_with_segments(dir.path(), clock(), 400).unwrap();
    lookups(&log, 0, 9).await;
    log.stop();
    let closed = super::segments(dir.path()).unwrap();
    assert!(closed.len() >= 3, "{closed:?}");
    // Each closed segment is named after its last record, and ends with it.
    for (last, path) in &closed {
        let records = lines(path);
        let record = chain::decode(records.last().unwrap()).unwrap();
        assert_eq!(record.seq, *last);
    }
    check(&all_records(dir.path()), Ok(9));

    // A crash after a segment was closed, before the new one was created: the chain goes
    // on from the closed segment.
    let current = dir.path().join(super::LOOKUPS_FILE);
    let mut bytes = std::fs::read(&current).unwrap();
    let before = closed.len();
    if !bytes.is_empty() {
        let log = LookupLog::open_with_segments(dir.path(), clock(), 1).unwrap();
        lookups(&log, 9, 10).await;
        log.stop();
        bytes = std::fs::read(&current).unwrap();
    }
    assert!(bytes.is_empty());
    std::fs::remove_file(&current).unwrap();
    let log = LookupLog::open_with_segments(dir.path(), clock(), 400).unwrap();
    let total = all_records(dir.path()).len() as u64;
    lookups(&log, total, total + 3).await;
    log.stop();
    assert!(super::segments(dir.path()).unwrap().len() > before);
    check(&all_records(dir.path()), Ok(total + 3));
    // `edld audit verify` reads the same: every segment, then the current file.
    let store_dir = tempfile::tempdir().unwrap();
    let store = crate::store::sled::SledStore::open(store_dir.path(), None).unwrap();
    let report = crate::service::audit::verify(&store, &current)
        .await
        .unwrap();
    assert_eq!(
        (report.lookups.records, report.lookups.broken),
        (total + 3, None)
    );
    assert!(
        report
            .lookups
            .location
            .contains("closed segments beside it"),
        "{}",
        report.lookups.location
    );

    // A damaged last record in the segment being written: numbered on from the segments
    // before it.
    let log = LookupLog::open_with_segments(dir.path(), clock(), 1 << 20).unwrap();
    lookups(&log, 100, 102).await;
    log.stop();
    let records = all_records(dir.path());
    let last_seq = records.len() as u64;
    let text = std::fs::read_to_string(&current).unwrap();
    let damaged = text.replace(&format!("\"seq\":{last_seq},"), "\"seq\":1,");
    assert_ne!(damaged, text);
    std::fs::write(&current, damaged).unwrap();
    let log = LookupLog::open_with_segments(dir.path(), clock(), 1 << 20).unwrap();
    lookups(&log, 200, 201).await;
    log.stop();
    let records = all_records(dir.path());
    assert_eq!(
        chain::decode(records.last().unwrap()).unwrap().seq,
        last_seq + 1
    );
    check(&records, Err((last_seq, BreakReason::Altered)));
}
