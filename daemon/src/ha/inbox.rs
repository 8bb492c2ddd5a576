//! Requests for an engine thread from the peer link: a queue the engine drains when an eventfd
//! it polls beside its sockets becomes readable. The engine owns the lease state, so the peer
//! link never touches leases itself; it asks and awaits the answer.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, PoisonError};

use tokio::sync::oneshot;

use super::family::PeerLease;
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
}

/// Answers an apply request once its lease rows are durable (at once when it wrote none).
pub fn answer_when_durable(
    writer: &MemfileWriter,
    rows: Vec<u8>,
    report: ApplyReport,
    done: oneshot::Sender<Result<ApplyReport, InboxError>>,
) {
    if rows.is_empty() {
        let _ = done.send(Ok(report));
        return;
    }
    writer.submit(
        rows,
        Box::new(move |result| {
            // The requester may have given up (timeout); nothing to undo.
            let _ = done.send(
                result
                    .map(|()| report)
                    .map_err(|e| InboxError::Write(e.to_string())),
            );
        }),
    );
}

/// A request for an engine from the peer link.
#[derive(Debug)]
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
        /// The answer.
        done: oneshot::Sender<Vec<L>>,
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
