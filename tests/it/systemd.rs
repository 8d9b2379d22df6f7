//! The real `edld` binary speaks systemd's notify protocol: `READY=1` once it serves,
//! watchdog pings at half of `WATCHDOG_USEC`, and `STOPPING=1` when SIGTERM starts the drain,
//! after which it exits 0.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tests::edld_binary;

/// Receives datagrams until one contains `needle` or the deadline passes.
fn wait_for(socket: &UnixDatagram, needle: &str, deadline: Instant) -> Vec<String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        socket
            .set_read_timeout(Some(
                deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1)),
            ))
            .unwrap();
        let Ok(n) = socket.recv(&mut buf) else {
            break;
        };
        let message = String::from_utf8_lossy(&buf[..n]).into_owned();
        let found = message.lines().any(|l| l == needle);
        seen.push(message);
        if found {
            return seen;
        }
    }
    panic!("no {needle} from edld; got {seen:?}");
}

#[test]
fn edld_notifies_ready_watchdog_and_stopping() {
    let edld = edld_binary().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let mut child = Command::new(edld)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(dir.path().join("data"))
        .env("NOTIFY_SOCKET", &socket_path)
        // A 2 s watchdog: pings come every second.
        .env("WATCHDOG_USEC", "2000000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    wait_for(&socket, "READY=1", start + Duration::from_secs(60));
    wait_for(
        &socket,
        "WATCHDOG=1",
        Instant::now() + Duration::from_secs(10),
    );
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    wait_for(
        &socket,
        "STOPPING=1",
        Instant::now() + Duration::from_secs(30),
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "edld exited with {status}");
}
