use proptest::prelude::*;

use super::*;

const MS: Duration = Duration::from_millis(1);

fn settings(rate: f64, burst: u32) -> PaceSettings {
    PaceSettings { rate, burst }
}

/// Drives a pacer with unlimited demand, ticking every `tick`, for `seconds`, and returns the
/// cells granted in each whole second.
fn drain_per_second(pacer: &mut Pacer, start: Duration, tick: Duration, seconds: u64) -> Vec<u64> {
    let mut per_second = vec![0u64; seconds as usize];
    let mut now = start;
    let end = start + Duration::from_secs(seconds);
    while now < end {
        now += tick;
        let got = pacer.take(now, u64::MAX);
        let second = ((now - start).as_nanos() / 1_000_000_000) as usize;
        if let Some(slot) = per_second.get_mut(second.min(seconds as usize - 1)) {
            *slot += got;
        }
    }
    per_second
}

#[track_caller]
fn check_accuracy(rate: f64, burst: u32, tick: Duration) {
    let mut pacer = Pacer::new(settings(rate, burst), Duration::ZERO);
    let per_second = drain_per_second(&mut pacer, Duration::ZERO, tick, 300);
    // Every 60 s window (sliding by whole seconds) is within ±1% of rate × 60.
    let target = rate * 60.0;
    for start in 0..=(per_second.len() - 60) {
        let got: u64 = per_second[start..start + 60].iter().sum();
        let error = (got as f64 - target).abs() / target;
        assert!(
            error <= 0.01,
            "rate {rate}: window at {start}s took {got}, target {target}"
        );
    }
}

#[test]
fn accurate_at_10_per_second() {
    check_accuracy(10.0, 2, 5 * MS);
}

#[test]
fn accurate_at_1000_per_second() {
    check_accuracy(1000.0, 20, 5 * MS);
}

#[test]
fn accurate_at_20000_per_second() {
    check_accuracy(20_000.0, 200, 5 * MS);
}

#[test]
fn fractional_rates() {
    let mut pacer = Pacer::new(settings(0.5, 1), Duration::ZERO);
    let per_second = drain_per_second(&mut pacer, Duration::ZERO, 10 * MS, 100);
    assert_eq!(per_second.iter().sum::<u64>(), 50);
}

#[test]
fn burst_after_idle_is_capped() {
    let mut pacer = Pacer::new(settings(100.0, 10), Duration::ZERO);
    assert_eq!(pacer.take(Duration::from_secs(3600), u64::MAX), 10);
    assert_eq!(pacer.take(Duration::from_secs(3600), u64::MAX), 0);
    assert_eq!(pacer.take(Duration::from_secs(3600) + 10 * MS, u64::MAX), 1);
}

#[test]
fn demand_below_credit_keeps_the_rest() {
    let mut pacer = Pacer::new(settings(100.0, 10), Duration::ZERO);
    let now = Duration::from_secs(1);
    assert_eq!(pacer.take(now, 3), 3);
    assert_eq!(pacer.take(now, u64::MAX), 7);
}

#[track_caller]
fn check_retune(from: PaceSettings, to: PaceSettings) {
    let tick = 2 * MS;
    let mut pacer = Pacer::new(from, Duration::ZERO);
    // Run long enough at the old rate, retune mid-stream, and look at the first second after.
    let _ = drain_per_second(&mut pacer, Duration::ZERO, tick, 10);
    let at = Duration::from_secs(10);
    pacer.retune(at, to);
    let first_second = drain_per_second(&mut pacer, at, tick, 1)[0] as f64;
    let error = (first_second - to.rate).abs() / to.rate;
    assert!(
        error <= 0.02,
        "{from:?} -> {to:?}: first second took {first_second}"
    );
}

#[test]
fn retune_up_takes_effect_in_the_first_second() {
    check_retune(settings(1000.0, 10), settings(5000.0, 50));
}

#[test]
fn retune_down_takes_effect_in_the_first_second() {
    check_retune(settings(5000.0, 50), settings(1000.0, 10));
}

#[test]
fn retune_keeps_earned_credit_but_no_windfall() {
    let mut pacer = Pacer::new(settings(10.0, 100), Duration::ZERO);
    // Idle for 5 s: 50 cells earned.
    assert_eq!(pacer.available(Duration::from_secs(5)), 50);
    // A smaller burst clamps the credit (no windfall beyond the new burst)...
    pacer.retune(Duration::from_secs(5), settings(10.0, 20));
    assert_eq!(pacer.available(Duration::from_secs(5)), 20);
    // ...and a larger one keeps what was earned (no lockout) without adding to it.
    pacer.retune(Duration::from_secs(5), settings(10.0, 1000));
    assert_eq!(pacer.available(Duration::from_secs(5)), 20);
}

#[test]
fn pause_earns_nothing_and_resume_continues() {
    let mut pacer = Pacer::new(settings(100.0, 5), Duration::ZERO);
    assert_eq!(pacer.take(Duration::from_secs(1), u64::MAX), 5);
    pacer.pause(Duration::from_secs(1));
    assert_eq!(pacer.take(Duration::from_secs(10), u64::MAX), 0);
    assert_eq!(pacer.next_cell_in(Duration::from_secs(10)), None);
    pacer.resume(Duration::from_secs(10));
    assert_eq!(pacer.take(Duration::from_secs(10), u64::MAX), 0);
    assert_eq!(pacer.next_cell_in(Duration::from_secs(10)), Some(10 * MS));
    assert_eq!(pacer.take(Duration::from_secs(10) + 10 * MS, u64::MAX), 1);
}

#[test]
fn zero_or_invalid_rates_grant_nothing() {
    for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let mut pacer = Pacer::new(settings(rate, 5), Duration::ZERO);
        assert_eq!(
            pacer.take(Duration::from_secs(100), u64::MAX),
            0,
            "rate {rate}"
        );
        assert_eq!(pacer.next_cell_in(Duration::from_secs(100)), None);
    }
}

#[test]
fn time_going_backwards_is_ignored() {
    let mut pacer = Pacer::new(settings(100.0, 5), Duration::from_secs(10));
    assert_eq!(pacer.take(Duration::from_secs(5), u64::MAX), 0);
    assert_eq!(pacer.take(Duration::from_secs(10) + 20 * MS, u64::MAX), 2);
}

/// One step of a random schedule: advance time, maybe retune, take some.
#[derive(Clone, Debug)]
enum Step {
    Take {
        after_us: u64,
        want: u64,
    },
    Retune {
        after_us: u64,
        rate: f64,
        burst: u32,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0u64..20_000, 0u64..1000).prop_map(|(after_us, want)| Step::Take { after_us, want }),
        1 => (0u64..20_000, 1.0f64..50_000.0, 1u32..500)
            .prop_map(|(after_us, rate, burst)| Step::Retune { after_us, rate, burst }),
    ]
}

proptest! {
    /// In every window, cells taken ≤ ∫rate over the window + the largest burst in force.
    #[test]
    fn never_above_rate_times_window_plus_burst(
        rate in 1.0f64..50_000.0,
        burst in 1u32..500,
        steps in proptest::collection::vec(step(), 1..400),
    ) {
        let mut pacer = Pacer::new(settings(rate, burst), Duration::ZERO);
        let mut now = Duration::ZERO;
        // (time, cells taken, rate in force after, burst in force after)
        let mut log: Vec<(Duration, u64, f64, u32)> = vec![(now, 0, rate, burst)];
        for step in steps {
            match step {
                Step::Take { after_us, want } => {
                    now += Duration::from_micros(after_us);
                    let got = pacer.take(now, want);
                    prop_assert!(got <= want);
                    let (_, _, r, b) = *log.last().unwrap();
                    log.push((now, got, r, b));
                }
                Step::Retune { after_us, rate, burst } => {
                    now += Duration::from_micros(after_us);
                    pacer.retune(now, settings(rate, burst));
                    log.push((now, 0, rate, burst));
                }
            }
        }
        for i in 0..log.len() {
            let mut taken = 0u64;
            let mut allowance = 0.0f64;
            let mut max_burst = log[i].3;
            for j in i..log.len() {
                if j > i {
                    let dt = (log[j].0 - log[j - 1].0).as_secs_f64();
                    allowance += dt * log[j - 1].2;
                    max_burst = max_burst.max(log[j].3);
                }
                taken += log[j].1;
                // Cells granted at log[i].0 itself may use the credit built up before the window.
                prop_assert!(
                    taken as f64 <= allowance + f64::from(max_burst.max(log[i].3)) + 1e-6,
                    "window {i}..{j}: took {taken}, allowed {allowance} + burst {max_burst}"
                );
            }
        }
    }
}
