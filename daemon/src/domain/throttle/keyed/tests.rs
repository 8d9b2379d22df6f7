use governor::clock::FakeRelativeClock;

use super::*;

fn limiter(
    per_second: f64,
    burst: u32,
) -> (
    RetunableLimiter<&'static str, FakeRelativeClock>,
    FakeRelativeClock,
) {
    let clock = FakeRelativeClock::default();
    (
        RetunableLimiter::new(LimitSettings { per_second, burst }, clock.clone()),
        clock,
    )
}

/// Sends requests for `key` until the first refusal; returns how many passed.
fn burst(limiter: &RetunableLimiter<&'static str, FakeRelativeClock>, key: &'static str) -> u32 {
    let mut passed = 0;
    while limiter.check(&key).is_ok() {
        passed += 1;
        assert!(passed < 1_000_000);
    }
    passed
}

#[test]
fn burst_then_refusal_with_honest_retry_after() {
    let (limiter, clock) = limiter(0.2, 5); // one per 5 s, burst 5
    assert_eq!(burst(&limiter, "a"), 5);
    let refused = limiter.check(&"a").unwrap_err();
    assert_eq!(refused.retry_after, Duration::from_secs(5));
    // Retrying a nanosecond early still fails; at the time given it succeeds.
    clock.advance(Duration::from_secs(5) - Duration::from_nanos(1));
    assert!(limiter.check(&"a").is_err());
    clock.advance(Duration::from_nanos(1));
    assert!(limiter.check(&"a").is_ok());
    // Other clients are unaffected.
    assert_eq!(burst(&limiter, "b"), 5);
}

#[test]
fn raising_the_quota_gives_no_windfall_and_no_lockout() {
    let (limiter, clock) = limiter(1.0, 5);
    assert_eq!(burst(&limiter, "a"), 5);
    clock.advance(Duration::from_secs(1));
    limiter.retune(LimitSettings {
        per_second: 10.0,
        burst: 5,
    });
    // Under the new quota, five requests over the last second leave room for exactly what
    // one second at 10/s plus the burst allows: not a fresh burst on top (windfall), and not
    // a wait for the old, slower backlog (lockout).
    let passed = burst(&limiter, "a");
    assert_eq!(
        passed, 1,
        "a client with 4 cells of debt at 0.1 s each gets 1 now"
    );
    let retry = limiter.check(&"a").unwrap_err().retry_after;
    assert_eq!(retry, Duration::from_millis(100));
    // A rested client gets the new burst, and no more.
    assert_eq!(burst(&limiter, "fresh"), 5);
}

#[test]
fn lowering_the_quota_keeps_recent_usage() {
    let (limiter, clock) = limiter(10.0, 10);
    for _ in 0..4 {
        limiter.check(&"a").unwrap();
    }
    limiter.retune(LimitSettings {
        per_second: 1.0,
        burst: 5,
    });
    // Four recent requests count as four cells under the new quota too.
    assert_eq!(burst(&limiter, "a"), 1);
    clock.advance(Duration::from_secs(1));
    assert_eq!(burst(&limiter, "a"), 1);
}

#[test]
fn retune_many_times_never_exceeds_the_quota_in_force() {
    let (limiter, clock) = limiter(2.0, 4);
    let mut passed = 0u32;
    for step in 0..2000u32 {
        if step % 100 == 0 {
            let rate = if (step / 100) % 2 == 0 { 2.0 } else { 4.0 };
            limiter.retune(LimitSettings {
                per_second: rate,
                burst: 4,
            });
        }
        if limiter.check(&"a").is_ok() {
            passed += 1;
        }
        clock.advance(Duration::from_millis(10));
    }
    // 20 s alternating 2/s and 4/s (mean 3/s) plus one burst of 4: at most 64.
    assert!(passed <= 64, "{passed}");
    assert!(passed >= 58, "{passed}");
}

#[test]
fn purge_forgets_rested_clients_only() {
    let (limiter, clock) = limiter(1.0, 3);
    limiter.check(&"idle").unwrap();
    clock.advance(Duration::from_secs(5));
    limiter.check(&"busy").unwrap();
    limiter.purge();
    assert_eq!(limiter.len(), 1);
    assert_eq!(burst(&limiter, "busy"), 2);
}

#[test]
fn a_zero_quota_refuses_everyone() {
    let (limiter, _) = limiter(0.0, 3);
    assert_eq!(limiter.check(&"a").unwrap_err().retry_after, Duration::MAX);
    limiter.retune(LimitSettings {
        per_second: 1.0,
        burst: 1,
    });
    assert!(limiter.check(&"a").is_ok());
}

#[test]
fn a_refund_gives_back_one_request_and_no_more() {
    let (limiter, clock) = limiter(0.2, 5); // one per 5 s, burst 5
    assert_eq!(burst(&limiter, "a"), 5);
    // Two requests that came to nothing are given back: two pass again at once.
    limiter.refund(&"a");
    limiter.refund(&"a");
    assert_eq!(burst(&limiter, "a"), 2);
    // Refunds beyond what was counted never add to the burst.
    clock.advance(Duration::from_secs(60));
    for _ in 0..10 {
        limiter.refund(&"a");
    }
    assert_eq!(burst(&limiter, "a"), 5);
    // A key never seen has nothing to give back.
    limiter.refund(&"b");
    assert_eq!(limiter.len(), 1);
}

#[test]
fn extreme_quotas_are_served_not_panicked_on() {
    // A huge burst at a slow rate once overflowed the limiter's burst window
    // (interval × burst in nanoseconds); a tiny rate overflowed the interval itself.
    for (per_second, burst_size) in [
        (1.0 / 30.0, 1_937_124_717),
        (1e-300, 5),
        (1e-300, u32::MAX),
        (f64::MIN_POSITIVE, u32::MAX),
        (1e9, u32::MAX),
    ] {
        let (limiter, clock) = limiter(per_second, burst_size);
        assert!(limiter.check(&"a").is_ok(), "{per_second} {burst_size}");
        clock.advance(Duration::from_secs(3600));
        limiter.retune(LimitSettings {
            per_second: 1.0,
            burst: 2,
        });
        assert_eq!(burst(&limiter, "b"), 2);
    }
}

proptest::proptest! {
    /// Every quota an operator can set builds a limiter that answers, and retuning
    /// between any two of them keeps answering.
    #[test]
    fn any_quota_answers(
        rate_exp in -300.0f64..9.0,
        burst_size in proptest::num::u32::ANY,
        next_exp in -300.0f64..9.0,
        next_burst in proptest::num::u32::ANY,
        gap_ms in 0u64..10_000_000,
    ) {
        let (limiter, clock) = limiter(10f64.powf(rate_exp), burst_size);
        proptest::prop_assert!(limiter.check(&"a").is_ok());
        let _ = limiter.check(&"a");
        clock.advance(Duration::from_millis(gap_ms));
        limiter.retune(LimitSettings { per_second: 10f64.powf(next_exp), burst: next_burst });
        let _ = limiter.check(&"a");
        proptest::prop_assert!(limiter.check(&"b").is_ok());
        limiter.refund(&"a");
        limiter.purge();
    }
}
