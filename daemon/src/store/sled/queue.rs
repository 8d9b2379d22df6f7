//! The sled engine's applications and queue: admitting an application, review decisions,
//! ordering the applications accepted before the opening, and the drain's claims and
//! completed steps.

use keys::UnixTime;

use super::records::Batch;
use super::{SledStore, engine_error, layout};
use crate::domain::application::{Application, ApplicationState, Placement, Ticket};
use crate::domain::audit::AuditRecord;
use crate::domain::notify;
use crate::domain::queue::{Lane, LaneRestore, Lanes};
use crate::store::{
    Admit, AdmitError, Admitted, Claim, Claimed, Completed, CompletedStep, DecideError,
    DeliveryKey, ReviewDecision, StoreError, StoreResult,
};

/// The queue's counters from the stored entries: each lane's served sequence and its
/// entries, and the applications waiting for the opening.
pub(super) fn restore_lanes(db: &sled::Db) -> StoreResult<Lanes> {
    let mut per_lane = [LaneRestore::default(); 3];
    for lane in Lane::ALL {
        let served: u64 = match db.get(layout::served(lane)).map_err(engine_error)? {
            Some(bytes) => layout::decode(&bytes, "lane progress")?,
            None => 0,
        };
        let mut restore = LaneRestore {
            last: served,
            ..LaneRestore::default()
        };
        for entry in db.scan_prefix(layout::lane_prefix(lane)) {
            let (k, _) = entry.map_err(engine_error)?;
            if let Some((_, sequence)) = layout::parse_queue(&k) {
                restore.first_waiting.get_or_insert(sequence);
                restore.last = restore.last.max(sequence);
                restore.depth += 1;
            }
        }
        per_lane[lane.index()] = restore;
    }
    let mut unordered = [0u64; 3];
    for entry in db.scan_prefix(layout::PREOPEN) {
        let (_, v) = entry.map_err(engine_error)?;
        if let Some(lane) = v.first().copied().and_then(layout::lane_from_byte) {
            unordered[lane.index()] += 1;
        }
    }
    Ok(Lanes::restore(per_lane, unordered))
}

impl SledStore {
    /// [`crate::store::Store::admit`] up to its commit.
    pub(super) fn admit_applied(&self, admit: &Admit<'_>) -> Result<Admitted, AdmitError> {
        let _stripe = self.stripe(&admit.licence);
        let latest = self.latest(admit.licence.as_str())?;
        if let Some(ticket) = latest {
            // An issuance not yet durable still counts as queued, as it reads.
            let open = match self.pending().get(&ticket) {
                Some(before) => Some(before.clone()),
                None => self.stored_application(ticket)?,
            };
            if let Some(app) = open.filter(|a| a.state.is_open()) {
                return Ok(Admitted::Existing(app));
            }
        }
        let licence = self
            .stored_licence(admit.licence.as_str())?
            .ok_or(AdmitError::UnknownLicence)?;
        admit.allowed_by(&licence)?;
        let has_credentials = !self.credentials_from(latest)?.is_empty();
        let mut application = admit.application(latest, has_credentials);
        let ticket = admit.ticket;
        let mut batch = Batch::default();
        // Held until the batch is applied: the last step of ordering the applications
        // accepted before the opening cannot run in between.
        let _gate = self.opening_gate.read().unwrap_or_else(|p| p.into_inner());
        let before_opening = admit.before_opening || self.lanes.unordered() > 0;
        let mut unordered = None;
        match application.placement(before_opening) {
            Placement::Review => {
                batch.insert(layout::review(application.created_at, ticket), &[][..])
            }
            Placement::BeforeOpening(lane) => {
                application.state = ApplicationState::Queued { lane, sequence: 0 };
                batch.insert(layout::preopen(ticket), &[layout::lane_byte(lane)][..]);
                unordered = Some(lane);
            }
            Placement::Queue(lane) => {
                let sequence = self.lanes.next_sequence(lane);
                application.state = ApplicationState::Queued { lane, sequence };
                application.quoted = (admit.quote)(lane, self.lanes.position(lane, sequence));
                batch.insert(layout::queue(lane, sequence), &ticket.0[..]);
            }
        }
        batch.insert(layout::application(ticket), layout::encode(&application));
        batch.insert(layout::open(admit.licence.as_str()), &ticket.0[..]);
        self.apply(batch, Vec::new())?;
        if let Some(lane) = unordered {
            self.lanes.add_unordered(lane);
        }
        Ok(Admitted::New(application))
    }

    /// Applications waiting for review, oldest first (by when they were made, then by
    /// ticket), at most `limit`: read in the order of the `R/` keys.
    pub(super) fn waiting_reviews(&self, limit: usize) -> StoreResult<Vec<Application>> {
        let mut out = Vec::new();
        for entry in self.db.scan_prefix(layout::REVIEW).take(limit) {
            let (k, _) = entry.map_err(engine_error)?;
            let ticket = layout::review_ticket(&k)?;
            if let Some(app) = self.stored_application(ticket)? {
                out.push(app);
            }
        }
        Ok(out)
    }

    /// [`crate::store::Store::decide_review`] up to its commit.
    pub(super) fn decide_applied(
        &self,
        decision: ReviewDecision,
    ) -> Result<(Application, Vec<DeliveryKey>), DecideError> {
        let ticket = decision.ticket;
        let first = self
            .stored_application(ticket)?
            .ok_or(DecideError::NotFound)?;
        let _stripe = self.stripe(&first.licence);
        let mut app = self
            .stored_application(ticket)?
            .ok_or(DecideError::NotFound)?;
        if app.state != ApplicationState::Reviewing {
            return Err(DecideError::NotWaiting(app.state.name()));
        }
        let at = decision.actor.at;
        let mut batch = Batch::default();
        batch.remove(layout::review(app.created_at, ticket));
        let action = match decision.rejection {
            Some(reason) => {
                app.reject(reason, at)
                    .map_err(|e| DecideError::NotWaiting(e.0))?;
                "review.reject"
            }
            None => {
                let lane = app.lane();
                let sequence = self.lanes.next_sequence(lane);
                app.approve(sequence, at)
                    .map_err(|e| DecideError::NotWaiting(e.0))?;
                batch.insert(layout::queue(lane, sequence), &ticket.0[..]);
                "review.approve"
            }
        };
        batch.insert(layout::application(ticket), layout::encode(&app));
        let audit = AuditRecord::change(
            &decision.actor.caller,
            at,
            action,
            Some(app.licence.as_str()),
            Some(&ticket.to_string()),
        );
        let events: Vec<_> = notify::rejected(&app, at).into_iter().collect();
        let keys = self.apply_events(batch, vec![audit], &events)?;
        Ok((app, keys))
    }

    /// [`crate::store::Store::order_opening`] up to its commit.
    pub(super) fn order_opening_applied(&self, limit: usize) -> StoreResult<u64> {
        let last = self.lanes.unordered() <= limit as u64;
        let _gate = last.then(|| self.opening_gate.write().unwrap_or_else(|p| p.into_inner()));
        let take = if last { usize::MAX } else { limit };
        let mut batch = Batch::default();
        let mut ordered = [0u64; 3];
        for entry in self.db.scan_prefix(layout::PREOPEN).take(take) {
            let (k, v) = entry.map_err(engine_error)?;
            batch.remove(k.to_vec());
            let Some(lane) = v.first().copied().and_then(layout::lane_from_byte) else {
                continue;
            };
            ordered[lane.index()] += 1;
            let ticket = layout::ticket(&k[layout::PREOPEN.len()..])?;
            let Some(mut app) = self.stored_application(ticket)? else {
                continue;
            };
            if app.state != (ApplicationState::Queued { lane, sequence: 0 }) {
                continue;
            }
            let sequence = self.lanes.next_sequence(lane);
            app.state = ApplicationState::Queued { lane, sequence };
            batch.insert(layout::application(ticket), layout::encode(&app));
            batch.insert(layout::queue(lane, sequence), &ticket.0[..]);
        }
        self.apply(batch, Vec::new())?;
        self.lanes.ordered(ordered);
        Ok(ordered.iter().sum())
    }

    /// [`crate::store::Store::claim_step`].
    pub(super) fn claim(&self, take: [u64; 3]) -> StoreResult<Claim> {
        let mut entries = Vec::new();
        {
            let mut claimed = self.claimed();
            for lane in Lane::ALL {
                let n = usize::try_from(take[lane.index()]).unwrap_or(usize::MAX);
                if n == 0 {
                    continue;
                }
                let mut taken = 0;
                for entry in self.db.scan_prefix(layout::lane_prefix(lane)) {
                    if taken == n {
                        break;
                    }
                    let (k, v) = entry.map_err(engine_error)?;
                    let (Some((lane, sequence)), Ok(ticket)) =
                        (layout::parse_queue(&k), layout::ticket(&v))
                    else {
                        continue;
                    };
                    if claimed.insert(ticket) {
                        entries.push((lane, sequence, ticket));
                        taken += 1;
                    }
                }
            }
        }
        // Each application is read once, without its licence's lock: only the drain moves
        // an application out of `Queued { lane, sequence }` (intake creates them, review
        // moves them into the queue), and its licence is compared again on completion.
        let mut claim = Claim::default();
        for (lane, sequence, ticket) in entries {
            let application = self
                .stored_application(ticket)?
                .filter(|a| a.state == (ApplicationState::Queued { lane, sequence }));
            let (licence, credentials) = match &application {
                Some(app) => (
                    self.stored_licence(app.licence.as_str())?,
                    self.credentials_from(app.previous)?,
                ),
                None => (None, Vec::new()),
            };
            claim.entries.push(Claimed {
                lane,
                sequence,
                ticket,
                application,
                licence,
                credentials,
            });
        }
        Ok(claim)
    }

    /// [`crate::store::Store::complete_step`] up to its commit: returns what was written
    /// and the tickets issued (pending until the commit is durable).
    pub(super) fn complete_applied(
        &self,
        step: CompletedStep,
    ) -> StoreResult<(Completed, Vec<Ticket>, Vec<DeliveryKey>)> {
        // Lock every licence of the step, each stripe once and in order (no other command
        // holds two stripes, so this cannot deadlock).
        let mut stripes: Vec<usize> = step
            .issued
            .iter()
            .map(|i| &i.application.licence)
            .chain(step.rejected.iter().map(|r| &r.application.licence))
            .map(|n| Self::stripe_index(n.as_str()))
            .collect();
        stripes.sort_unstable();
        stripes.dedup();
        let guards: Vec<_> = stripes.iter().map(|&n| self.stripe_at(n)).collect();
        let mut completed = Completed::default();
        let mut batch = Batch::default();
        let mut issued = Vec::new();
        let mut before = Vec::new();
        let mut events = Vec::new();
        for issuance in step.issued {
            let ticket = issuance.application.ticket;
            let now = self.stored_licence(issuance.licence.number.as_str())?;
            if now.as_ref() != Some(&issuance.licence) {
                completed.requeued.push(ticket);
                continue;
            }
            if let Some(app) = self.stored_application(ticket)? {
                before.push(app);
            }
            for old in &issuance.superseded {
                let key = layout::credential(&old.id)
                    .ok_or_else(|| StoreError::Corrupt("a credential id".into()))?;
                batch.insert(key, layout::encode(old));
                if let Some(index) = layout::expiry(old.expires_at, &old.id) {
                    batch.remove(index);
                }
            }
            if let Some(licence) = &issuance.new_licence {
                batch.insert(
                    layout::licence(licence.number.as_str()),
                    layout::encode(licence),
                );
            }
            let key = layout::credential(&issuance.credential.id)
                .ok_or_else(|| StoreError::Corrupt("a credential id".into()))?;
            batch.insert(key, layout::encode(&issuance.credential));
            if let Some(index) =
                layout::expiry(issuance.credential.expires_at, &issuance.credential.id)
            {
                batch.insert(index, &[][..]);
            }
            events.push(notify::issued(
                &issuance.application,
                &issuance.credential,
                issuance.application.updated_at,
            ));
            batch.insert(
                layout::application(ticket),
                layout::encode(&issuance.application),
            );
            issued.push(ticket);
            completed.issued += 1;
        }
        for rejection in step.rejected {
            let ticket = rejection.application.ticket;
            let now = self.stored_licence(rejection.application.licence.as_str())?;
            if now != rejection.licence {
                completed.requeued.push(ticket);
                continue;
            }
            batch.insert(
                layout::application(ticket),
                layout::encode(&rejection.application),
            );
            events.extend(notify::rejected(
                &rejection.application,
                rejection.application.updated_at,
            ));
        }
        let mut served = Vec::new();
        for (lane, sequence, ticket) in &step.served {
            if !completed.requeued.contains(ticket) {
                batch.remove(layout::queue(*lane, *sequence));
                served.push((*lane, *sequence));
            }
        }
        for lane in Lane::ALL {
            let last = served.iter().filter(|(l, _)| *l == lane).map(|(_, s)| *s);
            if let Some(sequence) = last.max() {
                batch.insert(layout::served(lane), layout::encode(&sequence));
            }
        }
        self.pending_mut()
            .extend(before.into_iter().map(|app| (app.ticket, app)));
        let tickets: Vec<Ticket> = step.served.iter().map(|(_, _, t)| *t).collect();
        let keys = match self.apply_events(batch, Vec::new(), &events) {
            Ok(keys) => keys,
            Err(e) => {
                let mut pending = self.pending_mut();
                for ticket in &issued {
                    pending.remove(ticket);
                }
                drop(pending);
                self.release_claimed(&tickets);
                return Err(e);
            }
        };
        drop(guards);
        for (lane, sequence) in served {
            self.lanes.served(lane, sequence);
        }
        self.release_claimed(&tickets);
        Ok((completed, issued, keys))
    }

    fn release_claimed(&self, tickets: &[Ticket]) {
        let mut claimed = self.claimed();
        for ticket in tickets {
            claimed.remove(ticket);
        }
    }

    /// When the oldest application waiting in each lane was made.
    pub(super) fn oldest(&self) -> StoreResult<[Option<UnixTime>; 3]> {
        let mut out = [None; 3];
        for lane in Lane::ALL {
            let first = self.db.scan_prefix(layout::lane_prefix(lane)).next();
            if let Some(entry) = first {
                let (_, v) = entry.map_err(engine_error)?;
                out[lane.index()] = self
                    .stored_application(layout::ticket(&v)?)?
                    .map(|app| app.created_at);
            }
        }
        Ok(out)
    }
}
