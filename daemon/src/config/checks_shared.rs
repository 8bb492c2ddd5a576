//! Semantic checks that DHCPv4 and DHCPv6 run alike, over either family's prefixes and
//! address ranges.

use std::collections::HashMap;
use std::hash::Hash;

use ipnet::IpNet;

use super::common::{AddressRange, FamilyAddress};
use super::ConfigError;

/// Whether two prefixes share any address.
pub(super) fn overlaps(a: impl Into<IpNet>, b: impl Into<IpNet>) -> bool {
    let (a, b) = (a.into(), b.into());
    a.contains(&b.network()) || b.contains(&a.network())
}

/// A subnet prefix must name its network, without host bits.
pub(super) fn check_no_host_bits(
    prefix: impl Into<IpNet>,
    path: &str,
    errors: &mut Vec<ConfigError>,
) {
    let prefix = prefix.into();
    if prefix.network() != prefix.addr() {
        errors.push(ConfigError::new(
            format!("{path}/prefix"),
            format!(
                "{} has host bits set; the subnet is {}",
                prefix,
                prefix.trunc()
            ),
        ));
    }
}

/// Reports every later subnet whose prefix overlaps `prefix`; `later` holds (id, prefix).
pub(super) fn check_subnet_overlaps<N: Into<IpNet> + Copy>(
    prefix: N,
    later: impl Iterator<Item = (u32, N)>,
    path: &str,
    errors: &mut Vec<ConfigError>,
) {
    for (id, other) in later {
        if overlaps(prefix, other) {
            errors.push(ConfigError::new(
                format!("{path}/prefix"),
                format!(
                    "{} overlaps subnet {} ({})",
                    prefix.into(),
                    id,
                    other.into()
                ),
            ));
        }
    }
}

/// A subnet pinned to an interface needs that interface among those listened on;
/// `interfaces_path` is where they are configured.
pub(super) fn check_interface_listed(
    interface: Option<&String>,
    interfaces: &[String],
    interfaces_path: &str,
    path: &str,
    errors: &mut Vec<ConfigError>,
) {
    if let Some(iface) = interface {
        if !interfaces.contains(iface) {
            errors.push(ConfigError::new(
                format!("{path}/interface"),
                format!("interface {iface} is not in {interfaces_path}"),
            ));
        }
    }
}

/// A relay address selects one subnet only; `owner` remembers which subnet took each.
pub(super) fn check_relays_unique<A: Copy + Eq + Hash + std::fmt::Display>(
    relays: &[A],
    subnet_id: u32,
    owner: &mut HashMap<A, u32>,
    path: &str,
    errors: &mut Vec<ConfigError>,
) {
    for relay in relays {
        if let Some(other) = owner.insert(*relay, subnet_id) {
            errors.push(ConfigError::new(
                format!("{path}/relay-address"),
                format!("relay address {relay} is also configured for subnet {other}"),
            ));
        }
    }
}

/// Pools must run forwards, lie inside `prefix` and not overlap one another. `edge_problem`
/// says what else is wrong with a pool that lies inside (family-specific rules).
pub(super) fn check_pools<A: FamilyAddress>(
    pools: &[AddressRange<A>],
    prefix: impl Into<IpNet>,
    path: &str,
    edge_problem: impl Fn(&AddressRange<A>) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) {
    let prefix = prefix.into();
    let mut pools: Vec<_> = pools.iter().collect();
    for p in &pools {
        let ppath = format!("{path}/pool[start='{}']", p.start);
        if p.start > p.end {
            errors.push(ConfigError::new(
                format!("{ppath}/end"),
                format!("end {} is before start {}", p.end, p.start),
            ));
            continue;
        }
        if !prefix.contains(&p.start.into()) || !prefix.contains(&p.end.into()) {
            errors.push(ConfigError::new(
                ppath,
                format!("pool {}-{} is not inside subnet {}", p.start, p.end, prefix),
            ));
        } else if let Some(problem) = edge_problem(p) {
            errors.push(ConfigError::new(ppath, problem));
        }
    }
    pools.retain(|p| p.start <= p.end);
    pools.sort_by_key(|p| p.start);
    for pair in pools.windows(2) {
        if pair[1].start <= pair[0].end {
            errors.push(ConfigError::new(
                format!("{path}/pool[start='{}']", pair[1].start),
                format!(
                    "pool {}-{} overlaps pool {}-{}",
                    pair[1].start, pair[1].end, pair[0].start, pair[0].end
                ),
            ));
        }
    }
}
