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

    // An independent implementation (pycose, cbor2) verifies the receipt edld made with
    // the status key's public key and reads the same statements from it.
    let status_public = d.dir.path().join("status.pub.pem");
    let status_key = std::fs::read_to_string(d.data_dir().join("keys/status.pem")).unwrap();
    let status_key = keys::SigningKey::from_pkcs8_pem(&status_key).unwrap();
    std::fs::write(&status_public, status_key.public().to_spki_pem()).unwrap();
    let expected = serde_json::json!({
        "credential": id, "status": "valid", "at": tests::START.0,
        "client": "dev-insurer", "role": "insurer", "purpose": "motor policy 77",
        "audit_record": hex::encode(r.audit_record),
    });
    assert_eq!(
        python_verify(&status_public, &signed, &expected).await,
        Ok(())
    );
    let mut tampered = signed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(
        python_verify(&status_public, &tampered, &expected)
            .await
            .is_err()
    );

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

/// A verifier configuration for a terminal of `role`, written to `dir/<role>.toml`.
fn terminal_config(dir: &std::path::Path, d: &TestDaemon, role: &str) -> String {
    let config = dir.join(format!("{role}.toml"));
    let text = format!(
        "server = \"https://localhost:{port}\"\n\
         roots = [\"{root}\"]\n\
         api_key = \"{key}\"\n\
         ca = \"{ca}\"\n\
         cache_dir = \"{cache}\"\n\
         max_status_age = \"24h\"\n",
        port = d.addr.port(),
        root = d.data_dir().join("keys/root.pub.pem").display(),
        key = d.key(role),
        ca = d.dir.path().join("cert.pem").display(),
        cache = dir.join(format!("cache-{role}")).display(),
    );
    std::fs::write(&config, text).unwrap();
    config.display().to_string()
}

/// `edl-verify --config CONFIG ARGS…`: exit code, stdout, stderr.
async fn edl_verify(config: &str, args: &[&str], now: keys::UnixTime) -> (u8, String, String) {
    let mut argv = vec!["--config".to_owned(), config.to_owned()];
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    tests::verify_cli(argv, now).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_with_receipt_saves_a_verified_receipt_the_gateway_then_lists() {
    let d = TestDaemon::start().await.unwrap();
    let now = daemon::Clock::now(d.clock.as_ref());
    let mut c = d.client().await.unwrap();
    let number = licence_numbers(1, 110_415).remove(0);
    let credential = issue_credential(&mut c, d.key("registry"), d.key("gateway"), &number)
        .await
        .unwrap();
    let qr = credential["qr_text"].as_str().unwrap().to_owned();
    let id = credential["id"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let insurer = terminal_config(dir.path(), &d, "insurer");
    let (code, out, err) = edl_verify(&insurer, &["sync"], now).await;
    assert_eq!(code, 0, "{out} {err}");

    // JSON: the verdict, and the receipt saved, verified, named.
    let file = dir.path().join("check.cwt");
    let path = file.display().to_string();
    let (code, out, err) = edl_verify(
        &insurer,
        &[
            "check",
            "--json",
            "--purpose",
            "policy 31",
            "--receipt",
            &path,
            &qr,
        ],
        now,
    )
    .await;
    assert_eq!(code, 0, "{out} {err}");
    let verdict: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(verdict["verdict"], "valid");
    assert_eq!(verdict["status"]["source"], "live");
    assert_eq!(verdict["receipt"]["file"], path.as_str());
    assert_eq!(verdict["receipt"]["status"], "valid");
    let saved = std::fs::read(&file).unwrap();
    let trust = c.get("/v1/trust-list", None).await.unwrap().body.to_vec();
    let keyring = keys::trust_list::verify(&trust, &[d.root().unwrap()], None)
        .unwrap()
        .keyring();
    let r = receipt::verify(&saved, &keyring).unwrap().receipt;
    assert_eq!(r.credential_id, id.parse::<CredentialId>().unwrap());
    assert_eq!(
        (r.client.as_str(), r.role.as_str()),
        ("dev-insurer", "insurer")
    );
    assert_eq!(r.purpose.as_deref(), Some("policy 31"));
    assert_eq!(
        verdict["receipt"]["audit_record"],
        hex::encode(r.audit_record)
    );

    // For a person: a line says where it went; `edl-verify receipt` reads it back.
    let human = dir.path().join("human.cwt").display().to_string();
    let (code, out, err) = edl_verify(
        &insurer,
        &["check", "--purpose", "policy 31", "--receipt", &human, &qr],
        now,
    )
    .await;
    assert_eq!(code, 0, "{out} {err}");
    assert!(
        out.contains(&format!("Receipt     saved to {human}: valid")),
        "{out}"
    );
    let (code, out, _) = edl_verify(&insurer, &["receipt", &human], now).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("RECEIPT VALID") && out.contains("dev-insurer"),
        "{out}"
    );

    // A role the server does not audit gets no receipt: 69 and why; nothing saved.
    let registry = terminal_config(dir.path(), &d, "registry");
    let (code, _, _) = edl_verify(&registry, &["sync"], now).await;
    assert_eq!(code, 0);
    let refused = dir.path().join("refused.cwt");
    let refused_path = refused.display().to_string();
    let (code, out, err) =
        edl_verify(&registry, &["check", "--receipt", &refused_path, &qr], now).await;
    assert_eq!(code, 69, "{out} {err}");
    assert!(err.contains("audited roles"), "{err}");
    assert!(!refused.exists());
    // Offline there is no live check to take a receipt of.
    let (code, _, _) = edl_verify(
        &insurer,
        &["check", "--offline", "--receipt", &refused_path, &qr],
        now,
    )
    .await;
    assert_eq!(code, 64);

    // The holder's gateway lists the insurer's lookups: two checks, each with its
    // receipt request, newest first.
    let reply = c
        .get(
            &format!("/v1/licences/{number}/lookups"),
            Some(d.key("gateway")),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    let page = reply.json().unwrap();
    let lookups = page["lookups"].as_array().unwrap();
    assert_eq!(lookups.len(), 4, "{page}");
    assert!(
        lookups
            .iter()
            .all(|l| l["client"] == "dev-insurer" && l["purpose"] == "policy 31")
    );
}

/// `keys/tests/interop/verify_receipt.py` (pycose and cbor2, as .ci/setup installs them)
/// on `receipt` against the status key in `public`, expecting it to state `expected`.
async fn python_verify(
    public: &std::path::Path,
    receipt: &[u8],
    expected: &serde_json::Value,
) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let (file, wanted) = (
        dir.path().join("receipt.cwt"),
        dir.path().join("expected.json"),
    );
    std::fs::write(&file, receipt).unwrap();
    std::fs::write(&wanted, expected.to_string()).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../keys/tests/interop/verify_receipt.py");
    let public = public.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script)
            .args([&public, &file, &wanted])
            .output()
    })
    .await
    .unwrap()
    .expect("python3 runs (install .ci/requirements.txt with .ci/setup)");
    let said = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if output.status.success() && said == "ok" {
        Ok(())
    } else {
        Err(format!(
            "{said} {}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
