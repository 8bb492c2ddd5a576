//! The one place where internal failures become NETCONF rpc-errors (RFC 6241 Appendix A):
//! validation problems, edit failures, filter errors, locks.

use netconf::error::{ErrorInfo, ErrorTag, ErrorType, RpcError};

use super::edit::EditError;
use super::filter::FilterError;
use super::validate::Problem;
use super::xpath::to_xml_path;

/// An rpc-error with type, tag and message.
pub fn error(error_type: ErrorType, tag: ErrorTag, message: impl Into<String>) -> RpcError {
    RpcError::new(error_type, tag).with_message(message)
}

/// Attaches a libyang data path as the error-path, rewritten with XML prefixes.
pub trait AtPath {
    /// With error-path `json_path`.
    fn at(self, json_path: &str) -> RpcError;
}

impl AtPath for RpcError {
    fn at(mut self, json_path: &str) -> RpcError {
        match yang::context() {
            Ok(ctx) => {
                let p = to_xml_path(ctx, json_path);
                for (prefix, ns) in p.namespaces {
                    self = self.with_path_namespace(prefix, ns);
                }
                self.with_path(p.path)
            }
            Err(_) => self.with_path(json_path),
        }
    }
}

/// lock-denied naming the holder and what is locked.
pub fn lock_denied(holder: u32, what: &str) -> RpcError {
    RpcError::lock_denied(holder).with_message(format!("{what} is locked by session {holder}"))
}

/// A configuration that fails validation.
pub fn from_problem(p: Problem) -> RpcError {
    match p {
        Problem::Yang(e) => {
            // must/when/unique/mandatory violations carry an app-tag and are operation-failed
            // (RFC 7950 15); type errors are invalid-value.
            let tag = if e.app_tag.is_some() {
                ErrorTag::OperationFailed
            } else {
                ErrorTag::InvalidValue
            };
            let mut r = error(ErrorType::Application, tag, e.message);
            if let Some(app_tag) = e.app_tag {
                r = r.with_app_tag(app_tag);
            }
            match e.path {
                Some(path) => r.at(&path),
                None => r,
            }
        }
        Problem::Semantic(e) => {
            error(ErrorType::Application, ErrorTag::InvalidValue, e.message).at(&e.path)
        }
    }
}

/// Every problem of a configuration.
pub fn from_problems(problems: Vec<Problem>) -> Vec<RpcError> {
    problems.into_iter().map(from_problem).collect()
}

/// An edit that cannot be applied.
pub fn from_edit(e: EditError) -> RpcError {
    match e {
        EditError::Invalid(y) => from_invalid_edit(y),

        EditError::DataExists { path } => error(
            ErrorType::Application,
            ErrorTag::DataExists,
            "data already exists",
        )
        .at(&path),
        EditError::DataMissing { path } => error(
            ErrorType::Application,
            ErrorTag::DataMissing,
            "data does not exist",
        )
        .at(&path),
        EditError::BadOperation { path, value } => error(
            ErrorType::Protocol,
            ErrorTag::BadAttribute,
            format!("unknown operation {value:?}"),
        )
        .with_info(ErrorInfo::BadAttribute("operation".into()))
        .at(&path),
        EditError::Failed { path, message } => {
            error(ErrorType::Application, ErrorTag::OperationFailed, message).at(&path)
        }
    }
}

/// A filter that cannot be evaluated.
pub fn from_filter(e: FilterError) -> RpcError {
    match &e {
        FilterError::UnknownNamespace(ns) => error(
            ErrorType::Protocol,
            ErrorTag::UnknownNamespace,
            e.to_string(),
        )
        .with_info(ErrorInfo::BadElement("filter".into()))
        .with_info(ErrorInfo::BadNamespace(ns.clone())),
        _ => RpcError::invalid_value("filter", e.to_string()),
    }
}

/// The first double-quoted name in a libyang message (`Node "x" not found ...`).
fn quoted_name(message: &str) -> Option<String> {
    let start = message.find('"')? + 1;
    let len = message[start..].find('"')?;
    Some(message[start..start + len].to_string())
}

/// An edit document libyang refused while parsing: an unknown element, a bad value, or a bad
/// `nc:operation` attribute, each with the error-tag RFC 6241 Appendix A gives it.
fn from_invalid_edit(y: yang::data::YangError) -> RpcError {
    // libyang reports a bad attribute value with the attribute as the last path step.
    if let Some(element) = y
        .path
        .as_deref()
        .and_then(|p| p.strip_suffix("/@ietf-netconf:operation"))
    {
        let name = element.rsplit('/').next().unwrap_or(element).to_string();
        return error(ErrorType::Protocol, ErrorTag::BadAttribute, y.message)
            .with_info(ErrorInfo::BadAttribute("operation".into()))
            .with_info(ErrorInfo::BadElement(name))
            .at(element);
    }
    let lower = y.message.to_ascii_lowercase();
    let unknown = lower.contains("not found as a child")
        || lower.contains("no module")
        || lower.contains("unknown element");
    let r = if unknown {
        let mut r = error(
            ErrorType::Application,
            ErrorTag::UnknownElement,
            y.message.clone(),
        );
        if let Some(name) = quoted_name(&y.message) {
            r = r.with_info(ErrorInfo::BadElement(name));
        }
        r
    } else {
        error(ErrorType::Application, ErrorTag::InvalidValue, y.message)
    };
    match y.path {
        Some(path) => r.at(&path),
        None => r,
    }
}
