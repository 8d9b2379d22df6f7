//! Which status list indices are taken, and the random allocation of new ones (pure: the
//! randomness comes in as an argument).
//!
//! **Invariants:** every list has [`LIST_ENTRIES`] entries (at least the 131 072 the
//! format asks for, for herd privacy); an index once allocated is never handed out again;
//! a new list opens once the newest is half full (while more lists are allowed), which keeps
//! random allocation to two tries on average and every list's population large. When no
//! further list is allowed (a trust list signed offline names the lists), the newest fills
//! up to three quarters ([`Allocator::room`]): four tries on average.

use rand_core::RngCore;

/// Entries per list.
pub(crate) const LIST_ENTRIES: u32 = keys::status_list::MIN_ENTRIES as u32;

/// The taken indices of one list.
#[derive(Clone, Debug)]
struct Taken {
    bits: Vec<u64>,
    used: u32,
}

impl Taken {
    fn new() -> Taken {
        Taken {
            bits: vec![0; (LIST_ENTRIES as usize).div_ceil(64)],
            used: 0,
        }
    }

    fn is_taken(&self, index: u32) -> bool {
        let i = index as usize;
        self.bits
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn take(&mut self, index: u32) {
        let i = index as usize;
        if let Some(w) = self.bits.get_mut(i / 64)
            && *w & (1 << (i % 64)) == 0
        {
            *w |= 1 << (i % 64);
            self.used += 1;
        }
    }
}

/// The taken indices of every list.
#[derive(Clone, Debug)]
pub(crate) struct Allocator {
    lists: Vec<Taken>,
}

/// One allocated index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Allocation {
    /// The list.
    pub list: u32,
    /// The index in it.
    pub index: u32,
    /// A new list was opened for it: the trust list must name it.
    pub opened_list: bool,
}

impl Default for Allocator {
    fn default() -> Self {
        Allocator {
            lists: vec![Taken::new()],
        }
    }
}

impl Allocator {
    /// The allocator after `taken` (list, index) pairs, e.g. every stored credential's.
    pub(crate) fn restore(taken: impl IntoIterator<Item = (u32, u32)>) -> Allocator {
        let mut lists: Vec<Taken> = Vec::new();
        for (list, index) in taken {
            while lists.len() <= list as usize {
                lists.push(Taken::new());
            }
            if let Some(l) = lists.get_mut(list as usize) {
                l.take(index);
            }
        }
        if lists.is_empty() {
            lists.push(Taken::new());
        }
        Allocator { lists }
    }

    /// How many lists are open.
    pub(crate) fn count(&self) -> u32 {
        self.lists.len() as u32
    }

    /// How many indices may still be allocated within `max_lists` lists: unbounded while
    /// a new list may open, else what is left of the newest list below three quarters.
    pub(crate) fn room(&self, max_lists: u32) -> u64 {
        if self.count() < max_lists {
            return u64::MAX;
        }
        self.lists.last().map_or(0, |l| {
            u64::from((LIST_ENTRIES / 4 * 3).saturating_sub(l.used))
        })
    }

    /// A random unused index in the newest list, opening a new list when it is half full
    /// and fewer than `max_lists` are open; `None` when there is no room.
    pub(crate) fn allocate(
        &mut self,
        rng: &mut impl RngCore,
        max_lists: u32,
    ) -> Option<Allocation> {
        if self.room(max_lists) == 0 {
            return None;
        }
        let mut opened_list = false;
        if self.count() < max_lists
            && self
                .lists
                .last()
                .is_some_and(|l| l.used >= LIST_ENTRIES / 2)
        {
            self.lists.push(Taken::new());
            opened_list = true;
        }
        let list = self.count() - 1;
        let taken = self.lists.last_mut()?;
        loop {
            let index = rng.next_u32() % LIST_ENTRIES;
            if !taken.is_taken(index) {
                taken.take(index);
                return Some(Allocation {
                    list,
                    index,
                    opened_list,
                });
            }
        }
    }

    /// Whether `index` of `list` is taken.
    #[cfg(test)]
    pub(crate) fn is_taken(&self, list: u32, index: u32) -> bool {
        self.lists
            .get(list as usize)
            .is_some_and(|l| l.is_taken(index))
    }
}

#[cfg(test)]
mod tests {
    use rand_core::OsRng;

    use super::*;

    #[test]
    fn allocations_never_repeat_and_open_new_lists() {
        let mut allocator = Allocator::default();
        let mut seen = std::collections::HashSet::new();
        let mut opened = 0;
        for _ in 0..(LIST_ENTRIES / 2 + 10) {
            let a = allocator.allocate(&mut OsRng, u32::MAX).unwrap();
            assert!(seen.insert((a.list, a.index)), "{a:?} handed out twice");
            opened += usize::from(a.opened_list);
        }
        assert_eq!(opened, 1);
        assert_eq!(allocator.count(), 2);
    }

    #[test]
    fn restored_indices_are_not_reallocated() {
        let mut allocator = Allocator::restore([(0, 3)]);
        for _ in 0..10_000 {
            assert_ne!(allocator.allocate(&mut OsRng, u32::MAX).unwrap().index, 3);
        }
    }

    #[test]
    fn indices_are_never_handed_out_twice() {
        let mut allocator = Allocator::default();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let a = allocator.allocate(&mut OsRng, u32::MAX).unwrap();
            assert!(seen.insert((a.list, a.index)));
        }
    }

    #[test]
    fn restored_indices_stay_taken() {
        let allocator = Allocator::restore([(0, 7), (2, 9)]);
        assert_eq!(allocator.count(), 3);
        assert!(allocator.is_taken(0, 7) && allocator.is_taken(2, 9));
        assert!(!allocator.is_taken(1, 7));
    }

    #[test]
    fn a_list_opens_at_half_full_when_allowed() {
        let half = (0..LIST_ENTRIES / 2).map(|i| (0, i));
        let mut allocator = Allocator::restore(half);
        let a = allocator.allocate(&mut OsRng, u32::MAX).unwrap();
        assert_eq!((a.list, a.opened_list), (1, true));
    }

    #[test]
    fn the_last_allowed_list_fills_to_three_quarters() {
        let mut allocator = Allocator::restore((0..LIST_ENTRIES / 4 * 3 - 1).map(|i| (0, i)));
        assert_eq!(allocator.room(1), 1);
        let a = allocator.allocate(&mut OsRng, 1).unwrap();
        assert_eq!((a.list, a.opened_list), (0, false));
        assert_eq!(allocator.room(1), 0);
        assert_eq!(allocator.allocate(&mut OsRng, 1), None);
    }
}
