//! Bad input never hurts: slow clients are cut off at the header, body and handshake
//! timeouts, and one that stops reading its answers at the write timeout; oversized bodies get 413 and oversized heads 431, as problem+json; malformed
//! requests get problem+json too. Raw sockets, so the client can misbehave.

use std::time::{Duration, Instant};

use tests::{Options, TestDaemon, Timeouts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER: Duration = Duration::from_millis(600);
const BODY: Duration = Duration::from_millis(600);
const HANDSHAKE: Duration = Duration::from_millis(600);
const WRITE: Duration = Duration::from_millis(600);
/// How late a cut-off may come on a busy machine.
const SLACK: Duration = Duration::from_secs(10);
/// The daemon's timers start when it accepts the connection, a little before the test's
/// stopwatch does: a close this much before the timeout still counts as at the timeout.
const EARLY: Duration = Duration::from_millis(50);

async fn start(tls: bool) -> TestDaemon {
    start_with(
        tls,
        Timeouts {
            header: HEADER,
            body: BODY,
            handshake: HANDSHAKE,
            write: WRITE,
        },
    )
    .await
}

async fn start_with(tls: bool, timeouts: Timeouts) -> TestDaemon {
    let options = Options {
        tls,
        timeouts: Some(timeouts),
        ..Options::default()
    };
    TestDaemon::start_with(options, tempfile::tempdir().unwrap(), None)
        .await
        .unwrap()
}

/// What a misbehaving client saw: everything the server sent, and when it closed.
struct Seen {
    bytes: Vec<u8>,
    closed_after: Duration,
}

impl Seen {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    fn status(&self) -> Option<u16> {
        self.text()
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
    }

    fn has_header(&self, line: &str) -> bool {
        self.text()
            .lines()
            .any(|l| l.eq_ignore_ascii_case(line.trim_end()))
    }
}

/// Writes `head` and then `dribble` one byte every `every`, while reading whatever the
/// server sends, until it closes the connection (or `SLACK` runs out).
async fn misbehave(stream: TcpStream, head: &[u8], dribble: &[u8], every: Duration) -> Seen {
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(head).await.unwrap();
    let dribble = dribble.to_vec();
    let writing = tokio::spawn(async move {
        for byte in dribble.into_iter().cycle() {
            tokio::time::sleep(every).await;
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
        }
        // Keep the write side open: closing it would end the request from our side.
        std::future::pending::<()>().await;
        drop(writer);
    });
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    let closed_after = loop {
        match tokio::time::timeout_at((started + SLACK).into(), reader.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break started.elapsed(),
            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "still open after {SLACK:?}; received {:?}",
                String::from_utf8_lossy(&bytes)
            ),
        }
    };
    writing.abort();
    Seen {
        bytes,
        closed_after,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_loris_is_cut_off_at_the_header_timeout() {
    let d = start(false).await;
    let stream = TcpStream::connect(d.addr).await.unwrap();
    let seen = misbehave(
        stream,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
        b"X-Slow: aaaa",
        Duration::from_millis(100),
    )
    .await;
    assert!(
        seen.closed_after + EARLY >= HEADER,
        "{:?}",
        seen.closed_after
    );
    assert!(seen.status().is_none_or(|s| s == 408), "{}", seen.text());

    // An idle connection that never sends a byte goes the same way.
    let stream = TcpStream::connect(d.addr).await.unwrap();
    let seen = misbehave(stream, b"", b"", Duration::from_secs(3600)).await;
    assert!(
        seen.closed_after + EARLY >= HEADER,
        "{:?}",
        seen.closed_after
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_is_cut_off_at_the_body_timeout() {
    let d = start(false).await;
    let stream = TcpStream::connect(d.addr).await.unwrap();
    let head = format!(
        "POST /v1/applications HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{",
        d.key("gateway")
    );
    let seen = misbehave(stream, head.as_bytes(), b" ", Duration::from_millis(100)).await;
    assert_eq!(seen.status(), Some(408), "{}", seen.text());
    assert!(seen.closed_after + EARLY >= BODY, "{:?}", seen.closed_after);
    assert!(seen.has_header("content-type: application/problem+json"));
    assert!(seen.has_header("connection: close"), "{}", seen.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_handshake_is_cut_off_at_the_handshake_timeout() {
    let d = start(true).await;
    let stream = TcpStream::connect(d.addr).await.unwrap();
    // The first bytes of a TLS record, then nothing more.
    let seen = misbehave(stream, &[0x16, 0x03, 0x01], b"", Duration::from_secs(3600)).await;
    assert!(
        seen.closed_after + EARLY >= HANDSHAKE,
        "{:?}",
        seen.closed_after
    );
    assert!(seen.bytes.is_empty());
}

/// Sends `head` and `body_len` bytes of body while reading the answer; returns it.
async fn send_large(d: &TestDaemon, head: impl Into<Vec<u8>>, body_len: usize) -> Seen {
    let head: Vec<u8> = head.into();
    let stream = TcpStream::connect(d.addr).await.unwrap();
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        writer.write_all(&head).await?;
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0;
        while sent < body_len {
            let n = chunk.len().min(body_len - sent);
            writer.write_all(&chunk[..n]).await?;
            sent += n;
        }
        // Keep the write side open while the answer comes.
        std::future::pending::<()>().await;
        drop(writer);
        std::io::Result::Ok(())
    });
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + SLACK).into(), reader.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                bytes.extend_from_slice(&buf[..n]);
                // The whole problem body has arrived.
                if bytes.ends_with(b"}") {
                    break;
                }
            }
            Err(_) => panic!("no answer in {SLACK:?}"),
        }
    }
    writing.abort();
    Seen {
        bytes,
        closed_after: started.elapsed(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mb_body_gets_413() {
    let d = start(false).await;
    let ten_mb = 10 * 1024 * 1024;
    let auth = format!("Authorization: Bearer {}", d.key("gateway"));
    // Announced by Content-Length: refused before a byte of it is read.
    let seen = send_large(
        &d,
        format!(
            "POST /v1/applications HTTP/1.1\r\nHost: x\r\n{auth}\r\n\
             Content-Type: application/json\r\nContent-Length: {ten_mb}\r\n\r\n"
        ),
        ten_mb,
    )
    .await;
    assert_eq!(seen.status(), Some(413), "{}", seen.text());
    assert!(seen.has_header("content-type: application/problem+json"));
    assert!(seen.text().contains("\"status\":413"), "{}", seen.text());
    // Chunked, with no length announced: refused once the limit is passed.
    let mut chunked = Vec::new();
    for _ in 0..160 {
        chunked.extend_from_slice(b"10000\r\n");
        chunked.extend_from_slice(&[b' '; 0x10000]);
        chunked.extend_from_slice(b"\r\n");
    }
    let stream = TcpStream::connect(d.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST /v1/applications HTTP/1.1\r\nHost: x\r\n{auth}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let writing = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        writer.write_all(&chunked).await?;
        std::future::pending::<()>().await;
        drop(writer);
        std::io::Result::Ok(())
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.ends_with(b"}") {
        match tokio::time::timeout(SLACK, reader.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => panic!("no answer in {SLACK:?}"),
        }
    }
    writing.abort();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_get_431() {
    let d = start(false).await;
    // Over our limit (16 KiB): a problem+json 431.
    let big = "a".repeat(20 * 1024);
    let seen = send_large(
        &d,
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n"),
        0,
    )
    .await;
    assert_eq!(seen.status(), Some(431), "{}", seen.text());
    assert!(seen.has_header("content-type: application/problem+json"));
    // A long path counts too.
    let seen = send_large(
        &d,
        format!("GET /v1/status-lists/{big} HTTP/1.1\r\nHost: x\r\n\r\n"),
        0,
    )
    .await;
    assert_eq!(seen.status(), Some(431), "{}", seen.text());
    // Beyond 64 KiB hyper refuses on its own (no body), and closes.
    let huge = "a".repeat(70 * 1024);
    let seen = send_large(
        &d,
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {huge}\r\n\r\n"),
        0,
    )
    .await;
    assert_eq!(seen.status(), Some(431), "{}", seen.text());
}

/// Malformed requests that reach the router get problem+json, never a panic or a 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_problems() {
    let d = start(false).await;
    let gateway = format!("Authorization: Bearer {}", d.key("gateway"));
    let registry = format!("Authorization: Bearer {}", d.key("registry"));
    let operator = format!("Authorization: Bearer {}", d.key("operator"));
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (
            format!("POST /v1/applications HTTP/1.1\r\nHost: x\r\n{gateway}\r\nContent-Length: 5\r\n\r\n{{\"a\":").into(),
            400,
        ),
        (
            [
                format!("POST /v1/applications HTTP/1.1\r\nHost: x\r\n{gateway}\r\nContent-Length: 4\r\n\r\n").as_bytes(),
                b"\xff\xfe\x00\x01",
            ]
            .concat(),
            400,
        ),
        (
            format!("PUT /v1/licences/%FF%FE HTTP/1.1\r\nHost: x\r\n{registry}\r\nContent-Length: 2\r\n\r\n{{}}").into(),
            400,
        ),
        (
            format!("GET /v1/licences/123 HTTP/1.1\r\nHost: x\r\n{registry}\r\n\r\n").into(),
            400,
        ),
        (
            format!("GET /v1/reviews?limit=-1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n", d.key("reviewer")).into(),
            400,
        ),
        (b"GET /v1/status-lists/99999999999 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 404),
        (b"DELETE /v1/trust-list HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 405),
        (b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 404),
        (
            b"GET /v1/reviews HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\r\n\r\n".to_vec(),
            401,
        ),
    ];
    for (request, status) in cases {
        let shown = String::from_utf8_lossy(&request).into_owned();
        let seen = send_large(&d, request, 0).await;
        assert_eq!(seen.status(), Some(status), "{shown:?}: {}", seen.text());
        assert!(
            seen.has_header("content-type: application/problem+json"),
            "{shown:?}: {}",
            seen.text()
        );
    }
    // The admin listener answers the same way.
    let mut admin = d.admin_client().await.unwrap();
    let reply = admin
        .send(
            hyper::Method::PATCH,
            "/admin/v1/throttle",
            Some(operator.trim_start_matches("Authorization: Bearer ")),
            Some(("application/json", b"[1,2]".to_vec())),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_off_at_the_write_timeout() {
    // A long header timeout, so only the write timeout can close the connection.
    let d = start_with(
        false,
        Timeouts {
            header: SLACK * 3,
            body: BODY,
            handshake: HANDSHAKE,
            write: WRITE,
        },
    )
    .await;
    // Far more answers than the socket buffers hold, asked for at once, never read (a
    // small receive buffer makes the server's writes block sooner).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(d.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let asked = 400;
    let request = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n";
    writer.write_all(&request.repeat(asked)).await.unwrap();
    tokio::time::sleep(WRITE + Duration::from_secs(2)).await;

    // Reading now finds the connection closed before every answer came.
    let started = Instant::now();
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match tokio::time::timeout_at((started + SLACK).into(), reader.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "still open {SLACK:?} after the client started reading; {} bytes received",
                bytes.len()
            ),
        }
    }
    let answers = bytes
        .windows(b"HTTP/1.1 200".len())
        .filter(|w| *w == b"HTTP/1.1 200")
        .count();
    assert!(answers < asked, "all {asked} answers arrived");
}
