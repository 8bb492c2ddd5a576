//! Answering `<get-data>` (RFC 8526 section 3.1.1) from the tree of one datastore: the content
//! filter, `config-filter`, `max-depth`, with-defaults, and the `<data>` element of the nmda
//! namespace around the result.
//!
//! The caller builds the datastore's tree (for operational: running plus every state source)
//! and prunes what access control hides before calling [`answer`], so no filter here can
//! reveal a hidden node.

use std::collections::HashSet;

use netconf::error::RpcError;
use netconf::rpc::{Filter, GetData, NS_NMDA};
use yang::yang5::context::Context;
use yang::yang5::data::{Data, DataFormat, DataNodeRef, DataPrinterFlags, DataTree};
use yang::yang5::iter::NodeIterable;

use super::datastore::{print_with_defaults, with_defaults_flag};
use super::error::from_filter;
use super::filter::{self, FilterError};

/// A node's identity inside one tree, for the sets below (the tree outlives them, unchanged
/// until the removals, which happen after the sets are used).
type NodeId = *mut yang::yang5::ffi::lyd_node;

/// The `<data>` reply of `request` over `source`, the already readable tree of its datastore.
/// `holds_state` says whether the datastore has `config false` nodes (only operational does):
/// `config-filter false` on any other datastore selects nothing.
pub fn answer<'a>(
    ctx: &'a Context,
    source: &DataTree<'a>,
    request: &GetData,
    holds_state: bool,
) -> Result<String, RpcError> {
    if request.config_filter == Some(false) && !holds_state {
        return Ok(wrap(String::new()));
    }
    let whole_datastore = request.filter.is_none()
        && request.max_depth.is_none()
        && (request.config_filter.is_none()
            || (request.config_filter == Some(true) && !holds_state));
    if whole_datastore {
        // Nothing to take out: printed as it is, without a copy.
        return Ok(wrap(print(source, request)));
    }
    let mut selected = filter::select(ctx, source, request.filter.as_ref()).map_err(from_filter)?;
    match request.config_filter {
        Some(true) => keep_config(&mut selected),
        Some(false) => keep_state(&mut selected),
        None => {}
    }
    if let Some(depth) = request.max_depth {
        let roots = selected_nodes(ctx, &selected, request.filter.as_ref()).map_err(from_filter)?;
        cut_below(&mut selected, &roots, depth);
    }
    Ok(wrap(print(&selected, request)))
}

/// The selected tree as XML under the request's with-defaults mode. With `max-depth`, the
/// containers the cut emptied are still printed: they show where the tree goes on.
fn print(tree: &DataTree<'_>, request: &GetData) -> String {
    if request.max_depth.is_none() {
        return print_with_defaults(tree, request.with_defaults);
    }
    let mode = with_defaults_flag(request.with_defaults);
    yang::data::print(
        tree,
        DataFormat::XML,
        DataPrinterFlags::WITH_SIBLINGS
            | DataPrinterFlags::SHRINK
            | DataPrinterFlags::KEEP_EMPTY_CONT
            | mode,
    )
}

/// `<data xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-nmda">`, the output of get-data
/// (an empty container when nothing was selected, RFC 8526 section 3.1.1).
fn wrap(content: String) -> String {
    if content.trim().is_empty() {
        format!("<data xmlns=\"{NS_NMDA}\"/>")
    } else {
        format!("<data xmlns=\"{NS_NMDA}\">{content}</data>")
    }
}

/// Removes the given subtrees, deepest last in document order first so positional paths of
/// keyless list entries stay valid while their later siblings go.
fn remove_all(tree: &mut DataTree<'_>, paths: &[String]) {
    for path in paths.iter().rev() {
        if let Err(e) = tree.remove(path) {
            tracing::error!(path = %path, error = %e, "cannot leave a node out of a get-data reply");
        }
    }
}

/// Paths of the nodes to remove: the first node of each branch `drop` refuses (its
/// descendants go with it).
fn frontier(tree: &DataTree<'_>, mut drop: impl FnMut(&DataNodeRef<'_>) -> bool) -> Vec<String> {
    let mut removed: Vec<String> = Vec::new();
    for node in tree.traverse() {
        let path = node.path();
        if removed
            .last()
            .is_some_and(|r| path.starts_with(r.as_str()) && path[r.len()..].starts_with('/'))
        {
            continue;
        }
        if drop(&node) {
            removed.push(path);
        }
    }
    removed
}

/// `config-filter true`: every `config false` subtree goes.
fn keep_config(tree: &mut DataTree<'_>) {
    let paths = frontier(tree, |n| !n.schema().is_config());
    remove_all(tree, &paths);
}

/// `config-filter false`: `config false` nodes stay with the ancestors that hold them and the
/// keys of those ancestors that are list entries; every other configuration node goes.
fn keep_state(tree: &mut DataTree<'_>) {
    let mut holders: HashSet<NodeId> = HashSet::new();
    for node in tree.traverse() {
        if node.schema().is_config() {
            continue;
        }
        for ancestor in node.ancestors() {
            if !holders.insert(ancestor.as_raw()) {
                break;
            }
        }
    }
    let paths = frontier(tree, |n| {
        if !n.schema().is_config() || holders.contains(&n.as_raw()) {
            return false;
        }
        let key_of_holder =
            n.schema().is_list_key() && n.parent().is_some_and(|p| holders.contains(&p.as_raw()));
        !key_of_holder
    });
    remove_all(tree, &paths);
}

/// The nodes the content filter selected in `tree` (the filter's result): the matches of its
/// expressions, or every top-level node when there is no filter.
fn selected_nodes(
    ctx: &Context,
    tree: &DataTree<'_>,
    filter: Option<&Filter>,
) -> Result<HashSet<NodeId>, FilterError> {
    let xpaths = match filter {
        None => {
            return Ok(tree
                .traverse()
                .filter(|n| n.parent().is_none())
                .map(|n| n.as_raw())
                .collect())
        }
        Some(Filter::Subtree(xml)) if xml.trim().is_empty() => return Ok(HashSet::new()),
        Some(Filter::Subtree(xml)) => filter::subtree_to_xpaths(ctx, xml)?,
        Some(Filter::XPath { select, namespaces }) => {
            vec![filter::xpath_to_module_prefixes(ctx, select, namespaces)?]
        }
    };
    let mut found = HashSet::new();
    for xp in xpaths {
        let set = tree.find_xpath(&xp).map_err(|e| FilterError::XPath {
            expr: xp.clone(),
            message: e.msg.unwrap_or_default(),
        })?;
        found.extend(set.map(|n| n.as_raw()));
    }
    Ok(found)
}

/// `max-depth`: below each selected node, `depth` levels are kept, the selected node being
/// the first (1 keeps the selected nodes without children). The keys of a list entry kept
/// at the last level stay, since an entry is not identifiable without them. Ancestors of
/// selected nodes always stay.
fn cut_below(tree: &mut DataTree<'_>, selected: &HashSet<NodeId>, depth: u16) {
    let depth = usize::from(depth);
    let paths = frontier(tree, |n| {
        // Levels from the nearest selected inclusive ancestor; none means `n` is an ancestor
        // of a selected node, kept.
        let Some(level) = n
            .inclusive_ancestors()
            .position(|a| selected.contains(&a.as_raw()))
        else {
            return false;
        };
        // `level` counts from 0 at the selected node.
        if level < depth {
            return false;
        }
        let key_of_last_level = level == depth && n.schema().is_list_key();
        !key_of_last_level
    });
    remove_all(tree, &paths);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use netconf::rpc::{Datastore, NmdaDatastore};
    use yang::yang5::data::{DataParserFlags, DataValidationFlags};

    const NACM: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm";

    fn tree(ctx: &'static Context) -> DataTree<'static> {
        let xml = format!(
            r#"<nacm xmlns="{NACM}"><enable-nacm>true</enable-nacm><denied-operations>3</denied-operations><groups><group><name>ops</name><user-name>ann</user-name></group></groups></nacm>"#
        );
        DataTree::parse_string(
            ctx,
            &xml,
            DataFormat::XML,
            DataParserFlags::NO_VALIDATION,
            DataValidationFlags::empty(),
        )
        .unwrap()
    }

    fn request(
        filter: Option<Filter>,
        config_filter: Option<bool>,
        max_depth: Option<u16>,
    ) -> GetData {
        GetData {
            datastore: NmdaDatastore::Operational,
            filter,
            config_filter,
            max_depth,
            with_defaults: None,
        }
    }

    #[test]
    fn config_filter_splits_config_from_state() {
        let ctx = yang::context().unwrap();
        let t = tree(ctx);
        let all = answer(ctx, &t, &request(None, None, None), true).unwrap();
        assert!(
            all.starts_with(&format!("<data xmlns=\"{NS_NMDA}\">")),
            "{all}"
        );
        assert!(
            all.contains("<denied-operations>3</denied-operations>"),
            "{all}"
        );
        assert!(all.contains("<user-name>ann</user-name>"), "{all}");

        let state = answer(ctx, &t, &request(None, Some(false), None), true).unwrap();
        assert!(
            state.contains("<denied-operations>3</denied-operations>"),
            "{state}"
        );
        assert!(!state.contains("enable-nacm"), "{state}");
        assert!(!state.contains("groups"), "{state}");

        let config = answer(ctx, &t, &request(None, Some(true), None), true).unwrap();
        assert!(!config.contains("denied-operations"), "{config}");
        assert!(config.contains("<user-name>ann</user-name>"), "{config}");

        // A conventional datastore has no state: config-filter false selects nothing.
        let mut conventional = request(None, Some(false), None);
        conventional.datastore = NmdaDatastore::Conventional(Datastore::Running);
        assert_eq!(
            answer(ctx, &t, &conventional, false).unwrap(),
            format!("<data xmlns=\"{NS_NMDA}\"/>")
        );
    }

    #[test]
    fn max_depth_counts_from_the_selected_nodes_and_keeps_keys() {
        let ctx = yang::context().unwrap();
        let t = tree(ctx);
        let one = answer(ctx, &t, &request(None, None, Some(1)), true).unwrap();
        assert_eq!(
            one,
            format!("<data xmlns=\"{NS_NMDA}\"><nacm xmlns=\"{NACM}\"/></data>")
        );
        let two = answer(ctx, &t, &request(None, None, Some(2)), true).unwrap();
        assert!(
            two.contains("<denied-operations>3</denied-operations>"),
            "{two}"
        );
        assert!(two.contains("<groups/>"), "{two}");
        // The group entry at the last level keeps its key only.
        let filter = Filter::Subtree(format!(r#"<nacm xmlns="{NACM}"><groups/></nacm>"#));
        let groups = answer(ctx, &t, &request(Some(filter), None, Some(2)), true).unwrap();
        assert!(
            groups.contains("<group><name>ops</name></group>"),
            "{groups}"
        );
        assert!(!groups.contains("user-name"), "{groups}");
        assert!(!groups.contains("denied-operations"), "{groups}");
    }
}
