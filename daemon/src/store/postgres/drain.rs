//! The PostgreSQL engine's drain: claims of queue rows (`FOR UPDATE SKIP LOCKED`, leased
//! to this store), a whole step completed in one transaction of a few batched statements
//! that write only the rows the step still holds, status list indices allocated in the
//! database, and the queue's counters restored at start.

use std::collections::HashMap;

use deadpool_postgres::Object;
use keys::UnixTime;
use rand_core::OsRng;
use tokio_postgres::types::Json;

use super::{
    CLAIM_LEASE_SECONDS, PgStore, col, credential_key, db_error, execute, optional_record, query,
    record, records, ticket, transaction,
};
use crate::domain::application::{Application, ApplicationState};
use crate::domain::issue::CredentialRecord;
use crate::domain::notify;
use crate::domain::queue::{Lane, LaneRestore, Lanes};
use crate::domain::registry::LicenceRecord;
use crate::domain::status_index::Allocator;
use crate::store::{
    Allocations, Claim, Claimed, Completed, CompletedStep, StoreError, StoreResult,
};

/// The queue's counters from the database: each lane's waiting entries and how far it was
/// served, and the applications waiting for the opening.
pub(super) async fn restore_lanes(client: &Object) -> StoreResult<Lanes> {
    let rows = client
        .query(
            "SELECT l.lane, l.served, \
                 (SELECT count(*) FROM queue q WHERE q.lane = l.lane), \
                 (SELECT min(sequence) FROM queue q WHERE q.lane = l.lane), \
                 (SELECT max(sequence) FROM queue q WHERE q.lane = l.lane) \
             FROM lanes l",
            &[],
        )
        .await
        .map_err(db_error)?;
    let mut per_lane = [LaneRestore::default(); 3];
    for row in &rows {
        let index: i16 = col(row, 0)?;
        let served: i64 = col(row, 1)?;
        let depth: i64 = col(row, 2)?;
        let first: Option<i64> = col(row, 3)?;
        let last: Option<i64> = col(row, 4)?;
        if let Some(slot) = per_lane.get_mut(index as usize) {
            *slot = LaneRestore {
                last: served.max(last.unwrap_or(0)) as u64,
                first_waiting: first.map(|f| f as u64),
                depth: depth as u64,
            };
        }
    }
    let rows = client
        .query(
            "SELECT preopen, count(*) FROM applications WHERE preopen IS NOT NULL \
             GROUP BY preopen",
            &[],
        )
        .await
        .map_err(db_error)?;
    let mut unordered = [0u64; 3];
    for row in &rows {
        let lane: i16 = col(row, 0)?;
        let n: i64 = col(row, 1)?;
        if let Some(slot) = unordered.get_mut(lane as usize) {
            *slot = n as u64;
        }
    }
    Ok(Lanes::restore(per_lane, unordered))
}

/// The status list indices every node has taken.
pub(super) async fn restore_allocator(client: &Object) -> StoreResult<Allocator> {
    let rows = client
        .query("SELECT list, idx FROM status_indices", &[])
        .await
        .map_err(db_error)?;
    let taken = rows
        .iter()
        .map(|r| Ok((col::<i32>(r, 0)? as u32, col::<i32>(r, 1)? as u32)))
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Allocator::restore(taken))
}

/// The drain's transactions plan each statement for its parameters (how many rows a step
/// claims and writes, how far the queue's head has moved). A plan cached for any
/// parameters was at times a scan of the whole queue, dead rows of served entries
/// included: claims took 40 ms instead of 1.5 ms, and issuance ran at a third of its rate
/// from one run to the next. Planning costs well under a millisecond per step. The setting
/// is pipelined with a transaction's first statements (sent before them on the connection).
const CUSTOM_PLANS: &str = "SET LOCAL plan_cache_mode = force_custom_plan";

/// Claims up to `n` rows of one lane for `instance` (rows nobody holds, rows whose lease
/// lapsed, and rows this store gave back) and reads, in the same statement, what signing
/// them needs: the application, its licence, and the licence's credentials newest first
/// (by an index scan of the licence's credentials: a semi-join of all credentials was
/// planned at times). Only the drain moves an application out of
/// `Queued { lane, sequence }`, and the licence is compared again on completion.
const CLAIM: &str = "WITH picked AS ( \
        SELECT lane, sequence FROM queue \
        WHERE lane = $1 AND (claimed_by IS NULL \
            OR claimed_at < now() - make_interval(secs => $3) \
            OR (claimed_by = $2 AND ticket = ANY($4))) \
        ORDER BY sequence LIMIT $5 \
        FOR UPDATE SKIP LOCKED), \
    claimed AS ( \
        UPDATE queue q SET claimed_by = $2, claimed_at = now() \
        FROM picked WHERE q.lane = picked.lane AND q.sequence = picked.sequence \
        RETURNING q.sequence, q.ticket) \
    SELECT c.sequence, c.ticket, a.record, l.record, \
        ARRAY(SELECT cr.record FROM credentials cr WHERE cr.licence = a.licence \
            ORDER BY cr.created DESC) \
    FROM claimed c LEFT JOIN applications a ON a.ticket = c.ticket \
        LEFT JOIN licences l ON l.number = a.licence";

impl PgStore {
    /// [`crate::store::Store::claim_step`]: one statement per lane, pipelined in one
    /// transaction.
    pub(super) async fn claim(&self, take: [u64; 3]) -> StoreResult<Claim> {
        let released: Vec<Vec<u8>> = self.released().iter().map(|t| t.0.to_vec()).collect();
        let instance = self.instance.to_vec();
        let lease = CLAIM_LEASE_SECONDS as f64;
        let claim = transaction!(self, StoreError, |tx| {
            let per_lane = Lane::ALL.map(|lane| {
                let n = i64::try_from(take[lane.index()]).unwrap_or(i64::MAX);
                let lane_index = lane.index() as i16;
                let (tx, instance, released) = (&tx, &instance, &released);
                async move {
                    if n == 0 {
                        return Ok(Vec::new());
                    }
                    query(tx, CLAIM, &[&lane_index, instance, &lease, released, &n]).await
                }
            });
            let [a, b, c] = per_lane;
            // The setting goes out first on the connection, in the same round trip.
            let (set, a, b, c) = tokio::join!(tx.batch_execute(CUSTOM_PLANS), a, b, c);
            set?;
            let mut claim = Claim::default();
            for (lane, rows) in Lane::ALL.into_iter().zip([a?, b?, c?]) {
                let mut lane_entries = Vec::with_capacity(rows.len());
                for row in &rows {
                    lane_entries.push(claimed(lane, row).map_err(super::Abort::store)?);
                }
                lane_entries.sort_unstable_by_key(|e| e.sequence);
                claim.entries.extend(lane_entries);
            }
            Ok(claim)
        })?;
        let mut released = self.released();
        for entry in &claim.entries {
            released.remove(&entry.ticket);
        }
        Ok(claim)
    }

    /// [`crate::store::Store::complete_step`]: one transaction that writes the issuances
    /// and rejections whose queue rows this store still holds and whose licence is as
    /// claimed. Its first round trip deletes the queue rows the store still holds (their
    /// row locks, so no other node's step can take them meanwhile) and locks the licences;
    /// the entries whose licence changed are put back in the queue as they were, unclaimed.
    /// The second writes the rest; statements with nothing to write are not sent.
    pub(super) async fn complete_tx(&self, step: CompletedStep) -> StoreResult<Completed> {
        let instance = self.instance.to_vec();
        let all: Vec<Vec<u8>> = step.served.iter().map(|(_, _, t)| t.0.to_vec()).collect();
        let mut numbers: Vec<&str> = step
            .issued
            .iter()
            .map(|i| i.application.licence.as_str())
            .chain(step.rejected.iter().map(|r| r.application.licence.as_str()))
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        let (completed, served, lost) = transaction!(self, StoreError, |tx| {
            let (set, held, licences) = tokio::join!(
                tx.batch_execute(CUSTOM_PLANS),
                async {
                    query(
                        &tx,
                        "DELETE FROM queue WHERE claimed_by = $1 AND ticket = ANY($2) \
                         RETURNING ticket",
                        &[&instance, &all],
                    )
                    .await
                },
                async {
                    query(
                        &tx,
                        "SELECT number, record FROM licences WHERE number = ANY($1) \
                         ORDER BY number FOR UPDATE",
                        &[&numbers],
                    )
                    .await
                },
            );
            set?;
            let mut held_tickets = std::collections::HashSet::new();
            for row in &held? {
                let bytes: &[u8] = row.try_get(0)?;
                held_tickets.insert(ticket(bytes).map_err(super::Abort::store)?);
            }
            let mut now: HashMap<String, LicenceRecord> = HashMap::new();
            for row in &licences? {
                let number: String = row.try_get(0)?;
                now.insert(
                    number,
                    record(row, 1, "licence").map_err(super::Abort::store)?,
                );
            }
            let mut completed = Completed::default();
            let mut lost = 0u64;
            let mut superseded = (Vec::new(), Vec::new());
            let mut new_licences = (Vec::<&str>::new(), Vec::new());
            let mut credentials = Credentials::default();
            let mut apps = (Vec::new(), Vec::new());
            let mut events = Vec::new();
            for issuance in &step.issued {
                let t = issuance.application.ticket;
                if !held_tickets.contains(&t) {
                    lost += 1;
                    continue;
                }
                if now.get(issuance.licence.number.as_str()) != Some(&issuance.licence) {
                    completed.requeued.push(t);
                    continue;
                }
                for old in &issuance.superseded {
                    superseded
                        .0
                        .push(key(&old.id).map_err(super::Abort::store)?);
                    superseded.1.push(Json(old));
                }
                if let Some(l) = &issuance.new_licence {
                    new_licences.0.push(l.number.as_str());
                    new_licences.1.push(Json(l));
                }
                credentials
                    .push(&issuance.credential)
                    .map_err(super::Abort::store)?;
                apps.0.push(t.0.to_vec());
                apps.1.push(Json(&issuance.application));
                events.push(notify::issued(
                    &issuance.application,
                    &issuance.credential,
                    issuance.application.updated_at,
                ));
                completed.issued += 1;
            }
            for rejection in &step.rejected {
                let t = rejection.application.ticket;
                if !held_tickets.contains(&t) {
                    lost += 1;
                    continue;
                }
                let current = now.get(rejection.application.licence.as_str());
                if current != rejection.licence.as_ref() {
                    completed.requeued.push(t);
                    continue;
                }
                apps.0.push(t.0.to_vec());
                apps.1.push(Json(&rejection.application));
                events.extend(notify::rejected(
                    &rejection.application,
                    rejection.application.updated_at,
                ));
            }
            let mut served = Vec::new();
            let mut requeued: (Vec<i16>, Vec<i64>, Vec<Vec<u8>>) =
                (Vec::new(), Vec::new(), Vec::new());
            for (lane, sequence, t) in &step.served {
                if !held_tickets.contains(t) {
                    continue;
                }
                if completed.requeued.contains(t) {
                    requeued.0.push(lane.index() as i16);
                    requeued.1.push(*sequence as i64);
                    requeued.2.push(t.0.to_vec());
                } else {
                    served.push((*lane, *sequence));
                }
            }
            let mut progress: (Vec<i16>, Vec<i64>) = (Vec::new(), Vec::new());
            for lane in Lane::ALL {
                let last = served
                    .iter()
                    .filter(|(l, _)| *l == lane)
                    .map(|(_, s)| *s)
                    .max();
                if let Some(sequence) = last {
                    progress.0.push(lane.index() as i16);
                    progress.1.push(sequence as i64);
                }
            }
            let (a, b, c, d, e, f) = tokio::join!(
                async {
                    if superseded.0.is_empty() {
                        return Ok(0);
                    }
                    execute(
                        &tx,
                        "UPDATE credentials c SET superseded = true, record = u.record \
                     FROM unnest($1::bytea[], $2::jsonb[]) AS u(id, record) WHERE c.id = u.id",
                        &[&superseded.0, &superseded.1],
                    )
                    .await
                },
                async {
                    if new_licences.0.is_empty() {
                        return Ok(0);
                    }
                    execute(
                        &tx,
                        "UPDATE licences l SET record = u.record \
                     FROM unnest($1::text[], $2::jsonb[]) AS u(number, record) \
                     WHERE l.number = u.number",
                        &[&new_licences.0, &new_licences.1],
                    )
                    .await
                },
                async {
                    if credentials.ids.is_empty() {
                        return Ok(0);
                    }
                    execute(
                    &tx,
                    "INSERT INTO credentials (id, licence, ticket, list, idx, superseded, record) \
                     SELECT u.id, u.licence, u.ticket, u.list, u.idx, false, u.r FROM unnest($1::bytea[], $2::text[], $3::bytea[], \
                         $4::integer[], $5::integer[], $6::jsonb[]) AS u(id, licence, ticket, \
                         list, idx, r)",
                    &[
                        &credentials.ids,
                        &credentials.licences,
                        &credentials.tickets,
                        &credentials.lists,
                        &credentials.indices,
                        &credentials.records,
                    ],
                ).await
                },
                async {
                    if apps.0.is_empty() {
                        return Ok(0);
                    }
                    execute(
                    &tx,
                    "UPDATE applications a SET record = u.record, open = false, reviewing = false \
                     FROM unnest($1::bytea[], $2::jsonb[]) AS u(ticket, record) \
                     WHERE a.ticket = u.ticket",
                    &[&apps.0, &apps.1],
                ).await
                },
                async {
                    if requeued.0.is_empty() {
                        return Ok(0);
                    }
                    execute(
                        &tx,
                        "INSERT INTO queue (lane, sequence, ticket) \
                         SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])",
                        &[&requeued.0, &requeued.1, &requeued.2],
                    )
                    .await
                },
                async {
                    if progress.0.is_empty() {
                        return Ok(0);
                    }
                    execute(
                        &tx,
                        "UPDATE lanes l SET served = greatest(l.served, u.served) \
                     FROM unnest($1::smallint[], $2::bigint[]) AS u(lane, served) \
                     WHERE l.lane = u.lane",
                        &[&progress.0, &progress.1],
                    )
                    .await
                },
            );
            super::all_ok([a, b, c, d, e, f])?;
            // The licences are locked (above): their events are numbered in commit order.
            super::outbox::write_events(&tx, &self.node, &events).await?;
            Ok((completed, served, lost))
        })
        .inspect_err(|_| self.release_claim_local(&step))?;
        for (lane, sequence) in served {
            self.lanes.served(lane, sequence);
        }
        if lost > 0
            && let Some(t) = &self.timing
        {
            t.observer.claim_conflicts(lost);
        }
        Ok(completed)
    }

    /// A failed completion gives its claims back (the database still holds them for us
    /// until the lease lapses).
    fn release_claim_local(&self, step: &CompletedStep) {
        self.released()
            .extend(step.served.iter().map(|(_, _, t)| *t));
    }

    /// [`crate::store::Store::allocate_indices`]: indices proposed at random from what this
    /// node knows to be free, kept only where the database's unique key takes them (another
    /// node may have taken one meanwhile: it is then proposed again elsewhere).
    pub(super) async fn allocate(&self, n: usize, max_lists: u32) -> StoreResult<Allocations> {
        let mut out = Allocations::default();
        for _ in 0..16 {
            let wanted = n - out.indices.len();
            if wanted == 0 {
                break;
            }
            let (lists, indices) = {
                let mut allocator = self.allocator();
                let mut lists = Vec::with_capacity(wanted);
                let mut indices = Vec::with_capacity(wanted);
                for _ in 0..wanted {
                    let Some(a) = allocator.allocate(&mut OsRng, max_lists) else {
                        break;
                    };
                    out.opened_list |= a.opened_list;
                    lists.push(a.list as i32);
                    indices.push(a.index as i32);
                }
                (lists, indices)
            };
            if lists.is_empty() {
                break;
            }
            // Inserted in one order on every node: two nodes proposing some of the same
            // indices then wait for each other in that order, never in a circle (unsorted,
            // PostgreSQL found deadlocks between two nodes' allocations).
            let mut pairs: Vec<(i32, i32)> = lists.into_iter().zip(indices).collect();
            pairs.sort_unstable();
            let (lists, indices): (Vec<i32>, Vec<i32>) = pairs.into_iter().unzip();
            let rows = self
                .read(
                    "INSERT INTO status_indices (list, idx) \
                     SELECT * FROM unnest($1::integer[], $2::integer[]) AS u(list, idx) \
                     ORDER BY list, idx \
                     ON CONFLICT DO NOTHING RETURNING list, idx",
                    &[&lists, &indices],
                )
                .await?;
            let mut taken = std::collections::HashSet::new();
            for row in &rows {
                taken.insert((col::<i32>(row, 0)?, col::<i32>(row, 1)?));
            }
            for (list, index) in lists.into_iter().zip(indices) {
                if taken.contains(&(list, index)) {
                    out.indices.push((list as u32, index as u32));
                }
            }
        }
        Ok(out)
    }

    /// When the oldest application waiting in each lane was made.
    pub(super) async fn oldest(&self) -> StoreResult<[Option<UnixTime>; 3]> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT a.created_at FROM queue q JOIN applications a ON a.ticket = q.ticket \
                 WHERE q.lane = $1 ORDER BY q.sequence LIMIT 1",
            )
            .await
            .map_err(|e| self.failed(e))?;
        let lanes = Lane::ALL.map(|lane| lane.index() as i16);
        let (a, b, c) = tokio::join!(
            async { client.query(&statement, &[&lanes[0]]).await },
            async { client.query(&statement, &[&lanes[1]]).await },
            async { client.query(&statement, &[&lanes[2]]).await },
        );
        let mut out = [None; 3];
        for (slot, rows) in out.iter_mut().zip([a, b, c]) {
            let rows = rows.map_err(|e| self.failed(e))?;
            if let Some(row) = rows.first() {
                *slot = Some(UnixTime(col::<i64>(row, 0)? as u64));
            }
        }
        Ok(out)
    }
}

/// A credential's stored id, or a corrupt-record error.
fn key(id: &str) -> StoreResult<Vec<u8>> {
    credential_key(id).ok_or_else(|| StoreError::Corrupt("a credential id".into()))
}

/// New credentials as the columns of one batched insert. Records are serialized straight
/// into the statement's parameters (`Json`), without a JSON tree in between.
#[derive(Default)]
struct Credentials<'a> {
    ids: Vec<Vec<u8>>,
    licences: Vec<&'a str>,
    tickets: Vec<Vec<u8>>,
    lists: Vec<i32>,
    indices: Vec<i32>,
    records: Vec<Json<&'a CredentialRecord>>,
}

impl<'a> Credentials<'a> {
    fn push(&mut self, c: &'a CredentialRecord) -> StoreResult<()> {
        self.ids.push(key(&c.id)?);
        self.licences.push(c.licence.as_str());
        self.tickets.push(c.ticket.0.to_vec());
        self.lists.push(c.list as i32);
        self.indices.push(c.index as i32);
        self.records.push(Json(c));
        Ok(())
    }
}

/// One row of [`CLAIM`] as a claimed entry: the application only while it is still queued
/// under this entry (otherwise the entry is stale and is only served).
fn claimed(lane: Lane, row: &tokio_postgres::Row) -> StoreResult<Claimed> {
    let sequence = col::<i64>(row, 0)? as u64;
    let t = ticket(&col::<Vec<u8>>(row, 1)?)?;
    let application: Option<Application> = optional_record(row, 2, "application")?;
    let application =
        application.filter(|app| app.state == (ApplicationState::Queued { lane, sequence }));
    let (licence, credentials) = match &application {
        Some(_) => {
            let licence = optional_record(row, 3, "licence")?;
            (licence, records(row, 4, "credential")?)
        }
        None => (None, Vec::new()),
    };
    Ok(Claimed {
        lane,
        sequence,
        ticket: t,
        application,
        licence,
        credentials,
    })
}
