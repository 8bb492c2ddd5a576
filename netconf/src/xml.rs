//! A small namespace-aware XML tree for NETCONF messages, and escaping.
//!
//! NETCONF requests are small next to the 64 MiB message bound and must be looked at as a
//! whole (the `<rpc>` attributes are echoed, parameters come in any order, `<config>` content is
//! handed on re-serialised), so each message is parsed into this tree with quick-xml and then
//! read. The tree keeps prefixes as written and, per element, the namespace declarations in
//! scope, so a subtree can be written out standalone with every prefix it may use (in element
//! and attribute names, but also inside values such as identityrefs or XPath) still declared.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::PrefixDeclaration;
use quick_xml::Reader;

/// The namespace bound to the `xml` prefix by the XML Namespaces recommendation.
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Nesting deeper than this is refused: configuration data is a few dozen levels deep, and
/// the tree is serialised and dropped recursively.
pub(crate) const MAX_DEPTH: usize = 512;

/// Escapes character data for use between tags.
///
/// Besides `&`, `<` and `>`, a carriage return is written as a character reference: a literal
/// CR would be turned into LF by the receiving parser (XML 1.0 section 2.11).
pub fn escape_text(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Escapes a value for use inside a double-quoted attribute.
///
/// Tabs and line breaks become character references so attribute-value normalisation on the
/// receiving side gives back the same string.
pub fn escape_attr(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, attr: bool) -> Cow<'_, str> {
    let needs = |c: char| match c {
        '&' | '<' | '>' | '\r' => true,
        '"' | '\n' | '\t' => attr,
        _ => false,
    };
    if !s.contains(needs) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            '"' if attr => out.push_str("&quot;"),
            '\n' if attr => out.push_str("&#xA;"),
            '\t' if attr => out.push_str("&#x9;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Why a message is not usable XML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum XmlError {
    /// Not well-formed, not UTF-8, a DTD, an undeclared prefix, not exactly one root element.
    #[error("{0}")]
    Malformed(String),
    /// Well-formed but nested deeper than [`MAX_DEPTH`].
    #[error("elements nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// Namespace bindings in scope: (prefix, URI), `None` for the default namespace. Later entries
/// override earlier ones. An empty URI for the default namespace means "no namespace".
pub(crate) type Scope = Arc<Vec<(Option<String>, String)>>;

fn lookup<'s>(scope: &'s Scope, prefix: Option<&str>) -> Option<&'s str> {
    if prefix == Some("xml") {
        return Some(XML_NS);
    }
    scope
        .iter()
        .rev()
        .find(|(p, _)| p.as_deref() == prefix)
        .map(|(_, uri)| uri.as_str())
}

/// An attribute other than a namespace declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attr {
    /// The name as written (`message-id`, `nc:operation`).
    pub qname: String,
    /// The local part of the name.
    pub local: String,
    /// The resolved namespace; unprefixed attributes have none.
    pub ns: Option<String>,
    /// The value, entity references resolved.
    pub value: String,
}

/// A node of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// An element.
    Element(Element),
    /// Character data (text and CDATA sections, entity references resolved).
    Text(String),
}

/// An element with its namespace context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    /// The name as written (`rpc`, `nc:rpc`).
    pub qname: String,
    /// The local part of the name.
    pub local: String,
    /// The resolved namespace; `None` when the element is in no namespace.
    pub ns: Option<String>,
    /// Attributes, namespace declarations excluded.
    pub attrs: Vec<Attr>,
    /// The namespace declarations written on this element.
    pub decls: Vec<(Option<String>, String)>,
    /// Everything in scope on this element, its own declarations included.
    pub scope: Scope,
    /// Children in document order.
    pub children: Vec<Node>,
}

impl Element {
    /// Whether the element is `local` in namespace `ns`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.local == local && self.ns.as_deref() == Some(ns)
    }

    /// Child elements in document order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The concatenated character data directly inside this element.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                s.push_str(t);
            }
        }
        s
    }

    /// Whether there is non-whitespace character data directly inside this element.
    pub fn has_text(&self) -> bool {
        self.children
            .iter()
            .any(|n| matches!(n, Node::Text(t) if !t.trim().is_empty()))
    }

    /// An attribute in no namespace, by local name.
    pub fn attr(&self, local: &str) -> Option<&Attr> {
        self.attrs
            .iter()
            .find(|a| a.ns.is_none() && a.local == local)
    }

    /// The effective bindings in scope: one per prefix, the innermost, without the default
    /// namespace undeclaration that has no effect at the top.
    pub fn effective_scope(&self) -> Vec<(Option<&str>, &str)> {
        let mut out: Vec<(Option<&str>, &str)> = Vec::new();
        for (prefix, uri) in self.scope.iter().rev() {
            if out.iter().any(|(p, _)| *p == prefix.as_deref()) {
                continue;
            }
            out.push((prefix.as_deref(), uri.as_str()));
        }
        out.reverse();
        out
    }

    /// Writes this element standalone: every namespace binding in scope is declared on it, so
    /// the result parses on its own to the same names and keeps prefixes used in values valid.
    pub fn write_standalone(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.qname);
        for (prefix, uri) in self.effective_scope() {
            match prefix {
                None if uri.is_empty() => {
                    // An undeclared default at the top is the initial state; nothing to write.
                }
                None => {
                    let _ = write!(out, " xmlns=\"{}\"", escape_attr(uri));
                }
                Some(p) => {
                    let _ = write!(out, " xmlns:{}=\"{}\"", p, escape_attr(uri));
                }
            }
        }
        self.write_rest(out);
    }

    /// Writes this element as it was written: its own declarations only.
    fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.qname);
        for (prefix, uri) in &self.decls {
            match prefix {
                None => {
                    let _ = write!(out, " xmlns=\"{}\"", escape_attr(uri));
                }
                Some(p) => {
                    let _ = write!(out, " xmlns:{}=\"{}\"", p, escape_attr(uri));
                }
            }
        }
        self.write_rest(out);
    }

    fn write_rest(&self, out: &mut String) {
        for a in &self.attrs {
            let _ = write!(out, " {}=\"{}\"", a.qname, escape_attr(&a.value));
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for child in &self.children {
            match child {
                Node::Element(e) => e.write(out),
                Node::Text(t) => out.push_str(&escape_text(t)),
            }
        }
        out.push_str("</");
        out.push_str(&self.qname);
        out.push('>');
    }

    /// The children of this element, each element written standalone and text escaped, for
    /// handing the content of `<config>` or a subtree filter on to a parser of its own.
    pub fn inner_standalone(&self) -> String {
        let mut out = String::new();
        for child in &self.children {
            match child {
                Node::Element(e) => e.write_standalone(&mut out),
                Node::Text(t) => out.push_str(&escape_text(t)),
            }
        }
        out
    }
}

/// XML 1.0 `Char`: tab, line feed, carriage return and everything from space up, except the
/// surrogates (impossible in a `str`) and U+FFFE, U+FFFF.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

fn check_chars(s: &str, what: &str) -> Result<(), XmlError> {
    match s.chars().find(|c| !is_xml_char(*c)) {
        None => Ok(()),
        Some(c) => Err(malformed(format!(
            "character U+{:04X} is not allowed in XML ({what})",
            u32::from(c)
        ))),
    }
}

/// Namespaces in XML `NCName`, with the character classes simplified to ASCII rules plus any
/// non-ASCII character (the ASCII part is what matters for well-formedness checks in
/// practice: no empty names, no whitespace, no markup characters, no leading digit).
fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_' || !first.is_ascii())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') || !c.is_ascii())
}

/// Checks a qualified name (`local` or `prefix:local`) as written.
fn check_qname(qname: &str) -> Result<(), XmlError> {
    let ok = match qname.split_once(':') {
        Some((prefix, local)) => is_ncname(prefix) && is_ncname(local),
        None => is_ncname(qname),
    };
    if ok {
        Ok(())
    } else {
        Err(malformed(format!("\"{qname}\" is not a valid XML name")))
    }
}

fn split_qname(qname: &str) -> (Option<&str>, &str) {
    match qname.split_once(':') {
        Some((prefix, local)) => (Some(prefix), local),
        None => (None, qname),
    }
}

fn malformed(msg: impl Into<String>) -> XmlError {
    XmlError::Malformed(msg.into())
}

fn build_element(start: &BytesStart<'_>, parent: &Scope) -> Result<Element, XmlError> {
    let qname = std::str::from_utf8(start.name().as_ref())
        .map_err(|_| malformed("element name is not UTF-8"))?
        .to_owned();
    check_qname(&qname)?;
    let mut decls = Vec::new();
    let mut raw_attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| malformed(format!("bad attribute on <{qname}>: {e}")))?;
        let value = attr
            .unescape_value()
            .map_err(|e| malformed(format!("bad attribute value on <{qname}>: {e}")))?
            .into_owned();
        // Character references can smuggle in characters the raw-text check never saw.
        check_chars(&value, "attribute value")?;
        let key = std::str::from_utf8(attr.key.as_ref())
            .map_err(|_| malformed("attribute name is not UTF-8"))?;
        check_qname(key)?;
        match attr.key.as_namespace_binding() {
            Some(PrefixDeclaration::Default) => decls.push((None, value)),
            Some(PrefixDeclaration::Named(p)) => {
                let p = std::str::from_utf8(p).map_err(|_| malformed("prefix is not UTF-8"))?;
                if value.is_empty() {
                    // Namespaces in XML 1.0 forbids undeclaring a prefix.
                    return Err(malformed(format!("empty namespace for prefix \"{p}\"")));
                }
                decls.push((Some(p.to_owned()), value));
            }
            None => {
                let name = std::str::from_utf8(attr.key.as_ref())
                    .map_err(|_| malformed("attribute name is not UTF-8"))?
                    .to_owned();
                raw_attrs.push((name, value));
            }
        }
    }
    let scope = if decls.is_empty() {
        Arc::clone(parent)
    } else {
        let mut s: Vec<_> = parent
            .iter()
            .filter(|(p, _)| !decls.iter().any(|(d, _)| d == p))
            .cloned()
            .collect();
        s.extend(decls.iter().cloned());
        Arc::new(s)
    };
    let (prefix, local) = split_qname(&qname);
    let ns = match lookup(&scope, prefix) {
        Some("") | None if prefix.is_none() => None,
        Some(uri) => Some(uri.to_owned()),
        None => {
            return Err(malformed(format!(
                "undeclared namespace prefix \"{}\" on <{qname}>",
                prefix.unwrap_or_default()
            )))
        }
    };
    let local = local.to_owned();
    let mut attrs = Vec::with_capacity(raw_attrs.len());
    for (name, value) in raw_attrs {
        let (prefix, alocal) = split_qname(&name);
        let ans = match prefix {
            None => None,
            Some(p) => match lookup(&scope, Some(p)) {
                Some(uri) => Some(uri.to_owned()),
                None => {
                    return Err(malformed(format!(
                        "undeclared namespace prefix \"{p}\" on attribute {name}"
                    )))
                }
            },
        };
        if attrs
            .iter()
            .any(|a: &Attr| a.local == alocal && a.ns == ans)
        {
            return Err(malformed(format!(
                "duplicate attribute {name} on <{qname}>"
            )));
        }
        attrs.push(Attr {
            local: alocal.to_owned(),
            qname: name,
            ns: ans,
            value,
        });
    }
    Ok(Element {
        qname,
        local,
        ns,
        attrs,
        decls,
        scope,
        children: Vec::new(),
    })
}

fn push_text(children: &mut Vec<Node>, text: &str) {
    if let Some(Node::Text(t)) = children.last_mut() {
        t.push_str(text);
    } else {
        children.push(Node::Text(text.to_owned()));
    }
}

/// Parses one document into its root element.
///
/// The XML declaration, comments and processing instructions are dropped; a DTD is refused
/// (entity expansion has no place in NETCONF); text outside the root must be whitespace.
pub(crate) fn parse(bytes: &[u8]) -> Result<Element, XmlError> {
    let text = std::str::from_utf8(bytes).map_err(|e| malformed(format!("not UTF-8: {e}")))?;
    check_chars(text, "document")?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    reader.config_mut().trim_text(false);
    let top: Scope = Arc::new(Vec::new());
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| malformed(format!("at byte {}: {e}", reader.error_position())))?;
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                return Err(malformed(format!(
                    "content after the root element: <{}>",
                    String::from_utf8_lossy(start.name().as_ref())
                )))
            }
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                let scope = stack.last().map_or(&top, |p| &p.scope);
                let element = build_element(&start, scope)?;
                stack.push(element);
            }
            Event::Empty(start) => {
                let scope = stack.last().map_or(&top, |p| &p.scope);
                let element = build_element(&start, scope)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(element)),
                    None => root = Some(element),
                }
            }
            Event::End(_) => {
                // quick-xml checked that the name matches the open element.
                let Some(element) = stack.pop() else {
                    return Err(malformed("end tag without start tag"));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(element)),
                    None => root = Some(element),
                }
            }
            Event::Text(t) => {
                let s = t
                    .unescape()
                    .map_err(|e| malformed(format!("bad character data: {e}")))?;
                check_chars(&s, "character reference")?;
                match stack.last_mut() {
                    Some(parent) => push_text(&mut parent.children, &s),
                    None if s.trim().is_empty() => {}
                    None => return Err(malformed("character data outside the root element")),
                }
            }
            Event::CData(c) => {
                let s =
                    std::str::from_utf8(c.as_ref()).map_err(|_| malformed("CDATA is not UTF-8"))?;
                match stack.last_mut() {
                    Some(parent) => push_text(&mut parent.children, s),
                    None => return Err(malformed("CDATA outside the root element")),
                }
            }
            Event::DocType(_) => {
                return Err(malformed("document type declarations are not allowed"))
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(malformed(format!("unclosed element <{}>", open.qname)));
    }
    root.ok_or_else(|| malformed("no root element"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape_text("a<b>&c\"\r\n"), "a&lt;b&gt;&amp;c\"&#xD;\n");
        assert_eq!(escape_attr("a\"b\n\tc&"), "a&quot;b&#xA;&#x9;c&amp;");
        assert!(matches!(escape_text("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn resolves_namespaces_and_attributes() {
        let doc = br#"<?xml version="1.0"?><nc:rpc xmlns:nc="urn:b" xmlns="urn:d" nc:x="1" id="&lt;2&gt;"><a/><nc:b xmlns="">t</nc:b></nc:rpc>"#;
        let root = parse(doc).unwrap();
        assert!(root.is("urn:b", "rpc"));
        assert_eq!(root.attrs.len(), 2);
        assert_eq!(root.attrs[0].ns.as_deref(), Some("urn:b"));
        assert_eq!(root.attr("id").unwrap().value, "<2>");
        let kids: Vec<_> = root.elements().collect();
        assert!(kids[0].is("urn:d", "a"));
        assert!(kids[1].is("urn:b", "b"));
        assert_eq!(kids[1].text(), "t");
    }

    #[test]
    fn standalone_declares_everything_in_scope() {
        let doc = br#"<rpc xmlns="urn:b" xmlns:if="urn:if"><config><top xmlns="urn:t"><type>if:eth</type><x a="1">&amp;</x></top></config></rpc>"#;
        let root = parse(doc).unwrap();
        let config = root.elements().next().unwrap();
        let inner = config.inner_standalone();
        assert_eq!(
            inner,
            r#"<top xmlns:if="urn:if" xmlns="urn:t"><type>if:eth</type><x a="1">&amp;</x></top>"#
        );
        // It parses on its own to the same names.
        let again = parse(inner.as_bytes()).unwrap();
        assert!(again.is("urn:t", "top"));
    }

    #[test]
    fn malformed_documents() {
        for doc in [
            &b"<a>"[..],
            b"<a></b>",
            b"</a>",
            b"",
            b"text",
            b"<a/><b/>",
            b"<a/>trailing",
            b"<x:a/>",
            b"<a x:y='1'/>",
            b"<a b='1' b='2'/>",
            b"<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>",
            b"<a>&unknown;</a>",
            b"<a>\xff</a>",
            b"<a xmlns:p=''/>",
            b"<a><\r/></a>",
            b"<a>< b/></a>",
            b"<1a/>",
            b"<a:/>",
            b"<a b:='1'/>",
            b"<a>\x00</a>",
            b"<a>&#0;</a>",
            b"<a b='&#x1;'/>",
        ] {
            assert!(
                matches!(parse(doc), Err(XmlError::Malformed(_))),
                "{:?} should be malformed",
                String::from_utf8_lossy(doc)
            );
        }
    }

    #[test]
    fn duplicate_attribute_through_prefixes() {
        let doc = br#"<a xmlns:p="urn:x" xmlns:q="urn:x" p:b="1" q:b="2"/>"#;
        assert!(matches!(parse(doc), Err(XmlError::Malformed(_))));
    }

    #[test]
    fn depth_limit() {
        let mut doc = String::new();
        for _ in 0..=MAX_DEPTH {
            doc.push_str("<a>");
        }
        for _ in 0..=MAX_DEPTH {
            doc.push_str("</a>");
        }
        assert_eq!(parse(doc.as_bytes()), Err(XmlError::TooDeep));
    }

    #[test]
    fn cdata_and_char_refs_survive_reserialisation() {
        let doc = b"<r><v xmlns='urn:v'><![CDATA[a<b]]>&#13;&#x41;</v></r>";
        let root = parse(doc).unwrap();
        let inner = root.inner_standalone();
        assert_eq!(inner, "<v xmlns=\"urn:v\">a&lt;b&#xD;A</v>");
    }
}
