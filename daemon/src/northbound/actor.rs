//! The northbound task: answers the NETCONF server's requests from the datastores, one at a
//! time, and fires the confirmed-commit timer. It runs on its own thread so a large commit
//! never stalls the SSH sessions.

use netconf::backend::{Reply, Request, SessionInfo};
use netconf::error::{ErrorTag, ErrorType, RpcError};
use netconf::rpc::{DefaultOperation, Operation};
use tokio::sync::mpsc;
use yang::yang5::data::{DataFormat, DataParserFlags, DataTree, DataValidationFlags};

use super::commit::{CommitOutcome, Committer, Confirm, PendingConfirm};
use super::datastore::{print_filtered, Datastores};
use super::edit;
use super::error::error;
use super::library::{self, ModuleInfo};

/// A get waiting for its leases: the request and what the engines answered.
struct LeasesRead {
    session: SessionInfo,
    op: Operation,
    reply: netconf::backend::Responder,
    leases: Result<String, RpcError>,
}

/// The datastores and everything a request may need.
pub struct Northbound {
    ds: Datastores,
    committer: Committer,
    pending: Option<PendingConfirm>,
    modules: Vec<ModuleInfo>,
    sessions: Option<netconf::Sessions>,
    state: super::state::Sources,
    access: super::nacm::AccessControl,
    notifier: Option<super::notifications::ConfigNotifier>,
    /// The leases the request being answered selects (a `/server/state` document), read from
    /// the engines before it is handled and merged into the operational state.
    leases: Option<String>,
    /// Most leases one get may return (`[netconf] max_leases_in_get`).
    max_leases_in_get: usize,
}

impl Northbound {
    /// A northbound over `ds`, installing configurations through `committer`.
    pub fn new(ds: Datastores, committer: Committer, state: super::state::Sources) -> Self {
        let modules = library::modules(ds.ctx);
        let access = super::nacm::AccessControl::default();
        access.load(&ds.running);
        Northbound {
            ds,
            committer,
            pending: None,
            modules,
            sessions: None,
            state,
            access,
            notifier: None,
            leases: None,
            max_leases_in_get: super::lease_state::DEFAULT_MAX_LEASES_IN_GET,
        }
    }

    /// Publishes a netconf-config-change through `publisher` after each change of running;
    /// the receiver follows the pool-utilization thresholds of running.
    pub fn set_notifications(
        &mut self,
        publisher: netconf::Publisher,
    ) -> tokio::sync::watch::Receiver<super::notifications::PoolThresholds> {
        let (notifier, thresholds) =
            super::notifications::ConfigNotifier::new(publisher, &self.ds.running);
        self.notifier = Some(notifier);
        thresholds
    }

    /// Reports the change of running the last operation made, if it made one.
    fn notify_running_change(&mut self, session: Option<&SessionInfo>) {
        let Some(old) = self.ds.replaced_running.take() else {
            return;
        };
        let Some(notifier) = &self.notifier else {
            return;
        };
        let by = match session {
            None => super::notifications::ChangedBy::Server,
            Some(s) => super::notifications::ChangedBy::Session {
                id: s.id,
                username: s.username.clone(),
                source_host: self
                    .sessions
                    .as_ref()
                    .and_then(|all| all.list().into_iter().find(|x| x.id == s.id))
                    .map(|x| x.source_host),
            },
        };
        notifier.running_changed(self.ds.ctx, &old, &self.ds.running, &by);
    }

    /// Groups and recovery user of the start-up settings' `[nacm]` table.
    pub fn set_access_control(&mut self, external: super::nacm::ExternalGroups) {
        self.access = super::nacm::AccessControl::new(external);
        self.access.load(&self.ds.running);
    }

    /// The access control in force, for the notification sender.
    pub fn access_control(&self) -> super::nacm::AccessControl {
        self.access.clone()
    }

    /// Where the monitoring state finds the live NETCONF sessions.
    pub fn set_sessions(&mut self, sessions: netconf::Sessions) {
        self.sessions = Some(sessions);
    }

    /// Most leases one get may return; a get selecting more answers too-big.
    pub fn set_max_leases_in_get(&mut self, max: usize) {
        self.max_leases_in_get = max;
    }

    /// The capabilities the hello advertises beyond base.
    pub fn capabilities(&self) -> Vec<String> {
        library::capabilities(&self.modules)
    }

    /// Serves requests until the channel closes.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        let (leases_read_tx, mut leases_read) = mpsc::unbounded_channel::<LeasesRead>();
        loop {
            let deadline = Datastores::confirm_deadline(&self.pending);
            let sleep = async move {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = rx.recv() => match msg {
                    None => break,
                    Some(Request::Rpc { session, op, reply }) => {
                        let (module, rpc_name) = super::nacm::operation_of(self.ds.ctx, &op);
                        if let Err(e) = self.access.check_exec(&session, &module, rpc_name) {
                            let _ = reply.send(Err(vec![e]));
                            continue;
                        }
                        if let Some(rpc) = super::lease_rpc::parse(&op) {
                            // The engines answer from their threads; the datastore keeps
                            // serving meanwhile.
                            let targets = super::lease_rpc::LeaseTargets {
                                port: self.state.ha.clone(),
                                writers: self.state.lease_writers.clone(),
                                config: self.committer.config.clone(),
                            };
                            tokio::spawn(async move {
                                let result = match rpc {
                                    Ok(rpc) => super::lease_rpc::run(targets, rpc).await,
                                    Err(e) => Err(vec![e]),
                                };
                                let _ = reply.send(result);
                            });
                            continue;
                        }
                        if let Some(event) = super::ha_rpc::event_of(&op) {
                            // The relationship answers from another thread; the datastore
                            // keeps serving meanwhile.
                            let port = self.state.ha.clone();
                            tokio::spawn(async move {
                                let _ = reply.send(super::ha_rpc::run(port, event).await);
                            });
                            continue;
                        }
                        // A get that selects leases is answered once the engines have listed
                        // them (off this thread); the datastore keeps serving meanwhile.
                        if let Some(filter) = super::lease_state::filter_of(&op) {
                            let wanted = super::lease_state::readable_part(
                                &self.access,
                                &session.username,
                                super::lease_state::wanted(self.ds.ctx, filter),
                            );
                            if !wanted.is_empty() {
                                let port = self.state.ha.clone();
                                let max = self.max_leases_in_get;
                                let done = leases_read_tx.clone();
                                tokio::spawn(async move {
                                    let leases =
                                        super::lease_state::fetch(&port, &wanted, max).await;
                                    let _ = done.send(LeasesRead { session, op, reply, leases });
                                });
                                continue;
                            }
                        }
                        let name = op.name().to_string();
                        let result = self.handle(&session, op);
                        // Rules first, so the notification of this change is sent under them.
                        if matches!(name.as_str(), "commit" | "cancel-commit") {
                            self.access.load(&self.ds.running);
                        }
                        self.notify_running_change(Some(&session));
                        if let Err(errors) = &result {
                            tracing::debug!(session = session.id, op = %name, ?errors, "rpc-error");
                        }
                        let _ = reply.send(result);
                    }
                    Some(Request::SessionEnded { id }) => self.session_ended(id),
                },
                Some(read) = leases_read.recv() => self.answer_with_leases(read),
                _ = sleep => {
                    tracing::warn!("confirmed commit timed out");
                    let _ = self.ds.roll_back(&self.committer, &mut self.pending);
                    self.access.load(&self.ds.running);
                    self.notify_running_change(None);
                }
            }
        }
    }

    /// Answers a get whose leases the engines have listed (or refused: too-big).
    fn answer_with_leases(&mut self, read: LeasesRead) {
        let result = match read.leases {
            Ok(leases) => {
                self.leases = Some(leases);
                let result = self.handle(&read.session, read.op);
                self.leases = None;
                result
            }
            Err(e) => Err(vec![e]),
        };
        if let Err(errors) = &result {
            tracing::debug!(session = read.session.id, ?errors, "rpc-error");
        }
        let _ = read.reply.send(result);
    }

    fn session_ended(&mut self, id: u32) {
        self.ds.session_ended(id);
        if Datastores::pending_owned_by(&self.pending, id) {
            tracing::warn!(session = id, "session of a pending confirmed commit ended");
            let _ = self.ds.roll_back(&self.committer, &mut self.pending);
            self.access.load(&self.ds.running);
            self.notify_running_change(None);
        }
    }

    fn handle(&mut self, session: &SessionInfo, op: Operation) -> Result<Reply, Vec<RpcError>> {
        let sid = session.id;
        let one = |e: RpcError| vec![e];
        match op {
            Operation::GetConfig {
                source,
                filter,
                with_defaults,
            } => self
                .get_config(&session.username, source, filter.as_ref(), with_defaults)
                .map(Reply::Data)
                .map_err(one),
            Operation::Get {
                filter,
                with_defaults,
            } => self
                .get(&session.username, filter.as_ref(), with_defaults)
                .map(Reply::Data)
                .map_err(one),
            Operation::GetData(request) => self
                .get_data(&session.username, &request)
                .map(Reply::Output)
                .map_err(one),
            Operation::EditConfig {
                target,
                default_operation,
                test_option,
                error_option,
                config,
            } => {
                let default = match default_operation {
                    DefaultOperation::Merge => edit::Operation::Merge,
                    DefaultOperation::Replace => edit::Operation::Replace,
                    DefaultOperation::None => edit::Operation::None,
                };
                // Write access is checked on what the edit changed in the candidate; commit
                // then needs only exec access (RFC 8341 section 3.4.5).
                let before = (!self.access.writes_everything(&session.username))
                    .then(|| self.ds.candidate.duplicate().ok())
                    .flatten();
                let dirty_by = self.ds.candidate_dirty_by;
                let result =
                    self.ds
                        .edit_config(sid, target, default, test_option, error_option, &config);
                if let Some(before) = before {
                    let checked = self.access.check_writes(
                        session,
                        "edit-config",
                        &before,
                        &self.ds.candidate,
                    );
                    if let Err(e) = checked {
                        self.ds.candidate = before;
                        self.ds.candidate_dirty_by = dirty_by;
                        return Err(vec![e]);
                    }
                }
                result.map(|()| Reply::Ok)
            }
            Operation::CopyConfig { target, source, .. } => {
                if !self.access.writes_everything(&session.username) {
                    let next = self.ds.load_source(&source)?;
                    self.access
                        .check_writes(session, "copy-config", self.ds.tree(target), &next.tree)
                        .map_err(one)?;
                }
                self.ds
                    .copy_config(sid, target, &source)
                    .map(|()| Reply::Ok)
            }
            Operation::DeleteConfig { target } => {
                if !self.access.writes_everything(&session.username) {
                    let empty = DataTree::new(self.ds.ctx);
                    self.access
                        .check_writes(session, "delete-config", self.ds.tree(target), &empty)
                        .map_err(one)?;
                }
                self.ds
                    .delete_config(sid, target)
                    .map(|()| Reply::Ok)
                    .map_err(one)
            }
            Operation::Lock { target } => {
                self.ds.lock(sid, target).map(|()| Reply::Ok).map_err(one)
            }
            Operation::Unlock { target } => {
                self.ds.unlock(sid, target).map(|()| Reply::Ok).map_err(one)
            }
            Operation::Validate { source } => self.ds.validate(&source).map(|()| Reply::Ok),
            Operation::Commit {
                confirmed,
                confirm_timeout,
                persist,
                persist_id,
            } => {
                let confirm = confirmed.then_some(Confirm {
                    timeout: confirm_timeout,
                    persist,
                });
                let outcome = self.ds.commit(
                    sid,
                    &self.committer,
                    &mut self.pending,
                    confirm,
                    persist_id.as_deref(),
                )?;
                if outcome == CommitOutcome::Confirmed {
                    tracing::info!(session = sid, "confirmed commit confirmed");
                }
                Ok(Reply::Ok)
            }
            Operation::CancelCommit { persist_id } => self
                .ds
                .cancel_commit(
                    sid,
                    &self.committer,
                    &mut self.pending,
                    persist_id.as_deref(),
                )
                .map(|()| Reply::Ok),
            Operation::DiscardChanges => self
                .ds
                .discard_changes(sid)
                .map(|()| Reply::Ok)
                .map_err(one),
            Operation::GetSchema {
                identifier,
                version,
                format,
            } => {
                if format.as_deref().is_some_and(|f| f != "yang") {
                    return Err(vec![RpcError::invalid_value(
                        "format",
                        "only the yang format is available",
                    )]);
                }
                match library::schema(&self.modules, &identifier, version.as_deref()).as_slice() {
                    [one] => Ok(Reply::Schema(one.text.clone())),
                    [] => Err(vec![RpcError::invalid_value(
                        "identifier",
                        format!("no schema {identifier}"),
                    )]),
                    _ => Err(vec![error(
                        ErrorType::Application,
                        ErrorTag::OperationFailed,
                        "more than one revision matches; give the version",
                    )
                    .with_app_tag("data-not-unique")]),
                }
            }
            Operation::CloseSession
            | Operation::KillSession { .. }
            | Operation::CreateSubscription { .. } => Err(vec![error(
                ErrorType::Protocol,
                ErrorTag::OperationFailed,
                "handled by the session layer",
            )]),
            Operation::Other { name, .. } => Err(vec![RpcError::operation_not_supported(&name)]),
        }
    }

    /// get: running configuration plus state data (server state, NETCONF monitoring, YANG
    /// library).
    fn get(
        &self,
        user: &str,
        filter: Option<&netconf::rpc::Filter>,
        wd: Option<netconf::rpc::WithDefaults>,
    ) -> Result<String, RpcError> {
        let all = self.operational(user);
        print_filtered(self.ds.ctx, &all, filter, wd)
    }

    /// The operational datastore as `user` may read it: running configuration plus state data
    /// (server state, NETCONF monitoring, YANG library), the unreadable nodes left out before
    /// any filter runs. Shared by get and get-data.
    fn operational(&self, user: &str) -> DataTree<'static> {
        let ctx = self.ds.ctx;
        let mut all = self
            .ds
            .running
            .duplicate()
            .unwrap_or_else(|_| DataTree::new(ctx));
        for xml in [
            library::yang_library_xml(&self.modules),
            self.monitoring_xml(),
            super::state::state_xml(&self.state),
            self.access.state_xml(),
        ]
        .into_iter()
        .chain(self.leases.iter().cloned())
        // RFC 5277 /netconf/streams, when notifications are on.
        .chain(
            self.notifier
                .as_ref()
                .map(super::notifications::ConfigNotifier::streams_xml),
        ) {
            match DataTree::parse_string(
                ctx,
                &xml,
                DataFormat::XML,
                DataParserFlags::NO_VALIDATION,
                DataValidationFlags::empty(),
            ) {
                Ok(state) => {
                    let _ = all.merge(&state);
                }
                Err(e) => tracing::error!(error = %e, "state data does not fit its model"),
            }
        }
        if !self.access.reads_everything(user) {
            self.access.prune(user, &mut all);
        }
        all
    }

    /// get-config, without the nodes `user` may not read (left out before the filter runs,
    /// so a filter cannot reveal them).
    fn get_config(
        &self,
        user: &str,
        source: netconf::rpc::Datastore,
        filter: Option<&netconf::rpc::Filter>,
        wd: Option<netconf::rpc::WithDefaults>,
    ) -> Result<String, RpcError> {
        if self.access.reads_everything(user) {
            return self.ds.get_config(source, filter, wd);
        }
        let ctx = self.ds.ctx;
        let mut readable = self
            .ds
            .tree(source)
            .duplicate()
            .unwrap_or_else(|_| DataTree::new(ctx));
        self.access.prune(user, &mut readable);
        print_filtered(ctx, &readable, filter, wd)
    }

    /// get-data (RFC 8526): the datastore asked for as `user` may read it (unreadable nodes
    /// left out before the filters run), then the request's filters.
    fn get_data(&self, user: &str, request: &netconf::rpc::GetData) -> Result<String, RpcError> {
        let ctx = self.ds.ctx;
        let ds = match request.datastore {
            netconf::rpc::NmdaDatastore::Operational => {
                return super::get_data::answer(ctx, &self.operational(user), request, true);
            }
            netconf::rpc::NmdaDatastore::Conventional(ds) => ds,
        };
        if self.access.reads_everything(user) {
            return super::get_data::answer(ctx, self.ds.tree(ds), request, false);
        }
        let mut readable = self
            .ds
            .tree(ds)
            .duplicate()
            .unwrap_or_else(|_| DataTree::new(ctx));
        self.access.prune(user, &mut readable);
        super::get_data::answer(ctx, &readable, request, false)
    }

    /// ietf-netconf-monitoring (RFC 6022): capabilities, datastores with their locks, schemas.
    fn monitoring_xml(&self) -> String {
        let mut x = String::from("<netconf-state xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring\"><capabilities>");
        x.push_str("<capability>urn:ietf:params:netconf:base:1.0</capability><capability>urn:ietf:params:netconf:base:1.1</capability>");
        for c in self.capabilities() {
            x.push_str(&format!(
                "<capability>{}</capability>",
                c.replace('&', "&amp;")
            ));
        }
        x.push_str("</capabilities><datastores>");
        for ds in [
            netconf::rpc::Datastore::Running,
            netconf::rpc::Datastore::Candidate,
            netconf::rpc::Datastore::Startup,
        ] {
            x.push_str(&format!("<datastore><name>{}</name>", ds.as_str()));
            if let Some(holder) = self.ds.lock_holder(ds) {
                x.push_str(&format!(
                    "<locks><global-lock><locked-by-session>{holder}</locked-by-session><locked-time>{}</locked-time></global-lock></locks>",
                    self.ds.lock_time(ds).unwrap_or_default()
                ));
            }
            x.push_str("</datastore>");
        }
        x.push_str("</datastores><schemas>");
        for m in &self.modules {
            x.push_str(&format!(
                "<schema><identifier>{}</identifier><version>{}</version><format>yang</format><namespace>{}</namespace><location>NETCONF</location></schema>",
                m.name,
                m.revision.as_deref().unwrap_or(""),
                m.namespace
            ));
        }
        x.push_str("</schemas><sessions>");
        for s in self.sessions.as_ref().map(|s| s.list()).unwrap_or_default() {
            let login = s
                .login_time
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            x.push_str(&format!(
                "<session><session-id>{}</session-id><transport xmlns:ncm=\"urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring\">ncm:netconf-ssh</transport><username>{}</username><source-host>{}</source-host><login-time>{}</login-time><in-rpcs>{}</in-rpcs><in-bad-rpcs>{}</in-bad-rpcs><out-rpc-errors>{}</out-rpc-errors><out-notifications>{}</out-notifications></session>",
                s.id,
                netconf::xml::escape_text(&s.username),
                s.source_host,
                super::time::rfc3339(login),
                s.in_rpcs,
                s.in_bad_rpcs,
                s.out_rpc_errors,
                s.out_notifications
            ));
        }
        x.push_str("</sessions></netconf-state>");
        x
    }
}
