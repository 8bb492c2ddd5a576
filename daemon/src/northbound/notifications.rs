//! The notifications this server raises on the NETCONF stream (RFC 5277):
//!
//! - `netconf-config-change` (ietf-netconf-notifications, RFC 6470) after every commit,
//!   cancel-commit or confirmed-commit rollback that changed running: who changed it and one
//!   `edit` per changed subtree, from a libyang diff of the old and new running trees;
//! - `ha-state-change` (netdhcp-server) whenever this server's failover state changes;
//! - `pool-utilization` (netdhcp-server) when a pool's use crosses
//!   `/server/notifications/pool-utilization` thresholds, with hysteresis;
//! - `lease-file-write-failed` (netdhcp-server) when lease writes fail.
//!
//! The config change is computed on the northbound thread right after the commit; the others
//! come from one sampling task ([`run`]) that never touches the packet path: it reads the
//! usage the engines publish and their counters once a second, and hears the failover
//! driver's state changes as they happen.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use netconf::error::RpcError;
use netconf::notification::time::format_date_and_time;
use netconf::rpc::Filter;
use netconf::xml::escape_text;
use netconf::{Notification, Publisher, XPathEvaluator};
use tokio::sync::{broadcast, watch};
use yang::yang5::context::Context;
use yang::yang5::data::{
    Data, DataDiffFlags, DataDiffOp, DataFormat, DataOperation, DataParserFlags, DataTree,
};

use super::error::from_filter;
use super::filter::{self, xpath_to_module_prefixes};
use super::state::Sources;
use super::xpath::to_xml_path;
use crate::ha::port::StateChange;
use crate::stats::{PoolKind6, Usage4, Usage6};

/// Namespace of ietf-netconf-notifications (RFC 6470).
pub const NS_NETCONF_NOTIFICATIONS: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications";

/// Above this many changed nodes a netconf-config-change carries no `edit` list: RFC 6470
/// lets the list be left out when the details are not known, and a client flooded with
/// thousands of edits is no better informed than one told to re-read the configuration.
pub const MAX_EDITS: usize = 1000;

/// How often pool use and lease write failures are sampled.
const SAMPLE_PERIOD: Duration = Duration::from_secs(1);

const HIGH_PERCENT: &str = "/netdhcp-server:server/notifications/pool-utilization/high-percent";
const LOW_PERCENT: &str = "/netdhcp-server:server/notifications/pool-utilization/low-percent";

/// Who changed running, for `changed-by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangedBy {
    /// The server itself (a confirmed commit rolled back by its timer or its session's end).
    Server,
    /// A NETCONF session.
    Session {
        /// session-id.
        id: u32,
        /// Its user.
        username: String,
        /// The client's address, when the session is still known.
        source_host: Option<IpAddr>,
    },
}

/// The `<netconf-config-change>` body for running going from `old` to `new`; `None` when
/// nothing changed.
pub fn config_change_body(
    ctx: &Context,
    old: &DataTree<'_>,
    new: &DataTree<'_>,
    by: &ChangedBy,
) -> Option<String> {
    let diff = match old.diff(new, DataDiffFlags::empty()) {
        Ok(diff) => diff,
        Err(e) => {
            tracing::error!(error = %e, "cannot compute the configuration change");
            return None;
        }
    };
    let mut edits = String::new();
    let mut count = 0usize;
    for (op, node) in diff.iter() {
        count += 1;
        if count > MAX_EDITS {
            continue;
        }
        let operation = match op {
            DataDiffOp::Create => "create",
            DataDiffOp::Delete => "delete",
            DataDiffOp::Replace => "replace",
        };
        let target = to_xml_path(ctx, &node.path());
        edits.push_str("<edit><target");
        for (prefix, ns) in &target.namespaces {
            let _ = write!(
                edits,
                " xmlns:{prefix}=\"{}\"",
                netconf::xml::escape_attr(ns)
            );
        }
        let _ = write!(
            edits,
            ">{}</target><operation>{operation}</operation></edit>",
            escape_text(&target.path)
        );
    }
    if count == 0 {
        return None;
    }
    if count > MAX_EDITS {
        tracing::info!(
            changed = count,
            "configuration change too large to list its edits"
        );
        edits.clear();
    }
    let mut body =
        format!("<netconf-config-change xmlns=\"{NS_NETCONF_NOTIFICATIONS}\"><changed-by>");
    match by {
        ChangedBy::Server => body.push_str("<server/>"),
        ChangedBy::Session {
            id,
            username,
            source_host,
        } => {
            let _ = write!(
                body,
                "<username>{}</username><session-id>{id}</session-id>",
                escape_text(username)
            );
            if let Some(host) = source_host {
                let _ = write!(body, "<source-host>{host}</source-host>");
            }
        }
    }
    let _ = write!(
        body,
        "</changed-by><datastore>running</datastore>{edits}</netconf-config-change>"
    );
    Some(body)
}

/// XPath filters of `<create-subscription>`, evaluated like get's: prefixes mapped to module
/// names, then libyang's XPath on the notification's content parsed against the model.
#[derive(Debug, Clone, Copy)]
pub struct ModelXPath {
    /// The schema the notifications belong to.
    pub ctx: &'static Context,
}

impl XPathEvaluator for ModelXPath {
    fn check(&self, select: &str, namespaces: &BTreeMap<String, String>) -> Result<(), RpcError> {
        xpath_to_module_prefixes(self.ctx, select, namespaces)
            .map(|_| ())
            .map_err(from_filter)
    }

    fn selects(
        &self,
        select: &str,
        namespaces: &BTreeMap<String, String>,
        notification: &Notification,
    ) -> bool {
        let Ok(tree) = DataTree::parse_op_string(
            self.ctx,
            notification.body(),
            DataFormat::XML,
            DataParserFlags::empty(),
            DataOperation::NotificationYang,
        ) else {
            return false;
        };
        let filter = Filter::XPath {
            select: select.to_owned(),
            namespaces: namespaces.clone(),
        };
        match filter::select(self.ctx, &tree, Some(&filter)) {
            Ok(selected) => selected.reference().is_some(),
            Err(e) => {
                tracing::debug!(error = %e, "notification filter failed");
                false
            }
        }
    }
}

/// The pool-utilization thresholds of the running configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolThresholds {
    /// Use (percent) at which a pool is reported high.
    pub high: u8,
    /// Use (percent) at or below which a high pool is reported back to normal.
    pub low: u8,
}

impl Default for PoolThresholds {
    fn default() -> Self {
        // The YANG defaults.
        PoolThresholds { high: 90, low: 80 }
    }
}

impl PoolThresholds {
    /// The thresholds `tree` configures (its defaults where it says nothing).
    pub fn of(tree: &DataTree<'_>) -> Self {
        let read = |path: &str| {
            tree.find_path(path)
                .ok()
                .and_then(|n| n.value_canonical())
                .and_then(|v| v.parse::<u8>().ok())
        };
        let default = PoolThresholds::default();
        PoolThresholds {
            high: read(HIGH_PERCENT).unwrap_or(default.high),
            low: read(LOW_PERCENT).unwrap_or(default.low),
        }
    }
}

/// Publishes configuration changes; owned by the northbound task.
pub struct ConfigNotifier {
    publisher: Publisher,
    thresholds: watch::Sender<PoolThresholds>,
}

impl ConfigNotifier {
    /// A notifier for `publisher`, with the thresholds of `running`; the receiver follows the
    /// thresholds through commits, for [`run`].
    pub fn new(
        publisher: Publisher,
        running: &DataTree<'_>,
    ) -> (Self, watch::Receiver<PoolThresholds>) {
        let (thresholds, rx) = watch::channel(PoolThresholds::of(running));
        (
            ConfigNotifier {
                publisher,
                thresholds,
            },
            rx,
        )
    }

    /// The `/netconf/streams` state of the stream this notifier publishes to.
    pub fn streams_xml(&self) -> String {
        streams_xml(&self.publisher)
    }

    /// Running went from `old` to `new`.
    pub fn running_changed(
        &self,
        ctx: &Context,
        old: &DataTree<'_>,
        new: &DataTree<'_>,
        by: &ChangedBy,
    ) {
        self.thresholds.send_if_modified(|t| {
            let next = PoolThresholds::of(new);
            let changed = *t != next;
            *t = next;
            changed
        });
        if let Some(body) = config_change_body(ctx, old, new, by) {
            publish(&self.publisher, &body);
        }
    }
}

/// Namespace of nc-notifications (RFC 5277 section 4).
pub const NS_NC_NOTIFICATIONS: &str = netconf::notification::NS_NETMOD_NOTIFICATION;

/// What the NETCONF stream carries, for its `description`.
const STREAM_DESCRIPTION: &str = "Every event of this server: configuration changes (netconf-config-change), failover state changes, pool utilization crossings and lease file write failures.";

/// The nc-notifications `/netconf/streams` state (RFC 5277 section 3.2.3): the one stream,
/// whether it replays, since when, and the event time of the newest notification the replay
/// buffer has dropped.
pub fn streams_xml(publisher: &Publisher) -> String {
    let mut stream = format!(
        "<stream><name>{}</name><description>{}</description><replaySupport>{}</replaySupport>",
        netconf::notification::STREAM_NETCONF,
        escape_text(STREAM_DESCRIPTION),
        publisher.replay_supported()
    );
    if publisher.replay_supported() {
        let _ = write!(
            stream,
            "<replayLogCreationTime>{}</replayLogCreationTime>",
            format_date_and_time(publisher.replay_log_created())
        );
        if let Some(aged) = publisher.replay_log_aged() {
            let _ = write!(
                stream,
                "<replayLogAgedTime>{}</replayLogAgedTime>",
                format_date_and_time(aged)
            );
        }
    }
    format!(
        "<netconf xmlns=\"{NS_NC_NOTIFICATIONS}\"><streams>{stream}</stream></streams></netconf>"
    )
}

fn publish(publisher: &Publisher, body: &str) {
    if let Err(e) = publisher.publish(SystemTime::now(), body) {
        // Our own bodies are well-formed; this is a defect worth seeing.
        tracing::error!(error = %e, "notification not published");
    }
}

/// The `<ha-state-change>` body.
pub fn ha_state_body(change: &StateChange) -> String {
    let mut body = format!(
        "<ha-state-change xmlns=\"{}\"><state>{}</state><previous-state>{}</previous-state>",
        yang::paths::NAMESPACE,
        change.state.name(),
        change.previous.name()
    );
    if let Some(partner) = change.partner {
        let _ = write!(body, "<partner-state>{}</partner-state>", partner.name());
    }
    let _ = write!(body, "<paused>{}</paused>", change.paused);
    body.push_str("</ha-state-change>");
    body
}

/// Identifies a pool across samples: family, subnet, first address or prefix, length.
type PoolKey = (u8, u32, IpAddr, u8);

/// One pool's figures in a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PoolSample {
    key: PoolKey,
    in_use: u64,
    total: u64,
}

impl PoolSample {
    fn percent(&self) -> u8 {
        if self.total == 0 {
            return 0;
        }
        (u128::from(self.in_use) * 100 / u128::from(self.total)).min(100) as u8
    }
}

fn samples(usage4: &Usage4, usage6: &Usage6) -> Vec<PoolSample> {
    let mut out = Vec::new();
    for (subnet, pools) in &usage4.subnets {
        for p in pools {
            out.push(PoolSample {
                key: (4, *subnet, IpAddr::V4(p.start), 32),
                in_use: p.in_use,
                total: p.total,
            });
        }
    }
    for (subnet, pools) in &usage6.subnets {
        for p in pools {
            let length = match p.kind {
                PoolKind6::Address => 128,
                PoolKind6::Prefix => p.length,
            };
            out.push(PoolSample {
                key: (6, *subnet, IpAddr::V6(p.start), length),
                in_use: p.in_use,
                total: u64::try_from(p.total).unwrap_or(u64::MAX),
            });
        }
    }
    out
}

/// Which pools are reported high; decides the crossings of each sample.
#[derive(Debug, Default)]
pub struct PoolWatch {
    high: HashMap<PoolKey, bool>,
}

impl PoolWatch {
    /// The pool-utilization bodies for this sample. A pool starts as not high; one gone from
    /// the configuration is forgotten.
    pub fn sample(&mut self, usage4: &Usage4, usage6: &Usage6, t: PoolThresholds) -> Vec<String> {
        let pools = samples(usage4, usage6);
        self.high
            .retain(|key, _| pools.iter().any(|p| p.key == *key));
        let mut out = Vec::new();
        for p in pools {
            let percent = p.percent();
            let high = self.high.entry(p.key).or_insert(false);
            let crossing = if !*high && percent >= t.high {
                *high = true;
                Some(("rising", t.high))
            } else if *high && percent <= t.low {
                *high = false;
                Some(("falling", t.low))
            } else {
                None
            };
            if let Some((direction, threshold)) = crossing {
                out.push(pool_body(&p, percent, direction, threshold));
            }
        }
        out
    }
}

fn pool_body(p: &PoolSample, percent: u8, direction: &str, threshold: u8) -> String {
    let (family, subnet, start, length) = p.key;
    let mut body = format!(
        "<pool-utilization xmlns=\"{}\"><direction>{direction}</direction><family>ipv{family}</family><subnet-id>{subnet}</subnet-id><pool-start>{start}</pool-start>",
        yang::paths::NAMESPACE
    );
    if family == 6 && length != 128 {
        let _ = write!(body, "<prefix-length>{length}</prefix-length>");
    }
    let _ = write!(
        body,
        "<in-use>{}</in-use><total>{}</total><percent>{percent}</percent><threshold>{threshold}</threshold></pool-utilization>",
        p.in_use, p.total
    );
    body
}

/// Watches a failure counter and reports its increases.
#[derive(Debug)]
struct FailureWatch {
    family: u8,
    file: String,
    seen: u64,
}

impl FailureWatch {
    fn body(&mut self, now: u64) -> Option<String> {
        let new = now.saturating_sub(self.seen);
        self.seen = now;
        (new > 0).then(|| {
            format!(
                "<lease-file-write-failed xmlns=\"{}\"><family>ipv{}</family><file>{}</file><failed-replies>{new}</failed-replies></lease-file-write-failed>",
                yang::paths::NAMESPACE,
                self.family,
                escape_text(&self.file)
            )
        })
    }
}

/// Samples pool use and lease write failures every second and relays failover state
/// changes, until `stop` turns true.
pub async fn run(
    publisher: Publisher,
    sources: Arc<Sources>,
    mut thresholds: watch::Receiver<PoolThresholds>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ha = sources.ha.state_changes.subscribe();
    let mut pools = PoolWatch::default();
    let file = |i: usize| {
        sources
            .lease_writers
            .get(i)
            .map(|w| w.path().display().to_string())
            .unwrap_or_default()
    };
    let mut failures4 = FailureWatch {
        family: 4,
        file: file(0),
        seen: sources.counters4.lease_write_failed.load(Ordering::Relaxed),
    };
    let mut failures6 = FailureWatch {
        family: 6,
        file: file(1),
        seen: sources.counters6.lease_write_failed.load(Ordering::Relaxed),
    };
    let mut tick = tokio::time::interval(SAMPLE_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            change = ha.recv() => match change {
                Ok(change) => publish(&publisher, &ha_state_body(&change)),
                Err(broadcast::error::RecvError::Lagged(lost)) => {
                    tracing::warn!(lost, "failover state changes not reported");
                }
                Err(broadcast::error::RecvError::Closed) => ha = broadcast::channel(1).1,
            },
            _ = tick.tick() => {
                let t = *thresholds.borrow_and_update();
                for body in pools.sample(&sources.usage4.load(), &sources.usage6.load(), t) {
                    publish(&publisher, &body);
                }
                let c4 = sources.counters4.lease_write_failed.load(Ordering::Relaxed);
                let c6 = sources.counters6.lease_write_failed.load(Ordering::Relaxed);
                for body in [failures4.body(c4), failures6.body(c6)].into_iter().flatten() {
                    publish(&publisher, &body);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ha::state::State;
    use crate::stats::PoolUsage4;
    use yang::yang5::data::{DataFormat, DataParserFlags, DataValidationFlags};

    fn tree(xml: &str) -> DataTree<'static> {
        let ctx = yang::context().unwrap();
        DataTree::parse_string(
            ctx,
            xml,
            DataFormat::XML,
            DataParserFlags::NO_VALIDATION,
            DataValidationFlags::empty(),
        )
        .unwrap()
    }

    fn server(inner: &str) -> String {
        format!(
            "<server xmlns=\"{}\">{inner}</server>",
            yang::paths::NAMESPACE
        )
    }

    #[test]
    fn config_change_lists_edits_with_declared_prefixes() {
        let ctx = yang::context().unwrap();
        let old = tree(&server("<logging><level>info</level></logging>"));
        let new = tree(&server(
            "<logging><level>debug</level></logging><notifications><pool-utilization><high-percent>70</high-percent></pool-utilization></notifications>",
        ));
        let by = ChangedBy::Session {
            id: 7,
            username: "admin".into(),
            source_host: Some("127.0.0.1".parse().unwrap()),
        };
        let body = config_change_body(ctx, &old, &new, &by).unwrap();
        assert!(body.starts_with(&format!(
            "<netconf-config-change xmlns=\"{NS_NETCONF_NOTIFICATIONS}\"><changed-by><username>admin</username><session-id>7</session-id><source-host>127.0.0.1</source-host></changed-by><datastore>running</datastore>"
        )), "{body}");
        assert!(body.contains(&format!("<edit><target xmlns:ndhcp=\"{}\">/ndhcp:server/ndhcp:logging/ndhcp:level</target><operation>replace</operation></edit>", yang::paths::NAMESPACE)), "{body}");
        assert!(
            body.contains(
                ">/ndhcp:server/ndhcp:notifications</target><operation>create</operation>"
            ),
            "{body}"
        );
        let parsed = DataTree::parse_op_string(
            ctx,
            &body,
            DataFormat::XML,
            DataParserFlags::STRICT,
            yang::yang5::data::DataOperation::NotificationYang,
        );
        assert!(
            parsed.is_ok(),
            "a notification of ietf-netconf-notifications: {:?}",
            parsed.err()
        );
        assert!(config_change_body(ctx, &new, &old, &ChangedBy::Server)
            .unwrap()
            .contains("<changed-by><server/></changed-by>"));
        assert_eq!(
            config_change_body(ctx, &old, &old, &ChangedBy::Server),
            None
        );
        assert_eq!(
            PoolThresholds::of(&new),
            PoolThresholds { high: 70, low: 80 }
        );
        assert_eq!(PoolThresholds::of(&old), PoolThresholds::default());
    }

    fn usage(in_use: u64) -> Usage4 {
        Usage4 {
            leases: in_use,
            subnets: vec![(
                1,
                vec![PoolUsage4 {
                    start: "100.64.1.10".parse().unwrap(),
                    end: "100.64.1.19".parse().unwrap(),
                    total: 10,
                    in_use,
                    declined: 0,
                }],
            )],
        }
    }

    #[test]
    fn pool_crossings_have_hysteresis() {
        let t = PoolThresholds { high: 90, low: 50 };
        let v6 = Usage6::default();
        let mut w = PoolWatch::default();
        assert!(w.sample(&usage(8), &v6, t).is_empty());
        let up = w.sample(&usage(9), &v6, t);
        assert_eq!(up.len(), 1);
        assert!(up[0].contains("<direction>rising</direction><family>ipv4</family><subnet-id>1</subnet-id><pool-start>100.64.1.10</pool-start><in-use>9</in-use><total>10</total><percent>90</percent><threshold>90</threshold>"), "{}", up[0]);
        // Between the thresholds: nothing, whichever way it moves.
        assert!(w.sample(&usage(10), &v6, t).is_empty());
        assert!(w.sample(&usage(6), &v6, t).is_empty());
        assert!(w.sample(&usage(9), &v6, t).is_empty());
        let down = w.sample(&usage(5), &v6, t);
        assert_eq!(down.len(), 1);
        assert!(
            down[0].contains("<direction>falling</direction>")
                && down[0].contains("<threshold>50</threshold>")
        );
        assert!(w.sample(&usage(5), &v6, t).is_empty());
        // A pool removed and added again starts over.
        assert_eq!(w.sample(&usage(10), &v6, t).len(), 1);
        assert!(w.sample(&Usage4::default(), &v6, t).is_empty());
        assert_eq!(w.sample(&usage(10), &v6, t).len(), 1);
    }

    #[test]
    fn ha_state_change_and_write_failure_bodies_are_notifications_of_the_model() {
        let body = ha_state_body(&StateChange {
            previous: State::HotStandby,
            state: State::PartnerDown,
            partner: None,
            paused: false,
        });
        assert_eq!(
            body,
            format!("<ha-state-change xmlns=\"{}\"><state>partner-down</state><previous-state>hot-standby</previous-state><paused>false</paused></ha-state-change>", yang::paths::NAMESPACE)
        );
        // A pause starting: the same state on both sides.
        let pause = ha_state_body(&StateChange {
            previous: State::Waiting,
            state: State::Waiting,
            partner: Some(State::Waiting),
            paused: true,
        });
        assert!(
            pause.ends_with("<state>waiting</state><previous-state>waiting</previous-state><partner-state>waiting</partner-state><paused>true</paused></ha-state-change>"),
            "{pause}"
        );
        let mut f = FailureWatch {
            family: 4,
            file: "/var/lib/x.csv".into(),
            seen: 2,
        };
        assert_eq!(f.body(2), None);
        assert!(f
            .body(5)
            .unwrap()
            .contains("<failed-replies>3</failed-replies>"));
        let ctx = yang::context().unwrap();
        for body in [
            body,
            pause,
            f.body(6).unwrap(),
            pool_body(&samples(&usage(9), &Usage6::default())[0], 90, "rising", 90),
        ] {
            let parsed = DataTree::parse_op_string(
                ctx,
                &body,
                DataFormat::XML,
                DataParserFlags::STRICT,
                yang::yang5::data::DataOperation::NotificationYang,
            );
            assert!(parsed.is_ok(), "{body}: {:?}", parsed.err());
        }
    }

    #[test]
    fn streams_state_is_data_of_nc_notifications() {
        let ctx = yang::context().unwrap();
        let p = Publisher::new(2, 4);
        let fresh = streams_xml(&p);
        assert!(
            fresh.contains("<name>NETCONF</name>")
                && fresh.contains("<replaySupport>true</replaySupport><replayLogCreationTime>"),
            "{fresh}"
        );
        assert!(
            !fresh.contains("replayLogAgedTime"),
            "nothing dropped yet: {fresh}"
        );
        let aged_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        for i in 0..3 {
            p.publish(aged_at + Duration::from_secs(i), "<e xmlns=\"urn:t\"/>")
                .unwrap();
        }
        let aged = streams_xml(&p);
        assert!(
            aged.contains("<replayLogAgedTime>2027-01-15T08:00:00.000000Z</replayLogAgedTime>"),
            "{aged}"
        );
        let off = streams_xml(&Publisher::new(0, 4));
        assert!(
            off.contains("<replaySupport>false</replaySupport></stream>"),
            "{off}"
        );
        for xml in [fresh, aged, off] {
            let parsed = DataTree::parse_string(
                ctx,
                &xml,
                DataFormat::XML,
                DataParserFlags::STRICT,
                DataValidationFlags::PRESENT,
            );
            assert!(parsed.is_ok(), "{xml}: {:?}", parsed.err());
        }
    }

    #[test]
    fn xpath_filters_select_notifications_by_content() {
        let ctx = yang::context().unwrap();
        let eval = ModelXPath { ctx };
        let p = Publisher::new(4, 4);
        let ha = p
            .publish(
                SystemTime::now(),
                &ha_state_body(&StateChange {
                    previous: State::Waiting,
                    state: State::PartnerDown,
                    partner: None,
                    paused: false,
                }),
            )
            .unwrap();
        let ns: BTreeMap<String, String> =
            [("nd".to_owned(), yang::paths::NAMESPACE.to_owned())].into();
        assert!(eval.check("/nd:ha-state-change", &ns).is_ok());
        assert!(eval.selects("/nd:ha-state-change", &ns, &ha));
        assert!(eval.selects("/nd:ha-state-change[nd:state='partner-down']", &ns, &ha));
        assert!(!eval.selects("/nd:ha-state-change[nd:state='ready']", &ns, &ha));
        assert!(!eval.selects("/nd:pool-utilization", &ns, &ha));
        let unknown: BTreeMap<String, String> = [("x".to_owned(), "urn:x".to_owned())].into();
        assert!(eval.check("/x:a", &unknown).is_err());
    }

    async fn wait_for(p: &Publisher, name: &str) -> Arc<Notification> {
        for _ in 0..300 {
            if let Some(n) = p.replay_buffer().into_iter().find(|n| n.name == name) {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no {name} published");
    }

    #[tokio::test]
    async fn sampler_relays_failover_changes_pool_crossings_and_write_failures() {
        let (port, _queues) = crate::ha::port::HaPort::new().unwrap();
        let sources = Arc::new(Sources {
            started: SystemTime::UNIX_EPOCH,
            lease_file: "/nonexistent/leases4.csv".into(),
            counters4: Arc::default(),
            usage4: Arc::new(arc_swap::ArcSwap::from_pointee(usage(10))),
            counters6: Arc::default(),
            usage6: Arc::new(arc_swap::ArcSwap::from_pointee(Usage6::default())),
            ha: port.clone(),
            lease_writers: Vec::new(),
        });
        let p = Publisher::new(16, 16);
        let (_thresholds_tx, thresholds) = watch::channel(PoolThresholds::default());
        let (stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn(run(p.clone(), sources.clone(), thresholds, stop));
        let pool = wait_for(&p, "pool-utilization").await;
        assert!(
            pool.body().contains("<direction>rising</direction>"),
            "{}",
            pool.body()
        );
        // The driver's hook: a state change on the port becomes a notification.
        while port.state_changes.receiver_count() == 0 {
            tokio::task::yield_now().await;
        }
        port.state_changes
            .send(StateChange {
                previous: State::Waiting,
                state: State::Syncing,
                partner: Some(State::HotStandby),
                paused: false,
            })
            .unwrap();
        let ha = wait_for(&p, "ha-state-change").await;
        assert!(ha.body().contains("<state>syncing</state><previous-state>waiting</previous-state><partner-state>hot-standby</partner-state>"), "{}", ha.body());
        sources
            .counters4
            .lease_write_failed
            .fetch_add(3, Ordering::Relaxed);
        let failed = wait_for(&p, "lease-file-write-failed").await;
        assert!(
            failed.body().contains("<family>ipv4</family>")
                && failed.body().contains("<failed-replies>3</failed-replies>")
        );
        stop_tx.send(true).unwrap();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn publishes_through_the_publisher() {
        let p = Publisher::new(10, 4);
        let old = tree(&server("<logging><level>info</level></logging>"));
        let new = tree(&server("<logging><level>debug</level></logging>"));
        let (notifier, thresholds) = ConfigNotifier::new(p.clone(), &old);
        notifier.running_changed(yang::context().unwrap(), &old, &new, &ChangedBy::Server);
        assert_eq!(p.published(), 1);
        assert_eq!(*thresholds.borrow(), PoolThresholds::default());
    }
}
