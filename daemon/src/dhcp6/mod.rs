//! DHCPv6 (RFC 8415): wire format, lease state and policy. Pure: no sockets, no tokio, no
//! files.

pub mod packet;
pub mod policy;
pub mod state;
mod used_slots;

pub use packet::{DecodeError, Packet, Status};
pub use policy::{handle, Arrival6, Decision6, Reply6, Silence6};
pub use state::LeaseState6;
#[cfg(test)]
mod policy_tests;
