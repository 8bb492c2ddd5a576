//! Typed DHCPv6 configuration: subnets, address pools, prefix pools, reservations by DUID,
//! options, lifetimes.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use yang::paths;

use super::options4::{decode_hex, encode_domain_list, OptionValue};
use super::tree::{Node, Root};
use super::ConfigError;

/// DHCPv6 option codes the configuration fills (RFC 8415 section 21, RFC 3646).
pub mod code6 {
    /// Recursive DNS servers (RFC 3646).
    pub const DNS_SERVERS: u16 = 23;
    /// Domain search list (RFC 3646).
    pub const DOMAIN_LIST: u16 = 24;
}

/// Lifetimes and timers of IA_NA and IA_PD, in seconds, defaults resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes6 {
    /// Preferred lifetime.
    pub preferred: u32,
    /// Valid lifetime.
    pub valid: u32,
    /// T1.
    pub renew: u32,
    /// T2.
    pub rebind: u32,
}

/// How the value of a custom DHCPv6 option is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionFormat6 {
    /// Hex digits.
    Hex,
    /// UTF-8 text.
    Text,
    /// Comma-separated IPv6 addresses.
    Ipv6AddressList,
    /// One byte.
    Uint8,
    /// Two bytes, network order.
    Uint16,
    /// Four bytes, network order.
    Uint32,
    /// One byte, 0 or 1.
    Boolean,
}

impl OptionFormat6 {
    fn from_yang(name: &str) -> Option<Self> {
        Some(match name {
            "hex" => OptionFormat6::Hex,
            "text" => OptionFormat6::Text,
            "ipv6-address-list" => OptionFormat6::Ipv6AddressList,
            "uint8" => OptionFormat6::Uint8,
            "uint16" => OptionFormat6::Uint16,
            "uint32" => OptionFormat6::Uint32,
            "boolean" => OptionFormat6::Boolean,
            _ => return None,
        })
    }

    /// Encodes `value` as the option payload.
    pub fn encode(self, value: &str) -> Result<Vec<u8>, String> {
        let value = value.trim();
        let num = |e: std::num::ParseIntError| e.to_string();
        match self {
            OptionFormat6::Hex => decode_hex(value),
            OptionFormat6::Text => Ok(value.as_bytes().to_vec()),
            OptionFormat6::Ipv6AddressList => value
                .split(',')
                .map(|a| {
                    a.trim()
                        .parse::<Ipv6Addr>()
                        .map(|ip| ip.octets())
                        .map_err(|_| format!("{:?} is not an IPv6 address", a.trim()))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|v| v.concat()),
            OptionFormat6::Uint8 => value.parse::<u8>().map(|v| vec![v]).map_err(num),
            OptionFormat6::Uint16 => value
                .parse::<u16>()
                .map(|v| v.to_be_bytes().to_vec())
                .map_err(num),
            OptionFormat6::Uint32 => value
                .parse::<u32>()
                .map(|v| v.to_be_bytes().to_vec())
                .map_err(num),
            OptionFormat6::Boolean => match value {
                "true" | "1" => Ok(vec![1]),
                "false" | "0" => Ok(vec![0]),
                _ => Err(format!("{value:?} is not a boolean (true or false)")),
            },
        }
    }
}

/// DHCPv6 options by code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptionSet6 {
    options: BTreeMap<u16, OptionValue>,
}

impl OptionSet6 {
    /// Sets (or replaces) option `code`.
    pub fn set(&mut self, code: u16, data: Vec<u8>, always_send: bool) {
        self.options.insert(
            code,
            OptionValue {
                data: data.into_boxed_slice(),
                always_send,
            },
        );
    }

    /// Option `code`, if set.
    pub fn get(&self, code: u16) -> Option<&OptionValue> {
        self.options.get(&code)
    }

    /// `self` with every option of `over` replacing ours.
    pub fn overlaid(&self, over: &OptionSet6) -> OptionSet6 {
        let mut merged = self.clone();
        for (code, value) in &over.options {
            merged.options.insert(*code, value.clone());
        }
        merged
    }

    /// Options in code order.
    pub fn iter(&self) -> impl Iterator<Item = (u16, &OptionValue)> {
        self.options.iter().map(|(c, v)| (*c, v))
    }
}

/// An inclusive range of addresses given in IA_NA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool6 {
    /// First address.
    pub start: Ipv6Addr,
    /// Last address (inclusive).
    pub end: Ipv6Addr,
}

impl Pool6 {
    /// Whether `addr` is in the range.
    pub fn contains(&self, addr: Ipv6Addr) -> bool {
        self.start <= addr && addr <= self.end
    }
}

/// Prefixes of `delegated_len` carved out of `prefix`, given in IA_PD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdPool {
    /// The prefix delegated prefixes are taken from.
    pub prefix: Ipv6Net,
    /// Length of each delegated prefix.
    pub delegated_len: u8,
}

impl PdPool {
    /// Whether `p` is one of this pool's delegated prefixes.
    pub fn contains(&self, p: Ipv6Net) -> bool {
        p.prefix_len() == self.delegated_len && self.prefix.contains(&p.network())
    }
}

/// An address and/or prefix held for one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation6 {
    /// The client's DUID.
    pub duid: Box<[u8]>,
    /// Address given in IA_NA.
    pub address: Option<Ipv6Addr>,
    /// Prefix given in IA_PD.
    pub prefix: Option<Ipv6Net>,
    /// Options: global, subnet, reservation.
    pub options: OptionSet6,
}

/// One IPv6 subnet (a link).
#[derive(Debug, Clone)]
pub struct Subnet6 {
    /// Identifier, as in the lease file's subnet_id.
    pub id: u32,
    /// The link's prefix.
    pub prefix: Ipv6Net,
    /// Interface its directly attached clients are on, if pinned.
    pub interface: Option<String>,
    /// Relay link-addresses that select it.
    pub relay_addresses: Vec<Ipv6Addr>,
    /// Relay interface-ids that select it.
    pub interface_ids: Vec<Box<[u8]>>,
    /// SOLICIT with Rapid Commit gets a committing REPLY.
    pub rapid_commit: bool,
    /// Lifetimes with global defaults applied.
    pub lifetimes: Lifetimes6,
    /// Options: global, then subnet.
    pub options: OptionSet6,
    /// Address ranges.
    pub pools: Vec<Pool6>,
    /// Delegated-prefix pools.
    pub pd_pools: Vec<PdPool>,
    /// Reservations by DUID.
    pub reservations: Vec<Reservation6>,
    reservation_by_duid: HashMap<Box<[u8]>, usize>,
    reserved_addresses: HashMap<Ipv6Addr, usize>,
    reserved_prefixes: HashMap<Ipv6Net, usize>,
}

impl Subnet6 {
    /// The reservation of the client with `duid`.
    pub fn reservation_for(&self, duid: &[u8]) -> Option<&Reservation6> {
        self.reservation_by_duid
            .get(duid)
            .map(|i| &self.reservations[*i])
    }

    /// Whether `addr` is reserved for some client.
    pub fn is_reserved_address(&self, addr: Ipv6Addr) -> bool {
        self.reserved_addresses.contains_key(&addr)
    }

    /// Whether `prefix` is reserved for some client.
    pub fn is_reserved_prefix(&self, prefix: Ipv6Net) -> bool {
        self.reserved_prefixes.contains_key(&prefix)
    }

    /// Whether `addr` may be given on this link: in a pool or reserved.
    pub fn serves_address(&self, addr: Ipv6Addr) -> bool {
        self.pools.iter().any(|p| p.contains(addr)) || self.is_reserved_address(addr)
    }

    /// Whether `prefix` may be delegated from this subnet.
    pub fn serves_prefix(&self, prefix: Ipv6Net) -> bool {
        self.pd_pools.iter().any(|p| p.contains(prefix)) || self.is_reserved_prefix(prefix)
    }
}

/// How a message reached the server, for subnet selection.
#[derive(Debug, Clone, Copy)]
pub struct Ingress6<'a> {
    /// Receiving interface.
    pub interface: &'a str,
    /// Its IPv6 addresses and prefixes.
    pub addresses: &'a [Ipv6Net],
}

/// The DHCPv6 server's configuration.
#[derive(Debug, Clone)]
pub struct Dhcp6Config {
    /// Whether DHCPv6 is served.
    pub enabled: bool,
    /// Interfaces listened on.
    pub interfaces: Vec<String>,
    /// Seconds a declined address is kept out of use.
    pub decline_probation: u32,
    /// Seconds between reclaim runs.
    pub reclaim_interval: u32,
    /// Global options (for INFORMATION-REQUEST outside any subnet).
    pub options: OptionSet6,
    /// Subnets, in id order.
    pub subnets: Vec<Subnet6>,
    subnet_by_id: HashMap<u32, usize>,
    subnet_by_relay: HashMap<Ipv6Addr, usize>,
    subnet_by_interface_id: HashMap<Box<[u8]>, usize>,
}

impl Default for Dhcp6Config {
    fn default() -> Self {
        Dhcp6Config {
            enabled: true,
            interfaces: Vec::new(),
            decline_probation: 86400,
            reclaim_interval: 10,
            options: OptionSet6::default(),
            subnets: Vec::new(),
            subnet_by_id: HashMap::new(),
            subnet_by_relay: HashMap::new(),
            subnet_by_interface_id: HashMap::new(),
        }
    }
}

impl Dhcp6Config {
    /// The subnet with identifier `id`.
    pub fn subnet(&self, id: u32) -> Option<&Subnet6> {
        self.subnet_by_id.get(&id).map(|i| &self.subnets[*i])
    }

    /// Selects the subnet of a message. Relayed (RFC 8415 section 13.1): the innermost relay's
    /// interface-id if configured, else its link-address (configured relay address, then the
    /// subnet containing it). Direct: the subnet pinned to the receiving interface, else the
    /// one containing an address of that interface.
    pub fn select_subnet(
        &self,
        relay: Option<(Ipv6Addr, Option<&[u8]>)>,
        ingress: Ingress6<'_>,
    ) -> Option<&Subnet6> {
        if let Some((link, interface_id)) = relay {
            if let Some(i) = interface_id.and_then(|id| self.subnet_by_interface_id.get(id)) {
                return Some(&self.subnets[*i]);
            }
            if let Some(i) = self.subnet_by_relay.get(&link) {
                return Some(&self.subnets[*i]);
            }
            if link.is_unspecified() {
                return None;
            }
            return self.subnets.iter().find(|s| s.prefix.contains(&link));
        }
        self.subnets
            .iter()
            .find(|s| s.interface.as_deref() == Some(ingress.interface))
            .or_else(|| {
                self.subnets.iter().find(|s| {
                    s.interface.is_none()
                        && ingress
                            .addresses
                            .iter()
                            .any(|a| s.prefix.contains(&a.addr()))
                })
            })
    }
}

fn read_lifetimes(
    node: &Node<'_>,
    inherited: Option<Lifetimes6>,
    errors: &mut Vec<ConfigError>,
) -> Lifetimes6 {
    let valid = node
        .parsed::<u32>("valid-lifetime", errors)
        .or(inherited.map(|l| l.valid))
        .unwrap_or(4000);
    let preferred = node
        .parsed::<u32>("preferred-lifetime", errors)
        .or(inherited.map(|l| l.preferred).filter(|p| *p <= valid))
        .unwrap_or(valid.saturating_mul(3) / 4);
    // RFC 8415 section 21.4: T1 0.5 and T2 0.8 times the shortest preferred lifetime.
    let renew = node
        .parsed::<u32>("renew-timer", errors)
        .or(inherited.map(|l| l.renew).filter(|r| *r <= preferred))
        .unwrap_or(preferred / 2);
    let rebind = node
        .parsed::<u32>("rebind-timer", errors)
        .or(inherited.map(|l| l.rebind).filter(|r| *r <= preferred))
        .unwrap_or((u64::from(preferred) * 4 / 5) as u32);
    Lifetimes6 {
        preferred,
        valid,
        renew,
        rebind,
    }
}

fn read_options(node: &Node<'_>, errors: &mut Vec<ConfigError>) -> OptionSet6 {
    let mut set = OptionSet6::default();
    let dns = node.leaf_list("dns-server");
    if !dns.is_empty() {
        let mut out = Vec::with_capacity(dns.len() * 16);
        for v in dns {
            match v.parse::<Ipv6Addr>() {
                Ok(a) => out.extend_from_slice(&a.octets()),
                Err(_) => errors.push(ConfigError::new(
                    format!("{}/dns-server", node.path()),
                    format!("{v:?} is not an IPv6 address"),
                )),
            }
        }
        // Clients rely on DNS servers; send them even when not asked for.
        set.set(code6::DNS_SERVERS, out, true);
    }
    let search = node.leaf_list("domain-search");
    if !search.is_empty() {
        set.set(code6::DOMAIN_LIST, encode_domain_list(&search), true);
    }
    for opt in node.list("option") {
        let Some(code) = opt.parsed::<u16>("code", errors) else {
            continue;
        };
        let format = opt
            .leaf("format")
            .and_then(|f| OptionFormat6::from_yang(&f))
            .unwrap_or(OptionFormat6::Hex);
        let value = opt.leaf("value").unwrap_or_default();
        let always_send = opt.leaf("always-send").as_deref() == Some("true");
        match format.encode(&value) {
            Ok(data) if data.len() > usize::from(u16::MAX) => errors.push(ConfigError::new(
                format!("{}/value", opt.path()),
                "an option value must fit in 65535 bytes",
            )),
            Ok(data) => set.set(code, data, always_send),
            Err(why) => errors.push(ConfigError::new(format!("{}/value", opt.path()), why)),
        }
    }
    set
}

fn read_reservation(
    node: &Node<'_>,
    subnet_options: &OptionSet6,
    errors: &mut Vec<ConfigError>,
) -> Option<Reservation6> {
    let raw = node.leaf("duid")?;
    let duid = match decode_hex(&raw) {
        Ok(b) if !b.is_empty() && b.len() <= 130 => b.into_boxed_slice(),
        _ => {
            errors.push(ConfigError::new(
                format!("{}/duid", node.path()),
                "a DUID is 1 to 130 bytes of hex",
            ));
            return None;
        }
    };
    Some(Reservation6 {
        duid,
        address: node.parsed("ip-address", errors),
        prefix: node.parsed("prefix", errors),
        options: subnet_options.overlaid(&read_options(node, errors)),
    })
}

fn read_subnet(
    node: &Node<'_>,
    global_lifetimes: Lifetimes6,
    global_options: &OptionSet6,
    errors: &mut Vec<ConfigError>,
) -> Option<Subnet6> {
    let id = node.parsed::<u32>("id", errors)?;
    let prefix = node.parsed::<Ipv6Net>("prefix", errors)?;
    let options = global_options.overlaid(&read_options(node, errors));
    let pools = node
        .list("pool")
        .iter()
        .filter_map(|p| {
            Some(Pool6 {
                start: p.parsed("start", errors)?,
                end: p.parsed("end", errors)?,
            })
        })
        .collect();
    let pd_pools = node
        .list("pd-pool")
        .iter()
        .filter_map(|p| {
            Some(PdPool {
                prefix: p.parsed("prefix", errors)?,
                delegated_len: p.parsed("delegated-length", errors)?,
            })
        })
        .collect();
    let reservations: Vec<Reservation6> = node
        .list("reservation")
        .iter()
        .filter_map(|r| read_reservation(r, &options, errors))
        .collect();
    let mut subnet = Subnet6 {
        id,
        prefix,
        interface: node.leaf("interface"),
        relay_addresses: node
            .leaf_list("relay-address")
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect(),
        interface_ids: node
            .leaf_list("interface-id")
            .into_iter()
            .map(|s| s.into_bytes().into_boxed_slice())
            .collect(),
        rapid_commit: node.leaf("rapid-commit").as_deref() == Some("true"),
        lifetimes: read_lifetimes(node, Some(global_lifetimes), errors),
        options,
        pools,
        pd_pools,
        reservations,
        reservation_by_duid: HashMap::new(),
        reserved_addresses: HashMap::new(),
        reserved_prefixes: HashMap::new(),
    };
    for (i, r) in subnet.reservations.iter().enumerate() {
        subnet.reservation_by_duid.insert(r.duid.clone(), i);
        if let Some(a) = r.address {
            subnet.reserved_addresses.insert(a, i);
        }
        if let Some(p) = r.prefix {
            subnet.reserved_prefixes.insert(p, i);
        }
    }
    Some(subnet)
}

/// Reads the `dhcpv6` container; problems go to `errors`.
pub(super) fn read(root: &Root<'_, '_>, errors: &mut Vec<ConfigError>) -> Dhcp6Config {
    let Some(node) = root.node(paths::DHCPV6) else {
        return Dhcp6Config::default();
    };
    let defaults = Dhcp6Config::default();
    let lifetimes = read_lifetimes(&node, None, errors);
    let options = read_options(&node, errors);
    let mut subnets: Vec<Subnet6> = node
        .list("subnet")
        .iter()
        .filter_map(|s| read_subnet(s, lifetimes, &options, errors))
        .collect();
    subnets.sort_by_key(|s| s.id);
    let mut config = Dhcp6Config {
        enabled: node.leaf("enabled").as_deref() != Some("false"),
        interfaces: node.leaf_list("interface"),
        decline_probation: node
            .parsed("decline-probation-period", errors)
            .unwrap_or(defaults.decline_probation),
        reclaim_interval: node
            .parsed("reclaim-interval", errors)
            .unwrap_or(defaults.reclaim_interval),
        options,
        subnets,
        ..defaults
    };
    for (i, s) in config.subnets.iter().enumerate() {
        config.subnet_by_id.insert(s.id, i);
        for relay in &s.relay_addresses {
            config.subnet_by_relay.insert(*relay, i);
        }
        for id in &s.interface_ids {
            config.subnet_by_interface_id.insert(id.clone(), i);
        }
    }
    config
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Builders for policy tests, which have no YANG tree.
    use super::*;

    /// A subnet with the given pools and nothing else.
    pub fn subnet(id: u32, prefix: &str, pools: &[(&str, &str)], pd: &[(&str, u8)]) -> Subnet6 {
        let mut s = Subnet6 {
            id,
            prefix: prefix.parse().expect("prefix"),
            interface: None,
            relay_addresses: Vec::new(),
            interface_ids: Vec::new(),
            rapid_commit: false,
            lifetimes: Lifetimes6 {
                preferred: 3000,
                valid: 4000,
                renew: 1000,
                rebind: 2000,
            },
            options: OptionSet6::default(),
            pools: pools
                .iter()
                .map(|(a, b)| Pool6 {
                    start: a.parse().expect("start"),
                    end: b.parse().expect("end"),
                })
                .collect(),
            pd_pools: pd
                .iter()
                .map(|(p, l)| PdPool {
                    prefix: p.parse().expect("pd prefix"),
                    delegated_len: *l,
                })
                .collect(),
            reservations: Vec::new(),
            reservation_by_duid: HashMap::new(),
            reserved_addresses: HashMap::new(),
            reserved_prefixes: HashMap::new(),
        };
        s.options.set(
            code6::DNS_SERVERS,
            vec![0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53],
            true,
        );
        s
    }

    /// Adds a reservation to `s`.
    pub fn reserve(s: &mut Subnet6, duid: &[u8], address: Option<&str>, prefix: Option<&str>) {
        let r = Reservation6 {
            duid: duid.into(),
            address: address.map(|a| a.parse().expect("address")),
            prefix: prefix.map(|p| p.parse().expect("prefix")),
            options: s.options.clone(),
        };
        let i = s.reservations.len();
        s.reservation_by_duid.insert(r.duid.clone(), i);
        if let Some(a) = r.address {
            s.reserved_addresses.insert(a, i);
        }
        if let Some(p) = r.prefix {
            s.reserved_prefixes.insert(p, i);
        }
        s.reservations.push(r);
    }

    /// A configuration over `subnets`.
    pub fn config(subnets: Vec<Subnet6>) -> Dhcp6Config {
        let mut c = Dhcp6Config {
            interfaces: vec!["eth0".into()],
            subnets,
            ..Dhcp6Config::default()
        };
        for (i, s) in c.subnets.iter().enumerate() {
            c.subnet_by_id.insert(s.id, i);
            for relay in &s.relay_addresses {
                c.subnet_by_relay.insert(*relay, i);
            }
            for id in &s.interface_ids {
                c.subnet_by_interface_id.insert(id.clone(), i);
            }
        }
        c
    }
}
