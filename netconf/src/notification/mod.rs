//! NETCONF event notifications (RFC 5277) with `:interleave:1.0`: the daemon publishes through
//! a [`Publisher`]; each session with a `<create-subscription>` receives the `NETCONF`
//! stream, replayed from a bounded buffer when it asked for a `startTime`.
//!
//! - [`publisher`]: the publishing handle, the replay buffer and the live fan-out.
//! - [`subscription`]: one session's subscription: replay, access check (which may remove
//!   content), filter, stop time.
//! - [`filter`]: subtree filters applied to notification content.
//! - [`time`]: `yang:date-and-time` reading and writing.
//!
//! A subscriber that does not keep up never slows the publisher or the other sessions: the
//! live fan-out is a ring of [`ServerConfig::notification_queue`](crate::ServerConfig)
//! entries; a session that falls further behind loses the oldest notifications it has not
//! sent, counts them (logged as a warning, and in [`Publisher::lost`]), and goes on with the
//! newest. A session whose client stops reading altogether is closed by the write timeout,
//! as for replies.

pub(crate) mod filter;
pub mod publisher;
pub(crate) mod subscription;
pub mod time;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

pub use publisher::{PublishError, Publisher};

use crate::backend::SessionInfo;
use crate::error::RpcError;

/// The `:notification:1.0` capability (RFC 5277 section 3.1).
pub const CAP_NOTIFICATION: &str = "urn:ietf:params:netconf:capability:notification:1.0";
/// The `:interleave:1.0` capability (RFC 5277 section 6): rpcs are answered while subscribed.
pub const CAP_INTERLEAVE: &str = "urn:ietf:params:netconf:capability:interleave:1.0";
/// Namespace of `<notification>` and `<create-subscription>` (RFC 5277 section 4).
pub const NS_NOTIFICATION: &str = "urn:ietf:params:xml:ns:netconf:notification:1.0";
/// Namespace of the nc-notifications module: `replayComplete`, `notificationComplete`, the
/// `netconf/streams` state (RFC 5277 section 3.4).
pub const NS_NETMOD_NOTIFICATION: &str = "urn:ietf:params:xml:ns:netmod:notification";
/// The one stream this server has: every notification (RFC 5277 section 3.2.3).
pub const STREAM_NETCONF: &str = "NETCONF";
/// Default size of the replay buffer, in notifications.
pub const DEFAULT_REPLAY_BUFFER: usize = 1000;
/// Default bound of a session's queue of notifications not yet sent.
pub const DEFAULT_NOTIFICATION_QUEUE: usize = 1024;

/// One published event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// When the event happened.
    pub event_time: SystemTime,
    /// Local name of the content element (`netconf-config-change`).
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// The whole `<notification>` message, written once and sent as is to every subscriber.
    pub message: String,
}

impl Notification {
    /// The content element, as published.
    pub fn body(&self) -> &str {
        // The message is `<notification ...><eventTime>...</eventTime>BODY</notification>`.
        let start = self
            .message
            .find("</eventTime>")
            .map_or(0, |i| i + "</eventTime>".len());
        let end = self
            .message
            .rfind("</notification>")
            .unwrap_or(self.message.len());
        &self.message[start.min(end)..end]
    }
}

/// Writes a `<notification>` message around `body`.
pub(crate) fn message(event_time: SystemTime, body: &str) -> String {
    format!(
        "<notification xmlns=\"{NS_NOTIFICATION}\"><eventTime>{}</eventTime>{body}</notification>",
        time::format_date_and_time(event_time)
    )
}

/// Decides what a session receives of a notification (NACM, RFC 8341 section 3.4.6): the
/// notification, nothing, or its content with the nodes the user may not read removed. It
/// runs on the session's task for every notification, replayed ones included, before the
/// subscription's filter (so a filter cannot probe removed content), so it must be quick and
/// must not block; `replayComplete` and `notificationComplete` are not subject to it. Without
/// a hook, every session receives everything.
#[derive(Clone)]
pub struct NotificationAccess(pub Arc<AccessCheck>);

/// The access decision for one session and one notification.
pub type AccessCheck = dyn Fn(&SessionInfo, &Notification) -> NotificationView + Send + Sync;

/// What a session receives of one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationView {
    /// The notification as published.
    Whole,
    /// Nothing: the user may not receive this notification type.
    Withheld,
    /// This content element instead of the published one (some nodes removed); it keeps the
    /// published event time and must be one XML element with its namespace declared.
    Pruned(String),
}

impl NotificationAccess {
    /// A hook that decides by notification type only: `true` lets the notification through
    /// whole.
    pub fn new(f: impl Fn(&SessionInfo, &Notification) -> bool + Send + Sync + 'static) -> Self {
        NotificationAccess(Arc::new(move |session, notification| {
            if f(session, notification) {
                NotificationView::Whole
            } else {
                NotificationView::Withheld
            }
        }))
    }

    /// A hook that may also remove content: it returns what the session receives.
    pub fn with_view(
        f: impl Fn(&SessionInfo, &Notification) -> NotificationView + Send + Sync + 'static,
    ) -> Self {
        NotificationAccess(Arc::new(f))
    }

    /// What `session` receives of `notification`.
    pub fn view(&self, session: &SessionInfo, notification: &Notification) -> NotificationView {
        (self.0)(session, notification)
    }
}

impl std::fmt::Debug for NotificationAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NotificationAccess(..)")
    }
}

/// Evaluates XPath filters of `<create-subscription>` (RFC 5277 section 3.6 with `:xpath`).
/// The library knows no schema, so the daemon, which does, answers: both calls get the
/// `select` expression and every prefix declared in scope on `<filter>`.
pub trait XPathEvaluator: Send + Sync {
    /// Checks the expression when the subscription is created; the error is the rpc-error
    /// the client gets (typically invalid-value).
    fn check(&self, select: &str, namespaces: &BTreeMap<String, String>) -> Result<(), RpcError>;
    /// Whether the expression selects anything in `notification`'s content. Runs on the
    /// session's task for every notification it is subscribed to.
    fn selects(
        &self,
        select: &str,
        namespaces: &BTreeMap<String, String>,
        notification: &Notification,
    ) -> bool;
}

/// The daemon's [`XPathEvaluator`]; without one, XPath notification filters are refused with
/// operation-not-supported.
#[derive(Clone)]
pub struct NotificationXPath(pub Arc<dyn XPathEvaluator>);

impl std::fmt::Debug for NotificationXPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NotificationXPath(..)")
    }
}
