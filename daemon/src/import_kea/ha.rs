//! Kea `hooks-libraries`: `libdhcp_ha.so` parameters to netdhcp's `/server/ha`;
//! `libdhcp_lease_cmds.so` needs nothing (netdhcp answers the lease commands itself);
//! any other hook library is reported.

use serde_json::Value;

use super::report::{Fields, Report};
use super::xml_writer::Element;

/// What the hooks of one family gave.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    /// The `ha` container and the Kea path it came from.
    pub ha: Option<(String, Element)>,
}

/// Converts a `hooks-libraries` list.
pub fn convert_hooks(items: Vec<(String, &Value)>, report: &mut Report) -> Hooks {
    let mut out = Hooks::default();
    for (path, hook) in items {
        let Some(mut f) = Fields::of(hook, &path, report) else {
            continue;
        };
        f.ignore("comment");
        let library = f.string("library", report).unwrap_or_default();
        let file = library.rsplit('/').next().unwrap_or(library);
        match file {
            "libdhcp_lease_cmds.so" => f.ignore("parameters"),
            "libdhcp_ha.so" => {
                let Some(params) = f.get("parameters") else {
                    report.add(path.clone(), "libdhcp_ha.so without parameters, dropped");
                    continue;
                };
                let ppath = f.path_of("parameters");
                if let Some(mut p) = Fields::of(params, &ppath, report) {
                    for (rpath, relationship) in p.array("high-availability", report) {
                        if out.ha.is_some() {
                            report.add(
                                rpath,
                                "netdhcp runs one failover relationship: not supported, dropped",
                            );
                        } else if let Some(e) = convert_ha(relationship, &rpath, report) {
                            out.ha = Some((rpath, e));
                        }
                    }
                    p.finish(report);
                }
            }
            _ => {
                report.add(
                    path.clone(),
                    format!("hook library {library:?}: not supported, dropped"),
                );
                continue;
            }
        }
        f.finish(report);
    }
    out
}

/// Credentials or TLS files as Kea spreads them over the relationship and its peers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PeerExtras {
    name: String,
    user: Option<String>,
    password: Option<String>,
    tls: [Option<String>; 3],
}

const TLS_KEYS: [&str; 3] = ["trust-anchor", "cert-file", "key-file"];

/// One `high-availability` relationship; None (reported) when netdhcp cannot run it.
pub fn convert_ha(value: &Value, path: &str, report: &mut Report) -> Option<Element> {
    let mut f = Fields::of(value, path, report)?;
    f.ignore("comment");
    let this = f.string("this-server-name", report);
    let mode = f.string("mode", report);
    let (Some(this), Some(mode)) = (this, mode) else {
        report.add(path, "needs this-server-name and mode; failover dropped");
        return None;
    };
    if !matches!(mode, "hot-standby" | "load-balancing") {
        report.add(
            f.path_of("mode"),
            format!("mode {mode:?}: not supported (netdhcp runs hot-standby or load-balancing), failover dropped"),
        );
        return None;
    }
    let mut ha = Element::node("ha");
    ha.push(Element::leaf("this-server-name", this));
    ha.push(Element::leaf("mode", mode));

    let mut extras = Vec::new();
    for (ppath, peer) in f.array("peers", report) {
        let Some(mut p) = Fields::of(peer, &ppath, report) else {
            continue;
        };
        p.ignore("comment");
        let name = p.string("name", report);
        let url = p.string("url", report);
        let role = p.string("role", report);
        let (Some(name), Some(url), Some(role)) = (name, url, role) else {
            report.add(ppath, "peer needs name, url and role; dropped");
            continue;
        };
        let mut e = Element::node("peer");
        e.push(Element::leaf("name", name));
        e.push(Element::leaf("url", url));
        e.push(Element::leaf("role", role));
        e.push_opt("auto-failover", p.boolean("auto-failover", report));
        ha.push(e);
        extras.push(PeerExtras {
            name: name.to_string(),
            user: p.string("basic-auth-user", report).map(str::to_string),
            password: p.string("basic-auth-password", report).map(str::to_string),
            tls: TLS_KEYS.map(|k| p.string(k, report).map(str::to_string)),
        });
        p.finish(report);
    }

    let mut timers = Element::node("timers");
    for key in ["heartbeat-delay", "max-response-delay", "max-ack-delay"] {
        match f.u32(key, report) {
            Some(0) => report.add(
                f.path_of(key),
                "0 (disabled): not supported, netdhcp's default kept",
            ),
            v => timers.push_opt(key, v),
        }
    }
    timers.push_opt("max-unacked-clients", f.u32("max-unacked-clients", report));
    if !timers.is_empty() {
        ha.push(timers);
    }
    match f.u32("sync-page-limit", report) {
        Some(0) => report.add(
            f.path_of("sync-page-limit"),
            "0: not supported, netdhcp's default kept",
        ),
        v => ha.push_opt("sync-page-size", v),
    }
    for key in ["send-lease-updates", "sync-leases", "wait-backup-ack"] {
        ha.push_opt(key, f.boolean(key, report));
    }

    // TLS: this server's own peer entry wins over the relationship-wide files, as in Kea.
    let global_tls = TLS_KEYS.map(|k| f.string(k, report).map(str::to_string));
    let own = extras.iter().find(|x| x.name == this);
    let tls: Vec<Option<String>> = (0..3)
        .map(|i| {
            own.and_then(|o| o.tls[i].clone())
                .or_else(|| global_tls[i].clone())
        })
        .collect();
    for x in extras.iter().filter(|x| x.name != this) {
        if x.tls.iter().any(Option::is_some) {
            report.add(
                format!("{path}/peers[name={}]", x.name),
                "TLS files of another peer: not supported (netdhcp uses this server's files for every peer), dropped",
            );
        }
    }
    match tls.as_slice() {
        [Some(ca), Some(cert), Some(key)] => {
            let mut e = Element::node("tls");
            e.push(Element::leaf("ca-file", ca));
            e.push(Element::leaf("cert-file", cert));
            e.push(Element::leaf("key-file", key));
            ha.push(e);
        }
        [None, None, None] => {}
        _ => report.add(
            path,
            "TLS needs trust-anchor, cert-file and key-file together in netdhcp; TLS dropped",
        ),
    }
    if f.boolean("require-client-certs", report) == Some(false) {
        report.add(
            f.path_of("require-client-certs"),
            "false: not supported, netdhcp requires peer certificates whenever TLS is on",
        );
    }

    // Basic auth: one user and password in netdhcp, used both ways. Kea's peer entry holds
    // what is sent to that peer: take the partner's, else this server's.
    let mut creds = extras
        .iter()
        .filter(|x| x.user.is_some())
        .map(|x| (x.name.as_str(), x.user.clone(), x.password.clone()));
    let chosen = extras
        .iter()
        .find(|x| x.user.is_some() && x.name != this)
        .or_else(|| extras.iter().find(|x| x.user.is_some()));
    if let Some(c) = chosen {
        let mut e = Element::node("basic-auth");
        e.push_opt("user", c.user.as_ref());
        e.push_opt("password", c.password.as_ref());
        ha.push(e);
        if creds.any(|(_, u, p)| u != c.user || p != c.password) {
            report.add(
                format!("{path}/peers"),
                format!("peers with different basic-auth credentials: not supported, those of {} are used for every peer", c.name),
            );
        }
    }
    f.report_if_present(
        "multi-threading",
        "ignored: netdhcp's failover listener and client are built in",
        report,
    );
    f.finish(report);
    Some(ha)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lines(report: Report) -> Vec<String> {
        report.into_items().iter().map(|u| u.to_string()).collect()
    }

    fn text<'e>(e: &'e Element, path: &[&str]) -> Option<&'e str> {
        let mut cur = e;
        for p in path {
            cur = cur.find(p)?;
        }
        cur.text()
    }

    #[test]
    fn ha_hook_maps_to_server_ha() {
        let hooks = json!([
            {"library": "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so", "parameters": {}},
            {"library": "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_ha.so", "parameters": {
                "high-availability": [{
                    "this-server-name": "server1", "mode": "hot-standby",
                    "heartbeat-delay": 1000, "max-response-delay": 3000, "max-ack-delay": 1000,
                    "max-unacked-clients": 0, "sync-page-limit": 500, "sync-timeout": 60000,
                    "trust-anchor": "/etc/kea/ca.pem", "cert-file": "/etc/kea/s1.pem", "key-file": "/etc/kea/s1.key",
                    "peers": [
                        {"name": "server1", "url": "https://100.100.0.1:8001/", "role": "primary", "auto-failover": true},
                        {"name": "server2", "url": "https://100.100.0.2:8001/", "role": "standby", "auto-failover": false,
                         "basic-auth-user": "ha", "basic-auth-password": "secret"}],
                    "multi-threading": {"enable-multi-threading": true}}]}},
            {"library": "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_stat_cmds.so"}
        ]);
        let mut report = Report::default();
        let items = hooks
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, h)| (format!("Dhcp4/hooks-libraries[{i}]"), h))
            .collect();
        let out = convert_hooks(items, &mut report);
        let (path, ha) = out.ha.unwrap();
        assert_eq!(
            path,
            "Dhcp4/hooks-libraries[1]/parameters/high-availability[0]"
        );
        assert_eq!(text(&ha, &["this-server-name"]), Some("server1"));
        assert_eq!(text(&ha, &["mode"]), Some("hot-standby"));
        assert_eq!(text(&ha, &["timers", "heartbeat-delay"]), Some("1000"));
        assert_eq!(text(&ha, &["timers", "max-response-delay"]), Some("3000"));
        assert_eq!(text(&ha, &["timers", "max-ack-delay"]), Some("1000"));
        assert_eq!(text(&ha, &["timers", "max-unacked-clients"]), Some("0"));
        assert_eq!(text(&ha, &["sync-page-size"]), Some("500"));
        assert_eq!(text(&ha, &["tls", "ca-file"]), Some("/etc/kea/ca.pem"));
        assert_eq!(text(&ha, &["basic-auth", "user"]), Some("ha"));
        assert_eq!(text(&ha, &["basic-auth", "password"]), Some("secret"));
        let peers: Vec<_> = ha.all("peer").collect();
        assert_eq!(peers.len(), 2);
        assert_eq!(text(peers[1], &["role"]), Some("standby"));
        assert_eq!(text(peers[1], &["auto-failover"]), Some("false"));
        assert_eq!(lines(report), vec![
            "Dhcp4/hooks-libraries[1]/parameters/high-availability[0]/multi-threading: ignored: netdhcp's failover listener and client are built in",
            "Dhcp4/hooks-libraries[1]/parameters/high-availability[0]/sync-timeout: not supported, dropped",
            "Dhcp4/hooks-libraries[2]: hook library \"/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_stat_cmds.so\": not supported, dropped",
        ]);
    }

    #[test]
    fn passive_backup_is_reported() {
        let mut report = Report::default();
        let ha = convert_ha(
            &json!({"this-server-name": "a", "mode": "passive-backup", "peers": []}),
            "Dhcp4/hooks-libraries[0]/parameters/high-availability[0]",
            &mut report,
        );
        assert!(ha.is_none());
        assert_eq!(lines(report), vec![
            "Dhcp4/hooks-libraries[0]/parameters/high-availability[0]/mode: mode \"passive-backup\": not supported (netdhcp runs hot-standby or load-balancing), failover dropped",
        ]);
    }
}
