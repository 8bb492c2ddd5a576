//! The commit pipeline: validate -> typed RuntimeConfig -> prepare in every subsystem (may
//! fail, nothing changes) -> apply (cannot fail: one snapshot swap). Confirmed commit (RFC
//! 6241 8.4, :confirmed-commit:1.1) keeps the previous running tree and restores it through
//! the same pipeline when the timer fires, on cancel-commit, or when its session ends.

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use yang::yang5::data::DataTree;

use netconf::error::{ErrorTag, ErrorType, RpcError};
use netconf::rpc::Datastore;

use super::datastore::Datastores;
use super::error::{error, from_problems};
use super::startup::write_atomically;
use super::validate::{tree_to_xml, validate_tree};
use crate::config::RuntimeConfig;

/// What a subsystem reserved in prepare, handed back to it in apply.
pub type Reservation = Box<dyn Any + Send>;

/// A part of the daemon a commit reaches (DHCPv4 sockets, lease database, ...).
pub trait Subsystem: Send + Sync {
    /// Name, for errors and logs.
    fn name(&self) -> &'static str;
    /// Checks `next` and reserves what it needs (sockets, files). Changes nothing visible.
    /// The error names the configuration path at fault and why.
    fn prepare(
        &self,
        current: &RuntimeConfig,
        next: &RuntimeConfig,
    ) -> Result<Reservation, RpcError>;
    /// Makes the reservation live. Called just before the new snapshot is published; cannot
    /// fail.
    fn apply(&self, reservation: Reservation);
}

/// Publishes configurations to the packet path.
pub struct Committer {
    /// The snapshot the packet path reads.
    pub config: Arc<ArcSwap<RuntimeConfig>>,
    /// Subsystems, prepared and applied in this order.
    pub subsystems: Vec<Box<dyn Subsystem>>,
}

impl Committer {
    /// Prepares every subsystem for `next`, then applies all and swaps the snapshot. If any
    /// prepare fails, the reservations made so far are dropped and nothing changes.
    pub fn install(&self, next: RuntimeConfig) -> Result<(), RpcError> {
        let current = self.config.load_full();
        let mut reservations = Vec::with_capacity(self.subsystems.len());
        for s in &self.subsystems {
            reservations.push(s.prepare(&current, &next)?);
        }
        for (s, r) in self.subsystems.iter().zip(reservations) {
            s.apply(r);
        }
        self.config.store(Arc::new(next));
        Ok(())
    }
}

/// Parameters of a confirmed commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    /// Seconds until the commit is rolled back unless confirmed.
    pub timeout: u32,
    /// Token that lets another session confirm or cancel (:confirmed-commit:1.1 persist).
    pub persist: Option<String>,
}

/// A confirmed commit waiting for its confirmation.
pub struct PendingConfirm {
    rollback: DataTree<'static>,
    session: u32,
    persist: Option<String>,
    deadline: Instant,
}

/// What became of a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Running now holds the candidate.
    Committed,
    /// Committed; will roll back at the deadline unless confirmed.
    AwaitingConfirmation,
    /// A pending confirmed commit was confirmed.
    Confirmed,
}

impl Datastores {
    /// Validates `tree` and installs it as running through the pipeline.
    fn install_tree(
        &mut self,
        committer: &Committer,
        mut tree: DataTree<'static>,
    ) -> Result<(), Vec<RpcError>> {
        let started = Instant::now();
        let runtime = validate_tree(&mut tree).map_err(from_problems)?;
        committer.install(runtime).map_err(|e| vec![e])?;
        // Kept for the change notification: the previous tree costs nothing more to keep.
        self.replaced_running = Some(std::mem::replace(&mut self.running, tree));
        self.candidate = self
            .running
            .duplicate()
            .unwrap_or_else(|_| DataTree::new(self.ctx));
        self.candidate_dirty_by = None;
        if self.settings.running_persistent {
            let path = self.settings.state_dir.join("running.xml");
            if let Err(e) = write_atomically(&path, tree_to_xml(&self.running).as_bytes()) {
                // The new configuration is live; say plainly that it will not survive a restart.
                tracing::error!(file = %path.display(), error = %e, "running configuration applied but not saved");
                return Err(vec![error(
                    ErrorType::Application,
                    ErrorTag::OperationFailed,
                    format!(
                        "configuration applied but could not be saved to {}: {e}",
                        path.display()
                    ),
                )]);
            }
        }
        tracing::info!(
            elapsed_us = started.elapsed().as_micros() as u64,
            "configuration committed"
        );
        Ok(())
    }

    /// commit (with or without confirmed).
    pub fn commit(
        &mut self,
        session: u32,
        committer: &Committer,
        pending: &mut Option<PendingConfirm>,
        confirm: Option<Confirm>,
        persist_id: Option<&str>,
    ) -> Result<CommitOutcome, Vec<RpcError>> {
        self.check_writable(Datastore::Running, session)
            .map_err(|e| vec![e])?;
        match pending.as_ref() {
            Some(p) => check_may_confirm(p, session, persist_id).map_err(|e| vec![e])?,
            // RFC 6241 8.4.5.1: a persist-id must name a pending persistent confirmed commit.
            None if persist_id.is_some() => {
                return Err(vec![RpcError::invalid_value(
                    "persist-id",
                    "no persistent confirmed commit is pending",
                )]);
            }
            None => {}
        }

        // The rollback point, kept only by a first confirmed commit: no copy otherwise.
        let previous = (confirm.is_some() && pending.is_none()).then(|| {
            self.running
                .duplicate()
                .unwrap_or_else(|_| DataTree::new(self.ctx))
        });
        let next = self
            .candidate
            .duplicate()
            .unwrap_or_else(|_| DataTree::new(self.ctx));
        self.install_tree(committer, next)?;
        match confirm {
            Some(c) => {
                let deadline = Instant::now() + Duration::from_secs(u64::from(c.timeout));
                match pending {
                    // A follow-up confirmed commit extends the window; the rollback point stays.
                    Some(p) => {
                        p.deadline = deadline;
                        p.persist = c.persist;
                        p.session = session;
                    }
                    None => {
                        *pending = Some(PendingConfirm {
                            rollback: previous.unwrap_or_else(|| DataTree::new(self.ctx)),
                            session,
                            persist: c.persist,
                            deadline,
                        })
                    }
                }
                Ok(CommitOutcome::AwaitingConfirmation)
            }
            None if pending.take().is_some() => Ok(CommitOutcome::Confirmed),
            None => Ok(CommitOutcome::Committed),
        }
    }

    /// cancel-commit: restores the configuration from before the confirmed commit.
    pub fn cancel_commit(
        &mut self,
        session: u32,
        committer: &Committer,
        pending: &mut Option<PendingConfirm>,
        persist_id: Option<&str>,
    ) -> Result<(), Vec<RpcError>> {
        let Some(p) = pending.as_ref() else {
            return Err(vec![error(
                ErrorType::Protocol,
                ErrorTag::OperationFailed,
                "no confirmed commit is pending",
            )]);
        };
        check_may_confirm(p, session, persist_id).map_err(|e| vec![e])?;
        self.roll_back(committer, pending)
    }

    /// Restores the rollback point of a pending confirmed commit.
    pub fn roll_back(
        &mut self,
        committer: &Committer,
        pending: &mut Option<PendingConfirm>,
    ) -> Result<(), Vec<RpcError>> {
        let Some(p) = pending.take() else {
            return Ok(());
        };
        let result = self.install_tree(committer, p.rollback);
        match &result {
            Ok(()) => {
                tracing::warn!("confirmed commit not confirmed: previous configuration restored")
            }
            Err(e) => tracing::error!(errors = ?e, "rolling back a confirmed commit failed"),
        }
        result
    }

    /// When the pending confirmed commit expires.
    pub fn confirm_deadline(pending: &Option<PendingConfirm>) -> Option<Instant> {
        pending.as_ref().map(|p| p.deadline)
    }

    /// Whether a pending confirmed commit ends with `session` (it had no persist token).
    pub fn pending_owned_by(pending: &Option<PendingConfirm>, session: u32) -> bool {
        pending
            .as_ref()
            .is_some_and(|p| p.persist.is_none() && p.session == session)
    }
}

fn check_may_confirm(
    p: &PendingConfirm,
    session: u32,
    persist_id: Option<&str>,
) -> Result<(), RpcError> {
    match (&p.persist, persist_id) {
        (Some(token), Some(given)) if token == given => Ok(()),
        (Some(_), _) => Err(error(
            ErrorType::Protocol,
            ErrorTag::InvalidValue,
            "a persistent confirmed commit is pending: give its persist-id",
        )),
        (None, Some(_)) => Err(error(
            ErrorType::Protocol,
            ErrorTag::InvalidValue,
            "no persistent confirmed commit has that persist-id",
        )),
        (None, None) if p.session == session => Ok(()),
        (None, None) => Err(error(
            ErrorType::Protocol,
            ErrorTag::InUse,
            format!("a confirmed commit of session {} is pending", p.session),
        )),
    }
}
