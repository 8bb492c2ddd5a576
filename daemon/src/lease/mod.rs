//! Lease storage: the DHCPv4 lease record, the in-memory store and its
//! indexes, and the durable memfile in ISC Kea 2.2's CSV format.

pub mod declined;
pub mod free_map;
mod hex;
pub(crate) mod index;
pub mod memfile;
pub mod record;
pub mod record6;
mod slab;
pub mod store4;
pub mod store6;

pub use hex::HexError;

/// Kea's colon-separated hexadecimal text of byte strings (client identifiers, DUIDs), for
/// operators' input and output.
pub mod hex_text {
    use super::hex::{self, HexError};

    /// "01:02:0a".
    pub fn encode(bytes: &[u8]) -> String {
        let mut out = Vec::with_capacity(bytes.len() * 3);
        hex::encode(bytes, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Bytes from "01:02:0a" (or "01020a").
    pub fn decode(text: &str) -> Result<Vec<u8>, HexError> {
        let mut out = vec![0u8; text.len() / 2 + 1];
        let n = hex::decode(text.as_bytes(), &mut out)?;
        out.truncate(n);
        Ok(out)
    }
}
pub use record::{ClientId, HwAddr, HwAddrError, Lease4, LeaseState};
pub use record6::{Lease6, LeaseType6};
pub use store4::{LeaseStore4, StoreFull};
pub use store6::LeaseStore6;
