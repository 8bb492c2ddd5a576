//! Start-up settings: what the daemon needs before the datastore exists (NETCONF listen
//! address, users and their credentials, persistence of running). Read from a small TOML file;
//! everything about DHCP lives in the YANG datastore instead.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Errors reading the settings file.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read.
    #[error("cannot read settings file {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML for these settings.
    #[error("settings file {path} is invalid: {source}")]
    Parse {
        /// File.
        path: PathBuf,
        /// Cause, with line and column.
        source: toml::de::Error,
    },
    /// A user entry is unusable.
    #[error("settings file {path}: user {user}: {why}")]
    User {
        /// File.
        path: PathBuf,
        /// User name.
        user: String,
        /// What is wrong.
        why: String,
    },
    /// The first-start administrator credentials could not be written.
    #[error("cannot write {path}: {source}")]
    Credentials {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// One NETCONF user.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Login name.
    pub name: String,
    /// argon2 PHC string (`netdhcpd hash-password` makes one); absent: no password login.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// OpenSSH public keys (authorized_keys lines).
    #[serde(default)]
    pub authorized_keys: Vec<String>,
}

/// The `[netconf]` table.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct NetconfSettings {
    /// Whether the NETCONF server runs.
    pub enabled: bool,
    /// Address and port; loopback unless the operator says otherwise.
    pub listen: SocketAddr,
    /// Seconds a session may stay idle.
    pub idle_timeout_secs: u64,
    /// Sessions at once.
    pub max_sessions: usize,
    /// SSH host key (created on first start); relative to the state directory.
    pub host_key: PathBuf,
    /// Notifications kept for replay (`<create-subscription>` with a `startTime`); the
    /// oldest is dropped beyond this. 0 turns replay off.
    pub replay_buffer: usize,
    /// Leases (DHCPv4 and DHCPv6 together) a `<get>` may return in `/server/state`; a get
    /// selecting more fails with error-tag too-big, and the paged get-leases4/get-leases6
    /// RPCs list them instead. Keeps a reply (built whole in memory) bounded.
    pub max_leases_in_get: usize,
}

impl Default for NetconfSettings {
    fn default() -> Self {
        NetconfSettings {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 830)),
            idle_timeout_secs: 3600,
            max_sessions: 64,
            host_key: PathBuf::from("ssh_host_ed25519_key"),
            replay_buffer: netconf::notification::DEFAULT_REPLAY_BUFFER,
            max_leases_in_get: crate::northbound::lease_state::DEFAULT_MAX_LEASES_IN_GET,
        }
    }
}

/// The `[datastore]` table.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DatastoreSettings {
    /// Save running on every commit and load it at start, instead of startup. Off by default:
    /// NETCONF's :startup capability says the startup datastore is what a restart loads, so a
    /// mistaken commit is undone by a restart unless it was copied to startup.
    pub running_persistent: bool,
}

/// The `[metrics]` table: the Prometheus endpoint.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Serve `GET /metrics`. Off by default.
    pub enabled: bool,
    /// Where; loopback by default, as the page needs no credentials.
    pub listen: SocketAddr,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            enabled: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 9410)),
        }
    }
}

/// The `[nacm]` table: NETCONF access control (RFC 8341) settings that cannot live in the
/// datastore. The rules themselves are `/nacm` in running.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct NacmSettings {
    /// Sessions of this user bypass access control (the RFC 8341 recovery session), to repair
    /// a `/nacm` that locks everyone out. None by default.
    pub recovery_user: Option<String>,
    /// External groups (used while `/nacm/enable-external-groups` is true): group name to its
    /// user names. When absent, every user is in the group `admin`.
    pub groups: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

impl NacmSettings {
    /// The form access control uses.
    pub fn external_groups(&self) -> crate::northbound::nacm::ExternalGroups {
        crate::northbound::nacm::ExternalGroups {
            recovery_user: self.recovery_user.clone(),
            groups: self.groups.clone(),
        }
    }
}

/// All start-up settings.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// NETCONF server.
    pub netconf: NetconfSettings,
    /// Datastore behaviour.
    pub datastore: DatastoreSettings,
    /// Prometheus endpoint.
    pub metrics: MetricsSettings,
    /// Access control.
    pub nacm: NacmSettings,
    /// NETCONF users.
    #[serde(rename = "user")]
    pub users: Vec<User>,
}

impl Settings {
    /// Reads a settings file.
    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.into(),
            source,
        })?;
        let settings: Settings = toml::from_str(&text).map_err(|source| SettingsError::Parse {
            path: path.into(),
            source,
        })?;
        for u in &settings.users {
            if u.password_hash.is_none() && u.authorized_keys.is_empty() {
                return Err(SettingsError::User {
                    path: path.into(),
                    user: u.name.clone(),
                    why: "has neither password_hash nor authorized_keys, so cannot log in".into(),
                });
            }
        }
        Ok(settings)
    }
}

/// When no user is configured, an `admin` user with a random password is created on first
/// start and its password left in `DIR/admin-password` (mode 0600), so a new installation can
/// be configured at once without a default password anyone could guess.
pub fn first_start_admin(
    state_dir: &Path,
    hash: impl Fn(&str) -> Result<String, String>,
) -> Result<User, SettingsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let pw_path = state_dir.join("admin-password");
    let hash_path = state_dir.join("admin-password.hash");
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SettingsError::Credentials { path, source }
    };
    if let Ok(h) = std::fs::read_to_string(&hash_path) {
        return Ok(User {
            name: "admin".into(),
            password_hash: Some(h.trim().to_string()),
            authorized_keys: Vec::new(),
        });
    }
    let mut bytes = [0u8; 18];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .map_err(err(Path::new("/dev/urandom")))?;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let password: String = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    let h = hash(&password).map_err(|why| SettingsError::Credentials {
        path: hash_path.clone(),
        source: std::io::Error::other(why),
    })?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&pw_path)
        .map_err(err(&pw_path))?;
    writeln!(f, "{password}").map_err(err(&pw_path))?;
    std::fs::write(&hash_path, &h).map_err(err(&hash_path))?;
    tracing::warn!(file = %pw_path.display(), "no NETCONF user configured: created user 'admin' with the password in this file");
    Ok(User {
        name: "admin".into(),
        password_hash: Some(h),
        authorized_keys: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_settings() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s.toml");
        std::fs::write(
            &f,
            r#"
[netconf]
listen = "127.0.0.1:8300"
idle_timeout_secs = 60

[datastore]
running_persistent = true

[[user]]
name = "oss"
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$abc$def"

[[user]]
name = "bot"
authorized_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBogus bot@example"]
"#,
        )
        .unwrap();
        let s = Settings::load(&f).unwrap();
        assert_eq!(s.netconf.listen.port(), 8300);
        assert_eq!(s.netconf.max_sessions, 64);
        assert_eq!(s.netconf.max_leases_in_get, 10_000);
        assert!(s.datastore.running_persistent);
        assert_eq!(s.users.len(), 2);
    }

    #[test]
    fn parses_nacm_table() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s.toml");
        std::fs::write(
            &f,
            "[nacm]\nrecovery_user = \"rescue\"\n[nacm.groups]\nadmin = [\"oss\"]\noperator = [\"noc\", \"bot\"]\n",
        )
        .unwrap();
        let s = Settings::load(&f).unwrap();
        assert_eq!(s.nacm.recovery_user.as_deref(), Some("rescue"));
        let groups = s.nacm.groups.unwrap();
        assert_eq!(
            groups["operator"],
            vec!["noc".to_string(), "bot".to_string()]
        );
        assert_eq!(Settings::default().nacm.groups, None);
    }

    #[test]
    fn example_settings_file_parses() {
        let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/netdhcpd.toml");
        let s = Settings::load(&f).unwrap();
        assert_eq!(s.nacm.recovery_user, None);
        assert_eq!(
            s.nacm.groups.unwrap()["operator"],
            vec!["automation".to_string()]
        );
    }

    #[test]
    fn refuses_unknown_keys_and_useless_users() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s.toml");
        std::fs::write(&f, "[netconf]\nlisten = \"127.0.0.1:830\"\nbogus = 1\n").unwrap();
        assert!(matches!(
            Settings::load(&f),
            Err(SettingsError::Parse { .. })
        ));
        std::fs::write(&f, "[[user]]\nname = \"x\"\n").unwrap();
        assert!(matches!(
            Settings::load(&f),
            Err(SettingsError::User { .. })
        ));
    }

    #[test]
    fn first_start_admin_is_stable() {
        let dir = tempfile::tempdir().unwrap();
        let a = first_start_admin(dir.path(), |p| Ok(format!("H({p})"))).unwrap();
        let b = first_start_admin(dir.path(), |_| Ok("other".into())).unwrap();
        assert_eq!(a, b);
        let pw = std::fs::read_to_string(dir.path().join("admin-password")).unwrap();
        assert_eq!(a.password_hash.unwrap(), format!("H({})", pw.trim()));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("admin-password"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
