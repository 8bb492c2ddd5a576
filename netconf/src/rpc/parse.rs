//! Parsing one `<rpc>` message into an [`Rpc`] (RFC 6241 sections 4.1 and 7, RFC 6022, RFC 6243).

// RpcError is ~150 bytes; an error here is a cold path taken once per bad request, so boxing
// it would add an allocation for nothing measurable.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;

use super::{
    ConfigSource, Datastore, DefaultOperation, ErrorOption, Filter, Operation, Rpc, RpcAttributes,
    TestOption, WithDefaults, NS_BASE, NS_MONITORING, NS_NMDA, NS_WITH_DEFAULTS,
};
use crate::error::{ErrorInfo, ErrorTag, ErrorType, RpcError};
use crate::notification::time::parse_date_and_time;
use crate::notification::{NS_NOTIFICATION, STREAM_NETCONF};
use crate::xml::{self, Element, XmlError};

/// Why a message does not yield an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcParseError {
    /// The message is not well-formed XML, or not an `<rpc>` in the base namespace. The reply
    /// carries no attributes (there is no trustworthy `message-id`), and RFC 6241 has the
    /// session closed after it.
    Malformed(RpcError),
    /// The `<rpc>` envelope was read but the request cannot be carried out (missing
    /// `message-id`, unknown base operation, bad parameter). The reply echoes `attributes`;
    /// the session goes on.
    Rejected {
        /// The `<rpc>` attributes to echo.
        attributes: RpcAttributes,
        /// The error to report.
        error: RpcError,
    },
}

/// Parses one complete message (as returned by the framing decoder) into a request.
pub fn parse_rpc(message: &[u8]) -> Result<Rpc, RpcParseError> {
    let root = xml::parse(message).map_err(|e| match e {
        XmlError::Malformed(msg) => RpcParseError::Malformed(RpcError::malformed_message(msg)),
        XmlError::TooDeep => RpcParseError::Malformed(RpcError::too_big(e.to_string())),
    })?;
    if !root.is(NS_BASE, "rpc") {
        return Err(RpcParseError::Malformed(RpcError::malformed_message(
            format!(
                "expected <rpc> in namespace {NS_BASE}, got <{}> in namespace \"{}\"",
                root.local,
                root.ns.as_deref().unwrap_or_default()
            ),
        )));
    }
    let attributes = rpc_attributes(&root);
    let reject = |error| RpcParseError::Rejected {
        attributes: attributes.clone(),
        error,
    };
    if root.attr("message-id").is_none() {
        return Err(reject(RpcError::missing_attribute(
            ErrorType::Rpc,
            "message-id",
            "rpc",
        )));
    }
    let mut ops = root.elements();
    let Some(op) = ops.next() else {
        return Err(reject(
            RpcError::new(ErrorType::Rpc, ErrorTag::MissingElement)
                .with_message("<rpc> contains no operation")
                .with_info(ErrorInfo::BadElement("rpc".into())),
        ));
    };
    if let Some(extra) = ops.next() {
        return Err(reject(
            RpcError::new(ErrorType::Rpc, ErrorTag::UnknownElement)
                .with_message(format!(
                    "<rpc> contains more than one operation: <{}>",
                    extra.local
                ))
                .with_info(ErrorInfo::BadElement(extra.local.clone())),
        ));
    }
    let operation = parse_operation(op).map_err(reject)?;
    Ok(Rpc {
        attributes,
        operation,
    })
}

fn rpc_attributes(root: &Element) -> RpcAttributes {
    let mut attributes = Vec::new();
    for (prefix, uri) in &root.decls {
        // The reply declares its own default namespace; prefixed declarations are echoed so
        // prefixed attributes stay resolvable.
        if let Some(p) = prefix {
            attributes.push((format!("xmlns:{p}"), uri.clone()));
        }
    }
    for a in &root.attrs {
        attributes.push((a.qname.clone(), a.value.clone()));
    }
    RpcAttributes { attributes }
}

fn parse_operation(op: &Element) -> Result<Operation, RpcError> {
    let ns = op.ns.as_deref().unwrap_or_default();
    if ns == NS_MONITORING && op.local == "get-schema" {
        return get_schema(op);
    }
    if ns == NS_NOTIFICATION && op.local == "create-subscription" {
        return create_subscription(op);
    }
    if ns == NS_NMDA && op.local == "get-data" {
        return super::get_data::get_data(op);
    }
    if ns != NS_BASE {
        let mut xml = String::new();
        op.write_standalone(&mut xml);
        return Ok(Operation::Other {
            name: op.local.clone(),
            namespace: ns.to_owned(),
            xml,
        });
    }
    match op.local.as_str() {
        "get" => {
            let p = Params::read(
                op,
                &[(NS_BASE, "filter"), (NS_WITH_DEFAULTS, "with-defaults")],
            )?;
            Ok(Operation::Get {
                filter: p.get("filter").map(filter).transpose()?,
                with_defaults: p.get("with-defaults").map(with_defaults).transpose()?,
            })
        }
        "get-config" => {
            let p = Params::read(
                op,
                &[
                    (NS_BASE, "source"),
                    (NS_BASE, "filter"),
                    (NS_WITH_DEFAULTS, "with-defaults"),
                ],
            )?;
            Ok(Operation::GetConfig {
                source: datastore(p.require("source")?)?,
                filter: p.get("filter").map(filter).transpose()?,
                with_defaults: p.get("with-defaults").map(with_defaults).transpose()?,
            })
        }
        "edit-config" => {
            let p = Params::read(
                op,
                &[
                    (NS_BASE, "target"),
                    (NS_BASE, "default-operation"),
                    (NS_BASE, "test-option"),
                    (NS_BASE, "error-option"),
                    (NS_BASE, "config"),
                    (NS_BASE, "url"),
                ],
            )?;
            let target = datastore(p.require("target")?)?;
            if p.get("url").is_some() {
                return Err(url_not_supported());
            }
            let default_operation = match p.get("default-operation") {
                None => DefaultOperation::default(),
                Some(e) => match leaf(e)?.as_str() {
                    "merge" => DefaultOperation::Merge,
                    "replace" => DefaultOperation::Replace,
                    "none" => DefaultOperation::None,
                    other => return Err(bad_enum(e, other)),
                },
            };
            let test_option = match p.get("test-option") {
                None => TestOption::default(),
                Some(e) => match leaf(e)?.as_str() {
                    "test-then-set" => TestOption::TestThenSet,
                    "set" => TestOption::Set,
                    "test-only" => TestOption::TestOnly,
                    other => return Err(bad_enum(e, other)),
                },
            };
            let error_option = match p.get("error-option") {
                None => ErrorOption::default(),
                Some(e) => match leaf(e)?.as_str() {
                    "stop-on-error" => ErrorOption::StopOnError,
                    "continue-on-error" => ErrorOption::ContinueOnError,
                    "rollback-on-error" => ErrorOption::RollbackOnError,
                    other => return Err(bad_enum(e, other)),
                },
            };
            let config = p.require("config")?.inner_standalone();
            Ok(Operation::EditConfig {
                target,
                default_operation,
                test_option,
                error_option,
                config,
            })
        }
        "copy-config" => {
            let p = Params::read(
                op,
                &[
                    (NS_BASE, "target"),
                    (NS_BASE, "source"),
                    (NS_WITH_DEFAULTS, "with-defaults"),
                ],
            )?;
            Ok(Operation::CopyConfig {
                target: datastore(p.require("target")?)?,
                source: config_source(p.require("source")?)?,
                with_defaults: p.get("with-defaults").map(with_defaults).transpose()?,
            })
        }
        "delete-config" => {
            let p = Params::read(op, &[(NS_BASE, "target")])?;
            Ok(Operation::DeleteConfig {
                target: datastore(p.require("target")?)?,
            })
        }
        "lock" => {
            let p = Params::read(op, &[(NS_BASE, "target")])?;
            Ok(Operation::Lock {
                target: datastore(p.require("target")?)?,
            })
        }
        "unlock" => {
            let p = Params::read(op, &[(NS_BASE, "target")])?;
            Ok(Operation::Unlock {
                target: datastore(p.require("target")?)?,
            })
        }
        "close-session" => {
            Params::read(op, &[])?;
            Ok(Operation::CloseSession)
        }
        "kill-session" => {
            let p = Params::read(op, &[(NS_BASE, "session-id")])?;
            let e = p.require("session-id")?;
            let text = leaf(e)?;
            match text.parse::<u32>() {
                Ok(id) if id > 0 => Ok(Operation::KillSession { session_id: id }),
                _ => Err(RpcError::invalid_value(
                    "session-id",
                    format!("\"{text}\" is not a session-id (1 to 4294967295)"),
                )),
            }
        }
        "validate" => {
            let p = Params::read(op, &[(NS_BASE, "source")])?;
            Ok(Operation::Validate {
                source: config_source(p.require("source")?)?,
            })
        }
        "commit" => {
            let p = Params::read(
                op,
                &[
                    (NS_BASE, "confirmed"),
                    (NS_BASE, "confirm-timeout"),
                    (NS_BASE, "persist"),
                    (NS_BASE, "persist-id"),
                ],
            )?;
            if let Some(e) = p.get("confirmed") {
                empty(e)?;
            }
            let confirm_timeout = match p.get("confirm-timeout") {
                None => 600,
                Some(e) => {
                    let text = leaf(e)?;
                    match text.parse::<u32>() {
                        Ok(n) if n > 0 => n,
                        _ => {
                            return Err(RpcError::invalid_value(
                                "confirm-timeout",
                                format!("\"{text}\" is not a number of seconds (1 to 4294967295)"),
                            ))
                        }
                    }
                }
            };
            Ok(Operation::Commit {
                confirmed: p.get("confirmed").is_some(),
                confirm_timeout,
                persist: p.get("persist").map(leaf).transpose()?,
                persist_id: p.get("persist-id").map(leaf).transpose()?,
            })
        }
        "cancel-commit" => {
            let p = Params::read(op, &[(NS_BASE, "persist-id")])?;
            Ok(Operation::CancelCommit {
                persist_id: p.get("persist-id").map(leaf).transpose()?,
            })
        }
        "discard-changes" => {
            Params::read(op, &[])?;
            Ok(Operation::DiscardChanges)
        }
        other => Err(RpcError::operation_not_supported(other)),
    }
}

fn get_schema(op: &Element) -> Result<Operation, RpcError> {
    let p = Params::read(
        op,
        &[
            (NS_MONITORING, "identifier"),
            (NS_MONITORING, "version"),
            (NS_MONITORING, "format"),
        ],
    )?;
    let identifier = leaf(p.require("identifier")?)?;
    let version = p.get("version").map(leaf).transpose()?;
    // `format` is an identityref: "yang", "ncm:yang"; the prefix is only a spelling.
    let format = p
        .get("format")
        .map(leaf)
        .transpose()?
        .map(|f| match f.split_once(':') {
            Some((_, local)) => local.to_owned(),
            None => f,
        });
    Ok(Operation::GetSchema {
        identifier,
        version,
        format,
    })
}

/// `<create-subscription>` (RFC 5277 section 2.1.1). The filter may be in the notification
/// namespace (as RFC 5277's schema has it) or in the base namespace (as ncclient sends it).
fn create_subscription(op: &Element) -> Result<Operation, RpcError> {
    let p = Params::read(
        op,
        &[
            (NS_NOTIFICATION, "stream"),
            (NS_NOTIFICATION, "filter"),
            (NS_BASE, "filter"),
            (NS_NOTIFICATION, "startTime"),
            (NS_NOTIFICATION, "stopTime"),
        ],
    )?;
    let stream = match p.get("stream") {
        None => STREAM_NETCONF.to_owned(),
        Some(e) => leaf(e)?,
    };
    if stream != STREAM_NETCONF {
        return Err(RpcError::invalid_value(
            "stream",
            format!("no stream \"{stream}\": this server has only {STREAM_NETCONF}"),
        ));
    }
    let time = |name: &str| -> Result<Option<std::time::SystemTime>, RpcError> {
        match p.get(name) {
            None => Ok(None),
            Some(e) => {
                let text = leaf(e)?;
                parse_date_and_time(&text).map(Some).ok_or_else(|| {
                    RpcError::invalid_value(
                        name,
                        format!("\"{text}\" is not a date-and-time (RFC 3339)"),
                    )
                })
            }
        }
    };
    let start_time = time("startTime")?;
    let stop_time = time("stopTime")?;
    match (start_time, stop_time) {
        (None, Some(_)) => {
            return Err(RpcError::bad_element(
                "stopTime",
                "a stopTime needs a startTime",
            ))
        }
        (Some(start), Some(stop)) if stop < start => {
            return Err(RpcError::bad_element(
                "stopTime",
                "the stopTime is earlier than the startTime",
            ))
        }
        _ => {}
    }
    Ok(Operation::CreateSubscription {
        stream,
        filter: p.get("filter").map(filter).transpose()?,
        start_time,
        stop_time,
    })
}

/// The parameters of one operation, by local name.
pub(super) struct Params<'a> {
    found: Vec<(&'static str, &'a Element)>,
}

impl<'a> Params<'a> {
    /// Collects `op`'s child elements, refusing names outside `allowed` (namespace, name) and
    /// repeated parameters.
    pub(super) fn read(
        op: &'a Element,
        allowed: &[(&'static str, &'static str)],
    ) -> Result<Self, RpcError> {
        let mut found: Vec<(&'static str, &'a Element)> = Vec::new();
        for child in op.elements() {
            let ns = child.ns.as_deref().unwrap_or_default();
            let Some(&(_, name)) = allowed
                .iter()
                .find(|(ans, aname)| *ans == ns && *aname == child.local)
            else {
                let known_ns = ns == NS_BASE || allowed.iter().any(|(ans, _)| *ans == ns);
                return Err(if known_ns {
                    RpcError::unknown_element(&child.local)
                } else {
                    RpcError::unknown_namespace(&child.local, ns)
                });
            };
            if found.iter().any(|(n, _)| *n == name) {
                return Err(RpcError::bad_element(
                    name,
                    format!("parameter <{name}> of <{}> given twice", op.local),
                ));
            }
            found.push((name, child));
        }
        Ok(Params { found })
    }

    pub(super) fn get(&self, name: &str) -> Option<&'a Element> {
        self.found.iter().find(|(n, _)| *n == name).map(|(_, e)| *e)
    }

    pub(super) fn require(&self, name: &str) -> Result<&'a Element, RpcError> {
        self.get(name)
            .ok_or_else(|| RpcError::missing_element(name))
    }
}

/// The trimmed text of a parameter that must not contain elements.
pub(super) fn leaf(e: &Element) -> Result<String, RpcError> {
    if let Some(child) = e.elements().next() {
        return Err(RpcError::bad_element(
            &e.local,
            format!(
                "<{}> must hold a value, not element <{}>",
                e.local, child.local
            ),
        ));
    }
    Ok(e.text().trim().to_owned())
}

/// A flag parameter such as `<confirmed/>`: nothing inside.
fn empty(e: &Element) -> Result<(), RpcError> {
    if e.elements().next().is_some() || e.has_text() {
        return Err(RpcError::bad_element(
            &e.local,
            format!("<{}> must be empty", e.local),
        ));
    }
    Ok(())
}

fn bad_enum(e: &Element, value: &str) -> RpcError {
    RpcError::invalid_value(
        &e.local,
        format!("\"{value}\" is not a valid <{}>", e.local),
    )
}

fn url_not_supported() -> RpcError {
    RpcError::operation_not_supported("url").with_message("the :url capability is not supported")
}

/// `<source>` or `<target>` naming one datastore.
fn datastore(param: &Element) -> Result<Datastore, RpcError> {
    let mut kids = param.elements();
    let Some(ds) = kids.next() else {
        return Err(RpcError::missing_element(&param.local)
            .with_message(format!("<{}> names no datastore", param.local)));
    };
    if let Some(extra) = kids.next() {
        return Err(RpcError::bad_element(
            &param.local,
            format!(
                "<{}> names more than one datastore (<{}>)",
                param.local, extra.local
            ),
        ));
    }
    if ds.ns.as_deref() != Some(NS_BASE) {
        return Err(RpcError::unknown_namespace(
            &ds.local,
            ds.ns.as_deref().unwrap_or_default(),
        ));
    }
    if ds.local == "url" {
        return Err(url_not_supported());
    }
    empty(ds)?;
    match ds.local.as_str() {
        "running" => Ok(Datastore::Running),
        "candidate" => Ok(Datastore::Candidate),
        "startup" => Ok(Datastore::Startup),
        other => Err(RpcError::invalid_value(
            &param.local,
            format!("<{other}> is not a datastore"),
        )
        .with_info(ErrorInfo::BadElement(other.to_owned()))),
    }
}

/// `<source>` of copy-config or validate: a datastore or `<config>`.
fn config_source(param: &Element) -> Result<ConfigSource, RpcError> {
    if let Some(config) = param.elements().find(|e| e.is(NS_BASE, "config")) {
        if param.elements().count() > 1 {
            return Err(RpcError::bad_element(
                &param.local,
                "<source> holds <config> and something else",
            ));
        }
        return Ok(ConfigSource::Config(config.inner_standalone()));
    }
    datastore(param).map(ConfigSource::Datastore)
}

pub(super) fn with_defaults(e: &Element) -> Result<WithDefaults, RpcError> {
    match leaf(e)?.as_str() {
        "report-all" => Ok(WithDefaults::ReportAll),
        "report-all-tagged" => Ok(WithDefaults::ReportAllTagged),
        "trim" => Ok(WithDefaults::Trim),
        "explicit" => Ok(WithDefaults::Explicit),
        other => Err(bad_enum(e, other)),
    }
}

/// Every prefix declared in scope on the element holding an XPath filter, to resolve the
/// prefixes of the expression. The default namespace is left out: XPath 1.0 names without a
/// prefix are in no namespace.
pub(super) fn filter_namespaces(e: &Element) -> BTreeMap<String, String> {
    e.effective_scope()
        .into_iter()
        .filter_map(|(prefix, uri)| prefix.map(|p| (p.to_owned(), uri.to_owned())))
        .collect()
}

/// `<filter>`: its `type` and `select` attributes may be unqualified (as RFC 6241 writes them)
/// or in the base namespace (as some clients send them).
fn filter(e: &Element) -> Result<Filter, RpcError> {
    let attr = |name: &str| {
        e.attrs
            .iter()
            .find(|a| a.local == name && (a.ns.is_none() || a.ns.as_deref() == Some(NS_BASE)))
            .map(|a| a.value.as_str())
    };
    match attr("type").unwrap_or("subtree") {
        "subtree" => Ok(Filter::Subtree(e.inner_standalone())),
        "xpath" => {
            let Some(select) = attr("select") else {
                return Err(RpcError::missing_attribute(
                    ErrorType::Protocol,
                    "select",
                    "filter",
                ));
            };
            let namespaces = filter_namespaces(e);
            Ok(Filter::XPath {
                select: select.to_owned(),
                namespaces,
            })
        }
        other => Err(RpcError::bad_attribute(
            ErrorType::Protocol,
            "type",
            "filter",
            format!("filter type \"{other}\" is not supported (subtree, xpath)"),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const B: &str = NS_BASE;

    fn rpc(body: &str) -> String {
        format!(r#"<rpc message-id="1" xmlns="{B}">{body}</rpc>"#)
    }

    fn op(body: &str) -> Operation {
        parse_rpc(rpc(body).as_bytes()).unwrap().operation
    }

    fn rejected(msg: &str) -> RpcError {
        match parse_rpc(msg.as_bytes()) {
            Err(RpcParseError::Rejected { error, .. }) => error,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    fn rejected_op(body: &str) -> RpcError {
        rejected(&rpc(body))
    }

    #[test]
    fn attributes_are_echoed() {
        let msg = format!(
            r#"<rpc message-id="101" xmlns="{B}" xmlns:ex="http://example.net/content/1.0" ex:user-id="fred"><get/></rpc>"#
        );
        let r = parse_rpc(msg.as_bytes()).unwrap();
        assert_eq!(r.attributes.message_id(), Some("101"));
        assert_eq!(
            r.attributes.attributes,
            vec![
                (
                    "xmlns:ex".to_owned(),
                    "http://example.net/content/1.0".to_owned()
                ),
                ("message-id".to_owned(), "101".to_owned()),
                ("ex:user-id".to_owned(), "fred".to_owned()),
            ]
        );
    }

    #[test]
    fn missing_message_id() {
        let e = rejected(&format!(r#"<rpc xmlns="{B}" other="x"><get/></rpc>"#));
        assert_eq!(
            (e.error_type, e.tag),
            (ErrorType::Rpc, ErrorTag::MissingAttribute)
        );
        assert_eq!(
            e.info,
            vec![
                ErrorInfo::BadAttribute("message-id".into()),
                ErrorInfo::BadElement("rpc".into())
            ]
        );
    }

    #[test]
    fn malformed_and_not_rpc() {
        for msg in [
            "<rpc",
            "<hello xmlns='urn:ietf:params:xml:ns:netconf:base:1.0'/>",
            "<rpc message-id='1'><get/></rpc>",
        ] {
            match parse_rpc(msg.as_bytes()) {
                Err(RpcParseError::Malformed(e)) => assert_eq!(e.tag, ErrorTag::MalformedMessage),
                other => panic!("{msg}: {other:?}"),
            }
        }
    }

    #[test]
    fn prefixed_rpc() {
        let msg = format!(
            r#"<nc:rpc xmlns:nc="{B}" message-id="7"><nc:get-config><nc:source><nc:running/></nc:source></nc:get-config></nc:rpc>"#
        );
        let r = parse_rpc(msg.as_bytes()).unwrap();
        assert_eq!(
            r.operation,
            Operation::GetConfig {
                source: Datastore::Running,
                filter: None,
                with_defaults: None
            }
        );
    }

    #[test]
    fn get_with_filters_and_defaults() {
        let o = op(&format!(
            r#"<get><filter type="subtree"><top xmlns="urn:t"><a/></top></filter><with-defaults xmlns="{NS_WITH_DEFAULTS}">report-all-tagged</with-defaults></get>"#
        ));
        assert_eq!(
            o,
            Operation::Get {
                filter: Some(Filter::Subtree(r#"<top xmlns="urn:t"><a/></top>"#.into())),
                with_defaults: Some(WithDefaults::ReportAllTagged),
            }
        );
        // Filter with no type attribute is subtree; empty filter selects nothing.
        assert_eq!(
            op("<get><filter/></get>"),
            Operation::Get {
                filter: Some(Filter::Subtree(String::new())),
                with_defaults: None
            }
        );
    }

    #[test]
    fn xpath_filter_namespaces_from_ancestors() {
        let msg = format!(
            r#"<rpc message-id="1" xmlns="{B}" xmlns:ndhcp="urn:ndhcp"><get-config><source><candidate/></source><filter xmlns:a="urn:a" type="xpath" select="/ndhcp:server"/></get-config></rpc>"#
        );
        let r = parse_rpc(msg.as_bytes()).unwrap();
        let Operation::GetConfig {
            source,
            filter: Some(Filter::XPath { select, namespaces }),
            ..
        } = r.operation
        else {
            panic!("{:?}", r.operation)
        };
        assert_eq!(source, Datastore::Candidate);
        assert_eq!(select, "/ndhcp:server");
        assert_eq!(
            namespaces.get("ndhcp").map(String::as_str),
            Some("urn:ndhcp")
        );
        assert_eq!(namespaces.get("a").map(String::as_str), Some("urn:a"));
        assert_eq!(namespaces.len(), 2);
    }

    #[test]
    fn xpath_filter_errors() {
        let e = rejected_op(r#"<get><filter type="xpath"/></get>"#);
        assert_eq!(e.tag, ErrorTag::MissingAttribute);
        let e = rejected_op(r#"<get><filter type="regex"/></get>"#);
        assert_eq!(e.tag, ErrorTag::BadAttribute);
    }

    #[test]
    fn get_config_errors() {
        let e = rejected_op("<get-config/>");
        assert_eq!(
            (e.tag, e.info.clone()),
            (
                ErrorTag::MissingElement,
                vec![ErrorInfo::BadElement("source".into())]
            )
        );
        let e = rejected_op("<get-config><source><nowhere/></source></get-config>");
        assert_eq!(e.tag, ErrorTag::InvalidValue);
        let e = rejected_op("<get-config><source><running/></source><bogus/></get-config>");
        assert_eq!(e.tag, ErrorTag::UnknownElement);
        let e =
            rejected_op("<get-config><source><running/></source><x xmlns='urn:x'/></get-config>");
        assert_eq!(e.tag, ErrorTag::UnknownNamespace);
        let e = rejected_op(
            "<get-config><source><running/></source><source><running/></source></get-config>",
        );
        assert_eq!(e.tag, ErrorTag::BadElement);
        let e = rejected_op("<get-config><source><url>file:///x</url></source></get-config>");
        assert_eq!(e.tag, ErrorTag::OperationNotSupported);
        let e = rejected_op(&format!(
            "<get><with-defaults xmlns='{NS_WITH_DEFAULTS}'>some</with-defaults></get>"
        ));
        assert_eq!(e.tag, ErrorTag::InvalidValue);
    }

    #[test]
    fn edit_config_full() {
        let msg = format!(
            r#"<rpc message-id="1" xmlns="{B}" xmlns:nc="{B}"><edit-config><target><candidate/></target><default-operation>none</default-operation><test-option>test-only</test-option><error-option>rollback-on-error</error-option><config><server xmlns="urn:ndhcp"><subnet nc:operation="delete"><id>1</id></subnet></server></config></edit-config></rpc>"#
        );
        let r = parse_rpc(msg.as_bytes()).unwrap();
        assert_eq!(
            r.operation,
            Operation::EditConfig {
                target: Datastore::Candidate,
                default_operation: DefaultOperation::None,
                test_option: TestOption::TestOnly,
                error_option: ErrorOption::RollbackOnError,
                config: format!(
                    r#"<server xmlns:nc="{B}" xmlns="urn:ndhcp"><subnet nc:operation="delete"><id>1</id></subnet></server>"#
                ),
            }
        );
    }

    #[test]
    fn edit_config_defaults_and_errors() {
        let o = op("<edit-config><target><running/></target><config/></edit-config>");
        assert_eq!(
            o,
            Operation::EditConfig {
                target: Datastore::Running,
                default_operation: DefaultOperation::Merge,
                test_option: TestOption::TestThenSet,
                error_option: ErrorOption::StopOnError,
                config: String::new(),
            }
        );
        let e = rejected_op("<edit-config><target><running/></target></edit-config>");
        assert_eq!(
            (e.tag, e.info.clone()),
            (
                ErrorTag::MissingElement,
                vec![ErrorInfo::BadElement("config".into())]
            )
        );
        let e = rejected_op("<edit-config><target><running/></target><default-operation>create</default-operation><config/></edit-config>");
        assert_eq!(
            (e.tag, e.info.clone()),
            (
                ErrorTag::InvalidValue,
                vec![ErrorInfo::BadElement("default-operation".into())]
            )
        );
        let e = rejected_op("<edit-config><target><running/></target><test-option>maybe</test-option><config/></edit-config>");
        assert_eq!(e.tag, ErrorTag::InvalidValue);
        let e = rejected_op("<edit-config><target><running/></target><error-option>ignore</error-option><config/></edit-config>");
        assert_eq!(e.tag, ErrorTag::InvalidValue);
        let e = rejected_op("<edit-config><target><running/></target><url>x</url></edit-config>");
        assert_eq!(e.tag, ErrorTag::OperationNotSupported);
    }

    #[test]
    fn copy_delete_lock_unlock() {
        assert_eq!(
            op("<copy-config><target><startup/></target><source><running/></source></copy-config>"),
            Operation::CopyConfig {
                target: Datastore::Startup,
                source: ConfigSource::Datastore(Datastore::Running),
                with_defaults: None
            }
        );
        assert_eq!(
            op("<copy-config><target><running/></target><source><config><a xmlns='urn:a'>1</a></config></source></copy-config>"),
            Operation::CopyConfig { target: Datastore::Running, source: ConfigSource::Config(r#"<a xmlns="urn:a">1</a>"#.into()), with_defaults: None }
        );
        assert_eq!(
            op("<delete-config><target><startup/></target></delete-config>"),
            Operation::DeleteConfig {
                target: Datastore::Startup
            }
        );
        assert_eq!(
            op("<lock><target><candidate/></target></lock>"),
            Operation::Lock {
                target: Datastore::Candidate
            }
        );
        assert_eq!(
            op("<unlock><target><running/></target></unlock>"),
            Operation::Unlock {
                target: Datastore::Running
            }
        );
        let e = rejected_op("<lock><target/></lock>");
        assert_eq!(e.tag, ErrorTag::MissingElement);
        let e = rejected_op("<lock><target><running/><candidate/></target></lock>");
        assert_eq!(e.tag, ErrorTag::BadElement);
    }

    #[test]
    fn sessions() {
        assert_eq!(op("<close-session/>"), Operation::CloseSession);
        assert_eq!(
            op("<kill-session><session-id> 42 </session-id></kill-session>"),
            Operation::KillSession { session_id: 42 }
        );
        assert_eq!(rejected_op("<kill-session/>").tag, ErrorTag::MissingElement);
        assert_eq!(
            rejected_op("<kill-session><session-id>0</session-id></kill-session>").tag,
            ErrorTag::InvalidValue
        );
        assert_eq!(
            rejected_op("<kill-session><session-id>x</session-id></kill-session>").tag,
            ErrorTag::InvalidValue
        );
        assert_eq!(
            rejected_op("<close-session><now/></close-session>").tag,
            ErrorTag::UnknownElement
        );
    }

    #[test]
    fn validate_commit_cancel_discard() {
        assert_eq!(
            op("<validate><source><candidate/></source></validate>"),
            Operation::Validate {
                source: ConfigSource::Datastore(Datastore::Candidate)
            }
        );
        assert_eq!(
            op("<commit/>"),
            Operation::Commit {
                confirmed: false,
                confirm_timeout: 600,
                persist: None,
                persist_id: None
            }
        );
        assert_eq!(
            op("<commit><confirmed/><confirm-timeout>30</confirm-timeout><persist>abc</persist></commit>"),
            Operation::Commit { confirmed: true, confirm_timeout: 30, persist: Some("abc".into()), persist_id: None }
        );
        assert_eq!(
            op("<commit><persist-id>abc</persist-id></commit>"),
            Operation::Commit {
                confirmed: false,
                confirm_timeout: 600,
                persist: None,
                persist_id: Some("abc".into())
            }
        );
        assert_eq!(
            rejected_op("<commit><confirm-timeout>0</confirm-timeout></commit>").tag,
            ErrorTag::InvalidValue
        );
        assert_eq!(
            rejected_op("<commit><confirmed>yes</confirmed></commit>").tag,
            ErrorTag::BadElement
        );
        assert_eq!(
            op("<cancel-commit/>"),
            Operation::CancelCommit { persist_id: None }
        );
        assert_eq!(
            op("<cancel-commit><persist-id>p</persist-id></cancel-commit>"),
            Operation::CancelCommit {
                persist_id: Some("p".into())
            }
        );
        assert_eq!(op("<discard-changes/>"), Operation::DiscardChanges);
    }

    #[test]
    fn get_schema() {
        let o = op(&format!(
            r#"<get-schema xmlns="{NS_MONITORING}" xmlns:ncm="{NS_MONITORING}"><identifier>netdhcp-server</identifier><version>2024-01-01</version><format>ncm:yang</format></get-schema>"#
        ));
        assert_eq!(
            o,
            Operation::GetSchema {
                identifier: "netdhcp-server".into(),
                version: Some("2024-01-01".into()),
                format: Some("yang".into())
            }
        );
        let e = rejected_op(&format!(r#"<get-schema xmlns="{NS_MONITORING}"/>"#));
        assert_eq!(
            (e.tag, e.info.clone()),
            (
                ErrorTag::MissingElement,
                vec![ErrorInfo::BadElement("identifier".into())]
            )
        );
    }

    #[test]
    fn unknown_base_operation_and_other() {
        let e = rejected_op("<frobnicate/>");
        assert_eq!(
            (e.error_type, e.tag),
            (ErrorType::Protocol, ErrorTag::OperationNotSupported)
        );
        assert_eq!(
            op(r#"<clear-leases xmlns="urn:ndhcp" xmlns:x="urn:x"><subnet>1</subnet></clear-leases>"#),
            Operation::Other {
                name: "clear-leases".into(),
                namespace: "urn:ndhcp".into(),
                xml: r#"<clear-leases xmlns="urn:ndhcp" xmlns:x="urn:x"><subnet>1</subnet></clear-leases>"#.into(),
            }
        );
    }

    #[test]
    fn create_subscription() {
        use crate::notification::NS_NOTIFICATION as N;
        assert_eq!(
            op(&format!(r#"<create-subscription xmlns="{N}"/>"#)),
            Operation::CreateSubscription {
                stream: "NETCONF".into(),
                filter: None,
                start_time: None,
                stop_time: None
            }
        );
        // The filter in the notification namespace (RFC 5277's schema) or the base one
        // (ncclient), times with any offset.
        for filter_ns in [N, B] {
            let o = op(&format!(
                r#"<create-subscription xmlns="{N}"><stream>NETCONF</stream><filter xmlns="{filter_ns}" type="subtree"><e xmlns="urn:t"/></filter><startTime>2026-11-27T21:00:00+01:00</startTime><stopTime>2026-11-27T20:30:00Z</stopTime></create-subscription>"#
            ));
            let Operation::CreateSubscription {
                filter,
                start_time: Some(start),
                stop_time: Some(stop),
                ..
            } = o
            else {
                panic!("{o:?}")
            };
            assert_eq!(
                filter,
                Some(Filter::Subtree(r#"<e xmlns="urn:t"/>"#.into()))
            );
            assert_eq!(stop.duration_since(start).unwrap().as_secs(), 30 * 60);
        }
        let e = rejected_op(&format!(
            r#"<create-subscription xmlns="{N}"><stream>SYSLOG</stream></create-subscription>"#
        ));
        assert_eq!(
            (e.tag, e.info.clone()),
            (
                ErrorTag::InvalidValue,
                vec![ErrorInfo::BadElement("stream".into())]
            )
        );
        let e = rejected_op(&format!(
            r#"<create-subscription xmlns="{N}"><stopTime>2026-11-27T20:30:00Z</stopTime></create-subscription>"#
        ));
        assert_eq!(
            (e.tag, e.info.clone()),
            (
                ErrorTag::BadElement,
                vec![ErrorInfo::BadElement("stopTime".into())]
            )
        );
        let e = rejected_op(&format!(
            r#"<create-subscription xmlns="{N}"><startTime>soon</startTime></create-subscription>"#
        ));
        assert_eq!(e.tag, ErrorTag::InvalidValue);
        let e = rejected_op(&format!(
            r#"<create-subscription xmlns="{N}"><bogus/></create-subscription>"#
        ));
        assert_eq!(e.tag, ErrorTag::UnknownElement);
    }

    #[test]
    fn rpc_envelope_errors() {
        let e = rejected(&format!(r#"<rpc message-id="1" xmlns="{B}"/>"#));
        assert_eq!(
            (e.error_type, e.tag),
            (ErrorType::Rpc, ErrorTag::MissingElement)
        );
        let e = rejected(&format!(
            r#"<rpc message-id="1" xmlns="{B}"><get/><get/></rpc>"#
        ));
        assert_eq!(e.tag, ErrorTag::UnknownElement);
    }

    #[test]
    fn config_inherits_default_namespace_from_ancestors() {
        // The content has no xmlns of its own: it is in the base namespace, and says so.
        let o = op("<edit-config><target><running/></target><config><top/></config></edit-config>");
        let Operation::EditConfig { config, .. } = o else {
            panic!()
        };
        assert_eq!(config, format!(r#"<top xmlns="{B}"/>"#));
    }
}
