//! The versioned schema: migrations as SQL files built into edld, applied in order by
//! `edld store migrate` (or at start with `[store] migrate = true`), each in its own
//! transaction with its row in `schema_version`. A node refuses a database whose schema is
//! older (not migrated) or newer (a newer edld migrated it) than its own.

use deadpool_postgres::Object;

use super::db_error;
use crate::store::{StoreError, StoreResult};

/// The migrations, in order: version `n` is `MIGRATIONS[n - 1]`.
const MIGRATIONS: &[(&str, &str)] = &[
    ("initial", include_str!("migrations/0001_initial.sql")),
    ("nodes", include_str!("migrations/0002_nodes.sql")),
    (
        "status changes",
        include_str!("migrations/0003_status_changes.sql"),
    ),
    (
        "copy progress",
        include_str!("migrations/0004_copy_progress.sql"),
    ),
    ("console", include_str!("migrations/0005_console.sql")),
    (
        "node figures",
        include_str!("migrations/0006_node_figures.sql"),
    ),
    ("webhooks", include_str!("migrations/0007_webhooks.sql")),
    ("queue room", include_str!("migrations/0008_queue_room.sql")),
];

/// The schema version this edld speaks.
pub(crate) const VERSION: i32 = MIGRATIONS.len() as i32;

/// Serializes concurrent migrations (several nodes started with `migrate = true`): an
/// advisory lock key of our own.
const MIGRATION_LOCK: i64 = 0x65_646c_6d69_6772; // "edlmigr"

/// What migrating did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Migrated {
    /// The version before.
    pub from: i32,
    /// The version now.
    pub to: i32,
}

/// Applies the migrations the database lacks.
pub(crate) async fn migrate(client: &mut Object) -> StoreResult<Migrated> {
    let tx = client.transaction().await.map_err(db_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db_error)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version integer PRIMARY KEY,
             name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(db_error)?;
    let from = current(&tx).await?;
    if from > VERSION {
        return Err(newer(from));
    }
    for (n, (name, sql)) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        let version = n as i32 + 1;
        tx.batch_execute(sql).await.map_err(|e| {
            StoreError::Engine(format!("migration {version} ({name}): {}", db_error(e)))
        })?;
        tx.execute(
            "INSERT INTO schema_version (version, name) VALUES ($1, $2)",
            &[&version, name],
        )
        .await
        .map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)?;
    Ok(Migrated { from, to: VERSION })
}

/// Checks that the database's schema is the one this edld speaks.
pub(crate) async fn check(client: &Object) -> StoreResult<()> {
    let version = version(client).await?;
    match version {
        v if v == VERSION => Ok(()),
        v if v > VERSION => Err(newer(v)),
        v => Err(StoreError::Engine(format!(
            "the database's schema is at version {v}, this edld needs {VERSION}: \
             run `edld store migrate --store URL` (or start with --migrate)"
        ))),
    }
}

/// The database's schema version (0: none).
pub(crate) async fn version(client: &Object) -> StoreResult<i32> {
    let exists = client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await
        .map_err(db_error)?;
    if !exists.try_get::<_, bool>(0).map_err(db_error)? {
        return Ok(0);
    }
    let row = client
        .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
        .await
        .map_err(db_error)?;
    row.try_get(0).map_err(db_error)
}

async fn current(tx: &deadpool_postgres::Transaction<'_>) -> StoreResult<i32> {
    let row = tx
        .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
        .await
        .map_err(db_error)?;
    row.try_get(0).map_err(db_error)
}

fn newer(version: i32) -> StoreError {
    StoreError::Engine(format!(
        "the database's schema is at version {version}, newer than this edld's {VERSION}: \
         upgrade edld"
    ))
}
