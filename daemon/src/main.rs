//! `edld`: arguments → tracing → `Config` → bind → `daemon::run`, and the CLI commands
//! (`check-config`, `demo`, `registry import`). The only place that reads the system
//! clock.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use daemon::config::{Config, Overrides};
use daemon::{Clock, Listeners};
use keys::UnixTime;

/// EX_DATAERR: some input lines were refused.
const EXIT_DATA: u8 = 65;
/// EX_SOFTWARE: the daemon failed.
const EXIT_SOFTWARE: u8 = 70;
/// EX_CONFIG: the configuration is invalid.
const EXIT_CONFIG: u8 = 78;

#[derive(Parser)]
#[command(name = "edld", version, about = "The edl issuance daemon")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serving: Serving,
}

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
}

impl Serving {
    fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            admin_listen: self.admin_listen.clone(),
            data_dir: self.data.clone(),
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
    Demo,
    /// Licence registry maintenance.
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Import licence records from CSV or JSON Lines (the daemon must not be running on
    /// the same data directory).
    Import {
        /// The file (`.csv`, or JSON Lines otherwise).
        file: PathBuf,
        /// Configuration (for the data directory and keys).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Force the format.
        #[arg(long, value_enum)]
        format: Option<daemon::import::Format>,
    },
}

/// The system clock.
struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        // The daemon's one read of the wall clock; everything else asks a `Clock`.
        #[allow(clippy::disallowed_methods)]
        let now = std::time::SystemTime::now();
        UnixTime(
            now.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        )
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo talks to a person on stdout: only warnings in its log.
    let quiet = matches!(cli.command, Some(Command::Demo | Command::Registry { .. }));
    init_tracing(if quiet { "warn" } else { "info" });
    let overrides = cli.serving.overrides();
    match cli.command {
        None => serve(None, &overrides),
        Some(Command::Serve { config }) => serve(config, &overrides),
        Some(Command::CheckConfig { config }) => match Config::load(Some(&config), &overrides) {
            Ok(_) => {
                println!("{}: ok", config.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}: {e}", config.display());
                ExitCode::from(EXIT_CONFIG)
            }
        },
        Some(Command::Demo) => demo(&overrides),
        Some(Command::Registry {
            command:
                RegistryCommand::Import {
                    file,
                    config,
                    format,
                },
        }) => import(&file, config, format, &overrides),
    }
}

fn init_tracing(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().flatten_event(true).init();
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

fn load(path: Option<&std::path::Path>, overrides: &Overrides) -> Result<Config, ExitCode> {
    Config::load(path, overrides).map_err(|e| {
        match path {
            Some(p) => eprintln!("{}: {e}", p.display()),
            None => eprintln!("configuration: {e}"),
        }
        ExitCode::from(EXIT_CONFIG)
    })
}

fn serve(path: Option<PathBuf>, overrides: &Overrides) -> ExitCode {
    let config = match load(path.as_deref(), overrides) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let result = runtime().map_err(anyhow::Error::from).and_then(|rt| {
        rt.block_on(async {
            let listeners = Listeners::bind(&config).await?;
            daemon::run(config, listeners, Arc::new(SystemClock), shutdown_signal()).await
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "edld failed");
            eprintln!("edld: {e:#}");
            ExitCode::from(EXIT_SOFTWARE)
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            // Without signal handlers the daemon can only be killed; keep serving.
            std::future::pending::<()>().await;
        }
    }
}

fn demo(overrides: &Overrides) -> ExitCode {
    let mut overrides = overrides.clone();
    if overrides.listen.is_none() {
        overrides.listen = Some("127.0.0.1:0".into());
    }
    if overrides.admin_listen.is_none() {
        overrides.admin_listen = Some("127.0.0.1:0".into());
    }
    if overrides.data_dir.is_none() {
        let dir = std::env::temp_dir().join(format!("edl-demo-{}", std::process::id()));
        overrides.data_dir = Some(dir);
    }
    let mut config = match load(None, &overrides) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // Show a revocation in the next status list within a fraction of a second.
    config.status_coalesce = std::time::Duration::from_millis(100);
    let result = runtime().map_err(anyhow::Error::from).and_then(|rt| {
        rt.block_on(daemon::demo::run(
            config,
            Arc::new(SystemClock),
            &mut std::io::stdout(),
        ))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edld demo: {e:#}");
            ExitCode::from(EXIT_SOFTWARE)
        }
    }
}

fn import(
    file: &std::path::Path,
    config: Option<PathBuf>,
    format: Option<daemon::import::Format>,
    overrides: &Overrides,
) -> ExitCode {
    let config = match load(config.as_deref(), overrides) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let format = format.unwrap_or_else(|| daemon::import::Format::from_path(file));
    let result = (|| -> anyhow::Result<daemon::import::ImportReport> {
        let (keys, _) = daemon::keyfiles::load(&config.keys, &config.data_dir)?;
        let metrics = Arc::new(daemon::metrics::Metrics::new());
        let base_url = config.base_url(config.listen);
        let (service, _committer) = daemon::service::Service::open(
            &config,
            keys,
            Arc::new(SystemClock),
            base_url,
            metrics,
        )?;
        daemon::import::import_file(&service, file, format)
    })();
    match result {
        Ok(report) => {
            for (line, message) in &report.failed {
                eprintln!("{}:{line}: {message}", file.display());
            }
            println!(
                "imported {} licence records from {}; {} lines refused",
                report.imported,
                file.display(),
                report.failed.len()
            );
            if report.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_DATA)
            }
        }
        Err(e) => {
            eprintln!("edld registry import: {e:#}");
            ExitCode::from(EXIT_SOFTWARE)
        }
    }
}
