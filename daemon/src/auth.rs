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

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keys::UnixTime;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{CertClient, CertMatch};
use crate::domain::application::Channel;
use crate::store::StoredClient;

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
    /// `GET /v1/licences/{number}/credential` and its QR images: the licence's current
    /// credential, whoever applied (the app shows credentials issued at an office).
    LicenceCredential,
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
        LicenceCredential => matches!(role, Gateway),
        LiveStatus => matches!(
            role,
            Officer | Insurer | Rental | Employer | Registry | Window
        ),
    }
}

/// Whether a role must declare a purpose to look up a credential's live status. Insurers,
/// rental firms and employers check a licence for their own business and must say why;
/// roadside officers check under their statutory powers, and their terminals may send
/// none (their lookups are still recorded, with no purpose).
pub fn purpose_required(role: Role) -> bool {
    matches!(role, Role::Insurer | Role::Rental | Role::Employer)
}

/// The channel an applicant role applies through: the national app's back end for
/// holders, the licence office's window. Other roles do not apply.
pub fn applicant_channel(role: Role) -> Option<Channel> {
    match role {
        Role::Gateway => Some(Channel::App),
        Role::Window => Some(Channel::Window),
        _ => None,
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

/// Who the client certificate of a TLS connection says the caller is; attached to every
/// request of the connection. Absent when the connection has no client certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerIdentity {
    /// A verified certificate that a `[[tls.clients]]` entry maps to this caller.
    Client(Caller),
    /// A verified certificate that no entry maps: it carries no role.
    Unmapped,
}

/// No, unknown or ambiguous credentials: 401.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("authentication required")]
pub struct Unauthenticated;

/// Authenticates a request: by its client certificate when the connection has one,
/// otherwise by its bearer API key. A certificate and a key together, or more than one
/// `Authorization` header, are refused as ambiguous.
pub fn authenticate(
    headers: &HeaderMap,
    peer: Option<&PeerIdentity>,
    clients: &ApiClients,
) -> Result<Caller, Unauthenticated> {
    let mut values = headers.get_all(axum::http::header::AUTHORIZATION).iter();
    let authorization = values.next();
    // Two credentials are ambiguous: which one acts would depend on which header a proxy
    // or a framework reads, so neither does (docs/HTTP.md).
    if values.next().is_some() {
        return Err(Unauthenticated);
    }
    match (peer, authorization) {
        (Some(_), Some(_)) => Err(Unauthenticated),
        (Some(PeerIdentity::Client(caller)), None) => Ok(caller.clone()),
        (Some(PeerIdentity::Unmapped), None) | (None, None) => Err(Unauthenticated),
        (None, Some(value)) => {
            let key = value
                .to_str()
                .ok()
                .and_then(bearer_token)
                .ok_or(Unauthenticated)?;
            clients.authenticate(key).ok_or(Unauthenticated)
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
    /// Clients the operator named as this one's delegates: they may read the applications
    /// this client made (an office's second window, a gateway's standby).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delegates: Vec<String>,
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
pub fn dev_clients_text(keys: &[(Role, String)]) -> String {
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

#[cfg(test)]
mod tests;
