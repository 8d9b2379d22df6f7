//! The audit hook: every registry and review change and every relying-party status lookup
//! is recorded here before the answer is sent. Records are appended under `U/` in the
//! store, in the same durable commit as the change they describe, or (for lookups) ahead
//! of the answer.

use std::sync::atomic::{AtomicU64, Ordering};

use keys::UnixTime;
use serde::Serialize;

use crate::auth::Caller;
use crate::store::{Batch, Store, StoreError, key, prefix};

/// One audited action.
#[derive(Clone, Debug, Serialize)]
pub struct AuditRecord<'a> {
    /// When.
    pub at: UnixTime,
    /// Which client.
    pub client: &'a str,
    /// Its role.
    pub role: &'a str,
    /// What, e.g. `licence.revoke`, `status.lookup`.
    pub action: &'a str,
    /// Which licence, when there is one.
    pub licence: Option<&'a str>,
    /// Details (e.g. the credential id, the reason).
    pub detail: Option<&'a str>,
}

/// Appends audit records.
pub struct Audit {
    next: AtomicU64,
}

impl Audit {
    /// Continues after the last stored record.
    pub fn restore(store: &Store) -> Result<Audit, StoreError> {
        let next = match store.last_key(prefix::AUDIT)? {
            Some(k) => k
                .get(prefix::AUDIT.len()..)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(0, |b| u64::from_be_bytes(b) + 1),
            None => 0,
        };
        Ok(Audit {
            next: AtomicU64::new(next),
        })
    }

    /// Adds a record to `batch`, to be committed with the change it describes.
    pub fn record(
        &self,
        batch: &mut Batch,
        caller: &Caller,
        at: UnixTime,
        action: &str,
        licence: Option<&str>,
        detail: Option<&str>,
    ) {
        let sequence = self.next.fetch_add(1, Ordering::SeqCst);
        let record = AuditRecord {
            at,
            client: &caller.client,
            role: caller.role.as_str(),
            action,
            licence,
            detail,
        };
        tracing::info!(target: "audit", sequence, client = %caller.client, role = caller.role.as_str(), action, "audit");
        batch.put(key(prefix::AUDIT, &[&sequence.to_be_bytes()]), &record);
    }
}
