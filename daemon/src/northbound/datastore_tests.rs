//! Datastore operations and the commit pipeline, with a subsystem that can be told to fail.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use netconf::error::{ErrorInfo, ErrorTag, RpcError};
use netconf::rpc::{ConfigSource, Datastore, ErrorOption, TestOption};

use super::commit::{Committer, Confirm, PendingConfirm, Reservation, Subsystem};
use super::datastore::{Datastores, Settings};
use super::edit::Operation;
use super::error::error;
use super::validate_document;
use crate::config::RuntimeConfig;

struct Switch {
    fail: Arc<AtomicBool>,
}

impl Subsystem for Switch {
    fn name(&self) -> &'static str {
        "test"
    }
    fn prepare(&self, _: &RuntimeConfig, _: &RuntimeConfig) -> Result<Reservation, RpcError> {
        if self.fail.load(Ordering::Relaxed) {
            Err(error(
                netconf::error::ErrorType::Application,
                ErrorTag::OperationFailed,
                "refused by test",
            ))
        } else {
            Ok(Box::new(()))
        }
    }
    fn apply(&self, _: Reservation) {}
}

const NS: &str = r#"xmlns="urn:netdhcp:yang:netdhcp-server""#;

struct Fixture {
    ds: Datastores,
    committer: Committer,
    pending: Option<PendingConfirm>,
    fail: Arc<AtomicBool>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let ctx = yang::context().expect("context");
    let dir = tempfile::tempdir().expect("tempdir");
    let running = validate_document(
        ctx,
        &format!("<server {NS}><dhcpv4><valid-lifetime>100</valid-lifetime></dhcpv4></server>"),
    )
    .map_err(|p| format!("{p:?}"))
    .expect("valid");
    let config = Arc::new(ArcSwap::from_pointee(running.runtime.clone()));
    let fail = Arc::new(AtomicBool::new(false));
    let committer = Committer {
        config,
        subsystems: vec![Box::new(Switch { fail: fail.clone() })],
    };
    let startup = yang::yang5::data::DataTree::new(ctx);
    let ds = Datastores::new(
        ctx,
        running,
        startup,
        Settings {
            state_dir: dir.path().into(),
            running_persistent: false,
        },
    );
    Fixture {
        ds,
        committer,
        pending: None,
        fail,
        _dir: dir,
    }
}

impl Fixture {
    fn edit(&mut self, session: u32, body: &str) -> Result<(), Vec<RpcError>> {
        self.ds.edit_config(
            session,
            Datastore::Candidate,
            Operation::Merge,
            TestOption::TestThenSet,
            ErrorOption::RollbackOnError,
            &format!("<server {NS}>{body}</server>"),
        )
    }
    /// Edits the global valid-lifetime in the candidate.
    fn set_lifetime(&mut self, session: u32, secs: u32) {
        let body = format!("<dhcpv4><valid-lifetime>{secs}</valid-lifetime></dhcpv4>");
        self.edit(session, &body).expect("edit");
    }

    /// The global valid-lifetime in running, as a client of get-config reads it.
    fn lifetime(&self) -> u32 {
        let xml = self
            .ds
            .get_config(Datastore::Running, None, None)
            .expect("get");
        xml.split("<valid-lifetime>")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    fn commit(
        &mut self,
        session: u32,
        confirm: Option<Confirm>,
        persist_id: Option<&str>,
    ) -> Result<(), Vec<RpcError>> {
        self.ds
            .commit(
                session,
                &self.committer,
                &mut self.pending,
                confirm,
                persist_id,
            )
            .map(|_| ())
    }
}

/// A confirmed commit with a 60 s timeout, persistent under `persist` if given.
fn confirmed(persist: Option<&str>) -> Option<Confirm> {
    Some(Confirm {
        timeout: 60,
        persist: persist.map(Into::into),
    })
}

fn subnet(id: u32, prefix: &str) -> String {
    format!("<dhcpv4><subnet><id>{id}</id><prefix>{prefix}</prefix></subnet></dhcpv4>")
}

#[test]
fn commit_publishes_a_new_snapshot() {
    let mut f = fixture();
    f.edit(1, &subnet(1, "100.64.0.0/24")).unwrap();
    assert!(
        f.committer.config.load().dhcp4.subnet(1).is_none(),
        "candidate is not live"
    );
    f.commit(1, None, None).unwrap();
    assert!(f.committer.config.load().dhcp4.subnet(1).is_some());
    assert!(f
        .ds
        .get_config(Datastore::Running, None, None)
        .unwrap()
        .contains("100.64.0.0/24"));
}

#[test]
fn failed_prepare_changes_nothing() {
    let mut f = fixture();
    f.edit(1, &subnet(1, "100.64.0.0/24")).unwrap();
    f.fail.store(true, Ordering::Relaxed);
    let e = f.commit(1, None, None).unwrap_err();
    assert_eq!(e[0].tag, ErrorTag::OperationFailed);
    assert!(f.committer.config.load().dhcp4.subnet(1).is_none());
    assert!(!f
        .ds
        .get_config(Datastore::Running, None, None)
        .unwrap()
        .contains("100.64.0.0/24"));
}

#[test]
fn semantic_error_fails_the_commit_with_a_path() {
    let mut f = fixture();
    f.edit(
        1,
        &format!(
            "{}{}",
            subnet(1, "100.64.0.0/24"),
            subnet(2, "100.64.0.0/25")
        ),
    )
    .unwrap_err();
    // test-then-set validates the edit: the candidate is unchanged.
    f.ds.edit_config(
        1,
        Datastore::Candidate,
        Operation::Merge,
        TestOption::Set,
        ErrorOption::StopOnError,
        &format!(
            "<server {NS}>{}{}</server>",
            subnet(1, "100.64.0.0/24"),
            subnet(2, "100.64.0.0/25")
        ),
    )
    .unwrap();
    let e = f.commit(1, None, None).unwrap_err();
    assert!(
        e.iter().any(|e| e
            .path
            .as_deref()
            .is_some_and(|p| p.contains("ndhcp:subnet[ndhcp:id='1']"))),
        "{e:?}"
    );
}

#[test]
fn confirmed_commit_rolls_back_unless_confirmed() {
    let mut f = fixture();
    f.set_lifetime(1, 200);
    f.commit(1, confirmed(None), None).unwrap();
    assert_eq!(f.lifetime(), 200);
    f.ds.roll_back(&f.committer, &mut f.pending).unwrap();
    assert_eq!(f.lifetime(), 100);
    // Confirmed this time.
    f.set_lifetime(1, 300);
    f.commit(1, confirmed(None), None).unwrap();
    f.commit(1, None, None).unwrap();
    assert!(f.pending.is_none());
    assert_eq!(f.lifetime(), 300);
}

#[test]
fn persistent_confirmed_commit_needs_its_persist_id() {
    let mut f = fixture();
    f.set_lifetime(1, 200);
    f.commit(1, confirmed(Some("tok")), None).unwrap();
    assert!(
        !Datastores::pending_owned_by(&f.pending, 1),
        "persistent: survives its session"
    );
    let e = f.commit(2, None, None).unwrap_err();
    assert_eq!(e[0].tag, ErrorTag::InvalidValue);
    let e =
        f.ds.cancel_commit(2, &f.committer, &mut f.pending, Some("bad"))
            .unwrap_err();
    assert_eq!(e[0].tag, ErrorTag::InvalidValue);
    f.ds.cancel_commit(2, &f.committer, &mut f.pending, Some("tok"))
        .unwrap();
    assert_eq!(f.lifetime(), 100);
    let e = f.commit(2, None, Some("tok")).unwrap_err();
    assert_eq!(
        e[0].tag,
        ErrorTag::InvalidValue,
        "no pending commit any more"
    );
}

#[test]
fn locks_name_their_holder_and_end_with_the_session() {
    let mut f = fixture();
    f.ds.lock(1, Datastore::Running).unwrap();
    let e = f.ds.lock(2, Datastore::Running).unwrap_err();
    assert_eq!(e.tag, ErrorTag::LockDenied);
    assert!(e.info.contains(&ErrorInfo::SessionId(1)));
    f.edit(2, &subnet(1, "100.64.0.0/24")).unwrap();
    let e = f.commit(2, None, None).unwrap_err();
    assert_eq!(e[0].tag, ErrorTag::LockDenied);
    f.ds.session_ended(1);
    f.commit(2, None, None).unwrap();
}

#[test]
fn candidate_with_another_sessions_changes_cannot_be_locked() {
    let mut f = fixture();
    f.edit(1, &subnet(1, "100.64.0.0/24")).unwrap();
    let e = f.ds.lock(2, Datastore::Candidate).unwrap_err();
    assert_eq!(e.tag, ErrorTag::LockDenied);
    f.ds.lock(1, Datastore::Candidate).unwrap();
    // The holder leaves: its uncommitted changes go with it (RFC 6241 8.3.5.2).
    f.ds.session_ended(1);
    assert!(!f
        .ds
        .get_config(Datastore::Candidate, None, None)
        .unwrap()
        .contains("100.64.0.0/24"));
    f.ds.lock(2, Datastore::Candidate).unwrap();
}

#[test]
fn copy_config_to_startup_writes_the_file() {
    let mut f = fixture();
    f.ds.copy_config(
        1,
        Datastore::Startup,
        &ConfigSource::Datastore(Datastore::Running),
    )
    .unwrap();
    let saved = super::startup::read(&f.ds.settings.state_dir)
        .unwrap()
        .unwrap();
    assert!(
        saved.contains("<valid-lifetime>100</valid-lifetime>"),
        "{saved}"
    );
    let e =
        f.ds.copy_config(
            1,
            Datastore::Running,
            &ConfigSource::Datastore(Datastore::Startup),
        )
        .unwrap_err();
    assert_eq!(e[0].tag, ErrorTag::OperationNotSupported);
    f.ds.delete_config(1, Datastore::Startup).unwrap();
    assert_eq!(
        super::startup::read(&f.ds.settings.state_dir)
            .unwrap()
            .as_deref(),
        Some("")
    );
}

#[test]
fn thousands_of_list_entries_edit_commit_and_read_back() {
    let mut f = fixture();
    let entries: String = (0..3000u32)
        .map(|i| {
            format!(
                "<reservation><ip-address>100.64.{}.{}</ip-address><hw-address>02:00:00:00:{:02x}:{:02x}</hw-address></reservation>",
                (i + 1) / 256,
                (i + 1) % 256,
                i / 256,
                i % 256
            )
        })
        .collect();
    f.edit(
        1,
        &format!(
            "<dhcpv4><subnet><id>1</id><prefix>100.64.0.0/16</prefix>{entries}</subnet></dhcpv4>"
        ),
    )
    .unwrap();
    f.commit(1, None, None).unwrap();
    let live = f.committer.config.load();
    let subnet = live.dhcp4.subnet(1).expect("subnet 1 is live");
    assert!(subnet
        .reservation_for(None, &[2, 0, 0, 0, 0x0b, 0xb7])
        .is_some());
    let all = f.ds.get_config(Datastore::Running, None, None).unwrap();
    assert_eq!(all.matches("<reservation>").count(), 3000);
    let filter = netconf::rpc::Filter::Subtree(format!(
        "<server {NS}><dhcpv4><subnet><id>1</id><reservation/></subnet></dhcpv4></server>"
    ));
    let selected =
        f.ds.get_config(Datastore::Running, Some(&filter), None)
            .unwrap();
    assert_eq!(selected.matches("<reservation>").count(), 3000);
    assert!(!selected.contains("<prefix>"), "only the selection");
}

#[test]
fn test_only_and_refused_edits_leave_the_candidate_as_it_was() {
    let mut f = fixture();
    let before = f.ds.get_config(Datastore::Candidate, None, None).unwrap();
    f.ds.edit_config(
        1,
        Datastore::Candidate,
        Operation::Merge,
        TestOption::TestOnly,
        ErrorOption::RollbackOnError,
        &format!("<server {NS}>{}</server>", subnet(1, "100.64.0.0/24")),
    )
    .unwrap();
    f.edit(
        1,
        &format!(
            "{}{}",
            subnet(1, "100.64.0.0/24"),
            subnet(2, "100.64.0.0/25")
        ),
    )
    .unwrap_err();
    assert_eq!(
        f.ds.get_config(Datastore::Candidate, None, None).unwrap(),
        before
    );
}
