//! The daemon on PostgreSQL end to end, against a throwaway server the test starts
//! (Debian's binaries, a temporary directory, a loopback port): the whole issuance path
//! over TLS, `/readyz` naming the database, and SIGKILLs of the real `edld` under load
//! that lose nothing and issue nothing twice.
//!
//! Without PostgreSQL's server binaries these tests fail (CI installs `postgresql`).

use daemon::testing::postgres::TestPostgres;
use tests::{Options, TestDaemon};

fn server() -> TestPostgres {
    TestPostgres::shared().expect("PostgreSQL for the tests")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issuance_path_on_postgres() {
    let server = server();
    let options = Options::postgres(&server).unwrap();
    let d = TestDaemon::start_with(options, tempfile::tempdir().unwrap(), None)
        .await
        .unwrap();
    let ready = d
        .client()
        .await
        .unwrap()
        .get("/readyz", None)
        .await
        .unwrap();
    assert_eq!(ready.status, 200);
    let store = &ready.json().unwrap()["store"];
    assert_eq!(
        (
            &store["engine"],
            &store["reachable"],
            &store["schema_version"]
        ),
        (
            &serde_json::json!("postgres"),
            &serde_json::json!(true),
            &serde_json::json!(daemon::testing::postgres::SCHEMA_VERSION)
        ),
        "{store}"
    );
    // A server without standbys says so, in /readyz and in the metrics the replication
    // alerts use.
    assert_eq!(
        store["replication"],
        serde_json::json!({"standbys": 0, "synchronous": 0, "lag_seconds": 0.0}),
        "{store}"
    );
    let metrics = d
        .client()
        .await
        .unwrap()
        .get("/metrics", None)
        .await
        .unwrap();
    let scrape = String::from_utf8(metrics.body.to_vec()).unwrap();
    for line in [
        "edld_db_standbys{commit=\"sync\"} 0\n",
        "edld_db_standbys{commit=\"async\"} 0\n",
        "edld_db_replication_lag_seconds 0.0\n",
    ] {
        assert!(scrape.contains(line), "{line} not in {scrape}");
    }
    crate::issue::lifecycle(d).await;
}

/// Modest counts (3 rounds of 500 licences); `RUN_SLOW_TESTS` raises the rounds as for
/// the sled crash test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_on_postgres_loses_nothing_and_issues_nothing_twice() {
    let server = server();
    let url = server.database().unwrap();
    let rounds = crate::crash::rounds();
    crate::crash::sigkill_rounds(&["--store", &url, "--migrate"], rounds, 500).await;
}

/// Two nodes on one database: a licence revoked through one node is in the status list
/// the other node signs within seconds, and a list one node opened is served by both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::disallowed_methods,
    reason = "the nodes follow each other on real time"
)]
async fn a_revocation_at_one_node_reaches_the_status_lists_of_every_node() {
    use std::time::{Duration, Instant};

    let server = server();
    let options = Options::postgres(&server).unwrap();
    let url = options.store.clone();
    let a = TestDaemon::start_with(options, tempfile::tempdir().unwrap(), None)
        .await
        .unwrap();
    let b = TestDaemon::start_with(
        Options {
            store: url,
            ..Options::default()
        },
        tempfile::tempdir().unwrap(),
        None,
    )
    .await
    .unwrap();
    let mut ca = a.client().await.unwrap();
    let number = &tests::licence_numbers(1, 110_106)[0];
    let credential = tests::issue_credential(&mut ca, a.key("registry"), a.key("gateway"), number)
        .await
        .unwrap();
    let token = keys::qr::decode(credential["qr_text"].as_str().unwrap()).unwrap();
    let claims = keys::danger::inspect_credential(&token).unwrap().claims;
    let index = claims.status.index;
    let list = &claims.status.uri[claims.status.uri.find("/v1/status-lists/").unwrap()..];

    // b's value of the entry, read from the list b signs, verified by b's trust list.
    let mut cb = b.client().await.unwrap();
    let trust = cb.get("/v1/trust-list", None).await.unwrap();
    let trust = keys::trust_list::verify(&trust.body, &[b.root().unwrap()], None).unwrap();
    let b_uri = format!("https://127.0.0.1:{}{list}", b.addr.port());
    assert!(
        trust.status_lists.contains(&b_uri),
        "b's trust list names the list a issued from: {:?}",
        trust.status_lists
    );
    async fn value(
        c: &mut tests::client::Client,
        list: &str,
        trust: &keys::trust_list::TrustList,
        uri: &str,
        index: u64,
    ) -> u8 {
        let reply = c.get(list, None).await.unwrap();
        assert_eq!(reply.status, 200, "{list}");
        let policy = keys::token::VerifyPolicy::at(trust.issued_at);
        let verified =
            keys::status_list::verify(&reply.body, &trust.keyring(), &policy, Some(uri)).unwrap();
        verified.claims.list.get(index).unwrap()
    }
    assert_eq!(value(&mut cb, list, &trust, &b_uri, index).await, 0);

    let reply = ca
        .json(
            hyper::Method::POST,
            &format!("/v1/licences/{number}/state"),
            Some(a.key("registry")),
            &serde_json::json!({"action": "revoke"}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    let started = Instant::now();
    while value(&mut cb, list, &trust, &b_uri, index).await != 1 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "b's status list never showed the revocation a made"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "the revocation reached b's status list in {:?}",
        started.elapsed()
    );
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

/// The operator console of either node lists both, each with what it published, and a
/// node that stopped as having left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::disallowed_methods,
    reason = "the nodes' heartbeats run on real time"
)]
async fn every_node_lists_every_node_in_the_console() {
    use std::time::{Duration, Instant};

    let server = server();
    let options = Options::postgres(&server).unwrap();
    let url = options.store.clone();
    let a = TestDaemon::start_with(options, tempfile::tempdir().unwrap(), None)
        .await
        .unwrap();
    let b = TestDaemon::start_with(
        Options {
            store: url,
            ..Options::default()
        },
        tempfile::tempdir().unwrap(),
        None,
    )
    .await
    .unwrap();
    let operator = a.key("operator").to_owned();
    let nodes = |d: &TestDaemon| {
        let operator = operator.clone();
        let admin = d.admin;
        async move {
            let mut c = tests::client::Client::connect(admin, None).await.unwrap();
            let reply = c.get("/admin/v1/nodes", Some(&operator)).await.unwrap();
            assert_eq!(reply.status, 200);
            reply.json().unwrap()
        }
    };
    // Both live at each node, the other with its published figures.
    let started = Instant::now();
    let listed = loop {
        let listed: serde_json::Value = nodes(&b).await;
        let rows = listed["nodes"].as_array().unwrap().clone();
        let other = rows.iter().find(|n| n["this"] == false);
        if rows.len() == 2 && other.is_some_and(|n| n["store"] == "postgres") {
            break listed;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "b never listed a with its figures: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(listed["complete"], true);
    for n in listed["nodes"].as_array().unwrap() {
        assert_eq!(n["state"], "live", "{n}");
        assert_eq!(n["version"], env!("CARGO_PKG_VERSION"), "{n}");
        assert!(n["queue_depth"].is_u64() && n["started_at"].is_u64(), "{n}");
    }
    let names: Vec<&str> = listed["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_ne!(names[0], names[1], "{names:?}");
    let a_name = listed["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["this"] == false)
        .unwrap()["name"]
        .clone();

    a.stop().await.unwrap();
    let listed: serde_json::Value = nodes(&b).await;
    let gone = listed["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == a_name)
        .cloned()
        .unwrap();
    assert_eq!(gone["state"], "left", "{listed}");
    b.stop().await.unwrap();
}
