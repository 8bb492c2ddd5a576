//! The publishing side: one [`Publisher`] per server, cloned into whatever raises events.
//! Publishing never waits for a subscriber: the notification goes into the replay buffer
//! (oldest dropped beyond its size) and into a broadcast ring every subscription reads.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use tokio::sync::broadcast;

use super::{message, Notification, DEFAULT_NOTIFICATION_QUEUE, DEFAULT_REPLAY_BUFFER};
use crate::xml;

/// Why a notification was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The body is not one well-formed XML element.
    #[error("notification content is not one XML element: {0}")]
    NotXml(String),
    /// The body element has no namespace: a client could not tell which module defines it.
    #[error("notification content <{0}> has no namespace")]
    NoNamespace(String),
}

/// What the replay buffer and the live ring hold, behind one lock so a new subscription
/// sees each notification exactly once: in its replay or live, never both, never neither.
#[derive(Debug)]
struct Log {
    buffer: VecDeque<Arc<Notification>>,
    capacity: usize,
    /// Event time of the newest notification dropped from the buffer, if any.
    aged: Option<SystemTime>,
}

#[derive(Debug)]
struct Inner {
    log: Mutex<Log>,
    live: broadcast::Sender<Arc<Notification>>,
    created: SystemTime,
    published: AtomicU64,
    lost: AtomicU64,
}

/// The handle the daemon publishes notifications with. Cheap to clone; every clone feeds
/// the same stream.
#[derive(Debug, Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

impl Default for Publisher {
    fn default() -> Self {
        Publisher::new(DEFAULT_REPLAY_BUFFER, DEFAULT_NOTIFICATION_QUEUE)
    }
}

impl Publisher {
    /// A publisher that keeps the last `replay_buffer` notifications for replay (0: no
    /// replay; a subscription with a startTime then gets only its replayComplete) and lets a
    /// session fall `queue` notifications behind before it loses the oldest.
    pub fn new(replay_buffer: usize, queue: usize) -> Self {
        let (live, _) = broadcast::channel(queue.max(1));
        Publisher {
            inner: Arc::new(Inner {
                log: Mutex::new(Log {
                    buffer: VecDeque::with_capacity(replay_buffer.min(4096)),
                    capacity: replay_buffer,
                    aged: None,
                }),
                live,
                created: SystemTime::now(),
                published: AtomicU64::new(0),
                lost: AtomicU64::new(0),
            }),
        }
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        // A panic while holding the lock leaves a consistent log (every step is one push or
        // pop), so poisoning is ignored.
        self.inner.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes one event: `body` is its content element with its namespace declared
    /// (`<netconf-config-change xmlns="urn:...">...</netconf-config-change>`), `event_time`
    /// when it happened. Returns the notification as subscribers receive it.
    pub fn publish(
        &self,
        event_time: SystemTime,
        body: &str,
    ) -> Result<Arc<Notification>, PublishError> {
        let root = xml::parse(body.as_bytes()).map_err(|e| PublishError::NotXml(e.to_string()))?;
        let namespace = match root.ns.as_deref() {
            Some(ns) if !ns.is_empty() => ns.to_owned(),
            _ => return Err(PublishError::NoNamespace(root.local)),
        };
        let notification = Arc::new(Notification {
            event_time,
            name: root.local,
            namespace,
            message: message(event_time, body.trim()),
        });
        let mut log = self.log();
        if log.capacity > 0 {
            while log.buffer.len() >= log.capacity {
                if let Some(old) = log.buffer.pop_front() {
                    log.aged = Some(old.event_time);
                }
            }
            log.buffer.push_back(Arc::clone(&notification));
        }
        // No subscriber is not an error: the buffer keeps it for replay.
        let _ = self.inner.live.send(Arc::clone(&notification));
        drop(log);
        self.inner.published.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(name = %notification.name, "notification published");
        Ok(notification)
    }

    /// The notifications to replay for a subscription starting at `start` (and ending at
    /// `stop`, if given), oldest first, and the live receiver that continues right after them.
    pub(crate) fn subscribe(
        &self,
        start: Option<SystemTime>,
        stop: Option<SystemTime>,
    ) -> (
        VecDeque<Arc<Notification>>,
        broadcast::Receiver<Arc<Notification>>,
    ) {
        let log = self.log();
        let replay = match start {
            None => VecDeque::new(),
            Some(start) => log
                .buffer
                .iter()
                .filter(|n| n.event_time >= start && stop.is_none_or(|stop| n.event_time <= stop))
                .cloned()
                .collect(),
        };
        let live = self.inner.live.subscribe();
        drop(log);
        (replay, live)
    }

    /// When the replay buffer started (the publisher's creation); RFC 5277
    /// `replayLogCreationTime`.
    pub fn replay_log_created(&self) -> SystemTime {
        self.inner.created
    }

    /// Whether subscriptions may ask for replay: the replay buffer holds notifications (RFC
    /// 5277 `replaySupport`).
    pub fn replay_supported(&self) -> bool {
        self.log().capacity > 0
    }

    /// Event time of the newest notification dropped from the replay buffer, if any; RFC 5277
    /// `replayLogAgedTime`.
    pub fn replay_log_aged(&self) -> Option<SystemTime> {
        self.log().aged
    }

    /// The notifications the replay buffer holds, oldest first.
    pub fn replay_buffer(&self) -> Vec<Arc<Notification>> {
        self.log().buffer.iter().cloned().collect()
    }

    /// Notifications published so far.
    pub fn published(&self) -> u64 {
        self.inner.published.load(Ordering::Relaxed)
    }

    /// Notifications sessions lost because they fell more than their queue behind, summed
    /// over sessions.
    pub fn lost(&self) -> u64 {
        self.inner.lost.load(Ordering::Relaxed)
    }

    pub(crate) fn count_lost(&self, n: u64) {
        self.inner.lost.fetch_add(n, Ordering::Relaxed);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    fn body(i: u32) -> String {
        format!("<e xmlns=\"urn:t\"><n>{i}</n></e>")
    }

    #[test]
    fn publish_checks_and_wraps_the_body() {
        let p = Publisher::new(10, 4);
        let n = p.publish(at(0), &body(1)).unwrap();
        assert_eq!((n.name.as_str(), n.namespace.as_str()), ("e", "urn:t"));
        assert_eq!(
            n.message,
            "<notification xmlns=\"urn:ietf:params:xml:ns:netconf:notification:1.0\"><eventTime>2027-01-15T08:00:00.000000Z</eventTime><e xmlns=\"urn:t\"><n>1</n></e></notification>"
        );
        assert_eq!(n.body(), body(1));
        assert!(matches!(
            p.publish(at(0), "<e>"),
            Err(PublishError::NotXml(_))
        ));
        assert_eq!(
            p.publish(at(0), "<e/>"),
            Err(PublishError::NoNamespace("e".into()))
        );
        assert_eq!(p.published(), 1);
    }

    #[test]
    fn replay_buffer_drops_the_oldest_and_windows_by_time() {
        let p = Publisher::new(3, 4);
        for i in 0..5 {
            p.publish(at(u64::from(i)), &body(i)).unwrap();
        }
        assert_eq!(p.replay_log_aged(), Some(at(1)));
        let (all, _) = p.subscribe(Some(at(0)), None);
        let times: Vec<_> = all.iter().map(|n| n.event_time).collect();
        assert_eq!(times, vec![at(2), at(3), at(4)]);
        let (window, _) = p.subscribe(Some(at(3)), Some(at(3)));
        assert_eq!(window.len(), 1);
        let (none, _) = p.subscribe(None, None);
        assert!(none.is_empty());
        let off = Publisher::new(0, 4);
        assert!(p.replay_supported() && !off.replay_supported());
        off.publish(at(0), &body(0)).unwrap();
        assert!(off.subscribe(Some(at(0)), None).0.is_empty());
    }

    #[tokio::test]
    async fn live_follows_replay_without_gap_or_duplicate() {
        let p = Publisher::new(10, 4);
        p.publish(at(0), &body(0)).unwrap();
        let (replay, mut live) = p.subscribe(Some(at(0)), None);
        p.publish(at(1), &body(1)).unwrap();
        assert_eq!(replay.len(), 1);
        assert_eq!(live.recv().await.unwrap().event_time, at(1));
        assert!(live.try_recv().is_err());
    }
}
