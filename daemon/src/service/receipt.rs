//! Signed status receipts: a relying party's live status lookup, answered as a CWT signed
//! with the daemon's status key (`keys::receipt`, `docs/FORMATS.md` section 9), naming the
//! hash of the lookup's audit record. The receipt is signed only after that record is
//! durable, so every receipt points at a record the audit log keeps.

use keys::KeyUse;
use keys::receipt::{self, LiveStatus as ReceiptStatus, Receipt};
use keys::token::CredentialId;

use crate::domain::access::{Caller, Role};
use crate::domain::audit::Purpose;
use crate::domain::issue::LiveStatus;
use crate::service::Service;
use crate::service::lookup::LookupError;
use crate::store::StoreError;

/// Why a receipt was not given.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// The role's lookups are not audited, so there is no audit record to name.
    #[error(
        "the {} role's lookups are not audited: a signed receipt names the lookup's audit record, so only relying parties get one; ask for application/json",
        .0.as_str()
    )]
    NotAudited(Role),
    /// The trust list does not let the status key sign now.
    #[error("signing receipts is held back: {0}")]
    SigningHeld(String),
    /// The lookup failed.
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

impl Service {
    /// A relying party's live status lookup, audited durably, answered as a signed
    /// receipt. Refused before anything is looked up or audited when the role is not
    /// audited or the status key may not sign.
    pub async fn status_receipt(
        &self,
        caller: &Caller,
        id: &str,
        purpose: Option<&Purpose>,
    ) -> Result<Vec<u8>, ReceiptError> {
        if !caller.role.is_relying_party() {
            return Err(ReceiptError::NotAudited(caller.role));
        }
        let allowed = self.may_sign(KeyUse::Status).map_err(|e| e.to_string());
        if !self.trust.signing_allowed("receipts", allowed.clone()) {
            return Err(ReceiptError::SigningHeld(allowed.err().unwrap_or_default()));
        }
        let view = self.live_status(caller, id, purpose).await?;
        let audit_record = view.audit_record.ok_or_else(|| {
            LookupError::Store(StoreError::Corrupt(
                "a relying party's lookup left no audit record".into(),
            ))
        })?;
        let credential_id = hex::decode(&view.credential.id)
            .ok()
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .map(CredentialId)
            .ok_or_else(|| LookupError::Store(StoreError::Corrupt("credential id".into())))?;
        let signed = receipt::sign(
            &Receipt {
                credential_id,
                status: receipt_status(view.status),
                at: view.checked_at,
                client: caller.client.clone(),
                role: caller.role.as_str().to_owned(),
                purpose: purpose.map(|p| p.as_str().to_owned()),
                audit_record,
            },
            &self.trust.keys.status,
        );
        self.metrics.receipts_signed.inc();
        Ok(signed)
    }
}

/// The daemon's status word as the receipt format spells it.
fn receipt_status(status: LiveStatus) -> ReceiptStatus {
    match status {
        LiveStatus::Valid => ReceiptStatus::Valid,
        LiveStatus::Suspended => ReceiptStatus::Suspended,
        LiveStatus::Revoked => ReceiptStatus::Revoked,
        LiveStatus::Superseded => ReceiptStatus::Superseded,
        LiveStatus::Expired => ReceiptStatus::Expired,
    }
}
