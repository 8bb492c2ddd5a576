//! Requests for an engine thread from the peer link: a queue the engine drains when an eventfd
//! it polls beside its sockets becomes readable. The engine owns the lease state, so the peer
//! link never touches leases itself; it asks and awaits the answer.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use super::family::PeerLease;
use crate::engine::PartnerLeg;
use crate::lease::memfile::MemfileWriter;
use crate::lease::{Lease4, Lease6};

/// How a lease from the partner is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// A lease update (lease4-update, lease4-bulk-apply): the partner just changed it, so it
    /// replaces ours.
    Update,
    /// A lease fetched by a sync: it replaces ours only if it is newer (later client last
    /// transaction time), as Kea's sync does, so a change that reached us as an update while
    /// the sync ran is not undone by an older page.
    Sync,
    /// An operator's change (delete-lease): it replaces ours and, in a failover pair, goes to
    /// the partner like a change the server made itself.
    Operator,
}

/// What applying a set of partner leases did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ApplyReport {
    /// Leases added or replaced.
    pub applied: u64,
    /// Deletions carried out.
    pub deleted: u64,
    /// Leases kept because ours were newer (sync only).
    pub kept_newer: u64,
    /// Leases replacing a different client's unexpired lease on the same address.
    pub conflicts: u64,
}

/// Why a request could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboxError {
    /// The lease rows could not be written.
    #[error("lease file write failed: {0}")]
    Write(String),
    /// The engine stopped.
    #[error("the DHCP engine is not running")]
    Stopped,
    /// The failover partner did not acknowledge the change.
    #[error("the failover partner did not acknowledge the change")]
    Partner,
}

/// Answers an apply request once its lease rows are durable and, with `partner`, acknowledged
/// by the failover partner (at once when there is neither).
pub fn answer_when_durable(
    writer: &MemfileWriter,
    rows: Vec<u8>,
    report: ApplyReport,
    done: oneshot::Sender<Result<ApplyReport, InboxError>>,
    partner: Option<PartnerLeg>,
) {
    let legs = u8::from(!rows.is_empty()) + u8::from(partner.is_some());
    if legs == 0 {
        let _ = done.send(Ok(report));
        return;
    }
    let join = Arc::new(Mutex::new(Join {
        legs_left: legs,
        failure: None,
        done: Some(done),
        report,
    }));
    if let Some(partner) = partner {
        let join = join.clone();
        partner(Box::new(move |ok| {
            Join::complete(&join, (!ok).then_some(InboxError::Partner))
        }));
    }
    if !rows.is_empty() {
        writer.submit(
            rows,
            Box::new(move |result| {
                let failure = result.err().map(|e| InboxError::Write(e.to_string()));
                Join::complete(&join, failure);
            }),
        );
    }
}

/// An answer waiting for its legs (disk, partner).
struct Join {
    legs_left: u8,
    failure: Option<InboxError>,
    done: Option<oneshot::Sender<Result<ApplyReport, InboxError>>>,
    report: ApplyReport,
}

impl Join {
    fn complete(join: &Mutex<Join>, failure: Option<InboxError>) {
        let mut j = join.lock().unwrap_or_else(PoisonError::into_inner);
        j.legs_left = j.legs_left.saturating_sub(1);
        if j.failure.is_none() {
            j.failure = failure;
        }
        if j.legs_left > 0 {
            return;
        }
        if let Some(done) = j.done.take() {
            // The requester may have given up (timeout); nothing to undo.
            let _ = done.send(match j.failure.take() {
                None => Ok(j.report),
                Some(e) => Err(e),
            });
        }
    }
}

/// Which leases a listing keeps (shared: a listing may take several requests).
pub type LeaseFilter<L> = Arc<dyn Fn(&L) -> bool + Send + Sync>;

/// A page of leases from an engine.
#[derive(Debug)]
pub struct LeasePage<L: PeerLease> {
    /// The leases, in address order.
    pub leases: Vec<L>,
    /// Set when a filtered page ended early because the engine looked at as many leases as
    /// one request may ([`crate::ha::port::FILTERED_VISITS`]): the next page starts after
    /// this address.
    pub resume_after: Option<L::Addr>,
}

/// A read of the engine's lease store through its indexes; it answers through a channel of
/// its own.
pub type StoreLookup<L> = Box<dyn FnOnce(&<L as PeerLease>::Store) + Send>;

/// A request for an engine from the peer link or the operator.
pub enum PeerRequest<L: PeerLease> {
    /// Apply the partner's leases (`deleted`: the leases it deleted); answered once the rows
    /// are durable.
    Apply {
        /// Leases to add or replace.
        leases: Vec<L>,
        /// Leases that go.
        deleted: Vec<L::Key>,
        /// Update or sync.
        mode: ApplyMode,
        /// The answer.
        done: oneshot::Sender<Result<ApplyReport, InboxError>>,
    },
    /// Up to `limit` leases after `from` (from the lowest address when `None`), in address
    /// order (lease4-get-page, lease6-get-page).
    GetPage {
        /// The last address of the previous page.
        from: Option<L::Addr>,
        /// Page size.
        limit: u32,
        /// Only the leases it keeps (an operator's listing); all when `None`.
        filter: Option<LeaseFilter<L>>,
        /// The answer.
        done: oneshot::Sender<LeasePage<L>>,
    },
    /// Look a few leases up by key (an operator's read naming them): no walk over all leases
    /// on the engine thread.
    Lookup(StoreLookup<L>),
    /// Reclaim every expired lease now; answered with how many were.
    Reclaim {
        /// The answer.
        done: oneshot::Sender<u64>,
    },
}

/// A request for the DHCPv4 engine.
pub type PeerRequest4 = PeerRequest<Lease4>;
/// A request for the DHCPv6 engine.
pub type PeerRequest6 = PeerRequest<Lease6>;

/// A queue of requests with an eventfd that is readable while requests wait.
#[derive(Debug)]
pub struct Inbox<T> {
    queue: Mutex<VecDeque<T>>,
    event: OwnedFd,
}

impl<T> Inbox<T> {
    /// An empty inbox.
    pub fn new() -> std::io::Result<Self> {
        // SAFETY: eventfd has no pointer arguments; the result is checked below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Inbox {
            queue: Mutex::new(VecDeque::new()),
            // SAFETY: fd is a fresh descriptor we own.
            event: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// The descriptor to poll for readability.
    pub fn fd(&self) -> RawFd {
        self.event.as_raw_fd()
    }

    /// Queues a request and wakes the engine.
    pub fn send(&self, request: T) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(request);
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd. A full counter (EAGAIN) still
        // leaves the fd readable, which is all the wake-up needs.
        unsafe { libc::write(self.fd(), (&one as *const u64).cast(), 8) };
    }

    /// Takes every waiting request and resets the wake-up.
    pub fn drain(&self) -> Vec<T> {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our non-blocking eventfd.
        unsafe { libc::read(self.fd(), (&mut count as *mut u64).cast(), 8) };
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(fd: RawFd) -> bool {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, 0) == 1 }
    }

    #[test]
    fn readable_while_requests_wait() {
        let inbox = Inbox::new().unwrap();
        assert!(!readable(inbox.fd()));
        inbox.send(1);
        inbox.send(2);
        assert!(readable(inbox.fd()));
        assert_eq!(inbox.drain(), vec![1, 2]);
        assert!(!readable(inbox.fd()));
        assert!(inbox.drain().is_empty());
    }
}
