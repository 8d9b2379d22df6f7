//! Verdicts with live status from the HTTPS fixture, and the fallbacks when it fails.

use keys::status_list::CredentialStatus;

use crate::support::*;

struct Setup {
    authority: Authority,
    server: Server,
    terminal: Terminal,
    qr: String,
    id: String,
}

/// A synced terminal (status list signed `age` ago holding `entries`) and a live server.
fn setup(entries: &[(u64, CredentialStatus)], age: u64, extra: &str) -> Setup {
    let server = Server::start();
    let authority = Authority::new(&server.url);
    publish(&server, &authority, 1, authority.status_list(entries, age));
    let terminal = Terminal::new(&authority, Some(&server), extra);
    let sync = terminal.run(&["sync"], NOW.minus(age));
    assert_eq!(sync.code, 0, "{sync:?}");
    let qr = authority.qr(&authority.claims(7));
    let id = authority.credential_id(7);
    Setup {
        authority,
        server,
        terminal,
        qr,
        id,
    }
}

impl Setup {
    fn live(&self, status: &'static str) {
        let id = self.id.clone();
        self.server.with(|s| {
            s.live.insert(id, status);
        });
    }

    #[track_caller]
    fn check(&self, expected: (u8, &str, Option<&str>, &str)) -> serde_json::Value {
        let run = self.terminal.run(&["check", "--json", &self.qr], NOW);
        let json = run.json();
        assert_eq!(
            (
                run.code,
                json["verdict"].as_str().unwrap(),
                json["reason"].as_str(),
                json["status"]["source"].as_str().unwrap()
            ),
            expected,
            "{run:?}"
        );
        json
    }
}

#[test]
fn live_valid() {
    let setup = setup(&[], HOUR, "");
    setup.live("valid");
    let json = setup.check((0, "valid", None, "live"));
    assert_eq!(json["status"]["as_of"], NOW.0);
    assert!(json["clock"].is_null());
}

#[test]
fn live_revoked() {
    // The cached list still says valid: the live answer wins.
    let setup = setup(&[], HOUR, "");
    setup.live("revoked");
    setup.check((1, "not_valid", Some("revoked"), "live"));
}

#[test]
fn live_suspended() {
    let setup = setup(&[], HOUR, "");
    setup.live("suspended");
    setup.check((1, "not_valid", Some("suspended"), "live"));
}

#[test]
fn live_superseded() {
    let setup = setup(&[], HOUR, "");
    setup.live("superseded");
    setup.check((1, "not_valid", Some("superseded"), "live"));
}

#[test]
fn live_expired() {
    let setup = setup(&[], HOUR, "");
    setup.live("expired");
    setup.check((1, "not_valid", Some("expired"), "live"));
}

#[test]
fn server_error_with_stale_cache_is_indeterminate_not_revoked() {
    let setup = setup(&[], 30 * HOUR, "");
    setup.server.with(|s| s.live_mode = LiveMode::Error500);
    let json = setup.check((2, "indeterminate", Some("status_stale"), "cached_list"));
    let notes = json["notes"].to_string();
    assert!(notes.contains("HTTP 500"), "{notes}");
}

#[test]
fn server_error_without_status_list_is_indeterminate() {
    let setup = setup(&[], HOUR, "");
    std::fs::remove_dir_all(setup.terminal.cache_dir()).unwrap();
    setup
        .terminal
        .seed_cache(&setup.authority, 1, b"not a status list", NOW);
    setup.server.with(|s| s.live_mode = LiveMode::Error500);
    setup.check((2, "indeterminate", Some("status_unknown"), "none"));
}

#[test]
fn server_error_falls_back_to_fresh_cache() {
    let setup = setup(&[], HOUR, "");
    setup.server.with(|s| s.live_mode = LiveMode::Error500);
    setup.check((0, "valid", None, "cached_list"));
}

#[test]
fn server_error_falls_back_to_cached_revocation() {
    let setup = setup(&[(7, CredentialStatus::Invalid)], HOUR, "");
    setup.server.with(|s| s.live_mode = LiveMode::Error500);
    setup.check((1, "not_valid", Some("revoked"), "cached_list"));
}

#[test]
fn hanging_server_times_out_to_the_cache() {
    let setup = setup(&[], 30 * HOUR, "[timeouts]\nlive_status = \"300ms\"\n");
    setup.server.with(|s| s.live_mode = LiveMode::Hang);
    let started = std::time::Instant::now();
    let json = setup.check((2, "indeterminate", Some("status_stale"), "cached_list"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(json["notes"].to_string().contains("timed out"), "{json}");
}

#[test]
fn server_does_not_know_the_credential() {
    let setup = setup(&[], HOUR, "");
    setup.check((2, "indeterminate", Some("status_unknown"), "none"));
}

#[test]
fn api_key_is_sent() {
    let setup = setup(&[], HOUR, "api_key = \"officer-key-1\"\n");
    setup
        .server
        .with(|s| s.api_key = Some("officer-key-1".into()));
    setup.live("valid");
    setup.check((0, "valid", None, "live"));
}

#[test]
fn wrong_api_key_falls_back() {
    let setup = setup(&[], HOUR, "api_key = \"wrong\"\n");
    setup
        .server
        .with(|s| s.api_key = Some("officer-key-1".into()));
    setup.live("valid");
    let json = setup.check((0, "valid", None, "cached_list"));
    assert!(json["notes"].to_string().contains("HTTP 401"), "{json}");
}

#[test]
fn terminal_clock_far_behind_the_server() {
    let setup = setup(&[], HOUR, "");
    setup.live("valid");
    setup.server.with(|s| s.server_time = NOW.plus(2 * DAY));
    let json = setup.check((0, "valid", None, "live"));
    assert_eq!(json["clock"]["offset_seconds"], 2 * DAY);
    assert_eq!(json["clock"]["reference"], "live_status");
    assert!(
        json["notes"].to_string().contains("clock is 2 d behind"),
        "{json}"
    );
}

#[test]
fn offline_flag_skips_the_server() {
    let setup = setup(&[], HOUR, "");
    setup.live("revoked");
    let before = setup.server.requests().len();
    let run = setup
        .terminal
        .run(&["check", "--offline", "--json", &setup.qr], NOW);
    assert_eq!(
        (run.code, run.json()["status"]["source"].as_str()),
        (0, Some("cached_list"))
    );
    assert_eq!(setup.server.requests().len(), before);
}

#[test]
fn untrusted_server_certificate_falls_back() {
    let setup = setup(&[], HOUR, "");
    setup.live("revoked");
    // Another server's certificate: the TLS handshake must fail, not be skipped.
    let other = Server::start();
    std::fs::write(setup.terminal.dir.path().join("ca.pem"), &other.ca_pem).unwrap();
    let json = setup.check((0, "valid", None, "cached_list"));
    assert!(
        json["notes"]
            .to_string()
            .contains("live status unavailable"),
        "{json}"
    );
}

#[test]
fn plain_http_on_loopback() {
    // The daemon's development default: http://127.0.0.1:8080, no TLS.
    let server = Server::start_plain();
    let authority = Authority::new(&server.url);
    publish(&server, &authority, 1, authority.status_list(&[], 0));
    let terminal = Terminal::new(&authority, None, &format!("server = \"{}\"\n", server.url));
    let sync = terminal.run(&["sync"], NOW);
    assert_eq!(sync.code, 0, "{sync:?}");
    server.with(|s| {
        s.live.insert(authority.credential_id(7), "suspended");
    });
    let run = terminal.run(
        &["check", "--json", &authority.qr(&authority.claims(7))],
        NOW,
    );
    assert_eq!(
        (run.code, run.json()["status"]["source"].as_str()),
        (1, Some("live")),
        "{run:?}"
    );
}

#[test]
fn client_certificate_configuration() {
    let setup = setup(&[], HOUR, "");
    let client = rcgen::generate_simple_self_signed(vec!["officer-17".to_owned()]).unwrap();
    let dir = setup.terminal.dir.path();
    std::fs::write(dir.join("client.pem"), client.cert.pem()).unwrap();
    std::fs::write(dir.join("client.key"), client.signing_key.serialize_pem()).unwrap();
    let config = std::fs::read_to_string(&setup.terminal.config).unwrap();
    std::fs::write(
        &setup.terminal.config,
        format!("{config}client_cert = \"client.pem\"\nclient_key = \"client.key\"\n"),
    )
    .unwrap();
    let run = setup.terminal.run(&["config", "check"], NOW);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("credentials:   client certificate"),
        "{run:?}"
    );
    // The fixture does not ask for a certificate; the client still connects and checks.
    setup.live("valid");
    setup.check((0, "valid", None, "live"));
}
