//! Tests for allocation and signing of status lists.

use std::collections::HashSet;

use keys::status_list::{self, CredentialStatus};
use keys::token::VerifyPolicy;
use keys::{KeyUse, Keyring, SigningKey, TrustedKey, UnixTime};
use rand_core::OsRng;

use super::{LIST_ENTRIES, StatusLists};

#[test]
fn allocations_never_repeat_and_open_new_lists() {
    let lists = StatusLists::restore("http://x".into(), []);
    let mut seen = HashSet::new();
    let mut opened = 0;
    for _ in 0..(LIST_ENTRIES / 2 + 10) {
        let a = lists.allocate(&mut OsRng);
        assert!(seen.insert((a.list, a.index)), "{a:?} handed out twice");
        opened += usize::from(a.opened_list);
    }
    assert_eq!(opened, 1);
    assert_eq!(lists.uris().len(), 2);
}

#[test]
fn restored_indices_are_not_reallocated() {
    let lists = StatusLists::restore("http://x".into(), [(0, 3, CredentialStatus::Invalid)]);
    assert_eq!(lists.value(0, 3), Some(1));
    for _ in 0..10_000 {
        assert_ne!(lists.allocate(&mut OsRng).index, 3);
    }
}

#[test]
fn signed_list_verifies_and_shows_changes() {
    let key = SigningKey::from_seed(&[9; 32]);
    let keyring = Keyring::new(vec![TrustedKey {
        public: key.public().clone(),
        key_use: KeyUse::Status,
        not_before: UnixTime(0),
        not_after: UnixTime(u64::MAX / 2),
        revoked: false,
    }]);
    let lists = StatusLists::restore("http://x".into(), []);
    let a = lists.allocate(&mut OsRng);
    lists.set(a.list, a.index, CredentialStatus::Superseded);
    assert_eq!(lists.sign(&key, UnixTime(1000), 300, 3600, false), 1);
    assert_eq!(lists.sign(&key, UnixTime(1000), 300, 3600, false), 0);
    let signed = lists.signed(a.list).unwrap();
    let verified = status_list::verify(
        &signed.token,
        &keyring,
        &VerifyPolicy::at(UnixTime(1001)),
        Some(&lists.uri(a.list)),
    )
    .unwrap();
    assert_eq!(verified.claims.list.get(u64::from(a.index)), Some(3));
    assert!(verified.claims.list.len() >= 131_072);
}
