//! Kea `lease-database` (memfile) to netdhcp's `lease-database`: the file names carry over,
//! so netdhcp continues Kea's lease files (same CSV format); `lfc-interval` becomes
//! `compaction-interval` and `max-row-errors` `max-bad-rows`.

use serde_json::Value;

use super::report::{Fields, Report};
use super::xml_writer::Element;
use super::Family;

/// The `lease-database` container being built from both families' Kea settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseDb {
    /// DHCPv4 lease file.
    pub memfile_v4: Option<String>,
    /// DHCPv6 lease file.
    pub memfile_v6: Option<String>,
    /// Seconds between compactions (Kea's lfc-interval).
    pub compaction_interval: Option<u32>,
    /// Unparsable rows skipped at start-up (Kea's max-row-errors).
    pub max_bad_rows: Option<u32>,
}

impl LeaseDb {
    /// Takes in one family's `lease-database` object at `path`.
    pub fn read(&mut self, value: &Value, path: &str, family: Family, report: &mut Report) {
        let Some(mut f) = Fields::of(value, path, report) else {
            return;
        };
        f.ignore("comment");
        match f.string("type", report) {
            Some("memfile") | None => {}
            Some(other) => {
                report.add(
                    path,
                    format!("lease database type {other:?}: not supported (netdhcp keeps leases in a memfile), dropped"),
                );
                return;
            }
        }
        if f.boolean("persist", report) == Some(false) {
            report.add(
                f.path_of("persist"),
                "false: not supported, netdhcp always writes leases to its lease file",
            );
        }
        if let Some(name) = f.string("name", report) {
            let slot = match family {
                Family::V4 => &mut self.memfile_v4,
                Family::V6 => &mut self.memfile_v6,
            };
            *slot = Some(name.to_string());
        }
        // Both families share one compaction interval and one bad-row limit in netdhcp.
        let shared = |key: &str,
                      value: Option<u32>,
                      slot: &mut Option<u32>,
                      report: &mut Report| {
            if let Some(v) = value {
                match slot {
                    Some(existing) if *existing != v => report.add(
                        format!("{path}/{key}"),
                        format!("netdhcp has one value for both families, {existing} from the other family is kept; dropped"),
                    ),
                    _ => *slot = Some(v),
                }
            }
        };
        let lfc = f.u32("lfc-interval", report);
        shared("lfc-interval", lfc, &mut self.compaction_interval, report);
        // Kea's 0 means no limit.
        let rows = f
            .u32("max-row-errors", report)
            .map(|n| if n == 0 { u32::MAX } else { n });
        shared("max-row-errors", rows, &mut self.max_bad_rows, report);
        f.finish(report);
    }

    /// The container, unless nothing was set.
    pub fn element(&self) -> Option<Element> {
        let mut e = Element::node("lease-database");
        e.push_opt("memfile-v4", self.memfile_v4.as_ref());
        e.push_opt("memfile-v6", self.memfile_v6.as_ref());
        e.push_opt("compaction-interval", self.compaction_interval);
        e.push_opt("max-bad-rows", self.max_bad_rows);
        (!e.is_empty()).then_some(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn memfile_settings_map_and_the_rest_is_reported() {
        let mut db = LeaseDb::default();
        let mut report = Report::default();
        db.read(
            &json!({"type": "memfile", "persist": true, "name": "/var/lib/kea/kea-leases4.csv",
                    "lfc-interval": 3600, "max-row-errors": 0}),
            "Dhcp4/lease-database",
            Family::V4,
            &mut report,
        );
        db.read(
            &json!({"type": "memfile", "name": "/var/lib/kea/kea-leases6.csv", "lfc-interval": 600}),
            "Dhcp6/lease-database", Family::V6, &mut report);
        assert_eq!(
            db,
            LeaseDb {
                memfile_v4: Some("/var/lib/kea/kea-leases4.csv".into()),
                memfile_v6: Some("/var/lib/kea/kea-leases6.csv".into()),
                compaction_interval: Some(3600),
                max_bad_rows: Some(u32::MAX),
            }
        );
        let mut other = LeaseDb::default();
        other.read(
            &json!({"type": "mysql", "name": "kea"}),
            "Dhcp4/lease-database",
            Family::V4,
            &mut report,
        );
        assert_eq!(other, LeaseDb::default());
        let lines: Vec<String> = report.into_items().iter().map(|u| u.to_string()).collect();
        assert_eq!(lines, vec![
            "Dhcp6/lease-database/lfc-interval: netdhcp has one value for both families, 3600 from the other family is kept; dropped",
            "Dhcp4/lease-database: lease database type \"mysql\": not supported (netdhcp keeps leases in a memfile), dropped",
        ]);
        assert!(db.element().is_some());
        assert!(other.element().is_none());
    }
}
