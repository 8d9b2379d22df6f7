use base64::Engine;

use super::*;

/// RFC 8032 section 7.1 TEST 1–3: secret key, public key, message, signature.
const RFC8032: [(&str, &str, &str, &str); 3] = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
];

#[track_caller]
fn check_rfc8032(case: usize) {
    let (secret, public, message, signature) = RFC8032[case];
    let seed: [u8; 32] = hex::decode(secret).unwrap().try_into().unwrap();
    let message = hex::decode(message).unwrap();
    let key = SigningKey::from_seed(&seed);
    assert_eq!(hex::encode(key.public().to_bytes()), public);
    let signed = key.sign(&message);
    assert_eq!(hex::encode(signed), signature);
    assert!(key.public().verify_strict(&message, &signed));
    let mut tampered = signed;
    tampered[0] ^= 1;
    assert!(!key.public().verify_strict(&message, &tampered));
    assert!(!key.public().verify_strict(b"other", &signed));
}

#[test]
fn rfc8032_test_1() {
    check_rfc8032(0);
}

#[test]
fn rfc8032_test_2() {
    check_rfc8032(1);
}

#[test]
fn rfc8032_test_3() {
    check_rfc8032(2);
}

/// RFC 8037 appendix A.3: the thumbprint of the RFC 8032 TEST 1 key.
#[test]
fn rfc8037_thumbprint_and_key_id() {
    let key = SigningKey::from_seed(&hex::decode(RFC8032[0].0).unwrap().try_into().unwrap());
    let jwk = crate::jwk::Jwk::from_public_key(key.public(), None);
    assert_eq!(jwk.x, "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
    assert_eq!(
        jwk.thumbprint_b64().unwrap(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
    assert_eq!(key.key_id().to_string(), "90facafea9b15566");
    assert_eq!(jwk.kid, "90facafea9b15566");
    assert_eq!(jwk.to_public_key().unwrap(), *key.public());
}

#[test]
fn jwk_with_a_foreign_kid_is_refused() {
    let key = SigningKey::from_seed(&[1; 32]);
    let mut jwk = crate::jwk::Jwk::from_public_key(key.public(), Some(KeyUse::Credential));
    jwk.kid = "0000000000000000".into();
    assert!(matches!(
        jwk.to_public_key(),
        Err(crate::jwk::JwkError::KidMismatch { .. })
    ));
    let json = serde_json::to_value(crate::jwk::Jwk::from_public_key(key.public(), None)).unwrap();
    assert_eq!(json["kty"], "OKP");
    assert_eq!(json["crv"], "Ed25519");
    assert_eq!(json["alg"], "EdDSA");
}

fn pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

/// The PKCS#8 v1 DER prefix of an Ed25519 private key (RFC 8410 section 7): version 0, no
/// public key. OpenSSL reads exactly this.
const PKCS8_V1_PREFIX: &str = "302e020100300506032b657004220420";

#[test]
fn private_key_pem_is_pkcs8_v1() {
    let seed = [9u8; 32];
    let key = SigningKey::from_seed(&seed);
    let pem = key.to_pkcs8_pem();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let der = pem_body(&pem);
    assert_eq!(hex::encode(&der[..16]), PKCS8_V1_PREFIX);
    assert_eq!(&der[16..], &seed);
    let again = SigningKey::from_pkcs8_pem(&pem).unwrap();
    assert_eq!(again.public(), key.public());
}

#[test]
fn private_key_pem_v2_is_read_and_checked() {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let key = SigningKey::from_seed(&[3; 32]);
    let v2 = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: [3; 32],
        public_key: Some(ed25519_dalek::pkcs8::PublicKeyBytes(
            key.public().to_bytes(),
        )),
    };
    let pem = v2.to_pkcs8_pem(LineEnding::LF).unwrap();
    assert_eq!(
        SigningKey::from_pkcs8_pem(&pem).unwrap().public(),
        key.public()
    );
    let other = SigningKey::from_seed(&[4; 32]);
    let mismatched = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: [3; 32],
        public_key: Some(ed25519_dalek::pkcs8::PublicKeyBytes(
            other.public().to_bytes(),
        )),
    };
    let pem = mismatched.to_pkcs8_pem(LineEnding::LF).unwrap();
    assert_eq!(
        SigningKey::from_pkcs8_pem(&pem).err(),
        Some(KeyError::MismatchedPublicKey)
    );
}

#[test]
fn public_key_pem_is_spki() {
    let key = SigningKey::from_seed(&[5; 32]);
    let pem = key.public().to_spki_pem();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    let der = pem_body(&pem);
    assert_eq!(hex::encode(&der[..12]), "302a300506032b6570032100");
    assert_eq!(&der[12..], &key.public().to_bytes());
    assert_eq!(&PublicKey::from_spki_pem(&pem).unwrap(), key.public());
}

#[track_caller]
fn check_bad_pem(pem: &str, expected: KeyError) {
    assert_eq!(
        SigningKey::from_pkcs8_pem(pem).err(),
        Some(expected.clone())
    );
}

#[test]
fn garbage_is_not_a_private_key() {
    check_bad_pem("", KeyError::Pem("private"));
    check_bad_pem(
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        KeyError::Pem("private"),
    );
    // An SPKI public key is not a private key.
    check_bad_pem(
        &SigningKey::from_seed(&[1; 32]).public().to_spki_pem(),
        KeyError::Pem("private"),
    );
}

#[test]
fn an_rsa_or_ec_key_is_refused() {
    // A P-256 key made by `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`.
    let ec = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgevZzL1gdAFr88hb2
OF/2NxApJCzGCEDdfSp6VQO30hyhRANCAAQRWz+jn65BtOMvdyHKcvjBeBSDZH2r
1RTwjmYSi9R/zpBnuQ4EiMnCqfMPWiZqB4QdbAd0E7oH50VpuZ1P087G
-----END PRIVATE KEY-----
";
    check_bad_pem(ec, KeyError::Pem("private"));
}

#[test]
fn small_order_public_keys_are_refused() {
    // The identity point and a point of order 8.
    assert_eq!(
        PublicKey::from_bytes(&{
            let mut b = [0u8; 32];
            b[0] = 1;
            b
        })
        .err(),
        Some(KeyError::WeakKey)
    );
    let order8 =
        hex::decode("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a").unwrap();
    assert_eq!(
        PublicKey::from_bytes(&order8.clone().try_into().unwrap()).err(),
        Some(KeyError::WeakKey)
    );
    // The same point as an SPKI PEM: refused too.
    use base64::Engine;
    let mut spki = hex::decode("302a300506032b6570032100").unwrap();
    spki.extend_from_slice(&order8);
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(&spki)
    );
    assert_eq!(
        PublicKey::from_spki_pem(&pem).err(),
        Some(KeyError::WeakKey)
    );
}

#[test]
fn key_ids_parse_strictly() {
    assert_eq!(
        "90facafea9b15566".parse::<KeyId>().unwrap().to_string(),
        "90facafea9b15566"
    );
    assert!("90FACAFEA9B15566".parse::<KeyId>().is_err());
    assert!("90facafea9b155".parse::<KeyId>().is_err());
    assert!("90facafea9b1556g".parse::<KeyId>().is_err());
    assert_eq!("status".parse::<KeyUse>().unwrap(), KeyUse::Status);
    assert!("Status".parse::<KeyUse>().is_err());
}
