//! Lease storage: the DHCPv4 lease record, the in-memory store and its
//! indexes, and the durable memfile in ISC Kea 2.2's CSV format.

pub mod free_map;
mod hex;
mod index;
pub mod memfile;
pub mod record;
pub mod record6;
mod slab;
pub mod store4;
pub mod store6;

pub use hex::HexError;
pub use record::{ClientId, HwAddr, HwAddrError, Lease4, LeaseState};
pub use record6::{Lease6, LeaseType6};
pub use store4::{LeaseStore4, StoreFull};
pub use store6::LeaseStore6;
