//! The table of live NETCONF sessions: session-id allocation, the session limit, and
//! kill-session (RFC 6241 section 7.9).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{oneshot, watch};

use crate::error::RpcError;

/// How long kill-session waits for the killed session to finish its teardown (which includes
/// queueing its `SessionEnded` to the backend) before reporting failure.
const KILL_WAIT: Duration = Duration::from_secs(30);

/// The session-id a kill order carries when the server itself ends sessions (shutdown).
pub(crate) const KILLED_BY_SERVER: u32 = 0;

#[derive(Debug)]
struct Entry {
    /// Taken by the first kill-session; the session ends when it receives the killer's id.
    kill: Option<oneshot::Sender<u32>>,
    /// Turns true (or is dropped) once the session has ended and told the backend.
    ended: watch::Receiver<bool>,
    username: String,
    source_host: IpAddr,
    login_time: SystemTime,
    counters: Arc<SessionCounters>,
}

/// Per-session message counters (ietf-netconf-monitoring `sessions/session`).
#[derive(Debug, Default)]
pub struct SessionCounters {
    /// Correct `<rpc>` messages received.
    pub in_rpcs: AtomicU64,
    /// Messages received that were not correct `<rpc>` messages.
    pub in_bad_rpcs: AtomicU64,
    /// `<rpc-reply>` messages sent that contained an `<rpc-error>`.
    pub out_rpc_errors: AtomicU64,
    /// `<notification>` messages sent.
    pub out_notifications: AtomicU64,
}

impl SessionCounters {
    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// One live session as ietf-netconf-monitoring lists it (RFC 6022 `sessions/session`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// session-id.
    pub id: u32,
    /// The SSH user.
    pub username: String,
    /// The client's address.
    pub source_host: IpAddr,
    /// When the session started.
    pub login_time: SystemTime,
    /// Correct rpcs received.
    pub in_rpcs: u64,
    /// Bad rpcs received.
    pub in_bad_rpcs: u64,
    /// Replies with rpc-errors sent.
    pub out_rpc_errors: u64,
    /// Notifications sent.
    pub out_notifications: u64,
}

/// A read-only view of the live sessions, for monitoring state.
#[derive(Clone)]
pub struct Sessions(pub(crate) Arc<Registry>);

impl Sessions {
    /// Every live session, by session-id.
    pub fn list(&self) -> Vec<SessionSummary> {
        let inner = self.0.lock();
        let mut out: Vec<SessionSummary> = inner
            .sessions
            .iter()
            .map(|(id, e)| SessionSummary {
                id: *id,
                username: e.username.clone(),
                source_host: e.source_host,
                login_time: e.login_time,
                in_rpcs: e.counters.in_rpcs.load(Ordering::Relaxed),
                in_bad_rpcs: e.counters.in_bad_rpcs.load(Ordering::Relaxed),
                out_rpc_errors: e.counters.out_rpc_errors.load(Ordering::Relaxed),
                out_notifications: e.counters.out_notifications.load(Ordering::Relaxed),
            })
            .collect();
        out.sort_by_key(|s| s.id);
        out
    }
}

#[derive(Debug)]
struct Inner {
    next_id: u32,
    sessions: HashMap<u32, Entry>,
}

/// What a registered session keeps: its id, the kill order to obey, the flag to raise at its end.
pub(crate) struct Registration {
    /// The new session-id.
    pub id: u32,
    /// Resolves with the killing session's id ([`KILLED_BY_SERVER`] on shutdown).
    pub kill: oneshot::Receiver<u32>,
    /// Set to true after the session's `SessionEnded` was sent.
    pub ended: watch::Sender<bool>,
    /// The session's message counters.
    pub counters: Arc<SessionCounters>,
}

/// Why a session cannot start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the limit of {limit} NETCONF sessions is reached")]
pub(crate) struct SessionLimit {
    /// The configured limit.
    pub limit: usize,
}

/// Live sessions. Locked briefly, never across an await.
#[derive(Debug)]
pub(crate) struct Registry {
    inner: Mutex<Inner>,
    max_sessions: usize,
}

impl Registry {
    pub fn new(max_sessions: usize) -> Self {
        Registry {
            inner: Mutex::new(Inner {
                next_id: 1,
                sessions: HashMap::new(),
            }),
            max_sessions,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves a consistent map (every operation is a single
        // insert or remove), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Allocates a session-id (1 and up, skipping ids in use after wrapping) and registers it.
    pub fn register(
        &self,
        username: &str,
        source_host: IpAddr,
    ) -> Result<Registration, SessionLimit> {
        let mut inner = self.lock();
        if inner.sessions.len() >= self.max_sessions {
            return Err(SessionLimit {
                limit: self.max_sessions,
            });
        }
        let mut id = inner.next_id;
        while id == 0 || inner.sessions.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        inner.next_id = id.wrapping_add(1);
        let (kill_tx, kill_rx) = oneshot::channel();
        let (ended_tx, ended_rx) = watch::channel(false);
        let counters = Arc::new(SessionCounters::default());
        inner.sessions.insert(
            id,
            Entry {
                kill: Some(kill_tx),
                ended: ended_rx,
                username: username.to_string(),
                source_host,
                login_time: SystemTime::now(),
                counters: counters.clone(),
            },
        );
        Ok(Registration {
            id,
            kill: kill_rx,
            ended: ended_tx,
            counters,
        })
    }

    /// Removes a session that has ended.
    pub fn unregister(&self, id: u32) {
        self.lock().sessions.remove(&id);
    }

    /// kill-session: ends session `target` on behalf of session `by`, and returns once it has
    /// ended and its `SessionEnded` is queued to the backend.
    pub async fn kill(&self, target: u32, by: u32) -> Result<(), RpcError> {
        if target == by {
            return Err(RpcError::invalid_value(
                "session-id",
                "a session cannot kill itself; use close-session",
            ));
        }
        let mut ended = {
            let mut inner = self.lock();
            let Some(entry) = inner.sessions.get_mut(&target) else {
                return Err(RpcError::invalid_value(
                    "session-id",
                    format!("there is no session {target}"),
                ));
            };
            if let Some(kill) = entry.kill.take() {
                // The session may be ending on its own right now; then the order is moot.
                let _ = kill.send(by);
            }
            entry.ended.clone()
        };
        // An error means the session task is gone, which is an end as well.
        let result = tokio::time::timeout(KILL_WAIT, ended.wait_for(|done| *done))
            .await
            .map(drop);
        match result {
            Ok(()) => Ok(()),
            Err(_) => Err(RpcError::operation_failed(format!(
                "session {target} did not end within {} s",
                KILL_WAIT.as_secs()
            ))),
        }
    }

    /// Ends every session (server shutdown) and waits, at most `wait`, for them to finish.
    pub async fn kill_all(&self, wait: Duration) {
        let ended: Vec<watch::Receiver<bool>> = {
            let mut inner = self.lock();
            inner
                .sessions
                .values_mut()
                .map(|entry| {
                    if let Some(kill) = entry.kill.take() {
                        let _ = kill.send(KILLED_BY_SERVER);
                    }
                    entry.ended.clone()
                })
                .collect()
        };
        let all = async {
            for mut e in ended {
                let _ = e.wait_for(|done| *done).await;
            }
        };
        let _ = tokio::time::timeout(wait, all).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::ErrorTag;

    #[test]
    fn ids_and_limit() {
        let r = Registry::new(2);
        let a = r.register("u", IpAddr::from([127, 0, 0, 1])).unwrap();
        let b = r.register("u", IpAddr::from([127, 0, 0, 1])).unwrap();
        assert_eq!((a.id, b.id), (1, 2));
        assert_eq!(
            r.register("u", IpAddr::from([127, 0, 0, 1])).err(),
            Some(SessionLimit { limit: 2 })
        );
        r.unregister(a.id);
        assert_eq!(r.register("u", IpAddr::from([127, 0, 0, 1])).unwrap().id, 3);
    }

    #[test]
    fn ids_wrap_past_zero_and_skip_live_ones() {
        let r = Registry::new(10);
        let one = r.register("u", IpAddr::from([127, 0, 0, 1])).unwrap();
        r.lock().next_id = u32::MAX;
        assert_eq!(
            r.register("u", IpAddr::from([127, 0, 0, 1])).unwrap().id,
            u32::MAX
        );
        // 0 is never used and 1 is live.
        assert_eq!(r.register("u", IpAddr::from([127, 0, 0, 1])).unwrap().id, 2);
        drop(one);
    }

    #[tokio::test]
    async fn kill_waits_for_the_end() {
        let r = std::sync::Arc::new(Registry::new(4));
        let killer = r.register("u", IpAddr::from([127, 0, 0, 1])).unwrap();
        let victim = r.register("u", IpAddr::from([127, 0, 0, 1])).unwrap();
        let e = r.kill(killer.id, killer.id).await.unwrap_err();
        assert_eq!(e.tag, ErrorTag::InvalidValue);
        let e = r.kill(99, killer.id).await.unwrap_err();
        assert_eq!(e.tag, ErrorTag::InvalidValue);

        let r2 = r.clone();
        let victim_task = tokio::spawn(async move {
            let by = victim.kill.await.unwrap();
            r2.unregister(victim.id);
            victim.ended.send_replace(true);
            by
        });
        r.kill(2, killer.id).await.unwrap();
        assert_eq!(victim_task.await.unwrap(), killer.id);
        assert_eq!(r.len(), 1);
    }
}
