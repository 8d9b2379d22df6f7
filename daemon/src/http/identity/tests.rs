//! Tests for authentication: API keys, client certificates, and what is refused.

use axum::http::{HeaderMap, HeaderValue, header};
use keys::UnixTime;

use super::{CertificateRoles, PeerIdentity, Unauthenticated, authenticate};
use crate::config::{CertClient, CertMatch};
use crate::domain::access::{Caller, Role};
use crate::service::clients::ApiClients;

fn clients() -> (ApiClients, String) {
    let clients = ApiClients::default();
    let (stored, key) = clients.prepare("x", Role::Officer, UnixTime(1)).unwrap();
    clients.insert(stored);
    (clients, key)
}

#[track_caller]
fn check_auth(authorization: Option<&str>, peer: Option<PeerIdentity>, expected: Option<&str>) {
    check_auth_headers(authorization.as_slice(), peer, expected)
}

/// As [`check_auth`], with one `Authorization` header per value.
#[track_caller]
fn check_auth_headers(authorization: &[&str], peer: Option<PeerIdentity>, expected: Option<&str>) {
    let (clients, key) = clients();
    let mut headers = HeaderMap::new();
    for value in authorization {
        let value = value.replace("KEY", &key);
        headers.append(
            header::AUTHORIZATION,
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    let result = authenticate(&headers, peer.as_ref(), &clients);
    match expected {
        Some(client) => assert_eq!(result.unwrap().client, client),
        None => assert!(matches!(result, Err(Unauthenticated)), "{result:?}"),
    }
}

fn certified(client: &str) -> Option<PeerIdentity> {
    Some(PeerIdentity::Client(Caller {
        client: client.into(),
        role: Role::Insurer,
    }))
}

#[test]
fn bearer_key() {
    check_auth(Some("Bearer KEY"), None, Some("x"))
}
#[test]
fn bearer_scheme_is_case_insensitive() {
    check_auth(Some("bearer  KEY "), None, Some("x"))
}
#[test]
fn basic_scheme_is_refused() {
    check_auth(Some("Basic KEY"), None, None)
}
#[test]
fn empty_bearer_is_refused() {
    check_auth(Some("Bearer "), None, None)
}
#[test]
fn nothing_is_refused() {
    check_auth(None, None, None)
}
#[test]
fn certificate_alone() {
    check_auth(None, certified("cert:a"), Some("cert:a"))
}
#[test]
fn certificate_and_key_together_are_refused() {
    check_auth(Some("Bearer KEY"), certified("cert:a"), None)
}
#[test]
fn unmapped_certificate_is_refused() {
    check_auth(None, Some(PeerIdentity::Unmapped), None)
}
#[test]
fn two_authorization_headers_are_refused() {
    check_auth_headers(&["Bearer KEY", "Bearer KEY"], None, None)
}
#[test]
fn a_good_key_beside_a_bad_one_is_refused() {
    check_auth_headers(&["Bearer KEY", "Bearer edl_officer_wrong"], None, None);
    check_auth_headers(&["Bearer edl_officer_wrong", "Bearer KEY"], None, None)
}
#[test]
fn an_empty_second_authorization_header_is_refused() {
    check_auth_headers(&["Bearer KEY", ""], None, None)
}

/// A certificate with subject `CN=<cn>, OU=<ou>…` and the given DNS names.
fn certificate(cn: Option<&str>, units: &[&str], dns: &[&str]) -> Vec<u8> {
    let mut params =
        rcgen::CertificateParams::new(dns.iter().map(|d| d.to_string()).collect::<Vec<_>>())
            .unwrap();
    let mut name = rcgen::DistinguishedName::new();
    if let Some(cn) = cn {
        name.push(rcgen::DnType::CommonName, cn);
    }
    for unit in units {
        name.push(rcgen::DnType::OrganizationalUnitName, *unit);
    }
    params.distinguished_name = name;
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

fn roles() -> CertificateRoles {
    CertificateRoles::new(vec![
        CertClient {
            matches: CertMatch::CommonName("terminal-7".into()),
            role: Role::Officer,
            client: Some("police-7".into()),
        },
        CertClient {
            matches: CertMatch::OrganisationalUnit("claims".into()),
            role: Role::Insurer,
            client: None,
        },
        CertClient {
            matches: CertMatch::DnsName("gw.example.gov".into()),
            role: Role::Gateway,
            client: None,
        },
    ])
}

#[track_caller]
fn check_cert(der: Vec<u8>, expected: Option<(&str, Role)>) {
    let identity = roles().identify(&der);
    match expected {
        Some((client, role)) => assert_eq!(
            identity,
            PeerIdentity::Client(Caller {
                client: client.into(),
                role
            })
        ),
        None => assert_eq!(identity, PeerIdentity::Unmapped),
    }
}

#[test]
fn certificate_by_common_name() {
    check_cert(
        certificate(Some("terminal-7"), &["claims"], &[]),
        Some(("police-7", Role::Officer)),
    )
}
#[test]
fn certificate_by_unit() {
    check_cert(
        certificate(Some("acme-1"), &["sales", "claims"], &[]),
        Some(("cert:acme-1", Role::Insurer)),
    )
}
#[test]
fn certificate_by_dns_name_without_common_name() {
    check_cert(
        certificate(None, &[], &["GW.example.gov"]),
        Some(("cert:gw.example.gov", Role::Gateway)),
    )
}
#[test]
fn certificate_matching_nothing() {
    check_cert(certificate(Some("terminal-8"), &["sales"], &[]), None)
}
#[test]
fn not_a_certificate() {
    check_cert(b"not DER".to_vec(), None)
}
