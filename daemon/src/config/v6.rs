//! Typed DHCPv6 configuration: subnets, address pools, prefix pools, reservations by DUID,
//! options, lifetimes.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::Duration;

use ipnet::Ipv6Net;
use yang::paths;

use super::common::{
    index_subnets, inherited_u32, read_address_list, read_custom_options, read_pools,
    read_renew_rebind, read_subnets, read_valid_lifetime, select_on_interface, AddressRange,
};
use super::options4::{decode_hex, encode_domain_list, OptionSet};
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

/// DHCPv6 options by code.
pub type OptionSet6 = OptionSet<u16>;

/// An inclusive range of addresses given in IA_NA.
pub type Pool6 = AddressRange<Ipv6Addr>;

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
    /// How long the engine waits after serving packets before reading again (0: not at all).
    pub receive_coalescing: Duration,
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
            receive_coalescing: Duration::ZERO,
            options: OptionSet6::default(),
            subnets: Vec::new(),
            subnet_by_id: HashMap::new(),
            subnet_by_relay: HashMap::new(),
            subnet_by_interface_id: HashMap::new(),
        }
    }
}

impl Dhcp6Config {
    /// Fills the selection maps from `subnets`.
    fn index_subnets(&mut self) {
        (self.subnet_by_id, self.subnet_by_relay) =
            index_subnets(&self.subnets, |s| (s.id, &s.relay_addresses));
        self.subnet_by_interface_id.clear();
        for (i, s) in self.subnets.iter().enumerate() {
            for id in &s.interface_ids {
                self.subnet_by_interface_id.insert(id.clone(), i);
            }
        }
    }

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
        select_on_interface(&self.subnets, ingress.interface, ingress.addresses, |s| {
            (s.interface.as_deref(), s.prefix)
        })
    }
}

fn read_lifetimes(
    node: &Node<'_>,
    inherited: Option<Lifetimes6>,
    errors: &mut Vec<ConfigError>,
) -> Lifetimes6 {
    let valid = read_valid_lifetime(node, inherited.map(|l| l.valid), 4000, errors);
    let preferred = inherited_u32(
        node,
        "preferred-lifetime",
        inherited.map(|l| l.preferred),
        |p| p <= valid,
        valid.saturating_mul(3) / 4,
        errors,
    );
    // RFC 8415 section 21.4: T1 0.5 and T2 0.8 times the shortest preferred lifetime.
    let (renew, rebind) = read_renew_rebind(
        node,
        inherited.map(|l| (l.renew, l.rebind)),
        |t| t <= preferred,
        (preferred / 2, (u64::from(preferred) * 4 / 5) as u32),
        errors,
    );
    Lifetimes6 {
        preferred,
        valid,
        renew,
        rebind,
    }
}

fn read_options(node: &Node<'_>, errors: &mut Vec<ConfigError>) -> OptionSet6 {
    let mut set = OptionSet6::default();
    if let Some(dns) = read_address_list::<Ipv6Addr>(node, "dns-server", errors) {
        // Clients rely on DNS servers; send them even when not asked for.
        set.set(code6::DNS_SERVERS, dns, true);
    }
    let search = node.leaf_list("domain-search");
    if !search.is_empty() {
        set.set(code6::DOMAIN_LIST, encode_domain_list(&search), true);
    }
    // The option header's length field is 16 bits.
    let refuse_oversized = |_, data: &[u8]| {
        (data.len() > usize::from(u16::MAX)).then_some("an option value must fit in 65535 bytes")
    };
    for opt in read_custom_options::<Ipv6Addr, u16>(node, refuse_oversized, errors) {
        set.set(opt.code, opt.data, opt.always_send);
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
    let pools = read_pools(node, errors);
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
    let subnets = read_subnets(
        &node,
        |s| read_subnet(s, lifetimes, &options, errors),
        |s| s.id,
    );
    let mut config = Dhcp6Config {
        enabled: node.leaf("enabled").as_deref() != Some("false"),
        interfaces: node.leaf_list("interface"),
        decline_probation: node
            .parsed("decline-probation-period", errors)
            .unwrap_or(defaults.decline_probation),
        reclaim_interval: node
            .parsed("reclaim-interval", errors)
            .unwrap_or(defaults.reclaim_interval),
        receive_coalescing: node
            .parsed::<u64>("receive-coalescing", errors)
            .map_or(defaults.receive_coalescing, Duration::from_micros),
        options,
        subnets,
        ..defaults
    };
    config.index_subnets();
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
        c.index_subnets();
        c
    }
}
