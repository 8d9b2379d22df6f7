//! The PostgreSQL engine's intake: admitting an application (one transaction under the
//! licence's row lock; the partial unique index keeps one open application per licence
//! even across nodes), review decisions, and ordering the applications accepted before the
//! opening.

use super::registry::{insert_application, next_sequence};
use super::{
    Abort, PgStore, audit, col, encode, execute, outbox, query, record, ticket, transaction,
};
use crate::domain::application::{Application, ApplicationState, Placement, Ticket};
use crate::domain::audit::AuditRecord;
use crate::domain::notify;
use crate::domain::queue::Lane;
use crate::domain::registry::LicenceRecord;
use crate::store::{
    Admit, AdmitError, Admitted, DecideError, ReviewDecision, StoreError, StoreResult,
};

impl PgStore {
    /// [`crate::store::Store::admit`].
    pub(super) async fn admit_tx(&self, admit: &Admit<'_>) -> Result<Admitted, AdmitError> {
        let (admitted, queued, unordered) = transaction!(self, AdmitError, |tx| {
            let number = admit.licence.as_str();
            let (licence, latest, credentials) = tokio::join!(
                async {
                    query(
                        &tx,
                        "SELECT record FROM licences WHERE number = $1 FOR UPDATE",
                        &[&number],
                    )
                    .await
                },
                async {
                    query(
                        &tx,
                        "SELECT record FROM applications WHERE licence = $1 \
                     ORDER BY created DESC LIMIT 1",
                        &[&number],
                    )
                    .await
                },
                async {
                    query(
                        &tx,
                        "SELECT EXISTS (SELECT 1 FROM credentials WHERE licence = $1)",
                        &[&number],
                    )
                    .await
                },
            );
            let latest: Option<Application> = first(&latest?, "application")?;
            if let Some(app) = latest.as_ref().filter(|a| a.state.is_open()) {
                return Ok((Admitted::Existing(app.clone()), None, None));
            }
            let licence: LicenceRecord =
                first(&licence?, "licence")?.ok_or(Abort::Refused(AdmitError::UnknownLicence))?;
            admit.allowed_by(&licence).map_err(Abort::Refused)?;
            let has_credentials = match credentials?.first() {
                Some(r) => r.try_get::<_, bool>(0)?,
                None => false,
            };
            let mut application = admit.application(latest.map(|a| a.ticket), has_credentials);
            let before_opening = admit.before_opening || self.lanes.unordered() > 0;
            let mut queued = None;
            let mut unordered = None;
            match application.placement(before_opening) {
                Placement::Review => {}
                Placement::BeforeOpening(lane) => {
                    application.state = ApplicationState::Queued { lane, sequence: 0 };
                    unordered = Some(lane);
                }
                Placement::Queue(lane) => {
                    let sequence = next_sequence(&tx, lane).await?;
                    application.state = ApplicationState::Queued { lane, sequence };
                    application.quoted = (admit.quote)(lane, self.lanes.position(lane, sequence));
                    queued = Some((lane, sequence));
                }
            }
            insert_application(&tx, &application).await?;
            Ok((Admitted::New(application), queued, unordered))
        })?;
        if let Some((lane, sequence)) = queued {
            self.lanes.queued(lane, sequence);
        }
        if let Some(lane) = unordered {
            self.lanes.add_unordered(lane);
        }
        Ok(admitted)
    }

    /// [`crate::store::Store::decide_review`].
    pub(super) async fn decide_tx(
        &self,
        decision: ReviewDecision,
    ) -> Result<Application, DecideError> {
        let ticket = decision.ticket;
        let (app, queued) = transaction!(self, DecideError, |tx| {
            let rows = query(
                &tx,
                "SELECT record FROM applications WHERE ticket = $1 FOR UPDATE",
                &[&&ticket.0[..]],
            )
            .await?;
            let mut app: Application =
                first(&rows, "application")?.ok_or(Abort::Refused(DecideError::NotFound))?;
            if app.state != ApplicationState::Reviewing {
                return Err(Abort::Refused(DecideError::NotWaiting(app.state.name())));
            }
            let at = decision.actor.at;
            let mut queued = None;
            let action = match &decision.rejection {
                Some(reason) => {
                    app.reject(reason.clone(), at)
                        .map_err(|e| Abort::Refused(DecideError::NotWaiting(e.0)))?;
                    "review.reject"
                }
                None => {
                    let lane = app.lane();
                    let sequence = next_sequence(&tx, lane).await?;
                    app.approve(sequence, at)
                        .map_err(|e| Abort::Refused(DecideError::NotWaiting(e.0)))?;
                    execute(
                        &tx,
                        "INSERT INTO queue (lane, sequence, ticket) VALUES ($1, $2, $3)",
                        &[&(lane.index() as i16), &(sequence as i64), &&ticket.0[..]],
                    )
                    .await?;
                    queued = Some((lane, sequence));
                    "review.approve"
                }
            };
            execute(
                &tx,
                "UPDATE applications SET record = $2, reviewing = false, open = $3 \
                 WHERE ticket = $1",
                &[&&ticket.0[..], &encode(&app), &app.state.is_open()],
            )
            .await?;
            let audit = AuditRecord::change(
                &decision.actor.caller,
                at,
                action,
                Some(app.licence.as_str()),
                Some(&ticket.to_string()),
            );
            if let Some(event) = notify::rejected(&app, at) {
                // Under the licence's row lock, as every other event of the licence.
                query(
                    &tx,
                    "SELECT 1 FROM licences WHERE number = $1 FOR UPDATE",
                    &[&app.licence.as_str()],
                )
                .await?;
                outbox::write_events(&tx, &self.node, &[event]).await?;
            }
            audit::append(&tx, vec![audit]).await?;
            Ok((app, queued))
        })?;
        if let Some((lane, sequence)) = queued {
            self.lanes.queued(lane, sequence);
        }
        Ok(app)
    }

    /// [`crate::store::Store::order_opening`]: the next `limit` applications accepted
    /// before the opening in ticket order (all when no more than `limit` remain) get their
    /// sequence numbers.
    pub(super) async fn order_opening_tx(&self, limit: usize) -> StoreResult<u64> {
        let last = self.lanes.unordered() <= limit as u64;
        let take = if last {
            i64::MAX
        } else {
            i64::try_from(limit).unwrap_or(i64::MAX)
        };
        let (ordered, queued) = transaction!(self, StoreError, |tx| {
            let rows = query(
                &tx,
                "SELECT ticket, preopen, record FROM applications WHERE preopen IS NOT NULL \
                 ORDER BY ticket LIMIT $1 FOR UPDATE SKIP LOCKED",
                &[&take],
            )
            .await?;
            let mut ordered = [0u64; 3];
            let mut apps: Vec<(Lane, Application)> = Vec::new();
            for row in &rows {
                let lane_index: i16 = row.try_get(1)?;
                let Some(lane) = Lane::ALL
                    .into_iter()
                    .find(|l| l.index() as i16 == lane_index)
                else {
                    continue;
                };
                ordered[lane.index()] += 1;
                let _ =
                    ticket(&col::<Vec<u8>>(row, 0).map_err(Abort::store)?).map_err(Abort::store)?;
                let app: Application = record(row, 2, "application").map_err(Abort::store)?;
                apps.push((lane, app));
            }
            let mut tickets: Vec<Vec<u8>> = Vec::new();
            let mut values = Vec::new();
            let mut q_lanes: Vec<i16> = Vec::new();
            let mut q_sequences: Vec<i64> = Vec::new();
            let mut queued = Vec::new();
            let mut done: Vec<Ticket> = Vec::new();
            for (lane, mut app) in apps {
                done.push(app.ticket);
                if app.state != (ApplicationState::Queued { lane, sequence: 0 }) {
                    continue;
                }
                let sequence = next_sequence(&tx, lane).await?;
                app.state = ApplicationState::Queued { lane, sequence };
                tickets.push(app.ticket.0.to_vec());
                values.push(encode(&app));
                q_lanes.push(lane.index() as i16);
                q_sequences.push(sequence as i64);
                queued.push((lane, sequence));
            }
            let all: Vec<Vec<u8>> = done.iter().map(|t| t.0.to_vec()).collect();
            let (updated, cleared, inserted) = tokio::join!(
                async {
                    execute(
                        &tx,
                        "UPDATE applications a SET record = u.record \
                     FROM unnest($1::bytea[], $2::jsonb[]) AS u(ticket, record) \
                     WHERE a.ticket = u.ticket",
                        &[&tickets, &values],
                    )
                    .await
                },
                async {
                    execute(
                        &tx,
                        "UPDATE applications SET preopen = NULL WHERE ticket = ANY($1)",
                        &[&all],
                    )
                    .await
                },
                async {
                    execute(
                        &tx,
                        "INSERT INTO queue (lane, sequence, ticket) \
                     SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])",
                        &[&q_lanes, &q_sequences, &tickets],
                    )
                    .await
                },
            );
            super::all_ok([updated, cleared, inserted])?;
            Ok((ordered, queued))
        })?;
        self.lanes.ordered(ordered);
        for (lane, sequence) in queued {
            self.lanes.queued(lane, sequence);
        }
        Ok(ordered.iter().sum())
    }
}

/// The first row's JSON record, if any, inside a transaction body.
fn first<T: serde::de::DeserializeOwned, E: From<StoreError>>(
    rows: &[tokio_postgres::Row],
    what: &str,
) -> Result<Option<T>, Abort<E>> {
    rows.first()
        .map(|r| record(r, 0, what))
        .transpose()
        .map_err(Abort::store)
}
