//! Semantic checks of the DHCPv6 configuration the YANG model cannot say.

use std::collections::HashMap;
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

use super::v6::{Dhcp6Config, Subnet6};
use super::ConfigError;

fn subnet_path(s: &Subnet6) -> String {
    format!("/netdhcp-server:server/dhcpv6/subnet[id='{}']", s.id)
}

fn overlaps(a: &Ipv6Net, b: &Ipv6Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Checks the DHCPv6 configuration; every problem found is pushed to `errors`.
pub(super) fn check_v6(config: &Dhcp6Config, errors: &mut Vec<ConfigError>) {
    let mut relay_owner: HashMap<Ipv6Addr, u32> = HashMap::new();
    let mut interface_id_owner: HashMap<&[u8], u32> = HashMap::new();
    let mut all_pd: Vec<(u32, Ipv6Net)> = Vec::new();
    for (i, s) in config.subnets.iter().enumerate() {
        let path = subnet_path(s);
        if s.prefix.network() != s.prefix.addr() {
            errors.push(ConfigError::new(
                format!("{path}/prefix"),
                format!(
                    "{} has host bits set; the subnet is {}",
                    s.prefix,
                    s.prefix.trunc()
                ),
            ));
        }
        for other in &config.subnets[i + 1..] {
            if overlaps(&s.prefix, &other.prefix) {
                errors.push(ConfigError::new(
                    format!("{path}/prefix"),
                    format!(
                        "{} overlaps subnet {} ({})",
                        s.prefix, other.id, other.prefix
                    ),
                ));
            }
        }
        if let Some(iface) = &s.interface {
            if !config.interfaces.contains(iface) {
                errors.push(ConfigError::new(
                    format!("{path}/interface"),
                    format!("interface {iface} is not in /netdhcp-server:server/dhcpv6/interface"),
                ));
            }
        }
        let l = s.lifetimes;
        if l.preferred > l.valid || l.renew > l.rebind || l.rebind > l.preferred {
            errors.push(ConfigError::new(
                path.clone(),
                format!(
                    "lifetimes must satisfy renew-timer <= rebind-timer <= preferred-lifetime <= valid-lifetime (effective {} / {} / {} / {})",
                    l.renew, l.rebind, l.preferred, l.valid
                ),
            ));
        }
        check_pools(s, &path, errors);
        for p in &s.pd_pools {
            let ppath = format!("{path}/pd-pool[prefix='{}']", p.prefix);
            if p.prefix.network() != p.prefix.addr() {
                errors.push(ConfigError::new(
                    format!("{ppath}/prefix"),
                    format!(
                        "{} has host bits set; the prefix is {}",
                        p.prefix,
                        p.prefix.trunc()
                    ),
                ));
            }
            if p.delegated_len < p.prefix.prefix_len() {
                errors.push(ConfigError::new(
                    format!("{ppath}/delegated-length"),
                    format!(
                        "delegated-length {} is shorter than the pool's prefix length {}",
                        p.delegated_len,
                        p.prefix.prefix_len()
                    ),
                ));
            }
            if overlaps(&p.prefix, &s.prefix) {
                errors.push(ConfigError::new(
                    ppath.clone(),
                    format!(
                        "pd-pool {} overlaps the subnet's own prefix {}",
                        p.prefix, s.prefix
                    ),
                ));
            }
            for (owner, other) in &all_pd {
                if overlaps(other, &p.prefix) {
                    errors.push(ConfigError::new(
                        ppath.clone(),
                        format!(
                            "pd-pool {} overlaps pd-pool {} of subnet {}",
                            p.prefix, other, owner
                        ),
                    ));
                }
            }
            all_pd.push((s.id, p.prefix));
        }
        for r in &s.reservations {
            let rpath = format!("{path}/reservation[duid='{}']", hex(&r.duid));
            if let Some(a) = r.address {
                if !s.prefix.contains(&a) {
                    errors.push(ConfigError::new(
                        format!("{rpath}/ip-address"),
                        format!("{a} is outside subnet {}", s.prefix),
                    ));
                }
            }
            if let Some(p) = r.prefix {
                if p.network() != p.addr() {
                    errors.push(ConfigError::new(
                        format!("{rpath}/prefix"),
                        format!("{p} has host bits set"),
                    ));
                }
                if overlaps(&p, &s.prefix) {
                    errors.push(ConfigError::new(
                        format!("{rpath}/prefix"),
                        format!(
                            "reserved prefix {p} overlaps the subnet's own prefix {}",
                            s.prefix
                        ),
                    ));
                }
            }
        }
        for relay in &s.relay_addresses {
            if let Some(owner) = relay_owner.insert(*relay, s.id) {
                errors.push(ConfigError::new(
                    format!("{path}/relay-address"),
                    format!("relay address {relay} is also configured for subnet {owner}"),
                ));
            }
        }
        for id in &s.interface_ids {
            if let Some(owner) = interface_id_owner.insert(id, s.id) {
                errors.push(ConfigError::new(
                    format!("{path}/interface-id"),
                    format!(
                        "interface-id {:?} is also configured for subnet {owner}",
                        String::from_utf8_lossy(id)
                    ),
                ));
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn check_pools(s: &Subnet6, path: &str, errors: &mut Vec<ConfigError>) {
    let mut pools: Vec<_> = s.pools.iter().collect();
    for p in &pools {
        let ppath = format!("{path}/pool[start='{}']", p.start);
        if p.start > p.end {
            errors.push(ConfigError::new(
                format!("{ppath}/end"),
                format!("end {} is before start {}", p.end, p.start),
            ));
            continue;
        }
        if !s.prefix.contains(&p.start) || !s.prefix.contains(&p.end) {
            errors.push(ConfigError::new(
                ppath,
                format!(
                    "pool {}-{} is not inside subnet {}",
                    p.start, p.end, s.prefix
                ),
            ));
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
