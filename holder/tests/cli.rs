//! `edl-holder` from outside: the real binary for keygen, `present --once` and exit codes
//! (what the verifier then accepts, checked with `keys`), and `holder::run` in-process with
//! a manual clock for the code that changes every slot.

// A failed unwrap in a test helper is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use keys::licence::{LicenceClasses, LicenceNumber, PhotoDigest, Validity, parse_date};
use keys::presentation::{self, Challenge, PresentationError, PresentationPolicy, Slot};
use keys::token::{CredentialClaims, CredentialId, LicenceDetails, StatusReference};
use keys::{KeyUse, Keyring, PublicKey, SigningKey, TrustedKey, UnixTime, qr};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_edl-holder");

/// The issuing authority's credential key, fixed.
fn issuer() -> SigningKey {
    SigningKey::from_seed(&[0x11; 32])
}

fn keyring() -> Keyring {
    Keyring::new(vec![TrustedKey {
        public: issuer().public().clone(),
        key_use: KeyUse::Credential,
        not_before: UnixTime(0),
        not_after: UnixTime(u64::MAX / 2),
        revoked: false,
    }])
}

/// A credential valid from `issued_at` until `expires_at`.
fn claims(issued_at: UnixTime, expires_at: UnixTime) -> CredentialClaims {
    CredentialClaims {
        issuer: "https://dl.example.gov.cn".into(),
        licence_number: "11010519491231002X".parse::<LicenceNumber>().unwrap(),
        credential_id: CredentialId(*b"holder test cti!"),
        issued_at,
        not_before: issued_at,
        expires_at,
        licence: LicenceDetails {
            name: "王芳".into(),
            classes: "C1".parse::<LicenceClasses>().unwrap(),
            validity: Validity::new(parse_date("2021-05-01").unwrap(), None).unwrap(),
            authority: "上海市公安局交通警察总队".into(),
            photo: PhotoDigest::of(b"photo"),
        },
        status: StatusReference {
            index: 9,
            uri: "https://dl.example.gov.cn/v1/status-lists/0".into(),
        },
    }
}

/// The real time: the binary reads the system clock, so its credentials must be valid now.
#[allow(clippy::disallowed_methods)]
fn real_now() -> UnixTime {
    UnixTime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
}

fn holder(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("edl-holder runs")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temporary path")
}

#[track_caller]
fn assert_exit(output: &Output, code: i32, stderr_has: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    assert!(stderr.contains(stderr_has), "stderr: {stderr}");
}

/// `keygen --out DIR/device.pem`; returns the key file and the public key it printed.
fn keygen(dir: &Path) -> (PathBuf, PublicKey) {
    let path = dir.join("device.pem");
    let output = holder(&["keygen", "--out", path_str(&path)]);
    assert_exit(&output, 0, "mode 0600");
    let jwk = String::from_utf8(output.stdout).unwrap();
    let public = keys::jwk::parse_holder_key(jwk.trim()).unwrap();
    (path, public)
}

/// Writes a credential bound to `holder` as `DL1:` text; returns its path.
fn credential_file(dir: &Path, holder: &PublicKey, claims: &CredentialClaims) -> PathBuf {
    let path = dir.join("credential.txt");
    let token = keys::token::sign_bound(claims, holder, &issuer());
    fs::write(&path, format!("{}\n", qr::encode(&token))).unwrap();
    path
}

#[test]
fn keygen_writes_a_private_key_only_its_owner_reads_and_prints_its_jwk() {
    let dir = TempDir::new().unwrap();
    let (path, public) = keygen(dir.path());
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let key = SigningKey::from_pkcs8_pem(&fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(key.public(), &public);
    // PKCS#8 v1, the form `openssl pkey` reads: the 48-byte DER of RFC 8410's template.
    let pem = fs::read_to_string(&path).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI"));

    // It never replaces a key: that would orphan the credential bound to it.
    let again = holder(&["keygen", "--out", path_str(&path)]);
    assert_exit(&again, 73, "already exists");
    assert_eq!(fs::read_to_string(&path).unwrap(), pem);
    let nowhere = holder(&["keygen", "--out", "/nonexistent/dir/device.pem"]);
    assert_exit(&nowhere, 73, "cannot create");
}

#[test]
fn keygen_then_present_once_makes_a_presentation_the_verifier_accepts() {
    let dir = TempDir::new().unwrap();
    let (key, public) = keygen(dir.path());
    let now = real_now();
    let claims = claims(now.minus(60), now.plus(86_400));
    let credential = credential_file(dir.path(), &public, &claims);

    let output = holder(&[
        "present",
        "--credential",
        path_str(&credential),
        "--key",
        path_str(&key),
        "--once",
    ]);
    assert_exit(&output, 0, "");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.starts_with("DL2:") && text.ends_with('\n'), "{text}");
    let bytes = qr::decode_presentation(text.trim_end()).unwrap();
    // Verified at the binary's own time: a little later than it read the clock.
    let verified =
        presentation::verify(&bytes, &keyring(), &PresentationPolicy::at(real_now())).unwrap();
    assert_eq!(verified.credential.claims, claims);
    assert_eq!(verified.holder_key, public);
    assert_eq!(verified.slot.length(), presentation::DEFAULT_SLOT_LENGTH);
    assert_eq!(verified.challenge, None);

    // A verifier's challenge and another slot length.
    let output = holder(&[
        "present",
        "--credential",
        path_str(&credential),
        "--key",
        path_str(&key),
        "--once",
        "--slot",
        "10",
        "--challenge",
        "0a1b2c3d",
    ]);
    assert_exit(&output, 0, "");
    let bytes = qr::decode_presentation(String::from_utf8(output.stdout).unwrap().trim()).unwrap();
    let challenge: Challenge = "0a1b2c3d".parse().unwrap();
    let policy = PresentationPolicy {
        challenge: Some(challenge.clone()),
        ..PresentationPolicy::at(real_now())
    };
    let verified = presentation::verify(&bytes, &keyring(), &policy).unwrap();
    assert_eq!(verified.slot.length(), 10);
    assert_eq!(verified.challenge, Some(challenge));
    // The same text an hour later is a replay.
    let later = PresentationPolicy {
        challenge: None,
        ..PresentationPolicy::at(real_now().plus(3_600))
    };
    assert!(matches!(
        presentation::verify(&bytes, &keyring(), &later),
        Err(PresentationError::Expired(_))
    ));
}

#[test]
fn the_credential_file_may_hold_the_raw_token() {
    let dir = TempDir::new().unwrap();
    let (key, public) = keygen(dir.path());
    let now = real_now();
    let raw = dir.path().join("credential.cose");
    // In the CWT tag, as another issuer might write it.
    let token = keys::token::sign_bound(&claims(now.minus(60), now.plus(600)), &public, &issuer());
    fs::write(&raw, [&[0xd8, 0x3d][..], &token].concat()).unwrap();
    let output = holder(&[
        "present",
        "--credential",
        path_str(&raw),
        "--key",
        path_str(&key),
        "--once",
    ]);
    assert_exit(&output, 0, "");
    let bytes = qr::decode_presentation(String::from_utf8(output.stdout).unwrap().trim()).unwrap();
    assert!(presentation::verify(&bytes, &keyring(), &PresentationPolicy::at(real_now())).is_ok());
}

#[test]
fn bad_inputs_have_their_own_exit_codes() {
    let dir = TempDir::new().unwrap();
    let (key, public) = keygen(dir.path());
    let now = real_now();
    let good = credential_file(dir.path(), &public, &claims(now.minus(60), now.plus(600)));
    let write = |name: &str, contents: &[u8]| {
        let path = dir.path().join(name);
        fs::write(&path, contents).unwrap();
        path
    };
    let present = |credential: &Path, key: &Path| {
        holder(&[
            "present",
            "--credential",
            path_str(credential),
            "--key",
            path_str(key),
            "--once",
        ])
    };
    let missing = dir.path().join("missing");

    // Missing files: 66.
    assert_exit(&present(&missing, &key), 66, "cannot read");
    assert_exit(&present(&good, &missing), 66, "cannot read");
    assert_exit(&present(dir.path(), &key), 66, "cannot read");

    // Credentials that are not, or not this device's: 65.
    let bearer = write(
        "bearer.txt",
        qr::encode(&keys::token::sign(
            &claims(now.minus(60), now.plus(600)),
            &issuer(),
        ))
        .as_bytes(),
    );
    assert_exit(&present(&bearer, &key), 65, "not bound to a device key");
    let other_device = SigningKey::from_seed(&[0x22; 32]);
    let elsewhere = write(
        "elsewhere.txt",
        qr::encode(&keys::token::sign_bound(
            &claims(now.minus(60), now.plus(600)),
            other_device.public(),
            &issuer(),
        ))
        .as_bytes(),
    );
    assert_exit(&present(&elsewhere, &key), 65, "bound to device key");
    let expired = write(
        "expired.txt",
        qr::encode(&keys::token::sign_bound(
            &claims(now.minus(7_200), now.minus(3_600)),
            &public,
            &issuer(),
        ))
        .as_bytes(),
    );
    assert_exit(&present(&expired, &key), 65, "expired");
    let presentation_text = {
        let output = present(&good, &key);
        assert_exit(&output, 0, "");
        write("presentation.txt", &output.stdout)
    };
    assert_exit(&present(&presentation_text, &key), 65, "DL2:");
    assert_exit(
        &present(&write("lowercase.txt", b"dl1:abc"), &key),
        65,
        "neither DL1: text nor a credential token",
    );
    assert_exit(
        &present(&write("bad45.txt", b"DL1:GGW"), &key),
        65,
        "out of range",
    );
    assert_exit(
        &present(&write("empty.txt", b""), &key),
        65,
        "neither DL1: text nor a credential token",
    );

    // Key files that are not: 65. The issuer's public key, a text, an encrypted key.
    let public_pem = write("public.pem", issuer().public().to_spki_pem().as_bytes());
    assert_exit(
        &present(&good, &public_pem),
        65,
        "not an Ed25519 private key",
    );
    assert_exit(&present(&good, &write("text.pem", b"hello")), 65, "private");
    // A key others can read is used, with a warning.
    let exposed = write("exposed.pem", &fs::read(&key).unwrap());
    fs::set_permissions(&exposed, fs::Permissions::from_mode(0o644)).unwrap();
    let output = present(&good, &exposed);
    assert_exit(&output, 0, "group or others can access (mode 0644)");
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("DL2:"));

    // Command lines: 64; help: 0.
    let usage = |args: &[&str]| assert_exit(&holder(args), 64, "");
    usage(&[]);
    usage(&["present"]);
    usage(&["present", "--credential", path_str(&good)]);
    usage(&["keygen"]);
    let with = |extra: &[&str]| {
        let mut args = vec![
            "present",
            "--credential",
            path_str(&good),
            "--key",
            path_str(&key),
            "--once",
        ];
        args.extend_from_slice(extra);
        holder(&args)
    };
    assert_exit(&with(&["--slot", "0"]), 64, "--slot");
    assert_exit(&with(&["--slot", "301"]), 64, "--slot");
    assert_exit(&with(&["--slot", "thirty"]), 64, "--slot");
    assert_exit(&with(&["--challenge", "zz"]), 64, "hex");
    assert_exit(
        &with(&["--challenge", &"ab".repeat(33)]),
        64,
        "1 to 32 bytes",
    );
    let help = holder(&["--help"]);
    assert_exit(&help, 0, "");
    assert!(String::from_utf8_lossy(&help.stdout).contains("keygen"));
}

/// A clock the test moves: `sleep_until` jumps straight to the time asked for.
struct ManualClock {
    now: UnixTime,
    sleeps: Vec<UnixTime>,
}

impl holder::Clock for ManualClock {
    fn now(&mut self) -> UnixTime {
        self.now
    }

    fn sleep_until(&mut self, until: UnixTime) {
        assert!(until > self.now, "sleeps forward");
        self.sleeps.push(until);
        self.now = until;
    }
}

/// Runs `edl-holder` in-process at `clock`; returns (exit code, stdout, stderr).
fn run_in_process(args: &[&str], clock: &mut ManualClock, terminal: bool) -> (u8, String, String) {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let code = holder::run(
        std::iter::once("edl-holder").chain(args.iter().copied()),
        &mut holder::Io {
            stdout: &mut stdout,
            stderr: &mut stderr,
            stdout_is_terminal: terminal,
        },
        clock,
    );
    (
        code,
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

/// The QR code of `text` as the holder draws it, to find in its output.
fn drawn(text: &str) -> String {
    use qrcode::render::unicode::Dense1x2;
    qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::Q)
        .unwrap()
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .build()
}

#[test]
fn present_draws_a_new_code_every_slot_until_the_credential_expires() {
    let dir = TempDir::new().unwrap();
    let device = SigningKey::from_seed(&[0x33; 32]);
    let key = dir.path().join("device.pem");
    fs::write(&key, device.to_pkcs8_pem().as_bytes()).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    // Starts 7 s into a 30 s slot; the credential expires 70 s later, in the third slot.
    let start = UnixTime(1_793_491_207);
    let claims = claims(start.minus(3_600), start.plus(70));
    let credential = credential_file(dir.path(), device.public(), &claims);
    let token = qr::decode(fs::read_to_string(&credential).unwrap().trim()).unwrap();

    for terminal in [false, true] {
        let mut clock = ManualClock {
            now: start,
            sleeps: Vec::new(),
        };
        let (code, stdout, stderr) = run_in_process(
            &[
                "present",
                "--credential",
                path_str(&credential),
                "--key",
                path_str(&key),
            ],
            &mut clock,
            terminal,
        );
        assert_eq!(code, 65, "{stderr}");
        assert!(stderr.contains("the credential expired at"), "{stderr}");
        // It woke at each slot's start, and stopped in the slot the credential ended in.
        let slots: Vec<u64> = vec![1_793_491_200, 1_793_491_230, 1_793_491_260];
        assert_eq!(
            clock.sleeps,
            vec![
                UnixTime(1_793_491_230),
                UnixTime(1_793_491_260),
                UnixTime(1_793_491_290)
            ]
        );
        // One frame per slot, each the QR code of that slot's presentation.
        let separator = if terminal { "\x1b[2J\x1b[H" } else { "\n" };
        let mut rest = stdout.as_str();
        for start in slots {
            let slot = Slot::new(UnixTime(start), 30).unwrap();
            let text = qr::encode_presentation(&presentation::present(&token, &device, slot, None));
            assert!(rest.starts_with(separator), "frame at {start}");
            let at = rest.find(&drawn(&text)).expect("the slot's code is drawn");
            rest = &rest[at..];
            let caption = format!("slot {} to {} (30 s)", slot.start(), slot.end());
            let caption_at = rest.find(&caption).expect("the caption names the slot");
            rest = &rest[caption_at..];
            rest = &rest[rest.find('\n').unwrap() + 1..];
            if terminal {
                assert!(rest.starts_with("a new code every slot; Ctrl-C to stop\n"));
                rest = &rest[rest.find('\n').unwrap() + 1..];
            }
        }
        assert_eq!(rest, "", "nothing after the third frame");
    }
}

#[test]
fn present_once_in_process_is_the_slots_presentation() {
    let dir = TempDir::new().unwrap();
    let device = SigningKey::from_seed(&[0x44; 32]);
    let key = dir.path().join("device.pem");
    fs::write(&key, device.to_pkcs8_pem().as_bytes()).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let now = UnixTime(1_793_491_219);
    let claims = claims(now.minus(3_600), now.plus(86_400));
    let credential = credential_file(dir.path(), device.public(), &claims);
    let mut clock = ManualClock {
        now,
        sleeps: Vec::new(),
    };
    let (code, stdout, stderr) = run_in_process(
        &[
            "present",
            "--credential",
            path_str(&credential),
            "--key",
            path_str(&key),
            "--once",
            "--challenge",
            "00ff",
        ],
        &mut clock,
        true,
    );
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert!(clock.sleeps.is_empty());
    let bytes = qr::decode_presentation(stdout.trim_end()).unwrap();
    let policy = PresentationPolicy {
        challenge: Some("00ff".parse().unwrap()),
        ..PresentationPolicy::at(now)
    };
    let verified = presentation::verify(&bytes, &keyring(), &policy).unwrap();
    assert_eq!(
        verified.slot,
        Slot::new(UnixTime(1_793_491_200), 30).unwrap()
    );
    assert_eq!(&verified.holder_key, device.public());
    assert_eq!(verified.credential.claims, claims);
}
