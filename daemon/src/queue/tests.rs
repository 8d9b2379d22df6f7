//! Tests for positions and wait estimates.

use super::{DrainRate, Lane, Lanes, WaitEstimate, entry_key, parse_entry_key};

#[test]
fn key_round_trip() {
    assert_eq!(
        parse_entry_key(&entry_key(Lane::Standard, 42)),
        Some((Lane::Standard, 42))
    );
}

#[test]
fn positions_after_restore() {
    // Standard lane: sequences 1..=10 handed out, 4..=10 still waiting.
    let lanes = Lanes::restore([(0, None, 0), (10, Some(4), 7)]);
    assert_eq!(lanes.position(Lane::Standard, 4), 1);
    assert_eq!(lanes.position(Lane::Standard, 10), 7);
    assert_eq!(lanes.next_sequence(Lane::Standard), 11);
    assert_eq!(lanes.depth(Lane::Standard), 8);
}

#[test]
fn priority_lane_goes_first() {
    let lanes = Lanes::restore([(0, None, 0), (0, None, 0)]);
    let s = lanes.next_sequence(Lane::Standard);
    let p = lanes.next_sequence(Lane::Priority);
    assert_eq!(lanes.position(Lane::Priority, p), 1);
    assert_eq!(lanes.position(Lane::Standard, s), 2);
    lanes.served(Lane::Priority, p);
    assert_eq!(lanes.position(Lane::Standard, s), 1);
}

#[test]
fn unknown_until_measured() {
    let rate = DrainRate::default();
    assert_eq!(rate.estimate(100), WaitEstimate::Unknown);
    for _ in 0..5 {
        rate.record(100, 0.1);
    }
    assert_eq!(rate.estimate(1000), WaitEstimate::Range { low: 0, high: 2 });
    assert_eq!(
        rate.estimate(10_000),
        WaitEstimate::Range { low: 7, high: 13 }
    );
}
