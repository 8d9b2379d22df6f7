//! Golden presentations in `keys/testdata/presentations/*.txt`. Each file has a comment
//! line, then `expect:` (the verdict), `now:` (the verifier's clock), `slot-skew:`,
//! optionally `challenge:` (the one the verifier gave, hex), one `credential-key:` line
//! per trusted issuer key (hex) and the `presentation:` as `DL2:` QR text.
//!
//! The credential inside is the holder-bound golden token (`tokens/holder-bound.txt`): the
//! RFC 8032 TEST 1 key issued it, bound to the TEST 3 key, the holder's device key.

use std::path::{Path, PathBuf};

use ciborium::Value;
use coset::{CoseSign1Builder, HeaderBuilder, TaggedCborSerializable, iana};
use keys::presentation::{
    self, Challenge, PresentationError, PresentationPolicy, Slot, VerifiedPresentation,
};
use keys::{KeyUse, Keyring, PublicKey, TrustedKey, UnixTime, VerifyError, VerifyPolicy};

use crate::tokens::{DAY, NOW, TEST1, TEST2, TEST3, claims, key};

struct Case {
    name: &'static str,
    comment: &'static str,
    expect: &'static str,
    now: u64,
    slot_skew: u64,
    challenge: Option<Challenge>,
    presentation: Vec<u8>,
}

/// A presentation assembled by hand: protected `alg` EdDSA, the `kid` and `typ` given,
/// and the `payload` entries, signed by `key` over the proper Sig_structure. For documents
/// `present` refuses to make.
fn forge(
    key: &keys::SigningKey,
    kid: Option<&[u8]>,
    typ: Option<&str>,
    payload: Vec<(i64, Value)>,
) -> Vec<u8> {
    let mut header = HeaderBuilder::new().algorithm(iana::Algorithm::EdDSA);
    if let Some(kid) = kid {
        header = header.key_id(kid.to_vec());
    }
    if let Some(typ) = typ {
        header = header.value(16, Value::Text(typ.into()));
    }
    let payload = Value::Map(
        payload
            .into_iter()
            .map(|(k, v)| (Value::Integer(k.into()), v))
            .collect(),
    );
    let mut bytes = Vec::new();
    ciborium::ser::into_writer(&payload, &mut bytes).unwrap();
    CoseSign1Builder::new()
        .protected(header.build())
        .payload(bytes)
        .create_signature(b"", |tbs| key.sign(tbs).to_vec())
        .build()
        .to_tagged_vec()
        .unwrap()
}

fn cases() -> Vec<Case> {
    let issuer = key(TEST1);
    let holder = key(TEST3);
    let other_device = key(TEST2);
    let bound = keys::token::sign_bound(&claims(), holder.public(), &issuer);
    let bearer = keys::token::sign(&claims(), &issuer);
    let slot = Slot::new(UnixTime(NOW), 30).unwrap();
    let fresh = presentation::present(&bound, &holder, slot, None);
    let asked = Challenge::new(b"roadside-7 0042".to_vec()).unwrap();
    let answered = presentation::present(&bound, &holder, slot, Some(&asked));
    let skew = presentation::DEFAULT_SLOT_SKEW;
    let typ = Some(presentation::TYP);
    let bytes = |b: &[u8]| Value::Bytes(b.to_vec());
    let uint = |u: u64| Value::Integer(u.into());
    let mut tampered_slot = fresh.clone();
    // Move the slot one on without signing again: the payload's `2: start, 3: 30` is
    // `02 1a <start, 4 bytes> 03 18 1e`.
    let encoded = [
        &[0x02, 0x1a][..],
        &(NOW as u32).to_be_bytes(),
        &[0x03, 0x18, 0x1e],
    ]
    .concat();
    let start_at = 2 + tampered_slot
        .windows(encoded.len())
        .position(|w| w == encoded)
        .unwrap();
    tampered_slot[start_at..start_at + 4].copy_from_slice(&((NOW + 30) as u32).to_be_bytes());
    let mut expired_claims = claims();
    expired_claims.expires_at = UnixTime(NOW - DAY);
    let expired_credential = keys::token::sign_bound(&expired_claims, holder.public(), &issuer);
    let case = |name, comment, expect, now, presentation| Case {
        name,
        comment,
        expect,
        now,
        slot_skew: skew,
        challenge: None,
        presentation,
    };
    vec![
        case(
            "fresh",
            "made by the holder's device for the current 30-second slot",
            "ok",
            NOW + 10,
            fresh.clone(),
        ),
        case(
            "fresh-skew",
            "checked by a terminal whose clock is 29 seconds ahead of the slot's end",
            "ok",
            NOW + 30 + 29,
            fresh.clone(),
        ),
        case(
            "replayed",
            "the fresh presentation shown again a second after the window closed",
            "presentation-expired",
            NOW + 30 + 30,
            fresh.clone(),
        ),
        case(
            "replayed-hour",
            "the fresh presentation shown again an hour later",
            "presentation-expired",
            NOW + 3_600,
            fresh.clone(),
        ),
        case(
            "future",
            "made for a slot starting 31 seconds after the verifier's clock",
            "presentation-expired",
            NOW - 31,
            fresh.clone(),
        ),
        case(
            "other-device",
            "the bound credential presented with another device key (RFC 8032 TEST 2)",
            "bad-signature",
            NOW + 10,
            presentation::present(&bound, &other_device, slot, None),
        ),
        case(
            "issuer-signed",
            "the bound credential presented with the issuer's key instead of the holder's",
            "bad-signature",
            NOW + 10,
            presentation::present(&bound, &issuer, slot, None),
        ),
        case(
            "bearer-credential",
            "a credential without cnf, presented",
            "not-holder-bound",
            NOW + 10,
            presentation::present(&bearer, &holder, slot, None),
        ),
        case(
            "tampered-slot",
            "the fresh presentation with its slot moved on without signing again",
            "bad-signature",
            NOW + 40,
            tampered_slot,
        ),
        case(
            "tampered-credential",
            "the credential's last signature byte flipped, then presented and signed",
            "credential-bad-signature",
            NOW + 10,
            presentation::present(
                &{
                    let mut token = bound.clone();
                    let last = token.len() - 1;
                    token[last] ^= 0x80;
                    token
                },
                &holder,
                slot,
                None,
            ),
        ),
        case(
            "expired-credential",
            "a bound credential that expired a day ago, presented in a fresh slot",
            "credential-expired",
            NOW + 10,
            presentation::present(&expired_credential, &holder, slot, None),
        ),
        case(
            "credential-cwt-tag-61",
            "the bound credential in the CWT tag 61, presented",
            "ok",
            NOW + 10,
            presentation::present(&[&[0xd8, 0x3d][..], &bound].concat(), &holder, slot, None),
        ),
        Case {
            challenge: Some(asked.clone()),
            ..case(
                "challenge",
                "answers the verifier's challenge",
                "ok",
                NOW + 10,
                answered.clone(),
            )
        },
        Case {
            challenge: Some(Challenge::new(b"roadside-7 0043".to_vec()).unwrap()),
            ..case(
                "challenge-mismatch",
                "answers another verifier's challenge",
                "challenge-mismatch",
                NOW + 10,
                answered.clone(),
            )
        },
        Case {
            challenge: Some(asked.clone()),
            ..case(
                "challenge-missing",
                "answers no challenge where the verifier gave one",
                "challenge-mismatch",
                NOW + 10,
                fresh.clone(),
            )
        },
        case(
            "with-kid",
            "signed by the holder, naming the holder's kid in the protected header",
            "malformed",
            NOW + 10,
            forge(
                &holder,
                Some(holder.key_id().as_bytes()),
                typ,
                vec![(1, bytes(&bound)), (2, uint(NOW)), (3, uint(30))],
            ),
        ),
        case(
            "no-typ",
            "signed by the holder, without typ",
            "malformed",
            NOW + 10,
            forge(
                &holder,
                None,
                None,
                vec![(1, bytes(&bound)), (2, uint(NOW)), (3, uint(30))],
            ),
        ),
        case(
            "unaligned-slot",
            "signed by the holder for a slot that starts 10 seconds into a 30-second slot",
            "malformed",
            NOW + 10,
            forge(
                &holder,
                None,
                typ,
                vec![(1, bytes(&bound)), (2, uint(NOW + 10)), (3, uint(30))],
            ),
        ),
        case(
            "slot-too-long",
            "signed by the holder for a 600-second slot",
            "malformed",
            NOW + 10,
            forge(
                &holder,
                None,
                typ,
                vec![(1, bytes(&bound)), (2, uint(NOW)), (3, uint(600))],
            ),
        ),
        case(
            "credential-not-presentation",
            "the bound credential itself as DL2: text",
            "malformed",
            NOW + 10,
            bound.clone(),
        ),
    ]
}

fn outcome(result: &Result<VerifiedPresentation, PresentationError>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(PresentationError::Envelope(_) | PresentationError::Format(_)) => "malformed".into(),
        Err(PresentationError::Credential(e)) => format!("credential-{}", credential_outcome(e)),
        Err(PresentationError::NotHolderBound) => "not-holder-bound".into(),
        Err(PresentationError::BadSignature) => "bad-signature".into(),
        Err(PresentationError::Expired(_)) => "presentation-expired".into(),
        Err(PresentationError::ChallengeMismatch) => "challenge-mismatch".into(),
        // Only `verify_presented` says this; the vectors go through `verify`.
        Err(PresentationError::OtherCredential) => "other-credential".into(),
    }
}

fn credential_outcome(error: &VerifyError) -> &'static str {
    match error {
        VerifyError::Envelope(_) | VerifyError::Claims(_) => "malformed",
        VerifyError::UnknownKey(_) => "unknown-key",
        VerifyError::BadSignature => "bad-signature",
        VerifyError::KeyRevoked(_) => "key-revoked",
        VerifyError::KeyNotValid { .. } => "key-not-valid",
        VerifyError::NotYetValid(_) => "not-yet-valid",
        VerifyError::Expired(_) => "expired",
    }
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/presentations")
}

fn render(case: &Case) -> String {
    let mut text = format!(
        "# {}\nexpect: {}\nnow: {}\nslot-skew: {}\n",
        case.comment, case.expect, case.now, case.slot_skew
    );
    if let Some(challenge) = &case.challenge {
        text.push_str(&format!("challenge: {challenge}\n"));
    }
    text.push_str(&format!(
        "credential-key: {}\npresentation: {}\n",
        hex::encode(key(TEST1).public().to_bytes()),
        keys::qr::encode_presentation(&case.presentation)
    ));
    text
}

/// Reads a golden file and returns (expect, outcome of verifying it).
fn run_file(text: &str) -> (String, String) {
    let mut expect = String::new();
    let mut policy = PresentationPolicy::at(UnixTime(0));
    let mut trusted = Vec::new();
    let mut presentation = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (field, value) = line.split_once(": ").unwrap();
        match field {
            "expect" => expect = value.to_owned(),
            "now" => policy.credential = VerifyPolicy::at(UnixTime(value.parse().unwrap())),
            "slot-skew" => policy.slot_skew = value.parse().unwrap(),
            "challenge" => policy.challenge = Some(value.parse().unwrap()),
            "credential-key" => {
                let bytes: [u8; 32] = hex::decode(value).unwrap().try_into().unwrap();
                trusted.push(TrustedKey {
                    public: PublicKey::from_bytes(&bytes).unwrap(),
                    key_use: KeyUse::Credential,
                    not_before: UnixTime(0),
                    not_after: UnixTime(u64::MAX / 2),
                    revoked: false,
                });
            }
            "presentation" => presentation = keys::qr::decode_presentation(value).unwrap(),
            other => panic!("unknown field {other}"),
        }
    }
    let result = presentation::verify(&presentation, &Keyring::new(trusted), &policy);
    if let Ok(verified) = &result {
        // What a verified presentation proves: the holder key is the credential's cnf,
        // the TEST 3 key, and the slot is current.
        assert_eq!(&verified.holder_key, key(TEST3).public());
        assert!(
            verified
                .slot
                .is_current(policy.credential.now, policy.slot_skew)
        );
        assert_eq!(verified.credential.claims, claims());
    }
    (expect, outcome(&result))
}

#[test]
fn golden_presentations() {
    let cases = cases();
    if std::env::var_os("EDL_WRITE_GOLDEN").is_some() {
        std::fs::create_dir_all(dir()).unwrap();
        for case in &cases {
            std::fs::write(dir().join(format!("{}.txt", case.name)), render(case)).unwrap();
        }
    }
    for case in &cases {
        let path = dir().join(format!("{}.txt", case.name));
        let stored =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(stored, render(case), "{} changed", case.name);
    }
    let mut checked = 0;
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let (expect, outcome) = run_file(&text);
        assert_eq!(outcome, expect, "{}", path.display());
        checked += 1;
    }
    assert!(checked >= cases.len());
}

/// `docs/FORMATS.md` section 8 gives the size of a typical presentation and the QR
/// version that holds it at level Q, next to the credential's: these are those figures.
#[test]
fn presentation_sizes_are_as_documented() {
    let issuer = key(TEST1);
    let holder = key(TEST3);
    let bound = keys::token::sign_bound(&claims(), holder.public(), &issuer);
    let bearer = keys::token::sign(&claims(), &issuer);
    let slot = Slot::new(UnixTime(NOW), 30).unwrap();
    let fresh = presentation::present(&bound, &holder, slot, None);
    let challenge = Challenge::new(vec![0x5a; 16]).unwrap();
    let answered = presentation::present(&bound, &holder, slot, Some(&challenge));
    let version =
        |text: &str| match qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::Q)
            .unwrap()
            .version()
        {
            qrcode::Version::Normal(v) => v,
            qrcode::Version::Micro(v) => panic!("micro QR {v}"),
        };
    let figures = |bytes: &[u8], text: String| (bytes.len(), text.len(), version(&text));
    assert_eq!(
        figures(&bearer, keys::qr::encode(&bearer)),
        (368, 556, 18),
        "DL1 bearer"
    );
    assert_eq!(
        figures(&bound, keys::qr::encode(&bound)),
        (411, 621, 19),
        "DL1 bound"
    );
    assert_eq!(
        figures(&fresh, keys::qr::encode_presentation(&fresh)),
        (538, 811, 22),
        "DL2"
    );
    assert_eq!(
        figures(&answered, keys::qr::encode_presentation(&answered)),
        (556, 838, 23),
        "DL2 with a 16-byte challenge"
    );
}
