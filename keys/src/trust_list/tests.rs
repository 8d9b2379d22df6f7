use super::*;
use crate::fixtures::{self, DAY, NOW};

fn list(sequence: u64) -> TrustList {
    TrustList {
        sequence,
        issued_at: NOW,
        next_update: NOW.plus(7 * DAY),
        issuer: "https://dl.example.gov.cn".into(),
        keys: vec![
            fixtures::trusted(&fixtures::key(1), KeyUse::Credential),
            fixtures::trusted(&fixtures::key(2), KeyUse::Status),
        ],
        status_lists: vec!["https://dl.example.gov.cn/v1/status-lists/0".into()],
    }
}

#[track_caller]
fn check(
    signed: &[u8],
    roots: &[PublicKey],
    seen: Option<u64>,
    expected: Result<u64, TrustListError>,
) {
    assert_eq!(verify(signed, roots, seen).map(|l| l.sequence), expected);
}

#[test]
fn round_trip() {
    let root = fixtures::key(9);
    let signed = list(7).sign(&root);
    let verified = verify(&signed, &[root.public().clone()], None).unwrap();
    assert_eq!(verified, list(7));
    assert_eq!(verified.keyring().keys().len(), 2);
    assert_eq!(verified.jwks().keys.len(), 2);
    assert_eq!(verified.jwks().keys[0].edl_use, Some(KeyUse::Credential));
}

#[test]
fn rollback_is_refused_and_the_same_list_accepted() {
    let root = fixtures::key(9);
    let roots = [root.public().clone()];
    check(&list(7).sign(&root), &roots, Some(7), Ok(7));
    check(&list(8).sign(&root), &roots, Some(7), Ok(8));
    check(
        &list(6).sign(&root),
        &roots,
        Some(7),
        Err(TrustListError::Rollback { found: 6, seen: 7 }),
    );
}

#[test]
fn only_pinned_roots_sign() {
    let root = fixtures::key(9);
    let impostor = fixtures::key(10);
    check(
        &list(1).sign(&impostor),
        &[root.public().clone()],
        None,
        Err(TrustListError::UnknownRoot(impostor.key_id())),
    );
    // A signing key is not a root even if a verifier were handed it as one... unless pinned.
    let mut signed = list(1).sign(&root);
    let last = signed.len() - 1;
    signed[last] ^= 0x01;
    check(
        &signed,
        &[root.public().clone()],
        None,
        Err(TrustListError::BadSignature),
    );
}

#[test]
fn a_root_key_may_not_appear_as_a_signing_key() {
    let root = fixtures::key(9);
    let mut bad = list(1);
    bad.keys[0].key_use = KeyUse::Root;
    check(
        &bad.sign(&root),
        &[root.public().clone()],
        None,
        Err(TrustListError::RootInList),
    );
}

#[test]
fn a_status_list_is_not_a_trust_list() {
    let root = fixtures::key(9);
    let status = crate::status_list::sign(
        &crate::status_list::StatusListClaims {
            uri: "u".into(),
            issued_at: NOW,
            expires_at: NOW,
            ttl: 1,
            list: crate::status_list::StatusList::new(2, 8).unwrap(),
        },
        &root,
    );
    assert!(matches!(
        verify(&status, &[root.public().clone()], None),
        Err(TrustListError::Envelope(EnvelopeError::WrongType { .. }))
    ));
}
