//! Who is calling and what they may do: roles, the `Caller` extractor (bearer API keys,
//! stored only as SHA-256 hashes), the role-by-endpoint table and the role-by-field table
//! for live status.
//!
//! Client certificates (mTLS) slot in as a second authenticator in `Caller`'s extractor;
//! both end in the same `Caller { client, role }`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::http::AppState;
use crate::store::{Batch, Store, StoreError, key, prefix};

/// A client's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The national app's back end: applies for holders.
    Gateway,
    /// A licence-office clerk: applies at the window.
    Window,
    /// Reviews uploaded photos.
    Reviewer,
    /// Maintains licence records.
    Registry,
    /// Roadside officer.
    Officer,
    /// Insurer.
    Insurer,
    /// Car-rental firm.
    Rental,
    /// Employer.
    Employer,
    /// Operator (admin listener).
    Operator,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 9] = [
        Role::Gateway,
        Role::Window,
        Role::Reviewer,
        Role::Registry,
        Role::Officer,
        Role::Insurer,
        Role::Rental,
        Role::Employer,
        Role::Operator,
    ];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Window => "window",
            Role::Reviewer => "reviewer",
            Role::Registry => "registry",
            Role::Officer => "officer",
            Role::Insurer => "insurer",
            Role::Rental => "rental",
            Role::Employer => "employer",
            Role::Operator => "operator",
        }
    }

    /// Whether lookups by this role are relying-party lookups that the audit log records.
    pub fn is_relying_party(self) -> bool {
        matches!(
            self,
            Role::Officer | Role::Insurer | Role::Rental | Role::Employer
        )
    }
}

/// What an authenticated request may do, one entry per guarded endpoint group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/applications`, `GET /v1/applications/{ticket}` and its QR images.
    Apply,
    /// `POST /v1/credentials/{id}/refresh`.
    Refresh,
    /// Review queue, photo, approve, reject.
    Review,
    /// Reading licence records.
    RegistryRead,
    /// Changing licence records.
    RegistryWrite,
    /// `GET /v1/credentials/{id}/status`.
    LiveStatus,
    /// The throttle API on the admin listener.
    Operate,
}

/// The role-by-endpoint table: the one place that decides access.
pub fn allowed(role: Role, endpoint: Endpoint) -> bool {
    use Endpoint::*;
    use Role::*;
    match endpoint {
        Apply | Refresh => matches!(role, Gateway | Window),
        Review => matches!(role, Reviewer),
        RegistryRead => matches!(role, Registry | Window),
        RegistryWrite => matches!(role, Registry),
        Operate => matches!(role, Operator),
        LiveStatus => matches!(
            role,
            Officer | Insurer | Rental | Employer | Registry | Window
        ),
    }
}

/// A licence field that live status may show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LicenceField {
    /// Licence number.
    Number,
    /// Holder's name.
    Name,
    /// Classes.
    Classes,
    /// Valid from / until.
    Validity,
    /// Issuing authority.
    Authority,
    /// Registry state.
    State,
    /// Points.
    Points,
    /// Photo digest.
    Photo,
}

/// The role-by-field table for live status (data minimisation).
pub fn licence_fields(role: Role) -> &'static [LicenceField] {
    use LicenceField::*;
    match role {
        Role::Officer | Role::Registry | Role::Window => &[
            Number, Name, Classes, Validity, Authority, State, Points, Photo,
        ],
        Role::Insurer => &[Classes, Validity],
        Role::Rental => &[Name, Classes, Validity],
        Role::Employer => &[Classes],
        Role::Gateway | Role::Reviewer | Role::Operator => &[],
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The client's name.
    pub client: String,
    /// Its role.
    pub role: Role,
}

impl Caller {
    /// Refuses with 403 unless the role may use `endpoint`.
    pub fn require(&self, endpoint: Endpoint) -> Result<(), ApiError> {
        if allowed(self.role, endpoint) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthenticated)?;
        let token = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .ok_or(ApiError::Unauthenticated)?;
        state
            .service
            .clients
            .authenticate(token)
            .ok_or(ApiError::Unauthenticated)
    }
}

/// A registered API client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiClient {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// API clients by key hash, loaded from the store.
#[derive(Default)]
pub struct ApiClients {
    by_hash: RwLock<HashMap<[u8; 32], ApiClient>>,
}

impl ApiClients {
    /// Loads every client.
    pub fn load(store: &Store) -> Result<ApiClients, StoreError> {
        let mut map = HashMap::new();
        for entry in store.scan(prefix::CLIENT) {
            let (k, v) = entry?;
            let hash: [u8; 32] = k[prefix::CLIENT.len()..]
                .try_into()
                .map_err(|_| StoreError::Corrupt("client key".into()))?;
            let client: ApiClient =
                serde_json::from_slice(&v).map_err(|_| StoreError::Corrupt("client".into()))?;
            map.insert(hash, client);
        }
        Ok(ApiClients {
            by_hash: RwLock::new(map),
        })
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

    /// Adds a client and returns its new key (shown once; only its hash is stored). The
    /// caller commits the batch.
    pub fn add(&self, name: &str, role: Role, batch: &mut Batch) -> String {
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        let api_key = format!("edl_{}_{}", role.as_str(), URL_SAFE_NO_PAD.encode(secret));
        let hash: [u8; 32] = Sha256::digest(api_key.as_bytes()).into();
        let client = ApiClient {
            name: name.to_owned(),
            role,
        };
        batch.put(key(prefix::CLIENT, &[&hash]), &client);
        self.by_hash
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(hash, client);
        api_key
    }
}

/// Creates one development client per role and writes their keys to `path` (mode 0600).
pub fn create_dev_clients(
    clients: &ApiClients,
    store: &Store,
    path: &Path,
) -> Result<(), StoreError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut batch = Batch::default();
    let mut text = String::from(
        "# Development API keys, one per role: send as `Authorization: Bearer <key>`.\n",
    );
    for role in Role::ALL {
        let api_key = clients.add(&format!("dev-{}", role.as_str()), role, &mut batch);
        text.push_str(&format!("{} {}\n", role.as_str(), api_key));
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    store.apply(batch)?;
    Ok(())
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

#[cfg(test)]
mod tests;
