use super::*;

#[track_caller]
fn check_split(cells: u64, depths: [u64; 3], weights: LaneWeights, expected: [u64; 3]) {
    let mut scheduler = Scheduler::default();
    assert_eq!(scheduler.split(cells, &depths, &weights), expected);
}

fn weights(window: u32, reissue: u32, first: u32) -> LaneWeights {
    LaneWeights {
        window,
        reissue,
        first,
    }
}

#[test]
fn split_by_weight() {
    check_split(10, [100, 100, 100], weights(6, 3, 1), [6, 3, 1]);
    check_split(100, [1000, 1000, 1000], weights(6, 3, 1), [60, 30, 10]);
}

#[test]
fn an_empty_lane_gives_its_share_away() {
    check_split(10, [0, 100, 100], weights(6, 3, 1), [0, 8, 2]);
    check_split(10, [2, 100, 0], weights(6, 3, 1), [2, 8, 0]);
}

#[test]
fn never_more_than_waiting() {
    check_split(100, [1, 2, 3], weights(6, 3, 1), [1, 2, 3]);
    check_split(0, [1, 2, 3], weights(6, 3, 1), [0, 0, 0]);
}

#[test]
fn weight_zero_pauses_a_lane() {
    check_split(10, [100, 100, 100], weights(1, 1, 0), [5, 5, 0]);
}

#[test]
fn the_split_is_fair_across_calls() {
    // One cell at a time, 1:1 weights: lanes alternate instead of one winning every call.
    let mut scheduler = Scheduler::default();
    let mut totals = [0u64; 3];
    for _ in 0..100 {
        let got = scheduler.split(1, &[10_000, 10_000, 0], &weights(1, 1, 1));
        for i in 0..3 {
            totals[i] += got[i];
        }
    }
    assert_eq!(totals, [50, 50, 0]);
}

#[test]
fn shares() {
    let w = weights(6, 3, 1);
    assert_eq!(w.share(Lane::First, &[0, 0, 5]), 1.0);
    assert_eq!(w.share(Lane::First, &[5, 5, 5]), 0.1);
    assert_eq!(w.share(Lane::Reissue, &[5, 0, 5]), 0.3);
    assert_eq!(weights(1, 1, 0).share(Lane::First, &[0, 0, 5]), 0.0);
}

#[test]
fn polling_hints_are_jittered_and_bounded() {
    assert_eq!(poll_after(None, 0.5), 30);
    assert_eq!(poll_after(Some(Duration::from_secs(1)), 0.5), 5);
    assert_eq!(poll_after(Some(Duration::from_secs(100_000)), 0.5), 300);
    assert_eq!(poll_after(Some(Duration::from_secs(400)), 0.0), 80);
    assert_eq!(poll_after(Some(Duration::from_secs(400)), 1.0), 120);
}

#[test]
fn lanes_parse() {
    assert_eq!("reissue".parse::<Lane>(), Ok(Lane::Reissue));
    assert!("Reissue".parse::<Lane>().is_err());
}
