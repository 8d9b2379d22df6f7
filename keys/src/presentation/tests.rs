use ciborium::Value;

use super::*;
use crate::fixtures::{self, NOW};
use crate::key::KeyUse;

/// The issuer's key, the holder's device key, and a credential bound to it.
struct Setup {
    keyring: Keyring,
    holder: SigningKey,
    token: Vec<u8>,
}

fn setup() -> Setup {
    let issuer = fixtures::key(1);
    let holder = fixtures::key(9);
    Setup {
        keyring: fixtures::keyring(&[(&issuer, KeyUse::Credential)]),
        token: token::sign_bound(&fixtures::claims(), holder.public(), &issuer),
        holder,
    }
}

fn slot() -> Slot {
    Slot::containing(NOW, DEFAULT_SLOT_LENGTH).unwrap()
}

fn challenge(bytes: &[u8]) -> Challenge {
    Challenge::new(bytes.to_vec()).unwrap()
}

/// Signs `payload` as a presentation with `protected` header bytes, for forgeries.
fn forge(key: &SigningKey, protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let to_be_signed = cbor::encode(&Value::Array(vec![
        cbor::text("Signature1"),
        Value::Bytes(protected.to_vec()),
        Value::Bytes(vec![]),
        Value::Bytes(payload.to_vec()),
    ]));
    cbor::encode(&Value::Tag(
        18,
        Box::new(Value::Array(vec![
            Value::Bytes(protected.to_vec()),
            Value::Map(vec![]),
            Value::Bytes(payload.to_vec()),
            Value::Bytes(key.sign(&to_be_signed).to_vec()),
        ])),
    ))
}

fn protected(extra: Vec<(Value, Value)>) -> Vec<u8> {
    let mut entries = vec![
        (cbor::int(1), cbor::int(-8)),
        (cbor::int(16), cbor::text(TYP)),
    ];
    entries.extend(extra);
    cbor::encode(&Value::Map(entries))
}

fn payload(token: &[u8], entries: Vec<(i64, Value)>) -> Vec<u8> {
    let mut map = vec![(cbor::int(field::CREDENTIAL), Value::Bytes(token.to_vec()))];
    map.extend(entries.into_iter().map(|(k, v)| (cbor::int(k), v)));
    cbor::encode(&Value::Map(map))
}

fn slot_entries(start: u64, length: u64) -> Vec<(i64, Value)> {
    vec![
        (field::SLOT_START, cbor::uint(start)),
        (field::SLOT_LENGTH, cbor::uint(length)),
    ]
}

#[track_caller]
fn check(
    presentation: &[u8],
    policy: &PresentationPolicy,
    expected: Result<(), PresentationError>,
) {
    let s = setup();
    let result = verify(presentation, &s.keyring, policy).map(|verified| {
        assert_eq!(verified.credential.claims, fixtures::claims());
        assert_eq!(&verified.holder_key, s.holder.public());
    });
    assert_eq!(result, expected);
    // Given the credential inside verified already, `verify_presented` decides alike.
    if let Ok(contents) = crate::danger::inspect_presentation(presentation)
        && let Ok(verified) = token::verify_token(&contents.token, &s.keyring, &policy.credential)
    {
        let presented =
            verify_presented(presentation, &contents.token, &verified.credential, policy)
                .map(|p| assert_eq!(&p.holder_key, s.holder.public()));
        assert_eq!(presented, expected);
    }
}

#[test]
fn a_verified_credential_vouches_only_for_itself() {
    let s = setup();
    let policy = PresentationPolicy::at(NOW);
    let presentation = present(&s.token, &s.holder, slot(), None);
    let verified = token::verify_token(&s.token, &s.keyring, &policy.credential).unwrap();
    let ok = verify_presented(&presentation, &s.token, &verified.credential, &policy).unwrap();
    assert_eq!(ok.credential, verified.credential);
    assert_eq!(ok.slot, slot());
    // Another credential, verified, bound to the same device: it vouches for neither the
    // presentation's token nor claims it does not state.
    let mut claims = fixtures::claims();
    claims.licence.name = "李四".into();
    let other = token::sign_bound(&claims, s.holder.public(), &fixtures::key(1));
    let other_verified = token::verify_token(&other, &s.keyring, &policy.credential).unwrap();
    for (token, credential) in [
        (&other, &verified.credential),
        (&s.token, &other_verified.credential),
        (&other, &other_verified.credential),
    ] {
        assert_eq!(
            verify_presented(&presentation, token, credential, &policy),
            Err(PresentationError::OtherCredential)
        );
    }
}

#[test]
fn a_fresh_presentation_verifies() {
    let s = setup();
    let presentation = present(&s.token, &s.holder, slot(), None);
    let verified = verify(&presentation, &s.keyring, &PresentationPolicy::at(NOW)).unwrap();
    assert_eq!(verified.credential.claims, fixtures::claims());
    assert_eq!(verified.credential.key_id, fixtures::key(1).key_id());
    assert_eq!(&verified.holder_key, s.holder.public());
    assert_eq!(verified.slot, slot());
    assert_eq!(verified.challenge, None);
    // Deterministic: a screen redrawn within the slot shows the same code.
    assert_eq!(presentation, present(&s.token, &s.holder, slot(), None));
}

#[test]
fn the_slot_must_be_current_within_the_skew() {
    let s = setup();
    let slot = Slot::new(UnixTime(1_793_491_200), 30).unwrap();
    let presentation = present(&s.token, &s.holder, slot, None);
    let at = |now: u64, skew: u64| PresentationPolicy {
        slot_skew: skew,
        ..PresentationPolicy::at(UnixTime(now))
    };
    let expired = Err(PresentationError::Expired(slot));
    // Inside the slot; up to the skew before it and after it; not a second more.
    for now in [1_793_491_200, 1_793_491_229] {
        check(&presentation, &at(now, 0), Ok(()));
    }
    check(&presentation, &at(1_793_491_230, 0), expired.clone());
    check(&presentation, &at(1_793_491_199, 0), expired.clone());
    check(&presentation, &at(1_793_491_259, 30), Ok(()));
    check(&presentation, &at(1_793_491_260, 30), expired.clone());
    check(&presentation, &at(1_793_491_170, 30), Ok(()));
    check(&presentation, &at(1_793_491_169, 30), expired.clone());
    // Replayed an hour later.
    check(
        &presentation,
        &PresentationPolicy::at(UnixTime(1_793_494_800)),
        expired,
    );
}

#[test]
fn a_presentation_signed_by_another_device_is_refused() {
    let s = setup();
    let other = fixtures::key(10);
    let presentation = present(&s.token, &other, slot(), None);
    check(
        &presentation,
        &PresentationPolicy::at(NOW),
        Err(PresentationError::BadSignature),
    );
    // Nor may the issuer's key stand in for the holder's.
    let presentation = present(&s.token, &fixtures::key(1), slot(), None);
    check(
        &presentation,
        &PresentationPolicy::at(NOW),
        Err(PresentationError::BadSignature),
    );
}

#[test]
fn a_bearer_credential_cannot_be_presented() {
    let s = setup();
    let bearer = token::sign(&fixtures::claims(), &fixtures::key(1));
    let presentation = present(&bearer, &s.holder, slot(), None);
    check(
        &presentation,
        &PresentationPolicy::at(NOW),
        Err(PresentationError::NotHolderBound),
    );
}

#[test]
fn the_credential_inside_is_verified_first() {
    let s = setup();
    // Signed by an untrusted issuer key, and expired: its own errors come through.
    let untrusted = token::sign_bound(&fixtures::claims(), s.holder.public(), &fixtures::key(2));
    check(
        &present(&untrusted, &s.holder, slot(), None),
        &PresentationPolicy::at(NOW),
        Err(VerifyError::UnknownKey(fixtures::key(2).key_id()).into()),
    );
    let mut claims = fixtures::claims();
    claims.expires_at = NOW.minus(fixtures::DAY);
    let expired = token::sign_bound(&claims, s.holder.public(), &fixtures::key(1));
    assert!(matches!(
        verify(
            &present(&expired, &s.holder, slot(), None),
            &s.keyring,
            &PresentationPolicy::at(NOW)
        ),
        Err(PresentationError::Credential(VerifyError::Expired(_)))
    ));
    let mut tampered = s.token.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    check(
        &present(&tampered, &s.holder, slot(), None),
        &PresentationPolicy::at(NOW),
        Err(VerifyError::BadSignature.into()),
    );
}

#[test]
fn a_credential_in_the_cwt_tag_can_be_presented() {
    let s = setup();
    let wrapped = [&[0xd8, 0x3d][..], &s.token].concat();
    check(
        &present(&wrapped, &s.holder, slot(), None),
        &PresentationPolicy::at(NOW),
        Ok(()),
    );
}

#[test]
fn challenges() {
    let s = setup();
    let asked = challenge(b"terminal 7 nonce");
    let answered = present(&s.token, &s.holder, slot(), Some(&asked));
    let unanswered = present(&s.token, &s.holder, slot(), None);
    let other = present(
        &s.token,
        &s.holder,
        slot(),
        Some(&challenge(b"another nonce")),
    );
    let expecting = PresentationPolicy {
        challenge: Some(asked.clone()),
        ..PresentationPolicy::at(NOW)
    };
    let verified = verify(&answered, &s.keyring, &expecting).unwrap();
    assert_eq!(verified.challenge, Some(asked.clone()));
    check(
        &unanswered,
        &expecting,
        Err(PresentationError::ChallengeMismatch),
    );
    check(
        &other,
        &expecting,
        Err(PresentationError::ChallengeMismatch),
    );
    // A verifier that asked nothing accepts an answer to someone else's question, and is
    // told what it was.
    let verified = verify(&answered, &s.keyring, &PresentationPolicy::at(NOW)).unwrap();
    assert_eq!(verified.challenge, Some(asked));
}

#[test]
fn slots_and_challenges_are_checked_when_built() {
    assert_eq!(Slot::new(UnixTime(60), 0), Err(SlotError::Length(0)));
    assert_eq!(Slot::new(UnixTime(600), 301), Err(SlotError::Length(301)));
    assert_eq!(
        Slot::new(UnixTime(61), 30),
        Err(SlotError::NotAligned {
            start: 61,
            length: 30
        })
    );
    assert_eq!(Slot::containing(UnixTime(0), 0), Err(SlotError::Length(0)));
    let slot = Slot::containing(UnixTime(1_000_000_007), 30).unwrap();
    assert_eq!((slot.start(), slot.length()), (UnixTime(999_999_990), 30));
    assert_eq!(slot.end(), UnixTime(1_000_000_020));
    assert_eq!(
        Slot::containing(UnixTime(1_000_000_007), 1)
            .unwrap()
            .start(),
        UnixTime(1_000_000_007)
    );
    assert_eq!(Challenge::new(vec![]), Err(ChallengeError::Length(0)));
    assert_eq!(Challenge::new(vec![1; 33]), Err(ChallengeError::Length(33)));
    assert!(Challenge::new(vec![1; 32]).is_ok());
    assert_eq!("00ff".parse::<Challenge>().unwrap().as_bytes(), &[0, 0xff]);
    assert_eq!("0fff".parse::<Challenge>().unwrap().to_string(), "0fff");
    assert_eq!("0ff".parse::<Challenge>(), Err(ChallengeError::NotHex));
    assert_eq!("zz".parse::<Challenge>(), Err(ChallengeError::NotHex));
    assert_eq!("".parse::<Challenge>(), Err(ChallengeError::Length(0)));
}

#[test]
fn the_envelope_is_a_presentations_own() {
    let s = setup();
    let policy = PresentationPolicy::at(NOW);
    let body = payload(&s.token, slot_entries(slot().start().0, 30));
    // The right shape signed by the holder verifies (the forger itself is right).
    check(
        &forge(&s.holder, &protected(vec![]), &body),
        &policy,
        Ok(()),
    );
    // A kid, even the holder's own: a presentation names no key. (An empty one is not
    // even a COSE header.)
    let header = protected(vec![(
        cbor::int(4),
        Value::Bytes(s.holder.key_id().as_bytes().to_vec()),
    )]);
    check(
        &forge(&s.holder, &header, &body),
        &policy,
        Err(EnvelopeError::UnexpectedKeyId.into()),
    );
    let header = protected(vec![(cbor::int(4), Value::Bytes(vec![]))]);
    assert!(matches!(
        verify(&forge(&s.holder, &header, &body), &s.keyring, &policy),
        Err(PresentationError::Envelope(EnvelopeError::Format(_)))
    ));
    // No typ, or another document's.
    let no_typ = cbor::encode(&Value::Map(vec![(cbor::int(1), cbor::int(-8))]));
    assert!(matches!(
        verify(&forge(&s.holder, &no_typ, &body), &s.keyring, &policy),
        Err(PresentationError::Envelope(EnvelopeError::WrongType { .. }))
    ));
    // A credential is not a presentation, and a presentation is not a credential.
    assert!(matches!(
        verify(&s.token, &s.keyring, &policy),
        Err(PresentationError::Envelope(EnvelopeError::WrongType { .. }))
    ));
    let presentation = present(&s.token, &s.holder, slot(), None);
    assert!(matches!(
        token::verify(&presentation, &s.keyring, &policy.credential),
        Err(VerifyError::Envelope(_))
    ));
    // Another algorithm.
    let es256 = cbor::encode(&Value::Map(vec![
        (cbor::int(1), cbor::int(-7)),
        (cbor::int(16), cbor::text(TYP)),
    ]));
    assert!(matches!(
        verify(&forge(&s.holder, &es256, &body), &s.keyring, &policy),
        Err(PresentationError::Envelope(
            EnvelopeError::UnsupportedAlgorithm(_)
        ))
    ));
    // Tag 61 is for credentials only.
    let wrapped = [&[0xd8, 0x3d][..], &presentation].concat();
    assert!(matches!(
        verify(&wrapped, &s.keyring, &policy),
        Err(PresentationError::Envelope(EnvelopeError::Format(_)))
    ));
}

#[test]
fn malformed_payloads_are_refused() {
    let s = setup();
    let policy = PresentationPolicy::at(NOW);
    let start = slot().start().0;
    let refused = |body: Vec<u8>, field: &str| match verify(
        &forge(&s.holder, &protected(vec![]), &body),
        &s.keyring,
        &policy,
    ) {
        Err(PresentationError::Format(
            FormatError::Missing(f)
            | FormatError::Invalid { field: f, .. }
            | FormatError::Domain { field: f, .. }
            | FormatError::DuplicateKey(f),
        )) => assert_eq!(f, field),
        other => panic!("{field}: {other:?}"),
    };
    let no_credential = cbor::encode(&Value::Map(vec![
        (cbor::int(2), cbor::uint(start)),
        (cbor::int(3), cbor::uint(30)),
    ]));
    refused(no_credential, "credential");
    refused(payload(&s.token, vec![(3, cbor::uint(30))]), "slot start");
    refused(
        payload(&s.token, vec![(2, cbor::uint(start))]),
        "slot length",
    );
    refused(payload(&s.token, slot_entries(start + 1, 30)), "slot");
    refused(payload(&s.token, slot_entries(start, 0)), "slot");
    refused(
        payload(&s.token, slot_entries(NOW.0 - NOW.0 % 600, 600)),
        "slot",
    );
    let mut with_text_start = slot_entries(start, 30);
    with_text_start[0].1 = cbor::text("now");
    refused(payload(&s.token, with_text_start), "slot start");
    let mut with_challenge = slot_entries(start, 30);
    with_challenge.push((4, Value::Bytes(vec![1; 33])));
    refused(payload(&s.token, with_challenge), "challenge");
    let mut with_empty_challenge = slot_entries(start, 30);
    with_empty_challenge.push((4, Value::Bytes(vec![])));
    refused(payload(&s.token, with_empty_challenge), "challenge");
    let mut with_text_challenge = slot_entries(start, 30);
    with_text_challenge.push((4, cbor::text("abcd")));
    refused(payload(&s.token, with_text_challenge), "challenge");
    let mut twice = slot_entries(start, 30);
    twice.push((2, cbor::uint(start)));
    refused(payload(&s.token, twice), "presentation");
    let token_as_text = cbor::encode(&Value::Map(vec![
        (cbor::int(1), cbor::text("DL1:...")),
        (cbor::int(2), cbor::uint(start)),
        (cbor::int(3), cbor::uint(30)),
    ]));
    refused(token_as_text, "credential");
    refused(cbor::encode(&Value::Array(vec![])), "presentation");
    // Keys it does not know are ignored, as in every edl map.
    let mut with_extra = slot_entries(start, 30);
    with_extra.push((99, cbor::text("extension")));
    check(
        &forge(
            &s.holder,
            &protected(vec![]),
            &payload(&s.token, with_extra),
        ),
        &policy,
        Ok(()),
    );
}

#[test]
fn inspection_reads_without_verifying() {
    let s = setup();
    let asked = challenge(&[7; 8]);
    let presentation = present(&s.token, &fixtures::key(10), slot(), Some(&asked));
    let inspected = crate::danger::inspect_presentation(&presentation).unwrap();
    assert_eq!(
        inspected,
        Presentation {
            token: s.token.clone(),
            slot: slot(),
            challenge: Some(asked),
        }
    );
    assert!(crate::danger::inspect_presentation(&s.token).is_err());
}

#[test]
fn a_typical_presentation_fits_a_qr_code() {
    let s = setup();
    let presentation = present(&s.token, &s.holder, slot(), Some(&challenge(&[1; 16])));
    let text = crate::qr::encode_presentation(&presentation);
    // Version 40-Q holds 1 852 alphanumeric characters; version 25-Q, 715.
    assert!(text.len() < 900, "{} characters", text.len());
}
