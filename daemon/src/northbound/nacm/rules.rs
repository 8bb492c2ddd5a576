//! The NETCONF access control rule engine (RFC 8341 section 3.4): the compiled `/nacm`
//! configuration and the decisions for protocol operations, data nodes and notifications.
//! Pure: no libyang, no I/O, so every case of the RFC is a unit test. The nodes the YANG
//! modules protect ([`ProtectedNodes`]) are read from the schema by the caller.

use std::collections::BTreeMap;
use std::sync::Arc;

use yang::nacm_marks::{MarkedKind, MarkedNode, NacmMark};

/// A rule's or a default's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Access granted.
    Permit,
    /// Access refused.
    Deny,
}

impl Action {
    /// Parses `permit` / `deny` (the `action-type` enumeration).
    pub fn parse(text: &str) -> Option<Action> {
        match text {
            "permit" => Some(Action::Permit),
            "deny" => Some(Action::Deny),
            _ => None,
        }
    }
}

/// The access operations of RFC 8341 (`access-operations-type` bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access(u8);

impl Access {
    /// Reading a data node or receiving a notification.
    pub const READ: Access = Access(1);
    /// Creating a data node.
    pub const CREATE: Access = Access(2);
    /// Changing a data node's value.
    pub const UPDATE: Access = Access(4);
    /// Deleting a data node.
    pub const DELETE: Access = Access(8);
    /// Invoking a protocol operation.
    pub const EXEC: Access = Access(16);
    /// `*`: every operation.
    pub const ALL: Access = Access(31);
    /// No operation (an empty bits value).
    pub const NONE: Access = Access(0);

    /// Parses the `access-operations` leaf: `*` or space-separated bit names.
    pub fn parse(text: &str) -> Access {
        let mut bits = 0;
        for word in text.split_whitespace() {
            bits |= match word {
                "*" => Access::ALL.0,
                "read" => Access::READ.0,
                "create" => Access::CREATE.0,
                "update" => Access::UPDATE.0,
                "delete" => Access::DELETE.0,
                "exec" => Access::EXEC.0,
                _ => 0,
            };
        }
        Access(bits)
    }

    /// Whether every bit of `other` is in `self`.
    pub fn contains(self, other: Access) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// Whether this is a write (create, update, delete).
    pub fn is_write(self) -> bool {
        self.0 & (Access::CREATE.0 | Access::UPDATE.0 | Access::DELETE.0) != 0
    }

    /// The RFC name of a single access operation, for logs.
    pub fn name(self) -> &'static str {
        match self {
            Access::READ => "read",
            Access::CREATE => "create",
            Access::UPDATE => "update",
            Access::DELETE => "delete",
            Access::EXEC => "exec",
            _ => "*",
        }
    }
}

/// A name that may be the wildcard `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name {
    /// `*`: matches every name.
    Any,
    /// Exactly this name.
    Is(String),
}

impl Name {
    /// `*` becomes [`Name::Any`].
    pub fn parse(text: &str) -> Name {
        if text == "*" {
            Name::Any
        } else {
            Name::Is(text.to_string())
        }
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            Name::Any => true,
            Name::Is(n) => n == name,
        }
    }
}

/// One step of a data node instance path: module, node name, list keys (or the leaf-list
/// value under the key `.`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Step {
    /// Module of the node (a prefix in a rule path; `None` when the rule wrote none).
    pub module: Option<String>,
    /// Node name.
    pub name: String,
    /// Key predicates `[name='value']`.
    pub keys: Vec<(String, String)>,
}

/// A data node's place in the tree, from the top.
pub type NodePath = [Step];

/// A rule's `path` (node-instance-identifier) split into steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    /// The text as configured, for logs.
    pub text: String,
    /// Its steps; `/` alone is no step and matches every node.
    pub steps: Vec<Step>,
}

impl PathPattern {
    /// Parses `/p:a/p:b[p:k='v']/c`. Prefixes are kept as written; a prefix that is a module
    /// name must equal the node's module, any other prefix is not compared (the rule's
    /// module-name already restricts the module).
    pub fn parse(text: &str) -> PathPattern {
        let mut steps = Vec::new();
        for raw in split_steps(text.trim()) {
            let (head, preds) = match raw.find('[') {
                Some(i) => (&raw[..i], &raw[i..]),
                None => (raw, ""),
            };
            let (module, name) = split_prefix(head);
            let mut keys = Vec::new();
            for pred in preds.split('[').filter(|p| !p.is_empty()) {
                let pred = pred.trim_end_matches(']');
                if let Some((k, v)) = pred.split_once('=') {
                    let v = v.trim().trim_matches(|c| c == '\'' || c == '"');
                    keys.push((split_prefix(k.trim()).1.to_string(), v.to_string()));
                }
            }
            steps.push(Step {
                module: module.map(str::to_string),
                name: name.to_string(),
                keys,
            });
        }
        PathPattern {
            text: text.to_string(),
            steps,
        }
    }

    /// Whether the node is the one this path names or one of its descendants.
    fn covers(&self, node: &NodePath) -> bool {
        if self.steps.len() > node.len() {
            return false;
        }
        self.steps.iter().zip(node).all(|(want, have)| {
            let module_ok = match (&want.module, &have.module) {
                (Some(w), Some(h)) if looks_like_module(w) => w == h,
                _ => true,
            };
            module_ok
                && (want.name == "*" || want.name == have.name)
                && want
                    .keys
                    .iter()
                    .all(|(k, v)| have.keys.iter().any(|(hk, hv)| hk == k && hv == v))
        })
    }
}

// A prefix that contains a dash or is long is taken for a module name (libyang prints
// instance paths with module names); short XML prefixes like `nd` are not compared.
fn looks_like_module(prefix: &str) -> bool {
    prefix.contains('-')
}

fn split_prefix(s: &str) -> (Option<&str>, &str) {
    match s.split_once(':') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    }
}

/// Splits an instance path on `/` outside predicates and quotes.
fn split_steps(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut start) = (0usize, None::<char>, 0usize);
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth = depth.saturating_sub(1),
            (None, '/') if depth == 0 => {
                if i > start {
                    out.push(&text[start..i]);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// What a rule applies to (the `rule-type` choice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleType {
    /// No rule-type: every operation, notification and data node of the module.
    Any,
    /// `rpc-name`.
    Rpc(Name),
    /// `notification-name`.
    Notification(Name),
    /// `path`: a data node and its descendants.
    Data(PathPattern),
}

/// One `rule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Rule name.
    pub name: String,
    /// `module-name`.
    pub module: Name,
    /// What it applies to.
    pub rule_type: RuleType,
    /// `access-operations`.
    pub access: Access,
    /// `action`.
    pub action: Action,
}

/// One `rule-list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleList {
    /// Rule-list name.
    pub name: String,
    /// `group` leaf-list (`*` is every group).
    pub groups: Vec<Name>,
    /// Rules, in order.
    pub rules: Vec<Rule>,
}

/// The compiled `/nacm` configuration. `Default` is what an absent `/nacm` means (the
/// YANG defaults: enforcement on, read and exec permitted, write denied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NacmConfig {
    /// `enable-nacm`.
    pub enabled: bool,
    /// `read-default`.
    pub read_default: Action,
    /// `write-default`.
    pub write_default: Action,
    /// `exec-default`.
    pub exec_default: Action,
    /// `enable-external-groups`.
    pub external_groups: bool,
    /// `/nacm/groups`: group name to its users.
    pub groups: BTreeMap<String, Vec<String>>,
    /// `rule-list`, in order.
    pub rule_lists: Vec<RuleList>,
    /// The nodes the YANG modules mark `default-deny-all` / `default-deny-write`: not
    /// configuration but the schema's, shared by every compiled `/nacm`.
    pub protected: Arc<ProtectedNodes>,
}

impl Default for NacmConfig {
    fn default() -> Self {
        NacmConfig {
            enabled: true,
            read_default: Action::Permit,
            write_default: Action::Deny,
            exec_default: Action::Permit,
            external_groups: true,
            groups: BTreeMap::new(),
            rule_lists: Vec::new(),
            protected: Arc::default(),
        }
    }
}

/// Who asks: the user, the groups the transport (start-up settings) puts it in, and whether
/// its session is the recovery session (RFC 8341 section 3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// User name.
    pub user: String,
    /// External groups (used when `enable-external-groups` is true).
    pub external_groups: Vec<String>,
    /// The recovery session bypasses access control.
    pub recovery: bool,
}

/// Why a decision was made, for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Access control is off (`enable-nacm` false).
    Disabled,
    /// The recovery session.
    Recovery,
    /// Always permitted (close-session, replayComplete, notificationComplete).
    AlwaysAllowed,
    /// This rule of this rule-list matched first.
    Rule {
        /// Rule-list name.
        list: String,
        /// Rule name.
        rule: String,
    },
    /// No rule matched; a `default-deny-all` / `default-deny-write` node.
    ProtectedByModel,
    /// No rule matched; `read-default`, `write-default` or `exec-default`.
    Default,
}

/// A verdict and its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Permit or deny.
    pub action: Action,
    /// Why.
    pub reason: Reason,
}

impl Decision {
    /// Whether access is granted.
    pub fn permitted(&self) -> bool {
        self.action == Action::Permit
    }

    fn of(action: Action, reason: Reason) -> Decision {
        Decision { action, reason }
    }
}

/// Protocol operations of ietf-netconf protected as if marked `nacm:default-deny-all`: RFC
/// 6241's module carries no NACM extensions, so RFC 8341 (sections 3.2.x and 3.4.4) names
/// them itself.
const DENY_ALL_RPCS: &[(&str, &str)] = &[
    ("ietf-netconf", "kill-session"),
    ("ietf-netconf", "delete-config"),
];

/// A schema path as (module, name) steps from the top.
type SchemaPath = Vec<(String, String)>;

/// The schema nodes the YANG modules protect (RFC 8341 section 3.2, `default-deny-all` and
/// `default-deny-write`): consulted when no rule matched, before the defaults. A mark covers
/// the node's descendants. `Default` is no mark at all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProtectedNodes {
    data_deny_all: Vec<SchemaPath>,
    data_deny_write: Vec<SchemaPath>,
    operations: Vec<SchemaPath>,
    notifications: Vec<SchemaPath>,
}

impl ProtectedNodes {
    /// The table of the marks read from the schema. `default-deny-write` on an operation or
    /// a notification means nothing (they are not written) and is left out.
    pub fn from_marks(marks: &[MarkedNode]) -> ProtectedNodes {
        let mut table = ProtectedNodes::default();
        for m in marks {
            let path: SchemaPath = m
                .path
                .iter()
                .map(|s| (s.module.clone(), s.name.clone()))
                .collect();
            let into = match (m.kind, m.mark) {
                (MarkedKind::Data, NacmMark::DenyAll) => &mut table.data_deny_all,
                (MarkedKind::Data, NacmMark::DenyWrite) => &mut table.data_deny_write,
                (MarkedKind::Operation, NacmMark::DenyAll) => &mut table.operations,
                (MarkedKind::Notification, NacmMark::DenyAll) => &mut table.notifications,
                (MarkedKind::Operation | MarkedKind::Notification, NacmMark::DenyWrite) => continue,
            };
            into.push(path);
        }
        table
    }

    /// The data node paths marked `default-deny-all`, as `/module:name/...`.
    pub fn deny_all_data(&self) -> Vec<String> {
        self.data_deny_all.iter().map(|p| path_text(p)).collect()
    }

    /// The data node paths marked `default-deny-write`, as `/module:name/...`.
    pub fn deny_write_data(&self) -> Vec<String> {
        self.data_deny_write.iter().map(|p| path_text(p)).collect()
    }

    /// The operations marked `default-deny-all`, as `/module:name/...`.
    pub fn deny_all_operations(&self) -> Vec<String> {
        self.operations.iter().map(|p| path_text(p)).collect()
    }

    /// The notifications marked `default-deny-all`, as `/module:name/...`.
    pub fn deny_all_notifications(&self) -> Vec<String> {
        self.notifications.iter().map(|p| path_text(p)).collect()
    }

    /// Whether the node or one of its ancestors is marked for `access`: `default-deny-all`
    /// for every access, `default-deny-write` for create, update and delete.
    pub fn protects_data(&self, node: &NodePath, access: Access) -> bool {
        self.data_deny_all.iter().any(|p| is_within(node, p))
            || (access.is_write() && self.data_deny_write.iter().any(|p| is_within(node, p)))
    }

    /// Whether the rpc `name` of `module` is marked `default-deny-all` (the ietf-netconf
    /// pair of RFC 8341 included).
    pub fn protects_operation(&self, module: &str, name: &str) -> bool {
        DENY_ALL_RPCS.contains(&(module, name)) || is_top_in(&self.operations, module, name)
    }

    /// Whether the notification `name` of `module` is marked `default-deny-all`.
    pub fn protects_notification(&self, module: &str, name: &str) -> bool {
        is_top_in(&self.notifications, module, name)
    }
}

fn path_text(path: &[(String, String)]) -> String {
    path.iter().map(|(m, n)| format!("/{m}:{n}")).collect()
}

fn is_top_in(paths: &[SchemaPath], module: &str, name: &str) -> bool {
    paths
        .iter()
        .any(|p| matches!(p.as_slice(), [(m, n)] if m == module && n == name))
}

/// Whether `node` is the schema node at `marked` or below it.
fn is_within(node: &NodePath, marked: &[(String, String)]) -> bool {
    marked.len() <= node.len()
        && marked
            .iter()
            .zip(node)
            .all(|((m, n), step)| step.name == *n && step.module.as_deref() == Some(m.as_str()))
}

impl NacmConfig {
    /// The groups `subject` belongs to: `/nacm/groups` entries naming the user, plus the
    /// external groups when `enable-external-groups` is true.
    pub fn groups_of(&self, subject: &Subject) -> Vec<String> {
        let mut groups: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, users)| users.contains(&subject.user))
            .map(|(g, _)| g.clone())
            .collect();
        if self.external_groups {
            for g in &subject.external_groups {
                if !groups.contains(g) {
                    groups.push(g.clone());
                }
            }
        }
        groups
    }

    /// The rules that apply to these groups, in rule-list then rule order (RFC 8341 section
    /// 3.4.4 steps 5-6).
    fn rules_for<'a>(
        &'a self,
        groups: &'a [String],
    ) -> impl Iterator<Item = (&'a RuleList, &'a Rule)> {
        self.rule_lists
            .iter()
            .filter(move |list| {
                list.groups
                    .iter()
                    .any(|g| groups.iter().any(|mine| g.matches(mine)))
            })
            .flat_map(|list| list.rules.iter().map(move |r| (list, r)))
    }

    fn bypass(&self, subject: &Subject) -> Option<Decision> {
        if !self.enabled {
            return Some(Decision::of(Action::Permit, Reason::Disabled));
        }
        if subject.recovery {
            return Some(Decision::of(Action::Permit, Reason::Recovery));
        }
        None
    }

    /// May `subject` invoke the protocol operation `rpc` of `module` (RFC 8341 section
    /// 3.4.4)?
    pub fn may_exec(&self, subject: &Subject, module: &str, rpc: &str) -> Decision {
        if let Some(d) = self.bypass(subject) {
            return d;
        }
        if module == "ietf-netconf" && rpc == "close-session" {
            return Decision::of(Action::Permit, Reason::AlwaysAllowed);
        }
        let groups = self.groups_of(subject);
        for (list, rule) in self.rules_for(&groups) {
            let type_ok = match &rule.rule_type {
                RuleType::Any => true,
                RuleType::Rpc(name) => name.matches(rpc),
                RuleType::Notification(_) | RuleType::Data(_) => false,
            };
            if type_ok && rule.module.matches(module) && rule.access.contains(Access::EXEC) {
                return Decision::of(rule.action, rule_reason(list, rule));
            }
        }
        if self.protected.protects_operation(module, rpc) {
            return Decision::of(Action::Deny, Reason::ProtectedByModel);
        }
        Decision::of(self.exec_default, Reason::Default)
    }

    /// May `subject` perform `access` (read, create, update or delete) on the data node at
    /// `node` (RFC 8341 section 3.4.5)? The node's module is that of its own step.
    pub fn may_access_data(&self, subject: &Subject, node: &NodePath, access: Access) -> Decision {
        if let Some(d) = self.bypass(subject) {
            return d;
        }
        let module = node
            .last()
            .and_then(|s| s.module.as_deref())
            .unwrap_or_default();
        let groups = self.groups_of(subject);
        for (list, rule) in self.rules_for(&groups) {
            let type_ok = match &rule.rule_type {
                RuleType::Any => true,
                RuleType::Data(path) => path.covers(node),
                RuleType::Rpc(_) | RuleType::Notification(_) => false,
            };
            if type_ok && rule.module.matches(module) && rule.access.contains(access) {
                return Decision::of(rule.action, rule_reason(list, rule));
            }
        }
        if self.protected.protects_data(node, access) {
            return Decision::of(Action::Deny, Reason::ProtectedByModel);
        }
        let default = if access.is_write() {
            self.write_default
        } else {
            self.read_default
        };
        Decision::of(default, Reason::Default)
    }

    /// May `subject` receive the notification `name` of `module` (RFC 8341 section 3.4.6)?
    pub fn may_receive_notification(
        &self,
        subject: &Subject,
        module: &str,
        name: &str,
    ) -> Decision {
        if let Some(d) = self.bypass(subject) {
            return d;
        }
        if module == "nc-notifications" && matches!(name, "replayComplete" | "notificationComplete")
        {
            return Decision::of(Action::Permit, Reason::AlwaysAllowed);
        }
        let groups = self.groups_of(subject);
        for (list, rule) in self.rules_for(&groups) {
            let type_ok = match &rule.rule_type {
                RuleType::Any => true,
                RuleType::Notification(n) => n.matches(name),
                RuleType::Rpc(_) | RuleType::Data(_) => false,
            };
            if type_ok && rule.module.matches(module) && rule.access.contains(Access::READ) {
                return Decision::of(rule.action, rule_reason(list, rule));
            }
        }
        if self.protected.protects_notification(module, name) {
            return Decision::of(Action::Deny, Reason::ProtectedByModel);
        }
        Decision::of(self.read_default, Reason::Default)
    }

    /// The decision every data node gets for `access` when one rule decides for all of them
    /// (access control off, recovery session, or a first applicable data rule with no path and
    /// module `*`), so callers can skip walking the tree. `None`: it depends on the node.
    pub fn uniform_data_decision(&self, subject: &Subject, access: Access) -> Option<Action> {
        if let Some(d) = self.bypass(subject) {
            return Some(d.action);
        }
        let groups = self.groups_of(subject);
        let first = self.rules_for(&groups).find(|(_, r)| {
            matches!(r.rule_type, RuleType::Any | RuleType::Data(_)) && r.access.contains(access)
        });
        match first {
            Some((_, r)) if r.rule_type == RuleType::Any && r.module == Name::Any => Some(r.action),
            _ => None,
        }
    }
}

fn rule_reason(list: &RuleList, rule: &Rule) -> Reason {
    Reason::Rule {
        list: list.name.clone(),
        rule: rule.name.clone(),
    }
}
