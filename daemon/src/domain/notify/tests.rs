use std::net::SocketAddr;

use keys::UnixTime;
use keys::licence::LicenceState;

use super::*;
use crate::domain::registry::RegistryLine;

fn number(n: u16) -> LicenceNumber {
    let birth = time::Date::from_calendar_date(1980, time::Month::January, 1).unwrap();
    LicenceNumber::from_parts(110_105, birth, n).unwrap()
}

fn record(n: u16, classes: &str, photo: bool) -> LicenceRecord {
    let line = RegistryLine {
        number: Some(number(n).to_string()),
        name: format!("Holder {n}"),
        classes: serde_json::from_value(serde_json::json!(classes)).unwrap(),
        valid_from: "2020-01-01".into(),
        valid_until: Some("2039-12-31".into()),
        authority: "Test".into(),
        photo: photo.then(|| keys::licence::PhotoDigest::of(&n.to_be_bytes()).to_string()),
        ..RegistryLine::default()
    };
    line.into_record(None).unwrap()
}

#[track_caller]
fn check_signature(secret: &str, id: &str, timestamp: u64, body: &str, expected: &str) {
    let secret = Secret::parse(secret).unwrap();
    assert_eq!(secret.sign(id, timestamp, body.as_bytes()), expected);
}

/// The example of the Standard Webhooks specification's reference libraries.
#[test]
fn signatures_match_the_specification_vector() {
    check_signature(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1_614_265_330,
        r#"{"test": 2432232314}"#,
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    );
}

#[test]
fn secrets_are_whsec_base64_of_24_to_64_bytes() {
    assert!(Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
    assert!(Secret::parse("whsec_not base64!").is_err());
    assert!(Secret::parse("whsec_AAAA").is_err());
    let s = Secret::parse(" whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n").unwrap();
    assert_eq!(s.encoded(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    assert_eq!(format!("{s:?}"), "Secret(…)");
}

#[test]
fn event_names_read_back() {
    for kind in EventKind::ALL {
        assert_eq!(kind.as_str().parse::<EventKind>(), Ok(kind));
        assert_eq!(
            serde_json::to_value(kind).unwrap(),
            serde_json::json!(kind.as_str())
        );
    }
    assert!("application.lost".parse::<EventKind>().is_err());
}

fn credential(n: u8, superseded: bool) -> CredentialRecord {
    CredentialRecord {
        id: hex::encode([n; 16]),
        licence: number(1),
        ticket: Ticket([n; 16]),
        list: 0,
        index: u32::from(n),
        issued_at: UnixTime(10),
        expires_at: UnixTime(1000),
        superseded,
        token: String::new(),
        photo: keys::licence::PhotoDigest::of(b"photo"),
    }
}

#[test]
fn a_state_change_notifies_the_current_credentials_only() {
    let old = record(1, "C1", true);
    let mut new = old.clone();
    new.state = LicenceState::Suspended;
    let credentials = [credential(2, false), credential(1, true)];
    let events = licence_changed(
        Some(&old),
        &new,
        &credentials,
        &[],
        None,
        "gateway",
        UnixTime(5),
    );
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::CredentialSuspended);
    assert_eq!(
        events[0].credential.as_deref(),
        Some(&*hex::encode([2; 16]))
    );
    assert_eq!(events[0].client, "gateway");
    let back = licence_changed(
        Some(&new),
        &old,
        &credentials,
        &[],
        None,
        "gateway",
        UnixTime(6),
    );
    assert_eq!(back[0].kind, EventKind::CredentialReinstated);
    let mut revoked = old.clone();
    revoked.state = LicenceState::Cancelled;
    let gone = licence_changed(
        Some(&old),
        &revoked,
        &credentials,
        &[],
        None,
        "",
        UnixTime(7),
    );
    assert_eq!(gone[0].kind, EventKind::CredentialRevoked);
    // A new record, or one edited without a state change or supersession: nothing.
    assert!(licence_changed(None, &old, &[], &[], None, "", UnixTime(8)).is_empty());
    assert!(licence_changed(Some(&old), &old, &credentials, &[], None, "", UnixTime(8)).is_empty());
}

#[test]
fn a_supersession_names_the_reissue() {
    let old = record(1, "C1", true);
    let new = record(1, "C1 C2", true);
    let superseded = [credential(2, true)];
    let events = licence_changed(
        Some(&old),
        &new,
        &[credential(2, false)],
        &superseded,
        Some(Ticket([9; 16])),
        "gateway",
        UnixTime(5),
    );
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::CredentialSuperseded);
    assert_eq!(events[0].reissue_ticket, Some(Ticket([9; 16])));
    let body: serde_json::Value = serde_json::from_slice(&body(&events[0], 42)).unwrap();
    assert_eq!(body["type"], "credential.superseded");
    assert_eq!(body["timestamp"], "1970-01-01T00:00:05Z");
    assert_eq!(body["data"]["id"], "evt_000000000000002a");
    assert_eq!(body["data"]["reissue_ticket"], hex::encode([9; 16]));
    assert_eq!(body["data"]["licence"], number(1).as_str());
    assert_eq!(body["data"]["client"], "gateway");
}

#[test]
fn subscriptions_filter_by_kind_and_client() {
    let event = expiring(&credential(1, false), "office", UnixTime(1));
    let mut sub = Subscription {
        id: "00".repeat(8),
        url: "https://example.test/".into(),
        events: vec![EventKind::CredentialExpiring],
        client: None,
        secret: String::new(),
        created_at: UnixTime(0),
    };
    assert!(sub.wants(&event));
    sub.client = Some("gateway".into());
    assert!(!sub.wants(&event));
    sub.client = Some("office".into());
    assert!(sub.wants(&event));
    sub.events = vec![EventKind::ApplicationIssued];
    assert!(!sub.wants(&event));
}

#[test]
fn retries_back_off_with_jitter_until_the_horizon() {
    let policy = RetryPolicy {
        base: 2,
        cap: 60,
        horizon: 300,
    };
    let written = UnixTime(1000);
    // The ceiling doubles: 2, 4, 8, … capped at 60; a draw of 0 retries a second later.
    assert_eq!(
        policy.after_failure(1, written, UnixTime(1000), 0),
        Retry::At(UnixTime(1001))
    );
    assert_eq!(
        policy.after_failure(1, written, UnixTime(1000), 1),
        Retry::At(UnixTime(1002))
    );
    assert_eq!(
        policy.after_failure(1, written, UnixTime(1000), 2),
        Retry::At(UnixTime(1001))
    );
    assert_eq!(
        policy.after_failure(3, written, UnixTime(1000), 7),
        Retry::At(UnixTime(1008))
    );
    assert_eq!(
        policy.after_failure(30, written, UnixTime(1000), 59),
        Retry::At(UnixTime(1060))
    );
    assert_eq!(
        policy.after_failure(30, written, UnixTime(1000), 60),
        Retry::At(UnixTime(1001))
    );
    // Never past the horizon; at it, dead.
    assert_eq!(
        policy.after_failure(9, written, UnixTime(1290), 59),
        Retry::At(UnixTime(1300))
    );
    assert_eq!(
        policy.after_failure(9, written, UnixTime(1300), 0),
        Retry::Dead
    );
    for draw in [0, 1, u64::MAX] {
        for attempts in [1, 10, u32::MAX] {
            match policy.after_failure(attempts, written, UnixTime(1100), draw) {
                Retry::At(at) => assert!(at.0 > 1100 && at.0 <= 1160),
                Retry::Dead => panic!("dead before the horizon"),
            }
        }
    }
}

#[track_caller]
fn check_url(url: &str, resolved: &[&str], own: &[&str], expected: Result<(), UrlError>) {
    let parse =
        |list: &[&str]| -> Vec<SocketAddr> { list.iter().map(|a| a.parse().unwrap()).collect() };
    let outcome = Target::parse(url).and_then(|t| t.check_addresses(&parse(resolved), &parse(own)));
    assert_eq!(outcome, expected);
}

#[test]
fn urls_are_https_or_loopback_and_never_our_own() {
    let own = ["127.0.0.1:8443", "127.0.0.1:9090"];
    check_url(
        "https://hooks.example/edl",
        &["192.0.2.1:443"],
        &own,
        Ok(()),
    );
    check_url("http://127.0.0.1:7000/h", &["127.0.0.1:7000"], &own, Ok(()));
    check_url("http://[::1]:7000/h", &["[::1]:7000"], &own, Ok(()));
    check_url(
        "http://hooks.example/",
        &["192.0.2.1:80"],
        &own,
        Err(UrlError::PlainHttp),
    );
    check_url(
        "https://127.0.0.1:8443/",
        &["127.0.0.1:8443"],
        &own,
        Err(UrlError::OwnListener("127.0.0.1:8443".parse().unwrap())),
    );
    check_url(
        "https://localhost:9443/",
        &["127.0.0.1:9443"],
        &["0.0.0.0:9443"],
        Err(UrlError::OwnListener("127.0.0.1:9443".parse().unwrap())),
    );
    check_url("ftp://hooks.example/", &[], &own, Err(UrlError::Malformed));
    check_url(
        "https://user@hooks.example/",
        &[],
        &own,
        Err(UrlError::Malformed),
    );
    check_url("/relative", &[], &own, Err(UrlError::Malformed));
    check_url(
        "https://hooks.example/",
        &[],
        &own,
        Err(UrlError::Unresolved),
    );
    let t = Target::parse("https://hooks.example/a?b=1").unwrap();
    assert_eq!(
        (t.host.as_str(), t.port, t.path.as_str()),
        ("hooks.example", 443, "/a?b=1")
    );
}

/// A delivery's body and signature, as edld sends them, verify with the Standard Webhooks
/// reference library (PyPI `standardwebhooks`, installed by `.ci/setup`): an independent
/// implementation of the scheme.
#[test]
fn deliveries_verify_with_the_reference_library() {
    let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let mut app = Application {
        ticket: Ticket([7; 16]),
        licence: number(2),
        channel: crate::domain::application::Channel::App,
        client: "gateway".into(),
        photo: crate::domain::application::Photo::OnFile,
        state: ApplicationState::Rejected {
            reason: "背景不合格 \"quoted\"".into(),
        },
        created_at: UnixTime(1_900_000_000),
        updated_at: UnixTime(1_900_000_000),
        reissue: false,
        quoted: None,
        previous: None,
        holder_key: None,
    };
    let rejection = rejected(&app, UnixTime(1_900_000_001)).unwrap();
    assert_eq!(rejection.reason.as_deref(), Some("背景不合格 \"quoted\""));
    app.state = ApplicationState::Reviewing;
    assert_eq!(rejected(&app, UnixTime(1_900_000_001)), None);
    let events = [
        rejection,
        issued(&app, &credential(3, false), UnixTime(1_900_000_002)),
        expiring(&credential(3, false), "gateway", UnixTime(1_900_000_003)),
    ];
    for (sequence, event) in events.iter().enumerate() {
        let id = message_id(sequence as u64);
        let timestamp = event.at.0;
        let body = body(event, sequence as u64);
        let signature = secret.sign(&id, timestamp, &body);
        // The library checks the timestamp against its clock: it is given the event's time.
        let script = "import sys, json, datetime as d\n\
            import standardwebhooks.webhooks as m\n\
            a = sys.argv\n\
            class D(d.datetime):\n\
            \x20   @classmethod\n\
            \x20   def now(cls, tz=None): return d.datetime.fromtimestamp(int(a[3]), tz=d.timezone.utc)\n\
            m.datetime = D\n\
            headers = {'webhook-id': a[2], 'webhook-timestamp': a[3], 'webhook-signature': a[4]}\n\
            print(json.dumps(m.Webhook(a[1]).verify(sys.stdin.buffer.read(), headers)))\n";
        let mut child = std::process::Command::new("python3")
            .args([
                "-c",
                script,
                &secret.encoded(),
                &id,
                &timestamp.to_string(),
                &signature,
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3 with standardwebhooks (.ci/setup installs it)");
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(&body).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let verified: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(verified["type"], event.kind.as_str());
        assert_eq!(verified["data"]["id"], id);
        // A flipped byte of the body does not verify.
        let mut tampered = body.clone();
        tampered[10] ^= 1;
        assert_ne!(secret.sign(&id, timestamp, &tampered), signature);
    }
}
