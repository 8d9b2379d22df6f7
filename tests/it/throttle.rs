//! Throttles through the real HTTP stack: every 429 and 503 carries `Retry-After` and a
//! problem+json body; operator changes on the admin listener are in force within a second,
//! audited and kept across a restart; shadow mode counts but admits; applications accepted
//! before the opening time are put in random order at it.

use std::collections::HashSet;
use std::time::Duration;

use hyper::Method;
use serde_json::{Value, json};
use tests::client::{Client, Reply};
use tests::{Options, TestDaemon, licence_json, licence_numbers, poll};

const WAIT: Duration = Duration::from_secs(30);

async fn start() -> TestDaemon {
    TestDaemon::start_with(Options::default(), tempfile::tempdir().unwrap(), None)
        .await
        .unwrap()
}

/// Changes throttle settings through the admin API; returns the settings in force.
async fn set(d: &TestDaemon, changes: Value) -> Value {
    d.set_throttle(&changes).await.unwrap()
}

/// Registers `n` licences (region `region`) and returns their numbers.
async fn licences(d: &TestDaemon, c: &mut Client, n: usize, region: u32) -> Vec<String> {
    let registry = d.key("registry").to_owned();
    let mut out = Vec::new();
    for (i, number) in licence_numbers(n, region).iter().enumerate() {
        let reply = c
            .json(
                Method::PUT,
                &format!("/v1/licences/{number}"),
                Some(&registry),
                &licence_json(number, &format!("Holder {i}"), &["C1"]),
            )
            .await
            .unwrap();
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        out.push(number.to_string());
    }
    out
}

async fn apply(d: &TestDaemon, c: &mut Client, number: &str) -> Reply {
    c.json(
        Method::POST,
        "/v1/applications",
        Some(d.key("gateway")),
        &json!({"licence_number": number, "photo_source": "on_file"}),
    )
    .await
    .unwrap()
}

/// A refusal must say when to retry, in the header and the body alike, as problem+json.
#[track_caller]
fn check_refusal(reply: &Reply, status: u16, reason: &str) {
    assert_eq!(reply.status.as_u16(), status, "{:?}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
    let retry_after: u64 = reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", reply.headers));
    assert!(retry_after >= 1);
    let body = reply.json().unwrap();
    assert_eq!(body["status"], status);
    assert_eq!(body["retry_after"], retry_after);
    assert_eq!(body["reason"], reason);
    assert!(
        body["type"].is_string() && body["title"].is_string(),
        "{body}"
    );
    if status == 503 && reason == "queue" {
        assert!(body["clears_at"].as_u64().is_some(), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_carries_retry_after_and_a_problem() {
    let d = start().await;
    let mut c = d.client().await.unwrap();
    let numbers = licences(&d, &mut c, 12, 220_102).await;

    // Per licence: the licence limit allows a burst of 2, then 429.
    set(&d, json!({"licence.burst": 2, "licence.rate": 0.01})).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let reply = apply(&d, &mut c, &numbers[0]).await;
        if reply.status.as_u16() >= 400 {
            check_refusal(&reply, 429, "licence");
        }
        statuses.push(reply.status.as_u16());
    }
    // Two pass (the second finds the first open, or issued and applies again), then 429.
    assert!(
        statuses[..2].iter().all(|s| [200, 202].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(statuses[2..], [429, 429]);

    // Per client: a burst of 3 at one a minute, then 429 with a retry about a minute out.
    set(&d, json!({"client.burst": 3, "client.rate": "0.0166"})).await;
    let mut refused = 0;
    for number in &numbers[1..6] {
        let reply = apply(&d, &mut c, number).await;
        if reply.status == 429 {
            check_refusal(&reply, 429, "client");
            let retry: u64 = reply.header("retry-after").unwrap().parse().unwrap();
            assert!((55..=61).contains(&retry), "{retry}");
            refused += 1;
        }
    }
    assert!(refused >= 2, "{refused}");

    // A full queue: draining paused at 1/s with a bound of 2 s: the third waiting gets 503
    // with the time its backlog should clear.
    set(
        &d,
        json!({"client.mode": "off", "paused": true, "drain.rate": 1, "queue.max_wait": 2}),
    )
    .await;
    let mut last = None;
    for number in &numbers[6..12] {
        let reply = apply(&d, &mut c, number).await;
        if reply.status.as_u16() >= 400 {
            check_refusal(&reply, 503, "queue");
        }
        last = Some(reply.status.as_u16());
    }
    assert_eq!(last, Some(503));
    // Intake: one a minute with a burst of 1.
    set(
        &d,
        json!({"queue.mode": "off", "intake.rate": "0.0166", "intake.burst": 1}),
    )
    .await;
    let replies = [
        apply(&d, &mut c, &numbers[10]).await,
        apply(&d, &mut c, &numbers[11]).await,
    ];
    assert!(replies.iter().any(|r| r.status == 503));
    for reply in replies.iter().filter(|r| r.status == 503) {
        check_refusal(reply, 503, "intake");
    }
    let metrics = metrics(&d).await;
    assert!(
        metrics.contains(
            r#"edld_admission_decisions_total{limit="licence",decision="reject",mode="enforce"} 2"#
        ),
        "{metrics}"
    );
    d.stop().await.unwrap();
}

async fn metrics(d: &TestDaemon) -> String {
    let mut admin = d.admin_client().await.unwrap();
    let reply = admin.get("/metrics", None).await.unwrap();
    String::from_utf8_lossy(&reply.body).into_owned()
}

async fn issued_count(d: &TestDaemon) -> u64 {
    let mut admin = d.admin_client().await.unwrap();
    admin
        .get("/admin/v1/queue", None)
        .await
        .unwrap()
        .json()
        .unwrap()["issued"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retune_is_in_force_within_a_second_audited_and_kept() {
    let d = start().await;
    // The daemon's monotonic time moves only by hand here: "within a second" is a second
    // of the daemon's time, however slowly the machine runs the test.
    d.freeze_time();
    let mut c = d.client().await.unwrap();
    let numbers = licences(&d, &mut c, 40, 220_103).await;
    // Slow: one every 10 s.
    let reply = set(&d, json!({"drain.rate": 0.1, "drain.burst": 1})).await;
    assert_eq!(reply["changed"]["drain.rate"]["new"], "0.1");
    for number in &numbers {
        assert_eq!(apply(&d, &mut c, number).await.status, 202);
    }
    assert!(issued_count(&d).await <= 2);
    // Fast: the 40 drain within a second of the answer, in steps of 10 ms of the daemon's
    // time (a burst of 20 per step at most: two steps could do it).
    set(&d, json!({"drain.rate": 2000, "drain.burst": 20})).await;
    let mut moved = Duration::ZERO;
    while issued_count(&d).await < 40 {
        assert!(
            moved < Duration::from_secs(1),
            "{} of 40 issued a second after the retune",
            issued_count(&d).await
        );
        d.advance(Duration::from_millis(10));
        moved += Duration::from_millis(10);
        // Real time for the signer's thread to see the step (a step it misses only costs
        // that step's burst, never more than the second allows).
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Shadow mode: counted, admitted.
    set(
        &d,
        json!({"client.mode": "shadow", "client.rate": 0.01, "client.burst": 1}),
    )
    .await;
    let more = licences(&d, &mut c, 5, 220_104).await;
    for number in &more {
        assert_eq!(apply(&d, &mut c, number).await.status, 202);
    }
    let metrics = metrics(&d).await;
    assert!(
        metrics.contains(r#"edld_admission_would_reject_total{limit="client"} 4"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"edld_throttle_setting{setting="drain.rate"} 2000"#));

    // Kept across a restart.
    let dir = d.stop().await.unwrap();
    let d = TestDaemon::start_with(Options::default(), dir, None)
        .await
        .unwrap();
    let mut admin = d.admin_client().await.unwrap();
    let shown = admin
        .get("/admin/v1/throttle", Some(d.key("operator")))
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(shown["values"]["drain.rate"], "2000");
    assert_eq!(shown["values"]["client.mode"], "shadow");
    // Only the operator may see or change it.
    let refused = admin
        .get("/admin/v1/throttle", Some(d.key("gateway")))
        .await
        .unwrap();
    assert_eq!(refused.status, 403);
    let dir = d.stop().await.unwrap();

    // Audited: who, what, old and new.
    let audit: Vec<Value> = daemon::testing::change_records(&dir.path().join("data"))
        .await
        .unwrap()
        .into_iter()
        .map(|(_, bytes)| serde_json::from_slice(&bytes).unwrap())
        .filter(|r: &Value| r["action"] == "throttle.set")
        .collect();
    assert_eq!(audit.len(), 3, "{audit:?}");
    assert_eq!(audit[0]["client"], "dev-operator");
    let detail: Value = serde_json::from_str(audit[1]["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["drain.rate"], json!({"old": "0.1", "new": "2000"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_before_the_opening_are_shuffled_at_it() {
    let d = start().await;
    let mut c = d.client().await.unwrap();
    let numbers = licences(&d, &mut c, 20, 220_105).await;
    let now = daemon::Clock::now(d.clock.as_ref()).0;
    set(&d, json!({"opening_at": now + 60, "paused": true})).await;
    let mut tickets = Vec::new();
    for number in &numbers {
        let reply = apply(&d, &mut c, number).await;
        assert_eq!(reply.status, 202);
        let body = reply.json().unwrap();
        assert_eq!(body["opening_at"], now + 60, "{body}");
        assert!(body["position"].is_null(), "{body}");
        assert_eq!(body["wait_seconds"]["kind"], "unknown");
        assert!(reply.header("retry-after").is_some());
        tickets.push(body["ticket"].as_str().unwrap().to_owned());
    }
    d.clock.advance(61);
    let gateway = d.key("gateway").to_owned();
    let positions: Vec<u64> = poll(WAIT, || {
        let (tickets, gateway) = (tickets.clone(), gateway.clone());
        let addr = d.client();
        async move {
            let mut c = addr.await?;
            let mut positions = Vec::new();
            for t in &tickets {
                let body = c
                    .get(&format!("/v1/applications/{t}"), Some(&gateway))
                    .await?
                    .json()?;
                match body["position"].as_u64() {
                    Some(p) => positions.push(p),
                    None => return Ok(None),
                }
            }
            Ok(Some(positions))
        }
    })
    .await
    .unwrap();
    let distinct: HashSet<u64> = positions.iter().copied().collect();
    assert_eq!(distinct, (1..=20).collect::<HashSet<u64>>());
    // In arrival order with probability 1/20!.
    assert_ne!(positions, (1..=20).collect::<Vec<u64>>());
    // Then strict first come, first served.
    let late = licences(&d, &mut c, 1, 220_106).await;
    let body = apply(&d, &mut c, &late[0]).await.json().unwrap();
    assert_eq!(body["position"], 21, "{body}");
    d.stop().await.unwrap();
}

/// `edld throttle show|set|pause|resume` against the admin listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_throttle_command_line() {
    let d = start().await;
    let edld = tests::edld_binary().unwrap();
    let admin = d.admin.to_string();
    let key = d.key("operator").to_owned();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&edld)
            .args(["throttle"])
            .args(args)
            .args(["--admin-listen", &admin, "--key", &key])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let set = run(&["set", "drain.rate=123", "licence.mode=shadow"]);
    assert!(set.contains("drain.rate: 1000 → 123"), "{set}");
    assert!(set.contains("licence.mode: enforce → shadow"), "{set}");
    let shown = run(&["show"]);
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("drain.rate") && l.contains("= 123 ")),
        "{shown}"
    );
    assert!(run(&["pause"]).contains("paused: false → true"));
    assert!(run(&["resume"]).contains("paused: true → false"));
    // A bad value is refused with the reason, and a wrong key with 403.
    let out = std::process::Command::new(&edld)
        .args([
            "throttle",
            "set",
            "drain.burst=0",
            "--admin-listen",
            &admin,
            "--key",
            &key,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("drain.burst"));
    let out = std::process::Command::new(&edld)
        .args(["throttle", "show", "--admin-listen", &admin, "--key"])
        .arg(d.key("gateway"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("403"));
    d.stop().await.unwrap();
}

/// The console's trail of recent changes is the audit chain's: a throttle change, a pause
/// and a client added show newest first with the operator's name, and still do after a
/// restart. The page's call is in the admin OpenAPI document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_trail_is_the_audit_chain_and_survives_a_restart() {
    let d = start().await;
    set(&d, json!({"drain.rate": 7})).await;
    let operator = d.key("operator").to_owned();
    let mut admin = d.admin_client().await.unwrap();
    let paused = admin
        .send(
            Method::POST,
            "/admin/v1/throttle/pause",
            Some(&operator),
            None,
        )
        .await
        .unwrap();
    assert_eq!(paused.status, 200, "{:?}", paused.body);
    let added = admin
        .json(
            Method::POST,
            "/admin/v1/clients",
            Some(&operator),
            &json!({"name": "trail-insurer", "role": "insurer"}),
        )
        .await
        .unwrap();
    assert_eq!(added.status, 201, "{:?}", added.body);

    let dir = d.stop().await.unwrap();
    let d = TestDaemon::start_with(Options::default(), dir, None)
        .await
        .unwrap();
    let mut admin = d.admin_client().await.unwrap();
    let reply = admin
        .get("/admin/v1/history", Some(d.key("operator")))
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let history = reply.json().unwrap();
    let changes = history["changes"].as_array().unwrap();
    let seqs: Vec<u64> = changes.iter().map(|c| c["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seqs:?}"
    );
    let mine: Vec<&Value> = changes
        .iter()
        .filter(|c| c["client"] == "dev-operator")
        .take(3)
        .collect();
    assert_eq!(mine.len(), 3, "{changes:?}");
    assert_eq!(mine[0]["action"], "client.add");
    assert_eq!(mine[0]["detail"], "trail-insurer insurer");
    assert_eq!(mine[1]["action"], "throttle.set");
    assert_eq!(mine[1]["moved"], json!([["paused", "false", "true"]]));
    assert_eq!(mine[2]["action"], "throttle.set");
    assert_eq!(mine[2]["moved"], json!([["drain.rate", "1000", "7"]]));

    let doc = admin
        .get("/openapi.json", None)
        .await
        .unwrap()
        .json()
        .unwrap();
    let history = &doc["paths"]["/admin/v1/history"]["get"];
    assert!(
        history.is_object(),
        "the trail's call is in the admin document"
    );
    let schema =
        doc["components"]["schemas"]["History"]["properties"]["changes"]["items"]["properties"]
            .clone();
    for member in ["seq", "at", "client", "action", "moved", "detail"] {
        assert!(schema.get(member).is_some(), "{member}: {schema}");
    }
    d.stop().await.unwrap();
}
