//! Secrets never reach the logs: the real `edld` runs at `RUST_LOG=trace` through a whole
//! flow (registry, application, issue, live status, revocation, status list, shutdown), and
//! its log is searched for every private key (seed in hex, base64 and the PEM body), every
//! bearer API key, the issued token and QR text, and the holder's data (licence number,
//! name, credential id, ticket). Every request leaves one `request` event with its route
//! pattern, status, client and request id.

use std::ffi::OsStr;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hyper::Method;
use serde_json::json;
use tests::{RealDaemon, edld_binary, licence_json, licence_numbers, wait_issued};

/// Every spelling of a private key file's secret that could leak into a log.
fn spellings_of_key(pem_path: &Path) -> Vec<String> {
    let pem = std::fs::read_to_string(pem_path).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(&body).unwrap();
    let seed = &der[der.len() - 32..];
    vec![
        body,
        hex::encode(seed),
        hex::encode_upper(seed),
        STANDARD.encode(seed),
        URL_SAFE_NO_PAD.encode(seed),
        format!("{seed:?}"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_token_or_api_key_in_trace_logs() {
    let edld = edld_binary().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let running =
        RealDaemon::on_loopback(&edld, &data, &[("RUST_LOG", OsStr::new("trace"))]).unwrap();
    let clients = daemon::testing::read_dev_clients(&data.join("dev-clients.txt")).unwrap();
    let key = |role: &str| clients.iter().find(|(r, _)| r == role).unwrap().1.clone();
    let mut c = running.client().await.unwrap();

    let number = licence_numbers(1, 310_115).remove(0);
    let reply = c
        .json(
            Method::PUT,
            &format!("/v1/licences/{number}"),
            Some(&key("registry")),
            &licence_json(&number, "赵六", &["B1"]),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 201);
    let apply = json!({"licence_number": number.as_str(), "photo_source": "on_file"});
    let reply = c
        .json(
            Method::POST,
            "/v1/applications",
            Some(&key("gateway")),
            &apply,
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 202);
    let ticket = reply.json().unwrap()["ticket"].as_str().unwrap().to_owned();
    let credential =
        wait_issued(&mut c, &key("gateway"), &ticket).await.unwrap()["credential"].clone();
    let id = credential["id"].as_str().unwrap();
    for role in ["officer", "insurer", "rental", "employer"] {
        let reply = c
            .get(
                &format!("/v1/credentials/{id}/status?purpose=claim%20check"),
                Some(&key(role)),
            )
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{role}");
    }
    let reply = c
        .json(
            Method::POST,
            &format!("/v1/licences/{number}/state"),
            Some(&key("registry")),
            &json!({"action": "revoke"}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    for path in [
        "/v1/status-lists/0",
        "/v1/trust-list",
        "/.well-known/jwks.json",
    ] {
        assert_eq!(c.get(path, None).await.unwrap().status, 200, "{path}");
    }
    // A wrong key is refused (and must not be logged either).
    let wrong = "edl_officer_this-is-not-a-real-key-but-still-a-secret";
    assert_eq!(
        c.get(&format!("/v1/credentials/{id}/status"), Some(wrong))
            .await
            .unwrap()
            .status,
        401
    );

    let (status, log) = running.stop_with_log().unwrap();
    assert!(status.success());
    // The log covers the whole run, start to drain.
    for event in ["edld ready", "licence.revoke", "stopped"] {
        assert!(log.contains(event), "the log lacks {event:?}: {log}");
    }
    // One request event per request, by route pattern, with who asked and the outcome.
    let requests: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "request" && v["message"] == "request")
        .map(|v| v["span"].clone())
        .collect();
    let lookups: Vec<&serde_json::Value> = requests
        .iter()
        .filter(|r| r["route"] == "/v1/credentials/{id}/status")
        .collect();
    assert_eq!(lookups.len(), 5, "{requests:?}");
    for role in ["officer", "insurer", "rental", "employer"] {
        assert!(
            lookups.iter().any(|r| r["client"] == format!("dev-{role}")
                && r["role"] == role
                && r["status"] == 200),
            "no {role} lookup in {lookups:?}"
        );
    }
    assert!(
        lookups
            .iter()
            .any(|r| r["status"] == 401 && r["client"].is_null())
    );
    for r in &requests {
        for field in ["method", "route", "request_id", "status", "latency_us"] {
            assert!(!r[field].is_null(), "{field} missing in {r}");
        }
    }
    let mut secrets: Vec<(String, String)> = Vec::new();
    for name in ["root", "credential", "status"] {
        for spelling in spellings_of_key(&data.join(format!("keys/{name}.pem"))) {
            secrets.push((format!("{name} key"), spelling));
        }
    }
    for (role, api_key) in &clients {
        secrets.push((format!("{role} API key"), api_key.clone()));
    }
    secrets.push(("rejected API key".into(), wrong.into()));
    secrets.push((
        "token".into(),
        credential["token"].as_str().unwrap().to_owned(),
    ));
    secrets.push((
        "QR text".into(),
        credential["qr_text"].as_str().unwrap().to_owned(),
    ));
    secrets.push(("licence number".into(), number.to_string()));
    secrets.push(("holder's name".into(), "赵六".into()));
    secrets.push(("credential id".into(), id.to_owned()));
    secrets.push(("ticket".into(), ticket.clone()));
    for (what, secret) in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "the {what} appears in the log"
        );
    }
}
