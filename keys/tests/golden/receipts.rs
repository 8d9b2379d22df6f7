//! Golden status receipts in `keys/testdata/receipts/*.txt`. Each file has a comment
//! line, then `expect:`, one `status-key:` line per trusted status key (hex public key,
//! optionally followed by `revoked` or `not-after <unix seconds>`; `credential-key:` for a
//! key trusted for credentials only), what a receipt that
//! verifies must state (`credential:`, `status:`, `at:`, `client:`, `role:`, `purpose:`
//! when there is one, `audit-record:`), and the `receipt:` in hex.
//!
//! The status key is RFC 8032 TEST 2's.

use std::path::{Path, PathBuf};

use ciborium::Value;
use keys::receipt::{self, LiveStatus, Receipt, ReceiptError, VerifiedReceipt};
use keys::token::CredentialId;
use keys::{KeyUse, Keyring, PublicKey, TrustedKey, UnixTime};

use crate::tokens::{NOW, TEST1, TEST2, key};

struct Case {
    name: &'static str,
    comment: &'static str,
    expect: &'static str,
    keys: Vec<(PublicKey, KeyUse, &'static str)>,
    receipt: Receipt,
    signed: Vec<u8>,
}

/// An insurer's lookup of the golden credential, audited in the record whose hash this is.
fn insurer() -> Receipt {
    Receipt {
        credential_id: CredentialId(*b"golden-token-id!"),
        status: LiveStatus::Valid,
        at: UnixTime(NOW + 3_600),
        client: "acme-insurance".into(),
        role: "insurer".into(),
        purpose: Some("motor policy 2026-1174 renewal".into()),
        audit_record: *b"sha-256 of the lookup's record!!",
    }
}

/// Signs a receipt payload written by hand, with the receipt `typ`, for forgeries.
fn forge(key: &keys::SigningKey, typ: Option<&str>, payload: Vec<(i64, Value)>) -> Vec<u8> {
    use coset::{CoseSign1Builder, HeaderBuilder, TaggedCborSerializable, iana};
    let mut header = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .key_id(key.key_id().as_bytes().to_vec());
    if let Some(typ) = typ {
        header = header.value(16, Value::Text(typ.into()));
    }
    let mut bytes = Vec::new();
    let map = Value::Map(
        payload
            .into_iter()
            .map(|(k, v)| (Value::Integer(k.into()), v))
            .collect(),
    );
    ciborium::ser::into_writer(&map, &mut bytes).unwrap();
    CoseSign1Builder::new()
        .protected(header.build())
        .payload(bytes)
        .create_signature(b"", |tbs| key.sign(tbs).to_vec())
        .build()
        .to_tagged_vec()
        .unwrap()
}

/// The insurer's receipt claims, with `status` as its status word.
fn insurer_payload(status: &str) -> Vec<(i64, Value)> {
    let receipt = insurer();
    let lookup = vec![
        (1, Value::Bytes(receipt.credential_id.0.to_vec())),
        (2, Value::Text(status.into())),
        (3, Value::Text(receipt.client)),
        (4, Value::Text(receipt.role)),
        (5, Value::Text(receipt.purpose.unwrap())),
        (6, Value::Bytes(receipt.audit_record.to_vec())),
    ];
    vec![
        (6, Value::Integer(receipt.at.0.into())),
        (
            -65538,
            Value::Map(
                lookup
                    .into_iter()
                    .map(|(k, v)| (Value::Integer(k.into()), v))
                    .collect(),
            ),
        ),
    ]
}

fn cases() -> Vec<Case> {
    let status_key = key(TEST2);
    let credential_key = key(TEST1);
    let trusted = || vec![(status_key.public().clone(), KeyUse::Status, "")];
    let officer = Receipt {
        status: LiveStatus::Revoked,
        client: "roadside-unit-17".into(),
        role: "officer".into(),
        purpose: None,
        ..insurer()
    };
    let valid = receipt::sign(&insurer(), &status_key);
    let mut bad_signature = valid.clone();
    let last = bad_signature.len() - 1;
    bad_signature[last] ^= 0x01;
    let mut changed_status = receipt::sign(
        &Receipt {
            status: LiveStatus::Revoked,
            ..insurer()
        },
        &status_key,
    );
    // "revoked" → "revokes": a receipt edited after signing.
    let at = changed_status
        .windows(7)
        .position(|w| w == b"revoked")
        .unwrap();
    changed_status[at + 6] = b's';
    let case = |name, comment, expect, signed| Case {
        name,
        comment,
        expect,
        keys: trusted(),
        receipt: insurer(),
        signed,
    };
    vec![
        case(
            "insurer",
            "an insurer's lookup, with its declared purpose",
            "ok",
            valid.clone(),
        ),
        Case {
            receipt: officer.clone(),
            ..case(
                "officer",
                "an officer's lookup of a revoked credential, without a purpose",
                "ok",
                receipt::sign(&officer, &status_key),
            )
        },
        case(
            "bad-signature",
            "the insurer's receipt with its last signature byte flipped",
            "bad-signature",
            bad_signature,
        ),
        case(
            "edited-status",
            "a revoked receipt whose status was edited after signing",
            "bad-signature",
            changed_status,
        ),
        Case {
            keys: vec![(credential_key.public().clone(), KeyUse::Credential, "")],
            ..case(
                "credential-key",
                "signed by a key the verifier trusts for credentials only",
                "unknown-key",
                receipt::sign(&insurer(), &credential_key),
            )
        },
        Case {
            keys: vec![(status_key.public().clone(), KeyUse::Status, " revoked")],
            ..case(
                "revoked-key",
                "the status key is revoked in the trust list",
                "key-revoked",
                valid.clone(),
            )
        },
        Case {
            keys: vec![(
                status_key.public().clone(),
                KeyUse::Status,
                " not-after 1793000000",
            )],
            ..case(
                "key-retired",
                "made after the end of the status key's signing window",
                "key-not-valid",
                valid.clone(),
            )
        },
        case(
            "no-typ",
            "the insurer's receipt signed without typ",
            "malformed",
            forge(&status_key, None, insurer_payload("valid")),
        ),
        case(
            "status-list-typ",
            "the insurer's receipt signed with the status list token's typ",
            "malformed",
            forge(
                &status_key,
                Some("application/statuslist+cwt"),
                insurer_payload("valid"),
            ),
        ),
        case(
            "unknown-status",
            "a status that is not one of the five",
            "malformed",
            forge(&status_key, Some(receipt::TYP), insurer_payload("invalid")),
        ),
    ]
}

fn outcome(result: &Result<VerifiedReceipt, ReceiptError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(ReceiptError::Envelope(_) | ReceiptError::Format(_)) => "malformed",
        Err(ReceiptError::UnknownKey(_)) => "unknown-key",
        Err(ReceiptError::BadSignature) => "bad-signature",
        Err(ReceiptError::KeyRevoked(_)) => "key-revoked",
        Err(ReceiptError::KeyNotValid { .. }) => "key-not-valid",
    }
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/receipts")
}

fn render(case: &Case) -> String {
    let mut text = format!("# {}\nexpect: {}\n", case.comment, case.expect);
    for (public, key_use, flags) in &case.keys {
        text.push_str(&format!(
            "{key_use}-key: {}{flags}\n",
            hex::encode(public.to_bytes())
        ));
    }
    let receipt = &case.receipt;
    text.push_str(&format!(
        "credential: {}\nstatus: {}\nat: {}\nclient: {}\nrole: {}\n",
        receipt.credential_id, receipt.status, receipt.at.0, receipt.client, receipt.role
    ));
    if let Some(purpose) = &receipt.purpose {
        text.push_str(&format!("purpose: {purpose}\n"));
    }
    text.push_str(&format!(
        "audit-record: {}\nreceipt: {}\n",
        hex::encode(receipt.audit_record),
        hex::encode(&case.signed)
    ));
    text
}

/// Reads a golden file and returns (expect, outcome of verifying it); a receipt that
/// verifies must state what the file says.
fn run_file(text: &str) -> (String, &'static str) {
    let mut expect = String::new();
    let mut trusted = Vec::new();
    let mut stated = Receipt {
        purpose: None,
        ..insurer()
    };
    let mut signed = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (field, value) = line.split_once(": ").unwrap();
        match field {
            "expect" => expect = value.to_owned(),
            "status-key" | "credential-key" => {
                let mut words = value.split(' ');
                let bytes: [u8; 32] = hex::decode(words.next().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap();
                let mut key = TrustedKey {
                    public: PublicKey::from_bytes(&bytes).unwrap(),
                    key_use: if field == "status-key" {
                        KeyUse::Status
                    } else {
                        KeyUse::Credential
                    },
                    not_before: UnixTime(0),
                    not_after: UnixTime(u64::MAX / 2),
                    revoked: false,
                };
                match (words.next(), words.next()) {
                    (None, _) => {}
                    (Some("revoked"), None) => key.revoked = true,
                    (Some("not-after"), Some(at)) => key.not_after = UnixTime(at.parse().unwrap()),
                    other => panic!("unknown status key flags {other:?}"),
                }
                trusted.push(key);
            }
            "credential" => stated.credential_id = value.parse().unwrap(),
            "status" => stated.status = value.parse().unwrap(),
            "at" => stated.at = UnixTime(value.parse().unwrap()),
            "client" => stated.client = value.to_owned(),
            "role" => stated.role = value.to_owned(),
            "purpose" => stated.purpose = Some(value.to_owned()),
            "audit-record" => stated.audit_record = hex::decode(value).unwrap().try_into().unwrap(),
            "receipt" => signed = hex::decode(value).unwrap(),
            other => panic!("unknown field {other}"),
        }
    }
    let result = receipt::verify(&signed, &Keyring::new(trusted));
    if let Ok(verified) = &result {
        assert_eq!(verified.receipt, stated, "what the receipt states");
    }
    (expect, outcome(&result))
}

#[test]
fn golden_receipts() {
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
