//! Live-status lookups coalesced into few round trips: lookups that arrive while the
//! statement before is in flight are gathered and sent as one prepared
//! `… WHERE id = ANY($1)`, and the rows are split back to their callers. At 64 concurrent lookups on two cores, one
//! statement per lookup spent most of PostgreSQL's and edld's CPU on per-statement work
//! (parse of the bind, executor start-up, a wakeup and a socket write each way).
//!
//! Nothing is cached: a lookup is answered by a statement sent after it arrived, so a
//! revocation committed anywhere before a lookup arrives is in its answer, on every node.
//! A lookup that finds the dispatcher idle goes out at once, alone: batching adds no wait,
//! it only fills the time a statement is in flight.
//!
//! No crate batches requests onto a tokio-postgres connection this way (dataloader-style
//! crates add a fixed delay to gather a batch, which would add to every lookup's latency).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deadpool_postgres::Pool;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_postgres::Row;

use super::sql::{db_error, pool_error, record};
use crate::domain::issue::CredentialRecord;
use crate::domain::registry::LicenceRecord;
use crate::store::{LookedUp, StoreError, StoreResult};

/// A credential and its licence, as a lookup answers.
pub(super) type Found = Option<LookedUp>;

/// Statements in flight at once. One: the lookups that arrive meanwhile make the next
/// batch larger, and a larger batch costs PostgreSQL and edld less per lookup than two
/// smaller ones overlapping on the same cores. `edl-load --compare` (the in-process
/// harness, 64 connections, officer lookups, three runs each alternating): one in flight
/// 22 310 / 23 724 / 23 175 lookups/s with p99 4.91 / 4.55 / 4.69 ms; two, 19 306 / 19 040
/// / 18 911/s, 5.79 / 6.37 / 5.84 ms; four were slower still (17 351 – 19 317/s). The
/// dispatcher has this many connections of its own, beside the store's pool.
pub(super) const IN_FLIGHT: usize = 1;

/// The most lookups one statement carries.
const MAX_BATCH: usize = 256;

/// The credential and licence rows of a batch of credential ids.
const LOOKUP: &str = "SELECT c.id, c.record, l.record FROM credentials c \
     JOIN licences l ON l.number = c.licence WHERE c.id = ANY($1)";

struct Request {
    key: Vec<u8>,
    reply: oneshot::Sender<StoreResult<Found>>,
}

/// The lookup dispatcher of one store.
pub(super) struct Lookups {
    requests: mpsc::UnboundedSender<Request>,
    pool: Pool,
}

impl Lookups {
    /// Starts the dispatcher on `pool`; `reachable` is cleared when the database is gone.
    /// It ends when the `Lookups` is dropped.
    pub(super) fn start(pool: Pool, reachable: Arc<AtomicBool>) -> Lookups {
        let (requests, receiver) = mpsc::unbounded_channel();
        tokio::spawn(dispatch(pool.clone(), reachable, receiver));
        Lookups { requests, pool }
    }

    /// Its connections, for the pool gauge.
    pub(super) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The credential stored under `key` (its 16-byte id) and its licence.
    pub(super) async fn lookup(&self, key: Vec<u8>) -> StoreResult<Found> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { key, reply })
            .map_err(|_| StoreError::Stopped)?;
        answer.await.map_err(|_| StoreError::Stopped)?
    }
}

/// Takes the waiting lookups as one batch whenever a statement slot is free.
async fn dispatch(
    pool: Pool,
    reachable: Arc<AtomicBool>,
    mut requests: mpsc::UnboundedReceiver<Request>,
) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = requests.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let (pool, reachable) = (pool.clone(), reachable.clone());
        tokio::spawn(async move {
            answer(&pool, &reachable, batch).await;
            drop(slot);
        });
    }
}

/// Looks up one batch and answers each of its lookups.
async fn answer(pool: &Pool, reachable: &AtomicBool, batch: Vec<Request>) {
    let keys: Vec<&[u8]> = batch.iter().map(|r| r.key.as_slice()).collect();
    let rows = match rows(pool, reachable, &keys).await {
        Ok(rows) => rows,
        Err(e) => {
            for request in batch {
                let _ = request.reply.send(Err(e.clone()));
            }
            return;
        }
    };
    let by_key: HashMap<&[u8], &Row> = rows
        .iter()
        .filter_map(|row| Some((row.try_get::<_, &[u8]>(0).ok()?, row)))
        .collect();
    for request in batch {
        let found = match by_key.get(request.key.as_slice()) {
            None => Ok(None),
            Some(row) => {
                let credential = record::<CredentialRecord>(row, 1, "credential");
                credential.and_then(|c| {
                    let licence = record::<LicenceRecord>(row, 2, "licence")?;
                    Ok(Some((Arc::new(c), Arc::new(licence))))
                })
            }
        };
        // A caller that gave up (its request was dropped) needs no answer.
        let _ = request.reply.send(found);
    }
}

async fn rows(pool: &Pool, reachable: &AtomicBool, keys: &[&[u8]]) -> StoreResult<Vec<Row>> {
    let failed = |e: tokio_postgres::Error| {
        if e.is_closed() {
            reachable.store(false, Ordering::SeqCst);
        }
        db_error(e)
    };
    let client = pool.get().await.map_err(|e| {
        reachable.store(false, Ordering::SeqCst);
        pool_error(e)
    })?;
    let statement = client.prepare_cached(LOOKUP).await.map_err(failed)?;
    client.query(&statement, &[&keys]).await.map_err(failed)
}
