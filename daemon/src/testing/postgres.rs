//! A throwaway PostgreSQL server for tests and the load harness: Debian's server binaries
//! (`/usr/lib/postgresql/<version>/bin`), `initdb` into a temporary directory, a free
//! loopback port, a database per caller, stopped and removed when the last handle goes.
//! Never a system-wide server. PostgreSQL refuses to run as root: when we are root (CI),
//! the server runs as the package's `postgres` user in a directory that user owns.
//!
//! `fsync` and `synchronous_commit` stay on: what the tests acknowledge is durable.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use anyhow::{Context, bail};

/// The schema version `edld store migrate` brings a database to.
pub const SCHEMA_VERSION: i32 = crate::store::postgres::schema::VERSION;

/// A running server; cloned handles share it.
#[derive(Clone)]
pub struct TestPostgres {
    server: Arc<Server>,
}

struct Server {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// The server the handles alive now share (tests running in parallel use one server).
static SHARED: Mutex<Weak<Server>> = Mutex::new(Weak::new());
static DATABASES: AtomicU64 = AtomicU64::new(0);

impl TestPostgres {
    /// The shared server, started if none runs. Fails with the reason (no PostgreSQL
    /// binaries: install Debian's `postgresql` package, as `.ci/apt-packages` does).
    pub fn shared() -> anyhow::Result<TestPostgres> {
        let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(server) = shared.upgrade() {
            return Ok(TestPostgres { server });
        }
        let server = Arc::new(Server::start()?);
        *shared = Arc::downgrade(&server);
        Ok(TestPostgres { server })
    }

    /// A server of its own (tests that stop or kill it).
    pub fn start() -> anyhow::Result<TestPostgres> {
        Ok(TestPostgres {
            server: Arc::new(Server::start()?),
        })
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// A new, empty database: its `postgresql://` URL.
    pub fn database(&self) -> anyhow::Result<String> {
        let n = DATABASES.fetch_add(1, Ordering::SeqCst);
        let name = format!("edl_{}_{n}", std::process::id());
        let status = Command::new(self.server.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.server.port.to_string()])
            .args(["-U", "postgres", &name])
            .stdout(Stdio::null())
            .status()
            .context("running createdb")?;
        if !status.success() {
            bail!("createdb {name} failed: {status}");
        }
        Ok(self.url(&name))
    }

    /// The URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgresql://postgres@127.0.0.1:{}/{name}",
            self.server.port
        )
    }

    /// Runs `sql` in database `name` with psql (setup the engine does not do).
    pub fn psql(&self, name: &str, sql: &str) -> anyhow::Result<String> {
        let out = Command::new(self.server.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.server.port.to_string()])
            .args(["-U", "postgres", "-d", name, "-XAtqc", sql])
            .output()
            .context("running psql")?;
        if !out.status.success() {
            bail!("psql: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// A synchronous streaming standby of this server (which should be one of its own,
    /// [`TestPostgres::start`]): a base backup started in recovery, and this server made
    /// to wait for it at every commit (`synchronous_standby_names = '*'`, with
    /// `synchronous_commit = on`), so what this server acknowledges the standby holds.
    pub fn standby(&self) -> anyhow::Result<TestPostgres> {
        let standby = Server::standby_of(&self.server)?;
        self.psql(
            "postgres",
            "ALTER SYSTEM SET synchronous_standby_names = '*'",
        )?;
        self.psql("postgres", "SELECT pg_reload_conf()")?;
        let standby = TestPostgres {
            server: Arc::new(standby),
        };
        // Synchronous from here on: the standby streams and the primary counts on it.
        for _ in 0..600 {
            let state = self.psql("postgres", "SELECT sync_state FROM pg_stat_replication")?;
            if state == "sync" {
                return Ok(standby);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        bail!("the standby never became synchronous")
    }

    /// SIGKILLs the server's postmaster (its backends notice and exit), as a dead machine.
    pub fn kill(&self) -> anyhow::Result<()> {
        let pid = std::fs::read_to_string(self.server.data().join("postmaster.pid"))?;
        let pid = pid.lines().next().unwrap_or_default().trim().to_owned();
        let status = Command::new("kill").args(["-KILL", &pid]).status()?;
        anyhow::ensure!(status.success(), "kill -KILL {pid} failed");
        Ok(())
    }

    /// Promotes this standby to primary (`pg_ctl promote`, waiting until it is).
    pub fn promote(&self) -> anyhow::Result<()> {
        let data = self.server.data();
        self.server.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-w".as_ref(),
                "promote".as_ref(),
            ],
        )
    }
}

/// The newest installed PostgreSQL's binaries.
fn binaries() -> anyhow::Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): \
             install Debian's postgresql package (listed in .ci/apt-packages)"
        ),
    }
}

impl Server {
    fn start() -> anyhow::Result<Server> {
        let server = Server::prepare()?;
        let data = server.data();
        server.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
                // Only initdb's own files skip fsync (a crash of the test machine loses
                // the whole throwaway server anyway); the server runs with fsync on.
                "--no-sync".as_ref(),
            ],
        )?;
        server.launch()
    }

    /// A streaming standby of `primary`: a base backup with its replication settings
    /// (`-R`), started in recovery on a port of its own.
    fn standby_of(primary: &Server) -> anyhow::Result<Server> {
        let server = Server::prepare()?;
        let data = server.data();
        let port = primary.port.to_string();
        server.run(
            "pg_basebackup",
            &[
                "-h".as_ref(),
                "127.0.0.1".as_ref(),
                "-p".as_ref(),
                port.as_ref(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-D".as_ref(),
                data.as_os_str(),
                "-R".as_ref(),
                "-X".as_ref(),
                "stream".as_ref(),
                "-c".as_ref(),
                "fast".as_ref(),
            ],
        )?;
        server.launch()
    }

    /// A directory of its own (owned by `postgres` when we are root), no server yet.
    fn prepare() -> anyhow::Result<Server> {
        let bin = binaries()?;
        let as_postgres = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        let n = DATABASES.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("edl-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let server = Server {
            bin,
            dir,
            port: 0,
            as_postgres,
        };
        if as_postgres {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&server.dir)
                .status()?;
            if !status.success() {
                bail!("chown postgres {}: {status}", server.dir.display());
            }
        }
        Ok(server)
    }

    /// Starts the server in `data()` on a free loopback port.
    fn launch(mut self) -> anyhow::Result<Server> {
        let data = self.data();
        let mut last = None;
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let options = format!(
                "-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={} \
                 -c max_connections=400 -c shared_buffers=128MB -c fsync=on \
                 -c synchronous_commit=on -c max_wal_senders=4 -c wal_level=replica",
                self.dir.display()
            );
            let log = self.dir.join("server.log");
            match self.run(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "60".as_ref(),
                    "-o".as_ref(),
                    options.as_ref(),
                    "start".as_ref(),
                ],
            ) {
                Ok(()) => {
                    self.port = port;
                    return Ok(self);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("pg_ctl start failed")))
    }

    /// Runs one of the server's programs, as `postgres` when we are root.
    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> anyhow::Result<()> {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = command
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", path.display()))?;
        if !out.status.success() {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            bail!(
                "{program} failed: {}{}\n{log}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        );
        remove(&self.dir);
    }
}

fn remove(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}
