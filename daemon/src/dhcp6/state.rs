//! The DHCPv6 lease state the policy works on: the lease store, an allocator per address pool
//! and per prefix pool, and advertised (held) leases. One owner (the engine thread); no locks.
//!
//! A v6 pool can hold 2^64 addresses or more, so there is no dense bitmap: each pool keeps
//! its used offsets in a sparse one ([`UsedSlots`]) and a next-fit cursor. Allocation scans
//! forward from the cursor a word at a time, at most [`MAX_PROBES`] offsets, and the pool
//! counts its used offsets so a full pool is known without probing. Prefix pools are the
//! same allocator over prefix indexes.
//!
//! A commit rebuilds only the allocators of subnets whose addresses or prefixes changed (see
//! [`LeaseState6::reconfigure`]), so the lease walk it may take is not paid for option edits.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

use crate::config::{Dhcp6Config, Subnet6};
use crate::lease::record::LeaseState;
use crate::lease::record6::{Lease6, LeaseKey6, LeaseType6};
use crate::lease::store6::{ClientIa, LeaseStore6};

use super::used_slots::UsedSlots;

/// Offsets tried per allocation before a pool is reported exhausted.
pub const MAX_PROBES: u32 = 4096;

/// Next-fit allocator over `count` slots starting at `first`, slot `i` being
/// `first + (i << shift)`.
#[derive(Debug, Clone)]
pub struct RangeAlloc {
    first: u128,
    shift: u32,
    count: u128,
    cursor: u128,
    used: UsedSlots,
    /// 128 for addresses; the delegated length for prefixes.
    pub prefix_len: u8,
}

impl RangeAlloc {
    /// Addresses `start..=end`.
    pub fn addresses(start: Ipv6Addr, end: Ipv6Addr) -> Self {
        let (s, e) = (u128::from(start), u128::from(end));
        RangeAlloc {
            first: s,
            shift: 0,
            count: e.saturating_sub(s).saturating_add(1),
            cursor: 0,
            used: UsedSlots::default(),
            prefix_len: 128,
        }
    }

    /// Prefixes of `delegated` bits inside `pool`.
    pub fn prefixes(pool: Ipv6Net, delegated: u8) -> Self {
        let bits = u32::from(delegated.saturating_sub(pool.prefix_len()));
        let shift = 128 - u32::from(delegated);
        RangeAlloc {
            first: u128::from(pool.network()),
            shift: shift.min(127),
            count: if bits >= 128 {
                u128::MAX
            } else {
                1u128 << bits
            },
            cursor: 0,
            used: UsedSlots::default(),
            prefix_len: delegated,
        }
    }

    fn offset(&self, addr: Ipv6Addr) -> Option<u128> {
        let a = u128::from(addr);
        let d = a.checked_sub(self.first)?;
        if self.shift > 0 && d & ((1u128 << self.shift) - 1) != 0 {
            return None;
        }
        let i = if self.shift >= 128 {
            0
        } else {
            d >> self.shift
        };
        (i < self.count).then_some(i)
    }

    fn at(&self, i: u128) -> Ipv6Addr {
        Ipv6Addr::from(self.first + (i << self.shift))
    }

    /// Whether `addr` (and, for prefixes, `len`) is one of this allocator's slots.
    pub fn contains(&self, addr: Ipv6Addr, len: u8) -> bool {
        len == self.prefix_len && self.offset(addr).is_some()
    }

    /// Marks a slot used.
    pub fn take(&mut self, addr: Ipv6Addr) {
        if let Some(i) = self.offset(addr) {
            self.used.insert(i);
        }
    }

    /// Marks a slot free.
    pub fn release(&mut self, addr: Ipv6Addr) {
        if let Some(i) = self.offset(addr) {
            self.used.remove(i);
        }
    }

    /// Whether a slot is free (and, with `half`, one of that half's slots).
    pub fn is_free(&self, addr: Ipv6Addr, half: Option<u32>) -> bool {
        self.offset(addr)
            .is_some_and(|i| !self.used.contains(i) && half.is_none_or(|h| i % 2 == u128::from(h)))
    }

    /// Takes a free slot; with `half`, only a slot whose index has that parity (a
    /// load-balancing pair splits its pools so both servers never take the same slot).
    pub fn allocate(&mut self, half: Option<u32>) -> Option<Ipv6Addr> {
        if u128::from(self.used.len()) >= self.count {
            return None;
        }
        let mut left = self.count.min(u128::from(MAX_PROBES));
        while left > 0 {
            // The free slots from the cursor to the end of its word, the probe budget or the
            // pool, whichever comes first.
            let from = self.cursor;
            let bit = (from & 63) as u32;
            let span = (64 - u128::from(bit)).min(left).min(self.count - from);
            let mut free = !self.used.word(from >> 6) >> bit;
            if span < 64 {
                free &= (1u64 << span) - 1;
            }
            if let Some(h) = half {
                // Bit k is slot from + k: keep the k whose slot has parity h.
                let even_k = 0x5555_5555_5555_5555u64;
                free &= if from % 2 == u128::from(h) {
                    even_k
                } else {
                    !even_k
                };
            }
            if free != 0 {
                let i = from + u128::from(free.trailing_zeros());
                self.used.insert(i);
                self.cursor = if i + 1 >= self.count { 0 } else { i + 1 };
                return Some(self.at(i));
            }
            left -= span;
            self.cursor = if from + span >= self.count {
                0
            } else {
                from + span
            };
        }
        None
    }

    /// Whether `other` has exactly these slots (its use aside).
    fn same_slots(&self, other: &RangeAlloc) -> bool {
        (self.first, self.shift, self.count, self.prefix_len)
            == (other.first, other.shift, other.count, other.prefix_len)
    }

    /// Marks used the slots that leases of `kind` in `store` hold at `now`, looking each
    /// slot up by key: for a pool with fewer slots than the store has leases.
    fn take_held_by_lookup(&mut self, store: &LeaseStore6, kind: LeaseType6, now: u64) {
        for i in 0..self.count {
            let slot = self.at(i);
            if store
                .get((kind, slot))
                .is_some_and(|l| l.prefix_len == self.prefix_len && holds(l, now))
            {
                self.used.insert(i);
            }
        }
    }

    /// Slots in use, total slots.
    pub fn usage(&self) -> (u64, u128) {
        (self.used.len(), self.count)
    }
}

#[derive(Debug)]
struct Offer {
    client: ClientIa,
    expire: u64,
}

/// Leases, pool allocators and held advertisements.
#[derive(Debug)]
pub struct LeaseState6 {
    /// Every lease, active or not.
    pub store: LeaseStore6,
    na: HashMap<u32, Vec<RangeAlloc>>,
    pd: HashMap<u32, Vec<RangeAlloc>>,
    offers: HashMap<LeaseKey6, Offer>,
    offers_by_client: HashMap<ClientIa, Vec<LeaseKey6>>,
    offer_queue: VecDeque<(u64, LeaseKey6)>,
    split: Option<u32>,
    // What each subnet's allocators were built from, to keep them across a commit that
    // leaves the subnet's addresses and prefixes alone.
    layouts: HashMap<u32, SubnetLayout>,
}

/// The parts of a subnet its allocators depend on: the link prefix, the address pools, the
/// prefix pools and the reserved addresses and prefixes, each sorted so the order they are
/// configured in does not matter. Subnets, address pools and prefix pools do not overlap (the
/// configuration checks refuse it), so a subnet whose layout is unchanged keeps its allocators
/// and offers as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SubnetLayout {
    prefix: Ipv6Net,
    na_pools: Vec<(Ipv6Addr, Ipv6Addr)>,
    pd_pools: Vec<(Ipv6Net, u8)>,
    reserved_addresses: Vec<Ipv6Addr>,
    reserved_prefixes: Vec<Ipv6Net>,
}

impl SubnetLayout {
    fn of(subnet: &Subnet6) -> Self {
        let mut na_pools: Vec<(Ipv6Addr, Ipv6Addr)> =
            subnet.pools.iter().map(|p| (p.start, p.end)).collect();
        na_pools.sort_unstable();
        let mut pd_pools: Vec<(Ipv6Net, u8)> = subnet
            .pd_pools
            .iter()
            .map(|p| (p.prefix, p.delegated_len))
            .collect();
        pd_pools.sort_unstable();
        let mut reserved_addresses: Vec<Ipv6Addr> = subnet
            .reservations
            .iter()
            .filter_map(|r| r.address)
            .collect();
        reserved_addresses.sort_unstable();
        let mut reserved_prefixes: Vec<Ipv6Net> = subnet
            .reservations
            .iter()
            .filter_map(|r| r.prefix)
            .collect();
        reserved_prefixes.sort_unstable();
        SubnetLayout {
            prefix: subnet.prefix,
            na_pools,
            pd_pools,
            reserved_addresses,
            reserved_prefixes,
        }
    }
}

/// What a commit keeps of the old allocators of changed subnets, worked out subnet by subnet.
#[derive(Debug, Default)]
struct CarryOver6 {
    /// (subnet, index) of address allocators built new: the leases in them are still to be
    /// taken.
    fresh_na: Vec<(u32, usize)>,
    /// The same for prefix allocators.
    fresh_pd: Vec<(u32, usize)>,
    /// Slots reserved now and not before, in kept allocators: offers of them go.
    newly_reserved: Vec<LeaseKey6>,
    /// (subnet, slot) reserved before and not now, in kept allocators: freed unless a lease or
    /// an offer holds them.
    unreserved: Vec<(u32, LeaseKey6)>,
}

impl CarryOver6 {
    /// The allocators of a changed (or new) subnet: the old allocator of every pool whose
    /// slots are unchanged, with reservations added or removed applied, and a new one, with
    /// the subnet's reservations taken, for every other pool. Kept pools join `kept` (their
    /// offers stay).
    fn carry(
        &mut self,
        subnet: &Subnet6,
        old: Option<&SubnetLayout>,
        (mut old_na, mut old_pd): (Vec<RangeAlloc>, Vec<RangeAlloc>),
        layout: &SubnetLayout,
        kept: &mut KeptSpace,
    ) -> (Vec<RangeAlloc>, Vec<RangeAlloc>) {
        let no_addresses = Vec::new();
        let no_prefixes = Vec::new();
        let old_addresses = old.map_or(&no_addresses, |l| &l.reserved_addresses);
        let old_prefixes = old.map_or(&no_prefixes, |l| &l.reserved_prefixes);
        let mut na = Vec::with_capacity(subnet.pools.len());
        for p in &subnet.pools {
            let wanted = RangeAlloc::addresses(p.start, p.end);
            let index = na.len();
            na.push(match old_na.iter().position(|m| m.same_slots(&wanted)) {
                Some(k) => {
                    let mut m = old_na.swap_remove(k);
                    for &a in &layout.reserved_addresses {
                        if m.contains(a, 128) && old_addresses.binary_search(&a).is_err() {
                            m.take(a);
                            self.newly_reserved.push((LeaseType6::Na, a));
                        }
                    }
                    for &a in old_addresses {
                        if m.contains(a, 128)
                            && layout.reserved_addresses.binary_search(&a).is_err()
                        {
                            self.unreserved.push((subnet.id, (LeaseType6::Na, a)));
                        }
                    }
                    kept.na.push((u128::from(p.start), u128::from(p.end)));
                    m
                }
                None => {
                    let mut m = wanted;
                    layout.reserved_addresses.iter().for_each(|&a| m.take(a));
                    self.fresh_na.push((subnet.id, index));
                    m
                }
            });
        }
        let mut pd = Vec::with_capacity(subnet.pd_pools.len());
        for p in &subnet.pd_pools {
            let wanted = RangeAlloc::prefixes(p.prefix, p.delegated_len);
            let index = pd.len();
            let fits = |m: &RangeAlloc, r: &Ipv6Net| m.contains(r.network(), r.prefix_len());
            pd.push(match old_pd.iter().position(|m| m.same_slots(&wanted)) {
                Some(k) => {
                    let mut m = old_pd.swap_remove(k);
                    for r in &layout.reserved_prefixes {
                        if fits(&m, r) && old_prefixes.binary_search(r).is_err() {
                            m.take(r.network());
                            self.newly_reserved.push((LeaseType6::Pd, r.network()));
                        }
                    }
                    for r in old_prefixes {
                        if fits(&m, r) && layout.reserved_prefixes.binary_search(r).is_err() {
                            self.unreserved
                                .push((subnet.id, (LeaseType6::Pd, r.network())));
                        }
                    }
                    kept.pd.push(span_of(p.prefix));
                    m
                }
                None => {
                    let mut m = wanted;
                    for r in &layout.reserved_prefixes {
                        if m.prefix_len == r.prefix_len() {
                            m.take(r.network());
                        }
                    }
                    self.fresh_pd.push((subnet.id, index));
                    m
                }
            });
        }
        (na, pd)
    }
}

/// The addresses (IA_NA) and prefixes (IA_PD) whose offers a commit keeps: the spaces of
/// the subnets that kept their allocators and of the pools kept in changed subnets, as sorted
/// disjoint ranges of 128-bit values.
#[derive(Debug, Default)]
struct KeptSpace {
    na: Vec<(u128, u128)>,
    pd: Vec<(u128, u128)>,
}

impl KeptSpace {
    /// Adds a kept subnet's space; call [`KeptSpace::done`] before asking.
    fn add(&mut self, l: &SubnetLayout) {
        self.na.push(span_of(l.prefix));
        self.pd.extend(l.pd_pools.iter().map(|(p, _)| span_of(*p)));
        self.pd
            .extend(l.reserved_prefixes.iter().map(|p| span_of(*p)));
    }

    fn done(mut self) -> Self {
        self.na = merged(self.na);
        self.pd = merged(self.pd);
        self
    }

    fn contains(&self, key: LeaseKey6) -> bool {
        let spans = match key.0 {
            LeaseType6::Na => &self.na,
            LeaseType6::Pd => &self.pd,
            LeaseType6::Ta => return false,
        };
        let a = u128::from(key.1);
        let i = spans.partition_point(|(first, _)| *first <= a);
        i > 0 && a <= spans[i - 1].1
    }
}

fn span_of(net: Ipv6Net) -> (u128, u128) {
    (u128::from(net.network()), u128::from(net.broadcast()))
}

// Sorts ranges and joins those that overlap, so one binary search answers membership.
fn merged(mut spans: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    spans.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(spans.len());
    for (first, last) in spans {
        match out.last_mut() {
            Some(prev) if first <= prev.1 => prev.1 = prev.1.max(last),
            _ => out.push((first, last)),
        }
    }
    out
}

/// Whether a lease keeps its address or prefix out of use at `now`.
pub fn holds(lease: &Lease6, now: u64) -> bool {
    matches!(lease.state, LeaseState::Default | LeaseState::Declined) && !lease.is_expired(now)
}

fn kind_of(len: u8) -> LeaseType6 {
    if len == 128 {
        LeaseType6::Na
    } else {
        LeaseType6::Pd
    }
}

impl LeaseState6 {
    /// State over a loaded store; call [`LeaseState6::reconfigure`] before use.
    pub fn new(store: LeaseStore6) -> Self {
        LeaseState6 {
            store,
            na: HashMap::new(),
            pd: HashMap::new(),
            offers: HashMap::new(),
            offers_by_client: HashMap::new(),
            offer_queue: VecDeque::new(),
            split: None,
            layouts: HashMap::new(),
        }
    }

    /// Restricts new allocations to the pool slots of parity `half` (`None`: all), as the
    /// DHCPv4 state does for a load-balancing pair.
    pub fn set_address_split(&mut self, half: Option<u32>) {
        self.split = half;
    }

    /// Takes up a new configuration. A subnet whose prefix, address pools, prefix pools and
    /// reservations are unchanged keeps its allocators (with the slots its leases and offers
    /// hold) and its offers: a commit that changes options, lifetimes or another subnet costs
    /// no walk over the leases and drops no offer. In a changed subnet, a pool whose slots are
    /// unchanged keeps its allocator and offers too, with reservations added or removed
    /// applied; only new or changed pools get allocators built from the reservations and the
    /// leases holding slots in them, so adding a pool to a subnet holding millions of leases
    /// does not walk them when the new pool is small. Offers outside what was kept go (the
    /// subnet or the pool may be gone). The first call after a load builds every subnet.
    pub fn reconfigure(&mut self, config: &Dhcp6Config, now: u64) {
        let mut na: HashMap<u32, Vec<RangeAlloc>> = HashMap::with_capacity(config.subnets.len());
        let mut pd: HashMap<u32, Vec<RangeAlloc>> = HashMap::with_capacity(config.subnets.len());
        let mut layouts: HashMap<u32, SubnetLayout> = HashMap::with_capacity(config.subnets.len());
        let mut plan = CarryOver6::default();
        let mut kept_space = KeptSpace::default();
        for subnet in &config.subnets {
            let layout = SubnetLayout::of(subnet);
            let old_na = self.na.remove(&subnet.id).unwrap_or_default();
            let old_pd = self.pd.remove(&subnet.id).unwrap_or_default();
            let (subnet_na, subnet_pd) = match self.layouts.get(&subnet.id) {
                Some(old) if *old == layout => {
                    kept_space.add(&layout);
                    (old_na, old_pd)
                }
                old => plan.carry(subnet, old, (old_na, old_pd), &layout, &mut kept_space),
            };
            na.insert(subnet.id, subnet_na);
            pd.insert(subnet.id, subnet_pd);
            layouts.insert(subnet.id, layout);
        }
        self.take_held_slots(&mut na, &mut pd, &plan, now);
        // Offers stay only where the allocators stayed: there the offered slots are still
        // taken. A slot that just became reserved is no longer anyone else's to take.
        let kept = kept_space.done();
        let dropped: Vec<LeaseKey6> = self
            .offers
            .keys()
            .filter(|k| !kept.contains(**k) || plan.newly_reserved.contains(k))
            .copied()
            .collect();
        if !dropped.is_empty() {
            for key in dropped {
                self.remove_offer(key);
            }
            self.offer_queue
                .retain(|(_, k)| self.offers.contains_key(k));
        }
        // A reservation removed from a kept pool frees its slot unless a lease or an offer
        // holds it.
        for (id, key) in plan.unreserved {
            let held = self.offers.contains_key(&key)
                || self.store.get(key).is_some_and(|l| holds(l, now));
            let maps = if key.0 == LeaseType6::Pd {
                &mut pd
            } else {
                &mut na
            };
            if !held {
                for m in maps.get_mut(&id).into_iter().flatten() {
                    if m.offset(key.1).is_some() {
                        m.release(key.1);
                    }
                }
            }
        }
        self.na = na;
        self.pd = pd;
        self.layouts = layouts;
    }

    /// Marks used, in the allocators built new, the addresses and prefixes leases hold at
    /// `now` (temporary addresses aside). Leases are matched to pools by address, not by their
    /// recorded subnet id, so a lease written under another id (e.g. by a migrated Kea file)
    /// still blocks its slot. When the new pools have no more slots than the store has leases,
    /// each slot is looked up by key; otherwise (a /64 address pool has 2^64 slots) every
    /// lease is visited once.
    fn take_held_slots(
        &self,
        na: &mut HashMap<u32, Vec<RangeAlloc>>,
        pd: &mut HashMap<u32, Vec<RangeAlloc>>,
        plan: &CarryOver6,
        now: u64,
    ) {
        let count = |maps: &HashMap<u32, Vec<RangeAlloc>>, fresh: &[(u32, usize)]| {
            fresh
                .iter()
                .filter_map(|(id, i)| maps.get(id)?.get(*i))
                .fold(0u128, |sum, m| sum.saturating_add(m.count))
        };
        let slots = count(na, &plan.fresh_na).saturating_add(count(pd, &plan.fresh_pd));
        if slots == 0 {
            return;
        }
        if slots <= self.store.len() as u128 {
            for (maps, fresh, kind) in [
                (&mut *na, &plan.fresh_na, LeaseType6::Na),
                (&mut *pd, &plan.fresh_pd, LeaseType6::Pd),
            ] {
                for (id, i) in fresh {
                    if let Some(m) = maps.get_mut(id).and_then(|v| v.get_mut(*i)) {
                        m.take_held_by_lookup(&self.store, kind, now);
                    }
                }
            }
            return;
        }
        self.take_held_by_walk(na, pd, plan, now);
    }

    /// [`LeaseState6::take_held_slots`] by one walk over the store.
    fn take_held_by_walk(
        &self,
        na: &mut HashMap<u32, Vec<RangeAlloc>>,
        pd: &mut HashMap<u32, Vec<RangeAlloc>>,
        plan: &CarryOver6,
        now: u64,
    ) {
        // (first slot, subnet, pool index), sorted: pools do not overlap, so the pool a slot
        // may belong to is the last one starting at or before it.
        let by_first = |maps: &HashMap<u32, Vec<RangeAlloc>>, fresh: &[(u32, usize)]| {
            let mut v: Vec<(u128, u32, usize)> = fresh
                .iter()
                .filter_map(|&(id, i)| Some((maps.get(&id)?.get(i)?.first, id, i)))
                .collect();
            v.sort_unstable();
            v
        };
        let (na_first, pd_first) = (by_first(na, &plan.fresh_na), by_first(pd, &plan.fresh_pd));
        for lease in self.store.iter() {
            let (starts, maps) = match lease.lease_type {
                LeaseType6::Na => (&na_first, &mut *na),
                LeaseType6::Pd => (&pd_first, &mut *pd),
                LeaseType6::Ta => continue,
            };
            if !holds(lease, now) {
                continue;
            }
            let a = u128::from(lease.address);
            let i = starts.partition_point(|(first, _, _)| *first <= a);
            let Some(&(_, subnet, pool)) = i.checked_sub(1).and_then(|i| starts.get(i)) else {
                continue;
            };
            if let Some(m) = maps.get_mut(&subnet).and_then(|v| v.get_mut(pool)) {
                if m.contains(lease.address, lease.prefix_len) {
                    m.take(lease.address);
                }
            }
        }
    }

    fn maps(&self, subnet: u32, len: u8) -> Option<&Vec<RangeAlloc>> {
        if len == 128 {
            self.na.get(&subnet)
        } else {
            self.pd.get(&subnet)
        }
    }

    fn maps_mut(&mut self, subnet: u32, len: u8) -> Option<&mut Vec<RangeAlloc>> {
        if len == 128 {
            self.na.get_mut(&subnet)
        } else {
            self.pd.get_mut(&subnet)
        }
    }

    /// Whether `addr`/`len` is a pool slot of `subnet` nobody holds.
    pub fn is_free(&self, subnet: u32, addr: Ipv6Addr, len: u8) -> bool {
        self.maps(subnet, len)
            .and_then(|v| v.iter().find(|m| m.contains(addr, len)))
            .is_some_and(|m| m.is_free(addr, self.split))
    }

    /// Takes a free address (`len` 128) or prefix of `len` from the subnet's pools.
    pub fn allocate(&mut self, subnet: u32, len: Option<u8>) -> Option<(Ipv6Addr, u8)> {
        let is_pd = len != Some(128);
        let split = self.split;
        let maps = if is_pd {
            self.pd.get_mut(&subnet)?
        } else {
            self.na.get_mut(&subnet)?
        };
        // A length hint picks a pool of that length first; any pool after.
        let preferred = len.filter(|_| is_pd);
        let order: Vec<usize> = (0..maps.len())
            .filter(|i| preferred.is_none_or(|l| maps[*i].prefix_len == l))
            .chain((0..maps.len()).filter(|i| preferred.is_some_and(|l| maps[*i].prefix_len != l)))
            .collect();
        order
            .into_iter()
            .find_map(|i| maps[i].allocate(split).map(|a| (a, maps[i].prefix_len)))
    }

    /// Marks a pool slot in use (no-op outside pools).
    pub fn take(&mut self, subnet: u32, addr: Ipv6Addr, len: u8) {
        if let Some(m) = self
            .maps_mut(subnet, len)
            .and_then(|v| v.iter_mut().find(|m| m.contains(addr, len)))
        {
            m.take(addr);
        }
    }

    /// Marks a pool slot free, unless reserved.
    pub fn release(&mut self, config: &Dhcp6Config, subnet: u32, addr: Ipv6Addr, len: u8) {
        if let Some(s) = config.subnet(subnet) {
            if reserved(s, addr, len) {
                return;
            }
        }
        if let Some(m) = self
            .maps_mut(subnet, len)
            .and_then(|v| v.iter_mut().find(|m| m.contains(addr, len)))
        {
            m.release(addr);
        }
    }

    /// Takes in a lease from the failover partner; `only_if_newer` (a sync) keeps ours when
    /// its client last transaction time is later. Returns the lease to write, if any.
    pub fn apply_partner_lease(
        &mut self,
        config: &Dhcp6Config,
        lease: Lease6,
        only_if_newer: bool,
        now: u64,
    ) -> Option<Lease6> {
        let key = lease.key();
        if let Some(ours) = self.store.get(key) {
            if only_if_newer && ours.cltt() >= lease.cltt() {
                return None;
            }
        }
        // The partner's lease wins over an offer of ours.
        self.remove_offer(key);
        let subnet = self.subnet_of(config, &lease);
        if holds(&lease, now) {
            self.take(subnet, lease.address, lease.prefix_len);
        } else {
            self.release(config, subnet, lease.address, lease.prefix_len);
        }
        self.store.upsert(lease.clone());
        Some(lease)
    }

    /// Deletes a lease the partner deleted; returns the deletion row to write, if there was
    /// a lease.
    pub fn delete_partner_lease(&mut self, config: &Dhcp6Config, key: LeaseKey6) -> Option<Lease6> {
        let mut gone = self.store.remove(key)?;
        let subnet = self.subnet_of(config, &gone);
        if !self.offers.contains_key(&key) {
            self.release(config, subnet, gone.address, gone.prefix_len);
        }
        gone.valid_lifetime = 0;
        Some(gone)
    }

    // The lease's own subnet when configured, else the configured subnet containing it.
    fn subnet_of(&self, config: &Dhcp6Config, lease: &Lease6) -> u32 {
        if config.subnet(lease.subnet_id).is_some() {
            return lease.subnet_id;
        }
        config
            .subnets
            .iter()
            .find(|s| s.prefix.contains(&lease.address))
            .map_or(lease.subnet_id, |s| s.id)
    }

    /// The client an unexpired offer of `key` is held for.
    pub fn offered_to(&self, key: LeaseKey6, now: u64) -> Option<&ClientIa> {
        self.offers
            .get(&key)
            .filter(|o| o.expire > now)
            .map(|o| &o.client)
    }

    /// Unexpired offers held for one IA of a client.
    pub fn offers_of(&self, client: &ClientIa, now: u64) -> Vec<LeaseKey6> {
        self.offers_by_client
            .get(client)
            .into_iter()
            .flatten()
            .filter(|k| self.offered_to(**k, now) == Some(client))
            .copied()
            .collect()
    }

    fn remove_offer(&mut self, key: LeaseKey6) -> Option<Offer> {
        let offer = self.offers.remove(&key)?;
        if let Some(v) = self.offers_by_client.get_mut(&offer.client) {
            v.retain(|k| *k != key);
            if v.is_empty() {
                self.offers_by_client.remove(&offer.client);
            }
        }
        Some(offer)
    }

    /// Holds `key` (already taken) for `client` until `expire`.
    pub fn hold_offer(&mut self, key: LeaseKey6, client: ClientIa, expire: u64) {
        self.remove_offer(key);
        self.offers_by_client
            .entry(client.clone())
            .or_default()
            .push(key);
        self.offers.insert(key, Offer { client, expire });
        self.offer_queue.push_back((expire, key));
    }

    /// Forgets an offer; the slot stays taken (the caller leases it or releases it).
    pub fn forget_offer(&mut self, key: LeaseKey6) {
        self.remove_offer(key);
    }

    /// Frees the slots of expired offers.
    pub fn expire_offers(&mut self, config: &Dhcp6Config, now: u64) {
        while let Some(&(expire, key)) = self.offer_queue.front() {
            if expire > now {
                break;
            }
            self.offer_queue.pop_front();
            let Some(offer) = self.offers.get(&key) else {
                continue;
            };
            if offer.expire > now {
                continue;
            }
            self.remove_offer(key);
            if self.store.get(key).is_some_and(|l| holds(l, now)) {
                continue;
            }
            let len = match key.0 {
                LeaseType6::Pd => self
                    .pd
                    .values()
                    .flatten()
                    .find(|m| m.offset(key.1).is_some())
                    .map_or(64, |m| m.prefix_len),
                _ => 128,
            };
            let subnets: Vec<u32> = config.subnets.iter().map(|s| s.id).collect();
            for id in subnets {
                self.release(config, id, key.1, len);
            }
        }
    }

    /// Reclaims up to `limit` expired leases: an expired lease becomes expired-reclaimed, a
    /// declined one is deleted. Returns the rows to write.
    pub fn reclaim(&mut self, config: &Dhcp6Config, now: u64, limit: usize) -> Vec<Lease6> {
        let mut rows = Vec::new();
        for key in self.store.expired(now, limit) {
            let Some(lease) = self.store.get(key) else {
                continue;
            };
            let mut lease = lease.clone();
            if lease.state == LeaseState::Declined {
                self.store.remove(key);
                lease.valid_lifetime = 0;
            } else {
                lease.state = LeaseState::ExpiredReclaimed;
                self.store.upsert(lease.clone());
            }
            if !self.offers.contains_key(&key) {
                self.release(config, lease.subnet_id, lease.address, lease.prefix_len);
            }
            rows.push(lease);
        }
        rows
    }

    /// Used and total slots of each pool of a subnet: (first, prefix length, used, total).
    pub fn pool_usage(&self, subnet: u32) -> Vec<(Ipv6Addr, u8, u64, u128)> {
        self.na
            .get(&subnet)
            .into_iter()
            .chain(self.pd.get(&subnet))
            .flatten()
            .map(|m| {
                let (used, total) = m.usage();
                (m.at(0), m.prefix_len, used, total)
            })
            .collect()
    }
}

/// Whether `addr`/`len` is reserved in `s`.
pub fn reserved(s: &Subnet6, addr: Ipv6Addr, len: u8) -> bool {
    if len == 128 {
        s.is_reserved_address(addr)
    } else {
        Ipv6Net::new(addr, len).is_ok_and(|p| s.is_reserved_prefix(p))
    }
}

/// The lease type of a slot of length `len`.
pub fn lease_type(len: u8) -> LeaseType6 {
    kind_of(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::v6_test_support::{config, subnet};

    #[test]
    fn address_allocator_is_next_fit_and_knows_when_full() {
        let mut m = RangeAlloc::addresses(
            "2001:db8::10".parse().expect("s"),
            "2001:db8::12".parse().expect("e"),
        );
        m.take("2001:db8::11".parse().expect("a"));
        assert_eq!(m.allocate(None), Some("2001:db8::10".parse().expect("a")));
        assert_eq!(m.allocate(None), Some("2001:db8::12".parse().expect("a")));
        assert_eq!(m.allocate(None), None);
        m.release("2001:db8::11".parse().expect("a"));
        assert_eq!(m.allocate(None), Some("2001:db8::11".parse().expect("a")));
    }

    #[test]
    fn huge_pools_allocate_without_scanning() {
        let mut m = RangeAlloc::addresses(
            "2001:db8::".parse().expect("s"),
            "2001:db8::ffff:ffff:ffff:ffff".parse().expect("e"),
        );
        for _ in 0..1000 {
            assert!(m.allocate(None).is_some());
        }
        assert_eq!(m.usage().0, 1000);
    }

    #[test]
    fn prefix_allocator_steps_by_the_delegated_length() {
        let mut m = RangeAlloc::prefixes("2001:db8:100::/40".parse().expect("p"), 48);
        assert_eq!(m.allocate(None), Some("2001:db8:100::".parse().expect("a")));
        assert_eq!(m.allocate(None), Some("2001:db8:101::".parse().expect("a")));
        assert!(m.contains("2001:db8:1ff::".parse().expect("a"), 48));
        assert!(!m.contains("2001:db8:1ff::".parse().expect("a"), 56));
        assert!(!m.contains("2001:db8:1ff:1::".parse().expect("a"), 48));
        assert!(!m.contains("2001:db8:200::".parse().expect("a"), 48));
        assert_eq!(m.usage().1, 256);
    }

    /// Next-fit over a pool smaller than the probe budget: the first free slot at or after
    /// the cursor, wrapping; checked against a plain model through takes and releases that
    /// cross word boundaries.
    #[test]
    fn allocation_matches_a_plain_next_fit_model() {
        let first: u128 = u128::from("2001:db8::".parse::<Ipv6Addr>().expect("a")) + 37;
        let count = 300u128;
        let mut m = RangeAlloc::addresses(Ipv6Addr::from(first), Ipv6Addr::from(first + count - 1));
        let mut used = vec![false; count as usize];
        let mut cursor = 0usize;
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..5_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let slot = (rng % count as u64) as usize;
            match rng % 3 {
                0 => {
                    m.take(Ipv6Addr::from(first + slot as u128));
                    used[slot] = true;
                }
                1 => {
                    m.release(Ipv6Addr::from(first + slot as u128));
                    used[slot] = false;
                }
                _ => {
                    let expected = (0..used.len())
                        .map(|k| (cursor + k) % used.len())
                        .find(|&i| !used[i]);
                    let got = m.allocate(None).map(|a| (u128::from(a) - first) as usize);
                    assert_eq!(got, expected);
                    if let Some(i) = expected {
                        used[i] = true;
                        cursor = (i + 1) % used.len();
                    }
                }
            }
            assert_eq!(m.usage().0, used.iter().filter(|u| **u).count() as u64);
        }
    }

    #[test]
    fn a_long_used_run_costs_probes_then_allocation_goes_on_past_it() {
        let mut m = RangeAlloc::addresses(
            "2001:db8::".parse().expect("s"),
            "2001:db8::ffff:ffff".parse().expect("e"),
        );
        for i in 0..(u128::from(MAX_PROBES) + 100) {
            m.take(Ipv6Addr::from(u128::from(m.at(0)) + i));
        }
        assert_eq!(m.allocate(None), None, "the budget ends inside the run");
        let next = m
            .allocate(None)
            .expect("the next call starts where the last stopped");
        assert_eq!(
            u128::from(next) - u128::from(m.at(0)),
            u128::from(MAX_PROBES) + 100
        );
    }

    #[test]
    fn a_split_pool_gives_each_half_its_own_slots() {
        let mut m = RangeAlloc::addresses(
            "2001:db8::10".parse().expect("a"),
            "2001:db8::17".parse().expect("a"),
        );
        let mut even = Vec::new();
        while let Some(a) = m.allocate(Some(0)) {
            even.push(a);
        }
        let expected: Vec<Ipv6Addr> = [
            "2001:db8::10",
            "2001:db8::12",
            "2001:db8::14",
            "2001:db8::16",
        ]
        .iter()
        .map(|a| a.parse().expect("a"))
        .collect();
        assert_eq!(even, expected);
        assert!(!m.is_free("2001:db8::11".parse().expect("a"), Some(0)));
        assert!(m.is_free("2001:db8::11".parse().expect("a"), Some(1)));
        let odd = m.allocate(Some(1)).expect("an odd slot is left");
        assert_eq!(u128::from(odd) % 2, 1, "{odd}");
    }

    fn lease(addr: &str, len: u8, kind: LeaseType6, state: LeaseState, expire: u64) -> Lease6 {
        Lease6 {
            address: addr.parse().expect("address"),
            prefix_len: len,
            lease_type: kind,
            duid: [0u8, 3, 1][..].into(),
            iaid: u32::from(len),
            valid_lifetime: 4000,
            expire,
            state,
            ..Default::default()
        }
    }

    /// Looking slots up and walking the leases take the same slots: held leases of the
    /// allocator's kind and length; not expired, released or temporary ones, nor prefixes of
    /// another length.
    #[test]
    fn slot_lookup_and_lease_walk_agree() {
        let now = 1_000;
        let mut store = LeaseStore6::new();
        for (addr, len, kind, state, expire) in [
            (
                "2001:db8:1::10",
                128,
                LeaseType6::Na,
                LeaseState::Default,
                5_000,
            ),
            (
                "2001:db8:1::11",
                128,
                LeaseType6::Na,
                LeaseState::Declined,
                5_000,
            ),
            (
                "2001:db8:1::12",
                128,
                LeaseType6::Na,
                LeaseState::Default,
                500,
            ),
            (
                "2001:db8:1::13",
                128,
                LeaseType6::Na,
                LeaseState::ExpiredReclaimed,
                5_000,
            ),
            (
                "2001:db8:1::14",
                128,
                LeaseType6::Ta,
                LeaseState::Default,
                5_000,
            ),
            (
                "2001:db8:1::1f",
                128,
                LeaseType6::Na,
                LeaseState::Default,
                5_000,
            ),
            (
                "2001:db8:1::20",
                128,
                LeaseType6::Na,
                LeaseState::Default,
                5_000,
            ),
            (
                "2001:db8:100::",
                48,
                LeaseType6::Pd,
                LeaseState::Default,
                5_000,
            ),
            (
                "2001:db8:101::",
                56,
                LeaseType6::Pd,
                LeaseState::Default,
                5_000,
            ),
            (
                "2001:db8:103::",
                48,
                LeaseType6::Pd,
                LeaseState::Declined,
                5_000,
            ),
            (
                "2001:db8:104::",
                48,
                LeaseType6::Pd,
                LeaseState::Default,
                5_000,
            ),
        ] {
            store.upsert(lease(addr, len, kind, state, expire));
        }
        let c = config(vec![subnet(
            1,
            "2001:db8:1::/64",
            &[("2001:db8:1::10", "2001:db8:1::1f")],
            &[("2001:db8:100::/46", 48)],
        )]);
        let st = LeaseState6::new(store);
        let build = || {
            let mut plan = CarryOver6::default();
            let layout = SubnetLayout::of(&c.subnets[0]);
            let (na, pd) = plan.carry(
                &c.subnets[0],
                None,
                (Vec::new(), Vec::new()),
                &layout,
                &mut KeptSpace::default(),
            );
            (HashMap::from([(1, na)]), HashMap::from([(1, pd)]), plan)
        };
        let (mut na_walk, mut pd_walk, plan) = build();
        assert_eq!(
            (plan.fresh_na.len(), plan.fresh_pd.len()),
            (1, 1),
            "all new"
        );
        st.take_held_by_walk(&mut na_walk, &mut pd_walk, &plan, now);
        let (mut na_look, mut pd_look, _) = build();
        for m in na_look.values_mut().flatten() {
            m.take_held_by_lookup(&st.store, LeaseType6::Na, now);
        }
        for m in pd_look.values_mut().flatten() {
            m.take_held_by_lookup(&st.store, LeaseType6::Pd, now);
        }
        let used = |maps: &HashMap<u32, Vec<RangeAlloc>>| -> Vec<Ipv6Addr> {
            maps.values()
                .flatten()
                .flat_map(|m| {
                    (0..m.count)
                        .filter(|i| m.used.contains(*i))
                        .map(|i| m.at(i))
                })
                .collect()
        };
        let expected_na: Vec<Ipv6Addr> = ["2001:db8:1::10", "2001:db8:1::11", "2001:db8:1::1f"]
            .iter()
            .map(|x| x.parse().expect("a"))
            .collect();
        let expected_pd: Vec<Ipv6Addr> = ["2001:db8:100::", "2001:db8:103::"]
            .iter()
            .map(|x| x.parse().expect("a"))
            .collect();
        assert_eq!(used(&na_walk), expected_na);
        assert_eq!(used(&na_look), expected_na);
        assert_eq!(used(&pd_walk), expected_pd);
        assert_eq!(used(&pd_look), expected_pd);
    }

    // Every queued offer key, every client's list and every offer agree.
    fn offers_agree(st: &LeaseState6) -> bool {
        let queued = st
            .offer_queue
            .iter()
            .all(|(_, k)| st.offers.contains_key(k));
        let listed = st.offers_by_client.iter().all(|(client, keys)| {
            !keys.is_empty()
                && keys
                    .iter()
                    .all(|k| st.offers.get(k).is_some_and(|o| o.client == *client))
        });
        let indexed = st.offers.iter().all(|(k, o)| {
            st.offers_by_client
                .get(&o.client)
                .is_some_and(|v| v.contains(k))
                && st.offer_queue.iter().any(|(e, q)| q == k && *e == o.expire)
        });
        queued && listed && indexed
    }

    /// A commit that removes one subnet and changes another drops their offers from the
    /// offers, the client index and the expiry queue; the unchanged subnet's stay in all three.
    #[test]
    fn dropped_offers_leave_the_offer_indexes_in_agreement() {
        let subnets = || {
            vec![
                subnet(
                    1,
                    "2001:db8:1::/64",
                    &[("2001:db8:1::10", "2001:db8:1::1f")],
                    &[],
                ),
                subnet(
                    2,
                    "2001:db8:2::/64",
                    &[("2001:db8:2::10", "2001:db8:2::1f")],
                    &[],
                ),
                subnet(
                    3,
                    "2001:db8:3::/64",
                    &[("2001:db8:3::10", "2001:db8:3::1f")],
                    &[("2001:db8:300::/46", 48)],
                ),
            ]
        };
        let mut st = LeaseState6::new(LeaseStore6::new());
        st.reconfigure(&config(subnets()), 0);
        let client: ClientIa = ([0u8, 3, 1][..].into(), 1, LeaseType6::Na);
        let other: ClientIa = ([0u8, 3, 2][..].into(), 1, LeaseType6::Pd);
        let mut held = Vec::new();
        for id in [1, 2, 3] {
            let (addr, _) = st.allocate(id, Some(128)).expect("free address");
            st.hold_offer((LeaseType6::Na, addr), client.clone(), 60);
            held.push((LeaseType6::Na, addr));
        }
        let (prefix, _) = st.allocate(3, Some(48)).expect("free prefix");
        st.hold_offer((LeaseType6::Pd, prefix), other.clone(), 60);
        assert!(offers_agree(&st));

        let mut next = subnets();
        next.remove(1);
        next[1].pools[0].end = "2001:db8:3::2f".parse().expect("a");
        st.reconfigure(&config(next), 1);
        assert_eq!(st.offers_of(&client, 1), [held[0]]);
        // Subnet 3's address pool changed, its prefix pool did not: that offer stays.
        assert_eq!(st.offers_of(&other, 1), [(LeaseType6::Pd, prefix)]);
        assert_eq!(st.offers.len(), 2);
        assert_eq!(st.offer_queue.len(), 2);
        assert!(offers_agree(&st));
    }
}
