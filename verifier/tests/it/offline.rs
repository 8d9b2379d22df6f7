//! Verdicts from the cache alone (`check --offline`, or no server configured).

use keys::status_list::CredentialStatus;
use keys::{SigningKey, UnixTime};

use crate::support::*;

const BASE: &str = "https://edl.example";

/// Checks credential `index` offline against a cache holding `entries`, signed `age` ago.
#[track_caller]
fn check(
    authority: &Authority,
    qr: &str,
    entries: &[(u64, CredentialStatus)],
    age: u64,
    now: UnixTime,
    expected: (u8, &str, Option<&str>),
) -> serde_json::Value {
    let terminal = Terminal::new(authority, None, "");
    terminal.seed_cache(
        authority,
        1,
        &authority.status_list(entries, age),
        NOW.minus(age),
    );
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

#[test]
fn fresh_cache_valid() {
    let authority = Authority::new(BASE);
    let qr = authority.qr(&authority.claims(7));
    let json = check(&authority, &qr, &[], 3 * HOUR, NOW, (0, "valid", None));
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
    let authority = Authority::new(BASE);
    let qr = authority.qr(&authority.claims(7));
    let json = check(
        &authority,
        &qr,
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
    let authority = Authority::new(BASE);
    let qr = authority.qr(&authority.claims(7));
    // Max age raised to a week: the list (exp = iat + 2 d) is past exp after 3 days.
    let terminal = Terminal::new(&authority, None, "max_status_age = \"7d\"\n");
    terminal.seed_cache(
        &authority,
        1,
        &authority.status_list(&[], 3 * DAY),
        NOW.minus(3 * DAY),
    );
    let run = terminal.run(&["check", "--json", &qr], NOW);
    assert_eq!(
        (run.code, run.json()["reason"].as_str()),
        (2, Some("status_stale")),
        "{run:?}"
    );
}

#[test]
fn cached_revoked() {
    let authority = Authority::new(BASE);
    let qr = authority.qr(&authority.claims(7));
    check(
        &authority,
        &qr,
        &[(7, CredentialStatus::Invalid)],
        HOUR,
        NOW,
        (1, "not_valid", Some("revoked")),
    );
}

#[test]
fn cached_suspended() {
    let authority = Authority::new(BASE);
    let qr = authority.qr(&authority.claims(7));
    check(
        &authority,
        &qr,
        &[(7, CredentialStatus::Suspended)],
        HOUR,
        NOW,
        (1, "not_valid", Some("suspended")),
    );
}

#[test]
fn cached_superseded() {
    let authority = Authority::new(BASE);
    let qr = authority.qr(&authority.claims(7));
    check(
        &authority,
        &qr,
        &[(7, CredentialStatus::Superseded)],
        HOUR,
        NOW,
        (1, "not_valid", Some("superseded")),
    );
}

#[test]
fn other_entries_do_not_matter() {
    let authority = Authority::new(BASE);
    let qr = authority.qr(&authority.claims(7));
    check(
        &authority,
        &qr,
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
    let authority = Authority::new(BASE);
    let mut token = keys::qr::decode(&authority.qr(&authority.claims(7))).unwrap();
    let last = token.len() - 1;
    token[last] ^= 1;
    let json = check(
        &authority,
        &keys::qr::encode(&token),
        &[],
        HOUR,
        NOW,
        (1, "not_valid", Some("bad_signature")),
    );
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
    check(
        &authority,
        &qr,
        &[],
        HOUR,
        NOW,
        (1, "not_valid", Some("unknown_key")),
    );
}

#[test]
fn status_key_cannot_sign_credentials() {
    let authority = Authority::new(BASE);
    let qr = authority.qr_signed_by(&authority.claims(7), &authority.status);
    check(
        &authority,
        &qr,
        &[],
        HOUR,
        NOW,
        (1, "not_valid", Some("unknown_key")),
    );
}

#[test]
fn key_revoked_in_trust_list() {
    let mut authority = Authority::new(BASE);
    authority.credential_key_revoked = true;
    let qr = authority.qr(&authority.claims(7));
    check(
        &authority,
        &qr,
        &[],
        HOUR,
        NOW,
        (1, "not_valid", Some("key_revoked")),
    );
}

#[test]
fn expired_credential_still_shows_whose() {
    let authority = Authority::new(BASE);
    let qr = authority.qr(&authority.claims(7));
    let json = check(
        &authority,
        &qr,
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
    check(
        &authority,
        &authority.qr(&claims),
        &[],
        HOUR,
        NOW,
        (1, "not_valid", Some("not_yet_valid")),
    );
}

#[test]
fn malformed_text() {
    let authority = Authority::new(BASE);
    check(
        &authority,
        "HELLO",
        &[],
        HOUR,
        NOW,
        (1, "not_valid", Some("malformed")),
    );
}

#[test]
fn malformed_base45() {
    let authority = Authority::new(BASE);
    check(
        &authority,
        "DL1:abc",
        &[],
        HOUR,
        NOW,
        (1, "not_valid", Some("malformed")),
    );
}

#[test]
fn status_list_signed_by_credential_key_is_not_used() {
    let authority = Authority::new(BASE);
    let qr = authority.qr(&authority.claims(7));
    let terminal = Terminal::new(&authority, None, "");
    let forged = authority.status_list_signed_by(&authority.credential, &[], HOUR);
    terminal.seed_cache(&authority, 1, &forged, NOW.minus(HOUR));
    let run = terminal.run(&["check", "--json", &qr], NOW);
    let json = run.json();
    assert_eq!(
        (run.code, json["reason"].as_str()),
        (2, Some("status_unknown")),
        "{run:?}"
    );
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
    let authority = Authority::new(BASE);
    let qr = authority.qr(&authority.claims(7));
    let json = check(
        &authority,
        &qr,
        &[],
        HOUR,
        NOW.minus(3 * HOUR),
        (0, "valid", None),
    );
    assert_eq!(json["clock"]["reference"], "status_list");
    assert_eq!(json["clock"]["offset_seconds"], 2 * HOUR);
}

#[test]
fn qr_text_from_stdin() {
    let authority = Authority::new(BASE);
    let qr = authority.qr(&authority.claims(7));
    let terminal = Terminal::new(&authority, None, "");
    terminal.seed_cache(
        &authority,
        1,
        &authority.status_list(&[], HOUR),
        NOW.minus(HOUR),
    );
    let run = terminal.run_with_stdin(&["check", "--json", "-"], NOW, &format!("\n{qr}\n"));
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn human_report_leads_with_the_verdict() {
    let authority = Authority::new(BASE);
    let qr = authority.qr(&authority.claims(7));
    let terminal = Terminal::new(&authority, None, "");
    terminal.seed_cache(
        &authority,
        1,
        &authority.status_list(&[(7, CredentialStatus::Suspended)], HOUR),
        NOW.minus(HOUR),
    );
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
    let run = terminal.run(&["check", &authority.qr(&authority.claims(7))], NOW);
    assert_eq!(run.code, 69, "{run:?}");
    assert!(run.stderr.contains("edl-verify sync"), "{run:?}");
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
    let run = terminal.run(&["check", &authority.qr(&authority.claims(7))], NOW);
    assert_eq!(run.code, 69, "{run:?}");
    assert!(run.stderr.contains("does not verify"), "{run:?}");
}
