//! The reviewer desk and the operator console in a real headless Chromium, driven through
//! WebDriver by `tests/browser/pages.py` (Python selenium and Debian's chromium-driver, as
//! `.ci/setup` installs them). This test starts the daemon and seeds two uploads (one the
//! pre-checks pass, one borderline), the script signs in as the reviewer and rejects one
//! by keyboard and approves the other, then signs in as the operator and changes the
//! drain rate; this test then checks through the API that the tickets ended rejected and
//! issued. The script itself checks the cookie flags, a refused cross-site POST, the
//! console log and an axe-core scan, and saves screenshots of both pages.

use std::process::Command;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use daemon::testing::portrait::{Scene, blurred, jpeg, portrait};
use hyper::Method;
use serde_json::{Value, json};
use tests::{PORTRAIT, TestDaemon, licence_json, licence_numbers, poll, wait_issued};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviewer_and_operator_in_a_browser() {
    let d = TestDaemon::start().await.unwrap();
    let mut c = d.client().await.unwrap();
    let (registry, gateway, reviewer) = (
        d.key("registry").to_owned(),
        d.key("gateway").to_owned(),
        d.key("reviewer").to_owned(),
    );
    let numbers = licence_numbers(2, 440_305);
    let soft = jpeg(&blurred(&portrait(Scene::default()), 2.5));
    let mut tickets = Vec::new();
    for (number, (name, photo)) in numbers
        .iter()
        .zip([("陈七", soft), ("Lena Fischer", PORTRAIT.clone())])
    {
        let mut record = licence_json(number, name, &["C1", "D"]);
        record["photo"] = Value::Null;
        let reply = c
            .json(
                Method::PUT,
                &format!("/v1/licences/{number}"),
                Some(&registry),
                &record,
            )
            .await
            .unwrap();
        assert_eq!(reply.status, 201);
        let upload = json!({"licence_number": number.as_str(), "photo_source": "camera",
            "photo": STANDARD.encode(&photo)});
        let reply = c
            .json(Method::POST, "/v1/applications", Some(&gateway), &upload)
            .await
            .unwrap();
        assert_eq!(reply.status, 202, "{:?}", reply.body);
        tickets.push(reply.json().unwrap()["ticket"].as_str().unwrap().to_owned());
        // Oldest first: the second upload is a minute younger (on the wall clock only, so
        // the console's charts, on monotonic time, keep their pace).
        d.clock.advance(60);
    }

    // Arrivals the console's history sees (after its first sample), for the "what if" to
    // replay: thirty on-file applications, issued at once.
    let operator = d.key("operator").to_owned();
    let (daemon, key) = (&d, operator.as_str());
    poll(Duration::from_secs(10), || async move {
        let mut admin = daemon.admin_client().await?;
        let history = admin.get("/admin/v1/history", Some(key)).await?.json()?;
        Ok((history["points"].as_array().map_or(0, Vec::len) >= 1).then_some(()))
    })
    .await
    .unwrap();
    for number in licence_numbers(30, 440_306) {
        let record = licence_json(&number, "周八", &["C1"]);
        let reply = c
            .json(
                Method::PUT,
                &format!("/v1/licences/{number}"),
                Some(&registry),
                &record,
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
    }

    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/browser/pages.py");
    let public = format!("https://localhost:{}", d.addr.port());
    let admin = format!("http://127.0.0.1:{}", d.admin.port());
    let reject = tickets[0].clone();
    let run = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .env("EDL_PUBLIC", public)
            .env("EDL_ADMIN", admin)
            .env("EDL_REVIEWER_KEY", reviewer)
            .env("EDL_OPERATOR_KEY", &operator)
            .env("EDL_REJECT", reject)
            .env("EDL_SHOTS", &shots)
            .output()
    })
    .await
    .unwrap()
    .expect("python3 runs (.ci/setup installs selenium, chromium and chromium-driver)");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "browser script failed:\n{stderr}");
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    println!("{report:#}");

    // What the reviewer did in the browser, seen through the API (on a new connection:
    // the first one may have idled out while the browser worked).
    let mut c = d.client().await.unwrap();
    let rejected = c
        .get(&format!("/v1/applications/{}", tickets[0]), Some(&gateway))
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(rejected["state"], "rejected", "{rejected}");
    assert_eq!(rejected["reason"], report["rejected_reason_text"]);
    assert_eq!(report["reject_reason_key"], "r3");
    let issued = wait_issued(&mut c, &gateway, &tickets[1]).await.unwrap();
    assert_eq!(issued["state"], "issued", "{issued}");
    // The borderline upload's findings were on the desk, the blurred check among them.
    let shown = report["review_findings_shown"].as_array().unwrap();
    assert!(
        shown
            .iter()
            .any(|f| f[0] == "blurred" && f[1] == "verdict-borderline"),
        "{shown:?}"
    );
    // The operator's change is in force and audited with the operator's name.
    let throttle = d
        .admin_client()
        .await
        .unwrap()
        .get("/admin/v1/throttle", Some(d.key("operator")))
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(throttle["values"]["drain.rate"], json!("37"), "{throttle}");
    assert!(
        report["changes"].as_str().unwrap().contains("operator"),
        "{report}"
    );
    // The "what if" replayed the thirty arrivals it had seen.
    assert!(
        report["what_if_arrivals"].as_u64().unwrap() >= 30,
        "{report}"
    );
    d.stop().await.unwrap();
}
