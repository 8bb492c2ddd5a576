//! Kea `subnet4` / `subnet6` entries and `shared-networks` (flattened into plain subnets
//! that carry the shared network's settings) to netdhcp `subnet` entries.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use serde_json::Value;

use super::common::{interface_name, pool_range, Lifetimes};
use super::options::{convert_option_data, OptionDefs, Options};
use super::report::{Fields, Report};
use super::reservation::{reservation4, reservation6};
use super::xml_writer::Element;
use super::Family;

/// What a shared network hands down to its subnets (empty at the top level).
#[derive(Debug, Clone, Default)]
pub struct Inherited {
    /// Lifetimes and timers.
    pub lifetimes: Lifetimes,
    /// Options.
    pub options: Options,
    /// Interface of directly attached clients.
    pub interface: Option<String>,
    /// Relay addresses.
    pub relay: Vec<IpAddr>,
    /// DHCPv6 relay interface-id.
    pub interface_id: Option<String>,
    /// DHCPv6 rapid commit.
    pub rapid_commit: Option<bool>,
}

/// A converted subnet, its id still to be settled (Kea numbers subnets without one).
#[derive(Debug, Clone)]
pub struct SubnetOut {
    /// The Kea id, if the subnet had one.
    pub id: Option<u32>,
    /// Where it came from.
    pub path: String,
    /// Its leaves after the id, in the model's order.
    pub body: Vec<Element>,
}

impl SubnetOut {
    /// The `subnet` element with id `id`.
    pub fn into_element(self, id: u32) -> Element {
        let mut e = Element::node("subnet");
        e.push(Element::leaf("id", id));
        for child in self.body {
            e.push(child);
        }
        e
    }
}

/// The settings of a shared network or subnet that subnets inherit.
fn read_inheritable(
    f: &mut Fields,
    family: Family,
    defs: &OptionDefs,
    report: &mut Report,
) -> Inherited {
    let lifetimes = Lifetimes::read(f, family, report);
    let options = convert_option_data(f.array("option-data", report), defs, report);
    let interface = f
        .string("interface", report)
        .and_then(|i| match interface_name(i) {
            Ok(n) => Some(n.to_string()),
            Err(e) => {
                report.add(f.path_of("interface"), format!("{e}, dropped"));
                None
            }
        });
    let relay = match f.get("relay") {
        Some(v) => relay_addresses(v, &f.path_of("relay"), family, report),
        None => Vec::new(),
    };
    let (interface_id, rapid_commit) = match family {
        Family::V6 => (
            f.string("interface-id", report).map(str::to_string),
            f.boolean("rapid-commit", report),
        ),
        Family::V4 => (None, None),
    };
    Inherited {
        lifetimes,
        options,
        interface,
        relay,
        interface_id,
        rapid_commit,
    }
}

/// Kea's `relay` object: `ip-addresses` (Kea 2.2) or `ip-address` (older).
fn relay_addresses(value: &Value, path: &str, family: Family, report: &mut Report) -> Vec<IpAddr> {
    let Some(mut f) = Fields::of(value, path, report) else {
        return Vec::new();
    };
    let mut items = f.array("ip-addresses", report);
    if let Some(one) = f.get("ip-address") {
        items.push((f.path_of("ip-address"), one));
    }
    let mut out = Vec::new();
    for (ipath, v) in items {
        match v.as_str().and_then(|s| s.parse::<IpAddr>().ok()) {
            Some(a) if family.matches(a) => out.push(a),
            _ => report.add(ipath, format!("not an {} address, dropped", family.name())),
        }
    }
    f.finish(report);
    out
}

/// One subnet; None (reported) when it has no usable prefix.
pub fn convert_subnet(
    value: &Value,
    path: &str,
    family: Family,
    defs: &OptionDefs,
    above: &Inherited,
    report: &mut Report,
) -> Option<SubnetOut> {
    let mut f = Fields::of(value, path, report)?;
    let prefix = f
        .string("subnet", report)
        .and_then(|s| s.parse::<IpNet>().ok());
    let Some(prefix) = prefix.filter(|p| family.matches(p.addr())) else {
        report.add(
            path,
            format!("no valid {} subnet prefix; subnet dropped", family.name()),
        );
        return None;
    };
    let id = match f.u32("id", report) {
        Some(0) => {
            report.add(
                f.path_of("id"),
                "0 is not a subnet id netdhcp accepts; another is assigned",
            );
            None
        }
        other => other,
    };
    let description = f.string("comment", report);
    let own = read_inheritable(&mut f, family, defs, report);
    let lifetimes = above.lifetimes.overlaid(&own.lifetimes);
    let options = above.options.overlaid(&own.options);
    let interface = own.interface.or_else(|| above.interface.clone());
    let mut relay = above.relay.clone();
    relay.extend(own.relay.iter().filter(|a| !above.relay.contains(a)));
    let interface_id = own.interface_id.or_else(|| above.interface_id.clone());
    let rapid_commit = own.rapid_commit.or(above.rapid_commit);

    let mut body = vec![Element::leaf("prefix", prefix)];
    if let Some(d) = description {
        body.push(Element::leaf("description", d));
    }
    if let Some(i) = interface {
        body.push(Element::leaf("interface", i));
    }
    for r in &relay {
        body.push(Element::leaf("relay-address", r));
    }
    if let Some(id) = interface_id {
        body.push(Element::leaf("interface-id", id));
    }
    if let Some(rc) = rapid_commit {
        body.push(Element::leaf("rapid-commit", rc));
    }
    let mut scratch = Element::node("subnet");
    lifetimes.write(family, &mut scratch);
    options.write(family, &mut scratch);
    for (ppath, pool) in f.array("pools", report) {
        if let Some(p) = convert_pool(pool, &ppath, family, prefix, report) {
            scratch.push(p);
        }
    }
    if family == Family::V6 {
        for (ppath, pool) in f.array("pd-pools", report) {
            if let Some(p) = convert_pd_pool(pool, &ppath, report) {
                scratch.push(p);
            }
        }
    }
    for (rpath, r) in f.array("reservations", report) {
        let converted = match family {
            Family::V4 => reservation4(r, &rpath, defs, report),
            Family::V6 => reservation6(r, &rpath, defs, report),
        };
        if let Some(e) = converted {
            scratch.push(e);
        }
    }
    body.extend(scratch.into_children());
    f.finish(report);
    Some(SubnetOut {
        id,
        path: path.to_string(),
        body,
    })
}

fn pool_options_dropped(f: &mut Fields, report: &mut Report) {
    if f.get("option-data")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        report.add(
            f.path_of("option-data"),
            "options per pool: not supported (set them on the subnet or a reservation), dropped",
        );
    }
}

fn convert_pool(
    value: &Value,
    path: &str,
    family: Family,
    subnet: IpNet,
    report: &mut Report,
) -> Option<Element> {
    let mut f = Fields::of(value, path, report)?;
    f.ignore("comment");
    pool_options_dropped(&mut f, report);
    let Some(text) = f.string("pool", report) else {
        report.add(path, "no pool range; pool dropped");
        return None;
    };
    let (start, end) = match pool_range(text, family) {
        Ok(r) => r,
        Err(e) => {
            report.add(f.path_of("pool"), format!("{e}; pool dropped"));
            return None;
        }
    };
    let (start, end) = match (start, end, subnet) {
        (IpAddr::V4(a), IpAddr::V4(b), IpNet::V4(net)) => {
            let (s4, e4) = without_network_and_broadcast(a, b, net);
            if (s4, e4) != (a, b) {
                report.add(
                    f.path_of("pool"),
                    format!(
                        "netdhcp never gives out the subnet's network or broadcast address: pool {s4} - {e4} converted"
                    ),
                );
            }
            (IpAddr::V4(s4), IpAddr::V4(e4))
        }
        other => (other.0, other.1),
    };
    f.finish(report);
    let mut e = Element::node("pool");
    e.push(Element::leaf("start", start));
    e.push(Element::leaf("end", end));
    Some(e)
}

/// A DHCPv4 range less the subnet's network and broadcast addresses at its ends.
fn without_network_and_broadcast(
    start: Ipv4Addr,
    end: Ipv4Addr,
    net: Ipv4Net,
) -> (Ipv4Addr, Ipv4Addr) {
    let mut s = u32::from(start);
    let mut e = u32::from(end);
    if net.prefix_len() <= 30 {
        if start == net.network() && s < e {
            s += 1;
        }
        if end == net.broadcast() && e > s {
            e -= 1;
        }
    }
    (Ipv4Addr::from(s), Ipv4Addr::from(e))
}

fn convert_pd_pool(value: &Value, path: &str, report: &mut Report) -> Option<Element> {
    let mut f = Fields::of(value, path, report)?;
    f.ignore("comment");
    pool_options_dropped(&mut f, report);
    let prefix = f.string("prefix", report);
    let len = f.u32("prefix-len", report);
    let delegated = f.u32("delegated-len", report);
    let (Some(prefix), Some(len), Some(delegated)) = (prefix, len, delegated) else {
        report.add(
            path,
            "pd-pool needs prefix, prefix-len and delegated-len; dropped",
        );
        return None;
    };
    let Ok(net) = format!("{prefix}/{len}").parse::<ipnet::Ipv6Net>() else {
        report.add(
            path,
            format!("{prefix}/{len} is not an IPv6 prefix; dropped"),
        );
        return None;
    };
    f.finish(report);
    let mut e = Element::node("pd-pool");
    e.push(Element::leaf("prefix", net));
    e.push(Element::leaf("delegated-length", delegated));
    Some(e)
}

/// A shared network: its subnets, each with the shared network's settings made its own.
pub fn convert_shared_network(
    value: &Value,
    path: &str,
    family: Family,
    defs: &OptionDefs,
    report: &mut Report,
) -> Vec<SubnetOut> {
    let Some(mut f) = Fields::of(value, path, report) else {
        return Vec::new();
    };
    f.ignore("name");
    f.ignore("comment");
    report.add(
        path,
        "shared network flattened: its subnets are converted with its settings, but a client \
         is no longer given an address from a sibling subnet when its own has none",
    );
    let mut shared = read_inheritable(&mut f, family, defs, report);
    let subnets = f.array(family.subnet_key(), report);
    let mut out = Vec::new();
    for (i, (spath, s)) in subnets.iter().enumerate() {
        if i == 1 && !shared.relay.is_empty() {
            report.add(
                f.path_of("relay"),
                "relay addresses select the shared network's first subnet only (netdhcp selects one subnet per relay address)",
            );
            shared.relay.clear();
        }
        if let Some(sub) = convert_subnet(s, spath, family, defs, &shared, report) {
            out.push(sub);
        }
    }
    f.finish(report);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lines(report: Report) -> Vec<String> {
        report.into_items().iter().map(|u| u.to_string()).collect()
    }

    fn texts(e: &Element, name: &str) -> Vec<String> {
        e.all(name)
            .filter_map(|c| c.text().map(str::to_string))
            .collect()
    }

    #[test]
    fn v4_subnet_with_pools_relay_options_reservations() {
        let defs = OptionDefs::standard(Family::V4);
        let mut report = Report::default();
        let s = convert_subnet(
            &json!({"id": 7, "subnet": "100.65.0.0/24", "comment": "building B", "interface": "eth0",
                    "relay": {"ip-addresses": ["100.127.255.1"]}, "valid-lifetime": 1800,
                    "pools": [{"pool": "100.65.0.100 - 100.65.0.149"}, {"pool": "100.65.0.192/26",
                               "option-data": [{"name": "routers", "data": "100.65.0.2"}]}],
                    "option-data": [{"name": "routers", "data": "100.65.0.1"}],
                    "reservations": [{"hw-address": "02:00:00:00:00:10", "ip-address": "100.65.0.10"}],
                    "match-client-id": false}),
            "Dhcp4/subnet4[0]", Family::V4, &defs, &Inherited::default(), &mut report).unwrap();
        assert_eq!(s.id, Some(7));
        let e = s.into_element(7);
        assert_eq!(texts(&e, "prefix"), vec!["100.65.0.0/24"]);
        assert_eq!(texts(&e, "description"), vec!["building B"]);
        assert_eq!(texts(&e, "relay-address"), vec!["100.127.255.1"]);
        assert_eq!(texts(&e, "valid-lifetime"), vec!["1800"]);
        assert_eq!(texts(&e, "router"), vec!["100.65.0.1"]);
        let pools: Vec<_> = e
            .all("pool")
            .map(|p| (texts(p, "start"), texts(p, "end")))
            .collect();
        assert_eq!(
            pools,
            vec![
                (
                    vec!["100.65.0.100".to_string()],
                    vec!["100.65.0.149".to_string()]
                ),
                (
                    vec!["100.65.0.192".to_string()],
                    vec!["100.65.0.254".to_string()]
                ),
            ]
        );
        assert_eq!(e.all("reservation").count(), 1);
        assert_eq!(lines(report), vec![
            "Dhcp4/subnet4[0]/pools[1]/option-data: options per pool: not supported (set them on the subnet or a reservation), dropped",
            "Dhcp4/subnet4[0]/pools[1]/pool: netdhcp never gives out the subnet's network or broadcast address: pool 100.65.0.192 - 100.65.0.254 converted",
            "Dhcp4/subnet4[0]/match-client-id: not supported, dropped",
        ]);
    }

    #[test]
    fn v6_subnet_with_pd_pool_interface_id_rapid_commit() {
        let defs = OptionDefs::standard(Family::V6);
        let mut report = Report::default();
        let s = convert_subnet(
            &json!({"id": 2, "subnet": "2001:db8:2::/64", "interface-id": "switch7/port3", "rapid-commit": true,
                    "preferred-lifetime": 3000,
                    "pools": [{"pool": "2001:db8:2::100 - 2001:db8:2::1ff"}],
                    "pd-pools": [{"prefix": "2001:db8:100::", "prefix-len": 40, "delegated-len": 56,
                                  "excluded-prefix": "2001:db8:100::", "excluded-prefix-len": 64}]}),
            "Dhcp6/subnet6[0]", Family::V6, &defs, &Inherited::default(), &mut report).unwrap();
        let e = s.into_element(2);
        assert_eq!(texts(&e, "interface-id"), vec!["switch7/port3"]);
        assert_eq!(texts(&e, "rapid-commit"), vec!["true"]);
        assert_eq!(texts(&e, "preferred-lifetime"), vec!["3000"]);
        let pd = e.find("pd-pool").unwrap();
        assert_eq!(texts(pd, "prefix"), vec!["2001:db8:100::/40"]);
        assert_eq!(texts(pd, "delegated-length"), vec!["56"]);
        assert_eq!(
            lines(report),
            vec![
                "Dhcp6/subnet6[0]/pd-pools[0]/excluded-prefix: not supported, dropped",
                "Dhcp6/subnet6[0]/pd-pools[0]/excluded-prefix-len: not supported, dropped",
            ]
        );
    }

    #[test]
    fn shared_network_is_flattened_and_reported() {
        let defs = OptionDefs::standard(Family::V4);
        let mut report = Report::default();
        let subnets = convert_shared_network(
            &json!({"name": "floor1", "interface": "eth1", "valid-lifetime": 600,
                    "relay": {"ip-addresses": ["100.127.0.1"]},
                    "option-data": [{"name": "domain-name-servers", "data": "100.64.0.53"}],
                    "subnet4": [
                        {"id": 10, "subnet": "100.70.0.0/24", "pools": [{"pool": "100.70.0.10 - 100.70.0.20"}]},
                        {"id": 11, "subnet": "100.71.0.0/24", "valid-lifetime": 900,
                         "option-data": [{"name": "domain-name-servers", "data": "100.64.0.54"}]}]}),
            "Dhcp4/shared-networks[0]",
            Family::V4,
            &defs,
            &mut report,
        );
        assert_eq!(subnets.len(), 2);
        let a = subnets[0].clone().into_element(10);
        let b = subnets[1].clone().into_element(11);
        assert_eq!(texts(&a, "interface"), vec!["eth1"]);
        assert_eq!(texts(&b, "interface"), vec!["eth1"]);
        assert_eq!(texts(&a, "valid-lifetime"), vec!["600"]);
        assert_eq!(texts(&b, "valid-lifetime"), vec!["900"]);
        assert_eq!(texts(&a, "dns-server"), vec!["100.64.0.53"]);
        assert_eq!(texts(&b, "dns-server"), vec!["100.64.0.54"]);
        assert_eq!(texts(&a, "relay-address"), vec!["100.127.0.1"]);
        assert!(texts(&b, "relay-address").is_empty());
        let l = lines(report);
        assert!(
            l[0].starts_with("Dhcp4/shared-networks[0]: shared network flattened"),
            "{l:?}"
        );
        assert_eq!(l[1], "Dhcp4/shared-networks[0]/relay: relay addresses select the shared network's first subnet only (netdhcp selects one subnet per relay address)");
        assert_eq!(l.len(), 2);
    }
}
