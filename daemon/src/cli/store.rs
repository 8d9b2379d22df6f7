//! `edld store …`: the storage engine's own commands. `edld store migrate --store URL`
//! applies the PostgreSQL schema's migrations (each in its transaction, versions recorded
//! in `schema_version`) and prints the version before and after. `edld store copy --from
//! DIR --to URL` copies a sled data directory into PostgreSQL (`store::copy`), with a
//! progress bar on a terminal and a progress line a second otherwise.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Exit, load, runtime};
use crate::clock::Clock;
use crate::config::{Overrides, PostgresConfig, StoreConfig};
use crate::store::copy::{self, Checkpoint, CopyError, CopyEvent};
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
    /// Copy a sled data directory into a PostgreSQL database (resumable: rerun the same
    /// command after an interruption). Exit 75 while an edld runs on the directory, 65 when
    /// the database holds other state.
    Copy {
        /// The sled data directory (the one `--data` names; its database is `DIR/db`).
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// The database: a `postgresql://` URL.
        #[arg(long, value_name = "URL")]
        to: String,
        /// Records per transaction.
        #[arg(long, default_value_t = copy::DEFAULT_BATCH)]
        batch: usize,
    },
}

/// Runs an `edld store` command.
pub fn command(command: StoreCommand, overrides: &Overrides, clock: Arc<dyn Clock>) -> Exit {
    match command {
        StoreCommand::Copy { from, to, batch } => copy_command(from, to, batch, clock),
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

/// `edld store copy`.
fn copy_command(from: PathBuf, to: String, batch: usize, clock: Arc<dyn Clock>) -> Exit {
    if !(to.starts_with("postgresql://") || to.starts_with("postgres://")) {
        eprintln!("edld store copy: --to takes a postgresql:// URL");
        return Exit::Config;
    }
    let target = PostgresConfig {
        url: to,
        node: "store-copy".into(),
        pool_size: 2,
        migrate: true,
    };
    let mut progress = Progress::new(clock.clone());
    let started = clock.monotonic();
    let copied = runtime()
        .map_err(|e| CopyError::Store(e.into()))
        .and_then(|rt| {
            rt.block_on(copy::copy(&from, &target, batch, &mut |event| {
                progress.event(event)
            }))
        });
    progress.bar.finish_and_clear();
    let seconds = clock.monotonic().saturating_sub(started).as_secs_f64();
    match copied {
        Ok(survey) => {
            let written = survey.records - progress.skipped;
            if progress.finished_before {
                println!(
                    "{} was copied into this database already: nothing to do",
                    from.display()
                );
            } else {
                println!(
                    "copied {} licences and {} credentials ({written} records{}) in {seconds:.1} s: \
                     {:.0} records/s",
                    survey.licences,
                    survey.credentials,
                    if progress.skipped > 0 {
                        format!(", resumed after {}", progress.skipped)
                    } else {
                        String::new()
                    },
                    written as f64 / seconds.max(1e-3),
                );
            }
            Exit::Success
        }
        Err(e) => {
            eprintln!("edld store copy: {e}");
            match e {
                CopyError::InUse(_) | CopyError::NodeRunning(_) => Exit::TempFail,
                CopyError::NotEmpty(_) | CopyError::OtherSource(_) => Exit::Data,
                CopyError::NoSource(_) => Exit::Config,
                CopyError::Store(_) => Exit::Software,
            }
        }
    }
}

/// The copy's progress: a bar on a terminal, else a line on stderr at most once a second
/// (and after the first batch).
struct Progress {
    bar: ProgressBar,
    terminal: bool,
    clock: Arc<dyn Clock>,
    last_line: Option<Duration>,
    skipped: u64,
    finished_before: bool,
}

impl Progress {
    fn new(clock: Arc<dyn Clock>) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let bar = if terminal {
            ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:40} {human_pos}/{human_len} records  {per_sec}  eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Progress {
            bar,
            terminal,
            clock,
            last_line: None,
            skipped: 0,
            finished_before: false,
        }
    }

    fn event(&mut self, event: CopyEvent) {
        match event {
            CopyEvent::Started { survey, checkpoint } => {
                self.bar.set_length(survey.records);
                match checkpoint {
                    Checkpoint::Fresh => eprintln!(
                        "copying {} ({} licences, {} credentials, {} records)",
                        survey.source.location, survey.licences, survey.credentials, survey.records
                    ),
                    Checkpoint::Resume(done) => {
                        self.skipped = done;
                        self.bar.set_position(done);
                        self.bar.reset_eta();
                        eprintln!(
                            "resuming the copy of {} at record {done} of {}",
                            survey.source.location, survey.records
                        );
                    }
                    Checkpoint::Finished => {
                        self.skipped = survey.records;
                        self.finished_before = true;
                    }
                }
            }
            CopyEvent::Batch { done, total } => {
                self.bar.set_position(done);
                if self.terminal {
                    return;
                }
                let now = self.clock.monotonic();
                let due = self
                    .last_line
                    .is_none_or(|last| now.saturating_sub(last) >= Duration::from_secs(1));
                if due || done == total {
                    self.last_line = Some(now);
                    eprintln!(
                        "copied {done} of {total} records ({}%)",
                        done * 100 / total.max(1)
                    );
                }
            }
        }
    }
}
