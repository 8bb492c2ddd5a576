//! Typed failover (HA) configuration: this server's name, the mode, the peers, the failure
//! detection timers and the peer link's security. Read from `/server/ha`; the YANG model already
//! holds the structural rules (one primary, a secondary for load-balancing, a standby for
//! hot-standby, this-server-name names a peer), this module adds what XPath cannot say well.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::tree::{Node, Root};
use super::ConfigError;
use crate::ha::State;

/// How a failover pair shares its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HaMode {
    /// The primary serves everyone; the standby takes over in partner-down.
    HotStandby,
    /// Primary and secondary each serve their half of the clients (RFC 3074 hash).
    LoadBalancing,
}

impl HaMode {
    /// The model's name, which is also Kea's.
    pub fn as_str(self) -> &'static str {
        match self {
            HaMode::HotStandby => "hot-standby",
            HaMode::LoadBalancing => "load-balancing",
        }
    }
}

/// A peer's role in the relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerRole {
    /// Serves in both modes; wins ties at start-up.
    Primary,
    /// The primary's partner in load-balancing.
    Secondary,
    /// The primary's partner in hot-standby.
    Standby,
    /// Receives lease updates only.
    Backup,
}

impl PeerRole {
    /// The model's name, which is also Kea's.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerRole::Primary => "primary",
            PeerRole::Secondary => "secondary",
            PeerRole::Standby => "standby",
            PeerRole::Backup => "backup",
        }
    }

    fn from_yang(value: &str) -> Option<Self> {
        match value {
            "primary" => Some(PeerRole::Primary),
            "secondary" => Some(PeerRole::Secondary),
            "standby" => Some(PeerRole::Standby),
            "backup" => Some(PeerRole::Backup),
            _ => None,
        }
    }
}

/// Whether the failover state machine stops when it enters a state (Kea's `pause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PauseMode {
    /// Never pauses there.
    Never,
    /// Pauses on every entry, until ha-continue.
    Always,
    /// Pauses on the first entry after the relationship starts, until ha-continue.
    Once,
}

impl PauseMode {
    fn from_yang(value: &str) -> Option<Self> {
        match value {
            "never" => Some(PauseMode::Never),
            "always" => Some(PauseMode::Always),
            "once" => Some(PauseMode::Once),
            _ => None,
        }
    }
}

/// One server of the relationship (this one included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaPeer {
    /// Name, as in heartbeats and `this-server-name`.
    pub name: String,
    /// URL of its HA listener, as configured.
    pub url: String,
    /// Role.
    pub role: PeerRole,
    /// Whether, on declaring its partner down, it serves the partner's clients by itself.
    pub auto_failover: bool,
}

/// Failure detection timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaTimers {
    /// Interval between heartbeats.
    pub heartbeat_delay: Duration,
    /// Time without a successful heartbeat after which communication counts as interrupted.
    pub max_response_delay: Duration,
    /// How long a client may go unanswered by the partner before it counts as unacked.
    pub max_ack_delay: Duration,
    /// Unacked clients tolerated before the partner is declared down (0: none needed).
    pub max_unacked_clients: u32,
}

impl Default for HaTimers {
    /// The model's defaults, which are Kea's.
    fn default() -> Self {
        HaTimers {
            heartbeat_delay: Duration::from_millis(10_000),
            max_response_delay: Duration::from_millis(60_000),
            max_ack_delay: Duration::from_millis(10_000),
            max_unacked_clients: 10,
        }
    }
}

/// TLS on the peer link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaTls {
    /// Certificate authorities the peers' certificates must chain to (PEM).
    pub ca_file: PathBuf,
    /// This server's certificate chain (PEM).
    pub cert_file: PathBuf,
    /// This server's private key (PEM).
    pub key_file: PathBuf,
}

/// HTTP basic authentication on the peer link.
#[derive(Clone, PartialEq, Eq)]
pub struct HaBasicAuth {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for HaBasicAuth {
    // Configurations end up in logs; the password must not.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HaBasicAuth")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// The failover configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaConfig {
    /// Which peer is this server.
    pub this_server_name: String,
    /// How the pair shares its clients.
    pub mode: HaMode,
    /// Every server of the relationship, this one included, in configuration order.
    pub peers: Vec<HaPeer>,
    /// Failure detection.
    pub timers: HaTimers,
    /// Leases per page while synchronising.
    pub sync_page_size: u32,
    /// Send lease changes to the partner and backups.
    pub send_lease_updates: bool,
    /// Synchronise the lease database when (re)joining.
    pub sync_leases: bool,
    /// Hold replies until backups have acknowledged their updates too.
    pub wait_backup_ack: bool,
    /// TLS on the peer link, if used.
    pub tls: Option<HaTls>,
    /// Basic authentication on the peer link, if used.
    pub basic_auth: Option<HaBasicAuth>,
    /// The states the state machine pauses in, and how (`state-machine`); unlisted states never
    /// pause.
    pub state_machine: Vec<(State, PauseMode)>,
}

impl HaConfig {
    /// This server's peer entry. A validated configuration always has one.
    pub fn this_peer(&self) -> Option<&HaPeer> {
        self.peers.iter().find(|p| p.name == self.this_server_name)
    }

    /// This server's role.
    pub fn this_role(&self) -> Option<PeerRole> {
        self.this_peer().map(|p| p.role)
    }

    /// The failover partner: the other non-backup peer. A backup server has none (it only
    /// receives updates), and neither has a configuration still being checked.
    pub fn partner(&self) -> Option<&HaPeer> {
        if self.this_role() == Some(PeerRole::Backup) {
            return None;
        }
        self.peers
            .iter()
            .find(|p| p.name != self.this_server_name && p.role != PeerRole::Backup)
    }

    /// The backup peers other than this server.
    pub fn backups(&self) -> impl Iterator<Item = &HaPeer> {
        self.peers
            .iter()
            .filter(|p| p.name != self.this_server_name && p.role == PeerRole::Backup)
    }
}

/// A URL reduced to what identifies an endpoint, so `http://A:8001/` and `http://a:8001`
/// count as the same listener. Only scheme and authority are case-insensitive (RFC 3986 6.2.2.1).
fn endpoint_key(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    format!(
        "{}://{}/{}",
        scheme.to_ascii_lowercase(),
        authority.to_ascii_lowercase(),
        path.trim_end_matches('/')
    )
}

fn url_scheme(url: &str) -> Option<String> {
    url.split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase())
}

fn millis(
    node: Option<&Node<'_>>,
    name: &str,
    default: Duration,
    errors: &mut Vec<ConfigError>,
) -> Duration {
    node.and_then(|n| n.parsed::<u64>(name, errors))
        .map_or(default, Duration::from_millis)
}

fn read_peer(node: &Node<'_>, errors: &mut Vec<ConfigError>) -> Option<HaPeer> {
    let name = node.leaf("name")?;
    let url = node.leaf("url")?;
    let role_text = node.leaf("role")?;
    let Some(role) = PeerRole::from_yang(&role_text) else {
        errors.push(ConfigError::new(
            format!("{}/role", node.path()),
            format!("unknown role {role_text:?}"),
        ));
        return None;
    };
    Some(HaPeer {
        name,
        url,
        role,
        auto_failover: node.leaf("auto-failover").as_deref() != Some("false"),
    })
}

fn read_tls(node: &Node<'_>) -> Option<HaTls> {
    let tls = node.list("tls").into_iter().next()?;
    Some(HaTls {
        ca_file: PathBuf::from(tls.leaf("ca-file")?),
        cert_file: PathBuf::from(tls.leaf("cert-file")?),
        key_file: PathBuf::from(tls.leaf("key-file")?),
    })
}

/// Reads `state-machine/state`; the model's enumerations refuse unknown names, so a name or
/// mode that does not parse here is a model and code out of step, reported as such.
fn read_state_machine(node: &Node<'_>, errors: &mut Vec<ConfigError>) -> Vec<(State, PauseMode)> {
    let Some(machine) = node.list("state-machine").into_iter().next() else {
        return Vec::new();
    };
    let mut states = Vec::new();
    for entry in machine.list("state") {
        let Some(name) = entry.leaf("name") else {
            continue;
        };
        let Ok(state) = name.parse::<State>() else {
            errors.push(ConfigError::new(
                format!("{}/name", entry.path()),
                format!("{name:?} is not a failover state"),
            ));
            continue;
        };
        let mode_text = entry.leaf("pause").unwrap_or_else(|| "never".to_string());
        let Some(mode) = PauseMode::from_yang(&mode_text) else {
            errors.push(ConfigError::new(
                format!("{}/pause", entry.path()),
                format!("unknown pause {mode_text:?}; always, never or once"),
            ));
            continue;
        };
        states.push((state, mode));
    }
    states
}

fn read_basic_auth(node: &Node<'_>) -> Option<HaBasicAuth> {
    let auth = node.list("basic-auth").into_iter().next()?;
    Some(HaBasicAuth {
        user: auth.leaf("user")?,
        password: auth.leaf("password")?,
    })
}

/// Reads the `ha` container, if present, and checks it; problems go to `errors`. `None` when the
/// server runs alone, or when the container is too broken to describe a relationship.
pub(super) fn read(root: &Root<'_, '_>, errors: &mut Vec<ConfigError>) -> Option<HaConfig> {
    let node = root.node(yang::paths::HA)?;
    let path = node.path();
    let mode = match node.leaf("mode").as_deref() {
        Some("hot-standby") => HaMode::HotStandby,
        Some("load-balancing") => HaMode::LoadBalancing,
        other => {
            errors.push(ConfigError::new(
                format!("{path}/mode"),
                format!("unknown or missing mode {other:?}"),
            ));
            return None;
        }
    };
    let Some(this_server_name) = node.leaf("this-server-name") else {
        errors.push(ConfigError::new(
            format!("{path}/this-server-name"),
            "this-server-name is missing",
        ));
        return None;
    };
    let timers_node = node.list("timers").into_iter().next();
    let defaults = HaTimers::default();
    let timers = HaTimers {
        heartbeat_delay: millis(
            timers_node.as_ref(),
            "heartbeat-delay",
            defaults.heartbeat_delay,
            errors,
        ),
        max_response_delay: millis(
            timers_node.as_ref(),
            "max-response-delay",
            defaults.max_response_delay,
            errors,
        ),
        max_ack_delay: millis(
            timers_node.as_ref(),
            "max-ack-delay",
            defaults.max_ack_delay,
            errors,
        ),
        max_unacked_clients: timers_node
            .as_ref()
            .and_then(|t| t.parsed("max-unacked-clients", errors))
            .unwrap_or(defaults.max_unacked_clients),
    };
    let config = HaConfig {
        this_server_name,
        mode,
        peers: node
            .list("peer")
            .iter()
            .filter_map(|p| read_peer(p, errors))
            .collect(),
        timers,
        sync_page_size: node.parsed("sync-page-size", errors).unwrap_or(10_000),
        send_lease_updates: node.leaf("send-lease-updates").as_deref() != Some("false"),
        sync_leases: node.leaf("sync-leases").as_deref() != Some("false"),
        wait_backup_ack: node.leaf("wait-backup-ack").as_deref() == Some("true"),
        tls: read_tls(&node),
        basic_auth: read_basic_auth(&node),
        state_machine: read_state_machine(&node, errors),
    };
    check(&config, &path, errors);
    Some(config)
}

/// What the model cannot say (or says only for one spelling): each problem goes to `errors`.
pub(super) fn check(config: &HaConfig, path: &str, errors: &mut Vec<ConfigError>) {
    let peer_path = |name: &str| format!("{path}/peer[name='{name}']");
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut endpoints: HashMap<String, &str> = HashMap::new();
    for peer in &config.peers {
        *names.entry(peer.name.as_str()).or_default() += 1;
        if let Some(first) = endpoints.insert(endpoint_key(&peer.url), &peer.name) {
            errors.push(ConfigError::new(
                format!("{}/url", peer_path(&peer.name)),
                format!(
                    "{:?} is the same listener as peer {first:?}'s URL; every peer needs its own",
                    peer.url
                ),
            ));
        }
        match url_scheme(&peer.url).as_deref() {
            Some("http") if config.tls.is_some() => errors.push(ConfigError::new(
                format!("{}/url", peer_path(&peer.name)),
                "tls is configured, so peer URLs must be https",
            )),
            Some("https") if config.tls.is_none() => errors.push(ConfigError::new(
                format!("{}/url", peer_path(&peer.name)),
                "an https URL needs the tls container",
            )),
            Some("http" | "https") => {}
            _ => errors.push(ConfigError::new(
                format!("{}/url", peer_path(&peer.name)),
                format!("{:?} is not an http or https URL", peer.url),
            )),
        }
    }
    for (name, count) in names {
        if count > 1 {
            errors.push(ConfigError::new(
                peer_path(name),
                format!("peer name {name:?} is used {count} times"),
            ));
        }
    }
    let Some(this) = config.this_peer() else {
        errors.push(ConfigError::new(
            format!("{path}/this-server-name"),
            format!("no peer is named {:?}", config.this_server_name),
        ));
        return;
    };
    let count = |role| config.peers.iter().filter(|p| p.role == role).count();
    if count(PeerRole::Primary) != 1 {
        errors.push(ConfigError::new(path, "exactly one peer must be primary"));
    }
    // The partner role the mode needs, and the one it cannot have.
    let (wanted, unwanted) = match config.mode {
        HaMode::HotStandby => (PeerRole::Standby, PeerRole::Secondary),
        HaMode::LoadBalancing => (PeerRole::Secondary, PeerRole::Standby),
    };
    if count(wanted) != 1 || count(unwanted) != 0 {
        errors.push(ConfigError::new(
            path,
            format!(
                "{} needs exactly one {} peer and no {} peer",
                config.mode.as_str(),
                wanted.as_str(),
                unwanted.as_str()
            ),
        ));
    }
    if this.role == unwanted {
        errors.push(ConfigError::new(
            format!("{}/role", peer_path(&this.name)),
            format!(
                "this server cannot be {} in {} mode",
                this.role.as_str(),
                config.mode.as_str()
            ),
        ));
    }
    let timers = &config.timers;
    if timers.max_response_delay <= timers.heartbeat_delay {
        // Otherwise the partner would count as gone between two heartbeats.
        errors.push(ConfigError::new(
            format!("{path}/timers/max-response-delay"),
            "max-response-delay must be longer than heartbeat-delay",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::northbound::validate_document;

    fn doc(ha: &str) -> String {
        format!(r#"<server xmlns="urn:netdhcp:yang:netdhcp-server"><ha>{ha}</ha></server>"#)
    }

    const PAIR: &str = r#"<this-server-name>server1</this-server-name>
        <mode>hot-standby</mode>
        <peer><name>server1</name><url>http://100.64.0.1:8001/</url><role>primary</role></peer>
        <peer><name>server2</name><url>http://100.64.0.3:8001/</url><role>standby</role>
          <auto-failover>false</auto-failover></peer>"#;

    fn accepted(ha: &str) -> HaConfig {
        let ctx = yang::context().expect("context");
        let v = validate_document(ctx, &doc(ha)).unwrap_or_else(|p| {
            panic!(
                "rejected: {:?}",
                p.iter().map(|e| e.to_string()).collect::<Vec<_>>()
            )
        });
        v.runtime.ha.expect("ha configured")
    }

    fn problems(ha: &str) -> Vec<String> {
        let ctx = yang::context().expect("context");
        match validate_document(ctx, &doc(ha)) {
            Ok(_) => panic!("accepted: {ha}"),
            Err(p) => p.iter().map(|e| e.to_string()).collect(),
        }
    }

    fn assert_problem(ha: &str, needle: &str) {
        let p = problems(ha);
        assert!(
            p.iter().any(|m| m.contains(needle)),
            "expected {needle:?} among {p:?}"
        );
    }

    #[test]
    fn a_hot_standby_pair_is_read_with_kea_defaults() {
        let c = accepted(PAIR);
        assert_eq!(c.mode, HaMode::HotStandby);
        assert_eq!(c.this_role(), Some(PeerRole::Primary));
        let partner = c.partner().expect("partner");
        assert_eq!(partner.name, "server2");
        assert_eq!(partner.role, PeerRole::Standby);
        assert!(!partner.auto_failover);
        assert!(c.this_peer().expect("this").auto_failover, "default true");
        assert_eq!(c.timers, HaTimers::default());
        assert_eq!(c.sync_page_size, 10_000);
        assert!(c.send_lease_updates && c.sync_leases && !c.wait_backup_ack);
        assert_eq!((c.tls.clone(), c.basic_auth.clone()), (None, None));
        assert_eq!(c.backups().count(), 0);
        assert!(c.state_machine.is_empty(), "no state pauses by default");
    }

    #[test]
    fn state_machine_pauses_are_read_with_never_as_default() {
        let c = accepted(&format!(
            "{PAIR}<state-machine>\
               <state><name>waiting</name><pause>once</pause></state>\
               <state><name>partner-down</name><pause>always</pause></state>\
               <state><name>ready</name></state>\
             </state-machine>"
        ));
        let mut got = c.state_machine.clone();
        got.sort_by_key(|(s, _)| s.name());
        assert_eq!(
            got,
            [
                (State::PartnerDown, PauseMode::Always),
                (State::Ready, PauseMode::Never),
                (State::Waiting, PauseMode::Once),
            ]
        );
    }

    #[test]
    fn state_machine_refuses_unknown_states_and_pauses() {
        for bad in [
            "<state><name>passive-backup</name><pause>once</pause></state>",
            "<state><name>waiting</name><pause>sometimes</pause></state>",
        ] {
            let p = problems(&format!("{PAIR}<state-machine>{bad}</state-machine>"));
            assert!(!p.is_empty(), "{bad}");
        }
    }

    #[test]
    fn no_ha_container_means_no_failover() {
        let ctx = yang::context().expect("context");
        let v = validate_document(ctx, r#"<server xmlns="urn:netdhcp:yang:netdhcp-server"/>"#)
            .expect("valid");
        assert!(v.runtime.ha.is_none());
    }

    #[test]
    fn a_load_balancing_pair_with_backup_timers_tls_and_auth_is_read() {
        let c = accepted(
            r#"<this-server-name>b</this-server-name><mode>load-balancing</mode>
            <peer><name>a</name><url>https://a.example:8001/</url><role>primary</role></peer>
            <peer><name>b</name><url>https://b.example:8001/</url><role>secondary</role></peer>
            <peer><name>c</name><url>https://c.example:8001/</url><role>backup</role></peer>
            <timers><heartbeat-delay>1000</heartbeat-delay><max-response-delay>3000</max-response-delay>
              <max-ack-delay>1000</max-ack-delay><max-unacked-clients>0</max-unacked-clients></timers>
            <sync-page-size>500</sync-page-size><wait-backup-ack>true</wait-backup-ack>
            <sync-leases>false</sync-leases>
            <tls><ca-file>/etc/ca.pem</ca-file><cert-file>/etc/b.pem</cert-file><key-file>/etc/b.key</key-file></tls>
            <basic-auth><user>ha</user><password>secret</password></basic-auth>"#,
        );
        assert_eq!(c.mode, HaMode::LoadBalancing);
        assert_eq!(c.this_role(), Some(PeerRole::Secondary));
        assert_eq!(c.partner().map(|p| p.name.as_str()), Some("a"));
        assert_eq!(
            c.backups().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["c"]
        );
        assert_eq!(c.timers.heartbeat_delay, Duration::from_secs(1));
        assert_eq!(c.timers.max_response_delay, Duration::from_secs(3));
        assert_eq!(c.timers.max_unacked_clients, 0);
        assert_eq!(c.sync_page_size, 500);
        assert!(c.wait_backup_ack && !c.sync_leases);
        assert_eq!(c.tls.expect("tls").key_file, PathBuf::from("/etc/b.key"));
        let auth = c.basic_auth.expect("auth");
        assert_eq!(auth.user, "ha");
        assert!(
            !format!("{auth:?}").contains("secret"),
            "password kept out of logs"
        );
    }

    #[test]
    fn a_backup_server_has_no_partner() {
        let c = accepted(
            r#"<this-server-name>c</this-server-name><mode>hot-standby</mode>
            <peer><name>a</name><url>http://a:8001/</url><role>primary</role></peer>
            <peer><name>b</name><url>http://b:8001/</url><role>standby</role></peer>
            <peer><name>c</name><url>http://c:8001/</url><role>backup</role></peer>"#,
        );
        assert_eq!(c.this_role(), Some(PeerRole::Backup));
        assert!(c.partner().is_none());
    }

    #[test]
    fn this_server_name_must_name_a_peer() {
        assert_problem(
            &PAIR.replace(
                "<this-server-name>server1</this-server-name>",
                "<this-server-name>server9</this-server-name>",
            ),
            "this-server-name must name one of the ha peers",
        );
    }

    #[test]
    fn exactly_one_primary() {
        assert_problem(
            &PAIR.replace("<role>standby</role>", "<role>primary</role>"),
            "exactly one peer with role primary",
        );
    }

    #[test]
    fn hot_standby_needs_a_standby() {
        assert_problem(
            &PAIR.replace("<role>standby</role>", "<role>secondary</role>"),
            "hot-standby needs exactly one peer with role standby",
        );
    }

    #[test]
    fn load_balancing_needs_a_secondary() {
        assert_problem(
            &PAIR.replace("<mode>hot-standby</mode>", "<mode>load-balancing</mode>"),
            "load-balancing needs exactly one peer with role secondary",
        );
    }

    #[test]
    fn the_same_url_twice_is_refused_by_the_model() {
        assert_problem(
            &PAIR.replace("http://100.64.0.3:8001/", "http://100.64.0.1:8001/"),
            "url",
        );
    }

    #[test]
    fn two_spellings_of_one_listener_are_refused() {
        assert_problem(
            &PAIR
                .replace("http://100.64.0.1:8001/", "http://dhcp-a.example:8001/")
                .replace("http://100.64.0.3:8001/", "http://DHCP-A.example:8001"),
            "same listener",
        );
    }

    #[test]
    fn https_needs_tls_and_tls_needs_https() {
        assert_problem(
            &PAIR.replace("http://100.64.0.3", "https://100.64.0.3"),
            "needs the tls container",
        );
        assert_problem(
            &format!(
                "{PAIR}<tls><ca-file>a</ca-file><cert-file>b</cert-file><key-file>c</key-file></tls>"
            ),
            "must be https",
        );
    }

    #[test]
    fn a_url_must_be_http() {
        assert_problem(
            &PAIR.replace("http://100.64.0.3:8001/", "ftp://100.64.0.3/"),
            "not an http or https URL",
        );
    }

    #[test]
    fn max_response_delay_must_exceed_heartbeat_delay() {
        assert_problem(
            &format!("{PAIR}<timers><heartbeat-delay>5000</heartbeat-delay><max-response-delay>5000</max-response-delay></timers>"),
            "max-response-delay must be longer than heartbeat-delay",
        );
    }

    #[test]
    fn semantic_checks_cover_what_the_model_cannot_see() {
        // Built by hand: duplicate names cannot come out of a YANG list, but the checks must not
        // depend on that.
        let peer = |name: &str, url: &str, role| HaPeer {
            name: name.into(),
            url: url.into(),
            role,
            auto_failover: true,
        };
        let config = HaConfig {
            this_server_name: "x".into(),
            mode: HaMode::LoadBalancing,
            peers: vec![
                peer("a", "http://a/", PeerRole::Primary),
                peer("a", "http://b/", PeerRole::Standby),
            ],
            timers: HaTimers::default(),
            sync_page_size: 1,
            send_lease_updates: true,
            sync_leases: true,
            wait_backup_ack: false,
            tls: None,
            basic_auth: None,
            state_machine: Vec::new(),
        };
        let mut errors = Vec::new();
        check(&config, "/ha", &mut errors);
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert!(text.iter().any(|m| m.contains("used 2 times")), "{text:?}");
        assert!(
            text.iter().any(|m| m.contains("no peer is named \"x\"")),
            "{text:?}"
        );

        let config = HaConfig {
            this_server_name: "a".into(),
            peers: vec![
                peer("a", "http://a/", PeerRole::Standby),
                peer("b", "http://b/", PeerRole::Primary),
            ],
            ..config
        };
        let mut errors = Vec::new();
        check(&config, "/ha", &mut errors);
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert!(
            text.iter()
                .any(|m| m.contains("cannot be standby in load-balancing")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|m| m.contains("needs exactly one secondary")),
            "{text:?}"
        );
    }

    #[test]
    fn endpoint_keys_ignore_case_of_scheme_and_host_and_the_trailing_slash() {
        assert_eq!(
            endpoint_key("HTTP://A:8001/"),
            endpoint_key("http://a:8001")
        );
        assert_ne!(
            endpoint_key("http://a:8001/x"),
            endpoint_key("http://a:8001/X")
        );
    }
}
