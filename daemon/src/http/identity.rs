//! Who is calling, in the two ways a caller authenticates:
//!
//! - a TLS client certificate that rustls verified against the configured client CA
//!   (`server` reads it once per connection and [`CertificateRoles`] maps its names to a
//!   client and role: a [`PeerIdentity`] on every request of that connection);
//! - `Authorization: Bearer <API key>`, where the daemon keeps only the SHA-256 of each
//!   key (`service::clients::ApiClients`).
//!
//! Both end in the same `Caller` `{ client, role }`. A request that presents both, or two
//! `Authorization` headers, is refused: one request, one identity in the audit log.

use axum::http::HeaderMap;

use crate::config::{CertClient, CertMatch};
use crate::domain::access::Caller;
use crate::service::clients::ApiClients;

/// Who the client certificate of a TLS connection says the caller is; attached to every
/// request of the connection. Absent when the connection has no client certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PeerIdentity {
    /// A verified certificate that a `[[tls.clients]]` entry maps to this caller.
    Client(Caller),
    /// A verified certificate that no entry maps: it carries no role.
    Unmapped,
}

/// No, unknown or ambiguous credentials: 401.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("authentication required")]
pub(crate) struct Unauthenticated;

/// Authenticates a request: by its client certificate when the connection has one,
/// otherwise by its bearer API key. A certificate and a key together, or more than one
/// `Authorization` header, are refused as ambiguous.
pub(crate) fn authenticate(
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
pub(crate) struct CertificateRoles {
    map: Vec<CertClient>,
}

impl CertificateRoles {
    /// The configured entries, first match wins.
    pub(crate) fn new(map: Vec<CertClient>) -> CertificateRoles {
        CertificateRoles { map }
    }

    /// Who the end-entity certificate `der` stands for. rustls has verified it (chain to
    /// the client CA, validity, client-auth usage) before this reads its names.
    pub(crate) fn identify(&self, der: &[u8]) -> PeerIdentity {
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

#[cfg(test)]
mod tests;
