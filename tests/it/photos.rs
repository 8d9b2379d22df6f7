//! The photo pre-checks at intake, over HTTP: a clear failure is refused at once with 422
//! and the reasons the app shows the holder; a borderline photo goes to review with its
//! findings beside it in `GET /v1/reviews`; a compliant one goes to review with a pass.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use daemon::testing::portrait::{Scene, blurred, exposed, jpeg, png, portrait, resized};
use hyper::Method;
use serde_json::{Value, json};
use tests::{PORTRAIT, TestDaemon, licence_json, licence_numbers};

/// What intake should answer for an upload.
enum Expect {
    /// 202, waiting for review; the review item's pre-check outcome and, when borderline,
    /// the code among its borderline findings.
    Review(&'static str, Option<&'static str>),
    /// 422 with this code among the failed reasons.
    Refused(&'static str),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_refuses_or_flags_photos_by_the_rules() {
    let standard = portrait(Scene::default());
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("compliant", PORTRAIT.clone(), Expect::Review("pass", None)),
        (
            "compliant png",
            png(&resized(&standard, 300, 440)),
            Expect::Review("pass", None),
        ),
        (
            "landscape",
            jpeg(&resized(&standard, 880, 600)),
            Expect::Refused("wrong_aspect"),
        ),
        (
            "tiny",
            jpeg(&resized(&standard, 110, 160)),
            Expect::Refused("too_small"),
        ),
        (
            "dark",
            jpeg(&exposed(&standard, 0.15, 0.0)),
            Expect::Refused("too_dark"),
        ),
        (
            "blurred",
            jpeg(&blurred(&standard, 6.0)),
            Expect::Refused("blurred"),
        ),
        (
            "blue background",
            jpeg(&portrait(Scene {
                background: [70, 130, 200],
                ..Scene::default()
            })),
            Expect::Refused("background_not_white"),
        ),
        (
            "slightly soft",
            jpeg(&blurred(&standard, 2.5)),
            Expect::Review("review", Some("blurred")),
        ),
        (
            "below print resolution",
            jpeg(&resized(&standard, 220, 320)),
            Expect::Review("review", Some("too_small")),
        ),
    ];

    let d = TestDaemon::start().await.unwrap();
    let mut c = d.client().await.unwrap();
    let (registry, gateway, reviewer) = (
        d.key("registry").to_owned(),
        d.key("gateway").to_owned(),
        d.key("reviewer").to_owned(),
    );
    let numbers = licence_numbers(cases.len(), 310_101);
    let mut waiting = Vec::new();
    for ((name, bytes, expect), number) in cases.iter().zip(&numbers) {
        let mut record = licence_json(number, "赵六", &["C1"]);
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
        assert_eq!(reply.status, 201, "{name}");
        let upload = json!({
            "licence_number": number.as_str(),
            "photo_source": "camera",
            "photo": STANDARD.encode(bytes),
        });
        let reply = c
            .json(Method::POST, "/v1/applications", Some(&gateway), &upload)
            .await
            .unwrap();
        let body = reply.json().unwrap_or(Value::Null);
        match expect {
            Expect::Refused(code) => {
                assert_eq!(reply.status, 422, "{name}: {body}");
                assert_eq!(
                    reply.header("content-type"),
                    Some("application/problem+json"),
                    "{name}"
                );
                assert_eq!(body["type"], "https://edl.invalid/problems/photo", "{name}");
                let reasons = body["reasons"].as_array().unwrap();
                assert!(
                    reasons
                        .iter()
                        .any(|r| r["code"] == *code && r["verdict"] == "fail"),
                    "{name}: {body}"
                );
                assert_eq!(reasons[0]["verdict"], "fail", "{name}: {body}");
                for reason in reasons {
                    assert_ne!(reason["verdict"], "pass", "{name}: {body}");
                    assert!(reason["message"]["en"].as_str().unwrap().len() > 10);
                    assert!(reason["message"]["zh"].as_str().unwrap().len() > 10);
                }
            }
            Expect::Review(outcome, code) => {
                assert_eq!(reply.status, 202, "{name}: {body}");
                assert_eq!(body["state"], "reviewing", "{name}");
                waiting.push((name, body["ticket"].clone(), *outcome, *code));
            }
        }
    }

    let reviews = c
        .get("/v1/reviews", Some(&reviewer))
        .await
        .unwrap()
        .json()
        .unwrap();
    let items = reviews["reviews"].as_array().unwrap();
    assert_eq!(items.len(), waiting.len(), "{reviews}");
    for (name, ticket, outcome, code) in waiting {
        let item = items.iter().find(|i| i["ticket"] == ticket).unwrap();
        assert_eq!(item["precheck"]["outcome"], outcome, "{name}: {item}");
        assert_eq!(item["licence"]["name"], "赵六", "{name}");
        let findings = item["precheck"]["findings"].as_array().unwrap();
        assert!(findings.len() >= 10, "{name}: every check reports");
        match code {
            Some(code) => assert!(
                findings
                    .iter()
                    .any(|f| f["code"] == code && f["verdict"] == "borderline"),
                "{name}: {item}"
            ),
            None => assert!(findings.iter().all(|f| f["verdict"] == "pass"), "{name}"),
        }
    }
    d.stop().await.unwrap();
}
