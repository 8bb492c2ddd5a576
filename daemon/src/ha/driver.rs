//! The failover driver: one task per process that runs the configured relationship. It feeds
//! the pure state machine ([`super::state::step`]) with what happens (heartbeat answers and
//! failures, timeouts, unacked clients, sync results, partner and operator commands) and carries
//! out its actions: which clients the engine answers, whether lease changes go to the partner,
//! lease syncs, and commands to the partner. A commit that changes only timers or the page size
//! is taken up live; one that changes who the peers are restarts the relationship.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::commands::{self, names, Heartbeat, ResultCode, Service};
use super::family::PeerLease;
use super::http::{PeerClient, PeerListener};
use super::inbox::{ApplyMode, PeerRequest};
use super::peer_commands::{MachineCommand, PeerCommands, Verdict};
use super::port::{HaPort, Outbound, Outbound4, Outbound6, PortReceivers};
use super::sender::{self, UpdateSender};
use super::shared::{HaShared, HaStatus};
use super::state::{
    step, Action, Context, Event, HaState, MaintenanceAnswer, PartnerState, PausePlan,
};
use super::Scopes;
use crate::config::{HaConfig, PeerRole};
use crate::lease::{Lease4, Lease6};

/// How long a heartbeat may take before it counts as failed, at most.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one page of a sync may take.
const PAGE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a Kea partner stays disabled for our sync unless re-enabled sooner (Kea's
/// sync-timeout default).
const SYNC_DISABLE_SECS: u64 = 60;
/// Outbound lease changes taken in one go.
const OUTBOUND_BATCH: usize = 512;

/// The configured relationship as the driver receives it from commits.
pub type HaConfigWatch = watch::Receiver<Option<Arc<HaConfig>>>;

/// The failover service of the process.
pub struct HaService {
    port: Arc<HaPort>,
    outbound4: mpsc::UnboundedReceiver<Outbound4>,
    outbound6: mpsc::UnboundedReceiver<Outbound6>,
    commands: mpsc::UnboundedReceiver<MachineCommand>,
    config: HaConfigWatch,
}

impl HaService {
    /// A service feeding `port`'s engine, configured through `config`.
    pub fn new(port: Arc<HaPort>, receivers: PortReceivers, config: HaConfigWatch) -> Self {
        HaService {
            port,
            outbound4: receivers.outbound4,
            outbound6: receivers.outbound6,
            commands: receivers.commands,
            config,
        }
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            let config = self.config.borrow_and_update().clone();
            let ended = match config {
                Some(config) => match Relationship::start(config, self.port.clone()).await {
                    Ok(rel) => {
                        let queues = Queues {
                            outbound4: &mut self.outbound4,
                            outbound6: &mut self.outbound6,
                            commands: &mut self.commands,
                        };
                        rel.run(queues, &mut self.config, &mut shutdown).await
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "failover cannot start; serving no clients until the configuration changes");
                        self.idle(&mut shutdown).await
                    }
                },
                None => self.idle(&mut shutdown).await,
            };
            self.port.shared.store(None);
            if ended == Ended::Shutdown {
                return;
            }
        }
    }

    /// Waits for a configuration change, failing any lease change handed over meanwhile.
    async fn idle(&mut self, shutdown: &mut watch::Receiver<bool>) -> Ended {
        loop {
            tokio::select! {
                _ = shutdown.changed() => return Ended::Shutdown,
                changed = self.config.changed(), if config_open(&self.config) => {
                    if changed.is_ok() {
                        return Ended::Reconfigure;
                    }
                }
                Some(item) = self.outbound4.recv() => item.fail(),
                Some(item) = self.outbound6.recv() => item.fail(),
                Some(command) = self.commands.recv() => {
                    let _ = command.answer.send(Err("failover is not running on this server".into()));
                }
            }
        }
    }
}

/// Whether commits can still change the configuration.
fn config_open(config: &HaConfigWatch) -> bool {
    config.has_changed().is_ok()
}

/// The service's queues, lent to the running relationship.
struct Queues<'a> {
    outbound4: &'a mut mpsc::UnboundedReceiver<Outbound4>,
    outbound6: &'a mut mpsc::UnboundedReceiver<Outbound6>,
    commands: &'a mut mpsc::UnboundedReceiver<MachineCommand>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Shutdown,
    Reconfigure,
}

/// Why a relationship could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// This server is not among the peers (validation prevents it).
    #[error("this-server-name names no peer")]
    NotAPeer,
    /// The peer link could not be set up.
    #[error(transparent)]
    Link(#[from] super::http::LinkError),
}

/// Whether two configurations describe the same relationship (same servers, roles, mode and
/// link security): if so a commit between them is taken up without a restart.
fn same_relationship(a: &HaConfig, b: &HaConfig) -> bool {
    a.this_server_name == b.this_server_name
        && a.mode == b.mode
        && a.peers == b.peers
        && a.tls == b.tls
        && a.basic_auth == b.basic_auth
        && a.send_lease_updates == b.send_lease_updates
        && a.sync_leases == b.sync_leases
}

/// How one step of the machine answers the command that caused it.
#[derive(Debug, Default)]
struct Outcome {
    /// Why the machine refused it.
    refusal: Option<&'static str>,
    /// The text it answered with, for a command that has one.
    reply: Option<&'static str>,
}

impl Outcome {
    fn verdict(self) -> Verdict {
        match self.refusal {
            Some(reason) => Err(reason.to_string()),
            None => Ok(self.reply),
        }
    }
}

/// What the driver's own tasks report back.
enum Internal {
    Heartbeat(Result<Heartbeat, String>),
    Machine(Event),
    SyncProgress(u64),
}

struct Relationship {
    config: Arc<HaConfig>,
    ctx: Context,
    machine: HaState,
    shared: Arc<HaShared>,
    port: Arc<HaPort>,
    client: Option<Arc<PeerClient>>,
    sender4: Option<UpdateSender<Lease4>>,
    sender6: Option<UpdateSender<Lease6>>,
    listener: JoinHandle<()>,
    stop_listener: Option<oneshot::Sender<()>>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    internal: mpsc::UnboundedReceiver<Internal>,
    heartbeats: bool,
    heartbeat_in_flight: bool,
    last_heartbeat_ok: Instant,
    /// The partner's unsent-update-count our leases account for: as of our last sync (or the
    /// first heartbeat). A count above it means the partner changed leases we never got.
    partner_unsent_baseline: Option<u64>,
    partner_unsent_now: u64,
    sync: Option<JoinHandle<()>>,
    sync_started: Option<Instant>,
}

impl Relationship {
    async fn start(config: Arc<HaConfig>, port: Arc<HaPort>) -> Result<Self, StartError> {
        let this = config.this_peer().ok_or(StartError::NotAPeer)?.clone();
        let ctx = Context::from_config(&config).ok_or(StartError::NotAPeer)?;
        let client = match config.partner() {
            Some(partner) => Some(Arc::new(PeerClient::new(
                &partner.url,
                config.tls.as_ref(),
                config.basic_auth.as_ref(),
                sender::CONNECTIONS,
            )?)),
            None => None,
        };
        let listener =
            PeerListener::bind(&this.url, config.tls.as_ref(), config.basic_auth.as_ref()).await?;
        let (machine, actions) = HaState::start(&ctx);
        let backups = config
            .backups()
            .map(|b| {
                PeerClient::new(
                    &b.url,
                    config.tls.as_ref(),
                    config.basic_auth.as_ref(),
                    sender::CONNECTIONS,
                )
                .map(Arc::new)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let shared = HaShared::new(
            config.mode,
            config.timers.max_ack_delay,
            !backups.is_empty() && config.send_lease_updates,
            HaStatus::new(
                config.this_server_name.clone(),
                config.partner().map(|p| p.name.clone()).unwrap_or_default(),
                machine.state,
            ),
        );
        let handler = PeerCommands {
            shared: shared.clone(),
            port: port.clone(),
        };
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        tracing::info!(
            listen = %listener.local_addr(),
            this = %config.this_server_name,
            mode = config.mode.as_str(),
            role = this.role.as_str(),
            "failover peer link listening"
        );
        let listener = tokio::spawn(listener.serve(
            move |body| {
                let handler = handler.clone();
                async move { handler.handle(&body).await }
            },
            async move {
                let _ = stop_rx.await;
            },
        ));
        let (internal_tx, internal) = mpsc::unbounded_channel();
        let sender4 = client.as_ref().map(|c| {
            UpdateSender::new(
                c.clone(),
                backups.clone(),
                config.wait_backup_ack,
                shared.clone(),
            )
        });
        let sender6 = client
            .as_ref()
            .map(|c| UpdateSender::new(c.clone(), backups, config.wait_backup_ack, shared.clone()));
        let mut rel = Relationship {
            config,
            ctx,
            machine,
            shared,
            port,
            client,
            sender4,
            sender6,
            listener,
            stop_listener: Some(stop_tx),
            internal_tx,
            internal,
            heartbeats: false,
            heartbeat_in_flight: false,
            last_heartbeat_ok: Instant::now(),
            partner_unsent_baseline: None,
            partner_unsent_now: 0,
            sync: None,
            sync_started: None,
        };
        let _ = rel.execute(actions);
        if rel.machine.paused {
            tracing::info!(
                state = rel.machine.state.name(),
                "failover state machine paused; ha-continue resumes it"
            );
            let _ = rel.port.state_changes.send(super::port::StateChange {
                previous: rel.machine.state,
                state: rel.machine.state,
                partner: None,
                paused: true,
            });
        }
        rel.publish();
        rel.port.shared.store(Some(rel.shared.clone()));
        Ok(rel)
    }

    async fn run(
        mut self,
        queues: Queues<'_>,
        config: &mut HaConfigWatch,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Ended {
        let mut tick = tokio::time::interval(self.config.timers.heartbeat_delay);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let ended = loop {
            tokio::select! {
                _ = shutdown.changed() => break Ended::Shutdown,
                changed = config.changed(), if config_open(config) => {
                    if changed.is_err() {
                        // No more commits (NETCONF is off): the relationship runs as started.
                        continue;
                    }
                    let next = config.borrow_and_update().clone();
                    match next {
                        Some(next) if same_relationship(&self.config, &next) => {
                            if next.timers.heartbeat_delay != self.config.timers.heartbeat_delay {
                                tick = tokio::time::interval(next.timers.heartbeat_delay);
                                tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
                            }
                            self.shared.set_max_ack_delay(next.timers.max_ack_delay);
                            // Takes effect at the next state entry; a pause in force lasts
                            // until the operator's continue.
                            self.ctx.pauses = PausePlan::new(&next.state_machine);
                            self.config = next;
                            tracing::info!("failover timers updated");
                        }
                        _ => {
                            tracing::info!("failover relationship reconfigured; starting over");
                            break Ended::Reconfigure;
                        }
                    }
                }
                Some(item) = queues.outbound4.recv() => {
                    let items = with_waiting(item, queues.outbound4);
                    if submit(self.sender4.as_mut(), items) {
                        self.step(Event::LeaseBacklogOverflowed);
                    }
                }
                Some(item) = queues.outbound6.recv() => {
                    let items = with_waiting(item, queues.outbound6);
                    if submit(self.sender6.as_mut(), items) {
                        self.step(Event::LeaseBacklogOverflowed);
                    }
                }
                _ = tick.tick() => self.on_tick(),
                // Detection at the deadline itself, not at the next tick after it.
                _ = tokio::time::sleep_until(
                    (self.last_heartbeat_ok + self.config.timers.max_response_delay).into()
                ), if self.heartbeats && !self.machine.communication_interrupted => {
                    self.check_interrupted();
                }
                // The partner's heartbeat reached us while we took it for gone: ask for its
                // state now rather than at our next tick, so changes start flowing to it at once.
                _ = self.shared.partner_seen.notified() => self.send_heartbeat(),
                Some(internal) = self.internal.recv() => self.on_internal(internal),
                Some(command) = queues.commands.recv() => {
                    let outcome = self.step(command.event);
                    let _ = command.answer.send(outcome.verdict());
                }
            }
        };
        if let Some(sync) = self.sync.take() {
            sync.abort();
        }
        if let Some(stop) = self.stop_listener.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.listener).await;
        ended
    }

    fn send_heartbeat(&mut self) {
        let Some(client) = self.client.clone() else {
            return;
        };
        if self.heartbeats && !self.heartbeat_in_flight {
            self.heartbeat_in_flight = true;
            let tx = self.internal_tx.clone();
            let timeout = self.config.timers.max_response_delay.min(HEARTBEAT_TIMEOUT);
            tokio::spawn(async move {
                let result = heartbeat(&client, timeout).await;
                let _ = tx.send(Internal::Heartbeat(result));
            });
        }
    }

    /// Communication counts as interrupted once no heartbeat succeeded for max-response-delay.
    fn check_interrupted(&mut self) {
        if self.client.is_some()
            && !self.machine.communication_interrupted
            && self.heartbeats
            && self.last_heartbeat_ok.elapsed() >= self.config.timers.max_response_delay
        {
            tracing::warn!(
                partner = %self.shared.status.load().partner_name,
                "communication with the partner interrupted"
            );
            self.shared.set_communication_interrupted(true);
            self.step(Event::CommunicationInterrupted);
        }
    }

    fn on_tick(&mut self) {
        if self.client.is_none() {
            return;
        }
        self.send_heartbeat();
        let interrupted = self.machine.communication_interrupted;
        if !interrupted {
            self.check_interrupted();
        } else if interrupted
            && self.ctx.detect_by_unacked_clients
            && !self.machine.unacked_over_threshold
            && self.shared.unacked_clients() > self.config.timers.max_unacked_clients as usize
        {
            tracing::warn!(
                unacked = self.shared.unacked_clients(),
                "the partner leaves clients unanswered"
            );
            self.step(Event::UnackedClientsOverThreshold);
        }
    }

    fn on_internal(&mut self, internal: Internal) {
        match internal {
            Internal::Heartbeat(result) => {
                self.heartbeat_in_flight = false;
                match result {
                    Ok(beat) => self.heartbeat_succeeded(beat),
                    Err(e) => {
                        tracing::debug!(error = %e, "heartbeat failed");
                        self.step(Event::HeartbeatFailed);
                    }
                }
            }
            Internal::Machine(event) => {
                if matches!(event, Event::SyncCompleted | Event::SyncFailed) {
                    self.sync = None;
                    if event == Event::SyncCompleted {
                        let took = self.sync_started.take().map(|t| t.elapsed());
                        self.shared.update_status(|s| s.last_sync_duration = took);
                        tracing::info!(
                            leases = self.shared.status.load().sync_leases,
                            took_ms = took.map(|d| d.as_millis() as u64),
                            "lease sync complete"
                        );
                    }
                }
                self.step(event);
            }
            Internal::SyncProgress(applied) => {
                self.shared.update_status(|s| s.sync_leases = applied);
            }
        }
    }

    fn heartbeat_succeeded(&mut self, beat: Heartbeat) {
        self.last_heartbeat_ok = Instant::now();
        if self.machine.communication_interrupted {
            tracing::info!("communication with the partner restored");
            self.shared.set_communication_interrupted(false);
            self.step(Event::CommunicationRestored);
        }
        // A netdhcp partner keeps serving while we sync from it and takes batched updates.
        self.ctx.partner_serves_during_sync = beat.batched_updates;
        if let Some(sender) = &self.sender4 {
            sender.set_batched(beat.batched_updates);
        }
        let count = beat.unsent_update_count;
        // A count below the baseline is a restarted partner; its new count starts from zero.
        let baseline = match self.partner_unsent_baseline {
            Some(b) if count >= b => b,
            Some(_) => 0,
            None => count,
        };
        self.partner_unsent_baseline = Some(baseline);
        self.partner_unsent_now = count;
        let grew = count > baseline;
        let skew = commands::clock_skew_secs(beat.date_time, SystemTime::now());
        self.shared
            .update_status(|s| s.last_heartbeat = Some(SystemTime::now()));
        self.step(Event::HeartbeatSucceeded {
            partner: beat.state,
            clock_skew_secs: skew,
            partner_has_unsent_updates: grew,
        });
    }

    /// Advances the machine; returns how a command came out.
    fn step(&mut self, event: Event) -> Outcome {
        let before = self.machine.state;
        let was_paused = self.machine.paused;
        let (next, actions) = step(&self.machine, event, &self.ctx);
        self.machine = next;
        if self.machine.state != before {
            tracing::info!(
                from = before.name(),
                to = self.machine.state.name(),
                ?event,
                "failover state changed"
            );
        }
        if self.machine.state != before || self.machine.paused != was_paused {
            // Nobody listening (no NETCONF) is fine.
            let _ = self.port.state_changes.send(super::port::StateChange {
                previous: before,
                state: self.machine.state,
                partner: match self.machine.partner {
                    PartnerState::Known(s) => Some(s),
                    PartnerState::Unknown | PartnerState::Unavailable => None,
                },
                paused: self.machine.paused,
            });
        }
        if self.machine.paused != was_paused {
            if self.machine.paused {
                tracing::info!(
                    state = self.machine.state.name(),
                    "failover state machine paused; ha-continue resumes it"
                );
            } else {
                tracing::info!(
                    state = self.machine.state.name(),
                    "failover state machine continues"
                );
            }
        }
        let outcome = self.execute(actions);
        self.publish();
        outcome
    }

    fn execute(&mut self, actions: Vec<Action>) -> Outcome {
        let mut outcome = Outcome::default();
        for action in actions {
            match action {
                Action::ServeScopes(scopes) => {
                    self.shared.set_scopes(scopes);
                    let names = self.scope_names(scopes);
                    self.shared.update_status(|s| s.scopes = names);
                }
                Action::LeaseUpdates(updates) => self.shared.set_lease_updates(updates),
                Action::StartHeartbeats => self.heartbeats = true,
                Action::StopHeartbeats => self.heartbeats = false,
                Action::DisablePartnerDhcp => self.tell_partner(
                    names::DHCP_DISABLE,
                    Some(commands::dhcp_disable_arguments(SYNC_DISABLE_SECS)),
                    None,
                ),
                Action::EnablePartnerDhcp => self.tell_partner(
                    names::DHCP_ENABLE,
                    Some(commands::dhcp_enable_arguments()),
                    None,
                ),
                Action::StartSync => {
                    self.partner_unsent_baseline = Some(self.partner_unsent_now);
                    self.start_sync();
                }
                Action::AbortSync => {
                    if let Some(sync) = self.sync.take() {
                        sync.abort();
                    }
                }
                Action::NotifySyncComplete => self.tell_partner(
                    names::SYNC_COMPLETE_NOTIFY,
                    commands::sync_complete_notify_arguments(&self.config.this_server_name),
                    None,
                ),
                Action::NotifyMaintenance { cancel } => self.tell_partner(
                    names::MAINTENANCE_NOTIFY,
                    Some(commands::maintenance_notify_arguments(cancel)),
                    (!cancel).then_some(AnswerEvent::Maintenance),
                ),
                Action::SendReset => self.tell_partner(names::RESET, None, None),
                Action::SendBacklog => {
                    if let Some(sender) = self.sender4.as_mut() {
                        sender.flush_backlog();
                    }
                    if let Some(sender) = self.sender6.as_mut() {
                        sender.flush_backlog();
                    }
                }
                Action::DiscardBacklog => {
                    if let Some(sender) = self.sender4.as_mut() {
                        sender.discard_backlog();
                    }
                    if let Some(sender) = self.sender6.as_mut() {
                        sender.discard_backlog();
                    }
                }
                Action::WarnClockSkew { secs } => tracing::warn!(
                    skew_secs = secs,
                    "the partner's clock differs from ours; over 60 s the relationship terminates"
                ),
                Action::Refuse { reason } => outcome.refusal = Some(reason),
                Action::Reply { text } => outcome.reply = Some(text),
            }
        }
        outcome
    }

    fn scope_names(&self, scopes: Scopes) -> Vec<String> {
        let name_of = |role: PeerRole| {
            self.config
                .peers
                .iter()
                .find(|p| p.role == role)
                .map(|p| p.name.clone())
        };
        let mut names = Vec::new();
        if scopes.primary {
            names.extend(name_of(PeerRole::Primary));
        }
        if scopes.secondary {
            names.extend(name_of(PeerRole::Secondary));
        }
        names
    }

    fn publish(&self) {
        let m = &self.machine;
        let partner_state = match m.partner {
            PartnerState::Known(s) => Some(s),
            PartnerState::Unknown | PartnerState::Unavailable => None,
        };
        self.shared.update_status(|s| {
            s.state = m.state;
            s.partner_state = partner_state;
            s.communication_interrupted = m.communication_interrupted;
            s.clock_skew_secs = m.clock_skew_secs;
            s.sync_running = m.sync_running;
            s.paused = m.paused;
        });
    }

    /// Sends a command to the partner in the background; `answer` turns its outcome into an
    /// event for the machine.
    fn tell_partner(
        &self,
        command: &'static str,
        arguments: Option<serde_json::Value>,
        answer: Option<AnswerEvent>,
    ) {
        let Some(client) = self.client.clone() else {
            return;
        };
        let tx = self.internal_tx.clone();
        let timeout = self.config.timers.max_response_delay.min(HEARTBEAT_TIMEOUT);
        tokio::spawn(async move {
            let body = commands::encode_request(command, Service::Dhcp4, arguments);
            let outcome = match client.post(body, timeout).await {
                Ok(bytes) => match commands::parse_answer(&bytes) {
                    Ok(a) if a.result == ResultCode::Success => Ok(()),
                    Ok(a) => Err(Some(a.text)),
                    Err(e) => Err(Some(e.to_string())),
                },
                Err(e) => {
                    tracing::warn!(command, error = %e, "command to the partner failed");
                    Err(None)
                }
            };
            if let Err(Some(text)) = &outcome {
                tracing::warn!(command, answer = %text, "the partner refused a command");
            }
            if let Some(AnswerEvent::Maintenance) = answer {
                let answered = match outcome {
                    Ok(()) => MaintenanceAnswer::Accepted,
                    Err(None) => MaintenanceAnswer::Unreachable,
                    Err(Some(_)) => MaintenanceAnswer::Refused,
                };
                let _ = tx.send(Internal::Machine(Event::MaintenanceAnswered(answered)));
            }
        });
    }

    fn start_sync(&mut self) {
        let Some(client) = self.client.clone() else {
            return;
        };
        if let Some(old) = self.sync.take() {
            old.abort();
        }
        let tx = self.internal_tx.clone();
        let port = self.port.clone();
        let limit = self.config.sync_page_size;
        // A Kea partner's HA listener serves one family (Kea runs DHCPv6 failover in
        // kea-dhcp6, behind its own URL); a netdhcp partner serves both on one link.
        let with_v6 = self.ctx.partner_serves_during_sync;
        self.sync_started = Some(Instant::now());
        self.shared.update_status(|s| s.sync_leases = 0);
        tracing::info!(page_size = limit, "lease sync from the partner started");
        self.sync = Some(tokio::spawn(async move {
            let synced = match sync_family::<Lease4>(&client, &port, limit, &tx, 0).await {
                Ok(v4) if with_v6 => sync_family::<Lease6>(&client, &port, limit, &tx, v4).await,
                other => other,
            };
            let event = match synced {
                Ok(_) => Event::SyncCompleted,
                Err(e) => {
                    tracing::warn!(error = %e, "lease sync failed; retried after the next heartbeat");
                    Event::SyncFailed
                }
            };
            let _ = tx.send(Internal::Machine(event));
        }));
    }
}

#[derive(Debug, Clone, Copy)]
enum AnswerEvent {
    Maintenance,
}

async fn heartbeat(client: &PeerClient, timeout: Duration) -> Result<Heartbeat, String> {
    let body = commands::encode_request(names::HEARTBEAT, Service::Dhcp4, None);
    let bytes = client
        .post(body, timeout)
        .await
        .map_err(|e| e.to_string())?;
    let answer = commands::parse_answer(&bytes).map_err(|e| e.to_string())?;
    if answer.result != ResultCode::Success {
        return Err(format!("heartbeat refused: {}", answer.text));
    }
    let arguments = answer
        .arguments
        .ok_or_else(|| "heartbeat answer without arguments".to_string())?;
    commands::parse_heartbeat(&arguments).map_err(|e| e.to_string())
}

/// Up to `OUTBOUND_BATCH` queued changes, `first` included.
fn with_waiting<L>(
    first: Outbound<L>,
    queue: &mut mpsc::UnboundedReceiver<Outbound<L>>,
) -> Vec<Outbound<L>> {
    let mut items = vec![first];
    while items.len() < OUTBOUND_BATCH {
        match queue.try_recv() {
            Ok(item) => items.push(item),
            Err(_) => break,
        }
    }
    items
}

/// Hands changes to the sender (or fails them when there is no partner to send to); true if
/// the backlog overflowed.
fn submit<L: PeerLease>(sender: Option<&mut UpdateSender<L>>, items: Vec<Outbound<L>>) -> bool {
    match sender {
        Some(sender) => sender.submit(items),
        None => {
            items.into_iter().for_each(Outbound::fail);
            false
        }
    }
}

/// Fetches the partner's leases of one family page by page and applies each page (keeping
/// ours where newer) before asking for the next, so memory holds one page at a time.
/// `applied` counts on from the leases an earlier family's sync applied.
async fn sync_family<L: PeerLease>(
    client: &PeerClient,
    port: &HaPort,
    limit: u32,
    progress: &mpsc::UnboundedSender<Internal>,
    mut applied: u64,
) -> Result<u64, String> {
    let mut from = None;
    loop {
        let body = L::get_page_request(from, limit);
        let bytes = client
            .post(body, PAGE_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        let answer = commands::parse_answer(&bytes).map_err(|e| e.to_string())?;
        if answer.result == ResultCode::Empty {
            return Ok(applied);
        }
        if answer.result != ResultCode::Success {
            return Err(format!("{} lease page refused: {}", L::FAMILY, answer.text));
        }
        let arguments = answer
            .arguments
            .ok_or_else(|| "lease page without arguments".to_string())?;
        // Kea skips a lease it cannot read rather than fail the sync; so do we.
        let page = L::read_page(&arguments).map_err(|e| e.to_string())?;
        for rejected in &page.rejected {
            tracing::warn!(family = L::FAMILY, error = %rejected, "partner lease skipped by the sync");
        }
        let Some(last) = page.last else {
            return Ok(applied);
        };
        let full_page = page.count >= limit as usize;
        let (tx, rx) = oneshot::channel();
        L::inbox(port).send(PeerRequest::Apply {
            leases: page.leases,
            deleted: Vec::new(),
            mode: ApplyMode::Sync,
            done: tx,
        });
        let report = rx
            .await
            .map_err(|_| format!("the {} engine stopped", L::FAMILY))?
            .map_err(|e| e.to_string())?;
        applied += report.applied;
        let _ = progress.send(Internal::SyncProgress(applied));
        if !full_page {
            return Ok(applied);
        }
        from = Some(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HaMode, HaPeer, HaTimers};

    fn config() -> HaConfig {
        HaConfig {
            this_server_name: "a".into(),
            mode: HaMode::HotStandby,
            peers: vec![
                HaPeer {
                    name: "a".into(),
                    url: "http://127.0.0.1:18001/".into(),
                    role: PeerRole::Primary,
                    auto_failover: true,
                },
                HaPeer {
                    name: "b".into(),
                    url: "http://127.0.0.1:18002/".into(),
                    role: PeerRole::Standby,
                    auto_failover: true,
                },
            ],
            timers: HaTimers::default(),
            sync_page_size: 100,
            send_lease_updates: true,
            sync_leases: true,
            wait_backup_ack: false,
            tls: None,
            basic_auth: None,
            state_machine: Vec::new(),
        }
    }

    #[test]
    fn timer_changes_keep_the_relationship_peer_changes_restart_it() {
        let a = config();
        let mut timers = a.clone();
        timers.timers.heartbeat_delay = Duration::from_millis(500);
        timers.sync_page_size = 7;
        assert!(same_relationship(&a, &timers));
        let mut peers = a.clone();
        peers.peers[1].url = "http://127.0.0.1:18003/".into();
        assert!(!same_relationship(&a, &peers));
        let mut mode = a.clone();
        mode.mode = HaMode::LoadBalancing;
        assert!(!same_relationship(&a, &mode));
    }
}
