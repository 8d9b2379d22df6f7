//! The PostgreSQL engine's notification outbox (`migrations/0007_webhooks.sql`): events
//! written by the transaction of the change that causes them, as one `deliveries` row per
//! subscription that wants each, in two pipelined round trips whatever their number; claims
//! by several nodes without overlap (`FOR UPDATE SKIP LOCKED`, one statement) that keep
//! each licence's order to each subscriber; outcomes, dead letters, replays and figures;
//! and `credential.expiring`, found through an index on `exp`.

use std::collections::HashMap;

use keys::UnixTime;

use super::{Abort, PgStore, Tx, audit, col, execute, query, record, transaction};
use crate::domain::audit::AuditRecord;
use crate::domain::issue::CredentialRecord;
use crate::domain::notify::{self, Event, Subscription};
use crate::store::{
    Delivery, DeliveryKey, DeliveryOutcome, OutboxFigures, Replay, StoreError, StoreResult,
};

/// Writes `events` in `tx`: a sequence each (in order), and a delivery row, due at once,
/// per subscription that wants it; `node` counts them. Call it once the rows of the
/// licences the events name are locked, so each licence's events are numbered in the
/// order their changes commit. The subscriptions read are locked against removal
/// (`FOR KEY SHARE`) until the commit.
pub(super) async fn write_events<E: From<StoreError>>(
    tx: &Tx<'_>,
    node: &str,
    events: &[Event],
) -> Result<(), Abort<E>> {
    if events.is_empty() {
        return Ok(());
    }
    let n = events.len() as i64;
    let (subscriptions, sequences) = tokio::join!(
        async {
            query(
                tx,
                "SELECT record FROM subscriptions ORDER BY created FOR KEY SHARE",
                &[],
            )
            .await
        },
        async {
            query(
                tx,
                "SELECT nextval('outbox_sequence') FROM generate_series(1, $1::bigint) ORDER BY 1",
                &[&n],
            )
            .await
        },
    );
    let subscriptions: Vec<Subscription> = subscriptions?
        .iter()
        .map(|r| record(r, 0, "subscription"))
        .collect::<StoreResult<_>>()
        .map_err(Abort::store)?;
    let sequences = sequences?;
    if subscriptions.is_empty() {
        return Ok(());
    }
    let mut rows = Rows::default();
    let mut written: HashMap<&str, i64> = HashMap::new();
    for (event, row) in events.iter().zip(&sequences) {
        let sequence: i64 = row.try_get(0)?;
        for s in subscriptions.iter().filter(|s| s.wants(event)) {
            rows.subscriptions.push(s.id.clone());
            rows.sequences.push(sequence);
            rows.licences.push(event.licence.as_str().to_owned());
            rows.events.push(super::encode(event));
            rows.at.push(event.at.0 as i64);
            *written.entry(s.id.as_str()).or_default() += 1;
        }
    }
    if rows.sequences.is_empty() {
        return Ok(());
    }
    let (ids, counts): (Vec<&str>, Vec<i64>) = written.into_iter().unzip();
    let (inserted, counted) = tokio::join!(
        async {
            execute(
            tx,
            // Due at once only the first row of each subscription and licence that has
            // none owed before it; the others wait for it (see `promote`).
            "INSERT INTO deliveries (subscription, sequence, licence, event, event_at, next_at, \
                 started) \
             SELECT u.s, u.q, u.l, u.e, u.a, \
                 CASE WHEN row_number() OVER (PARTITION BY u.s, u.l ORDER BY u.q) = 1 \
                     AND NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.subscription = u.s \
                         AND o.licence = u.l AND NOT o.dead) \
                 THEN u.a END, \
                 u.a \
             FROM unnest($1::text[], $2::bigint[], $3::text[], $4::jsonb[], $5::bigint[]) \
                 AS u(s, q, l, e, a)",
            &[
                &rows.subscriptions,
                &rows.sequences,
                &rows.licences,
                &rows.events,
                &rows.at
            ],
        )
        .await
        },
        async {
            execute(
                tx,
                "INSERT INTO outbox_written (subscription, node, n) \
             SELECT u.s, $2, u.n FROM unnest($1::text[], $3::bigint[]) AS u(s, n) ORDER BY u.s \
             ON CONFLICT (subscription, node) DO UPDATE SET n = outbox_written.n + excluded.n",
                &[&ids, &node, &counts],
            )
            .await
        },
    );
    super::all_ok([inserted, counted])?;
    Ok(())
}

/// Delivery rows as the columns of one batched insert.
#[derive(Default)]
struct Rows {
    subscriptions: Vec<String>,
    sequences: Vec<i64>,
    licences: Vec<String>,
    events: Vec<serde_json::Value>,
    at: Vec<i64>,
}

/// Claims up to `$3` due rows for a lease until `$2`: due at `$1` (only the oldest owed row
/// of a subscription and licence has a due time), not dead, not held by another node's
/// claim (skipped while locked, and its due time is the lease's end once committed), and
/// the oldest owed row of its licence to its subscription (an earlier row still owed, even
/// one another node holds, keeps it back: a replayed dead letter is older than the row
/// that was promoted behind it).
const CLAIM: &str = "WITH picked AS ( \
        SELECT d.subscription, d.sequence FROM deliveries d \
        WHERE NOT d.dead AND d.next_at <= $1 \
          AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.subscription = d.subscription \
              AND e.licence = d.licence AND e.sequence < d.sequence AND NOT e.dead) \
        ORDER BY d.sequence LIMIT $3 \
        FOR UPDATE OF d SKIP LOCKED) \
    UPDATE deliveries d SET next_at = $2 FROM picked \
    WHERE d.subscription = picked.subscription AND d.sequence = picked.sequence \
    RETURNING d.subscription, d.sequence, d.event, d.attempts, d.started, d.last_error";

/// Makes the oldest owed row of subscription `$1` and licence `$2` due (at its event's
/// time), if it waits.
const PROMOTE: &str = "UPDATE deliveries SET next_at = event_at \
    WHERE (subscription, sequence) = (SELECT subscription, sequence FROM deliveries \
        WHERE subscription = $1 AND licence = $2 AND NOT dead ORDER BY sequence LIMIT 1) \
      AND next_at IS NULL";

/// The columns [`delivery`] reads.
const DELIVERY_COLUMNS: &str = "subscription, sequence, event, attempts, started, last_error";

/// A delivery from a row of [`DELIVERY_COLUMNS`].
fn delivery(row: &tokio_postgres::Row) -> StoreResult<Delivery> {
    Ok(Delivery {
        key: DeliveryKey {
            subscription: col(row, 0)?,
            sequence: col::<i64>(row, 1)? as u64,
        },
        event: record(row, 2, "event")?,
        attempts: col::<i32>(row, 3)? as u32,
        started: UnixTime(col::<i64>(row, 4)? as u64),
        last_error: col(row, 5)?,
    })
}

fn seconds(t: UnixTime) -> i64 {
    i64::try_from(t.0).unwrap_or(i64::MAX)
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl PgStore {
    pub(super) async fn add_subscription_tx(
        &self,
        subscription: Subscription,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let value = super::encode(&subscription);
        transaction!(self, StoreError, |tx| {
            execute(
                &tx,
                "INSERT INTO subscriptions (id, record) VALUES ($1, $2)",
                &[&subscription.id, &value],
            )
            .await?;
            audit::append(&tx, vec![audit.clone()]).await?;
            Ok(())
        })
    }

    pub(super) async fn remove_subscription_tx(
        &self,
        id: &str,
        audit: AuditRecord,
    ) -> StoreResult<bool> {
        transaction!(self, StoreError, |tx| {
            // Its deliveries and counters go with it (ON DELETE CASCADE).
            let removed = execute(&tx, "DELETE FROM subscriptions WHERE id = $1", &[&id]).await?;
            if removed == 0 {
                return Ok(false);
            }
            audit::append(&tx, vec![audit.clone()]).await?;
            Ok(true)
        })
    }

    pub(super) async fn subscriptions_now(&self) -> StoreResult<Vec<Subscription>> {
        let rows = self
            .read(
                "SELECT record FROM subscriptions ORDER BY (record ->> 'created_at')::bigint, id",
                &[],
            )
            .await?;
        rows.iter().map(|r| record(r, 0, "subscription")).collect()
    }

    pub(super) async fn claim_deliveries_tx(
        &self,
        now: UnixTime,
        lease_until: UnixTime,
        n: usize,
    ) -> StoreResult<Vec<Delivery>> {
        let (now, until, n) = (seconds(now), seconds(lease_until), limit(n));
        let rows = transaction!(self, StoreError, |tx| {
            Ok(query(&tx, CLAIM, &[&now, &until, &n]).await?)
        })?;
        let mut out = rows.iter().map(delivery).collect::<StoreResult<Vec<_>>>()?;
        out.sort_by(|a, b| {
            (a.key.sequence, &a.key.subscription).cmp(&(b.key.sequence, &b.key.subscription))
        });
        Ok(out)
    }

    /// [`crate::store::Store::finish_delivery`]: under the licence's row lock (as events
    /// are written), so the row behind a delivered or dead-lettered one becomes due
    /// ([`PROMOTE`]) and none written meanwhile is left waiting.
    pub(super) async fn finish_delivery_tx(
        &self,
        key: DeliveryKey,
        outcome: DeliveryOutcome,
    ) -> StoreResult<()> {
        let sequence = key.sequence as i64;
        let id = key.subscription.as_str();
        transaction!(self, StoreError, |tx| {
            let rows = query(
                &tx,
                "SELECT licence FROM deliveries WHERE subscription = $1 AND sequence = $2",
                &[&id, &sequence],
            )
            .await?;
            let Some(row) = rows.first() else {
                return Ok(());
            };
            let licence: String = row.try_get(0)?;
            query(
                &tx,
                "SELECT 1 FROM licences WHERE number = $1 FOR UPDATE",
                &[&licence],
            )
            .await?;
            let next = match &outcome {
                DeliveryOutcome::Delivered => {
                    execute(
                        &tx,
                        "DELETE FROM deliveries WHERE subscription = $1 AND sequence = $2",
                        &[&id, &sequence],
                    )
                    .await?;
                    true
                }
                DeliveryOutcome::Retry { at, error } => {
                    execute(
                        &tx,
                        "UPDATE deliveries SET attempts = attempts + 1, next_at = $3, \
                         last_error = $4 WHERE subscription = $1 AND sequence = $2",
                        &[&id, &sequence, &seconds(*at), error],
                    )
                    .await?;
                    false
                }
                DeliveryOutcome::Dead { error } => {
                    execute(
                        &tx,
                        "UPDATE deliveries SET attempts = attempts + 1, dead = true, \
                         last_error = $3 WHERE subscription = $1 AND sequence = $2",
                        &[&id, &sequence, error],
                    )
                    .await?;
                    true
                }
            };
            if next {
                execute(&tx, PROMOTE, &[&id, &licence]).await?;
            }
            Ok(())
        })
    }

    pub(super) async fn dead_letters_now(
        &self,
        subscription: Option<&str>,
        n: usize,
    ) -> StoreResult<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE dead \
             AND ($1::text IS NULL OR subscription = $1) ORDER BY sequence, subscription LIMIT $2"
        );
        let rows = self.read(&sql, &[&subscription, &limit(n)]).await?;
        rows.iter().map(delivery).collect()
    }

    pub(super) async fn replay_tx(&self, replay: Replay, audit: AuditRecord) -> StoreResult<u64> {
        let (since, now) = (seconds(replay.since), seconds(replay.now));
        let subscription = replay.subscription.as_deref();
        transaction!(self, StoreError, |tx| {
            let n = execute(
                &tx,
                "UPDATE deliveries SET dead = false, attempts = 0, started = $3, next_at = $3 \
                 WHERE dead AND event_at >= $2 AND ($1::text IS NULL OR subscription = $1)",
                &[&subscription, &since, &now],
            )
            .await?;
            audit::append(&tx, vec![audit.clone()]).await?;
            Ok(n)
        })
    }

    pub(super) async fn outbox_figures_now(&self) -> StoreResult<Vec<OutboxFigures>> {
        let rows = self
            .read(
                "SELECT s.id, \
                     (SELECT coalesce(sum(w.n), 0)::bigint FROM outbox_written w \
                      WHERE w.subscription = s.id), \
                     (SELECT count(*) FROM deliveries d WHERE d.subscription = s.id \
                      AND NOT d.dead), \
                     (SELECT count(*) FROM deliveries d WHERE d.subscription = s.id AND d.dead), \
                     (SELECT min(d.event_at) FROM deliveries d WHERE d.subscription = s.id \
                      AND NOT d.dead) \
                 FROM subscriptions s ORDER BY (s.record ->> 'created_at')::bigint, s.id",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxFigures {
                    subscription: col(r, 0)?,
                    written: col::<i64>(r, 1)? as u64,
                    pending: col::<i64>(r, 2)? as u64,
                    dead: col::<i64>(r, 3)? as u64,
                    oldest_pending: col::<Option<i64>>(r, 4)?.map(|t| UnixTime(t as u64)),
                })
            })
            .collect()
    }

    /// [`crate::store::Store::note_expiring`]: one transaction that takes the current,
    /// not yet noted credentials of licences in force expiring in `(now, until]` through
    /// the expiry index (with their licences' rows locked, skipping any another
    /// transaction holds), marks them and writes their events.
    pub(super) async fn note_expiring_tx(
        &self,
        until: UnixTime,
        now: UnixTime,
        n: usize,
    ) -> StoreResult<u64> {
        let (from, until, n) = (seconds(now), seconds(until), limit(n));
        let node = self.node.clone();
        transaction!(self, StoreError, |tx| {
            let rows = query(
                &tx,
                "SELECT c.id, c.record, coalesce((SELECT a.record ->> 'client' \
                     FROM applications a WHERE a.licence = c.licence \
                     ORDER BY a.created DESC LIMIT 1), '') \
                 FROM credentials c JOIN licences l ON l.number = c.licence \
                 WHERE NOT c.superseded AND NOT c.expiring_noted \
                   AND (c.record ->> 'expires_at')::bigint > $1 \
                   AND (c.record ->> 'expires_at')::bigint <= $2 \
                   AND l.record ->> 'state' = 'normal' \
                 ORDER BY (c.record ->> 'expires_at')::bigint LIMIT $3 \
                 FOR UPDATE OF c, l SKIP LOCKED",
                &[&from, &until, &n],
            )
            .await?;
            let mut ids = Vec::with_capacity(rows.len());
            let mut events = Vec::with_capacity(rows.len());
            for row in &rows {
                ids.push(row.try_get::<_, Vec<u8>>(0)?);
                let c: CredentialRecord = record(row, 1, "credential").map_err(Abort::store)?;
                let client: String = row.try_get(2)?;
                events.push(notify::expiring(&c, &client, UnixTime(from as u64)));
            }
            if ids.is_empty() {
                return Ok(0);
            }
            execute(
                &tx,
                "UPDATE credentials SET expiring_noted = true WHERE id = ANY($1)",
                &[&ids],
            )
            .await?;
            write_events(&tx, &node, &events).await?;
            Ok(events.len() as u64)
        })
    }
}
