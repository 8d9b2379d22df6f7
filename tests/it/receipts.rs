//! Signed status receipts: an insurer asking for `application/cwt` gets a receipt signed
//! by the trust list's status key, naming it, its role, its purpose, the status and the
//! hash of the lookup's audit record; a receipt changed in any byte is refused; a revoked
//! credential's receipt says so; receipts still verify offline once edld is stopped.

use hyper::Method;
use keys::receipt::{self, LiveStatus};
use keys::token::CredentialId;
use tests::client::Client;
use tests::{Options, TestDaemon, issue_credential, licence_numbers};

/// A live status lookup asking for a receipt with `accept`.
async fn ask(c: &mut Client, path: &str, key: &str, accept: &str) -> tests::client::Reply {
    let headers = [
        ("authorization", format!("Bearer {key}")),
        ("accept", accept.to_owned()),
        ("x-edl-purpose", "motor policy 77".to_owned()),
    ];
    c.send_with(Method::GET, path, &headers, None)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insurers_receipt_verifies_offline_and_names_its_audit_record() {
    let options = Options {
        tls: false,
        ..Options::default()
    };
    let d = TestDaemon::start_with(options, tempfile::tempdir().unwrap(), None)
        .await
        .unwrap();
    let mut c = d.client().await.unwrap();
    let number = licence_numbers(1, 110_102).remove(0);
    let credential = issue_credential(&mut c, d.key("registry"), d.key("gateway"), &number)
        .await
        .unwrap();
    let id = credential["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/credentials/{id}/status");
    let trust = c.get("/v1/trust-list", None).await.unwrap();
    let saved_trust = trust.body.to_vec();
    let root = d.root().unwrap();
    let keyring = keys::trust_list::verify(&saved_trust, std::slice::from_ref(&root), None)
        .unwrap()
        .keyring();

    let reply = ask(&mut c, &path, d.key("insurer"), "application/cwt").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/cwt"));
    let signed = reply.body.to_vec();
    let verified = receipt::verify(&signed, &keyring).unwrap();
    let r = &verified.receipt;
    assert_eq!(r.credential_id, id.parse::<CredentialId>().unwrap());
    assert_eq!(r.status, LiveStatus::Valid);
    assert_eq!(r.client, "dev-insurer");
    assert_eq!(r.role, "insurer");
    assert_eq!(r.purpose.as_deref(), Some("motor policy 77"));
    assert_eq!(r.at, tests::START);

    // Any single byte changed: refused.
    for i in 0..signed.len() {
        let mut tampered = signed.clone();
        tampered[i] ^= 0x01;
        assert!(
            receipt::verify(&tampered, &keyring).is_err(),
            "byte {i} flipped still verifies"
        );
    }

    // JSON as before without Accept, and with JSON preferred; 406 for neither.
    let reply = ask(&mut c, &path, d.key("insurer"), "application/json").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json().unwrap()["status"], "valid");
    // The audit hash is the stored record's `hash`, and the `prev` of the next record
    // the admin audit API shows for that licence (the JSON lookup above made it).
    let stored = daemon::testing::lookup_records(&d.data_dir()).unwrap();
    let first: serde_json::Value = serde_json::from_slice(&stored[0]).unwrap();
    assert_eq!(first["client"], "dev-insurer");
    assert_eq!(first["hash"].as_str().unwrap(), hex::encode(r.audit_record));
    let mut admin = d.admin_client().await.unwrap();
    let audit = admin
        .get(
            &format!("/admin/v1/audit?licence={number}"),
            Some(d.key("operator")),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    let lookups = audit["lookups"].as_array().unwrap();
    assert_eq!(lookups.len(), 2, "{audit}");
    assert_eq!(lookups[0]["client"], "dev-insurer");
    assert_eq!(lookups[0]["purpose"], "motor policy 77");
    assert_eq!(
        lookups[1]["prev"].as_str().unwrap(),
        hex::encode(r.audit_record)
    );

    let reply = ask(&mut c, &path, d.key("insurer"), "text/html").await;
    assert_eq!(reply.status, 406);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
    // Unaudited roles get no receipt: there is no audit record to name.
    let reply = ask(&mut c, &path, d.key("registry"), "application/cwt").await;
    assert_eq!(reply.status, 406, "{:?}", reply.body);

    // A revoked licence's credential: the receipt says revoked.
    let reply = c
        .json(
            Method::POST,
            &format!("/v1/licences/{number}/state"),
            Some(d.key("registry")),
            &serde_json::json!({"action": "revoke"}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let reply = ask(&mut c, &path, d.key("insurer"), "application/cwt").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let revoked = reply.body.to_vec();
    assert_eq!(
        receipt::verify(&revoked, &keyring).unwrap().receipt.status,
        LiveStatus::Revoked
    );

    // edld stopped: both receipts verify offline from the saved trust list.
    drop(c);
    drop(admin);
    d.stop().await.unwrap();
    let offline = keys::trust_list::verify(&saved_trust, &[root], None)
        .unwrap()
        .keyring();
    for (bytes, status) in [
        (&signed, LiveStatus::Valid),
        (&revoked, LiveStatus::Revoked),
    ] {
        assert_eq!(
            receipt::verify(bytes, &offline).unwrap().receipt.status,
            status
        );
    }
}
