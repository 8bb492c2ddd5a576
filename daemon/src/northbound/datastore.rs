//! The configuration datastores (running, candidate, startup) and the operations on them:
//! get-config, edit-config, copy-config, delete-config, lock, unlock, validate,
//! discard-changes. Commits are in `commit.rs`. One owner, the northbound task; operations run
//! one at a time, so commits are serialized and readers see whole trees.

use std::collections::HashMap;
use std::path::PathBuf;

use yang::yang5::context::Context;
use yang::yang5::data::{DataFormat, DataPrinterFlags, DataTree};

use netconf::error::{ErrorTag, ErrorType, RpcError};
use netconf::rpc::{ConfigSource, Datastore, ErrorOption, Filter, TestOption, WithDefaults};

use super::edit::{self, Operation};
use super::error::{error, from_edit, from_filter, from_problems, lock_denied};
use super::filter;
use super::startup;
use super::validate::{tree_to_xml, validate_document, validate_tree, ValidatedConfig};

/// Start-up settings of the datastore.
#[derive(Debug, Clone)]
pub struct Settings {
    /// State directory (startup.xml, running.xml).
    pub state_dir: PathBuf,
    /// Whether running is saved on every commit and loaded at start (instead of startup).
    pub running_persistent: bool,
}

/// The three datastores, their locks and who changed the candidate.
pub struct Datastores {
    pub(super) ctx: &'static Context,
    pub(super) running: DataTree<'static>,
    pub(super) candidate: DataTree<'static>,
    pub(super) startup: DataTree<'static>,
    /// Session whose edits the candidate holds, if it differs from running.
    pub(super) candidate_dirty_by: Option<u32>,
    // Holder and when it took the lock (RFC 3339), per datastore.
    locks: HashMap<Datastore, (u32, String)>,
    pub(super) settings: Settings,
    /// The running tree a commit (or rollback) just replaced, until the northbound takes it
    /// to report the change.
    pub(super) replaced_running: Option<DataTree<'static>>,
}

fn dup(ctx: &'static Context, t: &DataTree<'static>) -> DataTree<'static> {
    t.duplicate().unwrap_or_else(|_| DataTree::new(ctx))
}

impl Datastores {
    /// Datastores whose running (and candidate) is `running`; `startup` as loaded.
    pub fn new(
        ctx: &'static Context,
        running: ValidatedConfig<'static>,
        startup: DataTree<'static>,
        settings: Settings,
    ) -> Self {
        let candidate = dup(ctx, &running.tree);
        Datastores {
            ctx,
            running: running.tree,
            candidate,
            startup,
            candidate_dirty_by: None,
            locks: HashMap::new(),
            settings,
            replaced_running: None,
        }
    }

    pub(super) fn tree(&self, name: Datastore) -> &DataTree<'static> {
        match name {
            Datastore::Running => &self.running,
            Datastore::Candidate => &self.candidate,
            Datastore::Startup => &self.startup,
        }
    }

    /// Who holds the lock on `name`.
    pub fn lock_holder(&self, name: Datastore) -> Option<u32> {
        self.locks.get(&name).map(|(s, _)| *s)
    }

    /// When the lock on `name` was taken.
    pub fn lock_time(&self, name: Datastore) -> Option<String> {
        self.locks.get(&name).map(|(_, t)| t.clone())
    }

    /// Every lock, for monitoring.
    pub fn locks(&self) -> impl Iterator<Item = (Datastore, u32)> + '_ {
        self.locks.iter().map(|(n, (s, _))| (*n, *s))
    }

    /// Refuses a change to `name` by `session` if another session holds its lock.
    pub(super) fn check_writable(&self, name: Datastore, session: u32) -> Result<(), RpcError> {
        match self.lock_holder(name) {
            Some(holder) if holder != session => Err(lock_denied(holder, name.as_str())),
            _ => Ok(()),
        }
    }

    /// get-config.
    pub fn get_config(
        &self,
        source: Datastore,
        filter: Option<&Filter>,
        wd: Option<WithDefaults>,
    ) -> Result<String, RpcError> {
        print_filtered(self.ctx, self.tree(source), filter, wd)
    }

    /// edit-config on the candidate (running is not writable: :writable-running is not
    /// advertised, so every change goes through commit).
    pub fn edit_config(
        &mut self,
        session: u32,
        target: Datastore,
        default: Operation,
        test: TestOption,
        error_option: ErrorOption,
        config: &str,
    ) -> Result<(), Vec<RpcError>> {
        if target != Datastore::Candidate {
            return Err(vec![error(
                ErrorType::Protocol,
                ErrorTag::OperationNotSupported,
                format!(
                    "edit-config on {} is not supported: edit the candidate and commit",
                    target.as_str()
                ),
            )]);
        }
        self.check_writable(target, session).map_err(|e| vec![e])?;
        let to_nb =
            |errs: Vec<edit::EditError>| errs.into_iter().map(from_edit).collect::<Vec<_>>();
        let Some(edit_tree) = edit::parse_edit(self.ctx, config).map_err(to_nb)? else {
            return Ok(());
        };
        let mut work = dup(self.ctx, &self.candidate);
        let cont = error_option == ErrorOption::ContinueOnError;
        let result = edit::apply(&mut work, &edit_tree, default, cont).map_err(to_nb);
        if let Err(errors) = &result {
            if !cont {
                return Err(errors.clone());
            }
        }
        if test != TestOption::Set {
            // Validated in place: what it adds are default nodes (printed only when asked
            // for, and the state every commit leaves the candidate in), and a refused edit
            // discards `work` anyway.
            validate_tree(&mut work).map_err(from_problems)?;
        }
        if test != TestOption::TestOnly {
            self.candidate = work;
            self.candidate_dirty_by = Some(session);
        }
        result
    }

    /// Parses and validates a configuration source into a tree.
    pub(super) fn load_source(
        &self,
        source: &ConfigSource,
    ) -> Result<ValidatedConfig<'static>, Vec<RpcError>> {
        let xml = match source {
            ConfigSource::Datastore(name) => tree_to_xml(self.tree(*name)),
            ConfigSource::Config(xml) => xml.clone(),
        };
        validate_document(self.ctx, &xml).map_err(from_problems)
    }

    /// validate.
    pub fn validate(&self, source: &ConfigSource) -> Result<(), Vec<RpcError>> {
        self.load_source(source).map(|_| ())
    }

    /// copy-config to candidate or startup. Running is changed only by commit.
    pub fn copy_config(
        &mut self,
        session: u32,
        target: Datastore,
        source: &ConfigSource,
    ) -> Result<(), Vec<RpcError>> {
        if target == Datastore::Running {
            return Err(vec![error(
                ErrorType::Protocol,
                ErrorTag::OperationNotSupported,
                "copy-config to running is not supported: copy to the candidate and commit",
            )]);
        }
        if ConfigSource::Datastore(target) == *source {
            return Err(vec![error(
                ErrorType::Protocol,
                ErrorTag::InvalidValue,
                "source and target are the same datastore",
            )]);
        }
        self.check_writable(target, session).map_err(|e| vec![e])?;
        let config = self.load_source(source)?;
        if target == Datastore::Startup {
            startup::write(&self.settings.state_dir, &tree_to_xml(&config.tree)).map_err(|e| {
                vec![error(
                    ErrorType::Application,
                    ErrorTag::OperationFailed,
                    e.to_string(),
                )]
            })?;
            self.startup = config.tree;
        } else {
            self.candidate = config.tree;
            self.candidate_dirty_by = Some(session);
        }
        Ok(())
    }

    /// delete-config (startup only; running and candidate cannot be deleted).
    pub fn delete_config(&mut self, session: u32, target: Datastore) -> Result<(), RpcError> {
        if target != Datastore::Startup {
            return Err(error(
                ErrorType::Protocol,
                ErrorTag::OperationNotSupported,
                format!("{} cannot be deleted", target.as_str()),
            ));
        }
        self.check_writable(target, session)?;
        startup::write(&self.settings.state_dir, "").map_err(|e| {
            error(
                ErrorType::Application,
                ErrorTag::OperationFailed,
                e.to_string(),
            )
        })?;
        self.startup = DataTree::new(self.ctx);
        Ok(())
    }

    /// lock.
    pub fn lock(&mut self, session: u32, target: Datastore) -> Result<(), RpcError> {
        if let Some(holder) = self.lock_holder(target) {
            return Err(lock_denied(holder, target.as_str()));
        }
        // RFC 6241 8.3.5.1: the candidate cannot be locked while it holds another session's
        // uncommitted changes.
        if target == Datastore::Candidate {
            if let Some(owner) = self.candidate_dirty_by {
                if owner != session {
                    return Err(lock_denied(
                        owner,
                        "candidate (it holds uncommitted changes of another session; discard-changes first)",
                    ));
                }
            }
        }
        self.locks
            .insert(target, (session, super::time::rfc3339_now()));
        Ok(())
    }

    /// unlock.
    pub fn unlock(&mut self, session: u32, target: Datastore) -> Result<(), RpcError> {
        match self.lock_holder(target) {
            Some(holder) if holder == session => {
                self.locks.remove(&target);
                Ok(())
            }
            Some(holder) => Err(lock_denied(holder, target.as_str())),
            None => Err(error(
                ErrorType::Protocol,
                ErrorTag::OperationFailed,
                format!("{} is not locked", target.as_str()),
            )),
        }
    }

    /// discard-changes: the candidate becomes running again.
    pub fn discard_changes(&mut self, session: u32) -> Result<(), RpcError> {
        self.check_writable(Datastore::Candidate, session)?;
        self.candidate = dup(self.ctx, &self.running);
        self.candidate_dirty_by = None;
        Ok(())
    }

    /// A session ended: its locks go, and if it held the candidate lock its changes are
    /// discarded (RFC 6241 8.3.5.2).
    pub fn session_ended(&mut self, session: u32) {
        let held_candidate = self.lock_holder(Datastore::Candidate) == Some(session);
        self.locks.retain(|_, (s, _)| *s != session);
        if held_candidate && self.candidate_dirty_by.is_some() {
            self.candidate = dup(self.ctx, &self.running);
            self.candidate_dirty_by = None;
        }
    }
}

/// What `filter` selects from `tree`, printed in with-defaults mode `wd`: without a filter the
/// tree itself, with one the selection straight from the tree when it can be, otherwise a copy
/// of it.
pub fn print_filtered(
    ctx: &Context,
    tree: &DataTree<'_>,
    filter: Option<&Filter>,
    wd: Option<WithDefaults>,
) -> Result<String, RpcError> {
    let Some(f) = filter else {
        return Ok(print_with_defaults(tree, wd));
    };
    if let Some(defaults) = printable_defaults(wd) {
        if let Some(text) = filter::print_selection(ctx, tree, f, defaults).map_err(from_filter)? {
            return Ok(text);
        }
    }
    let selected = filter::select(ctx, tree, filter).map_err(from_filter)?;
    Ok(print_with_defaults(&selected, wd))
}

/// The with-defaults modes [`filter::print_selection`] prints (report-all-tagged needs an
/// attribute it does not write).
pub fn printable_defaults(wd: Option<WithDefaults>) -> Option<filter::Defaults> {
    match wd {
        None | Some(WithDefaults::Explicit) => Some(filter::Defaults::Explicit),
        Some(WithDefaults::ReportAll) => Some(filter::Defaults::ReportAll),
        Some(WithDefaults::Trim) => Some(filter::Defaults::Trim),
        Some(WithDefaults::ReportAllTagged) => None,
    }
}

/// libyang's printer flag for a with-defaults mode (RFC 6243); explicit when none is asked.
pub fn with_defaults_flag(wd: Option<WithDefaults>) -> DataPrinterFlags {
    match wd {
        None | Some(WithDefaults::Explicit) => DataPrinterFlags::WD_EXPLICIT,
        Some(WithDefaults::ReportAll) => DataPrinterFlags::WD_ALL,
        Some(WithDefaults::ReportAllTagged) => {
            DataPrinterFlags::from_bits_retain(yang::yang5::ffi::LYD_PRINT_WD_ALL_TAG)
        }
        Some(WithDefaults::Trim) => DataPrinterFlags::WD_TRIM,
    }
}

/// Prints a tree as the children of `<data>` in the given with-defaults mode.
pub fn print_with_defaults(tree: &DataTree<'_>, wd: Option<WithDefaults>) -> String {
    yang::data::print(
        tree,
        DataFormat::XML,
        DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::SHRINK | with_defaults_flag(wd),
    )
}
