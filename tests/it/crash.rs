//! Crash safety of the real `edld` binary: licences imported with `edld registry import`,
//! then N rounds of concurrent applications with a SIGKILL at a random moment. After each
//! restart every application that got a 202 is still queued or issued, every credential
//! seen before is unchanged and verifies, and no licence has two credentials.
//!
//! N is 3 by default; `RUN_SLOW_TESTS=1` makes it 20 (any other number: that many).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::Method;
use keys::licence::LicenceNumber;
use rand_core::{OsRng, RngCore};
use serde_json::json;
use tests::client::Client;
use tests::{RealDaemon, edld_binary, licence_json, licence_numbers};

const CLIENTS: usize = 8;

pub(crate) fn rounds() -> usize {
    match std::env::var("RUN_SLOW_TESTS") {
        Ok(v) => v.parse().ok().filter(|n| *n > 1).unwrap_or(20),
        Err(_) => 3,
    }
}

fn gateway_key(data: &Path) -> String {
    tests::dev_key(data, "gateway")
}

/// What the test knows: ticket → (licence, credential id once seen issued).
pub(crate) type Accepted = Arc<Mutex<HashMap<String, (String, Option<String>)>>>;

pub(crate) async fn apply_until_stopped(
    addr: SocketAddr,
    key: String,
    licences: Arc<Vec<LicenceNumber>>,
    next: Arc<AtomicUsize>,
    accepted: Accepted,
    stop: Arc<AtomicBool>,
) {
    let Ok(mut c) = Client::connect(addr, None).await else {
        return;
    };
    let mut number = None;
    while !stop.load(Ordering::SeqCst) {
        // A refused application is sent again, as a well-behaved client does.
        let Some(n) = number
            .take()
            .or_else(|| licences.get(next.fetch_add(1, Ordering::SeqCst)))
        else {
            return;
        };
        let body = json!({"licence_number": n.as_str(), "photo_source": "on_file"});
        match c
            .json(Method::POST, "/v1/applications", Some(&key), &body)
            .await
        {
            Ok(reply) if reply.status == 202 => {
                let ticket = reply.json().unwrap()["ticket"].as_str().unwrap().to_owned();
                accepted
                    .lock()
                    .unwrap()
                    .insert(ticket, (n.to_string(), None));
            }
            // The default throttles hold a fast client back: wait as told (briefly, so
            // the rounds stay short) and send it again.
            Ok(reply) if [429, 503].contains(&reply.status.as_u16()) => {
                let seconds = reply.json().unwrap()["retry_after"].as_u64().unwrap_or(1);
                tokio::time::sleep(Duration::from_millis(100 * seconds.clamp(1, 10))).await;
                number = Some(n);
            }
            Ok(reply) => panic!("unexpected {}: {:?}", reply.status, reply.body),
            // The daemon was killed mid-request: this application was never acknowledged.
            Err(_) => return,
        }
    }
}

async fn check_all(
    addr: SocketAddr,
    data: &Path,
    accepted: &Accepted,
    require_issued: bool,
) -> usize {
    let key = gateway_key(data);
    let registry_key = daemon::testing::read_dev_clients(&data.join("dev-clients.txt"))
        .unwrap()
        .into_iter()
        .find(|(r, _)| r == "registry")
        .unwrap()
        .1;
    let mut c = Client::connect(addr, None).await.unwrap();
    let root = daemon::testing::read_public(&data.join("keys/root.pub.pem")).unwrap();
    let trust = c.get("/v1/trust-list", None).await.unwrap();
    let trust = keys::trust_list::verify(&trust.body, &[root], None).unwrap();
    let tickets: Vec<(String, (String, Option<String>))> = accepted
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut issued = 0;
    for (ticket, (licence, seen)) in tickets {
        let body = c
            .get(&format!("/v1/applications/{ticket}"), Some(&key))
            .await
            .unwrap()
            .json()
            .unwrap();
        match body["state"].as_str() {
            Some("queued") => {
                assert!(!require_issued, "{ticket} still queued");
                assert!(
                    seen.is_none(),
                    "{ticket} was issued before the crash, now queued"
                );
            }
            Some("issued") => {
                let credential = &body["credential"];
                let id = credential["id"].as_str().unwrap().to_owned();
                if let Some(seen) = &seen {
                    assert_eq!(seen, &id, "{ticket} got a second credential");
                }
                let verified = tests::verify_credential_now(credential, &trust).unwrap();
                assert_eq!(verified.claims.licence_number.as_str(), licence);
                accepted
                    .lock()
                    .unwrap()
                    .insert(ticket.clone(), (licence.clone(), Some(id)));
                issued += 1;
            }
            other => panic!("acknowledged application {ticket} is {other:?}: {body}"),
        }
        let record = c
            .get(&format!("/v1/licences/{licence}"), Some(&registry_key))
            .await
            .unwrap()
            .json()
            .unwrap();
        assert!(
            record["credentials"].as_array().unwrap().len() <= 1,
            "licence {licence} has two credentials: {record}"
        );
    }
    issued
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing_and_issues_nothing_twice() {
    sigkill_rounds(&[], rounds(), 2_000).await;
}

/// `rounds` SIGKILLs of edld (started with `store_args`) under concurrent applications
/// for `per_round` licences each, then a restart that must issue every acknowledged
/// application exactly once.
pub(crate) async fn sigkill_rounds(store_args: &[&str], rounds: usize, per_round: usize) {
    let edld = edld_binary().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let extra: Vec<&std::ffi::OsStr> = store_args.iter().map(std::ffi::OsStr::new).collect();
    let licences = Arc::new(licence_numbers(per_round * rounds, 440_304));

    // Import through the CLI, with one bad line that must be reported and skipped.
    let file = dir.path().join("licences.jsonl");
    let mut text = String::new();
    for (i, n) in licences.iter().enumerate() {
        text.push_str(&licence_json(n, &format!("Holder {i}"), &["C1"]).to_string());
        text.push('\n');
        if i == 3 {
            text.push_str(r#"{"number":"440304199001010012","name":"Bad","classes":["C1"],"valid_from":"2020-01-01","authority":"X"}"#);
            text.push('\n');
        }
    }
    std::fs::write(&file, text).unwrap();
    let import = Command::new(&edld)
        .args(["registry", "import"])
        .arg(&file)
        .arg("--data")
        .arg(&data)
        .args(store_args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&import.stderr);
    assert_eq!(import.status.code(), Some(65), "{stderr}");
    assert!(
        stderr.contains("licences.jsonl:5: number: licence number check character"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&import.stdout).contains(&format!("imported {}", licences.len()))
    );

    let accepted: Accepted = Arc::new(Mutex::new(HashMap::new()));
    let next = Arc::new(AtomicUsize::new(0));
    for round in 0..rounds {
        let running = RealDaemon::on_loopback_with(&edld, &data, &extra, &[]).unwrap();
        if round > 0 {
            check_all(running.public, &data, &accepted, false).await;
        }
        let key = gateway_key(&data);
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                tokio::spawn(apply_until_stopped(
                    running.public,
                    key.clone(),
                    licences.clone(),
                    next.clone(),
                    accepted.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        // A random moment: 50 to 550 ms into the load.
        let delay = 50 + u64::from(OsRng.next_u32() % 500);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        running.kill().unwrap();
        stop.store(true, Ordering::SeqCst);
        for c in clients {
            c.await.unwrap();
        }
    }

    // Final restart: everything acknowledged is eventually issued, exactly once.
    let running = RealDaemon::on_loopback_with(&edld, &data, &extra, &[]).unwrap();
    let total = accepted.lock().unwrap().len();
    assert!(total > 0, "no application was acknowledged");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let issued = check_all(running.public, &data, &accepted, false).await;
        if issued == total {
            break;
        }
        assert!(Instant::now() < deadline, "only {issued} of {total} issued");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check_all(running.public, &data, &accepted, true).await;
    eprintln!("crash test: {rounds} SIGKILLs, {total} applications acknowledged, all issued once");
    // A graceful stop exits 0.
    assert!(running.stop().unwrap().success());
}
