//! The offline root end to end: keys and a trust list made with `edl-keys` on the "root
//! machine", the real `edld` started with the pre-signed list and its keys in a systemd
//! style credentials directory (never the root key), a credential issued; then the
//! credential key revoked with `edl-keys revoke` and a new list signed: every verifier
//! rejects the token under the new list, the daemon serves the new list after SIGHUP and
//! stops signing with the revoked key, and refuses to start with it.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::Method;
use keys::token::{VerifyError, VerifyPolicy};
use keys::trust_list::TrustList;
use tests::{RealDaemon, edl_keys_binary, edld_binary, issue_credential, licence_numbers};

fn run(program: &Path, args: &[&OsStr]) -> Output {
    Command::new(program).args(args).output().unwrap()
}

#[track_caller]
fn succeed(program: &Path, args: &[&OsStr]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{} {args:?}: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

#[allow(clippy::disallowed_methods)]
fn now() -> keys::UnixTime {
    keys::UnixTime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_in_the_offline_trust_list_is_refused_everywhere() {
    let (edl_keys, edld) = (edl_keys_binary().unwrap(), edld_binary().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (offline, credentials) = (dir.path().join("offline"), dir.path().join("credentials"));
    for d in [&offline, &credentials] {
        std::fs::create_dir(d).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let root = offline.join("root.pem");
    let credential_key = credentials.join("credential-key.pem");
    let status_key = credentials.join("status-key.pem");
    let trust_list = credentials.join("trust-list.cose");
    for (key_use, path) in [
        ("root", &root),
        ("credential", &credential_key),
        ("status", &status_key),
    ] {
        succeed(
            &edl_keys,
            &[
                os("generate"),
                os("--use"),
                os(key_use),
                os("--out"),
                path.as_os_str(),
            ],
        );
    }
    let root_public = dir.path().join("root.pub.pem");
    std::fs::copy(offline.join("root.pub.pem"), &root_public).unwrap();
    let base = "http://edl.test";
    let spec = offline.join("trust-list.toml");
    std::fs::write(
        &spec,
        format!(
            r#"issuer = "EDL-TEST"
sequence = 1
next_update = "7d"
status_lists = ["{base}/v1/status-lists/0", "{base}/v1/status-lists/1"]

[[keys]]
path = "{credential}"
use = "credential"
not_before = 2020-01-01T00:00:00Z

[[keys]]
path = "{status}"
use = "status"
not_before = 2020-01-01T00:00:00Z
"#,
            credential = credentials.join("credential-key.pub.pem").display(),
            status = credentials.join("status-key.pub.pem").display()
        ),
    )
    .unwrap();
    let sign = || {
        succeed(
            &edl_keys,
            &[
                os("trust-list"),
                os("sign"),
                os("--root"),
                root.as_os_str(),
                os("--spec"),
                spec.as_os_str(),
                os("--out"),
                trust_list.as_os_str(),
            ],
        )
    };
    sign();

    // The production shape: key paths under $CREDENTIALS_DIRECTORY, no root key.
    let data = dir.path().join("data");
    let config = dir.path().join("edld.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
data_dir = "{data}"
public_base_url = "{base}"
issuer = "EDL-TEST"
dev_keys = false
dev_clients = true

[keys]
credential = "$CREDENTIALS_DIRECTORY/credential-key.pem"
status = "$CREDENTIALS_DIRECTORY/status-key.pem"
trust_list = "$CREDENTIALS_DIRECTORY/trust-list.cose"
root_public = ["{root_public}"]
"#,
            data = data.display(),
            root_public = root_public.display()
        ),
    )
    .unwrap();
    let env: Vec<(&str, &OsStr)> = vec![("CREDENTIALS_DIRECTORY", credentials.as_os_str())];
    let check = |with_env: bool| {
        let mut command = Command::new(&edld);
        command.arg("check-config").arg("--config").arg(&config);
        if with_env {
            command.env("CREDENTIALS_DIRECTORY", &credentials);
        } else {
            command.env_remove("CREDENTIALS_DIRECTORY");
        }
        command.output().unwrap()
    };
    let out = check(false);
    assert_eq!(out.status.code(), Some(78));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("names $CREDENTIALS_DIRECTORY, which is not set"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(check(true).status.success(), "{:?}", check(true));

    // Key hygiene on the credential paths: a world-readable key is refused. (A group-
    // readable one is what systemd 254 and later make of a credential for a DynamicUser=
    // service, in a directory only the service can enter: accepted there.)
    std::fs::set_permissions(&credential_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let args: Vec<OsString> = vec!["--config".into(), config.clone().into()];
    let args: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
    let refused = RealDaemon::start(&edld, &args, &env)
        .err()
        .unwrap()
        .to_string();
    assert!(refused.contains("readable by group or others"), "{refused}");
    assert!(refused.contains("exit status: 78"), "{refused}");
    std::fs::set_permissions(&credential_key, std::fs::Permissions::from_mode(0o440)).unwrap();

    let running = RealDaemon::start(&edld, &args, &env).unwrap();
    let mut c = running.client().await.unwrap();
    // Served as-is.
    let served = c.get("/v1/trust-list", None).await.unwrap();
    assert_eq!(served.body.as_ref(), std::fs::read(&trust_list).unwrap());
    let root_key = daemon::testing::read_public(&root_public).unwrap();
    let list_1 =
        keys::trust_list::verify(&served.body, std::slice::from_ref(&root_key), None).unwrap();

    let clients: std::collections::HashMap<String, String> =
        daemon::testing::read_dev_clients(&data.join("dev-clients.txt"))
            .unwrap()
            .into_iter()
            .collect();
    let number = licence_numbers(1, 510_104).remove(0);
    let credential = issue_credential(&mut c, &clients["registry"], &clients["gateway"], &number)
        .await
        .unwrap();
    let token = URL_SAFE_NO_PAD
        .decode(credential["token"].as_str().unwrap())
        .unwrap();
    let policy = VerifyPolicy::at(now());
    let claims = keys::token::verify(&token, &list_1.keyring(), &policy).unwrap();
    assert_eq!(claims.claims.licence_number.as_str(), number.as_str());
    assert_eq!(
        claims.claims.status.uri,
        format!("{base}/v1/status-lists/0")
    );

    // Revoke the credential key offline and publish a new list.
    let kid = daemon::testing::read_public(&credentials.join("credential-key.pub.pem"))
        .unwrap()
        .key_id()
        .to_string();
    succeed(
        &edl_keys,
        &[
            os("revoke"),
            os("--spec"),
            spec.as_os_str(),
            os("--kid"),
            os(&kid),
        ],
    );
    sign();
    let signed_2 = std::fs::read(&trust_list).unwrap();
    let list_2: TrustList =
        keys::trust_list::verify(&signed_2, std::slice::from_ref(&root_key), Some(1)).unwrap();
    assert_eq!(list_2.sequence, 2);
    match keys::token::verify(&token, &list_2.keyring(), &policy) {
        Err(VerifyError::KeyRevoked(revoked)) => assert_eq!(revoked.to_string(), kid),
        other => panic!("expected KeyRevoked, got {other:?}"),
    }

    // The running daemon takes the new list on SIGHUP, serves it, and signs nothing more
    // with the revoked key.
    running.signal("HUP").unwrap();
    tests::poll(Duration::from_secs(30), || {
        let addr = running.public;
        let signed_2 = signed_2.clone();
        async move {
            let mut c = tests::client::Client::connect(addr, None).await?;
            let served = c.get("/v1/trust-list", None).await?;
            Ok((served.body.as_ref() == signed_2).then_some(()))
        }
    })
    .await
    .unwrap();
    let reply = c
        .send(
            Method::POST,
            &format!(
                "/v1/credentials/{}/refresh",
                credential["id"].as_str().unwrap()
            ),
            Some(&clients["gateway"]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 503, "{:?}", reply.body);
    let mut admin = tests::client::Client::connect(running.admin, None)
        .await
        .unwrap();
    let queue = admin
        .get("/admin/v1/queue", None)
        .await
        .unwrap()
        .json()
        .unwrap();
    let held = queue["signing_held"].to_string();
    assert!(
        held.contains(&format!("the credential key {kid} is revoked")),
        "{queue}"
    );
    assert!(running.stop().unwrap().success());

    // Both lists served are in the change audit log.
    {
        let served: Vec<String> = daemon::testing::change_records(&data)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, bytes)| daemon::testing::decode_record(&bytes).unwrap())
            .filter(|r| r.action == "keys.trust_list")
            .filter_map(|r| r.detail)
            .collect();
        assert_eq!(served.len(), 2, "{served:?}");
        assert!(served[0].starts_with("sequence 1, sha256 "), "{served:?}");
        assert!(served[1].starts_with("sequence 2, sha256 "), "{served:?}");
    }

    // And it does not start with a revoked key.
    let refused = RealDaemon::start(&edld, &args, &env)
        .err()
        .unwrap()
        .to_string();
    assert!(refused.contains("exit status: 78"), "{refused}");
    assert!(
        refused.contains(&format!(
            "the credential key {kid} is revoked in the trust list (sequence 2)"
        )),
        "{refused}"
    );
}

/// `systemd/edld.toml` reads every private key and the trust list from the credentials
/// `systemd/edld.service` loads, by the same names, and holds no root key.
#[test]
fn the_example_production_configuration_matches_the_unit() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd");
    let unit = std::fs::read_to_string(here.join("edld.service")).unwrap();
    let loaded: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("LoadCredential="))
        .filter_map(|l| l.split_once(':').map(|(name, _)| name))
        .collect();
    let raw = daemon::config::RawConfig::read(&here.join("edld.toml")).unwrap();
    let dir = Path::new("/run/credentials/edld.service");
    let resolved = raw.with_credentials_directory(Some(dir));
    let keys = resolved.keys.clone().unwrap();
    assert!(keys.root.is_none());
    let tls = resolved.tls.clone().unwrap();
    let mut named = vec![&keys.credential, &keys.status, &tls.key];
    named.extend(keys.trust_list.as_ref());
    for path in named {
        let name = path.strip_prefix(dir).unwrap().to_str().unwrap();
        assert!(
            loaded.contains(&name),
            "{name} is not a LoadCredential= of the unit"
        );
    }
    // Checked, it names the first file this machine lacks.
    let err = daemon::config::Config::try_from(resolved)
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
}

/// A development public key file that a power cut left empty (an older edld wrote it
/// without fsync and never again) is derived again from its private key at the next
/// start, and the trust list served verifies against it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emptied_public_key_file_is_derived_again_at_start() {
    let d = tests::TestDaemon::start().await.unwrap();
    let path = d.data_dir().join("keys/root.pub.pem");
    let before = std::fs::read(&path).unwrap();
    let dir = d.stop().await.unwrap();
    std::fs::File::create(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);

    let d = tests::TestDaemon::start_with(tests::Options::default(), dir, None)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let mut c = d.client().await.unwrap();
    let list = c.get("/v1/trust-list", None).await.unwrap();
    assert_eq!(list.status, 200);
    keys::trust_list::verify(&list.body, &[d.root().unwrap()], None).unwrap();
    d.stop().await.unwrap();
}
