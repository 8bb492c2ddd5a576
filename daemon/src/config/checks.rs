//! Semantic checks the YANG model cannot say: address arithmetic across list entries.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::v4::{Dhcp4Config, Subnet4};
use super::ConfigError;

fn subnet_path(s: &Subnet4) -> String {
    format!("/netdhcp-server:server/dhcpv4/subnet[id='{}']", s.id)
}

/// Checks the DHCPv4 configuration; every problem found is pushed to `errors`.
pub(super) fn check_v4(config: &Dhcp4Config, errors: &mut Vec<ConfigError>) {
    let mut relay_owner: HashMap<Ipv4Addr, u32> = HashMap::new();
    for (i, s) in config.subnets.iter().enumerate() {
        let path = subnet_path(s);
        if s.prefix.prefix_len() > 30 {
            errors.push(ConfigError::new(
                format!("{path}/prefix"),
                "a served subnet needs a prefix length of 30 or less",
            ));
        }
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
            if s.prefix.contains(&other.prefix.network())
                || other.prefix.contains(&s.prefix.network())
            {
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
                    format!("interface {iface} is not in /netdhcp-server:server/dhcpv4/interface"),
                ));
            }
        }
        let l = s.lifetimes;
        if l.renew > l.rebind || l.rebind >= l.valid {
            errors.push(ConfigError::new(
                path.clone(),
                format!(
                    "timers must satisfy renew-timer <= rebind-timer < valid-lifetime (effective {} / {} / {})",
                    l.renew, l.rebind, l.valid
                ),
            ));
        }
        check_pools(s, &path, errors);
        for r in &s.reservations {
            let rpath = format!("{path}/reservation[ip-address='{}']", r.address);
            if !s.prefix.contains(&r.address) {
                errors.push(ConfigError::new(
                    rpath.clone(),
                    format!("{} is outside subnet {}", r.address, s.prefix),
                ));
            } else if r.address == s.prefix.network() || r.address == s.prefix.broadcast() {
                errors.push(ConfigError::new(
                    rpath,
                    format!("{} is the subnet's network or broadcast address", r.address),
                ));
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
    }
}

fn check_pools(s: &Subnet4, path: &str, errors: &mut Vec<ConfigError>) {
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
                ppath.clone(),
                format!(
                    "pool {}-{} is not inside subnet {}",
                    p.start, p.end, s.prefix
                ),
            ));
        } else if p.start == s.prefix.network() || p.end == s.prefix.broadcast() {
            errors.push(ConfigError::new(
                ppath,
                format!(
                    "pool {}-{} includes the subnet's network or broadcast address",
                    p.start, p.end
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
