//! The licence registry: reading records, and changing them (create or replace, suspend,
//! revoke, cancel, reinstate, points) with their consequences for credentials, one change
//! at a time (the API) or many (an import).

use keys::licence::{LicenceNumber, Points};
use rand_core::{OsRng, RngCore};

use crate::domain::access::Caller;
use crate::domain::application::Ticket;
use crate::domain::issue::CredentialRecord;
use crate::domain::registry::{LicenceEdit, LicenceRecord, StateAction, TransitionError};
use crate::service::Service;
use crate::store::{Actor, ChangeError, LicenceChange, LicenceChanged, StoreError};

/// Why a registry change was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A state or points change of a licence the registry does not hold.
    #[error("licence not found")]
    NotFound,
    /// The state change is not allowed from the current state.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ChangeError> for RegistryError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::NotFound => RegistryError::NotFound,
            ChangeError::Transition(t) => RegistryError::Transition(t),
            ChangeError::Store(e) => RegistryError::Store(e),
        }
    }
}

impl Service {
    /// A licence record.
    pub async fn licence(
        &self,
        number: &LicenceNumber,
    ) -> Result<Option<LicenceRecord>, StoreError> {
        self.store.licence(number).await
    }

    /// Every credential of a licence, newest first.
    pub async fn licence_credentials(
        &self,
        number: &LicenceNumber,
    ) -> Result<Vec<CredentialRecord>, StoreError> {
        self.store.credentials_of(number).await
    }

    /// Creates or replaces a record.
    pub async fn put_licence(
        &self,
        caller: &Caller,
        record: LicenceRecord,
    ) -> Result<LicenceChanged, RegistryError> {
        let number = record.number.clone();
        self.change_licence(caller, number, LicenceEdit::Put(record))
            .await
    }

    /// Suspends, revokes, cancels or reinstates.
    pub async fn change_state(
        &self,
        caller: &Caller,
        number: &LicenceNumber,
        action: StateAction,
    ) -> Result<LicenceChanged, RegistryError> {
        self.change_licence(caller, number.clone(), LicenceEdit::State(action))
            .await
    }

    /// Sets the points.
    pub async fn set_points(
        &self,
        caller: &Caller,
        number: &LicenceNumber,
        points: Points,
    ) -> Result<LicenceChanged, RegistryError> {
        self.change_licence(caller, number.clone(), LicenceEdit::Points(points))
            .await
    }

    async fn change_licence(
        &self,
        caller: &Caller,
        number: LicenceNumber,
        edit: LicenceEdit,
    ) -> Result<LicenceChanged, RegistryError> {
        let changed = self
            .store
            .change_licence(self.licence_change(caller, number, edit))
            .await?;
        self.after_change(&changed);
        Ok(changed)
    }

    /// Imports records, durable together when this returns: one outcome per record.
    pub async fn import_licences(
        &self,
        caller: &Caller,
        records: Vec<LicenceRecord>,
    ) -> Result<Vec<Result<LicenceChanged, RegistryError>>, StoreError> {
        let changes = records
            .into_iter()
            .map(|r| self.licence_change(caller, r.number.clone(), LicenceEdit::Put(r)))
            .collect();
        let outcomes = self.store.change_licences(changes).await?;
        Ok(outcomes
            .into_iter()
            .map(|outcome| {
                let changed = outcome?;
                self.after_change(&changed);
                Ok(changed)
            })
            .collect())
    }

    fn licence_change(
        &self,
        caller: &Caller,
        number: LicenceNumber,
        edit: LicenceEdit,
    ) -> LicenceChange {
        let mut ticket = [0u8; 16];
        OsRng.fill_bytes(&mut ticket);
        LicenceChange {
            number,
            edit,
            actor: Actor {
                caller: caller.clone(),
                at: self.now(),
            },
            reissue_ticket: Ticket(ticket),
        }
    }

    /// What follows a change once it is durable: status list values, and the drain woken
    /// for a re-issue.
    fn after_change(&self, changed: &LicenceChanged) {
        self.set_list_values(&changed.list_updates);
        if changed.reissue.is_some() {
            self.signer.wake();
        }
    }
}
