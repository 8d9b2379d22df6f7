//! The PostgreSQL engine's registry and credentials: licence changes with their
//! consequences (each under its licence's row lock), refreshes, and the status list values
//! restored from the credentials.

use keys::licence::LicenceState;

use super::{
    Abort, PgStore, Tx, audit, col, credential_key, decode, encode, execute, outbox, query, record,
    transaction,
};
use crate::domain::application::{Application, ApplicationState};
use crate::domain::audit::AuditRecord;
use crate::domain::issue::{self, CredentialRecord, StatusEntry};
use crate::domain::notify::{self, Event};
use crate::domain::queue::Lane;
use crate::domain::registry::{self, EditError, LicenceRecord};
use crate::store::{
    ChangeError, LicenceChange, LicenceChanged, Refresh, RefreshConflict, StatusChanges,
    StatusCursor, StoreError, StoreResult,
};

/// What a change did beyond its rows: the queue entry it added, for the counters.
type Queued = Option<(Lane, u64)>;

/// The next number of `lane`'s sequence (shared by every node).
pub(super) async fn next_sequence(tx: &Tx<'_>, lane: Lane) -> Result<u64, tokio_postgres::Error> {
    let name = format!("lane_sequence_{}", lane.index());
    let rows = query(tx, "SELECT nextval($1::text::regclass)", &[&name]).await?;
    let n: i64 = match rows.first() {
        Some(r) => r.try_get(0)?,
        None => 0,
    };
    Ok(n as u64)
}

/// Queues `application` (already holding its lane and sequence) in `tx`.
pub(super) async fn insert_application(
    tx: &Tx<'_>,
    application: &Application,
) -> Result<(), tokio_postgres::Error> {
    let ticket = &application.ticket.0[..];
    let preopen: Option<i16> = None;
    let reviewing = application.state == ApplicationState::Reviewing;
    let (lane, sequence) = match application.state {
        ApplicationState::Queued { lane, sequence } if sequence > 0 => {
            (Some(lane.index() as i16), Some(sequence as i64))
        }
        _ => (None, None),
    };
    let preopen = match application.state {
        ApplicationState::Queued { lane, sequence: 0 } => Some(lane.index() as i16),
        _ => preopen,
    };
    let inserted = async {
        execute(
        tx,
        "INSERT INTO applications (ticket, licence, open, reviewing, preopen, created_at, record) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &ticket,
            &application.licence.as_str(),
            &application.state.is_open(),
            &reviewing,
            &preopen,
            &(application.created_at.0 as i64),
            &encode(application),
        ],
    ).await
    };
    if let (Some(lane), Some(sequence)) = (lane, sequence) {
        let queued = async {
            execute(
                tx,
                "INSERT INTO queue (lane, sequence, ticket) VALUES ($1, $2, $3)",
                &[&lane, &sequence, &ticket],
            )
            .await
        };
        let (a, b) = tokio::join!(inserted, queued);
        super::all_ok([a, b])?;
    } else {
        inserted.await?;
    }
    Ok(())
}

impl PgStore {
    /// [`crate::store::Store::change_licence`].
    pub(super) async fn change_licence_tx(
        &self,
        change: LicenceChange,
    ) -> Result<LicenceChanged, ChangeError> {
        let (changed, queued) = transaction!(self, ChangeError, |tx| {
            let (changed, audit, queued, events) = change_in(&tx, &change).await?;
            outbox::write_events(&tx, &self.node, &events).await?;
            audit::append(&tx, vec![audit]).await?;
            Ok((changed, queued))
        })?;
        if let Some((lane, sequence)) = queued {
            self.lanes.queued(lane, sequence);
        }
        Ok(changed)
    }

    /// [`crate::store::Store::change_licences`]: one transaction for all.
    pub(super) async fn change_licences_tx(
        &self,
        changes: Vec<LicenceChange>,
    ) -> StoreResult<Vec<Result<LicenceChanged, ChangeError>>> {
        let (outcomes, queued) = transaction!(self, StoreError, |tx| {
            let mut outcomes = Vec::with_capacity(changes.len());
            let mut records = Vec::new();
            let mut queued = Vec::new();
            let mut events = Vec::new();
            for change in &changes {
                match change_in(&tx, change).await {
                    Ok((changed, audit, q, e)) => {
                        records.push(audit);
                        queued.extend(q);
                        events.extend(e);
                        outcomes.push(Ok(changed));
                    }
                    Err(Abort::Refused(ChangeError::Store(e))) => {
                        return Err(Abort::Refused(e));
                    }
                    Err(Abort::Refused(refused)) => outcomes.push(Err(refused)),
                    Err(Abort::Db(e)) => return Err(Abort::Db(e)),
                }
            }
            outbox::write_events(&tx, &self.node, &events).await?;
            audit::append(&tx, records).await?;
            Ok((outcomes, queued))
        })?;
        for (lane, sequence) in queued {
            self.lanes.queued(lane, sequence);
        }
        Ok(outcomes)
    }

    /// [`crate::store::Store::refresh_credential`].
    pub(super) async fn refresh_tx(&self, refresh: Refresh) -> Result<(), RefreshConflict> {
        let (expected, licence) = &refresh.expected;
        let key = credential_key(&expected.id)
            .ok_or_else(|| StoreError::Corrupt("a credential id".into()))?;
        transaction!(self, RefreshConflict, |tx| {
            let number = expected.licence.as_str();
            let licences = async {
                query(
                    &tx,
                    "SELECT record FROM licences WHERE number = $1 FOR UPDATE",
                    &[&number],
                )
                .await
            };
            let credentials = async {
                query(
                    &tx,
                    "SELECT record FROM credentials WHERE id = $1 FOR UPDATE",
                    &[&key],
                )
                .await
            };
            let (licences, credentials) = tokio::join!(licences, credentials);
            let now_licence: Option<LicenceRecord> = optional(&licences?, "licence")?;
            let credential: Option<CredentialRecord> = optional(&credentials?, "credential")?;
            if credential.as_ref() != Some(expected) || now_licence.as_ref() != Some(licence) {
                return Err(Abort::Refused(RefreshConflict::Changed));
            }
            execute(
                &tx,
                "UPDATE credentials SET record = $2 WHERE id = $1",
                &[&key, &encode(&refresh.refreshed)],
            )
            .await?;
            audit::append(&tx, vec![refresh.audit.clone()]).await?;
            Ok(())
        })
    }
}

/// The first row's JSON record, if any, inside a transaction body.
fn optional<T: serde::de::DeserializeOwned, E: From<StoreError>>(
    rows: &[tokio_postgres::Row],
    what: &str,
) -> Result<Option<T>, Abort<E>> {
    rows.first()
        .map(|r| record(r, 0, what))
        .transpose()
        .map_err(Abort::store)
}

/// One licence change inside `tx`, under the licence's row lock: the new record, the
/// credentials it supersedes and the re-issue it queues. Returns its audit record and the
/// events it causes for the caller to write.
async fn change_in(
    tx: &Tx<'_>,
    change: &LicenceChange,
) -> Result<(LicenceChanged, AuditRecord, Queued, Vec<Event>), Abort<ChangeError>> {
    let number = change.number.as_str();
    let rows = query(
        tx,
        "SELECT record FROM licences WHERE number = $1 FOR UPDATE",
        &[&number],
    )
    .await?;
    let old: Option<LicenceRecord> = optional(&rows, "licence")?;
    let (new, action) = registry::edit(old.as_ref(), &change.edit).map_err(|e| match e {
        EditError::NotFound => Abort::Refused(ChangeError::NotFound),
        EditError::Transition(t) => Abort::Refused(ChangeError::Transition(t)),
    })?;
    let at = change.actor.at;
    let audit = AuditRecord::change(&change.actor.caller, at, action, Some(number), None);
    let write = if old.is_some() {
        "UPDATE licences SET record = $2 WHERE number = $1"
    } else {
        "INSERT INTO licences (number, record) VALUES ($1, $2)"
    };
    let new_value = encode(&new);
    let (written, latest, credentials) = tokio::join!(
        async { execute(tx, write, &[&number, &new_value]).await },
        async {
            query(
                tx,
                "SELECT record FROM applications WHERE licence = $1 ORDER BY created DESC LIMIT 1",
                &[&number],
            )
            .await
        },
        async {
            query(
                tx,
                "SELECT record FROM credentials WHERE licence = $1 ORDER BY created DESC",
                &[&number],
            )
            .await
        },
    );
    written?;
    let latest_app: Option<Application> = optional(&latest?, "application")?;
    let mut credentials: Vec<CredentialRecord> = credentials?
        .iter()
        .map(|r| record(r, 0, "credential"))
        .collect::<StoreResult<_>>()
        .map_err(Abort::store)?;
    let mut reissue = None;
    let mut list_updates = Vec::new();
    let mut queued = None;
    let mut events = Vec::new();
    if let Some(old) = &old {
        let open = latest_app.as_ref().is_some_and(|a| a.state.is_open());
        let before = credentials.clone();
        let consequences = issue::consequences(Some(old), &new, credentials.clone(), open);
        let mut ids = Vec::new();
        let mut values = Vec::new();
        for c in &consequences.superseded {
            ids.push(
                credential_key(&c.id)
                    .ok_or_else(|| Abort::store(StoreError::Corrupt("a credential id".into())))?,
            );
            values.push(encode(c));
            if let Some(shown) = credentials.iter_mut().find(|shown| shown.id == c.id) {
                shown.superseded = true;
            }
        }
        if !ids.is_empty() {
            execute(
                tx,
                "UPDATE credentials c SET superseded = true, record = u.record \
                 FROM unnest($1::bytea[], $2::jsonb[]) AS u(id, record) WHERE c.id = u.id",
                &[&ids, &values],
            )
            .await?;
        }
        list_updates = consequences.list_updates;
        if consequences.reissue {
            let ticket = change.reissue_ticket;
            let lane = Lane::Reissue;
            let sequence = next_sequence(tx, lane).await?;
            let application = Application::reissue(
                ticket,
                change.number.clone(),
                latest_app.as_ref(),
                &change.actor.caller.client,
                sequence,
                at,
            );
            insert_application(tx, &application).await?;
            reissue = Some(ticket);
            queued = Some((lane, sequence));
        }
        let client = latest_app.map(|a| a.client).unwrap_or_default();
        events = notify::licence_changed(
            Some(old),
            &new,
            &before,
            &consequences.superseded,
            reissue,
            &client,
            at,
        );
    }
    Ok((
        LicenceChanged {
            record: new,
            created: old.is_none(),
            reissue,
            list_updates,
            credentials,
        },
        audit,
        queued,
        events,
    ))
}

/// Every credential's status list index and value, from the credentials and their
/// licences.
pub(super) async fn status_entries(store: &PgStore) -> StoreResult<Vec<StatusEntry>> {
    let rows = store
        .read(
            "SELECT c.list, c.idx, c.superseded, l.record -> 'state' \
             FROM credentials c LEFT JOIN licences l ON l.number = c.licence",
            &[],
        )
        .await?;
    rows.iter().map(status_entry).collect()
}

/// A status entry from a row of `list, idx, superseded, licence state` (a credential whose
/// licence is gone counts as revoked).
fn status_entry(row: &tokio_postgres::Row) -> StoreResult<StatusEntry> {
    let state: Option<serde_json::Value> = col(row, 3)?;
    let state = match state {
        Some(v) => decode::<LicenceState>(v, "licence state")?,
        None => LicenceState::Revoked,
    };
    Ok(StatusEntry {
        list: col::<i32>(row, 0)? as u32,
        index: col::<i32>(row, 1)? as u32,
        value: issue::list_status(col(row, 2)?, state),
    })
}

/// How long the rows of `status_changes` are kept: a node that was away longer restores
/// its lists whole at its start.
const STATUS_CHANGES_KEPT_SECONDS: f64 = 3600.0;

/// [`crate::store::Store::status_changes`]: in one snapshot, its xmin (every transaction
/// with a smaller id had finished), how many lists exist, and the entries the transactions
/// from `since` on changed, with their values now. Old rows are pruned now and then.
pub(super) async fn status_changes(
    store: &PgStore,
    since: Option<StatusCursor>,
) -> StoreResult<StatusChanges> {
    let mut client = store.client().await?;
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|e| store.failed(e))?;
    // The first statement fixes the snapshot both read.
    let head = tx
        .query_one(
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text, \
             (SELECT coalesce(max(list) + 1, 0) FROM status_indices)",
            &[],
        )
        .await
        .map_err(|e| store.failed(e))?;
    let xmin: String = col(&head, 0)?;
    let lists: i32 = col(&head, 1)?;
    let from = since.map_or_else(|| "0".to_owned(), |c| c.0.to_string());
    let rows = tx
        .query(
            "SELECT DISTINCT c.list, c.idx, c.superseded, l.record -> 'state' \
             FROM status_changes s \
             JOIN credentials c ON c.list = s.list AND c.idx = s.idx \
             LEFT JOIN licences l ON l.number = c.licence \
             WHERE s.txid >= $1::text::xid8",
            &[&from],
        )
        .await
        .map_err(|e| store.failed(e))?;
    tx.commit().await.map_err(|e| store.failed(e))?;
    let entries = rows
        .iter()
        .map(status_entry)
        .collect::<StoreResult<Vec<_>>>()?;
    let cursor = xmin.parse::<u64>().map(StatusCursor).map_err(|_| {
        StoreError::Corrupt(format!("snapshot xmin {xmin:?} is not a transaction id"))
    })?;
    // Pruning is anyone's job: a node's first read does it, and then one read in a hundred.
    static READS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let read = READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if since.is_none() || read.is_multiple_of(100) {
        let _ = client
            .execute(
                "DELETE FROM status_changes WHERE at < now() - make_interval(secs => $1)",
                &[&STATUS_CHANGES_KEPT_SECONDS],
            )
            .await;
    }
    Ok(StatusChanges {
        cursor: Some(cursor),
        entries,
        lists: lists.max(0) as u32,
    })
}
