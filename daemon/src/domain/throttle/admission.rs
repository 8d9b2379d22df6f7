//! Admission: whether an application may join the queue now. Four limits, each with a
//! mode `off | shadow | enforce`:
//!
//! * **client** — per authenticated client (governor, [`RetunableLimiter`]): abuse → 429;
//! * **licence** — per licence number, the same way: one holder hammering → 429;
//! * **intake** — a global bucket on accepted applications per second → 503;
//! * **queue** — a bound on the expected wait of a new arrival → 503.
//!
//! A shadow limit computes and reports its decision (`would_reject`) but admits. Every
//! refusal carries a `Retry-After` that is never earlier than the time a retry can succeed,
//! rounded up to whole seconds.

use std::time::Duration;

use governor::clock::Clock;

use crate::domain::throttle::keyed::{LimitSettings, RetunableLimiter};
use crate::domain::throttle::pacer::{PaceSettings, Pacer};

/// How a limit is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Not evaluated.
    Off,
    /// Evaluated and counted, never applied.
    Shadow,
    /// Evaluated and applied.
    Enforce,
}

impl Mode {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Shadow => "shadow",
            Mode::Enforce => "enforce",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(Mode::Off),
            "shadow" => Ok(Mode::Shadow),
            "enforce" => Ok(Mode::Enforce),
            other => Err(format!("mode {other:?} is not one of off, shadow, enforce")),
        }
    }
}

/// The limits, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitName {
    /// Per client.
    Client,
    /// Per licence number.
    Licence,
    /// Global intake rate.
    Intake,
    /// Queue bound (maximum expected wait).
    Queue,
}

impl LimitName {
    /// Every limit, in the order they are evaluated.
    pub const ALL: [LimitName; 4] = [
        LimitName::Client,
        LimitName::Licence,
        LimitName::Intake,
        LimitName::Queue,
    ];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitName::Client => "client",
            LimitName::Licence => "licence",
            LimitName::Intake => "intake",
            LimitName::Queue => "queue",
        }
    }

    /// The HTTP status a refusal by this limit gets: 429 for one caller's abuse, 503 when
    /// the service as a whole is full.
    pub fn status(self) -> u16 {
        match self {
            LimitName::Client | LimitName::Licence => 429,
            LimitName::Intake | LimitName::Queue => 503,
        }
    }
}

/// Everything an operator can set about admission.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdmissionSettings {
    /// Per-client quota.
    pub client: LimitSettings,
    /// Mode of the per-client limit.
    pub client_mode: Mode,
    /// Per-licence quota.
    pub licence: LimitSettings,
    /// Mode of the per-licence limit.
    pub licence_mode: Mode,
    /// Global intake: applications accepted per second, with a burst.
    pub intake: PaceSettings,
    /// Mode of the intake limit.
    pub intake_mode: Mode,
    /// The longest expected wait a new arrival may be quoted; beyond it, 503.
    pub max_wait_seconds: u64,
    /// Mode of the queue bound.
    pub queue_mode: Mode,
}

/// What the queue looks like to the queue bound.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct QueueView {
    /// Applications waiting that count against the bound.
    pub depth: u64,
    /// The drain rate to plan with: measured when known, the operator's target otherwise.
    pub drain_rate: f64,
}

/// A refusal, applied or shadowed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Refusal {
    /// Which limit.
    pub limit: LimitName,
    /// Whole seconds before a retry can succeed (at least 1).
    pub retry_after: u64,
    /// For the queue bound: seconds until the backlog is expected to clear.
    pub clears_in: Option<u64>,
}

/// The outcome of one admission check.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Admitted. `shadowed` lists the limits in shadow mode that would have refused.
    Admit {
        /// Shadow refusals.
        shadowed: Vec<Refusal>,
    },
    /// Refused by an enforced limit (shadow refusals before it are in `shadowed`).
    Refuse {
        /// The refusal applied.
        refusal: Refusal,
        /// Shadow refusals.
        shadowed: Vec<Refusal>,
    },
}

/// Admission state: the two keyed limiters and the intake bucket.
pub(crate) struct Admission<C: Clock + Clone> {
    settings: AdmissionSettings,
    clients: RetunableLimiter<String, C>,
    licences: RetunableLimiter<String, C>,
    intake: Pacer,
}

impl<C: Clock + Clone> Admission<C> {
    /// Admission with `settings`, with `clock` for the keyed limiters and `now` (monotonic)
    /// for the intake bucket.
    pub(crate) fn new(settings: AdmissionSettings, clock: C, now: Duration) -> Self {
        // Start with a full intake burst: the first arrivals after a quiet spell pass at once.
        let intake = Pacer::full(settings.intake, now);
        Admission {
            settings,
            clients: RetunableLimiter::new(settings.client, clock.clone()),
            licences: RetunableLimiter::new(settings.licence, clock),
            intake,
        }
    }

    /// Applies new settings from `now` on, keeping every client's and licence's recent use
    /// and the intake credit (clamped to the new burst).
    pub(crate) fn retune(&mut self, now: Duration, settings: AdmissionSettings) {
        if settings.client != self.settings.client {
            self.clients.retune(settings.client);
        }
        if settings.licence != self.settings.licence {
            self.licences.retune(settings.licence);
        }
        self.intake.retune(now, settings.intake);
        self.settings = settings;
    }

    /// Decides on one application by `client` for `licence` at `now`.
    pub(crate) fn check(
        &mut self,
        now: Duration,
        client: &str,
        licence: &str,
        queue: QueueView,
    ) -> Verdict {
        let settings = self.settings;
        let mut shadowed = Vec::new();
        let checks: [(LimitName, Mode); 4] = [
            (LimitName::Client, settings.client_mode),
            (LimitName::Licence, settings.licence_mode),
            (LimitName::Intake, settings.intake_mode),
            (LimitName::Queue, settings.queue_mode),
        ];
        for (limit, mode) in checks {
            if mode == Mode::Off {
                continue;
            }
            let refusal = match limit {
                LimitName::Client => keyed_refusal(limit, self.clients.check(&client.to_owned())),
                LimitName::Licence => {
                    keyed_refusal(limit, self.licences.check(&licence.to_owned()))
                }
                LimitName::Intake => self.intake_refusal(now),
                LimitName::Queue => queue_refusal(settings.max_wait_seconds, queue),
            };
            if let Some(refusal) = refusal {
                match mode {
                    Mode::Enforce => return Verdict::Refuse { refusal, shadowed },
                    Mode::Shadow | Mode::Off => shadowed.push(refusal),
                }
            }
        }
        Verdict::Admit { shadowed }
    }

    /// Gives back what an admitted application by `client` for `licence` counted against
    /// the per-client and per-licence limits (`shadowed`: its verdict's shadow refusals),
    /// when the application came to nothing because the store failed. Without this, the
    /// clients that retried through an outage of the database would be refused (429) for
    /// a long time after it came back, for applications that were never accepted.
    pub(crate) fn refund(&self, client: &str, licence: &str, shadowed: &[Refusal]) {
        let counted = |limit: LimitName, mode: Mode| {
            // A limit that was off counted nothing; a shadow refusal left its state as it was.
            mode != Mode::Off && !shadowed.iter().any(|r| r.limit == limit)
        };
        if counted(LimitName::Client, self.settings.client_mode) {
            self.clients.refund(&client.to_owned());
        }
        if counted(LimitName::Licence, self.settings.licence_mode) {
            self.licences.refund(&licence.to_owned());
        }
    }

    /// Forgets clients and licences that are fully rested (bounded memory).
    pub(crate) fn purge(&self) {
        self.clients.purge();
        self.licences.purge();
    }

    /// Clients and licences remembered by the keyed limits.
    pub(crate) fn tracked(&self) -> (usize, usize) {
        (self.clients.len(), self.licences.len())
    }

    fn intake_refusal(&mut self, now: Duration) -> Option<Refusal> {
        if self.intake.take(now, 1) == 1 {
            return None;
        }
        let wait = self.intake.next_cell_in(now).unwrap_or(Duration::MAX);
        Some(Refusal {
            limit: LimitName::Intake,
            retry_after: whole_seconds(wait),
            clears_in: None,
        })
    }
}

fn keyed_refusal(
    limit: LimitName,
    result: Result<(), crate::domain::throttle::keyed::Limited>,
) -> Option<Refusal> {
    result.err().map(|limited| Refusal {
        limit,
        retry_after: whole_seconds(limited.retry_after),
        clears_in: None,
    })
}

/// The queue bound: a new arrival would wait `(depth + 1) / rate`; refuse when that is
/// more than `max_wait`. A retry succeeds once the backlog has drained to the bound.
pub(crate) fn queue_refusal(max_wait_seconds: u64, queue: QueueView) -> Option<Refusal> {
    let rate = queue.drain_rate;
    if !(rate.is_finite() && rate > 0.0) {
        // Nothing drains: only an empty queue admits.
        return (queue.depth > 0).then_some(Refusal {
            limit: LimitName::Queue,
            retry_after: 60,
            clears_in: None,
        });
    }
    let allowed = (max_wait_seconds as f64 * rate).floor();
    let position = queue.depth as f64 + 1.0;
    if position <= allowed {
        return None;
    }
    let excess = position - allowed;
    Some(Refusal {
        limit: LimitName::Queue,
        retry_after: whole_seconds(Duration::from_secs_f64((excess / rate).min(1e9))),
        clears_in: Some(whole_seconds(Duration::from_secs_f64(
            (queue.depth as f64 / rate).min(1e9),
        ))),
    })
}

/// Rounds up to whole seconds, at least 1: a client told "retry after N" must succeed then.
pub(crate) fn whole_seconds(wait: Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

#[cfg(test)]
mod tests;
