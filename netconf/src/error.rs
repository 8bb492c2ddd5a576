//! `<rpc-error>` (RFC 6241 section 4.3 and Appendix A) and the library's own error types.
//!
//! [`RpcError`] is the one place where a failure becomes wire XML; everything else (parse
//! errors, backend answers, session-registry refusals) is mapped onto it.

use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::xml::{escape_attr, escape_text};

/// `error-type`: the conceptual layer where the error occurred (RFC 6241 section 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// Secure transport layer.
    Transport,
    /// Messages layer (the `<rpc>` envelope).
    Rpc,
    /// Operations layer.
    Protocol,
    /// Content layer (the data model, the backend's checks).
    Application,
}

impl ErrorType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Transport => "transport",
            ErrorType::Rpc => "rpc",
            ErrorType::Protocol => "protocol",
            ErrorType::Application => "application",
        }
    }
}

/// `error-tag`: every tag of RFC 6241 Appendix A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorTag {
    /// The request requires a resource that is already in use.
    InUse,
    /// The request specifies an unacceptable value for one or more parameters.
    InvalidValue,
    /// The request or response (that would be generated) is too large.
    TooBig,
    /// An expected attribute is missing.
    MissingAttribute,
    /// An attribute value is not correct.
    BadAttribute,
    /// An unexpected attribute is present.
    UnknownAttribute,
    /// An expected element is missing.
    MissingElement,
    /// An element value is not correct.
    BadElement,
    /// An unexpected element is present.
    UnknownElement,
    /// An unexpected namespace is present.
    UnknownNamespace,
    /// Access to the requested protocol operation or data model is denied.
    AccessDenied,
    /// Access to the requested lock is denied because the lock is held by another entity.
    LockDenied,
    /// Not enough resources to complete the request.
    ResourceDenied,
    /// Request to roll back some configuration change was not completed.
    RollbackFailed,
    /// Relevant data model content already exists (`create` of existing data).
    DataExists,
    /// Relevant data model content does not exist (`delete` of missing data).
    DataMissing,
    /// The operation is not supported by this implementation.
    OperationNotSupported,
    /// The operation failed for a reason not covered by any other tag.
    OperationFailed,
    /// Obsolete (RFC 6241): some part of the operation failed or was not attempted.
    PartialOperation,
    /// A message could not be handled because it failed to be parsed correctly.
    MalformedMessage,
}

impl ErrorTag {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorTag::InUse => "in-use",
            ErrorTag::InvalidValue => "invalid-value",
            ErrorTag::TooBig => "too-big",
            ErrorTag::MissingAttribute => "missing-attribute",
            ErrorTag::BadAttribute => "bad-attribute",
            ErrorTag::UnknownAttribute => "unknown-attribute",
            ErrorTag::MissingElement => "missing-element",
            ErrorTag::BadElement => "bad-element",
            ErrorTag::UnknownElement => "unknown-element",
            ErrorTag::UnknownNamespace => "unknown-namespace",
            ErrorTag::AccessDenied => "access-denied",
            ErrorTag::LockDenied => "lock-denied",
            ErrorTag::ResourceDenied => "resource-denied",
            ErrorTag::RollbackFailed => "rollback-failed",
            ErrorTag::DataExists => "data-exists",
            ErrorTag::DataMissing => "data-missing",
            ErrorTag::OperationNotSupported => "operation-not-supported",
            ErrorTag::OperationFailed => "operation-failed",
            ErrorTag::PartialOperation => "partial-operation",
            ErrorTag::MalformedMessage => "malformed-message",
        }
    }
}

/// `error-severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ErrorSeverity {
    /// The request failed (the only severity RFC 6241 tags use).
    #[default]
    Error,
    /// Reserved by RFC 6241 for future use.
    Warning,
}

impl ErrorSeverity {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorSeverity::Error => "error",
            ErrorSeverity::Warning => "warning",
        }
    }
}

/// One child of `<error-info>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorInfo {
    /// `<session-id>`: the session holding a lock (lock-denied; 0 when not a NETCONF session).
    SessionId(u32),
    /// `<bad-attribute>`: the name of the offending attribute.
    BadAttribute(String),
    /// `<bad-element>`: the name of the offending element (or the element owning a bad attribute).
    BadElement(String),
    /// `<bad-namespace>`: the unexpected namespace URI.
    BadNamespace(String),
    /// `<ok-element>`: an element that was processed (partial-operation).
    OkElement(String),
    /// `<err-element>`: an element that failed (partial-operation).
    ErrElement(String),
    /// `<noop-element>`: an element that was not attempted (partial-operation).
    NoopElement(String),
    /// Any other content, already serialised XML with its own namespace declarations
    /// (for example a YANG `error-info` extension). Written as is.
    Xml(String),
}

impl ErrorInfo {
    fn write(&self, out: &mut String) {
        let (name, value) = match self {
            ErrorInfo::SessionId(id) => {
                let _ = write!(out, "<session-id>{id}</session-id>");
                return;
            }
            ErrorInfo::Xml(xml) => {
                out.push_str(xml);
                return;
            }
            ErrorInfo::BadAttribute(v) => ("bad-attribute", v),
            ErrorInfo::BadElement(v) => ("bad-element", v),
            ErrorInfo::BadNamespace(v) => ("bad-namespace", v),
            ErrorInfo::OkElement(v) => ("ok-element", v),
            ErrorInfo::ErrElement(v) => ("err-element", v),
            ErrorInfo::NoopElement(v) => ("noop-element", v),
        };
        let _ = write!(out, "<{name}>{}</{name}>", escape_text(value));
    }
}

/// One `<rpc-error>` (RFC 6241 section 4.3).
///
/// Built with [`RpcError::new`] or a shortcut such as [`RpcError::invalid_value`], then refined
/// with the `with_*` methods; serialised with [`RpcError::to_xml`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// `error-type`.
    pub error_type: ErrorType,
    /// `error-tag`.
    pub tag: ErrorTag,
    /// `error-severity`.
    pub severity: ErrorSeverity,
    /// `error-app-tag`: a data-model or implementation specific condition (YANG `error-app-tag`).
    pub app_tag: Option<String>,
    /// `error-path`: an absolute XPath to the offending node.
    pub path: Option<String>,
    /// Namespace declarations (prefix, URI) the prefixes in `path` need; written on
    /// `<error-path>` so the path can be resolved by the client.
    pub path_namespaces: Vec<(String, String)>,
    /// `error-message`, human readable, sent with `xml:lang="en"`.
    pub message: Option<String>,
    /// `error-info` children.
    pub info: Vec<ErrorInfo>,
}

impl RpcError {
    /// An error with the given type and tag, severity `error`, and nothing else.
    pub fn new(error_type: ErrorType, tag: ErrorTag) -> Self {
        RpcError {
            error_type,
            tag,
            severity: ErrorSeverity::Error,
            app_tag: None,
            path: None,
            path_namespaces: Vec::new(),
            message: None,
            info: Vec::new(),
        }
    }

    /// Sets `error-message`.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Sets `error-path`.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Adds a namespace declaration to `<error-path>`.
    pub fn with_path_namespace(
        mut self,
        prefix: impl Into<String>,
        uri: impl Into<String>,
    ) -> Self {
        self.path_namespaces.push((prefix.into(), uri.into()));
        self
    }

    /// Sets `error-app-tag`.
    pub fn with_app_tag(mut self, app_tag: impl Into<String>) -> Self {
        self.app_tag = Some(app_tag.into());
        self
    }

    /// Adds one `error-info` child.
    pub fn with_info(mut self, info: ErrorInfo) -> Self {
        self.info.push(info);
        self
    }

    /// Sets `error-severity`.
    pub fn with_severity(mut self, severity: ErrorSeverity) -> Self {
        self.severity = severity;
        self
    }

    /// `malformed-message` (error-type rpc): the session is closed after it is sent.
    pub fn malformed_message(message: impl Into<String>) -> Self {
        RpcError::new(ErrorType::Rpc, ErrorTag::MalformedMessage).with_message(message)
    }

    /// `operation-not-supported` (error-type protocol) for the operation `element`.
    pub fn operation_not_supported(element: &str) -> Self {
        RpcError::new(ErrorType::Protocol, ErrorTag::OperationNotSupported)
            .with_message(format!("operation <{element}> is not supported"))
            .with_info(ErrorInfo::BadElement(element.to_owned()))
    }

    /// `missing-attribute` of `attribute` on `element`.
    pub fn missing_attribute(error_type: ErrorType, attribute: &str, element: &str) -> Self {
        RpcError::new(error_type, ErrorTag::MissingAttribute)
            .with_message(format!("attribute \"{attribute}\" missing on <{element}>"))
            .with_info(ErrorInfo::BadAttribute(attribute.to_owned()))
            .with_info(ErrorInfo::BadElement(element.to_owned()))
    }

    /// `bad-attribute`: `attribute` of `element` has an unacceptable value.
    pub fn bad_attribute(
        error_type: ErrorType,
        attribute: &str,
        element: &str,
        message: impl Into<String>,
    ) -> Self {
        RpcError::new(error_type, ErrorTag::BadAttribute)
            .with_message(message)
            .with_info(ErrorInfo::BadAttribute(attribute.to_owned()))
            .with_info(ErrorInfo::BadElement(element.to_owned()))
    }

    /// `missing-element` (error-type protocol): a mandatory parameter `element` is absent.
    pub fn missing_element(element: &str) -> Self {
        RpcError::new(ErrorType::Protocol, ErrorTag::MissingElement)
            .with_message(format!("element <{element}> is missing"))
            .with_info(ErrorInfo::BadElement(element.to_owned()))
    }

    /// `unknown-element` (error-type protocol): `element` is not allowed here.
    pub fn unknown_element(element: &str) -> Self {
        RpcError::new(ErrorType::Protocol, ErrorTag::UnknownElement)
            .with_message(format!("unexpected element <{element}>"))
            .with_info(ErrorInfo::BadElement(element.to_owned()))
    }

    /// `unknown-namespace` (error-type protocol): `element` is in the unexpected `namespace`.
    pub fn unknown_namespace(element: &str, namespace: &str) -> Self {
        RpcError::new(ErrorType::Protocol, ErrorTag::UnknownNamespace)
            .with_message(format!(
                "element <{element}> in unexpected namespace \"{namespace}\""
            ))
            .with_info(ErrorInfo::BadElement(element.to_owned()))
            .with_info(ErrorInfo::BadNamespace(namespace.to_owned()))
    }

    /// `bad-element` (error-type protocol): the value of `element` is not correct.
    pub fn bad_element(element: &str, message: impl Into<String>) -> Self {
        RpcError::new(ErrorType::Protocol, ErrorTag::BadElement)
            .with_message(message)
            .with_info(ErrorInfo::BadElement(element.to_owned()))
    }

    /// `invalid-value` (error-type protocol) for the parameter `element`.
    pub fn invalid_value(element: &str, message: impl Into<String>) -> Self {
        RpcError::new(ErrorType::Protocol, ErrorTag::InvalidValue)
            .with_message(message)
            .with_info(ErrorInfo::BadElement(element.to_owned()))
    }

    /// `lock-denied` (error-type protocol): the lock is held by session `holder`
    /// (0 when the holder is not a NETCONF session).
    pub fn lock_denied(holder: u32) -> Self {
        RpcError::new(ErrorType::Protocol, ErrorTag::LockDenied)
            .with_message(format!("lock is held by session {holder}"))
            .with_info(ErrorInfo::SessionId(holder))
    }

    /// `in-use` (error-type protocol).
    pub fn in_use(message: impl Into<String>) -> Self {
        RpcError::new(ErrorType::Protocol, ErrorTag::InUse).with_message(message)
    }

    /// `operation-failed` (error-type application).
    pub fn operation_failed(message: impl Into<String>) -> Self {
        RpcError::new(ErrorType::Application, ErrorTag::OperationFailed).with_message(message)
    }

    /// `too-big` (error-type rpc).
    pub fn too_big(message: impl Into<String>) -> Self {
        RpcError::new(ErrorType::Rpc, ErrorTag::TooBig).with_message(message)
    }

    /// `access-denied` (error-type protocol).
    pub fn access_denied(message: impl Into<String>) -> Self {
        RpcError::new(ErrorType::Protocol, ErrorTag::AccessDenied).with_message(message)
    }

    /// Appends this error as `<rpc-error>...</rpc-error>` to `out`.
    ///
    /// The element is unqualified: it sits inside an `<rpc-reply>` whose default namespace is
    /// the base namespace.
    pub fn write_xml(&self, out: &mut String) {
        out.push_str("<rpc-error>");
        let _ = write!(out, "<error-type>{}</error-type>", self.error_type.as_str());
        let _ = write!(out, "<error-tag>{}</error-tag>", self.tag.as_str());
        let _ = write!(
            out,
            "<error-severity>{}</error-severity>",
            self.severity.as_str()
        );
        if let Some(app_tag) = &self.app_tag {
            let _ = write!(
                out,
                "<error-app-tag>{}</error-app-tag>",
                escape_text(app_tag)
            );
        }
        if let Some(path) = &self.path {
            out.push_str("<error-path");
            for (prefix, uri) in &self.path_namespaces {
                let _ = write!(out, " xmlns:{}=\"{}\"", prefix, escape_attr(uri));
            }
            let _ = write!(out, ">{}</error-path>", escape_text(path));
        }
        if let Some(message) = &self.message {
            let _ = write!(
                out,
                "<error-message xml:lang=\"en\">{}</error-message>",
                escape_text(message)
            );
        }
        if !self.info.is_empty() {
            out.push_str("<error-info>");
            for info in &self.info {
                info.write(out);
            }
            out.push_str("</error-info>");
        }
        out.push_str("</rpc-error>");
    }

    /// This error as an `<rpc-error>` element.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write_xml(&mut out);
        out
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.error_type.as_str(), self.tag.as_str())?;
        if let Some(path) = &self.path {
            write!(f, " at {path}")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RpcError {}

/// Failures of the server itself (start-up and the accept loop), as opposed to errors reported
/// to a client in an `<rpc-error>`.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The host key file exists but cannot be read or parsed.
    #[error("cannot load SSH host key {path}: {reason}")]
    HostKeyLoad {
        /// The host key file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A new host key could not be written.
    #[error("cannot write SSH host key {path}: {source}")]
    HostKeyWrite {
        /// The host key file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Generating a new host key failed (no system randomness, or encoding).
    #[error("cannot generate SSH host key: {0}")]
    HostKeyGenerate(String),
    /// A user's `authorized_keys` line cannot be used.
    #[error("user {user}: authorized key {index}: {reason}")]
    AuthorizedKey {
        /// The user.
        user: String,
        /// Position of the line in the user's list, from 0.
        index: usize,
        /// What went wrong.
        reason: String,
    },
    /// A user's password hash is not an argon2 PHC string.
    #[error("user {user}: password hash is not a valid argon2 PHC string: {reason}")]
    PasswordHash {
        /// The user.
        user: String,
        /// What went wrong.
        reason: String,
    },
    /// Hashing a new password failed (no system randomness, or a password over 4 GiB).
    #[error("cannot hash the password: {0}")]
    HashPassword(String),
    /// Two users with the same name.
    #[error("user {0} is defined twice")]
    DuplicateUser(String),
    /// The listening socket cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Accepting connections failed.
    #[error("accepting NETCONF connections failed: {0}")]
    Accept(#[source] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_error_xml() {
        let e = RpcError::new(ErrorType::Application, ErrorTag::InvalidValue)
            .with_app_tag("too-many-elements")
            .with_path("/ndhcp:server/ndhcp:subnet[ndhcp:id='1']")
            .with_path_namespace("ndhcp", "urn:example:netdhcp")
            .with_message("pool <x> & \"y\" outside subnet")
            .with_info(ErrorInfo::BadElement("pool".into()))
            .with_info(ErrorInfo::SessionId(4));
        assert_eq!(
            e.to_xml(),
            "<rpc-error><error-type>application</error-type><error-tag>invalid-value</error-tag>\
             <error-severity>error</error-severity><error-app-tag>too-many-elements</error-app-tag>\
             <error-path xmlns:ndhcp=\"urn:example:netdhcp\">/ndhcp:server/ndhcp:subnet[ndhcp:id='1']</error-path>\
             <error-message xml:lang=\"en\">pool &lt;x&gt; &amp; \"y\" outside subnet</error-message>\
             <error-info><bad-element>pool</bad-element><session-id>4</session-id></error-info></rpc-error>"
        );
    }

    #[test]
    fn minimal_error_xml() {
        let e = RpcError::new(ErrorType::Transport, ErrorTag::ResourceDenied);
        assert_eq!(
            e.to_xml(),
            "<rpc-error><error-type>transport</error-type><error-tag>resource-denied</error-tag>\
             <error-severity>error</error-severity></rpc-error>"
        );
    }

    #[test]
    fn every_tag_has_its_rfc_name() {
        let tags = [
            (ErrorTag::InUse, "in-use"),
            (ErrorTag::InvalidValue, "invalid-value"),
            (ErrorTag::TooBig, "too-big"),
            (ErrorTag::MissingAttribute, "missing-attribute"),
            (ErrorTag::BadAttribute, "bad-attribute"),
            (ErrorTag::UnknownAttribute, "unknown-attribute"),
            (ErrorTag::MissingElement, "missing-element"),
            (ErrorTag::BadElement, "bad-element"),
            (ErrorTag::UnknownElement, "unknown-element"),
            (ErrorTag::UnknownNamespace, "unknown-namespace"),
            (ErrorTag::AccessDenied, "access-denied"),
            (ErrorTag::LockDenied, "lock-denied"),
            (ErrorTag::ResourceDenied, "resource-denied"),
            (ErrorTag::RollbackFailed, "rollback-failed"),
            (ErrorTag::DataExists, "data-exists"),
            (ErrorTag::DataMissing, "data-missing"),
            (ErrorTag::OperationNotSupported, "operation-not-supported"),
            (ErrorTag::OperationFailed, "operation-failed"),
            (ErrorTag::PartialOperation, "partial-operation"),
            (ErrorTag::MalformedMessage, "malformed-message"),
        ];
        for (tag, name) in tags {
            assert_eq!(tag.as_str(), name);
        }
    }

    #[test]
    fn lock_denied_carries_session_id() {
        let xml = RpcError::lock_denied(7).to_xml();
        assert!(xml.contains("<error-tag>lock-denied</error-tag>"));
        assert!(xml.contains("<error-info><session-id>7</session-id></error-info>"));
    }

    #[test]
    fn missing_attribute_names_attribute_and_element() {
        let xml = RpcError::missing_attribute(ErrorType::Rpc, "message-id", "rpc").to_xml();
        assert!(
            xml.contains("<error-type>rpc</error-type><error-tag>missing-attribute</error-tag>")
        );
        assert!(
            xml.contains("<bad-attribute>message-id</bad-attribute><bad-element>rpc</bad-element>")
        );
    }
}
