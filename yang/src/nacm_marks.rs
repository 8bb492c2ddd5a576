//! The schema nodes the implemented modules mark with ietf-netconf-acm's `default-deny-all`
//! and `default-deny-write` extensions (RFC 8341 section 3.2): what access control protects
//! when no rule decides. Read from the compiled schema, so a module that marks a node is
//! enough to protect it.

use std::ffi::CStr;
use std::os::raw::c_char;
use std::sync::OnceLock;

use yang5::context::Context;
use yang5::schema::{SchemaNode, SchemaNodeKind};

use crate::ContextError;

/// The module that defines the extensions.
pub const NACM_MODULE: &str = "ietf-netconf-acm";

/// Which of the two extensions marks a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NacmMark {
    /// `default-deny-all`: no read, write or exec unless a rule permits it.
    DenyAll,
    /// `default-deny-write`: no create, update or delete unless a rule permits it.
    DenyWrite,
}

/// What kind of schema node carries a mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MarkedKind {
    /// A data node (container, list, leaf, leaf-list, anydata), of configuration or state, or
    /// inside a notification.
    Data,
    /// An rpc (a top-level path) or an action (a path through its data nodes).
    Operation,
    /// A notification, top-level or inside data nodes.
    Notification,
}

/// One step of a schema path: the module that defines the node and its name. Choices and
/// cases are not steps (they have no instance).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SchemaStep {
    /// Module name, e.g. `ietf-netconf-acm`.
    pub module: String,
    /// Node name.
    pub name: String,
}

/// A marked schema node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MarkedNode {
    /// Data node, operation or notification.
    pub kind: MarkedKind,
    /// Its place from the top.
    pub path: Vec<SchemaStep>,
    /// The extension (`DenyAll` when both are present).
    pub mark: NacmMark,
}

impl MarkedNode {
    /// The path as `/module:name/module:name`, for logs and tests.
    pub fn path_text(&self) -> String {
        self.path
            .iter()
            .map(|s| format!("/{}:{}", s.module, s.name))
            .collect()
    }
}

/// Every marked node of the implemented modules of `ctx`, sorted by kind and path.
pub fn marked_nodes(ctx: &Context) -> Vec<MarkedNode> {
    let mut found = Vec::new();
    for module in ctx.modules(false).filter(|m| m.is_implemented()) {
        let tops = module
            .data()
            .chain(module.rpcs())
            .chain(module.notifications());
        for node in tops {
            walk(&node, &[], Marks::default(), &mut found);
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The marked nodes of the process-wide context ([`crate::context`]), read once.
pub fn model_marks() -> Result<&'static [MarkedNode], ContextError> {
    static MARKS: OnceLock<Vec<MarkedNode>> = OnceLock::new();
    if let Some(marks) = MARKS.get() {
        return Ok(marks);
    }
    let marks = marked_nodes(crate::context()?);
    Ok(MARKS.get_or_init(|| marks))
}

/// The marks around a node while walking down.
#[derive(Debug, Clone, Copy, Default)]
struct Marks {
    /// The mark of an enclosing choice or case: they have no instance of their own, so their
    /// mark passes to their children.
    inherited: Option<NacmMark>,
    /// The strongest mark of a recorded ancestor, which already covers this node.
    covered: Option<NacmMark>,
}

fn stronger(a: Option<NacmMark>, b: Option<NacmMark>) -> Option<NacmMark> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

// Visits `node` under `parent` (the steps of its data ancestors). Only the top of a marked
// subtree is recorded: libyang's NACM plugin copies a mark onto every descendant, and a mark
// covers the descendants anyway.
fn walk(node: &SchemaNode<'_>, parent: &[SchemaStep], around: Marks, found: &mut Vec<MarkedNode>) {
    let mark = stronger(mark_of(node), around.inherited);
    let kind = match node.kind() {
        SchemaNodeKind::Choice | SchemaNodeKind::Case => {
            let inner = Marks {
                inherited: mark,
                ..around
            };
            for child in node.children() {
                walk(&child, parent, inner, found);
            }
            return;
        }
        // Parameters of an operation are not nodes access control decides on.
        SchemaNodeKind::Input | SchemaNodeKind::Output => return,
        SchemaNodeKind::Rpc | SchemaNodeKind::Action => MarkedKind::Operation,
        SchemaNodeKind::Notification => MarkedKind::Notification,
        _ => MarkedKind::Data,
    };
    let mut path = parent.to_vec();
    path.push(SchemaStep {
        module: node.module().name().to_string(),
        name: node.name().to_string(),
    });
    let new_mark = mark.filter(|m| around.covered.is_none_or(|c| *m < c));
    if let Some(mark) = new_mark {
        found.push(MarkedNode {
            kind,
            path: path.clone(),
            mark,
        });
    }
    if kind == MarkedKind::Operation {
        return;
    }
    let inner = Marks {
        inherited: None,
        covered: stronger(around.covered, new_mark),
    };
    for child in node.all_children() {
        walk(&child, &path, inner, found);
    }
}

/// The NACM extension instances of one compiled schema node.
fn mark_of(node: &SchemaNode<'_>) -> Option<NacmMark> {
    let mut mark = None;
    // SAFETY: the node belongs to a live, compiled context. `exts` is a libyang sized array
    // (its count in the u64 just before the first element, the array itself null when empty);
    // each instance's `def` and the definition's `module` are compiled structures of the same
    // context, their names NUL-terminated dictionary strings.
    unsafe {
        let exts = (*node.as_raw()).exts;
        if exts.is_null() {
            return None;
        }
        let count = (exts as *const u64).offset(-1).read() as usize;
        for i in 0..count {
            let def = (*exts.add(i)).def;
            if def.is_null() || (*def).module.is_null() {
                continue;
            }
            if text((*(*def).module).name) != Some(NACM_MODULE) {
                continue;
            }
            let this = match text((*def).name) {
                Some("default-deny-all") => NacmMark::DenyAll,
                Some("default-deny-write") => NacmMark::DenyWrite,
                _ => continue,
            };
            mark = Some(mark.map_or(this, |m: NacmMark| m.min(this)));
        }
    }
    mark
}

// A C string of the schema as UTF-8 (YANG identifiers are ASCII).
//
// SAFETY (caller): `p` is null or a NUL-terminated string living as long as the context.
unsafe fn text<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    // SAFETY: see the function's contract.
    unsafe { CStr::from_ptr(p) }.to_str().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks() -> Vec<(MarkedKind, String, NacmMark)> {
        let ctx = crate::new_context().expect("context");
        marked_nodes(&ctx)
            .into_iter()
            .map(|m| (m.kind, m.path_text(), m.mark))
            .collect()
    }

    #[test]
    fn the_access_control_tree_and_the_secrets_are_marked_and_nothing_else() {
        assert_eq!(
            marks(),
            vec![
                (
                    MarkedKind::Data,
                    "/ietf-netconf-acm:nacm".to_string(),
                    NacmMark::DenyAll
                ),
                (
                    MarkedKind::Data,
                    "/netdhcp-server:server/netdhcp-server:ha/netdhcp-server:basic-auth/netdhcp-server:password"
                        .to_string(),
                    NacmMark::DenyAll
                ),
            ]
        );
    }

    const MARKED_EXAMPLE: &str = r#"module marked-example {
  yang-version 1.1;
  namespace "urn:example:marked";
  prefix mx;
  import ietf-netconf-acm { prefix nacm; }
  container top {
    container settings {
      nacm:default-deny-write;
      leaf plain { type string; }
      leaf key { nacm:default-deny-all; type string; }
    }
    choice credential {
      nacm:default-deny-all;
      leaf token { type string; }
      case pair { leaf secret { type string; } }
    }
    list entry {
      key name;
      leaf name { type string; }
      action wipe { nacm:default-deny-all; }
    }
    leaf open { type string; }
  }
  rpc reboot { nacm:default-deny-all; input { leaf delay { type uint32; } } }
  rpc status;
  notification breach { nacm:default-deny-all; leaf who { type string; } }
}"#;

    #[test]
    fn marks_at_any_depth_through_choices_on_operations_and_notifications() {
        let ctx = crate::new_context().expect("context");
        yang5::schema::SchemaModule::parse_string(
            &ctx,
            MARKED_EXAMPLE,
            yang5::schema::SchemaInputFormat::YANG,
        )
        .expect("example module");
        let mut got: Vec<(MarkedKind, String, NacmMark)> = marked_nodes(&ctx)
            .into_iter()
            .filter(|m| m.path[0].module == "marked-example")
            .map(|m| (m.kind, m.path_text().replace("marked-example:", ""), m.mark))
            .collect();
        use MarkedKind::*;
        use NacmMark::*;
        let want = [
            (Data, "/top/settings", DenyWrite),
            // deny-all under deny-write is a stronger mark of its own.
            (Data, "/top/settings/key", DenyAll),
            // A choice and a case have no instance: their children carry the mark.
            (Data, "/top/token", DenyAll),
            (Data, "/top/secret", DenyAll),
            (Operation, "/top/entry/wipe", DenyAll),
            (Operation, "/reboot", DenyAll),
            (Notification, "/breach", DenyAll),
        ];
        let mut want: Vec<(MarkedKind, String, NacmMark)> = want
            .into_iter()
            .map(|(k, p, m)| (k, p.to_string(), m))
            .collect();
        want.sort();
        got.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn the_process_context_gives_the_same_marks() {
        let ctx = crate::new_context().expect("context");
        assert_eq!(model_marks().expect("marks"), marked_nodes(&ctx).as_slice());
    }
}
