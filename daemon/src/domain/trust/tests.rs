//! Tests for serving a trust list signed offline and for what a key may sign under it.

use keys::trust_list::{TrustList, TrustListError};
use keys::{KeyUse, PublicKey, SigningKey, TrustedKey, UnixTime};

use super::{TrustError, check_offline, may_sign, named_status_lists};

const NOW: UnixTime = UnixTime(1_900_000_000);

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(&[seed; 32])
}

fn entry(key: &SigningKey, key_use: KeyUse) -> TrustedKey {
    TrustedKey {
        public: key.public().clone(),
        key_use,
        not_before: NOW.minus(86_400),
        not_after: NOW.plus(86_400),
        revoked: false,
    }
}

fn list(keys: Vec<TrustedKey>) -> TrustList {
    TrustList {
        sequence: 7,
        issued_at: NOW,
        next_update: NOW.plus(86_400),
        issuer: "EDL-TEST".into(),
        keys,
        status_lists: vec![
            "https://edl.test/v1/status-lists/0".into(),
            "https://edl.test/v1/status-lists/1".into(),
        ],
    }
}

/// What `may_sign` says about the credential key `key(1)` under `keys`.
#[track_caller]
fn check(keys: Vec<TrustedKey>, expected: Result<(), &str>) {
    let credential = key(1);
    let result = may_sign(&list(keys), KeyUse::Credential, credential.public(), NOW);
    match (result, expected) {
        (Ok(()), Ok(())) => {}
        (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{e} lacks {part:?}"),
        (result, expected) => panic!("{result:?}, expected {expected:?}"),
    }
}

#[test]
fn a_named_key_in_its_window_signs() {
    check(vec![entry(&key(1), KeyUse::Credential)], Ok(()));
}

#[test]
fn an_unnamed_key_does_not() {
    check(
        vec![entry(&key(2), KeyUse::Credential)],
        Err("does not name the credential key"),
    );
}

#[test]
fn a_key_named_for_another_use_does_not() {
    check(
        vec![entry(&key(1), KeyUse::Status)],
        Err("does not name the credential key"),
    );
}

#[test]
fn a_revoked_key_does_not() {
    let mut revoked = entry(&key(1), KeyUse::Credential);
    revoked.revoked = true;
    check(
        vec![revoked],
        Err("is revoked in the trust list (sequence 7)"),
    );
}

#[test]
fn a_key_outside_its_window_does_not() {
    let mut ended = entry(&key(1), KeyUse::Credential);
    ended.not_after = NOW.minus(1);
    check(vec![ended], Err("not now"));
    let mut pending = entry(&key(1), KeyUse::Credential);
    pending.not_before = NOW.plus(1);
    check(vec![pending], Err("not now"));
}

#[test]
fn a_pre_signed_list_is_checked_against_the_pinned_roots() {
    let root = key(9);
    let signed = list(vec![entry(&key(1), KeyUse::Credential)]).sign(&root);
    let pinned: Vec<PublicKey> = vec![root.public().clone()];
    let served = check_offline(&signed, &pinned, None, "EDL-TEST").unwrap();
    assert_eq!((served.sequence, served.bytes), (7, signed.clone()));

    let other = vec![key(8).public().clone()];
    let err = check_offline(&signed, &other, None, "EDL-TEST").unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::Verify {
                source: TrustListError::UnknownRoot(_),
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains(&key(8).key_id().to_string()),
        "{err}"
    );

    let err = check_offline(&signed, &pinned, Some(8), "EDL-TEST").unwrap_err();
    assert_eq!(
        err,
        TrustError::Rollback {
            found: 7,
            served: 8
        }
    );
    assert!(check_offline(&signed, &pinned, Some(7), "EDL-TEST").is_ok());

    let err = check_offline(&signed, &pinned, None, "EDL-OTHER").unwrap_err();
    assert!(matches!(err, TrustError::Issuer { .. }), "{err}");
}

#[test]
fn status_lists_are_named_from_zero() {
    let l = list(vec![]);
    let uri = |n: u32| format!("https://edl.test/v1/status-lists/{n}");
    assert_eq!(named_status_lists(&l, uri), 2);
    assert_eq!(
        named_status_lists(&l, |n| format!("https://other.test/v1/status-lists/{n}")),
        0
    );
}
