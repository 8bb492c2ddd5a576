//! Notification content as one user may read it (RFC 8341 section 3.4.6): a user permitted
//! the notification type still receives it without the data nodes it may not read. For
//! `netconf-config-change` that also covers the data each `<edit>` reports: an edit whose
//! `target` the user may not read is removed, while `changed-by` and `datastore` stay, so the
//! user still learns that running changed.

use yang::yang5::context::Context;
use yang::yang5::data::{
    Data, DataFormat, DataNodeRef, DataOperation, DataParserFlags, DataPrinterFlags, DataTree,
};

use super::rules::{Access, NacmConfig, PathPattern, Step, Subject};
use super::tree::node_path;

/// Module of `netconf-config-change` (RFC 6470).
const NETCONF_NOTIFICATIONS: &str = "ietf-netconf-notifications";

/// Why a notification's content could not be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// The content does not parse as a notification of the schema.
    #[error("notification content does not fit the schema: {0}")]
    NotInSchema(String),
    /// The pruned content could not be printed.
    #[error("cannot print the pruned notification: {0}")]
    Print(String),
}

/// The content element `body` without what `subject` may not read: `Ok(None)` when nothing
/// had to be removed (send the notification as published), `Ok(Some(xml))` otherwise. The
/// notification element itself is never removed here: the notification type is decided by
/// the notification rules, before this.
pub fn prune_notification(
    ctx: &'static Context,
    cfg: &NacmConfig,
    subject: &Subject,
    body: &str,
) -> Result<Option<String>, ContentError> {
    let mut tree = DataTree::parse_op_string(
        ctx,
        body,
        DataFormat::XML,
        DataParserFlags::empty(),
        DataOperation::NotificationYang,
    )
    .map_err(|e| ContentError::NotInSchema(e.to_string()))?;
    let denied = unreadable_nodes(cfg, subject, &tree);
    if denied.is_empty() {
        return Ok(None);
    }
    // Deepest and last first, so positions of keyless list entries (`edit[2]`) stay valid.
    for path in denied.iter().rev() {
        if let Err(e) = tree.remove(path) {
            tracing::error!(path = %path, error = %e, "cannot remove an unreadable notification node");
            return Err(ContentError::Print(e.to_string()));
        }
    }
    tree.print_string(DataFormat::XML, DataPrinterFlags::SHRINK)
        .map(Some)
        .map_err(|e| ContentError::Print(e.to_string()))
}

/// Data paths of the nodes to remove, in document order, none inside another.
fn unreadable_nodes(cfg: &NacmConfig, subject: &Subject, tree: &DataTree<'_>) -> Vec<String> {
    let mut denied: Vec<String> = Vec::new();
    let Some(top) = tree.reference() else {
        return denied;
    };
    let top_path = top.path();
    for node in tree.traverse() {
        let path = node.path();
        if path == top_path
            || denied
                .last()
                .is_some_and(|d| path.starts_with(d.as_str()) && path[d.len()..].starts_with('/'))
        {
            continue;
        }
        let readable = cfg
            .may_access_data(subject, &node_path(&node), Access::READ)
            .permitted()
            && edit_target(&node).is_none_or(|target| {
                cfg.may_access_data(subject, &target, Access::READ)
                    .permitted()
            });
        if !readable {
            denied.push(path);
        }
    }
    denied
}

/// For an `edit` entry of `netconf-config-change`, the node its `target` names.
fn edit_target(node: &DataNodeRef<'_>) -> Option<Vec<Step>> {
    let schema = node.schema();
    if schema.name() != "edit" || schema.module().name() != NETCONF_NOTIFICATIONS {
        return None;
    }
    let target = node
        .children()
        .find(|c| c.schema().name() == "target")?
        .value_canonical()?;
    Some(instance_steps(&target))
}

/// Steps of a canonical instance-identifier (`/netdhcp-server:server/subnet4[id='1']/pool`):
/// a step without a module name is in its parent's module.
pub fn instance_steps(path: &str) -> Vec<Step> {
    let mut steps = PathPattern::parse(path).steps;
    let mut module: Option<String> = None;
    for step in &mut steps {
        match &step.module {
            Some(m) => module = Some(m.clone()),
            None => step.module.clone_from(&module),
        }
    }
    steps
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::northbound::nacm::rules::{Action, Name, Rule, RuleList, RuleType};
    use crate::northbound::nacm::tree;
    use crate::northbound::notifications::{config_change_body, ChangedBy};
    use yang::yang5::data::DataValidationFlags;

    fn config(xml: &str) -> DataTree<'static> {
        DataTree::parse_string(
            yang::context().unwrap(),
            xml,
            DataFormat::XML,
            DataParserFlags::NO_VALIDATION,
            DataValidationFlags::empty(),
        )
        .unwrap()
    }

    fn subject(group: &str) -> Subject {
        Subject {
            user: format!("{group}-user"),
            external_groups: vec![group.to_string()],
            recovery: false,
        }
    }

    fn default_policy() -> NacmConfig {
        let ctx = yang::context().unwrap();
        let mut t = DataTree::new(ctx);
        assert!(tree::add_default_policy(ctx, &mut t));
        tree::config_from_tree(&t)
    }

    const NACM_RULE_LIST: &str = r#"<nacm xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-acm"><rule-list><name>extra</name><group>x</group></rule-list></nacm>"#;

    fn server(inner: &str) -> String {
        format!(
            "<server xmlns=\"{}\">{inner}</server>",
            yang::paths::NAMESPACE
        )
    }

    fn change(old: &str, new: &str) -> String {
        let by = ChangedBy::Session {
            id: 3,
            username: "admin".into(),
            source_host: None,
        };
        config_change_body(yang::context().unwrap(), &config(old), &config(new), &by).unwrap()
    }

    #[test]
    fn config_change_loses_the_edits_of_unreadable_targets_only() {
        let ctx = yang::context().unwrap();
        let cfg = default_policy();
        let old = server("<logging><level>info</level></logging>");
        let new = format!(
            "{}{NACM_RULE_LIST}",
            server("<logging><level>debug</level></logging>")
        );
        let body = change(&old, &new);
        assert!(body.contains("/nacm:nacm"), "{body}");
        let pruned = prune_notification(ctx, &cfg, &subject("operator"), &body)
            .unwrap()
            .expect("the /nacm edit removed for an operator");
        assert!(!pruned.contains("nacm"), "{pruned}");
        assert!(
            pruned.contains("<username>admin</username>")
                && pruned.contains("<operation>replace</operation>")
                && pruned.contains(":logging/"),
            "{pruned}"
        );
        assert_eq!(
            prune_notification(ctx, &cfg, &subject("admin"), &body).unwrap(),
            None,
            "an administrator reads everything: sent as published"
        );
    }

    #[test]
    fn config_change_without_readable_edits_still_says_who_changed_running() {
        let ctx = yang::context().unwrap();
        let body = change("", NACM_RULE_LIST);
        let pruned = prune_notification(ctx, &default_policy(), &subject("operator"), &body)
            .unwrap()
            .expect("pruned");
        assert!(!pruned.contains("<edit"), "{pruned}");
        assert!(
            pruned.starts_with("<netconf-config-change")
                && pruned.contains("<session-id>3</session-id>")
                && pruned.contains("<datastore>running</datastore>"),
            "{pruned}"
        );
        let reparsed = DataTree::parse_op_string(
            ctx,
            &pruned,
            DataFormat::XML,
            DataParserFlags::STRICT,
            DataOperation::NotificationYang,
        );
        assert!(reparsed.is_ok(), "{:?}", reparsed.err());
    }

    #[test]
    fn nodes_of_other_notifications_under_denied_paths_are_removed() {
        let ctx = yang::context().unwrap();
        let mut cfg = NacmConfig::default();
        cfg.rule_lists.push(RuleList {
            name: "ops".into(),
            groups: vec![Name::parse("operator")],
            rules: vec![Rule {
                name: "no-partner".into(),
                module: Name::parse("netdhcp-server"),
                rule_type: RuleType::Data(PathPattern::parse(
                    "/netdhcp-server:ha-state-change/netdhcp-server:partner-state",
                )),
                access: Access::READ,
                action: Action::Deny,
            }],
        });
        let body = format!(
            "<ha-state-change xmlns=\"{}\"><state>partner-down</state><previous-state>hot-standby</previous-state><partner-state>terminated</partner-state></ha-state-change>",
            yang::paths::NAMESPACE
        );
        let pruned = prune_notification(ctx, &cfg, &subject("operator"), &body)
            .unwrap()
            .expect("partner-state removed");
        assert!(
            pruned.contains("<state>partner-down</state>") && !pruned.contains("partner-state"),
            "{pruned}"
        );
        assert_eq!(
            prune_notification(ctx, &cfg, &subject("admin"), &body).unwrap(),
            None
        );
        assert!(matches!(
            prune_notification(ctx, &cfg, &subject("operator"), "<nope xmlns=\"urn:x\"/>"),
            Err(ContentError::NotInSchema(_))
        ));
    }

    #[test]
    fn instance_identifier_steps_inherit_the_module() {
        let steps = instance_steps("/netdhcp-server:server/subnet4[id='1']/ietf-x:y[.='a/b']");
        let got: Vec<_> = steps
            .iter()
            .map(|s| {
                (
                    s.module.as_deref().unwrap(),
                    s.name.as_str(),
                    s.keys.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("netdhcp-server", "server", vec![]),
                ("netdhcp-server", "subnet4", vec![("id".into(), "1".into())]),
                ("ietf-x", "y", vec![(".".into(), "a/b".into())]),
            ]
        );
    }
}
