//! Interoperability with independent implementations: OpenSSL reads and writes our key
//! files, and Python's pycose, python-cwt, cbor2, base45 and cryptography read our
//! credentials and receipts and build credentials and presentations we verify. The Python
//! side lives in `tests/interop/*.py`.
//!
//! The tools come from `.ci/setup` (`.ci/apt-packages`, `.ci/requirements.txt`). A missing
//! tool fails the test and says so: a skipped interoperability test proves nothing.

// clippy's allow-unwrap-in-tests covers #[test] functions, not the helpers beside them; in
// this test crate a failed unwrap is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keys::licence::{LicenceClass, LicenceClasses, LicenceNumber, PhotoDigest, Validity};
use keys::presentation::{Challenge, PresentationError, PresentationPolicy, Slot};
use keys::receipt::{LiveStatus, Receipt};
use keys::token::{CredentialId, LicenceDetails, StatusReference};
use keys::{
    CredentialClaims, EnvelopeError, KeyError, KeyUse, Keyring, PublicKey, SigningKey, TrustedKey,
    UnixTime, VerifyError, VerifyPolicy,
};
use tempfile::TempDir;
use time::macros::date;

const BIN: &str = env!("CARGO_BIN_EXE_edl-keys");

/// Runs a tool the tests need; a tool that is missing fails the test naming `.ci/setup`.
#[track_caller]
fn tool(program: &str, args: &[&str]) -> Output {
    match Command::new(program).args(args).output() {
        Ok(output) => output,
        Err(e) => panic!(
            "cannot run {program} ({e}): the interoperability tests need it; \
             install the test tools with `bash .ci/setup`"
        ),
    }
}

/// Runs a tool that must succeed and returns its stdout.
#[track_caller]
fn run_ok(program: &str, args: &[&str]) -> String {
    let output = tool(program, args);
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn openssl(args: &[&str]) -> String {
    run_ok("openssl", args)
}

/// Runs one of the Python scripts after checking that Python has the packages.
#[track_caller]
fn python(script: &str, args: &[&str]) -> Output {
    let probe = tool(
        "python3",
        &["-c", "import pycose, cwt, cbor2, cryptography, base45"],
    );
    assert!(
        probe.status.success(),
        "python3 lacks the packages of .ci/requirements.txt ({}): install them with `bash .ci/setup`",
        String::from_utf8_lossy(&probe.stderr).trim()
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(script);
    let mut all = vec![script.to_str().expect("UTF-8 path")];
    all.extend_from_slice(args);
    tool("python3", &all)
}

#[track_caller]
fn python_ok(script: &str, args: &[&str]) -> String {
    let output = python(script, args);
    assert!(
        output.status.success(),
        "{script} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temporary path")
}

/// `edl-keys generate` into `dir`; returns the private key path.
fn generate(dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new(BIN)
        .args(["generate", "--use", "credential", "--out", path_str(&out)])
        .output()
        .expect("edl-keys runs");
    assert!(status.status.success(), "{status:?}");
    out
}

/// A credential for a real licence, issued at `issued_at`.
fn claims(issued_at: UnixTime) -> CredentialClaims {
    CredentialClaims {
        issuer: "https://dl.example.gov".into(),
        licence_number: LicenceNumber::from_parts(440_305, date!(1988 - 02 - 29), 417).unwrap(),
        credential_id: CredentialId(*b"\x01\x9a\x7f\xc0 interop cti"),
        issued_at,
        not_before: issued_at,
        expires_at: issued_at.plus(90 * 24 * 3600),
        licence: LicenceDetails {
            name: "李华".into(),
            classes: LicenceClasses::new(&[LicenceClass::A1, LicenceClass::C1, LicenceClass::E])
                .unwrap(),
            validity: Validity::new(date!(2019 - 06 - 01), Some(date!(2029 - 06 - 01))).unwrap(),
            authority: "深圳市公安局交通警察支队".into(),
            photo: PhotoDigest::of(b"\xff\xd8\xff\xe1 holder photo bytes"),
        },
        status: StatusReference {
            index: 131_071,
            uri: "https://dl.example.gov/v1/status-lists/7".into(),
        },
    }
}

/// The claims as the Python scripts read them (`tests/interop/*.py`).
fn claims_json(claims: &CredentialClaims, kid: &str) -> String {
    let licence = &claims.licence;
    serde_json::json!({
        "kid": kid,
        "iss": claims.issuer,
        "sub": claims.licence_number.as_str(),
        "exp": claims.expires_at.0,
        "nbf": claims.not_before.0,
        "iat": claims.issued_at.0,
        "cti": claims.credential_id.to_string(),
        "licence": {
            "name": licence.name,
            "classes": licence.classes.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "valid_from": keys::licence::format_date(licence.validity.valid_from()),
            "valid_until": licence.validity.valid_until().map(keys::licence::format_date),
            "authority": licence.authority,
            "photo": hex::encode(licence.photo.as_bytes()),
        },
        "status": { "idx": claims.status.index, "uri": claims.status.uri },
    })
    .to_string()
}

fn keyring(public: &PublicKey) -> Keyring {
    Keyring::new(vec![TrustedKey {
        public: public.clone(),
        key_use: KeyUse::Credential,
        not_before: UnixTime(1_700_000_000),
        not_after: UnixTime(1_900_000_000),
        revoked: false,
    }])
}

/// PEM around DER, 64 columns.
fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A PKCS#8 v2 (RFC 5958 OneAsymmetricKey) Ed25519 key with its public key, by hand.
fn pkcs8_v2(seed: &[u8; 32], public: &[u8; 32]) -> String {
    let mut der = vec![
        0x30, 0x51, // SEQUENCE, 81 bytes
        0x02, 0x01, 0x01, // version 1: v2
        0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, // AlgorithmIdentifier id-Ed25519
        0x04, 0x22, 0x04, 0x20, // privateKey: OCTET STRING of the 32-byte seed
    ];
    der.extend_from_slice(seed);
    der.extend_from_slice(&[0x81, 0x21, 0x00]); // [1] publicKey BIT STRING
    der.extend_from_slice(public);
    pem("PRIVATE KEY", &der)
}

#[test]
fn openssl_reads_the_keys_edl_keys_writes() {
    let dir = TempDir::new().unwrap();
    let key_path = generate(dir.path(), "credential.pem");
    let key = SigningKey::from_pkcs8_pem(&fs::read_to_string(&key_path).unwrap()).unwrap();
    let our_public = fs::read_to_string(dir.path().join("credential.pub.pem")).unwrap();

    let openssl_public = openssl(&["pkey", "-in", path_str(&key_path), "-pubout"]);
    assert_eq!(openssl_public, our_public);
    assert_eq!(openssl_public, key.public().to_spki_pem());
    let text = openssl(&["pkey", "-in", path_str(&key_path), "-noout", "-text"]);
    assert!(text.contains("ED25519 Private-Key"), "{text}");
    // OpenSSL also reads our public key file and writes it back unchanged.
    let pub_path = dir.path().join("credential.pub.pem");
    assert_eq!(
        openssl(&["pkey", "-pubin", "-in", path_str(&pub_path)]),
        our_public
    );

    // Ed25519 is deterministic: OpenSSL's signature with our key file is ours, byte for byte.
    let message = dir.path().join("message");
    fs::write(&message, b"a message to sign").unwrap();
    let signature = dir.path().join("signature");
    openssl(&[
        "pkeyutl",
        "-sign",
        "-rawin",
        "-inkey",
        path_str(&key_path),
        "-in",
        path_str(&message),
        "-out",
        path_str(&signature),
    ]);
    assert_eq!(
        fs::read(&signature).unwrap(),
        key.sign(b"a message to sign")
    );
}

#[test]
fn keys_openssl_generates_load() {
    let dir = TempDir::new().unwrap();
    let key_path = dir.path().join("openssl.pem");
    openssl(&[
        "genpkey",
        "-algorithm",
        "ed25519",
        "-out",
        path_str(&key_path),
    ]);
    let key = SigningKey::from_pkcs8_pem(&fs::read_to_string(&key_path).unwrap()).unwrap();
    let openssl_public = openssl(&["pkey", "-in", path_str(&key_path), "-pubout"]);
    assert_eq!(key.public().to_spki_pem(), openssl_public);
    assert_eq!(
        &PublicKey::from_spki_pem(&openssl_public).unwrap(),
        key.public()
    );
    // Written back, it is the file OpenSSL wrote: both are PKCS#8 v1.
    assert_eq!(*key.to_pkcs8_pem(), fs::read_to_string(&key_path).unwrap());

    // edl-keys shows the same kid for the private and the public file.
    let pub_path = dir.path().join("openssl.pub");
    fs::write(&pub_path, &openssl_public).unwrap();
    let kid = key.key_id().to_string();
    for file in [&key_path, &pub_path] {
        let shown = Command::new(BIN)
            .args(["show", path_str(file)])
            .output()
            .unwrap();
        assert!(shown.status.success(), "{shown:?}");
        assert!(String::from_utf8_lossy(&shown.stdout).contains(&kid));
    }
}

#[test]
fn keys_python_generates_load() {
    let dir = TempDir::new().unwrap();
    let key_path = dir.path().join("python.pem");
    let public_hex = python_ok("generate_key.py", &[path_str(&key_path)]);
    let key = SigningKey::from_pkcs8_pem(&fs::read_to_string(&key_path).unwrap()).unwrap();
    assert_eq!(hex::encode(key.public().to_bytes()), public_hex.trim());
}

#[test]
fn pkcs8_v2_keys_load_when_their_public_key_matches() {
    let seed = [0x42; 32];
    let key = SigningKey::from_seed(&seed);
    let public = key.public().to_bytes();
    let v2 = pkcs8_v2(&seed, &public);
    let loaded = SigningKey::from_pkcs8_pem(&v2).unwrap();
    assert_eq!(loaded.public(), key.public());
    // Written back it is v1, which OpenSSL reads (OpenSSL 3.0 refuses v2 files).
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("v1.pem");
    fs::write(&path, loaded.to_pkcs8_pem().as_bytes()).unwrap();
    assert_eq!(
        openssl(&["pkey", "-in", path_str(&path), "-pubout"]),
        key.public().to_spki_pem()
    );

    let other = SigningKey::from_seed(&[0x43; 32]).public().to_bytes();
    assert_eq!(
        SigningKey::from_pkcs8_pem(&pkcs8_v2(&seed, &other)).err(),
        Some(KeyError::MismatchedPublicKey)
    );
}

/// RFC 8410 section 10.3's example: a v2 key with an attribute and the public key.
#[test]
fn the_rfc_8410_v2_example_key_loads() {
    let pem = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/rfc8410-v2-with-attributes.pem"),
    )
    .unwrap();
    let key = SigningKey::from_pkcs8_pem(&pem).unwrap();
    assert_eq!(
        hex::encode(key.public().to_bytes()),
        "19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1"
    );
}

#[test]
fn pycose_verifies_our_credentials() {
    let dir = TempDir::new().unwrap();
    let key_path = generate(dir.path(), "credential.pem");
    let key = SigningKey::from_pkcs8_pem(&fs::read_to_string(&key_path).unwrap()).unwrap();
    let claims = claims(UnixTime(1_767_225_600));
    let token = keys::token::sign(&claims, &key);
    let qr = dir.path().join("qr.txt");
    fs::write(&qr, keys::qr::encode(&token)).unwrap();
    let expected = dir.path().join("expected.json");
    fs::write(&expected, claims_json(&claims, &key.key_id().to_string())).unwrap();
    let public = dir.path().join("credential.pub.pem");

    let out = python_ok(
        "verify_token.py",
        &[path_str(&public), path_str(&qr), path_str(&expected)],
    );
    assert_eq!(out.trim(), "ok");

    // The Python side really checks: the wrong key, or other claims, fail.
    let other = generate(dir.path(), "other.pem");
    let wrong_key = python(
        "verify_token.py",
        &[
            path_str(&files_pub(&other)),
            path_str(&qr),
            path_str(&expected),
        ],
    );
    assert!(!wrong_key.status.success(), "{wrong_key:?}");
    let mut other_claims = claims.clone();
    other_claims.status.index += 1;
    fs::write(
        &expected,
        claims_json(&other_claims, &key.key_id().to_string()),
    )
    .unwrap();
    let wrong_claims = python(
        "verify_token.py",
        &[path_str(&public), path_str(&qr), path_str(&expected)],
    );
    assert!(!wrong_claims.status.success(), "{wrong_claims:?}");
    assert!(String::from_utf8_lossy(&wrong_claims.stdout).contains("65535"));
}

/// Where `edl-keys generate` puts the public key of `FILE.pem`: `FILE.pub.pem`.
fn files_pub(private: &Path) -> PathBuf {
    private.with_extension("pub.pem")
}

#[test]
fn we_verify_what_pycose_signs_with_our_key_and_refuse_other_algorithms() {
    let dir = TempDir::new().unwrap();
    let key_path = generate(dir.path(), "credential.pem");
    let key = SigningKey::from_pkcs8_pem(&fs::read_to_string(&key_path).unwrap()).unwrap();
    let issued_at = UnixTime(1_767_225_600);
    let claims = claims(issued_at);
    let claims_path = dir.path().join("claims.json");
    fs::write(
        &claims_path,
        claims_json(&claims, &key.key_id().to_string()),
    )
    .unwrap();

    let python_kid = python_ok(
        "sign_token.py",
        &[
            path_str(&key_path),
            path_str(&claims_path),
            path_str(dir.path()),
        ],
    );
    assert_eq!(
        python_kid.trim(),
        key.key_id().to_string(),
        "kid (RFC 7638) agrees"
    );

    let keyring = keyring(key.public());
    let policy = VerifyPolicy::at(issued_at.plus(3600));
    let verify = |name: &str| {
        let token = fs::read(dir.path().join(name)).unwrap();
        keys::token::verify(&token, &keyring, &policy)
    };
    for accepted in ["eddsa.cose", "ed25519.cose"] {
        let verified = verify(accepted).unwrap_or_else(|e| panic!("{accepted}: {e}"));
        assert_eq!(verified.claims, claims, "{accepted}");
        assert_eq!(verified.key_id, key.key_id());
    }
    for refused in ["es256.cose", "modified-alg.cose", "unprotected-alg.cose"] {
        assert!(
            matches!(
                verify(refused),
                Err(VerifyError::Envelope(EnvelopeError::UnsupportedAlgorithm(
                    _
                )))
            ),
            "{refused}: {:?}",
            verify(refused)
        );
    }
    assert!(
        matches!(
            verify("critical.cose"),
            Err(VerifyError::Envelope(EnvelopeError::UnknownCriticalHeader))
        ),
        "critical.cose: {:?}",
        verify("critical.cose")
    );

    // And what Python signed reads the same through the QR text and `edl-keys inspect`.
    let token = fs::read(dir.path().join("eddsa.cose")).unwrap();
    let qr = keys::qr::encode(&token);
    assert_eq!(keys::qr::decode(&qr).unwrap(), token);
    let inspected = Command::new(BIN).args(["inspect", &qr]).output().unwrap();
    assert!(inspected.status.success(), "{inspected:?}");
    assert!(String::from_utf8_lossy(&inspected.stdout).contains("44030519880229417"));
}

/// Reads a golden token file's `token:` line.
fn golden_token(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/tokens")
        .join(name);
    let text = fs::read_to_string(&path).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .unwrap_or_else(|| panic!("{}: no token line", path.display()));
    keys::qr::decode(line).unwrap()
}

/// RFC 8392 section 6: python-cwt signs credentials in the CWT tag, `61(18([...]))`, and
/// we verify them, bound to a holder key or not. Its bytes are exactly the golden vectors
/// `cwt-tag-61.txt` and `holder-bound-cwt-tag-61.txt`, which `golden.rs` checks.
#[test]
fn we_verify_what_python_cwt_signs_in_the_cwt_tag() {
    let dir = TempDir::new().unwrap();
    // The golden vectors' issuer, RFC 8032 TEST 1, and holder, TEST 3.
    let issuer = SigningKey::from_seed(
        &hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap()
            .try_into()
            .unwrap(),
    );
    let holder = SigningKey::from_seed(
        &hex::decode("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7")
            .unwrap()
            .try_into()
            .unwrap(),
    );
    let key_path = dir.path().join("issuer.pem");
    fs::write(&key_path, issuer.to_pkcs8_pem().as_bytes()).unwrap();
    let keyring = keyring(issuer.public());
    for (golden, holder_x) in [
        ("cwt-tag-61.txt", None),
        (
            "holder-bound-cwt-tag-61.txt",
            Some(hex::encode(holder.public().to_bytes())),
        ),
    ] {
        let expected = golden_token(golden);
        let claims = keys::danger::inspect_credential(&expected).unwrap().claims;
        let claims_path = dir.path().join("claims.json");
        fs::write(
            &claims_path,
            claims_json(&claims, &issuer.key_id().to_string()),
        )
        .unwrap();
        let out = dir.path().join("cwt.cose");
        let mut args = vec![path_str(&key_path), path_str(&claims_path), path_str(&out)];
        if let Some(x) = &holder_x {
            args.push(x);
        }
        let kid = python_ok("sign_cwt.py", &args);
        assert_eq!(kid.trim(), issuer.key_id().to_string());
        let token = fs::read(&out).unwrap();
        assert_eq!(&token[..3], &[0xd8, 0x3d, 0xd2], "{golden}: 61(18(...))");
        let verified = keys::token::verify_token(
            &token,
            &keyring,
            &VerifyPolicy::at(claims.issued_at.plus(3600)),
        )
        .unwrap_or_else(|e| panic!("{golden}: {e}"));
        assert_eq!(verified.credential.claims, claims);
        assert_eq!(
            verified.holder_key.map(|k| hex::encode(k.to_bytes())),
            holder_x
        );
        assert_eq!(token, expected, "{golden} is what python-cwt signs");
    }
}

/// Python (base45, python-cwt for the cnf COSE_Key, pycose and cbor2) makes presentations
/// of a credential bound to a key Python generated, and we verify them: fresh, answering
/// the challenge; not after the window; not without the challenge asked for.
#[test]
fn we_verify_presentations_python_makes() {
    let dir = TempDir::new().unwrap();
    let issuer_path = generate(dir.path(), "credential.pem");
    let issuer = SigningKey::from_pkcs8_pem(&fs::read_to_string(&issuer_path).unwrap()).unwrap();
    let holder_path = dir.path().join("holder.pem");
    python_ok("generate_key.py", &[path_str(&holder_path)]);
    let holder = SigningKey::from_pkcs8_pem(&fs::read_to_string(&holder_path).unwrap()).unwrap();
    let issued_at = UnixTime(1_767_225_600);
    let claims = claims(issued_at);
    let token = keys::token::sign_bound(&claims, holder.public(), &issuer);
    let qr = dir.path().join("credential.txt");
    fs::write(&qr, keys::qr::encode(&token)).unwrap();

    let now = issued_at.plus(3_600 + 7);
    let slot = Slot::containing(now, 30).unwrap();
    let challenge = Challenge::new(b"terminal 7, check 42".to_vec()).unwrap();
    let make = |challenge: Option<&Challenge>| {
        let out = dir.path().join("presentation.txt");
        let start = slot.start().0.to_string();
        let challenge = challenge.map(|c| c.to_string());
        let mut args = vec![
            path_str(&holder_path),
            path_str(&qr),
            &start,
            "30",
            path_str(&out),
        ];
        args.extend(challenge.as_deref());
        python_ok("make_presentation.py", &args);
        keys::qr::decode_presentation(fs::read_to_string(&out).unwrap().trim()).unwrap()
    };
    let keyring = keyring(issuer.public());
    let expecting = |now: UnixTime| PresentationPolicy {
        challenge: Some(challenge.clone()),
        ..PresentationPolicy::at(now)
    };

    let answered = make(Some(&challenge));
    let verified = keys::presentation::verify(&answered, &keyring, &expecting(now))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(verified.credential.claims, claims);
    assert_eq!(&verified.holder_key, holder.public());
    assert_eq!(verified.slot, slot);
    assert_eq!(verified.challenge, Some(challenge.clone()));
    // Python's bytes are ours: the same inputs make the same presentation.
    assert_eq!(
        answered,
        keys::presentation::present(&token, &holder, slot, Some(&challenge))
    );
    assert_eq!(
        keys::presentation::verify(&answered, &keyring, &expecting(now.plus(3_600))),
        Err(PresentationError::Expired(slot))
    );
    let unanswered = make(None);
    assert!(
        keys::presentation::verify(&unanswered, &keyring, &PresentationPolicy::at(now)).is_ok()
    );
    assert_eq!(
        keys::presentation::verify(&unanswered, &keyring, &expecting(now)),
        Err(PresentationError::ChallengeMismatch)
    );

    // The Python side reads the cnf: it refuses to present a bearer credential, or a
    // credential bound to another key.
    for (token, reason) in [
        (keys::token::sign(&claims, &issuer), "not holder-bound"),
        (
            keys::token::sign_bound(&claims, issuer.public(), &issuer),
            "bound to another key",
        ),
    ] {
        fs::write(&qr, keys::qr::encode(&token)).unwrap();
        let start = slot.start().0.to_string();
        let out = dir.path().join("refused.txt");
        let refused = python(
            "make_presentation.py",
            &[
                path_str(&holder_path),
                path_str(&qr),
                &start,
                "30",
                path_str(&out),
            ],
        );
        assert!(!refused.status.success(), "{refused:?}");
        assert!(String::from_utf8_lossy(&refused.stdout).contains(reason));
    }
}

/// pycose and cbor2 verify the status receipts we sign, and refuse them tampered or
/// checked against another key.
#[test]
fn python_verifies_our_receipts() {
    let dir = TempDir::new().unwrap();
    let key_path = generate(dir.path(), "status.pem");
    let key = SigningKey::from_pkcs8_pem(&fs::read_to_string(&key_path).unwrap()).unwrap();
    let public = files_pub(&key_path);
    let insurer = Receipt {
        credential_id: CredentialId(*b"\x01\x9a\x7f\xc0 interop cti"),
        status: LiveStatus::Suspended,
        at: UnixTime(1_767_229_200),
        client: "平安保险 claims desk".into(),
        role: "insurer".into(),
        purpose: Some("claim 2026-000417".into()),
        audit_record: *b"\x5e\x88\x48\x98\xda\x28\x04\x71\x51\xd0\xe5\x6f\x8d\xc6\x29\x27\
\x73\x60\x3d\x0d\x6a\xab\xbd\xd6\x2a\x11\xef\x72\x1d\x15\x42\xd8",
    };
    let officer = Receipt {
        status: LiveStatus::Valid,
        client: "roadside-unit-17".into(),
        role: "officer".into(),
        purpose: None,
        ..insurer.clone()
    };
    for receipt in [insurer, officer] {
        let signed = keys::receipt::sign(&receipt, &key);
        let file = dir.path().join("receipt.cose");
        fs::write(&file, &signed).unwrap();
        let expected = dir.path().join("expected.json");
        fs::write(
            &expected,
            serde_json::json!({
                "credential": receipt.credential_id.to_string(),
                "status": receipt.status.as_str(),
                "at": receipt.at.0,
                "client": receipt.client,
                "role": receipt.role,
                "purpose": receipt.purpose,
                "audit_record": hex::encode(receipt.audit_record),
            })
            .to_string(),
        )
        .unwrap();
        let args = [path_str(&public), path_str(&file), path_str(&expected)];
        assert_eq!(python_ok("verify_receipt.py", &args).trim(), "ok");

        // One byte of the time changed, or another key: Python refuses too.
        let mut tampered = signed.clone();
        let at = tampered
            .windows(5)
            .position(|w| w[0] == 0x1a && w[1..] == (receipt.at.0 as u32).to_be_bytes())
            .unwrap();
        tampered[at + 4] ^= 1;
        fs::write(&file, &tampered).unwrap();
        assert!(!python("verify_receipt.py", &args).status.success());
        fs::write(&file, &signed).unwrap();
        let other = generate(dir.path(), &format!("other-{}.pem", receipt.role));
        let other_public = files_pub(&other);
        let refused = python(
            "verify_receipt.py",
            &[
                path_str(&other_public),
                path_str(&file),
                path_str(&expected),
            ],
        );
        assert!(!refused.status.success(), "{refused:?}");
    }
}
