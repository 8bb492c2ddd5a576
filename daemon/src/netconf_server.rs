//! The NETCONF server built from the start-up settings, and its run with readiness reporting.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use netconf::backend::Request;
use netconf::{NetconfServer, ServerConfig, User};
use tokio::sync::mpsc;

use crate::app::AppError;
use crate::net::notify::notify;
use crate::settings::Settings;

/// Loads the host key and binds the listener, so a bad setting fails start-up; `None` when
/// NETCONF is disabled.
pub fn build(
    settings: &Settings,
    state_dir: &Path,
    capabilities: Vec<String>,
    backend: mpsc::Sender<Request>,
    notification_access: netconf::notification::NotificationAccess,
    operation_access: netconf::OperationAccess,
) -> Result<Option<NetconfServer>, AppError> {
    if !settings.netconf.enabled {
        return Ok(None);
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
    config.notifications = netconf::Publisher::new(
        n.replay_buffer,
        netconf::notification::DEFAULT_NOTIFICATION_QUEUE,
    );
    if let Ok(ctx) = yang::context() {
        config.notification_xpath = Some(netconf::NotificationXPath(std::sync::Arc::new(
            crate::northbound::notifications::ModelXPath { ctx },
        )));
    }
    config.notification_access = Some(notification_access);
    config.operation_access = Some(operation_access);
    let server = NetconfServer::new(config, capabilities, backend)
        .map_err(|e| AppError::Netconf(e.to_string()))?;
    tracing::info!(addr = %server.local_addr(), host_key = server.host_public_key(), "NETCONF over SSH");
    Ok(Some(server))
}

/// Serves NETCONF (when enabled) until `stop` resolves; reports readiness (sd_notify
/// READY=1) first, since everything is bound by now.
pub async fn serve(
    server: Option<NetconfServer>,
    stop: impl Future<Output = ()>,
) -> Result<(), AppError> {
    notify("READY=1");
    tracing::info!("netdhcpd ready");
    match server {
        Some(server) => server
            .run(stop)
            .await
            .map_err(|e| AppError::Netconf(e.to_string())),
        None => {
            stop.await;
            Ok(())
        }
    }
}
