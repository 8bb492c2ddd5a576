//! Start-up and shutdown of the daemon: load the startup datastore, load leases, open sockets,
//! start the engines, report readiness, stop cleanly on SIGTERM or SIGINT.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::{Durability, RuntimeConfig};
use crate::dhcp4::LeaseState4;
use crate::lease::memfile::{self, MemfileWriter};
use crate::net::notify::notify;
use crate::northbound::{self, startup, Problem};
use crate::server4::{self, Engine4};
use crate::stats::Counters4;

/// Why the daemon could not start or a check failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The YANG modules did not load (a build defect).
    #[error("{0}")]
    Yang(#[from] yang::ContextError),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The state directory could not be created.
    #[error("cannot create state directory {path}: {source}")]
    StateDir {
        /// Directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The configuration is invalid.
    #[error("{origin} is invalid:\n{}", format_problems(.problems))]
    Invalid {
        /// Where the configuration came from.
        origin: String,
        /// Every problem found.
        problems: Vec<Problem>,
    },
    /// The startup datastore could not be read or written.
    #[error(transparent)]
    Startup(#[from] startup::StartupError),
    /// Leases could not be loaded.
    #[error(transparent)]
    Load(#[from] memfile::LoadError),
    /// The lease file could not be opened for writing.
    #[error(transparent)]
    Memfile(#[from] memfile::MemfileError),
    /// A socket could not be opened.
    #[error(transparent)]
    Socket(#[from] crate::net::socket4::SocketError),
    /// Another daemon uses the state directory.
    #[error("{0} is locked: another netdhcpd uses this state directory")]
    Locked(PathBuf),
    /// Signal handling or the engine thread failed.
    #[error("{0}")]
    Runtime(String),
}

fn format_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sets up tracing: RUST_LOG if set, else `level`.
pub fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// `netdhcpd check FILE`.
pub fn check(file: &Path) -> Result<(), AppError> {
    let text = std::fs::read_to_string(file).map_err(|source| AppError::Read {
        path: file.into(),
        source,
    })?;
    let ctx = yang::context()?;
    let result = northbound::validate_document(ctx, &text).map(|v| v.runtime);
    match result {
        Ok(runtime) => {
            let d = &runtime.dhcp4;
            println!(
                "{}: valid ({} DHCPv4 subnets, {} pools, {} reservations)",
                file.display(),
                d.subnets.len(),
                d.subnets.iter().map(|s| s.pools.len()).sum::<usize>(),
                d.subnets
                    .iter()
                    .map(|s| s.reservations.len())
                    .sum::<usize>(),
            );
            Ok(())
        }
        Err(problems) => Err(AppError::Invalid {
            origin: file.display().to_string(),
            problems,
        }),
    }
}

/// The configuration to start with: `--startup FILE` (which then becomes the startup
/// datastore), else the startup datastore, else the empty default (serves nothing until
/// configured).
fn startup_config(state_dir: &Path, seed: Option<&Path>) -> Result<RuntimeConfig, AppError> {
    let ctx = yang::context()?;
    let (text, origin) = match seed {
        Some(file) => (
            std::fs::read_to_string(file).map_err(|source| AppError::Read {
                path: file.into(),
                source,
            })?,
            file.display().to_string(),
        ),
        None => match startup::read(state_dir)? {
            Some(text) => (text, startup::path(state_dir).display().to_string()),
            None => (
                String::new(),
                "the built-in default configuration".to_string(),
            ),
        },
    };
    let validated = northbound::validate_document(ctx, &text)
        .map_err(|problems| AppError::Invalid { origin, problems })?;
    if seed.is_some() {
        startup::write(state_dir, &validated.to_xml())?;
    }
    let runtime = validated.runtime;
    Ok(runtime)
}

fn lease_path(state_dir: &Path, configured: &Path) -> PathBuf {
    if configured.is_absolute() {
        configured.to_path_buf()
    } else {
        state_dir.join(configured)
    }
}

/// Holds an exclusive lock on the state directory for the life of the process, so two daemons
/// never append to the same lease file.
fn lock_state_dir(state_dir: &Path) -> Result<std::fs::File, AppError> {
    use std::os::fd::AsRawFd;
    let path = state_dir.join("netdhcpd.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| AppError::StateDir {
            path: path.clone(),
            source,
        })?;
    // SAFETY: flock on a descriptor we own; the lock lives as long as the file.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(AppError::Locked(path));
    }
    Ok(file)
}

/// `netdhcpd run`.
pub fn run(state_dir: &Path, seed: Option<&Path>) -> Result<(), AppError> {
    std::fs::create_dir_all(state_dir).map_err(|source| AppError::StateDir {
        path: state_dir.into(),
        source,
    })?;
    let _lock = lock_state_dir(state_dir)?;

    let config = startup_config(state_dir, seed)?;
    let lease_file = lease_path(state_dir, &config.lease_db.memfile_v4);
    tracing::info!(file = %lease_file.display(), "loading DHCPv4 leases");
    let (store, report) = memfile::load4(
        &memfile::memfile_files(&lease_file),
        config.lease_db.max_bad_rows,
    )?;
    tracing::info!(?report, "DHCPv4 leases loaded");
    let durability = match config.lease_db.durability {
        Durability::Fsync => memfile::Durability::Fsync,
        Durability::None => memfile::Durability::None,
    };
    let writer = Arc::new(MemfileWriter::open(&lease_file, durability)?);
    let sockets = server4::initial_sockets(&config)?;
    let shared = Arc::new(ArcSwap::from_pointee(config));
    let shutdown = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters4::default());
    let engine = Engine4::new(
        shared.clone(),
        LeaseState4::new(store),
        writer.clone(),
        sockets,
        counters.clone(),
        shutdown.clone(),
    );
    let engine = std::thread::Builder::new()
        .name("dhcp4".into())
        .spawn(move || engine.run())
        .map_err(|e| AppError::Runtime(format!("cannot start the DHCPv4 engine: {e}")))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| AppError::Runtime(format!("cannot start the runtime: {e}")))?;
    let result = runtime.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term =
            signal(SignalKind::terminate()).map_err(|e| AppError::Runtime(e.to_string()))?;
        let mut int =
            signal(SignalKind::interrupt()).map_err(|e| AppError::Runtime(e.to_string()))?;
        notify("READY=1");
        tracing::info!(state_dir = %state_dir.display(), "netdhcpd ready");
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
        Ok::<(), AppError>(())
    });
    notify("STOPPING=1");
    shutdown.store(true, Ordering::Relaxed);
    if engine.join().is_err() {
        tracing::error!("the DHCPv4 engine panicked");
    }
    if let Err(e) = writer.flush_and_wait() {
        tracing::error!(error = %e, "lease file flush at shutdown failed");
    }
    result
}
