//! ISC Kea 2.2's HA command set as JSON: building and reading command requests and answers, and
//! converting leases to and from Kea's JSON form. Pure: no I/O, no clock (except what a caller
//! passes in).
//!
//! A netdhcpd server pairs with a Kea 2.2 server (libdhcp_ha.so + libdhcp_lease_cmds.so) or with
//! another netdhcpd, so everything here follows what Kea 2.2 sends and accepts:
//!
//! - a request is `{"command": "...", "service": ["dhcp4"], "arguments": {...}}`, arguments left
//!   out when there are none (`config::createCommand` + HA's `CommandCreator::insertService`);
//! - an answer is `{"result": 0, "text": "...", "arguments": {...}}` (`config::createAnswer`,
//!   text left out when empty). Through Kea's control agent the body is a list of answers, one
//!   per service, and Kea's HA reads the first one (`HAService::verifyAsyncResponse`); the agent
//!   answers some of its own errors with a bare map. We answer with a one-element list and read
//!   both forms;
//! - a lease is `Lease4::toElement` (with `cltt`), except in the lease updates HA sends, where
//!   `CommandCreator::insertLeaseExpireTime` replaces `cltt` with `expire`, the field
//!   lease_cmds' `Lease4Parser` reads.
//!
//! netdhcpd's one extension is `lease4-bulk-apply`: Kea's `lease6-bulk-apply` shape for DHCPv4,
//! used only between two netdhcpd servers. A netdhcpd heartbeat answer carries the extra argument
//! `netdhcp-batched-updates: true` to announce it; Kea ignores arguments it does not know.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value};
use thiserror::Error;

use super::json_fields::{
    self, colon_hex, common_lease_fields, hex_groups, hex_pairs, int, invalid, missing,
    parse_hwaddr, parse_ipv4, read_expire, read_hostname, read_state, read_user_context, type_name,
    wrong_type, Fields, LeaseTime,
};
use super::State;
use crate::lease::{ClientId, Lease4};

/// The command names, as Kea spells them.
pub mod names {
    /// Partner liveness and state; answered with [`super::Heartbeat`] arguments.
    pub const HEARTBEAT: &str = "ha-heartbeat";
    /// The partner asks this server to go to waiting and resynchronise.
    pub const RESET: &str = "ha-reset";
    /// Operator: resume a paused state machine.
    pub const CONTINUE: &str = "ha-continue";
    /// The partner tells this server to go in-maintenance (or to cancel it).
    pub const MAINTENANCE_NOTIFY: &str = "ha-maintenance-notify";
    /// Operator: hand this server's partner's clients over before maintenance.
    pub const MAINTENANCE_START: &str = "ha-maintenance-start";
    /// Operator: cancel a maintenance hand-over.
    pub const MAINTENANCE_CANCEL: &str = "ha-maintenance-cancel";
    /// Operator: synchronise the lease database from a named server now.
    pub const SYNC: &str = "ha-sync";
    /// The partner finished synchronising from this server (re-enables the DHCP service).
    pub const SYNC_COMPLETE_NOTIFY: &str = "ha-sync-complete-notify";
    /// Operator: serve these scopes.
    pub const SCOPES: &str = "ha-scopes";
    /// Create or update one DHCPv4 lease.
    pub const LEASE4_UPDATE: &str = "lease4-update";
    /// Delete one DHCPv4 lease.
    pub const LEASE4_DEL: &str = "lease4-del";
    /// One page of DHCPv4 leases, for the lease database synchronisation.
    pub const LEASE4_GET_PAGE: &str = "lease4-get-page";
    /// All DHCPv4 leases (old Kea synchronisation; netdhcpd pages).
    pub const LEASE4_GET_ALL: &str = "lease4-get-all";
    /// netdhcpd extension: many DHCPv4 lease changes in one request, `lease6-bulk-apply`'s shape.
    pub const LEASE4_BULK_APPLY: &str = "lease4-bulk-apply";
    /// Create or update one DHCPv6 lease.
    pub const LEASE6_UPDATE: &str = "lease6-update";
    /// Delete one DHCPv6 lease.
    pub const LEASE6_DEL: &str = "lease6-del";
    /// One page of DHCPv6 leases.
    pub const LEASE6_GET_PAGE: &str = "lease6-get-page";
    /// All DHCPv6 leases.
    pub const LEASE6_GET_ALL: &str = "lease6-get-all";
    /// Many DHCPv6 lease changes in one request (what Kea's HA sends for DHCPv6).
    pub const LEASE6_BULK_APPLY: &str = "lease6-bulk-apply";
    /// Stop answering DHCP clients (the partner does this while it synchronises from us).
    pub const DHCP_DISABLE: &str = "dhcp-disable";
    /// Answer DHCP clients again.
    pub const DHCP_ENABLE: &str = "dhcp-enable";
    /// Server status; Kea's HA adds its relationship to it.
    pub const STATUS_GET: &str = "status-get";
    /// The commands a server supports.
    pub const LIST_COMMANDS: &str = "list-commands";
}

/// Heartbeat answer argument by which a netdhcpd server announces `lease4-bulk-apply`. Kea
/// ignores it, so it is safe to send to either kind of partner.
pub const BATCHED_UPDATES_ARG: &str = "netdhcp-batched-updates";

/// The `origin` HA sets in `dhcp-disable`/`dhcp-enable`, so the server keeps the partner's
/// disable apart from an operator's (Kea 1.9.4 and later).
pub const ORIGIN_HA_PARTNER: &str = "ha-partner";

/// The `from` keyword of `lease4-get-page` that asks for the first page.
pub const PAGE_START: &str = "start";

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a command or an answer could not be read.
///
/// Messages name the offending field (prefixed with where it sits, like `leases[3].hw-address`)
/// so that the text a partner gets back, or an operator reads in the log, says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandError {
    /// The body is not JSON.
    #[error("the body is not valid JSON: {0}")]
    Json(String),
    /// The JSON does not have the expected overall shape.
    #[error("{0}")]
    Malformed(String),
    /// A required field is absent.
    #[error("'{name}' is missing")]
    Missing {
        /// The field.
        name: String,
    },
    /// A field has the wrong JSON type.
    #[error("'{name}' must be {expected}, not {found}")]
    WrongType {
        /// The field.
        name: String,
        /// The type wanted, with its article ("an integer").
        expected: &'static str,
        /// The type found ("a string").
        found: &'static str,
    },
    /// A field has the right type but an unusable value.
    #[error("'{name}' has an invalid value {value}: {reason}")]
    Invalid {
        /// The field.
        name: String,
        /// The value as JSON (shortened when long).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The answer reports that the command failed (any result but success and empty).
    #[error("the command failed with result {result}: {text}")]
    Failed {
        /// The result code.
        result: ResultCode,
        /// The answer's text.
        text: String,
    },
}

impl CommandError {
    /// The same error with the field placed inside `outer` (a list element or a sub-map), so the
    /// message says where the field is: `leases[2]` + `hw-address` → `leases[2].hw-address`.
    pub fn within(self, outer: &str) -> Self {
        let nest = |name: String| format!("{outer}.{name}");
        match self {
            CommandError::Missing { name } => CommandError::Missing { name: nest(name) },
            CommandError::WrongType {
                name,
                expected,
                found,
            } => CommandError::WrongType {
                name: nest(name),
                expected,
                found,
            },
            CommandError::Invalid {
                name,
                value,
                reason,
            } => CommandError::Invalid {
                name: nest(name),
                value,
                reason,
            },
            CommandError::Malformed(text) => CommandError::Malformed(format!("{outer}: {text}")),
            other => other,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// The server a command is for, Kea's `service` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// The DHCPv4 server, "dhcp4".
    Dhcp4,
    /// The DHCPv6 server, "dhcp6".
    Dhcp6,
}

impl Service {
    /// Kea's name of the service.
    pub fn name(self) -> &'static str {
        match self {
            Service::Dhcp4 => "dhcp4",
            Service::Dhcp6 => "dhcp6",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Service {
    type Err = CommandError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "dhcp4" => Ok(Service::Dhcp4),
            "dhcp6" => Ok(Service::Dhcp6),
            other => Err(invalid(
                "service",
                &Value::String(other.to_string()),
                "only \"dhcp4\" and \"dhcp6\" are served here",
            )),
        }
    }
}

/// A command received from a partner (or an operator).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The command name (see [`names`]).
    pub command: String,
    /// The service it is addressed to; `None` when the request names none (sent straight to a
    /// server rather than through a control agent).
    pub service: Option<Service>,
    /// The arguments, always a JSON map when present.
    pub arguments: Option<Value>,
}

#[derive(Serialize)]
struct RequestOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a Value>,
    command: &'a str,
    service: [&'static str; 1],
}

/// The body of a request for `command` to `service`, as Kea's HA builds it; `arguments` is left
/// out when `None` (Kea 2.2 sends `ha-heartbeat`, `ha-reset` and `ha-sync-complete-notify`
/// without arguments).
pub fn encode_request(command: &str, service: Service, arguments: Option<Value>) -> Vec<u8> {
    to_body(&RequestOut {
        arguments: arguments.as_ref(),
        command,
        service: [service.name()],
    })
}

fn to_body<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain structs, strings and `Value`s cannot fail (map keys are strings).
    serde_json::to_vec(value).unwrap_or_default()
}

/// Reads a request body. As Kea's `config::parseCommand`, only `command`, `arguments`, `service`
/// and `remote-address` (added by a control agent) are allowed at the top level; `arguments`
/// must be a map, `service` a list of at most one service.
pub fn parse_request(body: &[u8]) -> Result<Request, CommandError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| CommandError::Json(e.to_string()))?;
    let Value::Object(map) = &value else {
        return Err(CommandError::Malformed(format!(
            "a command must be a JSON map, not {}",
            type_name(&value)
        )));
    };
    if let Some(unknown) = map.keys().find(|k| {
        !matches!(
            k.as_str(),
            "command" | "arguments" | "service" | "remote-address"
        )
    }) {
        return Err(CommandError::Malformed(format!(
            "the command contains the unsupported parameter '{unknown}' \
             (allowed: command, arguments, service)"
        )));
    }
    let fields = Fields(map);
    let command = fields.str("command")?.to_string();
    let service = match fields.get("service") {
        None => None,
        Some(Value::Array(list)) => match list.as_slice() {
            [] => None,
            [one] => {
                let name = one
                    .as_str()
                    .ok_or_else(|| wrong_type("service[0]", "a string", one))?;
                Some(name.parse()?)
            }
            _ => {
                return Err(invalid(
                    "service",
                    &Value::Array(list.clone()),
                    "names several services; send one request per service",
                ))
            }
        },
        Some(other) => return Err(wrong_type("service", "a list", other)),
    };
    let arguments = match fields.get("arguments") {
        None => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(other) => return Err(wrong_type("arguments", "a map", other)),
    };
    Ok(Request {
        command,
        service,
        arguments,
    })
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

/// An answer's `result` (Kea's `CONTROL_RESULT_*` and the HA hook's own code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultCode {
    /// 0: the command succeeded.
    Success = 0,
    /// 1: the command failed. Kea also reports malformed commands this way.
    Error = 1,
    /// 2: the command is not supported (Kea's HA then falls back, e.g. from
    /// `ha-sync-complete-notify` to `dhcp-enable`).
    Unsupported = 2,
    /// 3: the command succeeded but found nothing (an empty lease page, a lease to delete that
    /// does not exist). Kea's HA counts it as success.
    Empty = 3,
    /// 4: the command conflicts with the server's state, e.g. a lease update racing another
    /// (Kea 2.4 and later).
    Conflict = 4,
    /// 1001: `ha-maintenance-notify` refused because the server's state does not allow
    /// maintenance. A Kea partner tells this apart from an error (1), which it reads as "the
    /// partner is down" and answers by going partner-down.
    MaintenanceNotAllowed = 1001,
}

impl ResultCode {
    /// The number on the wire.
    pub fn code(self) -> i64 {
        self as i64
    }

    /// Whether Kea's HA counts the answer as a success (`verifyAsyncResponse`: 0 and 3).
    pub fn is_success(self) -> bool {
        matches!(self, ResultCode::Success | ResultCode::Empty)
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ResultCode::Success => "success",
            ResultCode::Error => "error",
            ResultCode::Unsupported => "unsupported",
            ResultCode::Empty => "empty",
            ResultCode::Conflict => "conflict",
            ResultCode::MaintenanceNotAllowed => "maintenance not allowed",
        };
        write!(f, "{} ({name})", self.code())
    }
}

impl From<ResultCode> for i64 {
    fn from(code: ResultCode) -> i64 {
        code.code()
    }
}

/// A result number this module does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("unknown result code {0}")]
pub struct UnknownResultCode(pub i64);

impl TryFrom<i64> for ResultCode {
    type Error = UnknownResultCode;

    fn try_from(n: i64) -> Result<Self, UnknownResultCode> {
        match n {
            0 => Ok(ResultCode::Success),
            1 => Ok(ResultCode::Error),
            2 => Ok(ResultCode::Unsupported),
            3 => Ok(ResultCode::Empty),
            4 => Ok(ResultCode::Conflict),
            1001 => Ok(ResultCode::MaintenanceNotAllowed),
            other => Err(UnknownResultCode(other)),
        }
    }
}

/// The answer to one command.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// What happened.
    pub result: ResultCode,
    /// A human-readable status ("" for none; Kea requires one for any result but success).
    pub text: String,
    /// The command's results.
    pub arguments: Option<Value>,
}

impl Answer {
    /// A success with `text` and no arguments.
    pub fn success(text: impl Into<String>) -> Self {
        Answer {
            result: ResultCode::Success,
            text: text.into(),
            arguments: None,
        }
    }

    /// A failure: `text` says why.
    pub fn error(text: impl Into<String>) -> Self {
        Answer {
            result: ResultCode::Error,
            text: text.into(),
            arguments: None,
        }
    }

    /// The answer to a command this server does not implement, worded as Kea's `CommandMgr`.
    pub fn unsupported(command: &str) -> Self {
        Answer {
            result: ResultCode::Unsupported,
            text: format!("'{command}' command not supported."),
            arguments: None,
        }
    }

    /// The arguments of a successful answer (result 0 or 3, as Kea's HA accepts), or the
    /// failure as an error carrying the partner's text.
    pub fn into_arguments(self) -> Result<Option<Value>, CommandError> {
        if self.result.is_success() {
            Ok(self.arguments)
        } else {
            Err(CommandError::Failed {
                result: self.result,
                text: self.text,
            })
        }
    }
}

#[derive(Serialize)]
struct AnswerOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a Value>,
    result: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    text: &'a str,
}

/// The body of `answer`: a one-element list, as a Kea server answers through its control agent
/// and as Kea's HA expects (it reads the first element of a list).
pub fn encode_answer(answer: &Answer) -> Vec<u8> {
    to_body(&[AnswerOut {
        arguments: answer.arguments.as_ref(),
        result: answer.result.code(),
        text: &answer.text,
    }])
}

/// Reads an answer body: a list of answers (the first one counts, as in Kea's HA) or a bare
/// answer map (a control agent's own errors, or a server answering directly).
///
/// A result number outside [`ResultCode`] is read as [`ResultCode::Error`] (every such code is a
/// failure to Kea's HA), with the number added to the text so that it is not lost.
pub fn parse_answer(body: &[u8]) -> Result<Answer, CommandError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| CommandError::Json(e.to_string()))?;
    let answer = match &value {
        Value::Array(list) => list.first().ok_or_else(|| {
            CommandError::Malformed("the answer is an empty list of answers".to_string())
        })?,
        map @ Value::Object(_) => map,
        other => {
            return Err(CommandError::Malformed(format!(
                "an answer must be a JSON list or map, not {}",
                type_name(other)
            )))
        }
    };
    let fields = Fields::of(answer, "answer")?;
    let number = int("result", fields.required("result")?)?;
    let mut text = fields.opt_str("text")?.unwrap_or_default().to_string();
    let result = ResultCode::try_from(number).unwrap_or_else(|UnknownResultCode(n)| {
        text = if text.is_empty() {
            format!("result code {n}")
        } else {
            format!("{text} (result code {n})")
        };
        ResultCode::Error
    });
    Ok(Answer {
        result,
        text,
        arguments: fields.get("arguments").cloned(),
    })
}

// ---------------------------------------------------------------------------------------------
// Heartbeat
// ---------------------------------------------------------------------------------------------

/// A heartbeat answer's arguments: what a server says of itself (Kea's
/// `HAService::processHeartbeat`). Kea 2.2's heartbeat request has no arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// Its HA state.
    pub state: State,
    /// Its clock, to measure the clock skew between the two servers (whole seconds on the wire).
    pub date_time: SystemTime,
    /// The scopes (server names) it serves.
    pub scopes: Vec<String>,
    /// Lease updates it did not send to its partner (in partner-down): a partner that sees it
    /// non-zero knows it must synchronise. 0 when the partner does not send it (old Kea).
    pub unsent_update_count: u64,
    /// A netdhcpd server: accepts `lease4-bulk-apply` ([`BATCHED_UPDATES_ARG`]).
    pub batched_updates: bool,
}

/// Seconds from the epoch to 9999-12-31T23:59:59Z, the last instant an HTTP date can show.
const LAST_HTTP_DATE_SECS: u64 = 253_402_300_799;

/// Formats `t` as an RFC 1123 HTTP date ("Fri, 27 Nov 2026 18:00:00 GMT"), as Kea's
/// `HttpDateTime::rfc1123Format`. Times outside 1970..=9999 are clamped (the format has no
/// room for them).
pub fn http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .min(LAST_HTTP_DATE_SECS);
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

/// The arguments of this server's heartbeat answer.
pub fn heartbeat_arguments(h: &Heartbeat) -> Value {
    let mut m = Map::new();
    m.insert("state".into(), h.state.name().into());
    m.insert("date-time".into(), http_date(h.date_time).into());
    m.insert(
        "scopes".into(),
        Value::Array(h.scopes.iter().map(|s| Value::String(s.clone())).collect()),
    );
    // Kea reads it as a signed 64-bit integer.
    let unsent = i64::try_from(h.unsent_update_count).unwrap_or(i64::MAX);
    m.insert("unsent-update-count".into(), unsent.into());
    if h.batched_updates {
        m.insert(BATCHED_UPDATES_ARG.into(), true.into());
    }
    Value::Object(m)
}

/// The answer to `ha-heartbeat`, worded as Kea's.
pub fn heartbeat_answer(h: &Heartbeat) -> Answer {
    Answer {
        result: ResultCode::Success,
        text: "HA peer status returned.".to_string(),
        arguments: Some(heartbeat_arguments(h)),
    }
}

/// Reads a partner's heartbeat answer arguments.
///
/// `state` and `date-time` are required (as in Kea's `asyncSendHeartbeat`); a state name
/// netdhcpd does not implement is an error. `date-time` is an HTTP date in any of its three
/// forms. `scopes` is read leniently, as Kea does: missing or malformed, it is empty (old HA
/// versions did not send it, and failing a heartbeat would make the partner look down).
/// `unsent-update-count` is 0 when absent; the netdhcpd flag false when absent.
pub fn parse_heartbeat(arguments: &Value) -> Result<Heartbeat, CommandError> {
    let fields = Fields::of(arguments, "arguments")?;
    let state = fields.parsed("state", |name, v, text| {
        text.parse::<State>()
            .map_err(|_| invalid(name, v, "is not an HA state netdhcpd knows"))
    })?;
    let date_time = fields.parsed("date-time", |name, v, text| {
        httpdate::parse_http_date(text).map_err(|_| {
            invalid(
                name,
                v,
                "is not an HTTP date like \"Fri, 27 Nov 2026 18:00:00 GMT\"",
            )
        })
    })?;
    let scopes = match fields.get("scopes") {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let unsent_update_count = match fields.opt_int("unsent-update-count")? {
        None => 0,
        Some(n) => u64::try_from(n).map_err(|_| {
            invalid(
                "unsent-update-count",
                fields.get("unsent-update-count").unwrap_or(&Value::Null),
                "must not be negative",
            )
        })?,
    };
    let batched_updates = fields.opt_bool(BATCHED_UPDATES_ARG)?.unwrap_or(false);
    Ok(Heartbeat {
        state,
        date_time,
        scopes,
        unsent_update_count,
        batched_updates,
    })
}

/// The partner's clock minus ours, in whole seconds (truncated toward zero, as Kea's
/// `total_seconds`): positive when the partner is ahead. Compare its absolute value with
/// [`super::state::CLOCK_SKEW_WARN_SECS`] and [`super::state::CLOCK_SKEW_TERMINATE_SECS`].
pub fn clock_skew_secs(partner: SystemTime, ours: SystemTime) -> i64 {
    match partner.duration_since(ours) {
        Ok(ahead) => i64::try_from(ahead.as_secs()).unwrap_or(i64::MAX),
        Err(behind) => i64::try_from(behind.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

// ---------------------------------------------------------------------------------------------
// Leases
// ---------------------------------------------------------------------------------------------

/// Longest client identifier Kea accepts (`ClientId::MAX_CLIENT_ID_LEN`).
const CLIENT_ID_MAX_LEN: usize = 255;

/// Kea's client-id text: colon-separated bytes of one or two hex digits ("01:0:c"), or an even
/// run of digits without separators ("01000c").
fn parse_client_id_text(text: &str) -> Result<Vec<u8>, &'static str> {
    const BAD_DIGIT: &str = "contains a character that is not a hexadecimal digit or ':'";
    let bytes = text.as_bytes();
    let out = if bytes.contains(&b':') {
        hex_groups(bytes, b':', BAD_DIGIT, "has an empty byte between colons")?
    } else if bytes.len() % 2 == 1 {
        return Err("has an odd number of hexadecimal digits");
    } else {
        hex_pairs(bytes, BAD_DIGIT)?
    };
    if out.len() > CLIENT_ID_MAX_LEN {
        return Err("is longer than 255 bytes");
    }
    Ok(out)
}

fn lease_map(lease: &Lease4, time: LeaseTime) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("ip-address".into(), lease.address.to_string().into());
    m.insert("subnet-id".into(), lease.subnet_id.into());
    m.insert("hw-address".into(), lease.hwaddr.to_string().into());
    // Kea cannot read an empty client-id (`ClientId::fromText`); an empty one means none.
    if let Some(id) = lease.client_id.as_ref().filter(|id| !id.is_empty()) {
        m.insert("client-id".into(), colon_hex(id).into());
    }
    common_lease_fields!(lease).insert_into(&mut m, time);
    m
}

/// The lease as Kea's `Lease4::toElement`: `ip-address`, `subnet-id`, `hw-address` (lowercase
/// colon hex, "" when none), `client-id` (only when there is one), `cltt`, `valid-lft`,
/// `fqdn-fwd`, `fqdn-rev`, `hostname` ("" when none), `state` (0 default, 1 declined, 2
/// expired-reclaimed) and `user-context` (only when there is one). This is what
/// `lease4-get-page` returns and what Kea's synchronisation reads with `Lease4::fromElement`.
pub fn lease4_to_json(lease: &Lease4) -> Value {
    Value::Object(lease_map(lease, LeaseTime::Cltt))
}

/// Reads a lease in any of the forms Kea produces or accepts: `Lease4::toElement` (with `cltt`)
/// and HA's lease updates (with `expire`, the field lease_cmds reads). When both are present
/// `expire` wins, as in lease_cmds' `lease4-update`.
///
/// Required: `ip-address`, `hw-address` (may be "" for a declined lease), `valid-lft`,
/// `subnet-id`, and `expire` or `cltt`. Optional with Kea's defaults: `client-id` (none),
/// `fqdn-fwd`/`fqdn-rev` (false), `hostname` (none), `state` (0), `user-context` (none; must be
/// a map), and `comment`, which goes into the user context as lease_cmds does. Other fields
/// (`force-create`, `origin`) are ignored.
///
/// `expire` must be positive and at least `valid-lft` (lease_cmds' checks); `cltt` must be
/// positive (`Lease4::fromElement`'s); the stored expiry is `cltt + valid-lft`, computed in 64
/// bits so an infinite lifetime cannot overflow. The hostname is kept as sent (Kea lowercases
/// it; a Kea partner has already done so). The user context is stored as compact JSON text.
pub fn lease4_from_json(v: &Value) -> Result<Lease4, CommandError> {
    let f = Fields::of(v, "lease")?;
    let address = f.ipv4("ip-address")?;
    let hwaddr = f.parsed("hw-address", parse_hwaddr)?;
    let client_id = f
        .opt_parsed("client-id", |name, v, text| {
            parse_client_id_text(text).map_err(|reason| invalid(name, v, reason))
        })?
        .filter(|bytes| !bytes.is_empty())
        .map(ClientId::from);
    let valid_lifetime = f.u32("valid-lft")?;
    let expire = read_expire(&f, valid_lifetime)?;
    let subnet_id = f.u32("subnet-id")?;
    let fqdn_fwd = f.opt_bool("fqdn-fwd")?.unwrap_or(false);
    let fqdn_rev = f.opt_bool("fqdn-rev")?.unwrap_or(false);
    let hostname = read_hostname(&f)?;
    let state = read_state(&f)?;
    let user_context = read_user_context(&f)?;
    Ok(Lease4 {
        address,
        hwaddr,
        client_id,
        valid_lifetime,
        expire,
        subnet_id,
        fqdn_fwd,
        fqdn_rev,
        hostname,
        state,
        user_context,
    })
}

/// The arguments of a `lease4-update` as Kea's HA sends it (`CommandCreator::createLease4Update`
/// in 2.2): the lease map with `expire` instead of `cltt`, plus `"force-create": true` so the
/// partner creates the lease if it does not have it. Built straight from the lease (no
/// intermediate copy) as it runs for every lease change.
pub fn lease4_update_arguments(lease: &Lease4) -> Value {
    let mut m = lease_map(lease, LeaseTime::Expire);
    m.insert("force-create".into(), true.into());
    Value::Object(m)
}

/// Reads `lease4-update` arguments: the lease and its `force-create` flag (false when absent;
/// without it an update of a lease the server does not have fails).
pub fn parse_lease4_update(v: &Value) -> Result<(Lease4, bool), CommandError> {
    let lease = lease4_from_json(v)?;
    let force_create = Fields::of(v, "arguments")?
        .opt_bool("force-create")?
        .unwrap_or(false);
    Ok((lease, force_create))
}

/// The arguments of a `lease4-del` as Kea's HA sends it: the whole lease map with `expire`
/// (lease_cmds reads only `ip-address`).
pub fn lease4_del_arguments(lease: &Lease4) -> Value {
    Value::Object(lease_map(lease, LeaseTime::Expire))
}

/// Reads `lease4-del` arguments: the address of the lease to delete. Deleting by
/// `identifier-type`/`identifier` (an operator's form) is not supported.
pub fn parse_lease4_del(v: &Value) -> Result<Ipv4Addr, CommandError> {
    let f = Fields::of(v, "arguments")?;
    f.refuse_identifier()?;
    f.ipv4("ip-address")
}

// ---------------------------------------------------------------------------------------------
// Lease pages (synchronisation)
// ---------------------------------------------------------------------------------------------

/// A `lease4-get-page` request: the leases after `from` (exclusive), at most `limit` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// The last address of the previous page; `None` for the first page ("start").
    pub from: Option<Ipv4Addr>,
    /// The page size, 1 to 2^32-1 as Kea's `LeasePageSize` allows.
    pub limit: u32,
}

/// The arguments of a `lease4-get-page` request (`CommandCreator::createLease4GetPage`).
pub fn get_page_arguments(p: &PageRequest) -> Value {
    json_fields::page_request_arguments(p.from, p.limit)
}

/// Reads `lease4-get-page` arguments with lease_cmds' checks: `from` is "start" or an IPv4
/// address ("0.0.0.0" also means the first page and reads as `None`), `limit` an integer from 1
/// to 4294967295.
pub fn parse_get_page(v: &Value) -> Result<PageRequest, CommandError> {
    let (from, limit) = json_fields::read_page_request(v, parse_ipv4)?;
    Ok(PageRequest {
        from: from.filter(|a| !a.is_unspecified()),
        limit,
    })
}

/// The arguments of a `lease4-get-page` answer: `{"leases": [...], "count": n}`. Send them with
/// every page, the empty last one included: Kea's synchronisation requires a map with a
/// `leases` list even when the result is 3 (empty).
pub fn page_answer_arguments(leases: &[Lease4]) -> Value {
    json_fields::page_answer_arguments(leases, lease4_to_json)
}

/// The whole answer to `lease4-get-page`, as lease_cmds gives it: result 0 with the leases, or
/// result 3 (empty) with an empty list when there are no more.
pub fn page_answer(leases: &[Lease4]) -> Answer {
    json_fields::page_answer(leases, "IPv4", lease4_to_json)
}

/// Reads a `lease4-get-page` answer's arguments strictly: any malformed lease fails the page,
/// its error naming it (`leases[3].hw-address`). See [`parse_page_lenient`] for Kea's way.
pub fn parse_page(v: &Value) -> Result<Vec<Lease4>, CommandError> {
    json_fields::read_page(v, lease4_from_json)
}

/// A page of leases read as Kea's synchronisation reads it: malformed leases are set aside, the
/// others kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The leases that could be read, in the partner's order.
    pub leases: Vec<Lease4>,
    /// Why each malformed entry was set aside (to log).
    pub rejected: Vec<CommandError>,
    /// Entries in the page, read or not. A page with fewer entries than the limit asked for is
    /// the last one.
    pub count: usize,
    /// The `ip-address` of the page's last entry, even if the rest of it is malformed: the
    /// `from` of the next request, so one bad lease does not end the synchronisation early.
    pub last_address: Option<Ipv4Addr>,
}

/// Reads a `lease4-get-page` answer's arguments the way Kea's HA does (bad leases are skipped
/// and logged, the synchronisation goes on). Fails only when `leases` is absent or not a list.
pub fn parse_page_lenient(v: &Value) -> Result<Page, CommandError> {
    let json_fields::LenientPage {
        leases,
        rejected,
        count,
        last_address,
    } = json_fields::read_page_lenient(v, lease4_from_json)?;
    Ok(Page {
        leases,
        rejected,
        count,
        last_address,
    })
}

// ---------------------------------------------------------------------------------------------
// lease4-bulk-apply (netdhcpd extension)
// ---------------------------------------------------------------------------------------------

/// Many lease changes in one `lease4-bulk-apply` request: `lease6-bulk-apply`'s shape for DHCPv4,
/// sent only to a partner whose heartbeat announced [`BATCHED_UPDATES_ARG`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BulkUpdate4 {
    /// Leases to create or update (always created if absent, as `lease6-bulk-apply` does).
    pub leases: Vec<Lease4>,
    /// Addresses of leases to delete.
    pub deleted: Vec<Ipv4Addr>,
}

/// The arguments of a `lease4-bulk-apply`: `{"deleted-leases": [{"ip-address": ...}],
/// "leases": [lease with expire, ...]}`. Leases carry `expire`, as in Kea's
/// `createLease6BulkApply`; deletions only their address, which is all a deletion needs.
pub fn bulk_apply_arguments(b: &BulkUpdate4) -> Value {
    let deleted = b
        .deleted
        .iter()
        .map(|a| {
            let mut m = Map::new();
            m.insert("ip-address".into(), a.to_string().into());
            Value::Object(m)
        })
        .collect();
    let leases = b
        .leases
        .iter()
        .map(|l| Value::Object(lease_map(l, LeaseTime::Expire)))
        .collect();
    let mut m = Map::new();
    m.insert("deleted-leases".into(), Value::Array(deleted));
    m.insert("leases".into(), Value::Array(leases));
    Value::Object(m)
}

/// Reads `lease4-bulk-apply` arguments with `lease6-bulk-apply`'s rules: at least one of
/// `deleted-leases` and `leases`, each a list. A deleted entry is a map with `ip-address` (a
/// whole lease is fine); a lease entry is read by [`lease4_from_json`]. Any malformed entry fails
/// the whole command, named (`leases[2].valid-lft`), so nothing is half applied.
pub fn parse_bulk_apply(v: &Value) -> Result<BulkUpdate4, CommandError> {
    let (deleted, leases) = json_fields::read_bulk_apply(
        v,
        |entry| Fields::of(entry, "lease")?.ipv4("ip-address"),
        lease4_from_json,
    )?;
    Ok(BulkUpdate4 { leases, deleted })
}

/// One change of a bulk apply that the receiver could not make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedLease {
    /// The lease's address.
    pub address: Ipv4Addr,
    /// [`ResultCode::Empty`] for a deletion of a lease that does not exist, else an error.
    pub result: ResultCode,
    /// Why.
    pub error_message: String,
}

/// The changes of a bulk apply that failed, as `lease6-bulk-apply` reports them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BulkApplyFailures {
    /// Deletions that failed (`failed-deleted-leases`).
    pub deleted: Vec<FailedLease>,
    /// Creations and updates that failed (`failed-leases`).
    pub leases: Vec<FailedLease>,
}

fn failed_list(failed: &[FailedLease]) -> Value {
    Value::Array(
        failed
            .iter()
            .map(|f| {
                let mut m = Map::new();
                m.insert("type".into(), "V4".into());
                m.insert("ip-address".into(), f.address.to_string().into());
                m.insert("result".into(), f.result.code().into());
                m.insert("error-message".into(), f.error_message.clone().into());
                Value::Object(m)
            })
            .collect(),
    )
}

/// The answer to `lease4-bulk-apply`, as lease_cmds answers `lease6-bulk-apply`: result 0 when
/// anything was applied, 3 when nothing; failures listed in the arguments (none when all went
/// well).
pub fn bulk_apply_answer(applied: usize, failures: &BulkApplyFailures) -> Answer {
    let arguments = (!failures.deleted.is_empty() || !failures.leases.is_empty()).then(|| {
        let mut m = Map::new();
        if !failures.deleted.is_empty() {
            m.insert(
                "failed-deleted-leases".into(),
                failed_list(&failures.deleted),
            );
        }
        if !failures.leases.is_empty() {
            m.insert("failed-leases".into(), failed_list(&failures.leases));
        }
        Value::Object(m)
    });
    Answer {
        result: if applied > 0 {
            ResultCode::Success
        } else {
            ResultCode::Empty
        },
        text: format!("Bulk apply of {applied} IPv4 leases completed."),
        arguments,
    }
}

/// Reads the failures out of a bulk apply answer's arguments (none when there are no arguments).
pub fn parse_bulk_apply_answer(v: Option<&Value>) -> Result<BulkApplyFailures, CommandError> {
    let Some(v) = v else {
        return Ok(BulkApplyFailures::default());
    };
    let f = Fields::of(v, "arguments")?;
    let read_one = |entry: &Value| -> Result<FailedLease, CommandError> {
        let e = Fields::of(entry, "entry")?;
        let code = e.opt_int("result")?.unwrap_or(1);
        Ok(FailedLease {
            address: e.ipv4("ip-address")?,
            result: ResultCode::try_from(code).unwrap_or(ResultCode::Error),
            error_message: e.opt_str("error-message")?.unwrap_or("").to_string(),
        })
    };
    let read = |name: &str| -> Result<Vec<FailedLease>, CommandError> {
        let entries = f.opt_list(name)?.unwrap_or_default();
        json_fields::read_entries(entries, name, read_one)
    };
    Ok(BulkApplyFailures {
        deleted: read("failed-deleted-leases")?,
        leases: read("failed-leases")?,
    })
}

// ---------------------------------------------------------------------------------------------
// Maintenance, DHCP service control, sync completion
// ---------------------------------------------------------------------------------------------

/// The arguments of `ha-maintenance-notify` (Kea 2.2: only `cancel`).
pub fn maintenance_notify_arguments(cancel: bool) -> Value {
    let mut m = Map::new();
    m.insert("cancel".into(), cancel.into());
    Value::Object(m)
}

/// Reads `ha-maintenance-notify` arguments: the `cancel` flag, required as in Kea's
/// `maintenanceNotifyHandler`. Later Kea versions add `server-name`, which is ignored.
///
/// A server refusing to go in-maintenance must answer [`ResultCode::MaintenanceNotAllowed`],
/// not an error: a Kea partner takes an error for "the partner is down".
pub fn parse_maintenance_notify(v: Option<&Value>) -> Result<bool, CommandError> {
    let v = v.ok_or_else(|| missing("arguments"))?;
    let f = Fields::of(v, "arguments")?;
    f.opt_bool("cancel")?.ok_or_else(|| missing("cancel"))
}

/// Who disabled (or enables) the DHCP service: the server tracks the two apart, so the partner's
/// `dhcp-enable` after a sync does not undo an operator's `dhcp-disable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// An operator ("user", the default).
    User,
    /// The HA partner ("ha-partner").
    HaPartner,
}

/// The arguments of the `dhcp-disable` HA sends before fetching our leases: `origin` ha-partner
/// and `max-period` (the service comes back by itself after that many seconds if the partner
/// dies mid-sync), left out when 0 as Kea does.
pub fn dhcp_disable_arguments(max_period_secs: u64) -> Value {
    let mut m = Map::new();
    m.insert("origin".into(), ORIGIN_HA_PARTNER.into());
    if max_period_secs > 0 {
        let secs = i64::try_from(max_period_secs).unwrap_or(i64::MAX);
        m.insert("max-period".into(), secs.into());
    }
    Value::Object(m)
}

/// Reads `dhcp-disable` arguments (all optional): the `max-period` in seconds, which must be
/// positive when given. The `origin` is checked too; read it with [`parse_dhcp_origin`].
pub fn parse_dhcp_disable(v: Option<&Value>) -> Result<Option<u64>, CommandError> {
    parse_dhcp_origin(v)?;
    let Some(v) = v else {
        return Ok(None);
    };
    let f = Fields::of(v, "arguments")?;
    match f.opt_int("max-period")? {
        None => Ok(None),
        Some(n) if n > 0 => Ok(Some(n as u64)),
        Some(_) => Err(invalid(
            "max-period",
            f.get("max-period").unwrap_or(&Value::Null),
            "must be a positive number of seconds",
        )),
    }
}

/// The arguments of the `dhcp-enable` HA sends after a sync (`origin` ha-partner).
pub fn dhcp_enable_arguments() -> Value {
    let mut m = Map::new();
    m.insert("origin".into(), ORIGIN_HA_PARTNER.into());
    Value::Object(m)
}

/// The `origin` of a `dhcp-disable` or `dhcp-enable`: "user" (the default when absent) or
/// "ha-partner". Kea 2.5 and later also send `origin-id`, which is ignored.
pub fn parse_dhcp_origin(v: Option<&Value>) -> Result<Origin, CommandError> {
    let Some(v) = v else {
        return Ok(Origin::User);
    };
    let f = Fields::of(v, "arguments")?;
    match f.opt_str("origin")? {
        None | Some("user") => Ok(Origin::User),
        Some(ORIGIN_HA_PARTNER) => Ok(Origin::HaPartner),
        Some(_) => Err(invalid(
            "origin",
            f.get("origin").unwrap_or(&Value::Null),
            "must be \"user\" or \"ha-partner\"",
        )),
    }
}

/// The arguments of `ha-sync-complete-notify`: `{"server-name": <this server>}`, as Kea 2.5
/// and later send it (there it picks the relationship). Kea 2.2 sends none and its handler
/// ignores arguments (`HAImpl::syncCompleteNotifyHandler`), so this suits both.
pub fn sync_complete_notify_arguments(server_name: &str) -> Option<Value> {
    let mut m = Map::new();
    m.insert("server-name".into(), server_name.into());
    Some(Value::Object(m))
}

/// Checks `ha-sync-complete-notify` arguments: none in Kea 2.2; a map when present (later Kea
/// versions send `server-name` and `origin-id`, which are ignored).
pub fn parse_sync_complete_notify(v: Option<&Value>) -> Result<(), CommandError> {
    match v {
        None | Some(Value::Object(_)) => Ok(()),
        Some(other) => Err(wrong_type("arguments", "a map", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::record::INFINITE_LIFETIME;
    use crate::lease::{HwAddr, LeaseState};
    use serde_json::json;

    fn lease() -> Lease4 {
        Lease4 {
            address: Ipv4Addr::new(192, 0, 2, 10),
            hwaddr: "00:0c:01:02:03:04".parse().unwrap(),
            client_id: None,
            valid_lifetime: 3600,
            expire: 1_700_003_600,
            subnet_id: 7,
            fqdn_fwd: false,
            fqdn_rev: false,
            hostname: None,
            state: LeaseState::Default,
            user_context: None,
        }
    }

    fn full_lease() -> Lease4 {
        Lease4 {
            client_id: Some(ClientId::new(&[1, 0, 0x0c, 1, 2, 3, 4])),
            hostname: Some("host-a.example.org".into()),
            fqdn_fwd: true,
            fqdn_rev: true,
            user_context: Some(r#"{"ISC":{"relay-agent-info":"0x0102"},"n":1}"#.into()),
            ..lease()
        }
    }

    fn err_text(r: Result<impl fmt::Debug, CommandError>) -> String {
        r.expect_err("should fail").to_string()
    }

    // ---------- leases ----------

    #[test]
    fn lease_round_trips_through_both_time_forms() {
        let declined = Lease4 {
            hwaddr: HwAddr::EMPTY,
            state: LeaseState::Declined,
            valid_lifetime: 86_400,
            expire: 1_700_086_400,
            ..lease()
        };
        let infinite = Lease4 {
            valid_lifetime: INFINITE_LIFETIME,
            expire: 1_700_000_000 + u64::from(INFINITE_LIFETIME),
            ..full_lease()
        };
        let reclaimed = Lease4 {
            state: LeaseState::ExpiredReclaimed,
            ..lease()
        };
        for l in [lease(), full_lease(), declined, infinite, reclaimed] {
            assert_eq!(
                lease4_from_json(&lease4_to_json(&l)).unwrap(),
                l,
                "cltt form"
            );
            assert_eq!(
                lease4_from_json(&lease4_update_arguments(&l)).unwrap(),
                l,
                "expire form"
            );
        }
    }

    #[test]
    fn lease_json_is_keas_to_element() {
        let l = full_lease();
        assert_eq!(
            lease4_to_json(&l),
            json!({
                "ip-address": "192.0.2.10",
                "subnet-id": 7,
                "hw-address": "00:0c:01:02:03:04",
                "client-id": "01:00:0c:01:02:03:04",
                "cltt": 1_700_000_000,
                "valid-lft": 3600,
                "fqdn-fwd": true,
                "fqdn-rev": true,
                "hostname": "host-a.example.org",
                "state": 0,
                "user-context": {"ISC": {"relay-agent-info": "0x0102"}, "n": 1}
            })
        );
        // No client-id, no context: the keys are absent; the hostname is "".
        let plain = lease4_to_json(&lease());
        assert!(plain.get("client-id").is_none());
        assert!(plain.get("user-context").is_none());
        assert_eq!(plain["hostname"], "");
    }

    #[test]
    fn lease4_update_request_is_what_kea_ha_sends() {
        let body = encode_request(
            names::LEASE4_UPDATE,
            Service::Dhcp4,
            Some(lease4_update_arguments(&full_lease())),
        );
        let got: Value = serde_json::from_slice(&body).unwrap();
        // Kea 2.2: CommandCreator::createLease4Update = toElement, cltt → expire, force-create.
        let expected = json!({
            "command": "lease4-update",
            "service": ["dhcp4"],
            "arguments": {
                "ip-address": "192.0.2.10",
                "hw-address": "00:0c:01:02:03:04",
                "client-id": "01:00:0c:01:02:03:04",
                "expire": 1_700_003_600,
                "valid-lft": 3600,
                "subnet-id": 7,
                "fqdn-fwd": true,
                "fqdn-rev": true,
                "hostname": "host-a.example.org",
                "state": 0,
                "user-context": {"ISC": {"relay-agent-info": "0x0102"}, "n": 1},
                "force-create": true
            }
        });
        assert_eq!(got, expected);
        let req = parse_request(&body).unwrap();
        assert_eq!(req.command, names::LEASE4_UPDATE);
        assert_eq!(req.service, Some(Service::Dhcp4));
        let (l, force) = parse_lease4_update(req.arguments.as_ref().unwrap()).unwrap();
        assert_eq!((l, force), (full_lease(), true));
    }

    #[test]
    fn lease4_del_carries_the_lease_and_reads_back_its_address() {
        let args = lease4_del_arguments(&lease());
        assert!(args.get("force-create").is_none());
        assert_eq!(args["expire"], 1_700_003_600);
        assert!(args.get("cltt").is_none());
        assert_eq!(parse_lease4_del(&args).unwrap(), lease().address);
        assert_eq!(
            parse_lease4_del(&json!({"ip-address": "10.1.2.3"})).unwrap(),
            Ipv4Addr::new(10, 1, 2, 3)
        );
        assert!(err_text(parse_lease4_del(&json!({}))).contains("'ip-address'"));
        assert!(err_text(parse_lease4_del(&json!({"ip-address": "2001:db8::1"}))).contains("IPv6"));
    }

    #[test]
    fn expire_wins_over_cltt_and_is_checked_as_lease_cmds_does() {
        let mut v = lease4_to_json(&lease());
        v["expire"] = json!(1_800_000_000);
        assert_eq!(lease4_from_json(&v).unwrap().expire, 1_800_000_000);
        v["expire"] = json!(3599);
        let msg = err_text(lease4_from_json(&v));
        assert!(
            msg.contains("'expire'") && msg.contains("valid-lft"),
            "{msg}"
        );
        v["expire"] = json!(0);
        assert!(err_text(lease4_from_json(&v)).contains("'expire'"));
        let mut c = lease4_to_json(&lease());
        c["cltt"] = json!(-5);
        assert!(err_text(lease4_from_json(&c)).contains("'cltt'"));
        let mut none = lease4_to_json(&lease());
        none.as_object_mut().unwrap().remove("cltt");
        let msg = err_text(lease4_from_json(&none));
        assert!(msg.contains("'expire'") && msg.contains("'cltt'"), "{msg}");
    }

    #[test]
    fn lease_cmds_optional_fields_take_keas_defaults() {
        let v = json!({
            "ip-address": "192.0.2.1",
            "hw-address": "1:2:3:4:5:6",
            "valid-lft": 60,
            "expire": 1_000_060,
            "subnet-id": 1,
            "client-id": "",
            "comment": "set by hand"
        });
        let l = lease4_from_json(&v).unwrap();
        assert_eq!(l.hwaddr.as_bytes(), &[1, 2, 3, 4, 5, 6]);
        assert_eq!(l.client_id, None);
        assert_eq!(
            (l.fqdn_fwd, l.fqdn_rev, l.state),
            (false, false, LeaseState::Default)
        );
        assert_eq!(l.hostname, None);
        assert_eq!(l.expire, 1_000_060);
        assert_eq!(
            l.user_context.as_deref(),
            Some(r#"{"comment":"set by hand"}"#)
        );
        // A comment next to a context that has one is ambiguous.
        let mut dup = v.clone();
        dup["user-context"] = json!({"comment": "x"});
        assert!(err_text(lease4_from_json(&dup)).contains("'comment'"));
        // Unseparated client-id hex, as Kea also reads.
        let mut raw = v;
        raw["client-id"] = json!("01000C");
        assert_eq!(
            lease4_from_json(&raw).unwrap().client_id.as_deref(),
            Some(&[1u8, 0, 12][..])
        );
    }

    #[test]
    fn malformed_leases_name_the_field() {
        let good = lease4_to_json(&full_lease());
        let cases: Vec<(&str, Value, &str)> = vec![
            ("ip-address", Value::Null, "'ip-address' is missing"),
            ("ip-address", json!("192.0.2.300"), "'ip-address'"),
            ("ip-address", json!(17), "'ip-address' must be a string"),
            ("hw-address", Value::Null, "'hw-address' is missing"),
            (
                "hw-address",
                json!("zz:01"),
                "'hw-address' has an invalid value",
            ),
            (
                "hw-address",
                json!(vec!["01"; 21].join(":")),
                "'hw-address'",
            ),
            ("client-id", json!("01::02"), "'client-id'"),
            ("client-id", json!(true), "'client-id' must be a string"),
            (
                "valid-lft",
                json!("3600"),
                "'valid-lft' must be an integer, not a string",
            ),
            ("valid-lft", json!(4_294_967_296u64), "'valid-lft'"),
            ("valid-lft", json!(36.5), "'valid-lft' must be an integer"),
            ("subnet-id", Value::Null, "'subnet-id' is missing"),
            ("subnet-id", json!(-1), "'subnet-id'"),
            ("fqdn-fwd", json!(1), "'fqdn-fwd' must be a boolean"),
            ("hostname", json!(5), "'hostname' must be a string"),
            ("state", json!(3), "'state'"),
            ("state", json!("declined"), "'state' must be an integer"),
            ("user-context", json!([1]), "'user-context' must be a map"),
        ];
        for (field, value, expected) in cases {
            let mut v = good.clone();
            if value.is_null() {
                v.as_object_mut().unwrap().remove(field);
            } else {
                v[field] = value;
            }
            let msg = err_text(lease4_from_json(&v));
            assert!(msg.contains(expected), "{field}: {msg}");
        }
        assert!(err_text(lease4_from_json(&json!([]))).contains("'lease' must be a map"));
    }

    #[test]
    fn a_stored_context_that_is_not_a_map_is_left_out() {
        let l = Lease4 {
            user_context: Some("{broken".into()),
            ..lease()
        };
        assert!(lease4_to_json(&l).get("user-context").is_none());
        assert!(lease4_update_arguments(&l).get("user-context").is_none());
    }

    // ---------- requests and answers ----------

    #[test]
    fn requests_without_arguments_leave_them_out() {
        let body = encode_request(names::HEARTBEAT, Service::Dhcp4, None);
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!({"command": "ha-heartbeat", "service": ["dhcp4"]})
        );
        let req = parse_request(&body).unwrap();
        assert_eq!(req.arguments, None);
        // A request straight to a server may lack the service; a control agent adds
        // remote-address.
        let req = parse_request(br#"{"command":"ha-reset","remote-address":"192.0.2.1"}"#).unwrap();
        assert_eq!((req.command.as_str(), req.service), ("ha-reset", None));
        let req = parse_request(br#"{"command":"ha-reset","service":["dhcp6"]}"#).unwrap();
        assert_eq!(req.service, Some(Service::Dhcp6));
    }

    #[test]
    fn malformed_requests_say_what_is_wrong() {
        assert!(matches!(parse_request(b"{"), Err(CommandError::Json(_))));
        assert!(err_text(parse_request(b"[]")).contains("must be a JSON map"));
        assert!(err_text(parse_request(br#"{"arguments":{}}"#)).contains("'command' is missing"));
        assert!(err_text(parse_request(br#"{"command":1}"#)).contains("'command' must be a string"));
        assert!(err_text(parse_request(br#"{"command":"x","bogus":1}"#)).contains("'bogus'"));
        assert!(
            err_text(parse_request(br#"{"command":"x","service":"dhcp4"}"#))
                .contains("'service' must be a list")
        );
        assert!(
            err_text(parse_request(br#"{"command":"x","service":["d2"]}"#)).contains("'service'")
        );
        assert!(err_text(parse_request(
            br#"{"command":"x","service":["dhcp4","dhcp6"]}"#
        ))
        .contains("several"));
        assert!(
            err_text(parse_request(br#"{"command":"x","arguments":[1]}"#))
                .contains("'arguments' must be a map")
        );
    }

    #[test]
    fn answers_are_one_element_lists_and_read_from_lists_or_maps() {
        let answer = Answer {
            result: ResultCode::Success,
            text: "IPv4 lease updated.".into(),
            arguments: None,
        };
        let body = encode_answer(&answer);
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!([{"result": 0, "text": "IPv4 lease updated."}])
        );
        assert_eq!(parse_answer(&body).unwrap(), answer);
        // Kea's control agent answers its own errors with a bare map.
        let bare = parse_answer(br#"{"result":1,"text":"Unable to forward command"}"#).unwrap();
        assert_eq!(bare.result, ResultCode::Error);
        assert_eq!(bare.text, "Unable to forward command");
        // Only the first answer of a list counts; text is optional.
        let two = parse_answer(br#"[{"result":3,"arguments":{"a":1}},{"result":1}]"#).unwrap();
        assert_eq!(two.result, ResultCode::Empty);
        assert_eq!(two.text, "");
        assert_eq!(two.arguments, Some(json!({"a": 1})));
        // Empty text is not sent, as Kea's createAnswer.
        let quiet = encode_answer(&Answer {
            result: ResultCode::Success,
            text: String::new(),
            arguments: Some(json!({})),
        });
        assert_eq!(
            serde_json::from_slice::<Value>(&quiet).unwrap(),
            json!([{"result": 0, "arguments": {}}])
        );
    }

    #[test]
    fn result_codes() {
        for code in [
            ResultCode::Success,
            ResultCode::Error,
            ResultCode::Unsupported,
            ResultCode::Empty,
            ResultCode::Conflict,
            ResultCode::MaintenanceNotAllowed,
        ] {
            assert_eq!(ResultCode::try_from(i64::from(code)), Ok(code));
        }
        assert_eq!(ResultCode::try_from(7), Err(UnknownResultCode(7)));
        assert_eq!(ResultCode::MaintenanceNotAllowed.code(), 1001);
        let odd = parse_answer(br#"[{"result":403,"text":"Forbidden"}]"#).unwrap();
        assert_eq!(odd.result, ResultCode::Error);
        assert_eq!(odd.text, "Forbidden (result code 403)");
        assert!(Answer::unsupported("ha-foo")
            .text
            .contains("'ha-foo' command not supported"));
        assert!(Answer::success("x").into_arguments().is_ok());
        let failed = Answer::error("no such subnet").into_arguments();
        assert!(err_text(failed).contains("no such subnet"));
    }

    #[test]
    fn malformed_answers() {
        assert!(err_text(parse_answer(b"[]")).contains("empty list"));
        assert!(err_text(parse_answer(b"5")).contains("list or map"));
        assert!(err_text(parse_answer(br#"[{"text":"x"}]"#)).contains("'result' is missing"));
        assert!(
            err_text(parse_answer(br#"[{"result":"0"}]"#)).contains("'result' must be an integer")
        );
        assert!(err_text(parse_answer(br#"[{"result":0,"text":3}]"#)).contains("'text'"));
        assert!(err_text(parse_answer(br#"[7]"#)).contains("'answer' must be a map"));
    }

    // ---------- heartbeat ----------

    fn beat() -> Heartbeat {
        Heartbeat {
            state: State::LoadBalancing,
            date_time: httpdate::parse_http_date("Fri, 27 Nov 2026 18:00:00 GMT").unwrap(),
            scopes: vec!["server1".into()],
            unsent_update_count: 12,
            batched_updates: true,
        }
    }

    #[test]
    fn heartbeat_round_trip_and_kea_shape() {
        let args = heartbeat_arguments(&beat());
        assert_eq!(
            args,
            json!({
                "state": "load-balancing",
                "date-time": "Fri, 27 Nov 2026 18:00:00 GMT",
                "scopes": ["server1"],
                "unsent-update-count": 12,
                "netdhcp-batched-updates": true
            })
        );
        assert_eq!(parse_heartbeat(&args).unwrap(), beat());
        let kea_only = Heartbeat {
            batched_updates: false,
            ..beat()
        };
        assert!(heartbeat_arguments(&kea_only)
            .get(BATCHED_UPDATES_ARG)
            .is_none());
        let answer = heartbeat_answer(&beat());
        assert_eq!(answer.result, ResultCode::Success);
    }

    #[test]
    fn heartbeat_from_kea_defaults_and_errors() {
        // Kea 2.2 as processHeartbeat sends it; an older Kea without scopes and unsent count.
        let old = parse_heartbeat(&json!({
            "state": "hot-standby",
            "date-time": "Sun, 06 Nov 1994 08:49:37 GMT"
        }))
        .unwrap();
        assert_eq!(old.state, State::HotStandby);
        assert_eq!((old.unsent_update_count, old.batched_updates), (0, false));
        assert!(old.scopes.is_empty());
        assert_eq!(old.date_time, UNIX_EPOCH + Duration::from_secs(784_111_777));
        // The other two HTTP date forms are accepted too.
        for date in ["Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
            let h = parse_heartbeat(&json!({"state": "ready", "date-time": date})).unwrap();
            assert_eq!(h.date_time, old.date_time, "{date}");
        }
        let base = json!({"state": "ready", "date-time": "Sun, 06 Nov 1994 08:49:37 GMT"});
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            b
        };
        let cases = [
            (with("state", json!("passive-backup")), "'state'"),
            (with("state", json!(3)), "'state' must be a string"),
            (with("date-time", json!("yesterday")), "'date-time'"),
            (
                with("unsent-update-count", json!("5")),
                "'unsent-update-count'",
            ),
            (
                with("unsent-update-count", json!(-1)),
                "'unsent-update-count'",
            ),
            (with(BATCHED_UPDATES_ARG, json!(1)), BATCHED_UPDATES_ARG),
            (
                json!({"date-time": "Sun, 06 Nov 1994 08:49:37 GMT"}),
                "'state' is missing",
            ),
            (json!({"state": "ready"}), "'date-time' is missing"),
        ];
        for (args, expected) in cases {
            let msg = err_text(parse_heartbeat(&args));
            assert!(msg.contains(expected), "{args}: {msg}");
        }
        // Malformed scopes are ignored, as Kea does.
        assert!(parse_heartbeat(&with("scopes", json!("x")))
            .unwrap()
            .scopes
            .is_empty());
    }

    #[test]
    fn clock_skew_is_partner_minus_ours() {
        let ours = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(clock_skew_secs(ours + Duration::from_secs(45), ours), 45);
        assert_eq!(clock_skew_secs(ours - Duration::from_secs(61), ours), -61);
        // Whole seconds, truncated toward zero.
        assert_eq!(
            clock_skew_secs(ours - Duration::from_millis(1_900), ours),
            -1
        );
        assert_eq!(clock_skew_secs(ours, ours), 0);
        // A partner date (whole seconds) against our clock.
        let partner = parse_heartbeat(&heartbeat_arguments(&beat()))
            .unwrap()
            .date_time;
        let now = beat().date_time + Duration::from_millis(30_500);
        assert_eq!(clock_skew_secs(partner, now), -30);
    }

    #[test]
    fn http_dates_are_clamped_to_what_the_format_can_show() {
        assert_eq!(
            http_date(UNIX_EPOCH - Duration::from_secs(10)),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(LAST_HTTP_DATE_SECS + 100)),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
    }

    // ---------- pages ----------

    #[test]
    fn page_requests() {
        let first = PageRequest {
            from: None,
            limit: 10_000,
        };
        assert_eq!(
            get_page_arguments(&first),
            json!({"from": "start", "limit": 10_000})
        );
        assert_eq!(parse_get_page(&get_page_arguments(&first)).unwrap(), first);
        let next = PageRequest {
            from: Some(Ipv4Addr::new(192, 0, 2, 200)),
            limit: 1,
        };
        assert_eq!(parse_get_page(&get_page_arguments(&next)).unwrap(), next);
        assert_eq!(
            parse_get_page(&json!({"from": "0.0.0.0", "limit": 5}))
                .unwrap()
                .from,
            None
        );
        let cases = [
            (json!({"limit": 5}), "'from' is missing"),
            (json!({"from": 5, "limit": 5}), "'from' must be a string"),
            (json!({"from": "2001:db8::", "limit": 5}), "'from'"),
            (json!({"from": "start"}), "'limit' is missing"),
            (json!({"from": "start", "limit": 0}), "'limit'"),
            (json!({"from": "start", "limit": -5}), "'limit'"),
            (
                json!({"from": "start", "limit": 4_294_967_296u64}),
                "'limit'",
            ),
            (
                json!({"from": "start", "limit": "9"}),
                "'limit' must be an integer",
            ),
        ];
        for (args, expected) in cases {
            let msg = err_text(parse_get_page(&args));
            assert!(msg.contains(expected), "{args}: {msg}");
        }
        assert_eq!(
            parse_get_page(&json!({"from": "start", "limit": 4_294_967_295u64}))
                .unwrap()
                .limit,
            u32::MAX
        );
    }

    #[test]
    fn page_answers_round_trip_and_the_last_page_is_empty() {
        let leases = vec![lease(), full_lease()];
        let answer = page_answer(&leases);
        assert_eq!(answer.result, ResultCode::Success);
        assert_eq!(answer.text, "2 IPv4 lease(s) found.");
        let args = answer.arguments.clone().unwrap();
        assert_eq!(args["count"], 2);
        assert_eq!(parse_page(&args).unwrap(), leases);
        // Through the wire, as Kea's lease_cmds answers the last page: result 3, empty list.
        let empty = parse_answer(&encode_answer(&page_answer(&[]))).unwrap();
        assert_eq!(empty.result, ResultCode::Empty);
        assert!(empty.result.is_success());
        let args = empty.into_arguments().unwrap().unwrap();
        assert_eq!(args, json!({"leases": [], "count": 0}));
        assert!(parse_page(&args).unwrap().is_empty());
        // A Kea answer body, verbatim shape.
        let kea = br#"[{"result":3,"text":"0 IPv4 lease(s) found.","arguments":{"leases":[],"count":0}}]"#;
        let a = parse_answer(kea).unwrap();
        assert!(parse_page(a.arguments.as_ref().unwrap())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn bad_leases_in_a_page() {
        let mut bad = lease4_to_json(&lease());
        bad["hw-address"] = json!("xx");
        bad["ip-address"] = json!("192.0.2.99");
        let args = json!({"leases": [lease4_to_json(&full_lease()), bad], "count": 2});
        let msg = err_text(parse_page(&args));
        assert!(msg.contains("'leases[1].hw-address'"), "{msg}");
        let page = parse_page_lenient(&args).unwrap();
        assert_eq!(page.leases, vec![full_lease()]);
        assert_eq!(page.count, 2);
        assert_eq!(page.rejected.len(), 1);
        assert_eq!(page.last_address, Some(Ipv4Addr::new(192, 0, 2, 99)));
        assert!(err_text(parse_page(&json!({"count": 0}))).contains("'leases' is missing"));
        assert!(err_text(parse_page(&json!({"leases": {}}))).contains("'leases' must be a list"));
    }

    // ---------- bulk apply ----------

    #[test]
    fn bulk_apply_round_trip() {
        let bulk = BulkUpdate4 {
            leases: vec![lease(), full_lease()],
            deleted: vec![Ipv4Addr::new(192, 0, 2, 50)],
        };
        let args = bulk_apply_arguments(&bulk);
        assert_eq!(
            args["deleted-leases"],
            json!([{"ip-address": "192.0.2.50"}])
        );
        assert_eq!(args["leases"][0]["expire"], 1_700_003_600);
        assert!(args["leases"][0].get("force-create").is_none());
        assert_eq!(parse_bulk_apply(&args).unwrap(), bulk);
        // Either list alone is enough; a whole lease as a deletion is fine.
        let only_deleted =
            parse_bulk_apply(&json!({"deleted-leases": [lease4_to_json(&lease())]})).unwrap();
        assert_eq!(only_deleted.deleted, vec![lease().address]);
        assert!(only_deleted.leases.is_empty());
    }

    #[test]
    fn malformed_bulk_apply() {
        let cases = [
            (json!({}), "neither 'deleted-leases' nor 'leases'"),
            (json!({"leases": {}}), "'leases' must be a list"),
            (
                json!({"deleted-leases": [{}]}),
                "'deleted-leases[0].ip-address' is missing",
            ),
            (
                json!({"deleted-leases": ["192.0.2.1"]}),
                "'deleted-leases[0]' must be a map",
            ),
            (json!({"leases": [7]}), "'leases[0]' must be a map"),
            (
                json!({"leases": [{"ip-address": "192.0.2.1"}]}),
                "'leases[0].hw-address' is missing",
            ),
        ];
        for (args, expected) in cases {
            let msg = err_text(parse_bulk_apply(&args));
            assert!(msg.contains(expected), "{args}: {msg}");
        }
    }

    #[test]
    fn bulk_apply_answers() {
        assert_eq!(
            bulk_apply_answer(3, &BulkApplyFailures::default()),
            Answer {
                result: ResultCode::Success,
                text: "Bulk apply of 3 IPv4 leases completed.".into(),
                arguments: None,
            }
        );
        let failures = BulkApplyFailures {
            deleted: vec![FailedLease {
                address: Ipv4Addr::new(192, 0, 2, 5),
                result: ResultCode::Empty,
                error_message: "lease not found".into(),
            }],
            leases: vec![FailedLease {
                address: Ipv4Addr::new(192, 0, 2, 6),
                result: ResultCode::Error,
                error_message: "disk full".into(),
            }],
        };
        let answer = bulk_apply_answer(0, &failures);
        assert_eq!(answer.result, ResultCode::Empty);
        assert_eq!(
            answer.arguments.as_ref().unwrap()["failed-leases"],
            json!([{"type": "V4", "ip-address": "192.0.2.6", "result": 1,
                    "error-message": "disk full"}])
        );
        assert_eq!(
            parse_bulk_apply_answer(answer.arguments.as_ref()).unwrap(),
            failures
        );
        assert_eq!(
            parse_bulk_apply_answer(None).unwrap(),
            BulkApplyFailures::default()
        );
    }

    // ---------- maintenance, dhcp-disable/enable, sync-complete ----------

    #[test]
    fn maintenance_notify() {
        for cancel in [false, true] {
            let args = maintenance_notify_arguments(cancel);
            assert_eq!(args, json!({"cancel": cancel}));
            assert_eq!(parse_maintenance_notify(Some(&args)), Ok(cancel));
        }
        // Later Kea versions add server-name.
        assert_eq!(
            parse_maintenance_notify(Some(&json!({"cancel": true, "server-name": "s1"}))),
            Ok(true)
        );
        assert!(err_text(parse_maintenance_notify(None)).contains("'arguments' is missing"));
        assert!(
            err_text(parse_maintenance_notify(Some(&json!({})))).contains("'cancel' is missing")
        );
        assert!(
            err_text(parse_maintenance_notify(Some(&json!({"cancel": "yes"}))))
                .contains("'cancel' must be a boolean")
        );
    }

    #[test]
    fn dhcp_disable_and_enable() {
        let args = dhcp_disable_arguments(60);
        assert_eq!(args, json!({"origin": "ha-partner", "max-period": 60}));
        assert_eq!(parse_dhcp_disable(Some(&args)), Ok(Some(60)));
        assert_eq!(parse_dhcp_origin(Some(&args)), Ok(Origin::HaPartner));
        assert_eq!(dhcp_disable_arguments(0), json!({"origin": "ha-partner"}));
        assert_eq!(
            parse_dhcp_disable(Some(&dhcp_disable_arguments(0))),
            Ok(None)
        );
        assert_eq!(parse_dhcp_disable(None), Ok(None));
        assert_eq!(parse_dhcp_origin(None), Ok(Origin::User));
        assert_eq!(dhcp_enable_arguments(), json!({"origin": "ha-partner"}));
        assert_eq!(
            parse_dhcp_origin(Some(&dhcp_enable_arguments())),
            Ok(Origin::HaPartner)
        );
        assert!(
            err_text(parse_dhcp_disable(Some(&json!({"max-period": 0})))).contains("'max-period'")
        );
        assert!(
            err_text(parse_dhcp_disable(Some(&json!({"max-period": "5"}))))
                .contains("'max-period' must be an integer")
        );
        assert!(
            err_text(parse_dhcp_disable(Some(&json!({"origin": "robot"})))).contains("'origin'")
        );
        assert!(
            err_text(parse_dhcp_disable(Some(&json!([])))).contains("'arguments' must be a map")
        );
    }

    #[test]
    fn sync_complete_notify() {
        let body = encode_request(
            names::SYNC_COMPLETE_NOTIFY,
            Service::Dhcp4,
            sync_complete_notify_arguments("server1"),
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!({"command": "ha-sync-complete-notify", "service": ["dhcp4"],
                   "arguments": {"server-name": "server1"}})
        );
        // Kea 2.2 sends it without arguments.
        assert_eq!(parse_sync_complete_notify(None), Ok(()));
        assert_eq!(
            parse_sync_complete_notify(Some(&json!({"server-name": "s1", "origin-id": 2000}))),
            Ok(())
        );
        assert!(parse_sync_complete_notify(Some(&json!(1))).is_err());
    }

    #[test]
    fn errors_nest_field_names() {
        let e = missing("hw-address").within("leases[3]");
        assert_eq!(e.to_string(), "'leases[3].hw-address' is missing");
        let long = invalid("x", &json!("a".repeat(500)), "too long");
        assert!(long.to_string().len() < 200);
    }
}
