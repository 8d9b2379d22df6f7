//! The holder's "who checked me" over TLS: an insurer's and an officer's lookups of a
//! credential are listed for its licence to the gateway and the window, newest first,
//! in pages; another licence lists nothing; each listing is itself in the audit log;
//! relying parties may not list.

use hyper::Method;
use serde_json::Value;
use tests::client::Client;
use tests::{TestDaemon, issue_credential, licence_numbers};

/// A live status lookup by `key`, with `purpose` if any, asking for `accept`.
async fn look_up(c: &mut Client, id: &str, key: &str, purpose: Option<&str>, accept: &str) {
    let mut headers = vec![
        ("authorization", format!("Bearer {key}")),
        ("accept", accept.to_owned()),
    ];
    if let Some(purpose) = purpose {
        headers.push(("x-edl-purpose", purpose.to_owned()));
    }
    let reply = c
        .send_with(
            Method::GET,
            &format!("/v1/credentials/{id}/status"),
            &headers,
            None,
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.body);
}

/// The listing at `path` by `key`: its status and body.
async fn list(c: &mut Client, path: &str, key: &str) -> (u16, Value) {
    let reply = c.get(path, Some(key)).await.unwrap();
    let body = reply.json().unwrap_or(Value::Null);
    (reply.status.as_u16(), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_lists_who_looked_a_licence_up_and_the_listing_is_audited() {
    let d = TestDaemon::start().await.unwrap();
    let mut c = d.client().await.unwrap();
    let numbers = licence_numbers(3, 110_314);
    let (number, other, unknown) = (&numbers[0], &numbers[1], &numbers[2]);
    let mut ids = Vec::new();
    for n in [number, other] {
        let credential = issue_credential(&mut c, d.key("registry"), d.key("gateway"), n)
            .await
            .unwrap();
        ids.push(credential["id"].as_str().unwrap().to_owned());
    }
    let id = &ids[0];

    let insurer = d.key("insurer");
    look_up(
        &mut c,
        id,
        insurer,
        Some("motor policy 9"),
        "application/json",
    )
    .await;
    look_up(&mut c, id, d.key("officer"), None, "application/json").await;
    look_up(&mut c, id, insurer, Some("claim 12"), "application/cwt").await;

    let path = format!("/v1/licences/{number}/lookups");
    let (status, page) = list(&mut c, &path, d.key("gateway")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["licence"], number.as_str());
    assert_eq!(page["next"], Value::Null);
    let lookups = page["lookups"].as_array().unwrap();
    let seen: Vec<(&str, &str, Option<&str>)> = lookups
        .iter()
        .map(|l| {
            (
                l["client"].as_str().unwrap(),
                l["role"].as_str().unwrap(),
                l["purpose"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("dev-insurer", "insurer", Some("claim 12")),
            ("dev-officer", "officer", None),
            ("dev-insurer", "insurer", Some("motor policy 9")),
        ]
    );
    for l in lookups {
        assert_eq!(l["at"], tests::START.0);
        assert_eq!(l["credential"], id.as_str());
    }

    // Pages of one, through the `next` cursor; the window sees the same.
    let mut next = format!("{path}?limit=1");
    let mut paged = Vec::new();
    loop {
        let (status, page) = list(&mut c, &next, d.key("window")).await;
        assert_eq!(status, 200, "{page}");
        paged.extend(page["lookups"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(n) => next = n.to_owned(),
            None => break,
        }
    }
    assert_eq!(&paged, lookups);

    // Another licence lists nothing; an unknown one is not found; bad pages are refused.
    let (status, page) = list(
        &mut c,
        &format!("/v1/licences/{other}/lookups"),
        d.key("gateway"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page["lookups"], serde_json::json!([]));
    let (status, _) = list(
        &mut c,
        &format!("/v1/licences/{unknown}/lookups"),
        d.key("gateway"),
    )
    .await;
    assert_eq!(status, 404);
    for bad in ["limit=0", "limit=101", "before=0", "limit=x", "what=1"] {
        let (status, _) = list(&mut c, &format!("{path}?{bad}"), d.key("gateway")).await;
        assert_eq!(status, 400, "{bad}");
    }

    // Relying parties and other roles may not list.
    for role in ["officer", "insurer", "registry", "reviewer"] {
        let (status, _) = list(&mut c, &path, d.key(role)).await;
        assert_eq!(status, 403, "{role}");
    }

    // Every listing answered is in the audit log, by whom and for which page, and none
    // of them is listed as a lookup.
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
    let reads: Vec<(&str, &str)> = report["lookups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "lookups.read")
        .map(|r| (r["client"].as_str().unwrap(), r["detail"].as_str().unwrap()))
        .collect();
    assert_eq!(reads[0], ("dev-gateway", "limit=20"));
    assert_eq!(reads[1], ("dev-window", "limit=1"));
    assert_eq!(reads.len(), 1 + 3, "{reads:?}");
    let (_, page) = list(&mut c, &path, d.key("gateway")).await;
    assert_eq!(page["lookups"].as_array().unwrap().len(), 3);
}
