//! What the failover driver and the packet path share: which clients to answer, whether lease
//! changes go to the partner, the partner's dhcp-disable, the clients seen going unanswered, and
//! the status the operator reads. Atomics only on the packet path; the locks here are taken for
//! packets the server does not answer while the partner is unreachable, a cold path.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;

use super::state::{LeaseUpdates, State};
use super::{lb_key, Scopes};
use crate::config::HaMode;

/// Unacked client identities remembered at most (each is a few dozen bytes); enough to pass
/// any sensible max-unacked-clients.
const UNACKED_LIMIT: usize = 65_536;

/// The operator's view of the relationship, replaced as a whole when it changes.
#[derive(Debug, Clone)]
pub struct HaStatus {
    /// This server's name in the relationship.
    pub this_server_name: String,
    /// The partner's name.
    pub partner_name: String,
    /// This server's state.
    pub state: State,
    /// The partner's state as of the last heartbeat, if any succeeded.
    pub partner_state: Option<State>,
    /// The names of the servers whose clients this server answers.
    pub scopes: Vec<String>,
    /// When a heartbeat last succeeded.
    pub last_heartbeat: Option<SystemTime>,
    /// No successful heartbeat for max-response-delay.
    pub communication_interrupted: bool,
    /// Partner's clock minus ours at the last heartbeat, seconds.
    pub clock_skew_secs: i64,
    /// A lease sync is running.
    pub sync_running: bool,
    /// The state machine is paused in its state until ha-continue.
    pub paused: bool,
    /// Leases applied by the current or last sync.
    pub sync_leases: u64,
    /// How long the last completed sync took.
    pub last_sync_duration: Option<Duration>,
}

impl HaStatus {
    /// The status of a relationship starting in `state`, nothing known of the partner yet.
    pub fn new(this_server_name: String, partner_name: String, state: State) -> Self {
        HaStatus {
            this_server_name,
            partner_name,
            state,
            partner_state: None,
            scopes: Vec::new(),
            last_heartbeat: None,
            communication_interrupted: false,
            clock_skew_secs: 0,
            sync_running: false,
            paused: false,
            sync_leases: 0,
            last_sync_duration: None,
        }
    }
}

/// Counters of the peer link, for the operational state.
#[derive(Debug, Default)]
pub struct HaCounters {
    /// Lease changes the partner acknowledged.
    pub updates_sent: AtomicU64,
    /// Lease changes the partner did not acknowledge (their clients got no reply).
    pub updates_failed: AtomicU64,
    /// Lease changes a backup server did not acknowledge (with wait-backup-ack their clients
    /// got no reply).
    pub backup_updates_failed: AtomicU64,
    /// Lease changes received from the partner and applied.
    pub updates_received: AtomicU64,
    /// Lease changes kept for the partner while it could not be reached.
    pub unsent_updates: AtomicU64,
    /// Client messages left to the partner (not in this server's scopes).
    pub not_in_scope: AtomicU64,
    /// Client messages dropped while the partner had disabled this server's DHCP service.
    pub dropped_while_disabled: AtomicU64,
}

/// State shared between the failover driver and the engines.
#[derive(Debug)]
pub struct HaShared {
    mode: HaMode,
    // Bit 0: the primary's scope, bit 1: the secondary's.
    scopes: AtomicU8,
    updates: AtomicU8,
    communication_interrupted: AtomicBool,
    max_ack_delay_ms: AtomicU64,
    // The partner's dhcp-disable: until when (None: enabled).
    disabled_until: Mutex<Option<Instant>>,
    disabled: AtomicBool,
    unacked: Mutex<HashSet<Box<[u8]>>>,
    has_backups: bool,
    /// Raised when the partner's heartbeat reaches us while we do not know its state: the
    /// driver asks for it at once.
    pub partner_seen: tokio::sync::Notify,
    /// Peer link counters.
    pub counters: HaCounters,
    /// The operator's view.
    pub status: ArcSwap<HaStatus>,
}

impl HaShared {
    /// Shared state of a relationship starting up: nobody answered, nothing sent.
    pub fn new(
        mode: HaMode,
        max_ack_delay: Duration,
        has_backups: bool,
        status: HaStatus,
    ) -> Arc<Self> {
        Arc::new(HaShared {
            mode,
            scopes: AtomicU8::new(0),
            updates: AtomicU8::new(encode_updates(LeaseUpdates::Off)),
            communication_interrupted: AtomicBool::new(false),
            max_ack_delay_ms: AtomicU64::new(max_ack_delay.as_millis() as u64),
            disabled_until: Mutex::new(None),
            disabled: AtomicBool::new(false),
            unacked: Mutex::new(HashSet::new()),
            has_backups,
            partner_seen: tokio::sync::Notify::new(),
            counters: HaCounters::default(),
            status: ArcSwap::from_pointee(status),
        })
    }

    /// Whether backup servers receive this server's lease changes.
    pub fn has_backups(&self) -> bool {
        self.has_backups
    }

    /// The pair's mode.
    pub fn mode(&self) -> HaMode {
        self.mode
    }

    /// Answers exactly the clients of `scopes` from now on.
    pub fn set_scopes(&self, scopes: Scopes) {
        let bits = u8::from(scopes.primary) | (u8::from(scopes.secondary) << 1);
        self.scopes.store(bits, Ordering::Release);
    }

    /// The scopes answered now.
    pub fn scopes(&self) -> Scopes {
        let bits = self.scopes.load(Ordering::Acquire);
        Scopes {
            primary: bits & 1 != 0,
            secondary: bits & 2 != 0,
        }
    }

    /// The half of every pool this server allocates new addresses from (address parity), or
    /// `None` for all of it: in load-balancing each server keeps to its own half while the
    /// partner serves too, so both never pick the same free address at once.
    pub fn address_split(&self) -> Option<u32> {
        if self.mode != HaMode::LoadBalancing {
            return None;
        }
        let scopes = self.scopes();
        match (scopes.primary, scopes.secondary) {
            (true, false) => Some(0),
            (false, true) => Some(1),
            _ => None,
        }
    }

    /// Sets the lease update policy.
    pub fn set_lease_updates(&self, updates: LeaseUpdates) {
        self.updates
            .store(encode_updates(updates), Ordering::Release);
    }

    /// The lease update policy now.
    pub fn lease_updates(&self) -> LeaseUpdates {
        match self.updates.load(Ordering::Acquire) {
            0 => LeaseUpdates::Send,
            1 => LeaseUpdates::Queue,
            _ => LeaseUpdates::Off,
        }
    }

    /// Records whether communication with the partner is interrupted; unacked clients are
    /// only counted while it is, and forgotten when it is restored.
    pub fn set_communication_interrupted(&self, interrupted: bool) {
        let was = self
            .communication_interrupted
            .swap(interrupted, Ordering::AcqRel);
        if was && !interrupted {
            self.unacked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
    }

    /// Sets max-ack-delay (a commit may change it).
    pub fn set_max_ack_delay(&self, delay: Duration) {
        self.max_ack_delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// The partner disabled this server's DHCP service (dhcp-disable), for at most
    /// `max_period` (Kea re-enables by itself when it elapses, so a partner that dies during a
    /// sync does not silence this server for good).
    pub fn disable_dhcp(&self, max_period: Option<Duration>) {
        *self
            .disabled_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            Some(Instant::now() + max_period.unwrap_or(Duration::from_secs(u64::from(u32::MAX))));
        self.disabled.store(true, Ordering::Release);
    }

    /// The partner re-enabled this server's DHCP service.
    pub fn enable_dhcp(&self) {
        *self
            .disabled_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        self.disabled.store(false, Ordering::Release);
    }

    /// Whether the DHCP service is disabled by the partner now.
    pub fn dhcp_disabled(&self) -> bool {
        if !self.disabled.load(Ordering::Acquire) {
            return false;
        }
        let mut until = self
            .disabled_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match *until {
            Some(t) if Instant::now() < t => true,
            _ => {
                *until = None;
                self.disabled.store(false, Ordering::Release);
                tracing::warn!("the partner's dhcp-disable expired; serving again");
                false
            }
        }
    }

    /// Whether to answer a client identified by `client_id` (option 61 / DUID) else `hw`
    /// (chaddr). A client not answered is counted, and, while the partner cannot be reached,
    /// remembered as unacked once it has waited (`waited_ms`: secs field, elapsed time) longer
    /// than max-ack-delay: enough of those declare the partner down.
    pub fn admits(&self, client_id: Option<&[u8]>, hw: &[u8], waited_ms: u64) -> bool {
        if self.dhcp_disabled() {
            self.counters
                .dropped_while_disabled
                .fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let scopes = self.scopes();
        let Some(key) = lb_key(client_id, hw) else {
            // Neither server can tell whose such a client is; answering could answer twice.
            self.counters.not_in_scope.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        if scopes.in_scope(self.mode, key) {
            return true;
        }
        self.counters.not_in_scope.fetch_add(1, Ordering::Relaxed);
        if self.communication_interrupted.load(Ordering::Acquire)
            && waited_ms > self.max_ack_delay_ms.load(Ordering::Relaxed)
        {
            let mut unacked = self.unacked.lock().unwrap_or_else(PoisonError::into_inner);
            if unacked.len() < UNACKED_LIMIT {
                unacked.insert(key.into());
            }
        }
        false
    }

    /// How many distinct clients went unanswered past max-ack-delay since communication was
    /// interrupted.
    pub fn unacked_clients(&self) -> usize {
        self.unacked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Updates the operator's view.
    pub fn update_status(&self, change: impl FnOnce(&mut HaStatus)) {
        let mut status = HaStatus::clone(&self.status.load());
        change(&mut status);
        self.status.store(Arc::new(status));
    }
}

fn encode_updates(updates: LeaseUpdates) -> u8 {
    match updates {
        LeaseUpdates::Send => 0,
        LeaseUpdates::Queue => 1,
        LeaseUpdates::Off => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(mode: HaMode) -> Arc<HaShared> {
        HaShared::new(
            mode,
            Duration::from_millis(1000),
            false,
            HaStatus::new("a".into(), "b".into(), State::Waiting),
        )
    }

    const PRIMARY_MAC: [u8; 6] = [0x00, 0x0c, 0x01, 0x00, 0x00, 0x02];
    const SECONDARY_MAC: [u8; 6] = [0x00, 0x0c, 0x01, 0x00, 0x00, 0x01];

    #[test]
    fn nobody_is_answered_until_scopes_are_set() {
        let s = shared(HaMode::HotStandby);
        assert!(!s.admits(None, &PRIMARY_MAC, 0));
        s.set_scopes(Scopes {
            primary: true,
            secondary: false,
        });
        assert!(s.admits(None, &PRIMARY_MAC, 0));
        assert!(
            s.admits(None, &SECONDARY_MAC, 0),
            "hot-standby: one scope for all"
        );
        assert_eq!(s.counters.not_in_scope.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn load_balancing_answers_by_hash() {
        let s = shared(HaMode::LoadBalancing);
        s.set_scopes(Scopes {
            primary: false,
            secondary: true,
        });
        assert!(s.admits(None, &SECONDARY_MAC, 0));
        assert!(!s.admits(None, &PRIMARY_MAC, 0));
        assert!(!s.admits(None, &[], 0), "no identity: nobody answers");
    }

    #[test]
    fn unacked_clients_count_only_while_interrupted_and_past_the_delay() {
        let s = shared(HaMode::HotStandby);
        assert!(!s.admits(None, &PRIMARY_MAC, 5000));
        assert_eq!(s.unacked_clients(), 0, "link up: the partner's business");
        s.set_communication_interrupted(true);
        assert!(!s.admits(None, &PRIMARY_MAC, 500));
        assert_eq!(s.unacked_clients(), 0, "not waited long enough");
        s.admits(None, &PRIMARY_MAC, 1500);
        s.admits(None, &PRIMARY_MAC, 2500);
        s.admits(Some(&[1, 2, 3]), &PRIMARY_MAC, 2500);
        assert_eq!(s.unacked_clients(), 2, "distinct clients");
        s.set_communication_interrupted(false);
        assert_eq!(s.unacked_clients(), 0);
    }

    #[test]
    fn dhcp_disable_silences_until_enabled_or_expired() {
        let s = shared(HaMode::HotStandby);
        s.set_scopes(Scopes {
            primary: true,
            secondary: true,
        });
        s.disable_dhcp(None);
        assert!(!s.admits(None, &PRIMARY_MAC, 0));
        s.enable_dhcp();
        assert!(s.admits(None, &PRIMARY_MAC, 0));
        s.disable_dhcp(Some(Duration::ZERO));
        assert!(s.admits(None, &PRIMARY_MAC, 0), "max-period elapsed");
    }

    #[test]
    fn lease_update_policy_round_trips() {
        let s = shared(HaMode::HotStandby);
        for u in [LeaseUpdates::Send, LeaseUpdates::Queue, LeaseUpdates::Off] {
            s.set_lease_updates(u);
            assert_eq!(s.lease_updates(), u);
        }
    }
}
