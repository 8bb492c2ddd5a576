//! NETCONF server protocol library (RFC 6241 over SSH, RFC 6242). It reaches the datastore
//! through a channel of [`backend::Request`]s and knows nothing of DHCP.
//!
//! - [`framing`]: end-of-message and chunked framing, a pure incremental decoder.
//! - [`rpc`]: typed operations parsed from `<rpc>`, and `<rpc-reply>` writing.
//! - [`error`]: `<rpc-error>` (RFC 6241 Appendix A) and the server's own errors.
//! - [`backend`]: the messages the datastore task answers.
//! - [`hello`]: the capability exchange.
//! - [`notification`]: event notifications (RFC 5277, :interleave), the [`Publisher`] the
//!   daemon raises them with, replay, and the per-session access hook.
//! - [`ssh`]: the SSH server ([`NetconfServer`]), users and authentication.
//!
//! Wiring, in the daemon:
//!
//! ```no_run
//! # async fn wiring() -> Result<(), netconf::ServerError> {
//! use netconf::{NetconfServer, ServerConfig, User};
//! let (tx, mut rx) = tokio::sync::mpsc::channel(64);
//! let config = ServerConfig::new(
//!     "[::]:830".parse().expect("address"),
//!     "/var/lib/netdhcp/ssh_host_ed25519_key".into(),
//!     vec![User { name: "admin".into(), password_hash: Some(netconf::hash_password("secret")?), authorized_keys: vec![] }],
//! );
//! let server = NetconfServer::new(config, vec!["urn:ietf:params:netconf:capability:candidate:1.0".into()], tx)?;
//! tokio::spawn(async move {
//!     while let Some(request) = rx.recv().await {
//!         // answer netconf::backend::Request::Rpc through its `reply`, forget sessions on SessionEnded
//! #       drop(request);
//!     }
//! });
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

pub mod backend;
pub mod error;
pub mod framing;
pub mod hello;
pub mod notification;
mod quickack;
pub mod registry;
pub mod rpc;
mod session;
pub mod ssh;
pub mod xml;

pub use backend::{OperationAccess, Reply, Request, SessionInfo};
pub use error::{ErrorInfo, ErrorSeverity, ErrorTag, ErrorType, RpcError, ServerError};
pub use notification::{
    Notification, NotificationAccess, NotificationXPath, Publisher, XPathEvaluator,
};
pub use registry::{SessionSummary, Sessions};
pub use rpc::Operation;
pub use ssh::{hash_password, NetconfServer, ServerConfig, User};
