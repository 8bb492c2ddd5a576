//! Errors of the datastore operations, in NETCONF's terms (RFC 6241 Appendix A). The one
//! mapping from internal failures to error-tag and error-type lives here.

use super::edit::EditError;
use super::filter::FilterError;
use super::validate::Problem;

/// NETCONF error-tag values the datastore produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// in-use
    InUse,
    /// invalid-value
    InvalidValue,
    /// lock-denied (error-info carries the holder's session-id)
    LockDenied,
    /// data-exists
    DataExists,
    /// data-missing
    DataMissing,
    /// operation-failed
    OperationFailed,
    /// operation-not-supported
    OperationNotSupported,
    /// unknown-element
    UnknownElement,
    /// missing-element
    MissingElement,
    /// bad-element
    BadElement,
    /// unknown-namespace
    UnknownNamespace,
    /// access-denied
    AccessDenied,
    /// resource-denied
    ResourceDenied,
}

/// NETCONF error-type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// rpc
    Rpc,
    /// protocol
    Protocol,
    /// application
    Application,
}

/// One error of a datastore operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NbError {
    /// error-tag
    pub tag: Tag,
    /// error-type
    pub layer: Layer,
    /// error-path (a data path), when one node is at fault.
    pub path: Option<String>,
    /// error-message
    pub message: String,
    /// error-app-tag
    pub app_tag: Option<String>,
    /// session-id of a lock holder, for lock-denied.
    pub session_id: Option<u32>,
    /// bad-element, for element errors.
    pub bad_element: Option<String>,
}

impl NbError {
    /// An error with tag, layer and message.
    pub fn new(tag: Tag, layer: Layer, message: impl Into<String>) -> Self {
        NbError {
            tag,
            layer,
            path: None,
            message: message.into(),
            app_tag: None,
            session_id: None,
            bad_element: None,
        }
    }

    /// With an error-path.
    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// lock-denied naming the holder.
    pub fn lock_denied(holder: u32, what: &str) -> Self {
        let mut e = NbError::new(
            Tag::LockDenied,
            Layer::Protocol,
            format!("{what} is locked by session {holder}"),
        );
        e.session_id = Some(holder);
        e
    }
}

impl std::fmt::Display for NbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{p}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl From<Problem> for NbError {
    fn from(p: Problem) -> Self {
        match p {
            Problem::Yang(e) => {
                // A must/when/unique/mandatory violation is reported with its app-tag.
                let mut n = NbError::new(Tag::OperationFailed, Layer::Application, e.message);
                n.path = e.path;
                n.app_tag = e.app_tag;
                if n.app_tag.is_none() {
                    n.tag = Tag::InvalidValue;
                }
                n
            }
            Problem::Semantic(e) => {
                NbError::new(Tag::InvalidValue, Layer::Application, e.message).at(e.path)
            }
        }
    }
}

impl From<EditError> for NbError {
    fn from(e: EditError) -> Self {
        match e {
            EditError::Invalid(y) => {
                let unknown = y.message.contains("Not found")
                    || y.message.contains("unknown")
                    || y.message.contains("No module");
                let mut n = NbError::new(
                    if unknown {
                        Tag::UnknownElement
                    } else {
                        Tag::InvalidValue
                    },
                    Layer::Application,
                    y.message,
                );
                n.path = y.path;
                n
            }
            EditError::DataExists { path } => {
                NbError::new(Tag::DataExists, Layer::Application, "data already exists").at(path)
            }
            EditError::DataMissing { path } => {
                NbError::new(Tag::DataMissing, Layer::Application, "data does not exist").at(path)
            }
            EditError::BadOperation { path, value } => NbError::new(
                Tag::InvalidValue,
                Layer::Protocol,
                format!("unknown operation {value:?}"),
            )
            .at(path),
            EditError::Failed { path, message } => {
                NbError::new(Tag::OperationFailed, Layer::Application, message).at(path)
            }
        }
    }
}

impl From<FilterError> for NbError {
    fn from(e: FilterError) -> Self {
        let tag = match e {
            FilterError::UnknownNamespace(_) => Tag::UnknownNamespace,
            _ => Tag::InvalidValue,
        };
        NbError::new(tag, Layer::Protocol, e.to_string())
    }
}
