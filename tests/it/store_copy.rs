//! Moving a province from one box to a cluster, with the real binaries: a sled data
//! directory with imported licences and credentials issued by the real `edld` (some then
//! suspended or revoked), copied into a throwaway PostgreSQL by `edld store copy`, which
//! is SIGKILLed after its first batch and run again to resume. An `edld` on the copy then
//! answers every credential's live status as the sled daemon did, serves a trust list
//! that verifies and status lists whose entries match, and its audit chain verifies.
//!
//! Counts: 3 000 licences and 300 credentials by default; `RUN_SLOW_TESTS` (any value)
//! runs 100 000 licences and 10 000 credentials (about 7 minutes of a debug build on 2
//! cores, the copy itself 35 s of it). Timings are printed.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use daemon::testing::postgres::TestPostgres;
use hyper::Method;
use keys::licence::LicenceNumber;
use keys::token::VerifyPolicy;
use serde_json::json;
use tests::client::Client;
use tests::{RealDaemon, dev_key, edld_binary, licence_json, licence_numbers};

fn counts() -> (usize, usize) {
    match std::env::var("RUN_SLOW_TESTS") {
        Ok(_) => (100_000, 10_000),
        Err(_) => (3_000, 300),
    }
}

fn now() -> VerifyPolicy {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    VerifyPolicy::at(keys::UnixTime(now))
}

/// Applies for each licence (8 clients at once, resending what the throttles hold back)
/// and returns the tickets.
async fn apply_all(daemon: &RealDaemon, key: &str, licences: &[LicenceNumber]) -> Vec<String> {
    let chunks: Vec<Vec<LicenceNumber>> = licences
        .chunks(licences.len().div_ceil(8))
        .map(<[LicenceNumber]>::to_vec)
        .collect();
    let tasks: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let (addr, key) = (daemon.public, key.to_owned());
            tokio::spawn(async move {
                let mut c = Client::connect(addr, None).await.unwrap();
                let mut tickets = Vec::new();
                for n in chunk {
                    let body = json!({"licence_number": n.as_str(), "photo_source": "on_file"});
                    loop {
                        let reply = c
                            .json(Method::POST, "/v1/applications", Some(&key), &body)
                            .await
                            .unwrap();
                        match reply.status.as_u16() {
                            202 => {
                                tickets.push(
                                    reply.json().unwrap()["ticket"].as_str().unwrap().to_owned(),
                                );
                                break;
                            }
                            429 | 503 => tokio::time::sleep(Duration::from_millis(20)).await,
                            other => panic!("apply: {other} {:?}", reply.body),
                        }
                    }
                }
                tickets
            })
        })
        .collect();
    let mut tickets = Vec::new();
    for t in tasks {
        tickets.extend(t.await.unwrap());
    }
    tickets
}

/// What a daemon answers about each credential: its live status (HTTP status and
/// `status`) and its entry in its status list.
async fn answers(
    daemon: &RealDaemon,
    root: &Path,
    officer: &str,
    credentials: &[(String, String, u64)],
) -> (
    Vec<(u16, serde_json::Value)>,
    Vec<u8>,
    keys::trust_list::TrustList,
) {
    let mut c = daemon.client().await.unwrap();
    let root = daemon::testing::read_public(root).unwrap();
    let trust = c.get("/v1/trust-list", None).await.unwrap();
    let trust = keys::trust_list::verify(&trust.body, &[root], None).unwrap();
    let mut live = Vec::with_capacity(credentials.len());
    let mut lists: HashMap<String, keys::status_list::StatusList> = HashMap::new();
    let mut entries = Vec::with_capacity(credentials.len());
    for (id, uri, index) in credentials {
        let reply = c
            .get(
                &format!("/v1/credentials/{id}/status?purpose=copy%20check"),
                Some(officer),
            )
            .await
            .unwrap();
        let status = reply
            .json()
            .map(|v| v["status"].clone())
            .unwrap_or_default();
        live.push((reply.status.as_u16(), status));
        if !lists.contains_key(uri) {
            let path = &uri[uri.find("/v1/status-lists/").unwrap()..];
            let reply = c.get(path, None).await.unwrap();
            let list = keys::status_list::verify(&reply.body, &trust.keyring(), &now(), Some(uri))
                .unwrap();
            lists.insert(uri.clone(), list.claims.list);
        }
        entries.push(lists[uri].get(*index).unwrap());
    }
    (live, entries, trust)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_box_copied_into_postgres_answers_every_status_as_before() {
    let (licence_count, credential_count) = counts();
    let edld = edld_binary().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let licences = licence_numbers(licence_count, 330_106);

    // The box: licences imported, credentials issued by the real edld on sled.
    let started = Instant::now();
    let file = dir.path().join("licences.jsonl");
    let mut text = String::new();
    for (i, n) in licences.iter().enumerate() {
        text.push_str(&licence_json(n, &format!("Holder {i}"), &["C1"]).to_string());
        text.push('\n');
    }
    std::fs::write(&file, text).unwrap();
    let import = Command::new(&edld)
        .args(["registry", "import"])
        .arg(&file)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let imported = started.elapsed();
    let root_file = data.join("keys/root.pub.pem");

    let sled = RealDaemon::on_loopback(&edld, &data, &[]).unwrap();
    let operator = dev_key(&data, "operator");
    let mut admin = Client::connect(sled.admin, None).await.unwrap();
    let reply = admin
        .json(
            Method::PATCH,
            "/admin/v1/throttle",
            Some(&operator),
            &json!({"drain.rate": 50000, "drain.burst": 5000, "client.mode": "off",
                    "intake.mode": "off", "licence.mode": "off", "queue.mode": "off"}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let started = Instant::now();
    let gateway = dev_key(&data, "gateway");
    let tickets = apply_all(&sled, &gateway, &licences[..credential_count]).await;
    let mut c = sled.client().await.unwrap();
    let trust = c.get("/v1/trust-list", None).await.unwrap();
    let root = daemon::testing::read_public(&data.join("keys/root.pub.pem")).unwrap();
    let trust = keys::trust_list::verify(&trust.body, &[root], None).unwrap();
    let mut credentials = Vec::with_capacity(tickets.len());
    for ticket in &tickets {
        let body = tests::wait_issued(&mut c, &gateway, ticket).await.unwrap();
        let token = URL_SAFE_NO_PAD
            .decode(body["credential"]["token"].as_str().unwrap())
            .unwrap();
        let claims = keys::token::verify(&token, &trust.keyring(), &now())
            .unwrap()
            .claims;
        credentials.push((
            body["credential"]["id"].as_str().unwrap().to_owned(),
            claims.status.uri.clone(),
            claims.status.index,
            claims.licence_number.clone(),
        ));
    }
    let issued = started.elapsed();
    // Some licences suspended or revoked since.
    let registry = dev_key(&data, "registry");
    for (n, (_, _, _, licence)) in credentials.iter().enumerate() {
        let action = match n % 10 {
            3 => "suspend",
            7 => "revoke",
            _ => continue,
        };
        let reply = c
            .json(
                Method::POST,
                &format!("/v1/licences/{licence}/state"),
                Some(&registry),
                &json!({"action": action}),
            )
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    let credentials: Vec<(String, String, u64)> = credentials
        .into_iter()
        .map(|(id, uri, index, _)| (id, uri, index))
        .collect();
    let officer = dev_key(&data, "officer");
    // Status lists are re-signed shortly after a change: wait for the last one to show.
    let last = credentials.len() - 3;
    tests::poll(Duration::from_secs(30), || async {
        let (_, entries, _) =
            answers(&sled, &root_file, &officer, &credentials[last..last + 1]).await;
        Ok((entries[0] == 1).then_some(()))
    })
    .await
    .unwrap();
    let (before, before_entries, _) = answers(&sled, &root_file, &officer, &credentials).await;
    assert!(
        before.iter().all(|(status, _)| *status == 200),
        "{before:?}"
    );
    let statuses: std::collections::HashSet<String> =
        before.iter().map(|(_, s)| s.to_string()).collect();
    assert!(
        statuses.len() >= 3,
        "valid, suspended and revoked: {statuses:?}"
    );
    // The copy needs a still source: with edld running on it, it is refused (75).
    let server = TestPostgres::shared().unwrap();
    let url = server.database().unwrap();
    let refused = Command::new(&edld)
        .args(["store", "copy", "--from"])
        .arg(&data)
        .args(["--to", &url])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(75), "{refused:?}");
    // The node on the copy serves on the same address, as the credentials' status list
    // URIs name it.
    let public = sled.public.to_string();
    assert_eq!(sled.stop().unwrap().code(), Some(0));

    // The copy, killed after its first batch, then resumed.
    let batch = if licence_count > 10_000 {
        "5000"
    } else {
        "500"
    };
    let started = Instant::now();
    let mut first = Command::new(&edld)
        .args(["store", "copy", "--batch", batch, "--from"])
        .arg(&data)
        .args(["--to", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(first.stderr.take().unwrap());
    let mut seen = Vec::new();
    for line in stderr.lines().map_while(Result::ok) {
        let progress = line.starts_with("copied ");
        seen.push(line);
        if progress {
            first.kill().unwrap();
            break;
        }
    }
    let killed = first.wait_with_output().unwrap();
    assert_eq!(killed.status.code(), None, "killed: {seen:?}");
    assert!(
        killed.stdout.is_empty(),
        "it finished before the kill: {seen:?}"
    );
    let done = server
        .psql(
            url.rsplit('/').next().unwrap(),
            "SELECT done, total, finished FROM copy_progress",
        )
        .unwrap();
    let resumed = Command::new(&edld)
        .args(["store", "copy", "--batch", batch, "--from"])
        .arg(&data)
        .args(["--to", &url])
        .output()
        .unwrap();
    let copied = started.elapsed();
    let out = String::from_utf8_lossy(&resumed.stdout);
    let err = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{out}{err}");
    assert!(err.contains("resuming the copy"), "{err}");
    assert!(out.contains("resumed after"), "{out}");
    eprintln!(
        "store copy: {licence_count} licences, {credential_count} credentials; import {:.1} s, \
         issuance {:.1} s, copy with one SIGKILL {:.1} s (at the kill: {}); {}",
        imported.as_secs_f64(),
        issued.as_secs_f64(),
        copied.as_secs_f64(),
        done.trim(),
        out.trim()
    );

    // The cluster's first node, on the copy, with the box's keys.
    let args = [
        "--listen".as_ref(),
        public.as_ref(),
        "--admin-listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
        "--store".as_ref(),
        url.as_ref(),
    ];
    let pg = RealDaemon::start(&edld, &args, &[]).unwrap();
    let (after, after_entries, trust) = answers(&pg, &root_file, &officer, &credentials).await;
    assert_eq!(after, before);
    assert_eq!(after_entries, before_entries);
    assert!(trust.sequence >= 1);
    assert_eq!(pg.stop().unwrap().code(), Some(0));
    let verified = Command::new(&edld)
        .args(["audit", "verify", "--data"])
        .arg(&data)
        .args(["--store", &url])
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(
        String::from_utf8_lossy(&verified.stdout).contains("changes: ok"),
        "{verified:?}"
    );
}
