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
///
/// The columns most leases leave empty (host name, user context) and a hardware address that
/// is not simply the one inside the DUID live in one optional heap block, so a typical lease
/// is about 80 bytes: the hardware address of a DUID-LL or DUID-LLT client (most of them) is
/// read from the DUID when asked for, as Kea records it, rather than stored twice.
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
    /// Default, declined or expired-reclaimed.
    pub state: LeaseState,
    /// Whether the hardware address columns are the DUID's; read and set through
    /// [`Lease6::hwaddr`] and [`Lease6::set_hwaddr`].
    pub hwaddr_in_duid: HwaddrInDuid,
    /// Host name, user context and hardware address columns that are not the DUID's; read
    /// and set through the accessors.
    pub extra: ExtraColumns6,
}

/// Whether a lease's hardware address, type and source are the DUID's ([`hwaddr_of_duid`],
/// [`HWADDR_SOURCE_DUID`]), and therefore not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HwaddrInDuid(bool);

/// The seldom-set columns of a lease, out of line; nothing when all are the default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtraColumns6(Option<Box<LeaseExtra6>>);

/// The seldom-set columns.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LeaseExtra6 {
    hostname: Option<Box<str>>,
    user_context: Option<Box<str>>,
    hwaddr: Option<Box<[u8]>>,
    hwtype: u16,
    hwaddr_source: u32,
}

/// Kea's hardware type when none is known (`HTYPE_ETHER`).
pub const DEFAULT_HWTYPE: u16 = 1;

/// Kea's `HWAddr::HWADDR_SOURCE_DUID`: the hardware address was taken from the client's DUID.
pub const HWADDR_SOURCE_DUID: u32 = 2;

impl Default for LeaseExtra6 {
    fn default() -> Self {
        LeaseExtra6 {
            hostname: None,
            user_context: None,
            hwaddr: None,
            hwtype: DEFAULT_HWTYPE,
            hwaddr_source: 0,
        }
    }
}

/// The hardware type and address inside a DUID-LLT (type 1) or DUID-LL (type 3), as Kea
/// records them in the lease's hwaddr columns (RFC 8415 sections 11.2 and 11.4).
pub fn hwaddr_of_duid(duid: &[u8]) -> Option<(u16, &[u8])> {
    let kind = u16::from_be_bytes([*duid.first()?, *duid.get(1)?]);
    let htype = u16::from_be_bytes([*duid.get(2)?, *duid.get(3)?]);
    let addr = match kind {
        1 => duid.get(8..)?,
        3 => duid.get(4..)?,
        _ => return None,
    };
    (!addr.is_empty() && addr.len() <= 20).then_some((htype, addr))
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
            state: LeaseState::Default,
            hwaddr_in_duid: HwaddrInDuid::default(),
            extra: ExtraColumns6::default(),
        }
    }
}

impl Lease6 {
    /// The client's host name.
    pub fn hostname(&self) -> Option<&str> {
        self.extra.0.as_ref()?.hostname.as_deref()
    }

    /// The JSON user context, as text.
    pub fn user_context(&self) -> Option<&str> {
        self.extra.0.as_ref()?.user_context.as_deref()
    }

    /// The client's hardware address, when known (Kea's `hwaddr`).
    pub fn hwaddr(&self) -> Option<&[u8]> {
        if self.hwaddr_in_duid.0 {
            return hwaddr_of_duid(&self.duid).map(|(_, hw)| hw);
        }
        self.extra.0.as_ref()?.hwaddr.as_deref()
    }

    /// Hardware type (Kea's `hwtype`).
    pub fn hwtype(&self) -> u16 {
        if self.hwaddr_in_duid.0 {
            return hwaddr_of_duid(&self.duid).map_or(DEFAULT_HWTYPE, |(t, _)| t);
        }
        self.extra.0.as_ref().map_or(DEFAULT_HWTYPE, |e| e.hwtype)
    }

    /// Where the hardware address came from (Kea's `hwaddr_source`).
    pub fn hwaddr_source(&self) -> u32 {
        if self.hwaddr_in_duid.0 {
            return HWADDR_SOURCE_DUID;
        }
        self.extra.0.as_ref().map_or(0, |e| e.hwaddr_source)
    }

    /// Sets the host name.
    pub fn set_hostname(&mut self, hostname: Option<Box<str>>) {
        self.edit_extra(|e| e.hostname = hostname);
    }

    /// Sets the user context.
    pub fn set_user_context(&mut self, user_context: Option<Box<str>>) {
        self.edit_extra(|e| e.user_context = user_context);
    }

    /// Sets the hardware address columns. Set the DUID first: an address, type and source
    /// that are the DUID's are not stored but read from it.
    pub fn set_hwaddr(&mut self, hwaddr: Option<&[u8]>, hwtype: u16, source: u32) {
        let from_duid = source == HWADDR_SOURCE_DUID
            && hwaddr.is_some_and(|hw| hwaddr_of_duid(&self.duid) == Some((hwtype, hw)));
        self.hwaddr_in_duid = HwaddrInDuid(from_duid);
        self.edit_extra(|e| {
            if from_duid {
                (e.hwaddr, e.hwtype, e.hwaddr_source) = (None, DEFAULT_HWTYPE, 0);
            } else {
                (e.hwaddr, e.hwtype, e.hwaddr_source) = (hwaddr.map(Box::from), hwtype, source);
            }
        });
    }

    /// With the host name set.
    pub fn with_hostname(mut self, hostname: Option<Box<str>>) -> Self {
        self.set_hostname(hostname);
        self
    }

    /// With the user context set.
    pub fn with_user_context(mut self, user_context: Option<Box<str>>) -> Self {
        self.set_user_context(user_context);
        self
    }

    /// With the hardware address columns set (after the DUID).
    pub fn with_hwaddr(mut self, hwaddr: Option<&[u8]>, hwtype: u16, source: u32) -> Self {
        self.set_hwaddr(hwaddr, hwtype, source);
        self
    }

    /// Lengths of the heap blocks the lease holds beyond its own record (0: no block), for
    /// memory estimates.
    pub fn heap_blocks(&self) -> [usize; 5] {
        let extra = self.extra.0.as_deref();
        let len = |b: Option<usize>| b.unwrap_or(0);
        [
            self.duid.heap_len(),
            extra.map_or(0, |_| std::mem::size_of::<LeaseExtra6>()),
            len(extra.and_then(|e| e.hostname.as_ref().map(|h| h.len()))),
            len(extra.and_then(|e| e.user_context.as_ref().map(|u| u.len()))),
            len(extra.and_then(|e| e.hwaddr.as_ref().map(|h| h.len()))),
        ]
    }

    fn edit_extra(&mut self, edit: impl FnOnce(&mut LeaseExtra6)) {
        // Most leases have no extra columns: build them on the stack and box only when set.
        match &mut self.extra.0 {
            Some(extra) => {
                edit(extra);
                if **extra == LeaseExtra6::default() {
                    self.extra.0 = None;
                }
            }
            None => {
                let mut extra = LeaseExtra6::default();
                edit(&mut extra);
                if extra != LeaseExtra6::default() {
                    self.extra.0 = Some(Box::new(extra));
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    const DUID_LL: [u8; 10] = [0, 3, 0, 1, 2, 0, 0, 0, 0, 9];

    #[test]
    fn a_typical_lease_is_one_small_record() {
        assert!(
            std::mem::size_of::<Lease6>() <= 80,
            "{}",
            std::mem::size_of::<Lease6>()
        );
    }

    #[test]
    fn the_duids_hardware_address_is_read_from_the_duid() {
        let l = Lease6 {
            duid: DUID_LL.into(),
            ..Lease6::default()
        }
        .with_hwaddr(Some(&DUID_LL[4..]), 1, HWADDR_SOURCE_DUID);
        assert_eq!(l.hwaddr(), Some(&DUID_LL[4..]));
        assert_eq!((l.hwtype(), l.hwaddr_source()), (1, HWADDR_SOURCE_DUID));
        assert_eq!(
            l.extra,
            ExtraColumns6::default(),
            "nothing stored beside the DUID"
        );
        assert_eq!(l.heap_blocks(), [0; 5]);
    }

    #[test]
    fn other_columns_are_kept_out_of_line_and_dropped_when_cleared() {
        let mut l = Lease6 {
            duid: DUID_LL.into(),
            ..Lease6::default()
        };
        // Another address, or the DUID's from another source, is stored as given.
        l.set_hwaddr(Some(&[2, 0, 0, 0, 0, 7]), 1, HWADDR_SOURCE_DUID);
        assert_eq!(l.hwaddr(), Some(&[2u8, 0, 0, 0, 0, 7][..]));
        l.set_hwaddr(Some(&DUID_LL[4..]), 1, 4);
        assert_eq!((l.hwaddr(), l.hwaddr_source()), (Some(&DUID_LL[4..]), 4));
        l.set_hostname(Some("cpe-7".into()));
        l.set_user_context(Some(r#"{"a":1}"#.into()));
        assert_eq!(
            (l.hostname(), l.user_context()),
            (Some("cpe-7"), Some(r#"{"a":1}"#))
        );
        assert_ne!(l.extra, ExtraColumns6::default());
        l.set_hostname(None);
        l.set_user_context(None);
        l.set_hwaddr(None, DEFAULT_HWTYPE, 0);
        assert_eq!(
            (l.hostname(), l.user_context(), l.hwaddr()),
            (None, None, None)
        );
        assert_eq!((l.hwtype(), l.hwaddr_source()), (DEFAULT_HWTYPE, 0));
        assert_eq!(l.extra, ExtraColumns6::default(), "the block is freed");
        // Setting nothing allocates nothing.
        let plain = Lease6::default()
            .with_hostname(None)
            .with_hwaddr(None, DEFAULT_HWTYPE, 0);
        assert_eq!(plain, Lease6::default());
    }
}
