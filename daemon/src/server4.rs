//! The DHCPv4 engine thread: receives batches from the sockets, runs the policy on the current
//! configuration snapshot, hands lease rows to the memfile writer and sends each reply once its
//! lease is durable. It owns the lease state; nothing else touches it.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use ipnet::Ipv4Net;

use crate::config::{Ingress, RuntimeConfig};
use crate::dhcp4::{self, Arrival, LeaseState4, Packet, Reply};
use crate::engine::{self, unix_now, DurableBatch};
use crate::lease::memfile::csv4;
use crate::lease::memfile::MemfileWriter;
use crate::net::iface;
use crate::net::socket4::{Socket4, SocketError};
use crate::northbound::commit::{Reservation, Subsystem};
use crate::northbound::error::{error, AtPath};
use crate::stats::{Counters4, PoolUsage4, Usage4};
use netconf::error::{ErrorTag, ErrorType, RpcError};

/// Packets taken from one socket per wake-up before the batch is committed.
const BATCH: usize = 64;
/// How often address use is published for the operational state.
const USAGE_PERIOD: Duration = Duration::from_secs(2);
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
        if next.ha.is_some() {
            return Err(not_yet_failover());
        }
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
}

impl Engine4 {
    /// An engine over loaded leases and opened sockets.
    pub fn new(
        config: Arc<ArcSwap<RuntimeConfig>>,
        state: LeaseState4,
        writer: Arc<MemfileWriter>,
        sockets: SharedSockets,
        counters: Arc<Counters4>,
        usage: Arc<ArcSwap<Usage4>>,
        shutdown: Arc<AtomicBool>,
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
        let mut buf = vec![0u8; 65536];
        let mut housekeeping = engine::Housekeeping::new();
        let mut last_usage = Instant::now() - USAGE_PERIOD;
        let mut pollfds: Vec<libc::pollfd> = Vec::new();
        while !self.shutdown.load(Ordering::Relaxed) {
            self.apply_if_changed();
            let Some(config) = self.applied.clone() else {
                break;
            };
            // A commit may have changed the interfaces served.
            engine::sync_pollfds(&mut pollfds, &self.sockets);

            // SAFETY: pollfds is a valid array of initialised pollfd for the call's duration.
            let ready =
                unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, 200) };
            // A commit whose reply went out while we waited governs every packet after it:
            // take it up first (the waiting packets stay queued in their sockets).
            if self.apply_if_changed() {
                continue;
            }
            if ready > 0 {
                for (i, pfd) in pollfds.iter_mut().enumerate() {
                    if pfd.revents != 0 {
                        pfd.revents = 0;
                        let socket = self.sockets[i].clone();
                        self.serve_batch(&config, &socket, &mut buf);
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
            if last_usage.elapsed() >= USAGE_PERIOD {
                last_usage = Instant::now();
                self.publish_usage(&config);
            }
        }
        tracing::info!(counters = %self.counters.summary(), "DHCPv4 engine stopped");
    }

    fn serve_batch(&mut self, config: &RuntimeConfig, socket: &Arc<Socket4>, buf: &mut [u8]) {
        let mut batch: DurableBatch<Socket4, Reply> = DurableBatch::default();
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
        for _ in 0..BATCH {
            let (len, from) = match socket.recv(buf) {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(iface = socket.iface(), error = %e, "receive failed");
                    break;
                }
            };
            self.counters.received.fetch_add(1, Ordering::Relaxed);
            let packet = match Packet::parse(&buf[..len]) {
                Ok(p) => p,
                Err(e) => {
                    self.counters.malformed(&e);
                    tracing::debug!(iface = socket.iface(), %from, error = %e, "malformed packet dropped");
                    continue;
                }
            };
            self.counters.received(packet.message_type());
            let arrival = Arrival {
                ingress: Ingress {
                    interface: socket.iface(),
                    addresses: &addresses,
                },
                server_id,
                now: unix_now(),
            };
            let decision = dhcp4::handle(&config.dhcp4, &mut self.state, &packet, &arrival);
            let silence = batch.add(
                &decision.writes,
                csv4::format_row,
                socket,
                decision.reply,
                |s, r| send(&self.counters, s, r),
            );
            if let Err(why) = silence {
                tracing::trace!(?why, "no reply");
                self.counters.silence(why);
            }
        }
        batch.submit(&self.writer, &self.counters, send, |c| {
            &c.lease_write_failed
        });
    }

    // Pool counters are kept by the free maps, so this costs a few words per pool, not a walk
    // over the leases.
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

    fn reclaim(&mut self, config: &RuntimeConfig) {
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
    }
}

fn send(counters: &Counters4, socket: &Socket4, reply: &Reply) {
    match socket.send(&reply.bytes, reply.destination) {
        Ok(()) => counters.sent(reply.kind),
        Err(e) => {
            counters.send_failed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(iface = socket.iface(), error = %e, destination = ?reply.destination, "send failed");
        }
    }
}

/// Failover is modelled and validated but has no peer link yet: refuse it rather than run a
/// server the operator believes is paired.
pub fn not_yet_failover() -> RpcError {
    error(
        ErrorType::Application,
        ErrorTag::OperationFailed,
        "failover (ha) is not available in this version: remove /server/ha to run this server alone",
    )
    .at(yang::paths::HA)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn a_commit_with_failover_is_refused_until_failover_exists() {
        let ctx = yang::context().unwrap();
        let runtime = |ha: &str| {
            crate::northbound::validate_document(
                ctx,
                &format!(r#"<server xmlns="urn:netdhcp:yang:netdhcp-server">{ha}</server>"#),
            )
            .map(|v| v.runtime)
            .map_err(|p| format!("{p:?}"))
            .unwrap()
        };
        let alone = runtime("");
        let paired = runtime(
            r#"<ha><this-server-name>a</this-server-name><mode>hot-standby</mode>
            <peer><name>a</name><url>http://100.64.0.1:8001/</url><role>primary</role></peer>
            <peer><name>b</name><url>http://100.64.0.3:8001/</url><role>standby</role></peer></ha>"#,
        );
        let subsystem = Dhcp4Subsystem {
            sockets: Arc::new(Mutex::new(Sockets::default())),
        };
        let err = subsystem.prepare(&alone, &paired).err().unwrap();
        assert_eq!(err.tag, ErrorTag::OperationFailed);
        assert_eq!(err.path.as_deref(), Some("/ndhcp:server/ndhcp:ha"));
        assert!(subsystem.prepare(&alone, &alone).is_ok());
    }
}
