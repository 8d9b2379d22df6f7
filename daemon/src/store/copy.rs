//! `edld store copy`: moving one box's state into a cluster's database. The sled engine
//! exports the record stream of `copy_stream` on a thread of its own (`sled::export`), the
//! PostgreSQL engine imports it in batches (`postgres::import`), and this module passes
//! the batches from one to the other and reports progress.

use std::path::Path;

use crate::config::PostgresConfig;
use crate::store::StoreError;
pub(crate) use crate::store::copy_stream::{Checkpoint, CopyError, CopyRecord, Survey};
use crate::store::postgres::PgImport;
use crate::store::sled::SledExport;

/// Records per batch (one transaction each) unless the operator says otherwise.
pub(crate) const DEFAULT_BATCH: usize = 5_000;

/// What a copy reports as it goes.
#[derive(Clone, Debug)]
pub(crate) enum CopyEvent {
    /// The source was read once and where the target stands is known.
    Started {
        survey: Survey,
        checkpoint: Checkpoint,
    },
    /// A batch committed: `done` records of `total` are in.
    Batch { done: u64, total: u64 },
}

/// Copies the sled data directory `from` into the PostgreSQL database `to`, `batch`
/// records per transaction, resuming a copy of the same source that stopped; `report`
/// hears of the start and of every batch. Answers the survey of the source.
pub(crate) async fn copy(
    from: &Path,
    to: &PostgresConfig,
    batch: usize,
    report: &mut (dyn FnMut(CopyEvent) + Send),
) -> Result<Survey, CopyError> {
    let export = SledExport::open(from)?;
    let (export, survey) = tokio::task::spawn_blocking(move || {
        let survey = export.survey();
        (export, survey)
    })
    .await
    .map_err(|e| StoreError::Engine(e.to_string()))?;
    let survey = survey?;
    let (mut import, checkpoint) = PgImport::begin(to, &survey).await?;
    report(CopyEvent::Started {
        survey: survey.clone(),
        checkpoint,
    });
    let skip = match checkpoint {
        Checkpoint::Finished => return Ok(survey),
        Checkpoint::Fresh => 0,
        Checkpoint::Resume(done) => done,
    };
    let batch = batch.max(1);
    // The export walks sled on a thread of its own while batches commit: two batches in
    // flight at most.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<CopyRecord>>(2);
    let exporting = tokio::task::spawn_blocking(move || {
        let mut pending = Vec::with_capacity(batch);
        let mut sink = |record: CopyRecord| -> Result<(), CopyError> {
            pending.push(record);
            if pending.len() >= batch {
                let full = std::mem::replace(&mut pending, Vec::with_capacity(batch));
                tx.blocking_send(full).map_err(|_| StoreError::Stopped)?;
            }
            Ok(())
        };
        export.export(skip, &mut sink)?;
        if !pending.is_empty() {
            tx.blocking_send(pending).map_err(|_| StoreError::Stopped)?;
        }
        Ok::<(), CopyError>(())
    });
    while let Some(records) = rx.recv().await {
        let done = import.batch(records).await?;
        report(CopyEvent::Batch {
            done,
            total: survey.records,
        });
    }
    exporting
        .await
        .map_err(|e| StoreError::Engine(e.to_string()))??;
    import.finish(survey.records).await?;
    Ok(survey)
}

#[cfg(test)]
mod tests;
