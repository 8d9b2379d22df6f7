//! Everything an operator can set about the throttles, as one value: admission limits and
//! modes, the drain's pace, the cap on work in flight, lane weights, the opening time and
//! whether draining is paused. Changes arrive as `name = value` pairs (the admin API and
//! `edld throttle set` share [`ThrottleSettings::change`]), so one parser checks them all.

use crate::domain::throttle::admission::{AdmissionSettings, Mode};
use crate::domain::throttle::keyed::LimitSettings;
use crate::domain::throttle::lanes::{Lane, LaneWeights};
use crate::domain::throttle::pacer::PaceSettings;

/// The whole throttle configuration in force.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSettings {
    /// Admission limits and their modes.
    pub admission: AdmissionSettings,
    /// Signatures per second and the burst after an idle spell.
    pub drain: PaceSettings,
    /// Most applications signed but not yet durable at once.
    pub max_in_flight: u32,
    /// Lane weights.
    pub weights: LaneWeights,
    /// Applications accepted before this time (Unix seconds) are put in random order at
    /// it; nothing is issued before it.
    pub opening_at: Option<u64>,
    /// Whether draining is paused.
    pub paused: bool,
}

impl ThrottleSettings {
    /// One node's share of these cluster-wide settings when `nodes` nodes serve one
    /// state: every rate and burst divided among them (a burst never below 1), so the
    /// nodes together drain and admit what the operator set. Per-client and per-licence
    /// limits are divided too: a client's requests may reach any node.
    pub(crate) fn share(&self, nodes: u64) -> ThrottleSettings {
        if nodes <= 1 {
            return *self;
        }
        let n = nodes as f64;
        let burst = |b: u32| (b / nodes.min(u64::from(u32::MAX)) as u32).max(1);
        let mut share = *self;
        share.drain.rate /= n;
        share.drain.burst = burst(share.drain.burst);
        let admission = &mut share.admission;
        admission.client.per_second /= n;
        admission.client.burst = burst(admission.client.burst);
        admission.licence.per_second /= n;
        admission.licence.burst = burst(admission.licence.burst);
        admission.intake.rate /= n;
        admission.intake.burst = burst(admission.intake.burst);
        share
    }
}

impl Default for ThrottleSettings {
    /// Defaults sized for one 2-core machine: signing at 1 000/s, any one client (a gateway
    /// applies for millions of holders) at 5 000/s, a licence twice a minute, intake at
    /// 20 000/s, and a queue bound of two hours of drain.
    fn default() -> Self {
        ThrottleSettings {
            admission: AdmissionSettings {
                client: LimitSettings {
                    per_second: 5_000.0,
                    burst: 5_000,
                },
                client_mode: Mode::Enforce,
                licence: LimitSettings {
                    per_second: 1.0 / 30.0,
                    burst: 5,
                },
                licence_mode: Mode::Enforce,
                intake: PaceSettings {
                    rate: 20_000.0,
                    burst: 20_000,
                },
                intake_mode: Mode::Enforce,
                max_wait_seconds: 7_200,
                queue_mode: Mode::Enforce,
            },
            drain: PaceSettings {
                rate: 1_000.0,
                burst: 50,
            },
            max_in_flight: 1_024,
            weights: LaneWeights::default(),
            opening_at: None,
            paused: false,
        }
    }
}

/// Every name [`ThrottleSettings::change`] accepts, with what it takes.
pub(crate) const NAMES: &[(&str, &str)] = &[
    ("drain.rate", "signatures per second (> 0)"),
    (
        "drain.burst",
        "signatures at once after an idle spell (>= 1)",
    ),
    (
        "drain.max_in_flight",
        "applications signed but not yet durable (>= 1)",
    ),
    ("client.rate", "applications per second per client (> 0)"),
    ("client.burst", "applications at once per client (>= 1)"),
    ("client.mode", "off | shadow | enforce"),
    ("licence.rate", "applications per second per licence (> 0)"),
    ("licence.burst", "applications at once per licence (>= 1)"),
    ("licence.mode", "off | shadow | enforce"),
    (
        "intake.rate",
        "applications accepted per second, all clients (> 0)",
    ),
    ("intake.burst", "applications accepted at once (>= 1)"),
    ("intake.mode", "off | shadow | enforce"),
    (
        "queue.max_wait",
        "longest expected wait quoted to a new arrival, seconds (>= 1)",
    ),
    ("queue.mode", "off | shadow | enforce"),
    ("lanes.window", "weight of the window lane"),
    ("lanes.reissue", "weight of the re-issue lane"),
    ("lanes.first", "weight of the first-application lane"),
    ("opening_at", "Unix seconds, RFC 3339 time, or none"),
    ("paused", "true | false"),
];

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// Not a setting.
    #[error("unknown setting {0:?}")]
    Unknown(String),
    /// The value does not fit the setting.
    #[error("{name} = {value:?}: expected {expected}")]
    Value {
        /// The setting.
        name: String,
        /// The value given.
        value: String,
        /// What it takes.
        expected: &'static str,
    },
    /// The changes together leave every lane with weight 0.
    #[error("at least one lane weight must be above 0")]
    NoLane,
}

/// A value as given for a setting, before it is checked: what a JSON body, a TOML table
/// or a command line holds. Numbers stay numbers (no round trip through text); text is
/// read as the setting's type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Given<'a> {
    /// A whole number.
    Integer(i128),
    /// A number with a fraction.
    Float(f64),
    /// Text, as typed (`500`, `shadow`, `2030-01-01T08:00:00Z`, `none`).
    Text(&'a str),
    /// A boolean.
    Bool(bool),
    /// No value (`null`): only `opening_at` takes it, as "none".
    Nothing,
}

impl std::fmt::Display for Given<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Given::Integer(n) => write!(f, "{n}"),
            Given::Float(x) => write!(f, "{x}"),
            Given::Text(t) => f.write_str(t),
            Given::Bool(b) => write!(f, "{b}"),
            Given::Nothing => f.write_str("null"),
        }
    }
}

/// One setting with its new value, typed and checked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Setting {
    /// `drain.rate`.
    DrainRate(f64),
    /// `drain.burst`.
    DrainBurst(u32),
    /// `drain.max_in_flight`.
    MaxInFlight(u32),
    /// `client.rate`.
    ClientRate(f64),
    /// `client.burst`.
    ClientBurst(u32),
    /// `client.mode`.
    ClientMode(Mode),
    /// `licence.rate`.
    LicenceRate(f64),
    /// `licence.burst`.
    LicenceBurst(u32),
    /// `licence.mode`.
    LicenceMode(Mode),
    /// `intake.rate`.
    IntakeRate(f64),
    /// `intake.burst`.
    IntakeBurst(u32),
    /// `intake.mode`.
    IntakeMode(Mode),
    /// `queue.max_wait`, seconds.
    QueueMaxWait(u64),
    /// `queue.mode`.
    QueueMode(Mode),
    /// `lanes.window`, `lanes.reissue`, `lanes.first`.
    LaneWeight(Lane, u32),
    /// `opening_at`, Unix seconds or none.
    OpeningAt(Option<u64>),
    /// `paused`.
    Paused(bool),
}

impl Setting {
    /// The setting `name` with `value`, checked against what it takes.
    pub fn new(name: &str, value: Given<'_>) -> Result<Setting, ChangeError> {
        let expected = NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, e)| *e)
            .ok_or_else(|| ChangeError::Unknown(name.to_owned()))?;
        let value = match value {
            Given::Text(t) => Given::Text(t.trim()),
            other => other,
        };
        let bad = || ChangeError::Value {
            name: name.to_owned(),
            value: value.to_string(),
            expected,
        };
        let rate = || -> Result<f64, ChangeError> {
            let r = match value {
                Given::Integer(n) => n as f64,
                Given::Float(x) => x,
                Given::Text(t) => t.parse::<f64>().map_err(|_| bad())?,
                _ => return Err(bad()),
            };
            (r.is_finite() && r > 0.0 && r <= 1e9)
                .then_some(r)
                .ok_or_else(bad)
        };
        let whole = || -> Result<u64, ChangeError> {
            match value {
                Given::Integer(n) => u64::try_from(n).map_err(|_| bad()),
                // 10.0 is the count 10.
                Given::Float(x) if x.fract() == 0.0 && (0.0..1e15).contains(&x) => Ok(x as u64),
                Given::Text(t) => t.parse::<u64>().map_err(|_| bad()),
                _ => Err(bad()),
            }
        };
        let count = |min: u32| -> Result<u32, ChangeError> {
            u32::try_from(whole()?)
                .ok()
                .filter(|n| *n >= min)
                .ok_or_else(bad)
        };
        let mode = || -> Result<Mode, ChangeError> {
            match value {
                Given::Text(t) => t.parse().map_err(|_| bad()),
                _ => Err(bad()),
            }
        };
        Ok(match name {
            "drain.rate" => Setting::DrainRate(rate()?),
            "drain.burst" => Setting::DrainBurst(count(1)?),
            "drain.max_in_flight" => Setting::MaxInFlight(count(1)?),
            "client.rate" => Setting::ClientRate(rate()?),
            "client.burst" => Setting::ClientBurst(count(1)?),
            "client.mode" => Setting::ClientMode(mode()?),
            "licence.rate" => Setting::LicenceRate(rate()?),
            "licence.burst" => Setting::LicenceBurst(count(1)?),
            "licence.mode" => Setting::LicenceMode(mode()?),
            "intake.rate" => Setting::IntakeRate(rate()?),
            "intake.burst" => Setting::IntakeBurst(count(1)?),
            "intake.mode" => Setting::IntakeMode(mode()?),
            "queue.max_wait" => Setting::QueueMaxWait(u64::from(count(1)?)),
            "queue.mode" => Setting::QueueMode(mode()?),
            "lanes.window" => Setting::LaneWeight(Lane::Window, count(0)?),
            "lanes.reissue" => Setting::LaneWeight(Lane::Reissue, count(0)?),
            "lanes.first" => Setting::LaneWeight(Lane::First, count(0)?),
            "opening_at" => Setting::OpeningAt(match value {
                Given::Nothing => None,
                Given::Text(t) => opening(t).ok_or_else(bad)?,
                _ => Some(whole()?),
            }),
            "paused" => Setting::Paused(match value {
                Given::Bool(b) => b,
                Given::Text("true") => true,
                Given::Text("false") => false,
                _ => return Err(bad()),
            }),
            _ => return Err(ChangeError::Unknown(name.to_owned())),
        })
    }
}

/// One setting that a change moved: its name, and its value before and after as
/// `entries` shows them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Moved {
    /// The setting.
    pub name: &'static str,
    /// Before.
    pub old: String,
    /// After.
    pub new: String,
}

impl ThrottleSettings {
    /// The settings with `setting` applied; refused if no lane would be served.
    pub fn with(mut self, setting: Setting) -> Result<ThrottleSettings, ChangeError> {
        let a = &mut self.admission;
        match setting {
            Setting::DrainRate(r) => self.drain.rate = r,
            Setting::DrainBurst(n) => self.drain.burst = n,
            Setting::MaxInFlight(n) => self.max_in_flight = n,
            Setting::ClientRate(r) => a.client.per_second = r,
            Setting::ClientBurst(n) => a.client.burst = n,
            Setting::ClientMode(m) => a.client_mode = m,
            Setting::LicenceRate(r) => a.licence.per_second = r,
            Setting::LicenceBurst(n) => a.licence.burst = n,
            Setting::LicenceMode(m) => a.licence_mode = m,
            Setting::IntakeRate(r) => a.intake.rate = r,
            Setting::IntakeBurst(n) => a.intake.burst = n,
            Setting::IntakeMode(m) => a.intake_mode = m,
            Setting::QueueMaxWait(s) => a.max_wait_seconds = s,
            Setting::QueueMode(m) => a.queue_mode = m,
            Setting::LaneWeight(Lane::Window, w) => self.weights.window = w,
            Setting::LaneWeight(Lane::Reissue, w) => self.weights.reissue = w,
            Setting::LaneWeight(Lane::First, w) => self.weights.first = w,
            Setting::OpeningAt(t) => self.opening_at = t,
            Setting::Paused(p) => self.paused = p,
        }
        if self.weights.window == 0 && self.weights.reissue == 0 && self.weights.first == 0 {
            return Err(ChangeError::NoLane);
        }
        Ok(self)
    }

    /// The settings with `name` set to `value` as typed (a command line, a test).
    pub fn change(self, name: &str, value: &str) -> Result<ThrottleSettings, ChangeError> {
        self.with(Setting::new(name, Given::Text(value))?)
    }

    /// The settings that differ from `old`, in [`NAMES`] order.
    pub fn moved_from(&self, old: &ThrottleSettings) -> Vec<Moved> {
        old.entries()
            .into_iter()
            .zip(self.entries())
            .filter(|((_, before), (_, after))| before != after)
            .map(|((name, old), (_, new))| Moved { name, old, new })
            .collect()
    }

    /// Every setting as `(name, value)` text, in [`NAMES`] order: what `throttle show`
    /// prints and what [`ThrottleSettings::change`] reads back.
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        let a = &self.admission;
        let values = [
            self.drain.rate.to_string(),
            self.drain.burst.to_string(),
            self.max_in_flight.to_string(),
            a.client.per_second.to_string(),
            a.client.burst.to_string(),
            a.client_mode.as_str().to_owned(),
            a.licence.per_second.to_string(),
            a.licence.burst.to_string(),
            a.licence_mode.as_str().to_owned(),
            a.intake.rate.to_string(),
            a.intake.burst.to_string(),
            a.intake_mode.as_str().to_owned(),
            a.max_wait_seconds.to_string(),
            a.queue_mode.as_str().to_owned(),
            self.weights.window.to_string(),
            self.weights.reissue.to_string(),
            self.weights.first.to_string(),
            self.opening_at
                .map_or_else(|| "none".to_owned(), |t| t.to_string()),
            self.paused.to_string(),
        ];
        NAMES.iter().map(|(n, _)| *n).zip(values).collect()
    }
}

/// An opening time: `none`, Unix seconds, or an RFC 3339 time.
fn opening(value: &str) -> Option<Option<u64>> {
    if value == "none" || value.is_empty() {
        return Some(None);
    }
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Some(seconds));
    }
    let t =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp()).ok().map(Some)
}

#[cfg(test)]
mod tests;
