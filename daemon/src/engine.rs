//! What the DHCPv4 and DHCPv6 engines share: the socket set handed between the commit pipeline
//! and the engine thread, the subsystem prepare/apply steps, the durable-reply and reclaim
//! submissions to the memfile writer, and compaction off the packet thread.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::lease::memfile::MemfileWriter;
use crate::northbound::commit::Reservation;
use crate::northbound::error::{error, AtPath};
use netconf::error::{ErrorTag, ErrorType, RpcError};

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How often the engines re-read interface addresses.
const ADDRESS_REFRESH: Duration = Duration::from_secs(5);
/// How often the engines publish pool use for the operational state and the metrics.
pub const USAGE_PERIOD: Duration = Duration::from_secs(2);

/// What one pass of an engine's loop read from its sockets, for receive coalescing: a pass
/// that served datagrams without filling a batch waits the configured time before reading
/// again, so the datagrams arriving meanwhile are served, written and synced together (one
/// wake-up, one receive, one send and one fsync for several exchanges instead of each). A
/// full batch means more is waiting: no wait. Nothing read: the next poll blocks anyway.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReads {
    datagrams: usize,
    full: bool,
}

impl PassReads {
    /// Counts one socket's read of `received` datagrams into a batch of `batch`.
    pub fn add(&mut self, received: usize, batch: usize) {
        self.datagrams += received;
        self.full |= received >= batch;
    }

    /// How long to wait before the next poll, with `coalescing` configured.
    pub fn wait(&self, coalescing: Duration) -> Option<Duration> {
        (self.datagrams > 0 && !self.full && !coalescing.is_zero()).then_some(coalescing)
    }
}

/// When an engine last did its periodic work; each `*_due` call restarts its clock when it
/// answers true.
pub struct Housekeeping {
    last_reclaim: Instant,
    last_compaction: Instant,
    last_address_refresh: Instant,
}

impl Housekeeping {
    /// Clocks starting now.
    pub fn new() -> Self {
        let now = Instant::now();
        Housekeeping {
            last_reclaim: now,
            last_compaction: now,
            last_address_refresh: now,
        }
    }

    /// Whether `reclaim_interval` seconds have passed since the last reclaim pass.
    pub fn reclaim_due(&mut self, reclaim_interval: u32) -> bool {
        due(
            &mut self.last_reclaim,
            Duration::from_secs(u64::from(reclaim_interval)),
        )
    }

    /// Whether a compaction is configured and due.
    pub fn compaction_due(&mut self, interval: Option<Duration>) -> bool {
        interval.is_some_and(|every| due(&mut self.last_compaction, every))
    }

    /// Whether interface addresses should be re-read: they can change under us (DHCP on the
    /// uplink, operator action).
    pub fn address_refresh_due(&mut self) -> bool {
        due(&mut self.last_address_refresh, ADDRESS_REFRESH)
    }
}

impl Default for Housekeeping {
    fn default() -> Self {
        Self::new()
    }
}

fn due(last: &mut Instant, every: Duration) -> bool {
    if last.elapsed() >= every {
        *last = Instant::now();
        true
    } else {
        false
    }
}

/// A per-interface socket an engine serves.
pub trait EngineSocket: Send + Sync + Sized + 'static {
    /// Why a socket could not be opened.
    type Error: std::fmt::Display;
    /// Opens a socket on `iface`.
    fn open(iface: &str) -> Result<Self, Self::Error>;
    /// The interface served.
    fn iface(&self) -> &str;
    /// The file descriptor, for poll.
    fn fd(&self) -> i32;
    /// The interface an open error concerns.
    fn error_iface(e: &Self::Error) -> &str;
}

/// Implements [`EngineSocket`] for a socket type whose `open`, `iface` and `fd` are inherent
/// and whose error names the interface in `NoSuchInterface(iface)` or `Open { iface, .. }`.
#[macro_export]
macro_rules! engine_socket {
    ($socket:ty, $error:ident) => {
        impl $crate::engine::EngineSocket for $socket {
            type Error = $error;
            fn open(iface: &str) -> Result<Self, $error> {
                <$socket>::open(iface)
            }
            fn iface(&self) -> &str {
                <$socket>::iface(self)
            }
            fn fd(&self) -> i32 {
                <$socket>::fd(self)
            }
            fn error_iface(e: &$error) -> &str {
                match e {
                    $error::NoSuchInterface(i) | $error::Open { iface: i, .. } => i,
                }
            }
        }
    };
}

/// The sockets an engine serves, and a new set waiting for the engine to take it after a
/// commit.
pub struct SocketSet<S> {
    open: HashMap<String, Arc<S>>,
    pending: Option<Vec<Arc<S>>>,
}

impl<S> Default for SocketSet<S> {
    fn default() -> Self {
        SocketSet {
            open: HashMap::new(),
            pending: None,
        }
    }
}

/// Shared between an engine and the commit pipeline.
pub type Shared<S> = Arc<Mutex<SocketSet<S>>>;

fn by_iface<S: EngineSocket>(list: &[Arc<S>]) -> HashMap<String, Arc<S>> {
    list.iter()
        .map(|s| (s.iface().to_string(), s.clone()))
        .collect()
}

/// Opens (or reuses, from `existing`) a socket on every interface in `interfaces` if the family
/// is `enabled`. Fails on the first interface that cannot be served, naming it.
pub fn open_sockets<S: EngineSocket>(
    enabled: bool,
    interfaces: &[String],
    existing: &HashMap<String, Arc<S>>,
) -> Result<Vec<Arc<S>>, S::Error> {
    if !enabled {
        return Ok(Vec::new());
    }
    interfaces
        .iter()
        .map(|i| match existing.get(i) {
            Some(s) => Ok(s.clone()),
            None => S::open(i).map(Arc::new),
        })
        .collect()
}

/// A socket set for an engine's first configuration.
pub fn initial_sockets<S: EngineSocket>(list: Vec<Arc<S>>) -> Shared<S> {
    Arc::new(Mutex::new(SocketSet {
        open: by_iface(&list),
        pending: Some(list),
    }))
}

/// Refuses a commit that changes a lease database leaf only read at start.
pub fn unchanged<T: PartialEq>(
    current: &T,
    next: &T,
    leaf: &str,
    what: &str,
) -> Result<(), RpcError> {
    if next == current {
        return Ok(());
    }
    Err(error(
        ErrorType::Application,
        ErrorTag::OperationFailed,
        format!(
            "{what} cannot change while the server runs: copy the configuration to startup and restart"
        ),
    )
    .at(&format!("{}/{leaf}", yang::paths::LEASE_DATABASE)))
}

/// The prepare step of a subsystem: opens the sockets the next configuration needs (reusing the
/// open ones), failing with the interface's path under `family_path`.
pub fn prepare_sockets<S: EngineSocket>(
    shared: &Shared<S>,
    family_path: &str,
    open: impl FnOnce(&HashMap<String, Arc<S>>) -> Result<Vec<Arc<S>>, S::Error>,
) -> Result<Reservation, RpcError> {
    let existing = shared
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .open
        .clone();
    let list = open(&existing).map_err(|e| {
        let path = format!("{family_path}/interface[.='{}']", S::error_iface(&e));
        error(
            ErrorType::Application,
            ErrorTag::OperationFailed,
            e.to_string(),
        )
        .at(&path)
    })?;
    Ok(Box::new(list))
}

/// The apply step of a subsystem: hands the prepared sockets to the engine.
pub fn apply_sockets<S: EngineSocket>(shared: &Shared<S>, reservation: Reservation) {
    let Ok(list) = reservation.downcast::<Vec<Arc<S>>>() else {
        return;
    };
    let mut s = shared.lock().unwrap_or_else(PoisonError::into_inner);
    s.open = by_iface(&list);
    s.pending = Some(*list);
}

/// Takes up a socket set a commit left for the engine, logging each newly served interface.
pub fn adopt_pending<S: EngineSocket>(shared: &Shared<S>, sockets: &mut Vec<Arc<S>>, family: &str) {
    let pending = shared
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pending
        .take();
    if let Some(new) = pending {
        for s in new
            .iter()
            .filter(|s| !sockets.iter().any(|o| Arc::ptr_eq(o, s)))
        {
            tracing::info!(iface = s.iface(), "{family} listening");
        }
        *sockets = new;
    }
}

/// Whether `pollfds` watches exactly `sockets`, in order.
pub fn polls<S: EngineSocket>(pollfds: &[libc::pollfd], sockets: &[Arc<S>]) -> bool {
    pollfds.len() == sockets.len() && pollfds.iter().zip(sockets).all(|(p, s)| p.fd == s.fd())
}

/// Rebuilds `pollfds` if the sockets served changed (a commit may change the interfaces).
pub fn sync_pollfds<S: EngineSocket>(pollfds: &mut Vec<libc::pollfd>, sockets: &[Arc<S>]) {
    if polls(pollfds, sockets) {
        return;
    }
    *pollfds = sockets
        .iter()
        .map(|s| libc::pollfd {
            fd: s.fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
}

/// One wake-up's packets from one socket: their lease rows, the replies that leave as soon as
/// the packets are read, and the replies that must wait until those rows are durable.
pub struct DurableBatch<S, R> {
    socket: Arc<S>,
    rows: Vec<u8>,
    immediate: Vec<R>,
    durable: Vec<R>,
}

/// Sends a socket's replies, in as few system calls as it can, counting each outcome.
pub type SendAll<C, S, R> = fn(&C, &S, &[R]);

impl<S, R> DurableBatch<S, R>
where
    S: Send + Sync + 'static,
    R: Send + 'static,
{
    /// An empty batch of packets read from `socket`, whose replies leave through it.
    pub fn new(socket: Arc<S>) -> Self {
        DurableBatch {
            socket,
            rows: Vec::new(),
            immediate: Vec::new(),
            durable: Vec::new(),
        }
    }

    /// Takes one decision: its lease rows join the batch; its reply leaves with the batch's
    /// other immediate replies if it wrote no lease, else once the batch's rows are durable.
    /// A silence is handed back.
    pub fn add<L, W>(
        &mut self,
        writes: &[L],
        format_row: fn(&L, &mut Vec<u8>),
        reply: Result<R, W>,
    ) -> Result<(), W> {
        for lease in writes {
            format_row(lease, &mut self.rows);
        }
        match reply {
            Ok(reply) if writes.is_empty() => self.immediate.push(reply),
            Ok(reply) => self.durable.push(reply),
            Err(why) => return Err(why),
        }
        Ok(())
    }

    /// Sends the replies that wait for nothing, in one call, then has the batch's rows written:
    /// on this thread when the writer has nothing queued (no hand-off to its thread), else
    /// behind what is queued. The waiting replies leave, again in one call, once the rows are
    /// written (and fsynced) and, when `partner` is given, once the failover partner has
    /// acknowledged the batch's lease changes too. Both run at once; a reply whose lease is not
    /// on disk, or not on the partner, is withheld and counted (`failed`), and the client
    /// retries.
    pub fn submit<C: Send + Sync + 'static>(
        self,
        writer: &MemfileWriter,
        counters: &Arc<C>,
        send: SendAll<C, S, R>,
        failed: fn(&C, Leg) -> &AtomicU64,
        partner: Option<PartnerLeg>,
    ) {
        let DurableBatch {
            socket,
            rows,
            immediate,
            durable,
        } = self;
        if !immediate.is_empty() {
            send(counters, &socket, &immediate);
        }
        if rows.is_empty() {
            return;
        }
        let legs = 1 + u8::from(partner.is_some());
        let gate = Arc::new(Mutex::new(Gate {
            legs_left: legs,
            failed: None,
            socket,
            replies: durable,
            counters: counters.clone(),
            send,
            failed_counter: failed,
        }));
        if let Some(partner) = partner {
            let gate = gate.clone();
            partner(Box::new(move |ok| {
                Gate::complete(&gate, if ok { None } else { Some(Leg::Partner) })
            }));
        }
        writer.write_or_submit(
            rows,
            Box::new(move |result| {
                let failure = result.err().map(|e| {
                    tracing::error!(error = %e, "lease write failed; replies withheld");
                    Leg::Disk
                });
                Gate::complete(&gate, failure)
            }),
        );
    }
}

/// What a reply waits for besides its lease being on disk.
pub type PartnerLeg = Box<dyn FnOnce(Completion)>;

/// Called once with whether the leg succeeded.
pub type Completion = Box<dyn FnOnce(bool) + Send>;

/// A leg a reply waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    /// The lease file write (and fsync).
    Disk,
    /// The failover partner's acknowledgement.
    Partner,
}

/// Replies waiting for their legs to complete.
struct Gate<S, R, C> {
    legs_left: u8,
    failed: Option<Leg>,
    socket: Arc<S>,
    replies: Vec<R>,
    counters: Arc<C>,
    send: SendAll<C, S, R>,
    failed_counter: fn(&C, Leg) -> &AtomicU64,
}

impl<S, R, C> Gate<S, R, C> {
    fn complete(gate: &Mutex<Self>, failure: Option<Leg>) {
        let mut g = gate.lock().unwrap_or_else(PoisonError::into_inner);
        g.legs_left -= 1;
        g.failed = g.failed.or(failure);
        if g.legs_left > 0 {
            return;
        }
        let replies = std::mem::take(&mut g.replies);
        match g.failed {
            None => (g.send)(&g.counters, &g.socket, &replies),
            Some(leg) => {
                (g.failed_counter)(&g.counters, leg)
                    .fetch_add(replies.len() as u64, Ordering::Relaxed);
            }
        }
    }
}

/// Writes reclaimed leases, counting them in `reclaimed`. `family` prefixes the log messages
/// ("" or "DHCPv6 ").
pub fn submit_reclaimed<L>(
    writer: &MemfileWriter,
    leases: &[L],
    format_row: fn(&L, &mut Vec<u8>),
    reclaimed: &AtomicU64,
    family: &'static str,
) {
    if leases.is_empty() {
        return;
    }
    reclaimed.fetch_add(leases.len() as u64, Ordering::Relaxed);
    tracing::debug!(count = leases.len(), "expired {family}leases reclaimed");
    let mut bytes = Vec::new();
    for lease in leases {
        format_row(lease, &mut bytes);
    }
    writer.submit(
        bytes,
        Box::new(move |result| {
            if let Err(e) = result {
                tracing::error!(error = %e, "writing reclaimed {family}leases failed");
            }
        }),
    );
}

/// Runs reclaim passes of up to `per_pass` leases until one finds fewer (reclaim-leases);
/// returns how many were reclaimed.
pub fn reclaim_all(per_pass: usize, mut pass: impl FnMut() -> usize) -> u64 {
    let mut total = 0;
    loop {
        let n = pass();
        total += n as u64;
        if n < per_pass {
            return total;
        }
    }
}

/// Starts a compaction off the packet thread: rotating the file waits for the writer's fsync,
/// which the packet path must not. `family` prefixes the log messages ("" or "DHCPv6 ").
pub fn start_compaction(writer: &Arc<MemfileWriter>, thread: &str, family: &'static str) {
    let writer = writer.clone();
    let spawned = std::thread::Builder::new()
        .name(thread.into())
        .spawn(move || match writer.compact() {
            Ok(handle) => match handle.join() {
                Ok(report) => tracing::info!(?report, "{family}lease file compacted"),
                Err(e) => tracing::error!(error = %e, "{family}lease file compaction failed"),
            },
            Err(e) => tracing::error!(error = %e, "{family}lease file compaction failed to start"),
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start {family}lease file compaction");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_waits_only_after_serving_less_than_a_full_batch() {
        let coalescing = Duration::from_micros(500);
        let mut idle = PassReads::default();
        idle.add(0, 64);
        assert_eq!(
            idle.wait(coalescing),
            None,
            "nothing read: poll blocks anyway"
        );
        let mut few = PassReads::default();
        few.add(3, 64);
        few.add(0, 64);
        assert_eq!(few.wait(coalescing), Some(coalescing));
        assert_eq!(few.wait(Duration::ZERO), None, "not configured");
        let mut busy = PassReads::default();
        busy.add(2, 64);
        busy.add(64, 64);
        assert_eq!(busy.wait(coalescing), None, "a full batch: more is waiting");
    }
}
