//! One Kea server block (`Dhcp4` or `Dhcp6`) to the netdhcp `dhcpv4` or `dhcpv6` container,
//! plus what it contributes to `lease-database` and `ha`.

use std::collections::BTreeSet;

use serde_json::Value;

use super::common::{interfaces_config, Lifetimes};
use super::ha::convert_hooks;
use super::lease_db::LeaseDb;
use super::options::{convert_option_data, OptionDefs};
use super::report::{Fields, Report};
use super::subnet::{convert_shared_network, convert_subnet, Inherited, SubnetOut};
use super::xml_writer::Element;
use super::Family;

/// Kea 2.2's default valid lifetime (both families), written out because netdhcp's differs.
const KEA_VALID_LIFETIME: u32 = 7200;
/// Kea 2.2's default DHCPv6 preferred lifetime.
const KEA_PREFERRED_LIFETIME: u32 = 3600;

/// What one server block became.
#[derive(Debug, Clone)]
pub struct FamilyOut {
    /// The `dhcpv4` or `dhcpv6` container.
    pub element: Element,
    /// The `ha` container from its libdhcp_ha.so hook, with the Kea path it came from.
    pub ha: Option<(String, Element)>,
}

/// Converts the `Dhcp4` or `Dhcp6` object `value`; lease file settings go to `lease_db`.
pub fn convert_family(
    value: &Value,
    family: Family,
    lease_db: &mut LeaseDb,
    report: &mut Report,
) -> Option<FamilyOut> {
    let mut f = Fields::of(value, family.key(), report)?;
    f.ignore("comment");
    let defs = OptionDefs::with_kea_defs(family, f.array("option-def", report), report);
    let interfaces = interfaces_config(&mut f, family, report);
    let mut lifetimes = Lifetimes::read(&mut f, family, report);
    let valid = *lifetimes.valid.get_or_insert(KEA_VALID_LIFETIME);
    if family == Family::V6 && lifetimes.preferred.is_none() {
        lifetimes.preferred = Some(KEA_PREFERRED_LIFETIME.min(valid));
    }
    let options = convert_option_data(f.array("option-data", report), &defs, report);
    let authoritative = match family {
        Family::V4 => f.boolean("authoritative", report),
        Family::V6 => None,
    };
    let decline = f.u32("decline-probation-period", report);
    let reclaim = match f.get("expired-leases-processing") {
        Some(v) => reclaim_interval(v, &f.path_of("expired-leases-processing"), report),
        None => None,
    };

    let mut subnets: Vec<SubnetOut> = Vec::new();
    for (spath, s) in f.array(family.subnet_key(), report) {
        subnets.extend(convert_subnet(
            s,
            &spath,
            family,
            &defs,
            &Inherited::default(),
            report,
        ));
    }
    for (npath, n) in f.array("shared-networks", report) {
        subnets.extend(convert_shared_network(n, &npath, family, &defs, report));
    }
    if let Some(db) = f.get("lease-database") {
        lease_db.read(db, &f.path_of("lease-database"), family, report);
    }
    let hooks = convert_hooks(f.array("hooks-libraries", report), report);

    for (key, reason) in [
        ("control-socket", "not supported (netdhcp is managed over NETCONF), dropped"),
        ("loggers", "not supported (netdhcpd logs to stderr at the level of its log-level option or RUST_LOG), dropped"),
        ("multi-threading", "ignored: netdhcp's threading is built in"),
        ("reservations", "global reservations: not supported (netdhcp reserves per subnet), dropped"),
        ("server-id", "not supported (netdhcp creates its DUID once, in its state directory), dropped"),
        ("data-directory", "not supported (netdhcp keeps its files in its --state-dir), dropped"),
        ("hosts-database", "not supported (reservations live in the configuration), dropped"),
        ("hosts-databases", "not supported (reservations live in the configuration), dropped"),
    ] {
        f.report_if_present(key, reason, report);
    }
    f.finish(report);

    let mut e = Element::node(family.container());
    e.push_all("interface", &interfaces);
    e.push_opt("authoritative", authoritative);
    e.push_opt("decline-probation-period", decline);
    e.push_opt("reclaim-interval", reclaim);
    lifetimes.write(family, &mut e);
    options.write(family, &mut e);
    for s in assign_ids(subnets, family, report) {
        e.push(s);
    }
    Some(FamilyOut {
        element: e,
        ha: hooks.ha,
    })
}

/// `expired-leases-processing`: its `reclaim-timer-wait-time` is netdhcp's reclaim-interval.
fn reclaim_interval(value: &Value, path: &str, report: &mut Report) -> Option<u32> {
    let mut f = Fields::of(value, path, report)?;
    let wait = f.u32("reclaim-timer-wait-time", report);
    let out = match wait {
        Some(w @ 1..=3600) => Some(w),
        Some(w) => {
            report.add(
                f.path_of("reclaim-timer-wait-time"),
                format!("{w}: netdhcp reclaims every 1 to 3600 s, dropped"),
            );
            None
        }
        None => None,
    };
    f.finish(report);
    out
}

/// Gives every subnet an id: its own when it has a free one, else the lowest free one
/// (reported: lease files refer to subnets by id).
fn assign_ids(subnets: Vec<SubnetOut>, family: Family, report: &mut Report) -> Vec<Element> {
    let mut taken: BTreeSet<u32> = BTreeSet::new();
    let mut wanted: Vec<Option<u32>> = Vec::new();
    for s in &subnets {
        match s.id {
            Some(id) if id <= 4_294_967_294 && taken.insert(id) => wanted.push(Some(id)),
            Some(id) => {
                report.add(
                    format!("{}/id", s.path),
                    format!("id {id} is used twice or out of range; another is assigned"),
                );
                wanted.push(None);
            }
            None => wanted.push(None),
        }
    }
    let mut next = 1;
    subnets
        .into_iter()
        .zip(wanted)
        .map(|(s, id)| {
            let id = id.unwrap_or_else(|| {
                while taken.contains(&next) {
                    next += 1;
                }
                taken.insert(next);
                report.add(
                    s.path.clone(),
                    format!(
                        "no {} subnet id: {next} assigned (check it against the subnet_id of existing leases)",
                        family.name()
                    ),
                );
                next
            });
            s.into_element(id)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lines(report: Report) -> Vec<String> {
        report.into_items().iter().map(|u| u.to_string()).collect()
    }

    #[test]
    fn v4_globals_and_kea_defaults() {
        let mut db = LeaseDb::default();
        let mut report = Report::default();
        let out = convert_family(
            &json!({"interfaces-config": {"interfaces": ["eth0"]}, "renew-timer": 900,
                    "authoritative": true, "decline-probation-period": 3600,
                    "expired-leases-processing": {"reclaim-timer-wait-time": 5, "hold-reclaimed-time": 3600},
                    "control-socket": {"socket-type": "unix", "socket-name": "/run/kea/kea4.sock"},
                    "subnet4": [{"subnet": "100.64.0.0/24"}, {"id": 1, "subnet": "100.65.0.0/24"}]}),
            Family::V4, &mut db, &mut report).unwrap();
        let e = out.element;
        let t = |n| e.find(n).and_then(|c| c.text()).map(str::to_string);
        assert_eq!(t("interface").as_deref(), Some("eth0"));
        assert_eq!(t("valid-lifetime").as_deref(), Some("7200"));
        assert_eq!(t("renew-timer").as_deref(), Some("900"));
        assert_eq!(t("authoritative").as_deref(), Some("true"));
        assert_eq!(t("reclaim-interval").as_deref(), Some("5"));
        let ids: Vec<_> = e
            .all("subnet")
            .map(|s| s.find("id").unwrap().text().unwrap().to_string())
            .collect();
        assert_eq!(ids, vec!["2", "1"]);
        assert_eq!(lines(report), vec![
            "Dhcp4/expired-leases-processing/hold-reclaimed-time: not supported, dropped",
            "Dhcp4/control-socket: not supported (netdhcp is managed over NETCONF), dropped",
            "Dhcp4/subnet4[0]: no IPv4 subnet id: 2 assigned (check it against the subnet_id of existing leases)",
        ]);
    }

    #[test]
    fn v6_default_preferred_lifetime_never_exceeds_valid() {
        let mut db = LeaseDb::default();
        let mut report = Report::default();
        let out = convert_family(
            &json!({"valid-lifetime": 1800}),
            Family::V6,
            &mut db,
            &mut report,
        )
        .unwrap();
        assert_eq!(
            out.element.find("preferred-lifetime").unwrap().text(),
            Some("1800")
        );
        assert!(lines(report).is_empty());
    }
}
