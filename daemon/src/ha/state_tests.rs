//! The failover state machine, transition by transition: each state against the events that
//! matter to it, then a few whole-pair runs.

use super::state::{
    step, Action, Context, Event, HaState, LeaseUpdates, MaintenanceAnswer, PartnerState,
    PausePlan, State, CLOCK_SKEW_TERMINATE_SECS, CONTINUE_NOT_PAUSED, CONTINUE_RELEASED,
};
use super::Scopes;
use crate::config::{HaMode, PauseMode, PeerRole};
use State::*;

// ---------- fixtures ----------

fn ctx(mode: HaMode, role: PeerRole) -> Context {
    Context {
        mode,
        role,
        auto_failover: true,
        sync_leases: true,
        send_lease_updates: true,
        detect_by_unacked_clients: true,
        communication_recovery: mode == HaMode::LoadBalancing,
        partner_serves_during_sync: false,
        pauses: PausePlan::default(),
    }
}

fn hs_primary() -> Context {
    ctx(HaMode::HotStandby, PeerRole::Primary)
}

fn hs_standby() -> Context {
    ctx(HaMode::HotStandby, PeerRole::Standby)
}

fn lb_primary() -> Context {
    ctx(HaMode::LoadBalancing, PeerRole::Primary)
}

fn lb_secondary() -> Context {
    ctx(HaMode::LoadBalancing, PeerRole::Secondary)
}

const PRIMARY_SCOPE: Scopes = Scopes {
    primary: true,
    secondary: false,
};
const SECONDARY_SCOPE: Scopes = Scopes {
    primary: false,
    secondary: true,
};
const BOTH_SCOPES: Scopes = Scopes {
    primary: true,
    secondary: true,
};

/// A machine in `state` that last saw the partner in `partner`.
fn at(state: State, partner: PartnerState) -> HaState {
    HaState {
        partner,
        ..HaState::new(state)
    }
}

fn known(state: State) -> PartnerState {
    PartnerState::Known(state)
}

fn heartbeat(partner: State) -> Event {
    Event::HeartbeatSucceeded {
        partner,
        clock_skew_secs: 0,
        partner_has_unsent_updates: false,
    }
}

fn skewed_heartbeat(partner: State, secs: i64) -> Event {
    Event::HeartbeatSucceeded {
        partner,
        clock_skew_secs: secs,
        partner_has_unsent_updates: false,
    }
}

/// Steps and returns the new state name with the actions.
fn run(h: &HaState, event: Event, c: &Context) -> (State, Vec<Action>) {
    let (next, actions) = step(h, event, c);
    (next.state, actions)
}

fn has(actions: &[Action], wanted: Action) -> bool {
    actions.contains(&wanted)
}

fn refused(actions: &[Action]) -> bool {
    actions.iter().any(|a| matches!(a, Action::Refuse { .. }))
}

/// A link that has been down for max-response-delay, seen from `state`.
fn interrupted(state: State) -> HaState {
    HaState {
        communication_interrupted: true,
        ..at(state, PartnerState::Unavailable)
    }
}

// ---------- names ----------

#[test]
fn state_names_are_keas_and_parse_back() {
    let names: Vec<&str> = State::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(
        names,
        [
            "waiting",
            "syncing",
            "ready",
            "hot-standby",
            "load-balancing",
            "partner-down",
            "communication-recovery",
            "partner-in-maintenance",
            "in-maintenance",
            "terminated",
            "backup"
        ]
    );
    for s in State::ALL {
        assert_eq!(s.name().parse::<State>(), Ok(s));
        assert_eq!(s.to_string(), s.name());
    }
    assert!("passive-backup".parse::<State>().is_err());
}

// ---------- start ----------

#[test]
fn a_server_starts_waiting_serving_nobody_with_heartbeats() {
    let (h, actions) = HaState::start(&hs_primary());
    assert_eq!(h.state, Waiting);
    assert_eq!(
        actions,
        [
            Action::ServeScopes(Scopes::NONE),
            Action::LeaseUpdates(LeaseUpdates::Off),
            Action::StartHeartbeats
        ]
    );
}

#[test]
fn a_backup_server_starts_in_backup_without_heartbeats() {
    let c = ctx(HaMode::HotStandby, PeerRole::Backup);
    let (h, actions) = HaState::start(&c);
    assert_eq!(h.state, Backup);
    assert!(has(&actions, Action::StopHeartbeats));
    assert!(has(&actions, Action::ServeScopes(Scopes::NONE)));
}

// ---------- waiting ----------

#[test]
fn waiting_syncs_from_a_partner_in_any_serving_or_ready_state() {
    for partner in [
        HotStandby,
        PartnerDown,
        Ready,
        InMaintenance,
        PartnerInMaintenance,
    ] {
        let (s, actions) = run(
            &at(Waiting, PartnerState::Unknown),
            heartbeat(partner),
            &hs_standby(),
        );
        assert_eq!(s, Syncing, "partner {partner}");
        assert_eq!(
            actions,
            [Action::DisablePartnerDhcp, Action::StartSync],
            "a Kea partner is disabled during sync (partner {partner})"
        );
    }
    for partner in [LoadBalancing, CommunicationRecovery] {
        let (s, _) = run(
            &at(Waiting, PartnerState::Unknown),
            heartbeat(partner),
            &lb_secondary(),
        );
        assert_eq!(s, Syncing, "partner {partner}");
    }
}

#[test]
fn waiting_does_not_silence_a_netdhcp_partner_for_the_sync() {
    let c = Context {
        partner_serves_during_sync: true,
        ..hs_standby()
    };
    let (s, actions) = run(
        &at(Waiting, PartnerState::Unknown),
        heartbeat(PartnerDown),
        &c,
    );
    assert_eq!(s, Syncing);
    assert_eq!(actions, [Action::StartSync]);
}

#[test]
fn waiting_without_lease_sync_goes_straight_to_ready() {
    let c = Context {
        sync_leases: false,
        ..hs_standby()
    };
    let (s, actions) = run(
        &at(Waiting, PartnerState::Unknown),
        heartbeat(PartnerDown),
        &c,
    );
    assert_eq!(s, Ready);
    assert!(!has(&actions, Action::StartSync));
}

#[test]
fn waiting_against_waiting_the_primary_goes_first() {
    let (s, _) = run(
        &at(Waiting, PartnerState::Unknown),
        heartbeat(Waiting),
        &hs_primary(),
    );
    assert_eq!(s, Syncing);
    let (s, actions) = run(
        &at(Waiting, PartnerState::Unknown),
        heartbeat(Waiting),
        &hs_standby(),
    );
    assert_eq!(s, Waiting);
    assert!(actions.is_empty());
}

#[test]
fn waiting_stays_while_the_partner_syncs_or_is_terminated() {
    for partner in [Syncing, Terminated] {
        let (s, _) = run(
            &at(Waiting, PartnerState::Unknown),
            heartbeat(partner),
            &hs_primary(),
        );
        assert_eq!(s, Waiting, "partner {partner}");
    }
}

#[test]
fn waiting_stays_on_a_partner_state_of_the_other_mode() {
    // A load-balancing partner while we are configured for hot-standby: configurations differ.
    let (s, _) = run(
        &at(Waiting, PartnerState::Unknown),
        heartbeat(LoadBalancing),
        &hs_primary(),
    );
    assert_eq!(s, Waiting);
    let (s, _) = run(
        &at(Waiting, PartnerState::Unknown),
        heartbeat(HotStandby),
        &lb_primary(),
    );
    assert_eq!(s, Waiting);
}

#[test]
fn waiting_is_patient_with_one_failed_heartbeat() {
    let (s, actions) = run(
        &at(Waiting, PartnerState::Unknown),
        Event::HeartbeatFailed,
        &hs_standby(),
    );
    assert_eq!(s, Waiting);
    assert!(actions.is_empty());
}

#[test]
fn waiting_takes_over_once_the_link_is_interrupted() {
    // Waiting watches no clients, so the interrupted link alone is enough.
    let (s, actions) = run(
        &at(Waiting, PartnerState::Unknown),
        Event::CommunicationInterrupted,
        &hs_standby(),
    );
    assert_eq!(s, PartnerDown);
    assert!(has(&actions, Action::ServeScopes(PRIMARY_SCOPE)));
    let (s, actions) = run(
        &at(Waiting, PartnerState::Unknown),
        Event::CommunicationInterrupted,
        &lb_secondary(),
    );
    assert_eq!(s, PartnerDown);
    assert!(has(&actions, Action::ServeScopes(BOTH_SCOPES)));
}

#[test]
fn waiting_terminates_on_fatal_clock_skew_and_warns_on_a_large_one() {
    let fatal = CLOCK_SKEW_TERMINATE_SECS as i64 + 1;
    let (s, actions) = run(
        &at(Waiting, PartnerState::Unknown),
        skewed_heartbeat(HotStandby, -fatal),
        &hs_standby(),
    );
    assert_eq!(s, Terminated);
    assert!(has(&actions, Action::StopHeartbeats));
    let (s, actions) = run(
        &at(Waiting, PartnerState::Unknown),
        skewed_heartbeat(HotStandby, 45),
        &hs_standby(),
    );
    assert_eq!(s, Syncing, "a warning does not stop the relationship");
    assert!(has(&actions, Action::WarnClockSkew { secs: 45 }));
}

#[test]
fn a_stale_sync_result_outside_syncing_is_ignored() {
    for event in [Event::SyncCompleted, Event::SyncFailed] {
        let (s, actions) = run(&at(Waiting, PartnerState::Unknown), event, &hs_primary());
        assert_eq!((s, actions), (Waiting, vec![]));
    }
}

// ---------- syncing ----------

fn syncing(partner: State, kea_partner: bool) -> HaState {
    HaState {
        sync_running: true,
        partner_dhcp_disabled: kea_partner,
        ..at(Syncing, known(partner))
    }
}

#[test]
fn a_completed_sync_makes_ready_and_tells_the_partner() {
    let (h, actions) = step(
        &syncing(PartnerDown, true),
        Event::SyncCompleted,
        &hs_primary(),
    );
    assert_eq!(
        h.state, Ready,
        "a partner-down partner has to see us ready first"
    );
    assert_eq!(actions, [Action::NotifySyncComplete]);
    assert!(!h.sync_running && !h.partner_dhcp_disabled);
}

#[test]
fn a_completed_sync_resumes_normal_operation_at_once_when_the_partner_is_there() {
    let (s, actions) = run(
        &syncing(HotStandby, true),
        Event::SyncCompleted,
        &hs_standby(),
    );
    assert_eq!(s, HotStandby);
    assert!(has(&actions, Action::NotifySyncComplete));
    assert!(has(&actions, Action::LeaseUpdates(LeaseUpdates::Send)));
    assert!(
        !actions.iter().any(|a| matches!(a, Action::ServeScopes(_))),
        "the standby still serves nobody"
    );
    let (s, actions) = run(
        &syncing(LoadBalancing, true),
        Event::SyncCompleted,
        &lb_secondary(),
    );
    assert_eq!(s, LoadBalancing);
    assert!(has(&actions, Action::ServeScopes(SECONDARY_SCOPE)));
}

/// A survivor in partner-down that has not yet seen us back keeps giving out leases without
/// sending them; its unsent-update-count grows past what our sync covered. Ready must not
/// resume on such a partner: it syncs again, once, and resumes after that.
#[test]
fn ready_resyncs_when_the_partner_changed_leases_it_did_not_send() {
    let mut c = hs_primary();
    c.partner_serves_during_sync = true;
    let grew = Event::HeartbeatSucceeded {
        partner: HotStandby,
        clock_skew_secs: 0,
        partner_has_unsent_updates: true,
    };
    let (h, actions) = step(&at(Ready, known(PartnerDown)), grew, &c);
    assert_eq!(h.state, Syncing, "back through waiting into a new sync");
    assert!(has(&actions, Action::StartSync));
    assert!(
        !h.partner_has_unsent_updates,
        "the new sync covers what was unsent"
    );
    let (h, _) = step(&h, Event::SyncCompleted, &c);
    assert_eq!(h.state, HotStandby, "no second resync from the stale flag");
    let (s, _) = run(&at(Ready, known(PartnerDown)), heartbeat(HotStandby), &c);
    assert_eq!(s, HotStandby, "nothing unsent: resume at once");
}

#[test]
fn a_failed_sync_re_enables_the_partner_and_retries_on_the_next_heartbeat() {
    let (h, actions) = step(
        &syncing(PartnerDown, true),
        Event::SyncFailed,
        &hs_primary(),
    );
    assert_eq!(h.state, Syncing);
    assert_eq!(actions, [Action::EnablePartnerDhcp]);
    assert!(!h.sync_running);
    let (h, actions) = step(&h, heartbeat(PartnerDown), &hs_primary());
    assert_eq!(h.state, Syncing);
    assert_eq!(actions, [Action::DisablePartnerDhcp, Action::StartSync]);
    assert!(h.sync_running);
}

#[test]
fn a_running_sync_is_not_restarted_by_heartbeats() {
    let (s, actions) = run(
        &syncing(PartnerDown, true),
        heartbeat(PartnerDown),
        &hs_primary(),
    );
    assert_eq!((s, actions), (Syncing, vec![]));
}

#[test]
fn syncing_takes_over_when_the_link_is_interrupted() {
    let h = HaState {
        sync_running: true,
        partner_dhcp_disabled: true,
        ..HaState::new(Syncing)
    };
    let (s, actions) = run(&h, Event::CommunicationInterrupted, &hs_standby());
    assert_eq!(s, PartnerDown);
    assert!(has(&actions, Action::AbortSync));
    assert!(has(&actions, Action::EnablePartnerDhcp));
    assert!(has(&actions, Action::ServeScopes(PRIMARY_SCOPE)));
}

#[test]
fn syncing_survives_one_failed_heartbeat() {
    let (s, actions) = run(
        &syncing(PartnerDown, false),
        Event::HeartbeatFailed,
        &hs_primary(),
    );
    assert_eq!((s, actions), (Syncing, vec![]));
}

#[test]
fn syncing_terminates_with_a_terminated_partner_or_fatal_skew() {
    let (s, actions) = run(
        &syncing(PartnerDown, true),
        heartbeat(Terminated),
        &hs_primary(),
    );
    assert_eq!(s, Terminated);
    assert!(has(&actions, Action::AbortSync));
    let (s, _) = run(
        &syncing(PartnerDown, true),
        skewed_heartbeat(PartnerDown, 600),
        &hs_primary(),
    );
    assert_eq!(s, Terminated);
}

#[test]
fn syncing_restarts_from_waiting_on_a_partner_state_of_the_other_mode() {
    let (s, actions) = run(
        &syncing(PartnerDown, true),
        heartbeat(LoadBalancing),
        &hs_primary(),
    );
    assert_eq!(s, Waiting);
    assert!(has(&actions, Action::AbortSync));
}

// ---------- ready ----------

#[test]
fn ready_follows_a_partner_in_normal_operation() {
    let (s, actions) = run(
        &at(Ready, known(PartnerDown)),
        heartbeat(HotStandby),
        &hs_primary(),
    );
    assert_eq!(s, HotStandby);
    assert!(has(&actions, Action::ServeScopes(PRIMARY_SCOPE)));
    assert!(has(&actions, Action::LeaseUpdates(LeaseUpdates::Send)));
    for partner in [LoadBalancing, CommunicationRecovery] {
        let (s, actions) = run(
            &at(Ready, known(Ready)),
            heartbeat(partner),
            &lb_secondary(),
        );
        assert_eq!(s, LoadBalancing, "partner {partner}");
        assert!(has(&actions, Action::ServeScopes(SECONDARY_SCOPE)));
    }
}

#[test]
fn ready_against_ready_the_primary_resumes_first() {
    let (s, _) = run(
        &at(Ready, PartnerState::Unknown),
        heartbeat(Ready),
        &lb_primary(),
    );
    assert_eq!(s, LoadBalancing);
    let (s, _) = run(
        &at(Ready, PartnerState::Unknown),
        heartbeat(Ready),
        &lb_secondary(),
    );
    assert_eq!(s, Ready);
}

#[test]
fn ready_follows_maintenance_and_termination() {
    let c = hs_primary();
    let (s, _) = run(
        &at(Ready, PartnerState::Unknown),
        heartbeat(InMaintenance),
        &c,
    );
    assert_eq!(s, PartnerInMaintenance);
    let (s, _) = run(
        &at(Ready, PartnerState::Unknown),
        heartbeat(PartnerInMaintenance),
        &c,
    );
    assert_eq!(s, InMaintenance);
    let (s, _) = run(&at(Ready, PartnerState::Unknown), heartbeat(Terminated), &c);
    assert_eq!(s, Terminated);
}

#[test]
fn ready_waits_for_a_partner_still_starting_or_down() {
    for partner in [Waiting, Syncing, PartnerDown] {
        let (s, actions) = run(
            &at(Ready, PartnerState::Unknown),
            heartbeat(partner),
            &hs_primary(),
        );
        assert_eq!((s, actions), (Ready, vec![]), "partner {partner}");
    }
}

#[test]
fn ready_takes_over_when_the_link_is_interrupted() {
    let (s, actions) = run(
        &at(Ready, known(Ready)),
        Event::CommunicationInterrupted,
        &lb_primary(),
    );
    assert_eq!(s, PartnerDown);
    assert!(has(&actions, Action::ServeScopes(BOTH_SCOPES)));
}

#[test]
fn ready_restarts_on_a_partner_state_of_the_other_mode() {
    let (s, _) = run(
        &at(Ready, PartnerState::Unknown),
        heartbeat(LoadBalancing),
        &hs_primary(),
    );
    assert_eq!(s, Waiting);
}

// ---------- hot-standby ----------

#[test]
fn hot_standby_primary_keeps_serving_through_failed_heartbeats() {
    let (s, actions) = run(
        &at(HotStandby, known(HotStandby)),
        Event::HeartbeatFailed,
        &hs_primary(),
    );
    assert_eq!((s, actions), (HotStandby, vec![]));
}

#[test]
fn hot_standby_primary_declares_the_standby_down_on_interruption_alone() {
    // The primary cannot watch the standby's clients: the standby has none.
    let (h, actions) = step(
        &at(HotStandby, known(HotStandby)),
        Event::CommunicationInterrupted,
        &hs_primary(),
    );
    assert_eq!(h.state, PartnerDown);
    assert_eq!(
        actions,
        [Action::LeaseUpdates(LeaseUpdates::Off)],
        "scope unchanged"
    );
    assert_eq!(h.scopes(&hs_primary()), PRIMARY_SCOPE);
}

#[test]
fn hot_standby_standby_needs_unanswered_clients_before_taking_over() {
    let c = hs_standby();
    let (h, actions) = step(
        &at(HotStandby, known(HotStandby)),
        Event::CommunicationInterrupted,
        &c,
    );
    assert_eq!(
        h.state, HotStandby,
        "the primary may be serving behind a broken link"
    );
    assert!(actions.is_empty());
    let (h, actions) = step(&h, Event::UnackedClientsOverThreshold, &c);
    assert_eq!(h.state, PartnerDown);
    assert!(has(&actions, Action::ServeScopes(PRIMARY_SCOPE)));
    assert!(has(&actions, Action::LeaseUpdates(LeaseUpdates::Off)));
}

#[test]
fn unanswered_clients_do_not_count_while_the_link_works() {
    let (h, actions) = step(
        &at(HotStandby, known(HotStandby)),
        Event::UnackedClientsOverThreshold,
        &hs_standby(),
    );
    assert_eq!((h.state, actions), (HotStandby, vec![]));
    assert!(!h.unacked_over_threshold);
}

#[test]
fn hot_standby_standby_with_no_unacked_threshold_takes_over_on_interruption() {
    let c = Context {
        detect_by_unacked_clients: false,
        ..hs_standby()
    };
    let (s, _) = run(
        &at(HotStandby, known(HotStandby)),
        Event::CommunicationInterrupted,
        &c,
    );
    assert_eq!(s, PartnerDown);
}

#[test]
fn without_auto_failover_partner_down_keeps_its_own_scope_until_told() {
    let c = Context {
        auto_failover: false,
        ..hs_standby()
    };
    let (h, actions) = step(
        &interrupted(HotStandby),
        Event::UnackedClientsOverThreshold,
        &c,
    );
    assert_eq!(h.state, PartnerDown);
    assert!(!actions.iter().any(|a| matches!(a, Action::ServeScopes(_))));
    assert_eq!(h.scopes(&c), Scopes::NONE);
    let (h, actions) = step(&h, Event::PartnerDownCommand, &c);
    assert_eq!(h.state, PartnerDown);
    assert_eq!(actions, [Action::ServeScopes(PRIMARY_SCOPE)]);
}

#[test]
fn hot_standby_resyncs_after_the_partner_served_alone() {
    let (h, actions) = step(
        &at(HotStandby, known(HotStandby)),
        heartbeat(PartnerDown),
        &hs_primary(),
    );
    assert_eq!(
        h.state, Syncing,
        "waiting, then syncing from the partner at once"
    );
    assert!(has(&actions, Action::ServeScopes(Scopes::NONE)));
    assert!(has(&actions, Action::StartSync));
    assert!(has(&actions, Action::LeaseUpdates(LeaseUpdates::Off)));
}

#[test]
fn hot_standby_follows_maintenance_and_termination() {
    let c = hs_standby();
    let h = at(HotStandby, known(HotStandby));
    let (s, actions) = run(&h, heartbeat(InMaintenance), &c);
    assert_eq!(s, PartnerInMaintenance);
    assert!(has(&actions, Action::ServeScopes(PRIMARY_SCOPE)));
    let (s, _) = run(&h, heartbeat(PartnerInMaintenance), &c);
    assert_eq!(s, InMaintenance);
    let (s, actions) = run(&h, heartbeat(Terminated), &hs_primary());
    assert_eq!(s, Terminated);
    assert!(has(&actions, Action::StopHeartbeats));
    assert!(has(&actions, Action::LeaseUpdates(LeaseUpdates::Off)));
    let (s, _) = run(&h, skewed_heartbeat(HotStandby, 61), &c);
    assert_eq!(s, Terminated);
}

#[test]
fn hot_standby_carries_on_while_the_partner_restarts() {
    for partner in [Waiting, Syncing, Ready, HotStandby] {
        let (s, actions) = run(
            &at(HotStandby, known(HotStandby)),
            heartbeat(partner),
            &hs_primary(),
        );
        assert_eq!((s, actions), (HotStandby, vec![]), "partner {partner}");
    }
}

#[test]
fn hot_standby_restarts_on_a_load_balancing_partner() {
    let (s, _) = run(
        &at(HotStandby, known(HotStandby)),
        heartbeat(LoadBalancing),
        &hs_primary(),
    );
    assert_eq!(s, Waiting);
}

// ---------- load-balancing ----------

#[test]
fn load_balancing_queues_updates_when_a_heartbeat_fails() {
    let (s, actions) = run(
        &at(LoadBalancing, known(LoadBalancing)),
        Event::HeartbeatFailed,
        &lb_primary(),
    );
    assert_eq!(s, CommunicationRecovery);
    assert_eq!(actions, [Action::LeaseUpdates(LeaseUpdates::Queue)]);
}

#[test]
fn load_balancing_without_communication_recovery_just_waits() {
    let c = Context {
        communication_recovery: false,
        ..lb_primary()
    };
    let (s, actions) = run(
        &at(LoadBalancing, known(LoadBalancing)),
        Event::HeartbeatFailed,
        &c,
    );
    assert_eq!((s, actions), (LoadBalancing, vec![]));
    let (h, _) = step(
        &at(LoadBalancing, known(LoadBalancing)),
        Event::CommunicationInterrupted,
        &c,
    );
    assert_eq!(h.state, LoadBalancing);
    let (s, actions) = run(&h, Event::UnackedClientsOverThreshold, &c);
    assert_eq!(s, PartnerDown);
    assert!(has(&actions, Action::ServeScopes(BOTH_SCOPES)));
}

#[test]
fn load_balancing_interrupted_serves_only_its_own_scope_until_clients_go_unanswered() {
    // The partition rule: each keeps to its scope until the partner-down criteria hold.
    let c = lb_secondary();
    let (h, _) = step(
        &at(LoadBalancing, known(LoadBalancing)),
        Event::CommunicationInterrupted,
        &c,
    );
    assert_eq!(h.state, CommunicationRecovery);
    assert_eq!(h.scopes(&c), SECONDARY_SCOPE);
    let (h, actions) = step(&h, Event::UnackedClientsOverThreshold, &c);
    assert_eq!(h.state, PartnerDown);
    assert!(has(&actions, Action::ServeScopes(BOTH_SCOPES)));
    assert!(has(&actions, Action::DiscardBacklog));
}

#[test]
fn load_balancing_resyncs_after_the_partner_served_alone() {
    let (s, _) = run(
        &at(LoadBalancing, known(LoadBalancing)),
        heartbeat(PartnerDown),
        &lb_secondary(),
    );
    assert_eq!(s, Syncing);
}

#[test]
fn load_balancing_follows_maintenance() {
    let h = at(LoadBalancing, known(LoadBalancing));
    let (s, actions) = run(&h, heartbeat(InMaintenance), &lb_secondary());
    assert_eq!(s, PartnerInMaintenance);
    assert!(has(&actions, Action::ServeScopes(BOTH_SCOPES)));
    let (s, actions) = run(&h, heartbeat(PartnerInMaintenance), &lb_secondary());
    assert_eq!(s, InMaintenance);
    assert!(has(&actions, Action::ServeScopes(Scopes::NONE)));
}

// ---------- communication-recovery ----------

fn recovering(partner: PartnerState, overflowed: bool) -> HaState {
    HaState {
        backlog_overflowed: overflowed,
        ..at(CommunicationRecovery, partner)
    }
}

#[test]
fn recovery_sends_the_backlog_and_resumes_when_the_partner_answers() {
    for partner in [LoadBalancing, CommunicationRecovery] {
        let (s, actions) = run(
            &recovering(PartnerState::Unavailable, false),
            heartbeat(partner),
            &lb_primary(),
        );
        assert_eq!(s, LoadBalancing, "partner {partner}");
        assert_eq!(
            actions,
            [
                Action::SendBacklog,
                Action::LeaseUpdates(LeaseUpdates::Send)
            ]
        );
    }
}

#[test]
fn recovery_with_an_overflowed_backlog_resets_the_partner_and_resyncs() {
    let (h, _) = step(
        &recovering(PartnerState::Unavailable, false),
        Event::LeaseBacklogOverflowed,
        &lb_primary(),
    );
    assert!(h.backlog_overflowed);
    let (s, actions) = run(&h, heartbeat(LoadBalancing), &lb_primary());
    assert_eq!(s, Syncing);
    assert!(has(&actions, Action::SendReset));
    assert!(has(&actions, Action::DiscardBacklog));
    assert!(has(&actions, Action::StartSync));
    assert!(has(&actions, Action::ServeScopes(Scopes::NONE)));
}

#[test]
fn recovery_waits_for_a_restarting_partner_unless_its_backlog_overflowed() {
    for partner in [Waiting, Syncing, Ready] {
        let (s, _) = run(
            &recovering(PartnerState::Unavailable, false),
            heartbeat(partner),
            &lb_primary(),
        );
        assert_eq!(s, CommunicationRecovery, "partner {partner}");
    }
    let (s, actions) = run(
        &recovering(PartnerState::Unavailable, true),
        heartbeat(Syncing),
        &lb_primary(),
    );
    assert_eq!(s, Waiting, "the partner syncing cannot be synced from");
    assert!(has(&actions, Action::DiscardBacklog));
}

#[test]
fn recovery_declares_the_partner_down_once_its_clients_go_unanswered() {
    let h = HaState {
        communication_interrupted: true,
        ..recovering(PartnerState::Unavailable, false)
    };
    let (s, _) = run(&h, Event::HeartbeatFailed, &lb_primary());
    assert_eq!(s, CommunicationRecovery);
    let (s, actions) = run(&h, Event::UnackedClientsOverThreshold, &lb_primary());
    assert_eq!(s, PartnerDown);
    assert!(has(&actions, Action::ServeScopes(BOTH_SCOPES)));
    assert!(has(&actions, Action::LeaseUpdates(LeaseUpdates::Off)));
}

#[test]
fn recovery_follows_maintenance_termination_and_a_partner_down_partner() {
    let h = recovering(PartnerState::Unavailable, false);
    let c = lb_primary();
    assert_eq!(
        run(&h, heartbeat(InMaintenance), &c).0,
        PartnerInMaintenance
    );
    assert_eq!(
        run(&h, heartbeat(PartnerInMaintenance), &c).0,
        InMaintenance
    );
    assert_eq!(run(&h, heartbeat(Terminated), &c).0, Terminated);
    // Partner-down partner: waiting, then syncing from it straight away.
    assert_eq!(run(&h, heartbeat(PartnerDown), &c).0, Syncing);
    // A hot-standby partner: configurations disagree.
    assert_eq!(run(&h, heartbeat(HotStandby), &c).0, Waiting);
}

#[test]
fn a_backlog_overflow_outside_recovery_is_ignored() {
    let (h, actions) = step(
        &at(LoadBalancing, known(LoadBalancing)),
        Event::LeaseBacklogOverflowed,
        &lb_primary(),
    );
    assert!(!h.backlog_overflowed);
    assert!(actions.is_empty());
}

// ---------- partner-down ----------

fn partner_down(partner: PartnerState) -> HaState {
    at(PartnerDown, partner)
}

#[test]
fn partner_down_returns_to_normal_when_the_partner_is_ready_and_missed_nothing() {
    let (s, actions) = run(
        &partner_down(PartnerState::Unavailable),
        heartbeat(Ready),
        &hs_standby(),
    );
    assert_eq!(s, HotStandby);
    assert!(
        has(&actions, Action::ServeScopes(Scopes::NONE)),
        "the standby hands back"
    );
    assert!(has(&actions, Action::LeaseUpdates(LeaseUpdates::Send)));
    let (s, actions) = run(
        &partner_down(PartnerState::Unavailable),
        heartbeat(Ready),
        &lb_secondary(),
    );
    assert_eq!(s, LoadBalancing);
    assert!(has(&actions, Action::ServeScopes(SECONDARY_SCOPE)));
}

#[test]
fn partner_down_resyncs_when_the_ready_partner_has_unsent_updates() {
    let event = Event::HeartbeatSucceeded {
        partner: Ready,
        clock_skew_secs: 0,
        partner_has_unsent_updates: true,
    };
    let (s, actions) = run(
        &partner_down(PartnerState::Unavailable),
        event,
        &hs_primary(),
    );
    assert_eq!(s, Syncing);
    assert!(has(&actions, Action::ServeScopes(Scopes::NONE)));
}

#[test]
fn partner_down_starts_over_when_both_think_the_other_is_down() {
    for partner in [PartnerDown, CommunicationRecovery, PartnerInMaintenance] {
        let c = if partner == CommunicationRecovery {
            lb_primary()
        } else {
            hs_primary()
        };
        let (s, _) = run(
            &partner_down(PartnerState::Unavailable),
            heartbeat(partner),
            &c,
        );
        assert_eq!(s, Syncing, "partner {partner}: waiting, then syncing");
    }
}

#[test]
fn partner_down_keeps_serving_while_the_partner_catches_up() {
    for partner in [Waiting, Syncing] {
        let (s, actions) = run(
            &partner_down(PartnerState::Unavailable),
            heartbeat(partner),
            &hs_primary(),
        );
        assert_eq!((s, actions), (PartnerDown, vec![]), "partner {partner}");
    }
}

#[test]
fn partner_down_streams_updates_to_a_netdhcp_partner_catching_up() {
    let c = Context {
        partner_serves_during_sync: true,
        ..hs_primary()
    };
    let (h, actions) = step(
        &partner_down(PartnerState::Unavailable),
        heartbeat(Syncing),
        &c,
    );
    assert_eq!(h.state, PartnerDown);
    assert_eq!(actions, [Action::LeaseUpdates(LeaseUpdates::Send)]);
    let (h, actions) = step(&h, Event::HeartbeatFailed, &c);
    assert_eq!(h.state, PartnerDown);
    assert_eq!(actions, [Action::LeaseUpdates(LeaseUpdates::Off)]);
}

#[test]
fn partner_down_ignores_a_partner_claiming_normal_operation() {
    // Kea does the same: the partner will see us in partner-down and go to waiting.
    let (s, actions) = run(
        &partner_down(PartnerState::Unavailable),
        heartbeat(HotStandby),
        &hs_primary(),
    );
    assert_eq!((s, actions), (PartnerDown, vec![]));
}

#[test]
fn partner_down_terminates_with_the_partner_or_on_fatal_skew() {
    assert_eq!(
        run(
            &partner_down(PartnerState::Unavailable),
            heartbeat(Terminated),
            &hs_primary()
        )
        .0,
        Terminated
    );
    assert_eq!(
        run(
            &partner_down(PartnerState::Unavailable),
            skewed_heartbeat(Waiting, 90),
            &hs_primary()
        )
        .0,
        Terminated
    );
}

#[test]
fn partner_down_stays_through_more_failures() {
    for event in [
        Event::HeartbeatFailed,
        Event::CommunicationInterrupted,
        Event::UnackedClientsOverThreshold,
    ] {
        let (s, actions) = run(
            &partner_down(PartnerState::Unavailable),
            event,
            &hs_primary(),
        );
        assert_eq!((s, actions), (PartnerDown, vec![]), "{event:?}");
    }
}

// ---------- maintenance ----------

#[test]
fn maintenance_start_notifies_the_partner_from_a_state_with_current_leases() {
    for state in [HotStandby, PartnerDown] {
        let (s, actions) = run(
            &at(state, known(HotStandby)),
            Event::MaintenanceStart,
            &hs_standby(),
        );
        assert_eq!(s, state);
        assert_eq!(actions, [Action::NotifyMaintenance { cancel: false }]);
    }
    let (s, actions) = run(
        &at(CommunicationRecovery, PartnerState::Unavailable),
        Event::MaintenanceStart,
        &lb_primary(),
    );
    assert_eq!(s, CommunicationRecovery);
    assert_eq!(actions, [Action::NotifyMaintenance { cancel: false }]);
}

#[test]
fn maintenance_start_is_refused_where_leases_may_be_stale() {
    for state in [
        Waiting,
        Syncing,
        Ready,
        InMaintenance,
        PartnerInMaintenance,
        Terminated,
        Backup,
    ] {
        let (s, actions) = run(
            &at(state, PartnerState::Unknown),
            Event::MaintenanceStart,
            &hs_standby(),
        );
        assert_eq!(s, state);
        assert!(refused(&actions), "{state}");
    }
}

#[test]
fn an_accepted_maintenance_takes_over_every_client() {
    let c = Context {
        auto_failover: false,
        ..hs_standby()
    };
    let (h, actions) = step(
        &at(HotStandby, known(HotStandby)),
        Event::MaintenanceAnswered(MaintenanceAnswer::Accepted),
        &c,
    );
    assert_eq!(h.state, PartnerInMaintenance);
    assert_eq!(h.before_maintenance, Some(HotStandby));
    assert!(has(&actions, Action::ServeScopes(PRIMARY_SCOPE)));
    assert_eq!(
        h.lease_updates(&c),
        LeaseUpdates::Send,
        "the partner stays current"
    );
}

#[test]
fn an_unreachable_partner_at_maintenance_is_down_and_taken_over_even_without_auto_failover() {
    let c = Context {
        auto_failover: false,
        ..lb_secondary()
    };
    let (h, actions) = step(
        &at(LoadBalancing, known(LoadBalancing)),
        Event::MaintenanceAnswered(MaintenanceAnswer::Unreachable),
        &c,
    );
    assert_eq!(h.state, PartnerDown);
    assert!(has(&actions, Action::ServeScopes(BOTH_SCOPES)));
}

#[test]
fn a_refused_maintenance_changes_nothing() {
    let (s, actions) = run(
        &at(HotStandby, known(HotStandby)),
        Event::MaintenanceAnswered(MaintenanceAnswer::Refused),
        &hs_standby(),
    );
    assert_eq!(s, HotStandby);
    assert!(refused(&actions));
}

#[test]
fn a_late_maintenance_answer_is_ignored() {
    let (s, actions) = run(
        &at(Waiting, PartnerState::Unknown),
        Event::MaintenanceAnswered(MaintenanceAnswer::Accepted),
        &hs_standby(),
    );
    assert_eq!((s, actions), (Waiting, vec![]));
}

#[test]
fn partner_in_maintenance_takes_over_when_the_partner_goes_away() {
    let c = Context {
        auto_failover: false,
        ..hs_standby()
    };
    let h = HaState {
        before_maintenance: Some(HotStandby),
        ..at(PartnerInMaintenance, known(InMaintenance))
    };
    let (h2, actions) = step(&h, Event::HeartbeatFailed, &c);
    assert_eq!(h2.state, PartnerDown);
    assert!(h2.failover_forced, "operator's intent, not auto-failover");
    assert!(
        !actions.iter().any(|a| matches!(a, Action::ServeScopes(_))),
        "already serving all"
    );
    assert_eq!(h2.scopes(&c), PRIMARY_SCOPE);
    // Any answer from the partner leaves it in place.
    for partner in [InMaintenance, Waiting, HotStandby] {
        assert_eq!(
            run(&h, heartbeat(partner), &c).0,
            PartnerInMaintenance,
            "{partner}"
        );
    }
    assert_eq!(
        run(&h, skewed_heartbeat(InMaintenance, -70), &c).0,
        Terminated
    );
}

#[test]
fn maintenance_cancel_returns_to_the_previous_state_and_tells_the_partner() {
    let c = hs_standby();
    let h = HaState {
        before_maintenance: Some(HotStandby),
        ..at(PartnerInMaintenance, known(InMaintenance))
    };
    let (h2, actions) = step(&h, Event::MaintenanceCancel, &c);
    assert_eq!(h2.state, HotStandby);
    assert_eq!(h2.partner, PartnerState::Unknown, "its state is changing");
    assert_eq!(h2.before_maintenance, None);
    assert_eq!(
        actions,
        [
            Action::NotifyMaintenance { cancel: true },
            Action::ServeScopes(Scopes::NONE)
        ]
    );
    let (s, actions) = run(
        &at(HotStandby, known(HotStandby)),
        Event::MaintenanceCancel,
        &c,
    );
    assert_eq!(s, HotStandby);
    assert!(refused(&actions));
}

#[test]
fn a_maintenance_notify_puts_this_server_in_maintenance() {
    for state in [Waiting, Ready, HotStandby] {
        let (h, actions) = step(
            &at(state, known(HotStandby)),
            Event::MaintenanceNotify { cancel: false },
            &hs_primary(),
        );
        assert_eq!(h.state, InMaintenance, "from {state}");
        assert_eq!(h.before_maintenance, Some(state));
        assert_eq!(h.scopes(&hs_primary()), Scopes::NONE);
        assert!(!refused(&actions));
    }
    let h = HaState {
        sync_running: true,
        partner_dhcp_disabled: true,
        ..at(Syncing, known(PartnerDown))
    };
    let (s, actions) = run(
        &h,
        Event::MaintenanceNotify { cancel: false },
        &hs_primary(),
    );
    assert_eq!(s, InMaintenance);
    assert!(has(&actions, Action::AbortSync));
    let (s, _) = run(
        &at(CommunicationRecovery, PartnerState::Unavailable),
        Event::MaintenanceNotify { cancel: false },
        &lb_primary(),
    );
    assert_eq!(s, InMaintenance);
}

#[test]
fn a_maintenance_notify_is_refused_by_the_only_server_serving() {
    for state in [
        PartnerDown,
        PartnerInMaintenance,
        InMaintenance,
        Terminated,
        Backup,
    ] {
        let (s, actions) = run(
            &at(state, known(Waiting)),
            Event::MaintenanceNotify { cancel: false },
            &hs_primary(),
        );
        assert_eq!(s, state);
        assert!(refused(&actions), "{state}");
    }
}

#[test]
fn in_maintenance_waits_for_the_cancel_whatever_happens() {
    let h = HaState {
        before_maintenance: Some(HotStandby),
        ..at(InMaintenance, known(PartnerInMaintenance))
    };
    let c = hs_primary();
    for event in [
        heartbeat(PartnerInMaintenance),
        heartbeat(PartnerDown),
        skewed_heartbeat(PartnerDown, 1000),
        Event::HeartbeatFailed,
        Event::CommunicationInterrupted,
        Event::UnackedClientsOverThreshold,
    ] {
        let (s, actions) = run(&h, event, &c);
        assert_eq!((s, actions), (InMaintenance, vec![]), "{event:?}");
    }
    let (h2, actions) = step(&h, Event::MaintenanceNotify { cancel: true }, &c);
    assert_eq!(h2.state, HotStandby);
    assert!(has(&actions, Action::ServeScopes(PRIMARY_SCOPE)));
    let (s, actions) = run(
        &at(HotStandby, known(HotStandby)),
        Event::MaintenanceNotify { cancel: true },
        &c,
    );
    assert_eq!(s, HotStandby);
    assert!(refused(&actions));
}

// ---------- operator partner-down and ha-reset ----------

#[test]
fn partner_down_command_takes_over_from_any_working_state() {
    for state in [Waiting, Syncing, Ready, HotStandby] {
        let (h, actions) = step(
            &at(state, PartnerState::Unavailable),
            Event::PartnerDownCommand,
            &hs_standby(),
        );
        assert_eq!(h.state, PartnerDown, "from {state}");
        assert!(h.failover_forced);
        assert!(has(&actions, Action::ServeScopes(PRIMARY_SCOPE)));
    }
    for state in [LoadBalancing, CommunicationRecovery] {
        let (s, _) = run(
            &at(state, PartnerState::Unavailable),
            Event::PartnerDownCommand,
            &lb_primary(),
        );
        assert_eq!(s, PartnerDown, "from {state}");
    }
}

#[test]
fn partner_down_command_is_refused_where_it_means_nothing() {
    for state in [PartnerInMaintenance, InMaintenance, Terminated, Backup] {
        let (s, actions) = run(
            &at(state, PartnerState::Unknown),
            Event::PartnerDownCommand,
            &hs_standby(),
        );
        assert_eq!(s, state);
        assert!(refused(&actions), "{state}");
    }
}

#[test]
fn reset_starts_over_from_waiting() {
    let (s, actions) = run(
        &at(HotStandby, known(HotStandby)),
        Event::Reset,
        &hs_primary(),
    );
    assert_eq!(
        s, Syncing,
        "waiting, then syncing from the partner it knows"
    );
    assert!(has(&actions, Action::ServeScopes(Scopes::NONE)));
    let (s, actions) = run(
        &at(LoadBalancing, PartnerState::Unknown),
        Event::Reset,
        &lb_primary(),
    );
    assert_eq!(s, Waiting);
    assert!(has(&actions, Action::LeaseUpdates(LeaseUpdates::Off)));
    let (s, actions) = run(
        &at(Waiting, PartnerState::Unknown),
        Event::Reset,
        &lb_primary(),
    );
    assert_eq!((s, actions), (Waiting, vec![]));
    for state in [Terminated, Backup] {
        let (s, actions) = run(
            &at(state, PartnerState::Unknown),
            Event::Reset,
            &lb_primary(),
        );
        assert_eq!(s, state);
        assert!(refused(&actions));
    }
}

// ---------- terminated and backup ----------

#[test]
fn terminated_and_backup_ignore_the_partner() {
    for (state, c) in [
        (Terminated, hs_primary()),
        (Backup, ctx(HaMode::HotStandby, PeerRole::Backup)),
    ] {
        for event in [
            heartbeat(HotStandby),
            heartbeat(PartnerDown),
            Event::HeartbeatFailed,
            Event::CommunicationInterrupted,
            Event::UnackedClientsOverThreshold,
            Event::SyncCompleted,
        ] {
            let (s, actions) = run(&at(state, known(HotStandby)), event, &c);
            assert_eq!((s, actions), (state, vec![]), "{state} {event:?}");
        }
    }
    let h = at(Terminated, PartnerState::Unknown);
    assert_eq!(
        h.scopes(&hs_primary()),
        PRIMARY_SCOPE,
        "keeps its own clients"
    );
    assert_eq!(h.lease_updates(&hs_primary()), LeaseUpdates::Off);
    assert!(!h.heartbeats());
}

#[test]
fn without_lease_updates_nothing_is_ever_sent() {
    let c = Context {
        send_lease_updates: false,
        ..hs_primary()
    };
    for state in State::ALL {
        assert_eq!(
            at(state, known(Syncing)).lease_updates(&c),
            LeaseUpdates::Off,
            "{state}"
        );
    }
}

// ---------- the whole table ----------

/// Every event in every state: the machine never panics, the scopes it reports are the ones
/// the new state serves, states that do not serve report no scope, and heartbeats run except in
/// terminated and backup.
#[test]
fn every_state_and_event_keeps_the_invariants() {
    let events = [
        heartbeat(Waiting),
        heartbeat(Syncing),
        heartbeat(Ready),
        heartbeat(HotStandby),
        heartbeat(LoadBalancing),
        heartbeat(PartnerDown),
        heartbeat(CommunicationRecovery),
        heartbeat(PartnerInMaintenance),
        heartbeat(InMaintenance),
        heartbeat(Terminated),
        skewed_heartbeat(HotStandby, 3600),
        Event::HeartbeatFailed,
        Event::CommunicationInterrupted,
        Event::CommunicationRestored,
        Event::UnackedClientsOverThreshold,
        Event::LeaseBacklogOverflowed,
        Event::SyncCompleted,
        Event::SyncFailed,
        Event::MaintenanceStart,
        Event::MaintenanceCancel,
        Event::MaintenanceNotify { cancel: false },
        Event::MaintenanceNotify { cancel: true },
        Event::MaintenanceAnswered(MaintenanceAnswer::Accepted),
        Event::MaintenanceAnswered(MaintenanceAnswer::Unreachable),
        Event::MaintenanceAnswered(MaintenanceAnswer::Refused),
        Event::PartnerDownCommand,
        Event::Reset,
        Event::Continue,
    ];
    let contexts = [hs_primary(), hs_standby(), lb_primary(), lb_secondary()];
    let partners = [
        PartnerState::Unknown,
        PartnerState::Unavailable,
        known(HotStandby),
        known(LoadBalancing),
        known(PartnerDown),
    ];
    for c in &contexts {
        for state in State::ALL {
            // Backup has its own context; the other mode's normal states cannot occur.
            let foreign = match c.mode {
                HaMode::HotStandby => matches!(state, LoadBalancing | CommunicationRecovery),
                HaMode::LoadBalancing => state == HotStandby,
            };
            if state == Backup || foreign {
                continue;
            }
            for partner in partners {
                for interrupted in [false, true] {
                    let h = HaState {
                        communication_interrupted: interrupted,
                        sync_running: state == Syncing,
                        ..at(state, partner)
                    };
                    for event in events {
                        let (next, actions) = step(&h, event, c);
                        let served = next.scopes(c);
                        if let Some(Action::ServeScopes(s)) = actions
                            .iter()
                            .rev()
                            .find(|a| matches!(a, Action::ServeScopes(_)))
                        {
                            assert_eq!(*s, served, "{state} {event:?} {c:?}");
                        } else {
                            assert_eq!(served, h.scopes(c), "{state} {event:?} silent change");
                        }
                        if matches!(next.state, Waiting | Syncing | Ready | InMaintenance) {
                            assert!(!served.any(), "{} serves", next.state);
                        }
                        assert_eq!(
                            next.heartbeats(),
                            !matches!(next.state, Terminated | Backup)
                        );
                        assert_eq!(
                            next.sync_running,
                            next.state == Syncing && next.sync_running
                        );
                        if next.state != Syncing {
                            assert!(!next.sync_running, "{state} {event:?}: sync left running");
                            assert!(
                                !next.partner_dhcp_disabled,
                                "{state} {event:?}: partner left disabled"
                            );
                        }
                        if c.mode == HaMode::HotStandby {
                            assert!(!served.secondary, "no secondary scope in hot-standby");
                            assert!(
                                !matches!(next.state, LoadBalancing | CommunicationRecovery),
                                "{state} {event:?} -> {}",
                                next.state
                            );
                        } else {
                            assert_ne!(next.state, HotStandby, "{state} {event:?}");
                        }
                    }
                }
            }
        }
    }
}

// ---------- whole pairs ----------

/// Two machines exchanging heartbeats; a sync completes as soon as it starts.
struct Pair {
    a: (HaState, Context),
    b: (HaState, Context),
}

impl Pair {
    fn new(a: Context, b: Context) -> Pair {
        Pair {
            a: (HaState::start(&a).0, a),
            b: (HaState::start(&b).0, b),
        }
    }

    fn feed(side: &mut (HaState, Context), event: Event) {
        let (next, actions) = step(&side.0, event, &side.1);
        side.0 = next;
        if actions.contains(&Action::StartSync) {
            let (next, _) = step(&side.0, Event::SyncCompleted, &side.1);
            side.0 = next;
        }
    }

    /// One heartbeat each way.
    fn round(&mut self) {
        let b_state = self.b.0.state;
        Pair::feed(&mut self.a, heartbeat(b_state));
        let a_state = self.a.0.state;
        Pair::feed(&mut self.b, heartbeat(a_state));
    }

    fn states(&self) -> (State, State) {
        (self.a.0.state, self.b.0.state)
    }

    fn scopes(&self) -> (Scopes, Scopes) {
        (self.a.0.scopes(&self.a.1), self.b.0.scopes(&self.b.1))
    }
}

#[test]
fn a_hot_standby_pair_started_together_converges_with_one_server_serving() {
    let mut pair = Pair::new(hs_primary(), hs_standby());
    for _ in 0..5 {
        pair.round();
    }
    assert_eq!(pair.states(), (HotStandby, HotStandby));
    assert_eq!(pair.scopes(), (PRIMARY_SCOPE, Scopes::NONE));
}

#[test]
fn a_load_balancing_pair_started_together_splits_the_scopes() {
    let mut pair = Pair::new(lb_primary(), lb_secondary());
    for _ in 0..5 {
        pair.round();
    }
    assert_eq!(pair.states(), (LoadBalancing, LoadBalancing));
    assert_eq!(pair.scopes(), (PRIMARY_SCOPE, SECONDARY_SCOPE));
}

#[test]
fn a_standby_takes_over_a_dead_primary_and_hands_back_after_its_return() {
    let mut pair = Pair::new(hs_primary(), hs_standby());
    for _ in 0..5 {
        pair.round();
    }
    // kill -9 the primary: the standby sees the link interrupted and clients unanswered.
    Pair::feed(&mut pair.b, Event::HeartbeatFailed);
    Pair::feed(&mut pair.b, Event::CommunicationInterrupted);
    Pair::feed(&mut pair.b, Event::UnackedClientsOverThreshold);
    assert_eq!(pair.b.0.state, PartnerDown);
    assert_eq!(pair.b.0.scopes(&pair.b.1), PRIMARY_SCOPE);
    // The primary restarts from scratch.
    pair.a.0 = HaState::start(&pair.a.1).0;
    let mut both_served = false;
    for _ in 0..6 {
        pair.round();
        let (a, b) = pair.scopes();
        both_served |= a.any() && b.any();
    }
    assert_eq!(pair.states(), (HotStandby, HotStandby));
    assert_eq!(pair.scopes(), (PRIMARY_SCOPE, Scopes::NONE));
    assert!(!both_served, "never two servers answering the same clients");
}

#[test]
fn a_maintenance_hand_over_and_cancel_round_trip() {
    let mut pair = Pair::new(hs_primary(), hs_standby());
    for _ in 0..5 {
        pair.round();
    }
    // Operator asks the standby to take over; it notifies the primary, which accepts.
    let (_, actions) = step(&pair.b.0, Event::MaintenanceStart, &pair.b.1);
    assert_eq!(actions, [Action::NotifyMaintenance { cancel: false }]);
    Pair::feed(&mut pair.a, Event::MaintenanceNotify { cancel: false });
    Pair::feed(
        &mut pair.b,
        Event::MaintenanceAnswered(MaintenanceAnswer::Accepted),
    );
    assert_eq!(pair.states(), (InMaintenance, PartnerInMaintenance));
    assert_eq!(pair.scopes(), (Scopes::NONE, PRIMARY_SCOPE));
    pair.round();
    assert_eq!(
        pair.states(),
        (InMaintenance, PartnerInMaintenance),
        "stable"
    );
    // Cancel: both go back.
    Pair::feed(&mut pair.b, Event::MaintenanceCancel);
    Pair::feed(&mut pair.a, Event::MaintenanceNotify { cancel: true });
    pair.round();
    assert_eq!(pair.states(), (HotStandby, HotStandby));
    assert_eq!(pair.scopes(), (PRIMARY_SCOPE, Scopes::NONE));
}

// ---------- pausing (Kea's state-machine settings) and ha-continue ----------

/// `base` with the machine pausing in `state` as `mode` says.
fn pausing(base: Context, state: State, mode: PauseMode) -> Context {
    Context {
        pauses: PausePlan::new(&[(state, mode)]),
        ..base
    }
}

fn replied(actions: &[Action], text: &str) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::Reply { text: t } if *t == text))
}

#[test]
fn a_state_paused_always_holds_its_transitions_on_every_entry_until_continue() {
    let c = Context {
        sync_leases: false,
        ..pausing(hs_standby(), Ready, PauseMode::Always)
    };
    let (h, _) = step(
        &at(Waiting, PartnerState::Unknown),
        heartbeat(HotStandby),
        &c,
    );
    assert_eq!((h.state, h.paused), (Ready, true));
    // The partner serves; a free machine would go to hot-standby at once.
    for _ in 0..3 {
        let (next, actions) = step(&h, heartbeat(HotStandby), &c);
        assert_eq!((next.state, next.paused), (Ready, true), "held");
        assert!(actions.is_empty(), "{actions:?}");
    }
    let (h, actions) = step(&h, Event::Continue, &c);
    assert!(replied(&actions, CONTINUE_RELEASED), "{actions:?}");
    assert_eq!(
        (h.state, h.paused),
        (HotStandby, false),
        "the held move is made"
    );
    assert!(has(&actions, Action::ServeScopes(Scopes::NONE)) || !h.scopes(&c).any());
    // Always: a reset brings it through ready again, and it pauses again.
    let (h, _) = step(&h, Event::Reset, &c);
    let (h, _) = step(&h, heartbeat(HotStandby), &c);
    assert_eq!((h.state, h.paused), (Ready, true));
}

#[test]
fn a_state_paused_once_pauses_only_on_its_first_entry() {
    let c = Context {
        sync_leases: false,
        ..pausing(hs_standby(), Ready, PauseMode::Once)
    };
    let (h, _) = step(
        &at(Waiting, PartnerState::Unknown),
        heartbeat(HotStandby),
        &c,
    );
    assert_eq!((h.state, h.paused), (Ready, true));
    let (h, _) = step(&h, Event::Continue, &c);
    assert_eq!((h.state, h.paused), (HotStandby, false));
    let (h, _) = step(&h, Event::Reset, &c);
    let (h, _) = step(&h, heartbeat(HotStandby), &c);
    assert_eq!(
        (h.state, h.paused),
        (HotStandby, false),
        "second pass through ready does not pause"
    );
}

#[test]
fn never_and_unlisted_states_do_not_pause_and_continue_says_so() {
    for c in [
        pausing(hs_standby(), Ready, PauseMode::Never),
        pausing(hs_standby(), PartnerDown, PauseMode::Always),
    ] {
        let (h, _) = step(
            &at(Waiting, PartnerState::Unknown),
            heartbeat(HotStandby),
            &c,
        );
        assert_eq!((h.state, h.paused), (Syncing, false));
        let (h, _) = step(&h, Event::SyncCompleted, &c);
        let (h, _) = step(&h, heartbeat(HotStandby), &c);
        assert_eq!((h.state, h.paused), (HotStandby, false));
        let (next, actions) = step(&h, Event::Continue, &c);
        assert_eq!(
            actions,
            [Action::Reply {
                text: CONTINUE_NOT_PAUSED
            }]
        );
        assert_eq!(next, h, "continue on a free machine changes nothing");
    }
}

#[test]
fn a_server_paused_in_waiting_at_start_heartbeats_but_does_not_sync_until_continue() {
    let c = pausing(hs_standby(), Waiting, PauseMode::Once);
    let (h, actions) = HaState::start(&c);
    assert_eq!((h.state, h.paused), (Waiting, true));
    assert!(
        has(&actions, Action::StartHeartbeats),
        "waiting's work goes on"
    );
    let (h, actions) = step(&h, heartbeat(HotStandby), &c);
    assert_eq!(h.state, Waiting);
    assert!(!has(&actions, Action::StartSync), "{actions:?}");
    assert_eq!(
        h.partner,
        known(HotStandby),
        "the partner is still followed"
    );
    let (h, actions) = step(&h, Event::Continue, &c);
    assert_eq!((h.state, h.paused), (Syncing, false));
    assert!(replied(&actions, CONTINUE_RELEASED));
    assert!(has(&actions, Action::StartSync), "{actions:?}");
    // A restarted relationship pauses again: once is per start.
    assert!(HaState::start(&c).0.paused);
}

#[test]
fn a_paused_syncing_fetches_nothing_until_continue() {
    let c = pausing(hs_standby(), Syncing, PauseMode::Always);
    let (h, actions) = step(
        &at(Waiting, PartnerState::Unknown),
        heartbeat(HotStandby),
        &c,
    );
    assert_eq!((h.state, h.paused, h.sync_running), (Syncing, true, false));
    assert!(!has(&actions, Action::StartSync) && !has(&actions, Action::DisablePartnerDhcp));
    let (h, actions) = step(&h, heartbeat(HotStandby), &c);
    assert!(!has(&actions, Action::StartSync), "no retry while paused");
    let (h, actions) = step(&h, Event::Continue, &c);
    assert!(has(&actions, Action::StartSync), "{actions:?}");
    assert!(h.sync_running && !h.paused);
}

#[test]
fn a_paused_normal_state_keeps_serving_its_scope() {
    let c = pausing(hs_primary(), HotStandby, PauseMode::Always);
    let (h, actions) = step(&at(Ready, PartnerState::Unknown), heartbeat(HotStandby), &c);
    assert_eq!((h.state, h.paused), (HotStandby, true));
    assert!(has(&actions, Action::ServeScopes(PRIMARY_SCOPE)));
    assert!(has(&actions, Action::LeaseUpdates(LeaseUpdates::Send)));
    // The partner served alone: a free machine would resync; the paused one keeps serving.
    let (h, actions) = step(&h, heartbeat(PartnerDown), &c);
    assert_eq!(h.state, HotStandby);
    assert!(actions.is_empty(), "{actions:?}");
    let (h, _) = step(&h, Event::Continue, &c);
    assert_eq!(h.state, Syncing, "on continue it does what it held");
}

#[test]
fn commands_move_a_paused_machine_and_the_pause_lasts_until_continue() {
    // As Kea's command handlers: maintenance and partner-down transition regardless.
    let c = pausing(hs_primary(), HotStandby, PauseMode::Always);
    let paused = HaState {
        paused: true,
        ..at(HotStandby, known(HotStandby))
    };
    let (h, actions) = step(&paused, Event::MaintenanceNotify { cancel: false }, &c);
    assert_eq!((h.state, h.paused), (InMaintenance, true));
    assert!(!refused(&actions));
    let (h, _) = step(&h, Event::MaintenanceNotify { cancel: true }, &c);
    assert_eq!((h.state, h.paused), (HotStandby, true));
    let (h, actions) = step(&paused, Event::MaintenanceStart, &c);
    assert!(has(&actions, Action::NotifyMaintenance { cancel: false }));
    let (h, _) = step(&h, Event::PartnerDownCommand, &c);
    assert_eq!((h.state, h.paused), (PartnerDown, true));
    // Still paused: the partner returning ready does not bring it back to hot-standby...
    let (h, _) = step(&h, heartbeat(Ready), &c);
    assert_eq!(h.state, PartnerDown);
    // ...until the operator lets it go.
    let (h, _) = step(&h, Event::Continue, &c);
    assert_eq!(
        (h.state, h.paused),
        (HotStandby, true),
        "re-entering an always state pauses"
    );
}

#[test]
fn a_pair_whose_primary_pauses_in_waiting_stays_waiting_until_continue() {
    let mut pair = Pair::new(
        pausing(hs_primary(), Waiting, PauseMode::Once),
        hs_standby(),
    );
    for _ in 0..5 {
        pair.round();
    }
    assert_eq!(
        pair.states(),
        (Waiting, Waiting),
        "neither syncs nor serves"
    );
    assert_eq!(pair.scopes(), (Scopes::NONE, Scopes::NONE));
    assert!(pair.a.0.paused && !pair.b.0.paused);
    Pair::feed(&mut pair.a, Event::Continue);
    assert_eq!(pair.a.0.state, Ready, "synced on continue");
    for _ in 0..5 {
        pair.round();
    }
    assert_eq!(pair.states(), (HotStandby, HotStandby));
    assert_eq!(pair.scopes(), (PRIMARY_SCOPE, Scopes::NONE));
}
