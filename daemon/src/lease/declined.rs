//! The keys of leases on probation after a client declined them, kept by the lease stores as
//! leases enter and leave the declined state, with a running count per registered key range
//! (the pools), so operational state reads a pool's declined count without walking anything.
//!
//! Declined leases are few (each lasts one probation period), so the ordered set of their keys
//! costs little memory; it lets a new set of ranges (a new configuration) be counted without
//! walking the store. A change costs O(log D + log R) for D declined leases and R ranges; the
//! count of a registered range is O(log R).

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

/// Keys of declined leases, in key order, and how many fall in each registered range.
#[derive(Debug, Clone)]
pub struct DeclinedKeys<K: Ord + Copy> {
    keys: BTreeSet<K>,
    // Registered ranges, sorted by start and disjoint, and the declined keys in each.
    ranges: Vec<RangeInclusive<K>>,
    counts: Vec<u64>,
}

impl<K: Ord + Copy> Default for DeclinedKeys<K> {
    fn default() -> Self {
        DeclinedKeys {
            keys: BTreeSet::new(),
            ranges: Vec::new(),
            counts: Vec::new(),
        }
    }
}

impl<K: Ord + Copy> DeclinedKeys<K> {
    /// Records that the lease at `key` was declined (`was`) before a change and is declined
    /// (`is`) after it; a removed lease is not declined after.
    pub fn note(&mut self, key: K, was: bool, is: bool) {
        let delta = match (was, is) {
            (false, true) if self.keys.insert(key) => 1,
            (true, false) if self.keys.remove(&key) => -1,
            _ => return,
        };
        if let Some(i) = self.range_of(key) {
            self.counts[i] = self.counts[i].saturating_add_signed(delta);
        }
    }

    /// Replaces the ranges counted as changes come (the pools of a new configuration) and
    /// counts their declined keys now. A range overlapping an earlier one is not kept: its
    /// count is taken from the key set when asked.
    pub fn set_ranges(&mut self, mut ranges: Vec<RangeInclusive<K>>) {
        ranges.retain(|r| r.start() <= r.end());
        ranges.sort_by(|a, b| a.start().cmp(b.start()));
        let mut kept: Vec<RangeInclusive<K>> = Vec::with_capacity(ranges.len());
        for r in ranges {
            if kept.last().is_none_or(|last| last.end() < r.start()) {
                kept.push(r);
            }
        }
        self.counts = kept
            .iter()
            .map(|r| self.keys.range(r.clone()).count() as u64)
            .collect();
        self.ranges = kept;
    }

    /// Declined leases held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no lease is declined.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Declined leases whose key lies in `range`: the running count when `range` is a
    /// registered one, else counted from the key set.
    pub fn count_in(&self, range: RangeInclusive<K>) -> u64 {
        if self.keys.is_empty() || range.start() > range.end() {
            return 0;
        }
        match self
            .ranges
            .binary_search_by(|r| r.start().cmp(range.start()))
        {
            Ok(i) if self.ranges[i].end() == range.end() => self.counts[i],
            _ => self.keys.range(range).count() as u64,
        }
    }

    /// The registered range holding `key`.
    fn range_of(&self, key: K) -> Option<usize> {
        let i = self.ranges.partition_point(|r| *r.start() <= key);
        (i > 0 && key <= *self.ranges[i - 1].end()).then(|| i - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `count_in` must answer, by brute force over the key set.
    fn scan(d: &DeclinedKeys<u32>, range: RangeInclusive<u32>) -> u64 {
        d.keys.iter().filter(|k| range.contains(k)).count() as u64
    }

    #[test]
    fn a_key_enters_on_decline_and_leaves_on_any_other_state_or_removal() {
        let mut d = DeclinedKeys::<u32>::default();
        d.note(10, false, true);
        d.note(12, false, true);
        assert_eq!(d.len(), 2);
        // Declined again (a renewed probation): counted once.
        d.note(10, true, true);
        assert_eq!(d.count_in(0..=u32::MAX), 2);
        // Probation ended (reclaimed) or the lease was given to a client.
        d.note(10, true, false);
        assert_eq!(d.count_in(0..=u32::MAX), 1);
        // Never declined, changed or removed: no effect.
        d.note(11, false, false);
        assert_eq!(d.count_in(0..=u32::MAX), 1);
        d.note(12, true, false);
        assert!(d.is_empty());
    }

    #[test]
    fn counts_only_the_keys_of_the_range() {
        let mut d = DeclinedKeys::<u32>::default();
        for k in [5, 10, 15, 20, 25] {
            d.note(k, false, true);
        }
        assert_eq!(d.count_in(10..=20), 3);
        assert_eq!(d.count_in(11..=14), 0);
        assert_eq!(d.count_in(25..=25), 1);
        // An empty range (end before start) counts nothing rather than panicking.
        let (start, end) = (20, 10);
        assert_eq!(d.count_in(start..=end), 0);
    }

    #[test]
    fn registered_ranges_keep_running_counts_that_match_a_scan() {
        let mut d = DeclinedKeys::<u32>::default();
        for k in [3, 10, 11, 40] {
            d.note(k, false, true);
        }
        // 100..=200 overlaps 150..=160 and is listed first once sorted: the later one is
        // dropped and answered by a scan.
        let empty = RangeInclusive::new(30, 29);
        d.set_ranges(vec![10..=19, 0..=4, 100..=200, 150..=160, empty]);
        assert_eq!(d.ranges, vec![0..=4, 10..=19, 100..=200]);
        assert_eq!(d.counts, vec![1, 2, 0]);
        // A pseudo-random sequence of declines and their ends, checked against a scan.
        let mut x: u32 = 7;
        for _ in 0..2000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let key = (x >> 8) % 220;
            let was = d.keys.contains(&key);
            let is = !(x >> 4).is_multiple_of(3);
            d.note(key, was, is);
            for r in [0..=4, 10..=19, 100..=200, 150..=160, 5..=9] {
                assert_eq!(d.count_in(r.clone()), scan(&d, r));
            }
        }
        // A stale caller reporting a state the set does not hold changes no count.
        let before = d.counts.clone();
        d.note(1000, true, false);
        assert_eq!(d.counts, before);
    }
}
