//! The `<hello>` exchange (RFC 6241 section 8.1).

use std::fmt::Write as _;

use crate::rpc::NS_BASE;
use crate::xml::{self, escape_text};

/// The `:base:1.0` capability.
pub const CAP_BASE_1_0: &str = "urn:ietf:params:netconf:base:1.0";
/// The `:base:1.1` capability: chunked framing once both sides announce it (RFC 6242 4.1).
pub const CAP_BASE_1_1: &str = "urn:ietf:params:netconf:base:1.1";

/// Why a client's hello is refused; each ends the session (RFC 6241 section 8.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    /// Not XML, or not a `<hello>` in the base namespace.
    #[error("malformed hello: {0}")]
    Malformed(String),
    /// A client must not send a session-id.
    #[error("client hello contains a <session-id>")]
    HasSessionId,
    /// Neither base:1.0 nor base:1.1 is announced.
    #[error("client announces neither {CAP_BASE_1_0} nor {CAP_BASE_1_1}")]
    NoBaseCapability,
}

/// What the server keeps of the client's hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// The announced capability URIs, whitespace trimmed.
    pub capabilities: Vec<String>,
}

impl ClientHello {
    /// Whether the client speaks base:1.1 (and so chunked framing follows).
    pub fn base_1_1(&self) -> bool {
        self.capabilities.iter().any(|c| c == CAP_BASE_1_1)
    }
}

/// The server's hello: base:1.0, base:1.1, then `extra` (duplicates of the base ones dropped),
/// and the session-id.
pub fn server_hello(extra: &[String], session_id: u32) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><hello xmlns=\"{NS_BASE}\"><capabilities>\
         <capability>{CAP_BASE_1_0}</capability><capability>{CAP_BASE_1_1}</capability>"
    );
    for cap in extra {
        if cap == CAP_BASE_1_0 || cap == CAP_BASE_1_1 {
            continue;
        }
        let _ = write!(out, "<capability>{}</capability>", escape_text(cap));
    }
    let _ = write!(
        out,
        "</capabilities><session-id>{session_id}</session-id></hello>"
    );
    out
}

/// Reads and checks a client's hello.
pub fn parse_client_hello(message: &[u8]) -> Result<ClientHello, HelloError> {
    let root = xml::parse(message).map_err(|e| HelloError::Malformed(e.to_string()))?;
    if !root.is(NS_BASE, "hello") {
        return Err(HelloError::Malformed(format!(
            "expected <hello> in namespace {NS_BASE}, got <{}>",
            root.local
        )));
    }
    let mut capabilities = Vec::new();
    for child in root.elements() {
        if child.is(NS_BASE, "session-id") {
            return Err(HelloError::HasSessionId);
        }
        if child.is(NS_BASE, "capabilities") {
            for cap in child.elements().filter(|c| c.is(NS_BASE, "capability")) {
                capabilities.push(cap.text().trim().to_owned());
            }
        }
        // Other elements are extensions this server ignores.
    }
    if !capabilities
        .iter()
        .any(|c| c == CAP_BASE_1_0 || c == CAP_BASE_1_1)
    {
        return Err(HelloError::NoBaseCapability);
    }
    Ok(ClientHello { capabilities })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn server_hello_lists_capabilities_and_session() {
        let h = server_hello(
            &[
                CAP_BASE_1_1.into(),
                "urn:ietf:params:netconf:capability:candidate:1.0".into(),
            ],
            5,
        );
        assert_eq!(h.matches(CAP_BASE_1_1).count(), 1);
        assert!(
            h.contains("<capability>urn:ietf:params:netconf:capability:candidate:1.0</capability>")
        );
        assert!(h.ends_with("<session-id>5</session-id></hello>"));
        // The server's own hello is a valid hello apart from the session-id.
        assert_eq!(
            parse_client_hello(h.as_bytes()),
            Err(HelloError::HasSessionId)
        );
    }

    #[test]
    fn client_hello() {
        let h = format!(
            "<?xml version=\"1.0\"?><nc:hello xmlns:nc=\"{NS_BASE}\"><nc:capabilities>\
             <nc:capability>\n  {CAP_BASE_1_0}\n</nc:capability><nc:capability>{CAP_BASE_1_1}</nc:capability>\
             </nc:capabilities></nc:hello>"
        );
        let c = parse_client_hello(h.as_bytes()).unwrap();
        assert!(c.base_1_1());
        assert_eq!(c.capabilities.len(), 2);
        let old = format!(
            "<hello xmlns=\"{NS_BASE}\"><capabilities><capability>{CAP_BASE_1_0}</capability></capabilities></hello>"
        );
        assert!(!parse_client_hello(old.as_bytes()).unwrap().base_1_1());
    }

    #[test]
    fn bad_client_hellos() {
        let none = format!("<hello xmlns=\"{NS_BASE}\"><capabilities><capability>urn:x</capability></capabilities></hello>");
        assert_eq!(
            parse_client_hello(none.as_bytes()),
            Err(HelloError::NoBaseCapability)
        );
        assert!(matches!(
            parse_client_hello(b"<hello>"),
            Err(HelloError::Malformed(_))
        ));
        let rpc = format!("<rpc xmlns=\"{NS_BASE}\" message-id=\"1\"><get/></rpc>");
        assert!(matches!(
            parse_client_hello(rpc.as_bytes()),
            Err(HelloError::Malformed(_))
        ));
    }
}
