//! `sync`: trust list and status lists fetched, verified and cached atomically.

use keys::status_list::CredentialStatus;
use verifier::cache::Cache;

use crate::support::*;

fn setup() -> (Server, Authority, Terminal) {
    let server = Server::start();
    let authority = Authority::new(&server.url);
    publish(&server, &authority, 5, authority.status_list(&[], 0));
    let terminal = Terminal::new(&authority, Some(&server), "");
    (server, authority, terminal)
}

fn cached_sequence(terminal: &Terminal) -> u64 {
    Cache::open(&terminal.cache_dir())
        .unwrap()
        .unwrap()
        .meta
        .trust_list
        .sequence
}

fn paths(server: &Server) -> Vec<(String, bool, u16)> {
    server
        .requests()
        .into_iter()
        .map(|(path, etag, status)| (path, etag.is_some(), status))
        .collect()
}

#[test]
fn first_sync_fetches_everything() {
    let (server, _, terminal) = setup();
    let run = terminal.run(&["sync"], NOW);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("trust list sequence 5 (fetched)"),
        "{run:?}"
    );
    assert_eq!(
        paths(&server),
        [
            ("/v1/trust-list".to_owned(), false, 200),
            ("/v1/status-lists/0".to_owned(), false, 200)
        ]
    );
    assert_eq!(cached_sequence(&terminal), 5);
}

#[test]
fn second_sync_is_conditional_and_respects_ttl() {
    let (server, _, terminal) = setup();
    assert_eq!(terminal.run(&["sync"], NOW).code, 0);
    // Within the list's ttl (1 h): only the trust list is asked for, conditionally.
    let run = terminal.run(&["sync"], NOW.plus(60));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("kept (within ttl)"), "{run:?}");
    // After the ttl: the list is asked for again, conditionally, and is unchanged.
    let run = terminal.run(&["sync"], NOW.plus(HOUR + 1));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("unchanged (304)"), "{run:?}");
    assert_eq!(
        paths(&server)[2..],
        [
            ("/v1/trust-list".to_owned(), true, 304),
            ("/v1/trust-list".to_owned(), true, 304),
            ("/v1/status-lists/0".to_owned(), true, 304)
        ]
    );
}

#[test]
fn force_refetches_within_ttl() {
    let (server, authority, terminal) = setup();
    assert_eq!(terminal.run(&["sync"], NOW).code, 0);
    publish(
        &server,
        &authority,
        5,
        authority.status_list(&[(7, CredentialStatus::Invalid)], 0),
    );
    let run = terminal.run(&["sync", "--force"], NOW.plus(60));
    assert!(
        run.stdout.contains("status list") && run.stdout.contains(": fetched"),
        "{run:?}"
    );
    let check = terminal.run(
        &[
            "check",
            "--offline",
            "--json",
            &authority.qr(&authority.claims(7)),
        ],
        NOW.plus(60),
    );
    assert_eq!(check.json()["reason"], "revoked");
}

#[test]
fn rolled_back_trust_list_is_refused() {
    let (server, authority, terminal) = setup();
    assert_eq!(terminal.run(&["sync"], NOW).code, 0);
    publish(&server, &authority, 4, authority.status_list(&[], 0));
    let run = terminal.run(&["sync"], NOW.plus(60));
    assert_eq!(run.code, 69, "{run:?}");
    assert!(run.stderr.contains("rollback"), "{run:?}");
    assert_eq!(cached_sequence(&terminal), 5, "the old cache is intact");
}

#[test]
fn newer_trust_list_replaces_the_cache() {
    let (server, authority, terminal) = setup();
    assert_eq!(terminal.run(&["sync"], NOW).code, 0);
    publish(&server, &authority, 6, authority.status_list(&[], 0));
    assert_eq!(terminal.run(&["sync"], NOW.plus(60)).code, 0);
    assert_eq!(cached_sequence(&terminal), 6);
    let generations = std::fs::read_dir(terminal.cache_dir())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("gen-")
        })
        .count();
    assert!(
        generations <= 2,
        "old generations are cleaned up: {generations}"
    );
}

#[test]
fn trust_list_signed_by_another_root_is_refused() {
    let (server, mut authority, terminal) = setup();
    authority.root = keys::SigningKey::from_seed(&[66; 32]);
    publish(&server, &authority, 7, authority.status_list(&[], 0));
    let run = terminal.run(&["sync"], NOW);
    assert_eq!(run.code, 69, "{run:?}");
    assert!(run.stderr.contains("unknown root key"), "{run:?}");
    assert!(Cache::open(&terminal.cache_dir()).unwrap().is_none());
}

#[test]
fn status_list_signed_by_a_non_status_key_is_refused() {
    let (server, authority, terminal) = setup();
    assert_eq!(terminal.run(&["sync"], NOW).code, 0);
    let forged = authority.status_list_signed_by(&authority.credential, &[], 0);
    publish(&server, &authority, 6, forged);
    let run = terminal.run(&["sync"], NOW.plus(2 * HOUR));
    assert_eq!(run.code, 69, "{run:?}");
    assert!(run.stderr.contains("unknown status key"), "{run:?}");
    assert_eq!(cached_sequence(&terminal), 5, "the old cache is intact");
}

#[test]
fn status_list_for_another_uri_is_refused() {
    let (server, authority, terminal) = setup();
    let mut other = Authority::new("https://elsewhere.example");
    other.status = keys::SigningKey::from_seed(&[3; 32]);
    publish(&server, &authority, 5, other.status_list(&[], 0));
    let run = terminal.run(&["sync"], NOW);
    assert_eq!(run.code, 69, "{run:?}");
    assert!(
        run.stderr.contains("is for https://elsewhere.example"),
        "{run:?}"
    );
}

#[test]
fn expired_status_list_is_refused() {
    let (server, authority, terminal) = setup();
    publish(&server, &authority, 5, authority.status_list(&[], 3 * DAY));
    let run = terminal.run(&["sync"], NOW);
    assert_eq!(run.code, 69, "{run:?}");
    assert!(run.stderr.contains("expired"), "{run:?}");
}

#[test]
fn failed_sync_leaves_the_old_cache_intact() {
    let (server, authority, terminal) = setup();
    assert_eq!(terminal.run(&["sync"], NOW).code, 0);
    publish(&server, &authority, 6, authority.status_list(&[], 0));
    server.with(|s| s.status_list_error = true);
    let run = terminal.run(&["sync"], NOW.plus(2 * HOUR));
    assert_eq!(run.code, 69, "{run:?}");
    assert_eq!(cached_sequence(&terminal), 5);
    let check = terminal.run(
        &["check", "--offline", &authority.qr(&authority.claims(7))],
        NOW.plus(2 * HOUR),
    );
    assert_eq!(check.code, 0, "{check:?}");
}

#[test]
fn unreachable_server_is_unavailable() {
    let (server, _, terminal) = setup();
    drop(server);
    let run = terminal.run(&["sync"], NOW);
    assert_eq!(run.code, 69, "{run:?}");
}

#[test]
fn plain_http_to_a_remote_host_is_a_usage_error() {
    let (_server, _, terminal) = setup();
    let run = terminal.run(&["sync", "--server", "http://edl.example"], NOW);
    assert_eq!(run.code, 64, "{run:?}");
}

#[test]
fn config_check_shows_the_cache() {
    let (_server, _, terminal) = setup();
    assert_eq!(terminal.run(&["sync"], NOW).code, 0);
    let run = terminal.run(&["config", "check"], NOW.plus(2 * HOUR));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("trust list:    sequence 5"), "{run:?}");
    assert!(run.stdout.contains("2 h old: ok"), "{run:?}");
}

#[test]
fn sync_reports_a_clock_far_off() {
    let (server, _, terminal) = setup();
    server.with(|s| s.server_time = NOW.plus(3 * HOUR));
    let run = terminal.run(&["sync"], NOW.plus(3 * HOUR - 10 * 60));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("warning: this terminal's clock is 10 min behind"),
        "{run:?}"
    );
}
