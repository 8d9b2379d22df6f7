//! The real `edld` binary speaks systemd's notify protocol: `READY=1` once it serves,
//! watchdog pings at half of `WATCHDOG_USEC`, and `STOPPING=1` when SIGTERM starts the drain,
//! after which it exits 0.

use std::ffi::OsStr;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use tests::{RealDaemon, edld_binary};

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
    let data = dir.path().join("data");
    let env = [
        ("NOTIFY_SOCKET", socket_path.as_os_str()),
        // A 2 s watchdog: pings come every second.
        ("WATCHDOG_USEC", OsStr::new("2000000")),
    ];
    let mut running = RealDaemon::on_loopback(&edld, &data, &env).unwrap();
    let start = Instant::now();
    wait_for(&socket, "READY=1", start + Duration::from_secs(60));
    wait_for(
        &socket,
        "WATCHDOG=1",
        Instant::now() + Duration::from_secs(10),
    );
    running.signal("TERM").unwrap();
    wait_for(
        &socket,
        "STOPPING=1",
        Instant::now() + Duration::from_secs(30),
    );
    let status = running.child.wait().unwrap();
    assert!(status.success(), "edld exited with {status}");
}
