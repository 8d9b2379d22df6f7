//! `edl-verify scan` as a hardware scanner drives it: the built binary on a real
//! pseudo-terminal, QR texts typed as lines; one verdict screen per line, the log written.
//! And the plain mode (standard output not a terminal): one line per verdict.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use keys::status_list::CredentialStatus;

use crate::cli::{edl_verify, terminal_at_real_time};

/// A bound on waiting for a screen, so a broken build fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(60);

/// A pseudo-terminal's controller side and the path of its terminal side.
fn pseudo_terminal() -> (std::fs::File, std::path::PathBuf) {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let controller = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&controller).unwrap();
    unlockpt(&controller).unwrap();
    let name = ptsname(&controller, Vec::new()).unwrap();
    (
        std::fs::File::from(controller),
        std::path::PathBuf::from(name.into_string().unwrap()),
    )
}

#[test]
fn three_scans_on_a_terminal_give_three_screens_and_three_log_lines() {
    let (authority, terminal, valid) = terminal_at_real_time(Some(CredentialStatus::Valid));
    let lines = [valid.clone(), "not a licence".to_owned(), valid];
    let log = terminal.dir.path().join("log/scans.jsonl");

    let (mut controller, name) = pseudo_terminal();
    let open = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&name)
            .unwrap()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_edl-verify"))
        .arg("--config")
        .arg(&terminal.config)
        .args(["scan", "--log"])
        .arg(&log)
        .env_remove("EDL_VERIFY_CONFIG")
        .env_remove("NO_COLOR")
        .env("LANG", "zh_CN.UTF-8")
        .env("TERM", "xterm-256color")
        .stdin(Stdio::from(open()))
        .stdout(Stdio::from(open()))
        .stderr(Stdio::from(open()))
        .spawn()
        .unwrap();
    // The terminal side now belongs to the child alone: when it exits, reads here end.
    let mut reader = controller.try_clone().unwrap();
    let (chunks, screen) = mpsc::channel::<Vec<u8>>();
    let reading = std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buffer) {
            if n == 0 || chunks.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let wait_for = |marker: &str, seen: &mut String| {
        while !seen.contains(marker) {
            let chunk = screen
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("no {marker:?} on the terminal:\n{seen}"));
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    wait_for("ready", &mut seen);
    for (n, line) in lines.iter().enumerate() {
        controller.write_all(line.as_bytes()).unwrap();
        controller.write_all(b"\r").unwrap();
        wait_for(&format!("scan {}", n + 1), &mut seen);
    }
    // Ctrl-D at the start of a line: end of input for the program.
    controller.write_all(&[4]).unwrap();
    let status = child.wait().unwrap();
    drop(controller);
    assert_eq!(status.code(), Some(0), "{seen}");
    let _ = reading.join();

    // Three screens, each cleared to its colour, the verdict first and huge.
    let screens: Vec<&str> = seen.split("\x1b[2J\x1b[H").skip(2).collect();
    assert_eq!(screens.len(), 3, "{seen}");
    for (screen, (background, word)) in screens.iter().zip([
        ("\x1b[42m", "VALID"),
        ("\x1b[41m", "NOT VALID"),
        ("\x1b[42m", "VALID"),
    ]) {
        let before = &seen[..seen.find(screen).unwrap()];
        assert!(before.ends_with(&format!("\x1b[0m{background}\x1b[2J\x1b[H")));
        assert!(screen.contains('\x07'), "a bell: {screen}");
        let headline = format!("== {word}");
        let first_text = screen.find("████").unwrap();
        assert!(
            first_text < screen.find(&headline).unwrap_or(usize::MAX),
            "the big verdict comes first: {screen}"
        );
    }
    assert!(screens[0].contains("张三"), "{}", screens[0]);
    assert!(
        screens[0].contains("姓名"),
        "Chinese labels: {}",
        screens[0]
    );
    assert!(!screens[1].contains("张三"), "{}", screens[1]);

    // The log: one line per scan, with no holder data.
    let log = std::fs::read_to_string(&log).unwrap();
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 3, "{log}");
    assert_eq!(
        records
            .iter()
            .map(|r| r["verdict"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["valid", "not_valid", "valid"]
    );
    assert_eq!(records[1]["reason"], "malformed");
    assert_eq!(records[0]["credential_id"], authority.credential_id(7));
    assert!(
        !log.contains("张三") && !log.contains("11010519491231002X"),
        "{log}"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(terminal.dir.path().join("log/scans.jsonl"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn without_a_terminal_scan_prints_one_line_per_verdict() {
    let (_, terminal, qr) = terminal_at_real_time(Some(CredentialStatus::Suspended));
    let log = terminal.dir.path().join("scans.jsonl");
    let input = format!("{qr}\n\n{qr}\r\nDL1:\n");
    let (code, stdout, stderr) =
        edl_verify(&terminal, &["scan", "--log", log.to_str().unwrap()], &input);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].starts_with("1 NOT VALID: the licence is suspended"),
        "{stdout}"
    );
    assert!(lines[1].starts_with("2 NOT VALID"), "{stdout}");
    assert!(
        lines[2].starts_with("3 NOT VALID: not an edl credential QR code"),
        "{stdout}"
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 3);
}

#[test]
fn json_scan_prints_schema_1() {
    let (_, terminal, qr) = terminal_at_real_time(None);
    let log = terminal.dir.path().join("scans.jsonl");
    let (code, stdout, _) = edl_verify(
        &terminal,
        &["scan", "--json", "--log", log.to_str().unwrap()],
        &format!("{qr}\n"),
    );
    assert_eq!(code, 0);
    let verdict: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        (verdict["schema"].as_u64(), verdict["verdict"].as_str()),
        (Some(1), Some("valid"))
    );
}
