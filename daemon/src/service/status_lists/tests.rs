//! Tests for signing status lists (allocation is `domain::status_index`'s).

use keys::status_list::{self, CredentialStatus};
use keys::token::VerifyPolicy;
use keys::{KeyUse, Keyring, SigningKey, TrustedKey, UnixTime};
use rand_core::OsRng;

use super::StatusLists;
use crate::domain::status_index::Allocator;
use crate::store::StatusEntry;

#[test]
fn restored_values_are_shown() {
    let entry = StatusEntry {
        list: 0,
        index: 3,
        value: CredentialStatus::Invalid,
    };
    let lists = StatusLists::restore("http://x".into(), [entry], 1);
    assert_eq!(lists.value(0, 3), Some(1));
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
    let lists = StatusLists::restore("http://x".into(), [], 1);
    let a = Allocator::default().allocate(&mut OsRng, u32::MAX).unwrap();
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
