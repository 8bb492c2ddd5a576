//! Counters of what the DHCP servers did, read by logs now and by operational state later.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::dhcp4::{DecodeError, MessageType, Silence};

/// DHCPv4 counters. Relaxed atomics: each is an independent tally.
#[derive(Debug, Default)]
pub struct Counters4 {
    /// Datagrams received.
    pub received: AtomicU64,
    /// Received, by message type 1..=8.
    pub received_by_type: [AtomicU64; 9],
    /// Sent, by message type 1..=8.
    pub sent_by_type: [AtomicU64; 9],
    /// Packets refused by the decoder.
    pub malformed: AtomicU64,
    /// Requests answered with silence because no subnet matched.
    pub no_subnet: AtomicU64,
    /// DISCOVERs with no free address.
    pub pool_exhausted: AtomicU64,
    /// Other silences (other server selected, incomplete, not authoritative...).
    pub silent_other: AtomicU64,
    /// Replies dropped because their lease could not be written.
    pub lease_write_failed: AtomicU64,
    /// Replies the socket refused.
    pub send_failed: AtomicU64,
    /// Replies withheld because the failover partner did not acknowledge their lease.
    pub partner_update_failed: AtomicU64,
    /// Leases reclaimed after expiry.
    pub reclaimed: AtomicU64,
}

impl Counters4 {
    /// Counts a received, decoded packet.
    pub fn received(&self, kind: MessageType) {
        self.received_by_type[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a sent reply.
    pub fn sent(&self, kind: MessageType) {
        self.sent_by_type[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a malformed packet.
    pub fn malformed(&self, _why: &DecodeError) {
        self.malformed.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request left unanswered.
    pub fn silence(&self, why: Silence) {
        let c = match why {
            Silence::NoSubnet => &self.no_subnet,
            Silence::PoolExhausted => &self.pool_exhausted,
            Silence::NoReplyExpected => return,
            _ => &self.silent_other,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// A one-line summary for logs.
    pub fn summary(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "received={} discover={} request={} offer={} ack={} nak={} malformed={} no_subnet={} pool_exhausted={} write_failed={} send_failed={}",
            get(&self.received),
            get(&self.received_by_type[1]),
            get(&self.received_by_type[3]),
            get(&self.sent_by_type[2]),
            get(&self.sent_by_type[5]),
            get(&self.sent_by_type[6]),
            get(&self.malformed),
            get(&self.no_subnet),
            get(&self.pool_exhausted),
            get(&self.lease_write_failed),
            get(&self.send_failed),
        )
    }
}

/// Address use of one DHCPv4 pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolUsage4 {
    /// First address.
    pub start: std::net::Ipv4Addr,
    /// Last address.
    pub end: std::net::Ipv4Addr,
    /// Addresses in the pool.
    pub total: u64,
    /// Addresses leased, offered, declined or reserved.
    pub in_use: u64,
    /// Addresses on probation after a client declined them; included in `in_use`.
    pub declined: u64,
}

/// Address use of the DHCPv4 server, published by the engine every few seconds so readers
/// never touch the lease state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage4 {
    /// Lease records held.
    pub leases: u64,
    /// (subnet id, its pools), in subnet id order.
    pub subnets: Vec<(u32, Vec<PoolUsage4>)>,
}

/// What a DHCPv6 pool gives out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind6 {
    /// Addresses (IA_NA).
    Address,
    /// Delegated prefixes (IA_PD).
    Prefix,
}

/// Use of one DHCPv6 pool: addresses of an address range, or prefixes of a prefix pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolUsage6 {
    /// Addresses or delegated prefixes.
    pub kind: PoolKind6,
    /// The first address, or the first delegated prefix.
    pub start: std::net::Ipv6Addr,
    /// 128 for addresses; the delegated length for prefixes.
    pub length: u8,
    /// Addresses or prefixes in the pool (can exceed 2^64 in a /64 range).
    pub total: u128,
    /// Leased, offered, declined or reserved.
    pub in_use: u64,
    /// On probation after a client declined them; included in `in_use`.
    pub declined: u64,
}

/// Address and prefix use of the DHCPv6 server, published by the engine every few seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage6 {
    /// (subnet id, its pools: address ranges then prefix pools), in subnet id order.
    pub subnets: Vec<(u32, Vec<PoolUsage6>)>,
}
