//! Two real `edld` nodes on one PostgreSQL database. Clients spread applications and
//! relying-party lookups over both nodes while one node, chosen at random, is SIGKILLed
//! at a random moment and restarted, N times. Afterwards: every acknowledged application
//! is issued exactly once, no licence has two credentials, every credential verifies
//! against the trust list of either node, and every answered lookup is in the lookup
//! audit of the node that answered it.
//!
//! A registry clerk changes other licences (penalty points, revocations) on both nodes
//! meanwhile: every change acknowledged is in the registry afterwards.
//!
//! N is 4 by default; `RUN_SLOW_TESTS=1` makes it 20 (any other number above 1: that
//! many), as for the single-node crash test.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use daemon::testing::postgres::TestPostgres;
use hyper::Method;
use keys::licence::LicenceNumber;
use rand_core::{OsRng, RngCore};
use serde_json::json;
use tests::client::Client;
use tests::{RealDaemon, edld_binary, licence_json, licence_numbers};

/// Applicants and lookup clients running at once.
const APPLICANTS: usize = 6;
const LOOKERS: usize = 2;

fn kills() -> usize {
    match std::env::var("RUN_SLOW_TESTS") {
        Ok(v) => v.parse().ok().filter(|n| *n > 1).unwrap_or(20),
        Err(_) => 4,
    }
}

/// One node: its data directory (keys, API keys, lookup audit), configuration file and,
/// while it runs, the process.
pub(crate) struct Node {
    pub(crate) data: PathBuf,
    config: PathBuf,
    pub(crate) running: Option<RealDaemon>,
}

/// Two nodes on one database, the addresses the clients use (updated on each restart).
pub(crate) struct Cluster {
    edld: PathBuf,
    pub(crate) nodes: Vec<Node>,
    pub(crate) addrs: Arc<Mutex<Vec<SocketAddr>>>,
    pub(crate) keys: HashMap<String, String>,
}

impl Cluster {
    /// Imports `licences` into the database at `url` (migrating it), then starts node
    /// `edld-a` and, with a copy of its keys and API keys, node `edld-b`.
    pub(crate) fn start(dir: &Path, url: &str, licences: &[LicenceNumber]) -> Cluster {
        let edld = edld_binary().unwrap();
        let file = dir.join("licences.jsonl");
        let mut text = String::new();
        for (i, n) in licences.iter().enumerate() {
            text.push_str(&licence_json(n, &format!("Holder {i}"), &["C1"]).to_string());
            text.push('\n');
        }
        std::fs::write(&file, text).unwrap();
        let first = dir.join("edld-a");
        let import = Command::new(&edld)
            .args(["registry", "import"])
            .arg(&file)
            .arg("--data")
            .arg(&first)
            .args(["--store", url, "--migrate"])
            .output()
            .unwrap();
        assert!(
            import.status.success(),
            "{}",
            String::from_utf8_lossy(&import.stderr)
        );
        let mut nodes = Vec::new();
        for name in ["edld-a", "edld-b"] {
            let data = dir.join(name);
            let config = dir.join(format!("{name}.toml"));
            std::fs::write(
                &config,
                format!(
                    "{}\n[store]\nengine = \"postgres\"\nurl = \"{url}\"\nnode = \"{name}\"\n",
                    daemon::config::DEFAULT_TOML
                ),
            )
            .unwrap();
            nodes.push(Node {
                data,
                config,
                running: None,
            });
        }
        let mut cluster = Cluster {
            edld,
            nodes,
            addrs: Arc::new(Mutex::new(Vec::new())),
            keys: HashMap::new(),
        };
        cluster.restart(0);
        // The second node signs with the same development keys and knows the same API
        // keys (the clients themselves are in the database).
        let (a, b) = (cluster.nodes[0].data.clone(), cluster.nodes[1].data.clone());
        std::fs::create_dir_all(b.join("keys")).unwrap();
        for entry in std::fs::read_dir(a.join("keys")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), b.join("keys").join(entry.file_name())).unwrap();
        }
        std::fs::copy(a.join("dev-clients.txt"), b.join("dev-clients.txt")).unwrap();
        cluster.restart(1);
        cluster.keys = daemon::testing::read_dev_clients(&a.join("dev-clients.txt"))
            .unwrap()
            .into_iter()
            .collect();
        cluster
    }

    /// Starts node `i` (again), on new loopback ports the clients learn.
    pub(crate) fn restart(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let config = node.config.as_os_str();
        let running = RealDaemon::on_loopback_with(
            &self.edld,
            &node.data,
            &[std::ffi::OsStr::new("--config"), config],
            &[],
        )
        .unwrap();
        let mut addrs = self.addrs.lock().unwrap();
        if addrs.len() <= i {
            addrs.resize(i + 1, running.public);
        }
        addrs[i] = running.public;
        node.running = Some(running);
    }

    /// SIGKILLs node `i`.
    pub(crate) fn kill(&mut self, i: usize) {
        if let Some(running) = self.nodes[i].running.take() {
            running.kill().unwrap();
        }
    }

    pub(crate) fn key(&self, role: &str) -> String {
        self.keys[role].clone()
    }
}

/// What the clients saw: acknowledged applications (ticket → licence) and when each was
/// acknowledged, answered lookups (node → credential ids, one per answer), acknowledged
/// registry changes (licence → change), the refusals, 429 and 503 apart, and the licences
/// whose application the store failed with 503 (licence → how often).
#[derive(Default)]
pub(crate) struct Seen {
    pub(crate) accepted: Mutex<HashMap<String, String>>,
    pub(crate) acknowledged_at: Mutex<Vec<Instant>>,
    pub(crate) lookups: Mutex<HashMap<usize, Vec<String>>>,
    pub(crate) changes: Mutex<HashMap<String, Change>>,
    pub(crate) throttled: AtomicUsize,
    pub(crate) unavailable: AtomicUsize,
    pub(crate) unavailable_applications: Mutex<HashMap<String, usize>>,
}

/// A registry change the clerk makes to one licence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Points(u8),
    Revoke,
}

impl Seen {
    /// Counts a refusal, which must say when to come back.
    fn refused(&self, reply: &tests::client::Reply, what: &str) {
        assert!(
            reply.header("retry-after").is_some(),
            "{what}: {} without Retry-After",
            reply.status
        );
        match reply.status.as_u16() {
            429 => &self.throttled,
            _ => &self.unavailable,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// The refusals so far: (429s, 503s).
    pub(crate) fn refusals(&self) -> (usize, usize) {
        (
            self.throttled.load(Ordering::Relaxed),
            self.unavailable.load(Ordering::Relaxed),
        )
    }

    /// The first application acknowledged at or after `since`, how long after it.
    pub(crate) fn first_acknowledged_after(&self, since: Instant) -> Option<Duration> {
        let at = self.acknowledged_at.lock().unwrap();
        at.iter()
            .filter(|t| **t >= since)
            .min()
            .map(|t| t.duration_since(since))
    }
}

/// The clients of a run: they stop when `stop` is set.
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Applicants apply for `licences`; the clerk changes `registry` (other licences).
    pub(crate) fn start(
        cluster: &Cluster,
        licences: Arc<Vec<LicenceNumber>>,
        registry: Vec<LicenceNumber>,
        seen: Arc<Seen>,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..APPLICANTS {
            tasks.push(tokio::spawn(apply(
                i,
                cluster.addrs.clone(),
                cluster.key("gateway"),
                licences.clone(),
                next.clone(),
                seen.clone(),
                stop.clone(),
            )));
        }
        for i in 0..LOOKERS {
            tasks.push(tokio::spawn(look_up(
                i,
                cluster.addrs.clone(),
                cluster.key("gateway"),
                cluster.key("officer"),
                seen.clone(),
                stop.clone(),
            )));
        }
        tasks.push(tokio::spawn(change_registry(
            cluster.addrs.clone(),
            cluster.key("registry"),
            registry,
            seen.clone(),
            stop.clone(),
        )));
        Load { stop, tasks }
    }

    pub(crate) async fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.await.unwrap();
        }
    }
}

/// A connection to node `i`, or none while it is down.
async fn connect(addrs: &Mutex<Vec<SocketAddr>>, i: usize) -> Option<Client> {
    let addr = addrs.lock().unwrap()[i];
    Client::connect(addr, None).await.ok()
}

/// Applies for licences, request by request on alternating nodes. A refused application
/// (429, 503) is sent again (and answered 200 with the open application if the refused
/// attempt did commit); one whose connection broke was never acknowledged and is
/// dropped (it may still be admitted: it must then be issued once, like any other).
async fn apply(
    first: usize,
    addrs: Arc<Mutex<Vec<SocketAddr>>>,
    key: String,
    licences: Arc<Vec<LicenceNumber>>,
    next: Arc<AtomicUsize>,
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
) {
    let mut clients: [Option<Client>; 2] = [None, None];
    let mut turn = first;
    let mut number = None;
    while !stop.load(Ordering::SeqCst) {
        turn += 1;
        let node = turn % 2;
        let Some(n) = number
            .take()
            .or_else(|| licences.get(next.fetch_add(1, Ordering::SeqCst)))
        else {
            return;
        };
        if clients[node].is_none() {
            clients[node] = connect(&addrs, node).await;
        }
        let Some(c) = clients[node].as_mut() else {
            number = Some(n);
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let body = json!({"licence_number": n.as_str(), "photo_source": "on_file"});
        match c
            .json(Method::POST, "/v1/applications", Some(&key), &body)
            .await
        {
            // 200: the open application of an earlier attempt, which committed although
            // its answer was lost (a commit in flight when the primary died, kept by the
            // synchronous standby): the same ticket, to be issued once like any other.
            Ok(reply) if [200, 202].contains(&reply.status.as_u16()) => {
                let ticket = reply.json().unwrap()["ticket"].as_str().unwrap().to_owned();
                seen.accepted.lock().unwrap().insert(ticket, n.to_string());
                seen.acknowledged_at.lock().unwrap().push(Instant::now());
            }
            Ok(reply) if [429, 503].contains(&reply.status.as_u16()) => {
                seen.refused(&reply, "application");
                // Admission's refusals name their limit and commit nothing; a 503
                // without a reason is the store's, whose commit may yet have happened.
                if reply.status == 503 && reply.json().unwrap()["reason"].is_null() {
                    *seen
                        .unavailable_applications
                        .lock()
                        .unwrap()
                        .entry(n.to_string())
                        .or_default() += 1;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                number = Some(n);
            }
            Ok(reply) => panic!("unexpected {}: {:?}", reply.status, reply.body),
            Err(_) => clients[node] = None,
        }
    }
}

/// Looks up the status of credentials issued to acknowledged applications, on
/// alternating nodes, as an officer: each answered lookup is noted with its node.
async fn look_up(
    first: usize,
    addrs: Arc<Mutex<Vec<SocketAddr>>>,
    gateway: String,
    officer: String,
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
) {
    let mut clients: [Option<Client>; 2] = [None, None];
    let mut turn = first;
    while !stop.load(Ordering::SeqCst) {
        turn += 1;
        let node = turn % 2;
        let ticket = {
            let accepted = seen.accepted.lock().unwrap();
            let len = accepted.len();
            if len == 0 {
                None
            } else {
                let pick = OsRng.next_u32() as usize % len;
                accepted.keys().nth(pick).cloned()
            }
        };
        let Some(ticket) = ticket else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        if clients[node].is_none() {
            clients[node] = connect(&addrs, node).await;
        }
        let Some(c) = clients[node].as_mut() else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let reply = match c
            .get(&format!("/v1/applications/{ticket}"), Some(&gateway))
            .await
        {
            Ok(reply) => reply,
            Err(_) => {
                clients[node] = None;
                continue;
            }
        };
        if reply.status != 200 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let body = reply.json().unwrap();
        let Some(id) = body["credential"]["id"].as_str() else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        match c
            .get(&format!("/v1/credentials/{id}/status"), Some(&officer))
            .await
        {
            Ok(reply) if reply.status == 200 => {
                seen.lookups
                    .lock()
                    .unwrap()
                    .entry(node)
                    .or_default()
                    .push(id.to_owned());
            }
            Ok(reply) if [429, 503].contains(&reply.status.as_u16()) => {
                seen.refused(&reply, "lookup");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(reply) => panic!("lookup: unexpected {}: {:?}", reply.status, reply.body),
            Err(_) => clients[node] = None,
        }
    }
}

/// A registry clerk: one change per licence of `licences` (penalty points or a
/// revocation, in turn), on alternating nodes, each sent again until it is acknowledged
/// (a revocation answered 409 was made by an attempt whose answer was lost).
async fn change_registry(
    addrs: Arc<Mutex<Vec<SocketAddr>>>,
    key: String,
    licences: Vec<LicenceNumber>,
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
) {
    let mut clients: [Option<Client>; 2] = [None, None];
    let mut turn = 0;
    for (i, n) in licences.iter().enumerate() {
        let change = match i % 2 {
            0 => Change::Points((i % 12 + 1) as u8),
            _ => Change::Revoke,
        };
        let (method, path, body) = match change {
            Change::Points(p) => (
                Method::PUT,
                format!("/v1/licences/{n}/points"),
                json!({"points": p}),
            ),
            Change::Revoke => (
                Method::POST,
                format!("/v1/licences/{n}/state"),
                json!({"action": "revoke"}),
            ),
        };
        loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            turn += 1;
            let node = turn % 2;
            if clients[node].is_none() {
                clients[node] = connect(&addrs, node).await;
            }
            let Some(c) = clients[node].as_mut() else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            match c.json(method.clone(), &path, Some(&key), &body).await {
                Ok(reply) if reply.status == 200 => break,
                Ok(reply) if reply.status == 409 && change == Change::Revoke => break,
                Ok(reply) if [429, 503].contains(&reply.status.as_u16()) => {
                    seen.refused(&reply, "registry change");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(reply) => panic!("{path}: unexpected {}: {:?}", reply.status, reply.body),
                Err(_) => clients[node] = None,
            }
        }
        seen.changes.lock().unwrap().insert(n.to_string(), change);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until every acknowledged application is issued, then checks, through each
/// node: one credential per application and per licence, each verifying against that
/// node's trust list, and every answered lookup in the answering node's audit.
/// Every acknowledged registry change reads back from both nodes.
/// Returns (applications issued, lookups answered).
pub(crate) async fn check(cluster: &Cluster, seen: &Seen) -> (usize, usize) {
    let accepted: Vec<(String, String)> = seen
        .accepted
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert!(!accepted.is_empty(), "no application was acknowledged");
    let unavailable = seen.unavailable_applications.lock().unwrap().clone();
    let (gateway, registry) = (cluster.key("gateway"), cluster.key("registry"));
    let root =
        daemon::testing::read_public(&cluster.nodes[0].data.join("keys/root.pub.pem")).unwrap();
    let addrs = cluster.addrs.lock().unwrap().clone();
    let mut credentials: HashMap<String, String> = HashMap::new();
    for (node, addr) in addrs.iter().enumerate() {
        let mut c = Client::connect(*addr, None).await.unwrap();
        let trust = c.get("/v1/trust-list", None).await.unwrap();
        let trust =
            keys::trust_list::verify(&trust.body, std::slice::from_ref(&root), None).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        for (ticket, licence) in &accepted {
            let body = loop {
                let body = c
                    .get(&format!("/v1/applications/{ticket}"), Some(&gateway))
                    .await
                    .unwrap()
                    .json()
                    .unwrap();
                match body["state"].as_str() {
                    Some("issued") => break body,
                    Some("queued") if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    other => panic!("acknowledged {ticket} is {other:?} on node {node}: {body}"),
                }
            };
            let credential = &body["credential"];
            let id = credential["id"].as_str().unwrap().to_owned();
            // Both nodes name the same one credential for the application.
            if let Some(before) = credentials.insert(ticket.clone(), id.clone()) {
                assert_eq!(before, id, "{ticket}: two credentials");
            }
            let verified = tests::verify_credential_now(credential, &trust).unwrap();
            assert_eq!(verified.claims.licence_number.as_str(), licence);
            if node == 0 {
                let record = c
                    .get(&format!("/v1/licences/{licence}"), Some(&registry))
                    .await
                    .unwrap()
                    .json()
                    .unwrap();
                // One credential, the acknowledged application's. A 503 to an attempt
                // whose commit was in flight when the primary died is ambiguous: that
                // attempt may have been admitted and issued before the retry, which is
                // then a new application whose credential supersedes it. So at most one
                // more credential per such refusal, and only the acknowledged one live.
                let retried = unavailable.get(licence).copied().unwrap_or(0);
                let all = record["credentials"].as_array().unwrap();
                if all.len() > 1 {
                    eprintln!(
                        "licence {licence}: {} credentials after {retried} refusals with 503",
                        all.len()
                    );
                }
                assert!(
                    (1..=1 + retried).contains(&all.len()),
                    "licence {licence}, {retried} refusals with 503: {record}"
                );
                for c in all {
                    assert_eq!(
                        c["superseded"] == true,
                        c["id"] != id,
                        "licence {licence}: only {id} is live: {record}"
                    );
                }
            }
        }
    }

    // Every acknowledged registry change is in the registry, as either node reads it.
    let changes = seen.changes.lock().unwrap().clone();
    for addr in &addrs {
        let mut c = Client::connect(*addr, None).await.unwrap();
        for (licence, change) in &changes {
            let record = c
                .get(&format!("/v1/licences/{licence}"), Some(&registry))
                .await
                .unwrap()
                .json()
                .unwrap();
            match change {
                Change::Points(p) => {
                    assert_eq!(record["licence"]["points"], *p, "{licence}: {record}")
                }
                Change::Revoke => {
                    assert_eq!(record["licence"]["state"], "revoked", "{licence}: {record}")
                }
            }
        }
    }

    // Every answered lookup is a record in the answering node's lookup audit.
    let lookups = seen.lookups.lock().unwrap().clone();
    let mut answered = 0;
    for (node, ids) in lookups {
        let mut audited: HashMap<String, usize> = HashMap::new();
        for r in daemon::testing::lookup_records(&cluster.nodes[node].data).unwrap() {
            let r = daemon::testing::decode_record(&r).unwrap();
            if r.action == "status.lookup"
                && let Some(id) = r.detail
            {
                *audited.entry(id).or_default() += 1;
            }
        }
        let mut wanted: HashMap<String, usize> = HashMap::new();
        for id in ids {
            *wanted.entry(id).or_default() += 1;
            answered += 1;
        }
        for (id, n) in wanted {
            let found = audited.get(&id).copied().unwrap_or(0);
            assert!(
                found >= n,
                "node {node}: {n} lookups of {id} answered, {found} audited"
            );
        }
    }
    (accepted.len(), answered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_one_killed_at_random_lose_nothing_and_issue_nothing_twice() {
    let server = TestPostgres::shared().expect("PostgreSQL for the tests");
    let url = server.database().unwrap();
    let kills = kills();
    let dir = tempfile::tempdir().unwrap();
    let mut licences = licence_numbers(400 * kills + 100 * kills, 350_102);
    let registry = licences.split_off(400 * kills);
    let mut all = licences.clone();
    all.extend(registry.iter().cloned());
    let mut cluster = Cluster::start(dir.path(), &url, &all);
    let licences = Arc::new(licences);
    let seen = Arc::new(Seen::default());
    let load = Load::start(&cluster, licences.clone(), registry, seen.clone());
    let started = Instant::now();
    for _ in 0..kills {
        // A random moment (100 to 700 ms) and a random node.
        let delay = 100 + u64::from(OsRng.next_u32() % 600);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let victim = (OsRng.next_u32() % 2) as usize;
        cluster.kill(victim);
        cluster.restart(victim);
    }
    load.stop().await;
    let (issued, answered) = check(&cluster, &seen).await;
    let (throttled, unavailable) = seen.refusals();
    eprintln!(
        "cluster test: {kills} SIGKILLs in {:.1} s, {issued} applications acknowledged and \
         issued once, {} registry changes acknowledged and kept, {answered} lookups answered \
         and audited, {throttled} refused with 429 and {unavailable} with 503",
        started.elapsed().as_secs_f64(),
        seen.changes.lock().unwrap().len(),
    );
    for node in &mut cluster.nodes {
        if let Some(running) = node.running.take() {
            assert!(running.stop().unwrap().success());
        }
    }
}

/// Node `i`'s view of the primary's replication in /readyz, once `wanted` holds (the
/// nodes read it every second).
async fn replication_seen(
    cluster: &Cluster,
    i: usize,
    wanted: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let addr = cluster.addrs.lock().unwrap()[i];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = Client::connect(addr, None).await.unwrap();
        let ready = c.get("/readyz", None).await.unwrap().json().unwrap();
        let replication = ready["store"]["replication"].clone();
        if wanted(&replication) {
            return replication;
        }
        assert!(Instant::now() < deadline, "node {i}: {ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Node `i`'s metrics.
async fn metrics(cluster: &Cluster, i: usize) -> String {
    let addr = cluster.addrs.lock().unwrap()[i];
    let mut c = Client::connect(addr, None).await.unwrap();
    let reply = c.get("/metrics", None).await.unwrap();
    String::from_utf8(reply.body.to_vec()).unwrap()
}

/// How soon after the promotion the nodes must acknowledge applications again: they
/// notice the dead primary within seconds (connect and TCP timeouts) and clients refused
/// meanwhile are not held back by limits counted for applications never accepted.
const RECOVERY_BOUND: Duration = Duration::from_secs(20);

/// Failover: the nodes on a primary with a synchronous standby, reached with a multi-host
/// URL and `target_session_attrs=read-write`. The primary is SIGKILLed under load and the
/// standby promoted; the nodes reconnect and carry on. Every acknowledged application is
/// issued once, every acknowledged registry change kept, every answered lookup audited,
/// and the refusals in between (503, 429 counted apart) carried Retry-After.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_to_the_synchronous_standby_loses_nothing_acknowledged() {
    let primary = TestPostgres::start().expect("PostgreSQL for the tests");
    let single = primary.database().unwrap();
    let name = single.rsplit('/').next().unwrap().to_owned();
    let standby = primary.standby().unwrap();
    let url = format!(
        "postgresql://postgres@127.0.0.1:{},127.0.0.1:{}/{name}?target_session_attrs=read-write",
        primary.port(),
        standby.port()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut licences = licence_numbers(3_400, 350_103);
    let registry = licences.split_off(3_000);
    let mut all = licences.clone();
    all.extend(registry.iter().cloned());
    let mut cluster = Cluster::start(dir.path(), &url, &all);
    let licences = Arc::new(licences);
    // Each node sees the synchronous standby, in /readyz and in its metrics.
    for node in 0..2 {
        let replication = replication_seen(&cluster, node, |r| r["synchronous"] == 1).await;
        assert_eq!(replication["standbys"], 1, "{replication}");
        assert!(replication["lag_seconds"].as_f64().unwrap() >= 0.0);
        let scrape = metrics(&cluster, node).await;
        assert!(
            scrape.contains("edld_db_standbys{commit=\"sync\"} 1\n")
                && scrape.contains("edld_db_standbys{commit=\"async\"} 0\n")
                && scrape.contains("edld_db_replication_lag_seconds ")
                && scrape.contains("edld_db_pool_connections{pool=\"lookups\",state=\"max\"} 1\n")
                && scrape.contains("edld_db_pool_connections{pool=\"shared\",state=\"open\"} "),
            "{scrape}"
        );
    }
    let seen = Arc::new(Seen::default());
    let load = Load::start(&cluster, licences.clone(), registry, seen.clone());
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before = seen.accepted.lock().unwrap().len();
    let changed_before = seen.changes.lock().unwrap().len();
    assert!(before > 0 && changed_before > 0, "no load before the kill");
    primary.kill().unwrap();
    // A moment with no primary at all, then the standby takes over.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let refused_before = seen.refusals();
    let promoted = Instant::now();
    standby.promote().unwrap();
    // The nodes carry on: applications are acknowledged again.
    let back = loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Some(back) = seen.first_acknowledged_after(promoted) {
            break back;
        }
        assert!(
            promoted.elapsed() < Duration::from_secs(120),
            "no application acknowledged after the promotion"
        );
    };
    // The promoted standby has no standby of its own: the nodes say so.
    for node in 0..2 {
        replication_seen(&cluster, node, |r| r["standbys"] == 0).await;
        let scrape = metrics(&cluster, node).await;
        assert!(
            scrape.contains("edld_db_standbys{commit=\"sync\"} 0\n"),
            "{scrape}"
        );
    }
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    load.stop().await;
    let (issued, answered) = check(&cluster, &seen).await;
    let (throttled, unavailable) = seen.refusals();
    eprintln!(
        "failover test: {before} applications and {changed_before} registry changes \
         acknowledged before the primary died; the first 202 {:.2} s after the promotion; \
         {issued} applications issued once, {} registry changes kept, {answered} lookups \
         answered and audited; refused (all with Retry-After) with 429: {throttled} \
         ({} before the promotion), with 503: {unavailable} ({} before the promotion)",
        back.as_secs_f64(),
        seen.changes.lock().unwrap().len(),
        refused_before.0,
        refused_before.1,
    );
    assert!(
        back < RECOVERY_BOUND,
        "the first 202 came {back:?} after the promotion"
    );
    for node in &mut cluster.nodes {
        if let Some(running) = node.running.take() {
            assert!(running.stop().unwrap().success());
        }
    }
}
