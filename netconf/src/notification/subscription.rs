//! One session's subscription (RFC 5277 sections 2.1 to 2.3): replayed notifications first,
//! then `replayComplete` (when a startTime was given), then live ones, until the stopTime
//! (then `notificationComplete`) or the end of the session.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::broadcast::{self, error::RecvError};

use super::filter::SubtreeFilter;
use super::{
    message, Notification, NotificationAccess, NotificationXPath, Publisher, NS_NETMOD_NOTIFICATION,
};
use crate::backend::SessionInfo;
use crate::xml;

/// What a subscription asks the session to write next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// A `<notification>` message; the subscription goes on.
    Send(String),
    /// The last message (`notificationComplete`); the subscription is over.
    Complete(String),
}

/// The filter of a subscription.
pub(crate) enum SubscriptionFilter {
    /// A subtree filter, matched here.
    Subtree(SubtreeFilter),
    /// An XPath filter, evaluated by the daemon.
    XPath {
        select: String,
        namespaces: std::collections::BTreeMap<String, String>,
        evaluator: NotificationXPath,
    },
}

/// A live subscription of one session.
pub(crate) struct Subscription {
    session: SessionInfo,
    filter: Option<SubscriptionFilter>,
    access: Option<NotificationAccess>,
    replay: VecDeque<Arc<Notification>>,
    replay_complete_due: bool,
    live: broadcast::Receiver<Arc<Notification>>,
    stop: Option<SystemTime>,
    publisher: Publisher,
}

impl Subscription {
    /// Subscribes `session` to `publisher` with the request's parameters, already checked
    /// (start not in the future, stop only with and after start).
    pub(crate) fn new(
        publisher: &Publisher,
        session: SessionInfo,
        filter: Option<SubscriptionFilter>,
        access: Option<NotificationAccess>,
        start: Option<SystemTime>,
        stop: Option<SystemTime>,
    ) -> Self {
        let (replay, live) = publisher.subscribe(start, stop);
        Subscription {
            session,
            filter,
            access,
            replay,
            replay_complete_due: start.is_some(),
            live,
            stop,
            publisher: publisher.clone(),
        }
    }

    /// Whether this session may see `n` and the filter selects it.
    fn passes(&self, n: &Notification) -> bool {
        if let Some(access) = &self.access {
            if !access.allows(&self.session, n) {
                return false;
            }
        }
        match &self.filter {
            None => true,
            Some(SubscriptionFilter::Subtree(filter)) => {
                xml::parse(n.body().as_bytes()).is_ok_and(|body| filter.selects(&body))
            }
            Some(SubscriptionFilter::XPath {
                select,
                namespaces,
                evaluator,
            }) => evaluator.0.selects(select, namespaces, n),
        }
    }

    fn complete(name: &str) -> String {
        message(
            SystemTime::now(),
            &format!("<{name} xmlns=\"{NS_NETMOD_NOTIFICATION}\"/>"),
        )
    }

    /// The next message to write. Cancel-safe: nothing is taken from the subscription unless
    /// it is returned, so the session may race it against reading requests.
    pub(crate) async fn next(&mut self) -> Delivery {
        loop {
            if let Some(n) = self.replay.pop_front() {
                if self.passes(&n) {
                    return Delivery::Send(n.message.clone());
                }
                continue;
            }
            if self.replay_complete_due {
                self.replay_complete_due = false;
                return Delivery::Send(Self::complete("replayComplete"));
            }
            let stop_in = match self.stop {
                None => None,
                Some(stop) => match stop.duration_since(SystemTime::now()) {
                    Ok(left) => Some(left),
                    Err(_) => return Delivery::Complete(Self::complete("notificationComplete")),
                },
            };
            let stop_timer = async {
                match stop_in {
                    Some(left) => tokio::time::sleep(left).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                received = self.live.recv() => match received {
                    Ok(n) => {
                        if self.stop.is_some_and(|stop| n.event_time > stop) {
                            return Delivery::Complete(Self::complete("notificationComplete"));
                        }
                        if self.passes(&n) {
                            return Delivery::Send(n.message.clone());
                        }
                    }
                    Err(RecvError::Lagged(lost)) => {
                        self.publisher.count_lost(lost);
                        tracing::warn!(
                            session = self.session.id,
                            lost,
                            "subscriber too slow: oldest unsent notifications dropped"
                        );
                    }
                    // The publisher is gone with the server: nothing more will come.
                    Err(RecvError::Closed) => std::future::pending::<()>().await,
                },
                () = stop_timer => {
                    return Delivery::Complete(Self::complete("notificationComplete"));
                }
            }
        }
    }
}
