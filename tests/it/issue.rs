//! The whole issuance path over real TLS on loopback: registry, applications with an
//! on-file and an uploaded photo (approved and rejected), signing, verification against
//! the served trust list, live status by role, revocation in live status and the next
//! status list, refresh and supersede.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hyper::Method;
use keys::token::{VerifiedCredential, VerifyPolicy};
use keys::trust_list::TrustList;
use serde_json::{Value, json};
use tests::client::Client;
use tests::{PORTRAIT, TestDaemon, licence_json, licence_numbers, wait_issued};

const WAIT: Duration = Duration::from_secs(30);

async fn trust(d: &TestDaemon, c: &mut Client) -> TrustList {
    let reply = c.get("/v1/trust-list", None).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/edl-trust-list+cose")
    );
    keys::trust_list::verify(&reply.body, &[d.root().unwrap()], None).unwrap()
}

async fn issued(d: &TestDaemon, c: &mut Client, ticket: &str) -> Value {
    wait_issued(c, d.key("gateway"), ticket).await.unwrap()
}

fn verify(d: &TestDaemon, trust: &TrustList, credential: &Value) -> VerifiedCredential {
    let token = URL_SAFE_NO_PAD
        .decode(credential["token"].as_str().unwrap())
        .unwrap();
    let qr = keys::qr::decode(credential["qr_text"].as_str().unwrap()).unwrap();
    assert_eq!(qr, token, "the QR text carries the token");
    keys::token::verify(
        &token,
        &trust.keyring(),
        &VerifyPolicy::at(d.clock.now_for_tests()),
    )
    .unwrap()
}

trait Now {
    fn now_for_tests(&self) -> keys::UnixTime;
}
impl Now for daemon::ManualClock {
    fn now_for_tests(&self) -> keys::UnixTime {
        daemon::Clock::now(self)
    }
}

async fn list_value(
    d: &TestDaemon,
    c: &mut Client,
    trust: &TrustList,
    uri: &str,
    index: u64,
) -> u8 {
    let path = &uri[uri.find("/v1/status-lists/").unwrap()..];
    let reply = c.get(path, None).await.unwrap();
    assert_eq!(
        reply.header("content-type"),
        Some("application/statuslist+cwt")
    );
    let list = keys::status_list::verify(
        &reply.body,
        &trust.keyring(),
        &VerifyPolicy::at(d.clock.now_for_tests()),
        Some(uri),
    )
    .unwrap();
    assert!(list.claims.list.len() >= 131_072);
    list.claims.list.get(index).unwrap()
}

async fn wait_list_value(
    d: &TestDaemon,
    c: &mut Client,
    trust: &TrustList,
    uri: &str,
    index: u64,
    expected: u8,
) {
    let deadline = Instant::now() + WAIT;
    while list_value(d, c, trust, uri, index).await != expected {
        assert!(
            Instant::now() < deadline,
            "status list entry never became {expected}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A live status lookup, declaring its purpose (which employers, insurers and rental firms
/// must).
async fn status(c: &mut Client, key: &str, id: &str) -> (u16, Value) {
    let reply = c
        .get(
            &format!("/v1/credentials/{id}/status?purpose=lifecycle%20test"),
            Some(key),
        )
        .await
        .unwrap();
    (reply.status.as_u16(), reply.json().unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_verify_revoke_refresh_supersede() {
    lifecycle(TestDaemon::start().await.unwrap()).await;
}

/// Registry, applications, review, signing, verification, live status, revocation in the
/// status list, refresh and supersede on daemon `d`, whatever its store.
pub(crate) async fn lifecycle(d: TestDaemon) {
    let mut c = d.client().await.unwrap();
    let (registry, gateway, reviewer, officer) = (
        d.key("registry").to_owned(),
        d.key("gateway").to_owned(),
        d.key("reviewer").to_owned(),
        d.key("officer").to_owned(),
    );
    let numbers = licence_numbers(3, 110_105);
    let [a, b, r] = [&numbers[0], &numbers[1], &numbers[2]];

    // The registry loads three licences; B and R have no photo on file.
    for (n, name) in [(a, "张三"), (b, "李四"), (r, "王五")] {
        let mut body = licence_json(n, name, &["C1"]);
        if n != a {
            body["photo"] = Value::Null;
        }
        let reply = c
            .json(
                Method::PUT,
                &format!("/v1/licences/{n}"),
                Some(&registry),
                &body,
            )
            .await
            .unwrap();
        assert_eq!(reply.status, 201, "{:?}", reply.body);
    }
    let trust = trust(&d, &mut c).await;

    // On-file photo: 202 with Location, then the same application again (idempotent).
    let apply = json!({"licence_number": a.as_str(), "photo_source": "on_file"});
    let first = c
        .json(Method::POST, "/v1/applications", Some(&gateway), &apply)
        .await
        .unwrap();
    assert_eq!(first.status, 202, "{:?}", first.body);
    let ticket = first.json().unwrap()["ticket"].as_str().unwrap().to_owned();
    assert_eq!(
        first.header("location"),
        Some(format!("/v1/applications/{ticket}").as_str())
    );
    let credential_a = issued(&d, &mut c, &ticket).await["credential"].clone();
    let verified_a = verify(&d, &trust, &credential_a);
    assert_eq!(verified_a.claims.licence_number, *a);
    assert_eq!(verified_a.claims.licence.name, "张三");
    let id_a = credential_a["id"].as_str().unwrap().to_owned();

    // QR images.
    let png = c
        .get(&format!("/v1/applications/{ticket}/qr.png"), Some(&gateway))
        .await
        .unwrap();
    assert_eq!(png.header("content-type"), Some("image/png"));
    assert!(png.body.starts_with(b"\x89PNG"));
    let svg = c
        .get(&format!("/v1/applications/{ticket}/qr.svg"), Some(&gateway))
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&svg.body).contains("<svg"));

    // Uploaded photo, approved.
    let upload = json!({"licence_number": b.as_str(), "photo_source": "camera", "photo": STANDARD.encode(&*PORTRAIT)});
    let reply = c
        .json(Method::POST, "/v1/applications", Some(&gateway), &upload)
        .await
        .unwrap();
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    let body = reply.json().unwrap();
    assert_eq!(body["state"], "reviewing");
    let ticket_b = body["ticket"].as_str().unwrap().to_owned();
    let again = c
        .json(Method::POST, "/v1/applications", Some(&gateway), &upload)
        .await
        .unwrap();
    assert_eq!(
        (
            again.status.as_u16(),
            again.json().unwrap()["ticket"].clone()
        ),
        (200, json!(ticket_b))
    );
    let reviews = c
        .get("/v1/reviews", Some(&reviewer))
        .await
        .unwrap()
        .json()
        .unwrap();
    assert!(
        reviews["reviews"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["ticket"] == ticket_b.as_str())
    );
    let photo = c
        .get(
            &format!("/v1/applications/{ticket_b}/photo"),
            Some(&reviewer),
        )
        .await
        .unwrap();
    assert_eq!(&photo.body[..], &PORTRAIT[..]);
    let approved = c
        .send(
            Method::POST,
            &format!("/v1/applications/{ticket_b}/approve"),
            Some(&reviewer),
            None,
        )
        .await
        .unwrap();
    assert_eq!(approved.json().unwrap()["state"], "queued");
    let credential_b = issued(&d, &mut c, &ticket_b).await["credential"].clone();
    let verified_b = verify(&d, &trust, &credential_b);
    assert_eq!(
        verified_b.claims.licence.photo,
        keys::licence::PhotoDigest::of(&PORTRAIT)
    );
    let id_b = credential_b["id"].as_str().unwrap().to_owned();

    // Uploaded photo, rejected with a reason.
    let upload_r = json!({"licence_number": r.as_str(), "photo_source": "album", "photo": STANDARD.encode(&*PORTRAIT)});
    let ticket_r = c
        .json(Method::POST, "/v1/applications", Some(&gateway), &upload_r)
        .await
        .unwrap()
        .json()
        .unwrap()["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let rejected = c
        .json(
            Method::POST,
            &format!("/v1/applications/{ticket_r}/reject"),
            Some(&reviewer),
            &json!({"reason": "face not visible"}),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        (rejected["state"].clone(), rejected["reason"].clone()),
        (json!("rejected"), json!("face not visible"))
    );

    // Live status by role.
    let (code, body) = status(&mut c, &officer, &id_a).await;
    assert_eq!((code, body["status"].clone()), (200, json!("valid")));
    assert_eq!(body["licence"]["name"], "张三");
    let (_, body) = status(&mut c, d.key("employer"), &id_a).await;
    assert_eq!(
        body["licence"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["classes"]
    );
    assert_eq!(status(&mut c, &gateway, &id_a).await.0, 403);
    let anonymous = c
        .get(&format!("/v1/credentials/{id_a}/status"), None)
        .await
        .unwrap();
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        anonymous.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(status(&mut c, &officer, &"0".repeat(32)).await.0, 404);

    // Revoke: live at once, and in the next status list.
    let index_a = verified_a.claims.status.index;
    let uri_a = verified_a.claims.status.uri.clone();
    assert_eq!(list_value(&d, &mut c, &trust, &uri_a, index_a).await, 0);
    let reply = c
        .json(
            Method::POST,
            &format!("/v1/licences/{a}/state"),
            Some(&registry),
            &json!({"action": "revoke"}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(status(&mut c, &officer, &id_a).await.1["status"], "revoked");
    wait_list_value(&d, &mut c, &trust, &uri_a, index_a, 1).await;
    let reinstate = c
        .json(
            Method::POST,
            &format!("/v1/licences/{a}/state"),
            Some(&registry),
            &json!({"action": "reinstate"}),
        )
        .await
        .unwrap();
    assert_eq!(reinstate.status, 409);

    // Refresh: same id and index, new expiry.
    d.clock.advance(86_400);
    let refreshed = c
        .send(
            Method::POST,
            &format!("/v1/credentials/{id_b}/refresh"),
            Some(&gateway),
            None,
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    let token = URL_SAFE_NO_PAD
        .decode(refreshed["token"].as_str().unwrap())
        .unwrap();
    let verified = keys::token::verify(
        &token,
        &trust.keyring(),
        &VerifyPolicy::at(d.clock.now_for_tests()),
    )
    .unwrap();
    assert_eq!(
        verified.claims.credential_id,
        verified_b.claims.credential_id
    );
    assert_eq!(verified.claims.status, verified_b.claims.status);
    assert_eq!(
        verified.claims.expires_at,
        verified_b.claims.expires_at.plus(86_400)
    );

    // Supersede: a class change replaces B's credential and queues a re-issue.
    let mut body = licence_json(b, "李四", &["C1", "D"]);
    body["photo"] = json!(keys::licence::PhotoDigest::of(&PORTRAIT).to_string());
    let change = c
        .json(
            Method::PUT,
            &format!("/v1/licences/{b}"),
            Some(&registry),
            &body,
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    let reissue = change["reissue_ticket"]
        .as_str()
        .expect("a re-issue is queued")
        .to_owned();
    assert_eq!(
        status(&mut c, &officer, &id_b).await.1["status"],
        "superseded"
    );
    wait_list_value(
        &d,
        &mut c,
        &trust,
        &verified_b.claims.status.uri,
        verified_b.claims.status.index,
        3,
    )
    .await;
    let credential_new = issued(&d, &mut c, &reissue).await["credential"].clone();
    let verified_new = verify(&d, &trust, &credential_new);
    assert_ne!(
        verified_new.claims.credential_id,
        verified_b.claims.credential_id
    );
    assert_eq!(verified_new.claims.licence.classes.to_string(), "C1 D");
    assert_eq!(
        status(&mut c, &officer, credential_new["id"].as_str().unwrap())
            .await
            .1["status"],
        "valid"
    );
    let superseded_refresh = c
        .send(
            Method::POST,
            &format!("/v1/credentials/{id_b}/refresh"),
            Some(&gateway),
            None,
        )
        .await
        .unwrap();
    assert_eq!(superseded_refresh.status, 409);

    // The served document, and problems everywhere.
    let doc = c.get("/openapi.json", None).await.unwrap().json().unwrap();
    assert!(doc["paths"]["/v1/applications"]["post"].is_object());
    let missing = c.get("/nowhere", None).await.unwrap();
    assert_eq!(
        (missing.status.as_u16(), missing.header("content-type")),
        (404, Some("application/problem+json"))
    );
    let bad = c
        .send(
            Method::POST,
            "/v1/applications",
            Some(&gateway),
            Some(("application/json", b"{".to_vec())),
        )
        .await
        .unwrap();
    assert_eq!(
        (bad.status.as_u16(), bad.header("content-type")),
        (400, Some("application/problem+json"))
    );
    let wrong_method = c
        .send(Method::DELETE, "/v1/applications", Some(&gateway), None)
        .await
        .unwrap();
    assert_eq!(
        (
            wrong_method.status.as_u16(),
            wrong_method.header("content-type")
        ),
        (405, Some("application/problem+json"))
    );
    let jwks = c
        .get("/.well-known/jwks.json", None)
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let metrics = String::from_utf8(c.get("/metrics", None).await.unwrap().body.to_vec()).unwrap();
    assert!(
        metrics.contains("edld_credentials_issued_total 3"),
        "{metrics}"
    );

    d.stop().await.unwrap();
}

/// A licence's applications chain from its latest back to its first, and that chain is how
/// its credentials are found: a holder applying again after an issue (with a rejected
/// application in between) supersedes the earlier credential, and a registry change finds
/// and supersedes the current one at the end of the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reapplying_supersedes_along_the_chain_of_applications() {
    let d = TestDaemon::start().await.unwrap();
    let mut c = d.client().await.unwrap();
    let (registry, gateway, reviewer, officer) = (
        d.key("registry").to_owned(),
        d.key("gateway").to_owned(),
        d.key("reviewer").to_owned(),
        d.key("officer").to_owned(),
    );
    let n = licence_numbers(1, 220_207).remove(0);
    let reply = c
        .json(
            Method::PUT,
            &format!("/v1/licences/{n}"),
            Some(&registry),
            &licence_json(&n, "Ana", &["C1"]),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let on_file = json!({"licence_number": n.as_str(), "photo_source": "on_file"});
    let apply = async |c: &mut Client, body: &Value| {
        let reply = c
            .json(Method::POST, "/v1/applications", Some(&gateway), body)
            .await
            .unwrap();
        assert_eq!(reply.status, 202, "{:?}", reply.body);
        reply.json().unwrap()["ticket"].as_str().unwrap().to_owned()
    };

    let first = apply(&mut c, &on_file).await;
    let id_1 = issued(&d, &mut c, &first).await["credential"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // An uploaded photo the reviewer rejects: on the chain, with no credential.
    let upload = json!({"licence_number": n.as_str(), "photo_source": "camera", "photo": STANDARD.encode(&*PORTRAIT)});
    let rejected = apply(&mut c, &upload).await;
    assert_ne!(rejected, first, "the first application is done: a new one");
    let reply = c
        .json(
            Method::POST,
            &format!("/v1/applications/{rejected}/reject"),
            Some(&reviewer),
            &json!({"reason": "blurred"}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    // Applying again: a re-issue that supersedes the first credential.
    let second = apply(&mut c, &on_file).await;
    assert!(![first.as_str(), rejected.as_str()].contains(&second.as_str()));
    let body = issued(&d, &mut c, &second).await;
    let id_2 = body["credential"]["id"].as_str().unwrap().to_owned();
    assert_ne!(id_1, id_2);
    assert_eq!(
        status(&mut c, &officer, &id_1).await.1["status"],
        "superseded"
    );
    assert_eq!(status(&mut c, &officer, &id_2).await.1["status"], "valid");

    // A class change finds the current credential along the chain and supersedes it.
    let change = c
        .json(
            Method::PUT,
            &format!("/v1/licences/{n}"),
            Some(&registry),
            &licence_json(&n, "Ana", &["C1", "D"]),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    let credentials: Vec<(String, bool)> = change["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["superseded"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(credentials, [(id_2.clone(), true), (id_1.clone(), true)]);
    let reissue = change["reissue_ticket"]
        .as_str()
        .expect("a re-issue")
        .to_owned();
    let id_3 = issued(&d, &mut c, &reissue).await["credential"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        status(&mut c, &officer, &id_2).await.1["status"],
        "superseded"
    );
    assert_eq!(status(&mut c, &officer, &id_3).await.1["status"], "valid");
    d.stop().await.unwrap();
}
