//! `edl-verify` against the real daemon over TLS on loopback: sync, a live VALID, a live
//! revocation, then the daemon stopped and the same QR judged from the cached status list.

use std::path::Path;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{Value, json};
use tests::{TestDaemon, licence_json, licence_numbers, verify_cli, wait_issued};

const WAIT: Duration = Duration::from_secs(30);

fn write_config(dir: &Path, d: &TestDaemon) -> String {
    write_config_as(dir, d, "officer", "verify.toml")
}

/// A verifier configuration for a terminal of `role`, written to `dir/name`.
fn write_config_as(dir: &Path, d: &TestDaemon, role: &str, name: &str) -> String {
    let config = dir.join(name);
    let text = format!(
        "server = \"https://localhost:{port}\"\n\
         roots = [\"{root}\"]\n\
         api_key = \"{key}\"\n\
         ca = \"{ca}\"\n\
         cache_dir = \"{cache}\"\n\
         max_status_age = \"24h\"\n",
        port = d.addr.port(),
        root = d.data_dir().join("keys/root.pub.pem").display(),
        key = d.key(role),
        ca = d.dir.path().join("cert.pem").display(),
        cache = dir.join("cache").display(),
    );
    std::fs::write(&config, text).unwrap();
    config.display().to_string()
}

async fn check(config: &str, qr: &str, now: keys::UnixTime) -> (u8, Value) {
    let (code, out, err) = verify_cli(
        vec![
            "--config".into(),
            config.into(),
            "check".into(),
            "--json".into(),
            qr.into(),
        ],
        now,
    )
    .await
    .unwrap();
    let verdict = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (code, verdict)
}

/// Syncs; `--force` refetches lists whose `ttl` has not run out (the test clock stands still).
async fn sync(config: &str, now: keys::UnixTime) {
    let (code, out, err) = verify_cli(
        vec![
            "--config".into(),
            config.into(),
            "sync".into(),
            "--force".into(),
        ],
        now,
    )
    .await
    .unwrap();
    assert_eq!(code, 0, "sync failed: {out} {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifier_against_the_daemon_live_and_from_its_cache() {
    let d = TestDaemon::start().await.unwrap();
    let now = || daemon::Clock::now(d.clock.as_ref());
    let mut c = d.client().await.unwrap();
    let (registry, gateway) = (d.key("registry").to_owned(), d.key("gateway").to_owned());
    let number = licence_numbers(1, 440_304).remove(0);
    let reply = c
        .json(
            Method::PUT,
            &format!("/v1/licences/{number}"),
            Some(&registry),
            &licence_json(&number, "李娜", &["C2"]),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 201);
    let apply = json!({"licence_number": number.as_str(), "photo_source": "on_file"});
    let reply = c
        .json(Method::POST, "/v1/applications", Some(&gateway), &apply)
        .await
        .unwrap();
    assert_eq!(reply.status, 202);
    let ticket = reply.json().unwrap()["ticket"].as_str().unwrap().to_owned();
    let qr = wait_issued(&mut c, &gateway, &ticket).await.unwrap()["credential"]["qr_text"]
        .as_str()
        .unwrap()
        .to_owned();

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &d);
    sync(&config, now()).await;

    // Online: VALID from the live status.
    let (code, verdict) = check(&config, &qr, now()).await;
    assert_eq!(
        (code, verdict["verdict"].as_str()),
        (0, Some("valid")),
        "{verdict}"
    );
    assert_eq!(verdict["status"]["source"], "live");
    assert_eq!(verdict["credential"]["name"], "李娜");

    // An insurer must declare why it checks: with a purpose it gets the live status, and
    // the purpose is in the daemon's audit log; without one the daemon refuses the lookup
    // and the verdict falls back to the cached list, never to "valid" on its own say-so.
    let insurer = write_config_as(dir.path(), &d, "insurer", "insurer.toml");
    let (code, out, err) = verify_cli(
        vec![
            "--config".into(),
            insurer.clone(),
            "check".into(),
            "--json".into(),
            "--purpose".into(),
            "理赔 claim 4711".into(),
            qr.clone(),
        ],
        now(),
    )
    .await
    .unwrap();
    let verdict: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(
        (code, verdict["status"]["source"].as_str()),
        (0, Some("live")),
        "{verdict}"
    );
    let audit = d
        .admin_client()
        .await
        .unwrap()
        .get(
            &format!("/admin/v1/audit?licence={number}"),
            Some(d.key("operator")),
        )
        .await
        .unwrap();
    assert_eq!(audit.status, 200, "{:?}", audit.body);
    assert!(
        String::from_utf8_lossy(&audit.body).contains("理赔 claim 4711"),
        "{}",
        String::from_utf8_lossy(&audit.body)
    );
    let (_, verdict) = check(&insurer, &qr, now()).await;
    assert_eq!(verdict["status"]["source"], "cached_list", "{verdict}");

    // The licence office revokes: NOT VALID at once, from the live status.
    let reply = c
        .json(
            Method::POST,
            &format!("/v1/licences/{number}/state"),
            Some(&registry),
            &json!({"action": "revoke"}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let (code, verdict) = check(&config, &qr, now()).await;
    assert_eq!(
        (code, verdict["reason"].as_str()),
        (1, Some("revoked")),
        "{verdict}"
    );
    assert_eq!(verdict["status"]["source"], "live");

    // Once the next status list carries the revocation, a sync takes it offline.
    let deadline = Instant::now() + WAIT;
    loop {
        sync(&config, now()).await;
        let (code, verdict) = check(&config, &qr, now()).await;
        // Checked with the daemon still up this is live; the cache is tested below.
        assert_eq!(code, 1, "{verdict}");
        let (_, out, _) = verify_cli(
            vec![
                "--config".into(),
                config.clone(),
                "check".into(),
                "--json".into(),
                "--offline".into(),
                qr.clone(),
            ],
            now(),
        )
        .await
        .unwrap();
        let offline: Value = serde_json::from_str(&out).unwrap();
        if offline["reason"] == "revoked" {
            assert_eq!(offline["status"]["source"], "cached_list");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the revocation never reached the cached list: {offline}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The daemon goes away: the verdict comes from the cached list and says how old it is.
    let at = now();
    // Keep the data directory: the verifier config points at its root public key.
    let _data = d.stop().await.unwrap();
    let (code, verdict) = check(&config, &qr, at).await;
    assert_eq!(
        (code, verdict["reason"].as_str()),
        (1, Some("revoked")),
        "{verdict}"
    );
    assert_eq!(verdict["status"]["source"], "cached_list");
    assert!(verdict["status"]["age_seconds"].is_u64(), "{verdict}");
}
