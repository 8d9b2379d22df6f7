//! Harness for the end-to-end, crash and load tests: an in-process daemon on 127.0.0.1
//! with a temporary data directory, a self-signed TLS certificate and a manual clock; a
//! TLS client; sample licences; and locating the real `edld` binary for tests that run it
//! as a separate process.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use daemon::client::Client;
use daemon::config::{Config, RawConfig, RawTls};
use daemon::{Listeners, ManualClock};
use keys::licence::LicenceNumber;
use keys::{PublicKey, UnixTime};

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
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tls: true,
            batch: 256,
            coalesce: Duration::from_millis(20),
        }
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
    tls: Option<Arc<rustls::ClientConfig>>,
    keys: HashMap<String, String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestDaemon {
    /// Starts a daemon over TLS with default options.
    pub async fn start() -> anyhow::Result<TestDaemon> {
        TestDaemon::start_with(Options::default(), tempfile::tempdir()?, None).await
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
        let mut tls = None;
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
            raw.tls = Some(RawTls { cert, key });
            tls = Some(daemon::client::tls_config(cert_pem.as_bytes())?);
        }
        let config = Config::try_from(raw)?;
        let listeners = Listeners::bind(&config).await?;
        let addr = listeners.public.local_addr()?;
        let admin = listeners.admin.local_addr()?;
        let clock = clock.unwrap_or_else(|| Arc::new(ManualClock::new(START)));
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
            tls,
            keys: HashMap::new(),
            stop: Some(stop_tx),
            task: Some(task),
        };
        daemon.wait_ready().await?;
        daemon.keys = daemon::auth::read_dev_clients(&data_dir.join("dev-clients.txt"))?
            .into_iter()
            .collect();
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

    /// A new connection to the admin API.
    pub async fn admin_client(&self) -> anyhow::Result<Client> {
        Client::connect(self.admin, None).await
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
        Ok(daemon::keyfiles::read_public(
            &self.data_dir().join("keys/root.pub.pem"),
        )?)
    }

    /// Stops the daemon gracefully and returns its data directory.
    pub async fn stop(mut self) -> anyhow::Result<tempfile::TempDir> {
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
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
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

/// A tiny valid PNG (1x1 grey pixel).
pub const TINY_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x3a, 0x7e, 0x9b,
    0x55, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x68, 0x00, 0x00, 0x00,
    0x82, 0x00, 0x81, 0x77, 0xcd, 0x72, 0xb6, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

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

/// The `edld` binary built by cargo, in the same profile as the running test: built (or
/// confirmed fresh) with `cargo build -p daemon --bin edld` first.
pub fn edld_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test> → target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test executable has no target directory")?
        .to_owned();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut build = std::process::Command::new(cargo);
    build
        .args([
            "build",
            "--quiet",
            "-p",
            "daemon",
            "--bin",
            "edld",
            "--manifest-path",
        ])
        .arg(&manifest);
    if release {
        build.arg("--release");
    }
    if let Some(target_dir) = profile_dir.parent() {
        build.arg("--target-dir").arg(target_dir);
    }
    let status = build.status().context("running cargo build for edld")?;
    anyhow::ensure!(status.success(), "cargo build -p daemon --bin edld failed");
    let binary = profile_dir.join("edld");
    anyhow::ensure!(binary.exists(), "{} not found", binary.display());
    Ok(binary)
}
