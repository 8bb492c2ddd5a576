//! Between libyang trees and the rule engine: the `/nacm` configuration read from running,
//! the default policy, data node paths, pruning unreadable nodes and checking the nodes an edit
//! changes.

use yang::yang5::context::Context;
use yang::yang5::data::{
    Data, DataDiffFlags, DataDiffOp, DataFormat, DataNodeRef, DataParserFlags, DataTree,
    DataValidationFlags,
};
use yang::yang5::schema::SchemaNodeKind;

use std::sync::{Arc, OnceLock};

use super::rules::{
    Access, Action, NacmConfig, Name, PathPattern, ProtectedNodes, Rule, RuleList, RuleType, Step,
    Subject,
};

/// Namespace of ietf-netconf-acm.
pub const NACM_NS: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm";

/// The access control a configuration gets when it has no `/nacm` node at all: group `admin`
/// may do everything; group `operator` may read everything but `/nacm`, run get and
/// get-config, get-leases4 and get-leases6, and nothing else that changes state. The secrets
/// the model marks `default-deny-all` are hidden from the operator by `hide-secrets`: its
/// `read-all` rule is an explicit permit, which RFC 8341 lets override the marks.
pub const DEFAULT_POLICY: &str = r#"<nacm xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-acm">
<rule-list><name>admin</name><group>admin</group>
<rule><name>permit-all</name><module-name>*</module-name><access-operations>*</access-operations><action>permit</action></rule>
</rule-list>
<rule-list><name>operator</name><group>operator</group>
<rule><name>hide-access-control</name><module-name>ietf-netconf-acm</module-name><access-operations>*</access-operations><action>deny</action></rule>
<rule><name>get-leases4</name><module-name>netdhcp-server</module-name><rpc-name>get-leases4</rpc-name><access-operations>exec</access-operations><action>permit</action></rule>
<rule><name>get-leases6</name><module-name>netdhcp-server</module-name><rpc-name>get-leases6</rpc-name><access-operations>exec</access-operations><action>permit</action></rule>
<rule><name>no-other-server-rpc</name><module-name>netdhcp-server</module-name><rpc-name>*</rpc-name><access-operations>exec</access-operations><action>deny</action></rule>
<rule><name>no-edit-config</name><module-name>ietf-netconf</module-name><rpc-name>edit-config</rpc-name><access-operations>exec</access-operations><action>deny</action></rule>
<rule><name>no-copy-config</name><module-name>ietf-netconf</module-name><rpc-name>copy-config</rpc-name><access-operations>exec</access-operations><action>deny</action></rule>
<rule><name>no-commit</name><module-name>ietf-netconf</module-name><rpc-name>commit</rpc-name><access-operations>exec</access-operations><action>deny</action></rule>
<rule><name>no-cancel-commit</name><module-name>ietf-netconf</module-name><rpc-name>cancel-commit</rpc-name><access-operations>exec</access-operations><action>deny</action></rule>
<rule><name>no-discard-changes</name><module-name>ietf-netconf</module-name><rpc-name>discard-changes</rpc-name><access-operations>exec</access-operations><action>deny</action></rule>
<rule><name>no-lock</name><module-name>ietf-netconf</module-name><rpc-name>lock</rpc-name><access-operations>exec</access-operations><action>deny</action></rule>
<rule><name>hide-secrets</name><module-name>netdhcp-server</module-name><path xmlns:ndhcp="urn:netdhcp:yang:netdhcp-server">/ndhcp:server/ndhcp:ha/ndhcp:basic-auth/ndhcp:password</path><access-operations>*</access-operations><action>deny</action></rule>
<rule><name>read-all</name><module-name>*</module-name><access-operations>read</access-operations><action>permit</action></rule>
</rule-list>
</nacm>"#;

/// Whether the tree holds any explicitly set node of ietf-netconf-acm (its non-presence
/// containers and default leaves exist in every validated tree and do not count).
fn has_nacm(tree: &DataTree<'_>) -> bool {
    tree.traverse().any(|n| {
        n.schema().module().name() == "ietf-netconf-acm"
            && n.schema().kind() != SchemaNodeKind::Container
            && !n.is_default()
    })
}

/// Adds [`DEFAULT_POLICY`] to a configuration that has no `/nacm` node at all, so a new
/// installation (and a configuration written before access control existed) keeps its
/// administrators able to do everything. Returns whether it was added.
pub fn add_default_policy(ctx: &Context, tree: &mut DataTree<'_>) -> bool {
    if has_nacm(tree) {
        return false;
    }
    match DataTree::parse_string(
        ctx,
        DEFAULT_POLICY,
        DataFormat::XML,
        DataParserFlags::NO_VALIDATION,
        DataValidationFlags::empty(),
    ) {
        Ok(policy) => match tree.merge(&policy) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "cannot add the default access control policy");
                false
            }
        },
        Err(e) => {
            tracing::error!(error = %e, "the default access control policy does not fit its model");
            false
        }
    }
}

fn leaf<'a>(node: &DataNodeRef<'a>, name: &str) -> Option<String> {
    node.children()
        .find(|c| c.schema().name() == name)
        .and_then(|c| c.value_canonical())
}

fn leaves<'a>(node: &DataNodeRef<'a>, name: &str) -> Vec<String> {
    node.children()
        .filter(|c| c.schema().name() == name)
        .filter_map(|c| c.value_canonical())
        .collect()
}

/// The nodes the implemented modules mark `default-deny-all` / `default-deny-write`, read
/// from the process-wide schema once. A schema that cannot be read leaves nothing marked but
/// the RFC's ietf-netconf operations, and says so: the daemon cannot have started without it.
pub fn protected_nodes() -> Arc<ProtectedNodes> {
    static PROTECTED: OnceLock<Arc<ProtectedNodes>> = OnceLock::new();
    PROTECTED
        .get_or_init(|| match yang::nacm_marks::model_marks() {
            Ok(marks) => {
                let table = ProtectedNodes::from_marks(marks);
                tracing::debug!(
                    deny_all = ?table.deny_all_data(),
                    deny_write = ?table.deny_write_data(),
                    operations = ?table.deny_all_operations(),
                    notifications = ?table.deny_all_notifications(),
                    "nodes protected by the YANG modules"
                );
                Arc::new(table)
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the nodes the YANG modules protect");
                Arc::default()
            }
        })
        .clone()
}

/// Reads `/nacm` from a (validated, defaults-complete) configuration tree. An absent `/nacm`
/// gives the YANG defaults.
pub fn config_from_tree(tree: &DataTree<'_>) -> NacmConfig {
    let mut cfg = NacmConfig {
        protected: protected_nodes(),
        ..NacmConfig::default()
    };
    let Ok(nacm) = tree.find_path("/ietf-netconf-acm:nacm") else {
        return cfg;
    };
    let action =
        |text: Option<String>, default| text.as_deref().and_then(Action::parse).unwrap_or(default);
    cfg.enabled = leaf(&nacm, "enable-nacm").as_deref() != Some("false");
    cfg.read_default = action(leaf(&nacm, "read-default"), cfg.read_default);
    cfg.write_default = action(leaf(&nacm, "write-default"), cfg.write_default);
    cfg.exec_default = action(leaf(&nacm, "exec-default"), cfg.exec_default);
    cfg.external_groups = leaf(&nacm, "enable-external-groups").as_deref() != Some("false");
    for child in nacm.children() {
        match child.schema().name() {
            "groups" => {
                for group in child.children().filter(|g| g.schema().name() == "group") {
                    if let Some(name) = leaf(&group, "name") {
                        cfg.groups.insert(name, leaves(&group, "user-name"));
                    }
                }
            }
            "rule-list" => {
                let rules = child
                    .children()
                    .filter(|r| r.schema().name() == "rule")
                    .map(|r| rule_from(&r))
                    .collect();
                cfg.rule_lists.push(RuleList {
                    name: leaf(&child, "name").unwrap_or_default(),
                    groups: leaves(&child, "group")
                        .iter()
                        .map(|g| Name::parse(g))
                        .collect(),
                    rules,
                });
            }
            _ => {}
        }
    }
    cfg
}

fn rule_from(node: &DataNodeRef<'_>) -> Rule {
    let rule_type = if let Some(rpc) = leaf(node, "rpc-name") {
        RuleType::Rpc(Name::parse(&rpc))
    } else if let Some(n) = leaf(node, "notification-name") {
        RuleType::Notification(Name::parse(&n))
    } else if let Some(p) = leaf(node, "path") {
        RuleType::Data(PathPattern::parse(&p))
    } else {
        RuleType::Any
    };
    Rule {
        name: leaf(node, "name").unwrap_or_default(),
        module: Name::parse(leaf(node, "module-name").as_deref().unwrap_or("*")),
        rule_type,
        access: leaf(node, "access-operations")
            .map(|a| Access::parse(&a))
            .unwrap_or(Access::ALL),
        action: leaf(node, "action")
            .as_deref()
            .and_then(Action::parse)
            .unwrap_or(Action::Deny),
    }
}

/// A data node's instance path as rule engine steps.
pub fn node_path(node: &DataNodeRef<'_>) -> Vec<Step> {
    let mut steps: Vec<Step> = node
        .inclusive_ancestors()
        .map(|n| {
            let schema = n.schema();
            let keys = match schema.kind() {
                SchemaNodeKind::List => n
                    .list_keys()
                    .filter_map(|k| Some((k.schema().name().to_string(), k.value_canonical()?)))
                    .collect(),
                SchemaNodeKind::LeafList => n
                    .value_canonical()
                    .map(|v| vec![(".".to_string(), v)])
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            Step {
                module: Some(schema.module().name().to_string()),
                name: schema.name().to_string(),
                keys,
            }
        })
        .collect();
    steps.reverse();
    steps
}

/// Removes from `tree` every node `subject` may not read, with its descendants (RFC 8341
/// section 3.4.5: unreadable nodes are silently left out). Returns how many were removed.
pub fn prune_unreadable(cfg: &NacmConfig, subject: &Subject, tree: &mut DataTree<'_>) -> usize {
    match cfg.uniform_data_decision(subject, Access::READ) {
        Some(Action::Permit) => return 0,
        Some(Action::Deny) => {
            let n = tree.traverse().count();
            *tree = DataTree::new(tree.context());
            return n;
        }
        None => {}
    }
    let mut denied: Vec<String> = Vec::new();
    for node in tree.traverse() {
        let path = node.path();
        if denied
            .last()
            .is_some_and(|d| path.starts_with(d.as_str()) && path[d.len()..].starts_with('/'))
        {
            continue;
        }
        if !cfg
            .may_access_data(subject, &node_path(&node), Access::READ)
            .permitted()
        {
            denied.push(path);
        }
    }
    for path in denied.iter().rev() {
        if let Err(e) = tree.remove(path) {
            tracing::error!(path = %path, error = %e, "cannot leave out an unreadable node");
        }
    }
    denied.len()
}

/// A write access control refuses: the node's data path and the access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeniedWrite {
    /// libyang data path of the node.
    pub path: String,
    /// create, update or delete.
    pub access: Access,
}

/// Checks that `subject` may make every change that turns `before` into `after`: create for
/// each created node, delete for each deleted one, update for each changed value (RFC 8341
/// section 3.4.5). The first refused node is returned.
pub fn check_writes(
    cfg: &NacmConfig,
    subject: &Subject,
    before: &DataTree<'_>,
    after: &DataTree<'_>,
) -> Result<(), DeniedWrite> {
    for access in [Access::CREATE, Access::UPDATE, Access::DELETE] {
        if cfg.uniform_data_decision(subject, access) != Some(Action::Permit) {
            return check_each_write(cfg, subject, before, after);
        }
    }
    Ok(())
}

fn check_each_write(
    cfg: &NacmConfig,
    subject: &Subject,
    before: &DataTree<'_>,
    after: &DataTree<'_>,
) -> Result<(), DeniedWrite> {
    let diff = match before.diff(after, DataDiffFlags::empty()) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "cannot compute the changes of an edit");
            return Err(DeniedWrite {
                path: "/".into(),
                access: Access::UPDATE,
            });
        }
    };
    for (op, node) in diff.iter() {
        let (access, nodes): (Access, Vec<DataNodeRef<'_>>) = match op {
            DataDiffOp::Create => (Access::CREATE, node.traverse().collect()),
            DataDiffOp::Delete => (Access::DELETE, node.traverse().collect()),
            DataDiffOp::Replace => (Access::UPDATE, vec![node]),
        };
        for n in nodes {
            if !cfg
                .may_access_data(subject, &node_path(&n), access)
                .permitted()
            {
                return Err(DeniedWrite {
                    path: n.path(),
                    access,
                });
            }
        }
    }
    Ok(())
}
