//! The DHCPv4 engine thread: receives batches from the sockets, runs the policy on the current
//! configuration snapshot, hands lease rows to the memfile writer and sends each reply once its
//! lease is durable. It owns the lease state; nothing else touches it.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use ipnet::Ipv4Net;

use crate::config::{Ingress, RuntimeConfig};
use crate::dhcp4::{self, Arrival, Destination, LeaseState4, Packet, Reply};
use crate::engine::{self, unix_now, DurableBatch, Leg};
use crate::ha::inbox::{
    answer_when_durable, ApplyMode, ApplyReport, InboxError, LeasePage, PeerRequest4,
};
use crate::ha::port::{note_changes, operator_leg, partner_leg, HaPort, Pager, FILTERED_VISITS};
use crate::ha::LeaseUpdates;
use crate::lease::memfile::csv4;
use crate::lease::memfile::MemfileWriter;
use crate::lease::Lease4;
use crate::net::iface;
use crate::net::mmsg::{RecvBatch, MAX_DATAGRAM};
use crate::net::socket4::{Socket4, SocketError};
use crate::northbound::commit::{Reservation, Subsystem};
use crate::stats::{Counters4, PoolUsage4, Usage4};
use netconf::error::RpcError;

/// Packets taken from one socket per wake-up (one `recvmmsg`) before the batch is committed.
const BATCH: usize = 64;
/// Expired leases reclaimed per pass, so a mass expiry does not stall the packet path.
const RECLAIM_PER_PASS: usize = 10_000;

crate::engine_socket!(Socket4, SocketError);

/// The sockets the engine serves, and a new set waiting for the engine to take it after a
/// commit.
pub type Sockets = engine::SocketSet<Socket4>;

/// Shared between the engine and the commit pipeline.
pub type SharedSockets = engine::Shared<Socket4>;

/// Opens (or reuses, from `existing`) a socket on every interface `config` serves. Fails on the
/// first interface that cannot be served, naming it.
pub fn open_sockets(
    config: &RuntimeConfig,
    existing: &HashMap<String, Arc<Socket4>>,
) -> Result<Vec<Arc<Socket4>>, SocketError> {
    engine::open_sockets(config.dhcp4.enabled, &config.dhcp4.interfaces, existing)
}

/// A socket set for the engine's first configuration.
pub fn initial_sockets(config: &RuntimeConfig) -> Result<SharedSockets, SocketError> {
    Ok(engine::initial_sockets(open_sockets(
        config,
        &HashMap::new(),
    )?))
}

/// The DHCPv4 server as the commit pipeline sees it: prepare opens the sockets a new
/// configuration needs (so a missing interface fails the commit, not the server), apply hands
/// them to the engine.
pub struct Dhcp4Subsystem {
    /// The engine's sockets.
    pub sockets: SharedSockets,
}

impl Subsystem for Dhcp4Subsystem {
    fn name(&self) -> &'static str {
        "dhcpv4"
    }

    fn prepare(
        &self,
        current: &RuntimeConfig,
        next: &RuntimeConfig,
    ) -> Result<Reservation, RpcError> {
        let (now, then) = (&current.lease_db, &next.lease_db);
        engine::unchanged(
            &now.memfile_v4,
            &then.memfile_v4,
            "memfile-v4",
            "the lease file",
        )?;
        engine::unchanged(
            &now.durability,
            &then.durability,
            "durability",
            "durability",
        )?;
        engine::prepare_sockets(&self.sockets, yang::paths::DHCPV4, |existing| {
            open_sockets(next, existing)
        })
    }

    fn apply(&self, reservation: Reservation) {
        engine::apply_sockets(&self.sockets, reservation);
    }
}

/// The engine and what it owns.
pub struct Engine4 {
    config: Arc<ArcSwap<RuntimeConfig>>,
    applied: Option<Arc<RuntimeConfig>>,
    state: LeaseState4,
    writer: Arc<MemfileWriter>,
    shared_sockets: SharedSockets,
    sockets: Vec<Arc<Socket4>>,
    addresses: HashMap<String, Vec<Ipv4Net>>,
    counters: Arc<Counters4>,
    usage: Arc<ArcSwap<Usage4>>,
    shutdown: Arc<AtomicBool>,
    ha: Arc<HaPort>,
    pager: Pager<u32>,
}

impl Engine4 {
    /// An engine over loaded leases and opened sockets.
    // Each argument is a separate handle start-up shares with another part of the daemon.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Arc<ArcSwap<RuntimeConfig>>,
        state: LeaseState4,
        writer: Arc<MemfileWriter>,
        sockets: SharedSockets,
        counters: Arc<Counters4>,
        usage: Arc<ArcSwap<Usage4>>,
        shutdown: Arc<AtomicBool>,
        ha: Arc<HaPort>,
    ) -> Self {
        Engine4 {
            config,
            applied: None,
            state,
            writer,
            shared_sockets: sockets,
            sockets: Vec::new(),
            addresses: HashMap::new(),
            counters,
            usage,
            shutdown,
            ha,
            pager: Pager::default(),
        }
    }

    /// Takes up a newly committed configuration (and sockets); true if there was one.
    fn apply_if_changed(&mut self) -> bool {
        let current = self.config.load_full();
        if self
            .applied
            .as_ref()
            .is_some_and(|a| Arc::ptr_eq(a, &current))
        {
            return false;
        }

        let started = Instant::now();
        engine::adopt_pending(&self.shared_sockets, &mut self.sockets, "DHCPv4");
        self.state.reconfigure(&current.dhcp4, unix_now());
        self.count_declined_per_pool(&current);
        self.refresh_addresses();
        tracing::info!(
            subnets = current.dhcp4.subnets.len(),
            leases = self.state.store.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "DHCPv4 configuration applied"
        );
        // Readers see the new pools at once, not at the next periodic refresh.
        self.publish_usage(&current);
        self.applied = Some(current);
        true
    }

    fn refresh_addresses(&mut self) {
        match iface::ipv4_addresses() {
            Ok(a) => self.addresses = a,
            Err(e) => tracing::warn!(error = %e, "cannot read interface addresses"),
        }
    }

    /// Runs until shutdown is requested.
    pub fn run(mut self) {
        let mut slots = RecvBatch::new(BATCH, MAX_DATAGRAM, false);
        let mut housekeeping = engine::Housekeeping::new();
        let mut last_usage = Instant::now() - engine::USAGE_PERIOD;
        let mut pollfds: Vec<libc::pollfd> = Vec::new();
        while !self.shutdown.load(Ordering::Relaxed) {
            let mut reads = engine::PassReads::default();
            self.apply_if_changed();
            let Some(config) = self.applied.clone() else {
                break;
            };
            // A commit may have changed the interfaces served. The peer link's inbox is
            // polled after the sockets.
            if !engine::polls(&pollfds[..pollfds.len().saturating_sub(1)], &self.sockets)
                || pollfds.len() != self.sockets.len() + 1
            {
                engine::sync_pollfds(&mut pollfds, &self.sockets);
                pollfds.push(libc::pollfd {
                    fd: self.ha.inbox4.fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }

            // SAFETY: pollfds is a valid array of initialised pollfd for the call's duration.
            let ready =
                unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, 200) };
            // A commit whose reply went out while we waited governs every packet after it:
            // take it up first (the waiting packets stay queued in their sockets).
            if self.apply_if_changed() {
                continue;
            }
            if ready > 0 {
                let sockets = self.sockets.len();
                for (i, pfd) in pollfds.iter_mut().enumerate() {
                    if pfd.revents == 0 {
                        continue;
                    }
                    pfd.revents = 0;
                    if i < sockets {
                        let socket = self.sockets[i].clone();
                        reads.add(self.serve_batch(&config, &socket, &mut slots), BATCH);
                    } else {
                        self.serve_peer_requests(&config);
                    }
                }
            }
            if housekeeping.reclaim_due(config.dhcp4.reclaim_interval) {
                self.reclaim(&config);
            }
            if housekeeping.compaction_due(config.lease_db.compaction_interval) {
                engine::start_compaction(&self.writer, "compaction", "");
            }
            if housekeeping.address_refresh_due() {
                self.refresh_addresses();
            }
            if last_usage.elapsed() >= engine::USAGE_PERIOD {
                last_usage = Instant::now();
                self.publish_usage(&config);
            }
            if let Some(wait) = reads.wait(config.dhcp4.receive_coalescing) {
                std::thread::sleep(wait);
            }
        }
        tracing::info!(counters = %self.counters.summary(), "DHCPv4 engine stopped");
    }

    fn serve_batch(
        &mut self,
        config: &RuntimeConfig,
        socket: &Arc<Socket4>,
        slots: &mut RecvBatch,
    ) -> usize {
        // Everything waiting, in one call: under load that is the wake-up's group commit.
        let received = match socket.recv_batch(slots) {
            Ok(0) => return 0,
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(iface = socket.iface(), error = %e, "receive failed");
                return 0;
            }
        };
        let mut batch: DurableBatch<Socket4, Reply> = DurableBatch::new(socket.clone());
        let no_addresses = Vec::new();
        let addresses = self
            .addresses
            .get(socket.iface())
            .unwrap_or(&no_addresses)
            .clone();
        let server_id = config
            .dhcp4
            .server_identifier
            .or_else(|| addresses.first().map(|n| n.addr()))
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        let ha = self.ha.shared.load_full();
        // A configured relationship not (yet) running answers nobody: until the driver knows
        // the partner's state, answering could give out an address the partner gave.
        let ha_pending = config.ha.is_some() && ha.is_none();
        let updates = ha.as_ref().map_or(LeaseUpdates::Off, |h| h.lease_updates());
        self.state
            .set_address_split(ha.as_ref().and_then(|h| h.address_split()));
        let mut for_partner: Vec<Lease4> = Vec::new();
        for datagram in slots.datagrams() {
            let from = datagram.from;
            self.counters.received.fetch_add(1, Ordering::Relaxed);
            let packet = match Packet::parse(datagram.bytes) {
                Ok(p) => p,
                Err(e) => {
                    self.counters.malformed(&e);
                    tracing::debug!(iface = socket.iface(), %from, error = %e, "malformed packet dropped");
                    continue;
                }
            };
            self.counters.received(packet.message_type());
            if ha_pending {
                continue;
            }
            if let Some(ha) = &ha {
                let waited_ms = u64::from(packet.secs()) * 1000;
                if !ha.admits(packet.client_id(), packet.chaddr(), waited_ms) {
                    continue;
                }
            }
            let arrival = Arrival {
                ingress: Ingress {
                    interface: socket.iface(),
                    addresses: &addresses,
                },
                server_id,
                now: unix_now(),
            };
            let decision = dhcp4::handle(&config.dhcp4, &mut self.state, &packet, &arrival);
            if let Some(ha) = &ha {
                note_changes(ha, updates, &decision.writes, &mut for_partner);
            }
            let silence = batch.add(&decision.writes, csv4::format_row, decision.reply);
            if let Err(why) = silence {
                tracing::trace!(?why, "no reply");
                self.counters.silence(why);
            }
        }
        let partner = partner_leg(&self.ha.outbound4, updates, for_partner);
        batch.submit(
            &self.writer,
            &self.counters,
            send,
            |c, leg| match leg {
                Leg::Disk => &c.lease_write_failed,
                Leg::Partner => &c.partner_update_failed,
            },
            partner,
        );
        received
    }

    /// Carries out what the peer link asked: apply the partner's lease changes (answered once
    /// durable) or list a page of ours.
    fn serve_peer_requests(&mut self, config: &RuntimeConfig) {
        for request in self.ha.inbox4.drain() {
            match request {
                PeerRequest4::Apply {
                    leases,
                    deleted,
                    mode,
                    done,
                } => self.apply_partner_leases(config, leases, &deleted, mode, done),
                PeerRequest4::GetPage {
                    from,
                    limit,
                    filter,
                    done,
                } => {
                    let store = &self.state.store;
                    let visits = if filter.is_some() {
                        FILTERED_VISITS
                    } else {
                        usize::MAX
                    };
                    let keep = |l: &&Lease4| filter.as_ref().is_none_or(|f| f(l));
                    let page = self.pager.page(
                        store.iter().map(|l| u32::from(l.address)),
                        from.map(u32::from),
                        limit,
                        visits,
                        |a| store.get(Ipv4Addr::from(a)).filter(keep).cloned(),
                    );
                    // The requester may have given up (timeout); nothing to undo.
                    let _ = done.send(LeasePage {
                        leases: page.leases,
                        resume_after: page.stopped_after.map(Ipv4Addr::from),
                    });
                }
                PeerRequest4::Lookup(look) => look(&self.state.store),
                PeerRequest4::Reclaim { done } => {
                    let total = engine::reclaim_all(RECLAIM_PER_PASS, || self.reclaim(config));
                    let _ = done.send(total);
                }
            }
        }
    }

    fn apply_partner_leases(
        &mut self,
        config: &RuntimeConfig,
        leases: Vec<Lease4>,
        deleted: &[Ipv4Addr],
        mode: ApplyMode,
        done: tokio::sync::oneshot::Sender<Result<ApplyReport, InboxError>>,
    ) {
        let now = unix_now();
        let mut report = ApplyReport::default();
        let mut rows = Vec::new();
        let mut changed = Vec::new();
        for lease in leases {
            let only_if_newer = mode == ApplyMode::Sync;
            match self
                .state
                .apply_partner_lease(&config.dhcp4, lease, only_if_newer, now)
            {
                Some((written, conflict)) => {
                    if conflict {
                        report.conflicts += 1;
                        tracing::warn!(address = %written.address, ?mode, "a lease from the partner or the operator replaces another client's lease");
                    }
                    report.applied += 1;
                    csv4::format_row(&written, &mut rows);
                    changed.push(written);
                }
                None => report.kept_newer += 1,
            }
        }
        for addr in deleted {
            if let Some(gone) = self.state.delete_partner_lease(&config.dhcp4, *addr) {
                report.deleted += 1;
                csv4::format_row(&gone, &mut rows);
                changed.push(gone);
            }
        }
        let partner = operator_leg(&self.ha, &self.ha.outbound4, mode, changed);
        answer_when_durable(&self.writer, rows, report, done, partner);
    }

    // The store keeps a running declined count for each pool from now on.
    fn count_declined_per_pool(&mut self, config: &RuntimeConfig) {
        let pools: Vec<(Ipv4Addr, Ipv4Addr)> = config
            .dhcp4
            .subnets
            .iter()
            .flat_map(|s| self.state.pool_usage(s.id))
            .map(|(start, end, _)| (start, end))
            .collect();
        self.state.store.set_declined_ranges(pools);
    }

    // Pool counters are kept by the free maps, so this costs a few words per pool, not a walk
    // over the leases; the store keeps a running declined count per pool.
    fn publish_usage(&self, config: &RuntimeConfig) {
        let subnets = config
            .dhcp4
            .subnets
            .iter()
            .map(|s| {
                let pools = self
                    .state
                    .pool_usage(s.id)
                    .into_iter()
                    .map(|(start, end, used)| PoolUsage4 {
                        start,
                        end,
                        total: u64::from(u32::from(end)) - u64::from(u32::from(start)) + 1,
                        in_use: u64::from(used),
                        declined: self.state.store.declined_in(start, end),
                    })
                    .collect();
                (s.id, pools)
            })
            .collect();
        self.usage.store(Arc::new(Usage4 {
            leases: self.state.store.len() as u64,
            subnets,
        }));
    }

    /// Reclaims up to a pass of expired leases; returns how many.
    fn reclaim(&mut self, config: &RuntimeConfig) -> usize {
        let rows = self
            .state
            .reclaim(&config.dhcp4, unix_now(), RECLAIM_PER_PASS);
        engine::submit_reclaimed(
            &self.writer,
            &rows,
            csv4::format_row,
            &self.counters.reclaimed,
            "",
        );
        rows.len()
    }
}

/// Sends `replies` in as few system calls as the kernel allows, counting each outcome.
fn send(counters: &Counters4, socket: &Socket4, replies: &[Reply]) {
    let datagrams: Vec<(&[u8], Destination)> = replies
        .iter()
        .map(|r| (r.bytes.as_slice(), r.destination))
        .collect();
    socket.send_batch(&datagrams, |i, outcome| match outcome {
        Ok(()) => counters.sent(replies[i].kind),
        Err(e) => {
            counters.send_failed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(iface = socket.iface(), error = %e, destination = ?replies[i].destination, "send failed");
        }
    });
}
