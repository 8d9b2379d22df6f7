//! A node's own keys: with an offline root, two `edld` nodes on one PostgreSQL database
//! each sign credentials with a credential key of their own, both listed in the one trust
//! list the root signed. A verifier synced from either node accepts, offline, the
//! credentials of both.
//!
//! The nodes share one public base URL, as behind a load balancer: here a loopback TCP
//! relay the test points at one node or the other, so a verifier syncing "from node B"
//! fetches the trust list and the status lists from node B alone.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use daemon::testing::postgres::TestPostgres;
use tests::{RealDaemon, edl_keys_binary, edld_binary, issue_credential, licence_numbers};

/// A loopback TCP relay standing for the cluster's public address: every connection goes
/// to the node it points at when the connection is made.
struct Relay {
    addr: std::net::SocketAddr,
    target: Arc<Mutex<Option<std::net::SocketAddr>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start() -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let target: Arc<Mutex<Option<std::net::SocketAddr>>> = Arc::new(Mutex::new(None));
        let to = target.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let Some(node) = *to.lock().unwrap() else {
                    continue;
                };
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(node).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Relay { addr, target, task }
    }

    fn point_at(&self, node: std::net::SocketAddr) {
        *self.target.lock().unwrap() = Some(node);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[track_caller]
fn edl_keys(program: &Path, args: &[&OsStr]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "edl-keys {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One node: its credential key (private and public), configuration and data directory.
struct Node {
    name: &'static str,
    credential_key: PathBuf,
    config: PathBuf,
    data: PathBuf,
}

impl Node {
    fn start(&self, edld: &Path) -> RealDaemon {
        RealDaemon::start(
            edld,
            &[OsStr::new("--config"), self.config.as_os_str()],
            &[],
        )
        .unwrap()
    }

    /// The kid of this node's credential key.
    fn kid(&self) -> String {
        daemon::testing::read_public(&self.credential_key.with_extension("pub.pem"))
            .unwrap()
            .key_id()
            .to_string()
    }
}

/// A verifier configuration for the node listening on `addr`, with its own cache.
fn verifier_config(dir: &Path, name: &str, addr: std::net::SocketAddr, key: &str) -> String {
    let config = dir.join(format!("verify-{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "server = \"http://{addr}\"\n\
             roots = [\"{root}\"]\n\
             api_key = \"{key}\"\n\
             cache_dir = \"{cache}\"\n\
             max_status_age = \"24h\"\n",
            root = dir.join("root.pub.pem").display(),
            cache = dir.join(format!("cache-{name}")).display(),
        ),
    )
    .unwrap();
    config.display().to_string()
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

/// `edl-verify --config CONFIG ARGS…` in-process: (exit code, stdout).
async fn verify(config: &str, args: &[&str]) -> (u8, String) {
    let mut all = vec!["--config".to_owned(), config.to_owned()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    let (code, out, err) = tests::verify_cli(all, now()).await.unwrap();
    (code, format!("{out}{err}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifiers_synced_from_either_node_accept_both_nodes_credentials() {
    let (edl_keys_bin, edld) = (edl_keys_binary().unwrap(), edld_binary().unwrap());
    let server = TestPostgres::shared().expect("PostgreSQL for the tests");
    let url = server.database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let relay = Relay::start().await;
    let base = format!("http://{}", relay.addr);

    // The root machine: the root key, one credential key per node, one status key, and a
    // trust list naming all three signing keys.
    let root = dir.join("offline-root.pem");
    let status_key = dir.join("status-key.pem");
    let nodes: Vec<Node> = ["edld-a", "edld-b"]
        .into_iter()
        .map(|name| Node {
            name,
            credential_key: dir.join(format!("credential-{name}.pem")),
            config: dir.join(format!("{name}.toml")),
            data: dir.join(name),
        })
        .collect();
    let mut keys = vec![("root", root.clone()), ("status", status_key.clone())];
    keys.extend(
        nodes
            .iter()
            .map(|n| ("credential", n.credential_key.clone())),
    );
    for (key_use, path) in &keys {
        edl_keys(
            &edl_keys_bin,
            &[
                OsStr::new("generate"),
                OsStr::new("--use"),
                OsStr::new(key_use),
                OsStr::new("--out"),
                path.as_os_str(),
            ],
        );
    }
    std::fs::copy(dir.join("offline-root.pub.pem"), dir.join("root.pub.pem")).unwrap();
    let mut spec = format!(
        "issuer = \"EDL-TEST\"\nsequence = 1\nnext_update = \"7d\"\n\
         status_lists = [\"{base}/v1/status-lists/0\"]\n"
    );
    let signing = nodes
        .iter()
        .map(|n| ("credential", n.credential_key.clone()))
        .chain([("status", status_key.clone())]);
    for (key_use, path) in signing {
        spec.push_str(&format!(
            "\n[[keys]]\npath = \"{}\"\nuse = \"{key_use}\"\nnot_before = 2020-01-01T00:00:00Z\n",
            path.with_extension("pub.pem").display()
        ));
    }
    let spec_file = dir.join("trust-list.toml");
    std::fs::write(&spec_file, spec).unwrap();
    let trust_list = dir.join("trust-list.cose");
    edl_keys(
        &edl_keys_bin,
        &[
            OsStr::new("trust-list"),
            OsStr::new("sign"),
            OsStr::new("--root"),
            root.as_os_str(),
            OsStr::new("--spec"),
            spec_file.as_os_str(),
            OsStr::new("--out"),
            trust_list.as_os_str(),
        ],
    );

    // Each node: its own credential key, the shared status key and trust list, never the
    // root's private key.
    for node in &nodes {
        std::fs::write(
            &node.config,
            format!(
                r#"listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
data_dir = "{data}"
public_base_url = "{base}"
issuer = "EDL-TEST"
dev_keys = false
dev_clients = true

[keys]
credential = "{credential}"
status = "{status}"
trust_list = "{trust_list}"
root_public = ["{root_public}"]

[store]
engine = "postgres"
url = "{url}"
node = "{name}"
migrate = true
"#,
                data = node.data.display(),
                credential = node.credential_key.display(),
                status = status_key.display(),
                trust_list = trust_list.display(),
                root_public = dir.join("root.pub.pem").display(),
                name = node.name,
            ),
        )
        .unwrap();
    }

    // Node A alone issues one credential: signed with its key. Node B, given A's API keys
    // (the clients are in the database), then alone issues another: signed with its key.
    let numbers = licence_numbers(2, 350_104);
    let a = nodes[0].start(&edld);
    let clients: std::collections::HashMap<String, String> =
        daemon::testing::read_dev_clients(&nodes[0].data.join("dev-clients.txt"))
            .unwrap()
            .into_iter()
            .collect();
    let (registry, gateway) = (&clients["registry"], &clients["gateway"]);
    let mut c = a.client().await.unwrap();
    let from_a = issue_credential(&mut c, registry, gateway, &numbers[0])
        .await
        .unwrap();
    assert!(a.stop().unwrap().success());
    std::fs::create_dir_all(&nodes[1].data).unwrap();
    std::fs::copy(
        nodes[0].data.join("dev-clients.txt"),
        nodes[1].data.join("dev-clients.txt"),
    )
    .unwrap();
    let b = nodes[1].start(&edld);
    let mut c = b.client().await.unwrap();
    let from_b = issue_credential(&mut c, registry, gateway, &numbers[1])
        .await
        .unwrap();

    // Both nodes now, serving the one trust list.
    let a = nodes[0].start(&edld);
    let root_key = daemon::testing::read_public(&dir.join("root.pub.pem")).unwrap();
    for running in [&a, &b] {
        let mut c = running.client().await.unwrap();
        let served = c.get("/v1/trust-list", None).await.unwrap();
        assert_eq!(served.body.as_ref(), std::fs::read(&trust_list).unwrap());
        let trust =
            keys::trust_list::verify(&served.body, std::slice::from_ref(&root_key), None).unwrap();
        for (credential, node) in [(&from_a, &nodes[0]), (&from_b, &nodes[1])] {
            let verified = tests::verify_credential_now(credential, &trust).unwrap();
            assert_eq!(verified.key_id.to_string(), node.kid(), "{}", node.name);
        }
    }
    assert_ne!(nodes[0].kid(), nodes[1].kid());

    // A verifier synced from each node, then both nodes gone: each verifier accepts both
    // nodes' credentials from its cache alone.
    let officer = &clients["officer"];
    let configs = [
        verifier_config(dir, "a", a.public, officer),
        verifier_config(dir, "b", b.public, officer),
    ];
    for (config, node) in configs.iter().zip([&a, &b]) {
        relay.point_at(node.public);
        let (code, out) = verify(config, &["sync"]).await;
        assert_eq!(code, 0, "sync: {out}");
    }
    assert!(a.stop().unwrap().success());
    assert!(b.stop().unwrap().success());
    for config in &configs {
        for credential in [&from_a, &from_b] {
            let qr = credential["qr_text"].as_str().unwrap();
            let (code, out) = verify(config, &["check", "--json", qr]).await;
            assert_eq!(code, 0, "{config}: {out}");
            let verdict: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(verdict["verdict"], "valid", "{verdict}");
            assert_eq!(verdict["status"]["source"], "cached_list", "{verdict}");
        }
    }
}
