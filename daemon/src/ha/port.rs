//! The engines' side of failover: what they read per packet (the relationship's shared state,
//! absent when the server runs alone), the inboxes through which the peer link asks them to
//! apply or list leases, and the queues of lease changes they hand to the peer link. One
//! relationship covers both families; each family has its own inbox and queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use tokio::sync::mpsc;

use super::inbox::{ApplyMode, Inbox, PeerRequest4, PeerRequest6};
use super::peer_commands::MachineCommand;
use super::shared::HaShared;
use super::state::LeaseUpdates;
use crate::engine::{Completion, PartnerLeg};
use crate::lease::{Lease4, Lease6};

/// Lease changes for the partner and the backups. A lease with valid lifetime 0 is a
/// deletion.
pub struct Outbound<L> {
    /// The changed leases.
    pub leases: Vec<L>,
    /// What the partner does with them.
    pub delivery: Delivery,
}

/// DHCPv4 lease changes.
pub type Outbound4 = Outbound<Lease4>;
/// DHCPv6 lease changes.
pub type Outbound6 = Outbound<Lease6>;

/// How a set of lease changes concerns the partner (backups get every change).
pub enum Delivery {
    /// Send now; the completion gets the partner's (and, with wait-backup-ack, the backups')
    /// answer, and the clients' replies wait for it.
    Acked(Completion),
    /// Keep for when the partner can be reached again (communication-recovery).
    Queued,
    /// Not for the partner (it is down); for the backups only.
    BackupsOnly,
}

impl<L> Outbound<L> {
    /// Fails the completion of changes that cannot be delivered.
    pub fn fail(self) {
        if let Delivery::Acked(done) = self.delivery {
            done(false);
        }
    }
}

/// A change of this server's failover state, announced on [`HaPort::state_changes`] (the
/// northbound turns it into a notification).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange {
    /// The state left.
    pub previous: super::state::State,
    /// The state entered.
    pub state: super::state::State,
    /// The partner's state as last heard, if known.
    pub partner: Option<super::state::State>,
    /// Whether the machine is paused in `state`, waiting for ha-continue. A change with
    /// `state` equal to `previous` reports a pause starting or ending.
    pub paused: bool,
}

/// State changes kept for a slow listener; beyond that the oldest are lost (a listener
/// misses transitions, the failover never waits for it).
const STATE_CHANGE_QUEUE: usize = 64;

/// The engines' failover connections, fixed for the life of the process; the relationship
/// behind them comes and goes with the configuration.
pub struct HaPort {
    /// The relationship, when one is configured.
    pub shared: ArcSwapOption<HaShared>,
    /// Requests from the peer link for the DHCPv4 engine.
    pub inbox4: Inbox<PeerRequest4>,
    /// Requests from the peer link for the DHCPv6 engine.
    pub inbox6: Inbox<PeerRequest6>,
    /// DHCPv4 lease changes to the peer link.
    pub outbound4: mpsc::UnboundedSender<Outbound4>,
    /// DHCPv6 lease changes to the peer link.
    pub outbound6: mpsc::UnboundedSender<Outbound6>,
    /// Commands for the state machine (the partner's, the operator's).
    pub commands: mpsc::UnboundedSender<MachineCommand>,
    /// Every change of this server's failover state; subscribe to hear them.
    pub state_changes: tokio::sync::broadcast::Sender<StateChange>,
}

/// The failover service's ends of the port's queues.
pub struct PortReceivers {
    /// DHCPv4 lease changes.
    pub outbound4: mpsc::UnboundedReceiver<Outbound4>,
    /// DHCPv6 lease changes.
    pub outbound6: mpsc::UnboundedReceiver<Outbound6>,
    /// Commands for the state machine.
    pub commands: mpsc::UnboundedReceiver<MachineCommand>,
}

impl HaPort {
    /// A port and the receiving ends of its queues.
    pub fn new() -> std::io::Result<(Arc<HaPort>, PortReceivers)> {
        let (outbound4, outbound4_rx) = mpsc::unbounded_channel();
        let (outbound6, outbound6_rx) = mpsc::unbounded_channel();
        let (commands, commands_rx) = mpsc::unbounded_channel();
        Ok((
            Arc::new(HaPort {
                shared: ArcSwapOption::empty(),
                inbox4: Inbox::new()?,
                inbox6: Inbox::new()?,
                outbound4,
                outbound6,
                commands,
                state_changes: tokio::sync::broadcast::channel(STATE_CHANGE_QUEUE).0,
            }),
            PortReceivers {
                outbound4: outbound4_rx,
                outbound6: outbound6_rx,
                commands: commands_rx,
            },
        ))
    }

    /// Hands `event` to the running relationship's state machine and waits for its verdict.
    pub async fn command(&self, event: super::state::Event) -> super::peer_commands::Verdict {
        let (answer, verdict) = tokio::sync::oneshot::channel();
        self.commands
            .send(MachineCommand { event, answer })
            .map_err(|_| "the failover service is stopping".to_string())?;
        verdict
            .await
            .unwrap_or_else(|_| Err("the failover service is stopping".to_string()))
    }
}

/// Collects a decision's lease changes for the peer link (when the partner or backups get
/// them) and counts those the partner will never hear of: its next heartbeat shows that count
/// grown, and it resyncs before serving again.
pub fn note_changes<L: Clone>(
    ha: &HaShared,
    updates: LeaseUpdates,
    writes: &[L],
    for_partner: &mut Vec<L>,
) {
    if updates != LeaseUpdates::Off || ha.has_backups() {
        for_partner.extend(writes.iter().cloned());
    }
    if updates == LeaseUpdates::Off && !writes.is_empty() {
        ha.counters
            .unsent_updates
            .fetch_add(writes.len() as u64, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The partner's part in a batch of lease changes: with updates on, the replies wait for its
/// acknowledgement; queued (partner unreachable in communication-recovery), the changes wait
/// for the link to return and the replies do not; off (partner down), only backups get them.
pub fn partner_leg<L: Send + 'static>(
    queue: &mpsc::UnboundedSender<Outbound<L>>,
    updates: LeaseUpdates,
    leases: Vec<L>,
) -> Option<PartnerLeg> {
    if leases.is_empty() {
        return None;
    }
    let delivery = match updates {
        LeaseUpdates::Send => {
            let queue = queue.clone();
            return Some(Box::new(move |done| {
                let item = Outbound {
                    leases,
                    delivery: Delivery::Acked(done),
                };
                // A closed queue means the peer link stopped with the process.
                if let Err(unsent) = queue.send(item) {
                    unsent.0.fail();
                }
            }));
        }
        LeaseUpdates::Queue => Delivery::Queued,
        LeaseUpdates::Off => Delivery::BackupsOnly,
    };
    let _ = queue.send(Outbound { leases, delivery });
    None
}

/// The partner's part in an operator's change (delete-lease, set-lease4): it goes to the
/// partner like a change the server made itself. None for other apply modes, or alone.
pub fn operator_leg<L: Clone + Send + 'static>(
    port: &HaPort,
    queue: &mpsc::UnboundedSender<Outbound<L>>,
    mode: ApplyMode,
    changed: Vec<L>,
) -> Option<PartnerLeg> {
    let ha = port
        .shared
        .load_full()
        .filter(|_| mode == ApplyMode::Operator)?;
    let updates = ha.lease_updates();
    let mut for_partner = Vec::new();
    note_changes(&ha, updates, &changed, &mut for_partner);
    partner_leg(queue, updates, for_partner)
}

/// How long a sorted snapshot of lease keys serves page requests before it is rebuilt.
/// Leases added after it are not missed by a partner syncing from us: a Kea partner disables
/// our service for the sync, a netdhcp partner receives them as updates.
const SNAPSHOT_TTL: Duration = Duration::from_secs(30);

/// Serves lease pages (lease4-get-page, lease6-get-page) in address order without keeping an
/// ordered index on the packet path: the first page of a sync sorts the keys once (about
/// 0.1 s per million leases), later pages binary-search that snapshot.
pub struct Pager<K> {
    snapshot: Vec<K>,
    built: Option<Instant>,
}

impl<K> Default for Pager<K> {
    fn default() -> Self {
        Pager {
            snapshot: Vec::new(),
            built: None,
        }
    }
}

/// A key a page can be resumed after: pages end between addresses, never between two leases
/// of one address (a DHCPv6 address may hold an IA_NA and an IA_PD lease).
pub trait PageKey: Ord + Copy {
    /// The address part of the key.
    fn address_bits(&self) -> u128;
}

impl PageKey for u32 {
    fn address_bits(&self) -> u128 {
        u128::from(*self)
    }
}

impl<T: Ord + Copy> PageKey for (u128, T) {
    fn address_bits(&self) -> u128 {
        self.0
    }
}

/// Leases an engine looks at for one filtered page request at most (a few milliseconds): a
/// filter that keeps few of millions of leases ends the page early rather than holding the
/// engine for the whole walk.
pub const FILTERED_VISITS: usize = 32_768;

/// What [`Pager::page`] found.
#[derive(Debug)]
pub struct PageOf<L, K> {
    /// The leases, in key order.
    pub leases: Vec<L>,
    /// Set when the visit bound ended the page before it was full and more keys follow: the
    /// last key looked at, to resume after.
    pub stopped_after: Option<K>,
}

impl<K: PageKey> Pager<K> {
    /// Up to `limit` leases with keys above `after` (from the lowest when `None`), looking at
    /// no more than `visits` keys (past that, at the end of the current address). `keys`
    /// lists every key (read only when the snapshot is rebuilt); `get` fetches a lease that
    /// still exists and is wanted.
    pub fn page<L>(
        &mut self,
        keys: impl Iterator<Item = K>,
        after: Option<K>,
        limit: u32,
        visits: usize,
        get: impl Fn(K) -> Option<L>,
    ) -> PageOf<L, K> {
        let stale = self.built.is_none_or(|t| t.elapsed() > SNAPSHOT_TTL);
        if after.is_none() || stale {
            self.snapshot = keys.collect();
            self.snapshot.sort_unstable();
            self.built = Some(Instant::now());
        }
        let start = after.map_or(0, |f| self.snapshot.partition_point(|k| *k <= f));
        let rest = &self.snapshot[start..];
        let mut leases = Vec::new();
        for (i, &key) in rest.iter().enumerate() {
            if leases.len() >= limit as usize {
                break;
            }
            let next_address = rest.get(i + 1).map(PageKey::address_bits);
            if let Some(lease) = get(key) {
                leases.push(lease);
            }
            if i + 1 >= visits
                && leases.len() < limit as usize
                && next_address.is_some_and(|n| n != key.address_bits())
            {
                return PageOf {
                    leases,
                    stopped_after: Some(key),
                };
            }
        }
        PageOf {
            leases,
            stopped_after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::{HwAddr, LeaseState, LeaseStore4};
    use std::net::Ipv4Addr;

    fn lease(last: u8) -> Lease4 {
        Lease4 {
            address: Ipv4Addr::new(100, 64, 0, last),
            hwaddr: HwAddr::from_bytes(&[0, 0x0c, 0, 0, 0, last]).unwrap(),
            client_id: None,
            valid_lifetime: 3600,
            expire: 1_000_000,
            subnet_id: 1,
            fqdn_fwd: false,
            fqdn_rev: false,
            hostname: None,
            state: LeaseState::Default,
            user_context: None,
        }
    }

    fn page4(
        pager: &mut Pager<u32>,
        store: &LeaseStore4,
        from: Option<Ipv4Addr>,
        limit: u32,
    ) -> Vec<Lease4> {
        pager
            .page(
                store.iter().map(|l| u32::from(l.address)),
                from.map(u32::from),
                limit,
                usize::MAX,
                |k| store.get(Ipv4Addr::from(k)).cloned(),
            )
            .leases
    }

    #[test]
    fn pages_walk_every_lease_once_in_address_order() {
        let mut store = LeaseStore4::new();
        for last in [9u8, 3, 200, 7, 1, 50] {
            store.upsert(lease(last));
        }
        let mut pager = Pager::default();
        let mut seen = Vec::new();
        let mut from = None;
        loop {
            let page = page4(&mut pager, &store, from, 4);
            if page.is_empty() {
                break;
            }
            from = page.last().map(|l| l.address);
            seen.extend(page.iter().map(|l| l.address.octets()[3]));
        }
        assert_eq!(seen, vec![1, 3, 7, 9, 50, 200]);
    }

    #[test]
    fn a_filtered_page_stops_at_the_visit_bound_between_addresses() {
        let keys: Vec<(u128, u8)> = vec![(1, 0), (2, 0), (2, 1), (3, 0), (4, 0)];
        let mut pager = Pager::default();
        // Keeps only address 4: two visits end the page after all of address 2.
        let keep4 = |k: (u128, u8)| (k.0 == 4).then_some(k);
        let first = pager.page(keys.iter().copied(), None, 10, 2, keep4);
        assert!(first.leases.is_empty());
        assert_eq!(first.stopped_after, Some((2, 1)));
        let second = pager.page(keys.iter().copied(), first.stopped_after, 10, 2, keep4);
        assert_eq!(
            (second.leases, second.stopped_after),
            (vec![(4, 0)], None),
            "the keys ran out within the bound"
        );
        let one_visit = pager.page(keys.iter().copied(), Some((1, 0)), 10, 1, keep4);
        assert_eq!(
            one_visit.stopped_after,
            Some((2, 1)),
            "never between two leases of one address"
        );
        // A full page is not "stopped": the caller resumes after its last lease.
        let full = pager.page(keys.iter().copied(), None, 1, 1, Some);
        assert_eq!((full.leases, full.stopped_after), (vec![(1, 0)], None));
    }

    #[test]
    fn leases_removed_after_the_snapshot_are_skipped() {
        let mut store = LeaseStore4::new();
        for last in 1..=5u8 {
            store.upsert(lease(last));
        }
        let mut pager = Pager::default();
        let first = page4(&mut pager, &store, None, 2);
        store.remove(Ipv4Addr::new(100, 64, 0, 3));
        let second = page4(&mut pager, &store, first.last().map(|l| l.address), 10);
        let got: Vec<u8> = second.iter().map(|l| l.address.octets()[3]).collect();
        assert_eq!(got, vec![4, 5]);
    }
}
