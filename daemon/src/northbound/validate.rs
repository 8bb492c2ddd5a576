//! The validation road every configuration takes: libyang parse and validation, then the
//! semantic checks and the typed `RuntimeConfig`.

use yang::data::{parse_config, validate_config, Format, YangError};
use yang::yang5::context::Context;
use yang::yang5::data::{DataFormat, DataPrinterFlags, DataTree};

use crate::config::{ConfigError, RuntimeConfig};

/// One reason a configuration is refused, with the data path it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The YANG model refuses it (syntax, type, must, unique, mandatory, leafref).
    #[error("{0}")]
    Yang(YangError),
    /// A semantic check refuses it (overlapping pools, reservation outside its subnet, ...).
    #[error("{0}")]
    Semantic(ConfigError),
}

impl Problem {
    /// Data path of the offending node, when known.
    pub fn path(&self) -> Option<&str> {
        match self {
            Problem::Yang(e) => e.path.as_deref(),
            Problem::Semantic(e) => Some(&e.path),
        }
    }
}

/// A configuration that passed every check: the tree (with defaults) and its typed form.
pub struct ValidatedConfig<'a> {
    /// The validated tree.
    pub tree: DataTree<'a>,
    /// Its typed form, ready to apply.
    pub runtime: RuntimeConfig,
}

impl ValidatedConfig<'_> {
    /// The tree as XML, explicit nodes only (what a user wrote), for the startup file.
    pub fn to_xml(&self) -> String {
        tree_to_xml(&self.tree)
    }
}

/// Prints a tree as XML without default nodes.
pub fn tree_to_xml(tree: &DataTree<'_>) -> String {
    yang::data::print(
        tree,
        DataFormat::XML,
        DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::WD_EXPLICIT,
    )
}

/// Validates a tree in place (adding defaults) and runs the semantic checks.
pub fn validate_tree(tree: &mut DataTree<'_>) -> Result<RuntimeConfig, Vec<Problem>> {
    validate_config(tree)
        .map_err(|errors| errors.into_iter().map(Problem::Yang).collect::<Vec<_>>())?;
    RuntimeConfig::try_from(&*tree)
        .map_err(|errors| errors.into_iter().map(Problem::Semantic).collect())
}

/// Parses and validates a configuration document (XML or JSON); returns every problem found.
pub fn validate_document<'a>(
    ctx: &'a Context,
    text: &str,
) -> Result<ValidatedConfig<'a>, Vec<Problem>> {
    let yang_problems =
        |errors: Vec<YangError>| errors.into_iter().map(Problem::Yang).collect::<Vec<_>>();
    let mut tree = parse_config(ctx, text, Format::sniff(text)).map_err(yang_problems)?;
    validate_config(&mut tree).map_err(yang_problems)?;
    let runtime = RuntimeConfig::try_from(&tree).map_err(|errors| {
        errors
            .into_iter()
            .map(Problem::Semantic)
            .collect::<Vec<_>>()
    })?;
    Ok(ValidatedConfig { tree, runtime })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> &'static Context {
        yang::context().expect("yang context")
    }

    const GOOD: &str = r#"<server xmlns="urn:netdhcp:yang:netdhcp-server">
      <dhcpv4>
        <interface>eth0</interface>
        <valid-lifetime>4000</valid-lifetime>
        <dns-server>100.64.0.1</dns-server>
        <subnet><id>1</id><prefix>100.64.0.0/24</prefix>
          <router>100.64.0.1</router>
          <pool><start>100.64.0.10</start><end>100.64.0.20</end></pool>
          <reservation><ip-address>100.64.0.50</ip-address><hw-address>02:00:00:00:00:50</hw-address></reservation>
          <option><code>42</code><format>ipv4-address-list</format><value>100.64.0.1</value></option>
        </subnet>
      </dhcpv4></server>"#;

    #[test]
    fn good_config_builds_runtime() {
        let ctx = ctx();
        let v = validate_document(ctx, GOOD)
            .map_err(|p| format!("{p:?}"))
            .unwrap();
        let d = &v.runtime.dhcp4;
        assert_eq!(d.interfaces, vec!["eth0".to_string()]);
        let s = d.subnet(1).unwrap();
        assert_eq!(s.lifetimes.valid, 4000);
        assert_eq!(s.lifetimes.renew, 2000);
        assert_eq!(s.lifetimes.rebind, 3500);
        assert_eq!(&*s.options.get(42).unwrap().data, &[100, 64, 0, 1]);
        assert_eq!(&*s.options.get(6).unwrap().data, &[100, 64, 0, 1]);
        assert!(s.reservation_for(None, &[2, 0, 0, 0, 0, 0x50]).is_some());
        assert_eq!(d.decline_probation, 86400);
        assert!(v.to_xml().contains("100.64.0.50"));
    }

    #[test]
    fn json_is_accepted() {
        let ctx = ctx();
        let json = r#"{"netdhcp-server:server":{"dhcpv4":{"subnet":[{"id":7,"prefix":"100.64.8.0/24"}]}}}"#;
        let v = validate_document(ctx, json)
            .map_err(|p| format!("{p:?}"))
            .unwrap();
        assert!(v.runtime.dhcp4.subnet(7).is_some());
    }

    fn problems(text: &str) -> Vec<Problem> {
        let ctx = ctx();
        let result = validate_document(ctx, text).map(|_| ());
        match result {
            Ok(()) => panic!("accepted: {text}"),
            Err(p) => p,
        }
    }

    #[test]
    fn yang_errors_carry_paths_and_all_are_reported() {
        let p = problems(
            r#"<server xmlns="urn:netdhcp:yang:netdhcp-server"><dhcpv4>
            <subnet><id>2</id><prefix>100.64.1.0/24</prefix>
              <reservation><ip-address>100.64.1.5</ip-address></reservation>
              <reservation><ip-address>100.64.1.6</ip-address></reservation></subnet>
            </dhcpv4></server>"#,
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p.iter().all(|e| e
                .to_string()
                .contains("exactly one of hw-address and client-id")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|e| e
                .path()
                .is_some_and(|x| x.contains("reservation[ip-address='100.64.1.6']"))),
            "{p:?}"
        );
        let p = problems(
            r#"<server xmlns="urn:netdhcp:yang:netdhcp-server"><dhcpv4>
            <subnet><id>1</id></subnet></dhcpv4></server>"#,
        );
        assert!(
            p.iter()
                .any(|e| e.path().is_some_and(|x| x.contains("subnet[id='1']"))),
            "{p:?}"
        );
    }

    #[test]
    fn bad_type_is_refused() {
        let p = problems(
            r#"<server xmlns="urn:netdhcp:yang:netdhcp-server"><dhcpv4>
            <subnet><id>1</id><prefix>100.64.300.0/24</prefix></subnet></dhcpv4></server>"#,
        );
        assert!(p[0].to_string().contains("100.64.300.0/24"), "{p:?}");
    }

    #[test]
    fn semantic_errors_are_all_reported() {
        let p = problems(
            r#"<server xmlns="urn:netdhcp:yang:netdhcp-server"><dhcpv4>
            <subnet><id>1</id><prefix>100.64.0.0/24</prefix>
              <pool><start>100.64.0.10</start><end>100.64.0.20</end></pool>
              <pool><start>100.64.0.15</start><end>100.64.0.30</end></pool>
              <pool><start>100.64.1.1</start><end>100.64.1.9</end></pool>
              <reservation><ip-address>100.65.0.1</ip-address><client-id>01:02</client-id></reservation>
              <relay-address>100.70.0.1</relay-address>
            </subnet>
            <subnet><id>2</id><prefix>100.64.0.128/25</prefix><relay-address>100.70.0.1</relay-address></subnet>
            </dhcpv4></server>"#,
        );
        let text: Vec<String> = p.iter().map(|e| e.to_string()).collect();
        let has = |needle: &str| text.iter().any(|t| t.contains(needle));
        assert!(has("overlaps pool 100.64.0.10-100.64.0.20"), "{text:?}");
        assert!(
            has("pool 100.64.1.1-100.64.1.9 is not inside subnet 100.64.0.0/24"),
            "{text:?}"
        );
        assert!(has("100.65.0.1 is outside subnet"), "{text:?}");
        assert!(has("overlaps subnet 2"), "{text:?}");
        assert!(
            has("relay address 100.70.0.1 is also configured for subnet 1"),
            "{text:?}"
        );
    }

    #[test]
    fn managed_option_codes_are_refused() {
        let p = problems(
            r#"<server xmlns="urn:netdhcp:yang:netdhcp-server"><dhcpv4>
            <option><code>51</code><value>00</value></option></dhcpv4></server>"#,
        );
        assert!(p[0].to_string().contains("managed by the server"), "{p:?}");
    }

    #[test]
    fn unknown_element_is_refused() {
        let p = problems(r#"<server xmlns="urn:netdhcp:yang:netdhcp-server"><bogus/></server>"#);
        assert!(!p.is_empty());
    }
}
