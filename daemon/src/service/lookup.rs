//! Live status: a credential's status now, from its record and its licence. A relying
//! party's lookup is written to the lookup audit log, durably, before it is answered; a
//! gateway reading a licence's current credential is audited the same way.

use std::sync::Arc;

use keys::UnixTime;
use keys::licence::LicenceNumber;

use crate::domain::access::{Caller, Role, purpose_required};
use crate::domain::audit::Purpose;
use crate::domain::issue::{self, CredentialRecord, LiveStatus};
use crate::domain::registry::LicenceRecord;
use crate::service::Service;
use crate::store::StoreError;
use crate::store::lookups::RecordHash;

/// Why a lookup was refused.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The role must declare why it looks the credential up.
    #[error(
        "the {} role must declare the purpose of a lookup: send the X-Edl-Purpose header or a purpose query parameter",
        .0.as_str()
    )]
    PurposeRequired(Role),
    /// No such credential (or not yet durable).
    #[error("credential not found")]
    NotFound,
    /// No such licence.
    #[error("licence not found")]
    UnknownLicence,
    /// The store or the audit log failed: nothing is answered unaudited.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The answer to a live status lookup.
#[derive(Clone, Debug)]
pub struct StatusView {
    /// The credential.
    pub credential: Arc<CredentialRecord>,
    /// Its licence.
    pub licence: Arc<LicenceRecord>,
    /// Its status.
    pub status: LiveStatus,
    /// When it was checked.
    pub checked_at: UnixTime,
    /// The `hash` of the lookup's audit record, for a relying party's lookup.
    pub audit_record: Option<RecordHash>,
}

/// The audit action of a gateway reading a licence's current credential.
pub(crate) const CREDENTIAL_READ_ACTION: &str = "credential.read";

impl Service {
    /// Live status; relying-party lookups are audited durably, with the purpose the caller
    /// declared, before the answer. Roles that must declare a purpose are refused without
    /// one, before anything is looked up.
    pub async fn live_status(
        &self,
        caller: &Caller,
        id: &str,
        purpose: Option<&Purpose>,
    ) -> Result<StatusView, LookupError> {
        if purpose.is_none() && purpose_required(caller.role) {
            return Err(LookupError::PurposeRequired(caller.role));
        }
        let started = self.clock.monotonic();
        let (credential, licence) = self.store.lookup(id).await?.ok_or(LookupError::NotFound)?;
        let now = self.now();
        let status = issue::live_status(&credential, &licence, now);
        let mut audit_record = None;
        if caller.role.is_relying_party() {
            let audit_started = self.clock.monotonic();
            let hash = self
                .lookups
                .record(
                    caller,
                    now,
                    licence.number.as_str(),
                    &credential.id,
                    crate::domain::audit::LOOKUP_ACTION,
                    purpose,
                )
                .await?;
            audit_record = Some(hash);
            let waited = self.clock.monotonic().saturating_sub(audit_started);
            self.metrics
                .lookup_audit_wait_seconds
                .observe(waited.as_secs_f64());
        }
        let took = self.clock.monotonic().saturating_sub(started);
        self.metrics.lookup_seconds.observe(took.as_secs_f64());
        Ok(StatusView {
            credential,
            licence,
            status,
            checked_at: now,
            audit_record,
        })
    }

    /// A licence's current credential (the newest not superseded), whoever applied for
    /// it: the national app shows credentials issued at an office. Audited like a lookup
    /// before it is answered.
    pub async fn current_credential(
        &self,
        caller: &Caller,
        number: &LicenceNumber,
    ) -> Result<CredentialRecord, LookupError> {
        let credential = self
            .store
            .credentials_of(number)
            .await?
            .into_iter()
            .find(|c| !c.superseded)
            .ok_or(LookupError::NotFound)?;
        self.lookups
            .record(
                caller,
                self.now(),
                number.as_str(),
                &credential.id,
                CREDENTIAL_READ_ACTION,
                None,
            )
            .await?;
        Ok(credential)
    }
}
