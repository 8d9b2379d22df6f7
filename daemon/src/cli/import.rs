//! `edld registry import FILE`: licence records from CSV (with the header
//! `number,name,classes,valid_from,valid_until,authority,state,points,photo`) or JSON Lines
//! (one object per line with the same fields). Each line is checked in full and written
//! in one atomic batch, or not at all; failures are reported by line number. Writes are
//! made durable every few thousand lines and at the end. The data directory must not be
//! in use by a running edld (its store is locked then): that is refused with exit 75 and
//! a pointer to the registry API.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Exit, load};
use crate::auth::{Caller, Role};
use crate::clock::Clock;
use crate::config::Overrides;
use crate::domain::registry::{CSV_HEADER, Classes, RegistryLine};
use crate::service::Service;

/// `edld registry …`.
#[derive(Subcommand)]
pub enum RegistryCommand {
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
        format: Option<Format>,
    },
}

/// Runs `edld registry import`: exit 0, 65 if some lines were refused, 75 if edld runs on
/// the data directory.
pub fn command(command: RegistryCommand, overrides: &Overrides, clock: Arc<dyn Clock>) -> Exit {
    let RegistryCommand::Import {
        file,
        config,
        format,
    } = command;
    let config = match load(config.as_deref(), overrides) {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    let format = format.unwrap_or_else(|| Format::from_path(&file));
    let in_use = || {
        eprintln!(
            "edld is running on {}: stop it, or use the registry API (PUT /v1/licences/{{number}})",
            config.data_dir.display()
        );
        Exit::TempFail
    };
    if store_in_use(&config.data_dir) {
        return in_use();
    }
    let result = (|| -> anyhow::Result<ImportReport> {
        let (keys, _) = crate::keyfiles::load(&config.keys, &config.data_dir)?;
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let base_url = config.base_url(config.listen);
        let (service, _committer) = Service::open(&config, keys, clock, base_url, metrics)?;
        import_file(&service, &file, format)
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
                Exit::Success
            } else {
                Exit::Data
            }
        }
        // edld started between the check above and the store's opening.
        Err(_) if store_in_use(&config.data_dir) => in_use(),
        Err(e) => {
            eprintln!("edld registry import: {e:#}");
            Exit::Software
        }
    }
}

/// Whether another process (a running edld) holds the lock on the store in `data_dir`.
/// sled takes an exclusive `flock` on its `db` file for as long as it is open; probing that
/// lock says so before anything is opened or created, in words a person can act on.
fn store_in_use(data_dir: &Path) -> bool {
    let Ok(file) = File::open(data_dir.join("db").join("db")) else {
        return false;
    };
    // The probe's own lock, if it got one, goes with `file`.
    matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

/// Lines between durable commits.
const COMMIT_EVERY: usize = 5_000;

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Records written.
    pub imported: usize,
    /// Lines refused: (line number, message).
    pub failed: Vec<(usize, String)>,
}

/// The file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl Format {
    /// Guesses from the file name: `.csv` or else JSON Lines.
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => Format::Csv,
            _ => Format::Jsonl,
        }
    }
}

/// Imports `path` into the service's registry.
pub fn import_file(service: &Service, path: &Path, format: Format) -> anyhow::Result<ImportReport> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let caller = Caller {
        client: "registry-import".into(),
        role: Role::Registry,
    };
    let mut report = ImportReport::default();
    let mut since_commit = 0;
    let mut write = |line_no: usize,
                     line: Result<RegistryLine, String>,
                     report: &mut ImportReport|
     -> anyhow::Result<()> {
        let record = line.and_then(|l| l.into_record(None).map_err(|e| e.to_string()));
        match record {
            Ok(record) => {
                service.put_licence_uncommitted(&caller, record)?;
                report.imported += 1;
                since_commit += 1;
                if since_commit >= COMMIT_EVERY {
                    service.store.sync(&mut HashSet::new())?;
                    since_commit = 0;
                }
            }
            Err(message) => report.failed.push((line_no, message)),
        }
        Ok(())
    };
    match format {
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(true)
                .flexible(false)
                .from_reader(BufReader::new(file));
            let headers = reader.headers().context("reading the CSV header")?.clone();
            let expected: Vec<&str> = CSV_HEADER.split(',').collect();
            let found: Vec<&str> = headers.iter().map(str::trim).collect();
            anyhow::ensure!(
                found == expected,
                "the CSV header must be exactly: {CSV_HEADER}"
            );
            for record in reader.records() {
                let (line_no, line) = match record {
                    Ok(r) => {
                        let line_no = r.position().map_or(0, |p| p.line() as usize);
                        progress.set_position(r.position().map_or(0, |p| p.byte()));
                        (line_no, Ok(csv_line(&r)))
                    }
                    Err(e) => {
                        let line_no = e.position().map_or(0, |p| p.line() as usize);
                        (line_no, Err(e.to_string()))
                    }
                };
                let line = line.and_then(|l| l);
                write(line_no, line, &mut report)?;
            }
        }
        Format::Jsonl => {
            let mut bytes = 0u64;
            for (n, line) in BufReader::new(file).lines().enumerate() {
                let line = line.with_context(|| format!("reading line {}", n + 1))?;
                bytes += line.len() as u64 + 1;
                progress.set_position(bytes);
                if line.trim().is_empty() {
                    continue;
                }
                let parsed = serde_json::from_str::<RegistryLine>(&line).map_err(|e| e.to_string());
                write(n + 1, parsed, &mut report)?;
            }
        }
    }
    service.store.sync(&mut HashSet::new())?;
    progress.finish_and_clear();
    Ok(report)
}

/// One CSV record (in `CSV_HEADER` order) as a registry line: pure, no IO; what the import
/// and its fuzz target both call.
pub fn csv_line(record: &csv::StringRecord) -> Result<RegistryLine, String> {
    let field = |i: usize| record.get(i).unwrap_or("").trim().to_owned();
    let optional = |i: usize| {
        let v = field(i);
        (!v.is_empty()).then_some(v)
    };
    let points = match optional(7) {
        None => None,
        Some(p) => Some(
            p.parse::<u8>()
                .map_err(|_| format!("points: {p:?} is not a number from 0 to 12"))?,
        ),
    };
    Ok(RegistryLine {
        number: Some(field(0)),
        name: field(1),
        classes: Classes::Text(field(2)),
        valid_from: field(3),
        valid_until: optional(4),
        authority: field(5),
        state: optional(6),
        points,
        photo: optional(8),
    })
}
