//! Logging: tracing to standard error, with a filter the datastore can change live.
//!
//! At start the command line's level (or RUST_LOG) applies; once `/server/logging` sets a level,
//! each commit that changes it swaps the filter in place. The subscriber is process-wide, so
//! the handle that swaps it is too.

use std::sync::OnceLock;

use netconf::error::{ErrorTag, ErrorType, RpcError};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

use crate::config::RuntimeConfig;
use crate::northbound::commit::{Reservation, Subsystem};
use crate::northbound::error::{error, AtPath};

/// The live filter and the one the command line asked for.
struct Control {
    handle: reload::Handle<EnvFilter, Registry>,
    /// The filter from the command line or RUST_LOG, restored when the datastore's level goes.
    start: String,
}

static CONTROL: OnceLock<Control> = OnceLock::new();

/// Installs the subscriber: RUST_LOG if set, else `level` (EnvFilter syntax).
pub fn init(level: &str) {
    let start = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| EnvFilter::try_new(v).is_ok())
        .unwrap_or_else(|| level.to_string());
    let filter = EnvFilter::try_new(&start).unwrap_or_else(|_| EnvFilter::new("info"));
    let (layer, handle) = reload::Layer::new(filter);
    let installed = tracing_subscriber::registry()
        .with(layer)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .try_init();
    if installed.is_ok() {
        let _ = CONTROL.set(Control { handle, start });
    }
}

/// The filter text a configuration asks for: the datastore's directive, else the start one.
fn wanted(config: &RuntimeConfig, start: &str) -> String {
    config
        .logging
        .directive
        .clone()
        .unwrap_or_else(|| start.to_string())
}

/// `/server/logging` in the commit pipeline: prepare builds the filter, apply swaps it.
pub struct LoggingSubsystem;

impl Subsystem for LoggingSubsystem {
    fn name(&self) -> &'static str {
        "logging"
    }

    fn prepare(
        &self,
        current: &RuntimeConfig,
        next: &RuntimeConfig,
    ) -> Result<Reservation, RpcError> {
        let Some(control) = CONTROL.get() else {
            return Ok(Box::new(None::<(EnvFilter, String)>));
        };
        let (before, after) = (
            wanted(current, &control.start),
            wanted(next, &control.start),
        );
        if before == after {
            return Ok(Box::new(None::<(EnvFilter, String)>));
        }
        let filter = EnvFilter::try_new(&after).map_err(|e| {
            error(
                ErrorType::Application,
                ErrorTag::InvalidValue,
                format!("log filter {after:?}: {e}"),
            )
            .at(yang::paths::LOGGING)
        })?;
        Ok(Box::new(Some((filter, after))))
    }

    fn apply(&self, reservation: Reservation) {
        let Ok(change) = reservation.downcast::<Option<(EnvFilter, String)>>() else {
            return;
        };
        let (Some((filter, text)), Some(control)) = (*change, CONTROL.get()) else {
            return;
        };
        match control.handle.reload(filter) {
            Ok(()) => tracing::info!(filter = %text, "log levels changed"),
            Err(e) => tracing::error!(error = %e, "log levels could not be changed"),
        }
    }
}
