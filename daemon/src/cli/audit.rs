//! `edld audit verify|query`: both audit chains checked, or who looked up a licence and
//! what was changed on it; through the running daemon's admin listener when something
//! answers there, otherwise read from the data directory.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

use super::admin::Admin;
use super::{Exit, OperatorKey, daemon_answers, load};
use crate::config::Overrides;
use crate::service::audit::{self as inspect, QueryReport, VerifyReport};
use crate::store::Store;
use crate::store::sled::SledStore;

/// `edld audit …`.
#[derive(Subcommand)]
pub enum AuditCommand {
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

/// Which daemon or data directory `edld audit` reads, and how it prints.
#[derive(Args, Clone)]
pub struct AuditTarget {
    #[command(flatten)]
    key: OperatorKey,
    /// Configuration (for the admin address and the data directory).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Where the logs are read.
enum Source {
    /// The running daemon, through its admin listener.
    Daemon(Admin),
    /// A stopped daemon's data directory.
    Offline(PathBuf),
}

/// Runs `edld audit …`.
pub fn command(command: AuditCommand, overrides: &Overrides) -> Exit {
    let target = match &command {
        AuditCommand::Verify { target } | AuditCommand::Query { target, .. } => target.clone(),
    };
    let config = match load(target.config.as_deref(), overrides) {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    let result = (|| {
        let source = if daemon_answers(config.admin_listen) {
            Source::Daemon(Admin {
                addr: config.admin_listen,
                key: target.key.resolve(&config.data_dir)?,
            })
        } else {
            eprintln!(
                "edld audit: nothing answers on {}: reading {} directly",
                config.admin_listen,
                config.data_dir.display()
            );
            Source::Offline(config.data_dir.clone())
        };
        match command {
            AuditCommand::Verify { .. } => {
                let report = source.verify()?;
                if target.json {
                    println!("{}", serde_json::to_string(&report)?);
                } else {
                    print!("{}", report.render());
                }
                Ok(if report.is_intact() {
                    Exit::Success
                } else {
                    Exit::Data
                })
            }
            AuditCommand::Query { licence, .. } => {
                let number: keys::licence::LicenceNumber = licence
                    .parse()
                    .map_err(|e| anyhow::anyhow!("--licence {licence}: {e}"))?;
                let report = source.query(number.as_str())?;
                if target.json {
                    println!("{}", serde_json::to_string(&report)?);
                } else {
                    print!("{}", report.render());
                }
                Ok(Exit::Success)
            }
        }
    })();
    result.unwrap_or_else(|e: anyhow::Error| {
        eprintln!("edld audit: {e:#}");
        Exit::Software
    })
}

impl Source {
    /// Checks both chains.
    fn verify(&self) -> anyhow::Result<VerifyReport> {
        match self {
            Source::Daemon(admin) => Ok(admin.get("/admin/v1/audit/verify")?),
            Source::Offline(data_dir) => offline(data_dir, async |store, lookups| {
                inspect::verify(store, lookups).await
            }),
        }
    }

    /// The records about one licence (`licence` is a checked licence number, which needs
    /// no escaping in a query).
    fn query(&self, licence: &str) -> anyhow::Result<QueryReport> {
        match self {
            Source::Daemon(admin) => Ok(admin.get(&format!("/admin/v1/audit?licence={licence}"))?),
            Source::Offline(data_dir) => offline(data_dir, async |store, lookups| {
                inspect::query(store, lookups, licence).await
            }),
        }
    }
}

/// Opens the store in `data_dir` and reads it with the lookup log beside it.
fn offline<T>(
    data_dir: &Path,
    read: impl AsyncFnOnce(&SledStore, &Path) -> Result<T, crate::store::StoreError>,
) -> anyhow::Result<T> {
    let store = SledStore::open(data_dir, None)
        .with_context(|| format!("opening the store in {}", data_dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()?;
    runtime.block_on(async {
        let result = read(&store, &inspect::lookups_path(data_dir)).await;
        store.close().await?;
        Ok(result?)
    })
}
