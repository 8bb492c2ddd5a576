//! Semantic checks the YANG model cannot say: address arithmetic across list entries.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::checks_shared::{
    check_interface_listed, check_no_host_bits, check_pools, check_relays_unique,
    check_subnet_overlaps,
};
use super::v4::{Dhcp4Config, Pool4, Subnet4};
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
        check_no_host_bits(s.prefix, &path, errors);
        let later = config.subnets[i + 1..].iter().map(|o| (o.id, o.prefix));
        check_subnet_overlaps(s.prefix, later, &path, errors);
        check_interface_listed(
            s.interface.as_ref(),
            &config.interfaces,
            "/netdhcp-server:server/dhcpv4/interface",
            &path,
            errors,
        );
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
        // The network and broadcast addresses are never given to a client.
        let network_or_broadcast = |p: &Pool4| {
            (p.start == s.prefix.network() || p.end == s.prefix.broadcast()).then(|| {
                format!(
                    "pool {}-{} includes the subnet's network or broadcast address",
                    p.start, p.end
                )
            })
        };
        check_pools(&s.pools, s.prefix, &path, network_or_broadcast, errors);
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
        check_relays_unique(&s.relay_addresses, s.id, &mut relay_owner, &path, errors);
    }
}
