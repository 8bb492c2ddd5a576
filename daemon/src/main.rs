//! `netdhcpd`: command line, start-up, wiring and graceful shutdown.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use netdhcpd::app;

/// netdhcp: a DHCPv4 server whose configuration is a YANG datastore.
#[derive(Parser, Debug)]
#[command(name = "netdhcpd", version, about)]
struct Cli {
    /// Log filter (tracing EnvFilter syntax, e.g. "info" or "netdhcpd=debug"); RUST_LOG wins.
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server.
    Run {
        /// Directory for the startup datastore, lease files, SSH host key (created if missing).
        #[arg(long, default_value = "/var/lib/netdhcp")]
        state_dir: PathBuf,
        /// Replace the startup datastore with this instance document (XML or JSON) after
        /// validating it.
        #[arg(long)]
        startup: Option<PathBuf>,
        /// Start-up settings (TOML): NETCONF address, users, persistence of running.
        #[arg(long)]
        settings: Option<PathBuf>,
    },
    /// Read a password on standard input and print its hash for the settings file.
    HashPassword,

    /// Convert an ISC Kea 2.2 configuration (kea-dhcp4.conf, kea-dhcp6.conf, or one file with
    /// both) to a netdhcp instance document; each Kea setting it cannot express is listed on
    /// standard error with its JSON path.
    ImportKea {
        /// Kea configuration files (JSON with comments), at most one per family.
        #[arg(required = true, num_args = 1..=2)]
        files: Vec<PathBuf>,
        /// Write the document here instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },

    /// Validate a configuration file (XML or JSON instance document) and exit: 0 when valid,
    /// 1 with every error and its path otherwise.
    Check {
        /// The file to check.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    app::init_logging(&cli.log_level);
    let result = match cli.command {
        Command::Run {
            state_dir,
            startup,
            settings,
        } => app::run(&app::RunOptions {
            state_dir,
            seed: startup,
            settings,
        }),
        Command::HashPassword => app::hash_password(),

        Command::Check { file } => app::check(&file),
        Command::ImportKea { files, output } => app::import_kea(&files, output.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netdhcpd: {e}");
            ExitCode::FAILURE
        }
    }
}
