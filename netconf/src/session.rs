//! One NETCONF session over any byte stream (an SSH channel in production, an in-memory pipe
//! in tests): hello exchange, framing choice, then requests answered one at a time in order.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, trace, warn};

use crate::backend::{OperationAccess, Reply, Request, SessionInfo};
use crate::error::{ErrorTag, RpcError};
use crate::framing::{self, Decoder, Framing, FramingError};
use crate::hello::{self, HelloError};
use crate::notification::filter::SubtreeFilter;
use crate::notification::subscription::{Delivery, Subscription, SubscriptionFilter};
use crate::notification::{NotificationAccess, NotificationXPath, Publisher};
use crate::registry::{Registration, Registry, SessionCounters, KILLED_BY_SERVER};
use crate::rpc::{self, reply, Filter, Operation, RpcParseError};

/// Read buffer size: one SSH channel packet is at most 32 KiB by default.
const READ_CHUNK: usize = 64 * 1024;

/// How long the last bytes of a closing session may take to leave before the stream is
/// dropped anyway (a client that stopped reading must not keep a session alive).
const CLOSE_FLUSH: Duration = Duration::from_secs(2);

/// Session settings shared by every session of a server.
#[derive(Debug, Clone)]
pub(crate) struct SessionSettings {
    /// Capabilities announced besides base:1.0 and base:1.1.
    pub capabilities: Arc<Vec<String>>,
    /// A session that sends no complete message for this long is closed (the hello included).
    pub idle_timeout: Duration,
    /// Largest message accepted.
    pub max_message_size: usize,
    /// The backend.
    pub backend: mpsc::Sender<Request>,
    /// The session table.
    pub registry: Arc<Registry>,
    /// The notification stream sessions subscribe to.
    pub notifications: Publisher,
    /// Which notifications a session's user may receive; `None`: all.
    pub notification_access: Option<NotificationAccess>,
    /// Whether a session may invoke the operations answered here; `None`: allowed.
    pub operation_access: Option<OperationAccess>,
    /// Evaluates XPath notification filters; `None`: they are refused.
    pub notification_xpath: Option<NotificationXPath>,
}

/// Why a session ended, for the log.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionEnd {
    /// The client sent close-session.
    #[error("closed by the client (close-session)")]
    Closed,
    /// Another session sent kill-session.
    #[error("killed by session {by}")]
    Killed {
        /// The killing session.
        by: u32,
    },
    /// The server is shutting down.
    #[error("server shutdown")]
    Shutdown,
    /// The transport reached end of file.
    #[error("transport closed by the client")]
    Eof,
    /// No complete message within the idle timeout.
    #[error("idle for {0:?}")]
    IdleTimeout(Duration),
    /// The client's hello was refused.
    #[error(transparent)]
    Hello(#[from] HelloError),
    /// The framing was violated.
    #[error("framing error: {0}")]
    Framing(#[from] FramingError),
    /// A message was not XML or not an rpc (malformed-message sent).
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A reply could not be delivered within the idle timeout (the client stopped reading).
    #[error("reply not taken by the client within {0:?}")]
    WriteTimeout(Duration),
    /// Reading or writing the transport failed.
    #[error("transport error: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs session `registration.id` on `io` until it ends, then tells the backend
/// (`SessionEnded`), leaves the registry and raises the `ended` flag, in that order.
pub(crate) async fn run<S>(
    mut io: S,
    username: String,
    registration: Registration,
    settings: SessionSettings,
) -> SessionEnd
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let Registration {
        id,
        kill,
        ended,
        counters,
    } = registration;
    let info = SessionInfo { id, username };
    info!(user = %info.username, sessions = settings.registry.len(), "session started");
    let end = {
        let serve = serve(&mut io, &info, &settings, &counters);
        tokio::pin!(serve);
        let killed = async {
            match kill.await {
                Ok(by) => by,
                // The registry never drops the sender of a live session; if it did, serve on.
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            end = &mut serve => end,
            by = killed => if by == KILLED_BY_SERVER { SessionEnd::Shutdown } else { SessionEnd::Killed { by } },
        }
    };
    let _ = tokio::time::timeout(CLOSE_FLUSH, io.shutdown()).await;
    drop(io);
    match &end {
        SessionEnd::Closed
        | SessionEnd::Eof
        | SessionEnd::Killed { .. }
        | SessionEnd::Shutdown
        | SessionEnd::IdleTimeout(_) => {
            info!(reason = %end, "session ended")
        }
        _ => warn!(reason = %end, "session ended"),
    }
    // A closed backend channel means the daemon is going down; nothing left to release.
    let _ = settings.backend.send(Request::SessionEnded { id }).await;
    settings.registry.unregister(id);
    ended.send_replace(true);
    end
}

/// The protocol: hello, then requests until the session ends.
async fn serve<S>(
    io: &mut S,
    info: &SessionInfo,
    settings: &SessionSettings,
    counters: &SessionCounters,
) -> SessionEnd
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut reader = MessageReader::new(settings.max_message_size, settings.idle_timeout);
    let limit = settings.idle_timeout;
    let hello = hello::server_hello(&settings.capabilities, info.id);
    if let Err(end) = write_message(io, Framing::EndOfMessage, hello.as_bytes(), limit).await {
        return end;
    }
    let client = match reader.next(io, true).await {
        Ok(msg) => match hello::parse_client_hello(&msg) {
            Ok(client) => client,
            Err(e) => return e.into(),
        },
        Err(end) => return end,
    };
    // RFC 6242 section 4.1: chunked framing once both sides announced base:1.1.
    let framing = if client.base_1_1() {
        Framing::Chunked
    } else {
        Framing::EndOfMessage
    };
    reader.decoder.set_framing(framing);
    debug!(
        ?framing,
        capabilities = client.capabilities.len(),
        "hello exchanged"
    );

    // RFC 5277 with :interleave: notifications are written between replies, never inside one.
    let mut subscription: Option<Subscription> = None;
    loop {
        // A subscribed session may listen quietly for as long as it likes; SSH keepalives
        // still find a peer that vanished.
        let idle_applies = subscription.is_none();
        let incoming = tokio::select! {
            read = reader.next(io, idle_applies) => Incoming::Message(read),
            delivery = next_delivery(&mut subscription) => Incoming::Notification(delivery),
        };
        let read = match incoming {
            Incoming::Message(read) => read,
            Incoming::Notification(delivery) => {
                let text = match delivery {
                    Delivery::Send(text) => text,
                    Delivery::Complete(text) => {
                        debug!("subscription complete (stopTime reached)");
                        subscription = None;
                        text
                    }
                };
                SessionCounters::count(&counters.out_notifications);
                trace!(notification = %text, "sending");
                if let Err(end) = write_message(io, framing, text.as_bytes(), limit).await {
                    return end;
                }
                continue;
            }
        };
        let msg = match read {
            Ok(msg) => msg,
            Err(SessionEnd::Framing(e)) => {
                // Say why before closing: the stream cannot be resynchronised.
                let err = match e {
                    FramingError::TooBig { .. } => RpcError::too_big(e.to_string()),
                    _ => malformed_for(framing, e.to_string()),
                };
                let text = reply::errors(None, &[err]);
                let _ = write_message(io, framing, text.as_bytes(), limit).await;
                return SessionEnd::Framing(e);
            }
            Err(end) => return end,
        };
        trace!(message = %String::from_utf8_lossy(&msg), "received");
        let text = match rpc::parse_rpc(&msg) {
            Err(RpcParseError::Malformed(e)) => {
                SessionCounters::count(&counters.in_bad_rpcs);
                SessionCounters::count(&counters.out_rpc_errors);
                let reason = e.message.clone().unwrap_or_default();
                let e = if e.tag == ErrorTag::MalformedMessage {
                    malformed_for(framing, reason.clone())
                } else {
                    e
                };
                let text = reply::errors(None, &[e]);
                let _ = write_message(io, framing, text.as_bytes(), limit).await;
                // RFC 6241 Appendix A: malformed-message is the last message before the close.
                return SessionEnd::Malformed(reason);
            }
            Err(RpcParseError::Rejected { attributes, error }) => {
                SessionCounters::count(&counters.in_bad_rpcs);
                SessionCounters::count(&counters.out_rpc_errors);
                debug!(error = %error, "request rejected");
                reply::errors(Some(&attributes), &[error])
            }
            Ok(request) => {
                SessionCounters::count(&counters.in_rpcs);
                let attributes = request.attributes;
                debug!(
                    op = request.operation.name(),
                    message_id = attributes.message_id(),
                    "rpc"
                );
                // The operations answered here never reach the backend, which checks the rest.
                let refused = match (&request.operation, &settings.operation_access) {
                    (
                        Operation::KillSession { .. } | Operation::CreateSubscription { .. },
                        Some(access),
                    ) => access.check(info, &request.operation).err(),
                    _ => None,
                };
                match (refused, request.operation) {
                    (Some(e), _) => {
                        SessionCounters::count(&counters.out_rpc_errors);
                        reply::errors(Some(&attributes), &[e])
                    }
                    (None, Operation::CloseSession) => {
                        let text = reply::ok(Some(&attributes));
                        if let Err(end) = write_message(io, framing, text.as_bytes(), limit).await {
                            return end;
                        }
                        return SessionEnd::Closed;
                    }
                    (None, Operation::KillSession { session_id }) => {
                        match settings.registry.kill(session_id, info.id).await {
                            Ok(()) => {
                                info!(killed = session_id, "kill-session");
                                reply::ok(Some(&attributes))
                            }
                            Err(e) => {
                                SessionCounters::count(&counters.out_rpc_errors);
                                reply::errors(Some(&attributes), &[e])
                            }
                        }
                    }
                    (
                        None,
                        Operation::CreateSubscription {
                            filter,
                            start_time,
                            stop_time,
                            ..
                        },
                    ) => match subscribe(
                        settings,
                        info,
                        &subscription,
                        filter,
                        start_time,
                        stop_time,
                    ) {
                        Ok(new) => {
                            info!(
                                replay = start_time.is_some(),
                                "notification subscription created"
                            );
                            subscription = Some(new);
                            reply::ok(Some(&attributes))
                        }
                        Err(e) => {
                            SessionCounters::count(&counters.out_rpc_errors);
                            reply::errors(Some(&attributes), &[e])
                        }
                    },
                    (None, op) => {
                        let get_schema = matches!(op, Operation::GetSchema { .. });
                        let result = ask_backend(&settings.backend, info, op).await;
                        if result.is_err() {
                            SessionCounters::count(&counters.out_rpc_errors);
                        }
                        reply::from_result(Some(&attributes), &result, get_schema)
                    }
                }
            }
        };
        trace!(reply = %text, "sending");
        if let Err(end) = write_message(io, framing, text.as_bytes(), limit).await {
            return end;
        }
    }
}

/// What woke the session loop.
enum Incoming {
    /// A request (or the reason the session ends).
    Message(Result<Vec<u8>, SessionEnd>),
    /// A notification to write.
    Notification(Delivery),
}

/// The subscription's next message; never, without a subscription.
async fn next_delivery(subscription: &mut Option<Subscription>) -> Delivery {
    match subscription {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

/// Checks a `<create-subscription>` against the session and the clock (RFC 5277 section
/// 2.1.1) and starts the subscription.
fn subscribe(
    settings: &SessionSettings,
    info: &SessionInfo,
    current: &Option<Subscription>,
    filter: Option<Filter>,
    start_time: Option<std::time::SystemTime>,
    stop_time: Option<std::time::SystemTime>,
) -> Result<Subscription, RpcError> {
    if current.is_some() {
        return Err(
            RpcError::new(crate::error::ErrorType::Protocol, ErrorTag::OperationFailed)
                .with_message(
                "this session already has a subscription; open another session for a second one",
            ),
        );
    }
    if start_time.is_some_and(|start| start > std::time::SystemTime::now()) {
        return Err(RpcError::bad_element(
            "startTime",
            "the startTime is in the future",
        ));
    }
    let filter = match filter {
        None => None,
        Some(Filter::Subtree(content)) => Some(SubscriptionFilter::Subtree(
            SubtreeFilter::parse(&content).ok_or_else(|| {
                RpcError::invalid_value("filter", "the subtree filter is not well-formed XML")
            })?,
        )),
        Some(Filter::XPath { select, namespaces }) => {
            let Some(evaluator) = settings.notification_xpath.clone() else {
                return Err(RpcError::new(
                    crate::error::ErrorType::Protocol,
                    ErrorTag::OperationNotSupported,
                )
                .with_message("this server evaluates subtree notification filters only")
                .with_info(crate::error::ErrorInfo::BadAttribute("type".into()))
                .with_info(crate::error::ErrorInfo::BadElement("filter".into())));
            };
            evaluator.0.check(&select, &namespaces)?;
            Some(SubscriptionFilter::XPath {
                select,
                namespaces,
                evaluator,
            })
        }
    };
    Ok(Subscription::new(
        &settings.notifications,
        info.clone(),
        filter,
        settings.notification_access.clone(),
        start_time,
        stop_time,
    ))
}

/// RFC 6241 Appendix A: malformed-message is new in base:1.1 and must not be sent to a
/// base:1.0 client, which gets operation-failed (error-type rpc) instead.
fn malformed_for(framing: Framing, message: String) -> RpcError {
    match framing {
        Framing::Chunked => RpcError::malformed_message(message),
        Framing::EndOfMessage => {
            RpcError::new(crate::error::ErrorType::Rpc, ErrorTag::OperationFailed)
                .with_message(format!("malformed message: {message}"))
        }
    }
}

async fn ask_backend(
    backend: &mpsc::Sender<Request>,
    info: &SessionInfo,
    op: Operation,
) -> Result<Reply, Vec<RpcError>> {
    let (tx, rx) = oneshot::channel();
    let request = Request::Rpc {
        session: info.clone(),
        op,
        reply: tx,
    };
    if backend.send(request).await.is_err() {
        return Err(vec![RpcError::operation_failed(
            "the datastore is not available",
        )]);
    }
    match rx.await {
        Ok(result) => result,
        Err(_) => Err(vec![RpcError::operation_failed(
            "the datastore dropped the request without answering",
        )]),
    }
}

/// Frames and sends one message. A client that stops reading cannot hold the session (and
/// its slot) forever: the write gets the idle timeout too.
async fn write_message<S>(
    io: &mut S,
    framing: Framing,
    message: &[u8],
    limit: Duration,
) -> Result<(), SessionEnd>
where
    S: AsyncWrite + Unpin,
{
    let mut out = Vec::with_capacity(message.len() + 32);
    framing::encode(framing, message, &mut out);
    let write = async {
        io.write_all(&out).await?;
        io.flush().await
    };
    match tokio::time::timeout(limit, write).await {
        Ok(result) => result.map_err(SessionEnd::Io),
        Err(_) => Err(SessionEnd::WriteTimeout(limit)),
    }
}

/// Reads whole messages, enforcing the idle timeout per message.
struct MessageReader {
    decoder: Decoder,
    buf: Vec<u8>,
    idle_timeout: Duration,
    /// When the wait for the current message times out. Kept across calls, since a read may
    /// be interrupted to write a notification and resumed.
    deadline: Option<Instant>,
}

impl MessageReader {
    fn new(max_message_size: usize, idle_timeout: Duration) -> Self {
        MessageReader {
            decoder: Decoder::new(max_message_size),
            buf: vec![0; READ_CHUNK],
            idle_timeout,
            deadline: None,
        }
    }

    /// The next complete message. The idle clock starts when the session starts waiting, so
    /// time spent answering does not count and a client dribbling bytes cannot stay forever.
    /// Without `idle_applies` it waits as long as it takes. Cancel-safe: bytes read are kept
    /// in the decoder.
    async fn next<S>(&mut self, io: &mut S, idle_applies: bool) -> Result<Vec<u8>, SessionEnd>
    where
        S: AsyncRead + Unpin,
    {
        loop {
            if let Some(msg) = self.decoder.next_message()? {
                self.deadline = None;
                return Ok(msg);
            }
            let read = io.read(&mut self.buf);
            let n = if idle_applies {
                let idle = self.idle_timeout;
                let deadline = *self.deadline.get_or_insert_with(|| Instant::now() + idle);
                match tokio::time::timeout_at(deadline, read).await {
                    Ok(read) => read?,
                    Err(_) => return Err(SessionEnd::IdleTimeout(self.idle_timeout)),
                }
            } else {
                self.deadline = None;
                read.await?
            };
            if n == 0 {
                return Err(SessionEnd::Eof);
            }
            self.decoder.feed(&self.buf[..n]);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::hello::{CAP_BASE_1_0, CAP_BASE_1_1};
    use crate::rpc::NS_BASE;
    use tokio::io::DuplexStream;

    const TIMEOUT: Duration = Duration::from_secs(5);

    /// The client end of an in-memory session.
    struct Client {
        io: DuplexStream,
        decoder: Decoder,
        session_id: u32,
    }

    impl Client {
        async fn recv(&mut self) -> Option<String> {
            let mut buf = [0u8; 4096];
            loop {
                if let Some(m) = self.decoder.next_message().unwrap() {
                    return Some(String::from_utf8(m).unwrap());
                }
                let n = tokio::time::timeout(TIMEOUT, self.io.read(&mut buf))
                    .await
                    .unwrap()
                    .unwrap();
                if n == 0 {
                    return None;
                }
                self.decoder.feed(&buf[..n]);
            }
        }

        async fn send_raw(&mut self, bytes: &[u8]) {
            self.io.write_all(bytes).await.unwrap();
        }

        async fn send(&mut self, msg: &str) {
            let mut out = Vec::new();
            framing::encode(self.decoder.framing(), msg.as_bytes(), &mut out);
            self.send_raw(&out).await;
        }

        async fn rpc(&mut self, msg: &str) -> String {
            self.send(msg).await;
            self.recv().await.unwrap()
        }
    }

    struct Harness {
        settings: SessionSettings,
        backend_rx: mpsc::Receiver<Request>,
    }

    fn harness(idle: Duration) -> Harness {
        let (tx, rx) = mpsc::channel(16);
        Harness {
            settings: SessionSettings {
                capabilities: Arc::new(vec![
                    "urn:ietf:params:netconf:capability:candidate:1.0".into()
                ]),
                idle_timeout: idle,
                max_message_size: 1 << 20,
                backend: tx,
                registry: Arc::new(Registry::new(8)),
                notifications: Publisher::new(16, 4),
                notification_access: None,
                operation_access: None,
                notification_xpath: None,
            },
            backend_rx: rx,
        }
    }

    async fn connect(h: &Harness, caps: &[&str]) -> (Client, tokio::task::JoinHandle<SessionEnd>) {
        let (client_io, server_io) = tokio::io::duplex(1 << 16);
        let registration = h
            .settings
            .registry
            .register("u", std::net::IpAddr::from([127, 0, 0, 1]))
            .unwrap();
        let task = tokio::spawn(run(
            server_io,
            "alice".into(),
            registration,
            h.settings.clone(),
        ));
        let mut client = Client {
            io: client_io,
            decoder: Decoder::new(1 << 20),
            session_id: 0,
        };
        let hello = client.recv().await.unwrap();
        assert!(hello.contains(CAP_BASE_1_1) && hello.contains("capability:candidate:1.0"));
        let id = hello
            .split("<session-id>")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap();
        client.session_id = id.parse().unwrap();
        let caps: String = caps
            .iter()
            .map(|c| format!("<capability>{c}</capability>"))
            .collect();
        client
            .send(&format!(
                "<hello xmlns=\"{NS_BASE}\"><capabilities>{caps}</capabilities></hello>"
            ))
            .await;
        if caps.contains(CAP_BASE_1_1) {
            client.decoder.set_framing(Framing::Chunked);
        }
        (client, task)
    }

    /// Answers every request with fixed data and `SessionEnded`s into a list.
    fn spawn_backend(mut rx: mpsc::Receiver<Request>) -> tokio::task::JoinHandle<Vec<u32>> {
        tokio::spawn(async move {
            let mut ended = Vec::new();
            while let Some(req) = rx.recv().await {
                match req {
                    Request::Rpc { op, reply, .. } => {
                        let answer = match op {
                            Operation::GetConfig { .. } => {
                                Ok(Reply::Data("<x xmlns=\"urn:x\"/>".into()))
                            }
                            Operation::Lock { .. } => Err(vec![RpcError::lock_denied(1)]),
                            _ => Ok(Reply::Ok),
                        };
                        let _ = reply.send(answer);
                    }
                    Request::SessionEnded { id } => ended.push(id),
                }
            }
            ended
        })
    }

    fn rpc(id: &str, body: &str) -> String {
        format!("<rpc message-id=\"{id}\" xmlns=\"{NS_BASE}\">{body}</rpc>")
    }

    #[tokio::test]
    async fn chunked_session_get_config_and_close() {
        let h = harness(TIMEOUT);
        let (mut c, task) = connect(&h, &[CAP_BASE_1_0, CAP_BASE_1_1]).await;
        let backend = spawn_backend(h.backend_rx);
        let r = c
            .rpc(&rpc(
                "m-1",
                "<get-config><source><running/></source></get-config>",
            ))
            .await;
        assert_eq!(r, format!("<rpc-reply xmlns=\"{NS_BASE}\" message-id=\"m-1\"><data xmlns=\"{NS_BASE}\"><x xmlns=\"urn:x\"/></data></rpc-reply>"));
        let r = c
            .rpc(&rpc("m-2", "<lock><target><running/></target></lock>"))
            .await;
        assert!(r.contains("lock-denied") && r.contains("<session-id>1</session-id>"));
        let r = c.rpc(&rpc("m-3", "<close-session/>")).await;
        assert!(r.contains("message-id=\"m-3\"><ok/>"));
        assert!(c.recv().await.is_none(), "closed after close-session");
        assert!(matches!(task.await.unwrap(), SessionEnd::Closed));
        drop(h.settings);
        assert_eq!(backend.await.unwrap(), vec![c.session_id]);
    }

    #[tokio::test]
    async fn base_1_0_session_keeps_end_of_message_framing() {
        let h = harness(TIMEOUT);
        let (mut c, _task) = connect(&h, &[CAP_BASE_1_0]).await;
        let _backend = spawn_backend(h.backend_rx);
        assert_eq!(c.decoder.framing(), Framing::EndOfMessage);
        let r = c.rpc(&rpc("1", "<discard-changes/>")).await;
        assert!(r.ends_with("<ok/></rpc-reply>"));
        // Malformed in a base:1.0 session: operation-failed, not malformed-message, then close.
        c.send("<rpc").await;
        let r = c.recv().await.unwrap();
        assert!(r.contains("<error-tag>operation-failed</error-tag>"), "{r}");
        assert!(c.recv().await.is_none());
    }

    #[tokio::test]
    async fn malformed_message_closes_session() {
        let h = harness(TIMEOUT);
        let (mut c, task) = connect(&h, &[CAP_BASE_1_1]).await;
        let _backend = spawn_backend(h.backend_rx);
        c.send("<rpc message-id='1' xmlns='urn:ietf:params:xml:ns:netconf:base:1.0'><get></rpc>")
            .await;
        let r = c.recv().await.unwrap();
        assert!(
            r.contains("<error-type>rpc</error-type><error-tag>malformed-message</error-tag>"),
            "{r}"
        );
        assert!(c.recv().await.is_none());
        assert!(matches!(task.await.unwrap(), SessionEnd::Malformed(_)));
    }

    #[tokio::test]
    async fn bad_chunk_header_is_reported_then_closed() {
        let h = harness(TIMEOUT);
        let (mut c, task) = connect(&h, &[CAP_BASE_1_1]).await;
        c.send_raw(b"\n#abc\n").await;
        let r = c.recv().await.unwrap();
        assert!(r.contains("malformed-message"), "{r}");
        assert!(matches!(task.await.unwrap(), SessionEnd::Framing(_)));
    }

    #[tokio::test]
    async fn errors_keep_the_session() {
        let h = harness(TIMEOUT);
        let (mut c, _task) = connect(&h, &[CAP_BASE_1_1]).await;
        let _backend = spawn_backend(h.backend_rx);
        let r = c
            .rpc(&format!("<rpc xmlns=\"{NS_BASE}\" a=\"b\"><get/></rpc>"))
            .await;
        assert!(
            r.starts_with(&format!("<rpc-reply xmlns=\"{NS_BASE}\" a=\"b\">")),
            "{r}"
        );
        assert!(
            r.contains("missing-attribute")
                && r.contains("<bad-attribute>message-id</bad-attribute>")
        );
        let r = c.rpc(&rpc("2", "<frobnicate/>")).await;
        assert!(r.contains("operation-not-supported"));
        let r = c
            .rpc(&rpc(
                "3",
                "<kill-session><session-id>1</session-id></kill-session>",
            ))
            .await;
        assert!(r.contains("invalid-value"), "cannot kill itself: {r}");
        let r = c.rpc(&rpc("4", "<get/>")).await;
        assert!(r.contains("<ok/>"));
    }

    #[tokio::test]
    async fn bad_hellos_end_the_session() {
        let h = harness(TIMEOUT);
        let (mut c, task) = connect(&h, &["urn:example:not-base"]).await;
        assert!(c.recv().await.is_none());
        assert!(matches!(
            task.await.unwrap(),
            SessionEnd::Hello(HelloError::NoBaseCapability)
        ));

        let (client_io, server_io) = tokio::io::duplex(1 << 16);
        let reg = h
            .settings
            .registry
            .register("u", std::net::IpAddr::from([127, 0, 0, 1]))
            .unwrap();
        let task = tokio::spawn(run(server_io, "bob".into(), reg, h.settings.clone()));
        let mut c = Client {
            io: client_io,
            decoder: Decoder::new(1 << 20),
            session_id: 0,
        };
        c.recv().await.unwrap();
        c.send(&format!("<hello xmlns=\"{NS_BASE}\"><capabilities><capability>{CAP_BASE_1_1}</capability></capabilities><session-id>4</session-id></hello>")).await;
        assert!(matches!(
            task.await.unwrap(),
            SessionEnd::Hello(HelloError::HasSessionId)
        ));
    }

    #[tokio::test]
    async fn idle_timeout_closes() {
        let h = harness(Duration::from_millis(200));
        let (mut c, task) = connect(&h, &[CAP_BASE_1_1]).await;
        let started = Instant::now();
        assert!(c.recv().await.is_none());
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert!(matches!(task.await.unwrap(), SessionEnd::IdleTimeout(_)));
    }

    #[tokio::test]
    async fn kill_session_ends_the_other_and_backend_hears_first() {
        let mut h = harness(TIMEOUT);
        let (mut a, _ta) = connect(&h, &[CAP_BASE_1_1]).await;
        let (mut b, tb) = connect(&h, &[CAP_BASE_1_1]).await;
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let mut rx = std::mem::replace(&mut h.backend_rx, mpsc::channel(1).1);
        tokio::spawn(async move {
            while let Some(req) = rx.recv().await {
                match req {
                    Request::Rpc { op, reply, session } => {
                        let _ = events_tx.send(format!("{} {}", session.id, op.name()));
                        let _ = reply.send(Ok(Reply::Ok));
                    }
                    Request::SessionEnded { id } => {
                        let _ = events_tx.send(format!("ended {id}"));
                    }
                }
            }
        });
        let r = a
            .rpc(&rpc(
                "k",
                &format!(
                    "<kill-session><session-id>{}</session-id></kill-session>",
                    b.session_id
                ),
            ))
            .await;
        assert!(r.contains("<ok/>"), "{r}");
        let r = a
            .rpc(&rpc("l", "<lock><target><running/></target></lock>"))
            .await;
        assert!(r.contains("<ok/>"));
        assert_eq!(
            events.recv().await.unwrap(),
            format!("ended {}", b.session_id)
        );
        assert_eq!(
            events.recv().await.unwrap(),
            format!("{} lock", a.session_id)
        );
        assert!(b.recv().await.is_none());
        assert!(matches!(tb.await.unwrap(), SessionEnd::Killed { by } if by == a.session_id));
        let r = a
            .rpc(&rpc(
                "k2",
                &format!(
                    "<kill-session><session-id>{}</session-id></kill-session>",
                    b.session_id
                ),
            ))
            .await;
        assert!(r.contains("invalid-value"), "already gone: {r}");
    }

    #[tokio::test]
    async fn client_that_stops_reading_is_dropped() {
        let mut h = harness(Duration::from_millis(300));
        let (mut c, task) = connect(&h, &[CAP_BASE_1_1]).await;
        let mut rx = std::mem::replace(&mut h.backend_rx, mpsc::channel(1).1);
        tokio::spawn(async move {
            while let Some(req) = rx.recv().await {
                if let Request::Rpc { reply, .. } = req {
                    // Far more than the 64 KiB the in-memory pipe buffers.
                    let _ = reply.send(Ok(Reply::Data("<x xmlns=\"urn:x\"/>".repeat(100_000))));
                }
            }
        });
        c.send(&rpc("1", "<get/>")).await;
        let end = tokio::time::timeout(TIMEOUT, task).await.unwrap().unwrap();
        assert!(matches!(end, SessionEnd::WriteTimeout(_)), "{end:?}");
    }

    #[tokio::test]
    async fn pipelined_requests_answered_in_order() {
        let h = harness(TIMEOUT);
        let (mut c, _t) = connect(&h, &[CAP_BASE_1_1]).await;
        let _backend = spawn_backend(h.backend_rx);
        let mut all = Vec::new();
        for i in 0..5 {
            framing::encode(
                Framing::Chunked,
                rpc(&i.to_string(), "<get/>").as_bytes(),
                &mut all,
            );
        }
        c.send_raw(&all).await;
        for i in 0..5 {
            let r = c.recv().await.unwrap();
            assert!(r.contains(&format!("message-id=\"{i}\"")), "{r}");
        }
    }

    mod notifications {
        use super::*;
        use crate::notification::time::format_date_and_time;
        use crate::notification::{Notification, NS_NOTIFICATION};
        use std::time::SystemTime;

        fn subscribe_rpc(id: &str, params: &str) -> String {
            rpc(
                id,
                &format!("<create-subscription xmlns=\"{NS_NOTIFICATION}\">{params}</create-subscription>"),
            )
        }

        fn event(i: u32) -> String {
            format!("<ev xmlns=\"urn:t\"><n>{i}</n></ev>")
        }

        fn ago(ms: u64) -> SystemTime {
            SystemTime::now() - Duration::from_millis(ms)
        }

        #[tokio::test]
        async fn notifications_interleave_with_replies() {
            let h = harness(TIMEOUT);
            let publisher = h.settings.notifications.clone();
            let (mut c, _t) = connect(&h, &[CAP_BASE_1_1]).await;
            let _backend = spawn_backend(h.backend_rx);
            let r = c.rpc(&subscribe_rpc("s", "<stream>NETCONF</stream>")).await;
            assert_eq!(
                r,
                format!("<rpc-reply xmlns=\"{NS_BASE}\" message-id=\"s\"><ok/></rpc-reply>")
            );
            let published = publisher.publish(SystemTime::now(), &event(1)).unwrap();
            let n = c.recv().await.unwrap();
            assert_eq!(n, published.message);
            assert!(n.starts_with(&format!(
                "<notification xmlns=\"{NS_NOTIFICATION}\"><eventTime>"
            )));
            assert!(
                n.ends_with("</eventTime><ev xmlns=\"urn:t\"><n>1</n></ev></notification>"),
                "{n}"
            );
            // An rpc while subscribed is answered (:interleave), and a notification raised
            // while it waits comes whole, before or after the reply, never inside it.
            c.send(&rpc("g", "<get/>")).await;
            publisher.publish(SystemTime::now(), &event(2)).unwrap();
            let mut got = vec![c.recv().await.unwrap(), c.recv().await.unwrap()];
            got.sort();
            assert!(
                got[0].starts_with("<notification") && got[0].contains("<n>2</n>"),
                "{got:?}"
            );
            assert!(
                got[1].starts_with("<rpc-reply") && got[1].contains("message-id=\"g\"><ok/>"),
                "{got:?}"
            );
        }

        #[tokio::test]
        async fn replay_from_start_time_then_replay_complete_then_live() {
            let h = harness(TIMEOUT);
            let publisher = h.settings.notifications.clone();
            publisher.publish(ago(3000), &event(0)).unwrap();
            publisher.publish(ago(2000), &event(1)).unwrap();
            publisher.publish(ago(1000), &event(2)).unwrap();
            let (mut c, _t) = connect(&h, &[CAP_BASE_1_1]).await;
            let start = format_date_and_time(ago(2500));
            let r = c
                .rpc(&subscribe_rpc(
                    "s",
                    &format!("<startTime>{start}</startTime>"),
                ))
                .await;
            assert!(r.contains("<ok/>"), "{r}");
            assert!(c.recv().await.unwrap().contains("<n>1</n>"));
            assert!(c.recv().await.unwrap().contains("<n>2</n>"));
            let done = c.recv().await.unwrap();
            assert!(
                done.contains(
                    "<replayComplete xmlns=\"urn:ietf:params:xml:ns:netmod:notification\"/>"
                ),
                "{done}"
            );
            publisher.publish(SystemTime::now(), &event(3)).unwrap();
            assert!(c.recv().await.unwrap().contains("<n>3</n>"));
        }

        #[tokio::test]
        async fn stop_time_ends_with_notification_complete() {
            let h = harness(TIMEOUT);
            let publisher = h.settings.notifications.clone();
            publisher.publish(ago(3000), &event(0)).unwrap();
            publisher.publish(ago(1000), &event(1)).unwrap();
            let (mut c, _t) = connect(&h, &[CAP_BASE_1_1]).await;
            let _backend = spawn_backend(h.backend_rx);
            // A window wholly in the past: its events, replayComplete, notificationComplete.
            let params = format!(
                "<startTime>{}</startTime><stopTime>{}</stopTime>",
                format_date_and_time(ago(4000)),
                format_date_and_time(ago(2000))
            );
            assert!(c.rpc(&subscribe_rpc("1", &params)).await.contains("<ok/>"));
            assert!(c.recv().await.unwrap().contains("<n>0</n>"));
            assert!(c.recv().await.unwrap().contains("<replayComplete"));
            assert!(c.recv().await.unwrap().contains("<notificationComplete"));
            // The subscription is over: the session may subscribe again, with a stop ahead.
            let stop_at = SystemTime::now() + Duration::from_millis(300);
            let params = format!(
                "<startTime>{}</startTime><stopTime>{}</stopTime>",
                format_date_and_time(ago(1500)),
                format_date_and_time(stop_at)
            );
            assert!(c.rpc(&subscribe_rpc("2", &params)).await.contains("<ok/>"));
            assert!(c.recv().await.unwrap().contains("<n>1</n>"));
            assert!(c.recv().await.unwrap().contains("<replayComplete"));
            publisher.publish(SystemTime::now(), &event(2)).unwrap();
            assert!(c.recv().await.unwrap().contains("<n>2</n>"));
            assert!(c.recv().await.unwrap().contains("<notificationComplete"));
            assert!(SystemTime::now() >= stop_at);
            publisher.publish(SystemTime::now(), &event(3)).unwrap();
            let r = c.rpc(&rpc("3", "<get/>")).await;
            assert!(
                r.starts_with("<rpc-reply"),
                "nothing after notificationComplete: {r}"
            );
        }

        #[tokio::test]
        async fn create_subscription_errors() {
            let h = harness(TIMEOUT);
            let (mut c, _t) = connect(&h, &[CAP_BASE_1_1]).await;
            let tag = |r: &str| {
                r.split("<error-tag>")
                    .nth(1)
                    .and_then(|t| t.split('<').next())
                    .unwrap_or("")
                    .to_owned()
            };
            let r = c.rpc(&subscribe_rpc("1", "<stream>SNMP</stream>")).await;
            assert_eq!(tag(&r), "invalid-value");
            assert!(r.contains("<bad-element>stream</bad-element>"), "{r}");
            let later = format_date_and_time(SystemTime::now() + Duration::from_secs(60));
            let r = c
                .rpc(&subscribe_rpc(
                    "2",
                    &format!("<stopTime>{later}</stopTime>"),
                ))
                .await;
            assert_eq!(tag(&r), "bad-element");
            assert!(r.contains("<bad-element>stopTime</bad-element>"), "{r}");
            let r = c
                .rpc(&subscribe_rpc(
                    "3",
                    &format!("<startTime>{later}</startTime>"),
                ))
                .await;
            assert_eq!(tag(&r), "bad-element");
            assert!(r.contains("<bad-element>startTime</bad-element>"), "{r}");
            let params = format!(
                "<startTime>{}</startTime><stopTime>{}</stopTime>",
                format_date_and_time(ago(1000)),
                format_date_and_time(ago(2000))
            );
            let r = c.rpc(&subscribe_rpc("4", &params)).await;
            assert_eq!(tag(&r), "bad-element");
            let r = c
                .rpc(&subscribe_rpc("5", "<startTime>yesterday</startTime>"))
                .await;
            assert_eq!(tag(&r), "invalid-value");
            let r = c
                .rpc(&subscribe_rpc(
                    "6",
                    "<filter type=\"xpath\" select=\"/a\"/>",
                ))
                .await;
            assert_eq!(tag(&r), "operation-not-supported");
            assert!(c.rpc(&subscribe_rpc("7", "")).await.contains("<ok/>"));
            let r = c.rpc(&subscribe_rpc("8", "")).await;
            assert_eq!(tag(&r), "operation-failed", "{r}");
            assert!(r.contains("<error-type>protocol</error-type>"), "{r}");
        }

        #[tokio::test]
        async fn access_hook_and_filter_withhold_notifications() {
            let mut h = harness(TIMEOUT);
            h.settings.notification_access = Some(NotificationAccess::new(
                |s: &SessionInfo, n: &Notification| !(s.username == "alice" && n.name == "secret"),
            ));
            let publisher = h.settings.notifications.clone();
            let (mut c, _t) = connect(&h, &[CAP_BASE_1_1]).await;
            let filter = format!(
                "<filter xmlns=\"{NS_BASE}\" type=\"subtree\"><ev xmlns=\"urn:t\"/><secret xmlns=\"urn:t\"/></filter>"
            );
            assert!(c.rpc(&subscribe_rpc("1", &filter)).await.contains("<ok/>"));
            publisher
                .publish(SystemTime::now(), "<secret xmlns=\"urn:t\"/>")
                .unwrap();
            publisher
                .publish(SystemTime::now(), "<other xmlns=\"urn:t\"/>")
                .unwrap();
            publisher
                .publish(SystemTime::now(), "<ev xmlns=\"urn:other\"/>")
                .unwrap();
            publisher.publish(SystemTime::now(), &event(7)).unwrap();
            let n = c.recv().await.unwrap();
            assert!(
                n.contains("<n>7</n>"),
                "withheld and unselected ones skipped: {n}"
            );
        }

        #[tokio::test]
        async fn operation_hook_decides_what_the_session_answers_itself() {
            let mut h = harness(TIMEOUT);
            h.settings.operation_access =
                Some(OperationAccess::new(|s: &SessionInfo, op: &Operation| {
                    if s.username == "alice" {
                        Err(RpcError::access_denied(format!("no {}", op.name())))
                    } else {
                        Ok(())
                    }
                }));
            let (mut c, _t) = connect(&h, &[CAP_BASE_1_1]).await;
            let r = c.rpc(&subscribe_rpc("1", "")).await;
            assert!(
                r.contains("<error-tag>access-denied</error-tag>")
                    && r.contains("no create-subscription"),
                "{r}"
            );
            let r = c
                .rpc(&rpc(
                    "2",
                    "<kill-session><session-id>99</session-id></kill-session>",
                ))
                .await;
            assert!(
                r.contains("<error-tag>access-denied</error-tag>") && r.contains("no kill-session"),
                "refused before the session id is even looked up: {r}"
            );
            let r = c.rpc(&rpc("3", "<close-session/>")).await;
            assert!(r.contains("<ok/>"), "close-session is never asked: {r}");
        }

        /// Selects notifications whose content element is named by the expression.
        struct ByName;

        impl crate::notification::XPathEvaluator for ByName {
            fn check(
                &self,
                select: &str,
                _: &std::collections::BTreeMap<String, String>,
            ) -> Result<(), RpcError> {
                if select.starts_with('/') {
                    Ok(())
                } else {
                    Err(RpcError::invalid_value("filter", "not absolute"))
                }
            }

            fn selects(
                &self,
                select: &str,
                namespaces: &std::collections::BTreeMap<String, String>,
                n: &Notification,
            ) -> bool {
                let (prefix, name) = select[1..].split_once(':').unwrap_or(("", ""));
                namespaces.get(prefix) == Some(&n.namespace) && n.name == name
            }
        }

        #[tokio::test]
        async fn xpath_filters_go_to_the_evaluator() {
            let mut h = harness(TIMEOUT);
            h.settings.notification_xpath = Some(NotificationXPath(Arc::new(ByName)));
            let publisher = h.settings.notifications.clone();
            let (mut c, _t) = connect(&h, &[CAP_BASE_1_1]).await;
            let r = c
                .rpc(&subscribe_rpc(
                    "1",
                    "<filter type=\"xpath\" select=\"relative\"/>",
                ))
                .await;
            assert!(r.contains("<error-tag>invalid-value</error-tag>"), "{r}");
            let r = c
                .rpc(&subscribe_rpc(
                    "2",
                    "<filter xmlns:t=\"urn:t\" type=\"xpath\" select=\"/t:ev\"/>",
                ))
                .await;
            assert!(r.contains("<ok/>"), "{r}");
            publisher
                .publish(SystemTime::now(), "<other xmlns=\"urn:t\"/>")
                .unwrap();
            publisher.publish(SystemTime::now(), &event(5)).unwrap();
            assert!(c.recv().await.unwrap().contains("<n>5</n>"));
        }

        #[tokio::test]
        async fn slow_subscriber_loses_the_oldest_and_never_blocks_the_publisher() {
            let h = harness(TIMEOUT);
            let publisher = h.settings.notifications.clone();
            let (mut c, _t) = connect(&h, &[CAP_BASE_1_1]).await;
            assert!(c.rpc(&subscribe_rpc("1", "")).await.contains("<ok/>"));
            // The session task cannot run while this loop does: the queue (4) overflows.
            for i in 0..20 {
                publisher.publish(SystemTime::now(), &event(i)).unwrap();
            }
            for i in 16..20 {
                let n = c.recv().await.unwrap();
                assert!(n.contains(&format!("<n>{i}</n>")), "{i}: {n}");
            }
            assert_eq!(publisher.lost(), 16);
        }
    }
}
