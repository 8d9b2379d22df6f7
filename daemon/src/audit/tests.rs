//! Tests for the lookup log and the hash chain.

use super::chain::{self, BreakReason, Head};
use std::sync::Arc;

use super::{AuditRecord, LOOKUP_ACTION, LookupLog, Purpose, PurposeError};
use crate::auth::{Caller, Role};
use crate::clock::{Clock, ManualClock};

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

fn sealed(n: u64) -> Vec<Vec<u8>> {
    let mut head = Head::EMPTY;
    (0..n)
        .map(|i| {
            let mut record = AuditRecord::new(
                &officer(),
                keys::UnixTime(1_900_000_000 + i),
                "status.lookup",
                Some("110101199003070014"),
                Some("c1"),
            );
            let (bytes, next) = chain::seal(&mut record, head);
            head = next;
            bytes
        })
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

#[test]
fn an_intact_chain_checks() {
    check(&sealed(5), Ok(5));
    check(&[], Ok(0));
}

#[test]
fn a_sealed_record_is_its_canonical_bytes_plus_the_hash_member() {
    let record = &sealed(1)[0];
    let text = std::str::from_utf8(record).unwrap();
    assert!(text.starts_with("{\"seq\":1,\"at\":1900000000,\"client\":\"officer-1\",\"role\":\"officer\",\"action\":\"status.lookup\",\"licence\":\"110101199003070014\",\"purpose\":null,\"detail\":\"c1\",\"prev\":\"0000"), "{text}");
    let (canonical, hash) = text.rsplit_once(",\"hash\":\"").unwrap();
    let digest = <sha2::Sha256 as sha2::Digest>::digest(format!("{canonical}}}").as_bytes());
    assert_eq!(hash, format!("{}\"}}", hex::encode(digest)));
}

#[test]
fn a_changed_byte_is_found_in_its_record() {
    let mut records = sealed(5);
    // "officer-1" → "officer-2" in record 3.
    let text = String::from_utf8(records[2].clone()).unwrap();
    records[2] = text.replace("officer-1", "officer-2").into_bytes();
    check(&records, Err((3, BreakReason::Altered)));
}

#[test]
fn a_rehashed_record_breaks_the_next_link() {
    let mut records = sealed(4);
    let mut forged: AuditRecord = chain::decode(&records[1]).unwrap();
    forged.client = "someone-else".into();
    let head = Head::after(1, &records[0]);
    records[1] = chain::seal(&mut forged, head).0;
    check(&records, Err((3, BreakReason::Link)));
}

#[test]
fn a_removed_record_is_found() {
    let mut records = sealed(4);
    records.remove(1);
    check(&records, Err((2, BreakReason::Sequence { found: 3 })));
}

#[test]
fn a_damaged_record_is_malformed() {
    let mut records = sealed(3);
    records[1].truncate(20);
    let result = chain::check(
        records
            .iter()
            .enumerate()
            .map(|(i, b)| Ok::<_, ()>((i as u64 + 1, b.clone()))),
    )
    .unwrap();
    let b = result.unwrap_err();
    assert_eq!(b.record, 2);
    assert!(matches!(b.reason, BreakReason::Malformed(_)), "{b}");
}

#[test]
fn a_gap_in_stored_positions_is_missing() {
    let records = sealed(3);
    let stored = [(1, records[0].clone()), (3, records[2].clone())]
        .into_iter()
        .map(Ok::<_, ()>);
    let b = chain::check(stored).unwrap().unwrap_err();
    assert_eq!((b.record, b.reason), (2, BreakReason::Missing { next: 3 }));
}

#[test]
fn purposes_are_parsed() {
    assert_eq!(
        " motor policy 77 ".parse::<Purpose>().unwrap().as_str(),
        "motor policy 77"
    );
    assert!("".parse::<Purpose>().is_err());
    assert!("a\nb".parse::<Purpose>().is_err());
    assert!("x".repeat(201).parse::<Purpose>().is_err());
    assert!("保险单 12".parse::<Purpose>().is_ok());
}

#[track_caller]
fn check_purpose(text: &str, expected: Result<&str, PurposeError>) {
    assert_eq!(
        text.parse::<Purpose>().map(|p| p.as_str().to_owned()),
        expected.map(str::to_owned),
        "{text:?}"
    );
}

#[test]
fn only_spaces_are_trimmed() {
    check_purpose("  claim 7  ", Ok("claim 7"));
    check_purpose("claim 7\r", Err(PurposeError::Control));
    check_purpose("claim 7\r\n", Err(PurposeError::Control));
    check_purpose("\tclaim 7", Err(PurposeError::Control));
    check_purpose("   ", Err(PurposeError::Empty));
    check_purpose("\u{3000}claim", Ok("\u{3000}claim"));
}

#[test]
fn control_characters_are_refused() {
    for c in ['\0', '\u{1B}', '\u{7F}', '\u{85}', '\u{9B}', '\n', '\u{8}'] {
        check_purpose(&format!("claim{c}7"), Err(PurposeError::Control));
    }
}

#[test]
fn bidi_controls_and_line_separators_are_refused() {
    for c in [
        '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
        '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}', '\u{2028}', '\u{2029}',
    ] {
        check_purpose(&format!("claim {c}7"), Err(PurposeError::Layout));
    }
    // Right-to-left text itself is fine; only the invisible controls are not.
    check_purpose("تأمين 7", Ok("تأمين 7"));
}

#[test]
fn the_replacement_character_is_refused() {
    check_purpose("claim \u{FFFD}", Err(PurposeError::Encoding));
    check_purpose(
        &String::from_utf8_lossy(b"claim \xff"),
        Err(PurposeError::Encoding),
    );
}

#[test]
fn the_length_counts_characters_as_sent() {
    check_purpose(&"保".repeat(200), Ok(&"保".repeat(200)));
    check_purpose(&"保".repeat(201), Err(PurposeError::TooLong));
    check_purpose(
        &format!(" {} ", "x".repeat(199)),
        Err(PurposeError::TooLong),
    );
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
    super::inspect::lookup_lines(&dir.join(super::LOOKUPS_FILE))
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
    let report = super::inspect::verify(&store, &current).await.unwrap();
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
