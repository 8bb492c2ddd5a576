//! The commands a partner sends us, answered as Kea answers them: heartbeats from the shared
//! status, lease changes and pages through the engine's inbox, dhcp-disable/enable on the
//! shared state, and the state machine's commands (maintenance, reset) through the driver.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::sync::oneshot;

use super::commands::{self, names, Answer, Heartbeat, ResultCode};
use super::commands6;
use super::family::PeerLease;
use super::inbox::{ApplyMode, PeerRequest};
use super::port::HaPort;
use super::shared::HaShared;
use super::state::Event;
use crate::lease::{Lease4, Lease6};

/// The machine's verdict on a command: carried out (with the text Kea answers it with, for a
/// command that has one), or refused for this reason.
pub type Verdict = Result<Option<&'static str>, String>;

/// A command for the state machine, answered with the machine's verdict.
pub struct MachineCommand {
    /// The event the command is.
    pub event: Event,
    /// The verdict.
    pub answer: oneshot::Sender<Verdict>,
}

/// Everything a command needs.
#[derive(Clone)]
pub struct PeerCommands {
    /// The relationship's shared state.
    pub shared: Arc<HaShared>,
    /// The engine's failover port (and the driver's command queue).
    pub port: Arc<HaPort>,
}

fn answer(result: ResultCode, text: impl Into<String>, arguments: Option<Value>) -> Vec<u8> {
    commands::encode_answer(&Answer {
        result,
        text: text.into(),
        arguments,
    })
}

fn error(text: impl Into<String>) -> Vec<u8> {
    answer(ResultCode::Error, text, None)
}

impl PeerCommands {
    /// Answers one request body.
    pub async fn handle(&self, body: &[u8]) -> Vec<u8> {
        let request = match commands::parse_request(body) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "malformed peer command");
                return error(e.to_string());
            }
        };
        let args = request.arguments.as_ref();
        match request.command.as_str() {
            names::HEARTBEAT => self.heartbeat(),
            names::LEASE4_UPDATE => match args.map(commands::lease4_from_json) {
                Some(Ok(lease)) => self.apply::<Lease4>(vec![lease], Vec::new()).await,
                Some(Err(e)) => error(e.to_string()),
                None => error("lease4-update needs arguments"),
            },
            names::LEASE4_DEL => match args.map(commands::parse_lease4_del) {
                Some(Ok(addr)) => self.apply::<Lease4>(Vec::new(), vec![addr]).await,
                Some(Err(e)) => error(e.to_string()),
                None => error("lease4-del needs arguments"),
            },
            names::LEASE4_BULK_APPLY => match args.map(commands::parse_bulk_apply) {
                Some(Ok(bulk)) => self.apply::<Lease4>(bulk.leases, bulk.deleted).await,
                Some(Err(e)) => error(e.to_string()),
                None => error("lease4-bulk-apply needs arguments"),
            },
            names::LEASE4_GET_PAGE => match args.map(commands::parse_get_page) {
                Some(Ok(page)) => self.page::<Lease4>(page.from, page.limit).await,
                Some(Err(e)) => error(e.to_string()),
                None => error("lease4-get-page needs arguments"),
            },
            names::LEASE6_BULK_APPLY => match args.map(commands6::parse_bulk_apply6) {
                Some(Ok(bulk)) => {
                    let deleted = bulk.deleted.iter().map(Lease6::key).collect();
                    self.apply::<Lease6>(bulk.leases, deleted).await
                }
                Some(Err(e)) => error(e.to_string()),
                None => error("lease6-bulk-apply needs arguments"),
            },
            names::LEASE6_UPDATE => match args.map(commands6::lease6_from_json) {
                Some(Ok(lease)) => self.apply::<Lease6>(vec![lease], Vec::new()).await,
                Some(Err(e)) => error(e.to_string()),
                None => error("lease6-update needs arguments"),
            },
            names::LEASE6_DEL => match args.map(commands6::parse_lease6_del) {
                Some(Ok((addr, kind))) => {
                    self.apply::<Lease6>(Vec::new(), vec![(kind, addr)]).await
                }
                Some(Err(e)) => error(e.to_string()),
                None => error("lease6-del needs arguments"),
            },
            names::LEASE6_GET_PAGE => match args.map(commands6::parse_get_page6) {
                Some(Ok(page)) => self.page::<Lease6>(page.from, page.limit).await,
                Some(Err(e)) => error(e.to_string()),
                None => error("lease6-get-page needs arguments"),
            },
            names::DHCP_DISABLE => match commands::parse_dhcp_disable(args) {
                Ok(max_period) => {
                    tracing::info!(
                        ?max_period,
                        "the partner disabled this server's DHCP service"
                    );
                    self.shared
                        .disable_dhcp(max_period.map(Duration::from_secs));
                    answer(ResultCode::Success, "DHCPv4 service disabled", None)
                }
                Err(e) => error(e.to_string()),
            },
            names::DHCP_ENABLE => {
                self.shared.enable_dhcp();
                answer(
                    ResultCode::Success,
                    "DHCP service successfully enabled",
                    None,
                )
            }
            names::SYNC_COMPLETE_NOTIFY => {
                // The partner synchronised from us; it disabled our service for that, if it
                // is a Kea server.
                self.shared.enable_dhcp();
                answer(
                    ResultCode::Success,
                    "Server successfully notified about the synchronization completion.",
                    None,
                )
            }
            names::MAINTENANCE_NOTIFY => match commands::parse_maintenance_notify(args) {
                Ok(cancel) => {
                    self.machine_command(Event::MaintenanceNotify { cancel })
                        .await
                }
                Err(e) => error(e.to_string()),
            },
            names::RESET => self.machine_command(Event::Reset).await,
            names::CONTINUE => self.machine_command(Event::Continue).await,
            other => answer(
                ResultCode::Unsupported,
                format!("'{other}' command not supported."),
                None,
            ),
        }
    }

    fn heartbeat(&self) -> Vec<u8> {
        let status = self.shared.status.load();
        if status.partner_state.is_none() {
            self.shared.partner_seen.notify_one();
        }
        let beat = Heartbeat {
            state: status.state,
            date_time: SystemTime::now(),
            scopes: status.scopes.clone(),
            unsent_update_count: self.shared.counters.unsent_updates.load(Ordering::Relaxed),
            batched_updates: true,
        };
        answer(
            ResultCode::Success,
            "HA peer status returned.",
            Some(commands::heartbeat_arguments(&beat)),
        )
    }

    /// Applies the partner's changes through the family's engine; answered once durable.
    async fn apply<L: PeerLease>(&self, leases: Vec<L>, mut deleted: Vec<L::Key>) -> Vec<u8> {
        // A lease with lifetime 0 is a deletion in Kea's files; treat it so here too.
        let (gone, leases): (Vec<L>, Vec<L>) = leases.into_iter().partition(L::is_deletion);
        deleted.extend(gone.iter().map(L::key));
        let (tx, rx) = oneshot::channel();
        L::inbox(&self.port).send(PeerRequest::Apply {
            leases,
            deleted,
            mode: ApplyMode::Update,
            done: tx,
        });
        match rx.await {
            Ok(Ok(report)) => {
                self.shared
                    .counters
                    .updates_received
                    .fetch_add(report.applied + report.deleted, Ordering::Relaxed);
                answer(
                    ResultCode::Success,
                    format!("{} lease changes applied.", L::FAMILY),
                    None,
                )
            }
            Ok(Err(e)) => error(e.to_string()),
            Err(_) => error(format!("the {} engine is not running", L::FAMILY)),
        }
    }

    /// Lists a page of the family's leases. Kea answers the last, empty page with result 3
    /// and an empty list, and its sync wants the list.
    async fn page<L: PeerLease>(&self, from: Option<L::Addr>, limit: u32) -> Vec<u8> {
        let (tx, rx) = oneshot::channel();
        L::inbox(&self.port).send(PeerRequest::GetPage {
            from,
            limit,
            filter: None,
            done: tx,
        });
        match rx.await {
            // Unfiltered: the engine fills the page whatever it has to look at.
            Ok(page) => commands::encode_answer(&L::page_answer(&page.leases)),
            Err(_) => error(format!("the {} engine is not running", L::FAMILY)),
        }
    }

    async fn machine_command(&self, event: Event) -> Vec<u8> {
        match self.port.command(event).await {
            Ok(text) => answer(
                ResultCode::Success,
                text.unwrap_or("command carried out"),
                None,
            ),
            // Kea's code for a refused maintenance; a plain error would make a Kea partner
            // take us for down.
            Err(reason) => answer(ResultCode::MaintenanceNotAllowed, reason, None),
        }
    }
}
