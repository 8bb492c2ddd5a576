//! The DHCPv6 lease record: one address (IA_NA) or one delegated prefix (IA_PD), with the
//! columns of Kea 2.2's `kea-leases6.csv`.
//!
//! Kept compact because millions of them live in memory: the DUID and the hardware address
//! are inline up to 22 bytes ([`InlineBytes`]; a DUID-LL is 10, a DUID-LLT 14, a DUID-UUID 18),
//! so a typical lease is one slab record with no heap block of its own.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::Ipv6Addr;
use std::ops::Deref;

use super::record::{ClientId, LeaseState};

/// A byte string (DUID, hardware address) stored inline up to 22 bytes and on the heap
/// beyond: 24 bytes either way, and `Option<InlineBytes>` too.
///
/// Dereferences to the bytes; equality and hashing are those of `[u8]`.
#[derive(Clone, PartialEq, Eq)]
pub struct InlineBytes(ClientId);

impl Default for InlineBytes {
    fn default() -> Self {
        InlineBytes::new(&[])
    }
}

impl InlineBytes {
    /// A string holding `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        InlineBytes(ClientId::new(bytes))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Bytes of heap this string holds (0 when inline).
    pub fn heap_len(&self) -> usize {
        self.0.heap_len()
    }
}

impl Deref for InlineBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for InlineBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq<[u8]> for InlineBytes {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl Hash for InlineBytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Debug for InlineBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x?}", self.as_bytes())
    }
}

impl From<&[u8]> for InlineBytes {
    fn from(bytes: &[u8]) -> Self {
        InlineBytes::new(bytes)
    }
}

impl<const N: usize> From<&[u8; N]> for InlineBytes {
    fn from(bytes: &[u8; N]) -> Self {
        InlineBytes::new(bytes)
    }
}

impl<const N: usize> From<[u8; N]> for InlineBytes {
    fn from(bytes: [u8; N]) -> Self {
        InlineBytes::new(&bytes)
    }
}

impl From<Vec<u8>> for InlineBytes {
    fn from(bytes: Vec<u8>) -> Self {
        InlineBytes(ClientId::from(bytes))
    }
}

impl From<Box<[u8]>> for InlineBytes {
    fn from(bytes: Box<[u8]>) -> Self {
        InlineBytes(ClientId::from(bytes))
    }
}

/// Kind of a v6 lease (Kea's `lease_type` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum LeaseType6 {
    /// Non-temporary address (IA_NA), Kea 0.
    #[default]
    Na = 0,
    /// Temporary address (IA_TA), Kea 1; loaded and kept, never given.
    Ta = 1,
    /// Delegated prefix (IA_PD), Kea 2.
    Pd = 2,
}

impl LeaseType6 {
    /// Kea's number.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// From Kea's number.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(LeaseType6::Na),
            1 => Some(LeaseType6::Ta),
            2 => Some(LeaseType6::Pd),
            _ => None,
        }
    }
}

/// A DHCPv6 lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease6 {
    /// The address, or the delegated prefix's first address.
    pub address: Ipv6Addr,
    /// 128 for addresses; the delegated length for prefixes.
    pub prefix_len: u8,
    /// IA_NA, IA_TA or IA_PD.
    pub lease_type: LeaseType6,
    /// The client's DUID.
    pub duid: InlineBytes,
    /// Identity association identifier.
    pub iaid: u32,
    /// Valid lifetime, seconds; 0 in a row deletes the lease.
    pub valid_lifetime: u32,
    /// Preferred lifetime, seconds.
    pub preferred_lifetime: u32,
    /// Unix time the lease ends.
    pub expire: u64,
    /// Subnet identifier.
    pub subnet_id: u32,
    /// Forward DNS update done.
    pub fqdn_fwd: bool,
    /// Reverse DNS update done.
    pub fqdn_rev: bool,
    /// Client host name.
    pub hostname: Option<Box<str>>,
    /// Client hardware address, when known (Kea's `hwaddr`).
    pub hwaddr: Option<InlineBytes>,
    /// Hardware type (Kea's `hwtype`).
    pub hwtype: u16,
    /// Where the hardware address came from (Kea's `hwaddr_source`).
    pub hwaddr_source: u32,
    /// Default, declined or expired-reclaimed.
    pub state: LeaseState,
    /// JSON user context, as text.
    pub user_context: Option<Box<str>>,
}

impl Default for Lease6 {
    fn default() -> Self {
        Lease6 {
            address: Ipv6Addr::UNSPECIFIED,
            prefix_len: 128,
            lease_type: LeaseType6::Na,
            duid: InlineBytes::default(),
            iaid: 0,
            valid_lifetime: 0,
            preferred_lifetime: 0,
            expire: 0,
            subnet_id: 0,
            fqdn_fwd: false,
            fqdn_rev: false,
            hostname: None,
            hwaddr: None,
            hwtype: 1,
            hwaddr_source: 0,
            state: LeaseState::Default,
            user_context: None,
        }
    }
}

/// The key of a v6 lease: its type and address.
pub type LeaseKey6 = (LeaseType6, Ipv6Addr);

impl Lease6 {
    /// Type and address.
    pub fn key(&self) -> LeaseKey6 {
        (self.lease_type, self.address)
    }

    /// Whether the lease has ended at `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        self.expire <= now
    }

    /// Client last transmission time (expire minus valid lifetime).
    pub fn cltt(&self) -> u64 {
        self.expire.saturating_sub(u64::from(self.valid_lifetime))
    }

    /// Seconds left at `now`, 0 once expired.
    pub fn remaining(&self, now: u64) -> u32 {
        self.expire.saturating_sub(now).min(u64::from(u32::MAX)) as u32
    }
}
