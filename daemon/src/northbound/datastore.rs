//! The configuration datastores (running, candidate, startup) and the operations on them:
//! get-config, edit-config, copy-config, delete-config, lock, unlock, validate,
//! discard-changes. Commits are in `commit.rs`. One owner, the northbound task; operations run
//! one at a time, so commits are serialized and readers see whole trees.

use std::collections::HashMap;
use std::path::PathBuf;

use yang::yang5::context::Context;
use yang::yang5::data::{Data, DataFormat, DataPrinterFlags, DataTree};

use super::edit::{self, Operation};
use super::error::{Layer, NbError, Tag};
use super::filter::{self, Filter};
use super::startup;
use super::validate::{tree_to_xml, validate_document, validate_tree, ValidatedConfig};

/// A datastore name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Name {
    /// running
    Running,
    /// candidate
    Candidate,
    /// startup
    Startup,
}

impl Name {
    /// Its NETCONF element name.
    pub fn as_str(self) -> &'static str {
        match self {
            Name::Running => "running",
            Name::Candidate => "candidate",
            Name::Startup => "startup",
        }
    }
}

/// Where copy-config or validate takes a configuration from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A datastore.
    Datastore(Name),
    /// An inline `<config>` (its children).
    Inline(String),
}

/// with-defaults retrieval modes (RFC 6243).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WithDefaults {
    /// Only what was set explicitly (this server's basic mode).
    #[default]
    Explicit,
    /// Defaults too.
    ReportAll,
    /// Defaults too, tagged with wd:default="true".
    ReportAllTagged,
    /// Nothing that equals its default.
    Trim,
}

/// test-option of edit-config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestOption {
    /// Validate, then apply.
    TestThenSet,
    /// Apply without validating.
    Set,
    /// Validate only.
    TestOnly,
}

/// error-option of edit-config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorOption {
    /// Stop at the first error (this server then leaves the target unchanged).
    StopOnError,
    /// Apply what can be applied, report every error.
    ContinueOnError,
    /// Leave the target unchanged on any error.
    RollbackOnError,
}

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
    locks: HashMap<Name, u32>,
    pub(super) settings: Settings,
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
        }
    }

    pub(super) fn tree(&self, name: Name) -> &DataTree<'static> {
        match name {
            Name::Running => &self.running,
            Name::Candidate => &self.candidate,
            Name::Startup => &self.startup,
        }
    }

    /// Who holds the lock on `name`.
    pub fn lock_holder(&self, name: Name) -> Option<u32> {
        self.locks.get(&name).copied()
    }

    /// Every lock, for monitoring.
    pub fn locks(&self) -> impl Iterator<Item = (Name, u32)> + '_ {
        self.locks.iter().map(|(n, s)| (*n, *s))
    }

    /// Refuses a change to `name` by `session` if another session holds its lock.
    pub(super) fn check_writable(&self, name: Name, session: u32) -> Result<(), NbError> {
        match self.locks.get(&name) {
            Some(holder) if *holder != session => Err(NbError::lock_denied(*holder, name.as_str())),
            _ => Ok(()),
        }
    }

    /// get-config.
    pub fn get_config(
        &self,
        source: Name,
        filter: Option<&Filter>,
        wd: WithDefaults,
    ) -> Result<String, NbError> {
        let selected = filter::select(self.ctx, self.tree(source), filter)?;
        Ok(print_with_defaults(&selected, wd))
    }

    /// edit-config on the candidate (running is not writable: :writable-running is not
    /// advertised, so every change goes through commit).
    pub fn edit_config(
        &mut self,
        session: u32,
        target: Name,
        default: Operation,
        test: TestOption,
        error: ErrorOption,
        config: &str,
    ) -> Result<(), Vec<NbError>> {
        if target != Name::Candidate {
            return Err(vec![NbError::new(
                Tag::OperationNotSupported,
                Layer::Protocol,
                format!(
                    "edit-config on {} is not supported: edit the candidate and commit",
                    target.as_str()
                ),
            )]);
        }
        self.check_writable(target, session).map_err(|e| vec![e])?;
        let to_nb =
            |errs: Vec<edit::EditError>| errs.into_iter().map(NbError::from).collect::<Vec<_>>();
        let Some(edit_tree) = edit::parse_edit(self.ctx, config).map_err(to_nb)? else {
            return Ok(());
        };
        let mut work = dup(self.ctx, &self.candidate);
        let cont = error == ErrorOption::ContinueOnError;
        let result = edit::apply(&mut work, &edit_tree, default, cont).map_err(to_nb);
        if let Err(errors) = &result {
            if !cont {
                return Err(errors.clone());
            }
        }
        if test != TestOption::Set {
            let mut check = dup(self.ctx, &work);
            validate_tree(&mut check)
                .map_err(|p| p.into_iter().map(NbError::from).collect::<Vec<_>>())?;
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
        source: &Source,
    ) -> Result<ValidatedConfig<'static>, Vec<NbError>> {
        let xml = match source {
            Source::Datastore(name) => tree_to_xml(self.tree(*name)),
            Source::Inline(xml) => xml.clone(),
        };
        validate_document(self.ctx, &xml).map_err(|p| p.into_iter().map(NbError::from).collect())
    }

    /// validate.
    pub fn validate(&self, source: &Source) -> Result<(), Vec<NbError>> {
        self.load_source(source).map(|_| ())
    }

    /// copy-config to candidate or startup. Running is changed only by commit.
    pub fn copy_config(
        &mut self,
        session: u32,
        target: Name,
        source: &Source,
    ) -> Result<(), Vec<NbError>> {
        if target == Name::Running {
            return Err(vec![NbError::new(
                Tag::OperationNotSupported,
                Layer::Protocol,
                "copy-config to running is not supported: copy to the candidate and commit",
            )]);
        }
        if Source::Datastore(target) == *source {
            return Err(vec![NbError::new(
                Tag::InvalidValue,
                Layer::Protocol,
                "source and target are the same datastore",
            )]);
        }
        self.check_writable(target, session).map_err(|e| vec![e])?;
        let config = self.load_source(source)?;
        if target == Name::Startup {
            startup::write(&self.settings.state_dir, &tree_to_xml(&config.tree)).map_err(|e| {
                vec![NbError::new(
                    Tag::OperationFailed,
                    Layer::Application,
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
    pub fn delete_config(&mut self, session: u32, target: Name) -> Result<(), NbError> {
        if target != Name::Startup {
            return Err(NbError::new(
                Tag::OperationNotSupported,
                Layer::Protocol,
                format!("{} cannot be deleted", target.as_str()),
            ));
        }
        self.check_writable(target, session)?;
        startup::write(&self.settings.state_dir, "")
            .map_err(|e| NbError::new(Tag::OperationFailed, Layer::Application, e.to_string()))?;
        self.startup = DataTree::new(self.ctx);
        Ok(())
    }

    /// lock.
    pub fn lock(&mut self, session: u32, target: Name) -> Result<(), NbError> {
        if let Some(holder) = self.locks.get(&target) {
            return Err(NbError::lock_denied(*holder, target.as_str()));
        }
        // RFC 6241 8.3.5.1: the candidate cannot be locked while it holds another session's
        // uncommitted changes.
        if target == Name::Candidate {
            if let Some(owner) = self.candidate_dirty_by {
                if owner != session {
                    return Err(NbError::lock_denied(
                        owner,
                        "candidate (it holds uncommitted changes of another session; discard-changes first)",
                    ));
                }
            }
        }
        self.locks.insert(target, session);
        Ok(())
    }

    /// unlock.
    pub fn unlock(&mut self, session: u32, target: Name) -> Result<(), NbError> {
        match self.locks.get(&target) {
            Some(holder) if *holder == session => {
                self.locks.remove(&target);
                Ok(())
            }
            Some(holder) => Err(NbError::lock_denied(*holder, target.as_str())),
            None => Err(NbError::new(
                Tag::OperationFailed,
                Layer::Protocol,
                format!("{} is not locked", target.as_str()),
            )),
        }
    }

    /// discard-changes: the candidate becomes running again.
    pub fn discard_changes(&mut self, session: u32) -> Result<(), NbError> {
        self.check_writable(Name::Candidate, session)?;
        self.candidate = dup(self.ctx, &self.running);
        self.candidate_dirty_by = None;
        Ok(())
    }

    /// A session ended: its locks go, and if it held the candidate lock its changes are
    /// discarded (RFC 6241 8.3.5.2).
    pub fn session_ended(&mut self, session: u32) {
        let held_candidate = self.locks.get(&Name::Candidate) == Some(&session);
        self.locks.retain(|_, s| *s != session);
        if held_candidate && self.candidate_dirty_by.is_some() {
            self.candidate = dup(self.ctx, &self.running);
            self.candidate_dirty_by = None;
        }
    }
}

/// Prints a tree as the children of `<data>` in the given with-defaults mode.
pub fn print_with_defaults(tree: &DataTree<'_>, wd: WithDefaults) -> String {
    let mode = match wd {
        WithDefaults::Explicit => DataPrinterFlags::WD_EXPLICIT,
        WithDefaults::ReportAll => DataPrinterFlags::WD_ALL,
        WithDefaults::ReportAllTagged => {
            DataPrinterFlags::from_bits_retain(yang::yang5::ffi::LYD_PRINT_WD_ALL_TAG)
        }
        WithDefaults::Trim => DataPrinterFlags::WD_TRIM,
    };
    if tree.reference().is_none() {
        return String::new();
    }
    tree.print_string(
        DataFormat::XML,
        DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::SHRINK | mode,
    )
    .unwrap_or_default()
}
