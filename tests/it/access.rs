//! Access control end to end: every caller (no credentials, and an API key of each role,
//! then a client certificate of each role) against every route of both listeners. Each
//! answer's status must follow the role-by-endpoint table written out below (401 without
//! credentials, 403 for a role that may not, the route's own answer otherwise), every
//! refusal must be a bare problem+json that says nothing about the resource, and live
//! status must show each role exactly its fields. Then client certificates: missing,
//! from an unknown CA, expired, for servers only, unmapped, or sent with a key as well.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use daemon::testing::Role;
use hyper::Method;
use serde_json::{Value, json};
use tests::client::{Client, Reply};
use tests::{
    ClientCa, Options, PORTRAIT, TestDaemon, licence_json, licence_numbers, verify_cli, wait_issued,
};

/// Who may call a route, as the product describes it (kept apart from the daemon's own table on
/// purpose: a change to the table in the code must be made here too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anyone,
    Roles(&'static [&'static str]),
}

const APPLICANTS: Who = Who::Roles(&["gateway", "window"]);
const REVIEWERS: Who = Who::Roles(&["reviewer"]);
const REGISTRY_READERS: Who = Who::Roles(&["registry", "window"]);
const REGISTRY_WRITERS: Who = Who::Roles(&["registry"]);
const STATUS_READERS: Who = Who::Roles(&[
    "window", "registry", "officer", "insurer", "rental", "employer",
]);
const OPERATORS: Who = Who::Roles(&["operator"]);
const GATEWAYS: Who = Who::Roles(&["gateway"]);

/// The live status licence fields each role sees.
fn licence_fields(role: &str) -> BTreeSet<&'static str> {
    let all = [
        "number",
        "name",
        "classes",
        "validity",
        "authority",
        "state",
        "points",
        "photo",
    ];
    let fields: &[&str] = match role {
        "officer" | "registry" | "window" => &all,
        "insurer" => &["classes", "validity"],
        "rental" => &["name", "classes", "validity"],
        "employer" => &["classes"],
        other => panic!("{other} sees no live status"),
    };
    fields.iter().copied().collect()
}

const PROBLEM_FIELDS: [&str; 7] = [
    "type",
    "title",
    "status",
    "detail",
    "retry_after",
    "reason",
    "clears_at",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Listener {
    Public,
    Admin,
}

/// One request of the matrix.
struct Call {
    listener: Listener,
    method: Method,
    /// The route pattern, to check the matrix covers every route.
    pattern: &'static str,
    path: String,
    body: Option<Value>,
    who: Who,
    /// The statuses an allowed caller may get.
    ok: &'static [u16],
}

/// What the matrix runs against: one issued credential, applications waiting for review,
/// licences to apply for and to change.
struct Fixture {
    d: TestDaemon,
    ticket: String,
    credential: String,
    photo_ticket: String,
    approve_ticket: String,
    reject_ticket: String,
    licence: String,
    apply_licence: String,
    changing: Value,
    changing_number: String,
}

static NEXT_CLIENT: AtomicUsize = AtomicUsize::new(0);

impl Fixture {
    fn calls(&self) -> Vec<Call> {
        use Listener::*;
        let public = |method: Method, pattern: &'static str, path: String, who, ok| Call {
            listener: Public,
            method,
            pattern,
            path,
            body: None,
            who,
            ok,
        };
        let admin = |method: Method, pattern: &'static str, who, ok| Call {
            listener: Admin,
            method,
            pattern,
            path: pattern.to_owned(),
            body: None,
            who,
            ok,
        };
        let with = |mut call: Call, body: Value| {
            call.body = Some(body);
            call
        };
        let (t, id, n) = (&self.ticket, &self.credential, &self.licence);
        let m = &self.changing_number;
        let client_name = format!("matrix-{}", NEXT_CLIENT.fetch_add(1, Ordering::SeqCst));
        vec![
            public(
                Method::GET,
                "/healthz",
                "/healthz".into(),
                Who::Anyone,
                &[200],
            ),
            public(
                Method::GET,
                "/readyz",
                "/readyz".into(),
                Who::Anyone,
                &[200],
            ),
            public(
                Method::GET,
                "/metrics",
                "/metrics".into(),
                Who::Anyone,
                &[200],
            ),
            public(
                Method::GET,
                "/openapi.json",
                "/openapi.json".into(),
                Who::Anyone,
                &[200],
            ),
            public(
                Method::GET,
                "/v1/trust-list",
                "/v1/trust-list".into(),
                Who::Anyone,
                &[200],
            ),
            public(
                Method::GET,
                "/.well-known/jwks.json",
                "/.well-known/jwks.json".into(),
                Who::Anyone,
                &[200],
            ),
            public(
                Method::GET,
                "/v1/status-lists",
                "/v1/status-lists".into(),
                Who::Anyone,
                &[200],
            ),
            public(
                Method::GET,
                "/v1/status-lists/{n}",
                "/v1/status-lists/0".into(),
                Who::Anyone,
                &[200],
            ),
            with(
                public(
                    Method::POST,
                    "/v1/applications",
                    "/v1/applications".into(),
                    APPLICANTS,
                    &[200, 202],
                ),
                json!({"licence_number": self.apply_licence, "photo_source": "on_file"}),
            ),
            public(
                Method::GET,
                "/v1/applications/{ticket}",
                format!("/v1/applications/{t}"),
                APPLICANTS,
                &[200],
            ),
            public(
                Method::GET,
                "/v1/applications/{ticket}/qr.png",
                format!("/v1/applications/{t}/qr.png"),
                APPLICANTS,
                &[200],
            ),
            public(
                Method::GET,
                "/v1/applications/{ticket}/qr.svg",
                format!("/v1/applications/{t}/qr.svg"),
                APPLICANTS,
                &[200],
            ),
            public(
                Method::GET,
                "/v1/applications/{ticket}/photo",
                format!("/v1/applications/{}/photo", self.photo_ticket),
                REVIEWERS,
                &[200],
            ),
            public(
                Method::POST,
                "/v1/applications/{ticket}/approve",
                format!("/v1/applications/{}/approve", self.approve_ticket),
                REVIEWERS,
                &[200, 409],
            ),
            with(
                public(
                    Method::POST,
                    "/v1/applications/{ticket}/reject",
                    format!("/v1/applications/{}/reject", self.reject_ticket),
                    REVIEWERS,
                    &[200, 409],
                ),
                json!({"reason": "face not visible"}),
            ),
            public(
                Method::GET,
                "/v1/reviews",
                "/v1/reviews".into(),
                REVIEWERS,
                &[200],
            ),
            public(
                Method::GET,
                "/v1/credentials/{id}/status",
                format!("/v1/credentials/{id}/status?purpose=access%20matrix"),
                STATUS_READERS,
                &[200],
            ),
            public(
                Method::POST,
                "/v1/credentials/{id}/refresh",
                format!("/v1/credentials/{id}/refresh"),
                APPLICANTS,
                &[200],
            ),
            public(
                Method::GET,
                "/v1/licences/{number}",
                format!("/v1/licences/{n}"),
                REGISTRY_READERS,
                &[200],
            ),
            with(
                public(
                    Method::PUT,
                    "/v1/licences/{number}",
                    format!("/v1/licences/{m}"),
                    REGISTRY_WRITERS,
                    &[200],
                ),
                self.changing.clone(),
            ),
            with(
                public(
                    Method::POST,
                    "/v1/licences/{number}/state",
                    format!("/v1/licences/{m}/state"),
                    REGISTRY_WRITERS,
                    &[200, 409],
                ),
                json!({"action": "suspend"}),
            ),
            with(
                public(
                    Method::PUT,
                    "/v1/licences/{number}/points",
                    format!("/v1/licences/{m}/points"),
                    REGISTRY_WRITERS,
                    &[200],
                ),
                json!({"points": 3}),
            ),
            public(
                Method::GET,
                "/v1/licences/{number}/credential",
                format!("/v1/licences/{n}/credential"),
                GATEWAYS,
                &[200],
            ),
            public(
                Method::GET,
                "/v1/licences/{number}/credential/qr.png",
                format!("/v1/licences/{n}/credential/qr.png"),
                GATEWAYS,
                &[200],
            ),
            public(
                Method::GET,
                "/v1/licences/{number}/credential/qr.svg",
                format!("/v1/licences/{n}/credential/qr.svg"),
                GATEWAYS,
                &[200],
            ),
            public(
                Method::GET,
                "/v1/licences/{number}/lookups",
                format!("/v1/licences/{n}/lookups"),
                APPLICANTS,
                &[200],
            ),
            public(
                Method::GET,
                "/review/",
                "/review/".into(),
                Who::Anyone,
                &[200],
            ),
            public(
                Method::GET,
                "/review/{asset}",
                "/review/desk.js".into(),
                Who::Anyone,
                &[200],
            ),
            with(
                public(
                    Method::POST,
                    "/v1/sessions",
                    "/v1/sessions".into(),
                    Who::Anyone,
                    &[201],
                ),
                json!({"api_key": self.d.key("reviewer")}),
            ),
            public(
                Method::GET,
                "/v1/sessions/current",
                "/v1/sessions/current".into(),
                Who::Anyone,
                &[200],
            ),
            public(
                Method::DELETE,
                "/v1/sessions/current",
                "/v1/sessions/current".into(),
                REVIEWERS,
                &[200],
            ),
            admin(Method::GET, "/healthz", Who::Anyone, &[200]),
            admin(Method::GET, "/console/", Who::Anyone, &[200]),
            Call {
                path: "/console/console.js".into(),
                ..admin(Method::GET, "/console/{asset}", Who::Anyone, &[200])
            },
            with(
                admin(Method::POST, "/admin/v1/sessions", Who::Anyone, &[201]),
                json!({"api_key": self.d.key("operator")}),
            ),
            admin(
                Method::GET,
                "/admin/v1/sessions/current",
                Who::Anyone,
                &[200],
            ),
            admin(
                Method::DELETE,
                "/admin/v1/sessions/current",
                OPERATORS,
                &[200],
            ),
            admin(Method::GET, "/admin/v1/history", OPERATORS, &[200]),
            admin(Method::GET, "/admin/v1/nodes", OPERATORS, &[200]),
            admin(Method::GET, "/admin/v1/webhooks", OPERATORS, &[200]),
            with(
                admin(Method::POST, "/admin/v1/webhooks", OPERATORS, &[201]),
                json!({"url": "http://127.0.0.1:9/edl", "events": ["*"],
                    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwYjFiZGE2"}),
            ),
            Call {
                path: "/admin/v1/webhooks/00000000000000ff".into(),
                ..admin(Method::DELETE, "/admin/v1/webhooks/{id}", OPERATORS, &[404])
            },
            admin(
                Method::GET,
                "/admin/v1/webhooks/dead-letters",
                OPERATORS,
                &[200],
            ),
            with(
                admin(Method::POST, "/admin/v1/webhooks/replay", OPERATORS, &[200]),
                json!({"since": 0}),
            ),
            with(
                admin(
                    Method::POST,
                    "/admin/v1/throttle/simulate",
                    OPERATORS,
                    &[200],
                ),
                json!({"drain.rate": 500}),
            ),
            admin(Method::GET, "/metrics", Who::Anyone, &[200]),
            admin(Method::GET, "/openapi.json", Who::Anyone, &[200]),
            admin(Method::GET, "/admin/v1/queue", Who::Anyone, &[200]),
            admin(Method::GET, "/admin/v1/throttle", OPERATORS, &[200]),
            with(
                admin(Method::PATCH, "/admin/v1/throttle", OPERATORS, &[200]),
                json!({"client.mode": "off"}),
            ),
            admin(Method::POST, "/admin/v1/throttle/pause", OPERATORS, &[200]),
            admin(Method::POST, "/admin/v1/throttle/resume", OPERATORS, &[200]),
            Call {
                path: format!("/admin/v1/audit?licence={n}"),
                ..admin(Method::GET, "/admin/v1/audit", OPERATORS, &[200])
            },
            admin(Method::GET, "/admin/v1/audit/verify", OPERATORS, &[200]),
            admin(Method::GET, "/admin/v1/clients", OPERATORS, &[200]),
            with(
                Call {
                    path: "/admin/v1/clients/dev-employer/delegates".into(),
                    ..admin(
                        Method::PUT,
                        "/admin/v1/clients/{name}/delegates",
                        OPERATORS,
                        &[200],
                    )
                },
                json!({"delegates": []}),
            ),
            with(
                admin(Method::POST, "/admin/v1/clients", OPERATORS, &[201]),
                json!({"name": client_name, "role": "employer"}),
            ),
            Call {
                path: "/admin/v1/clients/matrix-doomed".into(),
                ..admin(
                    Method::DELETE,
                    "/admin/v1/clients/{name}",
                    OPERATORS,
                    &[200, 404],
                )
            },
        ]
    }
}

/// How a caller authenticates.
#[derive(Clone, Copy, Debug)]
enum Credentials {
    None,
    Key(Role),
    Certificate(Role),
}

impl Credentials {
    fn role(self) -> Option<&'static str> {
        match self {
            Credentials::None => None,
            Credentials::Key(r) | Credentials::Certificate(r) => Some(r.as_str()),
        }
    }
}

async fn connect(f: &Fixture, listener: Listener, credentials: Credentials) -> Client {
    match (listener, credentials) {
        (Listener::Admin, _) => f.d.admin_client().await.unwrap(),
        (Listener::Public, Credentials::Certificate(role)) => {
            let (cert, key) = f.d.role_certificate(role).unwrap();
            f.d.client_with_certificate(&cert, &key).await.unwrap()
        }
        (Listener::Public, _) => f.d.client().await.unwrap(),
    }
}

async fn send(f: &Fixture, call: &Call, credentials: Credentials) -> Reply {
    // A new connection each time: a refusal may leave a request body unread, after which
    // the server closes the connection.
    let mut c = connect(f, call.listener, credentials).await;
    let key = match credentials {
        Credentials::Key(role) => Some(f.d.key(role.as_str()).to_owned()),
        _ => None,
    };
    let body = call
        .body
        .as_ref()
        .map(|b| ("application/json", b.to_string().into_bytes()));
    c.send(call.method.clone(), &call.path, key.as_deref(), body)
        .await
        .unwrap()
}

/// Checks one answer against the table; returns a line describing it.
#[track_caller]
fn check(call: &Call, credentials: Credentials, reply: &Reply) {
    let what = format!(
        "{:?} {} {} as {credentials:?}: {} {}",
        call.listener,
        call.method,
        call.path,
        reply.status,
        String::from_utf8_lossy(&reply.body)
    );
    let status = reply.status.as_u16();
    let allowed = match (call.who, credentials.role()) {
        (Who::Anyone, _) => true,
        (Who::Roles(_), None) => false,
        (Who::Roles(roles), Some(role)) => roles.contains(&role),
    };
    match (call.who, credentials.role(), allowed) {
        (Who::Roles(_), None, _) => {
            assert_eq!(status, 401, "{what}");
            assert!(
                reply
                    .header("www-authenticate")
                    .is_some_and(|v| v.starts_with("Bearer")),
                "{what}"
            );
        }
        (_, _, false) => assert_eq!(status, 403, "{what}"),
        (_, _, true) => assert!(call.ok.contains(&status), "{what}"),
    }
    if status >= 400 {
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json"),
            "{what}"
        );
        let body = reply.json().unwrap();
        let fields: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert!(
            fields.iter().all(|k| PROBLEM_FIELDS.contains(&k.as_str())),
            "{what}"
        );
        assert_eq!(body["status"], status, "{what}");
    }
    if call.pattern == "/v1/credentials/{id}/status" && status == 200 {
        let body = reply.json().unwrap();
        let top: BTreeSet<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            top,
            BTreeSet::from(["credential_id", "status", "checked_at", "licence"]),
            "{what}"
        );
        let licence: BTreeSet<&str> = body["licence"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let role = credentials.role().unwrap();
        assert_eq!(licence, licence_fields(role), "{what}");
    }
}

async fn fixture() -> Fixture {
    let d = TestDaemon::start_with_client_certs().await.unwrap();
    let mut c = d.client().await.unwrap();
    d.set_throttle(&json!({"client.mode": "off", "licence.mode": "off"}))
        .await
        .unwrap();
    let mut admin = d.admin_client().await.unwrap();
    let reply = admin
        .json(
            Method::POST,
            "/admin/v1/clients",
            Some(d.key("operator")),
            &json!({"name": "matrix-doomed", "role": "rental"}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    // The gateway's applications are read by every applicant of the matrix: the window
    // and both certificate clients act for it.
    let reply = admin
        .json(
            Method::PUT,
            "/admin/v1/clients/dev-gateway/delegates",
            Some(d.key("operator")),
            &json!({"delegates": ["dev-window", "cert:test-gateway", "cert:test-window"]}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.body);

    let numbers = licence_numbers(7, 440_301);
    for (i, n) in numbers.iter().enumerate() {
        let mut body = licence_json(n, &format!("持证人{i}"), &["C1"]);
        if (2..5).contains(&i) {
            body["photo"] = Value::Null;
        }
        let reply = c
            .json(
                Method::PUT,
                &format!("/v1/licences/{n}"),
                Some(d.key("registry")),
                &body,
            )
            .await
            .unwrap();
        assert_eq!(reply.status, 201, "{:?}", reply.body);
    }
    let gateway = d.key("gateway").to_owned();
    let mut apply = async |body: Value| -> String {
        let reply = c
            .json(Method::POST, "/v1/applications", Some(&gateway), &body)
            .await
            .unwrap();
        assert_eq!(reply.status, 202, "{:?}", reply.body);
        reply.json().unwrap()["ticket"].as_str().unwrap().to_owned()
    };
    let ticket =
        apply(json!({"licence_number": numbers[0].as_str(), "photo_source": "on_file"})).await;
    let mut uploaded = Vec::new();
    for n in &numbers[2..5] {
        uploaded.push(
            apply(json!({"licence_number": n.as_str(), "photo_source": "camera", "photo": STANDARD.encode(&*PORTRAIT)}))
                .await,
        );
    }
    let mut c = d.client().await.unwrap();
    let credential = wait_issued(&mut c, &gateway, &ticket).await.unwrap()["credential"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Fixture {
        ticket,
        credential,
        photo_ticket: uploaded[0].clone(),
        approve_ticket: uploaded[1].clone(),
        reject_ticket: uploaded[2].clone(),
        licence: numbers[0].to_string(),
        apply_licence: numbers[1].to_string(),
        changing: licence_json(&numbers[5], "变更", &["C1"]),
        changing_number: numbers[5].to_string(),
        d,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_against_every_endpoint() {
    let f = fixture().await;

    // The matrix walks every route of both listeners.
    let walked: BTreeSet<(Listener, String, &str)> = f
        .calls()
        .iter()
        .map(|c| (c.listener, c.method.to_string(), c.pattern))
        .collect();
    let routed: BTreeSet<(Listener, String, &str)> = daemon::testing::routes()
        .into_iter()
        .map(|(admin, method, path)| {
            let listener = if admin {
                Listener::Admin
            } else {
                Listener::Public
            };
            (listener, method, path)
        })
        .collect();
    assert_eq!(walked, routed, "the matrix and the routers differ");

    let mut callers = vec![Credentials::None];
    callers.extend(Role::ALL.map(Credentials::Key));
    callers.extend(Role::ALL.map(Credentials::Certificate));
    let mut answered = 0;
    for credentials in callers {
        for call in f.calls() {
            if matches!(credentials, Credentials::Certificate(_))
                && call.listener == Listener::Admin
            {
                // The admin listener is plain HTTP on loopback: API keys only.
                continue;
            }
            let reply = send(&f, &call, credentials).await;
            check(&call, credentials, &reply);
            answered += 1;
        }
    }
    assert!(answered > 500, "{answered}");
}

/// A role that may not call an endpoint learns nothing about the resource it names: the
/// refusal for an existing ticket, licence or credential is the refusal for a made-up
/// one, and live status of an unknown credential looks like that of a malformed id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_do_not_tell_what_exists() {
    let f = fixture().await;
    let unknown_ticket = "00000000000000000000000000000000";
    let unknown_licence = licence_numbers(1, 440_399).remove(0).to_string();
    for role in ["officer", "insurer", "rental", "employer", "operator"] {
        let key = f.d.key(role).to_owned();
        for (existing, missing) in [
            (
                format!("/v1/applications/{}", f.ticket),
                format!("/v1/applications/{unknown_ticket}"),
            ),
            (
                format!("/v1/applications/{}/photo", f.photo_ticket),
                format!("/v1/applications/{unknown_ticket}/photo"),
            ),
            (
                format!("/v1/licences/{}", f.licence),
                format!("/v1/licences/{unknown_licence}"),
            ),
        ] {
            let mut c = f.d.client().await.unwrap();
            let a = c.get(&existing, Some(&key)).await.unwrap();
            let b = c.get(&missing, Some(&key)).await.unwrap();
            assert_eq!(a.status, 403, "{role} {existing}");
            assert_eq!(
                (a.status, &a.body),
                (b.status, &b.body),
                "{role} {existing}"
            );
        }
    }
    let mut c = f.d.client().await.unwrap();
    let unknown = c
        .get(
            "/v1/credentials/0123456789abcdef0123456789abcdef/status?purpose=x",
            Some(f.d.key("insurer")),
        )
        .await
        .unwrap();
    let malformed = c
        .get(
            "/v1/credentials/not-an-id/status?purpose=x",
            Some(f.d.key("insurer")),
        )
        .await
        .unwrap();
    assert_eq!(unknown.status, 404);
    assert_eq!(
        (unknown.status, &unknown.body),
        (malformed.status, &malformed.body)
    );
}

/// Two `Authorization` headers on one request are ambiguous: 401, even when both carry
/// the same good key, on both listeners; the same key sent once is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_authorization_headers_are_refused() {
    let d = TestDaemon::start().await.unwrap();
    let bearer = |role: &str| ("authorization", format!("Bearer {}", d.key(role)));
    let status = "/v1/credentials/0123456789abcdef0123456789abcdef/status";
    let mut c = d.client().await.unwrap();
    let once = c
        .send_with(Method::GET, status, &[bearer("officer")], None)
        .await
        .unwrap();
    assert_eq!(once.status, 404, "{once:?}");
    for headers in [
        [bearer("officer"), bearer("officer")],
        [bearer("officer"), bearer("insurer")],
        [
            bearer("officer"),
            ("authorization", "Bearer edl_officer_wrong".into()),
        ],
        [("authorization", "Basic eDp5".into()), bearer("officer")],
    ] {
        let twice = c
            .send_with(Method::GET, status, &headers, None)
            .await
            .unwrap();
        assert_eq!(twice.status, 401, "{headers:?}: {twice:?}");
        assert!(twice.header("www-authenticate").is_some(), "{twice:?}");
    }
    let mut admin = d.admin_client().await.unwrap();
    let once = admin
        .send_with(
            Method::GET,
            "/admin/v1/clients",
            &[bearer("operator")],
            None,
        )
        .await
        .unwrap();
    assert_eq!(once.status, 200, "{once:?}");
    let twice = admin
        .send_with(
            Method::GET,
            "/admin/v1/clients",
            &[bearer("operator"), bearer("operator")],
            None,
        )
        .await
        .unwrap();
    assert_eq!(twice.status, 401, "{twice:?}");
    d.stop().await.unwrap();
}

/// Client certificates: only one from the configured CA, valid now, usable by clients and
/// mapped to a role authenticates; everything else is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_checked() {
    let f = fixture().await;
    let d = &f.d;
    let status_path = format!("/v1/credentials/{}/status", f.credential);
    let ca = d.client_ca.as_ref().unwrap();

    // A certificate of the right CA carrying a role: allowed where the role is, with its
    // fields, and refused (403) elsewhere.
    let (cert, key) = d.role_certificate(Role::Officer).unwrap();
    let mut c = d.client_with_certificate(&cert, &key).await.unwrap();
    let reply = c.get(&status_path, None).await.unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        reply.json().unwrap()["licence"].as_object().unwrap().len(),
        8
    );
    assert_eq!(c.get("/v1/reviews", None).await.unwrap().status, 403);

    // No certificate: the handshake succeeds and the request needs a key (401).
    let mut c = d.client().await.unwrap();
    let reply = c.get(&status_path, None).await.unwrap();
    assert_eq!(reply.status, 401);

    // A certificate and a key at once: refused, whatever the key.
    let mut c = d.client_with_certificate(&cert, &key).await.unwrap();
    let reply = c.get(&status_path, Some(d.key("officer"))).await.unwrap();
    assert_eq!(reply.status, 401);

    // Signed by the right CA, but no [[tls.clients]] entry matches its names.
    let (unmapped, unmapped_key) = ca.issue("stranger", "nobody", |_| {}).unwrap();
    let mut c = d
        .client_with_certificate(&unmapped, &unmapped_key)
        .await
        .unwrap();
    assert_eq!(c.get(&status_path, None).await.unwrap().status, 401);

    // Refused in the handshake: no request gets an answer.
    let other_ca = ClientCa::new("someone else's CA").unwrap();
    let (_, wrong_key) = ca.issue("test-officer", "officer", |_| {}).unwrap();
    let refused = [
        (
            "unknown CA",
            other_ca.issue("test-officer", "officer", |_| {}).unwrap(),
        ),
        (
            "expired",
            ca.issue("test-officer", "officer", |p| {
                p.not_before = rcgen::date_time_ymd(2020, 1, 1);
                p.not_after = rcgen::date_time_ymd(2021, 1, 1);
            })
            .unwrap(),
        ),
        (
            "not yet valid",
            ca.issue("test-officer", "officer", |p| {
                p.not_before = rcgen::date_time_ymd(2090, 1, 1);
                p.not_after = rcgen::date_time_ymd(2091, 1, 1);
            })
            .unwrap(),
        ),
        (
            "for servers only",
            ca.issue("test-officer", "officer", |p| {
                p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
            })
            .unwrap(),
        ),
        ("someone else's key", (cert.clone(), wrong_key)),
    ];
    for (what, (cert, key)) in refused {
        let outcome = match d.client_with_certificate(&cert, &key).await {
            // TLS 1.3: the client finishes first; the server's refusal arrives as an alert.
            Ok(mut c) => c.get(&status_path, None).await.map(|r| r.status),
            Err(e) => Err(e),
        };
        assert!(outcome.is_err(), "{what}: answered {outcome:?}");
    }
}

/// `edld clients add|list|revoke` against the running daemon: a new key works at once,
/// is listed without its secret, and stops working when revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_command_line() {
    let d = TestDaemon::start().await.unwrap();
    let edld = tests::edld_binary().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&edld)
            .arg("clients")
            .args(args)
            .arg("--admin-listen")
            .arg(d.admin.to_string())
            .arg("--data")
            .arg(d.data_dir())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, key, err) = tokio::task::block_in_place(|| {
        run(&["add", "--name", "acme-insurance", "--role", "insurer"])
    });
    assert_eq!(code, Some(0), "{err}");
    let key = key.trim().to_owned();
    assert!(key.starts_with("edl_insurer_"), "{key}");
    let status = async |key: &str| {
        let mut c = d.client().await.unwrap();
        c.get(
            "/v1/credentials/0123456789abcdef0123456789abcdef/status?purpose=x",
            Some(key),
        )
        .await
        .unwrap()
        .status
    };
    assert_eq!(status(&key).await, 404);

    let (code, list, err) = tokio::task::block_in_place(|| run(&["list"]));
    assert_eq!(code, Some(0), "{err}");
    assert!(
        list.lines()
            .any(|l| l.starts_with("acme-insurance") && l.contains("insurer")),
        "{list}"
    );
    assert!(!list.contains(&key));

    let (code, _, err) = tokio::task::block_in_place(|| {
        run(&["add", "--name", "acme-insurance", "--role", "insurer"])
    });
    assert_ne!(code, Some(0));
    assert!(err.contains("exists"), "{err}");

    let (code, out, err) = tokio::task::block_in_place(|| run(&["revoke", "acme-insurance"]));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("revoked acme-insurance"), "{out}");
    assert_eq!(status(&key).await, 401);
}

/// Without a running daemon, `edld clients` works on the data directory itself: how the
/// first operator key of an installation is made. The daemon then accepts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_command_line_offline() {
    let d = TestDaemon::start().await.unwrap();
    let admin = d.admin;
    let dir = d.stop().await.unwrap();
    let edld = tests::edld_binary().unwrap();
    let data = dir.path().join("data");
    let out = std::process::Command::new(&edld)
        .args(["clients", "add", "--name", "ops-1", "--role", "operator"])
        .arg("--admin-listen")
        .arg(admin.to_string())
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(key.starts_with("edl_operator_"), "{key}");

    let d = TestDaemon::start_with(Options::default(), dir, None)
        .await
        .unwrap();
    let mut admin = d.admin_client().await.unwrap();
    let reply = admin.get("/admin/v1/clients", Some(&key)).await.unwrap();
    assert_eq!(reply.status, 200);
    assert!(
        reply.json().unwrap()["clients"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "ops-1" && c["role"] == "operator")
    );
}

/// `edl-verify` on a terminal that authenticates with a client certificate instead of an
/// API key gets the live status; with a certificate of an unknown CA it gets nothing from
/// the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edl_verify_with_a_client_certificate() {
    let f = fixture().await;
    let d = &f.d;
    let now = daemon::Clock::now(d.clock.as_ref());
    let mut c = d.client().await.unwrap();
    let qr = c
        .get(
            &format!("/v1/applications/{}", f.ticket),
            Some(d.key("gateway")),
        )
        .await
        .unwrap()
        .json()
        .unwrap()["credential"]["qr_text"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, (cert, key): (String, String)| {
        std::fs::write(dir.path().join(format!("{name}.pem")), cert).unwrap();
        std::fs::write(dir.path().join(format!("{name}.key")), key).unwrap();
        let config = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "server = \"https://localhost:{port}\"\nroots = [\"{root}\"]\n\
                 client_cert = \"{name}.pem\"\nclient_key = \"{name}.key\"\nca = \"{ca}\"\n\
                 cache_dir = \"{cache}\"\nmax_status_age = \"24h\"\n",
                port = d.addr.port(),
                root = d.data_dir().join("keys/root.pub.pem").display(),
                ca = d.dir.path().join("cert.pem").display(),
                cache = dir.path().join("cache").display(),
            ),
        )
        .unwrap();
        config.display().to_string()
    };
    let terminal = write("terminal", d.role_certificate(Role::Officer).unwrap());
    let stranger = write(
        "stranger",
        ClientCa::new("someone else's CA")
            .unwrap()
            .issue("test-officer", "officer", |_| {})
            .unwrap(),
    );
    let verify = async |config: &str, command: &str| {
        let mut args = vec!["--config".to_owned(), config.into(), command.into()];
        if command == "check" {
            args.extend(["--json".to_owned(), qr.clone()]);
        }
        verify_cli(args, now).await.unwrap()
    };
    let (code, out, err) = verify(&terminal, "sync").await;
    assert_eq!(code, 0, "{out} {err}");
    let (code, out, _) = verify(&terminal, "check").await;
    let verdict: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (code, verdict["status"]["source"].as_str()),
        (0, Some("live")),
        "{verdict}"
    );

    // A terminal with a certificate of another CA is refused in the handshake, for a sync
    // as for live status; with the cache the first terminal left it falls back on the
    // cached status list.
    let (code, out, err) = verify(&stranger, "sync").await;
    assert_eq!(code, 69, "{out} {err}");
    assert!(err.contains("UnknownCA"), "{err}");
    let (code, out, _) = verify(&stranger, "check").await;
    let verdict: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (code, verdict["status"]["source"].as_str()),
        (0, Some("cached_list")),
        "{verdict}"
    );
}

/// Tickets are the applicant's own (OWASP API1): another gateway or a window client gets the
/// same 404 as for an unknown ticket on the ticket, its QR codes and the credential's
/// refresh, until the operator names it as the applicant's delegate. Whoever applied, the
/// gateway reads a licence's current credential, and that read is audited like a lookup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_are_read_only_by_their_applicant_or_its_delegates() {
    let d = TestDaemon::start().await.unwrap();
    let mut c = d.client().await.unwrap();
    let mut admin = d.admin_client().await.unwrap();
    let reply = admin
        .json(
            Method::POST,
            "/admin/v1/clients",
            Some(d.key("operator")),
            &json!({"name": "other-gateway", "role": "gateway"}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let other = reply.json().unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_owned();

    let number = licence_numbers(1, 440_501).remove(0);
    let reply = c
        .json(
            Method::PUT,
            &format!("/v1/licences/{number}"),
            Some(d.key("registry")),
            &licence_json(&number, "持证人", &["C1"]),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let gateway = d.key("gateway").to_owned();
    let reply = c
        .json(
            Method::POST,
            "/v1/applications",
            Some(&gateway),
            &json!({"licence_number": number.as_str(), "photo_source": "on_file"}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    let ticket = reply.json().unwrap()["ticket"].as_str().unwrap().to_owned();
    let issued = wait_issued(&mut c, &gateway, &ticket).await.unwrap();
    let credential = issued["credential"]["id"].as_str().unwrap().to_owned();

    let unknown = "00000000000000000000000000000000";
    let reads = |t: &str| {
        [
            format!("/v1/applications/{t}"),
            format!("/v1/applications/{t}/qr.png"),
            format!("/v1/applications/{t}/qr.svg"),
        ]
    };
    let window = d.key("window").to_owned();
    for key in [&other, &window] {
        for (path, missing) in reads(&ticket).iter().zip(reads(unknown)) {
            let refused = c.get(path, Some(key)).await.unwrap();
            let absent = c.get(&missing, Some(key)).await.unwrap();
            assert_eq!(refused.status, 404, "{path}: {refused:?}");
            assert_eq!(
                (refused.status, &refused.body),
                (absent.status, &absent.body)
            );
        }
        let refresh = c
            .json(
                Method::POST,
                &format!("/v1/credentials/{credential}/refresh"),
                Some(key),
                &json!({}),
            )
            .await
            .unwrap();
        assert_eq!(refresh.status, 404, "{refresh:?}");
    }
    // The applicant itself reads them all.
    for path in reads(&ticket) {
        assert_eq!(
            c.get(&path, Some(&gateway)).await.unwrap().status,
            200,
            "{path}"
        );
    }

    // Named as a delegate, the other gateway reads the ticket; the window still does not.
    let reply = admin
        .json(
            Method::PUT,
            "/admin/v1/clients/dev-gateway/delegates",
            Some(d.key("operator")),
            &json!({"delegates": ["other-gateway"]}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    for path in reads(&ticket) {
        assert_eq!(
            c.get(&path, Some(&other)).await.unwrap().status,
            200,
            "{path}"
        );
        assert_eq!(
            c.get(&path, Some(&window)).await.unwrap().status,
            404,
            "{path}"
        );
    }
    let read = c
        .get(&format!("/v1/applications/{ticket}"), Some(&other))
        .await
        .unwrap();
    assert_eq!(
        read.json().unwrap()["credential"]["id"],
        credential.as_str()
    );

    // The licence's current credential, whoever applied: the gateway only, audited.
    let current = c
        .get(&format!("/v1/licences/{number}/credential"), Some(&other))
        .await
        .unwrap();
    assert_eq!(current.status, 200, "{current:?}");
    assert_eq!(
        current.json().unwrap()["id"],
        credential.as_str(),
        "{current:?}"
    );
    let by_window = c
        .get(&format!("/v1/licences/{number}/credential"), Some(&window))
        .await
        .unwrap();
    assert_eq!(by_window.status, 403, "{by_window:?}");
    let audit = admin
        .get(
            &format!("/admin/v1/audit?licence={number}"),
            Some(d.key("operator")),
        )
        .await
        .unwrap();
    assert_eq!(audit.status, 200, "{audit:?}");
    let text = String::from_utf8_lossy(&audit.body).into_owned();
    assert!(
        text.contains("credential.read") && text.contains("other-gateway"),
        "{text}"
    );
    d.stop().await.unwrap();
}
