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

/// A running `edld serve` on loopback ports the kernel picks, killed when dropped.
struct Running {
    child: std::process::Child,
    admin: String,
    /// The rest of its log, drained so that it never blocks on a full pipe.
    _log: std::thread::JoinHandle<()>,
}

impl Running {
    /// Starts edld on `data` and waits for its "edld ready" log line.
    fn start(data: &std::path::Path) -> Running {
        use std::io::BufRead;
        let mut child = edld()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .arg("--data")
            .arg(data)
            .env("RUST_LOG", "info")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let admin = loop {
            let line = lines
                .next()
                .expect("edld exited before it was ready")
                .unwrap();
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if event["message"] == "edld ready" {
                break event["admin"].as_str().unwrap().to_owned();
            }
        };
        let log = std::thread::spawn(move || lines.for_each(drop));
        Running {
            child,
            admin,
            _log: log,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An address on which nothing listens: a port the kernel handed out and took back.
fn nothing_listens() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn throttle_show_without_a_daemon_shows_the_configured_defaults_readably() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("edld.toml");
    let data = dir.path().join("data");
    std::fs::write(
        &config,
        format!(
            "{GOOD}\n[throttle.drain]\nrate = 250\n",
            GOOD = GOOD.replace("data_dir = \"d\"", &format!("data_dir = {data:?}"))
        ),
    )
    .unwrap();
    let out = edld()
        .args([
            "throttle",
            "show",
            "--admin-listen",
            &nothing_listens(),
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stderr.contains("the configured defaults"), "{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("drain.rate") && l.contains("= 250 ")),
        "{stdout}"
    );
    // The default per-licence rate, twice a minute, as a person reads it.
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("licence.rate") && l.contains("= 0.03333 (1 per 30 s)")),
        "{stdout}"
    );
    assert!(!stdout.contains("0.0333333"), "{stdout}");
    assert!(
        stdout.contains("queue: unknown (edld is not running)"),
        "{stdout}"
    );
    // Reading the defaults creates nothing.
    assert!(!data.exists());
}

#[test]
fn throttle_show_after_edld_stopped_reads_the_settings_it_stored() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let running = Running::start(&data);
    let throttle = |args: &[&str], admin: &str| {
        edld()
            .arg("throttle")
            .args(args)
            .args(["--admin-listen", admin, "--data"])
            .arg(&data)
            .output()
            .unwrap()
    };
    let out = throttle(
        &["set", "licence.rate=0.5", "opening_at=2999-01-01T00:00:00Z"],
        &running.admin,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("licence.rate: 0.03333 (1 per 30 s) → 0.5 (1 per 2 s)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("opening_at: none → 32472144000 (2999-01-01T00:00:00Z)"),
        "{stdout}"
    );
    // What an opening time ahead does, said plainly.
    assert!(
        stdout.contains("nothing is issued before 2999-01-01T00:00:00Z"),
        "{stdout}"
    );
    drop(running);

    let out = throttle(&["show"], &nothing_listens());
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "showing the settings stored in {}",
            data.display()
        )),
        "{stderr}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("licence.rate") && l.contains("= 0.5 (1 per 2 s)")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(
            |l| l.starts_with("opening_at") && l.contains("32472144000 (2999-01-01T00:00:00Z)")
        ),
        "{stdout}"
    );
}

#[test]
fn registry_import_while_edld_runs_says_what_to_do_and_exits_75() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let csv = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/licences.example.csv");
    let import = || {
        edld()
            .args(["registry", "import", csv, "--data"])
            .arg(&data)
            .output()
            .unwrap()
    };
    let running = Running::start(&data);
    let out = import();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "edld is running on {}: stop it, or use the registry API (PUT /v1/licences/{{number}})",
            data.display()
        )
    );
    assert!(!stderr.contains("sled"), "{stderr}");
    drop(running);
    // Stopped, the same import runs: five good lines, the bad one reported (65).
    let out = import();
    assert_eq!(out.status.code(), Some(65), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("imported 5 licence records"),
        "{}",
        text(&out.stdout)
    );
}

/// Runs `edld demo` with its temporary directory under `tmp`; its output.
fn demo(tmp: &std::path::Path, args: &[&str]) -> String {
    let out = edld()
        .arg("demo")
        .args(args)
        .env("TMPDIR", tmp)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    stdout
}

/// The state directory the demo names on its first line.
fn demo_state(stdout: &str) -> std::path::PathBuf {
    let first = stdout.lines().next().unwrap();
    let dir = first
        .split("(state in ")
        .nth(1)
        .unwrap()
        .trim_end_matches(')');
    std::path::PathBuf::from(dir)
}

#[test]
fn the_demo_removes_its_state_directory_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let stdout = demo(tmp.path(), &[]);
    assert!(stdout.contains("verdict: NOT VALID (revoked)"), "{stdout}");
    let state = demo_state(&stdout);
    assert!(state.starts_with(tmp.path()), "{}", state.display());
    assert!(
        stdout.contains(&format!(
            "Removed the demo's state directory {} (edld demo --keep keeps it).",
            state.display()
        )),
        "{stdout}"
    );
    assert!(!state.exists());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn the_demo_keeps_its_state_directory_with_keep() {
    let tmp = tempfile::tempdir().unwrap();
    let stdout = demo(tmp.path(), &["--keep"]);
    let state = demo_state(&stdout);
    assert!(
        stdout.contains(&format!("The demo's state is kept in {}.", state.display())),
        "{stdout}"
    );
    assert!(state.join("dev-clients.txt").exists());
}
