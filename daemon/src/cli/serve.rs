//! `edld` / `edld serve`: binds the configured listeners and runs the daemon until SIGTERM
//! or Ctrl-C; `edld check-config`: checks a configuration file, its key files and an
//! offline-signed trust list as the daemon would at start, then exits.

use std::path::Path;
use std::sync::Arc;

use super::{Exit, load, runtime};
use crate::clock::Clock;
use crate::config::{Config, Overrides};
use crate::{Listeners, keyfiles};

/// Runs the daemon on the configuration at `path` (else the embedded development one).
pub fn serve(path: Option<&Path>, overrides: &Overrides, clock: Arc<dyn Clock>) -> Exit {
    let config = match load(path, overrides) {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    let result = runtime().map_err(anyhow::Error::from).and_then(|rt| {
        rt.block_on(async {
            let listeners = Listeners::bind(&config).await?;
            crate::run(config, listeners, clock, shutdown_signal()).await
        })
    });
    match result {
        Ok(()) => Exit::Success,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "edld failed");
            eprintln!("edld: {e:#}");
            // Refused keys or trust list: a configuration error, which a restart does not
            // mend (systemd's RestartPreventExitStatus= names 78).
            let refused = e.chain().any(|c| {
                c.is::<keyfiles::KeyFileError>() || c.is::<crate::domain::trust::TrustError>()
            });
            if refused {
                Exit::Config
            } else {
                Exit::Software
            }
        }
    }
}

/// `edld check-config --config FILE`: the file, then the key files and a trust list signed
/// offline, as the daemon will read them at start.
pub fn check_config(path: &Path, overrides: &Overrides, clock: &dyn Clock) -> Exit {
    match Config::load(Some(path), overrides) {
        Ok(checked) => match keyfiles::check(&checked.keys, &checked.issuer, clock.now()) {
            Ok(()) => {
                println!("{}: ok", path.display());
                Exit::Success
            }
            Err(e) => {
                eprintln!("{}: {e:#}", path.display());
                Exit::Config
            }
        },
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            Exit::Config
        }
    }
}

/// Completes on SIGTERM or SIGINT.
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
