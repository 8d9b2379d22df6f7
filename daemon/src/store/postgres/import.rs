//! The PostgreSQL engine as the target of `edld store copy`: the record stream of
//! `store::copy_stream` written in batches, each one transaction of a few multi-row
//! statements (`unnest` of arrays) that also moves the checkpoint in `copy_progress`, so a
//! copy killed at any moment resumes at its last committed batch. The last step rebuilds
//! what the engine derives from the rows: the audit chain's head, the identity and lane
//! sequences.

use deadpool_postgres::Object;

use super::{credential_key, db_error, encode, pool_error, schema};
use crate::config::PostgresConfig;
use crate::domain::audit::chain::Head;
use crate::store::copy_stream::{Checkpoint, CopyError, CopyRecord, Survey};
use crate::store::{StoreError, StoreResult};

/// Keeps two copies from writing into one database at once: an advisory lock key of our
/// own, held by the importing session.
const COPY_LOCK: i64 = 0x65_646c_636f_7079; // "edlcopy"

/// The tables a fresh target has no rows in.
const STATE_TABLES: &[&str] = &[
    "licences",
    "applications",
    "credentials",
    "queue",
    "status_indices",
    "meta",
    "clients",
    "audit",
    "subscriptions",
    "deliveries",
];

/// A copy's writer on its target database.
pub(crate) struct PgImport {
    client: Object,
    /// Records of the stream in the database.
    done: u64,
}

impl PgImport {
    /// Connects, applies the schema's migrations, and finds where the copy of `survey`'s
    /// source stands: refuses a target with state of its own, a copy of another source, a
    /// database a node is serving, and a second copy at once.
    pub(crate) async fn begin(
        settings: &PostgresConfig,
        survey: &Survey,
    ) -> Result<(PgImport, Checkpoint), CopyError> {
        let pool = super::pool(settings)?;
        let mut client = pool.get().await.map_err(pool_error)?;
        schema::migrate(&mut client).await?;
        let locked: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&COPY_LOCK])
            .await
            .and_then(|r| r.try_get(0))
            .map_err(db_error)?;
        if !locked {
            return Err(CopyError::NotEmpty(
                "another edld store copy is writing to it".into(),
            ));
        }
        let live = client
            .query(
                "SELECT name FROM nodes WHERE heartbeat > now() - interval '5 seconds' LIMIT 1",
                &[],
            )
            .await
            .map_err(db_error)?;
        if let Some(row) = live.first() {
            return Err(CopyError::NodeRunning(row.try_get(0).map_err(db_error)?));
        }
        let progress = client
            .query(
                "SELECT source, location, done, finished FROM copy_progress",
                &[],
            )
            .await
            .map_err(db_error)?;
        if let Some(row) = progress.first() {
            let source: Vec<u8> = row.try_get(0).map_err(db_error)?;
            let location: String = row.try_get(1).map_err(db_error)?;
            let done: i64 = row.try_get(2).map_err(db_error)?;
            let finished: bool = row.try_get(3).map_err(db_error)?;
            if source != survey.source.digest {
                return Err(CopyError::OtherSource(location));
            }
            let checkpoint = if finished {
                Checkpoint::Finished
            } else {
                Checkpoint::Resume(done as u64)
            };
            let done = done as u64;
            return Ok((PgImport { client, done }, checkpoint));
        }
        let mut taken = Vec::new();
        for table in STATE_TABLES {
            let any: bool = client
                .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), &[])
                .await
                .and_then(|r| r.try_get(0))
                .map_err(db_error)?;
            if any {
                taken.push(*table);
            }
        }
        if !taken.is_empty() {
            return Err(CopyError::NotEmpty(format!("rows in {}", taken.join(", "))));
        }
        client
            .execute(
                "INSERT INTO copy_progress (source, location, total, done) VALUES ($1, $2, $3, 0)",
                &[
                    &&survey.source.digest[..],
                    &survey.source.location,
                    &(survey.records as i64),
                ],
            )
            .await
            .map_err(db_error)?;
        Ok((PgImport { client, done: 0 }, Checkpoint::Fresh))
    }

    /// Writes the stream's next `records` and moves the checkpoint past them, in one
    /// transaction.
    pub(crate) async fn batch(&mut self, records: Vec<CopyRecord>) -> StoreResult<u64> {
        let count = records.len() as i64;
        let rows = Rows::of(records)?;
        let tx = self.client.transaction().await.map_err(db_error)?;
        rows.write(&tx).await.map_err(db_error)?;
        let moved = tx
            .execute(
                "UPDATE copy_progress SET done = done + $1, updated = now() WHERE done = $2",
                &[&count, &(self.done as i64)],
            )
            .await
            .map_err(db_error)?;
        if moved != 1 {
            return Err(StoreError::Engine(
                "the copy's checkpoint moved under it: is another copy running?".into(),
            ));
        }
        tx.commit().await.map_err(db_error)?;
        self.done += count as u64;
        Ok(self.done)
    }

    /// Rebuilds what the engine derives from the copied rows and marks the copy finished.
    pub(crate) async fn finish(&mut self, total: u64) -> StoreResult<()> {
        if self.done != total {
            return Err(StoreError::Engine(format!(
                "the copy wrote {} records of {total}",
                self.done
            )));
        }
        let tx = self.client.transaction().await.map_err(db_error)?;
        // The chain's head follows its last record, as `SledStore::open` finds it.
        let last = tx
            .query(
                "SELECT position, record FROM audit ORDER BY position DESC LIMIT 1",
                &[],
            )
            .await
            .map_err(db_error)?;
        let head = match last.first() {
            Some(row) => {
                let position: i64 = row.try_get(0).map_err(db_error)?;
                let bytes: Vec<u8> = row.try_get(1).map_err(db_error)?;
                Head::after(position as u64, &bytes)
            }
            None => Head::EMPTY,
        };
        tx.execute(
            "UPDATE audit_head SET next = $1, hash = $2",
            &[&(head.next as i64), &&head.hash[..]],
        )
        .await
        .map_err(db_error)?;
        // Rows inserted later come after every copied one in their licence's order.
        for table in ["applications", "credentials"] {
            tx.execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'created'), \
                     greatest((SELECT max(created) FROM {table}), 1))"
                ),
                &[],
            )
            .await
            .map_err(db_error)?;
        }
        // Only the oldest owed delivery of a subscription and licence has a due time: the
        // rows behind it wait for it, as the engine writes them.
        tx.execute(
            "UPDATE deliveries d SET next_at = NULL WHERE NOT d.dead AND EXISTS \
             (SELECT 1 FROM deliveries e WHERE e.subscription = d.subscription \
                 AND e.licence = d.licence AND e.sequence < d.sequence AND NOT e.dead)",
            &[],
        )
        .await
        .map_err(db_error)?;
        tx.execute(
            "UPDATE copy_progress SET finished = true, updated = now()",
            &[],
        )
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }
}

/// Why a node does not start on the database: a copy into it is unfinished.
pub(crate) async fn unfinished_copy(client: &Object) -> StoreResult<()> {
    let rows = client
        .query(
            "SELECT location, done, total FROM copy_progress WHERE NOT finished",
            &[],
        )
        .await
        .map_err(db_error)?;
    match rows.first() {
        None => Ok(()),
        Some(row) => {
            let location: String = row.try_get(0).map_err(db_error)?;
            let done: i64 = row.try_get(1).map_err(db_error)?;
            let total: i64 = row.try_get(2).map_err(db_error)?;
            Err(StoreError::Engine(format!(
                "a copy of {location} into this database stopped at {done} of {total} \
                 records: rerun `edld store copy` to finish it"
            )))
        }
    }
}

/// A batch as the columns of its statements.
#[derive(Default)]
struct Rows {
    clients: (Vec<Vec<u8>>, Vec<String>, Vec<serde_json::Value>),
    meta: (Vec<String>, Vec<serde_json::Value>),
    licences: (Vec<String>, Vec<serde_json::Value>),
    applications: Applications,
    credentials: Credentials,
    queue: (Vec<i16>, Vec<i64>, Vec<Vec<u8>>),
    lanes: Vec<(i16, i64, i64)>,
    audit: (Vec<i64>, Vec<Vec<u8>>, Vec<bool>),
    subscriptions: (Vec<String>, Vec<serde_json::Value>, Vec<i64>),
    deliveries: Deliveries,
    noted: Vec<Vec<u8>>,
    outbox_next: Option<i64>,
}

#[derive(Default)]
struct Deliveries {
    subscription: Vec<String>,
    sequence: Vec<i64>,
    licence: Vec<String>,
    event: Vec<serde_json::Value>,
    event_at: Vec<i64>,
    next_at: Vec<i64>,
    attempts: Vec<i32>,
    started: Vec<i64>,
    last_error: Vec<Option<String>>,
    dead: Vec<bool>,
}

#[derive(Default)]
struct Applications {
    ticket: Vec<Vec<u8>>,
    licence: Vec<String>,
    open: Vec<bool>,
    reviewing: Vec<bool>,
    preopen: Vec<Option<i16>>,
    created_at: Vec<i64>,
    created: Vec<i64>,
    record: Vec<serde_json::Value>,
}

#[derive(Default)]
struct Credentials {
    id: Vec<Vec<u8>>,
    licence: Vec<String>,
    ticket: Vec<Vec<u8>>,
    list: Vec<i32>,
    idx: Vec<i32>,
    superseded: Vec<bool>,
    created: Vec<i64>,
    record: Vec<serde_json::Value>,
}

impl Rows {
    fn of(records: Vec<CopyRecord>) -> StoreResult<Rows> {
        let mut rows = Rows::default();
        for record in records {
            match record {
                CopyRecord::Client(c) => {
                    rows.clients.0.push(c.key_hash.to_vec());
                    rows.clients.1.push(c.client.name.clone());
                    rows.clients.2.push(encode(&c.client));
                }
                CopyRecord::Meta { name, value } => {
                    rows.meta.0.push(name);
                    rows.meta.1.push(value);
                }
                CopyRecord::Licence(l) => {
                    rows.licences.0.push(l.number.as_str().to_owned());
                    rows.licences.1.push(encode(&l));
                }
                CopyRecord::Application(a) => {
                    let app = &a.application;
                    let t = &mut rows.applications;
                    t.ticket.push(app.ticket.0.to_vec());
                    t.licence.push(app.licence.as_str().to_owned());
                    t.open.push(app.state.is_open());
                    t.reviewing.push(a.reviewing);
                    t.preopen.push(a.preopen.map(|l| l.index() as i16));
                    t.created_at.push(app.created_at.0 as i64);
                    t.created.push(a.order);
                    t.record.push(encode(app));
                }
                CopyRecord::Credential { record, order } => {
                    let t = &mut rows.credentials;
                    let id = credential_key(&record.id)
                        .ok_or_else(|| StoreError::Corrupt("a credential id".into()))?;
                    t.id.push(id);
                    t.licence.push(record.licence.as_str().to_owned());
                    t.ticket.push(record.ticket.0.to_vec());
                    t.list.push(record.list as i32);
                    t.idx.push(record.index as i32);
                    t.superseded.push(record.superseded);
                    t.created.push(order);
                    t.record.push(encode(&record));
                }
                CopyRecord::Queued {
                    lane,
                    sequence,
                    ticket,
                } => {
                    rows.queue.0.push(lane.index() as i16);
                    rows.queue.1.push(sequence as i64);
                    rows.queue.2.push(ticket.0.to_vec());
                }
                CopyRecord::Lane { lane, served, last } => {
                    rows.lanes
                        .push((lane.index() as i16, served as i64, last as i64));
                }
                CopyRecord::Audit { position, bytes } => {
                    /// The one member the console's index of operator changes needs.
                    #[derive(serde::Deserialize)]
                    struct Action {
                        action: String,
                    }
                    let action: Action = serde_json::from_slice(&bytes).map_err(|e| {
                        StoreError::Corrupt(format!("audit record {position}: {e}"))
                    })?;
                    rows.audit.0.push(position as i64);
                    rows.audit.1.push(bytes);
                    rows.audit
                        .2
                        .push(crate::domain::audit::is_operator_change(&action.action));
                }
                CopyRecord::Subscription {
                    subscription,
                    written,
                } => {
                    rows.subscriptions.0.push(subscription.id.clone());
                    rows.subscriptions.1.push(encode(&subscription));
                    rows.subscriptions.2.push(written as i64);
                }
                CopyRecord::Delivery(d) => {
                    let t = &mut rows.deliveries;
                    let event = &d.delivery.event;
                    t.subscription.push(d.delivery.key.subscription.clone());
                    t.sequence.push(d.delivery.key.sequence as i64);
                    t.licence.push(event.licence.as_str().to_owned());
                    t.event.push(encode(event));
                    t.event_at.push(event.at.0 as i64);
                    t.next_at.push(d.next_at.0 as i64);
                    t.attempts.push(d.delivery.attempts as i32);
                    t.started.push(d.delivery.started.0 as i64);
                    t.last_error.push(d.delivery.last_error.clone());
                    t.dead.push(d.dead);
                }
                CopyRecord::ExpiringNoted { credential } => {
                    rows.noted.push(
                        credential_key(&credential)
                            .ok_or_else(|| StoreError::Corrupt("a credential id".into()))?,
                    );
                }
                CopyRecord::OutboxSequence { next } => rows.outbox_next = Some(next as i64),
            }
        }
        Ok(rows)
    }

    /// The batch's statements, in the order foreign rows need (none are declared, but a
    /// credential's status index is the rows of both tables).
    async fn write(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
    ) -> Result<(), tokio_postgres::Error> {
        if !self.clients.0.is_empty() {
            tx.execute(
                "INSERT INTO clients (key_hash, name, record) \
                 SELECT * FROM unnest($1::bytea[], $2::text[], $3::jsonb[])",
                &[&self.clients.0, &self.clients.1, &self.clients.2],
            )
            .await?;
        }
        if !self.meta.0.is_empty() {
            tx.execute(
                "INSERT INTO meta (name, value) SELECT * FROM unnest($1::text[], $2::jsonb[])",
                &[&self.meta.0, &self.meta.1],
            )
            .await?;
        }
        if !self.licences.0.is_empty() {
            tx.execute(
                "INSERT INTO licences (number, record) \
                 SELECT * FROM unnest($1::text[], $2::jsonb[])",
                &[&self.licences.0, &self.licences.1],
            )
            .await?;
        }
        let a = &self.applications;
        if !a.ticket.is_empty() {
            tx.execute(
                "INSERT INTO applications \
                 (ticket, licence, open, reviewing, preopen, created_at, created, record) \
                 OVERRIDING SYSTEM VALUE \
                 SELECT * FROM unnest($1::bytea[], $2::text[], $3::boolean[], $4::boolean[], \
                     $5::smallint[], $6::bigint[], $7::bigint[], $8::jsonb[])",
                &[
                    &a.ticket,
                    &a.licence,
                    &a.open,
                    &a.reviewing,
                    &a.preopen,
                    &a.created_at,
                    &a.created,
                    &a.record,
                ],
            )
            .await?;
        }
        let c = &self.credentials;
        if !c.id.is_empty() {
            tx.execute(
                "INSERT INTO credentials \
                 (id, licence, ticket, list, idx, superseded, created, record) \
                 OVERRIDING SYSTEM VALUE \
                 SELECT * FROM unnest($1::bytea[], $2::text[], $3::bytea[], $4::integer[], \
                     $5::integer[], $6::boolean[], $7::bigint[], $8::jsonb[])",
                &[
                    &c.id,
                    &c.licence,
                    &c.ticket,
                    &c.list,
                    &c.idx,
                    &c.superseded,
                    &c.created,
                    &c.record,
                ],
            )
            .await?;
            // Every index a credential holds is taken (the sled engine restores its
            // allocator from the credentials alike).
            tx.execute(
                "INSERT INTO status_indices (list, idx) \
                 SELECT * FROM unnest($1::integer[], $2::integer[])",
                &[&c.list, &c.idx],
            )
            .await?;
        }
        if !self.queue.0.is_empty() {
            tx.execute(
                "INSERT INTO queue (lane, sequence, ticket) \
                 SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])",
                &[&self.queue.0, &self.queue.1, &self.queue.2],
            )
            .await?;
        }
        for (lane, served, last) in &self.lanes {
            tx.execute(
                "UPDATE lanes SET served = $2 WHERE lane = $1",
                &[lane, served],
            )
            .await?;
            // The next sequence the lane hands out follows its last, as in the source.
            let sequence = format!("lane_sequence_{lane}");
            tx.execute(
                "SELECT setval($1::text::regclass, greatest($2::bigint, 1), $2::bigint > 0)",
                &[&sequence, last],
            )
            .await?;
        }
        if !self.audit.0.is_empty() {
            tx.execute(
                "INSERT INTO audit (position, record, operator) \
                 SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::boolean[])",
                &[&self.audit.0, &self.audit.1, &self.audit.2],
            )
            .await?;
        }
        if !self.subscriptions.0.is_empty() {
            // In the stream's order (oldest first): `created` numbers them so.
            tx.execute(
                "INSERT INTO subscriptions (id, record)                  SELECT u.id, u.record FROM unnest($1::text[], $2::jsonb[])                      WITH ORDINALITY AS u(id, record, n) ORDER BY u.n",
                &[&self.subscriptions.0, &self.subscriptions.1],
            )
            .await?;
            tx.execute(
                "INSERT INTO outbox_written (subscription, node, n)                  SELECT u.id, 'copy', u.n FROM unnest($1::text[], $2::bigint[]) AS u(id, n)",
                &[&self.subscriptions.0, &self.subscriptions.2],
            )
            .await?;
        }
        let d = &self.deliveries;
        if !d.sequence.is_empty() {
            tx.execute(
                "INSERT INTO deliveries (subscription, sequence, licence, event, event_at,                      next_at, attempts, started, last_error, dead)                  SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::jsonb[],                      $5::bigint[], $6::bigint[], $7::integer[], $8::bigint[], $9::text[],                      $10::boolean[])",
                &[
                    &d.subscription,
                    &d.sequence,
                    &d.licence,
                    &d.event,
                    &d.event_at,
                    &d.next_at,
                    &d.attempts,
                    &d.started,
                    &d.last_error,
                    &d.dead,
                ],
            )
            .await?;
        }
        if !self.noted.is_empty() {
            tx.execute(
                "UPDATE credentials SET expiring_noted = true WHERE id = ANY($1)",
                &[&self.noted],
            )
            .await?;
        }
        if let Some(next) = self.outbox_next {
            // The next event takes `next`, as it would have in the source.
            tx.execute(
                "SELECT setval('outbox_sequence', greatest($1::bigint, 1), false)",
                &[&next],
            )
            .await?;
        }
        Ok(())
    }
}
