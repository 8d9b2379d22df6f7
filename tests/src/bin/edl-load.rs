//! `edl-load`: drives an in-process daemon over TLS on loopback and prints
//!
//! 1. the raw rate of sign + durable store (the drain's own pipeline without HTTP or the
//!    queue, grouped commits of one drain step), measured in the same run;
//! 2. applications accepted/s (202, durable) and issued/s with no throttles, and their
//!    ratio to the raw rate;
//! 3. live-status requests/s with p50/p99 latency at 64 connections.
//!
//! Build it in release: `cargo run --release -p tests --bin edl-load -- --applications 20000`.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use hyper::Method;
use keys::token::{CredentialClaims, CredentialId, LicenceDetails, StatusReference};
use keys::{SigningKey, UnixTime};
use serde_json::json;
use tests::{Options, TestDaemon, licence_json, licence_numbers};

#[derive(Parser)]
#[command(about = "Load harness for edld")]
struct Args {
    /// Applications to submit.
    #[arg(long, default_value_t = 20_000)]
    applications: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of live-status load.
    #[arg(long, default_value_t = 10)]
    status_seconds: u64,
    /// Signing step size.
    #[arg(long, default_value_t = 256)]
    batch: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let raw = raw_rate(args.applications.min(20_000), args.batch)?;
    println!(
        "raw sign + durable store: {raw:.0} credentials/s (steps of {})",
        args.batch
    );

    let numbers = licence_numbers(args.applications, 330_106);
    let backlog = licence_numbers(args.applications, 330_107);
    let dir = tempfile::tempdir()?;
    preload(&dir, &numbers, false)?;
    preload(&dir, &backlog, true)?;
    let d = TestDaemon::start_with(
        Options {
            tls: true,
            batch: args.batch,
            coalesce: Duration::from_millis(1000),
        },
        dir,
        None,
    )
    .await?;

    // Issuance capacity: the backlog queued before start, drained as fast as it goes.
    let mut admin = d.admin_client().await?;
    let drain_started = Instant::now();
    loop {
        let q = admin.get("/admin/v1/queue", None).await?.json()?;
        if q["issued"].as_u64().unwrap_or(0) as usize >= backlog.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let drain_secs = drain_started.elapsed().as_secs_f64();
    let drained = backlog.len() as f64 / drain_secs;
    println!(
        "issuance from a backlog of {}: {drain_secs:.2} s = {drained:.0} issued/s ({:.0}% of raw)",
        backlog.len(),
        100.0 * drained / raw
    );

    // Applications, 64 connections, as fast as they are acknowledged.
    let gateway = d.key("gateway").to_owned();
    let numbers = Arc::new(numbers);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let mut c = d.client().await?;
        let (numbers, next, key) = (numbers.clone(), next.clone(), gateway.clone());
        tasks.push(tokio::spawn(async move {
            let mut tickets = Vec::new();
            while let Some(n) = numbers.get(next.fetch_add(1, Ordering::SeqCst)) {
                let body = json!({"licence_number": n.as_str(), "photo_source": "on_file"});
                let reply = c
                    .json(Method::POST, "/v1/applications", Some(&key), &body)
                    .await?;
                anyhow::ensure!(reply.status == 202, "{}: {:?}", reply.status, reply.body);
                tickets.push(
                    reply.json()?["ticket"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
            Ok::<_, anyhow::Error>(tickets)
        }));
    }
    let mut tickets = Vec::new();
    for t in tasks {
        tickets.extend(t.await??);
    }
    let accept_secs = started.elapsed().as_secs_f64();
    loop {
        let q = admin.get("/admin/v1/queue", None).await?.json()?;
        if q["issued"].as_u64().unwrap_or(0) as usize >= tickets.len() + backlog.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let issue_secs = started.elapsed().as_secs_f64();
    let drain_rate = admin.get("/admin/v1/queue", None).await?.json()?["drain_rate_per_second"]
        .as_f64()
        .unwrap_or(0.0);
    let n = tickets.len() as f64;
    println!(
        "applications: {} accepted in {accept_secs:.2} s = {:.0}/s; all issued after {issue_secs:.2} s = {:.0}/s ({:.0}% of raw)",
        tickets.len(),
        n / accept_secs,
        n / issue_secs,
        100.0 * n / issue_secs / raw
    );

    // Credential ids for the status phase.
    let mut c = d.client().await?;
    let mut ids = Vec::new();
    for t in tickets.iter().take(1000) {
        let body = c
            .get(&format!("/v1/applications/{t}"), Some(&gateway))
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
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "live status: {} requests in {secs:.1} s = {:.0} req/s at {} connections; p50 {:.2} ms, p99 {:.2} ms",
        latencies.len(),
        latencies.len() as f64 / secs,
        args.connections,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
    let metrics = String::from_utf8_lossy(&admin.get("/metrics", None).await?.body).into_owned();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    };
    let commits = value("edld_commit_duration_seconds_count");
    println!(
        "durable commits: {commits:.0}, mean {:.2} ms, mean {:.1} acknowledgements each; drain busy rate {:.0}/s",
        1e3 * value("edld_commit_duration_seconds_sum") / commits.max(1.0),
        value("edld_commit_group_size_sum") / commits.max(1.0),
        drain_rate
    );
    d.stop().await?;
    Ok(())
}

/// Registry records written straight into the store before the daemon starts.
/// With `queued`, each licence also gets an application waiting in the queue.
fn preload(
    dir: &tempfile::TempDir,
    numbers: &[keys::licence::LicenceNumber],
    queued: bool,
) -> anyhow::Result<()> {
    use daemon::application::{Application, ApplicationState, Channel, Photo, Ticket};
    use daemon::queue::Lane;
    use daemon::store::{key, prefix};
    let store = daemon::store::Store::open(&dir.path().join("data"))?;
    for (i, n) in numbers.iter().enumerate() {
        if queued {
            let mut ticket = [0u8; 16];
            ticket[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            ticket[8..].copy_from_slice(&[0x5a; 8]);
            let sequence = i as u64 + 1;
            let application = Application {
                ticket: Ticket(ticket),
                licence: n.clone(),
                channel: Channel::App,
                client: "edl-load".into(),
                photo: Photo::OnFile,
                state: ApplicationState::Queued {
                    lane: Lane::Standard,
                    sequence,
                },
                created_at: tests::START,
                updated_at: tests::START,
            };
            let mut batch = daemon::store::Batch::default();
            batch.put(key(prefix::APPLICATION, &[&ticket]), &application);
            batch.put_raw(key(prefix::OPEN, &[n.as_str().as_bytes()]), &ticket[..]);
            batch.put_raw(
                daemon::queue::entry_key(Lane::Standard, sequence),
                &ticket[..],
            );
            store.apply(batch)?;
        }
        let line: daemon::registry::RegistryLine =
            serde_json::from_value(licence_json(n, &format!("Holder {i}"), &["C1"]))?;
        let record = line.into_record(None).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut batch = daemon::store::Batch::default();
        batch.put(
            daemon::store::key(daemon::store::prefix::LICENCE, &[n.as_str().as_bytes()]),
            &record,
        );
        store.apply(batch)?;
    }
    store.sync(&mut HashSet::new())?;
    Ok(())
}

/// Signs credentials and stores them with one durable commit per step of `batch`.
fn raw_rate(count: usize, batch: usize) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let store = daemon::store::Store::open(dir.path()).context("raw store")?;
    let key = SigningKey::from_seed(&[7; 32]);
    let number = licence_numbers(1, 110_105).remove(0);
    let mut synced = HashSet::new();
    let started = Instant::now();
    let mut done = 0;
    while done < count {
        let mut step = daemon::store::Batch::default();
        for _ in 0..batch.min(count - done) {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(done as u64).to_be_bytes());
            let claims =
                CredentialClaims {
                    issuer: "EDL-LOAD".into(),
                    licence_number: number.clone(),
                    credential_id: CredentialId(id),
                    issued_at: UnixTime(1_900_000_000),
                    not_before: UnixTime(1_900_000_000),
                    expires_at: UnixTime(1_902_592_000),
                    licence: LicenceDetails {
                        name: "Holder".into(),
                        classes: "C1".parse().map_err(|e| anyhow::anyhow!("{e:?}"))?,
                        validity: keys::licence::Validity::long_term(
                            time::Date::from_calendar_date(2020, time::Month::January, 1)?,
                        ),
                        authority: "Test".into(),
                        photo: keys::licence::PhotoDigest::of(b"photo"),
                    },
                    status: StatusReference {
                        index: done as u64,
                        uri: "https://edl.invalid/v1/status-lists/0".into(),
                    },
                };
            let token = keys::token::sign(&claims, &key);
            step.put_raw(
                daemon::store::key(daemon::store::prefix::CREDENTIAL, &[&id]),
                token,
            );
            done += 1;
        }
        store.apply(step)?;
        store.sync(&mut synced)?;
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}
