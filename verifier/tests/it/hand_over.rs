//! `edl-verify` is built without the network client and hands every command that talks to
//! the server to `edl-verify-net` beside it (src/lib.rs, `Network`): the built binaries,
//! as whole processes, on the real clock.

use std::path::Path;

use keys::status_list::CredentialStatus;

use crate::cli::run_program as run;
use crate::support::*;

fn real_now() -> u64 {
    #[allow(clippy::disallowed_methods)]
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A server publishing `authority`'s trust list and status list 0 (entry 7 revoked: "invalid") as of
/// the real clock, a terminal enrolled with it, and a credential (index 7) valid now.
fn published_now() -> (Server, Authority, Terminal, String) {
    let server = Server::start();
    let authority = Authority::new(&server.url);
    let now = real_now();
    let mut trust_list = authority.trust_list(5);
    trust_list.issued_at = keys::UnixTime(now - DAY);
    trust_list.next_update = keys::UnixTime(now + 6 * DAY);
    // Status lists are signed relative to NOW (in the future): an age that lands on now.
    let age = NOW.0 - now;
    server.with(|s| {
        s.trust_list = trust_list.sign(&authority.root);
        s.status_lists.insert(
            0,
            authority.status_list(&[(7, CredentialStatus::Invalid)], age),
        );
    });
    let terminal = Terminal::new(&authority, Some(&server), "");
    let mut claims = authority.claims(7);
    claims.issued_at = keys::UnixTime(now - 10 * DAY);
    claims.not_before = claims.issued_at;
    claims.expires_at = keys::UnixTime(now + 20 * DAY);
    let qr = authority.qr(&claims);
    (server, authority, terminal, qr)
}

#[test]
fn commands_that_talk_to_the_server_run_in_edl_verify_net() {
    let edl_verify = Path::new(env!("CARGO_BIN_EXE_edl-verify"));
    let (server, authority, terminal, qr) = published_now();
    server.with(|s| {
        s.live.insert(authority.credential_id(7), "suspended");
    });

    let (code, stdout, stderr) = run(edl_verify, &terminal, &["sync"], "");
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("trust list sequence 5 (fetched)"),
        "{stdout}"
    );

    // Offline: answered by edl-verify itself from what the sync cached (revoked).
    let (code, stdout, stderr) = run(
        edl_verify,
        &terminal,
        &["check", "--json", "--offline", &qr],
        "",
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(json["status"]["source"], "cached_list", "{json}");
    assert_eq!(json["status"]["value"], "revoked", "{json}");

    // Live, the QR text on standard input: handed over before it is read, so the other
    // program reads it and asks the server (suspended).
    let asked = server.requests().len();
    let (code, stdout, stderr) = run(
        edl_verify,
        &terminal,
        &["check", "--json", "-"],
        &format!("{qr}\n"),
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(json["status"]["source"], "live", "{json}");
    assert_eq!(json["status"]["value"], "suspended", "{json}");
    assert_eq!(server.requests().len(), asked + 1);

    // `config check` with a server builds the client, so it too runs over there.
    let (code, stdout, stderr) = run(edl_verify, &terminal, &["config", "check"], "");
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("trust list:    sequence 5"), "{stdout}");
}

#[test]
fn without_edl_verify_net_offline_checks_still_run_and_the_rest_say_what_is_missing() {
    let (_server, _authority, terminal, qr) = published_now();
    let (code, _, stderr) = run(
        Path::new(env!("CARGO_BIN_EXE_edl-verify")),
        &terminal,
        &["sync"],
        "",
    );
    assert_eq!(code, 0, "{stderr}");
    // edl-verify installed alone.
    let alone = tempfile::tempdir().unwrap();
    let edl_verify = alone.path().join("edl-verify");
    std::fs::copy(env!("CARGO_BIN_EXE_edl-verify"), &edl_verify).unwrap();

    let (code, stdout, stderr) = run(
        &edl_verify,
        &terminal,
        &["check", "--json", "--offline", &qr],
        "",
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("\"revoked\""), "{stdout}");

    for args in [&["sync"][..], &["check", &qr], &["config", "check"]] {
        let (code, stdout, stderr) = run(&edl_verify, &terminal, args, "");
        assert_eq!(code, 69, "{args:?}: {stdout}{stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        let missing = alone.path().join("edl-verify-net");
        assert!(
            stderr.starts_with(&format!(
                "edl-verify: this command talks to the server through {}: ",
                missing.display()
            )),
            "{args:?}: {stderr}"
        );
    }
}
