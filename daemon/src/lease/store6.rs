//! The DHCPv6 lease store: leases by (type, address), an index by client (DUID, IAID, type)
//! and an expiry index.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv6Addr;

use super::record::LeaseState;
use super::record6::{Lease6, LeaseKey6, LeaseType6};

/// Who holds a lease: DUID, IAID and IA type (RFC 8415 section 12).
pub type ClientIa = (Box<[u8]>, u32, LeaseType6);

/// Every DHCPv6 lease, active or not.
#[derive(Debug, Default)]
pub struct LeaseStore6 {
    leases: HashMap<LeaseKey6, Lease6>,
    by_client: HashMap<ClientIa, Vec<Ipv6Addr>>,
    expiry: BTreeSet<(u64, LeaseType6, Ipv6Addr)>,
}

impl LeaseStore6 {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leases.
    pub fn len(&self) -> usize {
        self.leases.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    /// The lease at `key`.
    pub fn get(&self, key: LeaseKey6) -> Option<&Lease6> {
        self.leases.get(&key)
    }

    /// Every lease, in no order.
    pub fn iter(&self) -> impl Iterator<Item = &Lease6> {
        self.leases.values()
    }

    /// Leases of one IA of one client.
    pub fn find_by_client(&self, duid: &[u8], iaid: u32, kind: LeaseType6) -> Vec<&Lease6> {
        let key: ClientIa = (duid.into(), iaid, kind);
        self.by_client
            .get(&key)
            .map(|v| {
                v.iter()
                    .filter_map(|a| self.leases.get(&(kind, *a)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Inserts or replaces a lease; returns the previous one.
    pub fn upsert(&mut self, lease: Lease6) -> Option<Lease6> {
        let previous = self.remove(lease.key());
        let client: ClientIa = (lease.duid.clone(), lease.iaid, lease.lease_type);
        self.by_client
            .entry(client)
            .or_default()
            .push(lease.address);
        if lease.state != LeaseState::ExpiredReclaimed {
            self.expiry
                .insert((lease.expire, lease.lease_type, lease.address));
        }
        self.leases.insert(lease.key(), lease);
        previous
    }

    /// Removes the lease at `key`.
    pub fn remove(&mut self, key: LeaseKey6) -> Option<Lease6> {
        let lease = self.leases.remove(&key)?;
        let client: ClientIa = (lease.duid.clone(), lease.iaid, lease.lease_type);
        if let Some(v) = self.by_client.get_mut(&client) {
            v.retain(|a| *a != lease.address);
            if v.is_empty() {
                self.by_client.remove(&client);
            }
        }
        self.expiry
            .remove(&(lease.expire, lease.lease_type, lease.address));
        Some(lease)
    }

    /// Up to `limit` keys of leases expired at `now` and not yet reclaimed, oldest first.
    pub fn expired(&self, now: u64, limit: usize) -> Vec<LeaseKey6> {
        self.expiry
            .iter()
            .take_while(|(e, _, _)| *e <= now)
            .take(limit)
            .map(|(_, t, a)| (*t, *a))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(addr: &str, iaid: u32, expire: u64) -> Lease6 {
        Lease6 {
            address: addr.parse().expect("addr"),
            prefix_len: 128,
            duid: vec![0, 1, 2].into(),
            iaid,
            valid_lifetime: 100,
            expire,
            ..Lease6::default()
        }
    }

    #[test]
    fn indexes_follow_upserts_and_removals() {
        let mut s = LeaseStore6::new();
        s.upsert(lease("2001:db8::1", 1, 10));
        s.upsert(lease("2001:db8::2", 1, 20));
        assert_eq!(s.find_by_client(&[0, 1, 2], 1, LeaseType6::Na).len(), 2);
        assert_eq!(s.expired(15, 10).len(), 1);
        // Moving a lease to another IAID updates the client index.
        s.upsert(lease("2001:db8::1", 2, 30));
        assert_eq!(s.find_by_client(&[0, 1, 2], 1, LeaseType6::Na).len(), 1);
        assert_eq!(s.find_by_client(&[0, 1, 2], 2, LeaseType6::Na).len(), 1);
        assert!(s.expired(15, 10).is_empty());
        s.remove((LeaseType6::Na, "2001:db8::2".parse().expect("a")));
        assert!(s.find_by_client(&[0, 1, 2], 1, LeaseType6::Na).is_empty());
        assert_eq!(s.len(), 1);
    }
}
