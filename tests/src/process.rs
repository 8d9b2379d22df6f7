//! The workspace's real binaries for tests that run them as separate processes: finding
//! (and building) `edld` and `edl-keys` in the running test's profile, and [`RealDaemon`],
//! the real `edld` as a child process that tests kill or signal.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::client::Client;

/// The `edld` binary built by cargo, in the same profile as the running test: built (or
/// confirmed fresh) with `cargo build -p daemon --bin edld` first.
pub fn edld_binary() -> anyhow::Result<PathBuf> {
    workspace_binary("daemon", "edld")
}

/// The `edl-keys` binary, built like [`edld_binary`].
pub fn edl_keys_binary() -> anyhow::Result<PathBuf> {
    workspace_binary("keys", "edl-keys")
}

/// A binary of this workspace built by cargo in the running test's profile.
fn workspace_binary(package: &str, name: &str) -> anyhow::Result<PathBuf> {
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
            package,
            "--bin",
            name,
            "--manifest-path",
        ])
        .arg(&manifest);
    if release {
        build.arg("--release");
    }
    if let Some(target_dir) = profile_dir.parent() {
        build.arg("--target-dir").arg(target_dir);
    }
    let status = build
        .status()
        .with_context(|| format!("running cargo build for {name}"))?;
    anyhow::ensure!(
        status.success(),
        "cargo build -p {package} --bin {name} failed"
    );
    let binary = profile_dir.join(name);
    anyhow::ensure!(binary.exists(), "{} not found", binary.display());
    Ok(binary)
}

/// The real `edld` running as a child process, for tests that kill it or signal it.
/// Its JSON log is kept; the child is killed if still running when this is dropped.
pub struct RealDaemon {
    /// The process.
    pub child: std::process::Child,
    /// The public listener.
    pub public: SocketAddr,
    /// The admin listener.
    pub admin: SocketAddr,
    log: Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl RealDaemon {
    /// Runs `edld serve` with `args` and `env` and waits (up to 60 s) for its ready line.
    /// Fails with its log if it exits first.
    pub fn start(
        edld: &Path,
        args: &[&std::ffi::OsStr],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> anyhow::Result<RealDaemon> {
        use std::io::BufRead;
        let mut command = std::process::Command::new(edld);
        command
            .arg("serve")
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().context("starting edld")?;
        let stderr = child.stderr.take().context("edld's stderr")?;
        let log = Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        // Keeps reading the log until edld exits, so it never blocks on a full pipe.
        let reader = {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stderr)
                    .lines()
                    .map_while(Result::ok)
                {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                        && v["message"] == "edld ready"
                    {
                        let _ = tx.send((
                            v["public"].as_str().unwrap_or_default().to_owned(),
                            v["admin"].as_str().unwrap_or_default().to_owned(),
                        ));
                    }
                    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                    log.push_str(&line);
                    log.push('\n');
                }
            })
        };
        let addresses = rx.recv_timeout(Duration::from_secs(60));
        let mut daemon = RealDaemon {
            child,
            public: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
            reader: Some(reader),
        };
        match addresses {
            Ok((public, admin)) => {
                daemon.public = public.parse()?;
                daemon.admin = admin.parse()?;
                Ok(daemon)
            }
            Err(_) => {
                let _ = daemon.child.kill();
                let status = daemon.child.wait()?;
                if let Some(reader) = daemon.reader.take() {
                    let _ = reader.join();
                }
                bail!("edld did not start ({status}):\n{}", daemon.log())
            }
        }
    }

    /// `edld serve` on free loopback ports (public and admin) with its state in `data`,
    /// as [`RealDaemon::start`].
    pub fn on_loopback(
        edld: &Path,
        data: &Path,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> anyhow::Result<RealDaemon> {
        RealDaemon::on_loopback_with(edld, data, &[], env)
    }

    /// [`RealDaemon::on_loopback`] with more arguments (`--store URL`, …).
    pub fn on_loopback_with(
        edld: &Path,
        data: &Path,
        extra: &[&std::ffi::OsStr],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> anyhow::Result<RealDaemon> {
        let args = [
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--data",
        ]
        .map(std::ffi::OsStr::new);
        let mut args = args.to_vec();
        args.push(data.as_os_str());
        args.extend_from_slice(extra);
        RealDaemon::start(edld, &args, env)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A new connection to the public API (plain HTTP).
    pub async fn client(&self) -> anyhow::Result<Client> {
        Client::connect(self.public, None).await
    }

    /// Sends a signal (`KILL`, `TERM`, `HUP`).
    pub fn signal(&self, name: &str) -> anyhow::Result<()> {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()?;
        anyhow::ensure!(status.success(), "kill -{name} failed");
        Ok(())
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM, and waits for the exit.
    pub fn stop(mut self) -> anyhow::Result<std::process::ExitStatus> {
        self.signal("TERM")?;
        Ok(self.child.wait()?)
    }

    /// SIGTERM, waits for the exit, and returns its status and the whole log.
    pub fn stop_with_log(mut self) -> anyhow::Result<(std::process::ExitStatus, String)> {
        self.signal("TERM")?;
        let status = self.child.wait()?;
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        Ok((status, self.log()))
    }
}

impl Drop for RealDaemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}
