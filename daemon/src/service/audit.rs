//! Reading the audit logs back: checking both chains (`edld audit verify`) and listing who
//! looked up one licence and what was changed on it (`edld audit query`). Works on a
//! store and a lookup log file, so the same code runs offline on a data directory (`edld
//! audit` while edld is stopped) and inside the running daemon (admin listener).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::audit::AuditRecord;
use crate::domain::audit::chain::{self, Checker, Head};
use crate::store::lookups::files::{Closed, FsSegments};
use crate::store::lookups::{LOOKUPS_FILE, segments};
use crate::store::{Store, StoreError};

/// Change records read from the store at a time.
const PAGE: usize = 4096;

/// The lookup log's path in a data directory.
pub(crate) fn lookups_path(data_dir: &Path) -> PathBuf {
    data_dir.join("audit").join(LOOKUPS_FILE)
}

/// The result of checking one chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChainReport {
    /// `changes` or `lookups`.
    pub name: String,
    /// Where it is stored.
    pub location: String,
    /// Records that check, from the first.
    pub records: u64,
    /// The hash of the last record that checks (hex): keep it elsewhere to detect a
    /// later rewrite of the whole log.
    pub head: String,
    /// The first break, if any.
    pub broken: Option<BrokenAt>,
}

/// Where and why a chain breaks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BrokenAt {
    /// The record number, from 1 (in the lookup log: counted across its segments).
    pub record: u64,
    /// Why, for a person.
    pub reason: String,
}

/// Both chains.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VerifyReport {
    /// Registry, review, credential, client and throttle changes.
    pub changes: ChainReport,
    /// Relying-party lookups.
    pub lookups: ChainReport,
}

impl VerifyReport {
    /// Whether both chains check from the first record to the last.
    pub(crate) fn is_intact(&self) -> bool {
        self.changes.broken.is_none() && self.lookups.broken.is_none()
    }

    /// The report for a person.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        for chain in [&self.changes, &self.lookups] {
            match &chain.broken {
                None => {
                    let _ = writeln!(
                        out,
                        "{}: ok, {} ({})\n  head {}",
                        chain.name,
                        records(chain.records),
                        chain.location,
                        chain.head
                    );
                }
                Some(b) => {
                    let _ = writeln!(
                        out,
                        "{}: BROKEN at record {}: {} ({}; {} before it check)",
                        chain.name,
                        b.record,
                        b.reason,
                        chain.location,
                        records(chain.records)
                    );
                }
            }
        }
        out
    }
}

/// Everything the audit logs hold about one licence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct QueryReport {
    /// The licence number.
    pub licence: String,
    /// Relying-party lookups of its credentials, oldest first.
    pub lookups: Vec<AuditRecord>,
    /// Changes to its record, applications and credentials, oldest first.
    pub changes: Vec<AuditRecord>,
    /// Records left out because they could not be read or do not match their own hash
    /// (see `edld audit verify`).
    pub unreadable: u64,
}

impl QueryReport {
    /// The report for a person: who checked the licence and when, then what changed.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "licence {}: checked {} times",
            self.licence,
            self.lookups.len()
        );
        if !self.lookups.is_empty() {
            let _ = writeln!(
                out,
                "  {:<20}  {:<24}  {:<9}  purpose",
                "when (UTC)", "client", "role"
            );
        }
        for r in &self.lookups {
            let _ = writeln!(
                out,
                "  {:<20}  {:<24}  {:<9}  {}",
                r.at.to_string(),
                r.client,
                r.role,
                r.purpose.as_deref().unwrap_or("(none declared)")
            );
        }
        let _ = writeln!(out, "changes: {}", self.changes.len());
        for r in &self.changes {
            let _ = writeln!(
                out,
                "  {:<20}  {:<24}  {:<9}  {}{}",
                r.at.to_string(),
                r.client,
                r.role,
                r.action,
                r.detail
                    .as_deref()
                    .map(|d| format!(" {d}"))
                    .unwrap_or_default()
            );
        }
        if self.unreadable > 0 {
            let _ = writeln!(
                out,
                "warning: {} left out: damaged or altered; run `edld audit verify`",
                records(self.unreadable)
            );
        }
        out
    }
}

/// Checks the change chain in `store` and the lookup chain in the file `lookups` and the
/// closed segments beside it. Reads both logs whole.
pub(crate) async fn verify(store: &dyn Store, lookups: &Path) -> Result<VerifyReport, StoreError> {
    let changes = check_changes(store).await?;
    let path = lookups.to_owned();
    let (lookup_chain, closed) =
        blocking(move || unrotated(&path, || chain::check(lookup_records(&path)?))).await?;
    let closed = closed.len();
    let location = match closed {
        0 => lookups.display().to_string(),
        1 => format!("{} and 1 closed segment beside it", lookups.display()),
        n => format!("{} and {n} closed segments beside it", lookups.display()),
    };
    Ok(VerifyReport {
        changes: report("changes", "the store's change log".into(), changes),
        lookups: report("lookups", location, lookup_chain),
    })
}

/// The records about `licence` in both logs. Reads both logs whole.
pub(crate) async fn query(
    store: &dyn Store,
    lookups: &Path,
    licence: &str,
) -> Result<QueryReport, StoreError> {
    let mut unreadable = 0;
    let mut changes = Vec::new();
    let mut from = 1;
    loop {
        let page = store.audit_records(from, PAGE).await?;
        let Some((last, _)) = page.last() else {
            break;
        };
        from = last + 1;
        changes.extend(select(page.into_iter().map(Ok), licence, &mut unreadable)?);
    }
    let (path, wanted) = (lookups.to_owned(), licence.to_owned());
    let ((lookups, skipped), _) = blocking(move || {
        unrotated(&path, || {
            let mut skipped = 0;
            let selected = select(lookup_records(&path)?, &wanted, &mut skipped)?;
            Ok((selected, skipped))
        })
    })
    .await?;
    unreadable += skipped;
    Ok(QueryReport {
        licence: licence.to_owned(),
        lookups,
        changes,
        unreadable,
    })
}

/// The change chain checked page by page.
async fn check_changes(store: &dyn Store) -> Result<Result<Head, chain::Break>, StoreError> {
    let mut checker = Checker::default();
    let mut from = 1;
    loop {
        let page = store.audit_records(from, PAGE).await?;
        let Some((last, _)) = page.last() else {
            return Ok(Ok(checker.head()));
        };
        from = last + 1;
        for (position, bytes) in &page {
            if let Err(broken) = checker.feed(*position, bytes) {
                return Ok(Err(broken));
            }
        }
    }
}

/// Runs file reading off the async workers.
async fn blocking<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(read)
        .await
        .map_err(|e| StoreError::Io(format!("reading the lookup log: {e}")))?
}

/// Runs `read` over the lookup log at `lookups` until no segment was closed while it
/// read (a running daemon may close one at any moment), and returns its result and the
/// closed segments it saw.
fn unrotated<T>(
    lookups: &Path,
    mut read: impl FnMut() -> Result<T, StoreError>,
) -> Result<(T, Vec<Closed>), StoreError> {
    let segments = || match lookups.parent() {
        Some(dir) => segments(dir),
        None => Ok(Vec::new()),
    };
    let mut attempts = 0;
    loop {
        let before = segments()?;
        let result = read()?;
        let after = segments()?;
        attempts += 1;
        if before == after || attempts == 3 {
            return Ok((result, after));
        }
    }
}

fn select(
    records: impl Iterator<Item = Result<(u64, Vec<u8>), StoreError>>,
    licence: &str,
    unreadable: &mut u64,
) -> Result<Vec<AuditRecord>, StoreError> {
    let mut out = Vec::new();
    for entry in records {
        let (_, bytes) = entry?;
        match chain::decode_intact(&bytes) {
            Some(r) if r.licence.as_deref() == Some(licence) => out.push(r),
            Some(_) => {}
            None => *unreadable += 1,
        }
    }
    Ok(out)
}

/// "1 record", "2 records".
fn records(n: u64) -> String {
    if n == 1 {
        "1 record".into()
    } else {
        format!("{n} records")
    }
}

fn report(name: &str, location: String, result: Result<Head, chain::Break>) -> ChainReport {
    match result {
        Ok(head) => ChainReport {
            name: name.into(),
            location,
            records: head.next - 1,
            head: hex::encode(head.hash),
            broken: None,
        },
        Err(b) => ChainReport {
            name: name.into(),
            location,
            records: b.record.saturating_sub(1),
            head: String::new(),
            broken: Some(BrokenAt {
                record: b.record,
                reason: b.reason.to_string(),
            }),
        },
    }
}

/// The records of the lookup log whose segment being written is `path`: its closed
/// segments first, then that one, as (record number, stored bytes), numbered on across
/// the segments. A record still being written is left out. A missing log is empty.
pub(crate) fn lookup_records(
    path: &Path,
) -> Result<impl Iterator<Item = Result<(u64, Vec<u8>), StoreError>> + use<>, StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::store::lookups::records(Box::new(FsSegments::new(dir)))
}
