//! The I/O edge: sockets, interface addresses, readiness notification.

pub mod iface;
pub mod notify;
pub mod socket4;
