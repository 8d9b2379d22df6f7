use ciborium::Value;

use super::*;
use crate::fixtures::{self, DAY, NOW};
use crate::key::KeyUse;

/// Builds a tagged COSE_Sign1 from raw protected-header and payload bytes, signed by `key`
/// over the proper Sig_structure: lets tests forge every kind of malformed document that
/// still carries a good signature.
fn forge(key: &SigningKey, protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let to_be_signed = cbor::encode(&Value::Array(vec![
        cbor::text("Signature1"),
        Value::Bytes(protected.to_vec()),
        Value::Bytes(vec![]),
        Value::Bytes(payload.to_vec()),
    ]));
    let signature = key.sign(&to_be_signed);
    cbor::encode(&Value::Tag(
        18,
        Box::new(Value::Array(vec![
            Value::Bytes(protected.to_vec()),
            Value::Map(vec![]),
            Value::Bytes(payload.to_vec()),
            Value::Bytes(signature.to_vec()),
        ])),
    ))
}

fn header(entries: Vec<(Value, Value)>) -> Vec<u8> {
    cbor::encode(&Value::Map(entries))
}

fn alg_kid(alg: i64, key: &SigningKey) -> Vec<(Value, Value)> {
    vec![
        (cbor::int(1), cbor::int(alg)),
        (cbor::int(4), Value::Bytes(key.key_id().as_bytes().to_vec())),
    ]
}

fn payload() -> Vec<u8> {
    cbor::encode(&fixtures::claims().to_value(None))
}

/// The fixture's claims with one entry of the claims map (or the licence map) replaced.
fn payload_with(edit: impl FnOnce(&mut Vec<(Value, Value)>)) -> Vec<u8> {
    let Value::Map(mut entries) = fixtures::claims().to_value(None) else {
        unreachable!()
    };
    edit(&mut entries);
    cbor::encode(&Value::Map(entries))
}

fn licence_entries(entries: &mut [(Value, Value)]) -> &mut Vec<(Value, Value)> {
    let (_, Value::Map(licence)) = entries
        .iter_mut()
        .find(|(k, _)| *k == cbor::int(claim::LICENCE))
        .unwrap()
    else {
        unreachable!()
    };
    licence
}

#[track_caller]
fn check(token: &[u8], keyring: &Keyring, now: UnixTime, expected: Result<(), VerifyError>) {
    let result = verify(token, keyring, &VerifyPolicy::at(now)).map(|v| {
        assert_eq!(v.claims, fixtures::claims());
        let _ = v.key_id;
    });
    assert_eq!(result, expected);
}

fn credential_keyring(key: &SigningKey) -> Keyring {
    fixtures::keyring(&[(key, KeyUse::Credential)])
}

#[test]
fn signed_token_verifies() {
    let key = fixtures::key(1);
    let token = sign(&fixtures::claims(), &key);
    check(&token, &credential_keyring(&key), NOW, Ok(()));
    let verified = verify(&token, &credential_keyring(&key), &VerifyPolicy::at(NOW)).unwrap();
    assert_eq!(verified.key_id, key.key_id());
}

#[test]
fn forged_token_with_the_right_key_verifies() {
    // The forger itself must produce what `sign` produces, or the other tests prove nothing.
    let key = fixtures::key(1);
    check(
        &forge(&key, &header(alg_kid(-8, &key)), &payload()),
        &credential_keyring(&key),
        NOW,
        Ok(()),
    );
}

#[test]
fn algorithm_ed25519_minus_19_is_accepted() {
    let key = fixtures::key(1);
    check(
        &forge(&key, &header(alg_kid(-19, &key)), &payload()),
        &credential_keyring(&key),
        NOW,
        Ok(()),
    );
}

#[test]
fn other_algorithms_are_refused() {
    let key = fixtures::key(1);
    let ring = credential_keyring(&key);
    for alg in [-7, -35, -36, -37, 5] {
        let token = forge(&key, &header(alg_kid(alg, &key)), &payload());
        assert!(
            matches!(
                verify(&token, &ring, &VerifyPolicy::at(NOW)),
                Err(VerifyError::Envelope(EnvelopeError::UnsupportedAlgorithm(
                    _
                )))
            ),
            "alg {alg}"
        );
    }
    let no_alg = vec![(cbor::int(4), Value::Bytes(key.key_id().as_bytes().to_vec()))];
    assert!(matches!(
        verify(
            &forge(&key, &header(no_alg), &payload()),
            &ring,
            &VerifyPolicy::at(NOW)
        ),
        Err(VerifyError::Envelope(EnvelopeError::UnsupportedAlgorithm(
            _
        )))
    ));
}

#[test]
fn unknown_critical_headers_are_refused() {
    let key = fixtures::key(1);
    let ring = credential_keyring(&key);
    let mut entries = alg_kid(-8, &key);
    entries.push((cbor::int(2), Value::Array(vec![cbor::text("edl-test")])));
    entries.push((cbor::text("edl-test"), cbor::text("must understand")));
    check(
        &forge(&key, &header(entries), &payload()),
        &ring,
        NOW,
        Err(EnvelopeError::UnknownCriticalHeader.into()),
    );
    // An unregistered integer label in `crit` is refused while parsing the header.
    let mut entries = alg_kid(-8, &key);
    entries.push((cbor::int(2), Value::Array(vec![cbor::int(99)])));
    entries.push((cbor::int(99), cbor::text("must understand")));
    assert!(matches!(
        verify(
            &forge(&key, &header(entries), &payload()),
            &ring,
            &VerifyPolicy::at(NOW)
        ),
        Err(VerifyError::Envelope(_))
    ));
}

#[test]
fn duplicate_header_keys_are_refused() {
    let key = fixtures::key(1);
    let mut entries = alg_kid(-8, &key);
    entries.push((cbor::int(1), cbor::int(-8)));
    assert!(matches!(
        verify(
            &forge(&key, &header(entries), &payload()),
            &credential_keyring(&key),
            &VerifyPolicy::at(NOW)
        ),
        Err(VerifyError::Envelope(EnvelopeError::Format(
            FormatError::DuplicateKey(_)
        )))
    ));
}

#[test]
fn key_id_must_be_protected_and_eight_bytes() {
    let key = fixtures::key(1);
    let ring = credential_keyring(&key);
    check(
        &forge(
            &key,
            &header(vec![(cbor::int(1), cbor::int(-8))]),
            &payload(),
        ),
        &ring,
        NOW,
        Err(EnvelopeError::MissingKeyId.into()),
    );
    let short = vec![
        (cbor::int(1), cbor::int(-8)),
        (cbor::int(4), Value::Bytes(vec![1, 2, 3, 4])),
    ];
    check(
        &forge(&key, &header(short), &payload()),
        &ring,
        NOW,
        Err(EnvelopeError::MissingKeyId.into()),
    );
}

#[test]
fn a_typed_document_is_not_a_credential() {
    let key = fixtures::key(1);
    let mut entries = alg_kid(-8, &key);
    entries.push((cbor::int(16), cbor::text("application/statuslist+cwt")));
    check(
        &forge(&key, &header(entries), &payload()),
        &credential_keyring(&key),
        NOW,
        Err(EnvelopeError::WrongType {
            expected: "",
            found: "application/statuslist+cwt".into(),
        }
        .into()),
    );
}

#[test]
fn unknown_key_id() {
    let key = fixtures::key(1);
    let other = fixtures::key(2);
    check(
        &sign(&fixtures::claims(), &key),
        &credential_keyring(&other),
        NOW,
        Err(VerifyError::UnknownKey(key.key_id())),
    );
}

#[test]
fn a_status_key_cannot_sign_credentials() {
    let key = fixtures::key(1);
    check(
        &sign(&fixtures::claims(), &key),
        &fixtures::keyring(&[(&key, KeyUse::Status)]),
        NOW,
        Err(VerifyError::UnknownKey(key.key_id())),
    );
}

#[test]
fn signature_by_another_key_under_a_trusted_kid() {
    let trusted = fixtures::key(1);
    let attacker = fixtures::key(2);
    check(
        &forge(&attacker, &header(alg_kid(-8, &trusted)), &payload()),
        &credential_keyring(&trusted),
        NOW,
        Err(VerifyError::BadSignature),
    );
}

#[test]
fn revoked_key() {
    let key = fixtures::key(1);
    let mut entry = fixtures::trusted(&key, KeyUse::Credential);
    entry.revoked = true;
    check(
        &sign(&fixtures::claims(), &key),
        &Keyring::new(vec![entry]),
        NOW,
        Err(VerifyError::KeyRevoked(key.key_id())),
    );
}

#[test]
fn signed_outside_the_key_window() {
    let key = fixtures::key(1);
    let mut entry = fixtures::trusted(&key, KeyUse::Credential);
    entry.not_before = NOW;
    check(
        &sign(&fixtures::claims(), &key),
        &Keyring::new(vec![entry.clone()]),
        NOW,
        Err(VerifyError::KeyNotValid {
            key_id: key.key_id(),
            signed_at: NOW.minus(DAY),
        }),
    );
    // A key whose signing period ended still verifies what it signed within it.
    entry.not_before = NOW.minus(10 * DAY);
    entry.not_after = NOW.minus(DAY / 2);
    check(
        &sign(&fixtures::claims(), &key),
        &Keyring::new(vec![entry]),
        NOW,
        Ok(()),
    );
}

#[test]
fn validity_window_with_clock_skew() {
    let key = fixtures::key(1);
    let ring = credential_keyring(&key);
    let token = sign(&fixtures::claims(), &key);
    let exp = fixtures::claims().expires_at;
    let nbf = fixtures::claims().not_before;
    check(&token, &ring, exp.plus(DEFAULT_CLOCK_SKEW - 1), Ok(()));
    check(
        &token,
        &ring,
        exp.plus(DEFAULT_CLOCK_SKEW),
        Err(VerifyError::Expired(exp)),
    );
    check(&token, &ring, nbf.minus(DEFAULT_CLOCK_SKEW), Ok(()));
    check(
        &token,
        &ring,
        nbf.minus(DEFAULT_CLOCK_SKEW + 1),
        Err(VerifyError::NotYetValid(nbf)),
    );
    let strict = VerifyPolicy {
        now: exp,
        clock_skew: 0,
    };
    assert_eq!(
        verify(&token, &ring, &strict).err(),
        Some(VerifyError::Expired(exp))
    );
}

#[test]
fn trailing_bytes_and_untagged_tokens_are_refused() {
    let key = fixtures::key(1);
    let ring = credential_keyring(&key);
    let mut token = sign(&fixtures::claims(), &key);
    token.push(0);
    check(
        &token,
        &ring,
        NOW,
        Err(EnvelopeError::Format(FormatError::TrailingBytes).into()),
    );
    token.pop();
    // Dropping the tag (0xd2) leaves a bare COSE_Sign1 array.
    assert_eq!(token[0], 0xd2);
    assert!(matches!(
        verify(&token[1..], &ring, &VerifyPolicy::at(NOW)),
        Err(VerifyError::Envelope(EnvelopeError::Format(_)))
    ));
}

#[test]
fn duplicate_claims_are_refused() {
    let key = fixtures::key(1);
    let protected = header(alg_kid(-8, &key));
    let duplicate_sub = payload_with(|e| e.push((cbor::int(claim::SUB), cbor::text("x"))));
    check(
        &forge(&key, &protected, &duplicate_sub),
        &credential_keyring(&key),
        NOW,
        Err(FormatError::DuplicateKey("claims").into()),
    );
    let duplicate_name = payload_with(|e| {
        licence_entries(e).push((cbor::int(licence_key::NAME), cbor::text("李四")))
    });
    check(
        &forge(&key, &protected, &duplicate_name),
        &credential_keyring(&key),
        NOW,
        Err(FormatError::DuplicateKey("licence").into()),
    );
}

#[test]
fn malformed_claims_after_a_good_signature() {
    let key = fixtures::key(1);
    let protected = header(alg_kid(-8, &key));
    let ring = credential_keyring(&key);
    let no_cti = payload_with(|e| e.retain(|(k, _)| *k != cbor::int(claim::CTI)));
    check(
        &forge(&key, &protected, &no_cti),
        &ring,
        NOW,
        Err(FormatError::Missing("cti").into()),
    );
    let bad_number = payload_with(|e| {
        e.retain(|(k, _)| *k != cbor::int(claim::SUB));
        e.push((cbor::int(claim::SUB), cbor::text("110105194912310021")));
    });
    assert!(matches!(
        verify(
            &forge(&key, &protected, &bad_number),
            &ring,
            &VerifyPolicy::at(NOW)
        ),
        Err(VerifyError::Claims(FormatError::Domain {
            field: "sub",
            ..
        }))
    ));
    let bad_class = payload_with(|e| {
        let licence = licence_entries(e);
        licence.retain(|(k, _)| *k != cbor::int(licence_key::CLASSES));
        licence.push((
            cbor::int(licence_key::CLASSES),
            Value::Array(vec![cbor::text("Z9")]),
        ));
    });
    assert!(matches!(
        verify(
            &forge(&key, &protected, &bad_class),
            &ring,
            &VerifyPolicy::at(NOW)
        ),
        Err(VerifyError::Claims(FormatError::Domain {
            field: "class",
            ..
        }))
    ));
    let not_cbor = b"\xff\xff";
    assert!(matches!(
        verify(
            &forge(&key, &protected, not_cbor),
            &ring,
            &VerifyPolicy::at(NOW)
        ),
        Err(VerifyError::Claims(FormatError::Syntax(_)))
    ));
}

#[test]
fn long_term_licence_round_trips() {
    let key = fixtures::key(1);
    let mut claims = fixtures::claims();
    claims.licence.validity =
        crate::licence::Validity::long_term(crate::licence::parse_date("2001-01-01").unwrap());
    let token = sign(&claims, &key);
    let verified = verify(&token, &credential_keyring(&key), &VerifyPolicy::at(NOW)).unwrap();
    assert_eq!(verified.claims, claims);
}

#[test]
fn token_fits_a_qr_code() {
    // Version 40-Q holds 3 993 alphanumeric characters; a credential is far below it.
    let token = sign(&fixtures::claims(), &fixtures::key(1));
    let qr = crate::qr::encode(&token);
    assert!(qr.len() < 600, "{} characters", qr.len());
}

#[test]
fn a_bound_credential_names_its_holder_key() {
    let key = fixtures::key(1);
    let holder = fixtures::key(9);
    let ring = credential_keyring(&key);
    let token = sign_bound(&fixtures::claims(), holder.public(), &key);
    let verified = verify_token(&token, &ring, &VerifyPolicy::at(NOW)).unwrap();
    assert_eq!(verified.credential.claims, fixtures::claims());
    assert_eq!(verified.holder_key.as_ref(), Some(holder.public()));
    // `verify` accepts it too and gives the same credential.
    check(&token, &ring, NOW, Ok(()));
    // A bearer credential has none.
    let bearer = sign(&fixtures::claims(), &key);
    let verified = verify_token(&bearer, &ring, &VerifyPolicy::at(NOW)).unwrap();
    assert_eq!(verified.holder_key, None);
    // Binding adds exactly the `cnf` claim: key 8, then {1: {1: 1, -1: 6, -2: x}}.
    assert_eq!(token.len(), bearer.len() + 1 + 2 + 1 + 1 + 2 + 2 + 34);
}

#[test]
fn a_bad_cnf_after_a_good_signature_is_malformed() {
    let key = fixtures::key(1);
    let protected = header(alg_kid(-8, &key));
    let ring = credential_keyring(&key);
    let x = Value::Bytes(fixtures::key(9).public().to_bytes().to_vec());
    let with_cnf = |cnf: Value| {
        forge(
            &key,
            &protected,
            &payload_with(|e| e.push((cbor::int(claim::CNF), cnf))),
        )
    };
    let cose_key = |kty: i64, crv: i64, x: Value| {
        Value::Map(vec![
            (cbor::int(1), cbor::int(kty)),
            (cbor::int(-1), cbor::int(crv)),
            (cbor::int(-2), x),
        ])
    };
    let good = with_cnf(Value::Map(vec![(cbor::int(1), cose_key(1, 6, x.clone()))]));
    let verified = verify_token(&good, &ring, &VerifyPolicy::at(NOW)).unwrap();
    assert_eq!(
        verified.holder_key.as_ref(),
        Some(fixtures::key(9).public())
    );
    for bad in [
        Value::Map(vec![(cbor::int(1), cose_key(2, 1, x.clone()))]),
        Value::Map(vec![(cbor::int(1), cose_key(1, 4, x.clone()))]),
        Value::Map(vec![(
            cbor::int(1),
            cose_key(1, 6, Value::Bytes(vec![5; 31])),
        )]),
        Value::Map(vec![(cbor::int(3), Value::Bytes(vec![1; 8]))]),
        cbor::text("a key"),
    ] {
        assert!(
            matches!(
                verify_token(&with_cnf(bad.clone()), &ring, &VerifyPolicy::at(NOW)),
                Err(VerifyError::Claims(_))
            ),
            "{bad:?}"
        );
    }
    // Two `cnf` claims are two of one key.
    let twice = forge(
        &key,
        &protected,
        &payload_with(|e| {
            let cnf = Value::Map(vec![(cbor::int(1), cose_key(1, 6, x.clone()))]);
            e.push((cbor::int(claim::CNF), cnf.clone()));
            e.push((cbor::int(claim::CNF), cnf));
        }),
    );
    check(
        &twice,
        &ring,
        NOW,
        Err(FormatError::DuplicateKey("claims").into()),
    );
}

/// RFC 8392 section 6: a CWT may carry the CWT tag 61 in front of the COSE tag.
#[test]
fn the_cwt_tag_61_around_the_cose_tag_is_accepted() {
    let key = fixtures::key(1);
    let ring = credential_keyring(&key);
    let token = sign(&fixtures::claims(), &key);
    let mut wrapped = vec![0xd8, 0x3d];
    wrapped.extend_from_slice(&token);
    check(&wrapped, &ring, NOW, Ok(()));
    let bound = sign_bound(&fixtures::claims(), fixtures::key(9).public(), &key);
    let wrapped_bound = [&[0xd8, 0x3d][..], &bound].concat();
    let verified = verify_token(&wrapped_bound, &ring, &VerifyPolicy::at(NOW)).unwrap();
    assert_eq!(
        verified.holder_key.as_ref(),
        Some(fixtures::key(9).public())
    );
    assert_eq!(
        crate::danger::inspect_credential(&wrapped).unwrap().claims,
        fixtures::claims()
    );
}

#[test]
fn other_wrappings_are_refused() {
    let key = fixtures::key(1);
    let ring = credential_keyring(&key);
    let token = sign(&fixtures::claims(), &key);
    let refused = |bytes: Vec<u8>| {
        let result = verify(&bytes, &ring, &VerifyPolicy::at(NOW));
        assert!(
            matches!(result, Err(VerifyError::Envelope(EnvelopeError::Format(_)))),
            "{}: {result:?}",
            hex::encode(&bytes[..4])
        );
    };
    // Tag 61 twice; in a longer form than the shortest; another tag (62, 55799 the
    // self-described CBOR tag); tag 61 around the bare COSE_Sign1 array; tag 61 alone.
    refused([&[0xd8, 0x3d, 0xd8, 0x3d][..], &token].concat());
    refused([&[0xd9, 0x00, 0x3d][..], &token].concat());
    refused([&[0xd8, 0x3e][..], &token].concat());
    refused([&[0xd9, 0xd9, 0xf7][..], &token].concat());
    refused([&[0xd8, 0x3d][..], &token[1..]].concat());
    refused(vec![0xd8, 0x3d]);
    // Tag 18 around tag 61 is not the RFC's order either.
    refused([&[0xd2, 0xd8, 0x3d][..], &token[1..]].concat());
}
