//! What the server tells clients about its schema: NETCONF capabilities (RFC 6241, RFC 7950
//! 5.6.4), the YANG library (RFC 8525), and module sources for get-schema (RFC 6022).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use yang::yang5::context::Context;
use yang::yang5::schema::{SchemaModule, SchemaOutputFormat, SchemaPrinterFlags};

/// One module as advertised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    /// Name.
    pub name: String,
    /// Revision, if any.
    pub revision: Option<String>,
    /// XML namespace.
    pub namespace: String,
    /// Implemented (data served) or import-only.
    pub implemented: bool,
    /// Enabled features.
    pub features: Vec<String>,
    /// YANG source text.
    pub text: String,
}

fn module_text(m: &SchemaModule<'_>) -> String {
    // The embedded file when we ship it (exactly what the operator can read in yang/), else
    // libyang's own print of its built-in modules.
    if let Some(e) = yang::module(m.name()).filter(|e| Some(e.revision) == m.revision()) {
        return e.text.to_string();
    }
    m.print_string(SchemaOutputFormat::YANG, SchemaPrinterFlags::empty())
        .unwrap_or_default()
}

/// Every module of the context, except libyang's private ones.
pub fn modules(ctx: &Context) -> Vec<ModuleInfo> {
    let mut out: Vec<ModuleInfo> = ctx
        .modules(false)
        .filter(|m| !matches!(m.name(), "yang" | "default"))
        .map(|m| {
            let features = yang::module(m.name())
                .filter(|e| e.implemented)
                .map(|e| e.features.iter().map(|f| f.to_string()).collect())
                .unwrap_or_default();
            ModuleInfo {
                name: m.name().to_string(),
                revision: m.revision().map(str::to_string),
                namespace: m.namespace().to_string(),
                implemented: m.is_implemented(),
                features,
                text: module_text(&m),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// A content-id that changes whenever the module set does.
pub fn content_id(modules: &[ModuleInfo]) -> String {
    let mut h = DefaultHasher::new();
    for m in modules {
        (&m.name, &m.revision, m.implemented, &m.features).hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

/// The `:with-operational-defaults` capability (RFC 8526 section 2.2), with the same modes as
/// `:with-defaults` since get-data prints operational like get does.
pub const CAP_WITH_OPERATIONAL_DEFAULTS: &str = "urn:ietf:params:netconf:capability:with-operational-defaults:1.0?basic-mode=explicit&also-supported=report-all,report-all-tagged,trim";

fn is_yang_1_0(text: &str) -> bool {
    !text.contains("yang-version 1.1") && !text.contains("yang-version \"1.1\"")
}

/// The capabilities of this server's hello, beyond base:1.0 and base:1.1.
pub fn capabilities(modules: &[ModuleInfo]) -> Vec<String> {
    let mut caps: Vec<String> = [
        "urn:ietf:params:netconf:capability:candidate:1.0",
        "urn:ietf:params:netconf:capability:confirmed-commit:1.1",
        "urn:ietf:params:netconf:capability:validate:1.1",
        "urn:ietf:params:netconf:capability:rollback-on-error:1.0",
        "urn:ietf:params:netconf:capability:startup:1.0",
        "urn:ietf:params:netconf:capability:xpath:1.0",
        "urn:ietf:params:netconf:capability:with-defaults:1.0?basic-mode=explicit&also-supported=report-all,report-all-tagged,trim",
        // RFC 8526 section 2.2: get-data honours with-defaults on operational too.
        CAP_WITH_OPERATIONAL_DEFAULTS,
        netconf::notification::CAP_NOTIFICATION,
        netconf::notification::CAP_INTERLEAVE,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    caps.push(format!(
        "urn:ietf:params:netconf:capability:yang-library:1.1?revision=2019-01-04&content-id={}",
        content_id(modules)
    ));
    // RFC 7950 5.6.4: YANG 1.0 modules are still announced one by one for older clients.
    for m in modules.iter().filter(|m| is_yang_1_0(&m.text)) {
        let mut cap = format!("{}?module={}", m.namespace, m.name);
        if let Some(r) = &m.revision {
            cap.push_str(&format!("&revision={r}"));
        }
        if !m.features.is_empty() {
            cap.push_str(&format!("&features={}", m.features.join(",")));
        }
        caps.push(cap);
    }
    caps
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// ietf-yang-library data (RFC 8525) as XML.
pub fn yang_library_xml(modules: &[ModuleInfo]) -> String {
    let mut x = String::from(
        "<yang-library xmlns=\"urn:ietf:params:xml:ns:yang:ietf-yang-library\"><module-set><name>complete</name>",
    );
    for m in modules {
        let tag = if m.implemented {
            "module"
        } else {
            "import-only-module"
        };
        x.push_str(&format!("<{tag}><name>{}</name>", esc(&m.name)));
        match (&m.revision, m.implemented) {
            (Some(r), _) => x.push_str(&format!("<revision>{r}</revision>")),
            (None, false) => x.push_str("<revision></revision>"),
            (None, true) => {}
        }
        x.push_str(&format!("<namespace>{}</namespace>", esc(&m.namespace)));
        if m.implemented {
            for f in &m.features {
                x.push_str(&format!("<feature>{}</feature>", esc(f)));
            }
        }
        x.push_str(&format!("</{tag}>"));
    }
    x.push_str(
        "</module-set><schema><name>complete</name><module-set>complete</module-set></schema>",
    );
    for ds in ["running", "candidate", "startup", "operational"] {
        x.push_str(&format!(
            "<datastore xmlns:ds=\"urn:ietf:params:xml:ns:yang:ietf-datastores\"><name>ds:{ds}</name><schema>complete</schema></datastore>"
        ));
    }
    x.push_str(&format!(
        "<content-id>{}</content-id></yang-library>",
        content_id(modules)
    ));
    x
}

/// get-schema: the module source for identifier (and version, when given).
pub fn schema<'m>(
    modules: &'m [ModuleInfo],
    identifier: &str,
    version: Option<&str>,
) -> Vec<&'m ModuleInfo> {
    modules
        .iter()
        .filter(|m| m.name == identifier)
        .filter(|m| version.is_none_or(|v| v.is_empty() || m.revision.as_deref() == Some(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_and_library_describe_the_model() {
        let ctx = yang::context().unwrap();
        let mods = modules(ctx);
        let caps = capabilities(&mods);
        assert!(caps.iter().any(|c| c.starts_with(
            "urn:ietf:params:netconf:capability:yang-library:1.1?revision=2019-01-04&content-id="
        )));
        // netdhcp-server is YANG 1.1: only in the library, not a module capability.
        assert!(!caps.iter().any(|c| c.contains("module=netdhcp-server")));
        assert!(caps
            .iter()
            .any(|c| c.contains("module=ietf-netconf-monitoring")));
        assert!(caps
            .iter()
            .any(|c| c == netconf::notification::CAP_INTERLEAVE));
        assert!(caps
            .iter()
            .any(|c| c.contains("module=ietf-netconf-notifications")));
        let lib = yang_library_xml(&mods);
        assert!(lib.contains("<name>netdhcp-server</name><revision>2026-11-27</revision>"));
        // NMDA (RFC 8526 section 2): ietf-netconf-nmda implemented with the features get-data
        // honours (no origin), every datastore listed, with-operational-defaults announced.
        assert!(lib.contains("<module><name>ietf-netconf-nmda</name><revision>2019-01-07</revision><namespace>urn:ietf:params:xml:ns:yang:ietf-netconf-nmda</namespace><feature>with-defaults</feature></module>"), "{lib}");
        assert!(lib.contains("<name>ds:operational</name>"));
        assert!(caps.iter().any(|c| c == CAP_WITH_OPERATIONAL_DEFAULTS));
        let found = schema(&mods, "netdhcp-server", None);
        assert_eq!(found.len(), 1);
        assert!(found[0].text.starts_with("module netdhcp-server"));
        assert!(schema(&mods, "netdhcp-server", Some("1999-01-01")).is_empty());
        // The library parses against its own module.
        crate::northbound::assert_fits_the_model(&lib);
    }

    #[test]
    fn rfc5277_modules_are_advertised_and_served_by_get_schema() {
        let mods = modules(yang::context().unwrap());
        let caps = capabilities(&mods);
        let lib = yang_library_xml(&mods);
        for (name, ns) in [
            (
                "nc-notifications",
                netconf::notification::NS_NETMOD_NOTIFICATION,
            ),
            ("notifications", netconf::notification::NS_NOTIFICATION),
        ] {
            assert!(
                caps.iter()
                    .any(|c| c == &format!("{ns}?module={name}&revision=2008-07-14")),
                "{name}: {caps:?}"
            );
            assert!(
                lib.contains(&format!(
                    "<module><name>{name}</name><revision>2008-07-14</revision><namespace>{ns}</namespace>"
                )),
                "{name}: {lib}"
            );
            let found = schema(&mods, name, Some("2008-07-14"));
            assert_eq!(found.len(), 1, "{name}");
            assert!(found[0].text.starts_with(&format!("module {name} {{")));
        }
    }
}
