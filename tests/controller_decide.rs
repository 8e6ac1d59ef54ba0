//! The controller's decisions as plain data (`src/controller/decide`): examples with plain values, then laws over
//! random observations (spec, status, generation, trigger, clock) and random answers to what the decision asks
//! (fresh read, dependencies, ledger, destination, alert evaluation):
//!
//! - a suspended sync never runs, and an invalid spec stalls once and is not retried;
//! - whenever a status is written, its observedGeneration (and its conditions') is the observed generation;
//! - a requeue at an instant is never in the past, and never later than the next due run;
//! - writing what a decision says and deciding again comes to rest: no hot loop of status writes;
//! - a spec change (new generation) of a scheduled sync always goes for a run, and either runs or says why not;
//! - a failed run or a tripped delete guard never leaves Ready=True;
//! - a destination's status comes to rest too, and is Ready exactly when its check passed.
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};
use shopsync::alerts::AlertOutcome;
use shopsync::api::{
    ShopifyDestinationSpec, ShopifyDestinationStatus, ShopifySyncSpec, ShopifySyncStatus,
    sync_config,
};
use shopsync::controller::decide::destination::{self as dest, Checked, Problem};
use shopsync::controller::decide::sync::{
    Alerting, Blocked, CleanupFacts, CleanupStep, Decision, Facts, Finalizing, Ledger, Need,
    Observed, cleanup, decide, finalizing, finished, next_due,
};
use shopsync::controller::decide::{Note, Outcome, Requeue};
use shopsync::controller::egress::EgressPolicy;
use shopsync::controller::status::chrono_of;
use shopsync::core::alerts::{AlertRecord, AlertRule, AlertState};
use shopsync::core::config::DeleteBehavior;
use shopsync::core::order::Gate;
use shopsync::core::report::RunReport;
use shopsync::core::state::{RunRecord, RunStats, RunStatus};
use shopsync::shopify::ShopInfo;

const ID: &str = "shop/customers";
const RETRY: Duration = Duration::from_secs(42);

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap()
}

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A sync spec: an hourly customer upsert, with `patch` merged over it (a `null` removes a field).
fn spec(patch: Value) -> ShopifySyncSpec {
    let mut spec = json!({
        "destinationRef": {"name": "demo-store"},
        "source": {"urlSecretRef": {"name": "warehouse", "key": "url"}, "query": "SELECT id, email FROM customers"},
        "primaryKey": "id",
        "object": "customers",
        "mode": "upsert",
        "match": {"key": "email"},
        "mappings": [{"from": "email", "to": "email"}],
        "schedule": {"interval": "1h"}
    });
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            spec.as_object_mut().unwrap().remove(k);
        } else {
            spec[k] = v.clone();
        }
    }
    serde_json::from_value(spec).unwrap()
}

fn event_sync() -> Value {
    json!({
        "object": null, "mode": null, "match": null,
        "event": "fulfillmentEvents",
        "primaryKey": "event_id",
        "mappings": [
            {"from": "order_id", "to": "orderId"},
            {"from": "fulfillment_id", "to": "fulfillmentId"},
            {"from": "status", "to": "status"}
        ]
    })
}

fn run_summary(started: DateTime<Utc>, outcome: &str) -> Value {
    json!({
        "startedAt": ts(started), "finishedAt": ts(started + chrono::Duration::seconds(5)),
        "durationSeconds": 5.0, "outcome": outcome, "rowsQueried": 2, "rowsAdded": 2, "rowsChanged": 0,
        "rowsRemoved": 0, "rowsSucceeded": 2, "rowsRejected": 0
    })
}

/// The status of a sync that last ran (successfully) `ago` before `now`, for generation 3.
fn ran(now: DateTime<Utc>, ago: chrono::Duration) -> ShopifySyncStatus {
    let last = run_summary(now - ago, "Succeeded");
    serde_json::from_value(json!({
        "observedGeneration": 3,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Synced", "message": "ok",
                        "observedGeneration": 3, "lastTransitionTime": ts(now - ago)}],
        "lastRun": last.clone(),
        "recentRuns": [last],
    }))
    .unwrap()
}

fn observed<'a>(
    spec: &'a ShopifySyncSpec,
    status: &'a ShopifySyncStatus,
    now: DateTime<Utc>,
) -> Observed<'a> {
    Observed {
        id: ID,
        spec,
        status,
        generation: Some(3),
        trigger: None,
        now,
        retry_after: RETRY,
        alerting: true,
        destination_alerts: None,
    }
}

fn settled(d: Decision) -> Outcome<ShopifySyncStatus> {
    match d {
        Decision::Settle(o) => *o,
        other => panic!("expected a settled decision, got {other:?}"),
    }
}

fn condition<'a>(status: &'a ShopifySyncStatus, type_: &str) -> (&'a str, &'a str) {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.as_str(), c.reason.as_str()))
        .unwrap_or(("", ""))
}

fn confirmed() -> Facts {
    Facts {
        confirmed: true,
        ..Facts::<()>::default()
    }
}

#[test]
fn an_invalid_spec_stalls_once_with_an_event_and_waits_for_a_change() {
    let spec = spec(json!({"schedule": {"cron": "every tuesday"}}));
    let prev = ShopifySyncStatus::default();
    let first = settled(decide(
        &observed(&spec, &prev, base()),
        &Facts::<()>::default(),
    ));
    let status = first.status.expect("a status to write");
    assert_eq!(condition(&status, "Stalled"), ("True", "InvalidSpec"));
    assert_eq!(condition(&status, "Ready").0, "False");
    assert_eq!(status.observed_generation, Some(3));
    assert_eq!(first.notes.len(), 1);
    assert_eq!(first.notes[0].reason, "InvalidSpec");
    assert!(first.notes[0].warning);
    assert_eq!(first.requeue, Requeue::OnChange);
    // Decided again on the status written, later: nothing to write, nothing to say.
    let again = settled(decide(
        &observed(&spec, &status, base() + chrono::Duration::hours(1)),
        &Facts::<()>::default(),
    ));
    assert_eq!(again.status, None);
    assert!(again.notes.is_empty());
    assert_eq!(again.requeue, Requeue::OnChange);
}

#[test]
fn a_suspended_sync_says_so_and_never_asks_for_anything() {
    let spec = spec(json!({"suspend": true}));
    let prev = ran(base(), chrono::Duration::hours(5));
    let outcome = settled(decide(
        &observed(&spec, &prev, base()),
        &Facts::<()>::default(),
    ));
    let status = outcome.status.expect("a status to write");
    assert_eq!(condition(&status, "Reconciling"), ("False", "Suspended"));
    // Ready as the last run left it.
    assert_eq!(condition(&status, "Ready"), ("True", "Synced"));
    assert_eq!(status.next_run_at, None);
    assert_eq!(outcome.requeue, Requeue::OnChange);
}

#[test]
fn a_run_not_due_publishes_when_it_will_be_and_wakes_then() {
    let spec = spec(json!({}));
    let now = base();
    let prev = ran(now, chrono::Duration::minutes(10));
    let outcome = settled(decide(
        &observed(&spec, &prev, now),
        &Facts::<()>::default(),
    ));
    let status = outcome.status.expect("a status to write");
    let next = now + chrono::Duration::minutes(50);
    assert_eq!(status.next_run_at.as_ref().map(chrono_of), Some(next));
    assert_eq!(condition(&status, "Reconciling"), ("False", "Scheduled"));
    assert_eq!(outcome.requeue, Requeue::At(next));
    assert_eq!(
        outcome.requeue.action(now),
        kube::runtime::controller::Action::requeue(Duration::from_secs(50 * 60))
    );
}

#[test]
fn a_due_run_confirms_the_object_then_resolves_the_destination_then_runs() {
    let spec = spec(json!({}));
    let prev = ShopifySyncStatus::default();
    let obs = observed(&spec, &prev, base());
    assert_eq!(
        decide(&obs, &Facts::<()>::default()),
        Decision::Observe(Need::Fresh)
    );
    // An object sync never asks about the ledger, and one without dependencies never about them.
    assert_eq!(
        decide(&obs, &confirmed()),
        Decision::Observe(Need::Destination)
    );
    let facts = Facts {
        destination: Some(Ok(())),
        ..confirmed()
    };
    let Decision::Run(run) = decide(&obs, &facts) else {
        panic!("expected a run")
    };
    assert!(run.write);
    assert_eq!(condition(&run.running, "Reconciling"), ("True", "Running"));
    assert_eq!(condition(&run.running, "Ready"), ("Unknown", "FirstRun"));
    assert_eq!(run.config.id, ID);
}

#[test]
fn a_missing_destination_waits_with_its_reason_said_once() {
    let spec = spec(json!({}));
    let prev = ShopifySyncStatus::default();
    let facts = Facts {
        destination: Some(Err(Blocked {
            reason: "DestinationNotFound",
            message: "ShopifyDestination shop/demo-store not found".into(),
        })),
        ..confirmed()
    };
    let first = settled(decide(&observed(&spec, &prev, base()), &facts));
    let status = first.status.expect("a status to write");
    assert_eq!(
        condition(&status, "Ready"),
        ("False", "DestinationNotFound")
    );
    assert_eq!(condition(&status, "Stalled").0, "False");
    assert_eq!(first.notes[0].reason, "DestinationNotFound");
    assert_eq!(first.requeue, Requeue::After(RETRY));
    let again = settled(decide(&observed(&spec, &status, base()), &facts));
    assert_eq!((again.status, again.notes), (None, vec![]));
}

#[test]
fn a_spec_change_held_by_a_missing_destination_runs_when_the_destination_is_back() {
    let spec = spec(json!({}));
    // Generation 2 ran an hour ago; the spec is now at generation 3.
    let mut prev = ran(base(), chrono::Duration::minutes(1));
    prev.observed_generation = Some(2);
    prev.last_run_generation = Some(2);
    let gone = Facts {
        destination: Some(Err(Blocked {
            reason: "DestinationNotFound",
            message: "ShopifyDestination shop/demo-store not found".into(),
        })),
        ..confirmed()
    };
    let held = settled(decide(&observed(&spec, &prev, base()), &gone))
        .status
        .expect("the hold is written");
    assert_eq!(held.observed_generation, Some(3));
    assert_eq!(
        held.last_run_generation,
        Some(2),
        "no run used generation 3"
    );
    // The destination is back a minute later, long before the next scheduled run: generation 3 runs now.
    let later = base() + chrono::Duration::minutes(1);
    let back = Facts {
        destination: Some(Ok(())),
        ..confirmed()
    };
    let Decision::Run(run) = decide(&observed(&spec, &held, later), &back) else {
        panic!("the held spec change runs once the destination is back")
    };
    // Once it ran, the schedule decides again.
    let done = finished(
        &observed(&spec, &held, later),
        &run.config,
        &run.running,
        &report(later, RunStatus::Succeeded),
        Some(&[]),
        &Alerting::Off,
    );
    let status = done.status.expect("a status");
    assert_eq!(status.last_run_generation, Some(3));
    assert!(matches!(
        decide(&observed(&spec, &status, later), &back),
        Decision::Settle(_)
    ));
}

#[test]
fn dependencies_hold_a_due_run_and_a_cycle_stalls_it() {
    let spec = spec(json!({"dependsOn": [{"name": "products"}]}));
    let prev = ShopifySyncStatus::default();
    let obs = observed(&spec, &prev, base());
    assert_eq!(
        decide(&obs, &confirmed()),
        Decision::Observe(Need::Dependencies)
    );
    let wait = Facts {
        dependencies: Some(Gate::Wait("products has not run".into())),
        ..confirmed()
    };
    let held = settled(decide(&obs, &wait));
    let status = held.status.expect("a status");
    assert_eq!(
        condition(&status, "Ready"),
        ("False", "WaitingForDependencies")
    );
    assert_eq!(held.requeue, Requeue::After(Duration::from_secs(15)));
    let cycle = Facts {
        dependencies: Some(Gate::Stalled("a cycle".into())),
        ..confirmed()
    };
    let status = settled(decide(&obs, &cycle)).status.expect("a status");
    assert_eq!(condition(&status, "Stalled"), ("True", "DependencyCycle"));
    let open = Facts {
        dependencies: Some(Gate::Open),
        ..confirmed()
    };
    assert_eq!(decide(&obs, &open), Decision::Observe(Need::Destination));
}

#[test]
fn an_event_sync_whose_ledger_is_gone_waits_instead_of_resending() {
    let spec = spec(event_sync());
    let mut prev = ran(base(), chrono::Duration::minutes(10));
    prev.observed_generation = Some(2);
    let obs = observed(&spec, &prev, base());
    assert_eq!(decide(&obs, &confirmed()), Decision::Observe(Need::Ledger));
    let lost = Facts {
        ledger: Some(Ledger::Lost),
        ..confirmed()
    };
    let outcome = settled(decide(&obs, &lost));
    let status = outcome.status.expect("a status");
    assert_eq!(condition(&status, "Ready"), ("False", "StateLost"));
    assert_eq!(outcome.requeue, Requeue::After(RETRY));
    // An unreadable store does not hold the run: the run fails with the store's own error.
    let unreadable = Facts {
        ledger: Some(Ledger::Unreadable),
        ..confirmed()
    };
    assert_eq!(
        decide(&obs, &unreadable),
        Decision::Observe(Need::Destination)
    );
}

fn late_alerts() -> Value {
    json!({"alerts": {"onFailure": false, "lateAfter": "1m",
                      "channels": [{"webhook": {"url": "http://127.0.0.1/hook"}}]}})
}

#[test]
fn the_late_rule_is_evaluated_between_runs_only_when_it_applies() {
    let now = base();
    let prev = ran(now, chrono::Duration::minutes(10));
    let plain = spec(json!({}));
    assert!(matches!(
        decide(&observed(&plain, &prev, now), &Facts::<()>::default()),
        Decision::Settle(_)
    ));
    let late = spec(late_alerts());
    let obs = observed(&late, &prev, now);
    assert!(matches!(
        decide(&obs, &Facts::<()>::default()),
        Decision::Observe(Need::LateAlerts { .. })
    ));
    // Alerts off (no notifier): nothing to evaluate.
    let off = Observed {
        alerting: false,
        ..obs
    };
    assert!(matches!(
        decide(&off, &Facts::<()>::default()),
        Decision::Settle(_)
    ));
    // Late in 20 minutes, before the next run (in 50): wake then, and show what fires.
    let late_at = now + chrono::Duration::minutes(20);
    let evaluated = AlertOutcome {
        firing: vec![AlertRecord {
            rule: AlertRule::RejectedRows,
            state: AlertState::Firing,
            since: now,
            message: "3 rows rejected".into(),
        }],
        late_at: Some(late_at),
        ..AlertOutcome::default()
    };
    let facts = Facts {
        late: Some(Alerting::Evaluated(evaluated)),
        ..Facts::<()>::default()
    };
    let outcome = settled(decide(&obs, &facts));
    assert_eq!(outcome.requeue, Requeue::At(late_at));
    let status = outcome.status.expect("a status");
    assert_eq!(status.alerts.len(), 1);
    assert_eq!(status.alerts[0].rule, "rejected_rows");
    // Alerting unavailable is said, before the status.
    let facts = Facts {
        late: Some(Alerting::Unavailable("Secret shop/keys not found".into())),
        ..Facts::<()>::default()
    };
    let outcome = settled(decide(&obs, &facts));
    assert_eq!(outcome.alert_notes.len(), 1);
    assert_eq!(outcome.alert_notes[0].reason, "AlertsUnavailable");
    assert_eq!(
        outcome.requeue,
        Requeue::At(now + chrono::Duration::minutes(50))
    );
}

fn report(started: DateTime<Utc>, status: RunStatus) -> RunReport {
    let mut r = RunReport::failed(ID, started, started, "boom".into());
    r.finished_at = started + chrono::Duration::seconds(30);
    r.status = status;
    if status != RunStatus::Failed {
        r.error = None;
    }
    r.stats = RunStats {
        rows_queried: 4,
        added: 4,
        succeeded: 4,
        ..RunStats::default()
    };
    r
}

/// The decision to run `spec` for the first time at `now`.
fn first_run(
    spec: &ShopifySyncSpec,
    now: DateTime<Utc>,
) -> shopsync::controller::decide::sync::Run {
    let prev = ShopifySyncStatus::default();
    let facts = Facts {
        destination: Some(Ok(())),
        ..confirmed()
    };
    match decide(&observed(spec, &prev, now), &facts) {
        Decision::Run(run) => *run,
        other => panic!("expected a run, got {other:?}"),
    }
}

#[test]
fn a_finished_run_reports_its_outcome_and_wakes_for_the_next() {
    let spec = spec(json!({}));
    let now = base();
    let run = first_run(&spec, now);
    let prev = ShopifySyncStatus::default();
    let obs = observed(&spec, &prev, now);
    let ok = report(now, RunStatus::Succeeded);
    let outcome = finished(
        &obs,
        &run.config,
        &run.running,
        &ok,
        Some(&[]),
        &Alerting::Off,
    );
    let status = outcome.status.expect("a status");
    assert_eq!(condition(&status, "Ready"), ("True", "Synced"));
    assert_eq!(condition(&status, "Reconciling"), ("False", "RunFinished"));
    let next = now + chrono::Duration::hours(1);
    assert_eq!(status.next_run_at.as_ref().map(chrono_of), Some(next));
    assert_eq!(outcome.requeue, Requeue::At(next));
    assert_eq!(
        outcome
            .notes
            .iter()
            .map(|n| n.reason.as_str())
            .collect::<Vec<_>>(),
        ["RunSucceeded"]
    );
    assert_eq!(status.recent_runs.len(), 1);
    assert!(status.last_successful_run_at.is_some());

    // A failure retries after 30s, sooner than the schedule; Ready goes False.
    let failed = report(now, RunStatus::Failed);
    let outcome = finished(
        &obs,
        &run.config,
        &run.running,
        &failed,
        None,
        &Alerting::Off,
    );
    let status = outcome.status.expect("a status");
    assert_eq!(condition(&status, "Ready"), ("False", "RunFailed"));
    assert_eq!(status.last_successful_run_at, None);
    assert_eq!(
        outcome.requeue,
        Requeue::At(failed.finished_at + chrono::Duration::seconds(30))
    );
    assert!(outcome.notes[0].warning);

    // A tripped delete guard is not Ready, whatever else went well.
    let mut tripped = report(now, RunStatus::Succeeded);
    tripped.refused_deletes = Some("3 of 4 records (75%) exceeds 50%".into());
    let outcome = finished(
        &obs,
        &run.config,
        &run.running,
        &tripped,
        None,
        &Alerting::Off,
    );
    let status = outcome.status.expect("a status");
    assert_eq!(condition(&status, "Ready"), ("False", "DeleteGuardTripped"));
    assert_eq!(outcome.notes[0].reason, "DeleteGuardTripped");
}

#[test]
fn recent_runs_come_from_the_history_without_this_run_or_runs_in_progress() {
    let spec = spec(json!({}));
    let now = base();
    let run = first_run(&spec, now);
    let prev = ShopifySyncStatus::default();
    let obs = observed(&spec, &prev, now);
    let record = |id: i64, hours: i64, status: RunStatus| RunRecord {
        id,
        sync: ID.into(),
        started_at: now - chrono::Duration::hours(hours),
        finished_at: Some(now - chrono::Duration::hours(hours) + chrono::Duration::seconds(9)),
        status,
        stats: RunStats::default(),
        error: None,
    };
    let this = report(now, RunStatus::Succeeded);
    let history: Vec<RunRecord> = [
        record(9, 0, RunStatus::Succeeded),
        record(8, 0, RunStatus::Running),
    ]
    .into_iter()
    .chain((1..=6).map(|h| record(8 - h, h, RunStatus::Failed)))
    .collect();
    let outcome = finished(
        &obs,
        &run.config,
        &run.running,
        &this,
        Some(&history),
        &Alerting::Off,
    );
    let recent = outcome.status.expect("a status").recent_runs;
    assert_eq!(recent.len(), 5);
    assert_eq!(chrono_of(&recent[0].started_at), now);
    assert_eq!(
        chrono_of(&recent[1].started_at),
        now - chrono::Duration::hours(1)
    );
}

#[test]
fn cleanup_deletes_under_the_guard_and_stalls_when_it_cannot() {
    let orphan = spec(
        json!({"object": "products", "match": null, "mappings": [{"from": "email", "to": "handle"}, {"from": "email", "to": "title"}]}),
    );
    let prev = ShopifySyncStatus::default();
    let obs = observed(&orphan, &prev, base());
    assert!(matches!(
        cleanup(&obs, &CleanupFacts::<()>::default()),
        CleanupStep::Done(c) if c.blocked.is_none() && c.status.is_none() && c.notes.is_empty()
    ));
    let delete = spec(
        json!({"object": "products", "match": null, "deletionPolicy": "Delete",
                             "mappings": [{"from": "email", "to": "handle"}, {"from": "email", "to": "title"}]}),
    );
    let obs = observed(&delete, &prev, base());
    assert_eq!(
        cleanup(&obs, &CleanupFacts::<()>::default()),
        CleanupStep::Resolve
    );
    let resolved = CleanupFacts {
        destination: Some(Ok(())),
        ran: None,
    };
    let CleanupStep::Run(config, ()) = cleanup(&obs, &resolved) else {
        panic!("expected the deleting run")
    };
    assert_eq!(config.delete_behavior, DeleteBehavior::Delete);
    let mut refused = report(base(), RunStatus::Succeeded);
    refused.refused_deletes = Some("too many".into());
    let CleanupStep::Done(done) = cleanup(
        &obs,
        &CleanupFacts {
            ran: Some(Ok(refused)),
            ..resolved.clone()
        },
    ) else {
        panic!("expected the end")
    };
    let status = done.status.expect("a status");
    assert_eq!(
        condition(&status, "Stalled"),
        ("True", "DeleteGuardTripped")
    );
    assert!(done.blocked.is_some_and(|m| m.contains("deleteGuard")));
    let mut ok = report(base(), RunStatus::Succeeded);
    ok.deleted = 4;
    let CleanupStep::Done(done) = cleanup(
        &obs,
        &CleanupFacts {
            ran: Some(Ok(ok)),
            ..resolved
        },
    ) else {
        panic!("expected the end")
    };
    assert_eq!(done.blocked, None);
    assert_eq!(done.notes[0].reason, "CleanedUp");
    assert_eq!(done.notes[0].note, "deleted 4 records this sync created");
}

#[test]
fn the_finalizer_is_held_only_for_the_delete_policy_and_released_when_it_goes() {
    let orphan = spec(json!({}));
    let delete = spec(json!({"deletionPolicy": "Delete"}));
    assert_eq!(finalizing(&orphan, false, false), Finalizing::Plain);
    assert_eq!(finalizing(&orphan, true, false), Finalizing::Release);
    // Being deleted: the finalizer helper removes it (after a cleanup that does nothing for Orphan).
    assert_eq!(finalizing(&orphan, true, true), Finalizing::Guarded);
    assert_eq!(finalizing(&delete, false, false), Finalizing::Guarded);
    assert_eq!(finalizing(&delete, true, true), Finalizing::Guarded);
}

#[test]
fn a_requeue_instant_rounds_up_to_whole_seconds_never_zero() {
    use kube::runtime::controller::Action;
    let now = base();
    let at = |ms: i64| Requeue::At(now + chrono::Duration::milliseconds(ms)).action(now);
    assert_eq!(at(1500), Action::requeue(Duration::from_secs(2)));
    assert_eq!(at(0), Action::requeue(Duration::from_secs(1)));
    assert_eq!(at(-5000), Action::requeue(Duration::from_secs(1)));
    assert_eq!(Requeue::OnChange.action(now), Action::await_change());
}

// The destination.

fn dest_spec(version: &str, endpoint: Option<&str>) -> ShopifyDestinationSpec {
    serde_json::from_value(json!({
        "store": "demo", "apiVersion": version, "endpoint": endpoint,
        "credentials": {"accessTokenSecretRef": {"name": "demo-store-token", "key": "token"}}
    }))
    .unwrap()
}

fn shop(scopes: &[&str]) -> ShopInfo {
    ShopInfo {
        name: "Demo".into(),
        domain: "demo.myshopify.com".into(),
        plan: Some("Basic".into()),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    }
}

fn dest_observed<'a>(
    spec: &'a ShopifyDestinationSpec,
    status: &'a ShopifyDestinationStatus,
    now: DateTime<Utc>,
) -> dest::Observed<'a> {
    dest::Observed {
        spec,
        status,
        generation: Some(2),
        now,
        recheck: Duration::from_secs(600),
        retry_after: RETRY,
    }
}

fn dest_condition<'a>(status: &'a ShopifyDestinationStatus, type_: &str) -> (&'a str, &'a str) {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.as_str(), c.reason.as_str()))
        .unwrap_or(("", ""))
}

#[test]
fn a_destination_off_shopify_is_refused_from_its_spec_alone() {
    let spec = dest_spec("2026-01", Some("http://169.254.169.254/latest"));
    let problem = dest::precheck(&spec, &EgressPolicy::default()).unwrap_err();
    assert!(matches!(problem, Problem::Stalled("EndpointNotAllowed", _)));
    let ok = dest_spec("2026-01", None);
    assert!(dest::precheck(&ok, &EgressPolicy::default()).is_ok());
    let bad = dest_spec("2019-01", None);
    assert!(matches!(
        dest::precheck(&bad, &EgressPolicy::default()),
        Err(Problem::Stalled("InvalidSpec", _))
    ));
}

#[test]
fn missing_scopes_name_the_syncs_that_need_them() {
    let customers = spec(json!({}));
    let products = spec(
        json!({"object": "products", "match": null, "mappings": [{"from": "email", "to": "handle"}, {"from": "email", "to": "title"}]}),
    );
    let info = shop(&["read_customers", "write_customers"]);
    let none = dest::missing_scopes(&info, [("customers".to_string(), &customers)]);
    assert_eq!(none, None);
    let some = dest::missing_scopes(
        &info,
        [
            ("customers".to_string(), &customers),
            ("products".to_string(), &products),
        ],
    );
    let Some(Problem::Stalled("MissingScopes", message)) = some else {
        panic!("expected missing scopes, got {some:?}")
    };
    assert!(message.contains("(sync products)"), "{message}");
    assert!(!message.contains("(sync customers)"), "{message}");
}

#[test]
fn a_connected_destination_says_so_once() {
    let spec = dest_spec("2026-10", None);
    let prev = ShopifyDestinationStatus::default();
    let checked = Checked {
        shop: Some(shop(&["write_customers"])),
        problem: None,
    };
    let first = dest::decide(&dest_observed(&spec, &prev, base()), &checked);
    let status = first.status.expect("a status");
    assert_eq!(dest_condition(&status, "Ready"), ("True", "Connected"));
    assert_eq!(status.shop_name.as_deref(), Some("Demo"));
    assert_eq!(
        first.notes,
        vec![Note::normal(
            "Connected",
            "CheckStore",
            "Shop \"Demo\" (Basic) answers; the token holds the scopes its syncs need".into()
        )]
    );
    assert_eq!(first.requeue, Requeue::After(Duration::from_secs(600)));
    let again = dest::decide(&dest_observed(&spec, &status, base()), &checked);
    assert_eq!((again.status, again.notes), (None, vec![]));
    // A network failure later: waiting, looked at again sooner.
    let down = Checked::failed(Problem::Waiting("Unreachable", "timed out".into()));
    let outcome = dest::decide(&dest_observed(&spec, &status, base()), &down);
    let status = outcome.status.expect("a status");
    assert_eq!(dest_condition(&status, "Ready"), ("False", "Unreachable"));
    assert_eq!(outcome.requeue, Requeue::After(RETRY));
    assert_eq!(outcome.notes[0].reason, "Unreachable");
}

// Laws over random observations.

/// A random observation of a sync, and random answers to what a decision may ask.
#[derive(Debug, Clone)]
struct Case {
    /// 0: every hour, 1: every 5 minutes, 2: cron, 3: manual, 4: an invalid cron.
    schedule: u8,
    event: bool,
    suspend: bool,
    depends: bool,
    late_after: bool,
    alerting: bool,
    generation: i64,
    status: Option<StatusCase>,
    /// 0: none, else the run-now annotation `r1`, `r2`.
    trigger: u8,
    /// Seconds past [`base`] (with a sub-second part: the clock is not whole seconds).
    now_ms: i64,
    answers: Answers,
}

#[derive(Debug, Clone)]
struct StatusCase {
    /// 0: none, 1: the previous generation, 2: the observed one.
    observed: u8,
    /// Minutes before now the last run started, and whether it failed.
    last_run: Option<(i64, bool)>,
    failures: usize,
    /// 0: none, else `r1`, `r2`.
    request: u8,
    /// 0: no Ready condition, 1: True, 2: False, 3: Unknown.
    ready: u8,
    late_firing: bool,
}

#[derive(Debug, Clone)]
struct Answers {
    /// 0: open, 1: wait, 2: cycle.
    gate: u8,
    /// 0: kept, 1: lost, 2: unreadable.
    ledger: u8,
    destination: bool,
    /// 0: off, 1: unavailable, 2: evaluated.
    late: u8,
    /// Seconds from now the sync becomes late (negative: already).
    late_in: i64,
    late_fires: bool,
}

fn answers() -> impl Strategy<Value = Answers> {
    (
        0..3u8,
        0..3u8,
        any::<bool>(),
        0..3u8,
        -600..7200i64,
        any::<bool>(),
    )
        .prop_map(
            |(gate, ledger, destination, late, late_in, late_fires)| Answers {
                gate,
                ledger,
                destination,
                late,
                late_in,
                late_fires,
            },
        )
}

fn status_case() -> impl Strategy<Value = StatusCase> {
    (
        0..3u8,
        proptest::option::weighted(0.8, (0..300i64, any::<bool>())),
        0..4usize,
        0..3u8,
        0..4u8,
        any::<bool>(),
    )
        .prop_map(
            |(observed, last_run, failures, request, ready, late_firing)| StatusCase {
                observed,
                last_run,
                failures,
                request,
                ready,
                late_firing,
            },
        )
}

fn case() -> impl Strategy<Value = Case> {
    (
        (
            0..5u8,
            any::<bool>(),
            proptest::bool::weighted(0.2),
            any::<bool>(),
        ),
        (any::<bool>(), any::<bool>(), 1..5i64),
        proptest::option::weighted(0.8, status_case()),
        (0..3u8, 0..7_200_000i64),
        answers(),
    )
        .prop_map(
            |(
                (schedule, event, suspend, depends),
                (late_after, alerting, generation),
                status,
                (trigger, now_ms),
                answers,
            )| Case {
                schedule,
                event,
                suspend,
                depends,
                late_after,
                alerting,
                generation,
                status,
                trigger,
                now_ms,
                answers,
            },
        )
}

fn request(n: u8) -> Option<String> {
    (n > 0).then(|| format!("r{n}"))
}

impl Case {
    fn now(&self) -> DateTime<Utc> {
        base() + chrono::Duration::milliseconds(self.now_ms)
    }

    fn spec(&self) -> ShopifySyncSpec {
        let schedule = match self.schedule {
            0 => json!({"interval": "1h"}),
            1 => json!({"interval": "5m"}),
            2 => json!({"cron": "*/20 * * * *"}),
            3 => json!({"manual": true}),
            _ => json!({"cron": "every tuesday"}),
        };
        let mut patch = if self.event { event_sync() } else { json!({}) };
        patch["schedule"] = schedule;
        patch["suspend"] = json!(self.suspend);
        if self.depends {
            patch["dependsOn"] = json!([{"name": "products"}]);
        }
        if self.late_after {
            patch["alerts"] = late_alerts()["alerts"].clone();
        }
        spec(patch)
    }

    fn status(&self) -> ShopifySyncStatus {
        let Some(s) = &self.status else {
            return ShopifySyncStatus::default();
        };
        let now = self.now();
        let mut v = json!({});
        match s.observed {
            1 => v["observedGeneration"] = json!(self.generation - 1),
            2 => v["observedGeneration"] = json!(self.generation),
            _ => {}
        }
        if let Some((minutes, failed)) = s.last_run {
            let started = now - chrono::Duration::minutes(minutes);
            let failures = if failed { s.failures.max(1) } else { 0 };
            let outcome = |i: usize| if i < failures { "Failed" } else { "Succeeded" };
            v["lastRun"] = run_summary(started, outcome(0));
            v["recentRuns"] = json!(
                (0..=failures)
                    .map(|i| run_summary(
                        started - chrono::Duration::minutes(10 * i as i64),
                        outcome(i)
                    ))
                    .collect::<Vec<_>>()
            );
        }
        if let Some(r) = request(s.request) {
            v["lastRunRequest"] = json!(r);
        }
        let ready = match s.ready {
            1 => Some("True"),
            2 => Some("False"),
            3 => Some("Unknown"),
            _ => None,
        };
        if let Some(ready) = ready {
            v["conditions"] = json!([{"type": "Ready", "status": ready, "reason": "Before",
                "message": "as it was", "lastTransitionTime": ts(base() - chrono::Duration::days(1))}]);
        }
        if s.late_firing {
            v["alerts"] = json!([{"rule": "late", "since": ts(base()), "message": "late"}]);
        }
        serde_json::from_value(v).unwrap()
    }

    fn trigger(&self) -> Option<String> {
        request(self.trigger)
    }

    fn answer(&self, need: &Need, facts: &mut Facts) {
        let a = &self.answers;
        match need {
            Need::Fresh => facts.confirmed = true,
            Need::Dependencies => {
                facts.dependencies = Some(match a.gate {
                    0 => Gate::Open,
                    1 => Gate::Wait("products has not run".into()),
                    _ => Gate::Stalled("a cycle".into()),
                })
            }
            Need::Ledger => {
                facts.ledger = Some(match a.ledger {
                    0 => Ledger::Kept,
                    1 => Ledger::Lost,
                    _ => Ledger::Unreadable,
                })
            }
            Need::Destination => {
                facts.destination = Some(if a.destination {
                    Ok(())
                } else {
                    Err(Blocked {
                        reason: "SecretNotFound",
                        message: "Secret shop/warehouse not found".into(),
                    })
                })
            }
            Need::LateAlerts { .. } => {
                facts.late = Some(match a.late {
                    0 => Alerting::Off,
                    1 => Alerting::Unavailable("no channel".into()),
                    _ => Alerting::Evaluated(AlertOutcome {
                        firing: if a.late_fires {
                            vec![AlertRecord {
                                rule: AlertRule::Late,
                                state: AlertState::Firing,
                                since: base(),
                                message: "no run has succeeded".into(),
                            }]
                        } else {
                            vec![]
                        },
                        late_at: Some(self.now() + chrono::Duration::seconds(a.late_in)),
                        ..AlertOutcome::default()
                    }),
                })
            }
        }
    }
}

/// Decides on `status` until the decision settles or runs, answering what it asks from the case; returns the
/// questions asked, the end, and the facts it ended with.
fn drive(
    case: &Case,
    spec: &ShopifySyncSpec,
    status: &ShopifySyncStatus,
) -> (Vec<Need>, Decision, Facts) {
    let trigger = case.trigger();
    let obs = Observed {
        id: ID,
        spec,
        status,
        generation: Some(case.generation),
        trigger: trigger.as_deref(),
        now: case.now(),
        retry_after: RETRY,
        alerting: case.alerting,
        destination_alerts: None,
    };
    let mut facts = Facts::<()>::default();
    let mut asked = Vec::new();
    loop {
        match decide(&obs, &facts) {
            Decision::Observe(need) => {
                assert!(!asked.contains(&need), "{need:?} asked twice");
                assert!(asked.len() < 5, "too many questions: {asked:?}");
                case.answer(&need, &mut facts);
                asked.push(need);
            }
            end => return (asked, end, facts),
        }
    }
}

/// The status a decision writes, if any.
fn written(end: &Decision) -> Option<&ShopifySyncStatus> {
    match end {
        Decision::Settle(o) => o.status.as_ref(),
        Decision::Run(run) => run.write.then_some(&run.running),
        Decision::Observe(_) => None,
    }
}

fn ready_status(status: &ShopifySyncStatus) -> Option<&str> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.as_str())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_suspended_or_invalid_sync_never_runs_and_asks_nothing(case in case()) {
        let spec = case.spec();
        let status = case.status();
        let (asked, end, _) = drive(&case, &spec, &status);
        let invalid = sync_config(ID, &spec).is_err();
        if case.suspend || invalid {
            prop_assert!(asked.is_empty(), "{asked:?}");
            let Decision::Settle(outcome) = &end else {
                return Err(TestCaseError::fail(format!("ran: {end:?}")));
            };
            prop_assert_eq!(outcome.requeue, Requeue::OnChange);
            prop_assert!(outcome.status.as_ref().is_none_or(|s| s.next_run_at.is_none()));
            if invalid {
                let s = outcome.status.as_ref().unwrap_or(&status);
                prop_assert_eq!(condition(s, "Stalled"), ("True", "InvalidSpec"));
            }
        }
    }

    #[test]
    fn a_written_status_carries_the_observed_generation(case in case()) {
        let spec = case.spec();
        let status = case.status();
        let (_, end, _) = drive(&case, &spec, &status);
        if let Some(s) = written(&end) {
            prop_assert_eq!(s.observed_generation, Some(case.generation));
            for c in &s.conditions {
                prop_assert_eq!(c.observed_generation, Some(case.generation), "{}", c.type_);
            }
        }
    }

    #[test]
    fn a_requeue_is_never_in_the_past_nor_after_the_next_due_run(case in case()) {
        let spec = case.spec();
        let status = case.status();
        let (_, end, _) = drive(&case, &spec, &status);
        let Decision::Settle(outcome) = &end else { return Ok(()) };
        if let Requeue::At(at) = outcome.requeue {
            let now = case.now();
            prop_assert!(at >= now, "{at} is before {now}");
            let config = sync_config(ID, &spec).expect("only a valid sync is requeued at an instant");
            let trigger = case.trigger();
            let due = next_due(&config, &status, Some(case.generation), trigger.as_deref(), now);
            prop_assert!(due.is_none_or(|due| at <= due), "{at} after the due run {due:?}");
            let published = outcome.status.as_ref().unwrap_or(&status).next_run_at.as_ref().map(chrono_of);
            prop_assert!(published.is_none_or(|p| at < p + chrono::Duration::seconds(1)));
        }
    }

    #[test]
    fn writing_what_is_decided_comes_to_rest(case in case()) {
        // Deciding again on the status written (same clock, same answers) writes at most once more (a due
        // run held back records the generation it saw, which ends its being due), then nothing: no hot loop.
        let spec = case.spec();
        let mut status = case.status();
        for round in 0..3 {
            let (_, end, _) = drive(&case, &spec, &status);
            let Decision::Settle(outcome) = end else { return Ok(()) };
            match outcome.status {
                None => {
                    prop_assert!(outcome.notes.is_empty(), "{:?}", outcome.notes);
                    return Ok(());
                }
                Some(next) => {
                    prop_assert!(round < 2, "still writing after {round} writes: {next:?}");
                    status = next;
                }
            }
        }
    }

    #[test]
    fn a_new_generation_of_a_scheduled_sync_goes_for_a_run_and_runs_or_says_why_not(case in case()) {
        let spec = case.spec();
        let status = case.status();
        let Ok(config) = sync_config(ID, &spec) else { return Ok(()) };
        let scheduled = config.schedule != shopsync::core::config::Schedule::Manual;
        if config.suspend || !scheduled || status.observed_generation == Some(case.generation) {
            return Ok(());
        }
        let (asked, end, _) = drive(&case, &spec, &status);
        prop_assert_eq!(asked.first(), Some(&Need::Fresh));
        match &end {
            Decision::Run(run) => {
                prop_assert_eq!(condition(&run.running, "Reconciling"), ("True", "Running"));
            }
            Decision::Settle(outcome) => {
                let s = outcome.status.as_ref().expect("a held run is said in the status");
                prop_assert_eq!(ready_status(s), Some("False"));
                prop_assert_eq!(s.observed_generation, Some(case.generation));
            }
            Decision::Observe(_) => unreachable!(),
        }
    }

    #[test]
    fn a_failed_run_or_a_tripped_guard_is_never_ready(
        case in case(),
        outcome in 0..3u8,
        refused in any::<bool>(),
        took in 0..7_200i64,
        history in proptest::option::of(proptest::collection::vec((0..4u8, 0..600i64), 0..8)),
        late_in in proptest::option::of(-600..7200i64),
    ) {
        let spec = case.spec();
        let status = case.status();
        let (_, end, facts) = drive(&case, &spec, &status);
        let Decision::Run(run) = end else { return Ok(()) };
        let now = case.now();
        let mut report = RunReport::failed(ID, now, now, "boom".into());
        report.finished_at = now + chrono::Duration::seconds(took);
        report.status = [RunStatus::Succeeded, RunStatus::PartiallySucceeded, RunStatus::Failed][outcome as usize];
        if report.status != RunStatus::Failed {
            report.error = None;
        }
        if refused {
            report.refused_deletes = Some("too many".into());
        }
        let records: Option<Vec<RunRecord>> = history.map(|h| {
            h.iter()
                .enumerate()
                .map(|(i, (s, minutes))| RunRecord {
                    id: i as i64,
                    sync: ID.into(),
                    started_at: now - chrono::Duration::minutes(*minutes),
                    finished_at: Some(now - chrono::Duration::minutes(*minutes) + chrono::Duration::seconds(3)),
                    status: [RunStatus::Succeeded, RunStatus::PartiallySucceeded, RunStatus::Failed, RunStatus::Running][*s as usize],
                    stats: RunStats::default(),
                    error: None,
                })
                .collect()
        });
        let alerting = match late_in {
            Some(s) => Alerting::Evaluated(AlertOutcome {
                late_at: Some(report.finished_at + chrono::Duration::seconds(s)),
                ..AlertOutcome::default()
            }),
            None => Alerting::Off,
        };
        let trigger = case.trigger();
        let obs = Observed {
            id: ID,
            spec: &spec,
            status: &status,
            generation: Some(case.generation),
            trigger: trigger.as_deref(),
            now,
            retry_after: RETRY,
            alerting: case.alerting,
            destination_alerts: None,
        };
        prop_assert!(facts.destination.is_some_and(|d| d.is_ok()));
        let done = finished(&obs, &run.config, &run.running, &report, records.as_deref(), &alerting);
        let s = done.status.expect("a finished run changes the status");
        let ready = ready_status(&s);
        if report.status == RunStatus::Failed || refused {
            prop_assert_eq!(ready, Some("False"));
            prop_assert!(done.notes.iter().all(|n| n.warning));
        } else {
            prop_assert_eq!(ready, Some("True"));
        }
        prop_assert_eq!(s.observed_generation, Some(case.generation));
        prop_assert_eq!(s.last_run_request.clone(), trigger.or(status.last_run_request.clone()));
        prop_assert!(!s.recent_runs.is_empty() && s.recent_runs.len() <= 5);
        prop_assert_eq!(Some(&s.recent_runs[0]), s.last_run.as_ref());
        prop_assert_eq!(condition(&s, "Reconciling"), ("False", "RunFinished"));
        match done.requeue {
            Requeue::At(at) => {
                prop_assert!(at >= report.finished_at);
                let next = s.next_run_at.as_ref().map(chrono_of);
                prop_assert!(next.is_none_or(|n| at <= n.max(report.finished_at)), "{at} after {next:?}");
            }
            Requeue::OnChange => prop_assert!(s.next_run_at.is_none()),
            Requeue::After(_) => prop_assert!(false, "a finished run waits for its schedule"),
        }
    }

    #[test]
    fn a_destination_comes_to_rest_and_is_ready_exactly_when_its_check_passed(
        problem in proptest::option::of((any::<bool>(), 0..3u8)),
        reached in any::<bool>(),
        retired in any::<bool>(),
        days in 0..2_000i64,
    ) {
        let spec = dest_spec(if retired { "2026-01" } else { "2026-10" }, None);
        let now = base() + chrono::Duration::days(days) - chrono::Duration::days(400);
        let problem = problem.map(|(stalled, r)| {
            let reason = ["InvalidToken", "MissingScopes", "Unreachable"][r as usize];
            if stalled {
                Problem::Stalled(reason, format!("{reason} happened"))
            } else {
                Problem::Waiting(reason, format!("{reason} happened"))
            }
        });
        let checked = Checked {
            shop: (reached || problem.is_none()).then(|| shop(&["write_customers"])),
            problem: problem.clone(),
        };
        let prev = ShopifyDestinationStatus::default();
        let first = dest::decide(&dest_observed(&spec, &prev, now), &checked);
        let status = first.status.expect("a first check writes a status");
        prop_assert_eq!(status.observed_generation, Some(2));
        let ready = dest_condition(&status, "Ready").0;
        prop_assert_eq!(ready == "True", problem.is_none());
        let expected = match &problem {
            Some(Problem::Waiting(..)) => Requeue::After(RETRY),
            _ => Requeue::After(Duration::from_secs(600)),
        };
        prop_assert_eq!(first.requeue, expected);
        // The Ready change is said once, and the version warning once per reason.
        prop_assert!(first.notes.iter().any(|n| n.action == "CheckStore"));
        let again = dest::decide(&dest_observed(&spec, &status, now), &checked);
        prop_assert_eq!(again.status, None);
        prop_assert!(again.notes.is_empty());
    }
}

/// The decision layer stays pure: no async, no API client, no clock, no files (a compile-time wall would need its
/// own crate; this module is small enough to read whole).
#[test]
fn the_decision_layer_does_no_io() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/controller/decide");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        files += 1;
        for (n, line) in source.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for forbidden in [
                "async ",
                ".await",
                "Utc::now",
                "SystemTime",
                "Instant::now",
                "tokio",
                "kube::Api",
                "kube::Client",
                "Context",
                "std::fs",
                "std::env",
                "redact::global",
            ] {
                assert!(
                    !code.contains(forbidden),
                    "{}:{}: {forbidden} in the decision layer: {line}",
                    path.display(),
                    n + 1
                );
            }
        }
    }
    assert!(files >= 3, "the decision layer moved? {}", dir.display());
}
