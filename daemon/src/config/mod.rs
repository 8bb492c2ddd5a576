//! The typed runtime configuration: built once per commit from the validated YANG tree, then
//! read lock-free by the packet path. `RuntimeConfig::try_from(&DataTree)` is the one place
//! that reads YANG.

mod checks;
mod checks6;
mod checks_shared;
mod common;
mod ha;
mod logging;
mod options4;
mod tree;
mod v4;
mod v6;

use std::path::PathBuf;
use std::time::Duration;

pub use common::{AddressRange, FamilyAddress};
pub use ha::{HaBasicAuth, HaConfig, HaMode, HaPeer, HaTimers, HaTls, PauseMode, PeerRole};
pub use logging::LoggingConfig;
pub use options4::{OptionFormat, OptionSet, OptionSet4, OptionValue};
pub use v4::{Dhcp4Config, HostId, Ingress, Lifetimes, Pool4, Reservation4, Subnet4};
#[cfg(test)]
pub(crate) use v6::test_support as v6_test_support;
pub use v6::{
    code6, Dhcp6Config, Ingress6, Lifetimes6, OptionSet6, PdPool, Pool6, Reservation6, Subnet6,
};

use yang::yang5::data::DataTree;

/// A configuration problem the YANG model cannot express, with the data path it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    /// Data path of the offending node.
    pub path: String,
    /// What is wrong, in terms an operator can act on.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Whether a lease is on disk before the client hears of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync (group commit) before the reply.
    Fsync,
    /// Written before the reply, not fsynced.
    None,
}

/// Lease database settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseDbConfig {
    /// DHCPv4 memfile path as configured; relative paths are taken from the state directory.
    pub memfile_v4: PathBuf,
    /// DHCPv6 memfile path as configured; relative paths are taken from the state directory.
    pub memfile_v6: PathBuf,
    /// Durability of granted leases.
    pub durability: Durability,
    /// Period of lease file compaction; `None` disables it.
    pub compaction_interval: Option<Duration>,
    /// Unparsable rows tolerated at start-up.
    pub max_bad_rows: u32,
}

/// The whole configuration, immutable once built.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Lease database settings.
    pub lease_db: LeaseDbConfig,
    /// The DHCPv4 server.
    pub dhcp4: Dhcp4Config,
    /// The DHCPv6 server.
    pub dhcp6: Dhcp6Config,
    /// Failover, when this server is one of a pair.
    pub ha: Option<HaConfig>,
    /// Log levels.
    pub logging: LoggingConfig,
}

impl TryFrom<&DataTree<'_>> for RuntimeConfig {
    type Error = Vec<ConfigError>;

    /// Reads a tree that libyang has validated (defaults present) and runs the semantic checks.
    fn try_from(data: &DataTree<'_>) -> Result<Self, Self::Error> {
        let root = tree::Root::new(data);
        let mut errors = Vec::new();
        let lease_db = tree::read_lease_db(&root);
        let dhcp4 = v4::read(&root, &mut errors);
        checks::check_v4(&dhcp4, &mut errors);
        let dhcp6 = v6::read(&root, &mut errors);
        checks6::check_v6(&dhcp6, &mut errors);
        let ha = ha::read(&root, &mut errors);
        let logging = logging::read(&root);
        if errors.is_empty() {
            Ok(RuntimeConfig {
                lease_db,
                dhcp4,
                dhcp6,
                ha,
                logging,
            })
        } else {
            Err(errors)
        }
    }
}
