//! Tests for API keys: stored by hash, names unique, revocation refuses the key.

use keys::UnixTime;

use super::ApiClients;
use crate::domain::access::{ClientError, Role};

fn clients() -> (ApiClients, String) {
    let clients = ApiClients::default();
    let (stored, key) = clients.prepare("x", Role::Officer, UnixTime(1)).unwrap();
    clients.insert(stored);
    (clients, key)
}

#[test]
fn keys_authenticate_by_hash() {
    let (clients, key) = clients();
    assert!(key.starts_with("edl_officer_"));
    assert_eq!(clients.authenticate(&key).unwrap().role, Role::Officer);
    assert!(clients.authenticate("edl_officer_wrong").is_none());
}

#[test]
fn names_are_unique_and_revocation_refuses_the_key() {
    let (clients, key) = clients();
    let prepare = |name: &str| {
        clients
            .prepare(name, Role::Gateway, UnixTime(2))
            .map(|_| ())
    };
    assert_eq!(prepare("x"), Err(ClientError::Exists("x".into())));
    assert_eq!(prepare("has space"), Err(ClientError::BadName));
    assert_eq!(prepare("cert:x"), Err(ClientError::BadName));
    assert_eq!(clients.list().len(), 1);
    assert_eq!(clients.remove("x").unwrap().role, Role::Officer);
    assert!(clients.authenticate(&key).is_none());
    assert_eq!(clients.remove("x"), None);
}
