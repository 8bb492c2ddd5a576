//! edit-config semantics (RFC 6241 7.2) on libyang trees: merge, replace, create, delete and
//! remove, per node through the `nc:operation` attribute or the default operation.
//!
//! libyang parses the edit (types, unknown elements, the operation attribute as metadata);
//! the operations themselves are ours. Edits are applied to a copy by the caller, so an error
//! leaves the datastore as it was unless the client asked for continue-on-error.
//!
//! The edit tree and the target are walked together: each edit node is looked up among the
//! children of its parent's counterpart (a hash lookup), and a new subtree is copied under
//! it in one go, so an edit of thousands of list entries costs no path per entry. Top-level
//! nodes and the rare opaque leaf deletes go by data path.

use yang::yang5::context::Context;
use yang::yang5::data::{
    Data, DataFormat, DataNodeRef, DataParserFlags, DataTree, DataValidationFlags,
};
use yang::yang5::iter::NodeIterable;
use yang::yang5::schema::SchemaNodeKind;

use yang::data::YangError;
use yang::tree::{self, CopyOptions, Node};

/// An edit operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Merge into what exists (the default).
    Merge,
    /// Replace what exists.
    Replace,
    /// Create; fails if it exists.
    Create,
    /// Delete; fails if it does not exist.
    Delete,
    /// Delete if it exists.
    Remove,
    /// No change at this level (only with default-operation none).
    None,
}

impl Operation {
    /// From the `nc:operation` attribute's value.
    pub fn from_attr(v: &str) -> Option<Self> {
        Some(match v {
            "merge" => Operation::Merge,
            "replace" => Operation::Replace,
            "create" => Operation::Create,
            "delete" => Operation::Delete,
            "remove" => Operation::Remove,
            _ => return None,
        })
    }
}

/// Why an edit failed, in terms that map to NETCONF error tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditError {
    /// The edit document does not fit the model (unknown element, bad value).
    Invalid(YangError),
    /// `create` of something that exists.
    DataExists {
        /// Its path.
        path: String,
    },
    /// `delete` of something that does not exist.
    DataMissing {
        /// Its path.
        path: String,
    },
    /// The operation attribute has an unknown value.
    BadOperation {
        /// The node it was on.
        path: String,
        /// The value.
        value: String,
    },
    /// libyang refused a change (e.g. a value that does not fit).
    Failed {
        /// The node.
        path: String,
        /// libyang's message.
        message: String,
    },
}

impl std::fmt::Display for EditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EditError::Invalid(e) => write!(f, "{e}"),
            EditError::DataExists { path } => write!(f, "{path}: data already exists"),
            EditError::DataMissing { path } => write!(f, "{path}: data does not exist"),
            EditError::BadOperation { path, value } => {
                write!(f, "{path}: unknown operation {value:?}")
            }
            EditError::Failed { path, message } => write!(f, "{path}: {message}"),
        }
    }
}

/// Parses an edit document (the children of `<config>`), keeping `nc:operation` attributes.
pub fn parse_edit<'a>(ctx: &'a Context, xml: &str) -> Result<Option<DataTree<'a>>, Vec<EditError>> {
    if xml.trim().is_empty() {
        return Ok(None);
    }
    let tree = DataTree::parse_string(
        ctx,
        xml,
        DataFormat::XML,
        DataParserFlags::NO_VALIDATION | DataParserFlags::STRICT | DataParserFlags::NO_STATE,
        DataValidationFlags::empty(),
    );
    let strict_error = match tree {
        Ok(t) => return Ok(Some(t)),
        Err(e) => EditError::Invalid(YangError {
            path: e.path,
            message: e.msg.unwrap_or_else(|| "invalid configuration".into()),
            app_tag: e.apptag,
            line: None,
        }),
    };
    // A leaf deleted with an empty element (`<leaf nc:operation="delete"/>`, as clients
    // commonly send) has no valid value; accept exactly that case, keep the strict error for
    // anything else.
    let Ok(lenient) = yang::data::parse_edit_lenient(ctx, xml) else {
        return Err(vec![strict_error]);
    };
    let only_leaf_deletes = lenient.traverse().all(|n| match yang::data::opaque(&n) {
        None => true,
        Some(o) => n.children().next().is_none() && opaque_removal(&o).is_some(),
    });
    if only_leaf_deletes {
        Ok(Some(lenient))
    } else {
        Err(vec![strict_error])
    }
}

fn opaque_removal(o: &yang::data::OpaqueNode) -> Option<Operation> {
    o.attributes
        .iter()
        .find(|(name, _)| name == "operation")
        .and_then(|(_, v)| Operation::from_attr(v))
        .filter(|op| matches!(op, Operation::Delete | Operation::Remove))
}

// The data path of an opaque leaf: its parent's path and its qualified name.
fn opaque_path(ctx: &Context, node: &DataNodeRef<'_>, o: &yang::data::OpaqueNode) -> String {
    let module = ctx
        .get_module_implemented_ns(&o.namespace)
        .map(|m| m.name().to_string())
        .unwrap_or_default();
    match node.parent() {
        Some(p) => format!("{}/{module}:{}", p.path(), o.name),
        None => format!("/{module}:{}", o.name),
    }
}

/// Applies `edit` to `target`. With `continue_on_error` every node is tried and all errors
/// returned; otherwise the first error stops the edit (the caller discards the copy).
pub fn apply(
    target: &mut DataTree<'_>,
    edit: &DataTree<'_>,
    default: Operation,
    continue_on_error: bool,
) -> Result<(), Vec<EditError>> {
    let mut errors = Vec::new();
    let Some(first) = edit.reference() else {
        return Ok(());
    };
    for node in first.inclusive_siblings() {
        if process(target, &node, default, continue_on_error, &mut errors).is_err()
            && !continue_on_error
        {
            break;
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

struct Stop;

fn operation_of(node: &DataNodeRef<'_>, inherited: Operation) -> Result<Operation, EditError> {
    for meta in node.meta() {
        if meta.name() == "operation" {
            return Operation::from_attr(meta.value()).ok_or_else(|| EditError::BadOperation {
                path: node.path(),
                value: meta.value().to_string(),
            });
        }
    }
    Ok(inherited)
}

fn fail(errors: &mut Vec<EditError>, e: EditError, continue_on_error: bool) -> Result<(), Stop> {
    errors.push(e);
    if continue_on_error {
        Ok(())
    } else {
        Err(Stop)
    }
}

fn process(
    target: &mut DataTree<'_>,
    node: &DataNodeRef<'_>,
    inherited: Operation,
    cont: bool,
    errors: &mut Vec<EditError>,
) -> Result<(), Stop> {
    if let Some(o) = yang::data::opaque(node) {
        let path = opaque_path(tree_ctx(target), node, &o);
        let exists = target.find_path(&path).is_ok();
        return match opaque_removal(&o) {
            Some(Operation::Delete) if !exists => {
                fail(errors, EditError::DataMissing { path }, cont)
            }
            Some(_) if exists => match target.remove(&path) {
                Ok(()) => Ok(()),
                Err(e) => fail(errors, failed(&path, e), cont),
            },
            _ => Ok(()),
        };
    }
    let op = match operation_of(node, inherited) {
        Ok(op) => op,
        Err(e) => return fail(errors, e, cont),
    };
    let schema = node.schema();
    let kind = schema.kind();
    // Keys are part of their list instance's path, not edited on their own.
    if kind == SchemaNodeKind::Leaf && schema.is_list_key() {
        return Ok(());
    }
    let path = node.path();
    let exists = target.find_path(&path).is_ok();
    match op {
        Operation::Delete if !exists => fail(errors, EditError::DataMissing { path }, cont),
        Operation::Delete | Operation::Remove => {
            if exists {
                if let Err(e) = target.remove(&path) {
                    return fail(errors, failed(&path, e), cont);
                }
            }
            Ok(())
        }
        Operation::Create if exists => fail(errors, EditError::DataExists { path }, cont),
        Operation::Create => insert_subtree(target, node, cont, errors),
        Operation::Replace => {
            if exists {
                if let Err(e) = target.remove(&path) {
                    return fail(errors, failed(&path, e), cont);
                }
            }
            insert_subtree(target, node, cont, errors)
        }
        Operation::Merge | Operation::None => match kind {
            SchemaNodeKind::Leaf | SchemaNodeKind::LeafList => {
                if op == Operation::Merge {
                    if let Err(e) = target.new_path(&path, node.value_canonical().as_deref(), false)
                    {
                        return fail(errors, failed(&path, e), cont);
                    }
                }
                Ok(())
            }
            _ => {
                // RFC 6241 7.2: with operation none, data for which the datastore has no
                // corresponding level is data-missing (lists and presence containers; other
                // containers exist implicitly).
                let has_level =
                    exists || (kind == SchemaNodeKind::Container && schema.is_np_container());
                if op == Operation::None && !has_level {
                    return fail(errors, EditError::DataMissing { path }, cont);
                }
                if op == Operation::Merge && !exists {
                    if let Err(e) = target.new_path(&path, None, false) {
                        return fail(errors, failed(&path, e), cont);
                    }
                }
                let here = target.find_path(&path).ok().and_then(|n| Node::of(&n));
                for child in node.children() {
                    match here {
                        Some(parent) => process_under(target, parent, &child, op, cont, errors)?,
                        None => process(target, &child, op, cont, errors)?,
                    }
                }
                Ok(())
            }
        },
    }
}

// `process` for a node whose parent's counterpart in the target is `parent`: the node's own
// counterpart is found among that parent's children, without a data path.
fn process_under(
    target: &mut DataTree<'_>,
    parent: Node,
    node: &DataNodeRef<'_>,
    inherited: Operation,
    cont: bool,
    errors: &mut Vec<EditError>,
) -> Result<(), Stop> {
    if yang::data::opaque(node).is_some() {
        return process(target, node, inherited, cont, errors);
    }
    let op = match operation_of(node, inherited) {
        Ok(op) => op,
        Err(e) => return fail(errors, e, cont),
    };
    let schema = node.schema();
    let kind = schema.kind();
    if kind == SchemaNodeKind::Leaf && schema.is_list_key() {
        return Ok(());
    }
    let found = tree::find_child(target, Some(parent), node);
    match op {
        Operation::Delete | Operation::Remove => match found {
            // Never top-level here (it has a parent), so the removal cannot be refused.
            Some(n) => {
                tree::remove(target, n);
                Ok(())
            }
            None if op == Operation::Delete => {
                fail(errors, EditError::DataMissing { path: node.path() }, cont)
            }
            None => Ok(()),
        },
        Operation::Create if found.is_some() => {
            fail(errors, EditError::DataExists { path: node.path() }, cont)
        }
        Operation::Create => copy_subtree(target, parent, node, cont, errors),
        Operation::Replace => {
            if let Some(n) = found {
                tree::remove(target, n);
            }
            copy_subtree(target, parent, node, cont, errors)
        }
        Operation::Merge | Operation::None => match kind {
            SchemaNodeKind::Leaf | SchemaNodeKind::LeafList => {
                if op != Operation::Merge {
                    return Ok(());
                }
                let done = match (found, kind) {
                    (Some(n), SchemaNodeKind::Leaf) => match node.value_canonical() {
                        Some(v) => tree::set_value(target, n, &v),
                        None => Ok(()),
                    },
                    (Some(_), _) => Ok(()),
                    (None, _) => tree::copy_under(target, parent, node, EDIT_COPY).map(|_| ()),
                };
                match done {
                    Ok(()) => Ok(()),
                    Err(e) => fail(errors, failed(&node.path(), e), cont),
                }
            }
            _ => {
                let here = match found {
                    Some(n) => n,
                    // RFC 6241 7.2: see `process`; a non-presence container exists implicitly,
                    // so its children are handled by path (created only if they need it).
                    None if op == Operation::None => {
                        if kind == SchemaNodeKind::Container && schema.is_np_container() {
                            for child in node.children() {
                                process(target, &child, op, cont, errors)?;
                            }
                            return Ok(());
                        }
                        return fail(errors, EditError::DataMissing { path: node.path() }, cont);
                    }
                    // A new entry without operations inside: copied whole.
                    None if is_plain(node) => {
                        return copy_subtree(target, parent, node, cont, errors);
                    }
                    None => {
                        let only_node = CopyOptions {
                            recursive: false,
                            ..EDIT_COPY
                        };
                        match tree::copy_under(target, parent, node, only_node) {
                            Ok(n) => n,
                            Err(e) => return fail(errors, failed(&node.path(), e), cont),
                        }
                    }
                };
                for child in node.children() {
                    process_under(target, here, &child, op, cont, errors)?;
                }
                Ok(())
            }
        },
    }
}

// Copies of edit nodes keep nothing of the edit document but the data: no `nc:operation`.
const EDIT_COPY: CopyOptions = CopyOptions {
    recursive: true,
    with_flags: false,
    without_meta: true,
};

// Whether a subtree is pure data: no opaque node (a lenient leaf delete) and no operation
// attribute below its top, so copying it is exactly what merging it node by node would do.
fn is_plain(node: &DataNodeRef<'_>) -> bool {
    node.traverse().all(|n| {
        yang::data::opaque(&n).is_none()
            && (n == *node || n.meta().all(|m| m.name() != "operation"))
    })
}

// create or replace under a known parent: the whole subtree in one copy, unless it holds
// opaque nodes, which only the path-based insertion knows to skip.
fn copy_subtree(
    target: &mut DataTree<'_>,
    parent: Node,
    node: &DataNodeRef<'_>,
    cont: bool,
    errors: &mut Vec<EditError>,
) -> Result<(), Stop> {
    if node.traverse().any(|n| yang::data::opaque(&n).is_some()) {
        return insert_subtree(target, node, cont, errors);
    }
    match tree::copy_under(target, parent, node, EDIT_COPY) {
        Ok(_) => Ok(()),
        Err(e) => fail(errors, failed(&node.path(), e), cont),
    }
}

fn insert_subtree(
    target: &mut DataTree<'_>,
    node: &DataNodeRef<'_>,
    cont: bool,
    errors: &mut Vec<EditError>,
) -> Result<(), Stop> {
    for n in node.traverse() {
        let schema = n.schema();
        let value = match schema.kind() {
            SchemaNodeKind::Leaf if schema.is_list_key() => continue,
            SchemaNodeKind::Leaf => n.value_canonical(),
            // The path of a leaf-list instance carries its value as a predicate.
            SchemaNodeKind::LeafList | SchemaNodeKind::List | SchemaNodeKind::Container => None,
            _ => continue,
        };
        let path = n.path();
        if let Err(e) = target.new_path(&path, value.as_deref(), false) {
            fail(errors, failed(&path, e), cont)?;
        }
    }
    Ok(())
}

fn tree_ctx<'a>(tree: &DataTree<'a>) -> &'a Context {
    tree.context()
}

fn failed(path: &str, e: yang::yang5::Error) -> EditError {
    EditError::Failed {
        path: e.path.unwrap_or_else(|| path.to_string()),
        message: e.msg.unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yang::yang5::data::DataPrinterFlags;

    const NS: &str = r#"xmlns="urn:netdhcp:yang:netdhcp-server" xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0""#;

    fn tree(xml: &str) -> DataTree<'static> {
        let ctx = yang::context().unwrap();
        parse_edit(ctx, xml)
            .unwrap()
            .unwrap_or_else(|| DataTree::new(ctx))
    }

    fn edit(
        target: &mut DataTree<'static>,
        xml: &str,
        default: Operation,
    ) -> Result<(), Vec<EditError>> {
        let ctx = yang::context().unwrap();
        let e = parse_edit(ctx, xml)?.expect("edit");
        apply(target, &e, default, false)
    }

    fn xml(t: &DataTree<'_>) -> String {
        yang::data::print(
            t,
            DataFormat::XML,
            DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::SHRINK,
        )
    }

    fn base() -> DataTree<'static> {
        tree(&format!(
            r#"<server {NS}><dhcpv4><valid-lifetime>100</valid-lifetime><dns-server>100.64.0.1</dns-server>
            <subnet><id>1</id><prefix>100.64.0.0/24</prefix><pool><start>100.64.0.10</start><end>100.64.0.20</end></pool></subnet>
            </dhcpv4></server>"#
        ))
    }

    #[test]
    fn merge_adds_and_updates() {
        let mut t = base();
        edit(
            &mut t,
            &format!(r#"<server {NS}><dhcpv4><valid-lifetime>200</valid-lifetime><dns-server>100.64.0.2</dns-server><subnet><id>2</id><prefix>100.64.1.0/24</prefix></subnet></dhcpv4></server>"#),
            Operation::Merge,
        )
        .unwrap();
        let s = xml(&t);
        assert!(s.contains("<valid-lifetime>200</valid-lifetime>"), "{s}");
        assert!(s.contains("100.64.0.1") && s.contains("100.64.0.2"), "{s}");
        assert!(s.contains("<id>1</id>") && s.contains("<id>2</id>"), "{s}");
    }

    #[test]
    fn create_existing_is_data_exists() {
        let mut t = base();
        let err = edit(
            &mut t,
            &format!(r#"<server {NS}><dhcpv4><subnet nc:operation="create"><id>1</id><prefix>100.64.0.0/24</prefix></subnet></dhcpv4></server>"#),
            Operation::Merge,
        )
        .unwrap_err();
        assert!(
            matches!(&err[0], EditError::DataExists { path } if path.contains("subnet[id='1']")),
            "{err:?}"
        );
    }

    #[test]
    fn delete_missing_is_data_missing_and_remove_is_quiet() {
        let mut t = base();
        let err = edit(&mut t, &format!(r#"<server {NS}><dhcpv4><subnet nc:operation="delete"><id>9</id></subnet></dhcpv4></server>"#), Operation::Merge).unwrap_err();
        assert!(matches!(&err[0], EditError::DataMissing { .. }), "{err:?}");
        edit(&mut t, &format!(r#"<server {NS}><dhcpv4><subnet nc:operation="remove"><id>9</id></subnet></dhcpv4></server>"#), Operation::Merge).unwrap();
        edit(&mut t, &format!(r#"<server {NS}><dhcpv4><subnet nc:operation="delete"><id>1</id></subnet></dhcpv4></server>"#), Operation::Merge).unwrap();
        assert!(!xml(&t).contains("<subnet>"), "{}", xml(&t));
    }

    #[test]
    fn replace_swaps_a_subtree() {
        let mut t = base();
        edit(
            &mut t,
            &format!(r#"<server {NS}><dhcpv4><subnet nc:operation="replace"><id>1</id><prefix>100.64.0.0/24</prefix><pool><start>100.64.0.50</start><end>100.64.0.60</end></pool></subnet></dhcpv4></server>"#),
            Operation::Merge,
        )
        .unwrap();
        let s = xml(&t);
        assert!(
            s.contains("100.64.0.50") && !s.contains("100.64.0.10"),
            "{s}"
        );
    }

    #[test]
    fn delete_a_leaf_list_value_and_a_leaf() {
        let mut t = base();
        edit(
            &mut t,
            &format!(r#"<server {NS}><dhcpv4><dns-server nc:operation="delete">100.64.0.1</dns-server><valid-lifetime nc:operation="delete"/></dhcpv4></server>"#),
            Operation::Merge,
        )
        .unwrap();
        let s = xml(&t);
        assert!(
            !s.contains("dns-server") && !s.contains("valid-lifetime"),
            "{s}"
        );
    }

    #[test]
    fn default_operation_none_changes_only_marked_nodes() {
        let mut t = base();
        edit(
            &mut t,
            &format!(r#"<server {NS}><dhcpv4><valid-lifetime>999</valid-lifetime><subnet><id>1</id><pool nc:operation="create"><start>100.64.0.100</start><end>100.64.0.110</end></pool></subnet></dhcpv4></server>"#),
            Operation::None,
        )
        .unwrap();
        let s = xml(&t);
        assert!(s.contains("<valid-lifetime>100</valid-lifetime>"), "{s}");
        assert!(s.contains("100.64.0.100"), "{s}");
    }

    #[test]
    fn unknown_element_and_bad_value_are_invalid() {
        let ctx = yang::context().unwrap();
        let e = parse_edit(ctx, &format!(r#"<server {NS}><bogus/></server>"#)).unwrap_err();
        assert!(matches!(&e[0], EditError::Invalid(_)));
        let e = parse_edit(
            ctx,
            &format!(
                r#"<server {NS}><dhcpv4><valid-lifetime>abc</valid-lifetime></dhcpv4></server>"#
            ),
        )
        .unwrap_err();
        assert!(e[0].to_string().contains("abc"), "{e:?}");
    }

    fn reservations(range: std::ops::Range<u32>, attrs: &str, mac_byte: u32) -> String {
        range
            .map(|i| {
                format!(
                    "<reservation{attrs}><ip-address>100.64.{}.{}</ip-address><hw-address>02:00:00:{:02x}:{:02x}:{mac_byte:02x}</hw-address></reservation>",
                    i / 256,
                    i % 256,
                    i / 256,
                    i % 256
                )
            })
            .collect()
    }

    fn in_subnet1(inner: &str) -> String {
        format!(r#"<server {NS}><dhcpv4><subnet><id>1</id>{inner}</subnet></dhcpv4></server>"#)
    }

    fn count(t: &DataTree<'_>, what: &str) -> usize {
        xml(t).matches(what).count()
    }

    #[test]
    fn merge_of_many_list_entries_adds_new_and_updates_existing() {
        let mut t = base();
        edit(
            &mut t,
            &in_subnet1(&reservations(0..2000, "", 1)),
            Operation::Merge,
        )
        .unwrap();
        assert_eq!(count(&t, "<reservation>"), 2000);
        // Half again with a new MAC (an update of each entry's leaf), half new.
        edit(
            &mut t,
            &in_subnet1(&reservations(1000..3000, "", 2)),
            Operation::Merge,
        )
        .unwrap();
        let s = xml(&t);
        assert_eq!(s.matches("<reservation>").count(), 3000);
        assert!(
            s.contains(
                "<ip-address>100.64.0.5</ip-address><hw-address>02:00:00:00:05:01</hw-address>"
            ),
            "{s}"
        );
        let at = s.find("<ip-address>100.64.3.232</ip-address>").unwrap_or(0);
        assert!(
            s.contains(
                "<ip-address>100.64.3.232</ip-address><hw-address>02:00:00:03:e8:02</hw-address>"
            ),
            "{}",
            &s[at..at + 200]
        );
        assert!(
            !s.contains("02:00:00:03:e8:01"),
            "updated in place, not duplicated"
        );
        // The subnet's other children are untouched.
        assert!(
            s.contains("<prefix>100.64.0.0/24</prefix>") && s.contains("100.64.0.10"),
            "{s}"
        );
    }

    #[test]
    fn merge_into_an_empty_tree_equals_a_create_of_the_whole_document() {
        let body = format!(
            "<dhcpv4><valid-lifetime>100</valid-lifetime><subnet><id>1</id><prefix>100.64.0.0/16</prefix>{}</subnet></dhcpv4>",
            reservations(0..300, "", 1)
        );
        let mut merged = tree(&format!("<server {NS}/>"));
        edit(
            &mut merged,
            &format!("<server {NS}>{body}</server>"),
            Operation::Merge,
        )
        .unwrap();
        let mut created = DataTree::new(yang::context().unwrap());
        edit(
            &mut created,
            &format!(r#"<server {NS} nc:operation="create">{body}</server>"#),
            Operation::Merge,
        )
        .unwrap();
        assert_eq!(xml(&merged), xml(&created));
    }

    #[test]
    fn create_replace_delete_and_remove_on_many_entries() {
        let mut t = base();
        edit(
            &mut t,
            &in_subnet1(&reservations(0..1000, r#" nc:operation="create""#, 1)),
            Operation::Merge,
        )
        .unwrap();
        assert_eq!(count(&t, "<reservation>"), 1000);
        let err = edit(
            &mut t,
            &in_subnet1(&reservations(999..1001, r#" nc:operation="create""#, 1)),
            Operation::Merge,
        )
        .unwrap_err();
        assert!(
            matches!(&err[0], EditError::DataExists { path } if path.contains("reservation[ip-address='100.64.3.231']")),
            "{err:?}"
        );
        edit(
            &mut t,
            &in_subnet1(&reservations(0..500, r#" nc:operation="replace""#, 7)),
            Operation::Merge,
        )
        .unwrap();
        let s = xml(&t);
        assert_eq!(s.matches("<reservation>").count(), 1000);
        assert!(
            s.contains("02:00:00:01:f3:07") && !s.contains("02:00:00:01:f3:01"),
            "replaced"
        );
        assert!(
            s.contains("02:00:00:01:f4:01"),
            "entries not named are kept"
        );
        let keys = |r: std::ops::Range<u32>, op: &str| -> String {
            r.map(|i| format!(r#"<reservation nc:operation="{op}"><ip-address>100.64.{}.{}</ip-address></reservation>"#, i / 256, i % 256))
                .collect()
        };
        edit(
            &mut t,
            &in_subnet1(&keys(0..600, "delete")),
            Operation::Merge,
        )
        .unwrap();
        assert_eq!(count(&t, "<reservation>"), 400);
        let err = edit(&mut t, &in_subnet1(&keys(0..1, "delete")), Operation::Merge).unwrap_err();
        assert!(
            matches!(&err[0], EditError::DataMissing { path } if path.contains("100.64.0.0")),
            "{err:?}"
        );
        edit(
            &mut t,
            &in_subnet1(&keys(0..1000, "remove")),
            Operation::Merge,
        )
        .unwrap();
        assert_eq!(count(&t, "<reservation>"), 0);
        assert!(xml(&t).contains("<prefix>100.64.0.0/24</prefix>"));
    }

    #[test]
    fn a_new_entry_keeps_the_operations_inside_it() {
        let mut t = base();
        edit(
            &mut t,
            &format!(r#"<server {NS}><dhcpv4><subnet><id>5</id><prefix>100.64.5.0/24</prefix><description nc:operation="remove">x</description><pool nc:operation="create"><start>100.64.5.10</start><end>100.64.5.20</end></pool></subnet></dhcpv4></server>"#),
            Operation::Merge,
        )
        .unwrap();
        let s = xml(&t);
        assert!(
            s.contains("<id>5</id><prefix>100.64.5.0/24</prefix>"),
            "{s}"
        );
        assert!(
            s.contains("100.64.5.10") && !s.contains("<description>"),
            "{s}"
        );
        // A delete inside a new entry names something that does not exist.
        let err = edit(
            &mut t,
            &format!(r#"<server {NS}><dhcpv4><subnet><id>6</id><prefix>100.64.6.0/24</prefix><pool nc:operation="delete"><start>100.64.6.1</start><end>100.64.6.2</end></pool></subnet></dhcpv4></server>"#),
            Operation::Merge,
        )
        .unwrap_err();
        assert!(matches!(&err[0], EditError::DataMissing { .. }), "{err:?}");
    }

    #[test]
    fn default_operation_none_refuses_a_missing_entry() {
        let mut t = base();
        let err = edit(
            &mut t,
            &format!(r#"<server {NS}><dhcpv4><subnet><id>9</id><prefix>100.64.9.0/24</prefix></subnet></dhcpv4></server>"#),
            Operation::None,
        )
        .unwrap_err();
        assert!(
            matches!(&err[0], EditError::DataMissing { path } if path.contains("subnet[id='9']")),
            "{err:?}"
        );
        assert!(!xml(&t).contains("100.64.9.0"));
    }

    #[test]
    fn continue_on_error_applies_the_rest() {
        let ctx = yang::context().unwrap();
        let mut t = base();
        let e = parse_edit(
            ctx,
            &format!(r#"<server {NS}><dhcpv4><subnet nc:operation="delete"><id>7</id></subnet><valid-lifetime>300</valid-lifetime></dhcpv4></server>"#),
        )
        .unwrap()
        .unwrap();
        let errs = apply(&mut t, &e, Operation::Merge, true).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(xml(&t).contains("<valid-lifetime>300</valid-lifetime>"));
    }
}
