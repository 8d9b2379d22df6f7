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
