//! `edld throttle …`: `show`, `set`, `pause` and `resume` talk to the admin listener's
//! throttle API with the operator's API key (`show` falls back to the data directory, then
//! to the configured defaults, while edld is stopped); `simulate` runs the throttle
//! simulator over an arrival curve with the settings of a configuration file and `--set`
//! changes, and writes a CSV and an SVG chart; `launch-day` writes an example arrival
//! curve.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{Map, Value};
use ureq::http::Method;

use super::admin::Admin;
use super::{Exit, OperatorKey, daemon_answers, load};
use crate::clock::Clock;
use crate::config::{Config, Overrides};
use crate::domain::throttle::settings::{NAMES, ThrottleSettings};
use crate::domain::throttle::simulate::{self, ArrivalCurve, SimReport, SimSettings};

/// `edld throttle …`.
#[derive(Subcommand)]
pub enum ThrottleCommand {
    /// Print every rate, burst, bound, lane weight, opening time and mode in force (with
    /// edld stopped: those stored in the data directory, else the configured defaults).
    Show {
        #[command(flatten)]
        target: ThrottleTarget,
    },
    /// Change settings: `edld throttle set drain.rate=500 client.mode=shadow`. In force
    /// within a second, audited, kept across restarts.
    Set {
        #[command(flatten)]
        target: ThrottleTarget,
        /// `name=value` pairs (see `edld throttle show` for the names).
        #[arg(required = true)]
        changes: Vec<String>,
    },
    /// Pause draining (admission goes on; waits show as unknown).
    Pause {
        #[command(flatten)]
        target: ThrottleTarget,
    },
    /// Resume draining.
    Resume {
        #[command(flatten)]
        target: ThrottleTarget,
    },
    /// Run the admission, queue and pacer code on a virtual clock over an arrival curve
    /// and write a CSV and an SVG chart.
    Simulate {
        /// Arrival curve: `seconds,per_second` lines, linearly interpolated.
        #[arg(long)]
        arrivals: PathBuf,
        /// Settings from this configuration's `[throttle]` tables (default: built-in).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Setting changes on top, `name=value` (repeatable).
        #[arg(long = "set")]
        changes: Vec<String>,
        /// Share of arrivals per lane: window,reissue,first.
        #[arg(long, default_value = "0.02,0.03,0.95")]
        lane_mix: String,
        /// Gateway clients the arrivals come through.
        #[arg(long, default_value_t = 8)]
        clients: u32,
        /// Share of arrivals that repeat a recent licence (retries, hammering).
        #[arg(long, default_value_t = 0.05)]
        repeat_share: f64,
        /// CSV output, one line per simulated minute.
        #[arg(long, default_value = "simulation.csv")]
        out_csv: PathBuf,
        /// SVG chart output.
        #[arg(long, default_value = "simulation.svg")]
        out_svg: PathBuf,
    },
    /// Write an example launch-day arrival curve (CSV).
    LaunchDay {
        /// Off-peak arrivals per second.
        #[arg(long, default_value_t = 200.0)]
        base: f64,
        /// Arrivals at the opening, as a multiple of the base.
        #[arg(long, default_value_t = 20.0)]
        spike: f64,
        /// Hours to cover.
        #[arg(long, default_value_t = 24.0)]
        hours: f64,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Which daemon a throttle command talks to.
#[derive(Args, Clone)]
pub struct ThrottleTarget {
    #[command(flatten)]
    key: OperatorKey,
    /// Configuration (for the admin address, the data directory and the defaults).
    #[arg(long)]
    config: Option<PathBuf>,
}

/// Runs `edld throttle …`; `clock` tells `set` whether an opening time is still ahead.
pub fn command(command: ThrottleCommand, overrides: &Overrides, clock: Arc<dyn Clock>) -> Exit {
    let mut out = std::io::stdout();
    let result = match command {
        ThrottleCommand::Simulate {
            arrivals,
            config,
            changes,
            lane_mix,
            clients,
            repeat_share,
            out_csv,
            out_svg,
        } => simulate_command(
            &arrivals,
            config.as_deref(),
            &changes,
            &lane_mix,
            clients,
            repeat_share,
            (&out_csv, &out_svg),
            overrides,
            clock.as_ref(),
        ),
        ThrottleCommand::LaunchDay {
            base,
            spike,
            hours,
            out: path,
        } => std::fs::write(&path, launch_day(base, spike, hours).to_csv())
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
            .map(|()| println!("wrote {}", path.display())),
        ThrottleCommand::Show { target } => match load(target.config.as_deref(), overrides) {
            Ok(config) => show_command(&target, &config, &mut out),
            Err(exit) => return exit,
        },
        ThrottleCommand::Set { target, changes } => match admin(&target, overrides) {
            Ok(admin) => set(&admin, &changes, clock.as_ref(), &mut out),
            Err(exit) => return exit,
        },
        ThrottleCommand::Pause { target } => match admin(&target, overrides) {
            Ok(admin) => pause(&admin, true, &mut out),
            Err(exit) => return exit,
        },
        ThrottleCommand::Resume { target } => match admin(&target, overrides) {
            Ok(admin) => pause(&admin, false, &mut out),
            Err(exit) => return exit,
        },
    };
    match result {
        Ok(()) => Exit::Success,
        Err(e) => {
            eprintln!("edld throttle: {e:#}");
            Exit::Software
        }
    }
}

/// The admin listener of the configuration (`--admin-listen`, default 127.0.0.1:8081) and
/// the operator key; [`Exit::Config`] if the configuration is invalid.
fn admin(target: &ThrottleTarget, overrides: &Overrides) -> Result<Admin, Exit> {
    let config = load(target.config.as_deref(), overrides)?;
    let key = target.key.resolve(&config.data_dir).map_err(|e| {
        eprintln!("edld throttle: {e:#}");
        Exit::Software
    })?;
    Ok(Admin {
        addr: config.admin_listen,
        key,
    })
}

/// `show` through the running daemon, else from the data directory.
fn show_command(
    target: &ThrottleTarget,
    config: &Config,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if daemon_answers(config.admin_listen) {
        let admin = Admin {
            addr: config.admin_listen,
            key: target.key.resolve(&config.data_dir)?,
        };
        return show(&admin, out);
    }
    let settings = match stored_settings(&config.data_dir)? {
        Some(stored) => {
            eprintln!(
                "edld throttle: nothing answers on {}: showing the settings stored in {}",
                config.admin_listen,
                config.data_dir.display()
            );
            stored
        }
        None => {
            eprintln!(
                "edld throttle: nothing answers on {} and {} holds no settings: showing the configured defaults",
                config.admin_listen,
                config.data_dir.display()
            );
            config.throttle
        }
    };
    let values: HashMap<&str, String> = settings.entries().into_iter().collect();
    print_settings(|name| values.get(name).cloned(), out)?;
    writeln!(out, "\nqueue: unknown (edld is not running)")?;
    Ok(())
}

/// The throttle settings a stopped daemon keeps in `data_dir` (which then win over the
/// configuration file's), or `None` if it holds none. Opens the store itself, as
/// `edld clients` and `edld audit` do offline.
fn stored_settings(data_dir: &Path) -> anyhow::Result<Option<ThrottleSettings>> {
    use crate::store::Store;
    use crate::store::sled::SledStore;
    // No database yet: nothing stored, and opening one would create it.
    if !data_dir.join("db").exists() {
        return Ok(None);
    }
    let store = SledStore::open(data_dir, None)
        .with_context(|| format!("opening the store in {}", data_dir.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    runtime.block_on(async {
        let settings = store.throttle_settings().await;
        store.close().await?;
        Ok(settings?)
    })
}

/// Prints every setting in force, one `name = value` per line with what it means, then the
/// queue.
pub fn show(admin: &Admin, out: &mut impl Write) -> anyhow::Result<()> {
    let reply = admin.call(Method::GET, "/admin/v1/throttle", None)?;
    print_settings(
        |name| reply["values"][name].as_str().map(str::to_owned),
        out,
    )?;
    writeln!(out, "\nqueue: {}", reply["queue"])?;
    Ok(())
}

/// Applies `name=value` changes and prints each as `name: old → new`.
pub fn set(
    admin: &Admin,
    changes: &[String],
    clock: &dyn Clock,
    out: &mut impl Write,
) -> anyhow::Result<()> {
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
    let reply = admin.call(
        Method::PATCH,
        "/admin/v1/throttle",
        Some(&Value::Object(body)),
    )?;
    print_changes(&reply, out)?;
    // An opening time ahead holds back all issuance until then: say so plainly.
    if let Some(opening) = reply["changed"]["opening_at"]["new"]
        .as_str()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|t| *t > clock.now().0)
    {
        writeln!(
            out,
            "nothing is issued before {}; applications accepted until then are put in random order at that time (opening_at=none lifts it)",
            super::rfc3339(opening)
        )?;
    }
    Ok(())
}

/// Pauses (`true`) or resumes draining.
pub fn pause(admin: &Admin, paused: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let path = if paused {
        "/admin/v1/throttle/pause"
    } else {
        "/admin/v1/throttle/resume"
    };
    let reply = admin.call(Method::POST, path, None)?;
    print_changes(&reply, out)
}

fn print_settings(
    value: impl Fn(&str) -> Option<String>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    for (name, meaning) in NAMES {
        let shown = value(name).map_or_else(|| "?".to_owned(), |v| readable(name, &v));
        writeln!(out, "{name:<20} = {shown:<12} # {meaning}")?;
    }
    Ok(())
}

fn print_changes(reply: &Value, out: &mut impl Write) -> anyhow::Result<()> {
    let changed = reply["changed"].as_object().cloned().unwrap_or_default();
    if changed.is_empty() {
        writeln!(out, "no change")?;
    }
    for (name, change) in changed {
        let side = |which: &str| {
            change[which]
                .as_str()
                .map_or_else(|| "?".to_owned(), |v| readable(&name, v))
        };
        writeln!(out, "{name}: {} → {}", side("old"), side("new"))?;
    }
    Ok(())
}

/// A setting's value for a person: rates to four significant digits with their period
/// when below one a second (`0.0333 (1 per 30 s)`), the opening time also as RFC 3339.
/// The admin API keeps the exact values; this is display only.
pub fn readable(name: &str, value: &str) -> String {
    if name.ends_with(".rate")
        && let Ok(rate) = value.parse::<f64>()
        && rate.is_finite()
        && rate > 0.0
    {
        return readable_rate(rate);
    }
    if name == "opening_at"
        && let Ok(at) = value.parse::<u64>()
    {
        return format!("{value} ({})", super::rfc3339(at));
    }
    value.to_owned()
}

fn readable_rate(rate: f64) -> String {
    let shown = significant(rate, 4);
    if rate >= 1.0 {
        return shown;
    }
    format!("{shown} (1 per {} s)", significant(1.0 / rate, 4))
}

/// `x` with at most `digits` significant digits, without trailing zeros.
fn significant(x: f64, digits: i32) -> String {
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    let text = format!("{x:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[allow(clippy::too_many_arguments)]
fn simulate_command(
    arrivals: &Path,
    config: Option<&Path>,
    changes: &[String],
    lane_mix: &str,
    clients: u32,
    repeat_share: f64,
    (out_csv, out_svg): (&Path, &Path),
    overrides: &Overrides,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
    let mut settings = match config {
        Some(path) => {
            Config::load(Some(path), overrides)
                .with_context(|| format!("{}", path.display()))?
                .throttle
        }
        None => ThrottleSettings::default(),
    };
    for change in changes {
        let (name, value) = change
            .split_once('=')
            .with_context(|| format!("--set {change:?}: expected name=value"))?;
        settings = settings.change(name.trim(), value.trim())?;
    }
    let mix: Vec<f64> = lane_mix
        .split(',')
        .map(|v| v.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .context("--lane-mix: three numbers, window,reissue,first")?;
    let lane_mix: [f64; 3] = mix
        .try_into()
        .map_err(|_| anyhow::anyhow!("--lane-mix: three numbers, window,reissue,first"))?;
    let scenario = Scenario {
        lane_mix,
        clients,
        repeat_share,
        ..Scenario::default()
    };
    // How long the simulation took is shown to the person who ran it; it decides nothing.
    let started = clock.monotonic();
    let report = simulate(arrivals, &settings, &scenario)?;
    let title = format!(
        "{}: drain {}/s, queue bound {} s, intake {}/s",
        arrivals.display(),
        settings.drain.rate,
        settings.admission.max_wait_seconds,
        settings.admission.intake.rate
    );
    std::fs::write(out_csv, report.to_csv())
        .with_context(|| format!("writing {}", out_csv.display()))?;
    let svg = report
        .to_svg(&title)
        .map_err(|e| anyhow::anyhow!("drawing: {e}"))?;
    std::fs::write(out_svg, svg).with_context(|| format!("writing {}", out_svg.display()))?;
    println!("{}", summary(&report));
    println!(
        "simulated {:.1} h in {:.1} s; wrote {} and {}",
        report.samples.len() as f64 / 60.0,
        clock.monotonic().saturating_sub(started).as_secs_f64(),
        out_csv.display(),
        out_svg.display()
    );
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

#[cfg(test)]
mod tests;
