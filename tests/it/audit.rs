//! Accountability: every answered relying-party lookup is one record in the hash-chained
//! lookup log, with client, role, declared purpose and time, before the answer; the
//! records survive a SIGKILL of the real `edld`; `edld audit verify` checks both chains
//! and names the first record that was tampered with; `edld audit query` answers "who
//! checked my licence, and when", offline and through the admin listener.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use daemon::testing::AuditRecord;
use rand_core::{OsRng, RngCore};
use tests::client::Client;
use tests::{Options, RealDaemon, TestDaemon, edld_binary, issue_credential, licence_numbers};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn lookup_records(data: &Path) -> Vec<AuditRecord> {
    daemon::testing::lookup_records(data)
        .unwrap()
        .iter()
        .map(|r| daemon::testing::decode_record(r).unwrap())
        .collect()
}

/// One request over a new plain connection, with extra header lines: (status, body).
async fn raw_get(addr: SocketAddr, path: &str, headers: &str) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: edl\r\n{headers}Connection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tcp.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answered_lookup_is_one_record_with_who_and_why() {
    let options = Options {
        tls: false,
        ..Options::default()
    };
    let d = TestDaemon::start_with(options, tempfile::tempdir().unwrap(), None)
        .await
        .unwrap();
    let mut c = d.client().await.unwrap();
    let number = licence_numbers(1, 110_101).remove(0);
    let credential = issue_credential(&mut c, d.key("registry"), d.key("gateway"), &number)
        .await
        .unwrap();
    let id = credential["id"].as_str().unwrap();
    let path = format!("/v1/credentials/{id}/status");

    // Officers may say why; insurers, rental firms and employers must.
    let mut expected = Vec::new();
    for i in 0..5 {
        let reply = c.get(&path, Some(d.key("officer"))).await.unwrap();
        assert_eq!(reply.status, 200);
        expected.push(("dev-officer".to_owned(), None));
        let purpose = format!("hire contract {i}");
        let reply = c
            .get(
                &format!("{path}?purpose=hire%20contract%20{i}"),
                Some(d.key("rental")),
            )
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        expected.push(("dev-rental".to_owned(), Some(purpose)));
    }
    let header = format!(
        "Authorization: Bearer {}\r\nX-Edl-Purpose: motor policy 77\r\n",
        d.key("insurer")
    );
    assert_eq!(raw_get(d.addr, &path, &header).await.0, 200);
    expected.push(("dev-insurer".to_owned(), Some("motor policy 77".to_owned())));

    // Refused lookups leave no record: no purpose, an empty one, a control character.
    let (status, body) = raw_get(
        d.addr,
        &path,
        &format!("Authorization: Bearer {}\r\n", d.key("employer")),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("X-Edl-Purpose"), "{body}");
    let reply = c
        .get(&format!("{path}?purpose="), Some(d.key("insurer")))
        .await
        .unwrap();
    assert_eq!(reply.status, 400);
    let reply = c
        .get(&format!("{path}?purpose=a%0Ab"), Some(d.key("insurer")))
        .await
        .unwrap();
    assert_eq!(reply.status, 400);
    // Staff lookups are not relying-party lookups.
    assert_eq!(
        c.get(&path, Some(d.key("registry"))).await.unwrap().status,
        200
    );

    // N answered, N records, in order, each with who, role, why, when and what.
    let records = lookup_records(&d.data_dir());
    let found: Vec<(String, Option<String>)> = records
        .iter()
        .map(|r| (r.client.clone(), r.purpose.clone()))
        .collect();
    assert_eq!(found, expected);
    for r in &records {
        assert_eq!(r.action, "status.lookup");
        assert_eq!(r.licence.as_deref(), Some(number.as_str()));
        assert_eq!(r.detail.as_deref(), Some(id));
        assert_eq!(r.at, tests::START);
        assert_eq!(r.role, r.client.trim_start_matches("dev-"));
    }

    // The holder's question, through the admin listener.
    let mut admin = d.admin_client().await.unwrap();
    let reply = admin
        .get(
            &format!("/admin/v1/audit?licence={number}"),
            Some(d.key("operator")),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let report = reply.json().unwrap();
    assert_eq!(report["lookups"].as_array().unwrap().len(), expected.len());
    assert_eq!(report["lookups"][1]["purpose"], "hire contract 0");
    let actions: Vec<&str> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["licence.create"]);
    let reply = admin
        .get("/admin/v1/audit/verify", Some(d.key("operator")))
        .await
        .unwrap();
    let report = reply.json().unwrap();
    assert_eq!(report["lookups"]["records"], expected.len());
    assert!(report["lookups"]["broken"].is_null(), "{report}");
    assert!(report["changes"]["broken"].is_null(), "{report}");
    assert!(report["changes"]["records"].as_u64().unwrap() >= 1);
    // Operators only.
    let reply = admin
        .get("/admin/v1/audit/verify", Some(d.key("officer")))
        .await
        .unwrap();
    assert_eq!(reply.status, 403);
    d.stop().await.unwrap();
}

/// A purpose that could make `edld audit query` print misleading text is refused with 400
/// and leaves no record: control characters (a trailing CR or LF included), bidi controls,
/// bytes that are not UTF-8 and U+FFFD in the query, a header that is not visible ASCII,
/// two headers. Spaces around a purpose are trimmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misleading_purposes_are_refused_and_leave_no_record() {
    let options = Options {
        tls: false,
        ..Options::default()
    };
    let d = TestDaemon::start_with(options, tempfile::tempdir().unwrap(), None)
        .await
        .unwrap();
    let mut c = d.client().await.unwrap();
    let number = licence_numbers(1, 110_102).remove(0);
    let credential = issue_credential(&mut c, d.key("registry"), d.key("gateway"), &number)
        .await
        .unwrap();
    let path = format!(
        "/v1/credentials/{}/status",
        credential["id"].as_str().unwrap()
    );
    let insurer = format!("Authorization: Bearer {}\r\n", d.key("insurer"));
    for query in [
        "claim%0D",
        "claim%0D%0A",
        "claim%0A",
        "%09claim",
        "claim%00",
        "claim%1B%5B2J",
        "claim%C2%85",
        "%E2%80%AEmialc",
        "%E2%80%AAclaim",
        "%E2%81%A6claim%E2%81%A9",
        "claim%E2%80%8F",
        "claim%E2%80%8E",
        "claim%D8%9C",
        "claim%E2%80%A8x",
        "claim%FF",
        "claim%C3%28",
        "%ED%A0%80",
        "claim%EF%BF%BD",
        "%20%20%20",
    ] {
        let (status, body) = raw_get(d.addr, &format!("{path}?purpose={query}"), &insurer).await;
        assert_eq!(status, 400, "?purpose={query}: {body}");
        assert!(body.contains("purpose"), "?purpose={query}: {body}");
    }
    for header in [
        "X-Edl-Purpose: claim\tseven\r\n",
        "X-Edl-Purpose: \u{202E}mialc\r\n",
        "X-Edl-Purpose: claim \u{FFFD}\r\n",
        "X-Edl-Purpose: one\r\nX-Edl-Purpose: two\r\n",
    ] {
        let (status, body) = raw_get(d.addr, &path, &format!("{insurer}{header}")).await;
        assert_eq!(status, 400, "{header:?}: {body}");
    }
    // A header wins over the query, so a bad header is refused even beside a good query.
    let (status, _) = raw_get(
        d.addr,
        &format!("{path}?purpose=claim"),
        &format!("{insurer}X-Edl-Purpose: claim\tseven\r\n"),
    )
    .await;
    assert_eq!(status, 400);
    // The query is checked even where the header wins.
    let (status, _) = raw_get(
        d.addr,
        &format!("{path}?purpose=claim%0D"),
        &format!("{insurer}X-Edl-Purpose: claim seven\r\n"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(lookup_records(&d.data_dir()).is_empty());

    // Spaces are trimmed; other scripts, right-to-left ones included, are kept.
    let (status, body) = raw_get(
        d.addr,
        &format!("{path}?purpose=%20%20claim%207%20"),
        &insurer,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = raw_get(
        d.addr,
        &format!("{path}?purpose=%D8%AA%D8%A3%D9%85%D9%8A%D9%86%207"),
        &insurer,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let purposes: Vec<Option<String>> = lookup_records(&d.data_dir())
        .into_iter()
        .map(|r| r.purpose)
        .collect();
    assert_eq!(
        purposes,
        [Some("claim 7".to_owned()), Some("تأمين 7".to_owned())]
    );
    d.stop().await.unwrap();
}

/// Runs `edld audit …` on `data`, with `admin` as the admin address (where nothing needs
/// to answer).
fn audit_cli(edld: &Path, data: &Path, admin: SocketAddr, args: &[&str]) -> Output {
    Command::new(edld)
        .arg("audit")
        .args(args)
        .arg("--data")
        .arg(data)
        .arg("--admin-listen")
        .arg(admin.to_string())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Looks up `path` until stopped or refused, each lookup with its own purpose; records
/// the purposes of the answered ones.
async fn look_up_until_stopped(
    addr: SocketAddr,
    key: String,
    path: String,
    next: Arc<AtomicUsize>,
    answered: Arc<Mutex<HashSet<String>>>,
    stop: Arc<AtomicBool>,
) {
    let Ok(mut c) = Client::connect(addr, None).await else {
        return;
    };
    while !stop.load(Ordering::SeqCst) {
        let purpose = format!("check-{}", next.fetch_add(1, Ordering::SeqCst));
        match c
            .get(&format!("{path}?purpose={purpose}"), Some(&key))
            .await
        {
            Ok(reply) if reply.status == 200 => {
                answered.lock().unwrap().insert(purpose);
            }
            Ok(reply) => panic!("unexpected {}: {:?}", reply.status, reply.body),
            // Killed mid-request: this lookup was never answered.
            Err(_) => return,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_lookups_survive_sigkill_and_tampering_is_found() {
    let edld = edld_binary().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let running = RealDaemon::on_loopback(&edld, &data, &[]).unwrap();
    let keys: HashMap<String, String> =
        daemon::testing::read_dev_clients(&data.join("dev-clients.txt"))
            .unwrap()
            .into_iter()
            .collect();
    let mut c = running.client().await.unwrap();
    let number = licence_numbers(1, 320_102).remove(0);
    let credential = issue_credential(&mut c, &keys["registry"], &keys["gateway"], &number)
        .await
        .unwrap();
    let path = format!(
        "/v1/credentials/{}/status",
        credential["id"].as_str().unwrap()
    );

    // Four relying parties look up concurrently; SIGKILL at a random moment.
    let answered = Arc::new(Mutex::new(HashSet::new()));
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = ["insurer", "rental", "employer", "officer"]
        .into_iter()
        .map(|role| {
            tokio::spawn(look_up_until_stopped(
                running.public,
                keys[role].clone(),
                path.clone(),
                next.clone(),
                answered.clone(),
                stop.clone(),
            ))
        })
        .collect();
    let at_least = tests::poll(Duration::from_secs(30), || {
        let answered = answered.clone();
        async move { Ok((answered.lock().unwrap().len() >= 20).then_some(())) }
    });
    at_least.await.unwrap();
    // 0 to 200 ms more of load before the kill.
    tokio::time::sleep(Duration::from_millis(u64::from(OsRng.next_u32() % 200))).await;
    let admin = running.admin;
    running.kill().unwrap();
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    let answered = answered.lock().unwrap().clone();

    // Every answered lookup is recorded, once; only lookups in flight at the kill may
    // also be (written, never answered).
    let records = lookup_records(&data);
    let purposes: Vec<String> = records.iter().filter_map(|r| r.purpose.clone()).collect();
    let unique: HashSet<&String> = purposes.iter().collect();
    assert_eq!(unique.len(), purposes.len(), "a lookup recorded twice");
    for p in &answered {
        assert!(unique.contains(p), "answered lookup {p} is not in the log");
    }
    assert!(
        records.len() <= answered.len() + 4,
        "{} records for {} answered lookups",
        records.len(),
        answered.len()
    );

    // Offline: both chains check; the holder's question is answered.
    let out = audit_cli(&edld, &data, admin, &["verify"]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains(&format!("lookups: ok, {} records", records.len())),
        "{}",
        text(&out.stdout)
    );

    // Restarted, more lookups chain on; verify and query go through the admin listener.
    let running = RealDaemon::on_loopback(&edld, &data, &[]).unwrap();
    let mut c = running.client().await.unwrap();
    for i in 0..3 {
        let reply = c
            .get(&format!("{path}?purpose=after-{i}"), Some(&keys["insurer"]))
            .await
            .unwrap();
        assert_eq!(reply.status, 200);
    }
    let total = records.len() + 3;
    let out = Command::new(&edld)
        .args(["audit", "verify", "--json", "--key", &keys["operator"]])
        .arg("--admin-listen")
        .arg(running.admin.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["lookups"]["records"], total, "{report}");
    let out = Command::new(&edld)
        .args(["audit", "query", "--licence", number.as_str(), "--key"])
        .arg(&keys["operator"])
        .arg("--admin-listen")
        .arg(running.admin.to_string())
        .output()
        .unwrap();
    let listing = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        listing.contains(&format!("licence {number}: checked {total} times")),
        "{listing}"
    );
    assert!(
        listing.contains("dev-insurer") && listing.contains("after-2"),
        "{listing}"
    );
    assert!(running.stop().unwrap().success());

    // Tampering: one byte of one lookup record.
    let stored = daemon::testing::lookup_records(&data).unwrap();
    let victim = OsRng.next_u32() as usize % stored.len();
    let original = stored[victim].clone();
    let forged = text(&original).replacen("\"at\":1", "\"at\":2", 1);
    daemon::testing::tamper_lookup_record(&data, victim as u64 + 1, forged.as_bytes()).unwrap();
    let out = audit_cli(&edld, &data, admin, &["verify"]);
    assert_eq!(out.status.code(), Some(65), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("lookups: BROKEN at record {}:", victim + 1)),
        "{}",
        text(&out.stdout)
    );
    // The holder's answer leaves the altered record out, and says so.
    let out = audit_cli(
        &edld,
        &data,
        admin,
        &["query", "--licence", number.as_str()],
    );
    let listing = text(&out.stdout);
    assert!(
        listing.contains(&format!("checked {} times", total - 1)),
        "{listing}"
    );
    assert!(
        listing.contains("warning: 1 record left out: damaged or altered"),
        "{listing}"
    );
    daemon::testing::tamper_lookup_record(&data, victim as u64 + 1, &original).unwrap();

    // Tampering with a change record in the store: the licence's creation, by another
    // client.
    {
        let (position, bytes) = daemon::testing::change_records(&data)
            .await
            .unwrap()
            .into_iter()
            .find(|(_, b)| text(b).contains("licence.create"))
            .unwrap();
        let forged = text(&bytes).replacen("dev-registry", "dev-registrx", 1);
        daemon::testing::tamper_change_record(&data, position, forged.as_bytes())
            .await
            .unwrap();
        let out = audit_cli(&edld, &data, admin, &["verify", "--json"]);
        assert_eq!(out.status.code(), Some(65), "{}", text(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["changes"]["broken"]["record"], position, "{report}");
        assert!(report["lookups"]["broken"].is_null(), "{report}");
    }
}
