//! Failover (HA): two servers that together never stop serving and never lose a lease.
//!
//! This module holds the pure parts: the state machine ([`state::step`]) with ISC Kea's state
//! names, and the RFC 3074 load-balancing hash that splits clients between primary and
//! secondary. The peer link (Kea's HA command set over HTTP/JSON), lease updates and lease
//! synchronisation drive the state machine with [`state::Event`]s and carry out its
//! [`state::Action`]s.
//!
//! # Who serves which clients
//!
//! Clients are split into *scopes*, named after the server that owns them. In hot-standby there
//! is one scope, the primary's: every client is in it. In load-balancing there are two, and a
//! client's scope is [`lb_scope`] of its identifier ([`lb_key`]).
//!
//! | state | hot-standby primary | hot-standby standby | load-balancing (either) |
//! |---|---|---|---|
//! | waiting, syncing, ready | nothing | nothing | nothing |
//! | hot-standby / load-balancing | every client | nothing | its own scope |
//! | communication-recovery | — | — | its own scope (updates queued) |
//! | partner-down, auto-failover | every client | every client | both scopes |
//! | partner-down, no auto-failover | every client | nothing | its own scope |
//! | partner-in-maintenance | every client | every client | both scopes |
//! | in-maintenance, backup | nothing | nothing | nothing |
//! | terminated | every client | nothing | its own scope (no updates) |
//!
//! "Nothing" still means the server listens: a standby in hot-standby watches the primary's
//! clients go unanswered (secs / elapsed-time) to detect a dead partner. An operator's
//! partner-down command, or a maintenance hand-over, takes over the partner's scopes even without
//! auto-failover.

pub mod commands;
pub mod commands6;
pub mod driver;
pub mod family;
pub mod http;
pub mod inbox;
mod json_fields;
pub mod peer_commands;
pub mod port;
pub mod sender;
pub mod shared;
pub mod state;
#[cfg(test)]
mod state_tests;
pub mod subsystem;

pub use state::{
    step, Action, Context, Event, HaState, LeaseUpdates, MaintenanceAnswer, PartnerState,
    PausePlan, State,
};

use crate::config::HaMode;

/// The "mixing table" of RFC 3074 section 6: the 256 byte values in pseudo-random order. It must
/// be exactly this table: a Kea partner computes the same hash to decide which of the pair
/// answers a client, so any difference would leave clients answered twice or not at all.
const LOADB_MX_TBL: [u8; 256] = [
    251, 175, 119, 215, 81, 14, 79, 191, 103, 49, 181, 143, 186, 157, 0, 232, 31, 32, 55, 60, 152,
    58, 17, 237, 174, 70, 160, 144, 220, 90, 57, 223, 59, 3, 18, 140, 111, 166, 203, 196, 134, 243,
    124, 95, 222, 179, 197, 65, 180, 48, 36, 15, 107, 46, 233, 130, 165, 30, 123, 161, 209, 23, 97,
    16, 40, 91, 219, 61, 100, 10, 210, 109, 250, 127, 22, 138, 29, 108, 244, 67, 207, 9, 178, 204,
    74, 98, 126, 249, 167, 116, 34, 77, 193, 200, 121, 5, 20, 113, 71, 35, 128, 13, 182, 94, 25,
    226, 227, 199, 75, 27, 41, 245, 230, 224, 43, 225, 177, 26, 155, 150, 212, 142, 218, 115, 241,
    73, 88, 105, 39, 114, 62, 255, 192, 201, 145, 214, 168, 158, 221, 148, 154, 122, 12, 84, 82,
    163, 44, 139, 228, 236, 205, 242, 217, 11, 187, 146, 159, 64, 86, 239, 195, 42, 106, 198, 118,
    112, 184, 172, 87, 2, 173, 117, 176, 229, 247, 253, 137, 185, 99, 164, 102, 147, 45, 66, 231,
    52, 141, 211, 194, 206, 246, 238, 56, 110, 78, 248, 63, 240, 189, 93, 92, 51, 53, 183, 19, 171,
    72, 50, 33, 104, 101, 69, 8, 252, 83, 120, 76, 135, 85, 54, 202, 125, 188, 213, 96, 235, 136,
    208, 162, 129, 190, 132, 156, 38, 47, 1, 7, 254, 24, 4, 216, 131, 89, 21, 28, 133, 37, 153,
    149, 80, 170, 68, 6, 169, 234, 151,
];

/// The RFC 3074 hash of `key`: Pearson's hash over the key's bytes taken from the last to the
/// first, starting from the key's length (modulo 256), as `loadb_p_hash` in section 6 and Kea's
/// `QueryFilter::loadBalanceHash` do.
pub fn lb_hash(key: &[u8]) -> u8 {
    // Truncating the length is the RFC's own behaviour (an `unsigned char` seed).
    let seed = (key.len() & 0xff) as u8;
    key.iter()
        .rev()
        .fold(seed, |hash, byte| LOADB_MX_TBL[usize::from(hash ^ byte)])
}

/// One of the two servers that own a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Server {
    /// The primary (scope of the peer with role primary).
    Primary,
    /// The secondary in load-balancing (in hot-standby nobody's clients hash here).
    Secondary,
}

/// Which server owns a client in load-balancing: even hashes the primary, odd the secondary.
/// This is Kea's rule (hash modulo the number of active servers, primary first), not an RFC 3074
/// bucket assignment table, because a Kea partner applies exactly that rule.
pub fn lb_scope(id: &[u8]) -> Server {
    if lb_hash(id).is_multiple_of(2) {
        Server::Primary
    } else {
        Server::Secondary
    }
}

/// The bytes a DHCPv4 client is hashed by: its client identifier (option 61 payload, type byte
/// included) when present and non-empty, else its hardware address (chaddr, `hlen` bytes). For
/// DHCPv6 pass the DUID as `client_id`. `None` when there is neither: Kea drops such a query in
/// load-balancing, and so must we, or both servers might answer it.
pub fn lb_key<'a>(client_id: Option<&'a [u8]>, hw_address: &'a [u8]) -> Option<&'a [u8]> {
    client_id
        .filter(|id| !id.is_empty())
        .or(Some(hw_address))
        .filter(|key| !key.is_empty())
}

/// The scopes this server answers now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes {
    /// The primary's scope (every client in hot-standby, even hashes in load-balancing).
    pub primary: bool,
    /// The secondary's scope (odd hashes in load-balancing).
    pub secondary: bool,
}

impl Scopes {
    /// No scope: the server answers no client.
    pub const NONE: Scopes = Scopes {
        primary: false,
        secondary: false,
    };

    /// Whether the scope owned by `server` is served.
    pub fn serves(self, server: Server) -> bool {
        match server {
            Server::Primary => self.primary,
            Server::Secondary => self.secondary,
        }
    }

    /// Whether any client is answered.
    pub fn any(self) -> bool {
        self.primary || self.secondary
    }

    /// Whether a client hashed by `key` ([`lb_key`]) is answered in `mode`.
    pub fn in_scope(self, mode: HaMode, key: &[u8]) -> bool {
        match mode {
            HaMode::HotStandby => self.primary,
            HaMode::LoadBalancing => self.serves(lb_scope(key)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mixing_table_is_a_permutation_of_all_byte_values() {
        let mut seen = [false; 256];
        for v in LOADB_MX_TBL {
            assert!(!seen[usize::from(v)], "{v} twice");
            seen[usize::from(v)] = true;
        }
        // Spot checks against RFC 3074 section 6: first, last and a row boundary.
        assert_eq!(
            (
                LOADB_MX_TBL[0],
                LOADB_MX_TBL[15],
                LOADB_MX_TBL[16],
                LOADB_MX_TBL[255]
            ),
            (251, 232, 31, 151)
        );
    }

    /// Vectors worked from the RFC's `loadb_p_hash` by an independent implementation (Python)
    /// of the same table. RFC 3074 itself publishes no vectors.
    #[test]
    fn known_vectors() {
        let cases: &[(&[u8], u8)] = &[
            (&[], 0),
            (&[0x00], 175),
            (&[0x01, 0x02], 170),
            (&[0x00, 0x0c, 0x01, 0x00, 0x00, 0x01], 17),
            (&[0x00, 0x0c, 0x01, 0x00, 0x00, 0x02], 132),
            (&[0x01, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x01], 250),
            (&[0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77], 208),
            (b"netdhcp", 242),
        ];
        for (key, hash) in cases {
            assert_eq!(lb_hash(key), *hash, "key {key:02x?}");
        }
        assert_eq!(
            lb_scope(&[0x00, 0x0c, 0x01, 0x00, 0x00, 0x01]),
            Server::Secondary
        );
        assert_eq!(
            lb_scope(&[0x00, 0x0c, 0x01, 0x00, 0x00, 0x02]),
            Server::Primary
        );
    }

    #[test]
    fn single_byte_hashes_follow_the_table_from_the_length_seed() {
        // hash([b]) = T[1 ^ b]: the seed is the length, then one mixing step.
        for b in 0..=255u8 {
            assert_eq!(lb_hash(&[b]), LOADB_MX_TBL[usize::from(1 ^ b)]);
        }
    }

    #[test]
    fn bytes_are_mixed_from_last_to_first() {
        // hash([a, b]) = T[T[2 ^ b] ^ a]; the other order would differ for these bytes.
        let (a, b) = (0x12u8, 0x34u8);
        let expected = LOADB_MX_TBL[usize::from(LOADB_MX_TBL[usize::from(2 ^ b)] ^ a)];
        assert_eq!(lb_hash(&[a, b]), expected);
        assert_ne!(lb_hash(&[a, b]), lb_hash(&[b, a]));
    }

    #[test]
    fn lengths_over_255_seed_with_the_low_byte() {
        let long = vec![7u8; 256 + 3];
        let expected = long
            .iter()
            .rev()
            .fold(3u8, |h, b| LOADB_MX_TBL[usize::from(h ^ b)]);
        assert_eq!(lb_hash(&long), expected);
    }

    /// Property: with every other byte fixed, the first byte (mixed last) ranges over a
    /// permutation, so for any MAC prefix the 256 addresses differing in the first octet split
    /// exactly in half. Checked over a spread of prefixes.
    #[test]
    fn the_split_is_exactly_even_over_each_first_octet_family() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200 {
            // xorshift: a fixed, dependency-free sequence of prefixes.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let tail = state.to_be_bytes();
            let primaries = (0..=255u8)
                .filter(|first| {
                    let mut mac = [0u8; 6];
                    mac[0] = *first;
                    mac[1..].copy_from_slice(&tail[..5]);
                    lb_scope(&mac) == Server::Primary
                })
                .count();
            assert_eq!(primaries, 128, "prefix {:02x?}", &tail[..5]);
        }
    }

    #[test]
    fn sequential_macs_split_close_to_half() {
        // perfdhcp hands out sequential MACs; the split must hold for them too.
        let primaries = (0..100_000u32)
            .filter(|i| {
                let n = i.to_be_bytes();
                lb_scope(&[0x00, 0x0c, n[0], n[1], n[2], n[3]]) == Server::Primary
            })
            .count();
        assert!((48_000..=52_000).contains(&primaries), "{primaries}");
    }

    #[test]
    fn the_client_identifier_wins_over_the_hardware_address() {
        let mac = [0, 0x0c, 1, 2, 3, 4];
        assert_eq!(lb_key(Some(&[1, 2, 3]), &mac), Some(&[1u8, 2, 3][..]));
        assert_eq!(
            lb_key(Some(&[]), &mac),
            Some(&mac[..]),
            "empty client-id ignored"
        );
        assert_eq!(lb_key(None, &mac), Some(&mac[..]));
        assert_eq!(lb_key(None, &[]), None);
    }

    #[test]
    fn scopes_decide_by_mode() {
        let key_primary = [0x00, 0x0c, 0x01, 0x00, 0x00, 0x02];
        let key_secondary = [0x00, 0x0c, 0x01, 0x00, 0x00, 0x01];
        let primary_only = Scopes {
            primary: true,
            secondary: false,
        };
        assert!(primary_only.in_scope(HaMode::HotStandby, &key_secondary));
        assert!(primary_only.in_scope(HaMode::LoadBalancing, &key_primary));
        assert!(!primary_only.in_scope(HaMode::LoadBalancing, &key_secondary));
        assert!(!Scopes::NONE.in_scope(HaMode::HotStandby, &key_primary));
        assert!(!Scopes::NONE.any());
    }
}
