//! Lease changes to the partner. Between two netdhcp servers every change waiting at a moment
//! goes in one bulk request (lease6-bulk-apply, Kea's own, and lease4-bulk-apply, its DHCPv4
//! form); a Kea partner gets Kea's lease4-update and lease4-del, one per lease, several at once
//! over the link's persistent connections. Changes made while the partner cannot be reached
//! (communication-recovery) wait in a bounded backlog. Backup servers get every change with
//! Kea's commands; the clients' replies wait for them only with wait-backup-ack.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::commands;
use super::family::PeerLease;
use super::http::PeerClient;
use super::port::{Delivery, Outbound};
use super::shared::HaShared;
use crate::engine::Completion;

/// Changes at most per bulk request.
const BULK_LIMIT: usize = 2_000;
/// Requests in flight at once (one per persistent connection).
pub const CONNECTIONS: usize = 4;
/// How long a lease update may take before its clients' replies are given up; a client
/// retransmits after about four seconds anyway.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(5);
/// Changes kept while the partner cannot be reached (Kea's delayed-updates-limit default is
/// 100; a larger backlog spares a full resync after a short outage).
pub const BACKLOG_LIMIT: usize = 10_000;

/// Sends lease changes of one family to one partner.
pub struct UpdateSender<L> {
    client: Arc<PeerClient>,
    backups: Arc<[Arc<PeerClient>]>,
    wait_backup_ack: bool,
    shared: Arc<HaShared>,
    /// Whether the partner takes lease4-bulk-apply (it said so in its heartbeat).
    batched: Arc<AtomicBool>,
    slots: Arc<Semaphore>,
    backlog: Vec<L>,
    overflowed: bool,
}

impl<L: PeerLease> UpdateSender<L> {
    /// A sender to the partner over `client`, and to `backups`.
    pub fn new(
        client: Arc<PeerClient>,
        backups: Vec<Arc<PeerClient>>,
        wait_backup_ack: bool,
        shared: Arc<HaShared>,
    ) -> Self {
        UpdateSender {
            client,
            backups: backups.into(),
            wait_backup_ack,
            shared,
            batched: Arc::new(AtomicBool::new(false)),
            slots: Arc::new(Semaphore::new(CONNECTIONS)),
            backlog: Vec::new(),
            overflowed: false,
        }
    }

    /// Records whether the partner takes batched updates.
    pub fn set_batched(&self, batched: bool) {
        self.batched.store(batched, Ordering::Relaxed);
    }

    /// Sends (or queues, when nothing waits for them) the changes of `items`. Returns true
    /// when the backlog overflowed just now: only a full resync can bring the partner up to
    /// date then.
    pub fn submit(&mut self, items: Vec<Outbound<L>>) -> bool {
        let mut leases = Vec::new();
        let mut dones = Vec::new();
        let mut backups_only = Vec::new();
        for item in items {
            match item.delivery {
                Delivery::Acked(done) => {
                    leases.extend(item.leases);
                    dones.push(done);
                }
                Delivery::Queued => {
                    backups_only.extend(item.leases.iter().cloned());
                    self.queue(item.leases);
                }
                Delivery::BackupsOnly => backups_only.extend(item.leases),
            }
        }
        if !leases.is_empty() {
            self.dispatch(leases, dones);
        }
        if !backups_only.is_empty() && !self.backups.is_empty() {
            tokio::spawn(send_to_backups(
                self.backups.clone(),
                self.slots.clone(),
                backups_only,
                self.shared.clone(),
            ));
        }
        std::mem::take(&mut self.overflowed)
    }

    fn queue(&mut self, leases: Vec<L>) {
        let room = BACKLOG_LIMIT.saturating_sub(self.backlog.len());
        if leases.len() > room {
            self.overflowed = true;
        }
        self.shared
            .counters
            .unsent_updates
            .fetch_add(leases.len() as u64, Ordering::Relaxed);
        self.backlog.extend(leases.into_iter().take(room));
    }

    /// Sends the backlog (the link is back).
    pub fn flush_backlog(&mut self) {
        let leases = std::mem::take(&mut self.backlog);
        if !leases.is_empty() {
            tracing::info!(
                count = leases.len(),
                "sending the lease changes kept while the partner was unreachable"
            );
            self.dispatch(leases, Vec::new());
        }
    }

    /// Drops the backlog: a full sync replaces it.
    pub fn discard_backlog(&mut self) {
        self.backlog.clear();
    }

    /// Changes waiting in the backlog.
    pub fn backlog_len(&self) -> usize {
        self.backlog.len()
    }

    fn dispatch(&self, leases: Vec<L>, dones: Vec<Completion>) {
        let client = self.client.clone();
        let shared = self.shared.clone();
        let slots = self.slots.clone();
        let batched = L::KEA_TAKES_BULK || self.batched.load(Ordering::Relaxed);
        let wait_backup_ack = self.wait_backup_ack;
        let to_backups = (!self.backups.is_empty()).then(|| {
            tokio::spawn(send_to_backups(
                self.backups.clone(),
                slots.clone(),
                leases.clone(),
                shared.clone(),
            ))
        });
        tokio::spawn(async move {
            let count = leases.len() as u64;
            let result = if batched {
                send_bulk(&client, &slots, leases).await
            } else {
                send_each(&client, &slots, leases).await
            };
            let partner_ok = match result {
                Ok(()) => {
                    shared
                        .counters
                        .updates_sent
                        .fetch_add(count, Ordering::Relaxed);
                    true
                }
                Err(e) => {
                    shared
                        .counters
                        .updates_failed
                        .fetch_add(count, Ordering::Relaxed);
                    tracing::warn!(peer = client.url(), error = %e, leases = count, "lease update to the partner failed");
                    false
                }
            };
            let backups_ok = match to_backups {
                Some(task) if wait_backup_ack => task.await.unwrap_or(false),
                _ => true,
            };
            for done in dones {
                done(partner_ok && backups_ok);
            }
        });
    }
}

/// Sends lease changes to every backup server with Kea's commands (a backup sends no
/// heartbeats, so nothing says it takes batches); true if every backup acknowledged them.
async fn send_to_backups<L: PeerLease>(
    backups: Arc<[Arc<PeerClient>]>,
    slots: Arc<Semaphore>,
    leases: Vec<L>,
    shared: Arc<HaShared>,
) -> bool {
    let mut all_ok = true;
    for backup in backups.iter() {
        if let Err(e) = send_each(backup, &slots, leases.clone()).await {
            all_ok = false;
            shared
                .counters
                .backup_updates_failed
                .fetch_add(leases.len() as u64, Ordering::Relaxed);
            tracing::warn!(backup = backup.url(), error = %e, "lease update to a backup failed");
        }
    }
    all_ok
}

/// Why a lease update did not reach the partner.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The request did not get an answer.
    #[error(transparent)]
    Link(#[from] super::http::LinkError),
    /// The answer could not be read.
    #[error(transparent)]
    Answer(#[from] commands::CommandError),
    /// The partner refused the change.
    #[error("the partner refused {command}: {text}")]
    Refused {
        /// The command.
        command: &'static str,
        /// Its answer's text.
        text: String,
    },
}

async fn send_bulk<L: PeerLease>(
    client: &PeerClient,
    slots: &Semaphore,
    leases: Vec<L>,
) -> Result<(), UpdateError> {
    for chunk in leases.chunks(BULK_LIMIT) {
        let (command, body) = L::bulk_request(chunk);
        post_checked(client, slots, command, body, false).await?;
    }
    Ok(())
}

async fn send_each<L: PeerLease>(
    client: &Arc<PeerClient>,
    slots: &Arc<Semaphore>,
    leases: Vec<L>,
) -> Result<(), UpdateError> {
    let mut set = JoinSet::new();
    for lease in leases {
        let (command, body) = L::single_request(&lease);
        let (client, slots) = (client.clone(), slots.clone());
        // A deleted lease the partner never had is as good as deleted.
        let missing_is_ok = lease.is_deletion();
        set.spawn(async move { post_checked(&client, &slots, command, body, missing_is_ok).await });
    }
    let mut first_error = None;
    while let Some(joined) = set.join_next().await {
        if let Ok(Err(e)) = joined {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

async fn post_checked(
    client: &PeerClient,
    slots: &Semaphore,
    command: &'static str,
    body: Vec<u8>,
    missing_is_ok: bool,
) -> Result<(), UpdateError> {
    let _slot = slots.acquire().await.ok();
    let answer = commands::parse_answer(&client.post(body, UPDATE_TIMEOUT).await?)?;
    match answer.result {
        commands::ResultCode::Success => Ok(()),
        commands::ResultCode::Empty if missing_is_ok => Ok(()),
        _ => Err(UpdateError::Refused {
            command,
            text: answer.text,
        }),
    }
}
