//! netdhcpd: the library half of the daemon, so unit tests and benchmarks reach the pure parts.

// Tests unwrap freely: a panic there is a failed test with its message.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod app;
pub mod config;
pub mod dhcp4;
pub mod dhcp6;
pub mod engine;
pub mod ha;
pub mod import_kea;
pub mod lease;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod netconf_server;
pub mod northbound;
pub mod server4;
pub mod server6;
pub mod settings;
pub mod stats;
