//! API clients: adding one (its key shown once, only its hash kept), revoking one (refused
//! at once), naming delegates, and the development clients a first start creates, with the
//! verifier configuration that uses the officer's.

use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keys::UnixTime;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use crate::domain::access::{ApiClient, Caller, ClientError, Role, valid_client_name};
use crate::domain::audit::AuditRecord;
use crate::service::Service;
use crate::store::{ClientConflict, StoreError, StoredClient};

/// API clients by key hash: the store's clients, kept in memory for authenticating every
/// request without a store read.
#[derive(Default)]
pub struct ApiClients {
    by_hash: RwLock<HashMap<[u8; 32], ApiClient>>,
}

impl ApiClients {
    /// The clients the store holds.
    pub fn new(stored: Vec<StoredClient>) -> ApiClients {
        ApiClients {
            by_hash: RwLock::new(stored.into_iter().map(|s| (s.key_hash, s.client)).collect()),
        }
    }

    /// The caller a key belongs to.
    pub fn authenticate(&self, api_key: &str) -> Option<Caller> {
        let hash: [u8; 32] = Sha256::digest(api_key.as_bytes()).into();
        let map = self.by_hash.read().unwrap_or_else(|p| p.into_inner());
        map.get(&hash).map(|c| Caller {
            client: c.name.clone(),
            role: c.role,
        })
    }

    /// Whether any client exists.
    pub fn is_empty(&self) -> bool {
        self.by_hash
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// Every client, by name.
    pub fn list(&self) -> Vec<ApiClient> {
        let mut clients: Vec<ApiClient> = self
            .by_hash
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        clients.sort_by(|a, b| a.name.cmp(&b.name));
        clients
    }

    /// A new client named `name` and its new key (to be shown once; only its hash is
    /// stored). Names are unique; the store checks that again when it adds the client.
    pub fn prepare(
        &self,
        name: &str,
        role: Role,
        at: UnixTime,
    ) -> Result<(StoredClient, String), ClientError> {
        if !valid_client_name(name) {
            return Err(ClientError::BadName);
        }
        let map = self.by_hash.read().unwrap_or_else(|p| p.into_inner());
        if map.values().any(|c| c.name == name) {
            return Err(ClientError::Exists(name.to_owned()));
        }
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        let api_key = format!("edl_{}_{}", role.as_str(), URL_SAFE_NO_PAD.encode(secret));
        zeroize::Zeroize::zeroize(&mut secret);
        let key_hash: [u8; 32] = Sha256::digest(api_key.as_bytes()).into();
        let client = ApiClient {
            name: name.to_owned(),
            role,
            created_at: Some(at),
            delegates: Vec::new(),
        };
        Ok((StoredClient { key_hash, client }, api_key))
    }

    /// Whether `caller` may act for `owner`, the client that made an application: it is
    /// that client, or one the operator named as its delegate.
    pub fn may_act_for(&self, caller: &Caller, owner: &str) -> bool {
        caller.client == owner
            || self
                .by_hash
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .any(|c| c.name == owner && c.delegates.contains(&caller.client))
    }

    /// A client by name.
    pub fn get(&self, name: &str) -> Option<ApiClient> {
        self.by_hash
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .find(|c| c.name == name)
            .cloned()
    }

    /// Replaces a stored client's record (its delegates changed).
    pub fn update(&self, client: ApiClient) {
        let mut map = self.by_hash.write().unwrap_or_else(|p| p.into_inner());
        for stored in map.values_mut().filter(|c| c.name == client.name) {
            *stored = client.clone();
        }
    }

    /// Accepts a client's key from now on (once it is stored).
    pub fn insert(&self, stored: StoredClient) {
        self.by_hash
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(stored.key_hash, stored.client);
    }

    /// Refuses a client's key from now on (before the store forgets it, so a revocation
    /// never waits); returns the client.
    pub fn remove(&self, name: &str) -> Option<ApiClient> {
        let mut map = self.by_hash.write().unwrap_or_else(|p| p.into_inner());
        let hashes: Vec<[u8; 32]> = map
            .iter()
            .filter(|(_, c)| c.name == name)
            .map(|(h, _)| *h)
            .collect();
        let mut removed = None;
        for hash in hashes {
            removed = map.remove(&hash);
        }
        removed
    }
}

/// The development API keys file: one line per role, `<role> <key>`.
pub(crate) fn dev_clients_text(keys: &[(Role, String)]) -> String {
    let mut text = String::from(
        "# Development API keys, one per role: send as `Authorization: Bearer <key>`.\n",
    );
    for (role, api_key) in keys {
        text.push_str(&format!("{} {}\n", role.as_str(), api_key));
    }
    text
}

/// Reads `<data>/dev-clients.txt` into (role, key) pairs.
pub fn read_dev_clients(path: &Path) -> std::io::Result<Vec<(String, String)>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .map(|(r, k)| (r.to_owned(), k.to_owned()))
        .collect())
}

/// Why a client change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClientsError {
    /// The name is taken, unknown, or not a name.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ClientConflict> for ClientsError {
    fn from(e: ClientConflict) -> Self {
        match e {
            ClientConflict::Exists(name) => ClientsError::Client(ClientError::Exists(name)),
            ClientConflict::Unknown(name) => ClientsError::Client(ClientError::Unknown(name)),
            ClientConflict::Store(e) => ClientsError::Store(e),
        }
    }
}

/// The officer key file the development verifier configuration names.
pub(crate) const DEV_VERIFY_KEY: &str = "verify-officer.key";

impl Service {
    /// Adds an API client; its key, returned once, works as soon as this returns (it is
    /// durable and audited by then).
    pub async fn add_client(
        &self,
        caller: &Caller,
        name: &str,
        role: Role,
    ) -> Result<(ApiClient, String), ClientsError> {
        let now = self.now();
        let (stored, api_key) = self.clients.prepare(name, role, now)?;
        let detail = format!("{name} {}", role.as_str());
        let audit = AuditRecord::change(caller, now, "client.add", None, Some(&detail));
        self.store
            .add_clients(vec![stored.clone()], vec![audit])
            .await?;
        let client = stored.client.clone();
        self.clients.insert(stored);
        tracing::info!(client = %caller.client, name, role = role.as_str(), "API client added");
        Ok((client, api_key))
    }

    /// Revokes an API client's key: refused at once, durable and audited when this
    /// returns.
    pub async fn revoke_client(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<ApiClient, ClientsError> {
        let cached = self
            .clients
            .remove(name)
            .ok_or_else(|| ClientError::Unknown(name.to_owned()))?;
        let detail = format!("{name} {}", cached.role.as_str());
        let audit = AuditRecord::change(caller, self.now(), "client.revoke", None, Some(&detail));
        let client = self.store.revoke_client(name, audit).await?;
        tracing::info!(client = %caller.client, name, "API client revoked");
        Ok(client)
    }

    /// Names the clients that may read `name`'s applications (replacing the list).
    pub async fn set_delegates(
        &self,
        caller: &Caller,
        name: &str,
        delegates: Vec<String>,
    ) -> Result<ApiClient, ClientsError> {
        let mut client = self
            .clients
            .get(name)
            .ok_or_else(|| ClientError::Unknown(name.to_owned()))?;
        // A delegate is any client id: an API client's name, or `cert:<name>` for a client
        // certificate (those are not stored, so they cannot be checked against a list).
        if delegates
            .iter()
            .any(|d| d.is_empty() || d.len() > 128 || d.chars().any(char::is_control))
        {
            return Err(ClientError::BadName.into());
        }
        client.delegates = delegates;
        let detail = format!("{name} delegates: {}", client.delegates.join(" "));
        let audit =
            AuditRecord::change(caller, self.now(), "client.delegates", None, Some(&detail));
        self.store.update_client(client.clone(), audit).await?;
        self.clients.update(client.clone());
        Ok(client)
    }

    /// Creates one development client per role, writes their keys to
    /// `<data>/dev-clients.txt` (mode 0600), and writes `<data>/verify.toml`, a verifier
    /// configuration that uses the officer's key.
    pub(crate) async fn create_dev_clients(&self, data_dir: &Path) -> anyhow::Result<()> {
        let at = self.now();
        let daemon = Caller {
            client: "edld".into(),
            role: Role::Operator,
        };
        let mut stored = Vec::new();
        let mut keys = Vec::new();
        let mut audit = Vec::new();
        for role in Role::ALL {
            let name = format!("dev-{}", role.as_str());
            let (client, key) = self.clients.prepare(&name, role, at)?;
            let detail = format!("{name} {}", role.as_str());
            audit.push(AuditRecord::change(
                &daemon,
                at,
                "client.add",
                None,
                Some(&detail),
            ));
            stored.push(client);
            keys.push((role, key));
        }
        let path = data_dir.join("dev-clients.txt");
        let officer = keys
            .iter()
            .find(|(role, _)| *role == Role::Officer)
            .map(|(_, k)| k.clone())
            .unwrap_or_default();
        let text = dev_clients_text(&keys);
        let (path2, dir) = (path.clone(), data_dir.to_owned());
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            crate::store::files::write_durably(&path2, text.as_bytes(), 0o600)?;
            crate::store::files::write_durably(
                &dir.join(DEV_VERIFY_KEY),
                format!("{officer}\n").as_bytes(),
                0o600,
            )
        })
        .await??;
        self.store.add_clients(stored.clone(), audit).await?;
        for client in stored {
            self.clients.insert(client);
        }
        tracing::info!(path = %path.display(), "created one development API key per role");
        Ok(())
    }
}

/// Writes `<data>/verify.toml`, the development verifier's configuration: this daemon's
/// public listener, its development root key, the officer's key and a cache beside it, so
/// that `edl-verify --config <data>/verify.toml sync` works as written. Rewritten at each
/// start, since the listener's address may change.
pub(crate) fn write_dev_verify_config(data_dir: &Path, base_url: &str) -> std::io::Result<()> {
    let text = format!(
        "# The development verifier's configuration, written by edld at each start.\n\
         # Use it as: edl-verify --config {} sync\n\
         server = {}\n\
         roots = [\"keys/root.pub.pem\"]\n\
         api_key_file = \"{DEV_VERIFY_KEY}\"\n\
         cache_dir = \"verify-cache\"\n\
         purpose = \"development check\"\n",
        data_dir.join("verify.toml").display(),
        toml::Value::String(base_url.to_owned()),
    );
    crate::store::files::write_durably(&data_dir.join("verify.toml"), text.as_bytes(), 0o644)
}

#[cfg(test)]
mod tests;
