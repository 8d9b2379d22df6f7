use super::*;
use crate::domain::throttle::admission::Mode;
use crate::domain::throttle::keyed::LimitSettings;

fn settings(mode: Mode) -> SimSettings {
    SimSettings {
        admission: AdmissionSettings {
            client: LimitSettings {
                per_second: 1_000_000.0,
                burst: 1_000_000,
            },
            client_mode: mode,
            licence: LimitSettings {
                per_second: 1.0 / 60.0,
                burst: 2,
            },
            licence_mode: mode,
            intake: PaceSettings {
                rate: 2_000.0,
                burst: 2_000,
            },
            intake_mode: mode,
            max_wait_seconds: 600,
            queue_mode: mode,
        },
        drain: PaceSettings {
            rate: 200.0,
            burst: 4,
        },
        weights: LaneWeights::default(),
        lane_mix: [0.05, 0.05, 0.9],
        clients: 4,
        repeat_share: 0.05,
        tick: Duration::from_millis(10),
    }
}

#[test]
fn curves_parse_strictly() {
    let curve = ArrivalCurve::parse_csv("seconds,per_second\n0,10\n60,20\n").unwrap();
    assert_eq!(curve.rate_at(30.0), 15.0);
    assert_eq!(curve.rate_at(60.0), 20.0);
    assert_eq!(curve.rate_at(61.0), 0.0);
    assert_eq!(ArrivalCurve::parse_csv("0,1\n"), Err(CurveError::TooShort));
    assert_eq!(
        ArrivalCurve::parse_csv("0,1\n0,2\n"),
        Err(CurveError::Order { line: 2 })
    );
    assert_eq!(
        ArrivalCurve::parse_csv("0,1\nten,2\n"),
        Err(CurveError::Syntax { line: 2 })
    );
    // Times before 0 or past a year (which once panicked, or would run for ever).
    assert_eq!(
        ArrivalCurve::parse_csv("-10,1\n-5,2\n"),
        Err(CurveError::Span { line: 1 })
    );
    assert_eq!(
        ArrivalCurve::parse_csv("0,1\n1e300,2\n"),
        Err(CurveError::Span { line: 2 })
    );
    assert!(ArrivalCurve::parse_csv("0,1\n31622400,2\n").is_ok());
    assert_eq!(
        ArrivalCurve::from_points(vec![(-1.0, 1.0), (5.0, 1.0)]),
        None
    );
    assert_eq!(
        ArrivalCurve::parse_csv(
            &ArrivalCurve::launch_day(10.0, 20.0, 3600.0, 1800.0, 7200.0).to_csv()
        )
        .map(|c| c.end()),
        Ok(7200.0)
    );
}

#[test]
fn a_spike_fills_the_queue_to_its_bound_and_drains_at_the_set_rate() {
    let curve = ArrivalCurve::launch_day(100.0, 20.0, 600.0, 900.0, 3.0 * 3600.0);
    let report = run(&curve, &settings(Mode::Enforce));
    let peak_depth = report.samples.iter().map(|s| s.depth).max().unwrap();
    // The bound is 600 s of drain at 200/s = 120 000 places.
    assert!(peak_depth <= 120_000, "{peak_depth}");
    assert!(peak_depth > 100_000, "{peak_depth}");
    let refused: u64 = report.samples.iter().map(|s| s.refused_503).sum();
    assert!(refused > 0);
    // While backlogged the drain runs at its rate: 200/s = 12 000 a minute (±1%).
    let busy: Vec<&Sample> = report.samples.iter().filter(|s| s.depth > 10_000).collect();
    assert!(busy.len() > 10);
    for s in &busy[1..busy.len() - 1] {
        assert!((s.issued as f64 - 12_000.0).abs() <= 120.0, "{s:?}");
    }
    // Quotes hold for most issued applications.
    let held = report.quotes_held as f64 / report.quotes_known as f64;
    assert!(held >= 0.9, "{held}");
    // Minute by minute, what arrivals were quoted matches what they then waited.
    let compared: Vec<f64> = report
        .samples
        .iter()
        .filter_map(|s| Some((s.quoted_wait?, s.actual_wait?)))
        .filter(|(_, actual)| *actual > 60.0)
        .map(|(quoted, actual)| (quoted - actual).abs() / actual)
        .collect();
    assert!(compared.len() > 10);
    let close = compared.iter().filter(|e| **e <= 0.2).count() as f64 / compared.len() as f64;
    assert!(close >= 0.9, "{close}: {compared:?}");
    let csv = report.to_csv();
    assert_eq!(csv.lines().count(), report.samples.len() + 1);
    let svg = report.to_svg("test").unwrap();
    assert!(svg.contains("<svg") && svg.contains("queue depth"));
}

/// Shadow mode: replaying the same arrivals, the refusals counted in shadow mode match the
/// refusals applied in enforce mode (within 1%) for the per-caller limits, whose state does
/// not depend on what was admitted.
#[test]
fn shadow_would_refuse_matches_enforce() {
    let curve = ArrivalCurve::launch_day(50.0, 10.0, 300.0, 600.0, 3600.0);
    let mut enforce = settings(Mode::Enforce);
    enforce.admission.intake_mode = Mode::Off;
    enforce.admission.queue_mode = Mode::Off;
    enforce.repeat_share = 0.3;
    let mut shadow = enforce.clone();
    shadow.admission.client_mode = Mode::Shadow;
    shadow.admission.licence_mode = Mode::Shadow;
    let enforced = run(&curve, &enforce);
    let shadowed = run(&curve, &shadow);
    let refused: u64 = enforced.samples.iter().map(|s| s.refused_429).sum();
    let would: u64 = shadowed.samples.iter().map(|s| s.would_refuse).sum();
    assert!(refused > 1000, "{refused}");
    let error = (would as f64 - refused as f64).abs() / refused as f64;
    assert!(
        error <= 0.01,
        "enforce refused {refused}, shadow would refuse {would}"
    );
    assert_eq!(
        shadowed.samples.iter().map(|s| s.refused_429).sum::<u64>(),
        0
    );
}
