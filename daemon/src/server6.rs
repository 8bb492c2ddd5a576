//! The DHCPv6 engine thread: receives batches from the sockets, runs the policy on the current
//! configuration snapshot, hands lease rows to its memfile writer and sends each reply once its
//! leases are durable. It owns the v6 lease state; nothing else touches it.

use std::collections::HashMap;
use std::io::Write;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use arc_swap::ArcSwap;
use ipnet::Ipv6Net;

use crate::config::{Durability, Ingress6, RuntimeConfig};
use crate::dhcp6::packet::msg;
use crate::dhcp6::{self, Arrival6, DecodeError, LeaseState6, Packet, Reply6, Silence6};
use crate::engine::{self, unix_now, DurableBatch, Leg};
use crate::ha::inbox::{
    answer_when_durable, ApplyMode, ApplyReport, InboxError, LeasePage, PeerRequest6,
};
use crate::ha::port::{note_changes, operator_leg, partner_leg, HaPort, Pager, FILTERED_VISITS};
use crate::ha::LeaseUpdates;
use crate::lease::memfile::{self, csv6, MemfileWriter};
use crate::lease::record6::{LeaseKey6, LeaseType6};
use crate::lease::Lease6;
use crate::net::iface6;
use crate::net::mmsg::{RecvBatch, MAX_DATAGRAM};
use crate::net::socket6::{Received, Socket6, SocketError6};
use crate::northbound::commit::{Reservation, Subsystem};
use crate::stats::{PoolKind6, PoolUsage6, Usage6};
use netconf::error::RpcError;

/// Datagrams taken from one socket per wake-up before the batch is committed.
const BATCH: usize = 64;
/// Expired leases reclaimed per pass.
const RECLAIM_PER_PASS: usize = 10_000;
/// File in the state directory holding the server DUID, as hex.
pub const DUID_FILE: &str = "dhcp6-server-duid";

/// DHCPv6 counters. Relaxed atomics: each is an independent tally.
#[derive(Debug, Default)]
pub struct Counters6 {
    /// Datagrams received.
    pub received: AtomicU64,
    /// Received, by innermost message type 1..=13.
    pub received_by_type: [AtomicU64; 14],
    /// Sent, by innermost message type 1..=13.
    pub sent_by_type: [AtomicU64; 14],
    /// Datagrams refused by the decoder.
    pub malformed: AtomicU64,
    /// Messages left unanswered because no subnet matched.
    pub no_subnet: AtomicU64,
    /// Messages dropped by the identifier rules or addressed to another server.
    pub not_for_us: AtomicU64,
    /// Other silences.
    pub silent_other: AtomicU64,
    /// Replies dropped because their leases could not be written.
    pub lease_write_failed: AtomicU64,
    /// Replies withheld because the failover partner did not acknowledge their leases.
    pub partner_update_failed: AtomicU64,
    /// Replies the socket refused.
    pub send_failed: AtomicU64,
    /// Leases reclaimed after expiry.
    pub reclaimed: AtomicU64,
    /// Lease records held now (addresses and prefixes, any state).
    pub leases: AtomicU64,
}

impl Counters6 {
    fn by_type(table: &[AtomicU64; 14], kind: u8) {
        if let Some(c) = table.get(usize::from(kind)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn silence(&self, why: Silence6) {
        let c = match why {
            Silence6::NoSubnet => &self.no_subnet,
            Silence6::NoClientId | Silence6::ServerIdRule | Silence6::OtherServer => {
                &self.not_for_us
            }
            _ => &self.silent_other,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    fn malformed(&self, _why: &DecodeError) {
        self.malformed.fetch_add(1, Ordering::Relaxed);
    }

    /// A one-line summary for logs.
    pub fn summary(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "received={} solicit={} request={} renew={} advertise={} reply={} malformed={} no_subnet={} not_for_us={} write_failed={} send_failed={}",
            get(&self.received),
            get(&self.received_by_type[usize::from(msg::SOLICIT)]),
            get(&self.received_by_type[usize::from(msg::REQUEST)]),
            get(&self.received_by_type[usize::from(msg::RENEW)]),
            get(&self.sent_by_type[usize::from(msg::ADVERTISE)]),
            get(&self.sent_by_type[usize::from(msg::REPLY)]),
            get(&self.malformed),
            get(&self.no_subnet),
            get(&self.not_for_us),
            get(&self.lease_write_failed),
            get(&self.send_failed),
        )
    }
}

/// Reads the server DUID from the state directory, creating a DUID-UUID (RFC 6355, type 4)
/// the first time, so the server keeps one identity across restarts.
pub fn load_or_create_duid(state_dir: &Path) -> std::io::Result<Vec<u8>> {
    let path = state_dir.join(DUID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let digits: String = text.chars().filter(|c| c.is_ascii_hexdigit()).collect();
            let bytes: Option<Vec<u8>> = (0..digits.len() / 2)
                .map(|i| u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).ok())
                .collect();
            match bytes {
                Some(b) if (3..=130).contains(&b.len()) && digits.len().is_multiple_of(2) => {
                    return Ok(b)
                }
                _ => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} does not hold a DUID in hex", path.display()),
                    ))
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut uuid = [0u8; 16];
    std::fs::File::open("/dev/urandom").and_then(|mut f| {
        use std::io::Read;
        f.read_exact(&mut uuid)
    })?;
    uuid[6] = (uuid[6] & 0x0f) | 0x40; // version 4
    uuid[8] = (uuid[8] & 0x3f) | 0x80; // RFC 4122 variant
    let mut duid = vec![0, 4];
    duid.extend_from_slice(&uuid);
    let hex: Vec<String> = duid.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = state_dir.join(format!("{DUID_FILE}.new"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        writeln!(f, "{}", hex.join(":"))?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(state_dir)?.sync_all()?;
    tracing::info!(duid = %hex.join(":"), "DHCPv6 server DUID created");
    Ok(duid)
}

crate::engine_socket!(Socket6, SocketError6);

/// The sockets the engine serves, and a new set waiting for the engine after a commit.
pub type Sockets6 = engine::SocketSet<Socket6>;

/// Shared between the engine and the commit pipeline.
pub type SharedSockets6 = engine::Shared<Socket6>;

/// Opens (or reuses) a socket on every interface `config` serves with DHCPv6.
pub fn open_sockets(
    config: &RuntimeConfig,
    existing: &HashMap<String, Arc<Socket6>>,
) -> Result<Vec<Arc<Socket6>>, SocketError6> {
    engine::open_sockets(config.dhcp6.enabled, &config.dhcp6.interfaces, existing)
}

/// The DHCPv6 server as the commit pipeline sees it: prepare opens the sockets a new
/// configuration needs, apply hands them to the engine.
pub struct Dhcp6Subsystem {
    /// The engine's sockets.
    pub sockets: SharedSockets6,
}

impl Subsystem for Dhcp6Subsystem {
    fn name(&self) -> &'static str {
        "dhcpv6"
    }

    fn prepare(
        &self,
        current: &RuntimeConfig,
        next: &RuntimeConfig,
    ) -> Result<Reservation, RpcError> {
        let (now, then) = (&current.lease_db, &next.lease_db);
        engine::unchanged(
            &now.memfile_v6,
            &then.memfile_v6,
            "memfile-v6",
            "the lease file",
        )?;
        engine::prepare_sockets(&self.sockets, yang::paths::DHCPV6, |existing| {
            open_sockets(next, existing)
        })
    }

    fn apply(&self, reservation: Reservation) {
        engine::apply_sockets(&self.sockets, reservation);
    }
}

/// A started DHCPv6 server: what shutdown needs.
pub struct Started6 {
    /// The engine thread.
    pub engine: JoinHandle<()>,
    /// The v6 memfile writer, flushed at shutdown.
    pub writer: Arc<MemfileWriter>,
    /// Counters.
    pub counters: Arc<Counters6>,
    /// Pool use, refreshed by the engine.
    pub usage: Arc<ArcSwap<Usage6>>,
}

impl Started6 {
    /// Waits for the engine (after shutdown was set) and flushes the lease file.
    pub fn stop(self) {
        if self.engine.join().is_err() {
            tracing::error!("the DHCPv6 engine panicked");
        }
        if let Err(e) = self.writer.flush_and_wait() {
            tracing::error!(error = %e, "DHCPv6 lease file flush at shutdown failed");
        }
    }
}

fn lease_path(state_dir: &Path, configured: &Path) -> PathBuf {
    if configured.is_absolute() {
        configured.to_path_buf()
    } else {
        state_dir.join(configured)
    }
}

/// Loads the v6 leases, opens the v6 memfile and sockets, reads (or creates) the server DUID
/// and starts the engine thread. Errors are messages for the operator.
pub fn start(
    config: Arc<ArcSwap<RuntimeConfig>>,
    state_dir: &Path,
    shutdown: Arc<AtomicBool>,
    ha: Arc<HaPort>,
) -> Result<(Started6, Dhcp6Subsystem), String> {
    let current = config.load_full();
    let file = lease_path(state_dir, &current.lease_db.memfile_v6);
    tracing::info!(file = %file.display(), "loading DHCPv6 leases");
    let (store, report) = memfile::load6(
        &memfile::memfile_files(&file),
        current.lease_db.max_bad_rows,
    )
    .map_err(|e| e.to_string())?;
    let durability = match current.lease_db.durability {
        Durability::Fsync => memfile::Durability::Fsync,
        Durability::None => memfile::Durability::None,
    };
    let writer = Arc::new(MemfileWriter::open_v6(&file, durability).map_err(|e| e.to_string())?);
    writer.stats().rows_loaded(report.rows_read);
    let duid = load_or_create_duid(state_dir)
        .map_err(|e| format!("DHCPv6 server DUID in {}: {e}", state_dir.display()))?;
    let list = open_sockets(&current, &HashMap::new()).map_err(|e| e.to_string())?;
    let sockets = engine::initial_sockets(list);
    let counters = Arc::new(Counters6::default());
    let usage = Arc::new(ArcSwap::from_pointee(Usage6::default()));
    let engine = Engine6 {
        config,
        applied: None,
        state: LeaseState6::new(store),
        writer: writer.clone(),
        shared_sockets: sockets.clone(),
        sockets: Vec::new(),
        addresses: HashMap::new(),
        duid,
        counters: counters.clone(),
        usage: usage.clone(),
        shutdown,
        ha,
        pager: Pager::default(),
    };
    let engine = std::thread::Builder::new()
        .name("dhcp6".into())
        .spawn(move || engine.run())
        .map_err(|e| format!("cannot start the DHCPv6 engine: {e}"))?;
    Ok((
        Started6 {
            engine,
            writer,
            counters,
            usage,
        },
        Dhcp6Subsystem { sockets },
    ))
}

/// The engine and what it owns.
struct Engine6 {
    config: Arc<ArcSwap<RuntimeConfig>>,
    applied: Option<Arc<RuntimeConfig>>,
    state: LeaseState6,
    writer: Arc<MemfileWriter>,
    shared_sockets: SharedSockets6,
    sockets: Vec<Arc<Socket6>>,
    addresses: HashMap<String, Vec<Ipv6Net>>,
    duid: Vec<u8>,
    counters: Arc<Counters6>,
    usage: Arc<ArcSwap<Usage6>>,
    shutdown: Arc<AtomicBool>,
    ha: Arc<HaPort>,
    pager: Pager<(u128, LeaseType6)>,
}

impl Engine6 {
    fn apply_if_changed(&mut self) {
        let current = self.config.load_full();
        if self
            .applied
            .as_ref()
            .is_some_and(|a| Arc::ptr_eq(a, &current))
        {
            return;
        }
        let started = Instant::now();
        engine::adopt_pending(&self.shared_sockets, &mut self.sockets, "DHCPv6");
        self.state.reconfigure(&current.dhcp6, unix_now());
        self.count_declined_per_pool(&current);
        self.refresh_addresses();
        tracing::info!(
            subnets = current.dhcp6.subnets.len(),
            leases = self.state.store.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "DHCPv6 configuration applied"
        );
        // Readers see the new pools at once, not at the next periodic refresh.
        self.publish_usage(&current);
        self.applied = Some(current);
    }

    // The store keeps a running declined count for each pool from now on.
    fn count_declined_per_pool(&mut self, config: &RuntimeConfig) {
        let pools: Vec<(LeaseType6, Ipv6Addr, Ipv6Addr)> = config
            .dhcp6
            .subnets
            .iter()
            .flat_map(|s| self.state.pool_usage(s.id))
            .map(|(start, length, _, total)| {
                (
                    pool_lease_type(length),
                    start,
                    last_slot(start, length, total),
                )
            })
            .collect();
        self.state.store.set_declined_ranges(pools);
    }

    // Pool counters are kept by the free maps: a few words per pool, no walk over the leases;
    // the store keeps a running declined count per pool.
    fn publish_usage(&self, config: &RuntimeConfig) {
        let subnets = config
            .dhcp6
            .subnets
            .iter()
            .map(|s| {
                let pools = self
                    .state
                    .pool_usage(s.id)
                    .into_iter()
                    .map(|(start, length, in_use, total)| PoolUsage6 {
                        kind: if length == 128 {
                            PoolKind6::Address
                        } else {
                            PoolKind6::Prefix
                        },
                        start,
                        length,
                        total,
                        in_use,
                        declined: declined_in_pool(&self.state.store, start, length, total),
                    })
                    .collect();
                (s.id, pools)
            })
            .collect();
        self.usage.store(Arc::new(Usage6 { subnets }));
    }

    fn refresh_addresses(&mut self) {
        match iface6::ipv6_addresses() {
            Ok(a) => self.addresses = a,
            Err(e) => tracing::warn!(error = %e, "cannot read interface addresses"),
        }
    }

    fn run(mut self) {
        let span = tracing::info_span!("dhcp6");
        let _enter = span.enter();
        let mut slots = RecvBatch::new(BATCH, MAX_DATAGRAM, true);
        let mut housekeeping = engine::Housekeeping::new();
        let mut last_usage = Instant::now();
        let mut pollfds: Vec<libc::pollfd> = Vec::new();
        while !self.shutdown.load(Ordering::Relaxed) {
            let mut reads = engine::PassReads::default();
            // One store per wake-up: what the operational state shows as leases held.
            self.counters
                .leases
                .store(self.state.store.len() as u64, Ordering::Relaxed);
            self.apply_if_changed();
            let Some(config) = self.applied.clone() else {
                break;
            };
            // The peer link's inbox is polled after the sockets.
            if pollfds.len() != self.sockets.len() + 1
                || !engine::polls(&pollfds[..self.sockets.len()], &self.sockets)
            {
                engine::sync_pollfds(&mut pollfds, &self.sockets);
                pollfds.push(libc::pollfd {
                    fd: self.ha.inbox6.fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            // SAFETY: pollfds is a valid array of initialised pollfd for the call's duration.
            let ready =
                unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, 200) };
            if ready > 0 {
                // A commit that finished while we waited applies to what arrived meanwhile:
                // its rpc-reply may already have been sent.
                self.apply_if_changed();
                let Some(config) = self.applied.clone() else {
                    break;
                };
                if !engine::polls(&pollfds[..pollfds.len() - 1], &self.sockets) {
                    continue; // the datagrams wait in their sockets for the next poll
                }
                for (p, socket) in pollfds.iter_mut().zip(self.sockets.clone()) {
                    if p.revents != 0 {
                        p.revents = 0;
                        reads.add(self.serve_batch(&config, &socket, &mut slots), BATCH);
                    }
                }
                if let Some(inbox) = pollfds.last_mut() {
                    if inbox.revents != 0 {
                        inbox.revents = 0;
                        self.serve_peer_requests(&config);
                    }
                }
            }
            if housekeeping.reclaim_due(config.dhcp6.reclaim_interval) {
                self.reclaim(&config);
            }
            if housekeeping.compaction_due(config.lease_db.compaction_interval) {
                engine::start_compaction(&self.writer, "compaction6", "DHCPv6 ");
            }
            if housekeeping.address_refresh_due() {
                self.refresh_addresses();
            }
            if last_usage.elapsed() >= engine::USAGE_PERIOD {
                last_usage = Instant::now();
                self.publish_usage(&config);
            }
            if let Some(wait) = reads.wait(config.dhcp6.receive_coalescing) {
                std::thread::sleep(wait);
            }
        }
        tracing::info!(counters = %self.counters.summary(), "DHCPv6 engine stopped");
    }

    fn serve_batch(
        &mut self,
        config: &RuntimeConfig,
        socket: &Arc<Socket6>,
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
        let mut batch: DurableBatch<Socket6, Reply6> = DurableBatch::new(socket.clone());
        let addresses = self
            .addresses
            .get(socket.iface())
            .cloned()
            .unwrap_or_default();
        let ha = self.ha.shared.load_full();
        // A configured relationship not (yet) running answers nobody (see the DHCPv4 engine).
        let ha_pending = config.ha.is_some() && ha.is_none();
        let updates = ha.as_ref().map_or(LeaseUpdates::Off, |h| h.lease_updates());
        self.state
            .set_address_split(ha.as_ref().and_then(|h| h.address_split()));
        let mut for_partner: Vec<Lease6> = Vec::new();
        for datagram in slots.datagrams() {
            let Some(received) = Received::of(&datagram) else {
                continue;
            };
            self.counters.received.fetch_add(1, Ordering::Relaxed);
            let packet = match Packet::parse(datagram.bytes) {
                Ok(p) => p,
                Err(e) => {
                    self.counters.malformed(&e);
                    tracing::debug!(iface = socket.iface(), from = %received.from, error = %e, "malformed message dropped");
                    continue;
                }
            };
            Counters6::by_type(&self.counters.received_by_type, packet.message.msg_type);
            if ha_pending {
                continue;
            }
            if let Some(ha) = &ha {
                // The DUID decides the scope; elapsed time is in hundredths of a second.
                let waited_ms = u64::from(packet.message.elapsed.unwrap_or(0)) * 10;
                if !ha.admits(packet.message.client_id, &[], waited_ms) {
                    continue;
                }
            }
            let arrival = Arrival6 {
                ingress: Ingress6 {
                    interface: socket.iface(),
                    addresses: &addresses,
                },
                from: received.from,
                multicast: received.multicast,
                server_duid: &self.duid,
                now: unix_now(),
            };
            let decision = dhcp6::handle(&config.dhcp6, &mut self.state, &packet, &arrival);
            if let Some(ha) = &ha {
                note_changes(ha, updates, &decision.writes, &mut for_partner);
            }
            let silence = batch.add(&decision.writes, csv6::format_row, decision.reply);
            if let Err(why) = silence {
                tracing::trace!(?why, "no reply");
                self.counters.silence(why);
            }
        }
        let partner = partner_leg(&self.ha.outbound6, updates, for_partner);
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
        for request in self.ha.inbox6.drain() {
            match request {
                PeerRequest6::Apply {
                    leases,
                    deleted,
                    mode,
                    done,
                } => self.apply_partner_leases(config, leases, &deleted, mode, done),
                PeerRequest6::GetPage {
                    from,
                    limit,
                    filter,
                    done,
                } => {
                    let store = &self.state.store;
                    // Every lease at `from` was on the previous page.
                    let after = from.map(|a| (u128::from(a), LeaseType6::Pd));
                    let visits = if filter.is_some() {
                        FILTERED_VISITS
                    } else {
                        usize::MAX
                    };
                    let keep = |l: &&Lease6| filter.as_ref().is_none_or(|f| f(l));
                    let page = self.pager.page(
                        store.iter().map(|l| (u128::from(l.address), l.lease_type)),
                        after,
                        limit,
                        visits,
                        |(a, t)| store.get((t, Ipv6Addr::from(a))).filter(keep).cloned(),
                    );
                    let _ = done.send(LeasePage {
                        leases: page.leases,
                        resume_after: page.stopped_after.map(|(a, _)| Ipv6Addr::from(a)),
                    });
                }
                PeerRequest6::Lookup(look) => look(&self.state.store),
                PeerRequest6::Reclaim { done } => {
                    let total = engine::reclaim_all(RECLAIM_PER_PASS, || self.reclaim(config));
                    let _ = done.send(total);
                }
            }
        }
    }

    fn apply_partner_leases(
        &mut self,
        config: &RuntimeConfig,
        leases: Vec<Lease6>,
        deleted: &[LeaseKey6],
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
                .apply_partner_lease(&config.dhcp6, lease, only_if_newer, now)
            {
                Some(written) => {
                    report.applied += 1;
                    csv6::format_row(&written, &mut rows);
                    changed.push(written);
                }
                None => report.kept_newer += 1,
            }
        }
        for key in deleted {
            if let Some(gone) = self.state.delete_partner_lease(&config.dhcp6, *key) {
                report.deleted += 1;
                csv6::format_row(&gone, &mut rows);
                changed.push(gone);
            }
        }
        let partner = operator_leg(&self.ha, &self.ha.outbound6, mode, changed);
        answer_when_durable(&self.writer, rows, report, done, partner);
    }

    /// Reclaims up to a pass of expired leases; returns how many.
    fn reclaim(&mut self, config: &RuntimeConfig) -> usize {
        let rows = self
            .state
            .reclaim(&config.dhcp6, unix_now(), RECLAIM_PER_PASS);
        engine::submit_reclaimed(
            &self.writer,
            &rows,
            csv6::format_row,
            &self.counters.reclaimed,
            "DHCPv6 ",
        );
        rows.len()
    }
}

/// Sends `replies` in as few system calls as the kernel allows, counting each outcome.
/// The last slot of a pool of `total` slots of `length` bits starting at `start`: the last
/// address of an address range (`length` 128), the last delegated prefix of a prefix pool.
fn last_slot(start: Ipv6Addr, length: u8, total: u128) -> Ipv6Addr {
    let shift = 128 - u32::from(length.min(128));
    let span = total
        .saturating_sub(1)
        .checked_shl(shift)
        .filter(|s| shift == 0 || s >> shift == total.saturating_sub(1))
        .unwrap_or(u128::MAX);
    Ipv6Addr::from(u128::from(start).saturating_add(span))
}

/// Declined leases in one pool (address leases of an address range, delegated prefixes of a
/// prefix pool), from the store's running count for the pool.
fn declined_in_pool(
    store: &crate::lease::LeaseStore6,
    start: Ipv6Addr,
    length: u8,
    total: u128,
) -> u64 {
    store.declined_in(
        pool_lease_type(length),
        start,
        last_slot(start, length, total),
    )
}

/// The lease type a pool of slots of `length` bits gives out.
fn pool_lease_type(length: u8) -> LeaseType6 {
    if length == 128 {
        LeaseType6::Na
    } else {
        LeaseType6::Pd
    }
}

fn send(counters: &Counters6, socket: &Socket6, replies: &[Reply6]) {
    let datagrams: Vec<(&[u8], SocketAddrV6)> = replies
        .iter()
        .map(|r| (r.bytes.as_slice(), r.destination))
        .collect();
    socket.send_batch(&datagrams, |i, outcome| match outcome {
        Ok(()) => Counters6::by_type(&counters.sent_by_type, replies[i].kind),
        Err(e) => {
            counters.send_failed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(iface = socket.iface(), error = %e, destination = %replies[i].destination, "send failed");
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn server_duid_is_created_once_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = super::load_or_create_duid(dir.path()).expect("create");
        assert_eq!(first.len(), 18);
        assert_eq!(&first[..2], &[0, 4]);
        let again = super::load_or_create_duid(dir.path()).expect("read");
        assert_eq!(first, again);
    }

    #[test]
    fn pools_end_at_their_last_address_or_prefix() {
        let a = |s: &str| s.parse::<std::net::Ipv6Addr>().expect("address");
        assert_eq!(
            super::last_slot(a("2001:db8::10"), 128, 16),
            a("2001:db8::1f")
        );
        // 256 /56 prefixes from 2001:db8:100::/48.
        assert_eq!(
            super::last_slot(a("2001:db8:100::"), 56, 256),
            a("2001:db8:100:ff00::")
        );
        // A /64 range holds 2^64 addresses.
        assert_eq!(
            super::last_slot(a("2001:db8::"), 128, 1 << 64),
            a("2001:db8::ffff:ffff:ffff:ffff")
        );
        // Sizes that cannot be represented stop at the top of the address space.
        assert_eq!(
            super::last_slot(a("2001:db8::"), 56, u128::MAX),
            a("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
        );
    }

    #[test]
    fn declined_leases_are_counted_in_their_own_pool_only() {
        use crate::lease::record::LeaseState;
        use crate::lease::record6::{Lease6, LeaseType6};
        let a = |s: &str| s.parse::<std::net::Ipv6Addr>().expect("address");
        let mut store = crate::lease::LeaseStore6::new();
        let lease = |addr: &str, kind: LeaseType6, len: u8, state: LeaseState| Lease6 {
            address: a(addr),
            prefix_len: len,
            lease_type: kind,
            iaid: 1,
            valid_lifetime: 3600,
            expire: 4_000_000_000,
            subnet_id: 1,
            state,
            ..Lease6::default()
        };
        store.upsert(lease(
            "2001:db8::11",
            LeaseType6::Na,
            128,
            LeaseState::Declined,
        ));
        store.upsert(lease(
            "2001:db8::12",
            LeaseType6::Na,
            128,
            LeaseState::Default,
        ));
        store.upsert(lease(
            "2001:db8::99",
            LeaseType6::Na,
            128,
            LeaseState::Declined,
        ));
        store.upsert(lease(
            "2001:db8:100:100::",
            LeaseType6::Pd,
            56,
            LeaseState::Declined,
        ));
        let range =
            |s: &crate::lease::LeaseStore6| super::declined_in_pool(s, a("2001:db8::10"), 128, 16);
        let prefixes = |s: &crate::lease::LeaseStore6| {
            super::declined_in_pool(s, a("2001:db8:100::"), 56, 256)
        };
        assert_eq!((range(&store), prefixes(&store)), (1, 1));
        // From here on with running counts per pool, as the engine keeps them.
        store.set_declined_ranges([
            (LeaseType6::Na, a("2001:db8::10"), a("2001:db8::1f")),
            (
                LeaseType6::Pd,
                a("2001:db8:100::"),
                a("2001:db8:100:ff00::"),
            ),
        ]);
        assert_eq!((range(&store), prefixes(&store)), (1, 1));
        // The client asks again and gets it: no longer declined.
        store.upsert(lease(
            "2001:db8::11",
            LeaseType6::Na,
            128,
            LeaseState::Default,
        ));
        store.upsert(lease(
            "2001:db8::12",
            LeaseType6::Na,
            128,
            LeaseState::Declined,
        ));
        store.upsert(lease(
            "2001:db8::13",
            LeaseType6::Na,
            128,
            LeaseState::Declined,
        ));
        assert_eq!(range(&store), 2);
        store.remove((LeaseType6::Na, a("2001:db8::12")));
        store.remove((LeaseType6::Pd, a("2001:db8:100:100::")));
        assert_eq!((range(&store), prefixes(&store)), (1, 0));
    }
}
