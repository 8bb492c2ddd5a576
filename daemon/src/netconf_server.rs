//! Runs the NETCONF server with the start-up settings, and reports readiness once it listens.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use netconf::backend::Request;
use netconf::{NetconfServer, ServerConfig, User};
use tokio::sync::mpsc;

use crate::app::AppError;
use crate::net::notify::notify;
use crate::settings::Settings;

/// Serves NETCONF until `stop` resolves. Readiness (sd_notify READY=1) is reported once the
/// listener is bound, or at once when NETCONF is disabled.
pub async fn serve(
    settings: &Settings,
    state_dir: &Path,
    capabilities: Vec<String>,
    backend: mpsc::Sender<Request>,
    stop: impl Future<Output = ()>,
) -> Result<(), AppError> {
    if !settings.netconf.enabled {
        notify("READY=1");
        tracing::info!("netdhcpd ready (NETCONF disabled)");
        stop.await;
        return Ok(());
    }
    let n = &settings.netconf;
    let host_key = if n.host_key.is_absolute() {
        n.host_key.clone()
    } else {
        state_dir.join(&n.host_key)
    };
    let users = settings
        .users
        .iter()
        .map(|u| User {
            name: u.name.clone(),
            password_hash: u.password_hash.clone(),
            authorized_keys: u.authorized_keys.clone(),
        })
        .collect();
    let mut config = ServerConfig::new(n.listen, host_key, users);
    config.idle_timeout = Duration::from_secs(n.idle_timeout_secs);
    config.max_sessions = n.max_sessions;
    let server = NetconfServer::new(config, capabilities, backend)
        .map_err(|e| AppError::Netconf(e.to_string()))?;
    tracing::info!(addr = %server.local_addr(), host_key = server.host_public_key(), "NETCONF over SSH");
    notify("READY=1");
    tracing::info!("netdhcpd ready");
    server
        .run(stop)
        .await
        .map_err(|e| AppError::Netconf(e.to_string()))
}
