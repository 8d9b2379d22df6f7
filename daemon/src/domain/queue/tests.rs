//! Tests for queue positions (the sled engine's key layout tests its queue keys).

use super::{Lane, LaneRestore, Lanes};

#[test]
fn positions_after_restore() {
    // First lane: sequences 1..=10 handed out, 4..=10 still waiting.
    let first = LaneRestore {
        last: 10,
        first_waiting: Some(4),
        depth: 7,
    };
    let lanes = Lanes::restore(
        [LaneRestore::default(), LaneRestore::default(), first],
        [0; 3],
    );
    assert_eq!(lanes.position(Lane::First, 4), 1);
    assert_eq!(lanes.position(Lane::First, 10), 7);
    assert_eq!(lanes.next_sequence(Lane::First), 11);
    assert_eq!(lanes.depth(Lane::First), 8);
}

#[test]
fn other_lanes_never_push_a_ticket_back() {
    let lanes = Lanes::restore(Default::default(), [0; 3]);
    let first = lanes.next_sequence(Lane::First);
    assert_eq!(lanes.position(Lane::First, first), 1);
    for _ in 0..5 {
        lanes.next_sequence(Lane::Window);
    }
    assert_eq!(lanes.position(Lane::First, first), 1);
    let second = lanes.next_sequence(Lane::First);
    assert_eq!(lanes.position(Lane::First, second), 2);
    lanes.served(Lane::First, first);
    assert_eq!(lanes.position(Lane::First, second), 1);
    assert_eq!(lanes.depths(), [5, 0, 1]);
}

#[test]
fn unordered_count() {
    let lanes = Lanes::restore(Default::default(), [0, 0, 3]);
    lanes.add_unordered(Lane::Window);
    lanes.ordered([0, 0, 2]);
    assert_eq!(lanes.unordered(), 2);
    assert_eq!(lanes.backlog(), [1, 0, 1]);
    assert_eq!(lanes.total_depth(), 2);
}
