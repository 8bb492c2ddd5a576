//! What differs between DHCPv4 and DHCPv6 leases on the peer link: how a family's changes,
//! pages and deletions are spelled in Kea's commands, and which engine inbox serves it. The
//! sender, the sync and the partner's commands are written once over [`PeerLease`].

use std::fmt::Debug;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::Value;

use super::commands::{self, names, Answer, BulkUpdate4, CommandError, PageRequest, Service};
use super::commands6::{self, BulkUpdate6, PageRequest6};
use super::inbox::{Inbox, PeerRequest};
use super::port::HaPort;
use crate::lease::record6::LeaseKey6;
use crate::lease::{Lease4, Lease6};

/// One page of the partner's leases as read from its answer.
pub struct PageRead<L: PeerLease> {
    /// The leases that could be read.
    pub leases: Vec<L>,
    /// Why each unreadable entry was set aside.
    pub rejected: Vec<CommandError>,
    /// Entries in the page, read or not (fewer than asked for: the last page).
    pub count: usize,
    /// The last entry's address: where the next page starts.
    pub last: Option<L::Addr>,
}

/// A lease family as the peer link carries it.
pub trait PeerLease: Clone + Send + Sync + Debug + 'static {
    /// What identifies a lease to delete.
    type Key: Copy + Send + Debug + 'static;
    /// The address a page starts after.
    type Addr: Copy + Send + Debug + 'static;
    /// The engine's lease store of this family, which a [`PeerRequest::Lookup`] reads.
    type Store: 'static;
    /// "DHCPv4" or "DHCPv6", for messages.
    const FAMILY: &'static str;
    /// Whether a Kea partner takes the bulk request too (lease6-bulk-apply is Kea's own).
    const KEA_TAKES_BULK: bool;

    /// Whether this change deletes the lease (valid lifetime 0, as in the memfile).
    fn is_deletion(&self) -> bool;
    /// What identifies this lease for a deletion.
    fn key(&self) -> Self::Key;
    /// One request carrying `changes`: (command, body).
    fn bulk_request(changes: &[Self]) -> (&'static str, Vec<u8>);
    /// The request Kea's partner takes for one change: (command, body).
    fn single_request(change: &Self) -> (&'static str, Vec<u8>);
    /// The request for the page after `from`.
    fn get_page_request(from: Option<Self::Addr>, limit: u32) -> Vec<u8>;
    /// Reads a page answer's arguments, setting aside entries it cannot read, as Kea does.
    fn read_page(arguments: &Value) -> Result<PageRead<Self>, CommandError>;
    /// The answer to a page request.
    fn page_answer(leases: &[Self]) -> Answer;
    /// The engine inbox serving this family.
    fn inbox(port: &HaPort) -> &Inbox<PeerRequest<Self>>;
}

impl PeerLease for Lease4 {
    type Key = Ipv4Addr;
    type Addr = Ipv4Addr;
    type Store = crate::lease::LeaseStore4;
    const FAMILY: &'static str = "DHCPv4";
    const KEA_TAKES_BULK: bool = false;

    fn is_deletion(&self) -> bool {
        self.valid_lifetime == 0
    }

    fn key(&self) -> Ipv4Addr {
        self.address
    }

    fn bulk_request(changes: &[Self]) -> (&'static str, Vec<u8>) {
        let (gone, kept): (Vec<&Lease4>, Vec<&Lease4>) =
            changes.iter().partition(|l| l.is_deletion());
        let bulk = BulkUpdate4 {
            leases: kept.into_iter().cloned().collect(),
            deleted: gone.into_iter().map(|l| l.address).collect(),
        };
        let command = names::LEASE4_BULK_APPLY;
        let arguments = commands::bulk_apply_arguments(&bulk);
        (
            command,
            commands::encode_request(command, Service::Dhcp4, Some(arguments)),
        )
    }

    fn single_request(change: &Self) -> (&'static str, Vec<u8>) {
        let (command, arguments) = if change.is_deletion() {
            (names::LEASE4_DEL, commands::lease4_del_arguments(change))
        } else {
            (
                names::LEASE4_UPDATE,
                commands::lease4_update_arguments(change),
            )
        };
        (
            command,
            commands::encode_request(command, Service::Dhcp4, Some(arguments)),
        )
    }

    fn get_page_request(from: Option<Ipv4Addr>, limit: u32) -> Vec<u8> {
        let arguments = commands::get_page_arguments(&PageRequest { from, limit });
        commands::encode_request(names::LEASE4_GET_PAGE, Service::Dhcp4, Some(arguments))
    }

    fn read_page(arguments: &Value) -> Result<PageRead<Self>, CommandError> {
        let page = commands::parse_page_lenient(arguments)?;
        Ok(PageRead {
            leases: page.leases,
            rejected: page.rejected,
            count: page.count,
            last: page.last_address,
        })
    }

    fn page_answer(leases: &[Self]) -> Answer {
        commands::page_answer(leases)
    }

    fn inbox(port: &HaPort) -> &Inbox<PeerRequest<Self>> {
        &port.inbox4
    }
}

impl PeerLease for Lease6 {
    type Key = LeaseKey6;
    type Addr = Ipv6Addr;
    type Store = crate::lease::store6::LeaseStore6;
    const FAMILY: &'static str = "DHCPv6";
    const KEA_TAKES_BULK: bool = true;

    fn is_deletion(&self) -> bool {
        self.valid_lifetime == 0
    }

    fn key(&self) -> LeaseKey6 {
        Lease6::key(self)
    }

    fn bulk_request(changes: &[Self]) -> (&'static str, Vec<u8>) {
        let (deleted, leases): (Vec<Lease6>, Vec<Lease6>) =
            changes.iter().cloned().partition(|l| l.is_deletion());
        let command = names::LEASE6_BULK_APPLY;
        let arguments = commands6::bulk_apply6_arguments(&BulkUpdate6 { leases, deleted });
        (
            command,
            commands::encode_request(command, Service::Dhcp6, Some(arguments)),
        )
    }

    fn single_request(change: &Self) -> (&'static str, Vec<u8>) {
        Self::bulk_request(std::slice::from_ref(change))
    }

    fn get_page_request(from: Option<Ipv6Addr>, limit: u32) -> Vec<u8> {
        let arguments = commands6::get_page6_arguments(&PageRequest6 { from, limit });
        commands::encode_request(names::LEASE6_GET_PAGE, Service::Dhcp6, Some(arguments))
    }

    fn read_page(arguments: &Value) -> Result<PageRead<Self>, CommandError> {
        let page = commands6::parse_page6_lenient(arguments)?;
        Ok(PageRead {
            leases: page.leases,
            rejected: page.rejected,
            count: page.count,
            last: page.last_address,
        })
    }

    fn page_answer(leases: &[Self]) -> Answer {
        commands6::page6_answer(leases)
    }

    fn inbox(port: &HaPort) -> &Inbox<PeerRequest<Self>> {
        &port.inbox6
    }
}
