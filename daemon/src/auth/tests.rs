//! Tests for the access tables and key handling.

use super::{ApiClients, Endpoint, LicenceField, Role, allowed, licence_fields};
use crate::store::Batch;

#[track_caller]
fn check(role: Role, endpoint: Endpoint, expected: bool) {
    assert_eq!(allowed(role, endpoint), expected, "{role:?} {endpoint:?}");
}

#[test]
fn gateway_applies() {
    check(Role::Gateway, Endpoint::Apply, true)
}
#[test]
fn insurer_cannot_apply() {
    check(Role::Insurer, Endpoint::Apply, false)
}
#[test]
fn reviewer_reviews() {
    check(Role::Reviewer, Endpoint::Review, true)
}
#[test]
fn window_cannot_write_registry() {
    check(Role::Window, Endpoint::RegistryWrite, false)
}
#[test]
fn officer_checks_status() {
    check(Role::Officer, Endpoint::LiveStatus, true)
}
#[test]
fn gateway_cannot_check_status() {
    check(Role::Gateway, Endpoint::LiveStatus, false)
}

#[test]
fn employer_sees_classes_only() {
    assert_eq!(licence_fields(Role::Employer), &[LicenceField::Classes]);
}

#[test]
fn keys_authenticate_by_hash() {
    let clients = ApiClients::default();
    let mut batch = Batch::default();
    let key = clients.add("x", Role::Officer, &mut batch);
    assert!(key.starts_with("edl_officer_"));
    assert_eq!(clients.authenticate(&key).unwrap().role, Role::Officer);
    assert!(clients.authenticate("edl_officer_wrong").is_none());
}
