//! Which addresses of a range are free, so allocation never scans leases.
//!
//! A two-level bitmap: one bit per address (set = in use) and one bit per 64-address word
//! (set = word full). Finding a free address looks at most at range/4096 summary words, which
//! for a pool of four million addresses is about a thousand word reads, and usually one.

/// Free/used state of an inclusive range of IPv4 addresses (as u32).
#[derive(Debug, Clone)]
pub struct FreeMap {
    start: u32,
    len: u32,
    used: Vec<u64>,
    full: Vec<u64>,
    used_count: u32,
    // Where the next search starts, so successive allocations spread through the pool
    // instead of hammering its first addresses (a released address is not handed out again
    // at once, which helps clients that cache it).
    cursor: u32,
}

impl FreeMap {
    /// A map of `start..=end` with every address free.
    pub fn new(start: u32, end: u32) -> Self {
        let len = end.saturating_sub(start).saturating_add(1);
        let words = (len as usize).div_ceil(64);
        let mut map = FreeMap {
            start,
            len,
            used: vec![0; words],
            full: vec![0; words.div_ceil(64)],
            used_count: 0,
            cursor: 0,
        };
        // Bits past the end of the range are permanently "used" so the search never returns
        // them.
        let tail = len as usize % 64;
        if tail != 0 {
            map.used[words - 1] = !0u64 << tail;
            map.refresh_full(words - 1);
        }
        map
    }

    /// First address of the range.
    pub fn start(&self) -> u32 {
        self.start
    }

    /// Number of addresses in the range.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the range is empty (never for a configured pool).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Addresses marked in use.
    pub fn used(&self) -> u32 {
        self.used_count
    }

    /// Whether `addr` is inside the range.
    pub fn contains(&self, addr: u32) -> bool {
        addr.wrapping_sub(self.start) < self.len
    }

    /// Whether `addr` is in use (addresses outside the range count as in use).
    pub fn is_used(&self, addr: u32) -> bool {
        if !self.contains(addr) {
            return true;
        }
        let i = (addr - self.start) as usize;
        self.used[i / 64] & (1 << (i % 64)) != 0
    }

    /// Marks `addr` in use; returns false if it already was or is outside the range.
    pub fn take(&mut self, addr: u32) -> bool {
        if !self.contains(addr) {
            return false;
        }
        let i = (addr - self.start) as usize;
        let bit = 1u64 << (i % 64);
        if self.used[i / 64] & bit != 0 {
            return false;
        }
        self.used[i / 64] |= bit;
        self.used_count += 1;
        self.refresh_full(i / 64);
        true
    }

    /// Marks `addr` free; returns false if it already was or is outside the range.
    pub fn release(&mut self, addr: u32) -> bool {
        if !self.contains(addr) {
            return false;
        }
        let i = (addr - self.start) as usize;
        let bit = 1u64 << (i % 64);
        if self.used[i / 64] & bit == 0 {
            return false;
        }
        self.used[i / 64] &= !bit;
        self.used_count -= 1;
        self.full[i / 4096] &= !(1 << ((i / 64) % 64));
        true
    }

    /// Takes the next free address at or after the cursor, wrapping around; `None` when the
    /// range is full.
    pub fn allocate(&mut self) -> Option<u32> {
        self.allocate_parity(None)
    }

    /// Takes a free address whose parity (address modulo 2) is `parity`, or any free address
    /// when `None`. A failover pair in load-balancing splits every pool this way, so the two
    /// servers never pick the same free address for two clients at the same moment.
    pub fn allocate_parity(&mut self, parity: Option<u32>) -> Option<u32> {
        if self.used_count >= self.len {
            return None;
        }
        // Bit i of a word stands for address start + 64k + i, whose parity is that of
        // start + i: mask off the bits of the other parity.
        let mask = match parity {
            None => 0,
            Some(p) if (self.start ^ p) & 1 == 0 => 0xAAAA_AAAA_AAAA_AAAA,
            Some(_) => 0x5555_5555_5555_5555,
        };
        let from = self.cursor as usize;
        let found = self
            .find_free(from, self.len as usize, mask)
            .or_else(|| self.find_free(0, from, mask))?;
        let addr = self.start + found as u32;
        self.take(addr);
        self.cursor = ((found + 1) % self.len as usize) as u32;
        Some(addr)
    }

    fn refresh_full(&mut self, word: usize) {
        let bit = 1u64 << (word % 64);
        if self.used[word] == !0 {
            self.full[word / 64] |= bit;
        } else {
            self.full[word / 64] &= !bit;
        }
    }

    // First free index in [from, to).
    // `mask`: bits to treat as used besides the used ones (the other parity).
    fn find_free(&self, from: usize, to: usize, mask: u64) -> Option<usize> {
        if from >= to {
            return None;
        }
        let mut word = from / 64;
        // The partial first word: mask off indexes below `from`.
        let first = self.used[word] | mask | ((1u64 << (from % 64)) - 1);
        if first != !0 {
            let i = word * 64 + first.trailing_ones() as usize;
            return (i < to).then_some(i);
        }
        word += 1;
        let last_word = (to - 1) / 64;
        while word <= last_word {
            // Skip 64 full words at a time using the summary.
            let summary = self.full[word / 64] | ((1u64 << (word % 64)) - 1);
            if summary == !0 {
                word = (word / 64 + 1) * 64;
                continue;
            }
            word = (word / 64) * 64 + summary.trailing_ones() as usize;
            if word > last_word {
                break;
            }
            let bits = self.used[word] | mask;
            if bits != !0 {
                let i = word * 64 + bits.trailing_ones() as usize;
                return (i < to).then_some(i);
            }
            // Not full, but its free addresses are all of the other parity.
            word += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_every_address_once_then_none() {
        let mut m = FreeMap::new(1000, 1000 + 199);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let a = m.allocate().unwrap();
            assert!((1000..1200).contains(&a));
            assert!(seen.insert(a));
        }
        assert_eq!(m.allocate(), None);
        assert_eq!(m.used(), 200);
        assert!(m.release(1150));
        assert_eq!(m.allocate(), Some(1150));
    }

    #[test]
    fn taken_addresses_are_skipped() {
        let mut m = FreeMap::new(0, 9);
        for a in [0, 1, 2, 5] {
            assert!(m.take(a));
        }
        assert!(!m.take(5));
        assert!(!m.take(10));
        let got: Vec<u32> = std::iter::from_fn(|| m.allocate()).collect();
        assert_eq!(got, vec![3, 4, 6, 7, 8, 9]);
    }

    #[test]
    fn large_pool_skips_full_regions_quickly() {
        let n = 4_000_000u32;
        let mut m = FreeMap::new(0, n - 1);
        for a in 0..n - 1 {
            m.take(a);
        }
        assert_eq!(m.allocate(), Some(n - 1));
        assert_eq!(m.allocate(), None);
        m.release(123_456);
        assert_eq!(m.allocate(), Some(123_456));
    }

    #[test]
    fn release_then_cursor_moves_on() {
        let mut m = FreeMap::new(0, 99);
        let a = m.allocate().unwrap();
        m.release(a);
        // The address just released is not handed out again while others are free.
        assert_ne!(m.allocate(), Some(a));
    }

    #[test]
    fn parity_allocation_keeps_to_its_half_until_it_is_used_up() {
        for start in [1000u32, 1001] {
            let mut m = FreeMap::new(start, start + 199);
            let mut evens = Vec::new();
            while let Some(a) = m.allocate_parity(Some(0)) {
                evens.push(a);
            }
            assert_eq!(evens.len(), 100, "start {start}");
            assert!(evens.iter().all(|a| a % 2 == 0));
            assert_eq!(m.allocate_parity(Some(0)), None);
            let odd = m.allocate_parity(Some(1)).unwrap();
            assert_eq!(odd % 2, 1);
            assert_eq!(m.allocate_parity(None).map(|a| a % 2), Some(1));
        }
    }
}
