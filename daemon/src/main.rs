//! `edld`: parses the command line, installs tracing, hands the system clock to
//! `daemon::cli` and turns the outcome into an exit code. The only place that reads the
//! system clock; every command lives in `daemon::cli`.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use daemon::Clock;
use daemon::cli::Cli;
use keys::UnixTime;

/// mimalloc rather than glibc malloc: a busy server allocates and frees per request on
/// every worker thread, where glibc's arenas spend much of their time consolidating.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The system clock: wall time, and monotonic time since the process started.
struct SystemClock {
    origin: std::time::Instant,
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
        // The daemon's one read of the monotonic clock.
        #[allow(clippy::disallowed_methods)]
        let elapsed = self.origin.elapsed();
        elapsed
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.default_log_level());
    // The monotonic clock's origin: the daemon counts from its start.
    #[allow(clippy::disallowed_methods)]
    let origin = std::time::Instant::now();
    ExitCode::from(daemon::cli::run(cli, Arc::new(SystemClock { origin })).code())
}

/// Logs to stderr: readable on a terminal, JSON lines otherwise (journald, files);
/// `RUST_LOG` overrides the level.
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
