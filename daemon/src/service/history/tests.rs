use std::time::Duration;

use keys::UnixTime;

use super::{Gauges, History, replay};
use crate::domain::throttle::settings::ThrottleSettings;
use crate::metrics::tally::Tally;

fn gauges(target: f64) -> Gauges {
    Gauges {
        depth: [0, 1, 2],
        oldest_age: [0, 5, 9],
        drain_target: target,
        drain_achieved: 0.5,
    }
}

#[test]
fn points_are_rates_and_means_over_each_second() {
    let history = History::default();
    let tally = Tally::default();
    let at = |s: u64| Duration::from_millis(s * 1000);
    history.record(UnixTime(1_000), at(0), tally.totals(), gauges(10.0));
    assert!(
        history.points(600).is_empty(),
        "the first sample only sets the base"
    );
    for _ in 0..6 {
        tally.arrival(None);
    }
    tally.arrival(Some("queue"));
    tally.arrival(Some("overload"));
    tally.live_status(2_000);
    tally.live_status(4_000);
    // The store's commits and the lookup log's are charted apart.
    tally.commit(1_000);
    tally.audit_commit(500);
    tally.audit_commit(1_500);
    tally.audit_commit(2_500);
    // The wall clock stood still: the interval and the stamp come from monotonic time.
    history.record(UnixTime(1_000), at(2), tally.totals(), gauges(37.0));
    // Less than a second later: no point.
    history.record(
        UnixTime(1_000),
        Duration::from_millis(2_500),
        tally.totals(),
        gauges(1.0),
    );
    let points = history.points(600);
    assert_eq!(points.len(), 1);
    let p = &points[0];
    assert_eq!((p.at, p.arrivals, p.admitted), (1_002, 4.0, 3.0));
    assert_eq!(p.refused, [0.0, 0.0, 0.0, 0.5, 0.5]);
    assert_eq!(p.live_status_ms, Some(3.0));
    assert_eq!(p.commit_ms, Some(1.0));
    assert_eq!(p.audit_commit_ms, Some(1.5));
    assert_eq!(p.wait_actual, None);
    assert_eq!((p.drain_target, p.depth), (37.0, [0, 1, 2]));
}

#[test]
fn what_if_replays_the_observed_arrivals_and_the_hour_after() {
    let history = History::default();
    let tally = Tally::default();
    assert!(history.curve().is_none());
    for second in 0..120u64 {
        for _ in 0..50 {
            tally.arrival(None);
        }
        history.record(
            UnixTime(10_000),
            Duration::from_secs(second),
            tally.totals(),
            gauges(10.0),
        );
    }
    let (curve, observed, arrivals) = history.curve().unwrap();
    assert_eq!((observed, arrivals), (118, 5_950));
    assert_eq!(arrivals, 50 * 119, "every arrival after the first sample");
    let slow = ThrottleSettings::default()
        .with(
            crate::domain::throttle::settings::Setting::new(
                "drain.rate",
                crate::domain::throttle::settings::Given::Integer(10),
            )
            .unwrap(),
        )
        .unwrap();
    let fast = ThrottleSettings::default();
    let (slow, fast) = (replay(&curve, &slow), replay(&curve, &fast));
    // An hour after the last arrival is replayed too.
    assert!(slow.t.len() >= 60, "{}", slow.t.len());
    // At 10 a second the backlog of 50 a second builds; at the default 1 000 it does not.
    assert!(slow.peak_depth > 3_000, "{}", slow.peak_depth);
    assert!(fast.peak_depth < 100, "{}", fast.peak_depth);
}
