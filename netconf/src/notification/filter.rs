//! Which notifications a `<create-subscription>` filter selects (RFC 5277 section 3.6): a
//! subtree filter (RFC 6241 section 6) is matched against the notification's content, and a
//! notification is sent, whole, when the filter selects anything in it. RFC 5277 filters
//! choose events; they do not prune the event's content.

use crate::xml::{self, Element};

/// A parsed subtree filter: its top elements.
#[derive(Debug, Clone)]
pub(crate) struct SubtreeFilter {
    tops: Vec<Element>,
}

impl SubtreeFilter {
    /// Parses the content of `<filter>` as [`crate::rpc::Filter::Subtree`] carries it (top
    /// elements written standalone). `None` when it is not XML.
    pub(crate) fn parse(content: &str) -> Option<Self> {
        // The content is a sequence of standalone elements; wrap them to parse them at once.
        let wrapped = format!("<f>{content}</f>");
        let root = xml::parse(wrapped.as_bytes()).ok()?;
        Some(SubtreeFilter {
            tops: root.elements().cloned().collect(),
        })
    }

    /// Whether the filter selects anything in `body` (the notification's content element).
    /// An empty filter selects nothing (RFC 6241 section 6.4.2).
    pub(crate) fn selects(&self, body: &Element) -> bool {
        self.tops.iter().any(|f| node_matches(f, body))
    }
}

/// A filter element without a namespace matches every namespace (RFC 6241 section 6.2.1:
/// the namespace is matched only when given).
fn same_name(filter: &Element, data: &Element) -> bool {
    filter.local == data.local
        && match filter.ns.as_deref() {
            None | Some("") => true,
            Some(ns) => data.ns.as_deref() == Some(ns),
        }
}

/// Attribute match expressions (RFC 6241 section 6.2.2): every attribute of the filter element
/// in no namespace must be on the data element with the same value.
fn attributes_match(filter: &Element, data: &Element) -> bool {
    filter
        .attrs
        .iter()
        .filter(|a| a.ns.is_none())
        .all(|a| data.attr(&a.local).is_some_and(|d| d.value == a.value))
}

/// Whether filter node `f` selects something in data node `d`.
fn node_matches(f: &Element, d: &Element) -> bool {
    if !same_name(f, d) || !attributes_match(f, d) {
        return false;
    }
    let children: Vec<&Element> = f.elements().collect();
    if children.is_empty() {
        // A content match node compares text; an empty one is a selection node.
        return !f.has_text() || f.text().trim() == d.text().trim();
    }
    let (content, other): (Vec<&Element>, Vec<&Element>) = children
        .into_iter()
        .partition(|c| c.elements().next().is_none() && c.has_text());
    // Content match nodes are ANDed: every one must find its value among the siblings.
    let contents_ok = content
        .iter()
        .all(|c| d.elements().any(|dc| node_matches(c, dc)));
    if !contents_ok {
        return false;
    }
    // With only content match nodes, the whole matching node is selected; otherwise at least
    // one selection or containment node must select something.
    other.is_empty()
        || other
            .iter()
            .any(|c| d.elements().any(|dc| node_matches(c, dc)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn body(text: &str) -> Element {
        xml::parse(text.as_bytes()).unwrap()
    }

    const CHANGE: &str = r#"<netconf-config-change xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"><changed-by><username>admin</username><session-id>3</session-id></changed-by><datastore>running</datastore><edit><target>/x</target><operation>create</operation></edit></netconf-config-change>"#;
    const HA: &str =
        r#"<ha-state-change xmlns="urn:netdhcp"><state>partner-down</state></ha-state-change>"#;

    #[test]
    fn selection_by_name_and_namespace() {
        let f = SubtreeFilter::parse(
            r#"<netconf-config-change xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"/>"#,
        )
        .unwrap();
        assert!(f.selects(&body(CHANGE)));
        assert!(!f.selects(&body(HA)));
        let other_ns =
            SubtreeFilter::parse(r#"<netconf-config-change xmlns="urn:other"/>"#).unwrap();
        assert!(!other_ns.selects(&body(CHANGE)));
        let no_ns = SubtreeFilter::parse(r#"<ha-state-change xmlns=""/>"#).unwrap();
        assert!(no_ns.selects(&body(HA)));
    }

    #[test]
    fn content_match_and_containment() {
        let by_user = SubtreeFilter::parse(
            r#"<netconf-config-change xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"><changed-by><username>admin</username></changed-by></netconf-config-change>"#,
        )
        .unwrap();
        assert!(by_user.selects(&body(CHANGE)));
        let other_user = SubtreeFilter::parse(
            r#"<netconf-config-change xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"><changed-by><username>bob</username></changed-by></netconf-config-change>"#,
        )
        .unwrap();
        assert!(!other_user.selects(&body(CHANGE)));
        let state = SubtreeFilter::parse(
            r#"<ha-state-change xmlns="urn:netdhcp"><state>partner-down</state></ha-state-change><ha-state-change xmlns="urn:netdhcp"><state>ready</state></ha-state-change>"#,
        )
        .unwrap();
        assert!(state.selects(&body(HA)));
        let missing = SubtreeFilter::parse(
            r#"<ha-state-change xmlns="urn:netdhcp"><partner/></ha-state-change>"#,
        )
        .unwrap();
        assert!(!missing.selects(&body(HA)));
    }

    #[test]
    fn empty_filter_selects_nothing() {
        let f = SubtreeFilter::parse("").unwrap();
        assert!(!f.selects(&body(HA)));
        assert!(SubtreeFilter::parse("<a>").is_none());
    }
}
