//! Selecting what a get or get-config returns: subtree filters (RFC 6241 section 6) turned
//! into XPath, XPath filters evaluated directly, the matches copied with their ancestors into
//! a result tree — or, when nothing else is done with them, printed straight from the source.

use std::collections::BTreeMap;

use netconf::rpc::Filter;

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use yang::select_print::print_selected_xml;
pub use yang::select_print::Defaults;
use yang::tree::{self, CopyOptions, Node};
use yang::yang5::context::Context;
use yang::yang5::data::{Data, DataNodeRef, DataTree};
use yang::yang5::iter::NodeIterable;

/// Why a filter cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The subtree filter is not well-formed XML.
    #[error("subtree filter is not well-formed XML: {0}")]
    Malformed(String),
    /// A namespace in the filter belongs to no module this server implements.
    #[error("unknown namespace {0} in filter")]
    UnknownNamespace(String),
    /// An XPath prefix was not declared.
    #[error("XPath prefix {0} is not declared")]
    UnknownPrefix(String),
    /// libyang refused the expression.
    #[error("invalid XPath {expr}: {message}")]
    XPath {
        /// The expression.
        expr: String,
        /// libyang's message.
        message: String,
    },
}

#[derive(Debug, Default)]
struct Element {
    module: String,
    name: String,
    text: String,
    children: Vec<Element>,
}

fn parse_subtree(ctx: &Context, xml: &str) -> Result<Vec<Element>, FilterError> {
    let mut reader = NsReader::from_str(xml);
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| FilterError::Malformed(e.to_string()))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let namespace = match ns {
                    ResolveResult::Bound(n) => String::from_utf8_lossy(n.as_ref()).into_owned(),
                    _ => return Err(FilterError::UnknownNamespace(String::new())),
                };
                let module = ctx
                    .get_module_implemented_ns(&namespace)
                    .map(|m| m.name().to_string())
                    .ok_or_else(|| FilterError::UnknownNamespace(namespace.clone()))?;
                let el = Element {
                    module,
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Default::default()
                };
                if matches!(event, Event::Empty(_)) {
                    if let Some(parent) = stack.last_mut() {
                        parent.children.push(el);
                    }
                } else {
                    stack.push(el);
                }
            }
            Event::Text(t) => {
                let text = t
                    .unescape()
                    .map_err(|e| FilterError::Malformed(e.to_string()))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(text.trim());
                }
            }
            Event::End(_) => {
                let done = stack
                    .pop()
                    .ok_or_else(|| FilterError::Malformed("unbalanced".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Err(FilterError::Malformed("unbalanced".into())),
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    match stack.pop() {
        Some(root) if stack.is_empty() => Ok(root.children),
        _ => Err(FilterError::Malformed("unclosed element".into())),
    }
}

fn quote(v: &str) -> String {
    if v.contains('\'') {
        format!("\"{v}\"")
    } else {
        format!("'{v}'")
    }
}

// The JSON-style path libyang expects: a module prefix wherever the module changes.
fn step(el: &Element, parent_module: Option<&str>) -> String {
    if parent_module == Some(el.module.as_str()) {
        el.name.clone()
    } else {
        format!("{}:{}", el.module, el.name)
    }
}

fn to_xpaths(el: &Element, prefix: &str, parent_module: Option<&str>, out: &mut Vec<String>) {
    let content_matches: Vec<&Element> = el
        .children
        .iter()
        .filter(|c| c.children.is_empty() && !c.text.is_empty())
        .collect();
    let mut here = format!("{prefix}/{}", step(el, parent_module));
    for m in &content_matches {
        here.push_str(&format!(
            "[{}={}]",
            step(m, Some(&el.module)),
            quote(&m.text)
        ));
    }
    let others: Vec<&Element> = el
        .children
        .iter()
        .filter(|c| c.children.len() + c.text.len() == 0 || !c.children.is_empty())
        .collect();
    if others.is_empty() {
        // Only content matches (or nothing): the whole matching node.
        out.push(here);
        return;
    }
    for m in &content_matches {
        out.push(format!("{here}/{}", step(m, Some(&el.module))));
    }
    for c in others {
        if c.children.is_empty() {
            out.push(format!("{here}/{}", step(c, Some(&el.module))));
        } else {
            to_xpaths(c, &here, Some(&el.module), out);
        }
    }
}

/// Turns a subtree filter into the XPath expressions selecting the same nodes.
pub fn subtree_to_xpaths(ctx: &Context, xml: &str) -> Result<Vec<String>, FilterError> {
    let mut out = Vec::new();
    for el in parse_subtree(ctx, xml)? {
        to_xpaths(&el, "", None, &mut out);
    }
    Ok(out)
}

/// Rewrites an XPath whose prefixes are XML-namespace prefixes into libyang's JSON form
/// (module names as prefixes).
pub fn xpath_to_module_prefixes(
    ctx: &Context,
    select: &str,
    namespaces: &BTreeMap<String, String>,
) -> Result<String, FilterError> {
    let mut out = String::with_capacity(select.len());
    let bytes = select.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let c = bytes[i];
        if let Some(q) = quote {
            out.push(c as char);
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == b'\'' || c == b'"' {
            quote = Some(c);
            out.push(c as char);
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'-' | b'.'))
            {
                i += 1;
            }
            let word = &select[start..i];
            if i < bytes.len() && bytes[i] == b':' && bytes.get(i + 1) != Some(&b':') {
                let ns = namespaces
                    .get(word)
                    .ok_or_else(|| FilterError::UnknownPrefix(word.to_string()))?;
                let module = ctx
                    .get_module_implemented_ns(ns)
                    .map(|m| m.name().to_string())
                    .ok_or_else(|| FilterError::UnknownNamespace(ns.clone()))?;
                out.push_str(&module);
            } else {
                out.push_str(word);
            }
            continue;
        }
        out.push(c as char);
        i += 1;
    }
    Ok(out)
}

/// Copies the nodes `filter` selects from `source` (with their ancestors and list keys) into
/// a new tree. No filter copies everything.
pub fn select<'a>(
    ctx: &'a Context,
    source: &DataTree<'a>,
    filter: Option<&Filter>,
) -> Result<DataTree<'a>, FilterError> {
    let xpaths = match filter {
        None => return Ok(source.duplicate().unwrap_or_else(|_| DataTree::new(ctx))),
        Some(Filter::Subtree(xml)) if xml.trim().is_empty() => return Ok(DataTree::new(ctx)),
        Some(Filter::Subtree(xml)) => subtree_to_xpaths(ctx, xml)?,
        Some(Filter::XPath { select, namespaces }) => {
            vec![xpath_to_module_prefixes(ctx, select, namespaces)?]
        }
    };
    let mut result = DataTree::new(ctx);
    for xp in xpaths {
        let set = source.find_xpath(&xp).map_err(|e| FilterError::XPath {
            expr: xp.clone(),
            message: e.msg.unwrap_or_default(),
        })?;
        let mut last_parent = None;
        for node in set {
            if copy_beside_siblings(&mut result, &node, &mut last_parent) {
                continue;
            }
            if let Ok(dup) = node.duplicate(true) {
                let _ = result.merge(&dup);
            }
        }
    }
    Ok(result)
}

/// The XML of what `filter` selects from `source`, printed from `source` itself (no copy of
/// the selection), with the defaults `defaults` asks for. `Ok(None)` when the selection needs
/// the general way: [`select`], then print the copy.
pub fn print_selection(
    ctx: &Context,
    source: &DataTree<'_>,
    filter: &Filter,
    defaults: Defaults,
) -> Result<Option<String>, FilterError> {
    let xpaths = match filter {
        Filter::Subtree(xml) if xml.trim().is_empty() => return Ok(Some(String::new())),
        Filter::Subtree(xml) => subtree_to_xpaths(ctx, xml)?,
        Filter::XPath { select, namespaces } => {
            vec![xpath_to_module_prefixes(ctx, select, namespaces)?]
        }
    };
    // One evaluation of the union keeps the matches in document order, overlaps once.
    let expr = if xpaths.len() == 1 {
        xpaths.into_iter().next().unwrap_or_default()
    } else {
        xpaths
            .iter()
            .map(|x| format!("({x})"))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let set = source.find_xpath(&expr).map_err(|e| FilterError::XPath {
        expr: expr.clone(),
        message: e.msg.unwrap_or_default(),
    })?;
    Ok(print_selected_xml(set, defaults))
}

// Matches come in document order, so the entries of one list are consecutive and share a
// parent: once that parent is in the result, each further match is copied straight under it
// (one copy, one hash insert) instead of being copied with its ancestors and merged.
// `last_parent` pairs the source parent last seen with its copy. Returns false when the match
// must go the general way: a top-level node, a parent not copied yet, or a node already
// (partly) in the result.
fn copy_beside_siblings(
    result: &mut DataTree<'_>,
    node: &DataNodeRef<'_>,
    last_parent: &mut Option<(Node, Node)>,
) -> bool {
    let Some(parent) = node.parent() else {
        return false;
    };
    let Some(source_parent) = Node::of(&parent) else {
        return false;
    };
    let copied_parent = match *last_parent {
        Some((s, c)) if s == source_parent => c,
        _ => match tree::counterpart(result, &parent) {
            Some(c) => {
                *last_parent = Some((source_parent, c));
                c
            }
            None => return false,
        },
    };
    if tree::find_child(result, Some(copied_parent), node).is_some() {
        return false;
    }
    let whole = CopyOptions {
        recursive: true,
        with_flags: true,
        without_meta: false,
    };
    tree::copy_under(result, copied_parent, node, whole).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use yang::yang5::data::{DataFormat, DataParserFlags, DataPrinterFlags, DataValidationFlags};

    const NS: &str = "urn:netdhcp:yang:netdhcp-server";

    fn data() -> DataTree<'static> {
        let ctx = yang::context().unwrap();
        DataTree::parse_string(
            ctx,
            format!(
                r#"<server xmlns="{NS}"><dhcpv4><valid-lifetime>100</valid-lifetime>
                <subnet><id>1</id><prefix>100.64.0.0/24</prefix><description>one</description></subnet>
                <subnet><id>2</id><prefix>100.64.1.0/24</prefix><description>two</description></subnet>
                </dhcpv4></server>"#
            ),
            DataFormat::XML,
            DataParserFlags::NO_VALIDATION,
            DataValidationFlags::empty(),
        )
        .unwrap()
    }

    fn print(t: &DataTree<'_>) -> String {
        yang::data::print(
            t,
            DataFormat::XML,
            DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::SHRINK,
        )
    }

    #[test]
    fn content_match_selects_one_list_entry() {
        let ctx = yang::context().unwrap();
        let f = Filter::Subtree(format!(
            r#"<server xmlns="{NS}"><dhcpv4><subnet><id>2</id></subnet></dhcpv4></server>"#
        ));
        let out = print(&select(ctx, &data(), Some(&f)).unwrap());
        assert!(out.contains("<id>2</id>") && out.contains("two"), "{out}");
        assert!(
            !out.contains("one") && !out.contains("valid-lifetime"),
            "{out}"
        );
    }

    #[test]
    fn selection_node_selects_only_it() {
        let ctx = yang::context().unwrap();
        let f = Filter::Subtree(format!(
            r#"<server xmlns="{NS}"><dhcpv4><valid-lifetime/></dhcpv4></server>"#
        ));
        let out = print(&select(ctx, &data(), Some(&f)).unwrap());
        assert!(
            out.contains("<valid-lifetime>100</valid-lifetime>") && !out.contains("subnet"),
            "{out}"
        );
    }

    #[test]
    fn content_match_with_selection_returns_key_and_selected() {
        let ctx = yang::context().unwrap();
        let f = Filter::Subtree(format!(
            r#"<server xmlns="{NS}"><dhcpv4><subnet><id>1</id><prefix/></subnet></dhcpv4></server>"#
        ));
        let out = print(&select(ctx, &data(), Some(&f)).unwrap());
        assert!(
            out.contains("100.64.0.0/24") && !out.contains("one") && !out.contains("100.64.1.0"),
            "{out}"
        );
    }

    #[test]
    fn xpath_with_namespace_prefixes() {
        let ctx = yang::context().unwrap();
        let mut ns = BTreeMap::new();
        ns.insert("nd".to_string(), NS.to_string());
        let f = Filter::XPath {
            select: "/nd:server/nd:dhcpv4/nd:subnet[nd:id='1']".into(),
            namespaces: ns,
        };
        let out = print(&select(ctx, &data(), Some(&f)).unwrap());
        assert!(out.contains("one") && !out.contains("two"), "{out}");
    }

    #[test]
    fn unknown_namespace_and_prefix_are_errors() {
        let ctx = yang::context().unwrap();
        let f = Filter::Subtree(r#"<x xmlns="urn:nope"/>"#.into());
        assert!(matches!(
            select(ctx, &data(), Some(&f)),
            Err(FilterError::UnknownNamespace(_))
        ));
        let f = Filter::XPath {
            select: "/zz:server".into(),
            namespaces: BTreeMap::new(),
        };
        assert!(matches!(
            select(ctx, &data(), Some(&f)),
            Err(FilterError::UnknownPrefix(_))
        ));
    }

    fn many(entries: u32) -> DataTree<'static> {
        let ctx = yang::context().unwrap();
        let subnet = |id: u32| -> String {
            let rs: String = (0..entries)
                .map(|i| format!("<reservation><ip-address>100.64.{}.{}</ip-address><hw-address>02:00:{id:02x}:00:{:02x}:{:02x}</hw-address></reservation>", i / 256, i % 256, i / 256, i % 256))
                .collect();
            format!("<subnet><id>{id}</id><prefix>100.64.0.0/16</prefix><description>s{id}</description>{rs}</subnet>")
        };
        DataTree::parse_string(
            ctx,
            format!(r#"<server xmlns="{NS}"><dhcpv4><valid-lifetime>100</valid-lifetime>{}{}</dhcpv4></server>"#, subnet(1), subnet(2)),
            DataFormat::XML,
            DataParserFlags::NO_VALIDATION,
            DataValidationFlags::empty(),
        )
        .unwrap()
    }

    fn subtree(inner: &str) -> Filter {
        Filter::Subtree(format!(
            r#"<server xmlns="{NS}"><dhcpv4>{inner}</dhcpv4></server>"#
        ))
    }

    #[test]
    fn selection_of_a_whole_list_copies_every_entry_once_in_order() {
        let ctx = yang::context().unwrap();
        let source = many(1500);
        let f = subtree("<subnet><id>1</id><reservation/></subnet>");
        let out = print(&select(ctx, &source, Some(&f)).unwrap());
        assert_eq!(
            out.matches("<reservation>").count(),
            1500,
            "{}",
            &out[..300]
        );
        assert!(
            out.contains("<subnet><id>1</id><reservation>"),
            "{}",
            &out[..300]
        );
        assert!(!out.contains("<prefix>") && !out.contains("s1") && !out.contains("02:00:02"));
        // Entries keep the datastore's order.
        let a = out.find("<ip-address>100.64.0.9</ip-address>").unwrap();
        let b = out.find("<ip-address>100.64.0.10</ip-address>").unwrap();
        assert!(a < b);
        // Exactly what the selection holds in the datastore, entry for entry.
        let direct = source
            .find_xpath("/netdhcp-server:server/dhcpv4/subnet[id='1']/reservation")
            .unwrap()
            .count();
        assert_eq!(direct, 1500);
    }

    #[test]
    fn overlapping_selections_are_not_doubled() {
        let ctx = yang::context().unwrap();
        let f = subtree(
            "<subnet><id>1</id><reservation/><reservation><ip-address>100.64.0.7</ip-address></reservation></subnet>",
        );
        let out = print(&select(ctx, &many(300), Some(&f)).unwrap());
        assert_eq!(out.matches("<reservation>").count(), 300);
        assert_eq!(
            out.matches("<ip-address>100.64.0.7</ip-address>").count(),
            1
        );
    }

    #[test]
    fn entries_of_several_parents_land_under_their_own_parent() {
        let ctx = yang::context().unwrap();
        let f = subtree("<subnet><reservation><hw-address/></reservation></subnet>");
        let result = select(ctx, &many(200), Some(&f)).unwrap();
        for id in [1, 2] {
            let under = result
                .find_xpath(&format!(
                    "/netdhcp-server:server/dhcpv4/subnet[id='{id}']/reservation/hw-address"
                ))
                .unwrap()
                .filter(|n| {
                    n.value_canonical()
                        .is_some_and(|v| v.starts_with(&format!("02:00:{id:02x}")))
                })
                .count();
            assert_eq!(under, 200, "subnet {id}");
        }
        let out = print(&result);
        assert!(
            !out.contains("<prefix>") && !out.contains("valid-lifetime"),
            "{}",
            &out[..300]
        );
    }

    #[test]
    fn content_match_among_many_entries_selects_one_subtree() {
        let ctx = yang::context().unwrap();
        let f = subtree("<subnet><id>2</id><reservation><ip-address>100.64.1.44</ip-address></reservation></subnet>");
        let out = print(&select(ctx, &many(1000), Some(&f)).unwrap());
        assert_eq!(out.matches("<reservation>").count(), 1, "{out}");
        assert!(
            out.contains("<hw-address>02:00:02:00:01:2c</hw-address>"),
            "{out}"
        );
    }

    /// The direct printer writes exactly what printing the copied selection writes, for
    /// filters of every shape, on a validated tree (so with default nodes) in each mode.
    #[test]
    fn printing_the_selection_directly_equals_printing_its_copy() {
        let ctx = yang::context().unwrap();
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/dhcpv6-pd.xml"
        ))
        .unwrap();
        let mut source = yang::data::parse_config(ctx, &text, yang::data::Format::Xml).unwrap();
        yang::data::validate_config(&mut source).unwrap();
        let mut more = many(300);
        more.validate(DataValidationFlags::PRESENT).ok();
        let mut ns = BTreeMap::new();
        ns.insert("nd".to_string(), NS.to_string());
        let xpath = |select: &str| Filter::XPath {
            select: select.into(),
            namespaces: ns.clone(),
        };
        let filters = [
            Filter::Subtree(format!(r#"<server xmlns="{NS}"/>"#)),
            Filter::Subtree(format!(r#"<server xmlns="{NS}"><dhcpv6/></server>"#)),
            Filter::Subtree(format!(
                r#"<server xmlns="{NS}"><dhcpv6><subnet><id>1</id></subnet></dhcpv6></server>"#
            )),
            Filter::Subtree(format!(
                r#"<server xmlns="{NS}"><dhcpv6><subnet><id/><pd-pool/></subnet></dhcpv6></server>"#
            )),
            Filter::Subtree(format!(
                r#"<server xmlns="{NS}"><dhcpv6><subnet><id>1</id><valid-lifetime/></subnet><renew-timer/></dhcpv6><lease-database/></server>"#
            )),
            xpath("/nd:server/nd:dhcpv6//*"),
            xpath("//nd:id | /nd:server/nd:lease-database"),
            xpath("/nd:server/nd:dhcpv6/nd:subnet/nd:id"),
        ];
        let modes = [
            (Defaults::Explicit, DataPrinterFlags::WD_EXPLICIT),
            (Defaults::Trim, DataPrinterFlags::WD_TRIM),
            (Defaults::ReportAll, DataPrinterFlags::WD_ALL),
        ];
        let mut checked = 0;
        for (tree, filters) in [
            (&source, &filters[..]),
            (
                &more,
                &[
                    subtree("<subnet><id>1</id><reservation/></subnet>"),
                    subtree("<subnet><reservation><hw-address/></reservation></subnet>"),
                    subtree("<subnet><id>2</id><reservation><ip-address>100.64.1.4</ip-address></reservation></subnet>"),
                ][..],
            ),
        ] {
            for f in filters {
                for (mode, flags) in &modes {
                    let copied = yang::data::print(
                        &select(ctx, tree, Some(f)).unwrap(),
                        DataFormat::XML,
                        DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::SHRINK | DataPrinterFlags::from_bits_retain(flags.bits()),
                    );
                    let direct = print_selection(ctx, tree, f, *mode)
                        .unwrap()
                        .unwrap_or_else(|| panic!("not printable directly: {f:?} {mode:?}"));
                    assert_eq!(direct, copied, "{f:?} {mode:?}");
                    assert!(!copied.is_empty() || matches!(f, Filter::XPath { .. }));
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 33);
    }

    #[test]
    fn empty_filter_selects_nothing() {
        let ctx = yang::context().unwrap();
        let out = print(&select(ctx, &data(), Some(&Filter::Subtree(String::new()))).unwrap());
        assert!(out.is_empty(), "{out}");
    }
}
