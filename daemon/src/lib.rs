//! netdhcpd: the library half of the daemon, so unit tests and benchmarks reach the pure parts.

pub mod config;
pub mod northbound;
