//! The `edl-keys` binary as operators run it: files it writes, what it prints, and its exit
//! codes, each test in a fresh temporary directory.

// clippy's allow-unwrap-in-tests covers #[test] functions, not the helpers beside them; in
// this test crate a failed unwrap is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use keys::licence::{LicenceClass, LicenceClasses, LicenceNumber, PhotoDigest, Validity};
use keys::token::{CredentialId, LicenceDetails, StatusReference};
use keys::trust_list::{self, TrustList};
use keys::{CredentialClaims, KeyUse, PublicKey, SigningKey, UnixTime, VerifyError, VerifyPolicy};
use tempfile::TempDir;
use time::macros::date;

const BIN: &str = env!("CARGO_BIN_EXE_edl-keys");

/// Exit codes (sysexits).
const USAGE: i32 = 64;
const DATA: i32 = 65;
const NO_INPUT: i32 = 66;
const CANNOT_CREATE: i32 = 73;

/// One run of the binary.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn edl_keys(dir: &Path, args: &[&str]) -> Run {
    edl_keys_with_input(dir, args, None)
}

fn edl_keys_with_input(dir: &Path, args: &[&str], input: Option<&str>) -> Run {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("edl-keys starts");
    if let Some(input) = input {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.write_all(input.as_bytes()).expect("write stdin");
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("edl-keys finishes");
    Run {
        code: status
            .code()
            .expect("edl-keys exits, not killed by a signal"),
        stdout: String::from_utf8(stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(stderr).expect("stderr is UTF-8"),
    }
}

/// Runs a command that must succeed and returns its stdout.
#[track_caller]
fn ok(dir: &Path, args: &[&str]) -> String {
    let run = edl_keys(dir, args);
    assert_eq!(
        run.code, 0,
        "edl-keys {args:?} failed: {}{}",
        run.stdout, run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run.stdout
}

/// Checks that a command fails with `code` and says so in exactly one line on stderr.
#[track_caller]
fn check_fails(dir: &Path, args: &[&str], code: i32, mentions: &str) {
    check_run_fails(&edl_keys(dir, args), args, code, mentions);
}

#[track_caller]
fn check_run_fails(run: &Run, args: &[&str], code: i32, mentions: &str) {
    assert_eq!(
        run.code, code,
        "edl-keys {args:?}: exit code\nstdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "edl-keys {args:?}: one line on stderr, got {:?}",
        run.stderr
    );
    assert!(lines[0].starts_with("edl-keys: "), "{:?}", lines[0]);
    assert!(
        lines[0].contains(mentions),
        "edl-keys {args:?}: {:?} does not mention {mentions:?}",
        lines[0]
    );
}

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

fn load_private(path: &Path) -> SigningKey {
    SigningKey::from_pkcs8_pem(&fs::read_to_string(path).unwrap()).unwrap()
}

fn load_public(path: &Path) -> PublicKey {
    PublicKey::from_spki_pem(&fs::read_to_string(path).unwrap()).unwrap()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Runs a command that must succeed and parses its stdout as JSON.
#[track_caller]
fn ok_json<T: serde::de::DeserializeOwned>(dir: &Path, args: &[&str]) -> T {
    serde_json::from_str(&ok(dir, args)).unwrap()
}

/// `generate` arguments: a new `key_use` key written to `out`.
fn generate_args<'a>(key_use: &'a str, out: &'a str) -> [&'a str; 5] {
    ["generate", "--use", key_use, "--out", out]
}

/// Generates a `key_use` key into `out`, which must succeed; returns stdout.
#[track_caller]
fn generate(dir: &Path, key_use: &str, out: &str) -> String {
    ok(dir, &generate_args(key_use, out))
}

/// `trust-list sign` arguments: `spec` signed with `root` into `out`.
fn sign_args<'a>(root: &'a str, spec: &'a str, out: &'a str) -> [&'a str; 8] {
    [
        "trust-list",
        "sign",
        "--root",
        root,
        "--spec",
        spec,
        "--out",
        out,
    ]
}

/// `trust-list show trust-list.cose` arguments, then `extra`.
fn show_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    [&["trust-list", "show", "trust-list.cose"], extra].concat()
}

/// Shows `trust-list.cose` with `extra` arguments, which must succeed; returns stdout.
#[track_caller]
fn show(dir: &Path, extra: &[&str]) -> String {
    ok(dir, &show_args(extra))
}

/// `rotate` arguments: a new `key_use` key into `out`, recorded in `spec`, then `extra`.
fn rotate_args<'a>(
    spec: &'a str,
    key_use: &'a str,
    out: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    [
        &["rotate", "--spec", spec, "--use", key_use, "--out", out],
        extra,
    ]
    .concat()
}

/// `revoke` arguments: the key `kid` marked revoked in `spec`.
fn revoke_args<'a>(spec: &'a str, kid: &'a str) -> [&'a str; 5] {
    ["revoke", "--spec", spec, "--kid", kid]
}

/// A credential for a real licence, issued at `issued_at`.
fn claims(issued_at: UnixTime) -> CredentialClaims {
    CredentialClaims {
        issuer: "https://dl.example.gov".into(),
        licence_number: LicenceNumber::from_parts(110_105, date!(1949 - 12 - 31), 2).unwrap(),
        credential_id: CredentialId(*b"\x8f\x12\x00\xa4credential01"),
        issued_at,
        not_before: issued_at,
        expires_at: issued_at.plus(30 * 24 * 3600),
        licence: LicenceDetails {
            name: "王小明".into(),
            classes: LicenceClasses::new(&[LicenceClass::C1, LicenceClass::D]).unwrap(),
            validity: Validity::new(date!(2020 - 03 - 15), Some(date!(2032 - 03 - 15))).unwrap(),
            authority: "北京市公安局公安交通管理局".into(),
            photo: PhotoDigest::of(b"\xff\xd8\xff\xe0 a compliant holder photo"),
        },
        status: StatusReference {
            index: 70_123,
            uri: "https://dl.example.gov/v1/status-lists/1".into(),
        },
    }
}

/// A directory with a root key, a credential and a status key, and a spec naming the
/// latter two by their public key files.
struct Authority {
    dir: TempDir,
}

impl Authority {
    fn new() -> Authority {
        let dir = TempDir::new().unwrap();
        let path = dir.path();
        generate(path, "root", "root.pem");
        generate(path, "credential", "credential-1.pem");
        generate(path, "status", "status-1.pem");
        let authority = Authority { dir };
        authority.write_spec(1);
        authority
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    fn write_spec(&self, sequence: u64) {
        fs::write(
            self.file("spec.toml"),
            format!(
                r#"# The authority's trust list.
issuer = "https://dl.example.gov"
sequence = {sequence} # bumped by rotate and revoke
next_update = "7d"
status_lists = ["https://dl.example.gov/v1/status-lists/1"]

[[keys]]
path = "credential-1.pub.pem"
use = "credential"
not_before = 2025-01-01T00:00:00Z

[[keys]]
path = "status-1.pub.pem"
use = "status"
not_before = "2025-01-01T00:00:00Z"
not_after = "2099-01-01T00:00:00Z"
"#
            ),
        )
        .unwrap();
    }

    fn sign(&self) -> String {
        ok(
            self.path(),
            &sign_args("root.pem", "spec.toml", "trust-list.cose"),
        )
    }

    /// The published list, verified with the library against the root's public key.
    fn published(&self) -> TrustList {
        let root = load_public(&self.file("root.pub.pem"));
        trust_list::verify(
            &fs::read(self.file("trust-list.cose")).unwrap(),
            &[root],
            None,
        )
        .unwrap()
    }

    fn kid(&self, key_file: &str) -> String {
        load_public(&self.file(&key_file.replace(".pem", ".pub.pem")))
            .key_id()
            .to_string()
    }
}

/// Checks that `trust-list sign` refuses `spec` (written to `bad.toml`) with `code`, saying
/// `mentions`, and writes no list.
#[track_caller]
fn check_spec_refused(authority: &Authority, spec: &str, code: i32, mentions: &str) {
    fs::write(authority.file("bad.toml"), spec).unwrap();
    let run = edl_keys(
        authority.path(),
        &sign_args("root.pem", "bad.toml", "out.cose"),
    );
    let args = ["trust-list", "sign", "--spec", "bad.toml"];
    check_run_fails(&run, &args, code, mentions);
    assert!(!authority.file("out.cose").exists());
}

#[test]
fn generate_writes_a_0600_private_key_and_its_public_key() {
    let dir = TempDir::new().unwrap();
    let out = generate(dir.path(), "credential", "key.pem");
    let private = dir.path().join("key.pem");
    assert_eq!(mode(&private), 0o600);
    let key = load_private(&private);
    let public = load_public(&dir.path().join("key.pub.pem"));
    assert_eq!(key.public(), &public);
    assert!(out.contains(&key.key_id().to_string()), "{out}");
    assert!(out.contains("credential"), "{out}");
    // PKCS#8 v1, as OpenSSL writes it: no public key inside, so 48 bytes of DER.
    let pem = fs::read_to_string(&private).unwrap();
    assert!(
        pem.starts_with("-----BEGIN PRIVATE KEY-----\nMC4CAQAw"),
        "{pem}"
    );
}

#[test]
fn generate_without_public_writes_only_the_private_key() {
    let dir = TempDir::new().unwrap();
    ok(
        dir.path(),
        &[&generate_args("root", "root.pem")[..], &["--no-public"]].concat(),
    );
    assert_eq!(mode(&dir.path().join("root.pem")), 0o600);
    assert!(!dir.path().join("root.pub.pem").exists());
}

#[test]
fn generate_is_0600_whatever_the_umask() {
    let dir = TempDir::new().unwrap();
    let run = Command::new("sh")
        .args([
            "-c",
            &format!("umask 0; exec {BIN} generate --use status --out k.pem"),
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    assert_eq!(mode(&dir.path().join("k.pem")), 0o600);
}

#[test]
fn generate_refuses_to_overwrite_a_key() {
    let dir = TempDir::new().unwrap();
    let args = generate_args("root", "root.pem");
    ok(dir.path(), &args);
    let before = fs::read(dir.path().join("root.pem")).unwrap();
    check_fails(dir.path(), &args, CANNOT_CREATE, "already exists");
    assert_eq!(fs::read(dir.path().join("root.pem")).unwrap(), before);
}

#[test]
fn generate_refuses_when_the_public_key_file_exists() {
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("k.pub.pem"), "someone else's").unwrap();
    check_fails(
        dir.path(),
        &generate_args("root", "k.pem"),
        CANNOT_CREATE,
        "k.pub.pem",
    );
    assert!(!dir.path().join("k.pem").exists(), "nothing is created");
}

#[test]
fn generate_into_a_missing_directory_cannot_create() {
    let dir = TempDir::new().unwrap();
    check_fails(
        dir.path(),
        &generate_args("root", "no/such/dir/k.pem"),
        CANNOT_CREATE,
        "cannot create",
    );
}

#[test]
fn usage_errors_exit_64_in_one_line() {
    let dir = TempDir::new().unwrap();
    let path = dir.path();
    let bad_overlap = rotate_args("s.toml", "status", "k", &["--overlap", "soon"]);
    let cases: [(&[&str], &str); 7] = [
        (&["generate", "--out", "k.pem"], "--use"),
        (&generate_args("admin", "k.pem"), "admin"),
        (&["genrate"], "genrate"),
        (&rotate_args("s.toml", "root", "k.pem", &[]), "root"),
        (&bad_overlap, "soon"),
        (&revoke_args("s.toml", "ABCDEF0123456789"), "kid"),
        (&["trust-list", "show", "f", "--json", "--jwks"], "--jwks"),
    ];
    for (args, mentions) in cases {
        check_fails(path, args, USAGE, mentions);
    }
}

#[test]
fn help_and_version_succeed() {
    let dir = TempDir::new().unwrap();
    assert!(ok(dir.path(), &["--help"]).contains("trust-list"));
    assert!(ok(dir.path(), &["--version"]).contains("edl-keys"));
    let help = ok(dir.path(), &["trust-list", "sign", "--help"]);
    assert!(help.contains("TRUST LIST SPEC"), "{help}");
    assert!(help.contains("[[keys]]"), "{help}");
}

#[test]
fn show_prints_kid_public_key_and_jwk() {
    let dir = TempDir::new().unwrap();
    generate(dir.path(), "credential", "k.pem");
    let key = load_private(&dir.path().join("k.pem"));
    let kid = key.key_id().to_string();
    for file in ["k.pem", "k.pub.pem"] {
        let out = ok(dir.path(), &["show", file]);
        assert!(out.contains(&kid), "{out}");
        assert!(out.contains(&key.public().to_spki_pem()), "{out}");
        assert!(out.contains(r#""kty":"OKP""#), "{out}");

        let json: serde_json::Value = ok_json(dir.path(), &["show", file, "--json"]);
        assert_eq!(json["kid"], kid.as_str());
        assert_eq!(json["public_key_pem"], key.public().to_spki_pem().as_str());
        let jwk: keys::jwk::Jwk = serde_json::from_value(json["jwk"].clone()).unwrap();
        assert_eq!(&jwk.to_public_key().unwrap(), key.public());
    }
}

#[test]
fn show_warns_about_a_private_key_others_can_read() {
    let dir = TempDir::new().unwrap();
    generate(dir.path(), "credential", "k.pem");
    let quiet = edl_keys(dir.path(), &["show", "k.pem"]);
    assert_eq!(quiet.stderr, "");
    fs::set_permissions(dir.path().join("k.pem"), fs::Permissions::from_mode(0o644)).unwrap();
    let run = edl_keys(dir.path(), &["show", "k.pem"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stderr.contains("warning") && run.stderr.contains("0644"),
        "{}",
        run.stderr
    );
    // A public key file is meant to be readable.
    assert_eq!(edl_keys(dir.path(), &["show", "k.pub.pem"]).stderr, "");
}

#[test]
fn trust_list_sign_then_show_with_and_without_root() {
    let authority = Authority::new();
    let path = authority.path();
    let out = authority.sign();
    assert!(out.contains("sequence 1"), "{out}");
    assert_eq!(mode(&authority.file("trust-list.cose")), 0o644);

    let list = authority.published();
    assert_eq!(list.sequence, 1);
    assert_eq!(list.issuer, "https://dl.example.gov");
    assert_eq!(
        list.status_lists,
        ["https://dl.example.gov/v1/status-lists/1"]
    );
    assert_eq!(list.next_update, list.issued_at.plus(7 * 24 * 3600));
    let credential = &list.keys[0];
    assert_eq!(credential.key_use, KeyUse::Credential);
    assert_eq!(
        credential.public,
        load_public(&authority.file("credential-1.pub.pem"))
    );
    assert_eq!(credential.not_before, UnixTime(1_735_689_600));
    assert!(!credential.revoked);
    assert_eq!(list.keys[1].key_use, KeyUse::Status);
    assert_eq!(list.keys[1].not_after, UnixTime(4_070_908_800));

    let root_kid = authority.kid("root.pem");
    let credential_kid = authority.kid("credential-1.pem");
    let unverified = show(path, &[]);
    assert!(unverified.starts_with("UNVERIFIED"), "{unverified}");
    assert!(!unverified.contains("verified by root"), "{unverified}");
    assert!(unverified.contains(&credential_kid), "{unverified}");

    for root in ["root.pub.pem", "root.pem"] {
        let verified = show(path, &["--root", root]);
        assert!(
            verified.starts_with(&format!("verified by root {root_kid}\n")),
            "{verified}"
        );
        assert!(verified.contains(&credential_kid), "{verified}");
        assert!(!verified.contains("UNVERIFIED"), "{verified}");
    }
    // Among several pinned roots, the one that signed is named.
    let verified = show(
        path,
        &["--root", "status-1.pub.pem", "--root", "root.pub.pem"],
    );
    assert!(
        verified.starts_with(&format!("verified by root {root_kid}\n")),
        "{verified}"
    );
    check_fails(
        path,
        &show_args(&["--root", "credential-1.pub.pem"]),
        DATA,
        "unknown root",
    );

    let jwks: keys::jwk::Jwks = ok_json(path, &show_args(&["--jwks", "--root", "root.pub.pem"]));
    assert_eq!(jwks, list.jwks());
    let json: serde_json::Value = ok_json(path, &show_args(&["--json"]));
    assert_eq!(json["verified"], false);
    assert_eq!(json["sequence"], 1);
    assert_eq!(json["keys"][0]["kid"], credential_kid.as_str());
}

#[test]
fn the_example_spec_signs() {
    let dir = TempDir::new().unwrap();
    let path = dir.path();
    fs::copy(
        testdata("trust-list.example.toml"),
        path.join("trust-list.toml"),
    )
    .unwrap();
    generate(path, "root", "root.pem");
    generate(path, "credential", "credential-2025.pem");
    generate(path, "status", "status-2025.pem");
    ok(
        path,
        &sign_args("root.pem", "trust-list.toml", "trust-list.cose"),
    );
    let shown = show(path, &["--root", "root.pub.pem"]);
    assert!(shown.contains("open-ended"), "{shown}");
}

#[test]
fn sign_refuses_to_roll_the_sequence_back() {
    let authority = Authority::new();
    let path = authority.path();
    authority.write_spec(5);
    authority.sign();
    let published = fs::read(authority.file("trust-list.cose")).unwrap();
    let args = sign_args("root.pem", "spec.toml", "trust-list.cose");
    for sequence in [5, 4, 0] {
        authority.write_spec(sequence);
        check_fails(path, &args, DATA, "not greater than 5");
        assert_eq!(
            fs::read(authority.file("trust-list.cose")).unwrap(),
            published
        );
    }
    authority.write_spec(6);
    assert!(ok(path, &args).contains("replaces     sequence 5"));
    assert_eq!(authority.published().sequence, 6);
}

#[test]
fn sign_refuses_to_replace_a_list_it_cannot_read() {
    let authority = Authority::new();
    fs::write(authority.file("trust-list.cose"), b"not a trust list").unwrap();
    check_fails(
        authority.path(),
        &sign_args("root.pem", "spec.toml", "trust-list.cose"),
        DATA,
        "move it away",
    );
    assert_eq!(
        fs::read(authority.file("trust-list.cose")).unwrap(),
        b"not a trust list"
    );
}

#[test]
fn rotate_then_sign() {
    let authority = Authority::new();
    let path = authority.path();
    authority.sign();
    let old_kid = authority.kid("credential-1.pem");
    fs::create_dir(authority.file("next")).unwrap();
    let out = ok(
        path,
        &rotate_args(
            "spec.toml",
            "credential",
            "next/credential-2.pem",
            &["--overlap", "14d"],
        ),
    );
    let new_kid = authority.kid("next/credential-2.pem");
    assert_eq!(mode(&authority.file("next/credential-2.pem")), 0o600);
    assert!(out.contains(&new_kid) && out.contains(&old_kid), "{out}");
    assert!(out.contains("sequence 1 -> 2"), "{out}");

    let spec = fs::read_to_string(authority.file("spec.toml")).unwrap();
    assert!(
        spec.starts_with("# The authority's trust list.\n"),
        "comments are kept:\n{spec}"
    );
    assert!(
        spec.contains("sequence = 2 # bumped by rotate and revoke"),
        "{spec}"
    );
    assert!(
        spec.contains("path = \"next/credential-2.pub.pem\""),
        "{spec}"
    );
    assert!(spec.contains(&format!("kid = \"{new_kid}\"")), "{spec}");

    let sign = authority.sign();
    assert!(sign.contains("replaces     sequence 1"), "{sign}");
    let list = authority.published();
    assert_eq!(list.sequence, 2);
    let now = list.issued_at;
    let [old, status, new] = &list.keys[..] else {
        panic!("three keys: {:?}", list.keys);
    };
    assert_eq!(old.key_id().to_string(), old_kid);
    // Rotation read the clock a moment before signing did.
    let end = old.not_after.0;
    assert!(
        (now.plus(14 * 86400).0 - 60..=now.plus(14 * 86400).0).contains(&end),
        "{end} vs {now}"
    );
    assert_eq!(
        status.not_after,
        UnixTime(4_070_908_800),
        "other uses are untouched"
    );
    assert_eq!(new.key_id().to_string(), new_kid);
    assert_eq!(new.key_use, KeyUse::Credential);
    assert!((now.0 - 60..=now.0).contains(&new.not_before.0));

    // A second rotation ends the second key but never lengthens the first one's window.
    ok(
        path,
        &rotate_args(
            "spec.toml",
            "credential",
            "credential-3.pem",
            &["--overlap", "60d"],
        ),
    );
    authority.sign();
    let list = authority.published();
    assert_eq!(list.sequence, 3);
    assert_eq!(list.keys[0].not_after.0, end);
    assert!(list.keys[2].not_after.0 > end);
    assert_eq!(list.keys.len(), 4);
}

#[test]
fn revoke_then_sign_stops_the_keys_credentials() {
    let authority = Authority::new();
    let path = authority.path();
    authority.sign();
    let list = authority.published();
    let now = list.issued_at;
    let credential_key = load_private(&authority.file("credential-1.pem"));
    let token = keys::token::sign(&claims(now), &credential_key);
    let policy = VerifyPolicy::at(now);
    let verified = keys::token::verify(&token, &list.keyring(), &policy).unwrap();
    assert_eq!(verified.claims, claims(now));

    let kid = credential_key.key_id().to_string();
    let revoke = revoke_args("spec.toml", &kid);
    let run = edl_keys(path, &revoke);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(&kid) && run.stdout.contains("sequence 1 -> 2"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("no active credential key remains"),
        "{}",
        run.stderr
    );
    assert!(
        fs::read_to_string(authority.file("spec.toml"))
            .unwrap()
            .contains("revoked = true")
    );
    // Revoking again changes nothing.
    assert!(ok(path, &revoke).contains("already revoked"));

    authority.sign();
    let list = authority.published();
    assert_eq!(list.sequence, 2);
    assert!(list.keys[0].revoked);
    assert_eq!(
        keys::token::verify(&token, &list.keyring(), &policy),
        Err(VerifyError::KeyRevoked(credential_key.key_id()))
    );
    assert!(
        list.jwks().keys.iter().all(|k| k.kid != kid),
        "revoked keys leave the JWKS"
    );
    let shown = show(path, &["--root", "root.pub.pem"]);
    assert!(shown.contains("revoked"), "{shown}");
}

#[test]
fn inspect_prints_every_claim_marked_unverified() {
    let dir = TempDir::new().unwrap();
    let key = SigningKey::from_seed(&[7; 32]);
    let claims = claims(UnixTime(1_767_225_600));
    let token = keys::token::sign(&claims, &key);
    let qr = keys::qr::encode(&token);

    let out = ok(dir.path(), &["inspect", &qr]);
    assert!(
        out.starts_with("UNVERIFIED — signature not checked\n"),
        "{out}"
    );
    for expected in [
        &key.key_id().to_string(),
        "https://dl.example.gov",
        "11010519491231002X",
        &claims.credential_id.to_string(),
        "2026-01-01T00:00:00Z",
        "2026-01-31T00:00:00Z",
        "王小明",
        "C1 D",
        "2020-03-15",
        "2032-03-15",
        "北京市公安局公安交通管理局",
        &hex::encode(claims.licence.photo.as_bytes()),
        "https://dl.example.gov/v1/status-lists/1",
        "70123",
    ] {
        assert!(out.contains(expected), "{expected} missing from\n{out}");
    }

    let stdin = edl_keys_with_input(dir.path(), &["inspect", "-"], Some(&format!("{qr}\n")));
    assert_eq!(stdin.code, 0, "{}", stdin.stderr);
    assert_eq!(stdin.stdout, out);
    assert_eq!(
        ok(dir.path(), &["inspect", "--hex", &hex::encode(&token)]),
        out
    );

    let json: serde_json::Value = ok_json(dir.path(), &["inspect", &qr, "--json"]);
    assert_eq!(json["verified"], false);
    assert_eq!(json["sub"], "11010519491231002X");
    assert_eq!(json["kid"], key.key_id().to_string().as_str());
    assert_eq!(json["exp"], 1_767_225_600 + 30 * 86400);
    assert_eq!(json["licence"]["classes"], serde_json::json!(["C1", "D"]));
    assert_eq!(json["status"]["idx"], 70_123);
}

#[test]
fn bad_key_files_are_refused() {
    let dir = TempDir::new().unwrap();
    let path = dir.path();
    fs::write(
        path.join("garbage.pem"),
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    fs::write(path.join("text.pem"), "hello\n").unwrap();
    fs::write(path.join("binary.pem"), [0xff, 0xfe, 0x00, 0x80]).unwrap();
    fs::write(
        path.join("cert.pem"),
        "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let p256 = testdata("not-ed25519-p256.pem");
    let p256_public = testdata("not-ed25519-p256.pub.pem");
    let x25519 = testdata("not-ed25519-x25519.pem");
    let (p256, p256_public, x25519) = (
        p256.to_str().unwrap(),
        p256_public.to_str().unwrap(),
        x25519.to_str().unwrap(),
    );
    for (file, code, mentions) in [
        ("missing.pem", NO_INPUT, "missing.pem"),
        (".", NO_INPUT, "cannot read"),
        ("garbage.pem", DATA, "not an Ed25519 private key"),
        ("text.pem", DATA, "not a PEM"),
        ("binary.pem", DATA, "not a text file"),
        ("cert.pem", DATA, "CERTIFICATE"),
        (p256, DATA, "not an Ed25519 private key"),
        (p256_public, DATA, "not an Ed25519 public key"),
        (x25519, DATA, "not an Ed25519 private key"),
    ] {
        check_fails(path, &["show", file], code, mentions);
    }
}

#[test]
fn bad_qr_texts_are_refused() {
    let dir = TempDir::new().unwrap();
    let path = dir.path();
    let key = SigningKey::from_seed(&[7; 32]);
    let token = keys::token::sign(&claims(UnixTime(1_767_225_600)), &key);
    let qr = keys::qr::encode(&token);
    let lowercase = format!("DL1:{}", qr["DL1:".len()..].to_lowercase());
    let truncated = &qr[..qr.len() - 7];
    let short = &qr[..qr.len() - 1];
    let truncated_token = hex::encode(&token[..token.len() - 1]);
    let cases: [(&[&str], &str); 8] = [
        (&["inspect", &lowercase], "not base45"),
        (&["inspect", truncated], ""),
        (&["inspect", short], ""),
        (&["inspect", &qr[4..]], "DL1:"),
        (&["inspect", "DL1:"], "no data"),
        (&["inspect", "DL1:00"], "not a credential"),
        (&["inspect", "--hex", "d2zz"], "hex"),
        (&["inspect", "--hex", &truncated_token], "not a credential"),
    ];
    for (args, mentions) in cases {
        check_fails(path, args, DATA, mentions);
    }
    let run = edl_keys_with_input(path, &["inspect", "-"], Some(""));
    check_run_fails(&run, &["inspect", "-"], DATA, "DL1:");
    // A trust list is not a credential.
    let authority = Authority::new();
    authority.sign();
    let list = fs::read(authority.file("trust-list.cose")).unwrap();
    check_fails(
        path,
        &["inspect", "--hex", &hex::encode(list)],
        DATA,
        "not a credential",
    );
}

#[test]
fn bad_trust_list_inputs_are_refused() {
    let authority = Authority::new();
    let path = authority.path();
    let good = fs::read_to_string(authority.file("spec.toml")).unwrap();
    check_spec_refused(&authority, "issuer = ", DATA, "line 1");
    check_spec_refused(&authority, "\u{0}", DATA, "bad.toml");
    // Edits of the good spec, each refused as bad data: (replace, with, what stderr mentions).
    for (from, to, mentions) in [
        ("issuer", "issuer_name", "issuer_name"),
        ("sequence = 1", "sequence = -1", "line 3"),
        ("7d", "7 days", "7 days"),
        ("7d", "2020-01-01T00:00:00Z", "not in the future"),
        ("2025-01-01T00:00:00Z", "2025-01-01T00:00:00", "offset"),
        ("\"https://dl.example.gov\"", "\"\"", "issuer is empty"),
        ("use = \"credential\"", "use = \"root\"", "root"),
        ("use = \"credential\"", "use = \"signing\"", "signing"),
        ("2099-01-01", "2001-01-01", "not_after is before not_before"),
        (
            "use = \"credential\"",
            "use = \"credential\"\nkid = \"0123456789abcdef\"",
            "does not match",
        ),
        ("credential-1.pub.pem", "status-1.pem", "the same key"),
        ("credential-1.pub.pem", "root.pub.pem", "is the root key"),
    ] {
        check_spec_refused(&authority, &good.replace(from, to), DATA, mentions);
    }
    let gone = good.replace("credential-1.pub.pem", "gone.pub.pem");
    check_spec_refused(&authority, &gone, NO_INPUT, "gone.pub.pem");
    let keyless = &good[..good.find("[[keys]]").unwrap()];
    check_spec_refused(&authority, keyless, DATA, "no [[keys]]");
    fs::write(authority.file("junk.cose"), b"\xd2\x84junk").unwrap();
    let missing_spec = rotate_args("missing.toml", "status", "k.pem", &[]);
    let cases: [(&[&str], i32, &str); 7] = [
        (
            &sign_args("root.pub.pem", "spec.toml", "out.cose"),
            DATA,
            "a public key",
        ),
        (
            &sign_args("root.pem", "missing.toml", "out.cose"),
            NO_INPUT,
            "missing.toml",
        ),
        (
            &sign_args("root.pem", "spec.toml", "no/dir/out.cose"),
            CANNOT_CREATE,
            "cannot create",
        ),
        (&["trust-list", "show", "junk.cose"], DATA, "junk.cose"),
        (
            &["trust-list", "show", "missing.cose"],
            NO_INPUT,
            "missing.cose",
        ),
        (&missing_spec, NO_INPUT, "missing.toml"),
        (
            &revoke_args("spec.toml", "0123456789abcdef"),
            DATA,
            "no key with kid",
        ),
    ];
    for (args, code, mentions) in cases {
        check_fails(path, args, code, mentions);
    }
    // A failed rotation leaves no key behind and the spec as it was.
    check_fails(
        path,
        &rotate_args("spec.toml", "status", "root.pem", &[]),
        CANNOT_CREATE,
        "already exists",
    );
    assert_eq!(
        fs::read_to_string(authority.file("spec.toml")).unwrap(),
        good
    );
}
