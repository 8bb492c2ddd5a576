//! One session's subscription (RFC 5277 sections 2.1 to 2.3): replayed notifications first,
//! then `replayComplete` (when a startTime was given), then live ones, until the stopTime
//! (then `notificationComplete`) or the end of the session.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::broadcast::{self, error::RecvError};

use super::filter::SubtreeFilter;
use super::{
    message, Notification, NotificationAccess, NotificationView, NotificationXPath, Publisher,
    NS_NETMOD_NOTIFICATION,
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

    /// The message this session gets for `n`: `None` when access control withholds it or the
    /// filter does not select it. Access control runs first, so the filter sees only what
    /// the user may read.
    fn deliverable(&self, n: &Notification) -> Option<String> {
        let pruned;
        let seen = match self.access.as_ref().map(|a| a.view(&self.session, n)) {
            None | Some(NotificationView::Whole) => n,
            Some(NotificationView::Withheld) => return None,
            Some(NotificationView::Pruned(body)) => {
                pruned = Notification {
                    event_time: n.event_time,
                    name: n.name.clone(),
                    namespace: n.namespace.clone(),
                    message: message(n.event_time, body.trim()),
                };
                &pruned
            }
        };
        let selected = match &self.filter {
            None => true,
            Some(SubscriptionFilter::Subtree(filter)) => {
                xml::parse(seen.body().as_bytes()).is_ok_and(|body| filter.selects(&body))
            }
            Some(SubscriptionFilter::XPath {
                select,
                namespaces,
                evaluator,
            }) => evaluator.0.selects(select, namespaces, seen),
        };
        selected.then(|| seen.message.clone())
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
                if let Some(message) = self.deliverable(&n) {
                    return Delivery::Send(message);
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
                        if let Some(message) = self.deliverable(&n) {
                            return Delivery::Send(message);
                        }
                    }
                    Err(RecvError::Lagged(lost)) => {
                        self.publisher.count_lost(lost);
                        tracing::warn!(
                            session = self.session.id,
                            user = %self.session.username,
                            lost,
                            total_lost = self.publisher.lost(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn alice() -> SessionInfo {
        SessionInfo {
            id: 4,
            username: "alice".into(),
        }
    }

    fn event(secret: bool) -> String {
        let extra = if secret { "<secret>s</secret>" } else { "" };
        format!("<ev xmlns=\"urn:t\"><n>1</n>{extra}</ev>")
    }

    /// Removes `<secret>` for alice, withholds `<hidden>`.
    fn hook() -> NotificationAccess {
        NotificationAccess::with_view(|session, n| {
            if n.name == "hidden" {
                NotificationView::Withheld
            } else if session.username == "alice" && n.body().contains("<secret>") {
                NotificationView::Pruned(n.body().replace("<secret>s</secret>", ""))
            } else {
                NotificationView::Whole
            }
        })
    }

    async fn next_sent(sub: &mut Subscription) -> String {
        match tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("a delivery in time")
        {
            Delivery::Send(m) => m,
            Delivery::Complete(m) => panic!("subscription ended early: {m}"),
        }
    }

    #[tokio::test]
    async fn access_view_prunes_before_the_filter_sees_the_content() {
        let p = Publisher::new(10, 8);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        p.publish(t0, &event(true)).expect("published");
        p.publish(t0, "<hidden xmlns=\"urn:t\"/>")
            .expect("published");
        p.publish(t0, &event(false)).expect("published");
        // A filter on the removed node selects nothing of the pruned notification.
        let probe = SubtreeFilter::parse("<ev xmlns=\"urn:t\"><secret/></ev>").expect("filter");
        let mut probing = Subscription::new(
            &p,
            alice(),
            Some(SubscriptionFilter::Subtree(probe)),
            Some(hook()),
            Some(t0),
            None,
        );
        assert!(next_sent(&mut probing).await.contains("<replayComplete"));
        let mut sub = Subscription::new(&p, alice(), None, Some(hook()), Some(t0), None);
        let first = next_sent(&mut sub).await;
        assert_eq!(
            first,
            message(t0, "<ev xmlns=\"urn:t\"><n>1</n></ev>"),
            "secret removed, event time kept"
        );
        let second = next_sent(&mut sub).await;
        assert_eq!(second, message(t0, &event(false)), "hidden withheld");
        assert!(next_sent(&mut sub).await.contains("<replayComplete"));
    }
}
