//! Harness for the end-to-end, crash and load tests: an in-process daemon on 127.0.0.1
//! with a temporary data directory, a self-signed TLS certificate and a manual clock; a
//! TLS client; sample licences; and locating the real `edld` binary for tests that run it
//! as a separate process.

#![allow(
    clippy::disallowed_methods,
    reason = "the harness waits on real processes and sockets with real deadlines"
)]

pub mod client;
pub mod figures;
mod process;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use daemon::config::{Config, RawCertClient, RawConfig, RawTls};
use daemon::testing::Role;
use daemon::{Listeners, ManualClock};
use keys::licence::LicenceNumber;
use keys::{PublicKey, UnixTime};

use crate::client::Client;
pub use crate::process::{RealDaemon, edl_keys_binary, edld_binary};

/// The manual clock's start: 2030-03-17T17:46:40Z.
pub const START: UnixTime = UnixTime(1_900_000_000);

/// Options for [`TestDaemon::start_with`].
#[derive(Clone, Debug)]
pub struct Options {
    /// Serve the public API over TLS.
    pub tls: bool,
    /// Signing step size.
    pub batch: usize,
    /// Status list coalescing delay.
    pub coalesce: Duration,
    /// Accept client certificates from a test CA ([`TestDaemon::client_ca`]): one whose
    /// subject OU is a role's name carries that role (`[[tls.clients]] ou = "<role>"`).
    pub client_certs: bool,
    /// `limits.header_timeout_secs`, `body_timeout_secs`, `handshake_timeout_secs` and
    /// `write_timeout_secs`, finer than whole seconds.
    pub timeouts: Option<Timeouts>,
    /// A `postgresql://` URL: the state on PostgreSQL (migrated at start) instead of sled
    /// in the data directory.
    pub store: Option<String>,
}

impl Options {
    /// The default options with the state in a new database on `server`.
    pub fn postgres(server: &daemon::testing::postgres::TestPostgres) -> anyhow::Result<Options> {
        Ok(Options {
            store: Some(server.database()?),
            ..Options::default()
        })
    }
}

/// Request timeouts.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// For the request line and headers.
    pub header: Duration,
    /// For the body.
    pub body: Duration,
    /// For the TLS handshake.
    pub handshake: Duration,
    /// For a write the client does not read.
    pub write: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tls: true,
            batch: 256,
            coalesce: Duration::from_millis(20),
            client_certs: false,
            timeouts: None,
            store: None,
        }
    }
}

/// A CA that signs client certificates for mTLS tests.
pub struct ClientCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    /// The CA certificate, PEM.
    pub pem: String,
}

impl ClientCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> anyhow::Result<ClientCa> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate()?;
        let pem = params.self_signed(&key)?.pem();
        Ok(ClientCa {
            issuer: rcgen::Issuer::new(params, key),
            pem,
        })
    }

    /// A client certificate with subject `CN=<cn>, OU=<ou>`, after `adjust` (validity,
    /// key usages, …): (certificate PEM, private key PEM).
    pub fn issue(
        &self,
        cn: &str,
        ou: &str,
        adjust: impl FnOnce(&mut rcgen::CertificateParams),
    ) -> anyhow::Result<(String, String)> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationalUnitName, ou);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        adjust(&mut params);
        let key = rcgen::KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// A daemon running in this process.
pub struct TestDaemon {
    /// The public address.
    pub addr: SocketAddr,
    /// The admin address.
    pub admin: SocketAddr,
    /// The data directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// The daemon's clock.
    pub clock: Arc<ManualClock>,
    /// The CA of client certificates, with [`Options::client_certs`].
    pub client_ca: Option<ClientCa>,
    tls: Option<Arc<rustls::ClientConfig>>,
    server_ca: String,
    keys: HashMap<String, String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// While set, monotonic time stands still and moves only by [`TestDaemon::advance`].
    frozen: Arc<std::sync::atomic::AtomicBool>,
    ticker: tokio::task::JoinHandle<()>,
}

impl TestDaemon {
    /// Starts a daemon over TLS with default options.
    pub async fn start() -> anyhow::Result<TestDaemon> {
        TestDaemon::start_with(Options::default(), tempfile::tempdir()?, None).await
    }

    /// Starts a daemon over TLS that also takes client certificates from
    /// [`TestDaemon::client_ca`].
    pub async fn start_with_client_certs() -> anyhow::Result<TestDaemon> {
        let options = Options {
            client_certs: true,
            ..Options::default()
        };
        TestDaemon::start_with(options, tempfile::tempdir()?, None).await
    }

    /// Starts a daemon on `dir` (which may hold state from an earlier run).
    pub async fn start_with(
        options: Options,
        dir: tempfile::TempDir,
        clock: Option<Arc<ManualClock>>,
    ) -> anyhow::Result<TestDaemon> {
        let mut raw = RawConfig::embedded();
        raw.listen = "127.0.0.1:0".into();
        raw.admin_listen = "127.0.0.1:0".into();
        raw.data_dir = dir.path().join("data");
        raw.issuance.batch = options.batch;
        raw.status_lists.coalesce_ms = options.coalesce.as_millis() as u64;
        if let Some(url) = &options.store {
            raw.store.engine = Some("postgres".into());
            raw.store.url = Some(url.clone());
            raw.store.migrate = true;
            // Every daemon a node of its own name, as `[store] node` must be on one database.
            static NODES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = NODES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            raw.store.node = Some(format!("node-{n}"));
        }
        let mut tls = None;
        let mut server_ca = String::new();
        let mut client_ca = None;
        if options.tls {
            // Both names: clients connect to "localhost", and status list URIs derive from the
            // listen address 127.0.0.1.
            let certified =
                rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])?;
            let cert = dir.path().join("cert.pem");
            let key = dir.path().join("key.pem");
            let cert_pem = certified.cert.pem();
            std::fs::write(&cert, &cert_pem)?;
            std::fs::write(&key, certified.signing_key.serialize_pem())?;
            let mut files = RawTls {
                cert,
                key,
                ..RawTls::default()
            };
            if options.client_certs {
                let ca = ClientCa::new("edl test client CA")?;
                let path = dir.path().join("client-ca.pem");
                std::fs::write(&path, &ca.pem)?;
                files.client_ca = Some(path);
                files.clients = Role::ALL
                    .into_iter()
                    .map(|role| RawCertClient {
                        cn: None,
                        ou: Some(role.as_str().to_owned()),
                        dns: None,
                        role,
                        client: None,
                    })
                    .collect();
                client_ca = Some(ca);
            }
            raw.tls = Some(files);
            tls = Some(crate::client::tls_config(cert_pem.as_bytes())?);
            server_ca = cert_pem;
        }
        let mut config = Config::try_from(raw)?;
        if let Some(t) = options.timeouts {
            config.header_timeout = t.header;
            config.body_timeout = t.body;
            config.handshake_timeout = t.handshake;
            config.write_timeout = t.write;
        }
        let listeners = Listeners::bind(&config).await?;
        let addr = listeners.public.local_addr()?;
        let admin = listeners.admin.local_addr()?;
        let clock = clock.unwrap_or_else(|| Arc::new(ManualClock::new(START)));
        let frozen = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ticker = tokio::spawn(follow_real_time(clock.clone(), frozen.clone()));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let data_dir = config.data_dir.clone();
        let task = tokio::spawn(daemon::run(config, listeners, clock.clone(), async {
            let _ = stop_rx.await;
        }));
        let mut daemon = TestDaemon {
            addr,
            admin,
            dir,
            clock,
            client_ca,
            tls,
            server_ca,
            keys: HashMap::new(),
            stop: Some(stop_tx),
            task: Some(task),
            frozen,
            ticker,
        };
        daemon.wait_ready().await?;
        // A second node on a shared database finds the development clients made by the
        // first, and writes no key file of its own: it then has no keys to hand out.
        let dev_clients = data_dir.join("dev-clients.txt");
        if dev_clients.exists() {
            daemon.keys = daemon::testing::read_dev_clients(&dev_clients)?
                .into_iter()
                .collect();
        }
        Ok(daemon)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut c) = self.client().await
                && c.get("/readyz", None).await.is_ok_and(|r| r.status == 200)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("daemon not ready within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A new connection to the public API.
    pub async fn client(&self) -> anyhow::Result<Client> {
        Client::connect(self.addr, self.tls.clone().map(|c| (c, "localhost"))).await
    }

    /// A new connection to the public API (TLS) presenting a client certificate.
    pub async fn client_with_certificate(
        &self,
        cert_pem: &str,
        key_pem: &str,
    ) -> anyhow::Result<Client> {
        let config = crate::client::tls_config_with(
            self.server_ca.as_bytes(),
            Some((cert_pem.as_bytes(), key_pem.as_bytes())),
        )?;
        Client::connect(self.addr, Some((config, "localhost"))).await
    }

    /// A client certificate from [`TestDaemon::client_ca`] carrying `role`: (certificate
    /// PEM, key PEM).
    pub fn role_certificate(&self, role: Role) -> anyhow::Result<(String, String)> {
        self.client_ca
            .as_ref()
            .context("started without client_certs")?
            .issue(&format!("test-{}", role.as_str()), role.as_str(), |_| {})
    }

    /// A new connection to the admin API.
    pub async fn admin_client(&self) -> anyhow::Result<Client> {
        Client::connect(self.admin, None).await
    }

    /// Changes throttle settings through the admin API as the operator; returns the
    /// settings in force.
    pub async fn set_throttle(
        &self,
        changes: &serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let reply = self
            .admin_client()
            .await?
            .json(
                hyper::Method::PATCH,
                "/admin/v1/throttle",
                Some(self.key("operator")),
                changes,
            )
            .await?;
        anyhow::ensure!(reply.status == 200, "{}: {:?}", reply.status, reply.body);
        reply.json()
    }

    /// The development API key of `role`.
    pub fn key(&self, role: &str) -> &str {
        self.keys.get(role).map_or("", String::as_str)
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The pinned root public key.
    pub fn root(&self) -> anyhow::Result<PublicKey> {
        daemon::testing::read_public(&self.data_dir().join("keys/root.pub.pem"))
    }

    /// Stops monotonic time: the throttles see no time pass until [`TestDaemon::advance`].
    pub fn freeze_time(&self) {
        self.frozen.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Moves monotonic time forward by `by` (wall time by its whole seconds).
    pub fn advance(&self, by: Duration) {
        self.clock.advance_by(by);
    }

    /// Stops the daemon gracefully and returns its data directory.
    pub async fn stop(mut self) -> anyhow::Result<tempfile::TempDir> {
        self.ticker.abort();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await??;
        }
        let dir = tempfile::tempdir()?;
        Ok(std::mem::replace(&mut self.dir, dir))
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.ticker.abort();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Moves `clock`'s monotonic time along with real time (the drain paces by it), except
/// while `frozen`. Wall time stays where the test puts it.
async fn follow_real_time(clock: Arc<ManualClock>, frozen: Arc<std::sync::atomic::AtomicBool>) {
    let mut ticks = tokio::time::interval(Duration::from_millis(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = tokio::time::Instant::now();
    loop {
        ticks.tick().await;
        let now = tokio::time::Instant::now();
        if !frozen.load(std::sync::atomic::Ordering::SeqCst) {
            clock.advance_monotonic(now - last);
        }
        last = now;
    }
}

/// The development API key of `role`, from `<data>/dev-clients.txt`.
pub fn dev_key(data: &std::path::Path, role: &str) -> String {
    daemon::testing::read_dev_clients(&data.join("dev-clients.txt"))
        .ok()
        .and_then(|keys| keys.into_iter().find(|(r, _)| r == role))
        .map(|(_, key)| key)
        .unwrap_or_else(|| panic!("no development {role} key in {}", data.display()))
}

/// `n` distinct valid licence numbers.
pub fn licence_numbers(n: usize, region: u32) -> Vec<LicenceNumber> {
    let base =
        time::Date::from_calendar_date(1960, time::Month::January, 1).unwrap_or(time::Date::MIN);
    (0..n)
        .filter_map(|i| {
            let birth = base + time::Duration::days((i / 1000) as i64);
            LicenceNumber::from_parts(region, birth, (i % 1000) as u16).ok()
        })
        .collect()
}

/// A licence record as the registry API and the import take it, with a photo on file.
pub fn licence_json(number: &LicenceNumber, name: &str, classes: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "number": number.as_str(),
        "name": name,
        "classes": classes,
        "valid_from": "2020-01-01",
        "valid_until": "2039-12-31",
        "authority": "Test Traffic Authority",
        "photo": keys::licence::PhotoDigest::of(number.as_str().as_bytes()).to_string(),
    })
}

/// A compliant licence photo to upload: a synthetic head-and-shoulders portrait on white
/// at 330 × 480 pixels (JPEG), which the intake pre-checks pass.
pub static PORTRAIT: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    use daemon::testing::portrait::{Scene, jpeg, portrait, resized};
    jpeg(&resized(&portrait(Scene::default()), 330, 480))
});

/// Polls `check` until it returns `Some`, or fails after `timeout`.
pub async fn poll<T, F, Fut>(timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("condition not met within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Puts a licence in the registry, applies for it and waits until its credential is
/// issued: the credential's JSON (`id`, `token`, …).
pub async fn issue_credential(
    c: &mut Client,
    registry_key: &str,
    gateway_key: &str,
    number: &LicenceNumber,
) -> anyhow::Result<serde_json::Value> {
    let reply = c
        .json(
            hyper::Method::PUT,
            &format!("/v1/licences/{number}"),
            Some(registry_key),
            &licence_json(number, "王五", &["C1"]),
        )
        .await?;
    anyhow::ensure!(reply.status == 201, "registry: {:?}", reply.body);
    let apply = serde_json::json!({"licence_number": number.as_str(), "photo_source": "on_file"});
    let reply = c
        .json(
            hyper::Method::POST,
            "/v1/applications",
            Some(gateway_key),
            &apply,
        )
        .await?;
    anyhow::ensure!(reply.status == 202, "apply: {:?}", reply.body);
    let ticket = reply.json()?["ticket"]
        .as_str()
        .context("a ticket")?
        .to_owned();
    Ok(wait_issued(c, gateway_key, &ticket).await?["credential"].clone())
}

/// Polls an application (as the client holding `key`) until it is issued, and returns
/// its JSON. Fails if it is rejected or not issued within 30 s.
pub async fn wait_issued(
    c: &mut Client,
    key: &str,
    ticket: &str,
) -> anyhow::Result<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = c
            .get(&format!("/v1/applications/{ticket}"), Some(key))
            .await?
            .json()?;
        match body["state"].as_str() {
            Some("issued") => return Ok(body),
            Some("rejected") => bail!("{ticket} was rejected: {body}"),
            _ if Instant::now() > deadline => bail!("{ticket} not issued within 30 s: {body}"),
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Runs `edl-verify` with `args` in-process at `now`, with no standard input and no
/// environment; returns (exit code, stdout, stderr).
pub async fn verify_cli(
    args: Vec<String>,
    now: keys::UnixTime,
) -> anyhow::Result<(u8, String, String)> {
    Ok(tokio::task::spawn_blocking(move || {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut stdin = std::io::empty();
        let mut stdin = std::io::BufReader::new(&mut stdin);
        let env = |_: &str| None;
        let mut io = verifier::Io {
            stdin: &mut stdin,
            stdout: &mut out,
            stderr: &mut err,
            env: &env,
            stdout_is_terminal: false,
        };
        let code = verifier::run(
            std::iter::once("edl-verify".to_owned()).chain(args),
            &mut io,
            now,
        );
        (
            code,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    })
    .await?)
}

/// Verifies a credential as an application's JSON carries it (`token`, base64url) against
/// `trust`'s keys at the wall clock's time (real daemons sign on real time): its claims.
pub fn verify_credential_now(
    credential: &serde_json::Value,
    trust: &keys::trust_list::TrustList,
) -> anyhow::Result<keys::token::VerifiedCredential> {
    use base64::Engine;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(credential["token"].as_str().context("a token")?)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    Ok(keys::token::verify(
        &token,
        &trust.keyring(),
        &keys::token::VerifyPolicy::at(UnixTime(now)),
    )?)
}
