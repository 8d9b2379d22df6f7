//! `edl-load`: drives an in-process daemon over TLS on loopback and prints
//!
//! 1. applications accepted/s (202, durable) and issued/s with the throttles opened wide,
//!    intake and drain running at once;
//! 2. issuance capacity against the raw rate of sign + durable store, in rounds: with the
//!    drain paused a batch of applications arrives over HTTP, the raw rate (one thread
//!    signing credentials and storing them with one durable commit per step, no HTTP, no
//!    queue) is measured on as many credentials while the daemon idles, then the drain
//!    resumes and issues the batch. Each round gives issued/s over its own raw rate; the
//!    figure is the median, so drift in the machine's load falls on both sides;
//! 3. live-status requests/s with p50/p99 latency at 64 connections;
//! 4. isolation: live-status p99 at a fixed offered rate, first alone, then under an
//!    issuance flood of 10x the drain rate, in the same run; their ratio, and how many
//!    live-status requests were refused (must be none);
//! 5. how long a restart on the run's data takes until the daemon is ready.
//!
//! The daemon serves from its own runtime; the harness's live-status clients and the flood
//! run on two others. Build it in release:
//! `cargo run --release -p tests --bin edl-load -- --applications 20000`
//! (`--isolation-only` runs phase 4 alone).

#![allow(
    clippy::disallowed_methods,
    reason = "a load generator measures real elapsed time"
)]

mod isolation;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use hyper::Method;
use keys::SigningKey;
use keys::licence::LicenceNumber;
use serde_json::{Value, json};
use tests::client::Client;
use tests::{Options, TestDaemon, licence_json, licence_numbers};

/// The allocator `edld` runs with, so the in-process daemon is the one deployed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Load harness for edld")]
struct Args {
    /// Applications submitted in each issuance phase (the first phase and every round).
    #[arg(long, default_value_t = 20_000)]
    applications: usize,
    /// Rounds of the issuance-capacity measurement.
    #[arg(long, default_value_t = 3)]
    issuance_rounds: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of live-status load.
    #[arg(long, default_value_t = 10)]
    status_seconds: u64,
    /// Signing step size.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Isolation: the drain rate set; the flood offers 10x this.
    #[arg(long, default_value_t = 500.0)]
    drain_rate: f64,
    /// Isolation: live-status requests per second offered, with and without the flood.
    #[arg(long, default_value_t = 1_000)]
    status_rate: u64,
    /// Isolation: seconds of each window (one without and one with the flood per round).
    #[arg(long, default_value_t = 10)]
    isolation_seconds: u64,
    /// Isolation: rounds of the two windows.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Isolation: the role asking for live status (`officer` and other relying parties
    /// are audited durably before each answer; `registry` and `window` are not).
    #[arg(long, default_value = "officer")]
    status_role: String,
    /// Run only the isolation measurement.
    #[arg(long)]
    isolation_only: bool,
    /// Run the flood's client threads at the issuance threads' low priority: the flood
    /// stands for remote clients, whose CPU is not this machine's.
    #[arg(long)]
    low_priority_flood: bool,
    /// Keep the state in the (empty) PostgreSQL database at this `postgresql://` URL
    /// instead of sled in a temporary directory.
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// Run everything twice in this run, on sled and then on a throwaway PostgreSQL
    /// (started from Debian's binaries), and end with both engines' figures side by side.
    #[arg(long)]
    compare: bool,
}

/// Credentials issued before the measurements, for the live-status phases to look up.
const STATUS_CREDENTIALS: usize = 2_000;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.compare {
        return measure(&args, args.store.clone());
    }
    let server = daemon::testing::postgres::TestPostgres::start()?;
    for store in [None, Some(server.database()?)] {
        measure(&args, store)?;
    }
    println!(
        "\nside by side (same run, same machine):\n{}",
        tests::figures::table()
    );
    Ok(())
}

/// Every phase on one engine: sled in a temporary directory (`store` none) or the
/// PostgreSQL database at `store`.
fn measure(args: &Args, store: Option<String>) -> anyhow::Result<()> {
    let engine = if store.is_some() { "postgres" } else { "sled" };
    tests::figures::engine(engine);
    println!("== {engine} ==");
    let runtime = |name: &str, low: bool| {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2).thread_name(name).enable_all();
        if low {
            builder.on_thread_start(daemon::testing::yield_cpu_to_verification);
        }
        builder.build()
    };
    let serving = runtime("edld-serve", false)?;
    let clients = runtime("load-clients", false)?;
    let flood = runtime("load-flood", args.low_priority_flood)?;

    let phases_of_applications = if args.isolation_only {
        0
    } else {
        1 + args.issuance_rounds
    };
    let numbers = licence_numbers(args.applications * phases_of_applications, 330_106);
    let backlog = licence_numbers(STATUS_CREDENTIALS, 330_107);
    let flooders = licence_numbers(20_000, 330_108);
    let dir = tempfile::tempdir()?;
    serving.block_on(async {
        preload(&dir, store.as_deref(), &numbers, false).await?;
        preload(&dir, store.as_deref(), &backlog, true).await?;
        preload(&dir, store.as_deref(), &flooders, false).await
    })?;
    let options = || Options {
        tls: true,
        batch: args.batch,
        coalesce: Duration::from_millis(1000),
        store: store.clone(),
        ..Options::default()
    };
    let d = serving.block_on(TestDaemon::start_with(options(), dir, None))?;
    let result = clients.block_on(phases(
        args,
        &d,
        numbers,
        backlog.len(),
        flooders,
        flood.handle(),
    ));
    let dir = serving.block_on(d.stop())?;
    result?;
    if !args.isolation_only {
        // A restart on the run's data: the status lists are rebuilt from every credential.
        let credentials = serving.block_on(daemon::testing::credential_count(
            &dir.path().join("data"),
            store.as_deref(),
        ))?;
        let started = Instant::now();
        let d = serving.block_on(TestDaemon::start_with(options(), dir, None))?;
        let ready = started.elapsed().as_secs_f64();
        println!("restart with {credentials} credentials in the store: ready after {ready:.2} s");
        tests::figures::note("restart: seconds to ready", format!("{ready:.2}"));
        serving.block_on(d.stop())?;
    }
    Ok(())
}

async fn set(d: &TestDaemon, changes: Value) -> anyhow::Result<()> {
    d.set_throttle(&changes).await?;
    Ok(())
}

async fn pause(d: &TestDaemon, paused: bool) -> anyhow::Result<()> {
    let mut admin = d.admin_client().await?;
    let path = if paused {
        "/admin/v1/throttle/pause"
    } else {
        "/admin/v1/throttle/resume"
    };
    let reply = admin
        .json(Method::POST, path, Some(d.key("operator")), &json!({}))
        .await?;
    anyhow::ensure!(reply.status == 200, "{}: {:?}", reply.status, reply.body);
    Ok(())
}

async fn issued(d: &TestDaemon, admin: &mut Client) -> anyhow::Result<usize> {
    let reply = match admin.get("/admin/v1/queue", None).await {
        Ok(reply) => reply,
        // The daemon closes a kept-alive connection left idle past its header timeout
        // (while a phase measured something else): open another once.
        Err(_) => {
            *admin = d.admin_client().await?;
            admin.get("/admin/v1/queue", None).await?
        }
    };
    Ok(reply.json()?["issued"].as_u64().unwrap_or(0) as usize)
}

/// Waits until `count` credentials have been issued in all; returns when that was.
async fn issued_reaches(
    d: &TestDaemon,
    admin: &mut Client,
    count: usize,
) -> anyhow::Result<Instant> {
    while issued(d, admin).await? < count {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(Instant::now())
}

async fn phases(
    args: &Args,
    d: &TestDaemon,
    numbers: Vec<LicenceNumber>,
    backlog: usize,
    flooders: Vec<LicenceNumber>,
    flood: &tokio::runtime::Handle,
) -> anyhow::Result<()> {
    // Capacity: throttles opened wide.
    set(
        d,
        json!({"drain.rate": 1_000_000, "drain.burst": 20_000, "drain.max_in_flight": 8_192,
               "client.mode": "off", "licence.mode": "off", "intake.mode": "off", "queue.mode": "off"}),
    )
    .await?;
    let mut admin = d.admin_client().await?;
    issued_reaches(d, &mut admin, backlog).await?;
    let gateway = d.key("gateway").to_owned();
    // Credential ids for the status phases: the backlog's tickets are known.
    let mut c = d.client().await?;
    let mut ids = Vec::new();
    for i in 0..backlog.min(1000) {
        let body = c
            .get(
                &format!("/v1/applications/{}", backlog_ticket(i)),
                Some(&gateway),
            )
            .await?
            .json()?;
        ids.push(
            body["credential"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let ids = Arc::new(ids);
    if !args.isolation_only {
        capacity(args, d, &numbers, backlog).await?;
        live_status(args, d, &ids).await?;
    }
    isolation::isolation(args, d, &ids, flooders, flood).await
}

/// Submits an application for each of `numbers` over `connections` connections, each
/// sending its next as soon as the last got its 202. Returns the seconds it took.
async fn submit(
    d: &TestDaemon,
    connections: usize,
    numbers: &[LicenceNumber],
) -> anyhow::Result<f64> {
    let gateway = d.key("gateway").to_owned();
    let numbers = Arc::new(numbers.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..connections {
        clients.push(d.client().await?);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut c in clients {
        let (numbers, next, key) = (numbers.clone(), next.clone(), gateway.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(n) = numbers.get(next.fetch_add(1, Ordering::SeqCst)) {
                let body = json!({"licence_number": n.as_str(), "photo_source": "on_file"});
                let reply = c
                    .json(Method::POST, "/v1/applications", Some(&key), &body)
                    .await?;
                anyhow::ensure!(reply.status == 202, "{}: {:?}", reply.status, reply.body);
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(started.elapsed().as_secs_f64())
}

async fn capacity(
    args: &Args,
    d: &TestDaemon,
    numbers: &[LicenceNumber],
    backlog: usize,
) -> anyhow::Result<()> {
    let n = args.applications;
    let mut chunks = numbers.chunks(n.max(1));
    let mut admin = d.admin_client().await?;
    let mut total = backlog;

    // Intake and drain at once.
    let first = chunks.next().unwrap_or_default();
    let started = Instant::now();
    let accept_secs = submit(d, args.connections, first).await?;
    total += first.len();
    let issue_secs = issued_reaches(d, &mut admin, total)
        .await?
        .duration_since(started)
        .as_secs_f64();
    let count = first.len() as f64;
    println!(
        "applications over HTTP at {} connections, intake and drain at once: {} accepted (202, durable) in {accept_secs:.2} s = {:.0}/s; \
         issued as they came, the last {:.0} ms after the last 202 = {:.0} issued/s",
        args.connections,
        first.len(),
        count / accept_secs,
        1e3 * (issue_secs - accept_secs),
        count / issue_secs,
    );
    tests::figures::note(
        "intake: accepted/s (202, durable)",
        format!("{:.0}", count / accept_secs),
    );
    tests::figures::note(
        "intake + drain: issued/s",
        format!("{:.0}", count / issue_secs),
    );

    // Capacity rounds: queue a batch with the drain paused, measure the raw rate while the
    // daemon idles, then time the drain.
    let mut ratios = Vec::new();
    let mut rates = Vec::new();
    for (round, chunk) in chunks.enumerate() {
        pause(d, true).await?;
        let accept_secs = submit(d, args.connections, chunk).await?;
        let (count, batch) = (chunk.len(), args.batch);
        let raw = tokio::task::spawn_blocking(move || raw_rate(count, batch)).await??;
        let started = Instant::now();
        pause(d, false).await?;
        total += count;
        let drain_secs = issued_reaches(d, &mut admin, total)
            .await?
            .duration_since(started)
            .as_secs_f64();
        let issued_rate = count as f64 / drain_secs;
        ratios.push(issued_rate / raw);
        rates.push(issued_rate);
        println!(
            "round {}: {count} accepted with the drain paused in {accept_secs:.2} s = {:.0}/s; raw sign + durable store {raw:.0}/s; \
             issued in {drain_secs:.2} s = {issued_rate:.0}/s = {:.0}% of raw",
            round + 1,
            count as f64 / accept_secs,
            100.0 * issued_rate / raw,
        );
    }
    if !rates.is_empty() {
        rates.sort_by(f64::total_cmp);
        tests::figures::note(
            "issuance from a full queue: issued/s (median)",
            format!("{:.0}", rates[rates.len() / 2]),
        );
    }
    if !ratios.is_empty() {
        let mut sorted = ratios.clone();
        sorted.sort_by(f64::total_cmp);
        println!(
            "issuance / raw: median {:.0}% over {} rounds ({})",
            100.0 * sorted[sorted.len() / 2],
            ratios.len(),
            ratios
                .iter()
                .map(|r| format!("{:.0}%", 100.0 * r))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

async fn live_status(args: &Args, d: &TestDaemon, ids: &Arc<Vec<String>>) -> anyhow::Result<()> {
    let officer = d.key("officer").to_owned();
    let deadline = Instant::now() + Duration::from_secs(args.status_seconds);
    let mut tasks = Vec::new();
    for k in 0..args.connections {
        let mut c = d.client().await?;
        let (ids, key) = (ids.clone(), officer.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = k;
            while Instant::now() < deadline {
                let id = &ids[i % ids.len()];
                i += 7;
                let t = Instant::now();
                let reply = c
                    .get(&format!("/v1/credentials/{id}/status"), Some(&key))
                    .await?;
                latencies.push(t.elapsed());
                anyhow::ensure!(reply.status == 200, "{}: {:?}", reply.status, reply.body);
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let status_started = Instant::now();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let secs = status_started.elapsed().as_secs_f64();
    latencies.sort();
    println!(
        "live status as officer (each lookup audited durably): {} requests in {secs:.1} s = {:.0} req/s at {} connections; p50 {:.2} ms, p99 {:.2} ms",
        latencies.len(),
        latencies.len() as f64 / secs,
        args.connections,
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99))
    );
    tests::figures::note(
        "live status (officer): req/s",
        format!("{:.0}", latencies.len() as f64 / secs),
    );
    tests::figures::note(
        "live status: p50 ms",
        format!("{:.2}", ms(percentile(&latencies, 0.50))),
    );
    tests::figures::note(
        "live status: p99 ms",
        format!("{:.2}", ms(percentile(&latencies, 0.99))),
    );
    // A new connection: the server closes connections idle longer than its header timeout.
    let mut admin = d.admin_client().await?;
    let metrics = String::from_utf8_lossy(&admin.get("/metrics", None).await?.body).into_owned();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    };
    let commits = value("edld_commit_duration_seconds_count");
    println!(
        "durable commits: {commits:.0}, mean {:.2} ms, mean {:.1} acknowledgements each",
        1e3 * value("edld_commit_duration_seconds_sum") / commits.max(1.0),
        value("edld_commit_group_size_sum") / commits.max(1.0),
    );
    // Where a request's time went inside edld: the lookup in the store, the wait for its
    // audit record to be durable, and that record's group commit (the lookup log's
    // fdatasync); each histogram's mean and the bucket holding its 99th percentile.
    let mut inside = Vec::new();
    for (label, name) in [
        ("in-service lookup", "edld_lookup_duration_seconds"),
        ("audit wait", "edld_lookup_audit_wait_seconds"),
        ("lookup-log fdatasync", "edld_audit_commit_duration_seconds"),
    ] {
        let count = value(&format!("{name}_count"));
        if count > 0.0 {
            inside.push(format!(
                "{label} mean {:.2} ms, p99 <= {:.2} ms",
                1e3 * value(&format!("{name}_sum")) / count,
                1e3 * bucket_quantile(&metrics, name, 0.99)
            ));
        }
    }
    println!("inside edld: {}", inside.join("; "));
    Ok(())
}

/// The upper bound of the histogram bucket of `name` that holds its `q` quantile.
fn bucket_quantile(metrics: &str, name: &str, q: f64) -> f64 {
    let prefix = format!("{name}_bucket{{le=\"");
    let buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let (le, count) = rest.split_once("\"}")?;
            Some((le.parse().ok()?, count.trim().parse().ok()?))
        })
        .collect();
    let total = buckets.last().map_or(0.0, |(_, c)| *c);
    buckets
        .iter()
        .find(|(_, c)| *c >= q * total)
        .map_or(f64::INFINITY, |(le, _)| *le)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn backlog_ticket(i: usize) -> String {
    let mut ticket = [0u8; 16];
    ticket[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    ticket[8..].copy_from_slice(&[0x5a; 8]);
    hex::encode(ticket)
}

/// Registry records written into the data directory before the daemon starts. With
/// `queued`, each licence also gets an application waiting in the queue.
async fn preload(
    dir: &tempfile::TempDir,
    store: Option<&str>,
    numbers: &[LicenceNumber],
    queued: bool,
) -> anyhow::Result<()> {
    let records = numbers
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let line: daemon::testing::RegistryLine =
                serde_json::from_value(licence_json(n, &format!("Holder {i}"), &["C1"]))?;
            line.into_record(None).map_err(|e| anyhow::anyhow!("{e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    daemon::testing::preload(
        &dir.path().join("data"),
        store,
        records,
        queued,
        // The development gateway client owns the applications: only it may read their
        // tickets (the phases read the backlog's credentials through them).
        "dev-gateway",
        tests::START,
    )
    .await
}

/// Signs `count` credentials and stores them with one durable commit per step of `batch`,
/// on one thread, as the drain does; returns credentials per second.
fn raw_rate(count: usize, batch: usize) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let key = SigningKey::from_seed(&[7; 32]);
    let started = Instant::now();
    daemon::testing::raw_issue(dir.path(), &key, count, batch)?;
    Ok(count as f64 / started.elapsed().as_secs_f64())
}
