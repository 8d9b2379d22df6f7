//! `edl-verify init` end to end against the HTTPS fixture: the question on a terminal, the
//! files it writes (the API key with mode 0600), the first sync, then an offline check that
//! says VALID and a live one that authenticates with the stored key.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::*;

const API_KEY: &str = "officer-3f1c0a9b2e4d6f70";

struct Enrolment {
    authority: Authority,
    server: Server,
    dir: tempfile::TempDir,
}

impl Enrolment {
    fn new() -> Enrolment {
        let server = Server::start();
        let authority = Authority::new(&server.url);
        publish(&server, &authority, 1, authority.status_list(&[], HOUR));
        server.with(|s| {
            s.api_key = Some(API_KEY.into());
            s.live.insert(authority.credential_id(7), "valid");
        });
        let dir = tempfile::tempdir().unwrap();
        // What an officer brings: the root's public key, the API key, the server's CA.
        std::fs::write(
            dir.path().join("root.pub.pem"),
            authority.root.public().to_spki_pem(),
        )
        .unwrap();
        std::fs::write(dir.path().join("officer.key"), format!("{API_KEY}\n")).unwrap();
        std::fs::write(dir.path().join("ca.pem"), &server.ca_pem).unwrap();
        Enrolment {
            authority,
            server,
            dir,
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("terminal/verify.toml")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `edl-verify --config <terminal>/verify.toml ARGS` with `stdin`, on a terminal
    /// or not.
    fn run(&self, args: &[&str], stdin: &str, terminal: bool) -> Run {
        let config = self.config();
        let mut argv = vec!["edl-verify", "--config", config.to_str().unwrap()];
        argv.extend_from_slice(args);
        let mut input = stdin.as_bytes();
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let env = |_: &str| None;
        let clock = || NOW;
        let code = verifier::run_with(
            argv,
            &mut verifier::Io {
                stdin: &mut input,
                stdout: &mut stdout,
                stderr: &mut stderr,
                env: &env,
                stdout_is_terminal: false,
            },
            &verifier::World {
                stdin_is_terminal: terminal,
                clock: &clock,
                network: verifier::Network::Linked(verifier::http::Client::new),
            },
        );
        Run {
            code,
            stdout: String::from_utf8(stdout).unwrap(),
            stderr: String::from_utf8(stderr).unwrap(),
        }
    }

    fn init(&self, extra: &[&str], stdin: &str, terminal: bool) -> Run {
        let (root, key, ca) = (
            self.file("root.pub.pem"),
            self.file("officer.key"),
            self.file("ca.pem"),
        );
        let mut args = vec![
            "init",
            "--server",
            &self.server.url,
            "--root",
            root.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
            "--ca",
            ca.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.run(&args, stdin, terminal)
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_on_a_terminal_asks_then_syncs_and_an_offline_check_is_valid() {
    let e = Enrolment::new();
    let run = e.init(&[], "y\n", true);
    assert_eq!(run.code, 0, "{run:?}");
    let kid = e.authority.root.public().key_id().to_string();
    assert!(run.stdout.contains(&format!("root key {kid}")), "{run:?}");
    assert!(run.stdout.contains("Pin this root key? [y/N]"), "{run:?}");
    assert!(
        run.stdout.contains("trust list sequence 1 (fetched)"),
        "{run:?}"
    );
    assert!(run.stdout.contains("status list"), "{run:?}");
    assert!(
        run.stdout.contains(&format!(
            "edl-verify --config {} check",
            e.config().display()
        )),
        "the next command to try: {run:?}"
    );

    let folder = e.config().parent().unwrap().to_path_buf();
    assert_eq!(mode(&folder.join("verify-api-key")), 0o600);
    assert_eq!(
        std::fs::read_to_string(folder.join("verify-api-key")).unwrap(),
        format!("{API_KEY}\n")
    );
    assert_eq!(
        std::fs::read_to_string(folder.join("root.pub.pem")).unwrap(),
        e.authority.root.public().to_spki_pem()
    );
    let text = std::fs::read_to_string(e.config()).unwrap();
    assert!(text.contains("api_key_file = \"verify-api-key\""), "{text}");
    assert!(folder.join("cache/current").exists());

    let qr = e.authority.qr(&e.authority.claims(7));
    let offline = e.run(&["check", "--offline", "--json", &qr], "", false);
    assert_eq!(
        (offline.code, offline.json()["status"]["source"].as_str()),
        (0, Some("cached_list")),
        "{offline:?}"
    );
    // The live query carries the stored API key (the fixture answers 401 without it).
    let live = e.run(&["check", "--json", &qr], "", false);
    assert_eq!(
        (live.code, live.json()["status"]["source"].as_str()),
        (0, Some("live")),
        "{live:?}"
    );
}

#[test]
fn init_without_a_terminal_asks_nothing() {
    let e = Enrolment::new();
    let run = e.init(&[], "", false);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains("[y/N]"), "{run:?}");
}

#[test]
fn yes_skips_the_question() {
    let e = Enrolment::new();
    let run = e.init(&["--yes"], "", true);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains("[y/N]"), "{run:?}");
}

#[test]
fn declining_writes_nothing() {
    let e = Enrolment::new();
    let run = e.init(&[], "n\n", true);
    assert_eq!(run.code, 64, "{run:?}");
    assert!(run.stderr.contains("not confirmed"), "{run:?}");
    assert!(!e.config().parent().unwrap().exists());
}

#[test]
fn an_existing_configuration_is_kept_unless_forced() {
    let e = Enrolment::new();
    assert_eq!(e.init(&[], "", false).code, 0);
    let again = e.init(&[], "", false);
    assert_eq!(again.code, 64, "{again:?}");
    assert!(again.stderr.contains("--force"), "{again:?}");
    assert_eq!(e.init(&["--force"], "", false).code, 0);
}

#[test]
fn a_private_key_as_root_is_refused_with_a_hint() {
    let e = Enrolment::new();
    std::fs::write(
        e.file("root.pub.pem"),
        e.authority.root.to_pkcs8_pem().as_bytes(),
    )
    .unwrap();
    let run = e.init(&[], "", false);
    assert_eq!(run.code, 64, "{run:?}");
    assert!(run.stderr.contains("private key"), "{run:?}");
}

#[test]
fn a_root_the_server_did_not_sign_with_fails_the_first_sync() {
    let e = Enrolment::new();
    let other = keys::SigningKey::from_seed(&[42; 32]);
    std::fs::write(e.file("root.pub.pem"), other.public().to_spki_pem()).unwrap();
    let run = e.init(&[], "", false);
    assert_eq!(run.code, 69, "{run:?}");
    assert!(run.stderr.contains("trust list refused"), "{run:?}");
    // The configuration stays, with the command that finishes the job.
    assert!(e.config().exists());
    assert!(run.stdout.contains("sync"), "{run:?}");
}

#[test]
fn plain_http_to_another_host_is_refused() {
    let e = Enrolment::new();
    let root = e.file("root.pub.pem");
    let run = e.run(
        &[
            "init",
            "--server",
            "http://edl.example.gov",
            "--root",
            root.to_str().unwrap(),
        ],
        "",
        false,
    );
    assert_eq!(run.code, 64, "{run:?}");
}
