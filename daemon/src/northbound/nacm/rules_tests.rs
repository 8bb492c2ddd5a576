//! The rule engine against the cases of RFC 8341 section 3.4, and `/nacm` read from a tree.

// Each case starts from the YANG defaults and changes what it is about.
#![allow(clippy::field_reassign_with_default)]

use std::collections::BTreeMap;

use super::rules::*;
use super::tree;
use super::ExternalGroups;

fn rule(name: &str, module: &str, rule_type: RuleType, access: &str, action: Action) -> Rule {
    Rule {
        name: name.into(),
        module: Name::parse(module),
        rule_type,
        access: Access::parse(access),
        action,
    }
}

fn list(name: &str, groups: &[&str], rules: Vec<Rule>) -> RuleList {
    RuleList {
        name: name.into(),
        groups: groups.iter().map(|g| Name::parse(g)).collect(),
        rules,
    }
}

fn user(name: &str, groups: &[&str]) -> Subject {
    Subject {
        user: name.into(),
        external_groups: groups.iter().map(|g| g.to_string()).collect(),
        recovery: false,
    }
}

fn step(module: &str, name: &str, keys: &[(&str, &str)]) -> Step {
    Step {
        module: Some(module.into()),
        name: name.into(),
        keys: keys
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

const DHCP: &str = "netdhcp-server";

fn subnet_prefix(id: &str) -> Vec<Step> {
    vec![
        step(DHCP, "server", &[]),
        step(DHCP, "dhcpv4", &[]),
        step(DHCP, "subnet", &[("id", id)]),
        step(DHCP, "prefix", &[]),
    ]
}

fn nacm_node() -> Vec<Step> {
    vec![
        step("ietf-netconf-acm", "nacm", &[]),
        step("ietf-netconf-acm", "enable-nacm", &[]),
    ]
}

fn rpc(name: &str) -> RuleType {
    RuleType::Rpc(Name::parse(name))
}

fn path(p: &str) -> RuleType {
    RuleType::Data(PathPattern::parse(p))
}

#[test]
fn defaults_without_rules_follow_the_yang_defaults() {
    let cfg = NacmConfig::default();
    let u = user("alice", &[]);
    assert!(cfg.may_exec(&u, "ietf-netconf", "get-config").permitted());
    assert!(
        cfg.may_exec(&u, DHCP, "get-leases4").permitted(),
        "exec-default permit"
    );
    assert!(cfg
        .may_access_data(&u, &subnet_prefix("1"), Access::READ)
        .permitted());
    let w = cfg.may_access_data(&u, &subnet_prefix("1"), Access::UPDATE);
    assert_eq!(
        (w.action, w.reason),
        (Action::Deny, Reason::Default),
        "write-default deny"
    );
    assert!(cfg
        .may_receive_notification(&u, DHCP, "lease-event")
        .permitted());
}

#[test]
fn kill_session_and_delete_config_are_denied_by_default_close_session_always_allowed() {
    let mut cfg = NacmConfig::default();
    let u = user("alice", &["ops"]);
    for op in ["kill-session", "delete-config"] {
        let d = cfg.may_exec(&u, "ietf-netconf", op);
        assert_eq!(
            (d.action, d.reason),
            (Action::Deny, Reason::ProtectedByModel),
            "{op}"
        );
    }
    // A rule denying every operation does not stop close-session.
    cfg.rule_lists = vec![list(
        "l",
        &["ops"],
        vec![rule("all", "*", RuleType::Any, "*", Action::Deny)],
    )];
    let d = cfg.may_exec(&u, "ietf-netconf", "close-session");
    assert_eq!(
        (d.action, d.reason),
        (Action::Permit, Reason::AlwaysAllowed)
    );
    assert!(!cfg.may_exec(&u, "ietf-netconf", "get").permitted());
    // An explicit rule may permit kill-session.
    cfg.rule_lists = vec![list(
        "l",
        &["ops"],
        vec![rule(
            "k",
            "ietf-netconf",
            rpc("kill-session"),
            "exec",
            Action::Permit,
        )],
    )];
    assert!(cfg.may_exec(&u, "ietf-netconf", "kill-session").permitted());
}

/// The YANG defaults with the nodes the compiled schema protects.
fn schema_defaults() -> NacmConfig {
    NacmConfig {
        protected: tree::protected_nodes(),
        ..NacmConfig::default()
    }
}

fn ha_leaf(name: &str) -> Vec<Step> {
    vec![
        step(DHCP, "server", &[]),
        step(DHCP, "ha", &[]),
        step(DHCP, "basic-auth", &[]),
        step(DHCP, name, &[]),
    ]
}

const PASSWORD: &str =
    "/netdhcp-server:server/netdhcp-server:ha/netdhcp-server:basic-auth/netdhcp-server:password";

#[test]
fn the_schema_protects_nacm_and_the_secrets_and_nothing_else() {
    let protected = tree::protected_nodes();
    assert_eq!(
        protected.deny_all_data(),
        ["/ietf-netconf-acm:nacm", PASSWORD]
    );
    assert!(protected.deny_write_data().is_empty());
    // No module implemented here marks an rpc or a notification; ietf-netconf's pair is the
    // RFC's and not in the schema.
    assert!(protected.deny_all_operations().is_empty());
    assert!(protected.deny_all_notifications().is_empty());
    assert!(protected.protects_operation("ietf-netconf", "kill-session"));
    assert!(protected.protects_operation("ietf-netconf", "delete-config"));
    assert!(!protected.protects_operation("ietf-netconf", "edit-config"));
    assert!(!protected.protects_operation(DHCP, "ha-partner-down"));
    // Without the schema's table only the RFC's operations are protected.
    let bare = NacmConfig {
        read_default: Action::Permit,
        ..NacmConfig::default()
    };
    assert!(bare
        .may_access_data(&user("alice", &[]), &nacm_node(), Access::READ)
        .permitted());
    assert!(!bare
        .may_exec(&user("alice", &[]), "ietf-netconf", "kill-session")
        .permitted());
}

#[test]
fn secret_leaf_is_denied_unless_a_rule_permits_it() {
    let mut cfg = schema_defaults();
    cfg.write_default = Action::Permit;
    let tech = user("tech", &["tech"]);
    // No rule: read-default and write-default permit everything but the marked leaf.
    for a in [Access::READ, Access::CREATE, Access::UPDATE, Access::DELETE] {
        let d = cfg.may_access_data(&tech, &ha_leaf("password"), a);
        assert_eq!(
            (d.action, d.reason),
            (Action::Deny, Reason::ProtectedByModel),
            "{}",
            a.name()
        );
        assert!(cfg.may_access_data(&tech, &ha_leaf("user"), a).permitted());
        assert!(cfg
            .may_access_data(&tech, &ha_leaf("password")[..3], a)
            .permitted());
    }
    // An explicit permit for the path (read only): readable, still not writable.
    cfg.rule_lists.push(list(
        "tech",
        &["tech"],
        vec![rule(
            "read-password",
            DHCP,
            path("/ndhcp:server/ndhcp:ha/ndhcp:basic-auth/ndhcp:password"),
            "read",
            Action::Permit,
        )],
    ));
    let d = cfg.may_access_data(&tech, &ha_leaf("password"), Access::READ);
    assert_eq!(
        d.reason,
        Reason::Rule {
            list: "tech".into(),
            rule: "read-password".into()
        }
    );
    assert!(d.permitted());
    let d = cfg.may_access_data(&tech, &ha_leaf("password"), Access::UPDATE);
    assert_eq!(
        (d.action, d.reason),
        (Action::Deny, Reason::ProtectedByModel)
    );
    // A permit of an ancestor's path covers the leaf, and so does a rule for every node
    // (module-name "*" without a rule-type): RFC 8341 counts both as explicit.
    cfg.rule_lists[0].rules[0].rule_type = path("/ndhcp:server/ndhcp:ha");
    assert!(cfg
        .may_access_data(&tech, &ha_leaf("password"), Access::READ)
        .permitted());
    cfg.rule_lists[0].rules[0] = rule("read-all", "*", RuleType::Any, "read", Action::Permit);
    assert!(cfg
        .may_access_data(&tech, &ha_leaf("password"), Access::READ)
        .permitted());
    // Other groups are not concerned by the tech rules.
    assert!(!cfg
        .may_access_data(&user("other", &["x"]), &ha_leaf("password"), Access::READ)
        .permitted());
}

fn marked(
    kind: yang::nacm_marks::MarkedKind,
    steps: &[&str],
    mark: yang::nacm_marks::NacmMark,
) -> yang::nacm_marks::MarkedNode {
    yang::nacm_marks::MarkedNode {
        kind,
        path: steps
            .iter()
            .map(|name| yang::nacm_marks::SchemaStep {
                module: "example".into(),
                name: name.to_string(),
            })
            .collect(),
        mark,
    }
}

#[test]
fn deny_write_operation_and_notification_marks() {
    use yang::nacm_marks::{MarkedKind, NacmMark};
    let protected = ProtectedNodes::from_marks(&[
        marked(MarkedKind::Data, &["config", "fixed"], NacmMark::DenyWrite),
        marked(MarkedKind::Operation, &["reboot"], NacmMark::DenyAll),
        marked(MarkedKind::Operation, &["status"], NacmMark::DenyWrite),
        marked(MarkedKind::Notification, &["breach"], NacmMark::DenyAll),
    ]);
    assert_eq!(
        protected.deny_write_data(),
        ["/example:config/example:fixed"]
    );
    assert_eq!(protected.deny_all_operations(), ["/example:reboot"]);
    assert_eq!(protected.deny_all_notifications(), ["/example:breach"]);
    let mut cfg = NacmConfig {
        write_default: Action::Permit,
        protected: std::sync::Arc::new(protected),
        ..NacmConfig::default()
    };
    let u = user("u", &["g"]);
    let fixed_leaf = [
        step("example", "config", &[]),
        step("example", "fixed", &[]),
        step("example", "value", &[]),
    ];
    assert!(cfg
        .may_access_data(&u, &fixed_leaf, Access::READ)
        .permitted());
    for a in [Access::CREATE, Access::UPDATE, Access::DELETE] {
        let d = cfg.may_access_data(&u, &fixed_leaf, a);
        assert_eq!(
            (d.action, d.reason),
            (Action::Deny, Reason::ProtectedByModel)
        );
        assert!(cfg.may_access_data(&u, &fixed_leaf[..1], a).permitted());
    }
    let d = cfg.may_exec(&u, "example", "reboot");
    assert_eq!(
        (d.action, d.reason),
        (Action::Deny, Reason::ProtectedByModel)
    );
    assert!(cfg.may_exec(&u, "example", "status").permitted());
    let d = cfg.may_receive_notification(&u, "example", "breach");
    assert_eq!(
        (d.action, d.reason),
        (Action::Deny, Reason::ProtectedByModel)
    );
    assert!(cfg
        .may_receive_notification(&u, "example", "other")
        .permitted());
    // Rules come first: a permit for the group opens each of them.
    cfg.rule_lists.push(list(
        "g",
        &["g"],
        vec![
            rule("reboot", "example", rpc("reboot"), "exec", Action::Permit),
            rule(
                "breach",
                "example",
                RuleType::Notification(Name::parse("breach")),
                "read",
                Action::Permit,
            ),
            rule(
                "fixed",
                "example",
                path("/config/fixed"),
                "update",
                Action::Permit,
            ),
        ],
    ));
    assert!(cfg.may_exec(&u, "example", "reboot").permitted());
    assert!(cfg
        .may_receive_notification(&u, "example", "breach")
        .permitted());
    assert!(cfg
        .may_access_data(&u, &fixed_leaf, Access::UPDATE)
        .permitted());
    assert!(!cfg
        .may_access_data(&u, &fixed_leaf, Access::DELETE)
        .permitted());
}

#[test]
fn nacm_data_is_default_deny_all() {
    let cfg = NacmConfig {
        read_default: Action::Permit,
        write_default: Action::Permit,
        ..schema_defaults()
    };
    let u = user("alice", &[]);
    for a in [Access::READ, Access::CREATE, Access::UPDATE, Access::DELETE] {
        let d = cfg.may_access_data(&u, &nacm_node(), a);
        assert_eq!(
            (d.action, d.reason),
            (Action::Deny, Reason::ProtectedByModel),
            "{}",
            a.name()
        );
    }
    assert!(cfg
        .may_access_data(&u, &subnet_prefix("1"), Access::UPDATE)
        .permitted());
}

#[test]
fn recovery_session_and_disabled_nacm_bypass_everything() {
    let mut cfg = NacmConfig::default();
    cfg.rule_lists = vec![list(
        "l",
        &["*"],
        vec![rule("all", "*", RuleType::Any, "*", Action::Deny)],
    )];
    let mut r = user("root", &[]);
    r.recovery = true;
    let d = cfg.may_exec(&r, "ietf-netconf", "kill-session");
    assert_eq!((d.action, d.reason), (Action::Permit, Reason::Recovery));
    assert!(cfg
        .may_access_data(&r, &nacm_node(), Access::UPDATE)
        .permitted());
    let u = user("alice", &["x"]);
    assert!(
        !cfg.may_exec(&u, "ietf-netconf", "get").permitted(),
        "group * matches every group"
    );
    cfg.enabled = false;
    let d = cfg.may_access_data(&u, &nacm_node(), Access::DELETE);
    assert_eq!((d.action, d.reason), (Action::Permit, Reason::Disabled));
}

#[test]
fn first_matching_rule_in_rule_list_order_wins() {
    let mut cfg = NacmConfig::default();
    cfg.rule_lists = vec![
        list(
            "first",
            &["ops"],
            vec![
                rule(
                    "other-module",
                    "ietf-interfaces",
                    RuleType::Any,
                    "*",
                    Action::Permit,
                ),
                rule(
                    "no-commit",
                    "ietf-netconf",
                    rpc("commit"),
                    "exec",
                    Action::Deny,
                ),
            ],
        ),
        list(
            "second",
            &["ops", "noc"],
            vec![rule("all", "*", RuleType::Any, "*", Action::Permit)],
        ),
    ];
    let ops = user("alice", &["ops"]);
    let d = cfg.may_exec(&ops, "ietf-netconf", "commit");
    assert_eq!(
        d.reason,
        Reason::Rule {
            list: "first".into(),
            rule: "no-commit".into()
        }
    );
    assert!(!d.permitted());
    let d = cfg.may_exec(&ops, "ietf-netconf", "edit-config");
    assert_eq!(
        d.reason,
        Reason::Rule {
            list: "second".into(),
            rule: "all".into()
        }
    );
    assert!(cfg
        .may_exec(&user("bob", &["noc"]), "ietf-netconf", "commit")
        .permitted());
    // A user in no group gets the defaults.
    let d = cfg.may_exec(&user("eve", &[]), "ietf-netconf", "commit");
    assert_eq!(d.reason, Reason::Default);
}

#[test]
fn rule_types_apply_only_to_their_kind_of_request() {
    let mut cfg = NacmConfig::default();
    cfg.rule_lists = vec![list(
        "l",
        &["g"],
        vec![
            rule("rpc", "*", rpc("*"), "*", Action::Deny),
            rule(
                "notif",
                "*",
                RuleType::Notification(Name::parse("lease-event")),
                "*",
                Action::Deny,
            ),
            rule(
                "data",
                "*",
                path("/netdhcp-server:server"),
                "*",
                Action::Permit,
            ),
        ],
    )];
    let u = user("u", &["g"]);
    assert!(!cfg.may_exec(&u, DHCP, "get-leases4").permitted());
    assert!(!cfg
        .may_receive_notification(&u, DHCP, "lease-event")
        .permitted());
    assert!(
        cfg.may_receive_notification(&u, DHCP, "ha-state-change")
            .permitted(),
        "read-default"
    );
    let d = cfg.may_access_data(&u, &subnet_prefix("1"), Access::CREATE);
    assert_eq!(
        d.reason,
        Reason::Rule {
            list: "l".into(),
            rule: "data".into()
        }
    );
    assert!(d.permitted());
}

#[test]
fn access_operations_must_include_the_requested_one() {
    let mut cfg = NacmConfig::default();
    cfg.rule_lists = vec![list(
        "l",
        &["g"],
        vec![
            rule("read-only", DHCP, RuleType::Any, "read", Action::Permit),
            rule(
                "create-update",
                DHCP,
                RuleType::Any,
                "create update",
                Action::Permit,
            ),
        ],
    )];
    let u = user("u", &["g"]);
    assert_eq!(
        cfg.may_access_data(&u, &subnet_prefix("1"), Access::READ)
            .reason,
        Reason::Rule {
            list: "l".into(),
            rule: "read-only".into()
        }
    );
    assert!(cfg
        .may_access_data(&u, &subnet_prefix("1"), Access::UPDATE)
        .permitted());
    assert_eq!(
        cfg.may_access_data(&u, &subnet_prefix("1"), Access::DELETE)
            .reason,
        Reason::Default
    );
    assert_eq!(
        cfg.may_exec(&u, DHCP, "delete-lease").reason,
        Reason::Default,
        "read/create/update is no exec"
    );
}

#[test]
fn path_rules_cover_the_node_and_its_descendants_and_compare_keys() {
    let mut cfg = NacmConfig::default();
    cfg.rule_lists = vec![list(
        "l",
        &["g"],
        vec![
            rule(
                "hide-subnet-2",
                DHCP,
                path("/netdhcp-server:server/dhcpv4/subnet[id='2']"),
                "read",
                Action::Deny,
            ),
            rule(
                "xml-prefix",
                DHCP,
                path("/nd:server/nd:dhcpv6"),
                "read",
                Action::Deny,
            ),
        ],
    )];
    let u = user("u", &["g"]);
    assert!(!cfg
        .may_access_data(&u, &subnet_prefix("2"), Access::READ)
        .permitted());
    assert!(cfg
        .may_access_data(&u, &subnet_prefix("1"), Access::READ)
        .permitted());
    assert!(
        cfg.may_access_data(&u, &subnet_prefix("2")[..2], Access::READ)
            .permitted(),
        "the ancestors are not covered"
    );
    let v6 = [step(DHCP, "server", &[]), step(DHCP, "dhcpv6", &[])];
    assert!(!cfg.may_access_data(&u, &v6, Access::READ).permitted());
    // A module-name prefix must be the node's module.
    let other = [
        step("other-module", "server", &[]),
        step("other-module", "dhcpv4", &[]),
    ];
    cfg.rule_lists[0].rules[0].module = Name::Any;
    cfg.rule_lists[0].rules[0].rule_type = path("/netdhcp-server:server");
    assert!(cfg.may_access_data(&u, &other, Access::READ).permitted());
}

#[test]
fn path_pattern_parses_prefixes_predicates_and_quoted_slashes() {
    let p = PathPattern::parse("/a:x/a:y[a:k='1/2'][b=\"z\"]/c");
    assert_eq!(p.steps.len(), 3);
    assert_eq!(p.steps[1].module.as_deref(), Some("a"));
    assert_eq!(
        p.steps[1].keys,
        vec![("k".into(), "1/2".into()), ("b".into(), "z".into())]
    );
    assert_eq!(p.steps[2].module, None);
    assert!(PathPattern::parse("/").steps.is_empty());
}

#[test]
fn local_and_external_groups() {
    let mut cfg = NacmConfig::default();
    cfg.groups = BTreeMap::from([("local".to_string(), vec!["alice".to_string()])]);
    let u = user("alice", &["ext"]);
    assert_eq!(
        cfg.groups_of(&u),
        vec!["local".to_string(), "ext".to_string()]
    );
    cfg.external_groups = false;
    assert_eq!(
        cfg.groups_of(&u),
        vec!["local".to_string()],
        "enable-external-groups false"
    );
}

#[test]
fn settings_groups_and_recovery_user() {
    let none = ExternalGroups::default();
    assert_eq!(
        none.subject("x").external_groups,
        vec!["admin".to_string()],
        "no [nacm.groups]: admin"
    );
    let s = ExternalGroups {
        recovery_user: Some("root".into()),
        groups: Some(BTreeMap::from([(
            "operator".to_string(),
            vec!["noc".to_string()],
        )])),
    };
    assert_eq!(
        s.subject("noc").external_groups,
        vec!["operator".to_string()]
    );
    assert!(s.subject("other").external_groups.is_empty());
    assert!(s.subject("root").recovery && !s.subject("noc").recovery);
}

#[test]
fn replay_complete_is_always_sent() {
    let mut cfg = NacmConfig::default();
    cfg.rule_lists = vec![list(
        "l",
        &["g"],
        vec![rule("none", "*", RuleType::Any, "*", Action::Deny)],
    )];
    let u = user("u", &["g"]);
    assert!(cfg
        .may_receive_notification(&u, "nc-notifications", "replayComplete")
        .permitted());
    assert!(!cfg
        .may_receive_notification(&u, DHCP, "lease-event")
        .permitted());
}

#[test]
fn uniform_decision_only_for_a_leading_path_less_wildcard_rule() {
    let mut cfg = NacmConfig::default();
    cfg.rule_lists = vec![list(
        "admin",
        &["admin"],
        vec![rule("all", "*", RuleType::Any, "*", Action::Permit)],
    )];
    assert_eq!(
        cfg.uniform_data_decision(&user("a", &["admin"]), Access::UPDATE),
        Some(Action::Permit)
    );
    assert_eq!(
        cfg.uniform_data_decision(&user("b", &[]), Access::READ),
        None
    );
    cfg.rule_lists.insert(
        0,
        list(
            "first",
            &["admin"],
            vec![rule(
                "p",
                DHCP,
                path("/netdhcp-server:server"),
                "read",
                Action::Deny,
            )],
        ),
    );
    assert_eq!(
        cfg.uniform_data_decision(&user("a", &["admin"]), Access::READ),
        None
    );
    assert_eq!(
        cfg.uniform_data_decision(&user("a", &["admin"]), Access::UPDATE),
        Some(Action::Permit)
    );
}

#[test]
fn default_policy_compiles_from_a_tree() {
    let ctx = yang::context().unwrap();
    let mut t = yang::yang5::data::DataTree::new(ctx);
    assert!(tree::add_default_policy(ctx, &mut t));
    assert!(!tree::add_default_policy(ctx, &mut t), "only once");
    let cfg = tree::config_from_tree(&t);
    assert!(cfg.enabled);
    assert_eq!(cfg.rule_lists.len(), 2);
    let admin = user("a", &["admin"]);
    let oper = user("o", &["operator"]);
    assert!(cfg.may_exec(&admin, "ietf-netconf", "commit").permitted());
    assert!(cfg
        .may_exec(&admin, "ietf-netconf", "delete-config")
        .permitted());
    assert!(cfg
        .may_access_data(&admin, &nacm_node(), Access::UPDATE)
        .permitted());
    for op in [
        "edit-config",
        "commit",
        "copy-config",
        "lock",
        "delete-config",
        "kill-session",
    ] {
        assert!(!cfg.may_exec(&oper, "ietf-netconf", op).permitted(), "{op}");
    }
    for op in ["get", "get-config", "close-session", "validate"] {
        assert!(cfg.may_exec(&oper, "ietf-netconf", op).permitted(), "{op}");
    }
    assert!(cfg.may_exec(&oper, DHCP, "get-leases4").permitted());
    assert!(cfg.may_exec(&oper, DHCP, "get-leases6").permitted());
    assert!(!cfg.may_exec(&oper, DHCP, "delete-lease").permitted());
    assert!(!cfg.may_exec(&oper, DHCP, "ha-partner-down").permitted());
    assert!(cfg
        .may_access_data(&oper, &subnet_prefix("1"), Access::READ)
        .permitted());
    assert!(!cfg
        .may_access_data(&oper, &subnet_prefix("1"), Access::UPDATE)
        .permitted());
    assert!(!cfg
        .may_access_data(&oper, &nacm_node(), Access::READ)
        .permitted());
    // The secret: the operator's read-all would permit it, hide-secrets comes first.
    let d = cfg.may_access_data(&oper, &ha_leaf("password"), Access::READ);
    assert_eq!(
        (d.action, d.reason),
        (
            Action::Deny,
            Reason::Rule {
                list: "operator".into(),
                rule: "hide-secrets".into()
            }
        )
    );
    assert!(cfg
        .may_access_data(&oper, &ha_leaf("user"), Access::READ)
        .permitted());
    assert!(cfg
        .may_access_data(&admin, &ha_leaf("password"), Access::READ)
        .permitted());
    // A user in no rule-list's group gets the defaults and the schema's protection.
    let d = cfg.may_access_data(&user("n", &["nobody"]), &ha_leaf("password"), Access::READ);
    assert_eq!(
        (d.action, d.reason),
        (Action::Deny, Reason::ProtectedByModel)
    );
}

#[test]
fn pruning_and_write_checks_on_trees() {
    use yang::yang5::data::{DataFormat, DataParserFlags, DataTree, DataValidationFlags};
    let ctx = yang::context().unwrap();
    let parse = |xml: &str| {
        DataTree::parse_string(
            ctx,
            xml,
            DataFormat::XML,
            DataParserFlags::NO_VALIDATION,
            DataValidationFlags::empty(),
        )
        .unwrap()
    };
    let mut t = parse(tree::DEFAULT_POLICY);
    let cfg = tree::config_from_tree(&t);
    let oper = user("o", &["operator"]);
    let admin = user("a", &["admin"]);
    assert_eq!(tree::prune_unreadable(&cfg, &admin, &mut t), 0);
    assert!(tree::prune_unreadable(&cfg, &oper, &mut t) >= 1);
    assert_eq!(
        t.traverse().count(),
        0,
        "the operator reads nothing of /nacm"
    );
    let before = parse(tree::DEFAULT_POLICY);
    let after =
        parse(&tree::DEFAULT_POLICY.replace("<name>get-leases6</name>", "<name>leases6</name>"));
    assert!(tree::check_writes(&cfg, &admin, &before, &after).is_ok());
    let denied = tree::check_writes(&cfg, &oper, &before, &after).unwrap_err();
    assert!(
        denied.path.starts_with("/ietf-netconf-acm:nacm/rule-list"),
        "{denied:?}"
    );
}

#[test]
fn default_policy_is_added_to_a_validated_configuration_without_nacm_only() {
    let ctx = yang::context().unwrap();
    let Ok(mut v) = crate::northbound::validate_document(ctx, "") else {
        panic!("the empty configuration is valid");
    };
    assert!(tree::add_default_policy(ctx, &mut v.tree));
    assert_eq!(tree::config_from_tree(&v.tree).rule_lists.len(), 2);
    let explicit = format!(
        "<nacm xmlns=\"{}\"><enable-nacm>false</enable-nacm></nacm>",
        tree::NACM_NS
    );
    let Ok(mut v) = crate::northbound::validate_document(ctx, &explicit) else {
        panic!("a configuration with enable-nacm false is valid");
    };
    assert!(
        !tree::add_default_policy(ctx, &mut v.tree),
        "an operator's /nacm is kept as it is"
    );
    assert!(!tree::config_from_tree(&v.tree).enabled);
}

#[test]
fn access_control_counts_refusals_and_follows_each_load() {
    use super::AccessControl;
    use netconf::backend::SessionInfo;
    use std::sync::atomic::Ordering;
    let ctx = yang::context().unwrap();
    let external = ExternalGroups {
        recovery_user: None,
        groups: Some(BTreeMap::from([(
            "operator".to_string(),
            vec!["noc".to_string()],
        )])),
    };
    let ac = AccessControl::new(external);
    let noc = SessionInfo {
        id: 7,
        username: "noc".into(),
    };
    // Before any /nacm: the YANG defaults (exec permitted, delete-config protected).
    assert!(ac.check_exec(&noc, "ietf-netconf", "commit").is_ok());
    let mut t = yang::yang5::data::DataTree::new(ctx);
    tree::add_default_policy(ctx, &mut t);
    ac.load(&t);
    let e = ac.check_exec(&noc, "ietf-netconf", "commit").unwrap_err();
    assert_eq!(e.tag, netconf::error::ErrorTag::AccessDenied);
    assert_eq!(e.error_type, netconf::error::ErrorType::Protocol);
    assert_eq!(ac.counters().denied_operations.load(Ordering::Relaxed), 1);
    // The operator list has no notification rule but read-all covers notifications; the
    // hide-access-control rule withholds ietf-netconf-acm ones (none exist, but the rule
    // engine is asked by module).
    assert!(ac.may_receive_notification("noc", DHCP, "pool-threshold"));
    assert!(!ac.may_receive_notification("noc", "ietf-netconf-acm", "x"));
    assert_eq!(
        ac.counters().denied_notifications.load(Ordering::Relaxed),
        1
    );
    assert!(ac
        .state_xml()
        .contains("<denied-notifications>1</denied-notifications>"));
}
