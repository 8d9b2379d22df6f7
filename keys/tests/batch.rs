//! `token::verify_batch` gives every token the same answer as `token::verify`, whatever
//! mix of good, forged, altered, unknown-key, revoked-key, expired and garbage tokens a
//! batch holds, and wherever the bad ones sit (the bisection must find each of them).

// Helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use time::macros::date;

use keys::licence::{LicenceClass, LicenceClasses, PhotoDigest, Validity};
use keys::token::{self, CredentialId, LicenceDetails, StatusReference};
use keys::{CredentialClaims, KeyUse, Keyring, SigningKey, TrustedKey, UnixTime, VerifyPolicy};

const NOW: UnixTime = UnixTime(1_793_491_200);
const DAY: u64 = 86_400;

/// What one token in a batch is.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Good,
    /// One byte of the signature flipped.
    ForgedSignature,
    /// One byte of the payload flipped after signing.
    AlteredPayload,
    /// Signed by a key the keyring does not hold.
    UnknownKey,
    /// Signed by a key the keyring holds as revoked.
    RevokedKey,
    /// Signed by the second key sharing the credential key's role.
    SecondKey,
    Expired,
    Garbage,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        6 => Just(Kind::Good),
        1 => Just(Kind::ForgedSignature),
        1 => Just(Kind::AlteredPayload),
        1 => Just(Kind::UnknownKey),
        1 => Just(Kind::RevokedKey),
        1 => Just(Kind::SecondKey),
        1 => Just(Kind::Expired),
        1 => Just(Kind::Garbage),
    ]
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(&[seed; 32])
}

fn trusted(key: &SigningKey, revoked: bool) -> TrustedKey {
    TrustedKey {
        public: key.public().clone(),
        key_use: KeyUse::Credential,
        not_before: NOW.minus(365 * DAY),
        not_after: NOW.plus(365 * DAY),
        revoked,
    }
}

fn claims(n: u64, expired: bool) -> CredentialClaims {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&n.to_be_bytes());
    let issued_at = if expired {
        NOW.minus(100 * DAY)
    } else {
        NOW.minus(DAY)
    };
    CredentialClaims {
        issuer: "CN-11".into(),
        licence_number: "11010519491231002X".parse().unwrap(),
        credential_id: CredentialId(id),
        issued_at,
        not_before: issued_at,
        expires_at: issued_at.plus(30 * DAY),
        licence: LicenceDetails {
            name: "张三".into(),
            classes: LicenceClasses::new(&[LicenceClass::C1]).unwrap(),
            validity: Validity::new(date!(2020 - 06 - 01), None).unwrap(),
            authority: "北京市公安局公安交通管理局".into(),
            photo: PhotoDigest::of(b"photo"),
        },
        status: StatusReference {
            index: n,
            uri: "https://edl.example/v1/status-lists/0".into(),
        },
    }
}

fn token(n: u64, kind: Kind) -> Vec<u8> {
    let (credential, second, revoked, stranger) = (key(2), key(4), key(5), key(9));
    let signed = |claims: &CredentialClaims, key: &SigningKey| token::sign(claims, key);
    match kind {
        Kind::Good => signed(&claims(n, false), &credential),
        Kind::ForgedSignature => {
            let mut bytes = signed(&claims(n, false), &credential);
            let last = bytes.len() - 1 - (n as usize % 64);
            bytes[last] ^= 0x20;
            bytes
        }
        Kind::AlteredPayload => {
            let mut bytes = signed(&claims(n, false), &credential);
            // The licence number's digits sit in the middle of the payload.
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x01;
            bytes
        }
        Kind::UnknownKey => signed(&claims(n, false), &stranger),
        Kind::RevokedKey => signed(&claims(n, false), &revoked),
        Kind::SecondKey => signed(&claims(n, false), &second),
        Kind::Expired => signed(&claims(n, true), &credential),
        Kind::Garbage => vec![0xd2, 0x84, n as u8],
    }
}

fn keyring() -> Keyring {
    Keyring::new(vec![
        trusted(&key(2), false),
        trusted(&key(4), false),
        trusted(&key(5), true),
    ])
}

#[track_caller]
fn check(kinds: &[Kind]) {
    let tokens: Vec<Vec<u8>> = kinds
        .iter()
        .enumerate()
        .map(|(n, kind)| token(n as u64, *kind))
        .collect();
    let slices: Vec<&[u8]> = tokens.iter().map(Vec::as_slice).collect();
    let keyring = keyring();
    let policy = VerifyPolicy::at(NOW);
    let one_by_one: Vec<_> = slices
        .iter()
        .map(|t| token::verify(t, &keyring, &policy))
        .collect();
    assert_eq!(
        token::verify_batch(&slices, &keyring, &policy),
        one_by_one,
        "{kinds:?}"
    );
}

#[test]
fn all_good() {
    check(&[Kind::Good; 64]);
}

#[test]
fn one_bad_signature_among_many_is_found() {
    let mut kinds = vec![Kind::Good; 100];
    kinds[77] = Kind::ForgedSignature;
    check(&kinds);
}

#[test]
fn every_kind_alone() {
    for kind in [
        Kind::Good,
        Kind::ForgedSignature,
        Kind::AlteredPayload,
        Kind::UnknownKey,
        Kind::RevokedKey,
        Kind::SecondKey,
        Kind::Expired,
        Kind::Garbage,
    ] {
        check(&[kind]);
    }
}

#[test]
fn empty_batch() {
    check(&[]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn same_answers_as_one_by_one(kinds in prop::collection::vec(kind(), 0..40)) {
        check(&kinds);
    }
}
