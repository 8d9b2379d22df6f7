//! The sled engine's registry and credentials: licence changes with their consequences, a
//! licence's credentials (the chain of its applications), refreshes, and the status list
//! indices restored from the credentials.

use std::collections::{HashMap, HashSet};

use keys::licence::{LicenceNumber, LicenceState};

use super::records::Batch;
use super::{SledStore, engine_error, layout};
use crate::domain::application::{Application, ApplicationState, Ticket};
use crate::domain::audit::AuditRecord;
use crate::domain::issue::{self, CredentialRecord, StatusEntry};
use crate::domain::notify;
use crate::domain::queue::Lane;
use crate::domain::registry::{self, EditError, LicenceRecord};
use crate::domain::status_index::Allocator;
use crate::store::{
    ChangeError, DeliveryKey, LicenceChange, LicenceChanged, Refresh, RefreshConflict, StoreError,
    StoreResult,
};

/// The status list indices every stored credential holds, and their values.
///
/// Every allocated index belongs to a stored credential: an index is allocated in memory
/// and written with its credential in one batch, and a credential is never shown before
/// that batch is durable. So the credentials alone restore every index taken, and an index
/// lost in a crash was never seen outside.
pub(super) fn restore_indices(db: &sled::Db) -> StoreResult<(Allocator, Vec<StatusEntry>)> {
    /// What a status list needs of a credential record: the token and the rest are
    /// skipped, not copied.
    #[derive(serde::Deserialize)]
    struct ListEntry {
        licence: LicenceNumber,
        list: u32,
        index: u32,
        superseded: bool,
    }
    let mut states: HashMap<String, LicenceState> = HashMap::new();
    let mut entries = Vec::new();
    for entry in db.scan_prefix(layout::CREDENTIAL) {
        let (_, v) = entry.map_err(engine_error)?;
        let c: ListEntry = layout::decode(&v, "credential")?;
        let state = match states.get(c.licence.as_str()) {
            Some(s) => *s,
            None => {
                let s = match db.get(layout::licence(c.licence.as_str())) {
                    Ok(Some(bytes)) => layout::decode::<LicenceRecord>(&bytes, "licence")?.state,
                    Ok(None) => LicenceState::Revoked,
                    Err(e) => return Err(engine_error(e)),
                };
                states.insert(c.licence.as_str().to_owned(), s);
                s
            }
        };
        entries.push(StatusEntry {
            list: c.list,
            index: c.index,
            value: issue::list_status(c.superseded, state),
        });
    }
    let allocator = Allocator::restore(entries.iter().map(|e| (e.list, e.index)));
    Ok((allocator, entries))
}

impl SledStore {
    /// The credentials issued to the applications on the chain from `latest` back (see
    /// `Application::previous`), newest first, as applied.
    pub(super) fn credentials_from(
        &self,
        latest: Option<Ticket>,
    ) -> StoreResult<Vec<CredentialRecord>> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut next = latest;
        while let Some(ticket) = next {
            if !seen.insert(ticket) {
                return Err(StoreError::Corrupt(format!(
                    "the application chain loops at {ticket}"
                )));
            }
            let Some(app) = self.stored_application(ticket)? else {
                break;
            };
            if let ApplicationState::Issued { credential_id } = &app.state
                && let Some(c) = self.stored_credential(credential_id)?
            {
                out.push(c);
            }
            next = app.previous;
        }
        Ok(out)
    }

    /// [`crate::store::Store::change_licence`] up to its commit. Holds the licence's
    /// stripe.
    pub(super) fn change_licence_applied(
        &self,
        change: LicenceChange,
    ) -> Result<(LicenceChanged, Vec<DeliveryKey>), ChangeError> {
        let number = change.number;
        let _stripe = self.stripe(&number);
        let old = self.stored_licence(number.as_str())?;
        let (new, action) = registry::edit(old.as_ref(), &change.edit).map_err(|e| match e {
            EditError::NotFound => ChangeError::NotFound,
            EditError::Transition(t) => ChangeError::Transition(t),
        })?;
        let at = change.actor.at;
        let mut batch = Batch::default();
        batch.insert(layout::licence(number.as_str()), layout::encode(&new));
        let audit = AuditRecord::change(
            &change.actor.caller,
            at,
            action,
            Some(number.as_str()),
            None,
        );
        let mut reissue = None;
        let mut list_updates = Vec::new();
        let latest = self.latest(number.as_str())?;
        let mut credentials = self.credentials_from(latest)?;
        let mut events = Vec::new();
        if let Some(old) = &old {
            let latest_app = match latest {
                Some(ticket) => self.stored_application(ticket)?,
                None => None,
            };
            let open = latest_app.as_ref().is_some_and(|a| a.state.is_open());
            let before = credentials.clone();
            let consequences = issue::consequences(Some(old), &new, credentials.clone(), open);
            for c in &consequences.superseded {
                let key = layout::credential(&c.id)
                    .ok_or_else(|| StoreError::Corrupt("a credential id".into()))?;
                batch.insert(key, layout::encode(c));
                if let Some(shown) = credentials.iter_mut().find(|shown| shown.id == c.id) {
                    shown.superseded = true;
                }
            }
            list_updates = consequences.list_updates;
            if consequences.reissue {
                let ticket = change.reissue_ticket;
                let lane = Lane::Reissue;
                let sequence = self.lanes.next_sequence(lane);
                let application = Application::reissue(
                    ticket,
                    number.clone(),
                    latest_app.as_ref(),
                    &change.actor.caller.client,
                    sequence,
                    at,
                );
                batch.insert(layout::application(ticket), layout::encode(&application));
                batch.insert(layout::open(number.as_str()), &ticket.0[..]);
                batch.insert(layout::queue(lane, sequence), &ticket.0[..]);
                reissue = Some(ticket);
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
        let keys = self.apply_events(batch, vec![audit], &events)?;
        // Issuances not yet durable are not shown.
        let pending = self.pending();
        credentials.retain(|c| !pending.contains_key(&c.ticket));
        drop(pending);
        Ok((
            LicenceChanged {
                record: new,
                created: old.is_none(),
                reissue,
                list_updates,
                credentials,
            },
            keys,
        ))
    }

    /// [`crate::store::Store::refresh_credential`] up to its commit.
    pub(super) fn refresh_applied(&self, refresh: Refresh) -> Result<(), RefreshConflict> {
        let (expected, licence) = &refresh.expected;
        let _stripe = self.stripe(&expected.licence);
        let credential = self.stored_credential(&expected.id)?;
        let now_licence = self.stored_licence(expected.licence.as_str())?;
        if credential.as_ref() != Some(expected) || now_licence.as_ref() != Some(licence) {
            return Err(RefreshConflict::Changed);
        }
        let key = layout::credential(&refresh.refreshed.id)
            .ok_or_else(|| StoreError::Corrupt("a credential id".into()))?;
        let mut batch = Batch::default();
        batch.insert(key, layout::encode(&refresh.refreshed));
        // A new `exp` moves the credential in the expiry index (unless already noted).
        if refresh.refreshed.expires_at != expected.expires_at
            && let (Some(old), Some(new), Some(noted)) = (
                layout::expiry(expected.expires_at, &expected.id),
                layout::expiry(refresh.refreshed.expires_at, &expected.id),
                layout::expiry_noted(&expected.id),
            )
        {
            batch.remove(old);
            if !self.db.contains_key(noted).map_err(engine_error)? {
                batch.insert(new, &[][..]);
            }
        }
        self.apply(batch, vec![refresh.audit])?;
        Ok(())
    }
}
