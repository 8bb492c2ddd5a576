//! The failover peer link's transport: ISC Kea's HA commands are JSON bodies POSTed over
//! HTTP/1.1 with persistent connections, optionally over mutually authenticated TLS and
//! optionally with HTTP basic authentication.
//!
//! This module moves opaque bytes only; [`super::commands`] encodes and decodes them. The client
//! side ([`PeerClient`]) keeps a small pool of persistent connections to one peer, the server
//! side ([`PeerListener`]) answers the partner on the URL the partner uses for this server
//! (Kea's convention: every server listens on its own peer URL).
//!
//! Lease updates cross this link thousands of times per second, so the request path logs
//! nothing above `trace`, allocates little beyond what hyper needs, and disables Nagle's
//! algorithm (a request is one small write, waiting to coalesce it only adds latency).

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::{AbortHandle, JoinSet};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::{debug, error, info, trace, warn};

use crate::config::{HaBasicAuth, HaTls};

/// Largest request or response body accepted. A lease page during synchronisation carries up to
/// `sync-page-size` leases (10,000 by default, more if configured), each a few hundred bytes of
/// JSON, so the bound is generous; it only stops a broken peer from exhausting memory.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// How much of an error response's body goes into [`LinkError::Status`]: enough for Kea's
/// `{ "result": ..., "text": ... }`, not a whole page of leases.
const SNIPPET_LEN: usize = 256;

/// How long a peer may take to complete the TLS handshake with the listener. Without a bound a
/// peer that connects and stays silent would hold a task and a socket forever.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`PeerListener::serve`] lets requests in flight finish after shutdown is asked.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// TCP keep-alive on peer connections. Idle persistent connections have no HTTP timeout (it
/// would race with the partner's reuse of them), so a partner that vanished without closing
/// (power loss, partition) is detected by the kernel instead: probes after a minute idle.
const TCP_KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
const TCP_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// The basic authentication challenge of a 401 (Kea sends one too, with its own realm).
const AUTH_CHALLENGE: &str = "Basic realm=\"netdhcp-ha\"";

// Error bodies as Kea's HTTP layer writes them (`HttpResponseJson::setGenericBody`): a map with
// the HTTP status as result and its reason phrase as text.
const BODY_UNAUTHORIZED: &[u8] = br#"{ "result": 401, "text": "Unauthorized" }"#;
const BODY_METHOD_NOT_ALLOWED: &[u8] = br#"{ "result": 405, "text": "Method Not Allowed" }"#;
const BODY_TOO_LARGE: &[u8] = br#"{ "result": 413, "text": "Payload Too Large" }"#;
const BODY_BAD_REQUEST: &[u8] = br#"{ "result": 400, "text": "Bad Request" }"#;

/// What went wrong on the peer link, with the peer's URL (or the file, or the listening
/// address) so an operator can tell which link and which step failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// A peer URL that cannot be used.
    #[error("invalid peer URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as configured.
        url: Arc<str>,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A TLS certificate, key or CA file that cannot be used.
    #[error("HA TLS file {}: {reason}", path.display())]
    TlsFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The TLS files are each fine but do not make a usable configuration (for example a key
    /// that does not belong to the certificate).
    #[error("HA TLS setup ({what}): {reason}")]
    TlsSetup {
        /// Which part of the setup failed.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The listener could not bind its address.
    #[error("cannot listen for HA peers on {url}: {source}")]
    Bind {
        /// This server's peer URL.
        url: Arc<str>,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// The peer's host name did not resolve.
    #[error("cannot resolve HA peer {url}: {source}")]
    Resolve {
        /// The peer's URL.
        url: Arc<str>,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// No TCP connection to the peer (refused, unreachable...).
    #[error("cannot connect to HA peer {url}: {source}")]
    Connect {
        /// The peer's URL.
        url: Arc<str>,
        /// The system error of the last address tried.
        #[source]
        source: io::Error,
    },
    /// TLS failed: the peer's certificate is not trusted, or the peer refused ours.
    #[error("TLS with HA peer {url} failed: {source}")]
    Tls {
        /// The peer's URL.
        url: Arc<str>,
        /// The handshake's error (a `rustls::Error` inside when TLS itself refused).
        #[source]
        source: io::Error,
    },
    /// The peer did not answer within the caller's deadline (this includes waiting for a free
    /// connection and connecting).
    #[error("HA peer {url} did not answer within {after:?}")]
    Timeout {
        /// The peer's URL.
        url: Arc<str>,
        /// The deadline.
        after: Duration,
    },
    /// The connection broke or the peer spoke broken HTTP.
    #[error("HTTP exchange with HA peer {url} failed: {source}")]
    Transport {
        /// The peer's URL.
        url: Arc<str>,
        /// Hyper's error.
        #[source]
        source: hyper::Error,
    },
    /// The peer refused our basic authentication credentials (or we sent none).
    #[error("HA peer {url} rejected the basic authentication credentials (401)")]
    Unauthorized {
        /// The peer's URL.
        url: Arc<str>,
    },
    /// The peer answered with a status other than 2xx (and 401).
    #[error("HA peer {url} answered HTTP {status}: {body}")]
    Status {
        /// The peer's URL.
        url: Arc<str>,
        /// The HTTP status.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The request body is larger than [`MAX_BODY`]; it was not sent.
    #[error("request to HA peer {url} is {size} bytes, more than the {limit} allowed")]
    RequestTooLarge {
        /// The peer's URL.
        url: Arc<str>,
        /// The body's size.
        size: usize,
        /// The bound.
        limit: usize,
    },
    /// The response body is larger than [`MAX_BODY`].
    #[error("response from HA peer {url} is larger than the {limit} bytes allowed")]
    ResponseTooLarge {
        /// The peer's URL.
        url: Arc<str>,
        /// The bound.
        limit: usize,
    },
}

/// The host part of a peer URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerHost {
    /// An address literal: no resolution needed.
    Ip(IpAddr),
    /// A DNS name (lower case), resolved at each connect.
    Name(String),
}

impl fmt::Display for PeerHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerHost::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            PeerHost::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            PeerHost::Name(name) => f.write_str(name),
        }
    }
}

/// Where and how to reach a peer, parsed from its URL (`http://100.64.0.3:8001/`,
/// `https://[2001:db8::3]:8001/`, `https://dhcp-b.example/ha`).
#[derive(Debug, Clone)]
pub struct PeerEndpoint {
    url: Arc<str>,
    https: bool,
    host: PeerHost,
    port: u16,
    /// The request target (origin form: path and query).
    target: Uri,
    /// The `Host` header: host, and port unless the scheme's default.
    authority: HeaderValue,
}

impl PeerEndpoint {
    /// Parses and checks a peer URL: scheme `http` or `https`, a host that is an IPv4 literal,
    /// a bracketed IPv6 literal or a DNS name, an optional port (default 80 or 443) and an
    /// optional path (default `/`). User information and fragments are refused: credentials
    /// belong in the basic-auth settings, and a fragment never reaches a server.
    pub fn parse(url: &str) -> Result<Self, LinkError> {
        let invalid = |reason| LinkError::InvalidUrl {
            url: url.into(),
            reason,
        };
        if url
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(invalid("it contains spaces or control characters"));
        }
        if !url.is_ascii() {
            return Err(invalid(
                "it contains non-ASCII characters (percent-encode the path, punycode the host)",
            ));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("missing scheme (http:// or https://)"))?;
        let https = if scheme.eq_ignore_ascii_case("http") {
            false
        } else if scheme.eq_ignore_ascii_case("https") {
            true
        } else {
            return Err(invalid("the scheme must be http or https"));
        };
        let (authority, target) = match rest.find(['/', '?', '#']) {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        if target.contains('#') {
            return Err(invalid("fragments (#...) are not allowed"));
        }
        if authority.contains('@') {
            return Err(invalid(
                "user information is not allowed in the URL; configure basic-auth instead",
            ));
        }
        if authority.is_empty() {
            return Err(invalid("missing host"));
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (literal, after) = bracketed
                .split_once(']')
                .ok_or_else(|| invalid("unterminated [IPv6] address"))?;
            let ip: Ipv6Addr = literal
                .parse()
                .map_err(|_| invalid("invalid IPv6 address between the brackets"))?;
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| invalid("unexpected characters after the IPv6 address"))?,
                ),
            };
            (PeerHost::Ip(IpAddr::V6(ip)), port)
        } else {
            let (host, port) = match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            if host.contains(':') {
                return Err(invalid(
                    "an IPv6 address must be in brackets: [2001:db8::1]",
                ));
            }
            (parse_host(host).map_err(invalid)?, port)
        };
        let port = match port {
            None if https => 443,
            None => 80,
            Some(digits) => {
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid("the port must be a number"));
                }
                digits
                    .parse::<u16>()
                    .map_err(|_| invalid("the port must be at most 65535"))?
            }
        };
        let target = match target {
            "" => Uri::from_static("/"),
            t if t.starts_with('?') => format!("/{t}")
                .parse()
                .map_err(|_| invalid("invalid path"))?,
            t => t.parse().map_err(|_| invalid("invalid path"))?,
        };
        let default_port = if https { 443 } else { 80 };
        let authority = if port == default_port {
            host.to_string()
        } else {
            format!("{host}:{port}")
        };
        let authority = HeaderValue::try_from(authority).map_err(|_| invalid("invalid host"))?;
        Ok(PeerEndpoint {
            url: url.into(),
            https,
            host,
            port,
            target,
            authority,
        })
    }

    /// The URL as configured.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the URL is `https` (the link needs TLS).
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The host.
    pub fn host(&self) -> &PeerHost {
        &self.host
    }

    /// The port (80 or 443 when the URL has none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The request target: the URL's path and query, `/` when it has none.
    pub fn path(&self) -> &str {
        self.target.path_and_query().map_or("/", |p| p.as_str())
    }

    /// The socket address when the host is an address literal; `None` for a name, which
    /// [`resolve`](Self::resolve) turns into addresses.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self.host {
            PeerHost::Ip(ip) => Some(SocketAddr::new(ip, self.port)),
            PeerHost::Name(_) => None,
        }
    }

    /// The addresses to connect to (or bind): the literal, or what the resolver answers for the
    /// name now. Names are resolved at each connect so a changed DNS record is followed.
    pub async fn resolve(&self) -> Result<Vec<SocketAddr>, LinkError> {
        match &self.host {
            PeerHost::Ip(ip) => Ok(vec![SocketAddr::new(*ip, self.port)]),
            PeerHost::Name(name) => {
                let resolved: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), self.port))
                    .await
                    .map_err(|source| LinkError::Resolve {
                        url: self.url.clone(),
                        source,
                    })?
                    .collect();
                if resolved.is_empty() {
                    return Err(LinkError::Resolve {
                        url: self.url.clone(),
                        source: io::Error::new(io::ErrorKind::NotFound, "no address"),
                    });
                }
                Ok(resolved)
            }
        }
    }

    /// The address a listener for this URL binds, for checks made outside the runtime (a
    /// configuration's prepare step trying the bind): the literal, or the first address the
    /// system resolver gives for a name. Resolving a name blocks the calling thread.
    pub fn listen_addr(&self) -> Result<SocketAddr, LinkError> {
        match &self.host {
            PeerHost::Ip(ip) => Ok(SocketAddr::new(*ip, self.port)),
            PeerHost::Name(name) => {
                use std::net::ToSocketAddrs;
                let resolve_error = |source| LinkError::Resolve {
                    url: self.url.clone(),
                    source,
                };
                (name.as_str(), self.port)
                    .to_socket_addrs()
                    .map_err(resolve_error)?
                    .next()
                    .ok_or_else(|| {
                        resolve_error(io::Error::new(io::ErrorKind::NotFound, "no address"))
                    })
            }
        }
    }

    /// The name TLS verifies the peer's certificate against: the URL's host, an IP address
    /// included (the certificate then needs it as an IP subjectAltName).
    fn server_name(&self) -> Result<ServerName<'static>, LinkError> {
        match &self.host {
            PeerHost::Ip(ip) => Ok(ServerName::IpAddress((*ip).into())),
            PeerHost::Name(name) => {
                ServerName::try_from(name.clone()).map_err(|_| LinkError::InvalidUrl {
                    url: self.url.clone(),
                    reason: "the host is not a valid TLS server name",
                })
            }
        }
    }

    /// Refuses an https URL without TLS settings and TLS settings with an http URL: either
    /// way the two servers would not understand each other.
    fn check_tls(&self, tls: Option<&HaTls>) -> Result<(), LinkError> {
        match (self.https, tls.is_some()) {
            (true, false) => Err(LinkError::InvalidUrl {
                url: self.url.clone(),
                reason: "an https URL needs the TLS settings",
            }),
            (false, true) => Err(LinkError::InvalidUrl {
                url: self.url.clone(),
                reason: "TLS is configured, so the URL must be https",
            }),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for PeerEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// An IPv4 literal or a DNS name (RFC 1123 labels; `_` tolerated as resolvers do).
fn parse_host(host: &str) -> Result<PeerHost, &'static str> {
    if host.is_empty() {
        return Err("missing host");
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(PeerHost::Ip(IpAddr::V4(ip)));
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err("invalid IPv4 address");
    }
    if host.len() > 253 {
        return Err("the host name is longer than 253 characters");
    }
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !host.split('.').all(label_ok) {
        return Err("invalid host name");
    }
    Ok(PeerHost::Name(host.to_ascii_lowercase()))
}

/// Low latency and dead-peer detection on a peer connection. Failures only cost performance,
/// so they are logged, not returned.
fn tune_socket(stream: &TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        debug!(%error, "cannot set TCP_NODELAY on an HA peer connection");
    }
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(TCP_KEEPALIVE_IDLE)
        .with_interval(TCP_KEEPALIVE_INTERVAL);
    if let Err(error) = socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive) {
        debug!(%error, "cannot set TCP keep-alive on an HA peer connection");
    }
}

/// The `rustls::Error` somewhere in an error's chain (hyper wraps the I/O error that
/// tokio-rustls wraps around it), so a refused client certificate reads as a TLS failure and not
/// as a broken connection.
fn rustls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // `io::Error::source` skips the wrapped error itself, so look inside explicitly.
        if let Some(tls) = e
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        current = e.source();
    }
    None
}

// ---------------------------------------------------------------------------------------------
// TLS material

fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    // Explicit rather than the process default: nothing else has to install one first.
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_file(path: &Path) -> Result<Vec<u8>, LinkError> {
    std::fs::read(path).map_err(|e| LinkError::TlsFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, LinkError> {
    let pem = read_file(path)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| LinkError::TlsFile {
            path: path.to_path_buf(),
            reason: format!("invalid PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(LinkError::TlsFile {
            path: path.to_path_buf(),
            reason: "no CERTIFICATE in the file".into(),
        });
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, LinkError> {
    let pem = read_file(path)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| LinkError::TlsFile {
            path: path.to_path_buf(),
            reason: format!("invalid PEM: {e}"),
        })?
        .ok_or_else(|| LinkError::TlsFile {
            path: path.to_path_buf(),
            reason: "no private key (PKCS#8, PKCS#1 or SEC1) in the file".into(),
        })
}

fn load_roots(path: &Path) -> Result<Arc<rustls::RootCertStore>, LinkError> {
    let mut roots = rustls::RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(load_certs(path)?);
    if added == 0 {
        return Err(LinkError::TlsFile {
            path: path.to_path_buf(),
            reason: "no usable CA certificate in the file".into(),
        });
    }
    if ignored > 0 {
        warn!(path = %path.display(), ignored, "HA TLS: some CA certificates are unusable and ignored");
    }
    Ok(Arc::new(roots))
}

fn setup_error(what: &'static str) -> impl FnOnce(rustls::Error) -> LinkError {
    move |e| LinkError::TlsSetup {
        what,
        reason: e.to_string(),
    }
}

/// Client side: trust `ca_file` for the peer's certificate, present `cert_file`/`key_file`
/// (Kea's listener requires a client certificate by default).
fn client_tls(tls: &HaTls) -> Result<TlsConnector, LinkError> {
    let roots = load_roots(&tls.ca_file)?;
    let certs = load_certs(&tls.cert_file)?;
    let key = load_key(&tls.key_file)?;
    let config = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(setup_error("protocol versions"))?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(setup_error("client certificate and key"))?;
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Server side: present `cert_file`/`key_file`, require a client certificate chaining to
/// `ca_file` (as Kea's `cert-required`, which defaults to true).
fn server_tls(tls: &HaTls) -> Result<TlsAcceptor, LinkError> {
    let provider = crypto_provider();
    let roots = load_roots(&tls.ca_file)?;
    let certs = load_certs(&tls.cert_file)?;
    let key = load_key(&tls.key_file)?;
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| LinkError::TlsSetup {
                what: "client certificate verifier",
                reason: e.to_string(),
            })?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(setup_error("protocol versions"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(setup_error("server certificate and key"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// `user:password` in base64: the credential of a `Basic` Authorization header.
fn basic_credential(auth: &HaBasicAuth) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", auth.user, auth.password))
}

// ---------------------------------------------------------------------------------------------
// Client

/// One persistent HTTP/1.1 connection. Dropping it closes the connection: the task driving it
/// is aborted, so a connection given up (timeout, error) never lingers.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    task: AbortHandle,
    /// Taken from the pool rather than just opened: the peer may have closed it meanwhile.
    reused: bool,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct ClientTls {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

/// A client to one peer keeping up to `connections` persistent HTTP/1.1 connections, each
/// carrying one request at a time (HTTP/1.1 without pipelining, as Kea). Connections are opened
/// on demand and reopened after a failure; requests beyond the connections wait for a free one,
/// within their own deadline. Share it behind an `Arc`: every method takes `&self`.
pub struct PeerClient {
    endpoint: PeerEndpoint,
    tls: Option<ClientTls>,
    /// The prepared `Authorization` header, marked sensitive.
    auth: Option<HeaderValue>,
    /// One permit per connection: holding one is the right to use (or open) a connection.
    permits: Semaphore,
    /// Open connections not in use, the most recently used last (it is the likeliest alive).
    idle: Mutex<Vec<Conn>>,
    connections: usize,
    opened: AtomicU64,
}

impl fmt::Debug for PeerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the Authorization header: it is the password.
        f.debug_struct("PeerClient")
            .field("url", &self.endpoint.url)
            .field("tls", &self.tls.is_some())
            .field("basic_auth", &self.auth.is_some())
            .field("connections", &self.connections)
            .finish()
    }
}

impl PeerClient {
    /// A client for the peer at `url`. The TLS files are read now, so a missing or broken file
    /// fails when the configuration is prepared, not at the first request. `connections` below
    /// 1 counts as 1. Nothing is connected yet.
    pub fn new(
        url: &str,
        tls: Option<&HaTls>,
        auth: Option<&HaBasicAuth>,
        connections: usize,
    ) -> Result<PeerClient, LinkError> {
        let endpoint = PeerEndpoint::parse(url)?;
        endpoint.check_tls(tls)?;
        if endpoint.port == 0 {
            return Err(LinkError::InvalidUrl {
                url: endpoint.url.clone(),
                reason: "port 0 cannot be connected to",
            });
        }
        let tls = match tls {
            Some(tls) => Some(ClientTls {
                connector: client_tls(tls)?,
                server_name: endpoint.server_name()?,
            }),
            None => None,
        };
        let auth = auth.map(|auth| {
            let mut value = HeaderValue::try_from(format!("Basic {}", basic_credential(auth)))
                .expect("base64 is a valid header value");
            value.set_sensitive(true);
            value
        });
        let connections = connections.max(1);
        Ok(PeerClient {
            endpoint,
            tls,
            auth,
            permits: Semaphore::new(connections),
            idle: Mutex::new(Vec::with_capacity(connections)),
            connections,
            opened: AtomicU64::new(0),
        })
    }

    /// The peer's URL as configured.
    pub fn url(&self) -> &str {
        &self.endpoint.url
    }

    /// The parsed URL.
    pub fn endpoint(&self) -> &PeerEndpoint {
        &self.endpoint
    }

    /// Connections opened so far: one per connection in a healthy link, growing with every
    /// reconnection (a measure of churn).
    pub fn connections_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// POSTs `body` (`Content-Type: application/json`) and returns the 2xx response's body.
    /// `timeout` bounds everything: waiting for a free connection, connecting, the TLS
    /// handshake, the exchange. A connection given up on is closed, the next request opens a
    /// fresh one. A 401 is [`LinkError::Unauthorized`], any other non-2xx status
    /// [`LinkError::Status`].
    pub async fn post(&self, body: Vec<u8>, timeout: Duration) -> Result<Bytes, LinkError> {
        if body.len() > MAX_BODY {
            return Err(LinkError::RequestTooLarge {
                url: self.endpoint.url.clone(),
                size: body.len(),
                limit: MAX_BODY,
            });
        }
        match tokio::time::timeout(timeout, self.exchange(body)).await {
            Ok(result) => result,
            Err(_) => Err(LinkError::Timeout {
                url: self.endpoint.url.clone(),
                after: timeout,
            }),
        }
    }

    async fn exchange(&self, body: Vec<u8>) -> Result<Bytes, LinkError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the connection semaphore is never closed");
        let mut request = self.request(body);
        let mut conn = self.checkout().await?;
        let response = loop {
            match conn.sender.try_send_request(request).await {
                Ok(response) => break response,
                Err(mut failed) => match failed.take_message() {
                    // The pooled connection closed before the request went out: nothing
                    // reached the peer, so sending it on a fresh connection is safe.
                    Some(unsent) if conn.reused => {
                        request = unsent;
                        conn = self.connect().await?;
                    }
                    _ => return Err(self.transport_error(failed.into_error())),
                },
            }
        };
        let status = response.status();
        let body = match Limited::new(response.into_body(), MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                return Err(match e.downcast::<hyper::Error>() {
                    Ok(e) => self.transport_error(*e),
                    Err(_) => LinkError::ResponseTooLarge {
                        url: self.endpoint.url.clone(),
                        limit: MAX_BODY,
                    },
                })
            }
        };
        // The response is complete: the connection can carry the next request.
        self.checkin(conn);
        trace!(peer = %self.endpoint.url, %status, len = body.len(), "HA peer answered");
        if status.is_success() {
            Ok(body)
        } else if status == StatusCode::UNAUTHORIZED {
            Err(LinkError::Unauthorized {
                url: self.endpoint.url.clone(),
            })
        } else {
            let snippet = &body[..body.len().min(SNIPPET_LEN)];
            Err(LinkError::Status {
                url: self.endpoint.url.clone(),
                status: status.as_u16(),
                body: String::from_utf8_lossy(snippet).trim().to_string(),
            })
        }
    }

    fn request(&self, body: Vec<u8>) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(Bytes::from(body)));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.endpoint.target.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, self.endpoint.authority.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(auth) = &self.auth {
            headers.insert(AUTHORIZATION, auth.clone());
        }
        request
    }

    /// An idle connection still open, or a new one.
    async fn checkout(&self) -> Result<Conn, LinkError> {
        loop {
            let idle = self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            let Some(mut conn) = idle else {
                return self.connect().await;
            };
            // A closed one is dropped here; the next idle one (or a new one) is tried.
            if !conn.sender.is_closed() && conn.sender.ready().await.is_ok() {
                conn.reused = true;
                return Ok(conn);
            }
        }
    }

    fn checkin(&self, conn: Conn) {
        if !conn.sender.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
        }
    }

    async fn connect(&self) -> Result<Conn, LinkError> {
        let mut last_error = None;
        let mut connected = None;
        for addr in self.endpoint.resolve().await? {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    connected = Some((stream, addr));
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let Some((stream, addr)) = connected else {
            return Err(LinkError::Connect {
                url: self.endpoint.url.clone(),
                source: last_error
                    .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address")),
            });
        };
        tune_socket(&stream);
        let conn = match &self.tls {
            Some(tls) => {
                let stream = tls
                    .connector
                    .connect(tls.server_name.clone(), stream)
                    .await
                    .map_err(|source| LinkError::Tls {
                        url: self.endpoint.url.clone(),
                        source,
                    })?;
                self.handshake(stream).await?
            }
            None => self.handshake(stream).await?,
        };
        self.opened.fetch_add(1, Ordering::Relaxed);
        debug!(peer = %self.endpoint.url, %addr, tls = self.tls.is_some(), "connected to HA peer");
        Ok(conn)
    }

    async fn handshake<S>(&self, io: S) -> Result<Conn, LinkError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| self.transport_error(e))?;
        let url = self.endpoint.url.clone();
        let task = tokio::spawn(async move {
            if let Err(error) = connection.await {
                debug!(peer = %url, %error, "HA peer connection closed with an error");
            }
        });
        Ok(Conn {
            sender,
            task: task.abort_handle(),
            reused: false,
        })
    }

    fn transport_error(&self, error: hyper::Error) -> LinkError {
        let url = self.endpoint.url.clone();
        match rustls_error(&error) {
            Some(tls) => LinkError::Tls {
                url,
                source: io::Error::new(io::ErrorKind::InvalidData, tls.clone()),
            },
            None => LinkError::Transport { url, source: error },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Listener

/// What the listener has seen, for status reports. Updated per connection or per refusal,
/// never per successful request.
#[derive(Debug, Default)]
pub struct ListenerCounters {
    /// TCP connections accepted.
    pub accepted: AtomicU64,
    /// TLS handshakes that failed (untrusted or missing client certificate, timeout...).
    pub tls_failures: AtomicU64,
    /// Requests refused with 401.
    pub unauthorized: AtomicU64,
}

/// The listener side of the peer link: bound to the host and port of this server's own peer
/// URL, the one its partner posts to.
pub struct PeerListener {
    listener: TcpListener,
    local_addr: SocketAddr,
    url: Arc<str>,
    tls: Option<TlsAcceptor>,
    /// The expected basic credential (base64 of `user:password`).
    auth: Option<Box<[u8]>>,
    counters: Arc<ListenerCounters>,
}

impl fmt::Debug for PeerListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerListener")
            .field("url", &self.url)
            .field("local_addr", &self.local_addr)
            .field("tls", &self.tls.is_some())
            .field("basic_auth", &self.auth.is_some())
            .finish()
    }
}

impl PeerListener {
    /// Binds the host and port of `url` (a name is resolved, its first bindable address used).
    /// With `tls`, every peer must present a certificate chaining to `ca_file`; with `auth`,
    /// every request must carry these basic credentials. TLS files are read now.
    pub async fn bind(
        url: &str,
        tls: Option<&HaTls>,
        auth: Option<&HaBasicAuth>,
    ) -> Result<PeerListener, LinkError> {
        let endpoint = PeerEndpoint::parse(url)?;
        endpoint.check_tls(tls)?;
        let acceptor = tls.map(server_tls).transpose()?;
        let mut last_error = None;
        let mut bound = None;
        for addr in endpoint.resolve().await? {
            // tokio sets SO_REUSEADDR, so a restart rebinds despite connections in TIME_WAIT.
            match TcpListener::bind(addr).await {
                Ok(listener) => {
                    bound = Some(listener);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let url = endpoint.url.clone();
        let bind_error = |source| LinkError::Bind {
            url: url.clone(),
            source,
        };
        let listener = bound.ok_or_else(|| {
            bind_error(
                last_error.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address")),
            )
        })?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        info!(url = %url, %local_addr, tls = acceptor.is_some(), basic_auth = auth.is_some(),
            "listening for HA peers");
        Ok(PeerListener {
            listener,
            local_addr,
            url: url.clone(),
            tls: acceptor,
            auth: auth.map(|a| basic_credential(a).into_bytes().into_boxed_slice()),
            counters: Arc::default(),
        })
    }

    /// The bound address (the actual port when the URL asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The counters, shared: they keep counting while [`serve`](Self::serve) runs.
    pub fn counters(&self) -> Arc<ListenerCounters> {
        self.counters.clone()
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets requests in flight finish
    /// (for a few seconds at most) and closes every connection.
    ///
    /// Each connection is a task of its own: a slow handler holds up its connection only, as
    /// HTTP/1.1 requires, never the others. Each POST body (up to [`MAX_BODY`], 413 beyond)
    /// goes to `handler`, whose bytes are the 200 response (`application/json`). Missing or
    /// wrong basic credentials get 401 with Kea's body `{ "result": 401, "text": "Unauthorized" }`
    /// and a `WWW-Authenticate` challenge; another method than POST gets 405.
    pub async fn serve<H, F>(self, handler: H, shutdown: impl Future<Output = ()>)
    where
        H: Fn(Bytes) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Vec<u8>> + Send + 'static,
    {
        let PeerListener {
            listener,
            local_addr,
            url,
            tls,
            auth,
            counters,
        } = self;
        let shared = Arc::new(Shared {
            handler,
            auth,
            counters,
        });
        let (stop, stopped) = watch::channel(());
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        shared.counters.accepted.fetch_add(1, Ordering::Relaxed);
                        connections.spawn(connection(
                            shared.clone(),
                            tls.clone(),
                            stream,
                            peer,
                            stopped.clone(),
                        ));
                    }
                    Err(error) => {
                        // Typically out of file descriptors: pause rather than spin.
                        warn!(url = %url, %error, "cannot accept an HA peer connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(done) = connections.join_next(), if !connections.is_empty() => {
                    if let Err(e) = done {
                        if e.is_panic() {
                            error!(url = %url, error = %e, "HA peer connection task panicked");
                        }
                    }
                }
            }
        }
        drop(listener);
        debug!(url = %url, %local_addr, in_flight = connections.len(), "HA listener stopping");
        // Every connection finishes its current request (if any) and closes.
        let _ = stop.send(());
        let drained = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_GRACE, drained).await.is_err() {
            warn!(url = %url, left = connections.len(),
                "HA requests still running after the shutdown grace period; closing them");
            connections.shutdown().await;
        }
    }
}

/// What every connection of a listener shares.
struct Shared<H> {
    handler: H,
    auth: Option<Box<[u8]>>,
    counters: Arc<ListenerCounters>,
}

/// One accepted connection: the TLS handshake if configured, then HTTP/1.1 until the peer
/// closes or the listener stops.
async fn connection<H, F>(
    shared: Arc<Shared<H>>,
    tls: Option<TlsAcceptor>,
    stream: TcpStream,
    peer: SocketAddr,
    mut stopped: watch::Receiver<()>,
) where
    H: Fn(Bytes) -> F + Send + Sync + 'static,
    F: Future<Output = Vec<u8>> + Send + 'static,
{
    tune_socket(&stream);
    let Some(acceptor) = tls else {
        return serve_http(shared, stream, peer, stopped).await;
    };
    let handshake = tokio::select! {
        handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => handshake,
        _ = stopped.changed() => return,
    };
    match handshake {
        Ok(Ok(stream)) => serve_http(shared, stream, peer, stopped).await,
        Ok(Err(error)) => {
            shared.counters.tls_failures.fetch_add(1, Ordering::Relaxed);
            // Worth a warning: typically a partner whose certificate is not signed by our CA.
            warn!(%peer, %error, "TLS handshake with an HA peer failed");
        }
        Err(_) => {
            shared.counters.tls_failures.fetch_add(1, Ordering::Relaxed);
            warn!(%peer, timeout = ?TLS_HANDSHAKE_TIMEOUT, "TLS handshake with an HA peer timed out");
        }
    }
}

async fn serve_http<H, F, S>(
    shared: Arc<Shared<H>>,
    io: S,
    peer: SocketAddr,
    mut stopped: watch::Receiver<()>,
) where
    H: Fn(Bytes) -> F + Send + Sync + 'static,
    F: Future<Output = Vec<u8>> + Send + 'static,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(shared.respond(request).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        // No header timeout: hyper would also apply it to idle keep-alive connections, which
        // the partner keeps open on purpose. TCP keep-alive finds dead partners instead.
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = stopped.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(error) = result {
        debug!(%peer, %error, "HA peer connection ended with an error");
    }
}

impl<H, F> Shared<H>
where
    H: Fn(Bytes) -> F + Send + Sync + 'static,
    F: Future<Output = Vec<u8>> + Send + 'static,
{
    async fn respond(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        // Credentials first: an unauthenticated client learns nothing, not even the method.
        if let Some(expected) = &self.auth {
            if !authorized(request.headers(), expected) {
                self.counters.unauthorized.fetch_add(1, Ordering::Relaxed);
                let mut response = json_response(
                    StatusCode::UNAUTHORIZED,
                    Bytes::from_static(BODY_UNAUTHORIZED),
                );
                response.headers_mut().insert(
                    hyper::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(AUTH_CHALLENGE),
                );
                return response;
            }
        }
        if request.method() != Method::POST {
            let mut response = json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                Bytes::from_static(BODY_METHOD_NOT_ALLOWED),
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        let too_large = || {
            json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                Bytes::from_static(BODY_TOO_LARGE),
            )
        };
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > MAX_BODY as u64) {
            return too_large();
        }
        let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<LengthLimitError>() => return too_large(),
            // The peer went away mid-body; this answer most likely reaches no one.
            Err(_) => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    Bytes::from_static(BODY_BAD_REQUEST),
                )
            }
        };
        trace!(len = body.len(), "HA peer request");
        let answer = (self.handler)(body).await;
        json_response(StatusCode::OK, Bytes::from(answer))
    }
}

fn json_response(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Whether the request carries `Authorization: Basic <expected>`. As Kea: the scheme is
/// case-insensitive, spaces around the credential are ignored, the credential compares exactly.
fn authorized(headers: &HeaderMap, expected: &[u8]) -> bool {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return false;
    };
    let value = value.as_bytes().trim_ascii();
    let Some((scheme, credential)) = value.split_at_checked(5) else {
        return false;
    };
    scheme.eq_ignore_ascii_case(b"basic")
        && credential
            .first()
            .is_some_and(|b| *b == b' ' || *b == b'\t')
        && constant_time_eq(credential.trim_ascii(), expected)
}

/// Equality whose time does not depend on where the inputs differ, so the password cannot be
/// guessed a byte at a time from response times. (The length is not secret: it is the
/// base64 length.)
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    const LONG: Duration = Duration::from_secs(10);

    /// A listener serving `handler` on 127.0.0.1, and the means to stop it.
    struct Running {
        addr: SocketAddr,
        counters: Arc<ListenerCounters>,
        stop: oneshot::Sender<()>,
        task: JoinHandle<()>,
    }

    impl Running {
        async fn stop(self) {
            let _ = self.stop.send(());
            self.task.await.expect("serve task");
        }
    }

    async fn start_on<H, F>(
        url: &str,
        tls: Option<&HaTls>,
        auth: Option<&HaBasicAuth>,
        handler: H,
    ) -> Running
    where
        H: Fn(Bytes) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Vec<u8>> + Send + 'static,
    {
        let listener = PeerListener::bind(url, tls, auth).await.expect("bind");
        let addr = listener.local_addr();
        let counters = listener.counters();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(listener.serve(handler, async {
            let _ = stopped.await;
        }));
        Running {
            addr,
            counters,
            stop,
            task,
        }
    }

    async fn echo_server() -> Running {
        start_on("http://127.0.0.1:0/", None, None, echo).await
    }

    async fn echo(body: Bytes) -> Vec<u8> {
        body.to_vec()
    }

    fn url_of(addr: SocketAddr) -> String {
        format!("http://{addr}/")
    }

    /// One raw HTTP/1.1 exchange, for what the client never sends.
    async fn raw(addr: SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut answer = Vec::new();
        tokio::time::timeout(LONG, stream.read_to_end(&mut answer))
            .await
            .expect("answer in time")
            .expect("read");
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test]
    async fn sequential_posts_reuse_one_persistent_connection() {
        let server = echo_server().await;
        let client = PeerClient::new(&url_of(server.addr), None, None, 4).expect("client");
        for i in 0..1000 {
            let body = format!(r#"[{{"command":"lease4-update","n":{i}}}]"#).into_bytes();
            let answer = client.post(body.clone(), LONG).await.expect("post");
            assert_eq!(answer, body);
        }
        // One at a time needs one connection; never more than the pool's size.
        assert_eq!(server.counters.accepted.load(Ordering::Relaxed), 1);
        assert_eq!(client.connections_opened(), 1);
        server.stop().await;
    }

    #[tokio::test]
    async fn concurrent_posts_share_the_bounded_pool() {
        let server = start_on(
            "http://127.0.0.1:0/",
            None,
            None,
            |body: Bytes| async move {
                // Long enough for requests to pile up behind the four connections.
                tokio::time::sleep(Duration::from_millis(5)).await;
                body.to_vec()
            },
        )
        .await;
        let client =
            Arc::new(PeerClient::new(&url_of(server.addr), None, None, 4).expect("client"));
        let mut posts = JoinSet::new();
        for i in 0..64u32 {
            let client = client.clone();
            posts.spawn(async move {
                let body = i.to_string().into_bytes();
                (client.post(body.clone(), LONG).await, body)
            });
        }
        while let Some(done) = posts.join_next().await {
            let (answer, body) = done.expect("task");
            assert_eq!(answer.expect("post"), body);
        }
        let accepted = server.counters.accepted.load(Ordering::Relaxed);
        assert!((1..=4).contains(&accepted), "{accepted} connections");
        server.stop().await;
    }

    #[tokio::test]
    async fn a_timeout_is_reported_and_the_client_recovers() {
        let server = start_on(
            "http://127.0.0.1:0/",
            None,
            None,
            |body: Bytes| async move {
                if body.as_ref() == b"slow" {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                body.to_vec()
            },
        )
        .await;
        let client = PeerClient::new(&url_of(server.addr), None, None, 1).expect("client");
        let short = Duration::from_millis(200);
        match client.post(b"slow".to_vec(), short).await {
            Err(LinkError::Timeout { after, url }) => {
                assert_eq!(after, short);
                assert_eq!(&*url, client.url());
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        // The permit and the abandoned connection are released: the next request goes through
        // on a new connection even with a pool of one.
        let answer = client.post(b"fast".to_vec(), LONG).await.expect("post");
        assert_eq!(answer.as_ref(), b"fast");
        assert_eq!(client.connections_opened(), 2);
    }

    #[tokio::test]
    async fn the_client_reconnects_to_a_restarted_listener() {
        let server = echo_server().await;
        let addr = server.addr;
        let client = PeerClient::new(&url_of(addr), None, None, 2).expect("client");
        assert_eq!(
            client
                .post(b"1".to_vec(), LONG)
                .await
                .expect("post")
                .as_ref(),
            b"1"
        );
        server.stop().await;
        // Let the client's connection task see the server's close.
        tokio::time::sleep(Duration::from_millis(100)).await;
        match client.post(b"2".to_vec(), LONG).await {
            Err(e @ LinkError::Connect { .. }) => {
                assert!(e.to_string().contains(&addr.to_string()), "{e}");
            }
            other => panic!("expected a connect error, got {other:?}"),
        }
        let server = start_on(&url_of(addr), None, None, echo).await;
        assert_eq!(
            client
                .post(b"3".to_vec(), LONG)
                .await
                .expect("post")
                .as_ref(),
            b"3"
        );
        assert_eq!(client.connections_opened(), 2);
        server.stop().await;
    }

    #[tokio::test]
    async fn basic_auth_is_required_when_configured() {
        let auth = HaBasicAuth {
            user: "ha".into(),
            password: "secret".into(),
        };
        let server = start_on("http://127.0.0.1:0/", None, Some(&auth), echo).await;
        let url = url_of(server.addr);

        let good = PeerClient::new(&url, None, Some(&auth), 1).expect("client");
        assert_eq!(
            good.post(b"[]".to_vec(), LONG)
                .await
                .expect("post")
                .as_ref(),
            b"[]"
        );

        let none = PeerClient::new(&url, None, None, 1).expect("client");
        let wrong_auth = HaBasicAuth {
            user: "ha".into(),
            password: "guess".into(),
        };
        let wrong = PeerClient::new(&url, None, Some(&wrong_auth), 1).expect("client");
        for client in [&none, &wrong] {
            match client.post(b"[]".to_vec(), LONG).await {
                Err(LinkError::Unauthorized { .. }) => {}
                other => panic!("expected 401, got {other:?}"),
            }
            // The connection survives a 401: the next attempt does not reconnect.
            assert!(client.post(b"[]".to_vec(), LONG).await.is_err());
            assert_eq!(client.connections_opened(), 1);
        }
        assert_eq!(server.counters.unauthorized.load(Ordering::Relaxed), 4);

        // What a client without credentials sees on the wire: Kea's body and a challenge.
        let answer = raw(
            server.addr,
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        assert!(
            answer.contains(r#"{ "result": 401, "text": "Unauthorized" }"#),
            "{answer}"
        );
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("www-authenticate: basic realm=\"netdhcp-ha\""),
            "{answer}"
        );
        // The scheme is case-insensitive, as in Kea.
        let credential = basic_credential(&auth);
        let answer = raw(
            server.addr,
            &format!("POST / HTTP/1.1\r\nHost: x\r\nAuthorization: BASIC  {credential} \r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        server.stop().await;
    }

    #[test]
    fn credentials_compare_exactly() {
        let mut headers = HeaderMap::new();
        assert!(!authorized(&headers, b"aGE6c2VjcmV0"));
        for (value, ok) in [
            ("Basic aGE6c2VjcmV0", true),
            ("basic\taGE6c2VjcmV0", true),
            ("Basic aGE6c2VjcmV", false),
            ("Basic aGE6c2VjcmV0x", false),
            ("BasicaGE6c2VjcmV0", false),
            ("Bearer aGE6c2VjcmV0", false),
            ("Basic", false),
        ] {
            headers.insert(AUTHORIZATION, HeaderValue::from_static(value));
            assert_eq!(authorized(&headers, b"aGE6c2VjcmV0"), ok, "{value}");
        }
    }

    #[tokio::test]
    async fn other_methods_and_oversized_bodies_are_refused() {
        let server = echo_server().await;
        let answer = raw(
            server.addr,
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("allow: post"),
            "{answer}"
        );
        let answer = raw(
            server.addr,
            &format!(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                MAX_BODY + 1
            ),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains(r#""result": 413"#), "{answer}");
        server.stop().await;
    }

    #[tokio::test]
    async fn a_peer_error_status_carries_the_start_of_the_body() {
        // A listener that is not ours: answers 500 with a long body.
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            let body = format!("{{\"text\": \"{}\"}}", "x".repeat(1000));
            let response = format!(
                "HTTP/1.1 500 Internal Server Error\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).await.expect("write");
        });
        let client = PeerClient::new(&url_of(addr), None, None, 1).expect("client");
        match client.post(b"[]".to_vec(), LONG).await {
            Err(LinkError::Status { status, body, .. }) => {
                assert_eq!(status, 500);
                assert!(body.starts_with("{\"text\": \"xxx"), "{body}");
                assert!(body.len() <= SNIPPET_LEN, "{}", body.len());
            }
            other => panic!("expected a status error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn oversized_requests_are_not_sent() {
        let client = PeerClient::new("http://127.0.0.1:9/", None, None, 1).expect("client");
        match client.post(vec![b' '; MAX_BODY + 1], LONG).await {
            Err(LinkError::RequestTooLarge { size, limit, .. }) => {
                assert_eq!((size, limit), (MAX_BODY + 1, MAX_BODY));
            }
            other => panic!("expected too large, got {other:?}"),
        }
        assert_eq!(client.connections_opened(), 0);
    }

    // ---- URLs

    #[test]
    fn good_urls_parse() {
        let e = PeerEndpoint::parse("http://100.64.0.3:8001/").expect("parse");
        assert!(!e.is_https());
        assert_eq!(e.host(), &PeerHost::Ip("100.64.0.3".parse().expect("ip")));
        assert_eq!((e.port(), e.path()), (8001, "/"));
        assert_eq!(
            e.socket_addr(),
            Some("100.64.0.3:8001".parse().expect("addr"))
        );
        assert_eq!(e.authority, "100.64.0.3:8001");

        let e = PeerEndpoint::parse("HTTPS://[2001:db8::3]:8443/ha/peer?x=1").expect("parse");
        assert!(e.is_https());
        assert_eq!(e.host(), &PeerHost::Ip("2001:db8::3".parse().expect("ip")));
        assert_eq!((e.port(), e.path()), (8443, "/ha/peer?x=1"));
        assert_eq!(e.authority, "[2001:db8::3]:8443");

        let e = PeerEndpoint::parse("https://DHCP-B.example").expect("parse");
        assert_eq!(e.host(), &PeerHost::Name("dhcp-b.example".into()));
        assert_eq!((e.port(), e.path()), (443, "/"));
        assert_eq!(e.socket_addr(), None);
        assert_eq!(e.authority, "dhcp-b.example");

        let e = PeerEndpoint::parse("http://[::1]").expect("parse");
        assert_eq!((e.port(), e.path()), (80, "/"));
        assert_eq!(e.socket_addr(), Some("[::1]:80".parse().expect("addr")));
        assert_eq!(
            e.listen_addr().expect("literal"),
            "[::1]:80".parse().expect("addr")
        );

        let e = PeerEndpoint::parse("http://localhost:8001?q").expect("parse");
        assert_eq!(e.path(), "/?q");
        assert_eq!(e.to_string(), "http://localhost:8001?q");
        // Names resolve (here from /etc/hosts) when asked for.
        let addr = e.listen_addr().expect("localhost resolves");
        assert!(addr.ip().is_loopback() && addr.port() == 8001, "{addr}");
    }

    #[test]
    fn bad_urls_are_refused_with_a_reason() {
        for (url, reason) in [
            ("100.64.0.3:8001", "missing scheme"),
            ("ftp://100.64.0.3/", "http or https"),
            ("http://", "missing host"),
            ("http:///path", "missing host"),
            ("http://:8001/", "missing host"),
            ("http://2001:db8::3:8001/", "brackets"),
            ("http://[2001:db8::3/", "unterminated"),
            ("http://[2001:db8::zz]:80/", "invalid IPv6"),
            ("http://[::1]x/", "after the IPv6"),
            ("http://1.2.3.256:80/", "invalid IPv4"),
            ("http://a:65536/", "at most 65535"),
            ("http://a:80x/", "must be a number"),
            ("http://a:/", "must be a number"),
            ("http://a:-1/", "must be a number"),
            ("http://user:pw@a/", "user information"),
            ("http://a/#frag", "fragments"),
            ("http://a b/", "spaces"),
            ("http://-a.example/", "invalid host name"),
            ("http://a..example/", "invalid host name"),
            ("http://a/p\u{e9}", "non-ASCII"),
            ("http://a/p<x>", "invalid path"),
        ] {
            match PeerEndpoint::parse(url) {
                Err(e @ LinkError::InvalidUrl { .. }) => {
                    let text = e.to_string();
                    assert!(text.contains(reason), "{url}: {text}");
                    assert!(text.contains(&format!("{url:?}")), "{url}: {text}");
                }
                other => panic!("{url}: expected InvalidUrl, got {other:?}"),
            }
        }
    }

    #[test]
    fn the_scheme_must_match_the_tls_settings() {
        let tls = HaTls {
            ca_file: "/nonexistent/ca.pem".into(),
            cert_file: "/nonexistent/cert.pem".into(),
            key_file: "/nonexistent/key.pem".into(),
        };
        assert!(matches!(
            PeerClient::new("https://127.0.0.1:8001/", None, None, 1),
            Err(LinkError::InvalidUrl { .. })
        ));
        assert!(matches!(
            PeerClient::new("http://127.0.0.1:8001/", Some(&tls), None, 1),
            Err(LinkError::InvalidUrl { .. })
        ));
        assert!(matches!(
            PeerClient::new("http://127.0.0.1:0/", None, None, 1),
            Err(LinkError::InvalidUrl { .. })
        ));
        // The files are read when the client is made.
        match PeerClient::new("https://127.0.0.1:8001/", Some(&tls), None, 1) {
            Err(e @ LinkError::TlsFile { .. }) => {
                assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
            }
            other => panic!("expected a TLS file error, got {other:?}"),
        }
    }

    // ---- TLS

    const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

    /// Throwaway PKI made with the openssl command line: two CAs, and leaf certificates for
    /// 127.0.0.1 (usable by server and client).
    struct Pki {
        dir: tempfile::TempDir,
        serial: u32,
    }

    impl Pki {
        fn new() -> Pki {
            let dir = tempfile::TempDir::new().expect("tempdir");
            std::fs::write(dir.path().join("openssl.cnf"), OPENSSL_CNF).expect("cnf");
            Pki { dir, serial: 1 }
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }

        /// Runs `openssl` with the whitespace-separated `args` in the PKI's directory.
        fn openssl(&self, args: &str) {
            let output = Command::new("openssl")
                .args(args.split_whitespace())
                .current_dir(self.dir.path())
                .output()
                .expect("run openssl");
            assert!(
                output.status.success(),
                "openssl {args}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }

        fn ca(&self, name: &str) {
            self.openssl(&format!(
                "req -x509 -config openssl.cnf -extensions ca -nodes -days 2 \
                 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
                 -subj /CN=netdhcp-test-{name} -keyout {name}.key -out {name}.pem"
            ));
        }

        fn leaf(&mut self, name: &str, ca: &str) -> HaTls {
            self.openssl(&format!(
                "req -new -config openssl.cnf -nodes \
                 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
                 -subj /CN={name} -keyout {name}.key -out {name}.csr"
            ));
            self.serial += 1;
            self.openssl(&format!(
                "x509 -req -in {name}.csr -CA {ca}.pem -CAkey {ca}.key -set_serial {} -days 2 \
                 -extfile openssl.cnf -extensions leaf -out {name}.pem",
                self.serial
            ));
            HaTls {
                ca_file: self.path(&format!("{ca}.pem")),
                cert_file: self.path(&format!("{name}.pem")),
                key_file: self.path(&format!("{name}.key")),
            }
        }
    }

    #[tokio::test]
    async fn mutual_tls_round_trip_and_refusals() {
        let mut pki = Pki::new();
        pki.ca("ca1");
        pki.ca("ca2");
        let server_tls = pki.leaf("server", "ca1");
        let client_tls = pki.leaf("client", "ca1");
        let server = start_on("https://127.0.0.1:0/", Some(&server_tls), None, echo).await;
        let url = format!("https://{}/", server.addr);

        // Both sides trust ca1 and present ca1-signed certificates.
        let client = PeerClient::new(&url, Some(&client_tls), None, 2).expect("client");
        for i in 0..20 {
            let body = format!("[{i}]").into_bytes();
            assert_eq!(client.post(body.clone(), LONG).await.expect("post"), body);
        }
        assert_eq!(client.connections_opened(), 1);

        // A client whose certificate ca1 did not sign is refused by the listener.
        let mut rogue_tls = pki.leaf("rogue", "ca2");
        rogue_tls.ca_file = pki.path("ca1.pem");
        let rogue = PeerClient::new(&url, Some(&rogue_tls), None, 1).expect("client");
        match rogue.post(b"[]".to_vec(), LONG).await {
            // TLS 1.3: the client's handshake completes before the server checks the client
            // certificate, so the refusal arrives as an alert (or a reset) on the first request.
            Err(e @ (LinkError::Tls { .. } | LinkError::Transport { .. })) => {
                assert!(e.to_string().contains(&url), "{e}");
            }
            other => panic!("expected a TLS refusal, got {other:?}"),
        }
        let failures = server.counters.tls_failures.load(Ordering::Relaxed);
        assert_eq!(failures, 1);

        // A client trusting another CA refuses the server's certificate itself.
        let mut distrustful_tls = client_tls.clone();
        distrustful_tls.ca_file = pki.path("ca2.pem");
        let distrustful = PeerClient::new(&url, Some(&distrustful_tls), None, 1).expect("client");
        match distrustful.post(b"[]".to_vec(), LONG).await {
            Err(e @ LinkError::Tls { .. }) => {
                let text = e.to_string();
                assert!(text.contains("certificate"), "{text}");
                assert!(text.contains("UnknownIssuer"), "{text}");
            }
            other => panic!("expected a TLS error, got {other:?}"),
        }

        // A plain-HTTP client is no TLS client: the listener drops it.
        let plain = PeerClient::new(&url_of(server.addr), None, None, 1).expect("client");
        assert!(plain.post(b"[]".to_vec(), LONG).await.is_err());
        server.stop().await;
    }

    #[test]
    fn broken_tls_files_fail_at_configuration_time() {
        let mut pki = Pki::new();
        pki.ca("ca1");
        let good = pki.leaf("server", "ca1");
        let other = pki.leaf("other", "ca1");
        let url = "https://127.0.0.1:8001/";

        let mut no_key = good.clone();
        no_key.key_file = good.cert_file.clone();
        match PeerClient::new(url, Some(&no_key), None, 1) {
            Err(e @ LinkError::TlsFile { .. }) => {
                assert!(e.to_string().contains("no private key"), "{e}")
            }
            other => panic!("expected a TLS file error, got {other:?}"),
        }

        let mut no_cert = good.clone();
        no_cert.ca_file = good.key_file.clone();
        match PeerClient::new(url, Some(&no_cert), None, 1) {
            Err(e @ LinkError::TlsFile { .. }) => {
                assert!(e.to_string().contains("no CERTIFICATE"), "{e}")
            }
            other => panic!("expected a TLS file error, got {other:?}"),
        }

        let mut mismatched = good.clone();
        mismatched.key_file = other.key_file.clone();
        assert!(matches!(
            PeerClient::new(url, Some(&mismatched), None, 1),
            Err(LinkError::TlsSetup { .. })
        ));
        PeerClient::new(url, Some(&good), None, 1).expect("good files");
    }
}
