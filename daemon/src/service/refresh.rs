//! Refresh: a credential re-signed with a new expiry, same id and status index, for the
//! client that applied for it (or its delegate). Signed outside any lock, then stored only
//! if neither the credential nor its licence changed meanwhile (else read and sign again).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keys::KeyUse;
use keys::token::StatusReference;

use crate::domain::access::Caller;
use crate::domain::audit::AuditRecord;
use crate::domain::issue::{self, CredentialRecord, IssueError, IssueInput};
use crate::service::Service;
use crate::store::{Refresh, RefreshConflict, StoreError};

/// How often a refresh reads and signs again when the credential changed meanwhile.
const ATTEMPTS: usize = 3;

/// Why a credential was not refreshed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// No such credential, or not the caller's.
    #[error("credential not found")]
    NotFound,
    /// A newer credential replaced it.
    #[error("the credential is superseded: use the newer one")]
    Superseded,
    /// The licence cannot be issued a credential now.
    #[error("cannot refresh: {0}")]
    NotIssuable(#[from] IssueError),
    /// The trust list does not let the credential key sign now.
    #[error("signing is held back: {0}")]
    SigningHeld(String),
    /// The credential kept changing while it was being refreshed.
    #[error("the credential changed while it was being refreshed")]
    Contended,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Service {
    /// Re-signs a credential with a new expiry; same id, same status index. Durable and
    /// audited when this returns.
    pub async fn refresh(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<CredentialRecord, RefreshError> {
        let allowed = self.may_sign(KeyUse::Credential).map_err(|e| e.to_string());
        if !self.trust.signing_allowed("credentials", allowed.clone()) {
            return Err(RefreshError::SigningHeld(allowed.err().unwrap_or_default()));
        }
        for _ in 0..ATTEMPTS {
            let (credential, licence) =
                self.store.lookup(id).await?.ok_or(RefreshError::NotFound)?;
            let Some(application) = self
                .store
                .application(credential.ticket)
                .await?
                .filter(|a| self.clients.may_act_for(caller, &a.client))
            else {
                return Err(RefreshError::NotFound);
            };
            if credential.superseded {
                return Err(RefreshError::Superseded);
            }
            let credential_id: [u8; 16] = hex::decode(&credential.id)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| StoreError::Corrupt("credential id".into()))?;
            let now = self.now();
            let claims = issue::claims(&IssueInput {
                licence: &licence,
                photo: Some(credential.photo),
                issuer: &self.settings.issuer,
                credential_id,
                status: StatusReference {
                    index: u64::from(credential.index),
                    uri: self.status_lists.uri(credential.list),
                },
                now,
                lifetime: self.settings.credential_lifetime,
            })?;
            // A refresh keeps the device key the credential is bound to.
            let token = match application.bound_to().map_err(StoreError::from)? {
                Some(holder) => {
                    keys::token::sign_bound(&claims, &holder, &self.trust.keys.credential)
                }
                None => keys::token::sign(&claims, &self.trust.keys.credential),
            };
            let mut refreshed = CredentialRecord::clone(&credential);
            refreshed.issued_at = now;
            refreshed.expires_at = claims.expires_at;
            refreshed.token = URL_SAFE_NO_PAD.encode(&token);
            let audit = AuditRecord::change(
                caller,
                now,
                "credential.refresh",
                Some(credential.licence.as_str()),
                Some(&credential.id),
            );
            let refresh = Refresh {
                expected: (
                    Arc::unwrap_or_clone(credential),
                    Arc::unwrap_or_clone(licence),
                ),
                refreshed: refreshed.clone(),
                audit,
            };
            match self.store.refresh_credential(refresh).await {
                Ok(()) => {
                    self.metrics.credentials_refreshed.inc();
                    return Ok(refreshed);
                }
                Err(RefreshConflict::Changed) => continue,
                Err(RefreshConflict::Store(e)) => return Err(e.into()),
            }
        }
        Err(RefreshError::Contended)
    }
}
