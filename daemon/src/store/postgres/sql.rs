//! What every command of the PostgreSQL engine is written with: statements prepared once
//! per connection, pipelined statements' outcomes, rows and JSON records, and the
//! [`transaction!`] that runs a command's body, retries it on a deadlock or a lost race,
//! and commits.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, Json, ToSql};

use crate::domain::application::Ticket;
use crate::store::{StoreError, StoreResult};

/// A database error as a store error.
pub(crate) fn db_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Engine(format!("{}: {}", db.code().code(), db.message())),
        None => StoreError::Engine(e.to_string()),
    }
}

pub(crate) fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Engine(format!("no database connection: {e}"))
}

/// Whether `e` is one a retry of the whole transaction may cure (a deadlock, a
/// serialization failure, a race on a unique key another transaction just took).
fn retryable(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::UNIQUE_VIOLATION
    )
}

/// How often a transaction is tried when it meets a retryable error.
const ATTEMPTS: u32 = 5;

/// A value as stored: JSON. Our records are plain structs of strings, numbers and lists,
/// so serializing them cannot fail.
pub(crate) fn encode<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// A stored JSON value; `what` names it in the error.
pub(crate) fn decode<T: DeserializeOwned>(value: serde_json::Value, what: &str) -> StoreResult<T> {
    serde_json::from_value(value).map_err(|_| StoreError::Corrupt(what.to_owned()))
}

/// Column `n` of `row`, typed.
pub(crate) fn col<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    n: usize,
) -> StoreResult<T> {
    row.try_get(n).map_err(db_error)
}

/// A JSON record in column `n`, read straight from the column's bytes (no JSON tree in
/// between: the live-status path reads two records per lookup).
pub(crate) fn record<T: DeserializeOwned>(row: &Row, n: usize, what: &str) -> StoreResult<T> {
    json_column(row, n, what).map(|Json(value)| value)
}

/// A JSON record in column `n` that may be NULL (as [`record`] reads one).
pub(crate) fn optional_record<T: DeserializeOwned>(
    row: &Row,
    n: usize,
    what: &str,
) -> StoreResult<Option<T>> {
    json_column(row, n, what).map(|value: Option<Json<T>>| value.map(|Json(v)| v))
}

/// An array of JSON records in column `n` (as [`record`] reads one).
pub(crate) fn records<T: DeserializeOwned>(row: &Row, n: usize, what: &str) -> StoreResult<Vec<T>> {
    json_column(row, n, what)
        .map(|values: Vec<Json<T>>| values.into_iter().map(|Json(v)| v).collect())
}

/// Column `n` as `V`, a type made of [`Json`] values: valid JSON of another shape, or not
/// JSON, means the `what` stored there is not what edld wrote.
fn json_column<'a, V: FromSql<'a>>(row: &'a Row, n: usize, what: &str) -> StoreResult<V> {
    row.try_get::<_, V>(n).map_err(|e| {
        let not_ours = std::error::Error::source(&e)
            .is_some_and(|s| s.downcast_ref::<serde_json::Error>().is_some());
        if not_ours {
            StoreError::Corrupt(what.to_owned())
        } else {
            db_error(e)
        }
    })
}

/// A 16-byte ticket as stored.
pub(crate) fn ticket(bytes: &[u8]) -> StoreResult<Ticket> {
    <[u8; 16]>::try_from(bytes)
        .map(Ticket)
        .map_err(|_| StoreError::Corrupt("a ticket".into()))
}

/// A credential's stored id from its hex id; `None` for text that is not 32 hex digits.
pub(crate) fn credential_key(id_hex: &str) -> Option<Vec<u8>> {
    let mut bytes = [0u8; 16];
    hex::decode_to_slice(id_hex, &mut bytes).ok()?;
    Some(bytes.to_vec())
}

/// The outcomes of statements pipelined in one transaction: the first error that is not
/// only the echo of an earlier one ("current transaction is aborted").
pub(crate) fn all_ok<T>(
    results: impl IntoIterator<Item = Result<T, tokio_postgres::Error>>,
) -> Result<(), tokio_postgres::Error> {
    let mut echo = None;
    for result in results {
        if let Err(e) = result {
            if e.code() == Some(&SqlState::IN_FAILED_SQL_TRANSACTION) {
                echo.get_or_insert(e);
            } else {
                return Err(e);
            }
        }
    }
    echo.map_or(Ok(()), Err)
}

/// One transaction on a pooled connection.
pub(crate) type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// Runs `sql` (prepared once per connection) in `tx`.
pub(crate) async fn query(
    tx: &Tx<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let statement = tx.prepare_cached(sql).await?;
    tx.query(&statement, params).await
}

/// Runs `sql` in `tx` and returns the rows it changed.
pub(crate) async fn execute(
    tx: &Tx<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    let statement = tx.prepare_cached(sql).await?;
    tx.execute(&statement, params).await
}

/// Why a transaction's body stopped: a database error (perhaps retryable) or the
/// command's own refusal.
pub(crate) enum Abort<E> {
    Db(tokio_postgres::Error),
    Refused(E),
}

impl<E> From<tokio_postgres::Error> for Abort<E> {
    fn from(e: tokio_postgres::Error) -> Self {
        Abort::Db(e)
    }
}

impl<E: From<StoreError>> Abort<E> {
    /// A store error inside a transaction body.
    pub(crate) fn store(e: StoreError) -> Self {
        Abort::Refused(E::from(e))
    }
}

/// Runs one transaction body: `tx!(self, |tx| async move { … })` tries the body up to
/// [`ATTEMPTS`] times on retryable errors, commits, and maps errors to `E`.
macro_rules! transaction {
    ($store:expr, $error:ty, |$tx:ident| $body:expr) => {{
        let store: &$crate::store::postgres::PgStore = $store;
        let started = store.started();
        let mut attempt = 0;
        let result: Result<_, $error> = loop {
            attempt += 1;
            let mut client = match store.client().await {
                Ok(c) => c,
                Err(e) => break Err(<$error>::from(e)),
            };
            let $tx = match client.transaction().await {
                Ok(tx) => tx,
                Err(e) => break Err(<$error>::from(store.failed(e))),
            };
            let outcome: Result<_, $crate::store::postgres::Abort<$error>> = async { $body }.await;
            match outcome {
                Ok(value) => match store.commit($tx).await {
                    Ok(()) => break Ok(value),
                    Err(e) => break Err(<$error>::from(e)),
                },
                Err($crate::store::postgres::Abort::Refused(e)) => break Err(e),
                Err($crate::store::postgres::Abort::Db(e)) => {
                    if attempt < $crate::store::postgres::attempts()
                        && $crate::store::postgres::is_retryable(&e)
                    {
                        continue;
                    }
                    break Err(<$error>::from(store.failed(e)));
                }
            }
        };
        store.finished(started);
        result
    }};
}
pub(crate) use transaction;

/// [`ATTEMPTS`], for [`transaction!`].
pub(crate) fn attempts() -> u32 {
    ATTEMPTS
}

/// [`retryable`], for [`transaction!`].
pub(crate) fn is_retryable(e: &tokio_postgres::Error) -> bool {
    retryable(e)
}
