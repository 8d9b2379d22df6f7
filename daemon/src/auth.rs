//! Who is calling and what they may do: roles, the role-by-endpoint table (the one place
//! that decides access; the routers apply it to every route before its handler runs), the
//! role-by-field table for live status, and the two ways to authenticate:
//!
//! - a TLS client certificate that rustls verified against the configured client CA
//!   (`server` reads it once per connection and [`CertificateRoles`] maps its names to a
//!   client and role: a [`PeerIdentity`] on every request of that connection);
//! - `Authorization: Bearer <API key>`, where the daemon stores only the SHA-256 of each
//!   key ([`ApiClients`]).
//!
//! Both end in the same [`Caller`] `{ client, role }`. A request that presents both is
//! refused: one request, one identity in the audit log.

use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keys::UnixTime;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{CertClient, CertMatch};
use crate::error::ApiError;
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

    /// The role with this lowercase name.
    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Whether lookups by this role are relying-party lookups that the audit log records.
    pub fn is_relying_party(self) -> bool {
        matches!(
            self,
            Role::Officer | Role::Insurer | Role::Rental | Role::Employer
        )
    }
}

/// What a route serves, for access decisions: every route of both listeners names one
/// (`http::public_routes`, `http::admin_routes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// Health, readiness, metrics, the OpenAPI documents, trust list, JWKS, status lists
    /// and the admin queue view: no credentials needed.
    Open,
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
    /// The throttle and API client controls on the admin listener.
    Operate,
}

/// The role-by-endpoint table: the one place that decides access. Read each arm as
/// "who may call these routes"; everyone else gets 403, and no credentials 401.
pub fn allowed(role: Role, endpoint: Endpoint) -> bool {
    use Endpoint::*;
    use Role::*;
    match endpoint {
        Open => true,
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

/// Handlers of guarded routes take the `Caller` that the router's access check
/// authenticated and authorized (`http::authorize`); it is never absent there.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Caller, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(ApiError::Unauthenticated)
    }
}

/// Who the client certificate of a TLS connection says the caller is; attached to every
/// request of the connection. Absent when the connection has no client certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerIdentity {
    /// A verified certificate that a `[[tls.clients]]` entry maps to this caller.
    Client(Caller),
    /// A verified certificate that no entry maps: it carries no role.
    Unmapped,
}

/// Authenticates a request: by its client certificate when the connection has one,
/// otherwise by its bearer API key. A certificate and a key together, or more than one
/// `Authorization` header, are refused as ambiguous.
pub fn authenticate(
    headers: &HeaderMap,
    peer: Option<&PeerIdentity>,
    clients: &ApiClients,
) -> Result<Caller, ApiError> {
    let mut values = headers.get_all(axum::http::header::AUTHORIZATION).iter();
    let authorization = values.next();
    // Two credentials are ambiguous: which one acts would depend on which header a proxy
    // or a framework reads, so neither does (docs/HTTP.md).
    if values.next().is_some() {
        return Err(ApiError::Unauthenticated);
    }
    match (peer, authorization) {
        (Some(_), Some(_)) => Err(ApiError::Unauthenticated),
        (Some(PeerIdentity::Client(caller)), None) => Ok(caller.clone()),
        (Some(PeerIdentity::Unmapped), None) | (None, None) => Err(ApiError::Unauthenticated),
        (None, Some(value)) => {
            let key = value
                .to_str()
                .ok()
                .and_then(bearer_token)
                .ok_or(ApiError::Unauthenticated)?;
            clients.authenticate(key).ok_or(ApiError::Unauthenticated)
        }
    }
}

/// The token of `Bearer <token>` (the scheme is case-insensitive, RFC 9110 11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// `[[tls.clients]]`: maps the names in verified client certificates to callers.
#[derive(Clone, Debug, Default)]
pub struct CertificateRoles {
    map: Vec<CertClient>,
}

impl CertificateRoles {
    /// The configured entries, first match wins.
    pub fn new(map: Vec<CertClient>) -> CertificateRoles {
        CertificateRoles { map }
    }

    /// Who the end-entity certificate `der` stands for. rustls has verified it (chain to
    /// the client CA, validity, client-auth usage) before this reads its names.
    pub fn identify(&self, der: &[u8]) -> PeerIdentity {
        let Some(names) = CertificateNames::parse(der) else {
            return PeerIdentity::Unmapped;
        };
        for entry in &self.map {
            let matched = match &entry.matches {
                CertMatch::CommonName(cn) => names.common_name.as_deref() == Some(cn.as_str()),
                CertMatch::OrganisationalUnit(ou) => names.units.iter().any(|u| u == ou),
                CertMatch::DnsName(dns) => names.dns.iter().any(|d| d == dns),
            };
            if !matched {
                continue;
            }
            let client = match &entry.client {
                Some(client) => client.clone(),
                None => match names.common_name.as_ref().or(names.dns.first()) {
                    Some(name) => format!("cert:{name}"),
                    None => continue,
                },
            };
            return PeerIdentity::Client(Caller {
                client,
                role: entry.role,
            });
        }
        PeerIdentity::Unmapped
    }
}

/// The names of a certificate that `[[tls.clients]]` can match.
#[derive(Debug, Default)]
struct CertificateNames {
    common_name: Option<String>,
    units: Vec<String>,
    /// Lowercase.
    dns: Vec<String>,
}

impl CertificateNames {
    fn parse(der: &[u8]) -> Option<CertificateNames> {
        use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let subject = cert.subject();
        let text =
            |a: &x509_parser::x509::AttributeTypeAndValue<'_>| a.as_str().ok().map(str::to_owned);
        let dns = match cert.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        Some(CertificateNames {
            // A subject with several CNs is ambiguous: it matches no `cn` entry.
            common_name: match subject.iter_common_name().collect::<Vec<_>>()[..] {
                [one] => text(one),
                _ => None,
            },
            units: subject
                .iter_organizational_unit()
                .filter_map(text)
                .collect(),
            dns,
        })
    }
}

/// A registered API client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiClient {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// When it was added (absent for clients stored before this was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<UnixTime>,
}

/// Why an API client could not be added or revoked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClientError {
    /// The name is taken.
    #[error("a client named {0:?} exists")]
    Exists(String),
    /// No such client.
    #[error("no client named {0:?}")]
    Unknown(String),
    /// Not a name.
    #[error("client names are 1 to 64 letters, digits, '.', '_', '-' or '@'")]
    BadName,
}

/// Whether `name` may name an API client: short, printable, no spaces or colons (so it
/// cannot look like a certificate client `cert:…`).
pub fn valid_client_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
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

    /// Adds a client and returns its new key (shown once; only its hash is stored). Names
    /// are unique. The caller commits the batch before it shows the key.
    pub fn add(
        &self,
        name: &str,
        role: Role,
        at: UnixTime,
        batch: &mut Batch,
    ) -> Result<String, ClientError> {
        if !valid_client_name(name) {
            return Err(ClientError::BadName);
        }
        let mut map = self.by_hash.write().unwrap_or_else(|p| p.into_inner());
        if map.values().any(|c| c.name == name) {
            return Err(ClientError::Exists(name.to_owned()));
        }
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        let api_key = format!("edl_{}_{}", role.as_str(), URL_SAFE_NO_PAD.encode(secret));
        zeroize::Zeroize::zeroize(&mut secret);
        let hash: [u8; 32] = Sha256::digest(api_key.as_bytes()).into();
        let client = ApiClient {
            name: name.to_owned(),
            role,
            created_at: Some(at),
        };
        batch.put(key(prefix::CLIENT, &[&hash]), &client);
        map.insert(hash, client);
        Ok(api_key)
    }

    /// Revokes a client's key: refused from now on (before the batch is committed, so a
    /// revocation never waits). The caller commits the batch.
    pub fn revoke(&self, name: &str, batch: &mut Batch) -> Result<ApiClient, ClientError> {
        let mut map = self.by_hash.write().unwrap_or_else(|p| p.into_inner());
        let hashes: Vec<[u8; 32]> = map
            .iter()
            .filter(|(_, c)| c.name == name)
            .map(|(h, _)| *h)
            .collect();
        let mut revoked = None;
        for hash in hashes {
            batch.remove(key(prefix::CLIENT, &[&hash]));
            revoked = map.remove(&hash);
        }
        revoked.ok_or_else(|| ClientError::Unknown(name.to_owned()))
    }
}

/// Creates one development client per role and writes their keys to `path` (mode 0600).
pub fn create_dev_clients(
    clients: &ApiClients,
    store: &Store,
    path: &Path,
    at: UnixTime,
) -> Result<(), StoreError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut batch = Batch::default();
    let mut text = String::from(
        "# Development API keys, one per role: send as `Authorization: Bearer <key>`.\n",
    );
    for role in Role::ALL {
        let api_key = clients
            .add(&format!("dev-{}", role.as_str()), role, at, &mut batch)
            .map_err(|e| StoreError::Corrupt(format!("development client: {e}")))?;
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
