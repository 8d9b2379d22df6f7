//! `edld throttle …` and `edld clients …`: the operators' command line. `show`, `set`,
//! `pause` and `resume` talk to the admin listener's throttle API with the operator's API
//! key; `simulate` runs the throttle simulator over an arrival curve with the settings of
//! a configuration file and `--set` changes, and writes a CSV and an SVG chart;
//! `launch-day` writes an example arrival curve. `clients add|list|revoke` use the admin
//! listener's client API while the daemon runs, and otherwise open the data directory
//! themselves ([`Clients::Offline`]), which is how the first operator key of a new
//! installation is made.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use hyper::Method;
use serde_json::{Map, Value};

use crate::audit::AuditRecord;
use crate::auth::{ApiClient, ApiClients, Caller, Role};
use crate::client::{Client, Reply};
use crate::domain::throttle::settings::{NAMES, ThrottleSettings};
use crate::domain::throttle::simulate::{self, ArrivalCurve, SimReport, SimSettings};
use crate::store::Store;
use crate::store::sled::SledStore;

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

/// Where `edld clients` makes its changes.
pub enum Clients {
    /// The running daemon, through its admin listener.
    Daemon(Admin),
    /// A stopped daemon's data directory, opened directly; changes are audited as made by
    /// `client` (`local:<user>`).
    Offline {
        /// The data directory.
        data_dir: std::path::PathBuf,
        /// Who is recorded in the audit log.
        client: String,
    },
}

impl Clients {
    /// Adds a client; returns it and its new API key.
    pub async fn add(
        &self,
        name: &str,
        role: Role,
        now: keys::UnixTime,
    ) -> anyhow::Result<(ApiClient, String)> {
        match self {
            Clients::Daemon(admin) => {
                let body = serde_json::json!({"name": name, "role": role.as_str()});
                let reply = admin
                    .call(Method::POST, "/admin/v1/clients", Some(&body))
                    .await?;
                let key = reply["api_key"]
                    .as_str()
                    .context("the daemon's answer holds no api_key")?
                    .to_owned();
                Ok((client_from_json(&reply)?, key))
            }
            Clients::Offline { data_dir, client } => {
                std::fs::create_dir_all(data_dir)
                    .with_context(|| format!("creating {}", data_dir.display()))?;
                let (store, clients) = open_offline(data_dir).await?;
                let (stored, key) = clients.prepare(name, role, now)?;
                let detail = format!("{name} {}", role.as_str());
                let audit = offline_audit(client, now, "client.add", &detail);
                let added = stored.client.clone();
                store.add_clients(vec![stored], vec![audit]).await?;
                store.close().await?;
                Ok((added, key))
            }
        }
    }

    /// Every client.
    pub async fn list(&self) -> anyhow::Result<Vec<ApiClient>> {
        match self {
            Clients::Daemon(admin) => {
                let reply = admin.call(Method::GET, "/admin/v1/clients", None).await?;
                reply["clients"]
                    .as_array()
                    .context("the daemon's answer holds no clients")?
                    .iter()
                    .map(client_from_json)
                    .collect()
            }
            Clients::Offline { data_dir, .. } => {
                anyhow::ensure!(data_dir.exists(), "{} does not exist", data_dir.display());
                let (store, clients) = open_offline(data_dir).await?;
                store.close().await?;
                Ok(clients.list())
            }
        }
    }

    /// Revokes a client's key.
    pub async fn revoke(&self, name: &str, now: keys::UnixTime) -> anyhow::Result<ApiClient> {
        match self {
            Clients::Daemon(admin) => {
                let path = format!("/admin/v1/clients/{}", percent_encode(name));
                let reply = admin.call(Method::DELETE, &path, None).await?;
                client_from_json(&reply["revoked"])
            }
            Clients::Offline { data_dir, client } => {
                anyhow::ensure!(data_dir.exists(), "{} does not exist", data_dir.display());
                let (store, clients) = open_offline(data_dir).await?;
                let role = clients
                    .get(name)
                    .map(|c| c.role)
                    .with_context(|| format!("no client named {name:?}"))?;
                let detail = format!("{name} {}", role.as_str());
                let audit = offline_audit(client, now, "client.revoke", &detail);
                let revoked = store.revoke_client(name, audit).await?;
                store.close().await?;
                Ok(revoked)
            }
        }
    }
}

/// Prints clients as a table.
pub fn print_clients(clients: &[ApiClient], out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(out, "{:<32} {:<10} ADDED", "NAME", "ROLE")?;
    for c in clients {
        let added = c
            .created_at
            .and_then(|t| i64::try_from(t.0).ok())
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| "-".to_owned());
        writeln!(out, "{:<32} {:<10} {added}", c.name, c.role.as_str())?;
    }
    Ok(())
}

fn client_from_json(value: &Value) -> anyhow::Result<ApiClient> {
    serde_json::from_value(value.clone()).context("a client in the daemon's answer")
}

async fn open_offline(data_dir: &Path) -> anyhow::Result<(SledStore, ApiClients)> {
    let store = SledStore::open(data_dir, None).with_context(|| {
        format!(
            "opening {} (if edld runs on it, give its --admin-listen address)",
            data_dir.display()
        )
    })?;
    let clients = ApiClients::new(store.clients().await?);
    Ok((store, clients))
}

/// The audit record of a change made on the data directory by `client`.
fn offline_audit(client: &str, now: keys::UnixTime, action: &str, detail: &str) -> AuditRecord {
    let caller = Caller {
        client: client.to_owned(),
        role: Role::Operator,
    };
    AuditRecord::change(&caller, now, action, None, Some(detail))
}

/// Percent-encodes a path segment (client names are plain, but stay safe).
fn percent_encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
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
