//! The DHCPv4 lease state the policy works on: the lease store, the free addresses of every
//! pool, and offers held in memory. One owner (the engine thread); no locks.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;

use crate::config::Dhcp4Config;
use crate::lease::free_map::FreeMap;
use crate::lease::{ClientId, HwAddr, Lease4, LeaseState, LeaseStore4};

/// Who a client is, as far as leases and offers go: its client-id when it sends one, else its
/// hardware address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// Option 61 (inline up to 22 bytes: building a key allocates nothing for usual ids).
    ClientId(ClientId),
    /// chaddr.
    HwAddr(HwAddr),
}

#[derive(Debug)]
struct Offer {
    client: ClientKey,
    expire: u64,
}

/// Leases, free addresses and offers.
#[derive(Debug)]
pub struct LeaseState4 {
    /// Every lease, active or not.
    pub store: LeaseStore4,
    pools: HashMap<u32, Vec<FreeMap>>,
    offers: HashMap<Ipv4Addr, Offer>,
    offer_by_client: HashMap<ClientKey, Ipv4Addr>,
    // Offers all live `offer_lifetime` seconds, so insertion order is expiry order.
    offer_queue: VecDeque<(u64, Ipv4Addr)>,
    split: Option<u32>,
    // What each subnet's free maps were built from, to keep them across a commit that leaves
    // the subnet's addresses alone.
    layouts: HashMap<u32, SubnetLayout>,
}

/// The parts of a subnet its free maps depend on: the prefix, the pools and the reserved
/// addresses. Subnets do not overlap (the configuration checks refuse it), so a subnet whose
/// layout is unchanged keeps its maps and offers as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SubnetLayout {
    prefix: ipnet::Ipv4Net,
    pools: Vec<(u32, u32)>,
    reserved: Vec<u32>,
}

impl SubnetLayout {
    fn of(subnet: &crate::config::Subnet4) -> Self {
        let mut pools: Vec<(u32, u32)> = subnet
            .pools
            .iter()
            .map(|p| (u32::from(p.start), u32::from(p.end)))
            .collect();
        pools.sort_unstable();
        let mut reserved: Vec<u32> = subnet
            .reservations
            .iter()
            .map(|r| u32::from(r.address))
            .collect();
        reserved.sort_unstable();
        SubnetLayout {
            prefix: subnet.prefix,
            pools,
            reserved,
        }
    }
}

/// What a new configuration keeps of the old free maps, worked out subnet by subnet.
#[derive(Debug, Default)]
struct CarryOver {
    /// Prefixes of subnets kept whole: all their offers stay.
    kept_prefixes: Vec<ipnet::Ipv4Net>,
    /// Inclusive ranges of pools kept in changed subnets: their offers stay.
    kept_ranges: Vec<(u32, u32)>,
    /// Addresses reserved now and not before: offers of them go.
    newly_reserved: Vec<u32>,
    /// (subnet, address) reserved before and not now, in a kept pool.
    unreserved: Vec<(u32, u32)>,
    /// (subnet, index) of maps built new: the leases inside them are still to be taken.
    fresh: Vec<(u32, usize)>,
}

impl CarryOver {
    /// The maps of a changed (or new) subnet: the old map of each pool whose range is
    /// unchanged, with reservations added or removed applied, and a new map for every other
    /// pool with the subnet's reservations taken.
    fn carry_pools(
        &mut self,
        id: u32,
        mut old_maps: Vec<FreeMap>,
        old: Option<&SubnetLayout>,
        layout: &SubnetLayout,
    ) -> Vec<FreeMap> {
        let no_reservations = Vec::new();
        let old_reserved = old.map_or(&no_reservations, |l| &l.reserved);
        let mut maps = Vec::with_capacity(layout.pools.len());
        for &(start, end) in &layout.pools {
            let same_range = old_maps.iter().position(|m| {
                m.start() == start && m.len() == end.wrapping_sub(start).wrapping_add(1)
            });
            match same_range {
                Some(k) => {
                    let mut map = old_maps.swap_remove(k);
                    for &r in &layout.reserved {
                        if map.contains(r) && old_reserved.binary_search(&r).is_err() {
                            map.take(r);
                            self.newly_reserved.push(r);
                        }
                    }
                    for &r in old_reserved {
                        if map.contains(r) && layout.reserved.binary_search(&r).is_err() {
                            self.unreserved.push((id, r));
                        }
                    }
                    self.kept_ranges.push((start, end));
                    maps.push(map);
                }
                None => {
                    let mut map = FreeMap::new(start, end);
                    for &r in &layout.reserved {
                        map.take(r);
                    }
                    self.fresh.push((id, maps.len()));
                    maps.push(map);
                }
            }
        }
        maps
    }

    fn keeps_offer(&self, addr: Ipv4Addr) -> bool {
        let a = u32::from(addr);
        let kept = self.kept_prefixes.iter().any(|p| p.contains(&addr))
            || self.kept_ranges.iter().any(|&(s, e)| s <= a && a <= e);
        kept && self.newly_reserved.binary_search(&a).is_err()
    }
}

/// Whether a lease keeps its address out of use at `now`.
pub fn holds_address(lease: &Lease4, now: u64) -> bool {
    matches!(lease.state, LeaseState::Default | LeaseState::Declined) && !lease.is_expired(now)
}

impl LeaseState4 {
    /// State over a loaded store; call [`LeaseState4::reconfigure`] before use.
    pub fn new(store: LeaseStore4) -> Self {
        LeaseState4 {
            store,
            pools: HashMap::new(),
            offers: HashMap::new(),
            offer_by_client: HashMap::new(),
            offer_queue: VecDeque::new(),
            split: None,
            layouts: HashMap::new(),
        }
    }

    /// Restricts new allocations to addresses of parity `half` (`None`: every address). A
    /// load-balancing pair shares its pools; each server takes new addresses from its own half
    /// so the two never give one address to two clients, and from both halves only while it
    /// stands in for its partner.
    pub fn set_address_split(&mut self, half: Option<u32>) {
        self.split = half;
    }

    /// Takes up a new configuration. A subnet whose prefix, pools and reservations are
    /// unchanged keeps its free maps and its offers (a commit that changes options, lifetimes
    /// or another subnet costs no walk over the leases and drops no offer). In a changed
    /// subnet, a pool whose range is unchanged keeps its map and offers too, with reservations
    /// added or removed applied to it; only new or resized pools get maps built from the
    /// reservations and the leases holding addresses in them. So adding a small pool to a
    /// subnet holding millions of leases looks up the new pool's addresses only.
    pub fn reconfigure(&mut self, config: &Dhcp4Config, now: u64) {
        let mut old_pools = std::mem::take(&mut self.pools);
        let old_layouts = std::mem::take(&mut self.layouts);
        let mut pools: HashMap<u32, Vec<FreeMap>> = HashMap::new();
        let mut layouts: HashMap<u32, SubnetLayout> = HashMap::new();
        let mut plan = CarryOver::default();
        for subnet in &config.subnets {
            let layout = SubnetLayout::of(subnet);
            let old_maps = old_pools.remove(&subnet.id).unwrap_or_default();
            let maps = match old_layouts.get(&subnet.id) {
                Some(old) if *old == layout => {
                    plan.kept_prefixes.push(layout.prefix);
                    old_maps
                }
                old => plan.carry_pools(subnet.id, old_maps, old, &layout),
            };
            pools.insert(subnet.id, maps);
            layouts.insert(subnet.id, layout);
        }
        self.take_leased_addresses(&mut pools, &plan.fresh, now);
        plan.newly_reserved.sort_unstable();
        // Offers stay only where their maps stayed: there the offered addresses are still
        // taken. An address that just became reserved is no longer anyone else's to take.
        let dropped: Vec<Ipv4Addr> = self
            .offers
            .keys()
            .filter(|a| !plan.keeps_offer(**a))
            .copied()
            .collect();
        for addr in dropped {
            self.forget_offer(addr);
        }
        self.offer_queue
            .retain(|(_, a)| self.offers.contains_key(a));
        // A reservation removed from a kept pool frees its address unless a lease or an
        // offer holds it.
        for (id, a) in plan.unreserved {
            let addr = Ipv4Addr::from(a);
            let held = self.offers.contains_key(&addr)
                || self.store.get(addr).is_some_and(|l| holds_address(l, now));
            if !held {
                if let Some(m) = pools
                    .get_mut(&id)
                    .and_then(|v| v.iter_mut().find(|m| m.contains(a)))
                {
                    m.release(a);
                }
            }
        }
        self.reserve_headroom(&pools);
        self.pools = pools;
        self.layouts = layouts;
    }

    /// Marks used, in the given new maps (subnet id, index of the pool's map), the addresses
    /// leases hold at `now`. Leases are matched to pools by address, not by their recorded
    /// subnet id, so a lease written under another id (e.g. by a migrated Kea file) still
    /// blocks its address. Small pools are looked up address by address; otherwise every
    /// lease is visited once.
    fn take_leased_addresses(
        &self,
        pools: &mut HashMap<u32, Vec<FreeMap>>,
        fresh: &[(u32, usize)],
        now: u64,
    ) {
        let size: u64 = fresh
            .iter()
            .filter_map(|(id, i)| pools.get(id)?.get(*i))
            .map(|m| u64::from(m.len()))
            .sum();
        if size == 0 {
            return;
        }
        if size <= self.store.len() as u64 {
            for (id, i) in fresh {
                let Some(m) = pools.get_mut(id).and_then(|v| v.get_mut(*i)) else {
                    continue;
                };
                let first = m.start();
                for a in (0..m.len()).map(|k| first + k) {
                    if self
                        .store
                        .get(Ipv4Addr::from(a))
                        .is_some_and(|l| holds_address(l, now))
                    {
                        m.take(a);
                    }
                }
            }
            return;
        }
        let mut by_start: Vec<(u32, u32, usize)> = fresh
            .iter()
            .filter_map(|&(id, i)| Some((pools.get(&id)?.get(i)?.start(), id, i)))
            .collect();
        by_start.sort_unstable();
        for lease in self.store.iter() {
            if !holds_address(lease, now) {
                continue;
            }
            let a = u32::from(lease.address);
            let idx = by_start.partition_point(|(s, _, _)| *s <= a);
            if idx == 0 {
                continue;
            }
            let (_, subnet, i) = by_start[idx - 1];
            if let Some(m) = pools.get_mut(&subnet).and_then(|v| v.get_mut(i)) {
                if m.contains(a) {
                    m.take(a);
                }
            }
        }
    }

    /// Grows the store's indexes now, at configuration time, when fewer new leases fit than
    /// a burst of new clients may bring: otherwise the insert that fills an index rebuilds it
    /// while packets wait (tens of milliseconds per million leases). Headroom is an eighth of
    /// the leases held ([`LeaseStore4::LOAD_HEADROOM_DIV`], at least 4,096), never more than the
    /// pools have free addresses; half of that left is enough not to grow again, so successive
    /// commits do not rebuild, nor does the first one after a load (which leaves that room).
    fn reserve_headroom(&mut self, pools: &HashMap<u32, Vec<FreeMap>>) {
        let free: usize = pools
            .values()
            .flatten()
            .map(|m| (m.len() - m.used()) as usize)
            .sum();
        let want = (self.store.len() / LeaseStore4::LOAD_HEADROOM_DIV)
            .max(4096)
            .min(free);
        if self.store.headroom() < want / 2 {
            self.store.reserve(want);
        }
    }

    fn pool_mut(&mut self, subnet: u32, addr: Ipv4Addr) -> Option<&mut FreeMap> {
        let a = u32::from(addr);
        self.pools
            .get_mut(&subnet)?
            .iter_mut()
            .find(|m| m.contains(a))
    }

    /// Whether `addr` is inside one of the subnet's pools.
    pub fn in_pool(&self, subnet: u32, addr: Ipv4Addr) -> bool {
        let a = u32::from(addr);
        self.pools
            .get(&subnet)
            .is_some_and(|v| v.iter().any(|m| m.contains(a)))
    }

    /// Whether `addr` is a pool address nobody holds (no lease, offer or reservation) and, in a
    /// load-balancing pair, in this server's half.
    pub fn is_free(&self, subnet: u32, addr: Ipv4Addr) -> bool {
        let a = u32::from(addr);
        self.pools
            .get(&subnet)
            .and_then(|v| v.iter().find(|m| m.contains(a)))
            .is_some_and(|m| !m.is_used(a))
            && self.split.is_none_or(|half| a % 2 == half)
    }

    /// Takes a free address from the subnet's pools.
    pub fn allocate(&mut self, subnet: u32) -> Option<Ipv4Addr> {
        self.pools
            .get_mut(&subnet)?
            .iter_mut()
            .find_map(|m| m.allocate_parity(self.split))
            .map(Ipv4Addr::from)
    }

    /// Marks a pool address in use (no-op outside pools).
    pub fn take(&mut self, subnet: u32, addr: Ipv4Addr) {
        if let Some(m) = self.pool_mut(subnet, addr) {
            m.take(u32::from(addr));
        }
    }

    /// Marks a pool address free, unless reserved (reservations are taken at reconfigure and
    /// never released).
    pub fn release(&mut self, config: &Dhcp4Config, subnet: u32, addr: Ipv4Addr) {
        if config
            .subnet(subnet)
            .is_some_and(|s| s.reservation_at(addr).is_some())
        {
            return;
        }
        if let Some(m) = self.pool_mut(subnet, addr) {
            m.release(u32::from(addr));
        }
    }

    /// The client holding an unexpired offer of `addr`.
    pub fn offered_to(&self, addr: Ipv4Addr, now: u64) -> Option<&ClientKey> {
        self.offers
            .get(&addr)
            .filter(|o| o.expire > now)
            .map(|o| &o.client)
    }

    /// The address currently offered to `client`, if any.
    pub fn offer_of(&self, client: &ClientKey, now: u64) -> Option<Ipv4Addr> {
        let addr = *self.offer_by_client.get(client)?;
        self.offered_to(addr, now)
            .filter(|c| *c == client)
            .map(|_| addr)
    }

    fn forget_offer(&mut self, addr: Ipv4Addr) -> bool {
        match self.offers.remove(&addr) {
            Some(offer) => {
                if self.offer_by_client.get(&offer.client) == Some(&addr) {
                    self.offer_by_client.remove(&offer.client);
                }
                true
            }
            None => false,
        }
    }

    /// Holds `addr` for `client` until `expire`. The address must already be taken.
    pub fn hold_offer(&mut self, addr: Ipv4Addr, client: ClientKey, expire: u64) {
        self.offer_by_client.insert(client.clone(), addr);
        self.offers.insert(addr, Offer { client, expire });
        self.offer_queue.push_back((expire, addr));
    }

    /// Forgets the offer of `addr` (the client took it or went elsewhere); the address stays
    /// taken if a lease now holds it.
    pub fn drop_offer(&mut self, config: &Dhcp4Config, subnet: u32, addr: Ipv4Addr, now: u64) {
        if self.forget_offer(addr) && !self.store.get(addr).is_some_and(|l| holds_address(l, now)) {
            self.release(config, subnet, addr);
        }
    }

    /// Frees the addresses of expired offers.
    pub fn expire_offers(&mut self, config: &Dhcp4Config, now: u64) {
        while let Some(&(expire, addr)) = self.offer_queue.front() {
            if expire > now {
                break;
            }
            self.offer_queue.pop_front();
            let Some(offer) = self.offers.get(&addr) else {
                continue;
            };
            if offer.expire > now {
                continue; // re-offered later; a newer queue entry covers it
            }
            self.forget_offer(addr);
            if !self.store.get(addr).is_some_and(|l| holds_address(l, now)) {
                if let Some(subnet) = config.subnets.iter().find(|s| s.prefix.contains(&addr)) {
                    let id = subnet.id;
                    self.release(config, id, addr);
                }
            }
        }
    }

    /// Reclaims up to `limit` expired leases: an expired lease becomes expired-reclaimed (kept,
    /// so its client can get the same address back), a declined one whose probation ended is
    /// deleted. Returns the rows to write.
    pub fn reclaim(&mut self, config: &Dhcp4Config, now: u64, limit: usize) -> Vec<Lease4> {
        let mut rows = Vec::new();
        for addr in self.store.expired(now, limit) {
            let Some(lease) = self.store.get(addr) else {
                continue;
            };
            let mut lease = lease.clone();
            let subnet = lease.subnet_id;
            if lease.state == LeaseState::Declined {
                self.store.remove(addr);
                lease.valid_lifetime = 0;
            } else {
                lease.state = LeaseState::ExpiredReclaimed;
                self.store.upsert(lease.clone());
            }
            if !self.offers.contains_key(&addr) {
                self.release(config, subnet, addr);
            }
            rows.push(lease);
        }
        rows
    }

    /// Takes in a lease from the failover partner. `only_if_newer` (a sync) keeps our lease
    /// when its client last transaction time is later. Returns the lease to write (None when
    /// ours was kept) and whether it replaced a different client's unexpired lease.
    pub fn apply_partner_lease(
        &mut self,
        config: &Dhcp4Config,
        lease: Lease4,
        only_if_newer: bool,
        now: u64,
    ) -> Option<(Lease4, bool)> {
        let addr = lease.address;
        let mut conflict = false;
        if let Some(ours) = self.store.get(addr) {
            if only_if_newer && ours.cltt() >= lease.cltt() {
                return None;
            }
            conflict = holds_address(ours, now)
                && (ours.hwaddr != lease.hwaddr || ours.client_id != lease.client_id);
        }
        if let Some(offer) = self.offers.get(&addr) {
            // The partner's lease wins over an offer we made: the address is no longer ours
            // to give.
            if offer.client != client_key_of(&lease) {
                self.forget_offer(addr);
            }
        }
        let subnet = self.subnet_of(config, &lease);
        if holds_address(&lease, now) {
            self.take(subnet, addr);
        } else if !self.offers.contains_key(&addr) {
            self.release(config, subnet, addr);
        }
        self.store.upsert(lease.clone());
        Some((lease, conflict))
    }

    /// Deletes the lease of `addr` because the partner deleted it; returns the deletion row to
    /// write, if there was a lease.
    pub fn delete_partner_lease(&mut self, config: &Dhcp4Config, addr: Ipv4Addr) -> Option<Lease4> {
        let mut gone = self.store.remove(addr)?;
        let subnet = self.subnet_of(config, &gone);
        if !self.offers.contains_key(&addr) {
            self.release(config, subnet, addr);
        }
        gone.valid_lifetime = 0;
        Some(gone)
    }

    // The lease's own subnet id when configured (both servers share one configuration), else
    // the configured subnet containing its address.
    fn subnet_of(&self, config: &Dhcp4Config, lease: &Lease4) -> u32 {
        if self.pools.contains_key(&lease.subnet_id) {
            return lease.subnet_id;
        }
        config
            .subnets
            .iter()
            .find(|s| s.prefix.contains(&lease.address))
            .map_or(lease.subnet_id, |s| s.id)
    }

    /// Addresses in use and total, per pool of a subnet: (start, end, used).
    pub fn pool_usage(&self, subnet: u32) -> Vec<(Ipv4Addr, Ipv4Addr, u32)> {
        self.pools
            .get(&subnet)
            .map(|v| {
                v.iter()
                    .map(|m| {
                        (
                            Ipv4Addr::from(m.start()),
                            Ipv4Addr::from(m.start() + m.len() - 1),
                            m.used(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn client_key_of(lease: &Lease4) -> ClientKey {
    match &lease.client_id {
        Some(id) => ClientKey::ClientId(id.clone()),
        None => ClientKey::HwAddr(lease.hwaddr),
    }
}
