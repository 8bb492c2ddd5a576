//! Reading that DHCPv4 and DHCPv6 configuration share: address lists, address ranges,
//! custom options, inherited timers, subnet lists and direct subnet selection. Only the
//! address family differs between them.

use std::collections::HashMap;
use std::fmt::Display;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

use super::options4::OptionFormat;
use super::tree::Node;
use super::ConfigError;

/// An address family's address, as the configuration reads and encodes it.
pub trait FamilyAddress: FromStr + Copy + Ord + Display + Into<IpAddr> {
    /// The family's name in error messages ("IPv4").
    const FAMILY: &'static str;
    /// The model's `option-format` name for a list of these addresses.
    const LIST_FORMAT: &'static str;
    /// Appends the address in network order.
    fn put_octets(self, out: &mut Vec<u8>);
}

impl FamilyAddress for Ipv4Addr {
    const FAMILY: &'static str = "IPv4";
    const LIST_FORMAT: &'static str = "ipv4-address-list";
    fn put_octets(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.octets());
    }
}

impl FamilyAddress for Ipv6Addr {
    const FAMILY: &'static str = "IPv6";
    const LIST_FORMAT: &'static str = "ipv6-address-list";
    fn put_octets(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.octets());
    }
}

/// An inclusive range of addresses given out dynamically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRange<A> {
    /// First address.
    pub start: A,
    /// Last address (inclusive).
    pub end: A,
}

impl<A: Ord> AddressRange<A> {
    /// Whether `addr` is in the range.
    pub fn contains(&self, addr: A) -> bool {
        self.start <= addr && addr <= self.end
    }
}

/// Every `pool` entry under `node`; entries missing a bound are reported and skipped.
pub(super) fn read_pools<A: FamilyAddress>(
    node: &Node<'_>,
    errors: &mut Vec<ConfigError>,
) -> Vec<AddressRange<A>> {
    node.list("pool")
        .iter()
        .filter_map(|p| {
            Some(AddressRange {
                start: p.parsed("start", errors)?,
                end: p.parsed("end", errors)?,
            })
        })
        .collect()
}

/// The leaf-list `name` as concatenated addresses in network order; `None` when it is empty.
/// Entries that are not addresses are reported and left out.
pub(super) fn read_address_list<A: FamilyAddress>(
    node: &Node<'_>,
    name: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<Vec<u8>> {
    let values = node.leaf_list(name);
    if values.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for v in values {
        match v.parse::<A>() {
            Ok(a) => a.put_octets(&mut out),
            Err(_) => errors.push(ConfigError::new(
                format!("{}/{name}", node.path()),
                format!("{v:?} is not an {} address", A::FAMILY),
            )),
        }
    }
    Some(out)
}

/// Comma-separated addresses of family `A`, encoded in network order.
pub(super) fn encode_address_list<A: FamilyAddress>(value: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for a in value.split(',') {
        let a = a.trim();
        let ip = a
            .parse::<A>()
            .map_err(|_| format!("{a:?} is not an {} address", A::FAMILY))?;
        ip.put_octets(&mut out);
    }
    Ok(out)
}

/// One entry of a custom `option` list, encoded.
pub(super) struct CustomOption<C> {
    /// Option code.
    pub code: C,
    /// Encoded payload.
    pub data: Vec<u8>,
    /// Sent even when not requested.
    pub always_send: bool,
}

/// Every custom `option` entry under `node`, encoded for family `A`. `refuse` names what the
/// family cannot carry in an encoded payload; such entries, like unencodable ones, are
/// reported on their `value` and left out.
pub(super) fn read_custom_options<A: FamilyAddress, C: FromStr>(
    node: &Node<'_>,
    refuse: impl Fn(OptionFormat, &[u8]) -> Option<&'static str>,
    errors: &mut Vec<ConfigError>,
) -> Vec<CustomOption<C>> {
    let mut out = Vec::new();
    for opt in node.list("option") {
        let Some(code) = opt.parsed::<C>("code", errors) else {
            continue;
        };
        let format = opt
            .leaf("format")
            .and_then(|f| OptionFormat::from_yang::<A>(&f))
            .unwrap_or(OptionFormat::Hex);
        let value = opt.leaf("value").unwrap_or_default();
        let always_send = opt.leaf("always-send").as_deref() == Some("true");
        let value_path = || format!("{}/value", opt.path());
        match format.encode::<A>(&value) {
            Ok(data) => match refuse(format, &data) {
                Some(why) => errors.push(ConfigError::new(value_path(), why)),
                None => out.push(CustomOption {
                    code,
                    data,
                    always_send,
                }),
            },
            Err(why) => errors.push(ConfigError::new(value_path(), why)),
        }
    }
    out
}

/// A timer or lifetime: the leaf `name` when set, else the inherited value when `fits` accepts
/// it, else `default`.
pub(super) fn inherited_u32(
    node: &Node<'_>,
    name: &str,
    inherited: Option<u32>,
    fits: impl Fn(u32) -> bool,
    default: u32,
    errors: &mut Vec<ConfigError>,
) -> u32 {
    node.parsed::<u32>(name, errors)
        .or(inherited.filter(|v| fits(*v)))
        .unwrap_or(default)
}

/// The subnets of `node` in id order; `read` reads one, `None` for one it had to skip.
pub(super) fn read_subnets<S>(
    node: &Node<'_>,
    read: impl FnMut(&Node<'_>) -> Option<S>,
    id: impl Fn(&S) -> u32,
) -> Vec<S> {
    let mut subnets: Vec<S> = node.list("subnet").iter().filter_map(read).collect();
    subnets.sort_by_key(id);
    subnets
}

/// Positions of `subnets` by id, and by each relay address that selects them; `keys` gives a
/// subnet's id and relay addresses.
pub(super) fn index_subnets<'s, S, A: Copy + Eq + Hash + 's>(
    subnets: &'s [S],
    keys: impl Fn(&'s S) -> (u32, &'s [A]),
) -> (HashMap<u32, usize>, HashMap<A, usize>) {
    let mut by_id = HashMap::new();
    let mut by_relay = HashMap::new();
    for (i, s) in subnets.iter().enumerate() {
        let (id, relays) = keys(s);
        by_id.insert(id, i);
        for relay in relays {
            by_relay.insert(*relay, i);
        }
    }
    (by_id, by_relay)
}

/// The subnet of traffic that reached `interface` directly: the subnet pinned to it, else an
/// unpinned one containing one of its `addresses`. `link` gives a subnet's pinned interface
/// and prefix.
pub(super) fn select_on_interface<'s, S, N: Into<IpNet> + Copy>(
    subnets: &'s [S],
    interface: &str,
    addresses: &[N],
    link: impl Fn(&'s S) -> (Option<&'s str>, N),
) -> Option<&'s S> {
    subnets
        .iter()
        .find(|s| link(s).0 == Some(interface))
        .or_else(|| {
            subnets.iter().find(|s| {
                let (pinned, prefix) = link(s);
                pinned.is_none()
                    && addresses
                        .iter()
                        .any(|a| prefix.into().contains(&(*a).into().addr()))
            })
        })
}

/// T1 and T2: each its leaf when set, else the inherited (T1, T2) timer when `fits` accepts
/// it, else the matching `defaults`.
pub(super) fn read_renew_rebind(
    node: &Node<'_>,
    inherited: Option<(u32, u32)>,
    fits: impl Fn(u32) -> bool,
    defaults: (u32, u32),
    errors: &mut Vec<ConfigError>,
) -> (u32, u32) {
    let renew = inherited_u32(
        node,
        "renew-timer",
        inherited.map(|t| t.0),
        &fits,
        defaults.0,
        errors,
    );
    let rebind = inherited_u32(
        node,
        "rebind-timer",
        inherited.map(|t| t.1),
        &fits,
        defaults.1,
        errors,
    );
    (renew, rebind)
}

/// The valid lifetime: its leaf when set, else the inherited one, else `default`.
pub(super) fn read_valid_lifetime(
    node: &Node<'_>,
    inherited: Option<u32>,
    default: u32,
    errors: &mut Vec<ConfigError>,
) -> u32 {
    inherited_u32(node, "valid-lifetime", inherited, |_| true, default, errors)
}
