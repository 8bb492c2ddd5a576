//! The I/O edge: sockets, interface addresses, readiness notification.

pub mod iface;
pub mod iface6;
mod ifaddrs;
pub mod mmsg;
pub mod notify;
pub mod socket4;
pub mod socket6;
mod udp;
