//! Prints the nodes a filter selected, with their ancestors and the ancestors' list keys, as
//! XML straight from the tree they are in: what copying the selection into a new tree and
//! printing that would give, without the copy.
//!
//! A filtered read of thousands of list entries spent most of its time copying them (with
//! their ancestors, merged into the result), printing the copy and freeing it. Here the
//! nodes are written once. The cases that need more than element names and canonical values
//! (identity and instance-identifier values, which carry namespace prefixes; metadata; opaque
//! and any-data nodes; a selection not in document order) are refused, and the caller falls
//! back to the copy.

use std::collections::HashSet;
use std::ffi::CStr;
use std::fmt::Write;
use std::ptr;

use libyang5_sys as ffi;
use yang5::data::DataNodeRef;

/// Which default nodes the output holds (RFC 6243 modes that need no attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defaults {
    /// `explicit`: nodes created by a client, default or not.
    Explicit,
    /// `trim`: no node whose value is its default.
    Trim,
    /// `report-all`: every node.
    ReportAll,
}

impl Defaults {
    fn printer_flags(self) -> u32 {
        match self {
            Defaults::Explicit => ffi::LYD_PRINT_WD_EXPLICIT,
            Defaults::Trim => ffi::LYD_PRINT_WD_TRIM,
            Defaults::ReportAll => ffi::LYD_PRINT_WD_ALL,
        }
    }
}

/// `nodes` (in document order, as an XPath evaluation returns them) as XML siblings: each
/// under copies of its ancestors, a list ancestor with its keys, nodes of one parent under
/// one copy of it. A node inside one printed before it is not printed again. `None` when the
/// selection holds something this printer does not write (see the module comment).
pub fn print_selected_xml<'a>(
    nodes: impl IntoIterator<Item = DataNodeRef<'a>>,
    defaults: Defaults,
) -> Option<String> {
    let mut printer = Printer {
        out: String::new(),
        flags: defaults.printer_flags(),
        open: Vec::new(),
        closed: HashSet::new(),
    };
    let mut last_printed: *mut ffi::lyd_node = ptr::null_mut();
    for node in nodes {
        let raw = node.as_raw();
        if raw.is_null() || is_inside(raw, last_printed) {
            continue;
        }
        // SAFETY: `raw` is a live node of the tree `node` borrows, and so are its ancestors.
        unsafe {
            if (*raw).schema.is_null() {
                return None;
            }
            if ffi::lyd_node_should_print(raw, printer.flags) == 0 {
                continue;
            }
            if printer.open.contains(&raw) || printer.closed.contains(&raw) {
                // An ancestor after its descendants: not document order.
                return None;
            }
            printer.open_ancestors_of(raw)?;
            // A key of the list entry just opened is printed with it.
            let parent = (*raw).parent;
            if !parent.is_null() && u32::from((*(*raw).schema).flags) & ffi::LYS_KEY != 0 {
                continue;
            }
            printer.node(raw)?;
        }
        last_printed = raw;
    }
    printer.close_to(0);
    Some(printer.out)
}

// Whether `node` is `ancestor` or below it.
fn is_inside(node: *mut ffi::lyd_node, ancestor: *mut ffi::lyd_node) -> bool {
    if ancestor.is_null() {
        return false;
    }
    let mut n = node;
    while !n.is_null() {
        if n == ancestor {
            return true;
        }
        // SAFETY: `n` is a live node; its parent pointer is null or a live node.
        n = unsafe { (*n).parent };
    }
    false
}

// Whether `node` carries metadata an XML printer writes (libyang's internal bookkeeping, such
// as the sorted-list index of a list entry, is not written).
fn has_printed_metadata(node: *mut ffi::lyd_node) -> bool {
    // SAFETY: `node` is a live node; its metadata list is null-terminated and lives with it.
    unsafe {
        let mut meta = (*node).meta;
        while !meta.is_null() {
            if ffi::lyd_metadata_should_print(meta) != 0 {
                return true;
            }
            meta = (*meta).next;
        }
    }
    false
}

struct Printer {
    out: String,
    flags: u32,
    /// The ancestors whose start tags are written and end tags not yet, outermost first.
    open: Vec<*mut ffi::lyd_node>,
    /// Ancestors opened and closed again: opening one twice would write its entry twice.
    closed: HashSet<*mut ffi::lyd_node>,
}

impl Printer {
    /// Writes end tags down to `depth` open ancestors.
    fn close_to(&mut self, depth: usize) {
        while self.open.len() > depth {
            let Some(n) = self.open.pop() else { break };
            self.end_tag(n);
            self.closed.insert(n);
        }
    }

    /// Makes the open ancestors exactly those of `node`, writing start tags (and the keys of
    /// list entries) for the new ones.
    fn open_ancestors_of(&mut self, node: *mut ffi::lyd_node) -> Option<()> {
        // SAFETY: every node reached here belongs to the tree the selection borrows for
        // the whole print, and libyang keeps its schema, module and parent pointers valid.
        unsafe {
            let mut chain = Vec::new();
            let mut p = (*node).parent;
            while !p.is_null() {
                chain.push(p);
                p = (*p).parent;
            }
            chain.reverse();
            let common = self
                .open
                .iter()
                .zip(&chain)
                .take_while(|(a, b)| a == b)
                .count();
            self.close_to(common);
            for &a in &chain[common..] {
                if (*a).schema.is_null() || has_printed_metadata(a) || self.closed.contains(&a) {
                    return None;
                }
                self.start_tag(a);
                self.out.push('>');
                if u32::from((*(*a).schema).nodetype) == ffi::LYS_LIST {
                    let mut child = crate::tree::first_child_raw(a);
                    while !child.is_null()
                        && !(*child).schema.is_null()
                        && u32::from((*(*child).schema).flags) & ffi::LYS_KEY != 0
                    {
                        self.node(child)?;
                        child = (*child).next;
                    }
                }
                self.open.push(a);
            }
            Some(())
        }
    }

    /// Writes `node` and what it holds, as libyang's XML printer would.
    fn node(&mut self, node: *mut ffi::lyd_node) -> Option<()> {
        // SAFETY: every node reached here belongs to the tree the selection borrows for
        // the whole print, and libyang keeps its schema, module and parent pointers valid.
        unsafe {
            let schema = (*node).schema;
            if schema.is_null() || has_printed_metadata(node) {
                return None;
            }
            match u32::from((*schema).nodetype) {
                ffi::LYS_CONTAINER | ffi::LYS_LIST => {
                    self.start_tag(node);
                    let mut child = crate::tree::first_child_raw(node);
                    while !child.is_null() && ffi::lyd_node_should_print(child, self.flags) == 0 {
                        child = (*child).next;
                    }
                    if child.is_null() {
                        self.out.push_str("/>");
                        return Some(());
                    }
                    self.out.push('>');
                    while !child.is_null() {
                        if ffi::lyd_node_should_print(child, self.flags) != 0 {
                            self.node(child)?;
                        }
                        child = (*child).next;
                    }
                    self.end_tag(node);
                }
                ffi::LYS_LEAF | ffi::LYS_LEAFLIST => {
                    let term = node as *mut ffi::lyd_node_term;
                    let value = &(*term).value;
                    let mut realtype = value.realtype;
                    if !realtype.is_null()
                        && (*realtype).basetype == ffi::LY_DATA_TYPE::LY_TYPE_UNION
                    {
                        let sub = value.__bindgen_anon_1.subvalue;
                        if sub.is_null() {
                            return None;
                        }
                        realtype = (*sub).value.realtype;
                    }
                    if realtype.is_null() {
                        return None;
                    }
                    match (*realtype).basetype {
                        ffi::LY_DATA_TYPE::LY_TYPE_IDENT | ffi::LY_DATA_TYPE::LY_TYPE_INST => {
                            return None
                        }
                        _ => {}
                    }
                    let ctx = (*(*schema).module).ctx;
                    let text = ffi::lyd_value_get_canonical(ctx, value);
                    self.start_tag(node);
                    if text.is_null() || *text == 0 {
                        self.out.push_str("/>");
                    } else {
                        self.out.push('>');
                        escape_into(CStr::from_ptr(text).to_bytes(), false, &mut self.out);
                        self.end_tag(node);
                    }
                }
                _ => return None,
            }
            Some(())
        }
    }

    /// `<name` with the module's namespace where it differs from the parent's.
    fn start_tag(&mut self, node: *mut ffi::lyd_node) {
        // SAFETY: every node reached here belongs to the tree the selection borrows for
        // the whole print, and libyang keeps its schema, module and parent pointers valid.
        unsafe {
            let schema = (*node).schema;
            self.out.push('<');
            self.out
                .push_str(&CStr::from_ptr((*schema).name).to_string_lossy());
            let parent = (*node).parent;
            let module = (*schema).module;
            if parent.is_null()
                || (*parent).schema.is_null()
                || (*(*parent).schema).module != module
            {
                let ns = CStr::from_ptr((*module).ns).to_string_lossy();
                let _ = write!(self.out, " xmlns=\"");
                escape_into(ns.as_bytes(), true, &mut self.out);
                self.out.push('"');
            }
        }
    }

    fn end_tag(&mut self, node: *mut ffi::lyd_node) {
        // SAFETY: every node reached here belongs to the tree the selection borrows for
        // the whole print, and libyang keeps its schema, module and parent pointers valid.
        unsafe {
            self.out.push_str("</");
            self.out
                .push_str(&CStr::from_ptr((*(*node).schema).name).to_string_lossy());
            self.out.push('>');
        }
    }
}

/// XML escaping as libyang's printer does it: `&`, `<`, `>`, and `"` in attribute values.
fn escape_into(text: &[u8], attribute: bool, out: &mut String) {
    let text = String::from_utf8_lossy(text);
    let mut rest: &str = &text;
    while let Some(i) = rest.find(|c| matches!(c, '&' | '<' | '>') || (attribute && c == '"')) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            _ => "&quot;",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}
