//! The DHCPv4 lease record.
//!
//! Kept compact because millions of them live in memory: the hardware address
//! and (up to 22 bytes) the client-id are inline, optional text is a boxed
//! `str` (16 bytes, no capacity word), and only the expiry time is stored
//! (Kea's cltt is derived from it). A `Lease4` is 104 bytes plus the heap
//! blocks of its optional hostname/user context (and of a client-id longer
//! than 22 bytes, which is rare: most are type 1 + a MAC, 7 bytes).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::Ipv4Addr;
use std::ops::Deref;
use std::str::FromStr;

use thiserror::Error;

use super::hex::{self, HexError};

/// Longest hardware address Kea accepts (`HWAddr::MAX_HWADDR_LEN`).
pub const HWADDR_MAX_LEN: usize = 20;

/// Valid lifetime Kea uses for leases that never expire (`Lease::INFINITY_LFT`).
pub const INFINITE_LIFETIME: u32 = u32::MAX;

/// A hardware (link-layer) address of up to 20 bytes, stored inline.
///
/// The empty address (length 0) stands for "no hardware address", which Kea
/// allows for declined leases and leases identified by client-id only.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct HwAddr {
    len: u8,
    // Bytes past `len` are always zero, so the derived Eq and Hash are exact.
    bytes: [u8; HWADDR_MAX_LEN],
}

/// Why a hardware address could not be built or parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HwAddrError {
    /// More than [`HWADDR_MAX_LEN`] bytes.
    #[error("hardware address is {len} bytes long, at most {HWADDR_MAX_LEN} are allowed")]
    TooLong {
        /// The length that was offered.
        len: usize,
    },
    /// The text is not Kea's colon-separated hexadecimal form.
    #[error("hardware address is not colon-separated hex: {0}")]
    Syntax(HexError),
}

impl HwAddr {
    /// The empty address: no hardware address known.
    pub const EMPTY: HwAddr = HwAddr {
        len: 0,
        bytes: [0; HWADDR_MAX_LEN],
    };

    /// Builds an address from raw bytes (e.g. a DHCP `chaddr` cut to `hlen`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, HwAddrError> {
        let mut addr = Self::EMPTY;
        let dest = addr
            .bytes
            .get_mut(..bytes.len())
            .ok_or(HwAddrError::TooLong { len: bytes.len() })?;
        dest.copy_from_slice(bytes);
        // The slice above succeeded, so the length is at most 20.
        addr.len = bytes.len() as u8;
        Ok(addr)
    }

    /// Parses Kea's text form from raw bytes, without an intermediate `str`.
    pub(crate) fn parse_bytes(text: &[u8]) -> Result<Self, HwAddrError> {
        let mut addr = Self::EMPTY;
        let n = hex::decode(text, &mut addr.bytes).map_err(|e| match e {
            HexError::TooLong { .. } => HwAddrError::TooLong {
                len: HWADDR_MAX_LEN + 1,
            },
            other => HwAddrError::Syntax(other),
        })?;
        addr.len = n as u8;
        Ok(addr)
    }

    /// The address bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True when no hardware address is known.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Display for HwAddr {
    /// Kea's form: lowercase two-digit hex separated by colons; empty when absent.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.as_bytes().iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for HwAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HwAddr({self})")
    }
}

impl FromStr for HwAddr {
    type Err = HwAddrError;

    /// Parses "aa:bb:cc:dd:ee:ff" (one or two digits per byte); "" is [`HwAddr::EMPTY`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_bytes(s.as_bytes())
    }
}

/// Longest client-id kept inside the record; longer ones go to the heap.
pub const CLIENT_ID_INLINE: usize = 22;

/// A DHCP client identifier (option 61 bytes): inline up to
/// [`CLIENT_ID_INLINE`] bytes, on the heap beyond. 24 bytes either way, and
/// `Option<ClientId>` too (the variant tag has a niche), where a
/// `Box<[u8]>` would cost 16 bytes plus a 32-byte heap block per lease.
///
/// Dereferences to the bytes; equality, ordering of nothing but the bytes,
/// and hashing are those of `[u8]`, whatever the representation.
#[derive(Clone)]
pub struct ClientId(IdRepr);

#[derive(Clone)]
enum IdRepr {
    // Bytes past `len` are zero; only `..len` is ever read.
    Inline {
        len: u8,
        bytes: [u8; CLIENT_ID_INLINE],
    },
    Heap(Box<[u8]>),
}

impl ClientId {
    /// A client-id holding `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        let mut inline = [0u8; CLIENT_ID_INLINE];
        match inline.get_mut(..bytes.len()) {
            Some(dest) => {
                dest.copy_from_slice(bytes);
                // Fits: at most CLIENT_ID_INLINE (22) bytes.
                ClientId(IdRepr::Inline {
                    len: bytes.len() as u8,
                    bytes: inline,
                })
            }
            None => ClientId(IdRepr::Heap(Box::from(bytes))),
        }
    }

    /// The identifier bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            IdRepr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            IdRepr::Heap(b) => b,
        }
    }

    /// Bytes of heap this identifier holds (0 when inline).
    pub fn heap_len(&self) -> usize {
        match &self.0 {
            IdRepr::Inline { .. } => 0,
            IdRepr::Heap(b) => b.len(),
        }
    }
}

impl Deref for ClientId {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for ClientId {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for ClientId {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for ClientId {}

impl PartialEq<[u8]> for ClientId {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl Hash for ClientId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({:02x?})", self.as_bytes())
    }
}

impl From<&[u8]> for ClientId {
    fn from(bytes: &[u8]) -> Self {
        ClientId::new(bytes)
    }
}

impl<const N: usize> From<&[u8; N]> for ClientId {
    fn from(bytes: &[u8; N]) -> Self {
        ClientId::new(bytes)
    }
}

impl From<Vec<u8>> for ClientId {
    fn from(bytes: Vec<u8>) -> Self {
        if bytes.len() > CLIENT_ID_INLINE {
            ClientId(IdRepr::Heap(bytes.into_boxed_slice()))
        } else {
            ClientId::new(&bytes)
        }
    }
}

impl From<Box<[u8]>> for ClientId {
    fn from(bytes: Box<[u8]>) -> Self {
        if bytes.len() > CLIENT_ID_INLINE {
            ClientId(IdRepr::Heap(bytes))
        } else {
            ClientId::new(&bytes)
        }
    }
}

/// Kea's lease states (`Lease::STATE_*`), written as integers in the memfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum LeaseState {
    /// Assigned to a client (or expired but not yet reclaimed).
    #[default]
    Default = 0,
    /// The client declined the address (it is probably in use by someone else).
    Declined = 1,
    /// Expired and reclaimed (DNS removed, hooks run), kept for lease affinity.
    ExpiredReclaimed = 2,
}

/// A state number that Kea 2.2 does not define.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("unknown lease state {0}")]
pub struct UnknownLeaseState(pub u32);

impl LeaseState {
    /// The number written in the memfile's `state` column.
    pub fn as_u32(self) -> u32 {
        self as u32
    }
}

impl TryFrom<u32> for LeaseState {
    type Error = UnknownLeaseState;

    fn try_from(v: u32) -> Result<Self, Self::Error> {
        match v {
            0 => Ok(LeaseState::Default),
            1 => Ok(LeaseState::Declined),
            2 => Ok(LeaseState::ExpiredReclaimed),
            other => Err(UnknownLeaseState(other)),
        }
    }
}

/// One DHCPv4 lease, as Kea 2.2's memfile stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease4 {
    /// The leased address; the primary key.
    pub address: Ipv4Addr,
    /// The client's hardware address; empty for declined leases and
    /// clients identified by client-id only.
    pub hwaddr: HwAddr,
    /// DHCP option 61, when the client sent one. Never `Some` of an empty slice
    /// when read from a file.
    pub client_id: Option<ClientId>,
    /// Seconds; 0 in a memfile row means the lease was deleted;
    /// [`INFINITE_LIFETIME`] means it never expires.
    pub valid_lifetime: u32,
    /// Unix seconds when the lease expires; the client last transaction time
    /// (cltt) is `expire - valid_lifetime`.
    pub expire: u64,
    /// The subnet the lease belongs to.
    pub subnet_id: u32,
    /// A forward DNS update was done for this lease.
    pub fqdn_fwd: bool,
    /// A reverse DNS update was done for this lease.
    pub fqdn_rev: bool,
    /// The client's host name; `None` when empty.
    pub hostname: Option<Box<str>>,
    /// Kea's lease state.
    pub state: LeaseState,
    /// Kea's user context: a JSON map in text form, kept verbatim.
    pub user_context: Option<Box<str>>,
}

impl Lease4 {
    /// The client's host name (as [`crate::lease::Lease6::hostname`]).
    pub fn hostname(&self) -> Option<&str> {
        self.hostname.as_deref()
    }

    /// The JSON user context, as text (as [`crate::lease::Lease6::user_context`]).
    pub fn user_context(&self) -> Option<&str> {
        self.user_context.as_deref()
    }

    /// Client last transaction time: `expire - valid_lifetime` (0 if the row
    /// is inconsistent, rather than wrapping as Kea does).
    pub fn cltt(&self) -> u64 {
        self.expire.saturating_sub(u64::from(self.valid_lifetime))
    }

    /// True when the lease never expires.
    pub fn is_infinite(&self) -> bool {
        self.valid_lifetime == INFINITE_LIFETIME
    }

    /// True when the lease's time has run out at `now` (unix seconds):
    /// `expire <= now`, never for infinite leases.
    pub fn is_expired(&self, now: u64) -> bool {
        !self.is_infinite() && self.expire <= now
    }

    /// True when the lease is assigned to its client at `now`: state
    /// [`LeaseState::Default`] and not expired.
    pub fn is_active(&self, now: u64) -> bool {
        self.state == LeaseState::Default && !self.is_expired(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hwaddr_text_round_trip() {
        let hw: HwAddr = "00:0c:01:AB:0:f".parse().expect("valid");
        assert_eq!(hw.as_bytes(), &[0, 0x0c, 1, 0xab, 0, 0x0f]);
        assert_eq!(hw.to_string(), "00:0c:01:ab:00:0f");
        assert_eq!(hw.len(), 6);
        assert_eq!(format!("{hw:?}"), "HwAddr(00:0c:01:ab:00:0f)");
        let empty: HwAddr = "".parse().expect("empty is valid");
        assert!(empty.is_empty());
        assert_eq!(empty, HwAddr::EMPTY);
        assert_eq!(empty.to_string(), "");
    }

    #[test]
    fn hwaddr_limits() {
        assert!(HwAddr::from_bytes(&[7; 20]).is_ok());
        assert_eq!(
            HwAddr::from_bytes(&[7; 21]),
            Err(HwAddrError::TooLong { len: 21 })
        );
        let long = vec!["01"; 21].join(":");
        assert!(matches!(
            long.parse::<HwAddr>(),
            Err(HwAddrError::TooLong { .. })
        ));
        assert!(matches!(
            "zz".parse::<HwAddr>(),
            Err(HwAddrError::Syntax(HexError::BadDigit))
        ));
    }

    #[test]
    fn hwaddr_equality_ignores_nothing_but_bytes() {
        let a = HwAddr::from_bytes(&[1, 2]).expect("valid");
        let b: HwAddr = "1:2".parse().expect("valid");
        assert_eq!(a, b);
        assert_ne!(a, HwAddr::from_bytes(&[1, 2, 0]).expect("valid"));
    }

    #[test]
    fn lease_times() {
        let mut l = Lease4 {
            address: Ipv4Addr::new(10, 0, 0, 1),
            hwaddr: HwAddr::EMPTY,
            client_id: None,
            valid_lifetime: 100,
            expire: 1_000,
            subnet_id: 1,
            fqdn_fwd: false,
            fqdn_rev: false,
            hostname: None,
            state: LeaseState::Default,
            user_context: None,
        };
        assert_eq!(l.cltt(), 900);
        assert!(l.is_active(999));
        assert!(l.is_expired(1_000));
        assert!(!l.is_active(1_000));
        l.state = LeaseState::ExpiredReclaimed;
        assert!(!l.is_active(0));
        l.valid_lifetime = INFINITE_LIFETIME;
        assert!(!l.is_expired(u64::MAX));
    }

    #[test]
    fn client_id_inline_and_heap_are_the_same_value() {
        use std::collections::hash_map::RandomState;
        use std::hash::BuildHasher;
        let short = [1u8, 0, 0x0c, 1, 2, 3, 4];
        let id = ClientId::from(&short[..]);
        assert_eq!(&*id, &short[..]);
        assert_eq!(id.heap_len(), 0);
        assert_eq!(ClientId::from(short.to_vec()), id);
        let edge = [9u8; CLIENT_ID_INLINE];
        assert_eq!(ClientId::new(&edge).heap_len(), 0);
        let long = [7u8; CLIENT_ID_INLINE + 1];
        let heap = ClientId::new(&long);
        assert_eq!(heap.heap_len(), CLIENT_ID_INLINE + 1);
        assert_eq!(heap.as_bytes(), &long[..]);
        assert_eq!(ClientId::from(long.to_vec().into_boxed_slice()), heap);
        // A short id handed over on the heap is stored inline, and equal either way.
        let boxed: Box<[u8]> = Box::from(&short[..]);
        let from_box = ClientId::from(boxed);
        assert_eq!(from_box.heap_len(), 0);
        let s = RandomState::new();
        assert_eq!(s.hash_one(&from_box), s.hash_one(&id));
        assert_eq!(s.hash_one(&id), s.hash_one(&short[..]));
        assert_eq!(ClientId::new(&[]).len(), 0);
        assert_eq!(format!("{id:?}"), "ClientId([01, 00, 0c, 01, 02, 03, 04])");
    }

    #[test]
    fn lease_state_numbers() {
        for s in [
            LeaseState::Default,
            LeaseState::Declined,
            LeaseState::ExpiredReclaimed,
        ] {
            assert_eq!(LeaseState::try_from(s.as_u32()), Ok(s));
        }
        assert_eq!(LeaseState::try_from(3), Err(UnknownLeaseState(3)));
    }

    #[test]
    fn record_is_compact() {
        assert_eq!(std::mem::size_of::<HwAddr>(), 21);
        assert_eq!(std::mem::size_of::<ClientId>(), 24);
        assert_eq!(std::mem::size_of::<Option<ClientId>>(), 24);
        assert!(std::mem::size_of::<Lease4>() <= 104);
        // The store relies on Option<Lease4> costing nothing extra.
        assert_eq!(
            std::mem::size_of::<Option<Lease4>>(),
            std::mem::size_of::<Lease4>()
        );
    }
}
