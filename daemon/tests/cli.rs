//! Exit codes of the `edld` command line.

// Test helpers outside `#[test]` functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn edld() -> Command {
    Command::new(env!("CARGO_BIN_EXE_edld"))
}

#[track_caller]
fn check_config(toml: &str, expected: i32, message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edld.toml");
    std::fs::write(&path, toml).unwrap();
    let out = edld()
        .arg("check-config")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(expected), "{text}");
    assert!(text.contains(message), "{text:?} lacks {message:?}");
}

const GOOD: &str = "listen = \"127.0.0.1:8080\"\nadmin_listen = \"127.0.0.1:8081\"\ndata_dir = \"d\"\nissuer = \"X\"\ndev_keys = true\n";

#[test]
fn good_config() {
    check_config(GOOD, 0, "ok")
}
#[test]
fn unknown_key_is_78() {
    check_config(&format!("{GOOD}speed = 1\n"), 78, "unknown field `speed`")
}
#[test]
fn public_address_without_tls_is_78() {
    check_config(
        &GOOD.replace("127.0.0.1:8080", "0.0.0.0:8080"),
        78,
        "not a loopback address",
    )
}
#[test]
fn missing_file_is_78() {
    let out = edld()
        .args(["check-config", "--config", "/nonexistent/edld.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
}

#[test]
fn serve_refuses_world_readable_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("data/keys");
    std::fs::create_dir_all(&keys).unwrap();
    let pem = keys::SigningKey::from_seed(&[1; 32]).to_pkcs8_pem();
    std::fs::write(keys.join("root.pem"), pem.as_bytes()).unwrap();
    std::fs::set_permissions(
        keys.join("root.pem"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = edld()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    // A configuration error (EX_CONFIG), which systemd is told not to restart.
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("readable by group or others"));
}

#[test]
fn throttle_simulate_writes_a_csv_and_a_chart() {
    let dir = tempfile::tempdir().unwrap();
    let curve = dir.path().join("curve.csv");
    let (csv, svg) = (dir.path().join("out.csv"), dir.path().join("out.svg"));
    std::fs::write(&curve, "seconds,per_second\n0,50\n300,500\n900,50\n").unwrap();
    let out = edld()
        .args(["throttle", "simulate", "--arrivals"])
        .arg(&curve)
        .args(["--set", "drain.rate=100", "--set", "queue.max_wait=60"])
        .arg("--out-csv")
        .arg(&csv)
        .arg("--out-svg")
        .arg(&svg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("refused 503"), "{stdout}");
    // 15 minutes, one line each, and a header.
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 16);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    let bad = edld()
        .args(["throttle", "simulate", "--arrivals"])
        .arg(&curve)
        .args(["--set", "drain.rate=0"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(70));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("drain.rate"));
}
