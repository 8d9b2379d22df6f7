//! `edld store …`: the storage engine's own commands. `edld store migrate --store URL`
//! applies the PostgreSQL schema's migrations (each in its transaction, versions recorded
//! in `schema_version`) and prints the version before and after.

use std::path::PathBuf;

use clap::Subcommand;

use super::{Exit, load, runtime};
use crate::config::{Overrides, StoreConfig};
use crate::store::postgres;

/// `edld store`.
#[derive(Subcommand)]
pub enum StoreCommand {
    /// Apply the PostgreSQL schema's migrations (`--store postgresql://…`, or `[store]` in
    /// `--config`).
    Migrate {
        /// TOML configuration whose `[store]` names the database.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// Runs an `edld store` command.
pub fn command(command: StoreCommand, overrides: &Overrides) -> Exit {
    match command {
        StoreCommand::Migrate { config } => {
            let config = match load(config.as_deref(), overrides) {
                Ok(c) => c,
                Err(exit) => return exit,
            };
            let StoreConfig::Postgres(pg) = &config.store else {
                eprintln!(
                    "edld store migrate: the store is sled, which needs no migration; \
                     name a database with --store postgresql://…"
                );
                return Exit::Config;
            };
            let migrated = runtime().map_err(|e| e.to_string()).and_then(|rt| {
                rt.block_on(postgres::migrate(pg))
                    .map_err(|e| e.to_string())
            });
            match migrated {
                Ok((from, to)) if from == to => {
                    println!("the schema is at version {to}: nothing to do");
                    Exit::Success
                }
                Ok((from, to)) => {
                    println!("migrated the schema from version {from} to {to}");
                    Exit::Success
                }
                Err(e) => {
                    eprintln!("edld store migrate: {e}");
                    Exit::Software
                }
            }
        }
    }
}
