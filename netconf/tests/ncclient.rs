//! The NETCONF server on 127.0.0.1 driven by real clients: ncclient, and paramiko for the
//! cases ncclient cannot express (malformed XML, rpc attributes, auth retry on one
//! connection). A tiny in-test backend stands in for the datastore: it answers get-config
//! with a fixed tree, records edit-configs and filters, and keeps per-session locks, which
//! is all the protocol layer needs.
//!
//! Needs the project's Python venv with ncclient (`scripts/setup.sh`); the tests fail, with
//! that message, when it is missing. Measurements are printed (`cargo test -p netconf
//! --test ncclient -- --nocapture`).

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netconf::rpc::{Datastore, Filter};
use netconf::{
    hash_password, NetconfServer, Operation, Reply, Request, RpcError, ServerConfig, User,
};
use russh::keys::ssh_key::{private::Ed25519Keypair, LineEnding};
use russh::keys::PrivateKey;
use tokio::sync::{mpsc, oneshot};

const TEST_CAP: &str = "urn:example:netconf-test:capability:1.0";
const TEST_NS: &str = "urn:example:netconf-test";
const PASSWORD: &str = "correct horse battery staple";
/// How long one client scenario may take before the test fails (debug builds, 2 cores).
const SCENARIO_LIMIT: Duration = Duration::from_secs(180);

/// What the in-test backend saw.
#[derive(Debug, Default)]
struct Recorded {
    edits: Vec<String>,
    get_config_filters: Vec<Option<Filter>>,
    ended: Vec<u32>,
}

async fn backend(mut rx: mpsc::Receiver<Request>, rec: Arc<Mutex<Recorded>>) {
    let fixed = format!("<top xmlns=\"{TEST_NS}\"><name>fixed-value</name></top>");
    let big = format!(
        "<big xmlns=\"{TEST_NS}\">{}</big>",
        "<item>0123456789abcdef0123456789abcdef</item>".repeat(8000)
    );
    let mut locks: HashMap<Datastore, u32> = HashMap::new();
    while let Some(request) = rx.recv().await {
        match request {
            Request::Rpc { session, op, reply } => {
                let answer = match op {
                    Operation::GetConfig { filter, .. } => {
                        rec.lock().unwrap().get_config_filters.push(filter);
                        Ok(Reply::Data(fixed.clone()))
                    }
                    Operation::Get {
                        filter: Some(Filter::Subtree(f)),
                        ..
                    } if f.contains("<big") => Ok(Reply::Data(big.clone())),
                    Operation::Get { .. } => Ok(Reply::Data(fixed.clone())),
                    Operation::EditConfig { config, .. } => {
                        rec.lock().unwrap().edits.push(config);
                        Ok(Reply::Ok)
                    }
                    Operation::Lock { target } => match locks.get(&target) {
                        Some(&holder) if holder != session.id => {
                            Err(vec![RpcError::lock_denied(holder)])
                        }
                        _ => {
                            locks.insert(target, session.id);
                            Ok(Reply::Ok)
                        }
                    },
                    Operation::Unlock { target } => {
                        locks.remove(&target);
                        Ok(Reply::Ok)
                    }
                    Operation::Other { name, .. } => {
                        Err(vec![RpcError::operation_not_supported(&name)])
                    }
                    _ => Ok(Reply::Ok),
                };
                let _ = reply.send(answer);
            }
            Request::SessionEnded { id } => {
                locks.retain(|_, holder| *holder != id);
                rec.lock().unwrap().ended.push(id);
            }
        }
    }
}

struct TestServer {
    port: u16,
    dir: tempfile::TempDir,
    recorded: Arc<Mutex<Recorded>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), netconf::ServerError>>,
    backend: tokio::task::JoinHandle<()>,
}

fn write_private(path: &Path, text: &str) {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

impl TestServer {
    async fn start(idle_timeout: Duration, max_sessions: usize) -> TestServer {
        // RUST_LOG=debug shows the server's (and russh's) side of a failing scenario.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap();
        let client_key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
        write_private(
            &dir.path().join("client_key"),
            &client_key.to_openssh(LineEnding::LF).unwrap(),
        );
        let client_pub = client_key.public_key().to_openssh().unwrap();

        let users = vec![
            User {
                name: "alice".into(),
                password_hash: Some(hash_password(PASSWORD).unwrap()),
                authorized_keys: vec![],
            },
            User {
                name: "bob".into(),
                password_hash: None,
                authorized_keys: vec![format!("{client_pub} bob@test")],
            },
        ];
        let mut config = ServerConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            dir.path().join("host_key"),
            users,
        );
        config.idle_timeout = idle_timeout;
        config.max_sessions = max_sessions;
        let (tx, rx) = mpsc::channel(64);
        let caps = vec![
            TEST_CAP.to_owned(),
            "urn:ietf:params:netconf:capability:candidate:1.0".to_owned(),
            "urn:ietf:params:netconf:capability:xpath:1.0".to_owned(),
        ];
        let server = NetconfServer::new(config, caps, tx).unwrap();
        let port = server.local_addr().port();
        // Real host key verification: the client trusts exactly this key for this address.
        std::fs::write(
            dir.path().join("known_hosts"),
            format!("[127.0.0.1]:{port} {}\n", server.host_public_key()),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("ssh_config"),
            format!(
                "Host *\n    UserKnownHostsFile {}\n",
                dir.path().join("known_hosts").display()
            ),
        )
        .unwrap();
        let recorded = Arc::new(Mutex::new(Recorded::default()));
        let backend = tokio::spawn(backend(rx, Arc::clone(&recorded)));
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stop_rx.await;
        }));
        TestServer {
            port,
            dir,
            recorded,
            shutdown: Some(stop_tx),
            task,
            backend,
        }
    }

    /// Runs one driver scenario; panics with the driver's output if it fails.
    async fn scenario(&self, name: &str, extra: &[&str]) -> String {
        let python = python();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ncclient_driver.py");
        let d = self.dir.path();
        let mut cmd = tokio::process::Command::new(&python);
        cmd.arg(&script)
            .arg(name)
            .args(["--port", &self.port.to_string()])
            .arg("--ssh-config")
            .arg(d.join("ssh_config"))
            .arg("--known-hosts")
            .arg(d.join("known_hosts"))
            .args([
                "--user",
                "alice",
                "--password",
                PASSWORD,
                "--key-user",
                "bob",
            ])
            .arg("--key")
            .arg(d.join("client_key"))
            .args(extra)
            // Keep the developer's ~/.ssh and agent out of it.
            .env("HOME", d)
            .env_remove("SSH_AUTH_SOCK")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = Instant::now();
        let out = tokio::time::timeout(SCENARIO_LIMIT, cmd.output())
            .await
            .unwrap_or_else(|_| panic!("scenario {name} took more than {SCENARIO_LIMIT:?}"))
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "scenario {name} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            out.status
        );
        let result = stdout.lines().last().unwrap_or_default().to_owned();
        println!("{result} (wall {:.2} s)", started.elapsed().as_secs_f64());
        result
    }

    async fn stop(mut self) -> Arc<Mutex<Recorded>> {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        // The backend ends when the last sender (every session holds one) is gone: by then it
        // has seen every SessionEnded.
        tokio::time::timeout(Duration::from_secs(15), self.backend)
            .await
            .expect("a session outlived the server")
            .unwrap();
        self.recorded
    }
}

/// The venv's Python, checked to have ncclient: a missing client is a failure, not a skip.
fn python() -> PathBuf {
    let path = std::env::var_os("NETCONF_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"));
    let ok = std::process::Command::new(&path)
        .args(["-c", "import ncclient, paramiko"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{} cannot import ncclient: run scripts/setup.sh (or set NETCONF_TEST_PYTHON)",
        path.display()
    );
    path
}

const LONG: Duration = Duration::from_secs(3600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_chunked_framing_data_and_edit_config() {
    let server = TestServer::start(LONG, 64).await;
    server.scenario("hello", &[]).await;
    let rec = server.stop().await;
    let rec = rec.lock().unwrap();
    // The edit reached the backend with its namespaces made explicit on the top element.
    assert_eq!(rec.edits.len(), 1);
    assert_eq!(
        rec.edits[0],
        format!("<top xmlns:nc=\"urn:ietf:params:xml:ns:netconf:base:1.0\" xmlns=\"{TEST_NS}\" xmlns:t=\"{TEST_NS}\"><name>edited</name></top>")
    );
    // The xpath filter came with the prefix map.
    let xpath = rec
        .get_config_filters
        .iter()
        .flatten()
        .find_map(|f| match f {
            Filter::XPath { select, namespaces } => Some((select.clone(), namespaces.clone())),
            Filter::Subtree(_) => None,
        })
        .expect("an xpath filter");
    assert_eq!(xpath.0, "/t:top");
    assert_eq!(xpath.1.get("t").map(String::as_str), Some(TEST_NS));
    assert_eq!(rec.ended.len(), 1, "one SessionEnded per session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_operation_is_not_supported() {
    let server = TestServer::start(LONG, 64).await;
    server.scenario("unknown_op", &[]).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_xml_attributes_and_refused_channels() {
    let server = TestServer::start(LONG, 64).await;
    server.scenario("raw", &[]).await;
    server.stop().await;
}

// russh 0.65.1 ignores the ssh-userauth SERVICE_REQUEST that paramiko (ncclient,
// netconf-console2) sends again before each attempt, so paramiko's second attempt on one
// connection waits for its timeout. OpenSSH clients, one-attempt logins and new connections
// are not affected. Run with --ignored to check a russh release for the fix.
#[ignore = "russh 0.65.1: paramiko's second auth attempt on one connection stalls (README, NETCONF)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_auth_bad_then_good() {
    let server = TestServer::start(LONG, 64).await;
    server.scenario("password", &[]).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_key_auth() {
    let server = TestServer::start(LONG, 64).await;
    server.scenario("publickey", &[]).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_session_ends_the_other_session() {
    let server = TestServer::start(LONG, 64).await;
    server.scenario("kill", &[]).await;
    let rec = server.stop().await;
    assert_eq!(rec.lock().unwrap().ended.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_closes_the_session() {
    let server = TestServer::start(Duration::from_secs(1), 64).await;
    let out = server.scenario("idle", &[]).await;
    server.stop().await;
    // The driver measured from connect to disconnect: about the timeout, not much more.
    let secs: f64 = out
        .split("\"idle_closed_after_s\": ")
        .nth(1)
        .and_then(|s| s.trim_end_matches('}').parse().ok())
        .unwrap();
    assert!(secs < 5.0, "idle session closed after {secs} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_parallel_sessions() {
    let server = TestServer::start(LONG, 64).await;
    let started = Instant::now();
    server.scenario("parallel", &["--sessions", "20"]).await;
    let elapsed = started.elapsed();
    let rec = server.stop().await;
    assert_eq!(rec.lock().unwrap().ended.len(), 20);
    assert!(
        elapsed < Duration::from_secs(90),
        "20 sessions took {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_limit_refuses_clearly() {
    let server = TestServer::start(LONG, 1).await;
    server.scenario("limit", &[]).await;
    server.stop().await;
}
