//! Live status answered beside the router and through it alike. A lookup as relying
//! parties send it (`GET`, no query, JSON, an API key or a client certificate) is answered
//! without the router; the same lookup with an empty query (`…/status?`) goes through it.
//! Both must give the same status, headers and body for every caller and every kind of
//! bad input, each with its own request id; both must be audited and counted in the
//! metrics; a revocation must show at once on both, though the records a lookup reads are
//! kept between lookups.

use daemon::testing::Role;
use hyper::Method;
use serde_json::json;
use tests::client::{Client, Reply};
use tests::{TestDaemon, issue_credential, licence_numbers};

/// The route's label in the metrics.
const ROUTE: &str = "route=\"/v1/credentials/{id}/status\"";

/// A lookup: what it is, the credential id, its headers and the status it must get.
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, String)>, u16);

/// A lookup of `path` with `headers`, on `client`.
async fn look_up(client: &mut Client, path: &str, headers: &[(&str, String)]) -> Reply {
    client
        .send_with(Method::GET, path, headers, None)
        .await
        .unwrap()
}

/// `reply`'s headers other than the date and the request id, as text.
fn comparable(reply: &Reply) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = reply
        .headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    headers.sort();
    headers
}

/// Sends the lookup `what` both ways and checks the answers alike; returns the status.
async fn alike(client: &mut Client, what: &str, id: &str, headers: &[(&str, String)]) -> u16 {
    let path = format!("/v1/credentials/{id}/status");
    let beside = look_up(client, &path, headers).await;
    let through = look_up(client, &format!("{path}?"), headers).await;
    assert_eq!(beside.status, through.status, "{what}: {:?}", beside.body);
    assert_eq!(comparable(&beside), comparable(&through), "{what}");
    assert_eq!(beside.body, through.body, "{what}");
    let (a, b) = (
        beside.header("x-request-id"),
        through.header("x-request-id"),
    );
    assert!(a.is_some_and(|a| !a.is_empty()), "{what}: no request id");
    assert_ne!(a, b, "{what}: one request id for two requests");
    if !beside.status.is_success() {
        assert_eq!(
            beside.header("content-type"),
            Some("application/problem+json"),
            "{what}"
        );
    }
    beside.status.as_u16()
}

/// The sum of the samples of `metric` whose labels include every one of `labels`.
fn sample(scrape: &str, metric: &str, labels: &[&str]) -> f64 {
    scrape
        .lines()
        .filter(|line| line.starts_with(&format!("{metric}{{")))
        .filter(|line| labels.iter().all(|l| line.contains(l)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_is_answered_alike_beside_the_router_and_through_it() {
    let d = TestDaemon::start_with_client_certs().await.unwrap();
    let mut c = d.client().await.unwrap();
    let numbers = licence_numbers(1, 120_517);
    let number = &numbers[0];
    let credential = issue_credential(&mut c, d.key("registry"), d.key("gateway"), number)
        .await
        .unwrap();
    let id = credential["id"].as_str().unwrap().to_owned();
    d.freeze_time();

    let key = |role: &str| ("authorization", format!("Bearer {}", d.key(role)));
    let json = ("accept", "application/json".to_owned());
    let purpose = |text: &str| ("x-edl-purpose", text.to_owned());
    let unknown = "0".repeat(32);
    let cases: Vec<Case> = vec![
        ("officer", &id, vec![key("officer")], 200),
        (
            "officer, JSON asked for",
            &id,
            vec![key("officer"), json.clone()],
            200,
        ),
        ("registry", &id, vec![key("registry")], 200),
        (
            "insurer with a purpose",
            &id,
            vec![key("insurer"), purpose("motor policy 9")],
            200,
        ),
        (
            "rental with a purpose",
            &id,
            vec![key("rental"), json.clone(), purpose("hire 4411")],
            200,
        ),
        (
            "employer with a purpose",
            &id,
            vec![key("employer"), purpose("fleet check")],
            200,
        ),
        ("rental without a purpose", &id, vec![key("rental")], 400),
        (
            "a purpose of spaces",
            &id,
            vec![key("insurer"), purpose("   ")],
            400,
        ),
        (
            "a purpose too long",
            &id,
            vec![key("insurer"), purpose(&"p".repeat(1000))],
            400,
        ),
        (
            "two purposes",
            &id,
            vec![key("insurer"), purpose("a"), purpose("b")],
            400,
        ),
        ("an unknown credential", &unknown, vec![key("officer")], 404),
        (
            "an id that is not hex",
            "not-an-id",
            vec![key("officer")],
            404,
        ),
        (
            "HTML asked for",
            &id,
            vec![key("officer"), ("accept", "text/html".to_owned())],
            406,
        ),
        ("no credentials", &id, vec![], 401),
        (
            "an unknown key",
            &id,
            vec![("authorization", "Bearer edl_0123456789abcdef".to_owned())],
            401,
        ),
        ("a role that may not", &id, vec![key("gateway")], 403),
        ("an operator", &id, vec![key("operator")], 403),
    ];
    let mut answered = 0;
    let mut audited = 0;
    for (what, id, headers, expected) in &cases {
        let status = alike(&mut c, what, id, headers).await;
        assert_eq!(status, *expected, "{what}");
        if status == 200 {
            answered += 2;
            if headers.iter().any(|(_, v)| {
                v.contains(d.key("officer"))
                    || v.contains(d.key("insurer"))
                    || v.contains(d.key("rental"))
                    || v.contains(d.key("employer"))
            }) {
                audited += 2;
            }
        }
    }

    // A client certificate instead of a key.
    let (cert, cert_key) = d.role_certificate(Role::Officer).unwrap();
    let mut officer = d.client_with_certificate(&cert, &cert_key).await.unwrap();
    assert_eq!(alike(&mut officer, "a certificate", &id, &[]).await, 200);
    answered += 2;
    audited += 2;

    // A revocation shows at once, both ways.
    let reply = c
        .json(
            Method::POST,
            &format!("/v1/licences/{number}/state"),
            Some(d.key("registry")),
            &json!({"action": "revoke"}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(alike(&mut c, "revoked", &id, &[key("officer")]).await, 200);
    let status = look_up(
        &mut c,
        &format!("/v1/credentials/{id}/status"),
        &[key("officer")],
    )
    .await;
    assert_eq!(status.json().unwrap()["status"], "revoked");
    answered += 3;
    audited += 3;

    // Every relying party's lookup answered either way is in the audit log.
    let lookups = c
        .get(
            &format!("/v1/licences/{number}/lookups?limit=100"),
            Some(d.key("gateway")),
        )
        .await
        .unwrap();
    assert_eq!(lookups.status, 200, "{:?}", lookups.body);
    let listed = lookups.json().unwrap();
    let listed = listed["lookups"].as_array().map_or(0, Vec::len);
    assert_eq!(listed, audited, "{:?}", lookups.body);

    // And counted in the metrics, either way.
    let scrape = c.get("/metrics", None).await.unwrap();
    let scrape = String::from_utf8(scrape.body.to_vec()).unwrap();
    let ok = sample(
        &scrape,
        "edld_http_requests_total",
        &[ROUTE, "method=\"GET\"", "status=\"200\""],
    );
    assert_eq!(ok, answered as f64, "{scrape}");
    let timed = sample(
        &scrape,
        "edld_verification_duration_seconds_count",
        &[ROUTE],
    );
    assert!(timed >= answered as f64, "{timed} < {answered}\n{scrape}");
    let refused = sample(
        &scrape,
        "edld_http_requests_total",
        &[ROUTE, "status=\"401\""],
    );
    assert_eq!(refused, 4.0, "{scrape}");

    // On sled the records were read once and then kept; the revocation made the licence
    // be read again (and showed, above).
    let reads = |kind: &str, result: &str| {
        sample(
            &scrape,
            "edld_record_cache_reads_total",
            &[&format!("kind=\"{kind}\""), &format!("result=\"{result}\"")],
        )
    };
    let credential_reads = reads("credential", "hit") + reads("credential", "miss");
    assert!(credential_reads >= answered as f64, "{scrape}");
    assert!(
        reads("credential", "hit") >= answered as f64 - 3.0,
        "{scrape}"
    );
    assert!(reads("licence", "miss") >= 2.0, "{scrape}");
    assert!(reads("licence", "hit") > 0.0, "{scrape}");
    assert_eq!(
        sample(
            &scrape,
            "edld_record_cache_records",
            &["kind=\"credential\""]
        ),
        1.0,
        "{scrape}"
    );
    let capacity = sample(
        &scrape,
        "edld_record_cache_capacity_bytes",
        &["kind=\"credential\""],
    );
    assert_eq!(capacity, f64::from(96 << 20), "{scrape}");
}
