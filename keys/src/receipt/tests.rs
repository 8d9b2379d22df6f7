use super::*;
use crate::fixtures::{self, DAY, NOW};
use crate::keyring::TrustedKey;

fn receipt() -> Receipt {
    Receipt {
        credential_id: CredentialId([7; 16]),
        status: LiveStatus::Valid,
        at: NOW,
        client: "acme-insurance".into(),
        role: "insurer".into(),
        purpose: Some("motor policy 2026-1174 renewal".into()),
        audit_record: [0xab; 32],
    }
}

fn status_keyring(key: &SigningKey) -> Keyring {
    fixtures::keyring(&[(key, KeyUse::Status)])
}

/// Signs claims as a receipt with `key`, for forgeries.
fn forge(key: &SigningKey, claims: Vec<(Value, Value)>) -> Vec<u8> {
    cose::sign(key, Some(TYP), cbor::encode(&Value::Map(claims)))
}

/// The receipt's claims, `iat` and the lookup map, with `edit` applied to the lookup map.
fn claims_with(edit: impl FnOnce(&mut Vec<(Value, Value)>)) -> Vec<(Value, Value)> {
    let signed = sign(&receipt(), &fixtures::key(3));
    let payload = crate::cose::Opened::parse(&signed, Some(TYP))
        .unwrap()
        .unverified_payload();
    let Value::Map(mut claims) = cbor::decode(&payload).unwrap() else {
        unreachable!()
    };
    let (_, Value::Map(lookup)) = claims
        .iter_mut()
        .find(|(k, _)| *k == cbor::int(claim::LOOKUP))
        .unwrap()
    else {
        unreachable!()
    };
    edit(lookup);
    claims
}

#[test]
fn round_trips() {
    let key = fixtures::key(3);
    for receipt in [
        receipt(),
        Receipt {
            purpose: None,
            status: LiveStatus::Revoked,
            role: "officer".into(),
            ..receipt()
        },
    ] {
        let verified = verify(&sign(&receipt, &key), &status_keyring(&key)).unwrap();
        assert_eq!(verified.receipt, receipt);
        assert_eq!(verified.key_id, key.key_id());
    }
}

#[test]
fn statuses_round_trip_as_words() {
    for status in [
        LiveStatus::Valid,
        LiveStatus::Suspended,
        LiveStatus::Revoked,
        LiveStatus::Superseded,
        LiveStatus::Expired,
    ] {
        assert_eq!(status.as_str().parse::<LiveStatus>(), Ok(status));
        assert_eq!(
            serde_json::to_string(&status).unwrap(),
            format!("\"{status}\"")
        );
    }
    assert_eq!(
        "invalid".parse::<LiveStatus>(),
        Err(UnknownStatus("invalid".into()))
    );
}

#[test]
fn only_a_trusted_unrevoked_status_key_in_its_window_signs() {
    let key = fixtures::key(3);
    let signed = sign(&receipt(), &key);
    assert_eq!(
        verify(&signed, &fixtures::keyring(&[(&key, KeyUse::Credential)])),
        Err(ReceiptError::UnknownKey(key.key_id()))
    );
    assert_eq!(
        verify(&signed, &Keyring::default()),
        Err(ReceiptError::UnknownKey(key.key_id()))
    );
    let revoked = Keyring::new(vec![TrustedKey {
        revoked: true,
        ..fixtures::trusted(&key, KeyUse::Status)
    }]);
    assert_eq!(
        verify(&signed, &revoked),
        Err(ReceiptError::KeyRevoked(key.key_id()))
    );
    let retired = Keyring::new(vec![TrustedKey {
        not_after: NOW.minus(DAY),
        ..fixtures::trusted(&key, KeyUse::Status)
    }]);
    assert_eq!(
        verify(&signed, &retired),
        Err(ReceiptError::KeyNotValid {
            key_id: key.key_id(),
            signed_at: NOW
        })
    );
    // Another key under the same kid.
    let forged = {
        let mut bytes = sign(&receipt(), &fixtures::key(4));
        let kid = fixtures::key(4).key_id();
        let at = bytes.windows(8).position(|w| w == kid.as_bytes()).unwrap();
        bytes[at..at + 8].copy_from_slice(key.key_id().as_bytes());
        bytes
    };
    assert_eq!(
        verify(&forged, &status_keyring(&key)),
        Err(ReceiptError::BadSignature)
    );
}

#[test]
fn a_receipt_is_no_other_document() {
    let key = fixtures::key(3);
    let ring = status_keyring(&key);
    // A status list token signed by the same key is not a receipt, nor a receipt a status
    // list token.
    let list = crate::status_list::StatusListClaims {
        uri: "https://dl.example.gov.cn/v1/status-lists/0".into(),
        issued_at: NOW,
        expires_at: NOW.plus(DAY),
        ttl: 60,
        list: crate::status_list::StatusList::new(2, crate::status_list::MIN_ENTRIES).unwrap(),
    };
    assert!(matches!(
        verify(&crate::status_list::sign(&list, &key), &ring),
        Err(ReceiptError::Envelope(EnvelopeError::WrongType { .. }))
    ));
    assert!(matches!(
        crate::status_list::verify(
            &sign(&receipt(), &key),
            &ring,
            &crate::VerifyPolicy::at(NOW),
            None
        ),
        Err(crate::status_list::StatusListError::Envelope(
            EnvelopeError::WrongType { .. }
        ))
    ));
}

#[test]
fn malformed_payloads_are_refused() {
    let key = fixtures::key(3);
    let ring = status_keyring(&key);
    let refused =
        |payload: Vec<(Value, Value)>, field: &str| match verify(&forge(&key, payload), &ring) {
            Err(ReceiptError::Format(
                FormatError::Missing(f)
                | FormatError::Invalid { field: f, .. }
                | FormatError::Domain { field: f, .. }
                | FormatError::DuplicateKey(f),
            )) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        };
    for (key, field) in [
        (field::CREDENTIAL, "credential"),
        (field::STATUS, "status"),
        (field::CLIENT, "client"),
        (field::ROLE, "role"),
        (field::AUDIT_RECORD, "audit record"),
    ] {
        refused(
            claims_with(|lookup| lookup.retain(|(k, _)| *k != cbor::int(key))),
            field,
        );
    }
    let with = |key: i64, value: Value| {
        claims_with(|lookup| {
            lookup.retain(|(k, _)| *k != cbor::int(key));
            lookup.push((cbor::int(key), value));
        })
    };
    refused(with(field::STATUS, cbor::text("Valid")), "status");
    refused(with(field::STATUS, cbor::uint(0)), "status");
    refused(
        with(field::CREDENTIAL, Value::Bytes(vec![1; 15])),
        "credential",
    );
    refused(
        with(field::AUDIT_RECORD, Value::Bytes(vec![1; 31])),
        "audit record",
    );
    refused(with(field::PURPOSE, Value::Bytes(vec![])), "purpose");
    refused(
        claims_with(|lookup| lookup.push((cbor::int(field::ROLE), cbor::text("officer")))),
        "lookup",
    );
    // The claims around the lookup: iat missing or negative, the lookup missing.
    let mut no_iat = claims_with(|_| {});
    no_iat.retain(|(k, _)| *k != cbor::int(claim::IAT));
    refused(no_iat, "iat");
    let mut negative_iat = claims_with(|_| {});
    negative_iat[0].1 = cbor::int(-1);
    refused(negative_iat, "iat");
    let mut no_lookup = claims_with(|_| {});
    no_lookup.retain(|(k, _)| *k != cbor::int(claim::LOOKUP));
    refused(no_lookup, "lookup");
    // Claims it does not know are ignored, as in every CWT.
    let mut extra = claims_with(|_| {});
    extra.push((cbor::int(1), cbor::text("https://dl.example.gov.cn")));
    assert_eq!(
        verify(&forge(&key, extra), &ring).unwrap().receipt,
        receipt()
    );
}
