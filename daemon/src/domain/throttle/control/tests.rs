use std::time::Duration;

use governor::clock::FakeRelativeClock;

use super::*;
use crate::domain::throttle::admission::{LimitName, Mode};
use crate::domain::throttle::estimate::WaitEstimate;

const TICK: Duration = Duration::from_millis(3);

fn throttle(settings: ThrottleSettings) -> (Throttle<FakeRelativeClock>, FakeRelativeClock) {
    let clock = FakeRelativeClock::default();
    (
        Throttle::new(settings, clock.clone(), Duration::ZERO),
        clock,
    )
}

fn settings(changes: &[(&str, &str)]) -> ThrottleSettings {
    changes
        .iter()
        .fold(ThrottleSettings::default(), |s, (n, v)| {
            s.change(n, v).unwrap()
        })
}

/// Ticks with a deep first lane from `from` for `seconds`; returns the cells granted.
fn drain(
    t: &mut Throttle<FakeRelativeClock>,
    clock: &FakeRelativeClock,
    from: Duration,
    seconds: u64,
) -> u64 {
    let mut now = from;
    let mut total = 0;
    while now < from + Duration::from_secs(seconds) {
        now += TICK;
        clock.advance(TICK);
        let depths = [0, 0, 1_000_000];
        let split = t.take(now, &depths, 0);
        t.record(now, &split, &depths);
        total += split.iter().sum::<u64>();
    }
    total
}

#[test]
fn a_drain_retune_holds_within_the_first_second() {
    for (from, to) in [("200", "2000"), ("2000", "200"), ("10", "1000")] {
        let (mut t, clock) = throttle(settings(&[("drain.rate", from), ("drain.burst", "10")]));
        drain(&mut t, &clock, Duration::ZERO, 10);
        let now = Duration::from_secs(10);
        let new = t.settings().change("drain.rate", to).unwrap();
        t.retune(now, new);
        let first_second = drain(&mut t, &clock, now, 1) as f64;
        let target: f64 = to.parse().unwrap();
        // Within 2% of the new rate, plus at most the burst carried over.
        assert!(
            (first_second - target).abs() <= target * 0.02 + 10.0,
            "{from} → {to}: {first_second}"
        );
    }
}

#[test]
fn the_in_flight_cap_bounds_each_grant() {
    let (mut t, _) = throttle(settings(&[
        ("drain.rate", "100000"),
        ("drain.burst", "1000"),
        ("drain.max_in_flight", "64"),
    ]));
    let now = Duration::from_secs(1);
    assert_eq!(t.take(now, &[0, 0, 500], 0).iter().sum::<u64>(), 64);
    assert_eq!(t.take(now, &[0, 0, 500], 60).iter().sum::<u64>(), 4);
    assert_eq!(t.take(now, &[0, 0, 500], 64).iter().sum::<u64>(), 0);
}

#[test]
fn pausing_stops_the_drain_and_makes_waits_unknown() {
    let (mut t, clock) = throttle(settings(&[("drain.rate", "100")]));
    drain(&mut t, &clock, Duration::ZERO, 10);
    let now = Duration::from_secs(10);
    assert!(matches!(
        t.estimate(now, Lane::First, 100, &[0, 0, 100]),
        WaitEstimate::Range { .. }
    ));
    t.retune(now, t.settings().change("paused", "true").unwrap());
    assert_eq!(drain(&mut t, &clock, now, 2), 0);
    assert_eq!(
        t.estimate(now, Lane::First, 100, &[0, 0, 100]),
        WaitEstimate::Unknown
    );
    let later = now + Duration::from_secs(2);
    t.retune(later, t.settings().change("paused", "false").unwrap());
    // The paused spell earned nothing: no burst beyond the configured one on resume.
    let resumed = drain(&mut t, &clock, later, 1);
    assert!((99..=101 + 50).contains(&resumed), "{resumed}");
}

#[test]
fn lanes_are_served_by_weight() {
    let (mut t, _) = throttle(settings(&[("drain.rate", "1000"), ("drain.burst", "100")]));
    // A full burst of 100 cells, split 6:3:1.
    let split = t.take(Duration::from_secs(1), &[1000, 1000, 1000], 0);
    assert_eq!(split, [60, 30, 10]);
}

#[test]
fn shadow_limits_count_but_admit_and_retunes_apply_at_once() {
    let (mut t, clock) = throttle(settings(&[
        ("client.rate", "1"),
        ("client.burst", "2"),
        ("client.mode", "shadow"),
    ]));
    let now = Duration::from_secs(1);
    clock.advance(now);
    let depths = [0, 0, 0];
    let mut shadowed = 0;
    for i in 0..5 {
        match t.admit(now, "gw", &format!("L{i}"), Lane::First, &depths) {
            Verdict::Admit { shadowed: s } => shadowed += s.len(),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(shadowed, 3);
    // Enforce from now on: the client is over its quota at once.
    t.retune(
        now,
        t.settings()
            .change("client.mode", Mode::Enforce.as_str())
            .unwrap(),
    );
    match t.admit(now, "gw", "L9", Lane::First, &depths) {
        Verdict::Refuse { refusal, .. } => {
            assert_eq!(refusal.limit, LimitName::Client);
            assert!(refusal.retry_after >= 1);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_queue_bound_uses_the_lanes_share() {
    // Target 100/s, first lane weight 1 of 10 while all lanes wait: 10/s for it; a bound
    // of 60 s lets 600 wait in that lane.
    let (mut t, _) = throttle(settings(&[("drain.rate", "100"), ("queue.max_wait", "60")]));
    let now = Duration::from_secs(1);
    assert!(matches!(
        t.admit(now, "gw", "a", Lane::First, &[10, 10, 599]),
        Verdict::Admit { .. }
    ));
    match t.admit(now, "gw", "b", Lane::First, &[10, 10, 600]) {
        Verdict::Refuse { refusal, .. } => {
            assert_eq!(refusal.limit, LimitName::Queue);
            assert_eq!(refusal.clears_in, Some(60));
        }
        other => panic!("{other:?}"),
    }
    // The window lane, weight 6 of 10, has room.
    assert!(matches!(
        t.admit(now, "gw", "c", Lane::Window, &[10, 10, 600]),
        Verdict::Admit { .. }
    ));
}

#[test]
fn a_new_rate_is_measured_afresh() {
    let (mut t, clock) = throttle(settings(&[("drain.rate", "100")]));
    drain(&mut t, &clock, Duration::ZERO, 10);
    let now = Duration::from_secs(10);
    assert_eq!(t.measured_rate(now).map(f64::round), Some(100.0));
    t.retune(now, t.settings().change("drain.rate", "400").unwrap());
    // Waits quoted from the old pace would be wrong: unknown until the new one is measured.
    assert_eq!(t.measured_rate(now), None);
    assert_eq!(
        t.estimate(now, Lane::First, 10, &[0, 0, 10]),
        WaitEstimate::Unknown
    );
    drain(&mut t, &clock, now, 7);
    let later = now + Duration::from_secs(7);
    assert_eq!(t.measured_rate(later).map(f64::round), Some(400.0));
}
