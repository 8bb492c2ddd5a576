//! DHCPv4: wire format, lease state and policy. Pure: no sockets, no tokio, no files.

pub mod packet;
pub mod policy;
pub mod state;

pub use packet::{DecodeError, MessageType, Packet};
pub use policy::{handle, Arrival, Decision, Destination, Reply, Silence};
pub use state::LeaseState4;
#[cfg(test)]
mod policy_tests;
