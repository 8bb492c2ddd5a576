//! A compact open-addressing index from keys to slab slots.
//!
//! Each bucket is one `u32`: the slot number plus a 6-bit tag taken from the
//! key's hash. Keys themselves are not stored: the caller checks a candidate
//! slot against the lease in the slab, supplies a `rehash` closure for
//! removals (which shift entries), and rebuilds the table from its slab when
//! it must grow.
//! This keeps an index at about 5 bytes per lease, where a `HashMap` with
//! owned keys costs several times that.
//!
//! Linear probing, backward-shift deletion (no tombstones), capacity of any
//! size (the home bucket is found by multiply-shift, not masking), so a
//! table sized with `reserve` holds exactly what was asked for.
//!
//! Several entries may share a key (the hardware-address index is a multiset);
//! `candidates` yields all of them.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

const SLOT_BITS: u32 = 26;
const SLOT_FIELD: u32 = (1 << SLOT_BITS) - 1;
const TAG_MASK: u64 = (1 << (32 - SLOT_BITS)) - 1;

/// Largest slot number an index can hold (slot + 1 must fit in 26 bits).
pub(crate) const MAX_SLOT: u32 = SLOT_FIELD - 1;

// Grow when more than 4/5 of the buckets are used: linear probing stays
// short (about 13 buckets for a miss) and a reserved table costs 5 bytes
// per entry.
const LOAD_NUM: usize = 4;
const LOAD_DEN: usize = 5;
const MIN_BUCKETS: usize = 16;

/// Open-addressing multiset of slot numbers, keyed by caller-computed hashes.
#[derive(Debug, Default)]
pub(crate) struct SlotIndex {
    // 0 is an empty bucket; otherwise (tag << SLOT_BITS) | (slot + 1).
    buckets: Box<[u32]>,
    len: usize,
}

fn tag_of(hash: u64) -> u32 {
    (hash & TAG_MASK) as u32
}

fn encode(slot: u32, tag: u32) -> u32 {
    debug_assert!(slot <= MAX_SLOT);
    (tag << SLOT_BITS) | (slot + 1)
}

fn slot_of(bucket: u32) -> u32 {
    (bucket & SLOT_FIELD) - 1
}

/// Home bucket of `hash` in a table of `cap` buckets: the high 32 bits of the
/// hash scaled to `[0, cap)`.
fn home(hash: u64, cap: usize) -> usize {
    (((hash >> 32) * cap as u64) >> 32) as usize
}

fn buckets_for(entries: usize) -> usize {
    (entries * LOAD_DEN).div_ceil(LOAD_NUM).max(MIN_BUCKETS)
}

impl SlotIndex {
    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes of memory the bucket array takes.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.buckets.len() * std::mem::size_of::<u32>()
    }

    /// Slots whose tag matches `hash`, in probe order. The caller must check
    /// each against its key.
    pub(crate) fn candidates(&self, hash: u64) -> Candidates<'_> {
        let cap = self.buckets.len();
        Candidates {
            buckets: &self.buckets,
            pos: if cap == 0 { 0 } else { home(hash, cap) },
            tag: tag_of(hash),
            done: cap == 0,
        }
    }

    /// Adds `slot` under `hash`. The caller guarantees this exact (key, slot)
    /// pair is not already present, and made room with [`SlotIndex::rebuild`]
    /// when [`SlotIndex::grow_target`] asked for it.
    pub(crate) fn insert(&mut self, hash: u64, slot: u32) {
        assert!(
            (self.len + 1) * LOAD_DEN <= self.buckets.len() * LOAD_NUM,
            "slot index insert without room"
        );
        Self::place(&mut self.buckets, hash, encode(slot, tag_of(hash)));
        self.len += 1;
    }

    /// The bucket count to rebuild with before `additional` more entries can
    /// be inserted; `None` when they fit. Grows by half at least, so the
    /// rebuilds of a growing table cost O(1) per entry.
    pub(crate) fn grow_target(&self, additional: usize) -> Option<usize> {
        let need = self.len + additional;
        let cap = self.buckets.len();
        if need * LOAD_DEN <= cap * LOAD_NUM {
            return None;
        }
        Some(buckets_for(need).max(cap + cap / 2))
    }

    /// How many more entries fit before the table must grow.
    pub(crate) fn room(&self) -> usize {
        (self.buckets.len() * LOAD_NUM / LOAD_DEN).saturating_sub(self.len)
    }

    /// The bucket count that holds `additional` more entries exactly (for a
    /// reservation); `None` when the table is large enough.
    pub(crate) fn reserve_target(&self, additional: usize) -> Option<usize> {
        let want = buckets_for(self.len + additional);
        (want > self.buckets.len()).then_some(want)
    }

    /// Replaces the table by one of `cap` buckets holding `entries`, given as
    /// (slot, hash). The caller walks its slab in slot order, which reads
    /// memory sequentially where walking the old buckets would jump around
    /// the slab for every entry.
    pub(crate) fn rebuild(&mut self, cap: usize, entries: impl Iterator<Item = (u32, u64)>) {
        let cap = cap.max(MIN_BUCKETS);
        let mut fresh = vec![0u32; cap].into_boxed_slice();
        let mut len = 0;
        for (slot, hash) in entries {
            len += 1;
            // The caller sized `cap` for its entries; more would fill the
            // table and make probing loop.
            assert!(
                len * LOAD_DEN <= cap * LOAD_NUM,
                "slot index rebuilt too small"
            );
            Self::place(&mut fresh, hash, encode(slot, tag_of(hash)));
        }
        self.buckets = fresh;
        self.len = len;
    }

    /// Drops every entry and the bucket array.
    pub(crate) fn clear(&mut self) {
        self.buckets = Box::new([]);
        self.len = 0;
    }

    /// Removes the entry for `slot` under `hash`; false if it was not there.
    pub(crate) fn remove(&mut self, hash: u64, slot: u32, rehash: impl Fn(u32) -> u64) -> bool {
        let cap = self.buckets.len();
        if cap == 0 {
            return false;
        }
        let want = encode(slot, tag_of(hash));
        let mut i = home(hash, cap);
        loop {
            match self.buckets[i] {
                0 => return false,
                b if b == want => break,
                _ => i = next(i, cap),
            }
        }
        self.len -= 1;
        // Backward-shift deletion: pull later members of the probe run into
        // the gap when their home is at or before it, so lookups never need
        // tombstones.
        let mut gap = i;
        self.buckets[gap] = 0;
        let mut j = next(gap, cap);
        while self.buckets[j] != 0 {
            let entry = self.buckets[j];
            let h = home(rehash(slot_of(entry)), cap);
            let dist_entry = (j + cap - h) % cap;
            let dist_gap = (j + cap - gap) % cap;
            if dist_entry >= dist_gap {
                self.buckets[gap] = entry;
                self.buckets[j] = 0;
                gap = j;
            }
            j = next(j, cap);
        }
        true
    }

    fn place(buckets: &mut [u32], hash: u64, entry: u32) {
        let cap = buckets.len();
        let mut i = home(hash, cap);
        // The load limit keeps empty buckets, so this ends.
        while buckets[i] != 0 {
            i = next(i, cap);
        }
        buckets[i] = entry;
    }
}

fn next(i: usize, cap: usize) -> usize {
    if i + 1 == cap {
        0
    } else {
        i + 1
    }
}

/// Iterator over the slots in a probe run whose tag matches.
pub(crate) struct Candidates<'a> {
    buckets: &'a [u32],
    pos: usize,
    tag: u32,
    done: bool,
}

impl Iterator for Candidates<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        while !self.done {
            let b = self.buckets[self.pos];
            if b == 0 {
                self.done = true;
                return None;
            }
            self.pos = next(self.pos, self.buckets.len());
            if b >> SLOT_BITS == self.tag {
                return Some(slot_of(b));
            }
        }
        None
    }
}

/// Hash functions for the store's keys, seeded per store so an attacker who
/// controls client identifiers cannot aim them at one probe run.
#[derive(Debug)]
pub(crate) struct KeyHasher {
    addr_seed: u64,
    bytes: RandomState,
}

impl KeyHasher {
    pub(crate) fn new() -> Self {
        let bytes = RandomState::new();
        Self {
            addr_seed: bytes.hash_one(0x6e65_7464_6863_7034_u64),
            bytes,
        }
    }

    /// Hash of an IPv4 address. Addresses are chosen by the server, not the
    /// client, so a fast mixer is enough.
    pub(crate) fn addr(&self, addr: u32) -> u64 {
        mix64(u64::from(addr) ^ self.addr_seed)
    }

    /// Hash of a (subnet, identifier bytes) key: SipHash, because the bytes
    /// come from clients.
    pub(crate) fn id(&self, subnet_id: u32, id: &[u8]) -> u64 {
        self.bytes.hash_one((subnet_id, id))
    }
}

/// The MurmurHash3 64-bit finalizer: every input bit affects every output bit.
pub(crate) fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    // The "slab" here is a vector of keys; a slot is an index into it.
    fn hash_key(k: u32) -> u64 {
        mix64(u64::from(k))
    }

    fn find(ix: &SlotIndex, keys: &[u32], k: u32) -> Vec<u32> {
        let mut v: Vec<u32> = ix
            .candidates(hash_key(k))
            .filter(|&s| keys[s as usize] == k)
            .collect();
        v.sort_unstable();
        v
    }

    /// Inserts with growth, as the store does it.
    fn grow_insert(ix: &mut SlotIndex, keys: &[u32], live: &[bool], slot: u32) {
        if let Some(cap) = ix.grow_target(1) {
            let entries = (0..keys.len() as u32)
                .filter(|&s| live[s as usize])
                .map(|s| (s, hash_key(keys[s as usize])));
            ix.rebuild(cap, entries);
        }
        ix.insert(hash_key(keys[slot as usize]), slot);
    }

    #[test]
    fn insert_find_remove_many() {
        let keys: Vec<u32> = (0..10_000).map(|i| i / 2).collect(); // each key twice
        let mut live = vec![false; keys.len()];
        let mut ix = SlotIndex::default();
        let rehash = |s: u32| hash_key(keys[s as usize]);
        for slot in 0..keys.len() as u32 {
            grow_insert(&mut ix, &keys, &live, slot);
            live[slot as usize] = true;
        }
        assert_eq!(ix.len(), 10_000);
        assert_eq!(find(&ix, &keys, 77), vec![154, 155]);
        // Remove every odd slot, then every slot of keys divisible by 3.
        for slot in (1..10_000u32).step_by(2) {
            assert!(ix.remove(hash_key(keys[slot as usize]), slot, rehash));
        }
        assert!(!ix.remove(hash_key(keys[1]), 1, rehash));
        for k in 0..5_000u32 {
            let want = if k % 3 == 0 { vec![] } else { vec![k * 2] };
            if k % 3 == 0 {
                assert!(ix.remove(hash_key(k), k * 2, rehash));
            }
            assert_eq!(find(&ix, &keys, k), want, "key {k}");
        }
        for k in 0..5_000u32 {
            let want = if k % 3 == 0 { vec![] } else { vec![k * 2] };
            assert_eq!(find(&ix, &keys, k), want, "key {k} after all removals");
        }
    }

    #[test]
    fn reserve_sizes_exactly() {
        let mut ix = SlotIndex::default();
        let cap = ix.reserve_target(1_000).expect("empty table grows");
        assert_eq!(cap, 1_250);
        ix.rebuild(cap, std::iter::empty());
        assert_eq!(ix.room(), 1_000);
        assert_eq!(ix.reserve_target(1_000), None);
        for s in 0..1_000u32 {
            assert_eq!(ix.grow_target(1), None, "no growth within the reservation");
            ix.insert(hash_key(s), s);
        }
        assert_eq!(ix.heap_bytes(), 1_250 * 4);
        assert_eq!(ix.room(), 0);
        assert_eq!(ix.grow_target(1), Some(1_875));
        ix.clear();
        assert_eq!((ix.len(), ix.heap_bytes()), (0, 0));
    }

    #[test]
    fn colliding_hashes_and_wraparound() {
        // All entries share one hash whose home is the last bucket, so runs
        // wrap to the start and every deletion shifts across the wrap.
        let hash = u64::MAX;
        let mut ix = SlotIndex::default();
        ix.rebuild(16, std::iter::empty());
        for s in 0..10u32 {
            ix.insert(hash, s);
        }
        for s in [0u32, 5, 9, 3] {
            assert!(ix.remove(hash, s, |_| hash));
        }
        let mut left: Vec<u32> = ix.candidates(hash).collect();
        left.sort_unstable();
        assert_eq!(left, vec![1, 2, 4, 6, 7, 8]);
    }
}
