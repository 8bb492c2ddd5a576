//! Failover as the commit pipeline sees it: prepare checks that the new relationship can run
//! (peer URLs, TLS files, the listening address free), apply hands it to the driver.

use std::sync::Arc;

use tokio::sync::watch;

use super::http::{PeerClient, PeerEndpoint};
use crate::config::{HaConfig, RuntimeConfig};
use crate::northbound::commit::{Reservation, Subsystem};
use crate::northbound::error::{error, AtPath};
use netconf::error::{ErrorTag, ErrorType, RpcError};

/// The failover subsystem.
pub struct HaSubsystem {
    /// Where the driver takes its configuration from.
    pub config: watch::Sender<Option<Arc<HaConfig>>>,
}

fn failed(message: String, path: &str) -> RpcError {
    error(ErrorType::Application, ErrorTag::OperationFailed, message).at(path)
}

/// Checks what a relationship needs from the system, without starting it. `current` is the
/// running relationship, whose listener may already hold this server's address.
pub fn check(current: Option<&HaConfig>, next: &HaConfig) -> Result<(), RpcError> {
    let ha = yang::paths::HA;
    for peer in &next.peers {
        let path = format!("{ha}/peer[name='{}']/url", peer.name);
        if peer.name == next.this_server_name {
            PeerEndpoint::parse(&peer.url).map_err(|e| failed(e.to_string(), &path))?;
        } else {
            // Loads the TLS files too, so an unreadable certificate fails the commit.
            PeerClient::new(&peer.url, next.tls.as_ref(), next.basic_auth.as_ref(), 1)
                .map_err(|e| failed(e.to_string(), &path))?;
        }
    }
    let this = next
        .this_peer()
        .ok_or_else(|| failed("this-server-name names no peer".into(), ha))?;
    let listening = current.and_then(|c| c.this_peer()).map(|p| p.url.as_str());
    if listening != Some(this.url.as_str()) {
        let endpoint = PeerEndpoint::parse(&this.url).map_err(|e| {
            failed(
                e.to_string(),
                &format!("{ha}/peer[name='{}']/url", this.name),
            )
        })?;
        let addr = endpoint.listen_addr().map_err(|e| {
            failed(
                e.to_string(),
                &format!("{ha}/peer[name='{}']/url", this.name),
            )
        })?;
        std::net::TcpListener::bind(addr).map_err(|e| {
            failed(
                format!("cannot listen on {addr} for the peer link: {e}"),
                &format!("{ha}/peer[name='{}']/url", this.name),
            )
        })?;
    }
    Ok(())
}

impl Subsystem for HaSubsystem {
    fn name(&self) -> &'static str {
        "ha"
    }

    fn prepare(
        &self,
        current: &RuntimeConfig,
        next: &RuntimeConfig,
    ) -> Result<Reservation, RpcError> {
        if let Some(ha) = &next.ha {
            if current.ha.as_ref() != Some(ha) {
                check(current.ha.as_ref(), ha)?;
            }
        }
        Ok(Box::new(next.ha.clone().map(Arc::new)))
    }

    fn apply(&self, reservation: Reservation) {
        let Ok(next) = reservation.downcast::<Option<Arc<HaConfig>>>() else {
            return;
        };
        let changed = *self.config.borrow() != *next;
        if changed {
            // A closed channel means the process is stopping.
            let _ = self.config.send(*next);
        }
    }
}
