//! The failover state machine: a pure function from (state, event) to (state, actions).
//!
//! States and transitions follow ISC Kea 2.2's HA hook (`HAService`'s state handlers), so a
//! netdhcp server and a Kea server in one pair agree on what each of them does. The machine holds
//! no clock and does no I/O: the peer link turns heartbeats, timeouts and commands into
//! [`Event`]s and carries out the [`Action`]s. Where netdhcp departs from Kea it says so:
//!
//! - a netdhcp partner keeps serving while this server synchronises
//!   ([`Context::partner_serves_during_sync`]) and streams its lease changes to it; only a Kea
//!   partner has its DHCP service disabled during the sync, as Kea expects;
//! - heartbeats continue during a sync (Kea pauses them; our sync does not block);
//! - partner-down reached from partner-in-maintenance, or by the operator's partner-down command,
//!   serves the partner's scope even without auto-failover: the operator asked for it;
//! - maintenance can only be started on a server whose lease database is current (it is about to
//!   serve everyone).
//!
//! Pausing follows Kea's `state-machine` configuration: entering a state configured to pause
//! (always, or once: the first time after the relationship starts) stops the machine's own
//! transitions until an operator sends [`Event::Continue`]. The paused state keeps doing its work
//! (heartbeats, serving its scopes); commands (maintenance, partner-down, reset) still move it, as
//! Kea's command handlers do, and the pause lasts until the continue.
//!
//! After the event's own transition the machine re-evaluates the new state against what it knows
//! of the partner, as Kea's model loop does, so one event can pass through several states
//! (waiting → syncing, or ready → hot-standby). The scopes served, the lease update policy and the
//! heartbeat timer are derived from the resulting state and reported only when they change.

use std::fmt;
use std::str::FromStr;

use super::Scopes;
use crate::config::{HaConfig, HaMode, PauseMode, PeerRole};

/// Clock skew (seconds) at which Kea logs a warning.
pub const CLOCK_SKEW_WARN_SECS: u64 = 30;
/// Clock skew (seconds) beyond which Kea stops the relationship (terminated): lease times would
/// mean different things on the two servers.
pub const CLOCK_SKEW_TERMINATE_SECS: u64 = 60;

/// How many state changes one event may cause before the machine stops re-evaluating. The
/// longest legitimate chain is three (partner-down → waiting → syncing); the bound only makes
/// termination obvious.
const MAX_CHAINED_TRANSITIONS: usize = 8;

/// A server's HA state, with Kea's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Starting up or recovering: serves nobody, waits to learn the partner's state.
    Waiting,
    /// Fetching the partner's leases page by page: serves nobody.
    Syncing,
    /// Synchronised, waiting for the partner to agree to resume normal operation: serves nobody.
    Ready,
    /// Normal operation in hot-standby: the primary serves everyone, the standby nobody.
    HotStandby,
    /// Normal operation in load-balancing: each server serves its own scope.
    LoadBalancing,
    /// The partner is considered down: this server serves the partner's scope too (if
    /// auto-failover, or told to).
    PartnerDown,
    /// Load-balancing with the peer link down but the partner not (yet) considered down: each
    /// serves its own scope and queues its lease updates.
    CommunicationRecovery,
    /// The partner is in maintenance: this server serves everyone.
    PartnerInMaintenance,
    /// This server is in maintenance: serves nobody and can be shut down safely.
    InMaintenance,
    /// Clocks too far apart: serves its own scope, sends no updates, no heartbeats. Left only by
    /// a restart.
    Terminated,
    /// A backup server: receives lease updates only.
    Backup,
}

impl State {
    /// Every state, for tables and tests.
    pub const ALL: [State; 11] = [
        State::Waiting,
        State::Syncing,
        State::Ready,
        State::HotStandby,
        State::LoadBalancing,
        State::PartnerDown,
        State::CommunicationRecovery,
        State::PartnerInMaintenance,
        State::InMaintenance,
        State::Terminated,
        State::Backup,
    ];

    /// Kea's name of the state, as carried in heartbeats and shown to operators.
    pub fn name(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Syncing => "syncing",
            State::Ready => "ready",
            State::HotStandby => "hot-standby",
            State::LoadBalancing => "load-balancing",
            State::PartnerDown => "partner-down",
            State::CommunicationRecovery => "communication-recovery",
            State::PartnerInMaintenance => "partner-in-maintenance",
            State::InMaintenance => "in-maintenance",
            State::Terminated => "terminated",
            State::Backup => "backup",
        }
    }

    /// The state's position in [`State::ALL`].
    fn index(self) -> usize {
        self as usize
    }

    /// Whether the server takes in DHCP traffic in this state, to answer it or only to watch
    /// whether the partner does (Kea's `adjustNetworkState`). Failure detection by unacked
    /// clients is only possible in these states.
    pub fn listens(self) -> bool {
        matches!(
            self,
            State::HotStandby
                | State::LoadBalancing
                | State::CommunicationRecovery
                | State::PartnerDown
                | State::PartnerInMaintenance
                | State::Terminated
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A state name that is not one of Kea's (or one netdhcp does not implement, like
/// passive-backup).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown HA state {0:?}")]
pub struct UnknownState(pub String);

impl FromStr for State {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        State::ALL
            .into_iter()
            .find(|state| state.name() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

/// Which states pause the machine when it enters them (Kea's `state-machine` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PausePlan {
    modes: [PauseMode; State::ALL.len()],
}

impl Default for PausePlan {
    /// No state pauses.
    fn default() -> Self {
        PausePlan {
            modes: [PauseMode::Never; State::ALL.len()],
        }
    }
}

impl PausePlan {
    /// The plan of a configuration's `(state, pause)` list; unlisted states never pause.
    pub fn new(states: &[(State, PauseMode)]) -> Self {
        let mut plan = PausePlan::default();
        for &(state, mode) in states {
            plan.modes[state.index()] = mode;
        }
        plan
    }

    /// How entering `state` pauses the machine.
    pub fn mode(&self, state: State) -> PauseMode {
        self.modes[state.index()]
    }
}

/// What this server knows of its partner's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartnerState {
    /// Not heard from yet (or its state just changed by a command we sent).
    Unknown,
    /// The last heartbeat failed (Kea's "unavailable").
    Unavailable,
    /// Its state as of the last successful heartbeat.
    Known(State),
}

/// The facts the machine decides by that do not change between events: this server's part in
/// the relationship, from the configuration and from what the peer link negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// The mode of the pair.
    pub mode: HaMode,
    /// This server's role.
    pub role: PeerRole,
    /// This server's auto-failover setting.
    pub auto_failover: bool,
    /// Synchronise the lease database when joining (else go from waiting straight to ready).
    pub sync_leases: bool,
    /// Send lease updates at all.
    pub send_lease_updates: bool,
    /// Whether failure detection counts unacked clients (max-unacked-clients > 0); when false
    /// an interrupted link alone declares the partner down.
    pub detect_by_unacked_clients: bool,
    /// Whether load-balancing goes through communication-recovery when the link drops (Kea's
    /// delayed updates); when false it stays in load-balancing until partner-down.
    pub communication_recovery: bool,
    /// Whether the partner keeps serving while this server synchronises from it and streams its
    /// lease changes meanwhile (a netdhcp partner). When false (a Kea partner) its DHCP service
    /// is disabled for the duration of the sync, as Kea does, so no change is missed.
    pub partner_serves_during_sync: bool,
    /// Which states pause the machine on entry.
    pub pauses: PausePlan,
}

impl Context {
    /// The context of a configured server, with a Kea-compatible peer link (the partner is
    /// disabled during sync until negotiation says otherwise). `None` when the configuration
    /// does not name this server among its peers, which validation prevents.
    pub fn from_config(config: &HaConfig) -> Option<Context> {
        let this = config.this_peer()?;
        Some(Context {
            mode: config.mode,
            role: this.role,
            auto_failover: this.auto_failover,
            sync_leases: config.sync_leases,
            send_lease_updates: config.send_lease_updates,
            detect_by_unacked_clients: config.timers.max_unacked_clients > 0,
            // Kea 2.2 enables delayed updates (delayed-updates-limit 100) by default.
            communication_recovery: config.mode == HaMode::LoadBalancing,
            partner_serves_during_sync: false,
            pauses: PausePlan::new(&config.state_machine),
        })
    }

    /// The state of normal operation for this server.
    pub fn normal_state(&self) -> State {
        match (self.role, self.mode) {
            (PeerRole::Backup, _) => State::Backup,
            (_, HaMode::HotStandby) => State::HotStandby,
            (_, HaMode::LoadBalancing) => State::LoadBalancing,
        }
    }

    /// The scopes this server owns: its own in normal operation.
    pub fn default_scopes(&self) -> Scopes {
        match self.role {
            PeerRole::Primary => Scopes {
                primary: true,
                secondary: false,
            },
            PeerRole::Secondary => Scopes {
                primary: false,
                secondary: true,
            },
            PeerRole::Standby | PeerRole::Backup => Scopes::NONE,
        }
    }

    /// The scopes this server serves when it stands in for its partner.
    pub fn failover_scopes(&self) -> Scopes {
        match (self.role, self.mode) {
            (PeerRole::Backup, _) => Scopes::NONE,
            (_, HaMode::HotStandby) => Scopes {
                primary: true,
                secondary: false,
            },
            (_, HaMode::LoadBalancing) => Scopes {
                primary: true,
                secondary: true,
            },
        }
    }

    fn state_after_waiting(&self) -> State {
        if self.sync_leases {
            State::Syncing
        } else {
            State::Ready
        }
    }
}

/// Whether and how lease changes go to the failover partner (backups are the peer link's
/// business: they get every change whenever updates are configured).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseUpdates {
    /// Each change is sent, and acked before the client's reply leaves.
    Send,
    /// Changes are queued for when the link returns (communication-recovery).
    Queue,
    /// No updates: the partner is down, or this server allocates nothing.
    Off,
}

/// The partner's answer to our ha-maintenance-notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaintenanceAnswer {
    /// It went in-maintenance.
    Accepted,
    /// It could not be reached: it is treated as down.
    Unreachable,
    /// It refused (its state does not allow maintenance).
    Refused,
}

/// Something that happened, as the peer link, the timers, the sync or an operator report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The partner answered a heartbeat.
    HeartbeatSucceeded {
        /// Its state.
        partner: State,
        /// Its clock minus ours, in seconds, from the heartbeat's date-time.
        clock_skew_secs: i64,
        /// Whether its count of lease updates it could not send to us grew since the last
        /// heartbeat (Kea's unsent-update-count): we missed changes and must resync.
        partner_has_unsent_updates: bool,
    },
    /// A heartbeat got no (valid) answer.
    HeartbeatFailed,
    /// No successful heartbeat for max-response-delay.
    CommunicationInterrupted,
    /// The peer link works again; the partner's state comes with the next heartbeat.
    CommunicationRestored,
    /// More than max-unacked-clients of the partner's clients have waited over max-ack-delay.
    UnackedClientsOverThreshold,
    /// The queue of lease updates kept in communication-recovery overflowed.
    LeaseBacklogOverflowed,
    /// The lease sync finished: every page was fetched and applied.
    SyncCompleted,
    /// The lease sync failed; it is retried after the next successful heartbeat.
    SyncFailed,
    /// Operator: put the partner into maintenance and serve its clients (ha-maintenance-start).
    MaintenanceStart,
    /// Operator: end the partner's maintenance (ha-maintenance-cancel).
    MaintenanceCancel,
    /// The partner tells this server to enter (or, `cancel`, leave) maintenance
    /// (ha-maintenance-notify).
    MaintenanceNotify {
        /// Leave maintenance instead of entering it.
        cancel: bool,
    },
    /// The partner's answer to our maintenance notify.
    MaintenanceAnswered(MaintenanceAnswer),
    /// Operator: the partner is down, take over its scopes now (needed without auto-failover).
    PartnerDownCommand,
    /// Operator: let a paused machine move on (ha-continue).
    Continue,
    /// The partner asks this server to start over and resynchronise (ha-reset).
    Reset,
}

/// What the machine asks the server to do, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Answer exactly the clients of these scopes from now on.
    ServeScopes(Scopes),
    /// Apply this lease update policy from now on.
    LeaseUpdates(LeaseUpdates),
    /// Send heartbeats every heartbeat-delay from now on.
    StartHeartbeats,
    /// Stop sending heartbeats.
    StopHeartbeats,
    /// Disable DHCP on the partner for the sync (dhcp-disable; a Kea partner).
    DisablePartnerDhcp,
    /// Re-enable DHCP on the partner (dhcp-enable) after a failed sync.
    EnablePartnerDhcp,
    /// Start fetching the partner's leases (lease4-get-page / lease6-get-page).
    StartSync,
    /// Stop a running sync.
    AbortSync,
    /// Tell the partner the sync is complete (ha-sync-complete-notify; re-enables its DHCP if
    /// it was disabled).
    NotifySyncComplete,
    /// Tell the partner to enter or leave maintenance (ha-maintenance-notify).
    NotifyMaintenance {
        /// Leave instead of enter.
        cancel: bool,
    },
    /// Ask the partner to start over and resync (ha-reset).
    SendReset,
    /// Send the lease updates queued in communication-recovery.
    SendBacklog,
    /// Drop the queued lease updates: a full sync replaces them.
    DiscardBacklog,
    /// The clocks differ by more than [`CLOCK_SKEW_WARN_SECS`]; log it.
    WarnClockSkew {
        /// Partner's clock minus ours.
        secs: i64,
    },
    /// Answer the command that caused this step with an error.
    Refuse {
        /// Why, for the operator.
        reason: &'static str,
    },
    /// Answer the command that caused this step with this text (it was carried out).
    Reply {
        /// Kea's text for the outcome.
        text: &'static str,
    },
}

/// ha-continue's answer when it released a paused machine (Kea's text).
pub const CONTINUE_RELEASED: &str = "HA state machine continues.";
/// ha-continue's answer when the machine was not paused (Kea's text).
pub const CONTINUE_NOT_PAUSED: &str = "HA state machine is not paused.";

/// Everything the machine remembers between events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaState {
    /// This server's state.
    pub state: State,
    /// The partner's state as last known.
    pub partner: PartnerState,
    /// No successful heartbeat for max-response-delay.
    pub communication_interrupted: bool,
    /// Unacked clients over the threshold since communication was interrupted.
    pub unacked_over_threshold: bool,
    /// The partner has lease updates it could not send us.
    pub partner_has_unsent_updates: bool,
    /// Partner's clock minus ours at the last heartbeat, in seconds.
    pub clock_skew_secs: i64,
    /// The communication-recovery queue overflowed.
    pub backlog_overflowed: bool,
    /// A lease sync is running.
    pub sync_running: bool,
    /// We disabled the partner's DHCP for the sync and have not re-enabled it.
    pub partner_dhcp_disabled: bool,
    /// In partner-down: serve the partner's scope even without auto-failover (the operator or a
    /// maintenance hand-over asked for it).
    pub failover_forced: bool,
    /// In (partner-)in-maintenance: the state to return to when maintenance is cancelled.
    pub before_maintenance: Option<State>,
    /// The machine entered a state configured to pause and waits for [`Event::Continue`].
    pub paused: bool,
    /// The states configured to pause once that have paused already (bit per
    /// [`State::index`]).
    pub(super) paused_once: u16,
}

impl HaState {
    /// A fresh machine in `state`, knowing nothing of the partner.
    pub fn new(state: State) -> Self {
        HaState {
            state,
            partner: PartnerState::Unknown,
            communication_interrupted: false,
            unacked_over_threshold: false,
            partner_has_unsent_updates: false,
            clock_skew_secs: 0,
            backlog_overflowed: false,
            sync_running: false,
            partner_dhcp_disabled: false,
            failover_forced: false,
            before_maintenance: None,
            paused: false,
            paused_once: 0,
        }
    }

    /// The machine at start-up (waiting, or backup for a backup server) and the actions that
    /// set the server up for it.
    pub fn start(ctx: &Context) -> (HaState, Vec<Action>) {
        let mut state = HaState::new(if ctx.role == PeerRole::Backup {
            State::Backup
        } else {
            State::Waiting
        });
        // Starting is entering the first state: it pauses as any other entry does.
        state.pause_on_entry(ctx);
        let actions = vec![
            Action::ServeScopes(state.scopes(ctx)),
            Action::LeaseUpdates(state.lease_updates(ctx)),
            if state.heartbeats() {
                Action::StartHeartbeats
            } else {
                Action::StopHeartbeats
            },
        ];
        (state, actions)
    }

    /// The scopes served in this state (see the table in the module above).
    pub fn scopes(&self, ctx: &Context) -> Scopes {
        match self.state {
            State::HotStandby
            | State::LoadBalancing
            | State::CommunicationRecovery
            | State::Terminated => ctx.default_scopes(),
            State::PartnerDown if ctx.auto_failover || self.failover_forced => {
                ctx.failover_scopes()
            }
            State::PartnerDown => ctx.default_scopes(),
            State::PartnerInMaintenance => ctx.failover_scopes(),
            State::Waiting
            | State::Syncing
            | State::Ready
            | State::InMaintenance
            | State::Backup => Scopes::NONE,
        }
    }

    /// The lease update policy towards the partner in this state.
    pub fn lease_updates(&self, ctx: &Context) -> LeaseUpdates {
        if !ctx.send_lease_updates {
            return LeaseUpdates::Off;
        }
        match self.state {
            State::HotStandby | State::LoadBalancing | State::PartnerInMaintenance => {
                LeaseUpdates::Send
            }
            State::CommunicationRecovery => LeaseUpdates::Queue,
            // A netdhcp partner catching up keeps receiving what we change meanwhile, so its
            // sync misses nothing although we never stop serving.
            State::PartnerDown
                if ctx.partner_serves_during_sync
                    && matches!(
                        self.partner,
                        PartnerState::Known(State::Waiting | State::Syncing | State::Ready)
                    ) =>
            {
                LeaseUpdates::Send
            }
            _ => LeaseUpdates::Off,
        }
    }

    /// Whether heartbeats are sent in this state.
    pub fn heartbeats(&self) -> bool {
        !matches!(self.state, State::Terminated | State::Backup)
    }

    /// Pauses the machine if the state just entered is configured to (Kea's `shouldPause`,
    /// consulted only while not paused already, so a `once` is not used up by a paused entry).
    fn pause_on_entry(&mut self, ctx: &Context) {
        if self.paused {
            return;
        }
        let bit = 1u16 << self.state.index();
        self.paused = match ctx.pauses.mode(self.state) {
            PauseMode::Never => false,
            PauseMode::Always => true,
            PauseMode::Once if self.paused_once & bit == 0 => {
                self.paused_once |= bit;
                true
            }
            PauseMode::Once => false,
        };
    }

    fn skew_is_fatal(&self) -> bool {
        self.clock_skew_secs.unsigned_abs() > CLOCK_SKEW_TERMINATE_SECS
    }

    /// Kea's `isPartnerStateInvalid`: the partner reports a normal state of the other mode, so
    /// the two configurations disagree.
    fn partner_state_invalid(&self, ctx: &Context) -> bool {
        match self.partner {
            PartnerState::Known(State::CommunicationRecovery | State::LoadBalancing) => {
                ctx.mode != HaMode::LoadBalancing
            }
            PartnerState::Known(State::HotStandby) => ctx.mode != HaMode::HotStandby,
            _ => false,
        }
    }

    /// Kea's `shouldPartnerDown`: the link must be interrupted; a server that watches the
    /// partner's clients (load-balancing, or the standby) also needs them to go unanswered,
    /// because the partner may be serving fine behind a broken link.
    fn partner_down_warranted(&self, ctx: &Context) -> bool {
        if !self.communication_interrupted {
            return false;
        }
        let watches_partner_clients = self.state.listens()
            && (ctx.mode == HaMode::LoadBalancing || ctx.role == PeerRole::Standby);
        if watches_partner_clients && ctx.detect_by_unacked_clients {
            self.unacked_over_threshold
        } else {
            true
        }
    }
}

/// Advances the machine by one event.
pub fn step(state: &HaState, event: Event, ctx: &Context) -> (HaState, Vec<Action>) {
    let mut next = state.clone();
    let mut actions = Vec::new();
    record(&mut next, event, &mut actions);
    command(&mut next, event, ctx, &mut actions);
    settle(&mut next, ctx, &mut actions);
    // A sync that failed is retried once the partner answers again; one held by a pause starts
    // on the continue.
    if next.state == State::Syncing
        && !next.sync_running
        && !next.paused
        && matches!(event, Event::HeartbeatSucceeded { .. } | Event::Continue)
    {
        begin_sync(&mut next, ctx, &mut actions);
    }
    report_changes(state, &next, ctx, &mut actions);
    (next, actions)
}

/// Takes in what the event says about the partner and the link.
fn record(next: &mut HaState, event: Event, actions: &mut Vec<Action>) {
    match event {
        Event::HeartbeatSucceeded {
            partner,
            clock_skew_secs,
            partner_has_unsent_updates,
        } => {
            next.partner = PartnerState::Known(partner);
            next.communication_interrupted = false;
            next.unacked_over_threshold = false;
            next.clock_skew_secs = clock_skew_secs;
            next.partner_has_unsent_updates = partner_has_unsent_updates;
            let skew = clock_skew_secs.unsigned_abs();
            if skew > CLOCK_SKEW_WARN_SECS && skew <= CLOCK_SKEW_TERMINATE_SECS {
                actions.push(Action::WarnClockSkew {
                    secs: clock_skew_secs,
                });
            }
        }
        Event::HeartbeatFailed => next.partner = PartnerState::Unavailable,
        Event::CommunicationInterrupted => {
            next.partner = PartnerState::Unavailable;
            next.communication_interrupted = true;
        }
        Event::CommunicationRestored => {
            next.communication_interrupted = false;
            next.unacked_over_threshold = false;
        }
        Event::UnackedClientsOverThreshold => {
            // Unacked clients only count while the link is down; before that they are the
            // partner's business.
            if next.communication_interrupted {
                next.unacked_over_threshold = true;
            }
        }
        Event::LeaseBacklogOverflowed => {
            if next.state == State::CommunicationRecovery {
                next.backlog_overflowed = true;
            }
        }
        Event::SyncCompleted
        | Event::SyncFailed
        | Event::MaintenanceStart
        | Event::MaintenanceCancel
        | Event::MaintenanceNotify { .. }
        | Event::MaintenanceAnswered(_)
        | Event::PartnerDownCommand
        | Event::Continue
        | Event::Reset => {}
    }
}

/// States whose lease database is current, so they can take over everyone for a maintenance.
fn can_hand_over(state: State) -> bool {
    matches!(
        state,
        State::HotStandby
            | State::LoadBalancing
            | State::CommunicationRecovery
            | State::PartnerDown
    )
}

/// States that may go in-maintenance when the partner asks: not while this server is the only
/// one serving, nor from a state that never serves anyway.
fn can_enter_maintenance(state: State) -> bool {
    matches!(
        state,
        State::Waiting
            | State::Syncing
            | State::Ready
            | State::HotStandby
            | State::LoadBalancing
            | State::CommunicationRecovery
    )
}

/// The transitions an event causes by itself (commands and sync results).
fn command(next: &mut HaState, event: Event, ctx: &Context, actions: &mut Vec<Action>) {
    let from = next.state;
    match event {
        Event::SyncCompleted if from == State::Syncing && next.sync_running => {
            next.sync_running = false;
            // ha-sync-complete-notify re-enables a partner we disabled.
            next.partner_dhcp_disabled = false;
            actions.push(Action::NotifySyncComplete);
            enter(next, ctx, State::Ready, actions);
        }
        Event::SyncFailed if from == State::Syncing && next.sync_running => {
            next.sync_running = false;
            // Do not leave the partner silent while we wait to retry.
            if next.partner_dhcp_disabled {
                next.partner_dhcp_disabled = false;
                actions.push(Action::EnablePartnerDhcp);
            }
        }
        Event::MaintenanceStart => {
            if can_hand_over(from) {
                actions.push(Action::NotifyMaintenance { cancel: false });
            } else {
                actions.push(Action::Refuse {
                    reason: "this server's leases are not current in this state; it cannot take over for the partner's maintenance",
                });
            }
        }
        Event::MaintenanceAnswered(answer) => {
            if !can_hand_over(from) {
                // The state moved on since the notify left; the hand-over no longer applies.
                return;
            }
            match answer {
                MaintenanceAnswer::Accepted => {
                    enter(next, ctx, State::PartnerInMaintenance, actions);
                    next.before_maintenance = Some(from);
                    next.partner = PartnerState::Known(State::InMaintenance);
                }
                MaintenanceAnswer::Unreachable => {
                    enter(next, ctx, State::PartnerDown, actions);
                    next.failover_forced = true;
                }
                MaintenanceAnswer::Refused => actions.push(Action::Refuse {
                    reason: "the partner refused to enter maintenance",
                }),
            }
        }
        Event::MaintenanceCancel => {
            if from == State::PartnerInMaintenance {
                let back = next.before_maintenance.unwrap_or(ctx.normal_state());
                actions.push(Action::NotifyMaintenance { cancel: true });
                enter(next, ctx, back, actions);
                // The partner is changing state; learn which from the next heartbeat rather
                // than act on the stale "in-maintenance".
                next.partner = PartnerState::Unknown;
            } else {
                actions.push(Action::Refuse {
                    reason: "the partner is not in maintenance",
                });
            }
        }
        Event::MaintenanceNotify { cancel: false } => {
            if can_enter_maintenance(from) {
                enter(next, ctx, State::InMaintenance, actions);
                next.before_maintenance = Some(from);
                next.partner = PartnerState::Known(State::PartnerInMaintenance);
            } else {
                actions.push(Action::Refuse {
                    reason: "this server cannot enter maintenance in its current state",
                });
            }
        }
        Event::MaintenanceNotify { cancel: true } => {
            if from == State::InMaintenance {
                let back = next.before_maintenance.unwrap_or(State::Waiting);
                enter(next, ctx, back, actions);
                next.partner = PartnerState::Unknown;
            } else {
                actions.push(Action::Refuse {
                    reason: "this server is not in maintenance",
                });
            }
        }
        Event::PartnerDownCommand => match from {
            State::Waiting
            | State::Syncing
            | State::Ready
            | State::HotStandby
            | State::LoadBalancing
            | State::CommunicationRecovery
            | State::PartnerDown => {
                enter(next, ctx, State::PartnerDown, actions);
                next.failover_forced = true;
            }
            State::PartnerInMaintenance
            | State::InMaintenance
            | State::Terminated
            | State::Backup => actions.push(Action::Refuse {
                reason: "partner-down does not apply in this state",
            }),
        },
        Event::Reset => match from {
            State::Terminated => actions.push(Action::Refuse {
                reason: "a terminated server must be restarted once the clocks agree",
            }),
            State::Backup => actions.push(Action::Refuse {
                reason: "a backup server has no partner state to reset",
            }),
            _ => enter(next, ctx, State::Waiting, actions),
        },
        Event::Continue => {
            let text = if next.paused {
                next.paused = false;
                CONTINUE_RELEASED
            } else {
                CONTINUE_NOT_PAUSED
            };
            actions.push(Action::Reply { text });
        }
        Event::SyncCompleted
        | Event::SyncFailed
        | Event::HeartbeatSucceeded { .. }
        | Event::HeartbeatFailed
        | Event::CommunicationInterrupted
        | Event::CommunicationRestored
        | Event::UnackedClientsOverThreshold
        | Event::LeaseBacklogOverflowed => {}
    }
}

/// Re-evaluates the state against the partner's until it is stable, as Kea's model loop does.
fn settle(next: &mut HaState, ctx: &Context, actions: &mut Vec<Action>) {
    for _ in 0..MAX_CHAINED_TRANSITIONS {
        if next.paused {
            // Held until the operator's continue; the next event re-evaluates.
            return;
        }
        let (to, action) = evaluate(next, ctx);
        if to == next.state {
            return;
        }
        actions.extend(action);
        enter(next, ctx, to, actions);
    }
}

/// The state this server should be in given what it knows, and an action the move needs (one
/// of communication-recovery's exits). The per-state rules are Kea's state handlers.
fn evaluate(h: &HaState, ctx: &Context) -> (State, Option<Action>) {
    use PartnerState::{Known, Unavailable, Unknown};
    use State::*;
    let current = h.state;
    let stay = (current, None);
    if matches!(current, Terminated | Backup | InMaintenance) {
        // Left only by restart, or by a maintenance cancel (handled as a command).
        return stay;
    }
    if h.skew_is_fatal() {
        return (Terminated, None);
    }
    if current == PartnerInMaintenance {
        // The partner in maintenance is expected to go away; when it does, it is down.
        return if h.partner == Unavailable {
            (PartnerDown, None)
        } else {
            stay
        };
    }
    if h.partner_state_invalid(ctx) {
        return (Waiting, None);
    }
    let normal = ctx.normal_state();
    let is_primary = ctx.role == PeerRole::Primary;
    match (current, h.partner) {
        (_, Unknown) => stay,
        (_, Unavailable) => {
            if h.partner_down_warranted(ctx) {
                (PartnerDown, None)
            } else if current == LoadBalancing && ctx.communication_recovery {
                (CommunicationRecovery, None)
            } else {
                stay
            }
        }
        (Waiting, Known(partner)) => match partner {
            CommunicationRecovery
            | HotStandby
            | LoadBalancing
            | InMaintenance
            | PartnerDown
            | PartnerInMaintenance
            | Ready => (ctx.state_after_waiting(), None),
            // Both waiting: the primary goes first.
            Waiting if is_primary => (ctx.state_after_waiting(), None),
            // Syncing: let it finish. Terminated: it needs a restart first.
            _ => stay,
        },
        (Syncing, Known(Terminated)) => (Terminated, None),
        (Syncing, Known(_)) => stay,
        // The partner changed leases since our sync began without sending them (it served
        // alone and had not yet seen us back): fetch them before serving, or both would give
        // those addresses out.
        (Ready, Known(partner))
            if h.partner_has_unsent_updates
                && matches!(partner, PartnerDown | HotStandby | LoadBalancing | Ready) =>
        {
            (Waiting, None)
        }
        (Ready, Known(partner)) => match partner {
            HotStandby | LoadBalancing | CommunicationRecovery => (normal, None),
            InMaintenance => (PartnerInMaintenance, None),
            PartnerInMaintenance => (InMaintenance, None),
            // Both ready: the primary resumes first, the other follows when it sees it.
            Ready if is_primary => (normal, None),
            Terminated => (Terminated, None),
            _ => stay,
        },
        (HotStandby | LoadBalancing, Known(partner)) => match partner {
            InMaintenance => (PartnerInMaintenance, None),
            // The partner served our clients without us: our leases are stale.
            PartnerDown => (Waiting, None),
            PartnerInMaintenance => (InMaintenance, None),
            Terminated => (Terminated, None),
            _ => stay,
        },
        (CommunicationRecovery, Known(partner)) => match partner {
            InMaintenance => (PartnerInMaintenance, None),
            PartnerDown => (Waiting, None),
            PartnerInMaintenance => (InMaintenance, None),
            Terminated => (Terminated, None),
            // The partner restarted and syncs from us; our queue only matters if it is
            // incomplete, in which case we resync too.
            Waiting | Syncing | Ready => {
                if !h.communication_interrupted && h.backlog_overflowed {
                    (Waiting, None)
                } else {
                    stay
                }
            }
            LoadBalancing | CommunicationRecovery if !h.communication_interrupted => {
                if h.backlog_overflowed {
                    (Waiting, Some(Action::SendReset))
                } else {
                    (normal, Some(Action::SendBacklog))
                }
            }
            _ if h.communication_interrupted => stay,
            _ => (Waiting, None),
        },
        (PartnerDown, Known(partner)) => match partner {
            // Both think the other is down, or the partner recovers on its own: start over.
            CommunicationRecovery | PartnerDown | PartnerInMaintenance => (Waiting, None),
            Ready if h.partner_has_unsent_updates => (Waiting, None),
            Ready => (normal, None),
            Terminated => (Terminated, None),
            _ => stay,
        },
        // Handled before the match; listed so a new state cannot be forgotten here.
        (PartnerInMaintenance | InMaintenance | Terminated | Backup, Known(_)) => stay,
    }
}

/// Starts a lease sync, disabling a Kea partner's DHCP first.
fn begin_sync(next: &mut HaState, ctx: &Context, actions: &mut Vec<Action>) {
    if !ctx.partner_serves_during_sync {
        actions.push(Action::DisablePartnerDhcp);
        next.partner_dhcp_disabled = true;
    }
    actions.push(Action::StartSync);
    next.sync_running = true;
    // This sync fetches whatever the partner changed unsent so far.
    next.partner_has_unsent_updates = false;
}

/// Moves to `to`, with what leaving the old state and entering the new one require.
fn enter(next: &mut HaState, ctx: &Context, to: State, actions: &mut Vec<Action>) {
    let from = next.state;
    if from == to {
        return;
    }
    match from {
        State::Syncing if next.sync_running => {
            actions.push(Action::AbortSync);
            next.sync_running = false;
            if next.partner_dhcp_disabled {
                next.partner_dhcp_disabled = false;
                actions.push(Action::EnablePartnerDhcp);
            }
        }
        State::CommunicationRecovery => {
            // Sent on the way to load-balancing; otherwise a sync will replace it.
            if to != State::LoadBalancing {
                actions.push(Action::DiscardBacklog);
            }
            next.backlog_overflowed = false;
        }
        State::PartnerDown => next.failover_forced = false,
        State::InMaintenance | State::PartnerInMaintenance => next.before_maintenance = None,
        _ => {}
    }
    next.state = to;
    next.pause_on_entry(ctx);
    if to == State::PartnerDown {
        // Leaving a maintenance hand-over, the partner went away as the operator intended: keep
        // its clients whatever auto-failover says. Commands set this too.
        next.failover_forced = from == State::PartnerInMaintenance;
    }
    // A paused syncing does not fetch anything before the continue, as in Kea.
    if to == State::Syncing && !next.paused {
        begin_sync(next, ctx, actions);
    }
}

/// Reports the derived settings (scopes, lease updates, heartbeats) that changed between
/// `before` and `after`.
fn report_changes(before: &HaState, after: &HaState, ctx: &Context, actions: &mut Vec<Action>) {
    let scopes = after.scopes(ctx);
    if scopes != before.scopes(ctx) {
        actions.push(Action::ServeScopes(scopes));
    }
    let updates = after.lease_updates(ctx);
    if updates != before.lease_updates(ctx) {
        actions.push(Action::LeaseUpdates(updates));
    }
    match (before.heartbeats(), after.heartbeats()) {
        (true, false) => actions.push(Action::StopHeartbeats),
        (false, true) => actions.push(Action::StartHeartbeats),
        _ => {}
    }
}
