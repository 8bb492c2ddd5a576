//! The DHCPv4 engine's side of failover: what it reads per packet (the relationship's shared
//! state, absent when the server runs alone), the inbox through which the peer link asks it to
//! apply or list leases, and the queue of lease changes it hands to the peer link.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use tokio::sync::mpsc;

use super::inbox::{Inbox, PeerRequest4};
use super::peer_commands::MachineCommand;
use super::shared::HaShared;
use crate::engine::Completion;
use crate::lease::{Lease4, LeaseStore4};

/// Lease changes for the partner and the backups. A lease with valid lifetime 0 is a
/// deletion.
pub struct Outbound4 {
    /// The changed leases.
    pub leases: Vec<Lease4>,
    /// What the partner does with them.
    pub delivery: Delivery,
}

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

impl Outbound4 {
    /// Fails the completion of changes that cannot be delivered.
    pub fn fail(self) {
        if let Delivery::Acked(done) = self.delivery {
            done(false);
        }
    }
}

/// The engine's failover connections, fixed for the life of the process; the relationship
/// behind them comes and goes with the configuration.
pub struct HaPort4 {
    /// The relationship, when one is configured.
    pub shared: ArcSwapOption<HaShared>,
    /// Requests from the peer link.
    pub inbox: Inbox<PeerRequest4>,
    /// Lease changes to the peer link.
    pub outbound: mpsc::UnboundedSender<Outbound4>,
    /// Commands for the state machine (the partner's, the operator's).
    pub commands: mpsc::UnboundedSender<MachineCommand>,
}

/// The failover service's ends of the port's queues.
pub struct PortReceivers {
    /// Lease changes from the engine.
    pub outbound: mpsc::UnboundedReceiver<Outbound4>,
    /// Commands for the state machine.
    pub commands: mpsc::UnboundedReceiver<MachineCommand>,
}

impl HaPort4 {
    /// A port and the receiving ends of its queues.
    pub fn new() -> std::io::Result<(Arc<HaPort4>, PortReceivers)> {
        let (outbound, outbound_rx) = mpsc::unbounded_channel();
        let (commands, commands_rx) = mpsc::unbounded_channel();
        Ok((
            Arc::new(HaPort4 {
                shared: ArcSwapOption::empty(),
                inbox: Inbox::new()?,
                outbound,
                commands,
            }),
            PortReceivers {
                outbound: outbound_rx,
                commands: commands_rx,
            },
        ))
    }

    /// Hands `event` to the running relationship's state machine and waits for its verdict.
    pub async fn command(&self, event: super::state::Event) -> Result<(), String> {
        let (answer, verdict) = tokio::sync::oneshot::channel();
        self.commands
            .send(MachineCommand { event, answer })
            .map_err(|_| "the failover service is stopping".to_string())?;
        verdict
            .await
            .unwrap_or_else(|_| Err("the failover service is stopping".to_string()))
    }
}

/// How long a sorted snapshot of lease addresses serves page requests before it is rebuilt.
/// Leases added after it are not missed by a partner syncing from us: a Kea partner disables
/// our service for the sync, a netdhcp partner receives them as updates.
const SNAPSHOT_TTL: Duration = Duration::from_secs(30);

/// Serves lease4-get-page in address order without keeping an ordered index on the packet
/// path: the first page of a sync sorts the addresses once (about 0.1 s per million leases),
/// later pages binary-search that snapshot.
#[derive(Default)]
pub struct Pager {
    snapshot: Vec<u32>,
    built: Option<Instant>,
}

impl Pager {
    /// Up to `limit` leases with addresses above `from` (from the lowest when `None`).
    pub fn page(&mut self, store: &LeaseStore4, from: Option<Ipv4Addr>, limit: u32) -> Vec<Lease4> {
        let stale = self.built.is_none_or(|t| t.elapsed() > SNAPSHOT_TTL);
        if from.is_none() || stale {
            self.snapshot = store.iter().map(|l| u32::from(l.address)).collect();
            self.snapshot.sort_unstable();
            self.built = Some(Instant::now());
        }
        let start = from.map_or(0, |f| {
            let f = u32::from(f);
            self.snapshot.partition_point(|a| *a <= f)
        });
        self.snapshot[start..]
            .iter()
            .filter_map(|a| store.get(Ipv4Addr::from(*a)))
            .take(limit as usize)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::{HwAddr, LeaseState};

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
            let page = pager.page(&store, from, 4);
            if page.is_empty() {
                break;
            }
            from = page.last().map(|l| l.address);
            seen.extend(page.iter().map(|l| l.address.octets()[3]));
        }
        assert_eq!(seen, vec![1, 3, 7, 9, 50, 200]);
    }

    #[test]
    fn leases_removed_after_the_snapshot_are_skipped() {
        let mut store = LeaseStore4::new();
        for last in 1..=5u8 {
            store.upsert(lease(last));
        }
        let mut pager = Pager::default();
        let first = pager.page(&store, None, 2);
        store.remove(Ipv4Addr::new(100, 64, 0, 3));
        let second = pager.page(&store, first.last().map(|l| l.address), 10);
        let got: Vec<u8> = second.iter().map(|l| l.address.octets()[3]).collect();
        assert_eq!(got, vec![4, 5]);
    }
}
