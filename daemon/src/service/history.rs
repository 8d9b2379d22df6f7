//! The operator console's short memory, in this process only: one point a second for the
//! last ten minutes (what the live charts draw) and arrivals per minute for the last six
//! hours (what the "what if" replays through the throttle simulator). Prometheus keeps the
//! long history; this is what a page needs without one. The trail of recent changes is
//! not kept here: it is read from the store's audit chain (`Service::recent_changes`), so
//! it survives a restart and shows the changes made through every node.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use keys::UnixTime;
use serde::{Deserialize, Serialize};

use crate::domain::audit::chain;
use crate::domain::queue::Lane;
use crate::domain::throttle::settings::{Setting, ThrottleSettings};
use crate::domain::throttle::simulate::{self, ArrivalCurve, SimSettings};
use crate::metrics::tally::Totals;
use crate::service::Service;
use crate::service::operators::ThrottleError;

/// Points kept: ten minutes at one a second.
const SECONDS: usize = 600;
/// Minutes of arrivals kept: six hours.
const MINUTES: usize = 360;

/// The rings, behind one lock taken for microseconds once a second and per page poll.
#[derive(Default)]
pub struct History {
    rings: Mutex<Rings>,
}

#[derive(Default)]
struct Rings {
    seconds: VecDeque<Point>,
    /// (start of the minute, Unix seconds; arrivals in it).
    minutes: VecDeque<(u64, u64)>,
    /// The first sample's wall and monotonic time.
    origin: Option<(UnixTime, Duration)>,
    /// The last sample's stamp, monotonic time and totals.
    last: Option<(UnixTime, Duration, Totals)>,
}

/// One second of the service, as the console charts it. Rates are per second over the
/// interval since the previous point; means are over the same interval (absent when
/// nothing happened in it).
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    /// Unix seconds.
    pub at: u64,
    /// Applications reaching admission, per second.
    pub arrivals: f64,
    /// Admitted, per second.
    pub admitted: f64,
    /// Refused per second, by limit (`client`, `licence`, `intake`, `queue`, `overload`).
    pub refused: [f64; 5],
    /// Queue depth per lane (window, reissue, first).
    pub depth: [u64; 3],
    /// Age of the oldest waiting application per lane, seconds.
    pub oldest_age: [u64; 3],
    /// The drain rate set (0 while paused), per second.
    pub drain_target: f64,
    /// The drain rate measured, per second.
    pub drain_achieved: f64,
    /// Mean midpoint of the waits quoted to applications accepted, seconds.
    pub wait_quoted: Option<f64>,
    /// Mean actual wait of the applications issued, seconds.
    pub wait_actual: Option<f64>,
    /// Mean live-status latency, milliseconds.
    pub live_status_ms: Option<f64>,
    /// Mean durable-commit latency of the store (applications, issuance and the audit
    /// records of changes), milliseconds.
    pub commit_ms: Option<f64>,
    /// Mean group-commit latency of the lookup audit log (what
    /// `edld_audit_commit_duration_seconds` observes), milliseconds.
    pub audit_commit_ms: Option<f64>,
}

/// One operator change, as the console's trail lists it: an audit record of the change
/// chain.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    /// The record's number on the chain.
    pub seq: u64,
    /// Unix seconds.
    pub at: u64,
    /// The operator's client name.
    pub client: String,
    /// What: `throttle.set`, `client.add`, `client.revoke`, `client.delegates`.
    pub action: String,
    /// For `throttle.set`, what moved: name, old and new values (pause and resume are
    /// `paused` moving).
    pub moved: Vec<(String, String, String)>,
    /// The record's detail as stored.
    pub detail: Option<String>,
}

impl Change {
    /// The change an audit record's stored bytes describe.
    fn read(bytes: &[u8]) -> Result<Change, String> {
        let record = chain::decode(bytes)?;
        let moved = match (&record.action[..], &record.detail) {
            ("throttle.set", Some(detail)) => {
                let map: BTreeMap<String, MovedValues> =
                    serde_json::from_str(detail).map_err(|e| e.to_string())?;
                map.into_iter()
                    .map(|(name, v)| (name, v.old.to_string(), v.new.to_string()))
                    .collect()
            }
            _ => Vec::new(),
        };
        Ok(Change {
            seq: record.seq,
            at: record.at.0,
            client: record.client,
            action: record.action,
            moved,
            detail: record.detail,
        })
    }
}

/// The old and new value of one setting in a `throttle.set` record's detail.
#[derive(Deserialize)]
struct MovedValues {
    old: Shown,
    new: Shown,
}

/// A value as a `throttle.set` detail holds it: a string, or `null` for a limit not set.
#[derive(Deserialize)]
#[serde(untagged)]
enum Shown {
    Text(String),
    Other(serde_json::Value),
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shown::Text(s) => f.write_str(s),
            Shown::Other(v) => write!(f, "{v}"),
        }
    }
}

/// A "what if": the observed arrivals replayed with the settings in force and with the
/// proposed ones.
#[derive(Clone, Debug, Serialize)]
pub struct WhatIf {
    /// Seconds of observed arrivals replayed.
    pub observed_seconds: u64,
    /// Arrivals replayed.
    pub arrivals: u64,
    /// With the settings in force.
    pub current: Run,
    /// With the proposed settings.
    pub proposed: Run,
}

/// One simulated run, minute by minute.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Run {
    /// Start of each minute, seconds from the start of the replay.
    pub t: Vec<u64>,
    /// Admitted per minute.
    pub admitted: Vec<u64>,
    /// Refused per minute (429 and 503).
    pub refused: Vec<u64>,
    /// Issued per minute.
    pub issued: Vec<u64>,
    /// Queue depth at the end of each minute.
    pub depth: Vec<u64>,
    /// Mean quoted wait of each minute's arrivals, seconds.
    pub quoted_wait: Vec<Option<f64>>,
    /// Mean actual wait of each minute's arrivals, seconds.
    pub actual_wait: Vec<Option<f64>>,
    /// Largest queue depth.
    pub peak_depth: u64,
    /// Refused in all.
    pub refused_total: u64,
}

/// What the sampler reads besides the totals.
pub(crate) struct Gauges {
    /// Queue depth per lane.
    pub depth: [u64; 3],
    /// Oldest age per lane.
    pub oldest_age: [u64; 3],
    /// The drain rate set.
    pub drain_target: f64,
    /// The drain rate measured.
    pub drain_achieved: f64,
}

impl History {
    /// Records one point from the totals and gauges, sampled at wall time `wall` and
    /// monotonic time `monotonic`. Intervals are measured on the monotonic clock; each
    /// point is stamped with the wall time of the first sample plus the monotonic time
    /// since, so a wall clock that steps does not bend the charts.
    pub(crate) fn record(
        &self,
        wall: UnixTime,
        monotonic: Duration,
        totals: Totals,
        gauges: Gauges,
    ) {
        let mut rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        let (origin_wall, origin_mono) = *rings.origin.get_or_insert((wall, monotonic));
        let now = UnixTime(origin_wall.0 + monotonic.saturating_sub(origin_mono).as_secs());
        // No whole second since the last sample: the totals wait for the next one, so
        // every point covers a second or more.
        if rings.last.is_some_and(|(then, _, _)| now.0 <= then.0) {
            return;
        }
        let previous = rings.last.replace((now, monotonic, totals));
        let Some((_, then, before)) = previous else {
            return;
        };
        let span = monotonic.saturating_sub(then).as_secs_f64().max(1e-3);
        let rate = |a: u64, b: u64| a.saturating_sub(b) as f64 / span;
        let mean = |sum: (u64, u64), count: (u64, u64), scale: f64| {
            let n = count.0.saturating_sub(count.1);
            (n > 0).then(|| sum.0.saturating_sub(sum.1) as f64 / n as f64 * scale)
        };
        let t = totals;
        let point = Point {
            at: now.0,
            arrivals: rate(t.arrivals, before.arrivals),
            admitted: rate(t.admitted, before.admitted),
            refused: std::array::from_fn(|i| rate(t.refused[i], before.refused[i])),
            depth: gauges.depth,
            oldest_age: gauges.oldest_age,
            drain_target: gauges.drain_target,
            drain_achieved: gauges.drain_achieved,
            wait_quoted: mean(
                (t.quoted_sum, before.quoted_sum),
                (t.quotes, before.quotes),
                1.0,
            ),
            wait_actual: mean((t.wait_sum, before.wait_sum), (t.waits, before.waits), 1.0),
            live_status_ms: mean(
                (t.live_status_micros, before.live_status_micros),
                (t.live_status, before.live_status),
                1e-3,
            ),
            commit_ms: mean(
                (t.commit_micros, before.commit_micros),
                (t.commits, before.commits),
                1e-3,
            ),
            audit_commit_ms: mean(
                (t.audit_commit_micros, before.audit_commit_micros),
                (t.audit_commits, before.audit_commits),
                1e-3,
            ),
        };
        let arrived = t.arrivals.saturating_sub(before.arrivals);
        let minute = now.0 - now.0 % 60;
        match rings.minutes.back_mut() {
            Some((start, n)) if *start == minute => *n += arrived,
            _ => rings.minutes.push_back((minute, arrived)),
        }
        while rings.minutes.len() > MINUTES {
            rings.minutes.pop_front();
        }
        rings.seconds.push_back(point);
        while rings.seconds.len() > SECONDS {
            rings.seconds.pop_front();
        }
    }

    /// The points of the last `seconds` seconds, oldest first.
    pub fn points(&self, seconds: usize) -> Vec<Point> {
        let rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        let skip = rings.seconds.len().saturating_sub(seconds);
        rings.seconds.iter().skip(skip).cloned().collect()
    }

    /// The observed arrivals as a curve: per minute once there are ten minutes of them,
    /// per second before (a console opened soon after a start still has something to
    /// replay), followed by an hour without arrivals. `None` with fewer than two observed
    /// points.
    fn curve(&self) -> Option<(ArrivalCurve, u64, u64)> {
        let rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        let (points, total): (Vec<(f64, f64)>, u64) = if rings.minutes.len() >= 10 {
            let start = rings.minutes.front().map_or(0, |m| m.0);
            let points = rings
                .minutes
                .iter()
                .map(|&(m, n)| ((m - start) as f64, n as f64 / 60.0))
                .collect();
            (points, rings.minutes.iter().map(|m| m.1).sum())
        } else {
            let start = rings.seconds.front().map_or(0, |p| p.at);
            let points = rings
                .seconds
                .iter()
                .map(|p| ((p.at - start) as f64, p.arrivals))
                .collect();
            // The minutes count every arrival exactly; they cover the same span here.
            (points, rings.minutes.iter().map(|m| m.1).sum())
        };
        if points.len() < 2 {
            return None;
        }
        let span = points.last().map_or(0.0, |p| p.0) as u64;
        // Then an hour without arrivals: how the backlog left at the end drains with each
        // setting is what an operator weighs.
        let mut points = points;
        if let Some(&(end, _)) = points.last() {
            points.push((end + 1.0, 0.0));
            points.push((end + 3600.0, 0.0));
        }
        ArrivalCurve::from_points(points).map(|c| (c, span, total))
    }
}

impl Service {
    /// The last `limit` operator changes (throttle settings, pause and resume, API
    /// clients), newest first, from the store's audit chain: every node's, and those made
    /// before a restart.
    pub async fn recent_changes(&self, limit: usize) -> crate::store::StoreResult<Vec<Change>> {
        self.store
            .operator_changes(limit)
            .await?
            .iter()
            .map(|(seq, bytes)| {
                Change::read(bytes).map_err(|e| {
                    crate::store::StoreError::Corrupt(format!("audit record {seq}: {e}"))
                })
            })
            .collect()
    }

    /// Takes one point for the console's history: the gauges as a scrape sees them, the
    /// running totals, the drain's target and measured rate.
    pub async fn sample_history(&self) {
        self.refresh_gauges().await;
        let m = &self.metrics;
        let lane = |f: &dyn Fn(&str) -> i64| Lane::ALL.map(|l| f(l.as_str()).max(0) as u64);
        let labels = |l: &str| crate::metrics::LaneLabels { lane: l.to_owned() };
        let gauges = Gauges {
            depth: lane(&|l| m.queue_depth.get_or_create(&labels(l)).get()),
            oldest_age: lane(&|l| m.queue_oldest_age.get_or_create(&labels(l)).get()),
            drain_target: m.drain_rate_target.get(),
            drain_achieved: m.drain_rate_measured.get(),
        };
        self.history
            .record(self.now(), self.clock.monotonic(), m.tally.totals(), gauges);
    }

    /// Replays the observed arrivals through the throttle simulator with the settings in
    /// force and with them changed by `changes`, without applying anything. The replay
    /// starts from an empty queue and runs on for an hour after the last arrival.
    pub async fn what_if(&self, changes: &[Setting]) -> Result<WhatIf, ThrottleError> {
        let current = self.throttles.settings();
        let mut proposed = current;
        for setting in changes {
            proposed = proposed.with(*setting)?;
        }
        let Some((curve, observed_seconds, arrivals)) = self.history.curve() else {
            return Ok(WhatIf {
                observed_seconds: 0,
                arrivals: 0,
                current: Run::default(),
                proposed: Run::default(),
            });
        };
        let (current, proposed) = tokio::task::spawn_blocking(move || {
            (replay(&curve, &current), replay(&curve, &proposed))
        })
        .await
        .map_err(|e| ThrottleError::Store(crate::store::StoreError::Io(e.to_string())))?;
        Ok(WhatIf {
            observed_seconds,
            arrivals,
            current,
            proposed,
        })
    }
}

/// One simulated run over `curve` with `settings`, with the lane mix and clients of a
/// launch day (as `edld throttle simulate` assumes) and a 100 ms step, so six hours
/// replay in well under a second.
fn replay(curve: &ArrivalCurve, settings: &ThrottleSettings) -> Run {
    let sim = SimSettings {
        admission: settings.admission,
        drain: settings.drain,
        weights: settings.weights,
        lane_mix: [0.02, 0.03, 0.95],
        clients: 8,
        repeat_share: 0.05,
        tick: Duration::from_millis(100),
    };
    let report = simulate::run(curve, &sim);
    let mut run = Run::default();
    for s in &report.samples {
        run.t.push(s.t);
        run.admitted.push(s.admitted);
        run.refused.push(s.refused_429 + s.refused_503);
        run.issued.push(s.issued);
        run.depth.push(s.depth);
        run.quoted_wait.push(s.quoted_wait);
        run.actual_wait.push(s.actual_wait);
    }
    run.peak_depth = run.depth.iter().copied().max().unwrap_or(0);
    run.refused_total = run.refused.iter().sum();
    run
}

#[cfg(test)]
mod tests;
