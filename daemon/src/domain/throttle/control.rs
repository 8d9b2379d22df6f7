//! The throttle in one value: admission, the drain pacer, the lane scheduler and the drain
//! meters, driven by monotonic `now` arguments. The daemon keeps one behind a mutex (the
//! request handlers ask it to admit and to quote waits, the drain thread asks it for cells
//! and reports what it drained); tests drive it with a fake clock.
//!
//! **Invariants:** a retune keeps every client's recent use and the pacer's earned credit
//! (clamped to the new burst), so it takes effect at once with no lockout and no windfall;
//! the cells granted per tick never exceed the cap on work in flight.

use std::time::Duration;

use governor::clock::Clock;

use crate::domain::throttle::admission::{Admission, QueueView, Refusal, Verdict};
use crate::domain::throttle::estimate::{DrainMeter, WaitEstimate, lane_estimate};
use crate::domain::throttle::lanes::{Lane, Scheduler};
use crate::domain::throttle::pacer::Pacer;
use crate::domain::throttle::settings::ThrottleSettings;

/// Admission, pacing, scheduling and measurement together.
pub struct Throttle<C: Clock + Clone> {
    settings: ThrottleSettings,
    admission: Admission<C>,
    pacer: Pacer,
    scheduler: Scheduler,
    all: DrainMeter,
    lanes: [DrainMeter; 3],
    step_cap: u64,
}

impl<C: Clock + Clone> Throttle<C> {
    /// A throttle with `settings`; `clock` drives the keyed limits and must agree with the
    /// `now` passed to every method.
    pub fn new(settings: ThrottleSettings, clock: C, now: Duration) -> Self {
        let mut pacer = Pacer::new(settings.drain, now);
        if settings.paused {
            pacer.pause(now);
        }
        Throttle {
            settings,
            admission: Admission::new(settings.admission, clock, now),
            pacer,
            scheduler: Scheduler::default(),
            all: DrainMeter::new(),
            lanes: Default::default(),
            step_cap: u64::MAX,
        }
    }

    /// Grants at most `cap` cells per tick (one drain step signs at most that many).
    pub fn set_step_cap(&mut self, cap: u64) {
        self.step_cap = cap.max(1);
    }

    /// The settings in force.
    pub fn settings(&self) -> ThrottleSettings {
        self.settings
    }

    /// Applies new settings from `now` on.
    pub fn retune(&mut self, now: Duration, settings: ThrottleSettings) {
        if settings.drain.rate != self.settings.drain.rate
            || settings.weights != self.settings.weights
        {
            // What was measured at the old rate or split says nothing about the new one:
            // waits are unknown again until the new pace is measured.
            self.all = DrainMeter::new();
            self.lanes = Default::default();
        }
        self.admission.retune(now, settings.admission);
        self.pacer.retune(now, settings.drain);
        match (self.settings.paused, settings.paused) {
            (false, true) => self.pacer.pause(now),
            (true, false) => self.pacer.resume(now),
            _ => {}
        }
        self.settings = settings;
    }

    /// Whether draining is paused.
    pub fn is_paused(&self) -> bool {
        self.settings.paused
    }

    /// Decides on an application by `client` for `licence` joining `lane`, while `depths`
    /// (by lane index) wait. The queue bound applies to the wait the arrival would get in
    /// its own lane.
    pub fn admit(
        &mut self,
        now: Duration,
        client: &str,
        licence: &str,
        lane: Lane,
        depths: &[u64; 3],
    ) -> Verdict {
        let view = QueueView {
            depth: depths[lane.index()],
            drain_rate: self.planning_rate(now, lane, depths),
        };
        self.admission.check(now, client, licence, view)
    }

    /// Gives back the per-client and per-licence counts of an admitted application that
    /// came to nothing because the store failed (see `Admission::refund`).
    pub fn refund(&self, client: &str, licence: &str, shadowed: &[Refusal]) {
        self.admission.refund(client, licence, shadowed);
    }

    /// Cells per second `lane` can plan with: its own measured rate, or the whole drain's
    /// (measured, else the target) times the lane's weighted share.
    pub fn planning_rate(&self, now: Duration, lane: Lane, depths: &[u64; 3]) -> f64 {
        if let Some((rate, _)) = self.lanes[lane.index()].rate(now) {
            return rate;
        }
        let all = self.measured_rate(now).unwrap_or(self.settings.drain.rate);
        all * self.settings.weights.share(lane, depths)
    }

    /// How many to take from each lane now, with `depths` waiting and `in_flight` signed
    /// but not yet durable. What is granted is spent: the caller must drain it.
    pub fn take(&mut self, now: Duration, depths: &[u64; 3], in_flight: u64) -> [u64; 3] {
        if self.settings.paused {
            // The pacer keeps credit earned before a pause; none of it is spent while paused.
            return [0; 3];
        }
        let room = u64::from(self.settings.max_in_flight).saturating_sub(in_flight);
        let want = depths.iter().sum::<u64>().min(room).min(self.step_cap);
        if want == 0 {
            return [0; 3];
        }
        let cells = self.pacer.take(now, want);
        self.scheduler.split(cells, depths, &self.settings.weights)
    }

    /// Records what a tick drained (by lane) and what still waits afterwards.
    pub fn record(&mut self, now: Duration, drained: &[u64; 3], depths: &[u64; 3]) {
        let backlogged = depths.iter().any(|d| *d > 0);
        self.all.record(now, drained.iter().sum(), backlogged);
        for lane in Lane::ALL {
            let i = lane.index();
            self.lanes[i].record(now, drained[i], depths[i] > 0);
        }
    }

    /// The wait quoted to a ticket at position `ahead` in `lane` (1 = next).
    pub fn estimate(
        &self,
        now: Duration,
        lane: Lane,
        ahead: u64,
        depths: &[u64; 3],
    ) -> WaitEstimate {
        let share = self.settings.weights.share(lane, depths);
        lane_estimate(
            &self.lanes[lane.index()],
            &self.all,
            now,
            ahead,
            share,
            self.settings.paused,
        )
    }

    /// The measured drain rate over busy seconds, once known.
    pub fn measured_rate(&self, now: Duration) -> Option<f64> {
        self.all.rate(now).map(|(rate, _)| rate)
    }

    /// The measured rate of one lane, once known.
    pub fn lane_rate(&self, now: Duration, lane: Lane) -> Option<f64> {
        self.lanes[lane.index()].rate(now).map(|(rate, _)| rate)
    }

    /// How often the drain should tick: often enough that a tick's worth of credit fits
    /// in the burst (so the pacer never caps what it earned between ticks), between 1 and
    /// 5 ms.
    pub fn tick(&self) -> Duration {
        let drain = self.settings.drain;
        let seconds = if drain.rate > 0.0 {
            f64::from(drain.burst.max(1)) / drain.rate / 2.0
        } else {
            1.0
        };
        Duration::from_secs_f64(seconds.clamp(0.001, 0.005))
    }

    /// How long until the pacer grants another cell (`None` while paused).
    pub fn next_cell_in(&mut self, now: Duration) -> Option<Duration> {
        self.pacer.next_cell_in(now)
    }

    /// Forgets rested clients and licences (bounded memory).
    pub fn purge(&self) {
        self.admission.purge();
    }

    /// Clients and licences remembered by the keyed limits.
    pub fn tracked(&self) -> (usize, usize) {
        self.admission.tracked()
    }
}

#[cfg(test)]
mod tests;
