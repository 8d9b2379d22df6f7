//! Who may do what: the roles, the role-by-endpoint table (the one place that decides
//! access; the routers apply it to every route before its handler runs), the role rules
//! beside it (who must declare a purpose, who applies through which channel), the
//! role-by-field table for live status, and API clients as they are registered. Pure.

use keys::UnixTime;
use serde::{Deserialize, Serialize};

use crate::domain::application::Channel;

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
pub(crate) enum Endpoint {
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
    /// `GET /v1/licences/{number}/lookups`: who looked the licence's credentials up, for
    /// the holder (through the app, or at the window).
    LicenceLookups,
    /// The throttle and API client controls on the admin listener.
    Operate,
}

/// The role-by-endpoint table: the one place that decides access. Read each arm as
/// "who may call these routes"; everyone else gets 403, and no credentials 401.
pub(crate) fn allowed(role: Role, endpoint: Endpoint) -> bool {
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
        LicenceLookups => matches!(role, Gateway | Window),
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
pub(crate) fn purpose_required(role: Role) -> bool {
    matches!(role, Role::Insurer | Role::Rental | Role::Employer)
}

/// The channel an applicant role applies through: the national app's back end for
/// holders, the licence office's window. Other roles do not apply.
pub(crate) fn applicant_channel(role: Role) -> Option<Channel> {
    match role {
        Role::Gateway => Some(Channel::App),
        Role::Window => Some(Channel::Window),
        _ => None,
    }
}

/// A licence field that live status may show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LicenceField {
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
pub(crate) fn licence_fields(role: Role) -> &'static [LicenceField] {
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
pub(crate) fn valid_client_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
}

#[cfg(test)]
mod tests;
