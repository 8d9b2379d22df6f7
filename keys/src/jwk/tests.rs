use super::*;
use crate::fixtures;

/// RFC 8037 appendix A.2's public key (the RFC 8032 TEST 1 key).
const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

#[track_caller]
fn check(json: &str, expected: Result<&str, JwkError>) {
    let result = parse_holder_key(json).map(|k| URL_SAFE_NO_PAD.encode(k.to_bytes()));
    assert_eq!(result, expected.map(str::to_owned), "{json}");
}

#[track_caller]
fn check_syntax(json: &str) {
    assert!(
        matches!(parse_holder_key(json), Err(JwkError::Syntax(_))),
        "{json}: {:?}",
        parse_holder_key(json)
    );
}

#[test]
fn the_rfc_8037_public_key_reads() {
    check(
        &format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{RFC8037_X}"}}"#),
        Ok(RFC8037_X),
    );
    // With the optional members edl checks, and members it ignores.
    check(
        &format!(
            r#"{{"kty":"OKP","crv":"Ed25519","x":"{RFC8037_X}","alg":"EdDSA","use":"sig","kid":"phone-1","key_ops":["verify"]}}"#
        ),
        Ok(RFC8037_X),
    );
    check(
        &format!(r#"{{"alg":"Ed25519","x":"{RFC8037_X}","crv":"Ed25519","kty":"OKP"}}"#),
        Ok(RFC8037_X),
    );
}

#[test]
fn round_trips() {
    let public = fixtures::key(5).public().clone();
    let json = serde_json::to_string(&HolderJwk::from_public_key(&public)).unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"kty":"OKP","crv":"Ed25519","x":"{}"}}"#,
            URL_SAFE_NO_PAD.encode(public.to_bytes())
        )
    );
    assert_eq!(parse_holder_key(&json), Ok(public));
}

#[test]
fn a_private_key_is_refused() {
    // RFC 8037 appendix A.1: the private key, with its d.
    let private = format!(
        r#"{{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"{RFC8037_X}"}}"#
    );
    check(&private, Err(JwkError::PrivateKey));
    check(
        &format!(r#"{{"kty":"OKP","crv":"Ed25519","d":null,"x":"{RFC8037_X}"}}"#),
        Err(JwkError::PrivateKey),
    );
}

#[test]
fn other_key_types_are_refused() {
    let wrong = |kty: &str, crv: &str| {
        Err(JwkError::WrongType {
            kty: kty.into(),
            crv: crv.into(),
        })
    };
    check(
        &format!(r#"{{"kty":"OKP","crv":"X25519","x":"{RFC8037_X}"}}"#),
        wrong("OKP", "X25519"),
    );
    check(
        &format!(r#"{{"kty":"OKP","crv":"Ed448","x":"{RFC8037_X}"}}"#),
        wrong("OKP", "Ed448"),
    );
    check(
        &format!(r#"{{"kty":"EC","crv":"P-256","x":"{RFC8037_X}","y":"{RFC8037_X}"}}"#),
        wrong("EC", "P-256"),
    );
    check(
        &format!(r#"{{"kty":"okp","crv":"ed25519","x":"{RFC8037_X}"}}"#),
        wrong("okp", "ed25519"),
    );
    check(
        &format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{RFC8037_X}","alg":"ES256"}}"#),
        Err(JwkError::WrongAlgorithm("ES256".into())),
    );
    check(
        &format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{RFC8037_X}","use":"enc"}}"#),
        Err(JwkError::WrongUse("enc".into())),
    );
}

#[test]
fn bad_x_is_refused() {
    let x = |x: &str| format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}"}}"#);
    // One byte short, one byte long, padded, standard base64 alphabet, not base64, the
    // identity point (small order), empty.
    let short = URL_SAFE_NO_PAD.encode([7u8; 31]);
    let long = URL_SAFE_NO_PAD.encode([7u8; 33]);
    let identity = URL_SAFE_NO_PAD.encode({
        let mut p = [0u8; 32];
        p[0] = 1;
        p
    });
    for bad in [
        short.as_str(),
        long.as_str(),
        &format!("{RFC8037_X}="),
        "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        "not base64 at all!",
        identity.as_str(),
        "",
    ] {
        check(&x(bad), Err(JwkError::BadKey));
    }
}

#[test]
fn malformed_json_is_refused() {
    check_syntax("");
    check_syntax("[]");
    check_syntax(r#""OKP""#);
    check_syntax(&format!(r#"{{"crv":"Ed25519","x":"{RFC8037_X}"}}"#));
    check_syntax(r#"{"kty":"OKP","crv":"Ed25519"}"#);
    check_syntax(&format!(
        r#"{{"kty":"OKP","crv":"Ed25519","x":"{RFC8037_X}","#
    ));
    check_syntax(&format!(
        r#"{{"kty":"OKP","crv":"Ed25519","x":32,"y":"{RFC8037_X}"}}"#
    ));
    // A member given twice: which one would count?
    check_syntax(&format!(
        r#"{{"kty":"OKP","crv":"Ed25519","x":"{RFC8037_X}","x":"{RFC8037_X}"}}"#
    ));
    check_syntax(&format!(
        r#"{{"kty":"OKP","kty":"OKP","crv":"Ed25519","x":"{RFC8037_X}"}}"#
    ));
}
