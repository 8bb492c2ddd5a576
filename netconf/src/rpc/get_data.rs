//! `<get-data>` of ietf-netconf-nmda (RFC 8526 section 3.1.1): reading one datastore of the
//! NMDA architecture (RFC 8342), operational included.
//!
//! The `origin` feature (origin annotations, `<with-origin>`, `<origin-filter>`) is not
//! implemented: those parameters are refused with `unknown-element`, as for any parameter the
//! advertised schema does not have.

use std::collections::BTreeMap;

use super::parse::{filter_namespaces, leaf, with_defaults, Params};
use super::{Datastore, Filter, Operation, WithDefaults, NS_WITH_DEFAULTS};
use crate::error::{ErrorTag, ErrorType, RpcError};
use crate::xml::Element;

/// The ietf-netconf-nmda namespace (RFC 8526), home of `<get-data>` and `<edit-data>`.
pub const NS_NMDA: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-nmda";
/// The ietf-datastores namespace (RFC 8342), home of the datastore identities.
pub const NS_DATASTORES: &str = "urn:ietf:params:xml:ns:yang:ietf-datastores";

/// A datastore `<get-data>` may read (RFC 8342 section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NmdaDatastore {
    /// `ds:running`, `ds:candidate` or `ds:startup`.
    Conventional(Datastore),
    /// `ds:operational`: the configuration in use plus system state.
    Operational,
}

impl NmdaDatastore {
    /// The identity's name, without prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            NmdaDatastore::Conventional(ds) => ds.as_str(),
            NmdaDatastore::Operational => "operational",
        }
    }
}

/// The parameters of `<get-data>`, checked and with defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetData {
    /// The datastore to read.
    pub datastore: NmdaDatastore,
    /// `<subtree-filter>` (as [`Filter::Subtree`]) or `<xpath-filter>` (as
    /// [`Filter::XPath`]), if sent.
    pub filter: Option<Filter>,
    /// `<config-filter>`: `Some(true)` keeps only `config true` nodes, `Some(false)` only
    /// `config false` nodes (with the ancestors and list keys that locate them).
    pub config_filter: Option<bool>,
    /// `<max-depth>`: how many levels below and including each selected node are returned;
    /// `None` is `unbounded` (the default).
    pub max_depth: Option<u16>,
    /// `<with-defaults>` (RFC 6243 semantics, RFC 8526 section 3.1.1), if sent.
    pub with_defaults: Option<WithDefaults>,
}

/// The parameters of the `origin` feature, refused since the feature is not implemented.
const ORIGIN_PARAMETERS: [&str; 3] = ["with-origin", "origin-filter", "negated-origin-filter"];

/// Parses `<get-data>` (the operation element, namespace already checked).
pub(super) fn get_data(op: &Element) -> Result<Operation, RpcError> {
    if let Some(origin) = op
        .elements()
        .find(|e| e.ns.as_deref() == Some(NS_NMDA) && ORIGIN_PARAMETERS.contains(&e.local.as_str()))
    {
        return Err(RpcError::unknown_element(&origin.local).with_message(format!(
            "<{}> belongs to the origin feature of ietf-netconf-nmda, which this server does not implement",
            origin.local
        )));
    }
    // with-defaults comes from a grouping of ietf-netconf-with-defaults used in
    // ietf-netconf-nmda, so its namespace is nmda's; some clients send it in the
    // with-defaults namespace, as for <get>.
    let p = Params::read(
        op,
        &[
            (NS_NMDA, "datastore"),
            (NS_NMDA, "subtree-filter"),
            (NS_NMDA, "xpath-filter"),
            (NS_NMDA, "config-filter"),
            (NS_NMDA, "max-depth"),
            (NS_NMDA, "with-defaults"),
            (NS_WITH_DEFAULTS, "with-defaults"),
        ],
    )?;
    let datastore = datastore_ref(p.require("datastore")?)?;
    let filter = match (p.get("subtree-filter"), p.get("xpath-filter")) {
        (Some(_), Some(_)) => {
            return Err(RpcError::bad_element(
                "xpath-filter",
                "<subtree-filter> and <xpath-filter> are alternatives: send one of them",
            ))
        }
        (Some(subtree), None) => Some(Filter::Subtree(subtree.inner_standalone())),
        (None, Some(xpath)) => Some(xpath_filter(xpath)?),
        (None, None) => None,
    };
    let config_filter = match p.get("config-filter") {
        None => None,
        Some(e) => match leaf(e)?.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            other => {
                return Err(RpcError::invalid_value(
                    "config-filter",
                    format!("\"{other}\" is not a boolean (true, false)"),
                ))
            }
        },
    };
    let max_depth = match p.get("max-depth") {
        None => None,
        Some(e) => {
            let text = leaf(e)?;
            match text.as_str() {
                "unbounded" => None,
                _ => match text.parse::<u16>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => {
                        return Err(RpcError::invalid_value(
                            "max-depth",
                            format!("\"{text}\" is not a max-depth (1 to 65535, or unbounded)"),
                        ))
                    }
                },
            }
        }
    };
    Ok(Operation::GetData(GetData {
        datastore,
        filter,
        config_filter,
        max_depth,
        with_defaults: p.get("with-defaults").map(with_defaults).transpose()?,
    }))
}

/// `<xpath-filter>`: the expression is the leaf's value; its prefixes resolve through the
/// namespace declarations in scope on the leaf (RFC 8526 section 3.1.1).
fn xpath_filter(e: &Element) -> Result<Filter, RpcError> {
    let select = leaf(e)?;
    if select.is_empty() {
        return Err(RpcError::invalid_value(
            "xpath-filter",
            "<xpath-filter> holds no expression",
        ));
    }
    let namespaces: BTreeMap<String, String> = filter_namespaces(e);
    Ok(Filter::XPath { select, namespaces })
}

/// `<datastore>`: an identityref to a datastore identity (`ds:operational`), its prefix
/// resolved through the declarations in scope on the element (RFC 7950 section 9.10.3).
fn datastore_ref(e: &Element) -> Result<NmdaDatastore, RpcError> {
    let value = leaf(e)?;
    let (prefix, name) = match value.split_once(':') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, value.as_str()),
    };
    let namespace = e
        .effective_scope()
        .into_iter()
        .find(|(p, _)| *p == prefix)
        .map(|(_, uri)| uri);
    let not_a_datastore = |why: String| {
        RpcError::new(ErrorType::Protocol, ErrorTag::InvalidValue)
            .with_message(why)
            .with_info(crate::error::ErrorInfo::BadElement("datastore".to_owned()))
    };
    let Some(namespace) = namespace else {
        return Err(not_a_datastore(format!(
            "\"{value}\" is not a datastore identity: prefix \"{}\" is not declared",
            prefix.unwrap_or_default()
        )));
    };
    if namespace != NS_DATASTORES {
        return Err(not_a_datastore(format!(
            "\"{value}\" is not a datastore identity of ietf-datastores ({NS_DATASTORES})"
        )));
    }
    match name {
        "running" => Ok(NmdaDatastore::Conventional(Datastore::Running)),
        "candidate" => Ok(NmdaDatastore::Conventional(Datastore::Candidate)),
        "startup" => Ok(NmdaDatastore::Conventional(Datastore::Startup)),
        "operational" => Ok(NmdaDatastore::Operational),
        // RFC 8526 section 3.1.1: a datastore the server does not implement is invalid-value.
        "intended" => Err(not_a_datastore(
            "this server has no intended datastore (running, candidate, startup, operational)"
                .to_owned(),
        )),
        other => Err(not_a_datastore(format!(
            "\"{other}\" is not a datastore of ietf-datastores"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse_rpc, NS_BASE};
    use super::*;
    use crate::error::ErrorInfo;
    use crate::rpc::RpcParseError;

    fn request(params: &str) -> String {
        format!(
            r#"<rpc message-id="1" xmlns="{NS_BASE}"><get-data xmlns="{NS_NMDA}" xmlns:ds="{NS_DATASTORES}">{params}</get-data></rpc>"#
        )
    }

    fn parsed(params: &str) -> GetData {
        let rpc = parse_rpc(request(params).as_bytes()).expect("get-data parses");
        match rpc.operation {
            Operation::GetData(g) => g,
            other => panic!("expected get-data, got {other:?}"),
        }
    }

    fn refused(params: &str) -> RpcError {
        match parse_rpc(request(params).as_bytes()) {
            Err(RpcParseError::Rejected { error, .. }) => error,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn every_datastore_identity() {
        for (name, expected) in [
            ("running", NmdaDatastore::Conventional(Datastore::Running)),
            (
                "candidate",
                NmdaDatastore::Conventional(Datastore::Candidate),
            ),
            ("startup", NmdaDatastore::Conventional(Datastore::Startup)),
            ("operational", NmdaDatastore::Operational),
        ] {
            let g = parsed(&format!("<datastore>ds:{name}</datastore>"));
            assert_eq!(
                g,
                GetData {
                    datastore: expected,
                    filter: None,
                    config_filter: None,
                    max_depth: None,
                    with_defaults: None
                }
            );
            assert_eq!(g.datastore.as_str(), name);
        }
    }

    #[test]
    fn datastore_prefix_is_resolved_by_namespace_not_spelling() {
        let msg = format!(
            r#"<rpc message-id="1" xmlns="{NS_BASE}" xmlns:x="{NS_DATASTORES}"><get-data xmlns="{NS_NMDA}"><datastore>x:operational</datastore></get-data></rpc>"#
        );
        let rpc = parse_rpc(msg.as_bytes()).expect("parses");
        assert!(matches!(
            rpc.operation,
            Operation::GetData(GetData {
                datastore: NmdaDatastore::Operational,
                ..
            })
        ));
    }

    #[test]
    fn unknown_and_missing_datastores_are_invalid_value() {
        for bad in [
            "<datastore>ds:intended</datastore>",
            "<datastore>ds:bogus</datastore>",
            "<datastore>nope:running</datastore>",
            "<datastore>running</datastore>",
            r#"<datastore xmlns:o="urn:other">o:running</datastore>"#,
        ] {
            let e = refused(bad);
            assert_eq!(
                (e.error_type, e.tag, e.info.clone()),
                (
                    ErrorType::Protocol,
                    ErrorTag::InvalidValue,
                    vec![ErrorInfo::BadElement("datastore".into())]
                ),
                "{bad}"
            );
        }
        let e = refused("");
        assert_eq!(e.tag, ErrorTag::MissingElement);
    }

    #[test]
    fn filters_depth_and_defaults() {
        let g = parsed(&format!(
            r#"<datastore>ds:operational</datastore><subtree-filter><server xmlns="urn:s"><state/></server></subtree-filter><config-filter>false</config-filter><max-depth>2</max-depth><with-defaults xmlns="{NS_WITH_DEFAULTS}">report-all</with-defaults>"#
        ));
        assert_eq!(
            g,
            GetData {
                datastore: NmdaDatastore::Operational,
                filter: Some(Filter::Subtree(format!(
                    r#"<server xmlns:ds="{NS_DATASTORES}" xmlns="urn:s"><state/></server>"#
                ))),
                config_filter: Some(false),
                max_depth: Some(2),
                with_defaults: Some(WithDefaults::ReportAll),
            }
        );
        let g = parsed(
            r#"<datastore>ds:running</datastore><xpath-filter xmlns:s="urn:s">/s:server/s:subnet</xpath-filter><config-filter>true</config-filter><max-depth>unbounded</max-depth><with-defaults>trim</with-defaults>"#,
        );
        let mut namespaces = BTreeMap::new();
        namespaces.insert("ds".to_owned(), NS_DATASTORES.to_owned());
        namespaces.insert("s".to_owned(), "urn:s".to_owned());
        assert_eq!(
            g,
            GetData {
                datastore: NmdaDatastore::Conventional(Datastore::Running),
                filter: Some(Filter::XPath {
                    select: "/s:server/s:subnet".into(),
                    namespaces
                }),
                config_filter: Some(true),
                max_depth: None,
                with_defaults: Some(WithDefaults::Trim),
            }
        );
    }

    #[test]
    fn bad_parameters() {
        for (params, tag, element) in [
            (
                "<datastore>ds:running</datastore><max-depth>0</max-depth>",
                ErrorTag::InvalidValue,
                "max-depth",
            ),
            (
                "<datastore>ds:running</datastore><max-depth>65536</max-depth>",
                ErrorTag::InvalidValue,
                "max-depth",
            ),
            (
                "<datastore>ds:running</datastore><config-filter>yes</config-filter>",
                ErrorTag::InvalidValue,
                "config-filter",
            ),
            (
                "<datastore>ds:running</datastore><xpath-filter>/a</xpath-filter><subtree-filter/>",
                ErrorTag::BadElement,
                "xpath-filter",
            ),
            (
                "<datastore>ds:running</datastore><xpath-filter/>",
                ErrorTag::InvalidValue,
                "xpath-filter",
            ),
            (
                "<datastore>ds:running</datastore><with-defaults>all</with-defaults>",
                ErrorTag::InvalidValue,
                "with-defaults",
            ),
            (
                "<datastore>ds:running</datastore><bogus/>",
                ErrorTag::UnknownElement,
                "bogus",
            ),
        ] {
            let e = refused(params);
            assert_eq!(
                (e.tag, e.info.first().cloned()),
                (tag, Some(ErrorInfo::BadElement(element.into()))),
                "{params}"
            );
        }
    }

    #[test]
    fn origin_parameters_are_refused_with_their_reason() {
        for params in [
            "<datastore>ds:operational</datastore><with-origin/>",
            "<datastore>ds:operational</datastore><origin-filter xmlns:or='urn:ietf:params:xml:ns:yang:ietf-origin'>or:intended</origin-filter>",
            "<datastore>ds:operational</datastore><negated-origin-filter xmlns:or='urn:ietf:params:xml:ns:yang:ietf-origin'>or:system</negated-origin-filter>",
        ] {
            let e = refused(params);
            assert_eq!(
                (e.error_type, e.tag),
                (ErrorType::Protocol, ErrorTag::UnknownElement),
                "{params}"
            );
            assert!(
                e.message
                    .as_deref()
                    .is_some_and(|m| m.contains("origin feature")),
                "{e:?}"
            );
        }
    }
}
