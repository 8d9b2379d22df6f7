//! Everything an operator can set about the throttles, as one value: admission limits and
//! modes, the drain's pace, the cap on work in flight, lane weights, the opening time and
//! whether draining is paused. Changes arrive as `name = value` pairs (the admin API and
//! `edld throttle set` share [`ThrottleSettings::change`]), so one parser checks them all.

use crate::domain::throttle::admission::{AdmissionSettings, Mode};
use crate::domain::throttle::keyed::LimitSettings;
use crate::domain::throttle::lanes::LaneWeights;
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
pub const NAMES: &[(&str, &str)] = &[
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

impl ThrottleSettings {
    /// The settings with `name` set to `value` (text, as typed).
    pub fn change(mut self, name: &str, value: &str) -> Result<ThrottleSettings, ChangeError> {
        let expected = NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, e)| *e)
            .ok_or_else(|| ChangeError::Unknown(name.to_owned()))?;
        let value = value.trim();
        let bad = || ChangeError::Value {
            name: name.to_owned(),
            value: value.to_owned(),
            expected,
        };
        let rate = || -> Result<f64, ChangeError> {
            value
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r > 0.0 && *r <= 1e9)
                .ok_or_else(bad)
        };
        let count = |min: u32| -> Result<u32, ChangeError> {
            value
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= min)
                .ok_or_else(bad)
        };
        let mode = || -> Result<Mode, ChangeError> { value.parse().map_err(|_| bad()) };
        let a = &mut self.admission;
        match name {
            "drain.rate" => self.drain.rate = rate()?,
            "drain.burst" => self.drain.burst = count(1)?,
            "drain.max_in_flight" => self.max_in_flight = count(1)?,
            "client.rate" => a.client.per_second = rate()?,
            "client.burst" => a.client.burst = count(1)?,
            "client.mode" => a.client_mode = mode()?,
            "licence.rate" => a.licence.per_second = rate()?,
            "licence.burst" => a.licence.burst = count(1)?,
            "licence.mode" => a.licence_mode = mode()?,
            "intake.rate" => a.intake.rate = rate()?,
            "intake.burst" => a.intake.burst = count(1)?,
            "intake.mode" => a.intake_mode = mode()?,
            "queue.max_wait" => a.max_wait_seconds = u64::from(count(1)?),
            "queue.mode" => a.queue_mode = mode()?,
            "lanes.window" => self.weights.window = count(0)?,
            "lanes.reissue" => self.weights.reissue = count(0)?,
            "lanes.first" => self.weights.first = count(0)?,
            "opening_at" => self.opening_at = opening(value).ok_or_else(bad)?,
            "paused" => {
                self.paused = match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad()),
                }
            }
            _ => return Err(ChangeError::Unknown(name.to_owned())),
        }
        if self.weights.window == 0 && self.weights.reissue == 0 && self.weights.first == 0 {
            return Err(ChangeError::NoLane);
        }
        Ok(self)
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
