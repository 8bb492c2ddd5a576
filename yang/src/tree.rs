//! Node-level operations the yang5 bindings lack, for edits and selections touching many list
//! entries: finding a node's counterpart among one parent's children by hash (instead of
//! printing and resolving a path from the root for each), and copying a subtree straight
//! under a parent (instead of copying it with its ancestors and merging).
//!
//! Nodes of a tree being changed are named by [`Node`], an address that stays valid while the
//! node is in its tree; the functions that change a tree take it mutably.

use std::ffi::CString;
use std::ptr::{self, NonNull};

use libyang5_sys as ffi;
use yang5::data::{Data, DataNodeRef, DataTree};
use yang5::utils::Binding;

/// A node of a tree, by address. Valid until that node is removed or its tree dropped: use it
/// only with the tree it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node(NonNull<ffi::lyd_node>);

impl Node {
    /// The node `n` refers to.
    pub fn of(n: &DataNodeRef<'_>) -> Option<Node> {
        NonNull::new(n.as_raw()).map(Node)
    }

    /// The node as a reference into `tree`, which must be the tree it belongs to.
    pub fn get<'a>(self, tree: &'a DataTree<'a>) -> DataNodeRef<'a> {
        // SAFETY: the handle names a live node of `tree` (the type's contract).
        unsafe { DataNodeRef::from_raw(tree, self.0.as_ptr()) }
    }
}

/// How [`copy_under`] copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyOptions {
    /// The whole subtree; otherwise the node alone (with its keys, for a list entry).
    pub recursive: bool,
    /// Keep the node flags (e.g. "default") as they are in the source.
    pub with_flags: bool,
    /// Leave out metadata (e.g. an edit's `nc:operation`).
    pub without_meta: bool,
}

// The first child of an inner node; null for terms, opaque nodes are not inner here.
pub(crate) fn first_child_raw(node: *mut ffi::lyd_node) -> *mut ffi::lyd_node {
    // SAFETY: `node` is a live node; its schema (when not opaque) outlives it, and the cast to
    // an inner node is valid for exactly the node types matched.
    unsafe {
        let schema = (*node).schema;
        if schema.is_null() {
            return (*(node as *mut ffi::lyd_node_opaq)).child;
        }
        match u32::from((*schema).nodetype) {
            ffi::LYS_CONTAINER
            | ffi::LYS_LIST
            | ffi::LYS_RPC
            | ffi::LYS_ACTION
            | ffi::LYS_NOTIF => (*(node as *mut ffi::lyd_node_inner)).child,
            _ => ptr::null_mut(),
        }
    }
}

fn siblings_of(tree: &DataTree<'_>, parent: Option<Node>) -> *mut ffi::lyd_node {
    match parent {
        Some(p) => first_child_raw(p.0.as_ptr()),
        None => tree.reference().map_or(ptr::null_mut(), |r| r.as_raw()),
    }
}

/// The instance of `like` (a node of another tree of the same context) among the children of
/// `parent` in `tree` (its top-level nodes when `None`): same schema node, and the same keys
/// for a list entry, the same value for a leaf-list value (a leaf's value may differ). A hash
/// lookup when the parent has enough children to have a hash table.
pub fn find_child(
    tree: &DataTree<'_>,
    parent: Option<Node>,
    like: &DataNodeRef<'_>,
) -> Option<Node> {
    let siblings = siblings_of(tree, parent);
    if siblings.is_null() || like.as_raw().is_null() {
        return None;
    }
    let mut found = ptr::null_mut();
    // SAFETY: both nodes are live and of the same context; `found` receives a node of `tree`.
    // A single-instance node (leaf, container, anydata) is found by its schema node alone:
    // lyd_find_sibling_first would also compare a leaf's value where no hash table is built.
    let rc = unsafe {
        let schema = (*like.as_raw()).schema;
        if schema.is_null() {
            return None;
        }
        let single = ffi::LYS_LEAF | ffi::LYS_CONTAINER | ffi::LYS_ANYDATA | ffi::LYS_ANYXML;
        if u32::from((*schema).nodetype) & single != 0 {
            ffi::lyd_find_sibling_val(siblings, schema, ptr::null(), 0, &mut found)
        } else {
            ffi::lyd_find_sibling_first(siblings, like.as_raw(), &mut found)
        }
    };
    if rc == ffi::LY_ERR::LY_SUCCESS {
        NonNull::new(found).map(Node)
    } else {
        None
    }
}

/// The node of `tree` at the place `source` (a node of another tree) has in its own: each
/// ancestor found by [`find_child`] from the top.
pub fn counterpart(tree: &DataTree<'_>, source: &DataNodeRef<'_>) -> Option<Node> {
    let mut chain: Vec<DataNodeRef<'_>> = source.inclusive_ancestors().collect();
    chain.reverse();
    let mut at: Option<Node> = None;
    for step in &chain {
        at = Some(find_child(tree, at, step)?);
    }
    at
}

/// Copies `source` (a node of another tree of the same context) as a child of `parent` in
/// `tree`, at the place its schema gives it. Returns the copy.
pub fn copy_under(
    tree: &mut DataTree<'_>,
    parent: Node,
    source: &DataNodeRef<'_>,
    options: CopyOptions,
) -> Result<Node, yang5::Error> {
    let mut flags = 0;
    if options.recursive {
        flags |= ffi::LYD_DUP_RECURSIVE;
    }
    if options.with_flags {
        flags |= ffi::LYD_DUP_WITH_FLAGS;
    }
    if options.without_meta {
        flags |= ffi::LYD_DUP_NO_META;
    }
    let mut dup = ptr::null_mut();
    // SAFETY: `source` is live; `parent` is an inner node of `tree`, which we hold mutably, so
    // inserting under it cannot race a reader.
    let rc = unsafe { ffi::lyd_dup_single(source.as_raw(), parent.0.as_ptr(), flags, &mut dup) };
    match NonNull::new(dup) {
        Some(d) if rc == ffi::LY_ERR::LY_SUCCESS => Ok(Node(d)),
        _ => Err(yang5::Error::new(tree.context())),
    }
}

/// Removes `node` and its subtree from `tree`. Top-level nodes are refused (`false`): the tree
/// keeps the address of its first one; remove those by path.
pub fn remove(_tree: &mut DataTree<'_>, node: Node) -> bool {
    // SAFETY: `node` is a live node of the tree we hold mutably.
    unsafe {
        if (*node.0.as_ptr()).parent.is_null() {
            return false;
        }
        ffi::lyd_free_tree(node.0.as_ptr());
    }
    true
}

/// Sets a leaf's value (canonical form), which also makes it explicitly set.
pub fn set_value(tree: &mut DataTree<'_>, node: Node, value: &str) -> Result<(), yang5::Error> {
    let Ok(value) = CString::new(value) else {
        return Err(yang5::Error {
            msg: Some("value contains a NUL character".into()),
            ..Default::default()
        });
    };
    // SAFETY: `node` is a live term node of the tree we hold mutably.
    let rc = unsafe { ffi::lyd_change_term(node.0.as_ptr(), value.as_ptr()) };
    match rc {
        ffi::LY_ERR::LY_SUCCESS | ffi::LY_ERR::LY_EEXIST | ffi::LY_ERR::LY_ENOT => Ok(()),
        _ => Err(yang5::Error::new(tree.context())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yang5::data::{DataFormat, DataParserFlags, DataPrinterFlags, DataValidationFlags};
    use yang5::iter::NodeIterable;

    const NS: &str = "urn:netdhcp:yang:netdhcp-server";

    fn parse(xml: &str) -> DataTree<'static> {
        DataTree::parse_string(
            crate::context().unwrap(),
            xml,
            DataFormat::XML,
            DataParserFlags::NO_VALIDATION,
            DataValidationFlags::empty(),
        )
        .unwrap()
    }

    fn print(t: &DataTree<'_>) -> String {
        crate::data::print(
            t,
            DataFormat::XML,
            DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::SHRINK,
        )
    }

    fn subnets(entries: &str) -> String {
        format!(
            r#"<server xmlns="{NS}"><dhcpv4><subnet><id>1</id><prefix>100.64.0.0/16</prefix>{entries}</subnet></dhcpv4></server>"#
        )
    }

    fn reservation(ip: &str) -> String {
        format!("<reservation><ip-address>{ip}</ip-address></reservation>")
    }

    #[test]
    fn finds_list_entries_by_key_and_copies_under_a_parent() {
        let mut target = parse(&subnets(&reservation("100.64.0.5")));
        let source = parse(&subnets(
            &(reservation("100.64.0.5") + &reservation("100.64.0.6")),
        ));
        let src_subnet = source
            .find_path("/netdhcp-server:server/dhcpv4/subnet[id='1']")
            .unwrap();
        let subnet = counterpart(&target, &src_subnet).unwrap();
        let entries: Vec<_> = src_subnet
            .children()
            .filter(|c| c.schema().name() == "reservation")
            .collect();
        assert!(find_child(&target, Some(subnet), &entries[0]).is_some());
        assert!(find_child(&target, Some(subnet), &entries[1]).is_none());
        let opts = CopyOptions {
            recursive: true,
            with_flags: false,
            without_meta: true,
        };
        let copy = copy_under(&mut target, subnet, &entries[1], opts).unwrap();
        assert_eq!(find_child(&target, Some(subnet), &entries[1]), Some(copy));
        assert!(print(&target).contains("100.64.0.6"), "{}", print(&target));
        let first = find_child(&target, Some(subnet), &entries[0]).unwrap();
        assert!(remove(&mut target, first));
        assert!(!print(&target).contains("100.64.0.5"), "{}", print(&target));
        let top = target.reference().and_then(|r| Node::of(&r)).unwrap();
        assert!(
            !remove(&mut target, top),
            "top-level nodes are removed by path"
        );
    }

    #[test]
    fn finds_a_leaf_whatever_its_value() {
        let target = parse(&subnets(""));
        let source = parse(&format!(
            r#"<server xmlns="{NS}"><dhcpv4><subnet><id>1</id><prefix>100.99.0.0/16</prefix></subnet></dhcpv4></server>"#
        ));
        let prefix = source
            .find_path("/netdhcp-server:server/dhcpv4/subnet[id='1']/prefix")
            .unwrap();
        let subnet = counterpart(&target, &prefix.parent().unwrap()).unwrap();
        let found = find_child(&target, Some(subnet), &prefix).unwrap();
        assert_eq!(
            found.get(&target).value_canonical().as_deref(),
            Some("100.64.0.0/16")
        );
    }

    #[test]
    fn sets_a_leaf_value() {
        let mut target = parse(&subnets(""));
        let prefix = target
            .find_path("/netdhcp-server:server/dhcpv4/subnet[id='1']/prefix")
            .unwrap();
        let node = Node::of(&prefix).unwrap();
        set_value(&mut target, node, "100.65.0.0/16").unwrap();
        assert!(print(&target).contains("100.65.0.0/16"));
        assert!(set_value(&mut target, node, "not a prefix").is_err());
    }
}
