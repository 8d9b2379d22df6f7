//! The built binary's exit codes (DESIGN section 5), via CARGO_BIN_EXE_edl-verify.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use keys::status_list::CredentialStatus;

use crate::support::*;

/// Runs the real binary. Its clock is the real one, so these cases use credentials and
/// lists dated around the real time: far past and far future edges only.
pub(crate) fn edl_verify(terminal: &Terminal, args: &[&str], stdin: &str) -> (i32, String, String) {
    run_program(
        Path::new(env!("CARGO_BIN_EXE_edl-verify")),
        terminal,
        args,
        stdin,
    )
}

/// Runs `program` with `terminal`'s configuration and `stdin` written to it: its exit code,
/// standard output and standard error.
pub(crate) fn run_program(
    program: &Path,
    terminal: &Terminal,
    args: &[&str],
    stdin: &str,
) -> (i32, String, String) {
    let mut child = Command::new(program)
        .arg("--config")
        .arg(&terminal.config)
        .args(args)
        .env_remove("EDL_VERIFY_CONFIG")
        // The signature memo (src/memo.rs) in the test's directory, not the user's.
        .env("XDG_CACHE_HOME", terminal.dir.path().join("home"))
        .env("LANG", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A terminal whose cache holds a list signed "now" by the real clock, with entry 7 set.
pub(crate) fn terminal_at_real_time(
    entry: Option<CredentialStatus>,
) -> (Authority, Terminal, String) {
    terminal_with_list_age(entry, 0)
}

/// The same, with the list signed `list_age` seconds before the real time.
fn terminal_with_list_age(
    entry: Option<CredentialStatus>,
    list_age: u64,
) -> (Authority, Terminal, String) {
    #[allow(clippy::disallowed_methods)]
    let real_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let authority = Authority::new("https://edl.example");
    let terminal = Terminal::new(&authority, None, "");
    // Lists are signed relative to NOW; shift by signing at an age that lands on real time.
    let age = NOW.0.saturating_sub(real_now) + list_age;
    let entries: Vec<_> = entry.map(|s| (7, s)).into_iter().collect();
    terminal.seed_cache(
        &authority,
        1,
        &authority.status_list(&entries, age),
        NOW.minus(age),
    );
    let mut claims = authority.claims(7);
    claims.issued_at = keys::UnixTime(real_now - 10 * DAY);
    claims.not_before = claims.issued_at;
    claims.expires_at = keys::UnixTime(real_now + 20 * DAY);
    let qr = authority.qr(&claims);
    (authority, terminal, qr)
}

#[test]
fn exit_0_valid() {
    let (_, terminal, qr) = terminal_at_real_time(None);
    let (code, stdout, stderr) = edl_verify(&terminal, &["check", &qr], "");
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("== VALID =="), "{stdout}");
}

#[test]
fn exit_1_not_valid() {
    let (_, terminal, qr) = terminal_at_real_time(Some(CredentialStatus::Invalid));
    let (code, stdout, _) = edl_verify(&terminal, &["check", "-"], &qr);
    assert_eq!(code, 1, "{stdout}");
}

#[test]
fn exit_1_malformed() {
    let (_, terminal, _) = terminal_at_real_time(None);
    assert_eq!(edl_verify(&terminal, &["check", "DL1:"], "").0, 1);
}

#[test]
fn exit_2_indeterminate() {
    // A list signed 25 h ago: older than the default one-day maximum, not yet expired.
    let (_, terminal, qr) = terminal_with_list_age(None, 25 * HOUR);
    let (code, stdout, _) = edl_verify(&terminal, &["check", "--json", &qr], "");
    assert_eq!(code, 2, "{stdout}");
}

#[test]
fn exit_64_usage() {
    let (_, terminal, _) = terminal_at_real_time(None);
    assert_eq!(
        edl_verify(&terminal, &["check", "--no-such-flag"], "").0,
        64
    );
    assert_eq!(edl_verify(&terminal, &["frobnicate"], "").0, 64);
    assert_eq!(
        edl_verify(&terminal, &["check"], "").0,
        64,
        "no QR text at all"
    );
}

#[test]
fn exit_69_no_cache() {
    let authority = Authority::new("https://edl.example");
    let terminal = Terminal::new(&authority, None, "");
    assert_eq!(
        edl_verify(
            &terminal,
            &["check", &authority.qr(&authority.claims(1))],
            ""
        )
        .0,
        69
    );
}

#[test]
fn exit_74_io() {
    let (_, terminal, _) = terminal_at_real_time(None);
    assert_eq!(
        edl_verify(&terminal, &["check", "--image", "/nonexistent.png"], "").0,
        74
    );
}

#[test]
fn exit_78_bad_config() {
    let (_, terminal, _) = terminal_at_real_time(None);
    std::fs::write(&terminal.config, "roots = 5\n").unwrap();
    let (code, _, stderr) = edl_verify(&terminal, &["config", "check"], "");
    assert_eq!(code, 78, "{stderr}");
}

#[test]
fn config_check_ok() {
    let (_, terminal, _) = terminal_at_real_time(None);
    let (code, stdout, stderr) = edl_verify(&terminal, &["config", "check"], "");
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("root key:"), "{stdout}");
}

#[test]
fn help_exits_0() {
    let (_, terminal, _) = terminal_at_real_time(None);
    let (code, stdout, _) = edl_verify(&terminal, &["--help"], "");
    assert_eq!(code, 0);
    assert!(stdout.contains("Exit codes"), "{stdout}");
}

/// With no `ca` configured, the server is trusted through the system's CA store, read when
/// a request is made: here the store is the file `SSL_CERT_FILE` names (read alone), then
/// the directory `SSL_CERT_DIR` names (read through rustls-native-certs).
#[test]
fn without_ca_the_system_store_decides_whether_the_server_is_trusted() {
    let (authority, terminal, qr) = terminal_at_real_time(Some(CredentialStatus::Valid));
    let server = Server::start();
    let id = authority.credential_id(7);
    server.with(|s| {
        s.live.insert(id, "revoked");
    });
    let config = std::fs::read_to_string(&terminal.config).unwrap();
    assert!(!config.contains("ca ="), "{config}");
    std::fs::write(
        &terminal.config,
        format!("{config}server = \"{}\"\n", server.url),
    )
    .unwrap();
    let store = terminal.dir.path().join("system-store.pem");
    let store_dir = terminal.dir.path().join("system-store");
    std::fs::create_dir(&store_dir).unwrap();
    let check_with = |store_pem: &[u8], variable: &str| {
        std::fs::write(&store, store_pem).unwrap();
        std::fs::write(store_dir.join("server.pem"), store_pem).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_edl-verify"));
        command
            .arg("--config")
            .arg(&terminal.config)
            .args(["check", "--json", &qr])
            .env_remove("EDL_VERIFY_CONFIG")
            // The signature memo (src/memo.rs) in the test's directory, not the user's.
            .env("XDG_CACHE_HOME", terminal.dir.path().join("home"))
            .env_remove("SSL_CERT_DIR")
            .env_remove("SSL_CERT_FILE")
            .stdin(Stdio::null());
        match variable {
            "SSL_CERT_FILE" => command.env(variable, &store),
            _ => command.env(variable, &store_dir),
        };
        let output = command.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        serde_json::from_str::<serde_json::Value>(stdout.trim())
            .unwrap_or_else(|e| panic!("{e}: {stdout}"))
    };
    let other = Server::start();
    for variable in ["SSL_CERT_FILE", "SSL_CERT_DIR"] {
        // The server's CA in the store: its live answer counts.
        let json = check_with(server.ca_pem.as_bytes(), variable);
        assert_eq!(json["status"]["source"], "live", "{variable}: {json}");
        assert_eq!(json["status"]["value"], "revoked", "{variable}: {json}");
        // Another CA only: the handshake fails and the cached list answers.
        let json = check_with(other.ca_pem.as_bytes(), variable);
        assert_eq!(
            json["status"]["source"], "cached_list",
            "{variable}: {json}"
        );
        assert!(
            json["notes"]
                .to_string()
                .contains("live status unavailable"),
            "{variable}: {json}"
        );
    }
}

/// The binary enters at C's `main` and does itself what std's start-up would (see
/// src/main.rs): a reader that goes away is an error it reports, not a signal that kills
/// it, and closed standard streams do not swallow the files it opens.
#[test]
fn closed_streams_as_std_would_handle_them() {
    let (_, terminal, qr) = terminal_at_real_time(None);
    let texts = terminal.dir.path().join("texts.txt");
    std::fs::write(&texts, format!("{qr}\n").repeat(2000)).unwrap();
    let run = |script: &str, qr_or_file: &std::path::Path| {
        Command::new("bash")
            .arg("-c")
            .arg(script)
            .arg(env!("CARGO_BIN_EXE_edl-verify"))
            .arg(&terminal.config)
            .arg(qr_or_file)
            .env_remove("EDL_VERIFY_CONFIG")
            // The signature memo (src/memo.rs) in the test's directory, not the user's.
            .env("XDG_CACHE_HOME", terminal.dir.path().join("home"))
            .status()
            .unwrap()
            .code()
    };
    // `head -c 1` reads one byte and exits: the later answers meet a closed pipe. Killed
    // by SIGPIPE, the shell would report 141; the program ends with an exit code of its own.
    let code = run(
        r#""$0" --config "$1" batch "$2" 2>/dev/null | head -c 1 >/dev/null; exit "${PIPESTATUS[0]}""#,
        &texts,
    );
    assert!(code.is_some_and(|c| c < 128), "{code:?}");
    // Standard output and error closed: the check still reads its files and answers with
    // its code.
    let code = run(
        r#"exec "$0" --config "$1" check "$2" >&- 2>&-"#,
        std::path::Path::new(&qr),
    );
    assert_eq!(code, Some(0));
}
