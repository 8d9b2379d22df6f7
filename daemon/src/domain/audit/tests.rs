//! Tests for the hash chain and declared purposes.

use super::chain::{self, BreakReason, Head};
use super::{AuditRecord, Purpose, PurposeError};
use crate::domain::access::{Caller, Role};

fn officer() -> Caller {
    Caller {
        client: "officer-1".into(),
        role: Role::Officer,
    }
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

/// Two lookups sealed onto an empty chain, byte for byte: the stored form that `edld audit
/// verify` and anyone checking a copy of the log rely on. The expected bytes and hashes
/// were computed apart from this code (the canonical JSON by hand, SHA-256 by Python's
/// `hashlib`).
#[test]
fn sealed_records_match_the_golden_bytes() {
    let lookup = |at, credential| {
        AuditRecord::new(
            &officer(),
            keys::UnixTime(at),
            "status.lookup",
            Some("110101199003070014"),
            Some(credential),
        )
    };
    let mut first = lookup(1_900_000_000, "c1");
    first.purpose = Some("roadside check".into());
    let (bytes, head) = chain::seal(&mut first, Head::EMPTY);
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        concat!(
            r#"{"seq":1,"at":1900000000,"client":"officer-1","role":"officer","#,
            r#""action":"status.lookup","licence":"110101199003070014","#,
            r#""purpose":"roadside check","detail":"c1","#,
            r#""prev":"0000000000000000000000000000000000000000000000000000000000000000","#,
            r#""hash":"00312766ee79241d005a24cc7ed80e35f764c93d99de5c20d6c52b0f5282d02e"}"#,
        )
    );
    let mut second = lookup(1_900_000_001, "c2");
    let (bytes, head) = chain::seal(&mut second, head);
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        concat!(
            r#"{"seq":2,"at":1900000001,"client":"officer-1","role":"officer","#,
            r#""action":"status.lookup","licence":"110101199003070014","#,
            r#""purpose":null,"detail":"c2","#,
            r#""prev":"00312766ee79241d005a24cc7ed80e35f764c93d99de5c20d6c52b0f5282d02e","#,
            r#""hash":"5d4781ff2e0f0cf5e3273cc5487293bbb0e0a1efda541524574746cb46098117"}"#,
        )
    );
    assert_eq!(head.next, 3);
    assert_eq!(
        hex::encode(head.hash),
        "5d4781ff2e0f0cf5e3273cc5487293bbb0e0a1efda541524574746cb46098117"
    );
}
