//! The in-memory DHCPv4 lease store and its indexes.
//!
//! Single owner, no locks: the task that owns the store serialises access.
//! Records live in a paged slab; the indexes hold slot numbers only:
//!
//! - by address (unique),
//! - by (subnet, client-id) and by (subnet, hardware address), both
//!   multisets, since several leases may share an identifier (a reclaimed
//!   lease keeps its client's identifiers while the client gets a new one),
//! - by expiry, an ordered set of `(expire, address)` packed in a `u64`, for
//!   leases that still need reclaiming (state default or declined, finite
//!   lifetime), so [`LeaseStore4::expired`] never scans the whole store.
//!
//! A hash index that must grow is rebuilt from one pass over the slab, which
//! costs tens of milliseconds per million leases: the owner should
//! [`LeaseStore4::reserve`] for the pools it serves so that happens at
//! configuration time, not while packets wait.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use thiserror::Error;

use super::declined::DeclinedKeys;
use super::index::{KeyHasher, SlotIndex, MAX_SLOT};
use super::record::{HwAddr, Lease4, LeaseState};
use super::slab::Slab;

/// The store holds at most [`LeaseStore4::MAX_LEASES`] leases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("the lease store is full ({} leases)", LeaseStore4::MAX_LEASES)]
pub struct StoreFull;

/// All DHCPv4 leases, indexed by address, client-id, hardware address and expiry.
#[derive(Debug)]
pub struct LeaseStore4 {
    slab: Slab,
    by_addr: SlotIndex,
    by_client_id: SlotIndex,
    by_hwaddr: SlotIndex,
    by_expiry: BTreeSet<u64>,
    // Addresses of declined leases, kept in every mode (bulk load included) by the two
    // public mutators, `try_upsert` and `remove`.
    declined: DeclinedKeys<u32>,
    // While bulk loading only the address index is kept; the others are
    // built once at the end, exactly sized, from a sequential pass over the
    // slab (the expiry B-tree from sorted keys comes out with full nodes,
    // about half the memory of one grown by appends).
    bulk: bool,
    hasher: KeyHasher,
}

impl Default for LeaseStore4 {
    fn default() -> Self {
        Self::new()
    }
}

fn addr_key(a: Ipv4Addr) -> u32 {
    u32::from(a)
}

fn client_key(l: &Lease4) -> Option<(u32, &[u8])> {
    match l.client_id.as_deref() {
        Some(id) if !id.is_empty() => Some((l.subnet_id, id)),
        _ => None,
    }
}

fn hw_key(l: &Lease4) -> Option<(u32, &[u8])> {
    (!l.hwaddr.is_empty()).then(|| (l.subnet_id, l.hwaddr.as_bytes()))
}

/// The expiry-index key: expire time in the high half (clamped: leases that
/// expire after 2106 sort last and are checked exactly in `expired`),
/// address in the low half. `None` for leases that need no reclamation.
fn expiry_key(l: &Lease4) -> Option<u64> {
    let reclaimable = matches!(l.state, LeaseState::Default | LeaseState::Declined);
    if !reclaimable || l.is_infinite() {
        return None;
    }
    let expire = l.expire.min(u64::from(u32::MAX));
    Some((expire << 32) | u64::from(addr_key(l.address)))
}

// Among several leases with one identifier, lookups return the most recently
// updated (latest cltt); the address breaks ties so the answer is stable.
fn recency(l: &Lease4) -> (u64, u32) {
    (l.cltt(), addr_key(l.address))
}

/// Which hash index, for growing them generically.
#[derive(Clone, Copy)]
enum Which {
    Addr,
    ClientId,
    HwAddr,
}

impl LeaseStore4 {
    /// Most leases one store holds (the indexes keep 26-bit slot numbers).
    pub const MAX_LEASES: usize = MAX_SLOT as usize + 1;

    /// After a load, and when the engine reserves at configuration time,
    /// the hash indexes get room for this fraction (1/8) of the leases held
    /// beyond what they hold: 250,000 new clients at 2 million leases, for
    /// about 4 MB.
    pub const LOAD_HEADROOM_DIV: usize = 8;

    /// An empty store.
    pub fn new() -> Self {
        Self {
            slab: Slab::default(),
            by_addr: SlotIndex::default(),
            by_client_id: SlotIndex::default(),
            by_hwaddr: SlotIndex::default(),
            by_expiry: BTreeSet::new(),
            declined: DeclinedKeys::default(),
            bulk: false,
            hasher: KeyHasher::new(),
        }
    }

    /// Number of leases.
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    /// True when the store holds no lease.
    pub fn is_empty(&self) -> bool {
        self.slab.len() == 0
    }

    /// Makes room for `additional` more leases, so that inserting them never
    /// rebuilds an index.
    pub fn reserve(&mut self, additional: usize) {
        self.slab.reserve(additional);
        // A bulk load sizes the secondary indexes when it finishes.
        let which: &[Which] = if self.bulk {
            &[Which::Addr]
        } else {
            &[Which::Addr, Which::ClientId, Which::HwAddr]
        };
        for &which in which {
            if let Some(cap) = self.index(which).reserve_target(additional) {
                self.rebuild(which, cap);
            }
        }
    }

    /// How many more leases fit before some index must be rebuilt larger
    /// (each new lease may add an entry to every hash index).
    pub fn headroom(&self) -> usize {
        let indexes: &[Which] = if self.bulk {
            &[Which::Addr]
        } else {
            &[Which::Addr, Which::ClientId, Which::HwAddr]
        };
        indexes
            .iter()
            .map(|&w| self.index(w).room())
            .min()
            .unwrap_or(0)
    }

    /// The lease for `address`.
    pub fn get(&self, address: Ipv4Addr) -> Option<&Lease4> {
        self.slot_of(address).map(|s| self.slab.live(s))
    }

    /// The lease of client-id `id` in `subnet_id`; the most recently updated
    /// when there are several.
    pub fn find_by_client_id(&self, subnet_id: u32, id: &[u8]) -> Option<&Lease4> {
        debug_assert!(!self.bulk, "lookup during a bulk load");
        if id.is_empty() {
            return None;
        }
        let hash = self.hasher.id(subnet_id, id);
        self.by_client_id
            .candidates(hash)
            .map(|s| self.slab.live(s))
            .filter(|l| client_key(l) == Some((subnet_id, id)))
            .max_by_key(|l| recency(l))
    }

    /// The lease of hardware address `hwaddr` in `subnet_id`; the most
    /// recently updated when there are several.
    pub fn find_by_hwaddr(&self, subnet_id: u32, hwaddr: &HwAddr) -> Option<&Lease4> {
        debug_assert!(!self.bulk, "lookup during a bulk load");
        if hwaddr.is_empty() {
            return None;
        }
        let hash = self.hasher.id(subnet_id, hwaddr.as_bytes());
        self.by_hwaddr
            .candidates(hash)
            .map(|s| self.slab.live(s))
            .filter(|l| hw_key(l) == Some((subnet_id, hwaddr.as_bytes())))
            .max_by_key(|l| recency(l))
    }

    /// Every lease of client-id `id` in `subnet_id`, in no particular order.
    pub fn all_by_client_id<'a>(
        &'a self,
        subnet_id: u32,
        id: &'a [u8],
    ) -> impl Iterator<Item = &'a Lease4> + 'a {
        debug_assert!(!self.bulk, "lookup during a bulk load");
        let hash = self.hasher.id(subnet_id, id);
        self.by_client_id
            .candidates(hash)
            .map(|s| self.slab.live(s))
            .filter(move |l| !id.is_empty() && client_key(l) == Some((subnet_id, id)))
    }

    /// Every lease of hardware address `hwaddr` in `subnet_id`, in no
    /// particular order.
    pub fn all_by_hwaddr<'a>(
        &'a self,
        subnet_id: u32,
        hwaddr: &'a HwAddr,
    ) -> impl Iterator<Item = &'a Lease4> + 'a {
        debug_assert!(!self.bulk, "lookup during a bulk load");
        let hash = self.hasher.id(subnet_id, hwaddr.as_bytes());
        self.by_hwaddr
            .candidates(hash)
            .map(|s| self.slab.live(s))
            .filter(move |l| {
                !hwaddr.is_empty() && hw_key(l) == Some((subnet_id, hwaddr.as_bytes()))
            })
    }

    /// Inserts `lease`, or replaces the lease with the same address, keeping
    /// every index right. Returns the replaced lease.
    ///
    /// # Panics
    ///
    /// When a new address would exceed [`LeaseStore4::MAX_LEASES`]; use
    /// [`LeaseStore4::try_upsert`] where that can happen.
    pub fn upsert(&mut self, lease: Lease4) -> Option<Lease4> {
        match self.try_upsert(lease) {
            Ok(old) => old,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`LeaseStore4::upsert`], but reports a full store instead of
    /// panicking.
    pub fn try_upsert(&mut self, lease: Lease4) -> Result<Option<Lease4>, StoreFull> {
        // Grow first, while the slab and the indexes agree: a rebuild reads
        // the slab.
        self.make_room();
        let key = addr_key(lease.address);
        let declined = lease.state == LeaseState::Declined;
        let old = match self.slot_of(lease.address) {
            Some(slot) => Some(self.replace_at(slot, lease)),
            None => {
                self.insert_new(lease)?;
                None
            }
        };
        let was = old
            .as_ref()
            .is_some_and(|o| o.state == LeaseState::Declined);
        self.declined.note(key, was, declined);
        Ok(old)
    }

    /// Declined leases (on probation) whose address lies in `first..=last`; O(log pools)
    /// for a range given to [`LeaseStore4::set_declined_ranges`].
    pub fn declined_in(&self, first: Ipv4Addr, last: Ipv4Addr) -> u64 {
        self.declined.count_in(addr_key(first)..=addr_key(last))
    }

    /// The address ranges (pools, as `(first, last)`) whose declined leases are counted as
    /// they change; called when a configuration is taken up.
    pub fn set_declined_ranges(&mut self, ranges: impl IntoIterator<Item = (Ipv4Addr, Ipv4Addr)>) {
        self.declined.set_ranges(
            ranges
                .into_iter()
                .map(|(first, last)| addr_key(first)..=addr_key(last))
                .collect(),
        );
    }

    /// Removes and returns the lease for `address`.
    pub fn remove(&mut self, address: Ipv4Addr) -> Option<Lease4> {
        let slot = self.slot_of(address)?;
        let Self {
            slab,
            by_addr,
            by_client_id,
            by_hwaddr,
            by_expiry,
            declined,
            bulk,
            hasher,
        } = self;
        let old = slab.live(slot);
        declined.note(addr_key(address), old.state == LeaseState::Declined, false);
        let addr_hash = hasher.addr(addr_key(address));
        by_addr.remove(addr_hash, slot, |s| addr_hash_of(hasher, slab.live(s)));
        if !*bulk {
            if let Some((subnet, id)) = client_key(old) {
                let h = hasher.id(subnet, id);
                by_client_id.remove(h, slot, |s| client_hash(hasher, slab.live(s)));
            }
            if let Some((subnet, hw)) = hw_key(old) {
                let h = hasher.id(subnet, hw);
                by_hwaddr.remove(h, slot, |s| hw_hash(hasher, slab.live(s)));
            }
            if let Some(k) = expiry_key(old) {
                by_expiry.remove(&k);
            }
        }
        slab.remove(slot)
    }

    /// All leases, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Lease4> + '_ {
        self.slab.iter().map(|(_, l)| l)
    }

    /// Addresses of up to `limit` leases that need reclaiming at `now`: state
    /// default or declined, finite lifetime, `expire <= now`; the earliest
    /// expiry first.
    pub fn expired(&self, now: u64, limit: usize) -> Vec<Ipv4Addr> {
        debug_assert!(!self.bulk, "expired() during a bulk load");
        let clamped = now.min(u64::from(u32::MAX));
        let end = (clamped << 32) | u64::from(u32::MAX);
        self.by_expiry
            .range(..=end)
            .map(|&k| Ipv4Addr::from(k as u32))
            // Keys of leases expiring after 2106 are clamped; check those exactly.
            .filter(|&a| {
                clamped < u64::from(u32::MAX) || self.get(a).is_some_and(|l| l.expire <= now)
            })
            .take(limit)
            .collect()
    }

    /// Approximate bytes of memory the store uses (for statistics and tests;
    /// walks every lease).
    pub fn memory_estimate(&self) -> usize {
        let indexes = self.by_addr.heap_bytes()
            + self.by_client_id.heap_bytes()
            + self.by_hwaddr.heap_bytes();
        // A B-tree leaf holds up to 11 keys in 104 bytes; assume two thirds full.
        let expiry = self.by_expiry.len().div_ceil(7) * 104;
        let records: usize = self
            .iter()
            .map(|l| {
                heap_block(l.client_id.as_ref().map_or(0, |c| c.heap_len()))
                    + heap_block(l.hostname.as_ref().map_or(0, |h| h.len()))
                    + heap_block(l.user_context.as_ref().map_or(0, |u| u.len()))
            })
            .sum();
        self.slab.heap_bytes() + indexes + expiry + records
    }

    /// Starts a bulk load: until [`LeaseStore4::finish_bulk_load`] only
    /// `get`, `upsert`, `remove`, `len` and `iter` may be used.
    pub(crate) fn begin_bulk_load(&mut self) {
        self.bulk = true;
        self.by_client_id.clear();
        self.by_hwaddr.clear();
        self.by_expiry.clear();
    }

    /// Ends a bulk load by building the secondary indexes from all leases,
    /// each with room for [`LeaseStore4::LOAD_HEADROOM_DIV`]-th more entries,
    /// so new clients right after start-up do not rebuild them while
    /// packets wait, and a reservation at configuration time has nothing to
    /// do (a later rebuild would leave the old arrays as holes in the heap:
    /// about 30 MB at 2 million leases).
    pub(crate) fn finish_bulk_load(&mut self) {
        self.bulk = false;
        let headroom = self.len() / Self::LOAD_HEADROOM_DIV;
        // The address index grew during the load; give it the same room
        // first, before the other arrays are allocated.
        if self.by_addr.room() < headroom {
            if let Some(cap) = self.by_addr.reserve_target(headroom) {
                self.rebuild(Which::Addr, cap);
            }
        }
        for which in [Which::ClientId, Which::HwAddr] {
            let entries = self.count(which);
            self.rebuild(
                which,
                SlotIndex::default()
                    .reserve_target(entries + headroom)
                    .unwrap_or(0),
            );
        }
        let mut keys: Vec<u64> = self
            .slab
            .iter()
            .filter_map(|(_, l)| expiry_key(l))
            .collect();
        keys.sort_unstable();
        // From sorted input the B-tree is built bottom-up with full nodes.
        self.by_expiry = keys.into_iter().collect();
    }

    fn index(&self, which: Which) -> &SlotIndex {
        match which {
            Which::Addr => &self.by_addr,
            Which::ClientId => &self.by_client_id,
            Which::HwAddr => &self.by_hwaddr,
        }
    }

    fn count(&self, which: Which) -> usize {
        let key = key_fn(which);
        self.slab
            .iter()
            .filter(|(_, l)| key(&self.hasher, l).is_some())
            .count()
    }

    /// Grows any index that has no room for one more entry.
    fn make_room(&mut self) {
        let which: &[Which] = if self.bulk {
            &[Which::Addr]
        } else {
            &[Which::Addr, Which::ClientId, Which::HwAddr]
        };
        for &w in which {
            if let Some(cap) = self.index(w).grow_target(1) {
                self.rebuild(w, cap);
            }
        }
    }

    fn rebuild(&mut self, which: Which, cap: usize) {
        let Self {
            slab,
            by_addr,
            by_client_id,
            by_hwaddr,
            hasher,
            ..
        } = self;
        let key = key_fn(which);
        let entries = slab
            .iter()
            .filter_map(|(s, l)| key(hasher, l).map(|h| (s, h)));
        match which {
            Which::Addr => by_addr.rebuild(cap, entries),
            Which::ClientId => by_client_id.rebuild(cap, entries),
            Which::HwAddr => by_hwaddr.rebuild(cap, entries),
        }
    }

    fn slot_of(&self, address: Ipv4Addr) -> Option<u32> {
        let key = addr_key(address);
        self.by_addr
            .candidates(self.hasher.addr(key))
            .find(|&s| self.slab.live(s).address == address)
    }

    fn insert_new(&mut self, lease: Lease4) -> Result<(), StoreFull> {
        let addr_hash = self.hasher.addr(addr_key(lease.address));
        let client_h = client_key(&lease).map(|(n, id)| self.hasher.id(n, id));
        let hw_h = hw_key(&lease).map(|(n, hw)| self.hasher.id(n, hw));
        let exp = expiry_key(&lease);
        self.slab.insert(lease).map_err(|_| StoreFull).map(|slot| {
            self.by_addr.insert(addr_hash, slot);
            if !self.bulk {
                if let Some(h) = client_h {
                    self.by_client_id.insert(h, slot);
                }
                if let Some(h) = hw_h {
                    self.by_hwaddr.insert(h, slot);
                }
                if let Some(k) = exp {
                    self.by_expiry.insert(k);
                }
            }
        })
    }

    fn replace_at(&mut self, slot: u32, lease: Lease4) -> Lease4 {
        if self.bulk {
            // Only the address index is kept, and the address is unchanged.
            return match self.slab.replace(slot, lease) {
                Some(old) => old,
                None => panic!("lease index refers to empty slab slot {slot}"),
            };
        }
        let Self {
            slab,
            by_client_id,
            by_hwaddr,
            by_expiry,
            hasher,
            ..
        } = self;
        let old = slab.live(slot);
        // A renewal keeps the client's identifiers: only the expiry moves.
        let client_changed = client_key(old) != client_key(&lease);
        let hw_changed = hw_key(old) != hw_key(&lease);
        let old_exp = expiry_key(old);
        let new_exp = expiry_key(&lease);
        // Unindex while the slab still holds the old record: the removal's
        // backward shift rehashes neighbours from the slab.
        if client_changed {
            if let Some((n, id)) = client_key(old) {
                let h = hasher.id(n, id);
                by_client_id.remove(h, slot, |s| client_hash(hasher, slab.live(s)));
            }
        }
        if hw_changed {
            if let Some((n, hw)) = hw_key(old) {
                let h = hasher.id(n, hw);
                by_hwaddr.remove(h, slot, |s| hw_hash(hasher, slab.live(s)));
            }
        }
        let client_h = client_key(&lease).map(|(n, id)| hasher.id(n, id));
        let hw_h = hw_key(&lease).map(|(n, hw)| hasher.id(n, hw));
        let old = match slab.replace(slot, lease) {
            Some(old) => old,
            None => panic!("lease index refers to empty slab slot {slot}"),
        };
        // `make_room` ran before: each index has room for one more entry.
        if client_changed {
            if let Some(h) = client_h {
                by_client_id.insert(h, slot);
            }
        }
        if hw_changed {
            if let Some(h) = hw_h {
                by_hwaddr.insert(h, slot);
            }
        }
        if old_exp != new_exp {
            if let Some(k) = old_exp {
                by_expiry.remove(&k);
            }
            if let Some(k) = new_exp {
                by_expiry.insert(k);
            }
        }
        old
    }
}

type KeyFn = fn(&KeyHasher, &Lease4) -> Option<u64>;

/// The hash of a lease's key in index `which`, or `None` when the lease is
/// not in that index.
fn key_fn(which: Which) -> KeyFn {
    match which {
        Which::Addr => |h, l| Some(addr_hash_of(h, l)),
        Which::ClientId => |h, l| client_key(l).map(|(n, id)| h.id(n, id)),
        Which::HwAddr => |h, l| hw_key(l).map(|(n, hw)| h.id(n, hw)),
    }
}

fn addr_hash_of(hasher: &KeyHasher, l: &Lease4) -> u64 {
    hasher.addr(addr_key(l.address))
}

// Only slots holding a client-id / hardware address are in those indexes,
// so the `None` arms are never taken for an indexed slot.
fn client_hash(hasher: &KeyHasher, l: &Lease4) -> u64 {
    client_key(l).map_or(0, |(n, id)| hasher.id(n, id))
}

fn hw_hash(hasher: &KeyHasher, l: &Lease4) -> u64 {
    hw_key(l).map_or(0, |(n, hw)| hasher.id(n, hw))
}

/// Size of the heap block glibc's malloc uses for `n` bytes (8 bytes of
/// header, 16-byte granules, 32 at least).
fn heap_block(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        ((n + 8 + 15) & !15).max(32)
    }
}

#[cfg(test)]
mod tests;
