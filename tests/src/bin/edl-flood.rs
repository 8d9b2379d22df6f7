//! `edl-flood`: an open-loop issuance flood against a running `edld`, for
//! `tests/bench/status-vs-nginx --flood`.
//!
//! It sends `POST /v1/applications` as the gateway at a fixed rate for a fixed time, on a
//! schedule that does not wait for answers (request `i` leaves at `i / rate` seconds after
//! the start, whatever the server does), over kept-alive TLS 1.3 connections: an idle
//! connection is reused, a new one is opened when all are busy, and a request that finds
//! none idle with `--max-connections` already open is counted as not sent rather than
//! delayed. Licence numbers come round-robin from a file, one per line. At the end it
//! prints one JSON object: offered and achieved rates, how late requests left against
//! their schedule, the fewest and most requests sent in a whole second, the time from each
//! request's scheduled departure to its whole answer, the answers by status code and the
//! connections it needed.
//!
//! A closed-loop generator (send the next when the last is answered) would slow down
//! exactly when the server does, hiding what a real flood does to it. It is a Rust binary
//! rather than part of the Python script so that one interpreter lock is not shared by the
//! schedule and thousands of TLS exchanges a second.

#![allow(
    clippy::disallowed_methods,
    reason = "an open-loop flood is scheduled on real time"
)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use tokio::net::TcpStream;

#[derive(Parser)]
#[command(about = "Open-loop POST /v1/applications flood against edld over TLS")]
struct Args {
    /// The public listener, e.g. 127.0.0.1:8443.
    #[arg(long)]
    address: SocketAddr,
    /// PEM certificate(s) to trust for the server's TLS certificate.
    #[arg(long)]
    ca: PathBuf,
    /// The server name to check the certificate against.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// The gateway's API key.
    #[arg(long)]
    key: String,
    /// Licence numbers, one per line, used round-robin.
    #[arg(long)]
    licences: PathBuf,
    /// Requests per second.
    #[arg(long, default_value_t = 5_000.0)]
    rate: f64,
    /// How long to flood, in seconds.
    #[arg(long)]
    seconds: f64,
    /// Most connections open at once.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
}

/// What the flood saw, shared by its request tasks.
#[derive(Default)]
struct Tally {
    /// Answers by HTTP status code.
    codes: Mutex<BTreeMap<u16, u64>>,
    /// Requests that failed without an answer (connection refused, reset, TLS error).
    failed: AtomicU64,
    /// Connections opened.
    opened: AtomicU64,
    /// Connections open now.
    open: AtomicU64,
    /// The most connections open at once.
    most_open: AtomicU64,
    /// Microseconds from each request's scheduled time to its whole answer.
    latencies: Mutex<Vec<u64>>,
}

/// Idle kept-alive connections, ready for their next request.
type Pool = Arc<Mutex<Vec<SendRequest<Full<Bytes>>>>>;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.rate > 0.0 && args.seconds > 0.0,
        "--rate and --seconds must be above 0"
    );
    let licences: Vec<String> = std::fs::read_to_string(&args.licences)
        .with_context(|| format!("reading {}", args.licences.display()))?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    anyhow::ensure!(!licences.is_empty(), "no licence numbers in the file");
    // Bodies made before the clock starts, so the schedule only sends.
    let bodies: Vec<Bytes> = licences
        .iter()
        .map(|n| {
            Bytes::from(
                json!({"licence_number": n, "photo_source": "on_file"})
                    .to_string()
                    .into_bytes(),
            )
        })
        .collect();
    let tls = tls_config(&args.ca)?;
    let server_name = ServerName::try_from(args.server_name.clone())?;
    // Two workers: the schedule keeps its pace on one while the other reads answers.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = runtime.block_on(flood(&args, bodies, tls, server_name))?;
    println!("{report}");
    Ok(())
}

fn tls_config(ca: &PathBuf) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).with_context(|| format!("{}", ca.display()))? {
        roots.add(cert.context("CA certificate PEM")?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

async fn flood(
    args: &Args,
    bodies: Vec<Bytes>,
    tls: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
) -> anyhow::Result<serde_json::Value> {
    let connector = tokio_rustls::TlsConnector::from(tls);
    let pool: Pool = Arc::default();
    let tally = Arc::new(Tally::default());
    let authorization = format!("Bearer {}", args.key);
    let total = (args.rate * args.seconds).round() as u64;
    let mut tasks = tokio::task::JoinSet::new();
    let mut lateness = Vec::with_capacity(total as usize);
    let mut per_second = vec![0u64; args.seconds.ceil() as usize];
    let mut not_sent = 0u64;
    let started = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        let due = started + Duration::from_secs_f64(sent as f64 / args.rate);
        let now = Instant::now();
        if due > now {
            // tokio's timer has a 1 ms resolution: every request due by the time it wakes
            // leaves at once, so lateness stays within about a millisecond.
            tokio::time::sleep_until(due.into()).await;
            continue;
        }
        // Reap finished request tasks as we go, so the set does not grow with the run.
        while tasks.try_join_next().is_some() {}
        lateness.push(now.duration_since(due));
        let body = bodies[(sent % bodies.len() as u64) as usize].clone();
        let idle = pool.lock().map(|mut p| p.pop()).unwrap_or(None);
        let sender = match idle {
            Some(sender) => Some(sender),
            // A new connection takes its place in the count before it is opened, so
            // requests due together cannot open more than the maximum between them.
            None if (tally.open.fetch_add(1, Ordering::Relaxed) as usize)
                < args.max_connections =>
            {
                None
            }
            None => {
                tally.open.fetch_sub(1, Ordering::Relaxed);
                not_sent += 1;
                sent += 1;
                continue;
            }
        };
        if let Some(second) = per_second.get_mut(now.duration_since(started).as_secs() as usize) {
            *second += 1;
        }
        let request = Request::builder()
            .method(Method::POST)
            .uri("/v1/applications")
            .header("host", args.server_name.as_str())
            .header("authorization", authorization.as_str())
            .header("content-type", "application/json")
            .body(Full::new(body))?;
        let (pool, tally, connector, server_name, address) = (
            pool.clone(),
            tally.clone(),
            connector.clone(),
            server_name.clone(),
            args.address,
        );
        tasks.spawn(async move {
            let sender = match sender {
                Some(sender) => Ok(sender),
                None => connect(address, &connector, server_name, &tally).await,
            };
            if sender.is_err() {
                tally.open.fetch_sub(1, Ordering::Relaxed);
            }
            let outcome = match sender {
                Ok(mut sender) => exchange(&mut sender, request)
                    .await
                    .map(|code| (code, sender)),
                Err(e) => Err(e),
            };
            match outcome {
                Ok((code, sender)) => {
                    if let Ok(mut codes) = tally.codes.lock() {
                        *codes.entry(code).or_default() += 1;
                    }
                    if let Ok(mut latencies) = tally.latencies.lock() {
                        latencies.push(due.elapsed().as_micros() as u64);
                    }
                    // A connection the server closed (or will close) is dropped, not reused.
                    if !sender.is_closed()
                        && let Ok(mut idle) = pool.lock()
                    {
                        idle.push(sender);
                    }
                }
                Err(_) => {
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        sent += 1;
    }
    let schedule_secs = started.elapsed().as_secs_f64();
    // Answers still in flight count too; a server that stopped answering fails the wait.
    let drained = tokio::time::timeout(Duration::from_secs(30), async {
        while tasks.join_next().await.is_some() {}
    })
    .await
    .is_ok();
    let finished_secs = started.elapsed().as_secs_f64();
    lateness.sort();
    let late = |p: f64| percentile(&lateness, p).map_or(0.0, |d| d.as_secs_f64() * 1e3);
    let mut latencies = tally
        .latencies
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    latencies.sort_unstable();
    let answer_ms = |p: f64| percentile(&latencies, p).map_or(0.0, |us| *us as f64 / 1e3);
    let codes = tally.codes.lock().map(|c| c.clone()).unwrap_or_default();
    let answered: u64 = codes.values().sum();
    // Whole seconds only: the last one may be cut short by the end of the schedule.
    let whole = per_second[..(args.seconds.floor() as usize).min(per_second.len())].to_vec();
    Ok(json!({
        "offered_rate": args.rate,
        "seconds": args.seconds,
        "scheduled": total,
        "sent": total - not_sent,
        "not_sent_no_connection": not_sent,
        "schedule_took_seconds": schedule_secs,
        "achieved_rate": (total - not_sent) as f64 / schedule_secs,
        "answered": answered,
        "failed": tally.failed.load(Ordering::Relaxed),
        "all_answered_seconds": finished_secs,
        "drained": drained,
        "late_ms": {"p50": late(0.50), "p99": late(0.99), "max": late(1.0)},
        "answer_ms": {"p50": answer_ms(0.50), "p99": answer_ms(0.99), "max": answer_ms(1.0)},
        "sent_per_second": {
            "min": whole.iter().min(),
            "max": whole.iter().max(),
        },
        "codes": codes.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "connections_opened": tally.opened.load(Ordering::Relaxed),
        "most_connections_open": tally.most_open.load(Ordering::Relaxed),
    }))
}

/// The value at fraction `p` of sorted `values`.
fn percentile<T>(values: &[T], p: f64) -> Option<&T> {
    let i = ((values.len() as f64 * p) as usize).min(values.len().saturating_sub(1));
    values.get(i)
}

/// Opens a kept-alive TLS 1.3 connection.
async fn connect(
    address: SocketAddr,
    connector: &tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
    tally: &Arc<Tally>,
) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let tcp = TcpStream::connect(address).await?;
    // Without it a request waits for the previous segment's delayed ACK (~40 ms).
    tcp.set_nodelay(true)?;
    let stream = connector.connect(server_name, tcp).await?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tally.opened.fetch_add(1, Ordering::Relaxed);
    tally
        .most_open
        .fetch_max(tally.open.load(Ordering::Relaxed), Ordering::Relaxed);
    let tally = tally.clone();
    tokio::spawn(async move {
        let _ = connection.await;
        tally.open.fetch_sub(1, Ordering::Relaxed);
    });
    Ok(sender)
}

/// Sends one request and reads its whole answer (so the connection can carry the next).
async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<u16> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let code = response.status().as_u16();
    response.into_body().collect().await?;
    Ok(code)
}
