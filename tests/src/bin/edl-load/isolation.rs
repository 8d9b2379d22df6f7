//! Phase 4 of `edl-load`: isolation. Live status at a fixed offered rate, first alone,
//! then while an open-loop issuance flood of 10x the drain rate runs on its own runtime;
//! the p99 of both and their ratio, and how many live-status requests were refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper::Method;
use keys::licence::LicenceNumber;
use serde_json::json;
use tests::TestDaemon;

use super::{Args, ms, percentile, set};

/// Live status at `rate` per second over `connections`, each on a fixed schedule (open
/// loop: a slow answer does not lower the load), for `seconds`. Returns the latencies and
/// how many answers were not 200.
async fn status_load(
    d: &TestDaemon,
    role: &str,
    ids: &Arc<Vec<String>>,
    rate: u64,
    connections: usize,
    seconds: u64,
) -> anyhow::Result<(Vec<Duration>, u64)> {
    let officer = d.key(role).to_owned();
    let interval = Duration::from_secs_f64(connections as f64 / rate as f64);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let refused = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for k in 0..connections {
        let mut c = d.client().await?;
        let (ids, key, refused) = (ids.clone(), officer.clone(), refused.clone());
        tasks.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut latencies = Vec::new();
            let mut i = k;
            loop {
                ticker.tick().await;
                if Instant::now() >= deadline {
                    break;
                }
                let id = &ids[i % ids.len()];
                i += 7;
                let t = Instant::now();
                let reply = c
                    .get(&format!("/v1/credentials/{id}/status"), Some(&key))
                    .await?;
                latencies.push(t.elapsed());
                if reply.status != 200 {
                    refused.fetch_add(1, Ordering::SeqCst);
                }
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    latencies.sort();
    Ok((latencies, refused.load(Ordering::SeqCst)))
}

/// Tallies of the flood's answers.
#[derive(Default)]
struct FloodTally {
    sent: AtomicU64,
    accepted: AtomicU64,
    too_many: AtomicU64,
    unavailable: AtomicU64,
    other: AtomicU64,
}

pub(crate) async fn isolation(
    args: &Args,
    d: &TestDaemon,
    ids: &Arc<Vec<String>>,
    flooders: Vec<LicenceNumber>,
    flood: &tokio::runtime::Handle,
) -> anyhow::Result<()> {
    let rate = args.drain_rate;
    let burst = (rate / 50.0).ceil().max(10.0);
    set(
        d,
        json!({"drain.rate": rate, "drain.burst": burst, "drain.max_in_flight": 1024,
               "client.mode": "enforce", "client.rate": 100_000, "client.burst": 100_000,
               "licence.mode": "enforce", "intake.mode": "enforce",
               "intake.rate": 2.0 * rate, "intake.burst": 2.0 * rate,
               "queue.mode": "enforce", "queue.max_wait": 30}),
    )
    .await?;
    let connections = 16;
    let flood_rate = 10.0 * rate;
    let flooders = Arc::new(flooders);
    let tally = Arc::new(FloodTally::default());
    // Warm up connections and caches.
    status_load(d, &args.status_role, ids, args.status_rate, connections, 1).await?;
    // Rounds of (alone, flooded) windows, so that drift in the machine's background load
    // falls on both sides alike.
    let (mut alone, mut flooded) = (Vec::new(), Vec::new());
    let (mut refused_alone, mut refused_flooded) = (0, 0);
    let (mut sent, mut flood_secs) = (0, 0.0);
    let window = || {
        status_load(
            d,
            &args.status_role,
            ids,
            args.status_rate,
            connections,
            args.isolation_seconds,
        )
    };
    for _ in 0..args.rounds {
        let (latencies, refused) = window().await?;
        alone.extend(latencies);
        refused_alone += refused;

        let running = Flood::start(d, flood, flood_rate, flooders.clone(), tally.clone()).await?;
        // Let the queue fill to its bound first: the flood is then at its steady state.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let sent_before = tally.sent.load(Ordering::SeqCst);
        let started = Instant::now();
        let (latencies, refused) = window().await?;
        flood_secs += started.elapsed().as_secs_f64();
        sent += tally.sent.load(Ordering::SeqCst) - sent_before;
        running.stop().await;
        flooded.extend(latencies);
        refused_flooded += refused;
    }
    alone.sort();
    flooded.sort();
    let mut admin = d.admin_client().await?;
    let metrics = String::from_utf8_lossy(&admin.get("/metrics", None).await?.body).into_owned();
    let issued = metrics
        .lines()
        .find_map(|l| l.strip_prefix("edld_credentials_issued_total "))
        .unwrap_or("?")
        .to_owned();
    let (p99_alone, p99_flooded) = (percentile(&alone, 0.99), percentile(&flooded, 0.99));
    println!(
        "isolation: {} rounds of {} s without and {} s with the flood; flood clients at {} priority",
        args.rounds,
        args.isolation_seconds,
        args.isolation_seconds,
        if args.low_priority_flood {
            "low (nice 19)"
        } else {
            "normal"
        }
    );
    println!(
        "isolation: drain {rate:.0}/s; issuance flood offered {flood_rate:.0}/s, sent {:.0}/s while measured \
         ({} accepted, {} 429, {} 503, {} other in all); {issued} credentials issued in the run",
        sent as f64 / flood_secs,
        tally.accepted.load(Ordering::SeqCst),
        tally.too_many.load(Ordering::SeqCst),
        tally.unavailable.load(Ordering::SeqCst),
        tally.other.load(Ordering::SeqCst),
    );
    println!(
        "live status as {} at {}/s over {connections} connections: p50 {:.2} ms / p99 {:.2} ms without flood; \
         p50 {:.2} ms / p99 {:.2} ms under the flood",
        args.status_role,
        args.status_rate,
        ms(percentile(&alone, 0.50)),
        ms(p99_alone),
        ms(percentile(&flooded, 0.50)),
        ms(p99_flooded),
    );
    tests::figures::note(
        "isolation: live-status p99 ms alone / under flood",
        format!("{:.2} / {:.2}", ms(p99_alone), ms(p99_flooded)),
    );
    println!(
        "isolation: p99 ratio flood/no-flood = {:.2} (aim <= 1.25); live-status rejections: {} ({} without flood, {} under the flood; {} + {} requests)",
        p99_flooded.as_secs_f64() / p99_alone.as_secs_f64().max(1e-9),
        refused_alone + refused_flooded,
        refused_alone,
        refused_flooded,
        alone.len(),
        flooded.len(),
    );
    Ok(())
}

/// An issuance flood in progress: open loop over 32 connections on its own runtime.
struct Flood {
    stop: Arc<std::sync::atomic::AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Flood {
    async fn start(
        d: &TestDaemon,
        runtime: &tokio::runtime::Handle,
        rate: f64,
        licences: Arc<Vec<LicenceNumber>>,
        tally: Arc<FloodTally>,
    ) -> anyhow::Result<Flood> {
        let connections = 32;
        let interval = Duration::from_secs_f64(connections as f64 / rate);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let next = Arc::new(AtomicUsize::new(0));
        let gateway = d.key("gateway").to_owned();
        let mut tasks = Vec::new();
        for _ in 0..connections {
            // Connected with the flood runtime entered, so the connection's I/O and its
            // driver task live there, not on the live-status clients' runtime.
            let mut c = {
                let _flood = runtime.enter();
                d.client().await?
            };
            let (licences, next, tally, stop, key) = (
                licences.clone(),
                next.clone(),
                tally.clone(),
                stop.clone(),
                gateway.clone(),
            );
            tasks.push(runtime.spawn(async move {
                let mut ticker = tokio::time::interval(interval);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                while !stop.load(Ordering::SeqCst) {
                    ticker.tick().await;
                    let n = &licences[next.fetch_add(1, Ordering::SeqCst) % licences.len()];
                    let body = json!({"licence_number": n.as_str(), "photo_source": "on_file"});
                    let Ok(reply) = c
                        .json(Method::POST, "/v1/applications", Some(&key), &body)
                        .await
                    else {
                        break;
                    };
                    tally.sent.fetch_add(1, Ordering::SeqCst);
                    let counter = match reply.status.as_u16() {
                        200 | 202 => &tally.accepted,
                        429 => &tally.too_many,
                        503 => &tally.unavailable,
                        _ => &tally.other,
                    };
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            }));
        }
        Ok(Flood { stop, tasks })
    }

    async fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
