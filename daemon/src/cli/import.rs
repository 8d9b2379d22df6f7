//! `edld registry import FILE`: licence records from CSV (with the header
//! `number,name,classes,valid_from,valid_until,authority,state,points,photo`) or JSON Lines
//! (one object per line with the same fields). Each line is checked in full and written
//! whole, or not at all; failures are reported by line number. Records are written in
//! groups of a few thousand, each durable together. The data directory must not be in use
//! by a running edld (the store is locked then): that is refused with exit 75 and a
//! pointer to the registry API.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Exit, load};
use crate::clock::Clock;
use crate::config::Overrides;
use crate::config::StoreConfig;
use crate::domain::access::{Caller, Role};
use crate::domain::registry::{CSV_HEADER, Classes, LicenceRecord, RegistryLine};
use crate::service::Service;
use crate::store::postgres::PgStore;
use crate::store::sled::SledStore;
use crate::store::{Store, StoreError};

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
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("edld registry import: {e}");
            return Exit::Software;
        }
    };
    // On PostgreSQL the import runs beside the nodes: the database serializes it with them.
    let store: Arc<dyn Store> = match &config.store {
        StoreConfig::Sled(_) => match SledStore::open(&config.data_dir, None) {
            Ok(store) => Arc::new(store),
            Err(StoreError::InUse(_)) => return in_use(),
            Err(e) => {
                eprintln!(
                    "edld registry import: opening the store in {}: {e}",
                    config.data_dir.display()
                );
                return Exit::Software;
            }
        },
        StoreConfig::Postgres(pg) => match rt.block_on(PgStore::open(pg, pg.migrate, None)) {
            Ok(store) => Arc::new(store),
            Err(e) => {
                eprintln!("edld registry import: opening the PostgreSQL store: {e}");
                return Exit::Software;
            }
        },
    };
    let result: anyhow::Result<_> = rt.block_on(async {
        let (keys, _) = crate::keyfiles::load(&config.keys, &config.data_dir)?;
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let base_url = config.base_url(config.listen);
        let service = Service::open(&config, keys, clock, base_url, metrics, store.clone()).await?;
        let report = import_file(&service, &file, format).await;
        store.close().await?;
        report
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
                Exit::Success
            } else {
                Exit::Data
            }
        }
        Err(e) => {
            eprintln!("edld registry import: {e:#}");
            Exit::Software
        }
    }
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
pub async fn import_file(
    service: &Service,
    path: &Path,
    format: Format,
) -> anyhow::Result<ImportReport> {
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
    let mut import = Import {
        service,
        caller: Caller {
            client: "registry-import".into(),
            role: Role::Registry,
        },
        pending: Vec::new(),
        report: ImportReport::default(),
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
                        (line_no, csv_line(&r))
                    }
                    Err(e) => {
                        let line_no = e.position().map_or(0, |p| p.line() as usize);
                        (line_no, Err(e.to_string()))
                    }
                };
                import.line(line_no, line).await?;
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
                import.line(n + 1, parsed).await?;
            }
        }
    }
    import.flush().await?;
    progress.finish_and_clear();
    Ok(import.report)
}

/// Records checked and waiting to be written together.
struct Import<'a> {
    service: &'a Service,
    caller: Caller,
    pending: Vec<(usize, LicenceRecord)>,
    report: ImportReport,
}

impl Import<'_> {
    /// One line: checked in full, then written with the next group.
    async fn line(
        &mut self,
        line_no: usize,
        line: Result<RegistryLine, String>,
    ) -> anyhow::Result<()> {
        match line.and_then(|l| l.into_record(None).map_err(|e| e.to_string())) {
            Ok(record) => {
                self.pending.push((line_no, record));
                if self.pending.len() >= COMMIT_EVERY {
                    self.flush().await?;
                }
            }
            Err(message) => self.report.failed.push((line_no, message)),
        }
        Ok(())
    }

    /// Writes the pending records, durable together.
    async fn flush(&mut self) -> anyhow::Result<()> {
        let (lines, records): (Vec<usize>, Vec<LicenceRecord>) =
            std::mem::take(&mut self.pending).into_iter().unzip();
        let outcomes = self.service.import_licences(&self.caller, records).await?;
        for (line_no, outcome) in lines.into_iter().zip(outcomes) {
            match outcome {
                Ok(_) => self.report.imported += 1,
                Err(e) => self.report.failed.push((line_no, e.to_string())),
            }
        }
        Ok(())
    }
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
