//! Semantic checks of the DHCPv6 configuration the YANG model cannot say.

use std::collections::HashMap;
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

use super::checks_shared::{
    check_interface_listed, check_no_host_bits, check_pools, check_relays_unique,
    check_subnet_overlaps, overlaps,
};
use super::v6::{Dhcp6Config, Subnet6};
use super::ConfigError;

fn subnet_path(s: &Subnet6) -> String {
    format!("/netdhcp-server:server/dhcpv6/subnet[id='{}']", s.id)
}

/// Checks the DHCPv6 configuration; every problem found is pushed to `errors`.
pub(super) fn check_v6(config: &Dhcp6Config, errors: &mut Vec<ConfigError>) {
    let mut relay_owner: HashMap<Ipv6Addr, u32> = HashMap::new();
    let mut interface_id_owner: HashMap<&[u8], u32> = HashMap::new();
    let mut all_pd: Vec<(u32, Ipv6Net)> = Vec::new();
    for (i, s) in config.subnets.iter().enumerate() {
        let path = subnet_path(s);
        check_no_host_bits(s.prefix, &path, errors);
        let later = config.subnets[i + 1..].iter().map(|o| (o.id, o.prefix));
        check_subnet_overlaps(s.prefix, later, &path, errors);
        check_interface_listed(
            s.interface.as_ref(),
            &config.interfaces,
            "/netdhcp-server:server/dhcpv6/interface",
            &path,
            errors,
        );
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
        check_pools(&s.pools, s.prefix, &path, |_| None, errors);
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
            if overlaps(p.prefix, s.prefix) {
                errors.push(ConfigError::new(
                    ppath.clone(),
                    format!(
                        "pd-pool {} overlaps the subnet's own prefix {}",
                        p.prefix, s.prefix
                    ),
                ));
            }
            for (owner, other) in &all_pd {
                if overlaps(*other, p.prefix) {
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
                if overlaps(p, s.prefix) {
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
        check_relays_unique(&s.relay_addresses, s.id, &mut relay_owner, &path, errors);
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

#[cfg(test)]
mod tests {
    use crate::northbound::validate_document;

    fn doc(v6: &str) -> String {
        format!(r#"<server xmlns="urn:netdhcp:yang:netdhcp-server"><dhcpv6>{v6}</dhcpv6></server>"#)
    }

    fn problems(v6: &str) -> Vec<String> {
        let ctx = yang::context().expect("context");
        match validate_document(ctx, &doc(v6)) {
            Ok(_) => panic!("accepted: {v6}"),
            Err(p) => p.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn a_v6_configuration_is_read_with_defaults_and_inheritance() {
        let ctx = yang::context().expect("context");
        let v = validate_document(
            ctx,
            &doc(r#"<interface>eth1</interface><valid-lifetime>8000</valid-lifetime>
              <dns-server>2001:db8::53</dns-server>
              <subnet><id>7</id><prefix>2001:db8:1::/64</prefix><rapid-commit>true</rapid-commit>
                <interface-id>port-1</interface-id><preferred-lifetime>100</preferred-lifetime>
                <pool><start>2001:db8:1::10</start><end>2001:db8:1::20</end></pool>
                <pd-pool><prefix>2001:db8:100::/40</prefix><delegated-length>48</delegated-length></pd-pool>
                <reservation><duid>00:01:02:03</duid><prefix>2001:db8:200::/56</prefix></reservation>
              </subnet>"#),
        )
        .expect("valid");
        let d = &v.runtime.dhcp6;
        assert_eq!(d.interfaces, vec!["eth1".to_string()]);
        let s = d.subnet(7).expect("subnet 7");
        assert!(s.rapid_commit);
        assert_eq!(s.lifetimes.valid, 8000, "inherited");
        assert_eq!(s.lifetimes.preferred, 100);
        assert_eq!(
            (s.lifetimes.renew, s.lifetimes.rebind),
            (50, 80),
            "0.5 and 0.8 of preferred"
        );
        assert!(s.options.get(crate::config::code6::DNS_SERVERS).is_some());
        assert_eq!(s.pd_pools[0].delegated_len, 48);
        let r = s.reservation_for(&[0, 1, 2, 3]).expect("reservation");
        assert_eq!(r.address, None);
        assert!(s.is_reserved_prefix("2001:db8:200::/56".parse().expect("p")));
        assert_eq!(
            v.runtime.lease_db.memfile_v6,
            std::path::PathBuf::from("leases6.csv")
        );
    }

    #[test]
    fn v6_semantic_errors_are_all_reported() {
        let p = problems(
            r#"<subnet><id>1</id><prefix>2001:db8:1::/64</prefix>
                 <pool><start>2001:db8:1::10</start><end>2001:db8:1::20</end></pool>
                 <pool><start>2001:db8:1::15</start><end>2001:db8:1::30</end></pool>
                 <pool><start>2001:db8:9::1</start><end>2001:db8:9::9</end></pool>
                 <pd-pool><prefix>2001:db8:100::/40</prefix><delegated-length>48</delegated-length></pd-pool>
                 <reservation><duid>01:02</duid><ip-address>2001:db8:7::1</ip-address></reservation>
                 <interface-id>p1</interface-id>
               </subnet>
               <subnet><id>2</id><prefix>2001:db8:1::/48</prefix><interface-id>p1</interface-id>
                 <pd-pool><prefix>2001:db8:100::/44</prefix><delegated-length>56</delegated-length></pd-pool>
               </subnet>"#,
        );
        let has = |needle: &str| p.iter().any(|t| t.contains(needle));
        assert!(has("overlaps pool 2001:db8:1::10-2001:db8:1::20"), "{p:?}");
        assert!(has("is not inside subnet 2001:db8:1::/64"), "{p:?}");
        assert!(has("2001:db8:7::1 is outside subnet"), "{p:?}");
        assert!(has("overlaps subnet 2"), "{p:?}");
        assert!(
            has("overlaps pd-pool 2001:db8:100::/40 of subnet 1"),
            "{p:?}"
        );
        assert!(
            has("interface-id \"p1\" is also configured for subnet 1"),
            "{p:?}"
        );
    }

    #[test]
    fn the_model_refuses_short_delegations_and_empty_reservations() {
        let p = problems(
            r#"<subnet><id>1</id><prefix>2001:db8:1::/64</prefix>
                 <pd-pool><prefix>2001:db8:100::/40</prefix><delegated-length>36</delegated-length></pd-pool>
               </subnet>"#,
        );
        assert!(
            p.iter()
                .any(|t| t.contains("delegated-length must not be shorter")),
            "{p:?}"
        );
        let p = problems(
            r#"<subnet><id>1</id><prefix>2001:db8:1::/64</prefix>
                 <reservation><duid>01:02</duid></reservation></subnet>"#,
        );
        assert!(
            p.iter()
                .any(|t| t.contains("names an ip-address, a prefix or both")),
            "{p:?}"
        );
    }
}
