//! Start-up and shutdown of the daemon: load the startup datastore, load leases, open sockets,
//! start the engines, report readiness, stop cleanly on SIGTERM or SIGINT.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::Durability;
use crate::dhcp4::LeaseState4;
use crate::ha::driver::HaService;
use crate::ha::port::HaPort;
use crate::ha::subsystem::HaSubsystem;
use crate::lease::memfile::{self, MemfileWriter};
use crate::net::notify::notify;
use crate::northbound::actor::Northbound;
use crate::northbound::commit::Committer;
use crate::northbound::datastore::{self, Datastores};
use crate::northbound::{self, startup, Problem, ValidatedConfig};
use crate::server4::{self, Engine4};
use crate::server6;
use crate::settings::{self, Settings, SettingsError};
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
    /// The start-up settings are unusable.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The NETCONF server could not start.
    #[error("NETCONF server: {0}")]
    Netconf(String),
    /// Another daemon uses the state directory.
    #[error("{0} is locked: another netdhcpd uses this state directory")]
    Locked(PathBuf),
    /// Signal handling or the engine thread failed.
    #[error("{0}")]
    Runtime(String),
    /// A Kea configuration could not be imported.
    #[error(transparent)]
    ImportKea(#[from] crate::import_kea::ImportError),
    /// An output file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

fn format_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sets up tracing: RUST_LOG if set, else `level`; `/server/logging` changes it live.
pub fn init_logging(level: &str) {
    crate::logging::init(level);
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
            let d6 = &runtime.dhcp6;
            if !d6.subnets.is_empty() {
                println!(
                    "{}: {} DHCPv6 subnets, {} pools, {} prefix pools, {} reservations",
                    file.display(),
                    d6.subnets.len(),
                    d6.subnets.iter().map(|s| s.pools.len()).sum::<usize>(),
                    d6.subnets.iter().map(|s| s.pd_pools.len()).sum::<usize>(),
                    d6.subnets
                        .iter()
                        .map(|s| s.reservations.len())
                        .sum::<usize>(),
                );
            }
            Ok(())
        }
        Err(problems) => Err(AppError::Invalid {
            origin: file.display().to_string(),
            problems,
        }),
    }
}

/// What `netdhcpd run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// State directory.
    pub state_dir: PathBuf,
    /// `--startup FILE`: becomes the startup datastore.
    pub seed: Option<PathBuf>,
    /// `--settings FILE`.
    pub settings: Option<PathBuf>,
}

fn read_file(path: &Path) -> Result<String, AppError> {
    std::fs::read_to_string(path).map_err(|source| AppError::Read {
        path: path.into(),
        source,
    })
}

fn validated(text: &str, origin: String) -> Result<ValidatedConfig<'static>, AppError> {
    let ctx = yang::context()?;
    let mut config =
        northbound::validate_document(ctx, text).map_err(|problems| AppError::Invalid {
            origin: origin.clone(),
            problems,
        })?;
    // A configuration with no access control at all gets the default policy, so the users
    // of an installation configured before access control keep their rights.
    if northbound::nacm::tree::add_default_policy(ctx, &mut config.tree) {
        tracing::info!(%origin, "no /nacm in the configuration: the default access control policy applies");
    }
    Ok(config)
}

/// The startup datastore (after `--startup FILE` replaced it, if given) and the configuration
/// to run: startup, or the saved running configuration when running is persistent.
fn initial_configuration(
    opts: &RunOptions,
    settings: &Settings,
) -> Result<(ValidatedConfig<'static>, ValidatedConfig<'static>), AppError> {
    let state_dir = &opts.state_dir;
    let startup_cfg = match &opts.seed {
        Some(file) => {
            let v = validated(&read_file(file)?, file.display().to_string())?;
            startup::write(state_dir, &v.to_xml())?;
            v
        }
        None => match startup::read(state_dir)? {
            Some(text) => validated(&text, startup::path(state_dir).display().to_string())?,
            None => validated("", "the built-in default configuration".into())?,
        },
    };
    let running_file = state_dir.join("running.xml");
    let running_cfg =
        if settings.datastore.running_persistent && opts.seed.is_none() && running_file.exists() {
            validated(
                &read_file(&running_file)?,
                running_file.display().to_string(),
            )?
        } else {
            validated(&startup_cfg.to_xml(), "the startup datastore".into())?
        };
    Ok((startup_cfg, running_cfg))
}

/// `netdhcpd run`.
pub fn run(opts: &RunOptions) -> Result<(), AppError> {
    let state_dir = opts.state_dir.as_path();
    std::fs::create_dir_all(state_dir).map_err(|source| AppError::StateDir {
        path: state_dir.into(),
        source,
    })?;
    let _lock = lock_state_dir(state_dir)?;
    let mut settings = match &opts.settings {
        Some(path) => Settings::load(path)?,
        None => Settings::default(),
    };
    if settings.netconf.enabled && settings.users.is_empty() {
        settings
            .users
            .push(settings::first_start_admin(state_dir, |p| {
                netconf::ssh::hash_password(p).map_err(|e| e.to_string())
            })?);
    }
    let ctx = yang::context()?;
    let (startup_cfg, running_cfg) = initial_configuration(opts, &settings)?;
    let config = running_cfg.runtime.clone();
    if let Some(ha) = &config.ha {
        crate::ha::subsystem::check(None, ha).map_err(|e| {
            AppError::Runtime(format!(
                "failover: {} ({})",
                e.message.as_deref().unwrap_or("cannot start"),
                e.path.as_deref().unwrap_or(yang::paths::HA)
            ))
        })?;
    }

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
    writer.stats().rows_loaded(report.rows_read);
    let sockets = server4::initial_sockets(&config)?;
    let (ha_config, ha_config_rx) = tokio::sync::watch::channel(config.ha.clone().map(Arc::new));
    let shared = Arc::new(ArcSwap::from_pointee(config));
    let shutdown = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters4::default());
    let usage = Arc::new(ArcSwap::from_pointee(crate::stats::Usage4::default()));
    let (ha_port, ha_queues) =
        HaPort::new().map_err(|e| AppError::Runtime(format!("failover port: {e}")))?;
    let engine = Engine4::new(
        shared.clone(),
        LeaseState4::new(store),
        writer.clone(),
        sockets.clone(),
        counters.clone(),
        usage.clone(),
        shutdown.clone(),
        ha_port.clone(),
    );
    let engine = std::thread::Builder::new()
        .name("dhcp4".into())
        .spawn(move || engine.run())
        .map_err(|e| AppError::Runtime(format!("cannot start the DHCPv4 engine: {e}")))?;
    let (v6, v6_subsystem) =
        server6::start(shared.clone(), state_dir, shutdown.clone(), ha_port.clone())
            .map_err(AppError::Runtime)?;

    let committer = Committer {
        config: shared.clone(),
        subsystems: vec![
            Box::new(server4::Dhcp4Subsystem { sockets }),
            Box::new(v6_subsystem),
            Box::new(HaSubsystem { config: ha_config }),
            Box::new(crate::logging::LoggingSubsystem),
        ],
    };
    let datastores = Datastores::new(
        ctx,
        running_cfg,
        startup_cfg.tree,
        datastore::Settings {
            state_dir: state_dir.to_path_buf(),
            running_persistent: settings.datastore.running_persistent,
        },
    );
    let sources = crate::northbound::state::Sources {
        started: std::time::SystemTime::now(),
        lease_file: lease_file.clone(),
        counters4: counters.clone(),
        usage4: usage,
        ha: ha_port.clone(),
        lease_writers: vec![writer.clone(), v6.writer.clone()],
        counters6: v6.counters.clone(),
        usage6: v6.usage.clone(),
    };
    let metrics_sources = Arc::new(sources.clone());
    let mut nb = Northbound::new(datastores, committer, sources);
    nb.set_access_control(settings.nacm.external_groups());
    nb.set_max_leases_in_get(settings.netconf.max_leases_in_get);
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    let netconf = crate::netconf_server::build(
        &settings,
        state_dir,
        nb.capabilities(),
        tx,
        nb.access_control().notification_hook(ctx),
        nb.access_control().operation_hook(ctx),
    )?;
    let mut notification_feed = None;
    if let Some(server) = &netconf {
        nb.set_sessions(server.sessions());
        notification_feed = Some((
            server.notifications(),
            nb.set_notifications(server.notifications()),
        ));
    }
    let northbound = std::thread::Builder::new()
        .name("northbound".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
            {
                Ok(rt) => rt.block_on(nb.run(rx)),
                Err(e) => tracing::error!(error = %e, "cannot start the northbound runtime"),
            }
        })
        .map_err(|e| AppError::Runtime(format!("cannot start the northbound: {e}")))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| AppError::Runtime(format!("cannot start the runtime: {e}")))?;
    let (ha_stop, ha_stop_rx) = tokio::sync::watch::channel(false);
    let ha_service =
        runtime.spawn(HaService::new(ha_port, ha_queues, ha_config_rx).run(ha_stop_rx));
    if let Some((publisher, thresholds)) = notification_feed {
        runtime.spawn(crate::northbound::notifications::run(
            publisher,
            metrics_sources.clone(),
            thresholds,
            ha_stop.subscribe(),
        ));
    }
    if settings.metrics.enabled {
        let server = runtime
            .block_on(crate::metrics::bind(
                settings.metrics.listen,
                metrics_sources,
            ))
            .map_err(|e| AppError::Runtime(e.to_string()))?;
        runtime.spawn(server);
    }
    let result = runtime.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term =
            signal(SignalKind::terminate()).map_err(|e| AppError::Runtime(e.to_string()))?;
        let mut int =
            signal(SignalKind::interrupt()).map_err(|e| AppError::Runtime(e.to_string()))?;
        let stop = async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = int.recv() => tracing::info!("SIGINT: shutting down"),
            }
        };
        crate::netconf_server::serve(netconf, stop).await
    });
    notify("STOPPING=1");
    let _ = ha_stop.send(true);
    if runtime.block_on(ha_service).is_err() {
        tracing::error!("the failover service panicked");
    }
    shutdown.store(true, Ordering::Relaxed);
    if engine.join().is_err() {
        tracing::error!("the DHCPv4 engine panicked");
    }
    v6.stop();
    if northbound.join().is_err() {
        tracing::error!("the northbound panicked");
    }
    if let Err(e) = writer.flush_and_wait() {
        tracing::error!(error = %e, "lease file flush at shutdown failed");
    }
    result
}

/// `netdhcpd hash-password`: one line from standard input, its argon2 hash on standard output.
pub fn hash_password() -> Result<(), AppError> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|source| AppError::Read {
            path: "standard input".into(),
            source,
        })?;
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err(AppError::Runtime("no password on standard input".into()));
    }
    let hash =
        netconf::ssh::hash_password(password).map_err(|e| AppError::Runtime(e.to_string()))?;
    println!("{hash}");
    Ok(())
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

/// `netdhcpd import-kea FILE [FILE] [-o OUT]`: the netdhcp document converted from Kea
/// configuration files on standard output (or in `output`); each Kea setting it does not
/// carry, and any problem `netdhcpd check` would find in it, on standard error. Only an
/// unreadable file or one that is not a Kea configuration is an error.
pub fn import_kea(files: &[PathBuf], output: Option<&Path>) -> Result<(), AppError> {
    let inputs = files
        .iter()
        .map(|f| {
            Ok(crate::import_kea::KeaFile {
                origin: f.display().to_string(),
                text: read_file(f)?,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let conversion = crate::import_kea::import(&inputs)?;
    for unsupported in &conversion.report {
        eprintln!("{unsupported}");
    }
    // The document is written even when it does not validate: the operator edits it.
    if let Err(problems) = northbound::validate_document(yang::context()?, &conversion.document) {
        eprintln!(
            "the converted document does not pass `netdhcpd check` yet:\n{}",
            format_problems(&problems)
        );
    }
    match output {
        Some(path) => {
            std::fs::write(path, &conversion.document).map_err(|source| AppError::Write {
                path: path.into(),
                source,
            })
        }
        None => {
            print!("{}", conversion.document);
            Ok(())
        }
    }
}
