//! The YANG modules netdhcp implements and advertises, embedded in the binary, and the one
//! function that builds a libyang context from them.
//!
//! Modules are embedded so the daemon never depends on files beside it: what it advertises over
//! NETCONF is exactly what it validates against.

// Tests unwrap freely: a panic there is a failed test with its message.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::sync::OnceLock;

pub use yang5;
use yang5::context::{Context, ContextFlags, EmbeddedModuleKey, EmbeddedModules};

pub mod data;
pub mod nacm_marks;
pub mod paths;
pub mod select_print;
pub mod tree;

/// One embedded module: name, revision and YANG text.
#[derive(Debug, Clone, Copy)]
pub struct Module {
    /// Module name, e.g. `netdhcp-server`.
    pub name: &'static str,
    /// Revision date of the embedded text.
    pub revision: &'static str,
    /// The module's YANG source.
    pub text: &'static str,
    /// Whether the module is implemented (its data nodes are served) or only imported.
    pub implemented: bool,
    /// Features enabled when implemented.
    pub features: &'static [&'static str],
}

macro_rules! module {
    ($dir:literal, $name:literal, $rev:literal, $implemented:expr, $features:expr) => {
        Module {
            name: $name,
            revision: $rev,
            text: include_str!(concat!("../modules/", $dir, "/", $name, "@", $rev, ".yang")),
            implemented: $implemented,
            features: $features,
        }
    };
}

/// Every module the daemon knows, in an order where imports come first.
pub const MODULES: &[Module] = &[
    module!("ietf", "ietf-inet-types", "2013-07-15", false, &[]),
    module!("ietf", "ietf-yang-types", "2013-07-15", false, &[]),
    module!("ietf", "ietf-datastores", "2018-02-14", true, &[]),
    module!("ietf", "ietf-origin", "2018-02-14", true, &[]),
    // Implemented: access control (/nacm) is configured in the datastore and enforced.
    module!("ietf", "ietf-netconf-acm", "2018-02-14", true, &[]),
    module!(
        "ietf",
        "ietf-netconf",
        "2011-06-01",
        true,
        &[
            "candidate",
            "confirmed-commit",
            "rollback-on-error",
            "validate",
            "startup",
            "xpath"
        ]
    ),
    module!(
        "ietf",
        "ietf-netconf-with-defaults",
        "2011-06-01",
        true,
        &[]
    ),
    module!("ietf", "ietf-netconf-monitoring", "2010-10-04", true, &[]),
    module!(
        "ietf",
        "ietf-netconf-notifications",
        "2012-02-06",
        true,
        &[]
    ),
    module!("ietf", "ietf-yang-library", "2019-01-04", true, &[]),
    // RFC 5277: create-subscription, and the /netconf/streams state with replayComplete and
    // notificationComplete.
    module!("ietf", "notifications", "2008-07-14", true, &[]),
    module!("ietf", "nc-notifications", "2008-07-14", true, &[]),
    module!(
        "ietf",
        "ietf-netconf-nmda",
        "2019-01-07",
        true,
        // No "origin": get-data does not annotate origins (with-origin, origin-filter).
        &["with-defaults"]
    ),
    module!("ietf", "ietf-interfaces", "2018-02-20", false, &[]),
    module!("netdhcp", "netdhcp-server", "2026-11-27", true, &[]),
];

/// Looks up an embedded module by name.
pub fn module(name: &str) -> Option<&'static Module> {
    MODULES.iter().find(|m| m.name == name)
}

/// Error building the libyang context: a module failed to load or compile.
#[derive(Debug)]
pub struct ContextError {
    /// The module that failed.
    pub module: &'static str,
    /// libyang's message.
    pub message: String,
}

impl std::fmt::Display for ContextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "YANG module {} failed to load: {}",
            self.module, self.message
        )
    }
}

impl std::error::Error for ContextError {}

/// Builds a fresh libyang context holding every embedded module.
pub fn new_context() -> Result<Context, ContextError> {
    let first = MODULES[0].name;
    let mut ctx = Context::new(ContextFlags::NO_YANGLIBRARY | ContextFlags::DISABLE_SEARCHDIRS)
        .map_err(|e| ContextError {
            module: first,
            message: e.to_string(),
        })?;
    data::keep_all_errors();
    let mut embedded = EmbeddedModules::new();
    for m in MODULES {
        embedded.insert(
            EmbeddedModuleKey::new(m.name, Some(m.revision), None, None),
            m.text,
        );
    }
    ctx.set_embedded_modules(&embedded);
    for m in MODULES.iter().filter(|m| m.implemented) {
        ctx.load_module(m.name, Some(m.revision), m.features)
            .map_err(|e| ContextError {
                module: m.name,
                message: e.to_string(),
            })?;
    }
    Ok(ctx)
}

/// The process-wide context, built once. libyang contexts are immutable once built and safe to
/// share between threads for reading and parsing; data trees borrow it for the whole run.
pub fn context() -> Result<&'static Context, ContextError> {
    static CONTEXT: OnceLock<Context> = OnceLock::new();
    if let Some(ctx) = CONTEXT.get() {
        return Ok(ctx);
    }
    let ctx = new_context()?;
    Ok(CONTEXT.get_or_init(|| ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_loads() {
        let ctx = new_context().expect("context");
        for m in MODULES.iter().filter(|m| m.implemented) {
            let loaded = ctx.get_module(m.name, Some(m.revision));
            assert!(
                loaded.is_some_and(|l| l.is_implemented()),
                "{} not implemented",
                m.name
            );
        }
    }
}
