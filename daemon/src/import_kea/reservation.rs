//! Kea host reservations (`reservations` of a subnet) to netdhcp `reservation` entries:
//! DHCPv4 by hw-address or client-id with one address, DHCPv6 by DUID with one address
//! and/or one prefix.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;
use serde_json::Value;

use super::options::{convert_option_data, decode_hex, hex, OptionDefs};
use super::report::{Fields, Report};
use super::xml_writer::Element;
use super::Family;

/// A hardware address as yang:mac-address (six colon-separated pairs).
fn mac_address(text: &str) -> Result<String, String> {
    let bytes = decode_hex(text)?;
    if bytes.len() == 6 {
        Ok(hex(&bytes))
    } else {
        Err(format!("{text:?} is not a 6-byte hardware address"))
    }
}

/// A Kea identifier (hex, or 'quoted text') as yang:hex-string.
fn identifier(text: &str) -> Result<String, String> {
    let t = text.trim();
    let bytes = match t.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        Some(quoted) => quoted.as_bytes().to_vec(),
        None => decode_hex(t)?,
    };
    if bytes.is_empty() {
        Err(format!("{text:?} is empty"))
    } else {
        Ok(hex(&bytes))
    }
}

/// One reservation of a DHCPv4 subnet; None (reported) when netdhcp cannot hold it.
pub fn reservation4(
    value: &Value,
    path: &str,
    defs: &OptionDefs,
    report: &mut Report,
) -> Option<Element> {
    let mut f = Fields::of(value, path, report)?;
    f.ignore("comment");
    let hw = f.string("hw-address", report);
    let cid = f.string("client-id", report);
    // Kea allows one identifier per reservation; any other is reported by `finish`.
    if hw.is_none() && cid.is_none() {
        for other in ["duid", "circuit-id", "flex-id"] {
            if f.get(other).is_some() {
                report.add(
                    f.path_of(other),
                    "netdhcp reserves DHCPv4 addresses by hw-address or client-id only; reservation dropped",
                );
                return None;
            }
        }
    }
    let Some(address) = f.string("ip-address", report) else {
        report.add(
            path,
            "no ip-address (netdhcp reservations hold an address); reservation dropped",
        );
        return None;
    };
    let Ok(address) = address.parse::<Ipv4Addr>() else {
        report.add(
            f.path_of("ip-address"),
            format!("{address:?} is not an IPv4 address; reservation dropped"),
        );
        return None;
    };
    let mut e = Element::node("reservation");
    e.push(Element::leaf("ip-address", address));
    match (hw, cid) {
        (Some(hw), _) => match mac_address(hw) {
            Ok(mac) => e.push(Element::leaf("hw-address", mac)),
            Err(err) => {
                report.add(
                    f.path_of("hw-address"),
                    format!("{err}; reservation dropped"),
                );
                return None;
            }
        },
        (None, Some(cid)) => match identifier(cid) {
            Ok(id) => e.push(Element::leaf("client-id", id)),
            Err(err) => {
                report.add(
                    f.path_of("client-id"),
                    format!("{err}; reservation dropped"),
                );
                return None;
            }
        },
        (None, None) => {
            report.add(path, "no hw-address or client-id; reservation dropped");
            return None;
        }
    }
    e.push_opt("hostname", f.string("hostname", report));
    let options = convert_option_data(f.array("option-data", report), defs, report);
    options.write(Family::V4, &mut e);
    f.finish(report);
    Some(e)
}

/// One reservation of a DHCPv6 subnet; None (reported) when netdhcp cannot hold it.
pub fn reservation6(
    value: &Value,
    path: &str,
    defs: &OptionDefs,
    report: &mut Report,
) -> Option<Element> {
    let mut f = Fields::of(value, path, report)?;
    f.ignore("comment");
    let Some(duid) = f.string("duid", report) else {
        let by = ["hw-address", "circuit-id", "flex-id", "client-id"]
            .into_iter()
            .find(|k| f.get(k).is_some())
            .unwrap_or("its identifier");
        report.add(
            f.path_of(by),
            "netdhcp reserves DHCPv6 addresses and prefixes by duid only; reservation dropped",
        );
        return None;
    };
    let duid = match identifier(duid) {
        Ok(d) => d,
        Err(err) => {
            report.add(f.path_of("duid"), format!("{err}; reservation dropped"));
            return None;
        }
    };
    let first_of = |f: &mut Fields, key: &str, report: &mut Report| -> Option<String> {
        let items = f.array(key, report);
        for (ipath, _) in items.iter().skip(1) {
            report.add(
                ipath.clone(),
                "netdhcp holds one reservation of each kind per client: not supported, dropped",
            );
        }
        let (ipath, first) = items.into_iter().next()?;
        let s = first.as_str();
        if s.is_none() {
            report.add(ipath, "expected a string, dropped");
        }
        s.map(str::to_string)
    };
    let address =
        first_of(&mut f, "ip-addresses", report).and_then(|a| match a.parse::<Ipv6Addr>() {
            Ok(a) => Some(a),
            Err(_) => {
                report.add(
                    f.path_of("ip-addresses"),
                    format!("{a:?} is not an IPv6 address, dropped"),
                );
                None
            }
        });
    let prefix = first_of(&mut f, "prefixes", report).and_then(|p| match p.parse::<Ipv6Net>() {
        Ok(p) => Some(p),
        Err(_) => {
            report.add(
                f.path_of("prefixes"),
                format!("{p:?} is not an IPv6 prefix, dropped"),
            );
            None
        }
    });
    if address.is_none() && prefix.is_none() {
        report.add(
            path,
            "no ip-addresses or prefixes (netdhcp reservations hold one); reservation dropped",
        );
        return None;
    }
    f.report_if_present(
        "hostname",
        "not supported (DHCPv6 reservations carry no host name), dropped",
        report,
    );
    let mut e = Element::node("reservation");
    e.push(Element::leaf("duid", duid));
    e.push_opt("ip-address", address.map(IpAddr::V6));
    e.push_opt("prefix", prefix);
    let options = convert_option_data(f.array("option-data", report), defs, report);
    options.write(Family::V6, &mut e);
    f.finish(report);
    Some(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lines(report: Report) -> Vec<String> {
        report.into_items().iter().map(|u| u.to_string()).collect()
    }

    #[test]
    fn v4_by_mac_and_by_client_id() {
        let defs = OptionDefs::standard(Family::V4);
        let mut report = Report::default();
        let by_mac = reservation4(
            &json!({"hw-address": "02-00-00-00-00-10", "ip-address": "100.64.0.10", "hostname": "printer",
                    "option-data": [{"name": "domain-name-servers", "data": "100.64.0.99"}]}),
            "r0", &defs, &mut report).unwrap();
        assert_eq!(
            by_mac.find("hw-address").unwrap().text(),
            Some("02:00:00:00:00:10")
        );
        assert_eq!(by_mac.find("hostname").unwrap().text(), Some("printer"));
        assert_eq!(
            by_mac.find("dns-server").unwrap().text(),
            Some("100.64.0.99")
        );
        let by_cid = reservation4(
            &json!({"client-id": "01020000000011", "ip-address": "100.64.0.11"}),
            "r1",
            &defs,
            &mut report,
        )
        .unwrap();
        assert_eq!(
            by_cid.find("client-id").unwrap().text(),
            Some("01:02:00:00:00:00:11")
        );
        let by_text = reservation4(
            &json!({"client-id": "'abc'", "ip-address": "100.64.0.12"}),
            "r2",
            &defs,
            &mut report,
        )
        .unwrap();
        assert_eq!(by_text.find("client-id").unwrap().text(), Some("61:62:63"));
        assert!(lines(report).is_empty());
    }

    #[test]
    fn v4_unsupported_reservations_are_reported() {
        let defs = OptionDefs::standard(Family::V4);
        let mut report = Report::default();
        assert!(reservation4(
            &json!({"circuit-id": "'x'", "ip-address": "100.64.0.5"}),
            "r0",
            &defs,
            &mut report
        )
        .is_none());
        assert!(reservation4(
            &json!({"hw-address": "02:00:00:00:00:01", "hostname": "h"}),
            "r1",
            &defs,
            &mut report
        )
        .is_none());
        let kept = reservation4(
            &json!({"hw-address": "02:00:00:00:00:02", "ip-address": "100.64.0.6",
                                        "next-server": "100.64.0.1"}),
            "r2",
            &defs,
            &mut report,
        );
        assert!(kept.is_some());
        assert_eq!(lines(report), vec![
            "r0/circuit-id: netdhcp reserves DHCPv4 addresses by hw-address or client-id only; reservation dropped",
            "r1: no ip-address (netdhcp reservations hold an address); reservation dropped",
            "r2/next-server: not supported, dropped",
        ]);
    }

    #[test]
    fn v6_by_duid() {
        let defs = OptionDefs::standard(Family::V6);
        let mut report = Report::default();
        let r = reservation6(
            &json!({"duid": "00:03:00:01:02:00:00:00:00:50", "ip-addresses": ["2001:db8:1::50", "2001:db8:1::51"],
                    "prefixes": ["2001:db8:200::/56"], "hostname": "cpe"}),
            "r0", &defs, &mut report).unwrap();
        assert_eq!(
            r.find("duid").unwrap().text(),
            Some("00:03:00:01:02:00:00:00:00:50")
        );
        assert_eq!(r.find("ip-address").unwrap().text(), Some("2001:db8:1::50"));
        assert_eq!(r.find("prefix").unwrap().text(), Some("2001:db8:200::/56"));
        assert!(reservation6(
            &json!({"hw-address": "02:00:00:00:00:01", "ip-addresses": ["2001:db8:1::9"]}),
            "r1",
            &defs,
            &mut report
        )
        .is_none());
        assert_eq!(lines(report), vec![
            "r0/ip-addresses[1]: netdhcp holds one reservation of each kind per client: not supported, dropped",
            "r0/hostname: not supported (DHCPv6 reservations carry no host name), dropped",
            "r1/hw-address: netdhcp reserves DHCPv6 addresses and prefixes by duid only; reservation dropped",
        ]);
    }
}
