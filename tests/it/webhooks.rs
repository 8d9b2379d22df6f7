//! Notifications end to end, with the real `edld` binary and a receiver in Python that
//! checks every signature with Standard Webhooks' reference library
//! (`tests/webhooks/receiver.py`):
//!
//! - a flaky receiver over TLS (every third delivery refused, every seventh stalled past
//!   the timeout), with the state on sled and on PostgreSQL: every event arrives, each licence's events in order, duplicates only
//!   where a stall made the sender retry; a reviewer's rejection carries its reason, a
//!   class change the re-issue ticket; a subscription limited to one client sees only
//!   that client's events;
//! - SIGKILLs at random moments while deliveries are pending: no event lost, none for a
//!   change that did not happen;
//! - a subscriber down for the whole run: dead-lettered after the horizon while the other
//!   is served, then delivered by `edld webhooks replay` once it is back.
//!
//! The number of SIGKILLs is 3 by default; `RUN_SLOW_TESTS=1` makes it 20.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::crash::{Accepted, apply_until_stopped};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use daemon::testing::postgres::TestPostgres;
use hyper::Method;
use keys::licence::LicenceNumber;
use rand_core::{OsRng, RngCore};
use serde_json::{Value, json};
use tests::client::Client;
use tests::{PORTRAIT, RealDaemon, dev_key, edld_binary, licence_json, licence_numbers};

/// The receiver script.
fn receiver_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("webhooks/receiver.py")
}

/// A running receiver: its port and the log of what it received.
struct Receiver {
    child: Child,
    port: u16,
    log: PathBuf,
}

/// How a receiver behaves.
#[derive(Clone, Default)]
struct Behaviour {
    port: u16,
    tls: Option<(PathBuf, PathBuf)>,
    fail_every: u32,
    stall_every: u32,
    stall: f64,
}

impl Receiver {
    fn start(dir: &Path, name: &str, secret: &Path, b: &Behaviour) -> Receiver {
        let log = dir.join(format!("{name}.jsonl"));
        let mut command = Command::new("python3");
        command
            .arg(receiver_script())
            .args(["--port", &b.port.to_string()])
            .arg("--secret-file")
            .arg(secret)
            .arg("--log")
            .arg(&log)
            .args(["--fail-every", &b.fail_every.to_string()])
            .args(["--stall-every", &b.stall_every.to_string()])
            .args(["--stall", &b.stall.to_string()])
            .stdout(Stdio::piped());
        if let Some((cert, key)) = &b.tls {
            command.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        let mut child = command
            .spawn()
            .expect("python3 and tests/webhooks/receiver.py");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the receiver's port");
        Receiver { child, port, log }
    }

    /// Every request received so far, in order of arrival.
    fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The events acknowledged (2xx without a stall, so the sender saw the answer), first
    /// arrival of each webhook id: id → event.
    fn acknowledged(&self) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for r in self.records() {
            assert_eq!(r["verified"], true, "a signature did not verify: {r}");
            if r["status"] == 204 && r["stalled"] == false {
                out.entry(r["id"].as_str().unwrap().to_owned())
                    .or_insert(r["event"].clone());
            }
        }
        out
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TLS certificate and key for `localhost`, written into `dir`.
fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

/// Writes an edld configuration on loopback with `[webhooks]` as given, and TLS on the
/// public listener when `tls` is given.
fn config(dir: &Path, webhooks: &str, tls: Option<&(PathBuf, PathBuf)>) -> PathBuf {
    let mut text = format!(
        "listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\nissuer = \"EDL-TEST\"\ndev_keys = true\ndev_clients = true\n",
        dir.join("data").display()
    );
    if let Some((cert, key)) = tls {
        text.push_str(&format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            cert.display(),
            key.display()
        ));
    }
    text.push_str("[throttle.client]\nmode = \"off\"\n[throttle.licence]\nmode = \"off\"\n");
    text.push_str("[webhooks]\n");
    text.push_str(webhooks);
    let path = dir.join("edld.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `edld webhooks …` against the daemon; its standard output, or a failure with
/// both outputs.
fn webhooks_cli(edld: &Path, daemon: &RealDaemon, data: &Path, args: &[&str]) -> String {
    let output = Command::new(edld)
        .arg("webhooks")
        .args(args)
        .arg("--admin-listen")
        .arg(daemon.admin.to_string())
        .arg("--data")
        .arg(data)
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(
        output.status.success(),
        "edld webhooks {args:?}: {out}{err}"
    );
    out
}

/// Subscribes a receiver; returns the subscription id.
fn subscribe(
    edld: &Path,
    daemon: &RealDaemon,
    data: &Path,
    url: &str,
    client: Option<&str>,
    secret: &Path,
) -> String {
    let mut args = vec!["add", "--url", url, "--events", "*", "--secret-file"];
    let secret = secret.to_str().unwrap();
    args.push(secret);
    if let Some(client) = client {
        args.extend(["--client", client]);
    }
    webhooks_cli(edld, daemon, data, &args).trim().to_owned()
}

/// Polls until `check` holds, or fails with `what` after `timeout`.
async fn wait_for(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    wait_until(timeout, what, || {
        if check() { Ok(()) } else { Err(String::new()) }
    })
    .await;
}

/// Polls until `check` is `Ok`, or fails with `what` and the last `Err` after `timeout`.
async fn wait_until(timeout: Duration, what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + timeout;
    loop {
        match check() {
            Ok(()) => return,
            Err(state) => assert!(
                Instant::now() < deadline,
                "not within {timeout:?}: {what}\n{state}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The outbox sequence of a webhook id (`evt_` and 16 hex digits).
fn sequence(id: &str) -> u64 {
    u64::from_str_radix(id.trim_start_matches("evt_"), 16).unwrap()
}

/// Per licence, every attempt at a later event arrived after an earlier event of the same
/// licence was acknowledged.
fn assert_licence_order(receiver: &Receiver) {
    let records = receiver.records();
    // The arrival index of each id's first acknowledgement.
    let mut acknowledged_at: HashMap<String, usize> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        if r["status"] == 204 && r["stalled"] == false {
            acknowledged_at
                .entry(r["id"].as_str().unwrap().to_owned())
                .or_insert(i);
        }
    }
    let mut by_licence: HashMap<String, Vec<(u64, String)>> = HashMap::new();
    for r in &records {
        let id = r["id"].as_str().unwrap().to_owned();
        let licence = r["event"]["data"]["licence"].as_str().unwrap().to_owned();
        by_licence
            .entry(licence)
            .or_default()
            .push((sequence(&id), id));
    }
    for (i, r) in records.iter().enumerate() {
        let id = r["id"].as_str().unwrap();
        let licence = r["event"]["data"]["licence"].as_str().unwrap();
        for (earlier, earlier_id) in &by_licence[licence] {
            if *earlier < sequence(id) {
                let acked = acknowledged_at.get(earlier_id).copied();
                assert!(
                    acked.is_some_and(|a| a < i),
                    "{id} of licence {licence} was sent before {earlier_id} was acknowledged"
                );
            }
        }
    }
}

/// Puts licences in the registry through the API.
async fn register(c: &mut Client, key: &str, numbers: &[LicenceNumber], classes: &[&str]) {
    for (i, n) in numbers.iter().enumerate() {
        let reply = c
            .json(
                Method::PUT,
                &format!("/v1/licences/{n}"),
                Some(key),
                &licence_json(n, &format!("Holder {i}"), classes),
            )
            .await
            .unwrap();
        assert!(
            [200, 201].contains(&reply.status.as_u16()),
            "{:?}",
            reply.body
        );
    }
}

async fn apply(c: &mut Client, key: &str, body: &Value) -> String {
    let reply = c
        .json(Method::POST, "/v1/applications", Some(key), body)
        .await
        .unwrap();
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    reply.json().unwrap()["ticket"].as_str().unwrap().to_owned()
}

async fn issued(c: &mut Client, key: &str, ticket: &str) -> String {
    tests::wait_issued(c, key, ticket).await.unwrap()["credential"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_a_flaky_receiver_over_tls_signed_and_in_order() {
    flaky_receiver_over_tls(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_a_flaky_receiver_from_postgresql() {
    let server = TestPostgres::shared().expect("PostgreSQL for the tests");
    let url = server.database().unwrap();
    flaky_receiver_over_tls(&["--store", &url, "--migrate"]).await;
}

/// The flaky receiver's run on edld started with `store_args` besides its configuration.
async fn flaky_receiver_over_tls(store_args: &[&str]) {
    let edld = edld_binary().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server_tls = certificate(dir.path(), "edld");
    let receiver_tls = certificate(dir.path(), "receiver");
    let webhooks = format!(
        "timeout_secs = 1\nretry_base_secs = 1\nretry_cap_secs = 2\nhorizon_secs = 600\nextra_roots = [\"{}\"]\n",
        receiver_tls.0.display()
    );
    let config = config(dir.path(), &webhooks, Some(&server_tls));
    let mut args = vec![std::ffi::OsStr::new("--config"), config.as_os_str()];
    args.extend(store_args.iter().map(std::ffi::OsStr::new));
    let daemon = RealDaemon::start(&edld, &args, &[]).unwrap();
    let tls = tests::client::tls_config(&std::fs::read(&server_tls.0).unwrap()).unwrap();
    let mut c = Client::connect(daemon.public, Some((tls, "localhost")))
        .await
        .unwrap();
    let (gateway, window, reviewer, registry) = (
        dev_key(&data, "gateway"),
        dev_key(&data, "window"),
        dev_key(&data, "reviewer"),
        dev_key(&data, "registry"),
    );

    // The app back end hears of its own applicants; an office of its own.
    let secret = dir.path().join("app.secret");
    let flaky = Receiver::start(
        dir.path(),
        "app",
        &{
            // `edld webhooks add` writes a new secret when the file is missing; the
            // receiver needs it first, so make it here the same way.
            let s = format!(
                "whsec_{}",
                STANDARD.encode(OsRng.next_u64().to_be_bytes().repeat(4))
            );
            std::fs::write(&secret, s).unwrap();
            secret.clone()
        },
        &Behaviour {
            tls: Some(receiver_tls.clone()),
            fail_every: 3,
            stall_every: 7,
            stall: 2.5,
            ..Behaviour::default()
        },
    );
    let office_secret = dir.path().join("office.secret");
    std::fs::write(
        &office_secret,
        format!("whsec_{}", STANDARD.encode([7u8; 32])),
    )
    .unwrap();
    let office = Receiver::start(dir.path(), "office", &office_secret, &Behaviour::default());
    let app_id = subscribe(
        &edld,
        &daemon,
        &data,
        &format!("https://localhost:{}/edl", flaky.port),
        Some("dev-gateway"),
        &secret,
    );
    subscribe(
        &edld,
        &daemon,
        &data,
        &format!("http://127.0.0.1:{}/edl", office.port),
        Some("dev-window"),
        &office_secret,
    );
    // edld refuses to notify itself, and plain HTTP beyond loopback.
    for url in [
        format!("http://{}/x", daemon.admin),
        "http://192.0.2.1/x".to_owned(),
    ] {
        let out = Command::new(&edld)
            .args([
                "webhooks",
                "add",
                "--url",
                &url,
                "--events",
                "*",
                "--secret-file",
            ])
            .arg(&secret)
            .arg("--admin-listen")
            .arg(daemon.admin.to_string())
            .arg("--data")
            .arg(&data)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{url} accepted");
    }

    let numbers = licence_numbers(16, 110_105);
    register(&mut c, &registry, &numbers, &["C1"]).await;
    let mut expected: Vec<(String, String)> = Vec::new(); // (type, licence) for the app

    // Ten issued from photos on file; two of them change class (superseded, re-issued);
    // one suspended, then reinstated; one revoked.
    let mut tickets = Vec::new();
    for n in &numbers[..10] {
        let body = json!({"licence_number": n.as_str(), "photo_source": "on_file"});
        tickets.push(apply(&mut c, &gateway, &body).await);
    }
    for (n, t) in numbers[..10].iter().zip(&tickets) {
        issued(&mut c, &gateway, t).await;
        expected.push(("application.issued".into(), n.to_string()));
    }
    let mut reissues = HashMap::new();
    for n in &numbers[..2] {
        let reply = c
            .json(
                Method::PUT,
                &format!("/v1/licences/{n}"),
                Some(&registry),
                &licence_json(n, "Holder", &["C1", "A2"]),
            )
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let reissue = reply.json().unwrap()["reissue_ticket"]
            .as_str()
            .expect("a class change queues a re-issue")
            .to_owned();
        issued(&mut c, &gateway, &reissue).await;
        reissues.insert(n.to_string(), reissue);
        expected.push(("credential.superseded".into(), n.to_string()));
        expected.push(("application.issued".into(), n.to_string()));
    }
    for (n, action) in [
        (&numbers[2], "suspend"),
        (&numbers[2], "reinstate"),
        (&numbers[3], "revoke"),
    ] {
        let reply = c
            .json(
                Method::POST,
                &format!("/v1/licences/{n}/state"),
                Some(&registry),
                &json!({ "action": action }),
            )
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{action}: {:?}", reply.body);
        let kind = match action {
            "suspend" => "credential.suspended",
            "reinstate" => "credential.reinstated",
            _ => "credential.revoked",
        };
        expected.push((kind.into(), n.to_string()));
    }
    // Two uploads: the reviewer rejects one with a reason and approves the other.
    let upload = |n: &LicenceNumber| json!({"licence_number": n.as_str(), "photo_source": "camera", "photo": STANDARD.encode(&*PORTRAIT)});
    let rejected = apply(&mut c, &gateway, &upload(&numbers[10])).await;
    let approved = apply(&mut c, &gateway, &upload(&numbers[11])).await;
    let reply = c
        .json(
            Method::POST,
            &format!("/v1/applications/{rejected}/reject"),
            Some(&reviewer),
            &json!({"reason": "face not visible"}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let reply = c
        .send(
            Method::POST,
            &format!("/v1/applications/{approved}/approve"),
            Some(&reviewer),
            None,
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    issued(&mut c, &gateway, &approved).await;
    expected.push(("application.rejected".into(), numbers[10].to_string()));
    expected.push(("application.issued".into(), numbers[11].to_string()));
    // The office's own applicants.
    for n in &numbers[12..14] {
        let body = json!({"licence_number": n.as_str(), "photo_source": "on_file"});
        let t = apply(&mut c, &window, &body).await;
        issued(&mut c, &window, &t).await;
    }

    let want: HashMap<(String, String), usize> =
        expected.iter().fold(HashMap::new(), |mut m, k| {
            *m.entry(k.clone()).or_default() += 1;
            m
        });
    let got = |r: &Receiver| -> HashMap<(String, String), usize> {
        r.acknowledged().values().fold(HashMap::new(), |mut m, e| {
            let key = (
                e["type"].as_str().unwrap().to_owned(),
                e["data"]["licence"].as_str().unwrap().to_owned(),
            );
            *m.entry(key).or_default() += 1;
            m
        })
    };
    wait_until(Duration::from_secs(90), "every event at the app's receiver", || {
        let got = got(&flaky);
        if got == want {
            return Ok(());
        }
        let missing: Vec<_> = want.iter().filter(|(k, n)| got.get(*k) != Some(n)).collect();
        let extra: Vec<_> = got.iter().filter(|(k, _)| !want.contains_key(*k)).collect();
        let log = daemon.log();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        Err(format!(
            "missing or miscounted {missing:?}\nunexpected {extra:?}\n{} requests received\nlog tail (newest first):\n{}",
            flaky.records().len(),
            tail.join("\n")
        ))
    })
    .await;
    wait_for(Duration::from_secs(30), "the office's events", || {
        office.acknowledged().len() == 2
    })
    .await;

    let events = flaky.acknowledged();
    let find = |kind: &str, licence: &LicenceNumber| -> Vec<Value> {
        events
            .values()
            .filter(|e| e["type"] == kind && e["data"]["licence"] == licence.as_str())
            .cloned()
            .collect()
    };
    let rejection = &find("application.rejected", &numbers[10])[0];
    assert_eq!(rejection["data"]["reason"], "face not visible");
    assert_eq!(rejection["data"]["ticket"], rejected.as_str());
    assert_eq!(rejection["data"]["client"], "dev-gateway");
    for n in &numbers[..2] {
        let superseded = &find("credential.superseded", n)[0];
        assert_eq!(
            superseded["data"]["reissue_ticket"],
            reissues[n.as_str()].as_str(),
            "{superseded}"
        );
    }
    for e in office.acknowledged().values() {
        assert_eq!(e["data"]["client"], "dev-window", "{e}");
        assert_eq!(e["type"], "application.issued");
    }
    assert_licence_order(&flaky);

    // At least once: a duplicate only where a stalled answer made the sender retry.
    let records = flaky.records();
    let delivered: Vec<&Value> = records.iter().filter(|r| r["status"] == 204).collect();
    let distinct: HashSet<&str> = delivered
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let stalls = records.iter().filter(|r| r["stalled"] == true).count();
    let failures = records.iter().filter(|r| r["status"] == 500).count();
    let duplicates = delivered.len() - distinct.len();
    eprintln!(
        "flaky receiver: {} events, {} requests, {failures} refused, {stalls} stalled, {duplicates} duplicates",
        distinct.len(),
        records.len()
    );
    assert!(
        failures > 0 && stalls > 0,
        "the receiver misbehaved as asked"
    );
    assert!(
        duplicates <= stalls,
        "{duplicates} duplicates from {stalls} stalls"
    );

    // The operator sees it: the subscription's figures and the metrics.
    let list = webhooks_cli(&edld, &daemon, &data, &["list"]);
    assert!(list.contains(&app_id), "{list}");
    let mut admin = Client::connect(daemon.admin, None).await.unwrap();
    let metrics =
        String::from_utf8(admin.get("/metrics", None).await.unwrap().body.to_vec()).unwrap();
    for name in [
        "edld_webhook_events_written_total",
        "edld_webhook_attempts_total",
        "edld_webhook_delivery_seconds_bucket",
        "edld_webhook_oldest_undelivered_seconds",
    ] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with(name) && l.contains(&app_id)),
            "{name} for {app_id} missing"
        );
    }
    assert!(metrics.contains("outcome=\"retried\""));
    daemon.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_deliveries_pending_loses_no_event_and_invents_none() {
    let rounds = crate::crash::rounds();
    let edld = edld_binary().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = config(
        dir.path(),
        "timeout_secs = 1\nretry_base_secs = 1\nretry_cap_secs = 1\nhorizon_secs = 600\n",
        None,
    );
    let args = [std::ffi::OsStr::new("--config"), config.as_os_str()];
    let secret = dir.path().join("hook.secret");
    std::fs::write(&secret, format!("whsec_{}", STANDARD.encode([42u8; 32]))).unwrap();
    // A receiver that refuses every third delivery keeps deliveries pending at each kill.
    let receiver = Receiver::start(
        dir.path(),
        "app",
        &secret,
        &Behaviour {
            fail_every: 3,
            ..Behaviour::default()
        },
    );
    let licences = Arc::new(licence_numbers(400 * rounds, 440_305));
    let first = RealDaemon::start(&edld, &args, &[]).unwrap();
    let mut c = first.client().await.unwrap();
    register(&mut c, &dev_key(&data, "registry"), &licences, &["C1"]).await;
    subscribe(
        &edld,
        &first,
        &data,
        &format!("http://127.0.0.1:{}/edl", receiver.port),
        None,
        &secret,
    );
    drop(first.kill());

    let accepted: Accepted = Arc::default();
    let next = Arc::new(AtomicUsize::new(0));
    let key = dev_key(&data, "gateway");
    for _ in 0..rounds {
        let running = RealDaemon::start(&edld, &args, &[]).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..4)
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
        let delay = 200 + u64::from(OsRng.next_u32() % 800);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        running.kill().unwrap();
        stop.store(true, Ordering::SeqCst);
        for c in clients {
            c.await.unwrap();
        }
    }

    let running = RealDaemon::start(&edld, &args, &[]).unwrap();
    let total = accepted.lock().unwrap().len();
    assert!(total > 0, "no application was acknowledged");
    let mut c = running.client().await.unwrap();
    let mut credentials: HashMap<String, String> = HashMap::new();
    let tickets: Vec<String> = accepted.lock().unwrap().keys().cloned().collect();
    for t in &tickets {
        credentials.insert(t.clone(), issued(&mut c, &key, t).await);
    }
    let issued_events = |r: &Receiver| -> HashMap<String, String> {
        r.acknowledged()
            .values()
            .filter(|e| e["type"] == "application.issued")
            .map(|e| {
                (
                    e["data"]["ticket"].as_str().unwrap().to_owned(),
                    e["data"]["credential"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    wait_until(
        Duration::from_secs(120),
        "an event for every acknowledged application",
        || {
            let events = issued_events(&receiver);
            let missing = tickets
                .iter()
                .filter(|t| events.get(*t) != Some(&credentials[*t]))
                .count();
            if missing == 0 {
                return Ok(());
            }
            let log = running.log();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            Err(format!(
                "{missing} of {} missing; {} requests received\nlog tail (newest first):\n{}",
                tickets.len(),
                receiver.records().len(),
                tail.join("\n")
            ))
        },
    )
    .await;
    // None invented: every event names an application that exists, issued with that
    // credential (one whose 202 was lost in the kill may be among them).
    let events = issued_events(&receiver);
    // A fresh connection: the last one may have idled past the header timeout.
    let mut c = running.client().await.unwrap();
    for (ticket, credential) in &events {
        let body = c
            .get(&format!("/v1/applications/{ticket}"), Some(&key))
            .await
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(body["state"], "issued", "{ticket}: {body}");
        assert_eq!(body["credential"]["id"], credential.as_str(), "{ticket}");
    }
    let records = receiver.records();
    let delivered = records.iter().filter(|r| r["status"] == 204).count();
    eprintln!(
        "webhook crash test: {rounds} SIGKILLs, {total} applications acknowledged, {} issued events received ({} deliveries, {} refused)",
        events.len(),
        delivered,
        records.iter().filter(|r| r["status"] == 500).count()
    );
    assert_licence_order(&receiver);
    running.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_subscriber_is_dead_lettered_then_replayed_and_never_slows_the_others() {
    let edld = edld_binary().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = config(
        dir.path(),
        "timeout_secs = 1\nretry_base_secs = 1\nretry_cap_secs = 1\nhorizon_secs = 4\n",
        None,
    );
    let daemon = RealDaemon::start(
        &edld,
        &[std::ffi::OsStr::new("--config"), config.as_os_str()],
        &[],
    )
    .unwrap();
    let secret = dir.path().join("hook.secret");
    std::fs::write(&secret, format!("whsec_{}", STANDARD.encode([9u8; 32]))).unwrap();
    let healthy = Receiver::start(dir.path(), "healthy", &secret, &Behaviour::default());
    // A port nothing listens on until the replay.
    let down_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    subscribe(
        &edld,
        &daemon,
        &data,
        &format!("http://127.0.0.1:{}/edl", healthy.port),
        None,
        &secret,
    );
    let down = subscribe(
        &edld,
        &daemon,
        &data,
        &format!("http://127.0.0.1:{down_port}/edl"),
        None,
        &secret,
    );
    let numbers = licence_numbers(20, 440_306);
    let mut c = daemon.client().await.unwrap();
    register(&mut c, &dev_key(&data, "registry"), &numbers, &["C1"]).await;
    let gateway = dev_key(&data, "gateway");
    for n in &numbers {
        let body = json!({"licence_number": n.as_str(), "photo_source": "on_file"});
        let t = apply(&mut c, &gateway, &body).await;
        issued(&mut c, &gateway, &t).await;
    }
    wait_for(
        Duration::from_secs(30),
        "the healthy subscriber served",
        || healthy.acknowledged().len() == numbers.len(),
    )
    .await;
    // Its latency: from the event's time (whole seconds) to arrival.
    let mut latency: Vec<f64> = healthy
        .records()
        .iter()
        .map(|r| {
            let at = time::OffsetDateTime::parse(
                r["event"]["timestamp"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
            .unix_timestamp() as f64;
            r["received"].as_f64().unwrap() - at
        })
        .collect();
    latency.sort_by(f64::total_cmp);
    eprintln!(
        "healthy subscriber beside a dead one: {} events, latency from the event's second: median {:.3} s, max {:.3} s",
        latency.len(),
        latency[latency.len() / 2],
        latency[latency.len() - 1]
    );
    assert!(latency[latency.len() - 1] < 5.0, "{latency:?}");

    wait_for(
        Duration::from_secs(30),
        "dead letters after the horizon",
        || {
            let out = webhooks_cli(
                &edld,
                &daemon,
                &data,
                &["dead", "--subscription", &down, "--limit", "1000"],
            );
            out.lines().skip(1).count() == numbers.len()
        },
    )
    .await;
    let list = webhooks_cli(&edld, &daemon, &data, &["list"]);
    let row = list
        .lines()
        .find(|l| l.starts_with(&down))
        .unwrap()
        .to_owned();
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&columns[1..4], ["20", "0", "20"], "{list}");

    let back = Receiver::start(
        dir.path(),
        "back",
        &secret,
        &Behaviour {
            port: down_port,
            ..Behaviour::default()
        },
    );
    let out = webhooks_cli(
        &edld,
        &daemon,
        &data,
        &["replay", "--since", "1h", "--subscription", &down],
    );
    assert!(out.contains("replaying 20 dead letters"), "{out}");
    wait_for(Duration::from_secs(30), "the replayed events", || {
        back.acknowledged().len() == numbers.len()
    })
    .await;
    assert_eq!(
        healthy.records().len(),
        numbers.len(),
        "the healthy one got nothing twice"
    );
    let out = webhooks_cli(&edld, &daemon, &data, &["dead", "--subscription", &down]);
    assert_eq!(out.lines().count(), 1, "{out}");
    // The replay is on the audit trail.
    let mut admin = Client::connect(daemon.admin, None).await.unwrap();
    let changes = admin
        .get("/admin/v1/history", Some(&dev_key(&data, "operator")))
        .await
        .unwrap()
        .json()
        .unwrap();
    let actions: Vec<&str> = changes["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["action"].as_str())
        .collect();
    assert!(actions.contains(&"webhook.replay"), "{actions:?}");
    assert!(actions.contains(&"webhook.add"), "{actions:?}");
    daemon.stop().unwrap();
}
