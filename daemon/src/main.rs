//! `edld`: arguments → tracing → `Config` → bind → `daemon::run`, and the CLI commands
//! (`check-config`, `demo`, `registry import`, `throttle`, `clients`, `audit`). The only
//! place that reads the system clock.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use daemon::config::{Config, Overrides};
use daemon::{Clock, Listeners};
use keys::UnixTime;

/// mimalloc rather than glibc malloc: a busy server allocates and frees per request on
/// every worker thread, where glibc's arenas spend much of their time consolidating.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Show and tune the throttles live (admin listener), or simulate settings offline.
    Throttle {
        #[command(subcommand)]
        command: ThrottleCommand,
    },
    /// Add, list and revoke API clients: through the admin listener while edld runs,
    /// otherwise on the data directory itself.
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// Check the audit logs' hash chains, or show who looked up a licence: through the
    /// admin listener while edld runs, otherwise on the data directory itself.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check both hash chains (changes and lookups) from the first record to the last;
    /// exit 65 and name the first broken record if one does not check.
    Verify {
        #[command(flatten)]
        target: AuditTarget,
    },
    /// Who looked up a licence's status, when, in which role and for what declared
    /// purpose; and every change made to it.
    Query {
        /// The licence number.
        #[arg(long)]
        licence: String,
        #[command(flatten)]
        target: AuditTarget,
    },
}

#[derive(Args, Clone)]
struct AuditTarget {
    #[command(flatten)]
    key: OperatorKey,
    /// Configuration (for the admin address and the data directory).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Clone)]
struct OperatorKey {
    /// An API key of the operator role (default: $EDLD_OPERATOR_KEY, else the development
    /// key in `<data>/dev-clients.txt`).
    #[arg(long)]
    key: Option<String>,
}

#[derive(Subcommand)]
enum ThrottleCommand {
    /// Print every rate, burst, bound, lane weight, opening time and mode in force.
    Show {
        #[command(flatten)]
        key: OperatorKey,
    },
    /// Change settings: `edld throttle set drain.rate=500 client.mode=shadow`. In force
    /// within a second, audited, kept across restarts.
    Set {
        #[command(flatten)]
        key: OperatorKey,
        /// `name=value` pairs (see `edld throttle show` for the names).
        #[arg(required = true)]
        changes: Vec<String>,
    },
    /// Pause draining (admission goes on; waits show as unknown).
    Pause {
        #[command(flatten)]
        key: OperatorKey,
    },
    /// Resume draining.
    Resume {
        #[command(flatten)]
        key: OperatorKey,
    },
    /// Run the admission, queue and pacer code on a virtual clock over an arrival curve
    /// and write a CSV and an SVG chart.
    Simulate {
        /// Arrival curve: `seconds,per_second` lines, linearly interpolated.
        #[arg(long)]
        arrivals: PathBuf,
        /// Settings from this configuration's [throttle] tables (default: built-in).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Setting changes on top, `name=value` (repeatable).
        #[arg(long = "set")]
        changes: Vec<String>,
        /// Share of arrivals per lane: window,reissue,first.
        #[arg(long, default_value = "0.02,0.03,0.95")]
        lane_mix: String,
        /// Gateway clients the arrivals come through.
        #[arg(long, default_value_t = 8)]
        clients: u32,
        /// Share of arrivals that repeat a recent licence (retries, hammering).
        #[arg(long, default_value_t = 0.05)]
        repeat_share: f64,
        /// CSV output, one line per simulated minute.
        #[arg(long, default_value = "simulation.csv")]
        out_csv: PathBuf,
        /// SVG chart output.
        #[arg(long, default_value = "simulation.svg")]
        out_svg: PathBuf,
    },
    /// Write an example launch-day arrival curve (CSV).
    LaunchDay {
        /// Off-peak arrivals per second.
        #[arg(long, default_value_t = 200.0)]
        base: f64,
        /// Arrivals at the opening, as a multiple of the base.
        #[arg(long, default_value_t = 20.0)]
        spike: f64,
        /// Hours to cover.
        #[arg(long, default_value_t = 24.0)]
        hours: f64,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum ClientsCommand {
    /// Add a client and print its new API key (shown this once; only a hash is kept).
    Add {
        /// A unique name: letters, digits, '.', '_', '-' or '@'.
        #[arg(long)]
        name: String,
        /// gateway, window, reviewer, registry, officer, insurer, rental, employer or
        /// operator.
        #[arg(long, value_parser = parse_role)]
        role: daemon::auth::Role,
        #[command(flatten)]
        target: ClientsTarget,
    },
    /// List the clients: name, role, when added.
    List {
        #[command(flatten)]
        target: ClientsTarget,
    },
    /// Revoke a client's API key: refused from then on.
    Revoke {
        /// The client's name.
        name: String,
        #[command(flatten)]
        target: ClientsTarget,
    },
}

#[derive(Args, Clone)]
struct ClientsTarget {
    #[command(flatten)]
    key: OperatorKey,
    /// Configuration (for the admin address and the data directory).
    #[arg(long)]
    config: Option<PathBuf>,
}

fn parse_role(name: &str) -> Result<daemon::auth::Role, String> {
    daemon::auth::Role::from_name(name).ok_or_else(|| {
        let names = daemon::auth::Role::ALL.map(daemon::auth::Role::as_str);
        format!("one of {}", names.join(", "))
    })
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
        format: Option<daemon::cli::import::Format>,
    },
}

/// The system clock: wall time, and monotonic time since the process started.
struct SystemClock {
    origin: std::time::Instant,
}

impl SystemClock {
    fn new() -> SystemClock {
        // The daemon's one read of the monotonic clock's origin.
        #[allow(clippy::disallowed_methods)]
        let origin = std::time::Instant::now();
        SystemClock { origin }
    }
}

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

    fn monotonic(&self) -> std::time::Duration {
        // `elapsed` reads the monotonic clock: this is its one place.
        #[allow(clippy::disallowed_methods)]
        let elapsed = self.origin.elapsed();
        elapsed
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo talks to a person on stdout: only warnings in its log.
    let quiet = matches!(
        cli.command,
        Some(
            Command::Demo
                | Command::Registry { .. }
                | Command::Throttle { .. }
                | Command::Clients { .. }
                | Command::Audit { .. }
        )
    );
    init_tracing(if quiet { "warn" } else { "info" });
    let overrides = cli.serving.overrides();
    match cli.command {
        None => serve(None, &overrides),
        Some(Command::Serve { config }) => serve(config, &overrides),
        Some(Command::CheckConfig { config }) => match Config::load(Some(&config), &overrides) {
            Ok(checked) => {
                // The key files and a trust list signed offline, as the daemon will read
                // them at start.
                match daemon::keyfiles::check(
                    &checked.keys,
                    &checked.issuer,
                    SystemClock::new().now(),
                ) {
                    Ok(()) => {
                        println!("{}: ok", config.display());
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("{}: {e:#}", config.display());
                        ExitCode::from(EXIT_CONFIG)
                    }
                }
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
        Some(Command::Throttle { command }) => throttle(command, &overrides),
        Some(Command::Clients { command }) => clients(command, &overrides),
        Some(Command::Audit { command }) => audit(command, &overrides),
    }
}

/// `edld audit …`: through the running daemon's admin listener when something answers
/// there, otherwise on the data directory.
fn audit(command: AuditCommand, overrides: &Overrides) -> ExitCode {
    use daemon::audit::inspect::Source;
    let target = match &command {
        AuditCommand::Verify { target } | AuditCommand::Query { target, .. } => target.clone(),
    };
    let config = match load(target.config.as_deref(), overrides) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let result = runtime().map_err(anyhow::Error::from).and_then(|rt| {
        rt.block_on(async {
            let source = if tokio::net::TcpStream::connect(config.admin_listen)
                .await
                .is_ok()
            {
                Source::Daemon {
                    addr: config.admin_listen,
                    key: operator_key(&target.key, &config.data_dir)?,
                }
            } else {
                eprintln!(
                    "edld audit: nothing answers on {}: reading {} directly",
                    config.admin_listen,
                    config.data_dir.display()
                );
                Source::Offline {
                    data_dir: config.data_dir.clone(),
                }
            };
            match command {
                AuditCommand::Verify { .. } => {
                    let report = source.verify().await?;
                    if target.json {
                        println!("{}", serde_json::to_string(&report)?);
                    } else {
                        print!("{}", report.render());
                    }
                    Ok(if report.is_intact() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(EXIT_DATA)
                    })
                }
                AuditCommand::Query { licence, .. } => {
                    let number: keys::licence::LicenceNumber = licence
                        .parse()
                        .map_err(|e| anyhow::anyhow!("--licence {licence}: {e}"))?;
                    let report = source.query(number.as_str()).await?;
                    if target.json {
                        println!("{}", serde_json::to_string(&report)?);
                    } else {
                        print!("{}", report.render());
                    }
                    Ok(ExitCode::SUCCESS)
                }
            }
        })
    });
    result.unwrap_or_else(|e: anyhow::Error| {
        eprintln!("edld audit: {e:#}");
        ExitCode::from(EXIT_SOFTWARE)
    })
}

fn throttle(command: ThrottleCommand, overrides: &Overrides) -> ExitCode {
    let result = match command {
        ThrottleCommand::Simulate {
            arrivals,
            config,
            changes,
            lane_mix,
            clients,
            repeat_share,
            out_csv,
            out_svg,
        } => simulate(
            &arrivals,
            config.as_deref(),
            &changes,
            &lane_mix,
            clients,
            repeat_share,
            &out_csv,
            &out_svg,
            overrides,
        ),
        ThrottleCommand::LaunchDay {
            base,
            spike,
            hours,
            out,
        } => std::fs::write(
            &out,
            daemon::cli::operator::launch_day(base, spike, hours).to_csv(),
        )
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", out.display()))
        .map(|()| println!("wrote {}", out.display())),
        ThrottleCommand::Show { key } => admin_call(&key, overrides, |admin, out| {
            Box::pin(async move { daemon::cli::operator::show(&admin, out).await })
        }),
        ThrottleCommand::Set { key, changes } => admin_call(&key, overrides, |admin, out| {
            Box::pin(async move { daemon::cli::operator::set(&admin, &changes, out).await })
        }),
        ThrottleCommand::Pause { key } => admin_call(&key, overrides, |admin, out| {
            Box::pin(async move { daemon::cli::operator::pause(&admin, true, out).await })
        }),
        ThrottleCommand::Resume { key } => admin_call(&key, overrides, |admin, out| {
            Box::pin(async move { daemon::cli::operator::pause(&admin, false, out).await })
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edld throttle: {e:#}");
            ExitCode::from(EXIT_SOFTWARE)
        }
    }
}

type AdminFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + 'a>>;

/// Runs one call to the admin listener (from `--admin-listen`, default 127.0.0.1:8081)
/// with the operator key.
fn admin_call(
    key: &OperatorKey,
    overrides: &Overrides,
    call: impl for<'a> FnOnce(daemon::cli::operator::Admin, &'a mut std::io::Stdout) -> AdminFuture<'a>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let addr: std::net::SocketAddr = overrides
        .admin_listen
        .as_deref()
        .unwrap_or("127.0.0.1:8081")
        .parse()
        .context("--admin-listen: not an address with a port")?;
    let data = overrides
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("./edl-data"));
    let key = operator_key(key, &data)?;
    let admin = daemon::cli::operator::Admin { addr, key };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut out = std::io::stdout();
    rt.block_on(call(admin, &mut out))
}

/// The operator key: `--key`, else `$EDLD_OPERATOR_KEY`, else the development key in
/// `<data>/dev-clients.txt`.
fn operator_key(key: &OperatorKey, data_dir: &std::path::Path) -> anyhow::Result<String> {
    use anyhow::Context;
    if let Some(k) = key
        .key
        .clone()
        .or_else(|| std::env::var("EDLD_OPERATOR_KEY").ok())
    {
        return Ok(k);
    }
    let path = data_dir.join("dev-clients.txt");
    daemon::auth::read_dev_clients(&path)
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

/// `edld clients …`: through the running daemon's admin listener when something answers
/// there, otherwise on the data directory.
fn clients(command: ClientsCommand, overrides: &Overrides) -> ExitCode {
    let target = match &command {
        ClientsCommand::Add { target, .. }
        | ClientsCommand::List { target }
        | ClientsCommand::Revoke { target, .. } => target.clone(),
    };
    let config = match load(target.config.as_deref(), overrides) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let now = SystemClock::new().now();
    let result = runtime().map_err(anyhow::Error::from).and_then(|rt| {
        rt.block_on(async {
            let clients = if tokio::net::TcpStream::connect(config.admin_listen)
                .await
                .is_ok()
            {
                let key = operator_key(&target.key, &config.data_dir)?;
                daemon::cli::operator::Clients::Daemon(daemon::cli::operator::Admin {
                    addr: config.admin_listen,
                    key,
                })
            } else {
                eprintln!(
                    "edld clients: nothing answers on {}: working on {} directly",
                    config.admin_listen,
                    config.data_dir.display()
                );
                let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
                daemon::cli::operator::Clients::Offline {
                    data_dir: config.data_dir.clone(),
                    client: format!("local:{user}"),
                }
            };
            let mut out = std::io::stdout();
            match command {
                ClientsCommand::Add { name, role, .. } => {
                    let (client, key) = clients.add(&name, role, now).await?;
                    eprintln!(
                        "added {} ({}); its API key, shown this once:",
                        client.name,
                        client.role.as_str()
                    );
                    println!("{key}");
                }
                ClientsCommand::List { .. } => {
                    daemon::cli::operator::print_clients(&clients.list().await?, &mut out)?;
                }
                ClientsCommand::Revoke { name, .. } => {
                    let client = clients.revoke(&name, now).await?;
                    println!("revoked {} ({})", client.name, client.role.as_str());
                }
            }
            anyhow::Ok(())
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edld clients: {e:#}");
            ExitCode::from(EXIT_SOFTWARE)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn simulate(
    arrivals: &std::path::Path,
    config: Option<&std::path::Path>,
    changes: &[String],
    lane_mix: &str,
    clients: u32,
    repeat_share: f64,
    out_csv: &std::path::Path,
    out_svg: &std::path::Path,
    overrides: &Overrides,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut settings = match config {
        Some(path) => {
            Config::load(Some(path), overrides)
                .with_context(|| format!("{}", path.display()))?
                .throttle
        }
        None => daemon::domain::throttle::settings::ThrottleSettings::default(),
    };
    for change in changes {
        let (name, value) = change
            .split_once('=')
            .with_context(|| format!("--set {change:?}: expected name=value"))?;
        settings = settings.change(name.trim(), value.trim())?;
    }
    let mix: Vec<f64> = lane_mix
        .split(',')
        .map(|v| v.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .context("--lane-mix: three numbers, window,reissue,first")?;
    let lane_mix: [f64; 3] = mix
        .try_into()
        .map_err(|_| anyhow::anyhow!("--lane-mix: three numbers, window,reissue,first"))?;
    let scenario = daemon::cli::operator::Scenario {
        lane_mix,
        clients,
        repeat_share,
        ..daemon::cli::operator::Scenario::default()
    };
    let started = std::time::Instant::now();
    let report = daemon::cli::operator::simulate(arrivals, &settings, &scenario)?;
    let title = format!(
        "{}: drain {}/s, queue bound {} s, intake {}/s",
        arrivals.display(),
        settings.drain.rate,
        settings.admission.max_wait_seconds,
        settings.admission.intake.rate
    );
    std::fs::write(out_csv, report.to_csv())
        .with_context(|| format!("writing {}", out_csv.display()))?;
    let svg = report
        .to_svg(&title)
        .map_err(|e| anyhow::anyhow!("drawing: {e}"))?;
    std::fs::write(out_svg, svg).with_context(|| format!("writing {}", out_svg.display()))?;
    println!("{}", daemon::cli::operator::summary(&report));
    println!(
        "simulated {:.1} h in {:.1} s; wrote {} and {}",
        report.samples.len() as f64 / 60.0,
        started.elapsed().as_secs_f64(),
        out_csv.display(),
        out_svg.display()
    );
    Ok(())
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
            daemon::run(
                config,
                listeners,
                Arc::new(SystemClock::new()),
                shutdown_signal(),
            )
            .await
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "edld failed");
            eprintln!("edld: {e:#}");
            // Refused keys or trust list: a configuration error, which a restart does not
            // mend (systemd's RestartPreventExitStatus= names 78).
            let refused = e.chain().any(|c| {
                c.is::<daemon::keyfiles::KeyFileError>()
                    || c.is::<daemon::domain::trust::TrustError>()
            });
            ExitCode::from(if refused { EXIT_CONFIG } else { EXIT_SOFTWARE })
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
        rt.block_on(daemon::cli::demo::run(
            config,
            Arc::new(SystemClock::new()),
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
    format: Option<daemon::cli::import::Format>,
    overrides: &Overrides,
) -> ExitCode {
    let config = match load(config.as_deref(), overrides) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let format = format.unwrap_or_else(|| daemon::cli::import::Format::from_path(file));
    let result = runtime().map_err(anyhow::Error::from).and_then(|rt| {
        rt.block_on(async {
            let (keys, _) = daemon::keyfiles::load(&config.keys, &config.data_dir)?;
            let metrics = Arc::new(daemon::metrics::Metrics::new());
            let base_url = config.base_url(config.listen);
            let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
            let store = daemon::store::sled::SledStore::open(&config.data_dir, None)?;
            let store: Arc<dyn daemon::store::Store> = Arc::new(store);
            let service = daemon::service::Service::open(
                &config,
                keys,
                clock,
                base_url,
                metrics,
                store.clone(),
            )
            .await?;
            let report = daemon::cli::import::import_file(&service, file, format).await;
            store.close().await?;
            report
        })
    });
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
