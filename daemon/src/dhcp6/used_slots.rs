//! The used slots of one DHCPv6 pool: a sparse bitmap, one 64-bit word per run of 64 slots
//! that holds at least one used slot.
//!
//! A pool's slot numbers span up to 2^128, so a dense bitmap is out of the question, and a
//! hash set of slot numbers costs about 40 bytes per lease (85 MB for 2,000,000). The
//! allocator hands out slots next-fit from a cursor, so used slots come in runs and a word
//! per 64 slots costs under a byte per lease; slots scattered at random (leases loaded
//! from another server, client hints) cost one word each, no more than the hash set did.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use crate::lease::index::mix64;

/// Used slot numbers, with their count.
#[derive(Debug, Clone, Default)]
pub struct UsedSlots {
    words: HashMap<u128, u64, WordHasher>,
    len: u64,
}

impl UsedSlots {
    /// Slots marked used.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no slot is used.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether slot `i` is used.
    pub fn contains(&self, i: u128) -> bool {
        self.word(i >> 6) & bit(i) != 0
    }

    /// Marks slot `i` used; false when it already was.
    pub fn insert(&mut self, i: u128) -> bool {
        let word = self.words.entry(i >> 6).or_insert(0);
        if *word & bit(i) != 0 {
            return false;
        }
        *word |= bit(i);
        self.len += 1;
        true
    }

    /// Marks slot `i` free; false when it already was.
    pub fn remove(&mut self, i: u128) -> bool {
        let Entry::Occupied(mut word) = self.words.entry(i >> 6) else {
            return false;
        };
        if *word.get() & bit(i) == 0 {
            return false;
        }
        *word.get_mut() &= !bit(i);
        if *word.get() == 0 {
            word.remove();
        }
        self.len -= 1;
        true
    }

    /// The word of slots `64 * index .. 64 * index + 64`: bit `k` is slot `64 * index + k`.
    pub fn word(&self, index: u128) -> u64 {
        self.words.get(&index).copied().unwrap_or(0)
    }

    /// Bytes of heap the set holds.
    #[cfg(test)]
    pub fn heap_bytes(&self) -> usize {
        // hashbrown: one control byte per bucket beside the (key, word) pair.
        self.words.capacity() * (std::mem::size_of::<(u128, u64)>() + 1)
    }
}

fn bit(i: u128) -> u64 {
    1u64 << (i & 63) as u32
}

/// Hashes word indexes with a seeded mixer: the indexes are slot numbers the server picks
/// or, through hints and lease files, that clients influence, so the seed is per set.
#[derive(Debug, Clone)]
struct WordHasher {
    seed: u64,
}

impl Default for WordHasher {
    fn default() -> Self {
        WordHasher {
            seed: RandomState::new().hash_one(0x7573_6564_u64),
        }
    }
}

impl BuildHasher for WordHasher {
    type Hasher = WordHash;

    fn build_hasher(&self) -> WordHash {
        WordHash { state: self.seed }
    }
}

/// The hasher of one key.
#[derive(Debug)]
struct WordHash {
    state: u64,
}

impl Hasher for WordHash {
    fn finish(&self) -> u64 {
        self.state
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.state = mix64(self.state ^ n);
    }

    fn write_u128(&mut self, n: u128) {
        self.write_u64(n as u64);
        self.write_u64((n >> 64) as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_and_count() {
        let mut s = UsedSlots::default();
        assert!(s.insert(5));
        assert!(!s.insert(5));
        assert!(s.insert(64));
        assert!(s.insert(u128::MAX));
        assert_eq!(s.len(), 3);
        assert!(s.contains(5) && s.contains(64) && s.contains(u128::MAX));
        assert!(!s.contains(6) && !s.contains(0));
        assert_eq!(s.word(0), 1 << 5);
        assert_eq!(s.word(1), 1);
        assert!(s.remove(5));
        assert!(!s.remove(5));
        assert!(!s.remove(7));
        assert_eq!(s.len(), 2);
        assert_eq!(s.word(0), 0);
        assert!(s.remove(64) && s.remove(u128::MAX));
        assert!(s.is_empty());
        assert_eq!(s.words.len(), 0, "empty words are dropped");
    }

    #[test]
    fn a_run_of_slots_costs_a_word_per_64() {
        let mut s = UsedSlots::default();
        for i in 1_000..1_000 + 64_000u128 {
            s.insert(i);
        }
        assert_eq!(s.len(), 64_000);
        assert!(s.words.len() <= 1_001);
        assert!(
            s.heap_bytes() < 64_000,
            "{} bytes for 64,000 slots",
            s.heap_bytes()
        );
    }
}
