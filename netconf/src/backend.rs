//! The interface to the datastore: messages the server sends to the backend task.
//!
//! The backend (the daemon's datastore actor) owns one `mpsc::Receiver<Request>` and answers
//! each [`Request::Rpc`] through its oneshot responder, in the order received. Requests of one
//! session arrive in that session's order; requests of different sessions interleave. Every
//! session the server starts, whatever way it ends, is followed by exactly one
//! [`Request::SessionEnded`] with its id, sent after that session's last request, so the
//! backend can release its locks and forget its state (RFC 6241 section 7.9). A kill-session
//! is answered only once the killed session's `SessionEnded` is in the channel, so a lock
//! request sent after the `<ok/>` finds the lock released.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::error::RpcError;
use crate::rpc::Operation;

/// Who sent a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The NETCONF session-id (RFC 6241 section 8.1), from 1.
    pub id: u32,
    /// The SSH user the session authenticated as.
    pub username: String,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `<ok/>`.
    Ok,
    /// `<data>` with these children (serialised XML, each top element carrying its namespace).
    /// Answer to get and get-config (and get-schema, where the content goes in the monitoring
    /// namespace's `<data>` verbatim, e.g. YIN).
    Data(String),
    /// The text of a schema, answer to get-schema: the server escapes it and puts it in the
    /// monitoring namespace's `<data>` (RFC 6022 section 3.1).
    Schema(String),
    /// Output parameters of an [`Operation::Other`] rpc or action, written directly inside
    /// `<rpc-reply>` (RFC 7950 section 7.14.4); empty output becomes `<ok/>`.
    Output(String),
}

/// The oneshot a backend answers a request with: a reply, or the rpc-errors to report
/// (an empty list is reported as operation-failed).
pub type Responder = oneshot::Sender<Result<Reply, Vec<RpcError>>>;

/// A message to the backend.
#[derive(Debug)]
pub enum Request {
    /// An operation to carry out. Never [`Operation::CloseSession`] or
    /// [`Operation::KillSession`]: the server answers those itself.
    Rpc {
        /// The requesting session.
        session: SessionInfo,
        /// The operation.
        op: Operation,
        /// Where the answer goes. If it is dropped unanswered the client gets
        /// operation-failed; if the session ended meanwhile, sending fails and that is fine.
        reply: Responder,
    },
    /// The session ended (close-session, kill-session, transport closed, idle timeout,
    /// protocol error, server shutdown): release its locks, cancel a non-persistent
    /// confirmed commit it started (RFC 6241 section 8.4.1), forget it.
    SessionEnded {
        /// The session-id.
        id: u32,
    },
}

/// Decides whether a session may invoke an operation the server answers itself without the
/// backend (kill-session, create-subscription), so access control covers them as it covers
/// every request the backend sees (NACM, RFC 8341 section 3.4.4). It runs on the session's
/// task and must not block. close-session is always allowed and never asked. Without a hook,
/// every session may invoke both.
#[derive(Clone)]
pub struct OperationAccess(pub Arc<OperationCheck>);

/// The access decision: `Err` is the rpc-error to answer (access-denied).
pub type OperationCheck = dyn Fn(&SessionInfo, &Operation) -> Result<(), RpcError> + Send + Sync;

impl OperationAccess {
    /// A hook from a closure.
    pub fn new(
        f: impl Fn(&SessionInfo, &Operation) -> Result<(), RpcError> + Send + Sync + 'static,
    ) -> Self {
        OperationAccess(Arc::new(f))
    }

    /// Whether `session` may invoke `op`; the rpc-error to answer when not.
    pub fn check(&self, session: &SessionInfo, op: &Operation) -> Result<(), RpcError> {
        (self.0)(session, op)
    }
}

impl std::fmt::Debug for OperationAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OperationAccess(..)")
    }
}
