//! Holder binding end to end over TLS: the app sends its device key with the application
//! (`holder_key`, a JWK made by `edl-holder keygen`), the credential carries it in `cnf`,
//! `edl-holder present --once` turns it into a `DL2:` presentation that verifies against the
//! daemon's trust list, and refreshes and re-issues stay bound to the same key. Keys that are
//! not public Ed25519 keys, and a second device key while an application is open, are refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::Method;
use keys::UnixTime;
use keys::presentation::{PresentationError, PresentationPolicy};
use keys::token::VerifyPolicy;
use keys::trust_list::TrustList;
use serde_json::{Value, json};
use tests::client::Client;
use tests::{TestDaemon, licence_json, licence_numbers, wait_issued};

/// `edl-holder` in-process at a fixed time.
struct At(UnixTime);

impl holder::Clock for At {
    fn now(&mut self) -> UnixTime {
        self.0
    }
    fn sleep_until(&mut self, until: UnixTime) {
        self.0 = until;
    }
}

fn edl_holder(args: &[&str], now: UnixTime) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut io = holder::Io {
        stdout: &mut out,
        stderr: &mut err,
        stdout_is_terminal: false,
    };
    let code = holder::run(
        std::iter::once("edl-holder").chain(args.iter().copied()),
        &mut io,
        &mut At(now),
    );
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

async fn trust(d: &TestDaemon, c: &mut Client) -> TrustList {
    let reply = c.get("/v1/trust-list", None).await.unwrap();
    keys::trust_list::verify(&reply.body, &[d.root().unwrap()], None).unwrap()
}

fn token(credential: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(credential["token"].as_str().unwrap())
        .unwrap()
}

async fn apply(c: &mut Client, key: &str, number: &str, holder_key: Value) -> (u16, Value) {
    let (status, body) = apply_raw(c, key, number, holder_key).await;
    (status.as_u16(), body)
}

async fn apply_raw(
    c: &mut Client,
    key: &str,
    number: &str,
    holder_key: Value,
) -> (hyper::StatusCode, Value) {
    let reply = c
        .json(
            Method::POST,
            "/v1/applications",
            Some(key),
            &json!({"licence_number": number, "photo_source": "on_file", "holder_key": holder_key}),
        )
        .await
        .unwrap();
    let body = reply.json().unwrap_or(Value::Null);
    (reply.status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_bound_to_the_device_key_is_presented_by_it() {
    let d = TestDaemon::start().await.unwrap();
    let mut c = d.client().await.unwrap();
    let now = daemon::Clock::now(d.clock.as_ref());
    let dir = tempfile::tempdir().unwrap();
    let device = dir.path().join("device.pem");
    let (code, jwk, err) = edl_holder(&["keygen", "--out", device.to_str().unwrap()], now);
    assert_eq!(code, 0, "{err}");
    let jwk: Value = serde_json::from_str(&jwk).unwrap();
    let other = dir.path().join("other.pem");
    let (_, other_jwk, _) = edl_holder(&["keygen", "--out", other.to_str().unwrap()], now);
    let other_jwk: Value = serde_json::from_str(&other_jwk).unwrap();

    let numbers = licence_numbers(2, 440_601);
    for n in &numbers {
        let reply = c
            .json(
                Method::PUT,
                &format!("/v1/licences/{n}"),
                Some(d.key("registry")),
                &licence_json(n, "持证人", &["C1"]),
            )
            .await
            .unwrap();
        assert_eq!(reply.status, 201, "{:?}", reply.body);
    }
    let gateway = d.key("gateway").to_owned();
    let number = numbers[0].as_str();

    // Draining paused: the application stays open while the requests below meet it.
    let mut admin = d.admin_client().await.unwrap();
    let operator = d.key("operator").to_owned();
    let drain = async |admin: &mut Client, what: &str| {
        let path = format!("/admin/v1/throttle/{what}");
        let reply = admin
            .send_with(
                Method::POST,
                &path,
                &[("authorization", format!("Bearer {operator}"))],
                None,
            )
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{reply:?}");
    };
    drain(&mut admin, "pause").await;
    let (status, body) = apply(&mut c, &gateway, number, jwk.clone()).await;
    assert_eq!(status, 202, "{body}");
    let ticket = body["ticket"].as_str().unwrap().to_owned();
    // The same request again answers the open application; another device key is refused
    // while it is open.
    let (status, again) = apply(&mut c, &gateway, number, jwk.clone()).await;
    assert_eq!(
        (status, &again["ticket"]),
        (200, &body["ticket"]),
        "{again}"
    );
    let (status, refused) = apply(&mut c, &gateway, number, other_jwk.clone()).await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["detail"].as_str().unwrap().contains("holder_key"),
        "{refused}"
    );
    let (status, _) = apply(&mut c, &gateway, number, Value::Null).await;
    assert_eq!(status, 422);
    drain(&mut admin, "resume").await;

    let credential = wait_issued(&mut c, &gateway, &ticket).await.unwrap()["credential"].clone();
    let trust = trust(&d, &mut c).await;
    let verified = keys::token::verify_token(
        &token(&credential),
        &trust.keyring(),
        &VerifyPolicy::at(now),
    )
    .unwrap();
    let device_key = keys::jwk::parse_holder_key(&jwk.to_string()).unwrap();
    assert_eq!(verified.holder_key, Some(device_key.clone()));

    // The device presents it; the presentation verifies against the trust list.
    let file = dir.path().join("credential.txt");
    std::fs::write(&file, credential["qr_text"].as_str().unwrap()).unwrap();
    let present = |key: &std::path::Path| {
        edl_holder(
            &[
                "present",
                "--credential",
                file.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
                "--once",
            ],
            now,
        )
    };
    let (code, text, err) = present(&device);
    assert_eq!(code, 0, "{err}");
    let text = text.trim();
    assert!(text.starts_with("DL2:"), "{text}");
    let presentation = keys::qr::decode_presentation(text).unwrap();
    let shown = keys::presentation::verify(
        &presentation,
        &trust.keyring(),
        &PresentationPolicy::at(now),
    )
    .unwrap();
    assert_eq!(
        shown.credential.claims.credential_id,
        verified.credential.claims.credential_id
    );
    // Long after its slot, the same presentation is refused.
    let later = PresentationPolicy::at(UnixTime(now.0 + 600));
    assert!(matches!(
        keys::presentation::verify(&presentation, &trust.keyring(), &later),
        Err(PresentationError::Expired(_))
    ));
    // The other device cannot present it.
    let (code, _, err) = present(&other);
    assert_ne!(code, 0);
    assert!(err.contains("bound to device key"), "{err}");

    // A refresh keeps the binding.
    let id = credential["id"].as_str().unwrap();
    let refreshed = c
        .json(
            Method::POST,
            &format!("/v1/credentials/{id}/refresh"),
            Some(&gateway),
            &json!({}),
        )
        .await
        .unwrap();
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    let refreshed = refreshed.json().unwrap();
    let again =
        keys::token::verify_token(&token(&refreshed), &trust.keyring(), &VerifyPolicy::at(now))
            .unwrap();
    assert_eq!(again.holder_key, Some(device_key.clone()));

    // A class change re-issues, bound to the same device.
    let reply = c
        .json(
            Method::PUT,
            &format!("/v1/licences/{number}"),
            Some(d.key("registry")),
            &licence_json(&numbers[0], "持证人", &["C1", "D"]),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let reissue = reply.json().unwrap()["reissue_ticket"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("a re-issue ticket: {:?}", reply.body));
    let reissued = wait_issued(&mut c, &gateway, &reissue).await.unwrap()["credential"].clone();
    let reissued =
        keys::token::verify_token(&token(&reissued), &trust.keyring(), &VerifyPolicy::at(now))
            .unwrap();
    assert_eq!(reissued.holder_key, Some(device_key));
    assert_eq!(
        reissued.credential.claims.licence.classes.to_string(),
        "C1 D"
    );

    // Without a holder key, a bearer credential as before.
    let (status, body) = apply(&mut c, &gateway, numbers[1].as_str(), Value::Null).await;
    assert_eq!(status, 202, "{body}");
    let bearer = wait_issued(&mut c, &gateway, body["ticket"].as_str().unwrap())
        .await
        .unwrap()["credential"]
        .clone();
    let bearer =
        keys::token::verify_token(&token(&bearer), &trust.keyring(), &VerifyPolicy::at(now))
            .unwrap();
    assert_eq!(bearer.holder_key, None);
    d.stop().await.unwrap();
}

/// Keys that are not a public Ed25519 key are refused before anything is stored: shapes
/// with 400, an `x` that is no point of the curve with 422.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holder_keys_that_are_not_public_ed25519_keys_are_refused() {
    let d = TestDaemon::start().await.unwrap();
    let mut c = d.client().await.unwrap();
    let number = licence_numbers(1, 440_602).remove(0);
    let reply = c
        .json(
            Method::PUT,
            &format!("/v1/licences/{number}"),
            Some(d.key("registry")),
            &licence_json(&number, "持证人", &["C1"]),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 201);
    let x = URL_SAFE_NO_PAD.encode(keys::SigningKey::from_seed(&[9; 32]).public().to_bytes());
    // The y coordinate 2 is on no Ed25519 point.
    let mut off_curve = [0u8; 32];
    off_curve[0] = 2;
    let off_curve = URL_SAFE_NO_PAD.encode(off_curve);
    let gateway = d.key("gateway").to_owned();
    for (key, status) in [
        (json!({"kty": "OKP", "crv": "Ed25519", "x": x, "d": x}), 400),
        (json!({"kty": "EC", "crv": "P-256", "x": x, "y": x}), 400),
        (json!({"kty": "OKP", "crv": "X25519", "x": x}), 400),
        (json!({"kty": "OKP", "crv": "Ed25519", "x": &x[..40]}), 400),
        (
            json!({"kty": "OKP", "crv": "Ed25519", "x": x, "alg": "ES256"}),
            400,
        ),
        (
            json!({"kty": "OKP", "crv": "Ed25519", "x": x, "use": "enc"}),
            400,
        ),
        (json!({"kty": "OKP", "crv": "Ed25519"}), 400),
        (json!("OKP"), 400),
        (json!({"kty": "OKP", "crv": "Ed25519", "x": off_curve}), 422),
    ] {
        let (got, body) = apply(&mut c, &gateway, number.as_str(), key.clone()).await;
        assert_eq!(got, status, "{key}: {body}");
    }
    // Nothing was stored: a good key is still taken.
    let (got, body) = apply(
        &mut c,
        &gateway,
        number.as_str(),
        json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "the app's own", "alg": "EdDSA"}),
    )
    .await;
    assert_eq!(got, 202, "{body}");
    d.stop().await.unwrap();
}
