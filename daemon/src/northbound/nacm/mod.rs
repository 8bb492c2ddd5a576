//! NETCONF access control (RFC 8341): the rules come from running's `/nacm`, compiled once per
//! change of running; groups may also come from the start-up settings (external groups); one
//! user may be named the recovery user, whose sessions bypass access control.
//!
//! [`AccessControl`] is what the northbound and the notification sender call; [`rules`] is
//! the pure rule engine; [`tree`] reads libyang trees for it.

pub mod notification;
pub mod rules;
pub mod tree;

#[cfg(test)]
mod rules_tests;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use netconf::backend::SessionInfo;
use netconf::error::{ErrorTag, ErrorType, RpcError};
use netconf::rpc::Operation;
use yang::yang5::context::Context;
use yang::yang5::data::DataTree;

use super::error::{error, AtPath};
pub use rules::{Access, Action, Decision, NacmConfig, ProtectedNodes, Reason, Subject};

/// Access control settings of the start-up settings' `[nacm]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalGroups {
    /// Sessions of this user are recovery sessions (RFC 8341 section 3.3): no access control.
    pub recovery_user: Option<String>,
    /// Group name to its users. `None` (no `[nacm.groups]` table): every user is in the
    /// group `admin`, so installations configured before access control keep working.
    pub groups: Option<BTreeMap<String, Vec<String>>>,
}

impl ExternalGroups {
    /// The rule engine's view of `user`.
    pub fn subject(&self, user: &str) -> Subject {
        let external_groups = match &self.groups {
            None => vec!["admin".to_string()],
            Some(groups) => groups
                .iter()
                .filter(|(_, users)| users.iter().any(|u| u == user))
                .map(|(g, _)| g.clone())
                .collect(),
        };
        Subject {
            user: user.to_string(),
            external_groups,
            recovery: self.recovery_user.as_deref() == Some(user),
        }
    }
}

/// The ietf-netconf-acm denial counters, since start.
#[derive(Debug, Default)]
pub struct Counters {
    /// Protocol operations refused.
    pub denied_operations: AtomicU64,
    /// Edits refused because of a data node.
    pub denied_data_writes: AtomicU64,
    /// Notifications not sent.
    pub denied_notifications: AtomicU64,
}

/// Access control as requests meet it. Cheap to clone; clones share rules and counters.
#[derive(Debug, Clone)]
pub struct AccessControl {
    rules: Arc<ArcSwap<NacmConfig>>,
    external: Arc<ExternalGroups>,
    counters: Arc<Counters>,
}

impl Default for AccessControl {
    fn default() -> Self {
        AccessControl::new(ExternalGroups::default())
    }
}

impl AccessControl {
    /// Access control with the YANG defaults (and the nodes the modules protect) until
    /// [`AccessControl::load`] is called.
    pub fn new(external: ExternalGroups) -> Self {
        let defaults = NacmConfig {
            protected: tree::protected_nodes(),
            ..NacmConfig::default()
        };
        AccessControl {
            rules: Arc::new(ArcSwap::from_pointee(defaults)),
            external: Arc::new(external),
            counters: Arc::new(Counters::default()),
        }
    }

    /// Compiles `/nacm` of a newly committed running configuration.
    pub fn load(&self, running: &DataTree<'_>) {
        let next = tree::config_from_tree(running);
        if **self.rules.load() != next {
            tracing::info!(
                enabled = next.enabled,
                rule_lists = next.rule_lists.len(),
                groups = next.groups.len(),
                "access control rules loaded"
            );
            self.rules.store(Arc::new(next));
        }
    }

    /// The current rules.
    pub fn rules(&self) -> Arc<NacmConfig> {
        self.rules.load_full()
    }

    /// The rule engine's view of a user.
    pub fn subject(&self, user: &str) -> Subject {
        self.external.subject(user)
    }

    /// The denial counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Refuses a protocol operation `subject` may not invoke: access-denied, error-type
    /// protocol (RFC 8341 section 3.4.4), logged and counted.
    pub fn check_exec(
        &self,
        session: &SessionInfo,
        module: &str,
        rpc: &str,
    ) -> Result<(), RpcError> {
        let subject = self.subject(&session.username);
        let decision = self.rules().may_exec(&subject, module, rpc);
        if decision.permitted() {
            return Ok(());
        }
        self.counters
            .denied_operations
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            session = session.id,
            user = %session.username,
            operation = rpc,
            module,
            reason = ?decision.reason,
            "access denied: protocol operation"
        );
        Err(RpcError::access_denied(format!(
            "user {} may not invoke {module}:{rpc}",
            session.username
        )))
    }

    /// Refuses an edit that turns `before` into `after` when `session` may not make one of
    /// its changes: access-denied, error-type application, error-path the node (RFC 8341
    /// section 3.4.5), logged and counted.
    pub fn check_writes(
        &self,
        session: &SessionInfo,
        operation: &str,
        before: &DataTree<'_>,
        after: &DataTree<'_>,
    ) -> Result<(), RpcError> {
        let subject = self.subject(&session.username);
        let Err(denied) = tree::check_writes(&self.rules(), &subject, before, after) else {
            return Ok(());
        };
        self.counters
            .denied_data_writes
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            session = session.id,
            user = %session.username,
            operation,
            access = denied.access.name(),
            path = %denied.path,
            "access denied: data write"
        );
        Err(error(
            ErrorType::Application,
            ErrorTag::AccessDenied,
            format!(
                "user {} may not {} this node",
                session.username,
                denied.access.name()
            ),
        )
        .at(&denied.path))
    }

    /// Whether `session` may write some node at all without walking trees: true when every
    /// create, update and delete is permitted alike.
    pub fn writes_everything(&self, user: &str) -> bool {
        let subject = self.subject(user);
        let rules = self.rules();
        [Access::CREATE, Access::UPDATE, Access::DELETE]
            .into_iter()
            .all(|a| rules.uniform_data_decision(&subject, a) == Some(Action::Permit))
    }

    /// Whether `user` reads every data node, so a reply needs no pruning.
    pub fn reads_everything(&self, user: &str) -> bool {
        self.rules()
            .uniform_data_decision(&self.subject(user), Access::READ)
            == Some(Action::Permit)
    }

    /// Leaves out of `tree` what `user` may not read (silently, RFC 8341 section 3.4.5).
    pub fn prune(&self, user: &str, tree: &mut DataTree<'_>) {
        let removed = tree::prune_unreadable(&self.rules(), &self.subject(user), tree);
        if removed > 0 {
            tracing::debug!(user, removed, "unreadable nodes left out of a reply");
        }
    }

    /// Whether `user`'s session may receive the notification `name` of `module` (RFC 8341
    /// section 3.4.6); a refusal is counted (denied-notifications) and logged at debug.
    pub fn may_receive_notification(&self, user: &str, module: &str, name: &str) -> bool {
        let decision = self
            .rules()
            .may_receive_notification(&self.subject(user), module, name);
        if !decision.permitted() {
            self.counters
                .denied_notifications
                .fetch_add(1, Ordering::Relaxed);
            tracing::debug!(user, module, notification = name, reason = ?decision.reason, "notification withheld");
        }
        decision.permitted()
    }

    /// What `user` receives of a notification it may receive the type of: the content
    /// without the data nodes it may not read, `netconf-config-change` edits of targets it may
    /// not read included (RFC 8341 section 3.4.6). Content that cannot be checked is withheld:
    /// sending it could reveal what the rules hide.
    pub fn notification_view(
        &self,
        ctx: &'static Context,
        user: &str,
        body: &str,
    ) -> netconf::notification::NotificationView {
        use netconf::notification::NotificationView;
        if self.reads_everything(user) {
            return NotificationView::Whole;
        }
        match notification::prune_notification(ctx, &self.rules(), &self.subject(user), body) {
            Ok(None) => NotificationView::Whole,
            Ok(Some(pruned)) => {
                tracing::debug!(user, "unreadable nodes left out of a notification");
                NotificationView::Pruned(pruned)
            }
            Err(e) => {
                self.counters
                    .denied_notifications
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(user, error = %e, "notification withheld: content not checkable");
                NotificationView::Withheld
            }
        }
    }

    /// The hook the NETCONF server asks before it sends a notification to a session: the
    /// notification's namespace is mapped to its module (every module of `ctx`), then
    /// [`AccessControl::may_receive_notification`] decides on the type and
    /// [`AccessControl::notification_view`] on the content.
    pub fn notification_hook(
        &self,
        ctx: &'static Context,
    ) -> netconf::notification::NotificationAccess {
        let modules: std::collections::HashMap<String, String> = super::library::modules(ctx)
            .into_iter()
            .map(|m| (m.namespace, m.name))
            .collect();
        let access = self.clone();
        netconf::notification::NotificationAccess::with_view(move |session, notification| {
            let module = modules
                .get(&notification.namespace)
                .map_or(notification.namespace.as_str(), String::as_str);
            if !access.may_receive_notification(&session.username, module, &notification.name) {
                return netconf::notification::NotificationView::Withheld;
            }
            access.notification_view(ctx, &session.username, notification.body())
        })
    }

    /// The hook the NETCONF server asks before it answers kill-session or create-subscription
    /// itself: the same exec check as every other operation ([`AccessControl::check_exec`]).
    pub fn operation_hook(&self, ctx: &'static Context) -> netconf::OperationAccess {
        let access = self.clone();
        netconf::OperationAccess::new(move |session, op| {
            let (module, rpc) = operation_of(ctx, op);
            access.check_exec(session, &module, rpc)
        })
    }

    /// The ietf-netconf-acm state data: the denial counters.
    pub fn state_xml(&self) -> String {
        let c = &self.counters;
        format!(
            "<nacm xmlns=\"{}\"><denied-operations>{}</denied-operations><denied-data-writes>{}</denied-data-writes><denied-notifications>{}</denied-notifications></nacm>",
            tree::NACM_NS,
            c.denied_operations.load(Ordering::Relaxed),
            c.denied_data_writes.load(Ordering::Relaxed),
            c.denied_notifications.load(Ordering::Relaxed),
        )
    }
}

/// The module and name of the protocol operation `op`, as NACM rules name it.
pub fn operation_of<'o>(ctx: &Context, op: &'o Operation) -> (String, &'o str) {
    let module = match op {
        Operation::GetSchema { .. } => "ietf-netconf-monitoring".to_string(),
        Operation::GetData(_) => "ietf-netconf-nmda".to_string(),
        // RFC 5277's module, in its YANG form `notifications` (yang/modules/ietf/).
        Operation::CreateSubscription { .. } => "notifications".to_string(),
        Operation::Other { namespace, .. } => ctx
            .get_module_implemented_ns(namespace)
            .map(|m| m.name().to_string())
            .unwrap_or_else(|| namespace.clone()),
        _ => "ietf-netconf".to_string(),
    };
    (module, op.name())
}
