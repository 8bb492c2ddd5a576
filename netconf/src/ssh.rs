//! The SSH transport (RFC 6242 section 3): a russh server offering the `netconf` subsystem
//! only, with password (argon2 PHC hashes) and public-key (authorized_keys lines) users.

use std::collections::HashMap;
use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, PasswordHash};
use russh::keys::ssh_key::{self, private::Ed25519Keypair, LineEnding};
use russh::keys::{PrivateKey, PublicKey};
use russh::server::{Auth, ChannelOpenHandle, Handler, Msg, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, ChannelOpenFailure, Disconnect, MethodKind, MethodSet, SshId};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::backend::{OperationAccess, Request};
use crate::error::ServerError;
use crate::framing::DEFAULT_MAX_MESSAGE_SIZE;
use crate::notification::{
    NotificationAccess, NotificationXPath, Publisher, CAP_INTERLEAVE, CAP_NOTIFICATION,
};
use crate::quickack::QuickAckStream;
use crate::registry::Registry;
use crate::session::{self, SessionSettings};

/// The IANA port for NETCONF over SSH (RFC 6242 section 3).
pub const NETCONF_SSH_PORT: u16 = 830;

/// Default idle timeout of a session.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

/// Default bound on concurrent sessions.
pub const DEFAULT_MAX_SESSIONS: usize = 64;

/// A connection that has not started a NETCONF session within this time is dropped, like
/// OpenSSH's LoginGraceTime: it holds a session slot.
const LOGIN_GRACE: Duration = Duration::from_secs(120);

/// Session channels a connection may hold open before asking for the subsystem.
const MAX_PENDING_CHANNELS: usize = 4;

/// Concurrent argon2 verifications: each takes tens of MiB and a core for tens of ms.
const MAX_PARALLEL_PASSWORD_CHECKS: usize = 4;

/// SSH keepalive probe interval; three unanswered probes end the connection.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);

/// How long shutdown waits for sessions and connections to wind down.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// A user allowed to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The SSH user name.
    pub name: String,
    /// An argon2 PHC string (see [`hash_password`]); `None` disables password login.
    pub password_hash: Option<String>,
    /// Public keys, one OpenSSH `authorized_keys` line each (`ssh-ed25519 AAAA... comment`).
    /// Lines with options (`from=...`, `command=...`) are refused at start-up: they would not
    /// be enforced.
    pub authorized_keys: Vec<String>,
}

/// Settings of the NETCONF server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port (see [`NetconfServer::local_addr`]).
    pub listen: SocketAddr,
    /// The SSH host key in OpenSSH format; an ed25519 key is generated there (mode 0600) when
    /// the file does not exist, and reused afterwards.
    pub host_key_path: PathBuf,
    /// Who may log in.
    pub users: Vec<User>,
    /// A session with no complete message for this long is closed.
    pub idle_timeout: Duration,
    /// Concurrent NETCONF sessions at most. A further session is refused when the client
    /// opens its SSH channel (channel-open failure "resource shortage", logged as a warning).
    /// TCP connections, authenticated or not, are bounded at twice this number; beyond that a
    /// connection is ended with the SSH disconnect "too many connections".
    pub max_sessions: usize,
    /// Largest NETCONF message accepted, in bytes.
    pub max_message_size: usize,
    /// Where the daemon publishes notifications; sessions subscribe to it with
    /// `<create-subscription>`. Its replay buffer and per-session queue sizes are set when it
    /// is built ([`Publisher::new`]).
    pub notifications: Publisher,
    /// Decides, per session, which notifications its user may receive (NACM, RFC 8341
    /// section 3.4.6); `None` lets every notification through.
    pub notification_access: Option<NotificationAccess>,
    /// Decides whether a session may invoke kill-session and create-subscription, which the
    /// server answers itself (NACM, RFC 8341 section 3.4.4); `None` allows them.
    pub operation_access: Option<OperationAccess>,
    /// Evaluates XPath filters of `<create-subscription>`; `None` refuses them
    /// (operation-not-supported) while subtree filters still work.
    pub notification_xpath: Option<NotificationXPath>,
}

impl ServerConfig {
    /// A configuration with the default idle timeout (3600 s), session limit (64) and
    /// message size limit (64 MiB).
    pub fn new(listen: SocketAddr, host_key_path: PathBuf, users: Vec<User>) -> Self {
        ServerConfig {
            listen,
            host_key_path,
            users,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            notifications: Publisher::default(),
            notification_access: None,
            operation_access: None,
            notification_xpath: None,
        }
    }
}

/// Hashes a password for [`User::password_hash`]: argon2id with the argon2 crate's default
/// parameters and a random salt, as a PHC string (`$argon2id$v=19$m=...`).
pub fn hash_password(password: &str) -> Result<String, ServerError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ServerError::HashPassword(e.to_string()))
}

/// A user's credentials, checked at start-up.
struct Credentials {
    password_hash: Option<String>,
    keys: Vec<PublicKey>,
}

impl Credentials {
    fn knows_key(&self, key: &PublicKey) -> bool {
        // Compare key material only: the comment is not part of the identity.
        self.keys.iter().any(|k| k.key_data() == key.key_data())
    }
}

/// What every connection shares.
struct Shared {
    users: HashMap<String, Credentials>,
    settings: SessionSettings,
    max_sessions: usize,
    password_checks: Semaphore,
}

/// The NETCONF SSH server. Build it with [`NetconfServer::new`] (which binds the socket and
/// loads the host key, so start-up errors surface before anything runs), then
/// [`NetconfServer::run`] it.
pub struct NetconfServer {
    listener: std::net::TcpListener,
    local_addr: SocketAddr,
    ssh: Arc<russh::server::Config>,
    shared: Arc<Shared>,
    host_public_key: String,
}

impl std::fmt::Debug for NetconfServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetconfServer")
            .field("local_addr", &self.local_addr)
            .field("host_public_key", &self.host_public_key)
            .finish_non_exhaustive()
    }
}

impl NetconfServer {
    /// Loads (or creates) the host key, checks every user's credentials, binds the listening
    /// socket. `capabilities` are announced in every hello after base:1.0 and base:1.1, and
    /// so are `:notification:1.0` and `:interleave:1.0` (added when missing); `backend_tx`
    /// receives every request the server does not answer itself.
    pub fn new(
        config: ServerConfig,
        mut capabilities: Vec<String>,
        backend_tx: mpsc::Sender<Request>,
    ) -> Result<Self, ServerError> {
        let host_key = load_or_create_host_key(&config.host_key_path)?;
        let host_public_key =
            host_key
                .public_key()
                .to_openssh()
                .map_err(|e| ServerError::HostKeyLoad {
                    path: config.host_key_path.clone(),
                    reason: e.to_string(),
                })?;
        let users = check_users(&config.users)?;
        let listener =
            std::net::TcpListener::bind(config.listen).map_err(|source| ServerError::Bind {
                addr: config.listen,
                source,
            })?;
        let bind_err = |source| ServerError::Bind {
            addr: config.listen,
            source,
        };
        listener.set_nonblocking(true).map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;

        let ssh = russh::server::Config {
            server_id: SshId::Standard(
                format!("SSH-2.0-netconf_{}", env!("CARGO_PKG_VERSION")).into(),
            ),
            methods: auth_methods(),
            auth_rejection_time: Duration::from_secs(1),
            // OpenSSH and paramiko start with a "none" probe to learn the methods: no delay.
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys: vec![host_key],
            // NETCONF has its own idle timeout; an SSH-level one would cut idle sessions early.
            inactivity_timeout: None,
            // Finds peers that vanished without a FIN (the idle timeout does not run while a
            // reply is stuck in a full window): any packet, even a refusal, counts as alive.
            keepalive_interval: Some(KEEPALIVE_INTERVAL),
            keepalive_max: 3,
            max_auth_attempts: 6,
            nodelay: true,
            ..Default::default()
        };
        for cap in [CAP_NOTIFICATION, CAP_INTERLEAVE] {
            if !capabilities.iter().any(|c| c == cap) {
                capabilities.push(cap.to_owned());
            }
        }
        let max_sessions = config.max_sessions.max(1);
        let shared = Shared {
            users,
            settings: SessionSettings {
                capabilities: Arc::new(capabilities),
                idle_timeout: config.idle_timeout,
                max_message_size: config.max_message_size,
                backend: backend_tx,
                registry: Arc::new(Registry::new(max_sessions)),
                notifications: config.notifications,
                notification_access: config.notification_access,
                operation_access: config.operation_access,
                notification_xpath: config.notification_xpath,
            },
            max_sessions,
            password_checks: Semaphore::new(MAX_PARALLEL_PASSWORD_CHECKS),
        };
        Ok(NetconfServer {
            listener,
            local_addr,
            ssh: Arc::new(ssh),
            shared: Arc::new(shared),
            host_public_key,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The live sessions, for monitoring state (ietf-netconf-monitoring).
    pub fn sessions(&self) -> crate::registry::Sessions {
        crate::registry::Sessions(Arc::clone(&self.shared.settings.registry))
    }

    /// The publisher of this server's notification stream.
    pub fn notifications(&self) -> Publisher {
        self.shared.settings.notifications.clone()
    }

    /// The host public key, OpenSSH format (`ssh-ed25519 AAAA...`), for known_hosts files.
    pub fn host_public_key(&self) -> &str {
        &self.host_public_key
    }

    /// Accepts connections until `shutdown` completes, then ends every session (the backend
    /// hears `SessionEnded` for each) and disconnects every client, waiting a few seconds at
    /// most.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let listener =
            tokio::net::TcpListener::from_std(self.listener).map_err(ServerError::Accept)?;
        // Room for clients still authenticating while every session slot is taken, so the
        // session limit is reported clearly (at channel open) rather than as a dropped
        // connection; the bound still stops unauthenticated connections from piling up.
        let connections = Arc::new(Semaphore::new(self.shared.max_sessions.saturating_mul(2)));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        info!(addr = %self.local_addr, "NETCONF server listening");
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let permit = Arc::clone(&connections).try_acquire_owned().ok();
                        let task = serve_connection(
                            stream,
                            peer,
                            Arc::clone(&self.ssh),
                            Arc::clone(&self.shared),
                            permit,
                            stop_rx.clone(),
                        );
                        tasks.spawn(task.instrument(info_span!("netconf", %peer)));
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        drop(listener);
        info!("NETCONF server shutting down");
        self.shared.settings.registry.kill_all(SHUTDOWN_WAIT).await;
        let _ = stop_tx.send(true);
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_WAIT, drain).await.is_err() {
            tasks.abort_all();
        }
        Ok(())
    }
}

fn auth_methods() -> MethodSet {
    MethodSet::from(&[MethodKind::PublicKey, MethodKind::Password][..])
}

/// A rejection that keeps every method on offer, so a mistyped password can be retried on
/// the same connection (russh otherwise withdraws the method that failed).
fn reject() -> Auth {
    Auth::Reject {
        proceed_with_methods: Some(auth_methods()),
        partial_success: false,
    }
}

fn check_users(users: &[User]) -> Result<HashMap<String, Credentials>, ServerError> {
    let mut out = HashMap::new();
    for user in users {
        if let Some(hash) = &user.password_hash {
            PasswordHash::new(hash).map_err(|e| ServerError::PasswordHash {
                user: user.name.clone(),
                reason: e.to_string(),
            })?;
        }
        let mut keys = Vec::new();
        for (index, line) in user.authorized_keys.iter().enumerate() {
            let bad = |reason: String| ServerError::AuthorizedKey {
                user: user.name.clone(),
                index,
                reason,
            };
            let entry: ssh_key::authorized_keys::Entry = line
                .trim()
                .parse()
                .map_err(|e: ssh_key::Error| bad(e.to_string()))?;
            if !entry.config_opts().is_empty() {
                return Err(bad(format!(
                    "options \"{}\" are not supported",
                    entry.config_opts().as_str()
                )));
            }
            keys.push(entry.public_key().clone());
        }
        let creds = Credentials {
            password_hash: user.password_hash.clone(),
            keys,
        };
        if out.insert(user.name.clone(), creds).is_some() {
            return Err(ServerError::DuplicateUser(user.name.clone()));
        }
    }
    Ok(out)
}

/// Reads the host key at `path`, or generates an ed25519 key there.
fn load_or_create_host_key(path: &Path) -> Result<PrivateKey, ServerError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            warn_if_readable_by_others(path);
            PrivateKey::from_openssh(text.as_bytes()).map_err(|e| ServerError::HostKeyLoad {
                path: path.to_owned(),
                reason: e.to_string(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = generate_host_key()?;
            write_host_key(path, &key)?;
            info!(path = %path.display(), "generated a new SSH host key");
            Ok(key)
        }
        Err(e) => Err(ServerError::HostKeyLoad {
            path: path.to_owned(),
            reason: e.to_string(),
        }),
    }
}

fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            warn!(path = %path.display(), "SSH host key is accessible by group or others");
        }
    }
}

fn generate_host_key() -> Result<PrivateKey, ServerError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| ServerError::HostKeyGenerate(e.to_string()))?;
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    seed.fill(0);
    Ok(key)
}

/// Writes the key atomically: a 0600 temporary file beside it, fsync, rename, fsync the
/// directory, so a crash leaves either no key or a whole one.
fn write_host_key(path: &Path, key: &PrivateKey) -> Result<(), ServerError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let write_err = |source| ServerError::HostKeyWrite {
        path: path.to_owned(),
        source,
    };
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| ServerError::HostKeyGenerate(e.to_string()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(write_err)?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(write_err)?;
    file.write_all(text.as_bytes()).map_err(write_err)?;
    file.sync_all().map_err(write_err)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(write_err)?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(write_err)?;
    Ok(())
}

/// One TCP connection: the SSH session, the session limit and the login grace time.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    ssh: Arc<russh::server::Config>,
    shared: Arc<Shared>,
    permit: Option<OwnedSemaphorePermit>,
    mut stop: watch::Receiver<bool>,
) {
    let started = Arc::new(AtomicBool::new(false));
    let handler = Connection {
        shared: Arc::clone(&shared),
        peer,
        user: None,
        pending: HashMap::new(),
        live: Arc::new(AtomicUsize::new(0)),
        started: Arc::clone(&started),
    };
    // The client's SSH identification line is read before run_stream returns; a peer that
    // sends nothing must not hold the slot forever.
    let running = match tokio::time::timeout(
        LOGIN_GRACE,
        russh::server::run_stream(ssh, QuickAckStream::new(stream), handler),
    )
    .await
    {
        Ok(Ok(running)) => running,
        Ok(Err(e)) => {
            debug!(error = %e, "SSH handshake failed");
            return;
        }
        Err(_) => {
            debug!("no SSH identification within the login grace time");
            return;
        }
    };
    let handle = running.handle();
    if permit.is_none() {
        warn!(
            limit = shared.max_sessions.saturating_mul(2),
            "refusing connection: too many connections"
        );
        let _ = handle
            .disconnect(
                Disconnect::TooManyConnections,
                format!(
                    "too many connections (NETCONF session limit {})",
                    shared.max_sessions
                ),
                "en".into(),
            )
            .await;
    }
    tokio::pin!(running);
    let grace = tokio::time::sleep(LOGIN_GRACE);
    tokio::pin!(grace);
    let mut grace_over = false;
    let mut stopping = false;
    loop {
        tokio::select! {
            result = &mut running => {
                if let Err(e) = result {
                    debug!(error = %e, "SSH connection ended with an error");
                }
                break;
            }
            () = &mut grace, if !grace_over => {
                grace_over = true;
                if !started.load(Ordering::Acquire) {
                    info!("no NETCONF session within the login grace time, disconnecting");
                    let _ = handle.disconnect(Disconnect::ByApplication, "login grace time over".into(), "en".into()).await;
                }
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    let _ = handle.disconnect(Disconnect::ByApplication, "server shutting down".into(), "en".into()).await;
                }
            }
        }
    }
    drop(permit);
}

/// The russh handler of one connection.
struct Connection {
    shared: Arc<Shared>,
    peer: SocketAddr,
    /// The authenticated user.
    user: Option<String>,
    /// Session channels opened and not yet given a subsystem.
    pending: HashMap<ChannelId, Channel<Msg>>,
    /// NETCONF sessions running on this connection.
    live: Arc<AtomicUsize>,
    /// Whether a NETCONF session was ever started (ends the login grace timer's interest).
    started: Arc<AtomicBool>,
}

impl Connection {
    async fn password_ok(&self, user: &str, password: &str) -> bool {
        let Some(hash) = self
            .shared
            .users
            .get(user)
            .and_then(|c| c.password_hash.clone())
        else {
            return false;
        };
        let Ok(_permit) = self.shared.password_checks.acquire().await else {
            return false;
        };
        let password = password.to_owned();
        // argon2 is deliberately slow: keep it off the async workers.
        tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false)
    }

    fn key_ok(&self, user: &str, key: &PublicKey) -> bool {
        self.shared
            .users
            .get(user)
            .is_some_and(|c| c.knows_key(key))
    }
}

impl Handler for Connection {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(reject())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if self.password_ok(user, password).await {
            info!(user, peer = %self.peer, method = "password", "authenticated");
            self.user = Some(user.to_owned());
            Ok(Auth::Accept)
        } else {
            info!(user, peer = %self.peer, method = "password", "authentication failed");
            Ok(reject())
        }
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        // Saves the client a signature for a key that would be refused anyway.
        if self.key_ok(user, offer.public_key) {
            Ok(Auth::Accept)
        } else {
            debug!(user, peer = %self.peer, "public key not authorized");
            Ok(reject())
        }
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if self.key_ok(user, key.public_key) {
            info!(user, peer = %self.peer, method = "publickey", "authenticated");
            self.user = Some(user.to_owned());
            Ok(Auth::Accept)
        } else {
            info!(user, peer = %self.peer, method = "publickey", "authentication failed");
            Ok(reject())
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let registry = &self.shared.settings.registry;
        if registry.len() >= self.shared.max_sessions {
            // Checked again when the subsystem starts; refusing here gives the client a clear
            // "resource shortage" before it waits for a hello.
            warn!(
                limit = self.shared.max_sessions,
                "NETCONF session refused: session limit reached"
            );
            reply.reject(ChannelOpenFailure::ResourceShortage).await;
        } else if self.pending.len() >= MAX_PENDING_CHANNELS {
            reply.reject(ChannelOpenFailure::ResourceShortage).await;
        } else {
            self.pending.insert(channel.id(), channel);
            reply.accept().await;
        }
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.pending.remove(&channel);
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel_id: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if name != "netconf" {
            debug!(peer = %self.peer, subsystem = name, "unknown subsystem refused");
            return session.channel_failure(channel_id);
        }
        let (Some(user), Some(channel)) = (self.user.clone(), self.pending.remove(&channel_id))
        else {
            return session.channel_failure(channel_id);
        };
        let registration = match self
            .shared
            .settings
            .registry
            .register(&user, self.peer.ip())
        {
            Ok(r) => r,
            Err(limit) => {
                warn!(peer = %self.peer, %limit, "NETCONF session refused");
                session.extended_data(channel_id, 1, format!("{limit}\n").into_bytes())?;
                session.channel_failure(channel_id)?;
                return session.close(channel_id);
            }
        };
        session.channel_success(channel_id)?;
        self.started.store(true, Ordering::Release);
        self.live.fetch_add(1, Ordering::AcqRel);
        let handle = session.handle();
        let live = Arc::clone(&self.live);
        let settings = self.shared.settings.clone();
        let span = info_span!("netconf", session = registration.id, peer = %self.peer);
        tokio::spawn(
            async move {
                session::run(channel.into_stream(), user, registration, settings).await;
                // One NETCONF session per SSH connection in practice: when the last one ends,
                // so does the connection, and the client sees its transport close.
                if live.fetch_sub(1, Ordering::AcqRel) == 1 {
                    let _ = handle
                        .disconnect(
                            Disconnect::ByApplication,
                            "NETCONF session ended".into(),
                            "en".into(),
                        )
                        .await;
                }
            }
            .instrument(span),
        );
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        debug!(peer = %self.peer, "shell refused");
        session.channel_failure(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        debug!(peer = %self.peer, "exec refused");
        session.channel_failure(channel)
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _variable_name: &str,
        _variable_value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn host_key_generated_once_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/host_ed25519");
        let k1 = load_or_create_host_key(&path).unwrap();
        assert_eq!(k1.algorithm(), ssh_key::Algorithm::Ed25519);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        let k2 = load_or_create_host_key(&path).unwrap();
        assert_eq!(k1.public_key().key_data(), k2.public_key().key_data());
    }

    #[test]
    fn unreadable_host_key_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad");
        std::fs::write(&path, "not a key").unwrap();
        assert!(matches!(
            load_or_create_host_key(&path),
            Err(ServerError::HostKeyLoad { .. })
        ));
    }

    #[test]
    fn users_are_checked() {
        let key = generate_host_key()
            .unwrap()
            .public_key()
            .to_openssh()
            .unwrap();
        let good = User {
            name: "a".into(),
            password_hash: None,
            authorized_keys: vec![format!("{key} a@host")],
        };
        let users = check_users(std::slice::from_ref(&good)).unwrap();
        let parsed = PublicKey::from_openssh(&key).unwrap();
        assert!(users["a"].knows_key(&parsed));

        let with_opts = User {
            authorized_keys: vec![format!("from=\"10.0.0.1\" {key}")],
            ..good.clone()
        };
        assert!(matches!(
            check_users(&[with_opts]),
            Err(ServerError::AuthorizedKey { .. })
        ));
        let garbage = User {
            authorized_keys: vec!["ssh-ed25519 !!!".into()],
            ..good.clone()
        };
        assert!(matches!(
            check_users(&[garbage]),
            Err(ServerError::AuthorizedKey { .. })
        ));
        let bad_hash = User {
            password_hash: Some("plaintext".into()),
            ..good.clone()
        };
        assert!(matches!(
            check_users(&[bad_hash]),
            Err(ServerError::PasswordHash { .. })
        ));
        assert!(matches!(
            check_users(&[good.clone(), good]),
            Err(ServerError::DuplicateUser(_))
        ));
    }

    #[test]
    fn password_hash_round_trip() {
        let h = hash_password("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        let parsed = PasswordHash::new(&h).unwrap();
        assert!(Argon2::default()
            .verify_password(b"s3cret", &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"wrong", &parsed)
            .is_err());
    }
}
