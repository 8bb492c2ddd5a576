//! Pieces both families share: lifetimes, interface names, pool ranges.

use std::net::IpAddr;

use ipnet::IpNet;

use super::report::{Fields, Report};
use super::xml_writer::Element;
use super::Family;

/// Lease lifetimes and timers of one level; absent ones are inherited in netdhcp too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetimes {
    /// `valid-lifetime`.
    pub valid: Option<u32>,
    /// `renew-timer`.
    pub renew: Option<u32>,
    /// `rebind-timer`.
    pub rebind: Option<u32>,
    /// `preferred-lifetime` (DHCPv6).
    pub preferred: Option<u32>,
}

impl Lifetimes {
    /// Reads the lifetime keys of `f` (a 0, which netdhcp does not allow, is reported).
    pub fn read(f: &mut Fields, family: Family, report: &mut Report) -> Lifetimes {
        let mut one = |key: &str| match f.u32(key, report) {
            Some(0) => {
                report.add(
                    f.path_of(key),
                    "0 is not a valid lifetime in netdhcp (1 or more), dropped",
                );
                None
            }
            v => v,
        };
        let valid = one("valid-lifetime");
        let renew = one("renew-timer");
        let rebind = one("rebind-timer");
        let preferred = match family {
            Family::V6 => one("preferred-lifetime"),
            Family::V4 => None,
        };
        Lifetimes {
            valid,
            renew,
            rebind,
            preferred,
        }
    }

    /// These, each overridden by `over` where it is set.
    pub fn overlaid(&self, over: &Lifetimes) -> Lifetimes {
        Lifetimes {
            valid: over.valid.or(self.valid),
            renew: over.renew.or(self.renew),
            rebind: over.rebind.or(self.rebind),
            preferred: over.preferred.or(self.preferred),
        }
    }

    /// Appends the lifetime leaves in the model's order.
    pub fn write(&self, family: Family, parent: &mut Element) {
        if family == Family::V6 {
            parent.push_opt("preferred-lifetime", self.preferred);
        }
        parent.push_opt("valid-lifetime", self.valid);
        parent.push_opt("renew-timer", self.renew);
        parent.push_opt("rebind-timer", self.rebind);
    }
}

/// An interface name as netdhcp takes it (1 to 15 characters), or why not.
pub fn interface_name(name: &str) -> Result<&str, String> {
    if name.is_empty() || name.len() > 15 || name.contains(['/', '*']) {
        Err(format!("{name:?} is not an interface name netdhcp accepts"))
    } else {
        Ok(name)
    }
}

/// `interfaces-config`: the interface names, everything else reported.
pub fn interfaces_config(f: &mut Fields, family: Family, report: &mut Report) -> Vec<String> {
    let mut out = Vec::new();
    let Some(value) = f.get("interfaces-config") else {
        return out;
    };
    let path = f.path_of("interfaces-config");
    let Some(mut ic) = Fields::of(value, &path, report) else {
        return out;
    };
    for (ipath, v) in ic.array("interfaces", report) {
        let Some(name) = v.as_str() else {
            report.add(ipath, "expected a string, dropped");
            continue;
        };
        if name == "*" {
            report.add(
                ipath,
                "\"*\" (every interface): not supported, name each interface; dropped",
            );
            continue;
        }
        // "eth0/100.64.0.1" (Kea: listen on that address only) keeps the interface.
        let (iface, address) = match name.split_once('/') {
            Some((i, a)) => (i, Some(a)),
            None => (name, None),
        };
        if let Some(a) = address {
            report.add(
                ipath.clone(),
                format!("listening on address {a} only: not supported, netdhcp listens on all of {iface}"),
            );
        }
        match interface_name(iface) {
            Ok(n) if !out.iter().any(|o| o == n) => out.push(n.to_string()),
            Ok(_) => {}
            Err(e) => report.add(ipath, format!("{e}, dropped")),
        }
    }
    if family == Family::V4 {
        if let Some(kind) = ic.string("dhcp-socket-type", report) {
            if kind != "raw" {
                report.add(
                    ic.path_of("dhcp-socket-type"),
                    format!("{kind:?}: not supported, netdhcp receives DHCPv4 on raw sockets"),
                );
            }
        }
    }
    // Kea re-detects interfaces at each reconfiguration; netdhcp opens them at each commit.
    ic.ignore("re-detect");
    ic.ignore("comment");
    ic.finish(report);
    out
}

/// A Kea pool, `"first - last"` or `"prefix/len"`, as its first and last address.
pub fn pool_range(text: &str, family: Family) -> Result<(IpAddr, IpAddr), String> {
    let (start, end) = if let Some((a, b)) = text.split_once('-') {
        let parse = |s: &str| {
            s.trim()
                .parse::<IpAddr>()
                .map_err(|_| format!("{:?} is not an address", s.trim()))
        };
        (parse(a)?, parse(b)?)
    } else {
        let net: IpNet = text
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is neither \"first - last\" nor a prefix"))?;
        (net.network(), net.broadcast())
    };
    if family.matches(start) && family.matches(end) {
        Ok((start, end))
    } else {
        Err(format!("{text:?} is not an {} range", family.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pools_as_ranges_and_prefixes() {
        let r = |t, f| pool_range(t, f).map(|(a, b)| format!("{a} {b}"));
        assert_eq!(
            r("100.64.0.100 - 100.64.0.199", Family::V4).unwrap(),
            "100.64.0.100 100.64.0.199"
        );
        assert_eq!(
            r("100.64.0.100-100.64.0.199", Family::V4).unwrap(),
            "100.64.0.100 100.64.0.199"
        );
        assert_eq!(
            r("100.64.1.0/25", Family::V4).unwrap(),
            "100.64.1.0 100.64.1.127"
        );
        assert_eq!(
            r("2001:db8:1::/120", Family::V6).unwrap(),
            "2001:db8:1:: 2001:db8:1::ff"
        );
        assert!(r("2001:db8:1::/120", Family::V4).is_err());
        assert!(r("100.64.0.1 - x", Family::V4).is_err());
    }

    #[test]
    fn interfaces_keep_names_and_report_the_rest() {
        let v = json!({"interfaces-config": {
            "interfaces": ["eth0", "eth1/100.64.0.1", "*"],
            "dhcp-socket-type": "udp", "re-detect": true, "service-sockets-max-retries": 5}});
        let mut report = Report::default();
        let mut f = Fields::of(&v, "Dhcp4", &mut report).unwrap();
        let names = interfaces_config(&mut f, Family::V4, &mut report);
        assert_eq!(names, vec!["eth0", "eth1"]);
        let lines: Vec<String> = report.into_items().iter().map(|u| u.to_string()).collect();
        assert_eq!(lines, vec![
            "Dhcp4/interfaces-config/interfaces[1]: listening on address 100.64.0.1 only: not supported, netdhcp listens on all of eth1",
            "Dhcp4/interfaces-config/interfaces[2]: \"*\" (every interface): not supported, name each interface; dropped",
            "Dhcp4/interfaces-config/dhcp-socket-type: \"udp\": not supported, netdhcp receives DHCPv4 on raw sockets",
            "Dhcp4/interfaces-config/service-sockets-max-retries: not supported, dropped",
        ]);
    }

    #[test]
    fn zero_lifetime_is_reported() {
        let v = json!({"valid-lifetime": 0, "renew-timer": 100, "preferred-lifetime": 50});
        let mut report = Report::default();
        let mut f = Fields::of(&v, "Dhcp6", &mut report).unwrap();
        let l = Lifetimes::read(&mut f, Family::V6, &mut report);
        assert_eq!(
            l,
            Lifetimes {
                valid: None,
                renew: Some(100),
                rebind: None,
                preferred: Some(50)
            }
        );
        assert_eq!(report.into_items().len(), 1);
    }
}
