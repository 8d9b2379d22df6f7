use governor::clock::FakeRelativeClock;

use super::*;

fn settings() -> AdmissionSettings {
    AdmissionSettings {
        client: LimitSettings {
            per_second: 10.0,
            burst: 20,
        },
        client_mode: Mode::Enforce,
        licence: LimitSettings {
            per_second: 1.0 / 60.0,
            burst: 2,
        },
        licence_mode: Mode::Enforce,
        intake: PaceSettings {
            rate: 100.0,
            burst: 100,
        },
        intake_mode: Mode::Enforce,
        max_wait_seconds: 600,
        queue_mode: Mode::Enforce,
    }
}

fn roomy() -> QueueView {
    QueueView {
        depth: 0,
        drain_rate: 1000.0,
    }
}

fn admission(settings: AdmissionSettings) -> (Admission<FakeRelativeClock>, FakeRelativeClock) {
    let clock = FakeRelativeClock::default();
    (
        Admission::new(settings, clock.clone(), Duration::ZERO),
        clock,
    )
}

#[track_caller]
fn check_refused(verdict: Verdict, limit: LimitName, retry_after: u64) {
    match verdict {
        Verdict::Refuse { refusal, .. } => {
            assert_eq!(refusal.limit, limit);
            assert_eq!(refusal.retry_after, retry_after);
        }
        other => panic!("expected a refusal by {limit:?}, got {other:?}"),
    }
}

#[test]
fn a_holder_hammering_one_licence_gets_429_with_retry_after() {
    let (mut admission, _) = admission(settings());
    for _ in 0..2 {
        assert!(matches!(
            admission.check(Duration::ZERO, "gateway", "L1", roomy()),
            Verdict::Admit { .. }
        ));
    }
    let verdict = admission.check(Duration::ZERO, "gateway", "L1", roomy());
    check_refused(verdict, LimitName::Licence, 60);
    assert_eq!(LimitName::Licence.status(), 429);
    // Another licence from the same client is fine.
    assert!(matches!(
        admission.check(Duration::ZERO, "gateway", "L2", roomy()),
        Verdict::Admit { .. }
    ));
}

#[test]
fn queue_bound_refuses_with_time_to_drain_to_the_bound() {
    let view = QueueView {
        depth: 10_500,
        drain_rate: 10.0,
    };
    // Bound: 600 s × 10/s = 6 000 places; the arrival would be 10 501st: 4 501 too many,
    // which drain in 450.1 s → retry after 451 s; the backlog clears in 1 050 s.
    let refusal = queue_refusal(600, view).unwrap();
    assert_eq!(refusal.retry_after, 451);
    assert_eq!(refusal.clears_in, Some(1050));
    assert_eq!(LimitName::Queue.status(), 503);
    assert!(
        queue_refusal(
            600,
            QueueView {
                depth: 5_999,
                drain_rate: 10.0
            }
        )
        .is_none()
    );
    assert!(
        queue_refusal(
            600,
            QueueView {
                depth: 6_000,
                drain_rate: 10.0
            }
        )
        .is_some()
    );
    // Nothing draining: only an empty queue admits.
    assert!(
        queue_refusal(
            600,
            QueueView {
                depth: 0,
                drain_rate: 0.0
            }
        )
        .is_none()
    );
    assert!(
        queue_refusal(
            600,
            QueueView {
                depth: 1,
                drain_rate: 0.0
            }
        )
        .is_some()
    );
}

#[test]
fn intake_limit_refuses_past_its_burst_and_recovers() {
    let mut s = settings();
    s.client_mode = Mode::Off;
    s.licence_mode = Mode::Off;
    s.intake = PaceSettings {
        rate: 2.0,
        burst: 3,
    };
    let (mut admission, _) = admission(s);
    for i in 0..3 {
        let verdict = admission.check(Duration::ZERO, "c", &format!("L{i}"), roomy());
        assert!(matches!(verdict, Verdict::Admit { .. }), "{i}");
    }
    check_refused(
        admission.check(Duration::ZERO, "c", "L9", roomy()),
        LimitName::Intake,
        1,
    );
    assert!(matches!(
        admission.check(Duration::from_millis(500), "c", "L9", roomy()),
        Verdict::Admit { .. }
    ));
}

#[test]
fn a_retry_at_retry_after_succeeds() {
    let mut s = settings();
    s.licence_mode = Mode::Off;
    s.client = LimitSettings {
        per_second: 0.3,
        burst: 1,
    };
    let (mut admission, clock) = admission(s);
    assert!(matches!(
        admission.check(Duration::ZERO, "c", "L", roomy()),
        Verdict::Admit { .. }
    ));
    let Verdict::Refuse { refusal, .. } = admission.check(Duration::ZERO, "c", "L", roomy()) else {
        panic!("expected a refusal");
    };
    // 1/0.3 s = 3.33 s, rounded up to 4.
    assert_eq!(refusal.retry_after, 4);
    clock.advance(Duration::from_secs(refusal.retry_after));
    assert!(matches!(
        admission.check(Duration::from_secs(refusal.retry_after), "c", "L", roomy()),
        Verdict::Admit { .. }
    ));
}

#[test]
fn shadow_mode_reports_but_admits() {
    let mut s = settings();
    s.licence_mode = Mode::Shadow;
    let (mut admission, _) = admission(s);
    for _ in 0..2 {
        admission.check(Duration::ZERO, "c", "L1", roomy());
    }
    match admission.check(Duration::ZERO, "c", "L1", roomy()) {
        Verdict::Admit { shadowed } => {
            assert_eq!(shadowed.len(), 1);
            assert_eq!(shadowed[0].limit, LimitName::Licence);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn off_mode_evaluates_nothing() {
    let mut s = settings();
    s.licence_mode = Mode::Off;
    let (mut admission, _) = admission(s);
    for _ in 0..10 {
        assert_eq!(
            admission.check(Duration::ZERO, "c", "L1", roomy()),
            Verdict::Admit { shadowed: vec![] }
        );
    }
    assert_eq!(admission.tracked().1, 0);
}

#[test]
fn whole_seconds_round_up() {
    assert_eq!(whole_seconds(Duration::ZERO), 1);
    assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
    assert_eq!(whole_seconds(Duration::from_secs(2)), 2);
    assert_eq!(whole_seconds(Duration::from_millis(2001)), 3);
}

#[test]
fn modes_parse() {
    assert_eq!("shadow".parse::<Mode>(), Ok(Mode::Shadow));
    assert!("Shadow".parse::<Mode>().is_err());
}

/// The store failed after admission: the client and licence get back what the
/// application counted, so a retry once the store is back is not refused with 429.
#[test]
fn an_application_the_store_failed_is_refunded_to_its_client_and_licence() {
    let (mut admission, _) = admission(settings());
    for _ in 0..2 {
        let Verdict::Admit { shadowed } = admission.check(Duration::ZERO, "gw", "L1", roomy())
        else {
            panic!("admitted")
        };
        admission.refund("gw", "L1", &shadowed);
    }
    // Both licence cells are still there (burst 2), and the client's 20.
    for _ in 0..2 {
        assert!(matches!(
            admission.check(Duration::ZERO, "gw", "L1", roomy()),
            Verdict::Admit { .. }
        ));
    }
    check_refused(
        admission.check(Duration::ZERO, "gw", "L1", roomy()),
        LimitName::Licence,
        60,
    );
}

/// A shadowed limit counted nothing, so nothing is given back to it.
#[test]
fn a_refund_leaves_shadowed_and_off_limits_alone() {
    let mut s = settings();
    s.licence_mode = Mode::Shadow;
    s.client_mode = Mode::Off;
    let (mut admission, _) = admission(s);
    for _ in 0..2 {
        admission.check(Duration::ZERO, "gw", "L1", roomy());
    }
    let Verdict::Admit { shadowed } = admission.check(Duration::ZERO, "gw", "L1", roomy()) else {
        panic!("shadow mode admits")
    };
    assert_eq!(shadowed.len(), 1);
    admission.refund("gw", "L1", &shadowed);
    // Still over the licence limit: the shadow refusal took nothing to give back.
    let Verdict::Admit { shadowed } = admission.check(Duration::ZERO, "gw", "L1", roomy()) else {
        panic!("shadow mode admits")
    };
    assert_eq!(shadowed[0].limit, LimitName::Licence);
}
