//! `edld throttle …`: the operators' command line. `show`, `set`, `pause` and `resume`
//! talk to the admin listener's throttle API with the operator's API key; `simulate` runs
//! the throttle simulator over an arrival curve with the settings of a configuration file
//! and `--set` changes, and writes a CSV and an SVG chart; `launch-day` writes an example
//! arrival curve.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use hyper::Method;
use serde_json::{Map, Value};

use crate::client::{Client, Reply};
use crate::throttle::settings::{NAMES, ThrottleSettings};
use crate::throttle::simulate::{self, ArrivalCurve, SimReport, SimSettings};

/// Where the admin API is and the key to call it with.
#[derive(Clone, Debug)]
pub struct Admin {
    /// The admin listener.
    pub addr: SocketAddr,
    /// An API key of the operator role.
    pub key: String,
}

impl Admin {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut client = Client::connect(self.addr, None)
            .await
            .with_context(|| format!("connecting to the admin listener at {}", self.addr))?;
        let reply: Reply = match body {
            Some(body) => client.json(method, path, Some(&self.key), body).await?,
            None => client.send(method, path, Some(&self.key), None).await?,
        };
        let json = reply.json()?;
        if !reply.status.is_success() {
            bail!(
                "{}: {}",
                reply.status,
                json["detail"].as_str().unwrap_or("refused")
            );
        }
        Ok(json)
    }
}

/// Prints every setting in force, one `name = value` per line with what it means, then the
/// queue.
pub async fn show(admin: &Admin, out: &mut impl Write) -> anyhow::Result<()> {
    let reply = admin.call(Method::GET, "/admin/v1/throttle", None).await?;
    print_settings(&reply, out)?;
    writeln!(out, "\nqueue: {}", reply["queue"])?;
    Ok(())
}

/// Applies `name=value` changes and prints each as `name: old → new`.
pub async fn set(admin: &Admin, changes: &[String], out: &mut impl Write) -> anyhow::Result<()> {
    let mut body = Map::new();
    for change in changes {
        let (name, value) = change
            .split_once('=')
            .with_context(|| format!("{change:?}: expected name=value"))?;
        body.insert(
            name.trim().to_owned(),
            Value::String(value.trim().to_owned()),
        );
    }
    let reply = admin
        .call(
            Method::PATCH,
            "/admin/v1/throttle",
            Some(&Value::Object(body)),
        )
        .await?;
    print_changes(&reply, out)
}

/// Pauses (`true`) or resumes draining.
pub async fn pause(admin: &Admin, paused: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let path = if paused {
        "/admin/v1/throttle/pause"
    } else {
        "/admin/v1/throttle/resume"
    };
    let reply = admin.call(Method::POST, path, None).await?;
    print_changes(&reply, out)
}

fn print_settings(reply: &Value, out: &mut impl Write) -> anyhow::Result<()> {
    for (name, meaning) in NAMES {
        let value = reply["values"][*name].as_str().unwrap_or("?");
        writeln!(out, "{name:<20} = {value:<12} # {meaning}")?;
    }
    Ok(())
}

fn print_changes(reply: &Value, out: &mut impl Write) -> anyhow::Result<()> {
    let changed = reply["changed"].as_object().cloned().unwrap_or_default();
    if changed.is_empty() {
        writeln!(out, "no change")?;
    }
    for (name, change) in changed {
        writeln!(
            out,
            "{name}: {} → {}",
            change["old"].as_str().unwrap_or("?"),
            change["new"].as_str().unwrap_or("?")
        )?;
    }
    Ok(())
}

/// What a simulation runs with beyond the throttle settings.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Share of arrivals per lane (window, reissue, first).
    pub lane_mix: [f64; 3],
    /// Gateway clients arrivals are spread over.
    pub clients: u32,
    /// Share of arrivals that repeat a recent licence.
    pub repeat_share: f64,
    /// Virtual clock step.
    pub tick: Duration,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            lane_mix: [0.02, 0.03, 0.95],
            clients: 8,
            repeat_share: 0.05,
            tick: Duration::from_millis(10),
        }
    }
}

/// Runs the simulator over the curve in `arrivals` with `settings`.
pub fn simulate(
    arrivals: &Path,
    settings: &ThrottleSettings,
    scenario: &Scenario,
) -> anyhow::Result<SimReport> {
    let text = std::fs::read_to_string(arrivals)
        .with_context(|| format!("reading {}", arrivals.display()))?;
    let curve =
        ArrivalCurve::parse_csv(&text).with_context(|| format!("{}", arrivals.display()))?;
    let sim = SimSettings {
        admission: settings.admission,
        drain: settings.drain,
        weights: settings.weights,
        lane_mix: scenario.lane_mix,
        clients: scenario.clients,
        repeat_share: scenario.repeat_share,
        tick: scenario.tick,
    };
    Ok(simulate::run(&curve, &sim))
}

/// A one-line summary of a run.
pub fn summary(report: &SimReport) -> String {
    let sum = |f: fn(&simulate::Sample) -> u64| report.samples.iter().map(f).sum::<u64>();
    let peak = report.samples.iter().map(|s| s.depth).max().unwrap_or(0);
    let held = if report.quotes_known > 0 {
        format!(
            "{:.1}%",
            100.0 * report.quotes_held as f64 / report.quotes_known as f64
        )
    } else {
        "n/a".to_owned()
    };
    format!(
        "{} arrivals, {} admitted, {} refused 429, {} refused 503, {} would-refuse (shadow), {} issued; peak queue {}; quoted range held for {} of issued",
        sum(|s| s.arrivals),
        sum(|s| s.admitted),
        sum(|s| s.refused_429),
        sum(|s| s.refused_503),
        sum(|s| s.would_refuse),
        report.issued,
        peak,
        held
    )
}

/// The example launch day: `base` arrivals per second off-peak, 20× that at the opening
/// after an hour, halving every hour, over `hours`.
pub fn launch_day(base: f64, spike: f64, hours: f64) -> ArrivalCurve {
    ArrivalCurve::launch_day(base, spike, 3600.0, 3600.0, hours * 3600.0)
}
