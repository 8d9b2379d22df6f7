//! edld's command line: the clap definitions of every subcommand and their bodies, one
//! file per command or group. `main.rs` parses a [`Cli`], installs tracing, hands in the
//! system clock and turns the [`Exit`] that [`run`] returns into the process's exit code.

pub mod admin;
pub mod audit;
pub mod clients;
pub mod demo;
pub mod import;
pub mod serve;
pub mod store;
pub mod throttle;
pub mod webhooks;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::clock::Clock;
use crate::config::{Config, Overrides};

/// `edld [--listen ADDR] [--admin-listen ADDR] [--data DIR] [COMMAND]`.
#[derive(Parser)]
#[command(name = "edld", version, about = "The edl issuance daemon")]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serving: Serving,
}

/// The addresses and directory every subcommand may override.
#[derive(Args, Clone, Default)]
struct Serving {
    /// Public API address (default 127.0.0.1:8080).
    #[arg(long, global = true)]
    listen: Option<String>,
    /// Admin API address, loopback only (default 127.0.0.1:8081).
    #[arg(long, global = true)]
    admin_listen: Option<String>,
    /// State directory (default ./edl-data).
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// The store: a `postgresql://` URL selects PostgreSQL (default: sled in the data
    /// directory, or `[store]` of the configuration).
    #[arg(long, global = true, value_name = "URL")]
    store: Option<String>,
    /// Apply the store's schema migrations at start.
    #[arg(long, global = true)]
    migrate: bool,
    /// This node's name, unique among the nodes on one PostgreSQL database (`[store] node`;
    /// default "edld").
    #[arg(long, global = true, value_name = "NAME")]
    node: Option<String>,
}

impl Serving {
    fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            admin_listen: self.admin_listen.clone(),
            data_dir: self.data.clone(),
            store: self.store.clone(),
            migrate: self.migrate,
            node: self.node.clone(),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (the default).
    Serve {
        /// TOML configuration; without it, the embedded development defaults.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Check a configuration file and exit (78 if it is invalid).
    CheckConfig {
        /// The file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Start a daemon with sample licences and walk through apply, issue, QR, verify,
    /// revoke and verify again.
    Demo(demo::DemoArgs),
    /// Licence registry maintenance.
    Registry {
        #[command(subcommand)]
        command: import::RegistryCommand,
    },
    /// Show and tune the throttles live (admin listener), or simulate settings offline.
    Throttle {
        #[command(subcommand)]
        command: throttle::ThrottleCommand,
    },
    /// Add, list and revoke API clients: through the admin listener while edld runs,
    /// otherwise on the data directory itself.
    Clients {
        #[command(subcommand)]
        command: clients::ClientsCommand,
    },
    /// Notification subscriptions (Standard Webhooks): add, list, remove, dead letters,
    /// replay; through the running daemon's admin listener.
    Webhooks {
        #[command(subcommand)]
        command: webhooks::WebhooksCommand,
    },
    /// Check the audit logs' hash chains, or show who looked up a licence: through the
    /// admin listener while edld runs, otherwise on the data directory itself.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// The storage engine: apply the PostgreSQL schema (`store migrate --store URL`), copy a
    /// sled data directory into PostgreSQL (`store copy --from DIR --to URL`).
    Store {
        #[command(subcommand)]
        command: store::StoreCommand,
    },
}

/// How a command ended, as a sysexits.h code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Done.
    Success,
    /// EX_DATAERR: some input was refused (import lines, a broken audit chain).
    Data,
    /// EX_SOFTWARE: the command or the daemon failed.
    Software,
    /// EX_TEMPFAIL: the data directory is in use by a running edld; try again once it
    /// is stopped.
    TempFail,
    /// EX_CONFIG: the configuration, a key file or the trust list is invalid.
    Config,
}

impl Exit {
    /// The process's exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Data => 65,
            Exit::Software => 70,
            Exit::TempFail => 75,
            Exit::Config => 78,
        }
    }
}

impl Cli {
    /// The log level when `RUST_LOG` is not set: the commands that talk to a person on
    /// stdout log only warnings; the daemon logs what it does.
    pub fn default_log_level(&self) -> &'static str {
        match self.command {
            None | Some(Command::Serve { .. } | Command::CheckConfig { .. }) => "info",
            Some(_) => "warn",
        }
    }
}

/// Runs the command `cli` names, with `clock` as the only source of the time of day.
pub fn run(cli: Cli, clock: Arc<dyn Clock>) -> Exit {
    let overrides = cli.serving.overrides();
    match cli.command {
        None => serve::serve(None, &overrides, clock),
        Some(Command::Serve { config }) => serve::serve(config.as_deref(), &overrides, clock),
        Some(Command::CheckConfig { config }) => {
            serve::check_config(&config, &overrides, clock.as_ref())
        }
        Some(Command::Demo(args)) => demo::command(&args, &overrides, clock),
        Some(Command::Registry { command }) => import::command(command, &overrides, clock),
        Some(Command::Throttle { command }) => throttle::command(command, &overrides, clock),
        Some(Command::Clients { command }) => clients::command(command, &overrides, clock),
        Some(Command::Webhooks { command }) => webhooks::command(command, &overrides, clock),
        Some(Command::Audit { command }) => audit::command(command, &overrides),
        Some(Command::Store { command }) => store::command(command, &overrides, clock),
    }
}

/// The operator's API key for the admin listener.
#[derive(Args, Clone)]
pub struct OperatorKey {
    /// An API key of the operator role (default: $EDLD_OPERATOR_KEY, else the development
    /// key in `<data>/dev-clients.txt`).
    #[arg(long)]
    key: Option<String>,
}

impl OperatorKey {
    /// `--key`, else `$EDLD_OPERATOR_KEY`, else the development key in
    /// `<data>/dev-clients.txt`.
    fn resolve(&self, data_dir: &Path) -> anyhow::Result<String> {
        use anyhow::Context;
        if let Some(k) = self
            .key
            .clone()
            .or_else(|| std::env::var("EDLD_OPERATOR_KEY").ok())
        {
            return Ok(k);
        }
        let path = data_dir.join("dev-clients.txt");
        crate::service::clients::read_dev_clients(&path)
            .with_context(|| {
                format!(
                    "no --key or EDLD_OPERATOR_KEY, and cannot read {}",
                    path.display()
                )
            })?
            .into_iter()
            .find(|(role, _)| role == "operator")
            .map(|(_, k)| k)
            .with_context(|| format!("{} has no operator key", path.display()))
    }
}

/// Loads the configuration (`path`, else the embedded development one) with the command
/// line's overrides; prints why not and answers [`Exit::Config`] if it is invalid.
fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, Exit> {
    Config::load(path, overrides).map_err(|e| {
        match path {
            Some(p) => eprintln!("{}: {e}", p.display()),
            None => eprintln!("configuration: {e}"),
        }
        Exit::Config
    })
}

/// A multi-threaded runtime for the commands that run the daemon or its store. Its
/// threads are named, so that an operator's `top -H` (and the benchmark's cores by thread)
/// can tell the daemon's own work, such as its PostgreSQL client, from other processes'.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name("edld-main")
        .enable_all()
        .build()
}

/// Whether something accepts connections on the admin address: then the daemon runs and
/// owns the data directory, and commands go through it.
fn daemon_answers(addr: std::net::SocketAddr) -> bool {
    std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).is_ok()
}

/// Unix seconds as an RFC 3339 time (UTC), or the number itself past the year 9999.
fn rfc3339(at: u64) -> String {
    i64::try_from(at)
        .ok()
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| at.to_string())
}
