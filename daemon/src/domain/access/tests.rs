//! Tests for the role tables.

use super::{Endpoint, LicenceField, Role, allowed, licence_fields};

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
fn only_operators_operate() {
    for role in Role::ALL {
        check(role, Endpoint::Operate, role == Role::Operator);
    }
}
#[test]
fn everyone_reaches_open_endpoints() {
    for role in Role::ALL {
        check(role, Endpoint::Open, true);
    }
}

#[test]
fn employer_sees_classes_only() {
    assert_eq!(licence_fields(Role::Employer), &[LicenceField::Classes]);
}
