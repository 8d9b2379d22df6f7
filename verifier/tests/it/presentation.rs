//! Presentations (`DL2:`): a credential shown by its holder's device for a time slot, and
//! the `require_holder_binding` policy for bound credentials shown alone (`DL1:`).

use keys::presentation::{self, Slot};
use keys::status_list::CredentialStatus;
use keys::{SigningKey, UnixTime};

use crate::support::*;

const BASE: &str = "https://edl.example";

fn device() -> SigningKey {
    SigningKey::from_seed(&[0x5a; 32])
}

/// Credential `index`, bound to `device()`.
fn bound_token(authority: &Authority, index: u64) -> Vec<u8> {
    keys::token::sign_bound(
        &authority.claims(index),
        device().public(),
        &authority.credential,
    )
}

/// The `DL2:` text of `token` made by `key` for the slot holding `at`.
fn present(token: &[u8], key: &SigningKey, at: UnixTime) -> String {
    let slot = Slot::containing(at, presentation::DEFAULT_SLOT_LENGTH).unwrap();
    keys::qr::encode_presentation(&presentation::present(token, key, slot, None))
}

/// A terminal with `extra` config and a fresh cached list where everything is valid.
fn terminal(authority: &Authority, extra: &str) -> Terminal {
    let terminal = Terminal::new(authority, None, extra);
    terminal.seed_cache(
        authority,
        1,
        &authority.status_list(&[], HOUR),
        NOW.minus(HOUR),
    );
    terminal
}

#[track_caller]
fn check(
    terminal: &Terminal,
    text: &str,
    now: UnixTime,
    expected: (u8, &str, Option<&str>),
) -> serde_json::Value {
    let run = terminal.run(&["check", "--json", text], now);
    let json = run.json();
    assert_eq!(
        (
            run.code,
            json["verdict"].as_str().unwrap(),
            json["reason"].as_str()
        ),
        expected,
        "{run:?}"
    );
    json
}

#[test]
fn a_fresh_presentation_is_valid_and_reported_as_bound_and_fresh() {
    let authority = Authority::new(BASE);
    let terminal = terminal(&authority, "");
    let text = present(&bound_token(&authority, 7), &device(), NOW);
    let json = check(&terminal, &text, NOW, (0, "valid", None));
    let slot = Slot::containing(NOW, 30).unwrap();
    assert_eq!(
        json["presentation"],
        serde_json::json!({
            "presented": true, "holder_bound": true, "bound": true, "fresh": true,
            "slot_start": slot.start().0, "slot_length": 30
        })
    );
    assert_eq!(json["credential"]["id"], authority.credential_id(7));
    // The person at the counter reads it too.
    let human = terminal.run(&["check", &text], NOW);
    assert_eq!(human.code, 0, "{human:?}");
    assert!(
        human
            .stdout
            .contains("presented by the holder's device, fresh (slot 08:00:00, 30 s)"),
        "{human:?}"
    );
    // Standard input takes it as well.
    let stdin = terminal.run_with_stdin(&["check", "--json", "-"], NOW, &format!("{text}\n"));
    assert_eq!(stdin.code, 0, "{stdin:?}");
}

#[test]
fn the_same_text_after_the_window_is_expired() {
    let authority = Authority::new(BASE);
    let terminal = terminal(&authority, "");
    let text = present(&bound_token(&authority, 7), &device(), NOW);
    // Within the default skew (30 s either side of a 30 s slot) it still passes.
    check(&terminal, &text, NOW.plus(59), (0, "valid", None));
    for later in [NOW.plus(61), NOW.plus(HOUR), NOW.minus(31)] {
        let json = check(
            &terminal,
            &text,
            later,
            (1, "not_valid", Some("presentation_expired")),
        );
        assert_eq!(json["presentation"]["fresh"], false);
        assert_eq!(json["presentation"]["bound"], true);
    }
    let human = terminal.run(&["check", &text], NOW.plus(HOUR));
    assert!(human.stdout.contains("NOT fresh"), "{human:?}");
    // A terminal that allows more skew takes the slightly late one.
    let lax = self::terminal(&authority, "presentation_skew = \"2m\"\n");
    check(&lax, &text, NOW.plus(61), (0, "valid", None));
}

#[test]
fn a_presentation_signed_by_another_device_is_not_valid() {
    let authority = Authority::new(BASE);
    let terminal = terminal(&authority, "");
    let thief = SigningKey::from_seed(&[0x66; 32]);
    let text = present(&bound_token(&authority, 7), &thief, NOW);
    let json = check(
        &terminal,
        &text,
        NOW,
        (1, "not_valid", Some("not_presented_by_holder")),
    );
    assert_eq!(json["presentation"]["bound"], false);
    assert_eq!(json["presentation"]["holder_bound"], true);
    let human = terminal.run(&["check", &text], NOW);
    assert!(
        human
            .stdout
            .contains("presentation NOT signed by the holder's device"),
        "{human:?}"
    );
    // A bearer credential has no device key: wrapping it in a presentation proves nothing.
    let bearer = keys::token::sign(&authority.claims(8), &authority.credential);
    let json = check(
        &terminal,
        &present(&bearer, &thief, NOW),
        NOW,
        (1, "not_valid", Some("not_presented_by_holder")),
    );
    assert_eq!(json["presentation"]["holder_bound"], false);
}

#[test]
fn a_bound_credential_shown_alone_needs_the_policy_to_be_refused() {
    let authority = Authority::new(BASE);
    let text = keys::qr::encode(&bound_token(&authority, 7));
    let lax = terminal(&authority, "");
    let json = check(&lax, &text, NOW, (0, "valid", None));
    assert_eq!(json["presentation"]["presented"], false);
    assert_eq!(json["presentation"]["holder_bound"], true);
    let human = lax.run(&["check", &text], NOW);
    assert!(
        human.stdout.contains("a screenshot would pass"),
        "{human:?}"
    );
    let strict = terminal(&authority, "require_holder_binding = true\n");
    check(
        &strict,
        &text,
        NOW,
        (1, "not_valid", Some("not_presented_by_holder")),
    );
    // Under the policy the holder's device still passes, and so does a bearer credential.
    let presented = present(&bound_token(&authority, 7), &device(), NOW);
    check(&strict, &presented, NOW, (0, "valid", None));
    let bearer = authority.qr(&authority.claims(8));
    let json = check(&strict, &bearer, NOW, (0, "valid", None));
    assert_eq!(json["presentation"]["holder_bound"], false);
}

#[test]
fn a_revoked_credential_is_not_valid_even_when_presented() {
    let authority = Authority::new(BASE);
    let terminal = Terminal::new(&authority, None, "");
    terminal.seed_cache(
        &authority,
        1,
        &authority.status_list(&[(7, CredentialStatus::Invalid)], HOUR),
        NOW.minus(HOUR),
    );
    let text = present(&bound_token(&authority, 7), &device(), NOW);
    check(&terminal, &text, NOW, (1, "not_valid", Some("revoked")));
}

#[test]
fn every_single_byte_flip_of_a_presentation_is_refused() {
    let authority = Authority::new(BASE);
    let terminal = terminal(&authority, "");
    let slot = Slot::containing(NOW, 30).unwrap();
    let bytes = presentation::present(&bound_token(&authority, 7), &device(), slot, None);
    let mut input = String::new();
    for i in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x01;
        input.push_str(&keys::qr::encode_presentation(&flipped));
        input.push('\n');
    }
    // The batch checks them all in one run; `check` agrees on a sample.
    let run = terminal.run_with_stdin(&["batch", "-"], NOW, &input);
    let lines: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), bytes.len(), "{run:?}");
    for (i, line) in lines.iter().enumerate() {
        assert_ne!(line["verdict"], "valid", "flipping byte {i} passed: {line}");
    }
    for i in [0, bytes.len() / 2, bytes.len() - 1] {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x01;
        let run = terminal.run(
            &["check", "--json", &keys::qr::encode_presentation(&flipped)],
            NOW,
        );
        assert_ne!(run.code, 0, "flipping byte {i} passed: {run:?}");
    }
}

#[test]
fn batch_mixes_dl1_and_dl2_lines() {
    let authority = Authority::new(BASE);
    let terminal = terminal(&authority, "require_holder_binding = true\n");
    let thief = SigningKey::from_seed(&[0x66; 32]);
    let input = [
        authority.qr(&authority.claims(1)),
        present(&bound_token(&authority, 2), &device(), NOW),
        keys::qr::encode(&bound_token(&authority, 3)),
        present(&bound_token(&authority, 4), &device(), NOW.minus(HOUR)),
        present(&bound_token(&authority, 5), &thief, NOW),
        "DL2:not base45 at all".to_owned(),
        "DL1:not base45 either".to_owned(),
        present(&bound_token(&authority, 6), &device(), NOW),
    ]
    .join("\n");
    let run = terminal.run_with_stdin(&["batch", "-"], NOW, &input);
    let got: Vec<(String, Option<String>, bool)> = run
        .stdout
        .lines()
        .map(|l| {
            let json: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                json["verdict"].as_str().unwrap().to_owned(),
                json["reason"].as_str().map(str::to_owned),
                json["presentation"]["presented"].as_bool().unwrap(),
            )
        })
        .collect();
    let want = |v: &str, r: Option<&str>, p| (v.to_owned(), r.map(str::to_owned), p);
    assert_eq!(
        got,
        vec![
            want("valid", None, false),
            want("valid", None, true),
            want("not_valid", Some("not_presented_by_holder"), false),
            want("not_valid", Some("presentation_expired"), true),
            want("not_valid", Some("not_presented_by_holder"), true),
            want("not_valid", Some("malformed"), true),
            want("not_valid", Some("malformed"), false),
            want("valid", None, true),
        ],
        "{run:?}"
    );
}

#[test]
fn a_presentation_checked_live_over_https() {
    let server = Server::start();
    let authority = Authority::new(&server.url);
    publish(&server, &authority, 1, authority.status_list(&[], HOUR));
    let terminal = Terminal::new(&authority, Some(&server), "");
    let sync = terminal.run(&["sync"], NOW.minus(HOUR));
    assert_eq!(sync.code, 0, "{sync:?}");
    let id = authority.credential_id(7);
    server.with(|s| {
        s.live.insert(id.clone(), "suspended");
    });
    let text = present(&bound_token(&authority, 7), &device(), NOW);
    let json = check(&terminal, &text, NOW, (1, "not_valid", Some("suspended")));
    assert_eq!(json["status"]["source"], "live");
    server.with(|s| {
        s.live.insert(id, "valid");
    });
    let json = check(&terminal, &text, NOW, (0, "valid", None));
    assert_eq!(json["status"]["source"], "live");
    assert_eq!(json["presentation"]["fresh"], true);
}

/// A presentation made by an independent implementation (Python: cryptography makes the
/// device key, base45 and python-cwt read the credential and its `cnf`, pycose signs,
/// cbor2 writes the payload — `keys/tests/interop/`) passes `edl-verify check`.
#[test]
fn a_presentation_made_in_python_is_accepted() {
    let interop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../keys/tests/interop");
    let python = |script: &str, args: &[&std::path::Path]| {
        let output = std::process::Command::new("python3")
            .arg(interop.join(script))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run python3 ({e}): run `bash .ci/setup`"));
        assert!(
            output.status.success(),
            "{script} failed (packages from .ci/requirements.txt: `bash .ci/setup`): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let authority = Authority::new(BASE);
    let terminal = terminal(&authority, "require_holder_binding = true\n");
    let dir = terminal.dir.path();
    let key_file = dir.join("device.pem");
    python("generate_key.py", &[&key_file]);
    let device = SigningKey::from_pkcs8_pem(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    let token =
        keys::token::sign_bound(&authority.claims(7), device.public(), &authority.credential);
    let qr_file = dir.join("credential.txt");
    std::fs::write(&qr_file, keys::qr::encode(&token)).unwrap();
    let slot = Slot::containing(NOW, 30).unwrap();
    let out = dir.join("presentation.txt");
    let start = std::path::PathBuf::from(slot.start().0.to_string());
    let length = std::path::PathBuf::from("30");
    python(
        "make_presentation.py",
        &[&key_file, &qr_file, &start, &length, &out],
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("DL2:"), "{text}");
    let json = check(&terminal, text.trim(), NOW, (0, "valid", None));
    assert_eq!(json["presentation"]["bound"], true);
    assert_eq!(json["presentation"]["fresh"], true);
    check(
        &terminal,
        text.trim(),
        NOW.plus(HOUR),
        (1, "not_valid", Some("presentation_expired")),
    );
}
