//! Typed DHCPv4 configuration: subnets, pools, reservations, options, lifetimes.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::Ipv4Net;
use yang::paths;

use super::common::{
    index_subnets, read_address_list, read_custom_options, read_pools, read_renew_rebind,
    read_subnets, read_valid_lifetime, select_on_interface, AddressRange,
};
use super::options4::{code, decode_hex, encode_domain_list, OptionFormat, OptionSet4};
use super::tree::{Node, Root};
use super::ConfigError;

/// Lease lifetime and timers, in seconds, with defaults already resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// Lease time (option 51).
    pub valid: u32,
    /// T1 (option 58).
    pub renew: u32,
    /// T2 (option 59).
    pub rebind: u32,
}

/// An inclusive range of IPv4 addresses given out dynamically.
pub type Pool4 = AddressRange<Ipv4Addr>;

impl Pool4 {
    /// Number of addresses in the range.
    pub fn size(&self) -> u64 {
        u64::from(u32::from(self.end)) - u64::from(u32::from(self.start)) + 1
    }
}

/// How a reservation recognises its client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostId {
    /// Client hardware address (chaddr).
    HwAddr(Box<[u8]>),
    /// Client identifier (option 61), type byte included.
    ClientId(Box<[u8]>),
}

/// An address held for one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation4 {
    /// The reserved address.
    pub address: Ipv4Addr,
    /// Who it is for.
    pub id: HostId,
    /// Host name given in option 12.
    pub hostname: Option<String>,
    /// Options for this client: global, then subnet, then reservation.
    pub options: OptionSet4,
}

/// One IPv4 subnet.
#[derive(Debug, Clone)]
pub struct Subnet4 {
    /// Identifier, as in the lease file's subnet_id.
    pub id: u32,
    /// The subnet.
    pub prefix: Ipv4Net,
    /// Interface its directly attached clients are on, if pinned.
    pub interface: Option<String>,
    /// Relay addresses (giaddr) that select it.
    pub relay_addresses: Vec<Ipv4Addr>,
    /// Lifetimes with global defaults applied.
    pub lifetimes: Lifetimes,
    /// Options: global, then subnet.
    pub options: OptionSet4,
    /// Dynamic ranges.
    pub pools: Vec<Pool4>,
    /// Host reservations.
    pub reservations: Vec<Reservation4>,
    reservation_by_hwaddr: HashMap<Box<[u8]>, usize>,
    reservation_by_client_id: HashMap<Box<[u8]>, usize>,
    reservation_by_address: HashMap<Ipv4Addr, usize>,
}

impl Subnet4 {
    /// The reservation for a client, by client-id first, then hardware address.
    pub fn reservation_for(
        &self,
        client_id: Option<&[u8]>,
        hwaddr: &[u8],
    ) -> Option<&Reservation4> {
        client_id
            .and_then(|id| self.reservation_by_client_id.get(id))
            .or_else(|| self.reservation_by_hwaddr.get(hwaddr))
            .map(|i| &self.reservations[*i])
    }

    /// The reservation holding `addr`, if any.
    pub fn reservation_at(&self, addr: Ipv4Addr) -> Option<&Reservation4> {
        self.reservation_by_address
            .get(&addr)
            .map(|i| &self.reservations[*i])
    }

    /// The pool `addr` is in, if any.
    pub fn pool_of(&self, addr: Ipv4Addr) -> Option<&Pool4> {
        self.pools.iter().find(|p| p.contains(addr))
    }

    /// Subnet mask (option 1).
    pub fn mask(&self) -> Ipv4Addr {
        self.prefix.netmask()
    }
}

/// How an incoming packet reached the server, for subnet selection.
#[derive(Debug, Clone, Copy)]
pub struct Ingress<'a> {
    /// Receiving interface.
    pub interface: &'a str,
    /// Its IPv4 addresses and prefixes.
    pub addresses: &'a [Ipv4Net],
}

/// The DHCPv4 server's configuration.
#[derive(Debug, Clone)]
pub struct Dhcp4Config {
    /// Whether DHCPv4 is served.
    pub enabled: bool,
    /// Interfaces listened on.
    pub interfaces: Vec<String>,
    /// Configured server identifier; else the receiving interface's address.
    pub server_identifier: Option<Ipv4Addr>,
    /// NAK requests that cannot be granted (else ignore them).
    pub authoritative: bool,
    /// Seconds a declined address is kept out of use.
    pub decline_probation: u32,
    /// Seconds an offered address is held.
    pub offer_lifetime: u32,
    /// Seconds between reclaim runs.
    pub reclaim_interval: u32,
    /// How long the engine waits after serving packets before reading again (0: not at all).
    pub receive_coalescing: Duration,
    /// Subnets, in id order.
    pub subnets: Vec<Subnet4>,
    subnet_by_relay: HashMap<Ipv4Addr, usize>,
    subnet_by_id: HashMap<u32, usize>,
}

impl Default for Dhcp4Config {
    fn default() -> Self {
        Dhcp4Config {
            enabled: true,
            interfaces: Vec::new(),
            server_identifier: None,
            authoritative: true,
            decline_probation: 86400,
            offer_lifetime: 60,
            reclaim_interval: 10,
            receive_coalescing: Duration::ZERO,
            subnets: Vec::new(),
            subnet_by_relay: HashMap::new(),
            subnet_by_id: HashMap::new(),
        }
    }
}

impl Dhcp4Config {
    /// The subnet with identifier `id`.
    pub fn subnet(&self, id: u32) -> Option<&Subnet4> {
        self.subnet_by_id.get(&id).map(|i| &self.subnets[*i])
    }

    /// Selects the subnet for a packet (RFC 2131 4.3.1; RFC 3527 not used): the relay's giaddr
    /// (configured relay address first, then the subnet containing it), else the client's
    /// ciaddr when it is renewing by unicast, else the receiving interface.
    pub fn select_subnet(
        &self,
        giaddr: Ipv4Addr,
        ciaddr: Ipv4Addr,
        ingress: Ingress<'_>,
    ) -> Option<&Subnet4> {
        if !giaddr.is_unspecified() {
            if let Some(i) = self.subnet_by_relay.get(&giaddr) {
                return Some(&self.subnets[*i]);
            }
            return self.subnets.iter().find(|s| s.prefix.contains(&giaddr));
        }
        if !ciaddr.is_unspecified() {
            if let Some(s) = self.subnets.iter().find(|s| s.prefix.contains(&ciaddr)) {
                return Some(s);
            }
        }
        select_on_interface(&self.subnets, ingress.interface, ingress.addresses, |s| {
            (s.interface.as_deref(), s.prefix)
        })
    }
}

fn read_lifetimes(
    node: &Node<'_>,
    inherited: Option<Lifetimes>,
    errors: &mut Vec<ConfigError>,
) -> Lifetimes {
    let valid = read_valid_lifetime(node, inherited.map(|l| l.valid), 3600, errors);
    // Explicit timers win; otherwise inherit explicit global timers only when they still fit
    // under this level's valid lifetime, else derive from it (RFC 2131 4.4.5 defaults).
    let (renew, rebind) = read_renew_rebind(
        node,
        inherited.map(|l| (l.renew, l.rebind)),
        |t| t < valid,
        (valid / 2, (valid as u64 * 7 / 8) as u32),
        errors,
    );
    Lifetimes {
        valid,
        renew,
        rebind,
    }
}

// Routers, DNS servers and the domain name are sent whether or not the client asks, as
// clients commonly rely on them; other options follow the parameter request list.
fn read_options(node: &Node<'_>, errors: &mut Vec<ConfigError>) -> OptionSet4 {
    let mut set = OptionSet4::default();
    if let Some(data) = read_address_list::<Ipv4Addr>(node, "router", errors) {
        set.set(code::ROUTER, data, true);
    }
    if let Some(data) = read_address_list::<Ipv4Addr>(node, "dns-server", errors) {
        set.set(code::DNS_SERVER, data, true);
    }
    if let Some(name) = node.leaf("domain-name") {
        set.set(
            code::DOMAIN_NAME,
            name.trim_end_matches('.').as_bytes().to_vec(),
            true,
        );
    }
    let search = node.leaf_list("domain-search");
    if !search.is_empty() {
        set.set(code::DOMAIN_SEARCH, encode_domain_list(&search), false);
    }
    // An empty payload means nothing for most formats; empty text is a valid string.
    let refuse_empty = |format, data: &[u8]| {
        (data.is_empty() && format != OptionFormat::Text)
            .then_some("an option value must not be empty")
    };
    for opt in read_custom_options::<Ipv4Addr, u8>(node, refuse_empty, errors) {
        set.set(opt.code, opt.data, opt.always_send);
    }
    set
}

fn read_reservation(
    node: &Node<'_>,
    subnet_options: &OptionSet4,
    errors: &mut Vec<ConfigError>,
) -> Option<Reservation4> {
    let address = node.parsed::<Ipv4Addr>("ip-address", errors)?;
    let id = if let Some(mac) = node.leaf("hw-address") {
        HostId::HwAddr(decode_hex(&mac).ok()?.into_boxed_slice())
    } else {
        let cid = node.leaf("client-id")?;
        match decode_hex(&cid) {
            Ok(bytes) if !bytes.is_empty() => HostId::ClientId(bytes.into_boxed_slice()),
            _ => {
                errors.push(ConfigError::new(
                    format!("{}/client-id", node.path()),
                    "client-id must not be empty",
                ));
                return None;
            }
        }
    };
    let hostname = node.leaf("hostname");
    let mut own = read_options(node, errors);
    if let Some(h) = &hostname {
        if own.get(code::HOSTNAME).is_none() {
            own.set(
                code::HOSTNAME,
                h.trim_end_matches('.').as_bytes().to_vec(),
                true,
            );
        }
    }
    Some(Reservation4 {
        address,
        id,
        hostname,
        options: subnet_options.overlaid(&own),
    })
}

fn read_subnet(
    node: &Node<'_>,
    global_lifetimes: Lifetimes,
    global_options: &OptionSet4,
    errors: &mut Vec<ConfigError>,
) -> Option<Subnet4> {
    let id = node.parsed::<u32>("id", errors)?;
    let prefix = node.parsed::<Ipv4Net>("prefix", errors)?;
    let options = global_options.overlaid(&read_options(node, errors));
    let pools = read_pools(node, errors);
    let reservations: Vec<Reservation4> = node
        .list("reservation")
        .iter()
        .filter_map(|r| read_reservation(r, &options, errors))
        .collect();
    let mut subnet = Subnet4 {
        id,
        prefix,
        interface: node.leaf("interface"),
        relay_addresses: node
            .leaf_list("relay-address")
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect(),
        lifetimes: read_lifetimes(node, Some(global_lifetimes), errors),
        options,
        pools,
        reservations,
        reservation_by_hwaddr: HashMap::new(),
        reservation_by_client_id: HashMap::new(),
        reservation_by_address: HashMap::new(),
    };
    for (i, r) in subnet.reservations.iter().enumerate() {
        match &r.id {
            HostId::HwAddr(hw) => subnet.reservation_by_hwaddr.insert(hw.clone(), i),
            HostId::ClientId(cid) => subnet.reservation_by_client_id.insert(cid.clone(), i),
        };
        subnet.reservation_by_address.insert(r.address, i);
    }
    Some(subnet)
}

/// Reads the `dhcpv4` container; problems go to `errors`.
pub(super) fn read(root: &Root<'_, '_>, errors: &mut Vec<ConfigError>) -> Dhcp4Config {
    let Some(node) = root.node(paths::DHCPV4) else {
        return Dhcp4Config::default();
    };
    let defaults = Dhcp4Config::default();
    let lifetimes = read_lifetimes(&node, None, errors);
    let options = read_options(&node, errors);
    let subnets = read_subnets(
        &node,
        |s| read_subnet(s, lifetimes, &options, errors),
        |s| s.id,
    );
    let mut config = Dhcp4Config {
        enabled: node.leaf("enabled").as_deref() != Some("false"),
        interfaces: node.leaf_list("interface"),
        server_identifier: node.parsed("server-identifier", errors),
        authoritative: node.leaf("authoritative").as_deref() != Some("false"),
        decline_probation: node
            .parsed("decline-probation-period", errors)
            .unwrap_or(defaults.decline_probation),
        offer_lifetime: node
            .parsed("offer-lifetime", errors)
            .unwrap_or(defaults.offer_lifetime),
        reclaim_interval: node
            .parsed("reclaim-interval", errors)
            .unwrap_or(defaults.reclaim_interval),
        receive_coalescing: node
            .parsed::<u64>("receive-coalescing", errors)
            .map_or(defaults.receive_coalescing, Duration::from_micros),
        subnets,
        subnet_by_relay: HashMap::new(),
        subnet_by_id: HashMap::new(),
    };
    (config.subnet_by_id, config.subnet_by_relay) =
        index_subnets(&config.subnets, |s| (s.id, &s.relay_addresses));
    config
}
