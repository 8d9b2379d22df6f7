use std::collections::VecDeque;

use super::*;
use crate::domain::throttle::pacer::{PaceSettings, Pacer};

#[test]
fn unknown_until_measured_and_while_paused() {
    let mut meter = DrainMeter::new();
    let second = Duration::from_secs(1);
    assert_eq!(
        meter.estimate(Duration::ZERO, 10, 1.0, false),
        WaitEstimate::Unknown
    );
    for s in 0..MIN_SAMPLES as u64 {
        meter.record(second * s as u32, 100, true);
    }
    // The current second is incomplete: five complete busy seconds are needed.
    assert_eq!(
        meter.estimate(second * 4, 10, 1.0, false),
        WaitEstimate::Unknown
    );
    let known = meter.estimate(second * 5, 1000, 1.0, false);
    assert_eq!(known.midpoint().map(|m| m.as_secs()), Some(10));
    assert_eq!(
        meter.estimate(second * 5, 1000, 1.0, true),
        WaitEstimate::Unknown
    );
}

#[test]
fn idle_seconds_do_not_drag_the_rate_down() {
    let mut meter = DrainMeter::new();
    for s in 0..10u64 {
        let backlogged = s % 2 == 0;
        meter.record(
            Duration::from_secs(s),
            if backlogged { 100 } else { 3 },
            backlogged,
        );
    }
    let (rate, _) = meter.rate(Duration::from_secs(10)).unwrap();
    assert_eq!(rate, 100.0);
}

#[test]
fn lane_share_scales_the_wait() {
    let mut meter = DrainMeter::new();
    for s in 0..10u64 {
        meter.record(Duration::from_secs(s), 100, true);
    }
    let now = Duration::from_secs(10);
    let full = meter.estimate(now, 1000, 1.0, false).midpoint().unwrap();
    let quarter = meter.estimate(now, 1000, 0.25, false).midpoint().unwrap();
    assert!((quarter.as_secs_f64() / full.as_secs_f64() - 4.0).abs() < 0.2);
    assert_eq!(meter.estimate(now, 1000, 0.0, false), WaitEstimate::Unknown);
}

#[test]
fn old_seconds_leave_the_window() {
    let mut meter = DrainMeter::new();
    for s in 0..100u64 {
        meter.record(Duration::from_secs(s), if s < 50 { 10 } else { 1000 }, true);
    }
    let (rate, _) = meter.rate(Duration::from_secs(120)).unwrap();
    assert_eq!(rate, 1000.0);
}

/// Wait honesty: 1 000 000 tickets arrive faster than a constant drain empties the queue;
/// each is quoted on arrival. At least 90% of quoted ranges must contain the actual wait,
/// and the first quote's midpoint must be within 20% of it.
#[test]
fn quotes_are_honest_over_a_million_tickets() {
    const TICKETS: u64 = 1_000_000;
    let drain_rate = 2_000.0;
    let arrival_rate = 3_000.0;
    let tick = Duration::from_millis(5);
    let mut pacer = Pacer::new(
        PaceSettings {
            rate: drain_rate,
            burst: 20,
        },
        Duration::ZERO,
    );
    let mut meter = DrainMeter::new();
    // Queue of (arrival time, quote).
    let mut queue: VecDeque<(Duration, WaitEstimate)> = VecDeque::new();
    let (mut arrived, mut served, mut contained, mut midpoint_close) = (0u64, 0u64, 0u64, 0u64);
    let mut now = Duration::ZERO;
    let mut arrival_credit = 0.0f64;
    while served < TICKETS {
        now += tick;
        arrival_credit += arrival_rate * tick.as_secs_f64();
        while arrival_credit >= 1.0 && arrived < TICKETS {
            arrival_credit -= 1.0;
            arrived += 1;
            let ahead = queue.len() as u64 + 1;
            queue.push_back((now, meter.estimate(now, ahead, 1.0, false)));
        }
        let taken = pacer.take(now, queue.len() as u64);
        for _ in 0..taken {
            let Some((arrival, quote)) = queue.pop_front() else {
                break;
            };
            served += 1;
            let actual = now - arrival;
            if quote.contains(actual) {
                contained += 1;
            }
            if let Some(mid) = quote.midpoint() {
                let error = (mid.as_secs_f64() - actual.as_secs_f64()).abs()
                    / actual.as_secs_f64().max(1.0);
                if error <= 0.20 {
                    midpoint_close += 1;
                }
            }
        }
        meter.record(now, taken, !queue.is_empty());
    }
    let contained = contained as f64 / TICKETS as f64;
    let close = midpoint_close as f64 / TICKETS as f64;
    assert!(
        contained >= 0.90,
        "only {:.2}% of ranges held the actual wait",
        contained * 100.0
    );
    assert!(
        close >= 0.90,
        "only {:.2}% of midpoints were within 20%",
        close * 100.0
    );
}

#[test]
fn a_wait_beyond_a_century_is_quoted_as_a_century() {
    let mut meter = DrainMeter::new();
    for s in 0..10u64 {
        meter.record(Duration::from_secs(s), 1, true);
    }
    // A lane weighted 1 next to two lanes weighted u32::MAX, a queue of u64::MAX.
    let share = 1.0 / (2.0 * f64::from(u32::MAX) + 1.0);
    let estimate = meter.estimate(Duration::from_secs(10), u64::MAX, share, false);
    let WaitEstimate::Range { low, high } = estimate else {
        panic!("{estimate:?}");
    };
    assert_eq!((low, high), (CENTURY, CENTURY));
    assert_eq!(estimate.midpoint(), Some(CENTURY));
}
