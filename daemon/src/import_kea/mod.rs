//! `netdhcpd import-kea`: an ISC Kea 2.2 configuration (kea-dhcp4.conf and/or
//! kea-dhcp6.conf) to a netdhcp instance document, with a report of every Kea setting the
//! document does not carry, by its JSON path.
//!
//! Everything here is a pure function from text (or parsed JSON) to the document and the
//! report; reading files and printing belong to `app::import_kea`.

mod common;
mod ha;
mod json_comments;
mod lease_db;
mod options;
mod report;
mod reservation;
mod server;
mod subnet;
mod xml_writer;

use std::net::IpAddr;

use serde_json::Value;

pub use json_comments::CommentError;
pub use report::Unsupported;

use lease_db::LeaseDb;
use report::Report;
use server::convert_family;
use xml_writer::Element;

/// An address family: which Kea block and which netdhcp container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `Dhcp4` to `dhcpv4`.
    V4,
    /// `Dhcp6` to `dhcpv6`.
    V6,
}

impl Family {
    /// Whether `addr` is of this family.
    pub fn matches(self, addr: IpAddr) -> bool {
        matches!(
            (self, addr),
            (Family::V4, IpAddr::V4(_)) | (Family::V6, IpAddr::V6(_))
        )
    }

    /// "IPv4" or "IPv6".
    pub fn name(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }

    /// Kea's top-level key.
    pub fn key(self) -> &'static str {
        match self {
            Family::V4 => "Dhcp4",
            Family::V6 => "Dhcp6",
        }
    }

    /// Kea's subnet list key.
    pub fn subnet_key(self) -> &'static str {
        match self {
            Family::V4 => "subnet4",
            Family::V6 => "subnet6",
        }
    }

    /// Kea's standard option space.
    pub fn option_space(self) -> &'static str {
        match self {
            Family::V4 => "dhcp4",
            Family::V6 => "dhcp6",
        }
    }

    /// netdhcp's container.
    pub fn container(self) -> &'static str {
        match self {
            Family::V4 => "dhcpv4",
            Family::V6 => "dhcpv6",
        }
    }
}

/// A Kea configuration file's text and where it came from (for messages).
#[derive(Debug, Clone)]
pub struct KeaFile {
    /// File name as given on the command line.
    pub origin: String,
    /// Its contents.
    pub text: String,
}

/// The converted document and what it leaves out.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The netdhcp instance document (XML).
    pub document: String,
    /// Kea settings not carried over, in the order met.
    pub report: Vec<Unsupported>,
}

/// Why a file is not a Kea configuration this command can read.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A comment or directive is not closed.
    #[error("{origin}: {source}")]
    Syntax {
        /// File.
        origin: String,
        /// What is unclosed, and where.
        source: CommentError,
    },
    /// The text (comments removed) is not JSON.
    #[error("{origin}: not a Kea configuration: invalid JSON: {source}")]
    Json {
        /// File.
        origin: String,
        /// The parser's message, with line and column.
        source: serde_json::Error,
    },
    /// Valid JSON without a Dhcp4 or Dhcp6 object.
    #[error(
        "{origin}: not a Kea configuration: no \"Dhcp4\" or \"Dhcp6\" object at the top level"
    )]
    NotKea {
        /// File.
        origin: String,
    },
}

/// Parses a Kea file: comments removed, include directives reported (not followed).
pub fn parse(file: &KeaFile, report: &mut Vec<Unsupported>) -> Result<Value, ImportError> {
    let (json, includes) =
        json_comments::strip(&file.text).map_err(|source| ImportError::Syntax {
            origin: file.origin.clone(),
            source,
        })?;
    let value: Value = serde_json::from_str(&json).map_err(|source| ImportError::Json {
        origin: file.origin.clone(),
        source,
    })?;
    let is_kea = value
        .as_object()
        .is_some_and(|o| o.contains_key("Dhcp4") || o.contains_key("Dhcp6"));
    if !is_kea {
        return Err(ImportError::NotKea {
            origin: file.origin.clone(),
        });
    }
    for inc in includes {
        report.push(Unsupported {
            path: format!("{}:{}", file.origin, inc.line),
            reason: format!(
                "{}: includes are not followed, the included configuration is not converted",
                inc.directive
            ),
        });
    }
    Ok(value)
}

/// Converts Kea files (one with Dhcp4, one with Dhcp6, or one with both).
pub fn import(files: &[KeaFile]) -> Result<Conversion, ImportError> {
    let mut found = Vec::new();
    let mut values = Vec::new();
    for f in files {
        values.push(parse(f, &mut found)?);
    }
    let (server, mut report) = convert(&values);
    found.append(&mut report);
    let origins: Vec<&str> = files.iter().map(|f| f.origin.as_str()).collect();
    let mut comment = format!(
        "  Converted from ISC Kea 2.2 configuration {} by `netdhcpd import-kea`.\n  Check it with `netdhcpd check FILE`.",
        origins.join(" and ")
    );
    if !found.is_empty() {
        comment.push_str("\n\n  Kea settings not converted:");
        for u in &found {
            comment.push_str(&format!("\n    {u}"));
        }
    }
    Ok(Conversion {
        document: server.to_document(Some(&comment)),
        report: found,
    })
}

/// Converts parsed Kea configurations to the `server` element and the report.
pub fn convert(configs: &[Value]) -> (Element, Vec<Unsupported>) {
    let mut report = Report::default();
    let mut lease_db = LeaseDb::default();
    let mut families: Vec<(Family, Element)> = Vec::new();
    let mut ha: Option<(String, Element)> = None;
    for config in configs {
        let Some(top) = config.as_object() else {
            continue;
        };
        for (key, value) in top {
            let family = match key.as_str() {
                "Dhcp4" => Family::V4,
                "Dhcp6" => Family::V6,
                other => {
                    report.dropped(other);
                    continue;
                }
            };
            if families.iter().any(|(f, _)| *f == family) {
                report.add(
                    key.clone(),
                    "given in two files: the first is converted, this one dropped",
                );
                continue;
            }
            let Some(out) = convert_family(value, family, &mut lease_db, &mut report) else {
                continue;
            };
            families.push((family, out.element));
            match (&ha, out.ha) {
                (None, theirs) => ha = theirs,
                (Some((kept, _)), Some((path, _))) => report.add(
                    path,
                    format!("netdhcp runs one failover relationship for both families: {kept} is converted, this one dropped"),
                ),
                (Some(_), None) => {}
            }
        }
    }
    let mut server = Element::node("server");
    if let Some(db) = lease_db.element() {
        server.push(db);
    }
    families.sort_by_key(|(f, _)| *f == Family::V6);
    for (_, e) in families {
        server.push(e);
    }
    if let Some((_, e)) = ha {
        server.push(e);
    }
    (server, report.into_items())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> KeaFile {
        KeaFile {
            origin: "kea.conf".into(),
            text: text.into(),
        }
    }

    #[test]
    fn non_kea_json_is_refused() {
        let e = import(&[file("{\"Control-agent\": {}}")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "kea.conf: not a Kea configuration: no \"Dhcp4\" or \"Dhcp6\" object at the top level"
        );
        let e = import(&[file("<server/>")]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("kea.conf: not a Kea configuration: invalid JSON"),
            "{e}"
        );
        assert!(matches!(
            import(&[file("{ /* x")]),
            Err(ImportError::Syntax { .. })
        ));
    }

    #[test]
    fn both_families_one_document_with_one_report() {
        let v4 = r#"// comment
        { "Dhcp4": { "interfaces-config": {"interfaces": ["eth0"]},
                     "lease-database": {"type": "memfile", "name": "/var/lib/kea/kea-leases4.csv"},
                     "subnet4": [{"id": 1, "subnet": "100.64.0.0/24",
                                  "relay": {"ip-addresses": ["100.127.0.1"]},
                                  "pools": [{"pool": "100.64.0.10 - 100.64.0.20"}]}] },
          "Logging": {} }"#;
        let v6 = r#"{ "Dhcp6": { # hash comment
            <?include "/etc/kea/extra.json"?>
            "subnet6": [{"id": 1, "subnet": "2001:db8:1::/64", "pools": [{"pool": "2001:db8:1::/120"}]}] } }"#;
        let c = import(&[
            file(v4),
            KeaFile {
                origin: "six.conf".into(),
                text: v6.into(),
            },
        ])
        .unwrap();
        let lines: Vec<String> = c.report.iter().map(|u| u.to_string()).collect();
        assert_eq!(lines, vec![
            "six.conf:2: <?include \"/etc/kea/extra.json\"?>: includes are not followed, the included configuration is not converted",
            "Logging: not supported, dropped",
        ]);
        let doc = &c.document;
        let v4_at = doc.find("<dhcpv4>").unwrap();
        let v6_at = doc.find("<dhcpv6>").unwrap();
        assert!(
            doc.find("<lease-database>").unwrap() < v4_at && v4_at < v6_at,
            "{doc}"
        );
        assert!(doc.contains("<memfile-v4>/var/lib/kea/kea-leases4.csv</memfile-v4>"));
        assert!(doc.contains("<relay-address>100.127.0.1</relay-address>"));
        assert!(doc.contains("<end>2001:db8:1::ff</end>"));
        assert!(doc.contains("    Logging: not supported, dropped"), "{doc}");
    }

    #[test]
    fn one_failover_relationship_for_both_families() {
        let ha = |port: u16| {
            serde_json::json!([{"library": "/usr/lib/kea/hooks/libdhcp_ha.so", "parameters": {
                "high-availability": [{"this-server-name": "s1", "mode": "load-balancing", "peers": [
                    {"name": "s1", "url": format!("http://100.100.0.1:{port}/"), "role": "primary"},
                    {"name": "s2", "url": format!("http://100.100.0.2:{port}/"), "role": "secondary"}]}]}}])
        };
        let configs = [
            serde_json::json!({"Dhcp4": {"hooks-libraries": ha(8001)}}),
            serde_json::json!({"Dhcp6": {"hooks-libraries": ha(8002)}}),
        ];
        let (server, report) = convert(&configs);
        let lines: Vec<String> = report.iter().map(|u| u.to_string()).collect();
        assert_eq!(lines, vec![
            "Dhcp6/hooks-libraries[0]/parameters/high-availability[0]: netdhcp runs one failover \
             relationship for both families: Dhcp4/hooks-libraries[0]/parameters/high-availability[0] \
             is converted, this one dropped",
        ]);
        let ha = server.find("ha").unwrap();
        let urls: Vec<_> = ha
            .all("peer")
            .map(|p| p.find("url").unwrap().text().unwrap().to_string())
            .collect();
        assert_eq!(
            urls,
            vec!["http://100.100.0.1:8001/", "http://100.100.0.2:8001/"]
        );
    }
}
