//! The PostgreSQL engine's operator state: throttle settings, API clients (names unique
//! by a unique key), and the trust list's sequence and key windows.

use keys::UnixTime;
use serde::de::DeserializeOwned;

use super::{Abort, PgStore, audit, col, decode, encode, execute, query, record, transaction};
use crate::domain::access::ApiClient;
use crate::domain::audit::AuditRecord;
use crate::domain::throttle::settings::ThrottleSettings;
use crate::store::{ClientConflict, StoreError, StoreResult, StoredClient, TrustStamp};

impl PgStore {
    /// A meta value.
    pub(super) async fn meta_value<T: DeserializeOwned>(
        &self,
        name: &str,
        what: &str,
    ) -> StoreResult<Option<T>> {
        let rows = self
            .read("SELECT value FROM meta WHERE name = $1", &[&name])
            .await?;
        rows.first().map(|r| record(r, 0, what)).transpose()
    }

    /// [`crate::store::Store::change_throttle`].
    pub(super) async fn change_throttle_tx(
        &self,
        settings: ThrottleSettings,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let value = encode(&settings);
        transaction!(self, StoreError, |tx| {
            execute(
                &tx,
                "INSERT INTO meta (name, value) VALUES ('throttle', $1) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                &[&value],
            )
            .await?;
            // Every node listening hears of it once this commits (see `listen`).
            execute(&tx, "SELECT pg_notify('edl_throttle', '')", &[]).await?;
            audit::append(&tx, vec![audit.clone()]).await?;
            Ok(())
        })
    }

    /// Every stored API client.
    pub(super) async fn stored_clients(&self) -> StoreResult<Vec<StoredClient>> {
        let rows = self
            .read(
                "SELECT key_hash, record FROM clients ORDER BY key_hash",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let hash: Vec<u8> = col(r, 0)?;
                let key_hash = <[u8; 32]>::try_from(hash.as_slice())
                    .map_err(|_| StoreError::Corrupt("a client's key".into()))?;
                Ok(StoredClient {
                    key_hash,
                    client: record(r, 1, "client")?,
                })
            })
            .collect()
    }

    /// [`crate::store::Store::add_clients`].
    pub(super) async fn add_clients_tx(
        &self,
        clients: Vec<StoredClient>,
        audit: Vec<AuditRecord>,
    ) -> Result<(), ClientConflict> {
        for (n, new) in clients.iter().enumerate() {
            if clients[..n]
                .iter()
                .any(|c| c.client.name == new.client.name)
            {
                return Err(ClientConflict::Exists(new.client.name.clone()));
            }
        }
        let names: Vec<&str> = clients.iter().map(|c| c.client.name.as_str()).collect();
        let hashes: Vec<Vec<u8>> = clients.iter().map(|c| c.key_hash.to_vec()).collect();
        let records: Vec<serde_json::Value> = clients.iter().map(|c| encode(&c.client)).collect();
        transaction!(self, ClientConflict, |tx| {
            let taken = query(
                &tx,
                "SELECT name FROM clients WHERE name = ANY($1) LIMIT 1",
                &[&names],
            )
            .await?;
            if let Some(row) = taken.first() {
                let name: String = row.try_get(0)?;
                return Err(Abort::Refused(ClientConflict::Exists(name)));
            }
            execute(
                &tx,
                "INSERT INTO clients (key_hash, name, record) \
                 SELECT * FROM unnest($1::bytea[], $2::text[], $3::jsonb[])",
                &[&hashes, &names, &records],
            )
            .await?;
            audit::append(&tx, audit.clone()).await?;
            Ok(())
        })
    }

    /// [`crate::store::Store::update_client`].
    pub(super) async fn update_client_tx(
        &self,
        client: ApiClient,
        audit: AuditRecord,
    ) -> Result<(), ClientConflict> {
        let value = encode(&client);
        transaction!(self, ClientConflict, |tx| {
            let n = execute(
                &tx,
                "UPDATE clients SET record = $2 WHERE name = $1",
                &[&client.name, &value],
            )
            .await?;
            if n == 0 {
                return Err(Abort::Refused(ClientConflict::Unknown(client.name.clone())));
            }
            audit::append(&tx, vec![audit.clone()]).await?;
            Ok(())
        })
    }

    /// [`crate::store::Store::revoke_client`].
    pub(super) async fn revoke_client_tx(
        &self,
        name: &str,
        audit: AuditRecord,
    ) -> Result<ApiClient, ClientConflict> {
        transaction!(self, ClientConflict, |tx| {
            let rows = query(
                &tx,
                "DELETE FROM clients WHERE name = $1 RETURNING record",
                &[&name],
            )
            .await?;
            let Some(row) = rows.first() else {
                return Err(Abort::Refused(ClientConflict::Unknown(name.to_owned())));
            };
            let revoked: ApiClient = record(row, 0, "client").map_err(Abort::store)?;
            audit::append(&tx, vec![audit.clone()]).await?;
            Ok(revoked)
        })
    }

    /// [`crate::store::Store::next_trust_list`].
    pub(super) async fn next_trust_list_tx(
        &self,
        keys: &[String],
        first_use: UnixTime,
    ) -> StoreResult<TrustStamp> {
        let names: Vec<String> = keys.iter().map(|k| format!("key-window/{k}")).collect();
        let first = serde_json::Value::from(first_use.0);
        transaction!(self, StoreError, |tx| {
            let (sequence, _) = tokio::join!(
                async {
                    query(
                        &tx,
                        "INSERT INTO meta (name, value) VALUES ('trust-sequence', '1') \
                     ON CONFLICT (name) DO UPDATE SET value = to_jsonb(meta.value::bigint + 1) \
                     RETURNING value",
                        &[],
                    )
                    .await
                },
                async {
                    execute(
                        &tx,
                        "INSERT INTO meta (name, value) SELECT n, $2 FROM unnest($1::text[]) AS n \
                     ON CONFLICT (name) DO NOTHING",
                        &[&names, &first],
                    )
                    .await
                },
            );
            let sequence: u64 = match sequence?.first() {
                Some(r) => record(r, 0, "trust list sequence").map_err(Abort::store)?,
                None => 1,
            };
            let rows = query(
                &tx,
                "SELECT name, value FROM meta WHERE name = ANY($1)",
                &[&names],
            )
            .await?;
            let mut firsts = std::collections::HashMap::new();
            for row in &rows {
                let name: String = row.try_get(0)?;
                let value: serde_json::Value = row.try_get(1)?;
                let t: u64 = decode(value, "key window").map_err(Abort::store)?;
                firsts.insert(name, UnixTime(t));
            }
            let first_use = names
                .iter()
                .map(|n| firsts.get(n).copied().unwrap_or(first_use))
                .collect();
            Ok(TrustStamp {
                sequence,
                first_use,
            })
        })
    }

    /// [`crate::store::Store::serve_trust_list`].
    pub(super) async fn serve_trust_list_tx(
        &self,
        sequence: Option<u64>,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        transaction!(self, StoreError, |tx| {
            if let Some(sequence) = sequence {
                execute(
                    &tx,
                    "INSERT INTO meta (name, value) VALUES ('trust-sequence', $1) \
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    &[&serde_json::Value::from(sequence)],
                )
                .await?;
            }
            audit::append(&tx, vec![audit.clone()]).await?;
            Ok(())
        })
    }
}
