//! NETCONF requests: the typed operations ([`Operation`]), parsing an `<rpc>` message
//! ([`parse_rpc`]) and writing the `<rpc-reply>` ([`reply`]).

mod get_data;
mod parse;
pub mod reply;

use std::collections::BTreeMap;

pub use get_data::{GetData, NmdaDatastore, NS_DATASTORES, NS_NMDA};
pub use parse::{parse_rpc, RpcParseError};

/// The NETCONF base namespace (RFC 6241).
pub const NS_BASE: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";
/// The ietf-netconf-monitoring namespace (RFC 6022), home of `<get-schema>`.
pub const NS_MONITORING: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring";
/// The ietf-netconf-with-defaults namespace (RFC 6243).
pub const NS_WITH_DEFAULTS: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults";

/// A configuration datastore (RFC 6241 section 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Datastore {
    /// `<running/>`.
    Running,
    /// `<candidate/>` (`:candidate` capability).
    Candidate,
    /// `<startup/>` (`:startup` capability).
    Startup,
}

impl Datastore {
    /// The element name.
    pub fn as_str(self) -> &'static str {
        match self {
            Datastore::Running => "running",
            Datastore::Candidate => "candidate",
            Datastore::Startup => "startup",
        }
    }
}

/// The `<with-defaults>` parameter (RFC 6243 section 4.5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WithDefaults {
    /// `report-all`: all data nodes, defaults included.
    ReportAll,
    /// `report-all-tagged`: as report-all, default values tagged `wd:default="true"`.
    ReportAllTagged,
    /// `trim`: nodes whose value equals the schema default are left out.
    Trim,
    /// `explicit`: nodes set by a client (or by the server explicitly) are reported.
    Explicit,
}

impl WithDefaults {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            WithDefaults::ReportAll => "report-all",
            WithDefaults::ReportAllTagged => "report-all-tagged",
            WithDefaults::Trim => "trim",
            WithDefaults::Explicit => "explicit",
        }
    }
}

/// A `<filter>` of `<get>` or `<get-config>` (RFC 6241 section 6 and 8.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `type="subtree"`: the content of `<filter>`, each top element written standalone with
    /// every namespace declaration in scope made explicit on it. Empty when the filter is empty
    /// (which selects nothing, RFC 6241 section 6.4.2).
    Subtree(String),
    /// `type="xpath"` (`:xpath` capability).
    XPath {
        /// The `select` expression, as sent.
        select: String,
        /// Every prefix declared in scope on `<filter>` (its own declarations and its
        /// ancestors'), to resolve the prefixes in `select`. The default namespace is not
        /// included: XPath 1.0 names without a prefix are in no namespace.
        namespaces: BTreeMap<String, String>,
    },
}

/// `<default-operation>` of `<edit-config>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DefaultOperation {
    /// `merge` (the default).
    #[default]
    Merge,
    /// `replace`.
    Replace,
    /// `none`.
    None,
}

/// `<test-option>` of `<edit-config>` (`:validate` capability).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TestOption {
    /// `test-then-set` (the default).
    #[default]
    TestThenSet,
    /// `set`: apply without validating.
    Set,
    /// `test-only` (`:validate:1.1`): validate, change nothing.
    TestOnly,
}

/// `<error-option>` of `<edit-config>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ErrorOption {
    /// `stop-on-error` (the default).
    #[default]
    StopOnError,
    /// `continue-on-error`.
    ContinueOnError,
    /// `rollback-on-error` (`:rollback-on-error` capability).
    RollbackOnError,
}

/// The source of `<copy-config>` or `<validate>`: a datastore or inline configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// `<source><running/></source>` and the like.
    Datastore(Datastore),
    /// `<source><config>...</config></source>`: the content of `<config>`, top elements
    /// written standalone (see [`Filter::Subtree`]).
    Config(String),
}

/// One NETCONF operation, parameters parsed and defaults applied.
///
/// The server answers [`Operation::CloseSession`], [`Operation::KillSession`] and
/// [`Operation::CreateSubscription`] itself; the backend receives every other variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// `<get>` (RFC 6241 section 7.7).
    Get {
        /// The filter, if any.
        filter: Option<Filter>,
        /// `<with-defaults>` (RFC 6243), if sent.
        with_defaults: Option<WithDefaults>,
    },
    /// `<get-config>` (RFC 6241 section 7.1).
    GetConfig {
        /// The datastore to read.
        source: Datastore,
        /// The filter, if any.
        filter: Option<Filter>,
        /// `<with-defaults>` (RFC 6243), if sent.
        with_defaults: Option<WithDefaults>,
    },
    /// `<edit-config>` (RFC 6241 section 7.2).
    EditConfig {
        /// The datastore to change.
        target: Datastore,
        /// `<default-operation>`, merge when absent.
        default_operation: DefaultOperation,
        /// `<test-option>`, test-then-set when absent.
        test_option: TestOption,
        /// `<error-option>`, stop-on-error when absent.
        error_option: ErrorOption,
        /// The content of `<config>`, top elements written standalone: every namespace
        /// declaration in scope (on `<config>`, `<edit-config>`, `<rpc>`) is repeated on them,
        /// so the string parses on its own and `nc:operation` attributes keep their prefix.
        config: String,
    },
    /// `<copy-config>` (RFC 6241 section 7.3).
    CopyConfig {
        /// The datastore to replace.
        target: Datastore,
        /// Where the new content comes from.
        source: ConfigSource,
        /// `<with-defaults>` (RFC 6243 section 4.5.3), if sent.
        with_defaults: Option<WithDefaults>,
    },
    /// `<delete-config>` (RFC 6241 section 7.4).
    DeleteConfig {
        /// The datastore to delete.
        target: Datastore,
    },
    /// `<lock>` (RFC 6241 section 7.5).
    Lock {
        /// The datastore to lock.
        target: Datastore,
    },
    /// `<unlock>` (RFC 6241 section 7.6).
    Unlock {
        /// The datastore to unlock.
        target: Datastore,
    },
    /// `<close-session>` (RFC 6241 section 7.8). Answered by the server.
    CloseSession,
    /// `<kill-session>` (RFC 6241 section 7.9). Answered by the server.
    KillSession {
        /// The session to end.
        session_id: u32,
    },
    /// `<validate>` (RFC 6241 section 8.6).
    Validate {
        /// What to validate.
        source: ConfigSource,
    },
    /// `<commit>` (RFC 6241 sections 8.3 and 8.4).
    Commit {
        /// `<confirmed/>`: a confirmed commit.
        confirmed: bool,
        /// `<confirm-timeout>` in seconds; 600 when absent.
        confirm_timeout: u32,
        /// `<persist>`: make the confirmed commit survive the session, with this id.
        persist: Option<String>,
        /// `<persist-id>`: confirm a persistent confirmed commit.
        persist_id: Option<String>,
    },
    /// `<cancel-commit>` (RFC 6241 section 8.4.4.1).
    CancelCommit {
        /// `<persist-id>` of the persistent confirmed commit to cancel.
        persist_id: Option<String>,
    },
    /// `<discard-changes>` (RFC 6241 section 8.3.4.2).
    DiscardChanges,
    /// `<get-data>` of ietf-netconf-nmda (RFC 8526 section 3.1.1). The backend answers with
    /// [`crate::backend::Reply::Output`] holding the `<data>` element of the nmda namespace.
    GetData(GetData),
    /// `<get-schema>` (RFC 6022 section 3.1).
    GetSchema {
        /// The module or submodule name.
        identifier: String,
        /// The revision, if sent.
        version: Option<String>,
        /// The format's identity name without prefix (`yang`, `yin`), if sent.
        format: Option<String>,
    },
    /// `<create-subscription>` (RFC 5277 section 2.1.1), parameters checked against each
    /// other (a stopTime needs an earlier startTime). Answered by the server.
    CreateSubscription {
        /// The stream; only `NETCONF` exists.
        stream: String,
        /// The filter, if any: the same forms as `<get>`'s.
        filter: Option<Filter>,
        /// `<startTime>`: replay from this time.
        start_time: Option<std::time::SystemTime>,
        /// `<stopTime>`: end the subscription at this time.
        stop_time: Option<std::time::SystemTime>,
    },
    /// Any other operation (a YANG `rpc` or `action` of some module, or a base operation of a
    /// namespace the library does not parse). The backend answers, typically
    /// operation-not-supported when it does not know it either.
    Other {
        /// The local name of the operation element.
        name: String,
        /// Its namespace (empty when it has none).
        namespace: String,
        /// The operation element written standalone (see [`Filter::Subtree`]).
        xml: String,
    },
}

impl Operation {
    /// The operation element's local name, for logs.
    pub fn name(&self) -> &str {
        match self {
            Operation::Get { .. } => "get",
            Operation::GetConfig { .. } => "get-config",
            Operation::EditConfig { .. } => "edit-config",
            Operation::CopyConfig { .. } => "copy-config",
            Operation::DeleteConfig { .. } => "delete-config",
            Operation::Lock { .. } => "lock",
            Operation::Unlock { .. } => "unlock",
            Operation::CloseSession => "close-session",
            Operation::KillSession { .. } => "kill-session",
            Operation::Validate { .. } => "validate",
            Operation::Commit { .. } => "commit",
            Operation::CancelCommit { .. } => "cancel-commit",
            Operation::DiscardChanges => "discard-changes",
            Operation::GetData(_) => "get-data",
            Operation::GetSchema { .. } => "get-schema",
            Operation::CreateSubscription { .. } => "create-subscription",
            Operation::Other { name, .. } => name,
        }
    }
}

/// The attributes of an `<rpc>` element, kept to be returned unchanged on `<rpc-reply>`
/// (RFC 6241 section 4.2), namespace declarations for prefixed attributes included.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RpcAttributes {
    /// (name as written, value) in document order; `xmlns` (the default namespace) excluded
    /// since the reply declares its own.
    pub attributes: Vec<(String, String)>,
}

impl RpcAttributes {
    /// The `message-id` attribute, if present.
    pub fn message_id(&self) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(name, _)| name == "message-id")
            .map(|(_, value)| value.as_str())
    }
}

/// A parsed request: the `<rpc>` attributes and the operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rpc {
    /// The attributes to echo.
    pub attributes: RpcAttributes,
    /// The operation.
    pub operation: Operation,
}
