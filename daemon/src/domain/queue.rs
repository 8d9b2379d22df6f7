//! The durable FIFO's bookkeeping: lanes, sequence numbers and positions. The entries
//! themselves live in the store; an engine keeps these counters beside them so that
//! positions are cheap.
//!
//! Lanes are the throttle's (`window`, `reissue`, `first`), served by weight. Position =
//! own sequence − the sequence last served in the same lane: arrivals in other lanes never
//! push a ticket back, so positions never go backwards.

use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) use crate::domain::throttle::lanes::Lane;

/// The queue's counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueFigures {
    /// Applications waiting in each lane.
    pub depth: [u64; 3],
    /// Applications accepted before the opening, not yet in order, per lane.
    pub unordered: [u64; 3],
    /// The sequence last served in each lane.
    pub served: [u64; 3],
}

impl QueueFigures {
    /// A ticket's position in its lane (1 = next).
    pub fn position(&self, lane: Lane, sequence: u64) -> u64 {
        sequence.saturating_sub(self.served[lane.index()]).max(1)
    }

    /// Waiting per lane, including those not yet in order.
    pub fn backlog(&self) -> [u64; 3] {
        Lane::ALL.map(|l| self.depth[l.index()] + self.unordered[l.index()])
    }

    /// Everything waiting.
    pub fn total(&self) -> u64 {
        self.backlog().iter().sum()
    }

    /// Applications not yet in order.
    pub fn unordered_total(&self) -> u64 {
        self.unordered.iter().sum()
    }
}

/// The queue key of an entry.
#[derive(Debug, Default)]
struct LaneCounters {
    /// The next sequence number to hand out.
    next: AtomicU64,
    /// The highest sequence number taken out for signing.
    served: AtomicU64,
    /// Entries waiting.
    depth: AtomicU64,
}

/// What the store holds for one lane at start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LaneRestore {
    /// The highest sequence ever handed out (or served).
    pub last: u64,
    /// The first sequence still waiting.
    pub first_waiting: Option<u64>,
    /// Entries waiting.
    pub depth: u64,
}

/// The lanes' counters, rebuilt from the store at start.
#[derive(Debug, Default)]
pub(crate) struct Lanes {
    lanes: [LaneCounters; 3],
    /// Accepted before the opening time and not yet put in order, per lane.
    unordered: [AtomicU64; 3],
}

impl Lanes {
    /// The counters now.
    pub(crate) fn figures(&self) -> QueueFigures {
        QueueFigures {
            depth: self.depths(),
            unordered: Lane::ALL.map(|l| self.unordered[l.index()].load(Ordering::SeqCst)),
            served: Lane::ALL.map(|l| self.lanes[l.index()].served.load(Ordering::SeqCst)),
        }
    }

    /// Counters from what the store holds, per lane (by [`Lane::index`]), and the entries
    /// waiting for the opening, per lane.
    pub(crate) fn restore(per_lane: [LaneRestore; 3], unordered: [u64; 3]) -> Lanes {
        let lanes = Lanes::default();
        for lane in Lane::ALL {
            let r = per_lane[lane.index()];
            let c = &lanes.lanes[lane.index()];
            c.next.store(r.last + 1, Ordering::SeqCst);
            c.served.store(
                r.first_waiting.map_or(r.last, |f| f.saturating_sub(1)),
                Ordering::SeqCst,
            );
            c.depth.store(r.depth, Ordering::SeqCst);
        }
        for (counter, n) in lanes.unordered.iter().zip(unordered) {
            counter.store(n, Ordering::SeqCst);
        }
        lanes
    }

    /// A new sequence number in `lane`.
    pub(crate) fn next_sequence(&self, lane: Lane) -> u64 {
        let c = &self.lanes[lane.index()];
        c.depth.fetch_add(1, Ordering::SeqCst);
        c.next.fetch_add(1, Ordering::SeqCst)
    }

    /// An entry was queued at `sequence`, a number handed out elsewhere (a database
    /// sequence shared by several nodes).
    pub(crate) fn queued(&self, lane: Lane, sequence: u64) {
        let c = &self.lanes[lane.index()];
        c.depth.fetch_add(1, Ordering::SeqCst);
        c.next.fetch_max(sequence + 1, Ordering::SeqCst);
    }

    /// An entry left the queue (issued or rejected) after `sequence` was taken.
    pub(crate) fn served(&self, lane: Lane, sequence: u64) {
        let c = &self.lanes[lane.index()];
        c.served.fetch_max(sequence, Ordering::SeqCst);
        let _ = c
            .depth
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |d| {
                Some(d.saturating_sub(1))
            });
    }

    /// An application for `lane` was accepted before the opening time.
    pub(crate) fn add_unordered(&self, lane: Lane) {
        self.unordered[lane.index()].fetch_add(1, Ordering::SeqCst);
    }

    /// `n[i]` applications accepted before the opening for lane `i` were put in order.
    pub(crate) fn ordered(&self, n: [u64; 3]) {
        for (counter, n) in self.unordered.iter().zip(n) {
            let _ = counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |d| {
                Some(d.saturating_sub(n))
            });
        }
    }

    /// Applications waiting for the opening, in all lanes.
    pub(crate) fn unordered(&self) -> u64 {
        self.unordered
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .sum()
    }

    /// Entries waiting per lane, in order or for the opening: what a newcomer to each lane
    /// has ahead of it, for the queue bound.
    #[cfg(test)]
    pub(crate) fn backlog(&self) -> [u64; 3] {
        Lane::ALL.map(|l| self.depth(l) + self.unordered[l.index()].load(Ordering::SeqCst))
    }

    /// Entries waiting in `lane`.
    pub(crate) fn depth(&self, lane: Lane) -> u64 {
        self.lanes[lane.index()].depth.load(Ordering::SeqCst)
    }

    /// Entries waiting per lane, by [`Lane::index`].
    pub(crate) fn depths(&self) -> [u64; 3] {
        Lane::ALL.map(|l| self.depth(l))
    }

    /// Entries waiting in all lanes (in order or waiting for the opening).
    #[cfg(test)]
    pub(crate) fn total_depth(&self) -> u64 {
        self.backlog().iter().sum()
    }

    /// Where `sequence` in `lane` stands: 1 is next in its lane.
    pub(crate) fn position(&self, lane: Lane, sequence: u64) -> u64 {
        let served = self.lanes[lane.index()].served.load(Ordering::SeqCst);
        sequence.saturating_sub(served).max(1)
    }
}

#[cfg(test)]
mod tests;
