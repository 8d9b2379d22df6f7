//! Golden credential tokens in `keys/testdata/tokens/*.txt`. Each file has a comment line,
//! then `expect:`, `now:`, one `credential-key:` line per trusted key (hex public key,
//! optionally followed by `revoked`), for a holder-bound credential the `holder-key:` its
//! `cnf` must name (hex public key), and the `token:` as QR text.
//!
//! The files are written once by `EDL_WRITE_GOLDEN=1 cargo test -p keys --test golden` and
//! then only read: a change to the encoding changes the bytes, and the test fails.

use std::path::{Path, PathBuf};

use coset::{CoseSign1, HeaderBuilder, TaggedCborSerializable, iana};
use keys::licence::{LicenceClasses, LicenceNumber, PhotoDigest, Validity, parse_date};
use keys::token::{CredentialClaims, CredentialId, LicenceDetails, StatusReference};
use keys::{
    KeyUse, Keyring, PublicKey, SigningKey, TrustedKey, UnixTime, VerifyError, VerifyPolicy,
};

pub(crate) const NOW: u64 = 1_793_491_200;
pub(crate) const DAY: u64 = 86_400;
/// RFC 8032 section 7.1 TEST 1 and TEST 2 secret keys.
pub(crate) const TEST1: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
pub(crate) const TEST2: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";

pub(crate) fn key(seed_hex: &str) -> SigningKey {
    SigningKey::from_seed(&hex::decode(seed_hex).unwrap().try_into().unwrap())
}

pub(crate) fn claims() -> CredentialClaims {
    CredentialClaims {
        issuer: "https://dl.example.gov.cn".into(),
        licence_number: "11010519491231002X".parse::<LicenceNumber>().unwrap(),
        credential_id: CredentialId(*b"golden-token-id!"),
        issued_at: UnixTime(NOW - DAY),
        not_before: UnixTime(NOW - DAY),
        expires_at: UnixTime(NOW + 365 * DAY),
        licence: LicenceDetails {
            name: "张三".into(),
            classes: "C1 D".parse::<LicenceClasses>().unwrap(),
            validity: Validity::new(
                parse_date("2019-07-01").unwrap(),
                Some(parse_date("2029-07-01").unwrap()),
            )
            .unwrap(),
            authority: "北京市公安局公安交通管理局".into(),
            photo: PhotoDigest::of(b"golden photo"),
        },
        status: StatusReference {
            index: 77_777,
            uri: "https://dl.example.gov.cn/v1/status-lists/0".into(),
        },
    }
}

/// RFC 8032 section 7.1 TEST 3's secret key: the holder's device key in the vectors.
pub(crate) const TEST3: &str = "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7";

/// Signs `payload` (CBOR claims) with `key`, as edl signs credentials.
pub(crate) fn sign_payload(payload: &ciborium::Value, key: &SigningKey) -> Vec<u8> {
    let mut bytes = Vec::new();
    ciborium::ser::into_writer(payload, &mut bytes).unwrap();
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .key_id(key.key_id().as_bytes().to_vec())
        .build();
    coset::CoseSign1Builder::new()
        .protected(protected)
        .payload(bytes)
        .create_signature(b"", |tbs| key.sign(tbs).to_vec())
        .build()
        .to_tagged_vec()
        .unwrap()
}

/// `token`'s claims with `cnf` set to `cnf`, re-signed by `key`.
fn with_cnf(token: &[u8], key: &SigningKey, cnf: ciborium::Value) -> Vec<u8> {
    use ciborium::Value;
    let payload = CoseSign1::from_tagged_slice(token)
        .unwrap()
        .payload
        .unwrap();
    let Value::Map(mut claims) = ciborium::de::from_reader(&payload[..]).unwrap() else {
        panic!("claims are a map")
    };
    claims.retain(|(k, _)| *k != Value::Integer(8.into()));
    claims.insert(6, (Value::Integer(8.into()), cnf));
    sign_payload(&Value::Map(claims), key)
}

/// A `cnf` holding a COSE_Key of these labels and values.
fn cnf(entries: &[(i64, ciborium::Value)]) -> ciborium::Value {
    use ciborium::Value;
    Value::Map(vec![(
        Value::Integer(1.into()),
        Value::Map(
            entries
                .iter()
                .map(|(label, value)| (Value::Integer((*label).into()), value.clone()))
                .collect(),
        ),
    )])
}

/// Re-signs `token`'s payload under a different protected `alg`.
fn with_alg(token: &[u8], key: &SigningKey, alg: iana::Algorithm) -> Vec<u8> {
    let original = CoseSign1::from_tagged_slice(token).unwrap();
    let protected = HeaderBuilder::new()
        .algorithm(alg)
        .key_id(key.key_id().as_bytes().to_vec())
        .build();
    coset::CoseSign1Builder::new()
        .protected(protected)
        .payload(original.payload.unwrap())
        .create_signature(b"", |tbs| key.sign(tbs).to_vec())
        .build()
        .to_tagged_vec()
        .unwrap()
}

struct Case {
    name: &'static str,
    comment: &'static str,
    expect: &'static str,
    now: u64,
    keys: Vec<(PublicKey, bool)>,
    holder: Option<PublicKey>,
    token: Vec<u8>,
}

fn cases() -> Vec<Case> {
    let test1 = key(TEST1);
    let test2 = key(TEST2);
    let valid = keys::token::sign(&claims(), &test1);
    let mut bad_signature = valid.clone();
    let last = bad_signature.len() - 1;
    bad_signature[last] ^= 0x80;
    let mut trailing = valid.clone();
    trailing.push(0xf6);
    let trusted = || vec![(test1.public().clone(), false)];
    let holder = key(TEST3);
    let bound = keys::token::sign_bound(&claims(), holder.public(), &test1);
    let x = || ciborium::Value::Bytes(holder.public().to_bytes().to_vec());
    let int = |i: i64| ciborium::Value::Integer(i.into());
    let tag_61 = |token: &[u8]| [&[0xd8, 0x3d][..], token].concat();
    vec![
        Case {
            name: "valid",
            comment: "a credential signed by the RFC 8032 TEST 1 key",
            expect: "ok",
            now: NOW,
            keys: trusted(),
            holder: None,
            token: valid.clone(),
        },
        Case {
            name: "alg-ed25519",
            comment: "the same claims under alg -19 (Ed25519, RFC 9864)",
            expect: "ok",
            now: NOW,
            keys: trusted(),
            holder: None,
            token: with_alg(&valid, &test1, iana::Algorithm::Ed25519),
        },
        Case {
            name: "alg-es256",
            comment: "a good Ed25519 signature labelled ES256",
            expect: "unsupported-algorithm",
            now: NOW,
            keys: trusted(),
            holder: None,
            token: with_alg(&valid, &test1, iana::Algorithm::ES256),
        },
        Case {
            name: "expired",
            comment: "checked a year and a day after signing",
            expect: "expired",
            now: NOW + 366 * DAY,
            keys: trusted(),
            holder: None,
            token: valid.clone(),
        },
        Case {
            name: "not-yet-valid",
            comment: "checked two days before nbf",
            expect: "not-yet-valid",
            now: NOW - 3 * DAY,
            keys: trusted(),
            holder: None,
            token: valid.clone(),
        },
        Case {
            name: "bad-signature",
            comment: "the last signature byte flipped",
            expect: "bad-signature",
            now: NOW,
            keys: trusted(),
            holder: None,
            token: bad_signature,
        },
        Case {
            name: "unknown-key",
            comment: "only the RFC 8032 TEST 2 key is trusted",
            expect: "unknown-key",
            now: NOW,
            keys: vec![(test2.public().clone(), false)],
            holder: None,
            token: valid.clone(),
        },
        Case {
            name: "revoked-key",
            comment: "the signing key is revoked in the trust list",
            expect: "key-revoked",
            now: NOW,
            keys: vec![(test1.public().clone(), true)],
            holder: None,
            token: valid.clone(),
        },
        Case {
            name: "cwt-tag-61",
            comment: "the valid token wrapped in the CWT tag: 61(18([...])), RFC 8392 section 6",
            expect: "ok",
            now: NOW,
            keys: trusted(),
            holder: None,
            token: tag_61(&valid),
        },
        Case {
            name: "cwt-tag-61-twice",
            comment: "the valid token wrapped in the CWT tag twice",
            expect: "malformed",
            now: NOW,
            keys: trusted(),
            holder: None,
            token: tag_61(&tag_61(&valid)),
        },
        Case {
            name: "cwt-tag-61-untagged",
            comment: "the CWT tag around a COSE_Sign1 array without its tag 18",
            expect: "malformed",
            now: NOW,
            keys: trusted(),
            holder: None,
            token: tag_61(&valid[1..]),
        },
        Case {
            name: "holder-bound",
            comment: "the credential bound to the RFC 8032 TEST 3 key in cnf (claim 8)",
            expect: "ok",
            now: NOW,
            keys: trusted(),
            holder: Some(holder.public().clone()),
            token: bound.clone(),
        },
        Case {
            name: "holder-bound-cwt-tag-61",
            comment: "the holder-bound credential in the CWT tag",
            expect: "ok",
            now: NOW,
            keys: trusted(),
            holder: Some(holder.public().clone()),
            token: tag_61(&bound),
        },
        Case {
            name: "cnf-x25519",
            comment: "cnf holding a COSE_Key with crv X25519 (4), signed by the issuer",
            expect: "malformed",
            now: NOW,
            keys: trusted(),
            holder: None,
            token: with_cnf(&valid, &test1, cnf(&[(1, int(1)), (-1, int(4)), (-2, x())])),
        },
        Case {
            name: "cnf-with-private-key",
            comment: "cnf holding the holder's private key d (-4) beside x, signed by the issuer",
            expect: "malformed",
            now: NOW,
            keys: trusted(),
            holder: None,
            token: with_cnf(
                &valid,
                &test1,
                cnf(&[
                    (1, int(1)),
                    (-1, int(6)),
                    (-2, x()),
                    (-4, ciborium::Value::Bytes(hex::decode(TEST3).unwrap())),
                ]),
            ),
        },
        Case {
            name: "cnf-short-x",
            comment: "cnf holding a 31-byte x, signed by the issuer",
            expect: "malformed",
            now: NOW,
            keys: trusted(),
            holder: None,
            token: with_cnf(
                &valid,
                &test1,
                cnf(&[
                    (1, int(1)),
                    (-1, int(6)),
                    (-2, ciborium::Value::Bytes(vec![9; 31])),
                ]),
            ),
        },
        Case {
            name: "trailing-bytes",
            comment: "a CBOR null after the COSE_Sign1",
            expect: "malformed",
            now: NOW,
            keys: trusted(),
            holder: None,
            token: trailing,
        },
    ]
}

fn outcome(result: &Result<keys::token::VerifiedToken, VerifyError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(VerifyError::Envelope(keys::EnvelopeError::UnsupportedAlgorithm(_))) => {
            "unsupported-algorithm"
        }
        Err(VerifyError::Envelope(_) | VerifyError::Claims(_)) => "malformed",
        Err(VerifyError::UnknownKey(_)) => "unknown-key",
        Err(VerifyError::BadSignature) => "bad-signature",
        Err(VerifyError::KeyRevoked(_)) => "key-revoked",
        Err(VerifyError::KeyNotValid { .. }) => "key-not-valid",
        Err(VerifyError::NotYetValid(_)) => "not-yet-valid",
        Err(VerifyError::Expired(_)) => "expired",
    }
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tokens")
}

fn render(case: &Case) -> String {
    let mut text = format!(
        "# {}\nexpect: {}\nnow: {}\n",
        case.comment, case.expect, case.now
    );
    for (public, revoked) in &case.keys {
        let flag = if *revoked { " revoked" } else { "" };
        text.push_str(&format!(
            "credential-key: {}{flag}\n",
            hex::encode(public.to_bytes())
        ));
    }
    if let Some(holder) = &case.holder {
        text.push_str(&format!("holder-key: {}\n", hex::encode(holder.to_bytes())));
    }
    text.push_str(&format!("token: {}\n", keys::qr::encode(&case.token)));
    text
}

/// Reads a golden file and returns (expect, outcome of verifying it).
fn run_file(text: &str) -> (String, &'static str) {
    let mut expect = String::new();
    let mut now = 0;
    let mut trusted = Vec::new();
    let mut holder = None;
    let mut token = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (field, value) = line.split_once(": ").unwrap();
        match field {
            "expect" => expect = value.to_owned(),
            "now" => now = value.parse().unwrap(),
            "credential-key" => {
                let (hex_key, revoked) = match value.split_once(' ') {
                    Some((k, "revoked")) => (k, true),
                    _ => (value, false),
                };
                let bytes: [u8; 32] = hex::decode(hex_key).unwrap().try_into().unwrap();
                trusted.push(TrustedKey {
                    public: PublicKey::from_bytes(&bytes).unwrap(),
                    key_use: KeyUse::Credential,
                    not_before: UnixTime(0),
                    not_after: UnixTime(u64::MAX / 2),
                    revoked,
                });
            }
            "holder-key" => {
                let bytes: [u8; 32] = hex::decode(value).unwrap().try_into().unwrap();
                holder = Some(PublicKey::from_bytes(&bytes).unwrap());
            }
            "token" => token = keys::qr::decode(value).unwrap(),
            other => panic!("unknown field {other}"),
        }
    }
    let result = keys::token::verify_token(
        &token,
        &Keyring::new(trusted),
        &VerifyPolicy::at(UnixTime(now)),
    );
    // A credential that verifies names exactly the holder key the file says (or none).
    if let Ok(verified) = &result {
        assert_eq!(verified.holder_key, holder, "holder key");
    }
    (expect, outcome(&result))
}

#[test]
fn golden_tokens() {
    let cases = cases();
    if std::env::var_os("EDL_WRITE_GOLDEN").is_some() {
        std::fs::create_dir_all(dir()).unwrap();
        for case in &cases {
            std::fs::write(dir().join(format!("{}.txt", case.name)), render(case)).unwrap();
        }
    }
    // Every case is on disk and byte-identical to what the code produces today.
    for case in &cases {
        let path = dir().join(format!("{}.txt", case.name));
        let stored =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(stored, render(case), "{} changed", case.name);
    }
    // Every file on disk, including ones added by hand for regressions, verifies as it says.
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
