//! Operational state of the netdhcp-server module (`/server/state`): version, start time,
//! lease file, DHCPv4 counters and address use. Read from shared counters and the snapshot the
//! engine publishes, never from the lease state itself.

use std::fmt::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use crate::ha::port::HaPort;
use crate::stats::{Counters4, Usage4};

/// Where the state comes from.
#[derive(Clone)]
pub struct Sources {
    /// When the daemon started.
    pub started: SystemTime,
    /// The DHCPv4 lease file.
    pub lease_file: PathBuf,
    /// DHCPv4 counters.
    pub counters4: Arc<Counters4>,
    /// DHCPv4 address use, published by the engine.
    pub usage4: Arc<ArcSwap<Usage4>>,
    /// DHCPv6 counters.
    pub counters6: Arc<crate::server6::Counters6>,
    /// DHCPv6 address and prefix use, published by the engine.
    pub usage6: Arc<ArcSwap<crate::stats::Usage6>>,
    /// The failover port, whose relationship (if configured) holds the HA status; also the
    /// engines' inboxes the lease RPCs go through.
    pub ha: Arc<HaPort>,
    /// The DHCPv4 and DHCPv6 lease file writers (compact-lease-files).
    pub lease_writers: Vec<Arc<crate::lease::memfile::MemfileWriter>>,
}

/// `/server/state` as XML.
pub fn state_xml(src: &Sources) -> String {
    let mut x = String::with_capacity(2048);
    let started = src
        .started
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let _ = write!(
        x,
        "<server xmlns=\"{}\"><state><version>{}</version><start-time>{}</start-time><uptime>{}</uptime>",
        yang::paths::NAMESPACE,
        env!("CARGO_PKG_VERSION"),
        super::time::rfc3339(started),
        src.started.elapsed().map(|d| d.as_secs()).unwrap_or(0)
    );
    lease_files_xml(&mut x, src);
    let c = &src.counters4;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let usage = src.usage4.load();
    let _ = write!(x, "<dhcpv4><leases>{}</leases><counters>", usage.leases);
    for (name, value) in [
        ("received", get(&c.received)),
        ("malformed", get(&c.malformed)),
        ("discover", get(&c.received_by_type[1])),
        ("request", get(&c.received_by_type[3])),
        ("decline", get(&c.received_by_type[4])),
        ("release", get(&c.received_by_type[7])),
        ("inform", get(&c.received_by_type[8])),
        ("offer", get(&c.sent_by_type[2])),
        ("ack", get(&c.sent_by_type[5])),
        ("nak", get(&c.sent_by_type[6])),
        ("no-subnet", get(&c.no_subnet)),
        ("pool-exhausted", get(&c.pool_exhausted)),
        ("lease-write-failed", get(&c.lease_write_failed)),
        ("send-failed", get(&c.send_failed)),
        ("partner-update-failed", get(&c.partner_update_failed)),
        ("reclaimed", get(&c.reclaimed)),
    ] {
        let _ = write!(x, "<{name}>{value}</{name}>");
    }
    x.push_str("</counters>");
    for (id, pools) in &usage.subnets {
        let _ = write!(x, "<subnet><id>{id}</id>");
        let sum = pools.iter().fold(SubnetUse::default(), |s, p| {
            s.add(u128::from(p.total), p.in_use, p.declined)
        });
        sum.write(&mut x);
        for p in pools {
            let _ = write!(
                x,
                "<pool><start>{}</start><end>{}</end><total>{}</total><in-use>{}</in-use><declined>{}</declined><free>{}</free></pool>",
                p.start,
                p.end,
                p.total,
                p.in_use,
                p.declined,
                p.total.saturating_sub(p.in_use)
            );
        }
        x.push_str("</subnet>");
    }
    x.push_str("</dhcpv4>");
    dhcp6_xml(&mut x, &src.counters6, &src.usage6.load());
    if let Some(ha) = src.ha.shared.load_full() {
        ha_xml(&mut x, &ha);
    }
    x.push_str("</state></server>");
    x
}

/// `lease-file` (DHCPv4, the file `src.lease_file`) and `lease-file6`: path and size from the
/// file system, rows and last compaction from the writers' counters.
fn lease_files_xml(x: &mut String, src: &Sources) {
    let v4 = src.lease_writers.iter().find(|w| !w.is_v6());
    let v6 = src.lease_writers.iter().find(|w| w.is_v6());
    lease_file_xml(x, "lease-file", &src.lease_file, v4.map(|w| w.stats()));
    if let Some(w) = v6 {
        lease_file_xml(x, "lease-file6", w.path(), Some(w.stats()));
    }
}

fn lease_file_xml(
    x: &mut String,
    element: &str,
    path: &std::path::Path,
    stats: Option<&crate::lease::memfile::FileStats>,
) {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let _ = write!(
        x,
        "<{element}><path>{}</path><size>{size}</size>",
        netconf::xml::escape_text(&path.display().to_string())
    );
    if let Some(stats) = stats {
        let _ = write!(x, "<rows>{}</rows>", stats.rows());
        if let Some(secs) = stats.last_compaction() {
            let _ = write!(
                x,
                "<last-compaction>{}</last-compaction>",
                super::time::rfc3339(secs)
            );
        }
    }
    let _ = write!(x, "</{element}>");
}

/// A subnet's pools summed (`subnet-use` in the model); totals saturate at `u64::MAX`.
#[derive(Debug, Clone, Copy, Default)]
struct SubnetUse {
    total: u128,
    in_use: u64,
    declined: u64,
}

impl SubnetUse {
    fn add(self, total: u128, in_use: u64, declined: u64) -> Self {
        SubnetUse {
            total: self.total.saturating_add(total),
            in_use: self.in_use.saturating_add(in_use),
            declined: self.declined.saturating_add(declined),
        }
    }

    fn write(&self, x: &mut String) {
        let total = u64::try_from(self.total).unwrap_or(u64::MAX);
        let _ = write!(
            x,
            "<total>{total}</total><in-use>{}</in-use><declined>{}</declined><free>{}</free>",
            self.in_use,
            self.declined,
            total.saturating_sub(self.in_use)
        );
    }
}

fn dhcp6_xml(x: &mut String, c: &crate::server6::Counters6, usage: &crate::stats::Usage6) {
    use crate::dhcp6::packet::msg;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let rx = |t: u8| get(&c.received_by_type[usize::from(t)]);
    let tx = |t: u8| get(&c.sent_by_type[usize::from(t)]);
    let _ = write!(x, "<dhcpv6><leases>{}</leases><counters>", get(&c.leases));
    for (name, value) in [
        ("received", get(&c.received)),
        ("malformed", get(&c.malformed)),
        ("solicit", rx(msg::SOLICIT)),
        ("request", rx(msg::REQUEST)),
        ("confirm", rx(msg::CONFIRM)),
        ("renew", rx(msg::RENEW)),
        ("rebind", rx(msg::REBIND)),
        ("release", rx(msg::RELEASE)),
        ("decline", rx(msg::DECLINE)),
        ("information-request", rx(msg::INFORMATION_REQUEST)),
        ("advertise", tx(msg::ADVERTISE)),
        ("reply", tx(msg::REPLY)),
        ("no-subnet", get(&c.no_subnet)),
        ("not-for-us", get(&c.not_for_us)),
        ("lease-write-failed", get(&c.lease_write_failed)),
        ("partner-update-failed", get(&c.partner_update_failed)),
        ("send-failed", get(&c.send_failed)),
        ("reclaimed", get(&c.reclaimed)),
    ] {
        let _ = write!(x, "<{name}>{value}</{name}>");
    }
    x.push_str("</counters>");
    for (id, pools) in &usage.subnets {
        let _ = write!(x, "<subnet><id>{id}</id>");
        for (element, kind) in [
            ("ia-na", crate::stats::PoolKind6::Address),
            ("ia-pd", crate::stats::PoolKind6::Prefix),
        ] {
            let sum = pools
                .iter()
                .filter(|p| p.kind == kind)
                .fold(SubnetUse::default(), |s, p| {
                    s.add(p.total, p.in_use, p.declined)
                });
            let _ = write!(x, "<{element}>");
            sum.write(x);
            let _ = write!(x, "</{element}>");
        }
        for p in pools {
            let kind = match p.kind {
                crate::stats::PoolKind6::Address => "ia-na",
                crate::stats::PoolKind6::Prefix => "ia-pd",
            };
            let total = u64::try_from(p.total).unwrap_or(u64::MAX);
            let _ = write!(
                x,
                "<pool><type>{kind}</type><start>{}</start><length>{}</length><total>{total}</total><in-use>{}</in-use><declined>{}</declined><free>{}</free></pool>",
                p.start,
                p.length,
                p.in_use,
                p.declined,
                total.saturating_sub(p.in_use)
            );
        }
        x.push_str("</subnet>");
    }
    x.push_str("</dhcpv6>");
}

fn ha_xml(x: &mut String, ha: &crate::ha::shared::HaShared) {
    let status = ha.status.load();
    let esc = netconf::xml::escape_text;
    let partner_state = status.partner_state.map_or(
        if status.communication_interrupted || status.last_heartbeat.is_some() {
            "unavailable"
        } else {
            "unknown"
        },
        |s| s.name(),
    );
    let _ = write!(
        x,
        "<ha><this-server-name>{}</this-server-name><state>{}</state><partner-name>{}</partner-name><partner-state>{}</partner-state>",
        esc(&status.this_server_name),
        status.state.name(),
        esc(&status.partner_name),
        partner_state
    );
    for scope in &status.scopes {
        let _ = write!(x, "<scopes>{}</scopes>", esc(scope));
    }
    if let Some(t) = status.last_heartbeat {
        let secs = t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let _ = write!(
            x,
            "<last-heartbeat>{}</last-heartbeat>",
            super::time::rfc3339(secs)
        );
    }
    let c = &ha.counters;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let _ = write!(
        x,
        "<communication-interrupted>{}</communication-interrupted><clock-skew>{}</clock-skew><unacked-clients>{}</unacked-clients>\
         <updates-sent>{}</updates-sent><updates-failed>{}</updates-failed><backup-updates-failed>{}</backup-updates-failed><updates-received>{}</updates-received>\
         <unsent-updates>{}</unsent-updates><not-in-scope>{}</not-in-scope><sync-running>{}</sync-running><sync-leases>{}</sync-leases>",
        status.communication_interrupted,
        status.clock_skew_secs,
        ha.unacked_clients(),
        get(&c.updates_sent),
        get(&c.updates_failed),
        get(&c.backup_updates_failed),
        get(&c.updates_received),
        get(&c.unsent_updates),
        get(&c.not_in_scope),
        status.sync_running,
        status.sync_leases,
    );
    if let Some(d) = status.last_sync_duration {
        let _ = write!(
            x,
            "<last-sync-duration>{}</last-sync-duration>",
            d.as_millis()
        );
    }
    let _ = write!(x, "<paused>{}</paused>", status.paused);
    x.push_str("</ha>");
}

/// Sources for unit tests: `counters4`, one DHCPv4 pool (100.64.0.10–19, 3 of 10 in use),
/// no DHCPv6 use, no failover, no lease file.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn test_sources(counters4: Arc<Counters4>) -> Sources {
    let usage = Usage4 {
        leases: 3,
        subnets: vec![(
            1,
            vec![crate::stats::PoolUsage4 {
                start: "100.64.0.10".parse().unwrap(),
                end: "100.64.0.19".parse().unwrap(),
                total: 10,
                in_use: 3,
                declined: 1,
            }],
        )],
    };
    Sources {
        started: UNIX_EPOCH,
        lease_file: "/nonexistent/leases4.csv".into(),
        counters4,
        usage4: Arc::new(ArcSwap::from_pointee(usage)),
        counters6: Arc::default(),
        usage6: Arc::default(),
        ha: HaPort::new().unwrap().0,
        lease_writers: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{PoolKind6, PoolUsage6, Usage6};

    #[test]
    fn state_fits_the_model() {
        let counters = Arc::new(Counters4::default());
        counters.received.fetch_add(7, Ordering::Relaxed);
        let mut src = test_sources(counters);
        src.usage6 = Arc::new(ArcSwap::from_pointee(Usage6 {
            subnets: vec![(
                1,
                vec![
                    PoolUsage6 {
                        kind: PoolKind6::Address,
                        start: "2001:db8:1::".parse().unwrap(),
                        length: 128,
                        total: 1 << 64,
                        in_use: 2,
                        declined: 1,
                    },
                    PoolUsage6 {
                        kind: PoolKind6::Prefix,
                        start: "2001:db8:100::".parse().unwrap(),
                        length: 56,
                        total: 65536,
                        in_use: 1,
                        declined: 0,
                    },
                ],
            )],
        }));
        let xml = state_xml(&src);
        assert!(
            xml.contains("<received>7</received>")
                && xml.contains("<in-use>3</in-use><declined>1</declined><free>7</free>"),
            "{xml}"
        );
        assert!(
            xml.contains("<total>18446744073709551615</total><in-use>2</in-use><declined>1</declined>")
                && xml.contains("<type>ia-pd</type><start>2001:db8:100::</start><length>56</length><total>65536</total><in-use>1</in-use><declined>0</declined><free>65535</free>"),
            "a /64 range saturates at the largest uint64: {xml}"
        );
        // Subnet sums: the one v4 pool; v6 per kind.
        assert!(
            xml.contains("<subnet><id>1</id><total>10</total><in-use>3</in-use><declined>1</declined><free>7</free><pool>"),
            "{xml}"
        );
        assert!(
            xml.contains("<subnet><id>1</id><ia-na><total>18446744073709551615</total><in-use>2</in-use><declined>1</declined><free>18446744073709551613</free></ia-na><ia-pd><total>65536</total><in-use>1</in-use><declined>0</declined><free>65535</free></ia-pd>"),
            "{xml}"
        );
        assert!(xml.contains("<uptime>"), "{xml}");
        crate::northbound::assert_fits_the_model(&xml);
    }

    #[test]
    fn both_lease_files_show_rows_and_last_compaction() {
        use crate::lease::memfile::{Durability, MemfileWriter};
        let dir = tempfile::tempdir().unwrap();
        let v4_path = dir.path().join("leases4.csv");
        let v4 = Arc::new(MemfileWriter::open(&v4_path, Durability::None).unwrap());
        let v6 = Arc::new(
            MemfileWriter::open_v6(&dir.path().join("leases6.csv"), Durability::None).unwrap(),
        );
        v4.stats().rows_loaded(2);
        v6.compact().unwrap().join().unwrap();
        let mut src = test_sources(Arc::new(Counters4::default()));
        src.lease_file = v4_path;
        src.lease_writers = vec![v4, v6];
        let xml = state_xml(&src);
        let v4_part = xml
            .split("<lease-file>")
            .nth(1)
            .and_then(|s| s.split("</lease-file>").next())
            .unwrap();
        assert!(
            v4_part.contains("<rows>2</rows>") && !v4_part.contains("last-compaction"),
            "{xml}"
        );
        // The empty v6 file compacted to nothing; the time is set.
        let v6_part = xml.split("<lease-file6>").nth(1).unwrap();
        assert!(
            v6_part.contains("leases6.csv</path>")
                && v6_part.contains("<rows>0</rows><last-compaction>"),
            "{xml}"
        );
        crate::northbound::assert_fits_the_model(&xml);
    }
}
