//! The sled engine's operator state: API clients and the trust list's sequence and key
//! windows.

use keys::UnixTime;

use super::records::Batch;
use super::{SledStore, engine_error, layout};
use crate::domain::access::ApiClient;
use crate::domain::audit::AuditRecord;
use crate::store::{ClientConflict, StoreError, StoreResult, StoredClient, TrustStamp};

impl SledStore {
    /// Every stored API client.
    pub(super) fn stored_clients(&self) -> StoreResult<Vec<StoredClient>> {
        let mut out = Vec::new();
        for entry in self.db.scan_prefix(layout::CLIENT) {
            let (k, v) = entry.map_err(engine_error)?;
            let key_hash: [u8; 32] = k[layout::CLIENT.len()..]
                .try_into()
                .map_err(|_| StoreError::Corrupt("a client's key".into()))?;
            let client: ApiClient = layout::decode(&v, "client")?;
            out.push(StoredClient { key_hash, client });
        }
        Ok(out)
    }

    /// [`crate::store::Store::add_clients`] up to its commit.
    pub(super) fn add_clients_applied(
        &self,
        clients: Vec<StoredClient>,
        audit: Vec<AuditRecord>,
    ) -> Result<(), ClientConflict> {
        let _serial = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
        let stored = self.stored_clients()?;
        let mut batch = Batch::default();
        for (n, new) in clients.iter().enumerate() {
            let name = &new.client.name;
            let taken = stored.iter().any(|c| &c.client.name == name)
                || clients[..n].iter().any(|c| &c.client.name == name);
            if taken {
                return Err(ClientConflict::Exists(name.clone()));
            }
            batch.insert(layout::client(&new.key_hash), layout::encode(&new.client));
        }
        self.apply(batch, audit)?;
        Ok(())
    }

    /// [`crate::store::Store::update_client`] up to its commit.
    pub(super) fn update_client_applied(
        &self,
        client: ApiClient,
        audit: AuditRecord,
    ) -> Result<(), ClientConflict> {
        let _serial = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut batch = Batch::default();
        let mut found = false;
        for stored in self.stored_clients()? {
            if stored.client.name == client.name {
                batch.insert(layout::client(&stored.key_hash), layout::encode(&client));
                found = true;
            }
        }
        if !found {
            return Err(ClientConflict::Unknown(client.name));
        }
        self.apply(batch, vec![audit])?;
        Ok(())
    }

    /// [`crate::store::Store::revoke_client`] up to its commit.
    pub(super) fn revoke_client_applied(
        &self,
        name: &str,
        audit: AuditRecord,
    ) -> Result<ApiClient, ClientConflict> {
        let _serial = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut batch = Batch::default();
        let mut revoked = None;
        for stored in self.stored_clients()? {
            if stored.client.name == name {
                batch.remove(layout::client(&stored.key_hash));
                revoked = Some(stored.client);
            }
        }
        let revoked = revoked.ok_or_else(|| ClientConflict::Unknown(name.to_owned()))?;
        self.apply(batch, vec![audit])?;
        Ok(revoked)
    }

    /// [`crate::store::Store::next_trust_list`] up to its commit.
    pub(super) fn next_trust_list_applied(
        &self,
        keys: &[String],
        first_use: UnixTime,
    ) -> StoreResult<TrustStamp> {
        let _serial = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
        let sequence_key = layout::meta("trust-sequence");
        let sequence = self
            .get::<u64>(&sequence_key, "trust list sequence")?
            .unwrap_or(0)
            + 1;
        let mut batch = Batch::default();
        batch.insert(sequence_key, layout::encode(&sequence));
        let mut first = Vec::with_capacity(keys.len());
        for key_id in keys {
            let window = layout::key_window(key_id);
            match self.get::<u64>(&window, "key window")? {
                Some(t) => first.push(UnixTime(t)),
                None => {
                    batch.insert(window, layout::encode(&first_use.0));
                    first.push(first_use);
                }
            }
        }
        self.apply(batch, Vec::new())?;
        Ok(TrustStamp {
            sequence,
            first_use: first,
        })
    }
}
