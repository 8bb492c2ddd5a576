//! `/server/logging`: the log filter the datastore asks for.

use yang::paths;

use super::tree::Root;

/// Log levels from the datastore, as a tracing filter directive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoggingConfig {
    /// E.g. `info,netdhcpd::ha=debug`; `None` while no level is configured (the command
    /// line's filter applies).
    pub directive: Option<String>,
}

/// Reads `/server/logging`. The model constrains levels and target names, so every directive
/// built here parses.
pub(super) fn read(root: &Root<'_, '_>) -> LoggingConfig {
    let Some(node) = root.node(paths::LOGGING) else {
        return LoggingConfig::default();
    };
    let targets: Vec<String> = node
        .list("target")
        .iter()
        .filter_map(|t| Some(format!("{}={}", t.leaf("name")?, t.leaf("level")?)))
        .collect();
    let level = node.leaf("level");
    if level.is_none() && targets.is_empty() {
        return LoggingConfig::default();
    }
    // A target without a global level keeps everything else at the default level.
    let parts: Vec<String> = std::iter::once(level.unwrap_or_else(|| "info".into()))
        .chain(targets)
        .collect();
    LoggingConfig {
        directive: Some(parts.join(",")),
    }
}
