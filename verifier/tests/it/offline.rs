//! Verdicts from the cache alone (`check --offline`, or no server configured).

use keys::status_list::CredentialStatus;
use keys::{SigningKey, UnixTime};

use crate::support::*;

const BASE: &str = "https://edl.example";

/// An authority and the QR text of its credential 7 (status index 7).
fn authority_and_qr() -> (Authority, String) {
    let authority = Authority::new(BASE);
    let qr = authority.qr(&authority.claims(7));
    (authority, qr)
}

/// A terminal with `extra` config whose cache holds `authority`'s trust list and `list`,
/// fetched `age` ago.
fn terminal_with_list(authority: &Authority, extra: &str, list: &[u8], age: u64) -> Terminal {
    let terminal = Terminal::new(authority, None, extra);
    terminal.seed_cache(authority, 1, list, NOW.minus(age));
    terminal
}

/// A terminal with `extra` config whose cache holds the status list with `entries`, signed
/// and fetched `age` ago.
fn seeded_terminal(
    authority: &Authority,
    extra: &str,
    entries: &[(u64, CredentialStatus)],
    age: u64,
) -> Terminal {
    terminal_with_list(authority, extra, &authority.status_list(entries, age), age)
}

/// Checks `qr` offline at `now` against a cache holding `entries`, signed `age` ago.
#[track_caller]
fn check(
    authority: &Authority,
    qr: &str,
    entries: &[(u64, CredentialStatus)],
    age: u64,
    now: UnixTime,
    expected: (u8, &str, Option<&str>),
) -> serde_json::Value {
    let terminal = seeded_terminal(authority, "", entries, age);
    let run = terminal.run(&["check", "--json", qr], now);
    let json = run.json();
    assert_eq!(
        (
            run.code,
            json["verdict"].as_str().unwrap(),
            json["reason"].as_str()
        ),
        expected,
        "{run:?}"
    );
    json
}

/// Checks the authority's credential 7 offline by `check`, the authority made afresh.
#[track_caller]
fn check_credential_7(
    entries: &[(u64, CredentialStatus)],
    age: u64,
    now: UnixTime,
    expected: (u8, &str, Option<&str>),
) -> serde_json::Value {
    let (authority, qr) = authority_and_qr();
    check(&authority, &qr, entries, age, now, expected)
}

/// Checks that `qr`, against an hour-old cache with no entries set, is not valid for `reason`.
#[track_caller]
fn check_not_valid(authority: &Authority, qr: &str, reason: &str) -> serde_json::Value {
    check(
        authority,
        qr,
        &[],
        HOUR,
        NOW,
        (1, "not_valid", Some(reason)),
    )
}

/// Checks that credential 7, set to `status` in an hour-old cache, is not valid for `reason`.
#[track_caller]
fn check_cached_status(status: CredentialStatus, reason: &str) {
    check_credential_7(&[(7, status)], HOUR, NOW, (1, "not_valid", Some(reason)));
}

/// Runs `check --json` on `qr` at NOW and checks its exit code and reason; returns the report.
#[track_caller]
fn check_reason(terminal: &Terminal, qr: &str, expected: (u8, Option<&str>)) -> serde_json::Value {
    let run = terminal.run(&["check", "--json", qr], NOW);
    let json = run.json();
    assert_eq!((run.code, json["reason"].as_str()), expected, "{run:?}");
    json
}

/// Checks that `check` on credential 7 exits 69 (unavailable), saying `mentions` on stderr.
#[track_caller]
fn check_unavailable(terminal: &Terminal, authority: &Authority, mentions: &str) {
    let run = terminal.run(&["check", &authority.qr(&authority.claims(7))], NOW);
    assert_eq!(run.code, 69, "{run:?}");
    assert!(run.stderr.contains(mentions), "{run:?}");
}

#[test]
fn fresh_cache_valid() {
    let json = check_credential_7(&[], 3 * HOUR, NOW, (0, "valid", None));
    assert_eq!(json["status"]["source"], "cached_list");
    assert_eq!(json["status"]["age_seconds"], 3 * HOUR);
    assert_eq!(json["status"]["as_of"], NOW.minus(3 * HOUR).0);
    assert_eq!(json["credential"]["name"], "张三");
    assert_eq!(
        json["credential"]["classes"],
        serde_json::json!(["C1", "D"])
    );
}

#[test]
fn stale_cache_indeterminate() {
    let json = check_credential_7(
        &[],
        25 * HOUR,
        NOW,
        (2, "indeterminate", Some("status_stale")),
    );
    assert_eq!(json["status"]["stale"], true);
    assert_eq!(json["status"]["value"], "valid");
}

#[test]
fn expired_list_indeterminate() {
    let (authority, qr) = authority_and_qr();
    // Max age raised to a week: the list (exp = iat + 2 d) is past exp after 3 days.
    let terminal = seeded_terminal(&authority, "max_status_age = \"7d\"\n", &[], 3 * DAY);
    check_reason(&terminal, &qr, (2, Some("status_stale")));
}

#[test]
fn cached_revoked() {
    check_cached_status(CredentialStatus::Invalid, "revoked");
}

#[test]
fn cached_suspended() {
    check_cached_status(CredentialStatus::Suspended, "suspended");
}

#[test]
fn cached_superseded() {
    check_cached_status(CredentialStatus::Superseded, "superseded");
}

#[test]
fn other_entries_do_not_matter() {
    check_credential_7(
        &[
            (6, CredentialStatus::Invalid),
            (8, CredentialStatus::Suspended),
        ],
        HOUR,
        NOW,
        (0, "valid", None),
    );
}

#[test]
fn bad_signature() {
    let (authority, qr) = authority_and_qr();
    let mut token = keys::qr::decode(&qr).unwrap();
    let last = token.len() - 1;
    token[last] ^= 1;
    let json = check_not_valid(&authority, &keys::qr::encode(&token), "bad_signature");
    assert!(
        json["credential"].is_null(),
        "nothing of a forged token is shown"
    );
}

#[test]
fn unknown_key() {
    let authority = Authority::new(BASE);
    let stranger = SigningKey::from_seed(&[99; 32]);
    let qr = authority.qr_signed_by(&authority.claims(7), &stranger);
    check_not_valid(&authority, &qr, "unknown_key");
}

#[test]
fn status_key_cannot_sign_credentials() {
    let authority = Authority::new(BASE);
    let qr = authority.qr_signed_by(&authority.claims(7), &authority.status);
    check_not_valid(&authority, &qr, "unknown_key");
}

#[test]
fn key_revoked_in_trust_list() {
    let mut authority = Authority::new(BASE);
    authority.credential_key_revoked = true;
    let qr = authority.qr(&authority.claims(7));
    check_not_valid(&authority, &qr, "key_revoked");
}

#[test]
fn expired_credential_still_shows_whose() {
    let json = check_credential_7(
        &[],
        HOUR,
        NOW.plus(21 * DAY),
        (1, "not_valid", Some("expired")),
    );
    assert_eq!(json["credential"]["licence_number"], "11010519491231002X");
}

#[test]
fn not_yet_valid() {
    let authority = Authority::new(BASE);
    let mut claims = authority.claims(7);
    claims.not_before = NOW.plus(DAY);
    check_not_valid(&authority, &authority.qr(&claims), "not_yet_valid");
}

#[test]
fn malformed_text() {
    check_not_valid(&Authority::new(BASE), "HELLO", "malformed");
}

#[test]
fn malformed_base45() {
    check_not_valid(&Authority::new(BASE), "DL1:abc", "malformed");
}

#[test]
fn status_list_signed_by_credential_key_is_not_used() {
    let (authority, qr) = authority_and_qr();
    let forged = authority.status_list_signed_by(&authority.credential, &[], HOUR);
    let terminal = terminal_with_list(&authority, "", &forged, HOUR);
    let json = check_reason(&terminal, &qr, (2, Some("status_unknown")));
    assert!(
        json["notes"][0]
            .as_str()
            .unwrap()
            .contains("unknown status key"),
        "{json}"
    );
}

#[test]
fn clock_behind_the_cached_list_is_reported() {
    let json = check_credential_7(&[], HOUR, NOW.minus(3 * HOUR), (0, "valid", None));
    assert_eq!(json["clock"]["reference"], "status_list");
    assert_eq!(json["clock"]["offset_seconds"], 2 * HOUR);
}

#[test]
fn qr_text_from_stdin() {
    let (authority, qr) = authority_and_qr();
    let terminal = seeded_terminal(&authority, "", &[], HOUR);
    let run = terminal.run_with_stdin(&["check", "--json", "-"], NOW, &format!("\n{qr}\n"));
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn human_report_leads_with_the_verdict() {
    let (authority, qr) = authority_and_qr();
    let terminal = seeded_terminal(&authority, "", &[(7, CredentialStatus::Suspended)], HOUR);
    let run = terminal.run(&["check", &qr], NOW);
    assert_eq!(run.code, 1);
    let first = run.stdout.lines().next().unwrap();
    assert!(
        first.starts_with("== NOT VALID ==") && first.contains("suspended"),
        "{first}"
    );
    assert!(
        run.stdout.is_ascii(),
        "no locale: plain ASCII\n{}",
        run.stdout
    );
    assert!(run.stdout.contains("\\u{5f20}\\u{4e09}"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("cached list signed 2027-01-15T07:00:00Z, 1 h old"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains('\x1b'), "no colour off a terminal");
}

#[test]
fn no_cache_is_unavailable() {
    let authority = Authority::new(BASE);
    let terminal = Terminal::new(&authority, None, "");
    check_unavailable(&terminal, &authority, "edl-verify sync");
}

#[test]
fn cache_pinned_to_another_root_is_refused() {
    let authority = Authority::new(BASE);
    let mut impostor = Authority::new(BASE);
    impostor.root = SigningKey::from_seed(&[66; 32]);
    let terminal = Terminal::new(&authority, None, "");
    terminal.seed_cache(
        &impostor,
        9,
        &impostor.status_list(&[], HOUR),
        NOW.minus(HOUR),
    );
    check_unavailable(&terminal, &authority, "does not verify");
}
