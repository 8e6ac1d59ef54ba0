//! The ShopifySync decisions: from what the controller observed of a sync to what to write, say, run and when
//! to look again.
//!
//! [`decide`] is a small state machine: it asks for what it must know ([`Decision::Observe`]), one fact at a
//! time and only when the answer matters (a sync that is not due costs no API call), and ends in
//! [`Decision::Settle`] or [`Decision::Run`]. After a run, [`finished`] turns the report into the status and
//! Events; [`cleanup`] does the same for the `deletionPolicy: Delete` finalizer.
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::{Note, Outcome, Requeue, earliest, truncate};
use crate::alerts::{AlertOutcome, merged_settings};
use crate::api::{
    AlertSpec, CONDITION_READY, CONDITION_RECONCILING, CONDITION_STALLED, FiringAlert,
    RUN_NOW_ANNOTATION, RunOutcome, RunSummary, ShopifySyncSpec, ShopifySyncStatus, sync_config,
};
use crate::controller::status::{
    self, Cond, chrono_of, conditions, drift_check, ready_after, run_summary, stalled, time,
    waiting, with_drifted_condition,
};
use crate::core::alerts::{AlertRule, Transition};
use crate::core::config::{DeleteBehavior, DeletionPolicy, Schedule, SyncConfig};
use crate::core::order::Gate;
use crate::core::report::RunReport;
use crate::core::state::{RunRecord, RunStatus};

/// The first retry after a failed run; doubled per consecutive failure up to [`MAX_RETRY`].
pub const FIRST_RETRY: Duration = Duration::from_secs(30);
/// The longest wait between retries of a failing sync (its schedule may bring the next run sooner).
pub const MAX_RETRY: Duration = Duration::from_secs(900);
/// The longest wait before a sync held by its dependencies looks at them again (they may finish any time).
const DEPENDENCY_RECHECK: Duration = Duration::from_secs(15);

/// What the controller observed of one sync, before looking anything up.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// `namespace/name`, as the state store knows the sync.
    pub id: &'a str,
    /// The spec.
    pub spec: &'a ShopifySyncSpec,
    /// The status (the default before the first write).
    pub status: &'a ShopifySyncStatus,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// The value of the run-now annotation.
    pub trigger: Option<&'a str>,
    /// The clock reading the decision is made at.
    pub now: DateTime<Utc>,
    /// How soon something waiting on the outside is looked at again.
    pub retry_after: Duration,
    /// Whether alert notifications can be delivered at all.
    pub alerting: bool,
    /// The destination's alert defaults, as the watch cache holds them.
    pub destination_alerts: Option<&'a AlertSpec>,
}

/// Why a sync cannot run yet; the reason goes on the conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// CamelCase reason.
    pub reason: &'static str,
    /// What is wrong, for the user.
    pub message: String,
}

/// Whether the state store holds the ledger of an event or action sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ledger {
    /// The store knows a run of the sync.
    Kept,
    /// The store knows no run of it.
    Lost,
    /// The store cannot be read (the run itself fails then, with its own error).
    Unreadable,
}

/// What an alert evaluation found.
#[derive(Debug, Clone, PartialEq)]
pub enum Alerting {
    /// Neither the sync nor its destination sets alerts, or alerts are off.
    Off,
    /// The alert settings cannot be used (a Secret, a channel); the message says why.
    Unavailable(String),
    /// What the evaluation did (notifications already delivered).
    Evaluated(AlertOutcome),
}

/// What the act layer looked up on request, `None` until asked. `D`: what a resolved destination carries for
/// the act layer (nothing, for the decision).
#[derive(Debug, Clone, PartialEq)]
pub struct Facts<D = ()> {
    /// The observed object was read fresh from the API rather than from the watch cache.
    pub confirmed: bool,
    /// What `spec.dependsOn` says.
    pub dependencies: Option<Gate>,
    /// Whether the ledger of an event or action sync is still there.
    pub ledger: Option<Ledger>,
    /// The destination, its token and the warehouse URL, or why they cannot be had.
    pub destination: Option<Result<D, Blocked>>,
    /// The late rule, evaluated between runs.
    pub late: Option<Alerting>,
}

impl<D> Default for Facts<D> {
    fn default() -> Self {
        Facts {
            confirmed: false,
            dependencies: None,
            ledger: None,
            destination: None,
            late: None,
        }
    }
}

/// What to look up before deciding further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Read the object from the API: the watch cache can lag behind this controller's own last status write (a
    /// reconcile queued during a run starts before the final status arrives), and a run due on a stale status
    /// would happen twice. A different object is decided on afresh.
    Fresh,
    /// The latest runs of the syncs named in `spec.dependsOn`.
    Dependencies,
    /// Whether the state store knows a run of this sync.
    Ledger,
    /// The destination, its token and the warehouse URL.
    Destination,
    /// Evaluate the late rule now (this delivers its notifications).
    LateAlerts {
        /// The sync's schedule, which lateness is measured against.
        schedule: Schedule,
    },
}

/// A run to start.
#[derive(Debug, Clone, PartialEq)]
pub struct Run<D = ()> {
    /// The sync, validated.
    pub config: SyncConfig,
    /// The status saying a run is in progress (so that a long run shows as such, not as the last outcome).
    pub running: ShopifySyncStatus,
    /// Whether `running` differs from the observed status (and so must be written).
    pub write: bool,
    /// The resolved destination.
    pub destination: D,
}

/// The next step of a reconcile.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision<D = ()> {
    /// Look this up, add it to the facts and decide again.
    Observe(Need),
    /// Nothing runs: carry this out.
    Settle(Box<Outcome<ShopifySyncStatus>>),
    /// Write the running status, run, then decide with [`finished`].
    Run(Box<Run<D>>),
}

/// The next step for `obs`, given the facts looked up so far.
pub fn decide<D: Clone>(obs: &Observed, facts: &Facts<D>) -> Decision<D> {
    let prev = obs.status;
    let config = match sync_config(obs.id, obs.spec) {
        Ok(c) => c,
        Err(errors) => {
            let message = errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            return settle(invalid(obs, &message));
        }
    };
    if config.suspend {
        return settle(suspended(obs));
    }
    let due = next_due(&config, prev, obs.generation, obs.trigger, obs.now);
    if due.is_none_or(|at| at > obs.now) {
        if facts.late.is_none() && late_rule_applies(obs) {
            return Decision::Observe(Need::LateAlerts {
                schedule: config.schedule,
            });
        }
        return settle(scheduled(obs, due, facts.late.as_ref()));
    }
    if !facts.confirmed {
        return Decision::Observe(Need::Fresh);
    }
    // `spec.dependsOn`: wait until every dependency finished its latest run without failure; a cycle stalls
    // (looked at again too: editing another sync can break it).
    if !obs.spec.depends_on.is_empty() {
        let held = match &facts.dependencies {
            None => return Decision::Observe(Need::Dependencies),
            Some(Gate::Open) => None,
            Some(Gate::Wait(m)) => Some(waiting("WaitingForDependencies", m)),
            Some(Gate::Stalled(m)) => Some(stalled("DependencyCycle", m)),
        };
        if let Some(held) = held {
            let next = ShopifySyncStatus {
                observed_generation: obs.generation,
                conditions: conditions(&prev.conditions, held, obs.generation, obs.now),
                ..prev.clone()
            };
            let requeue = Requeue::After(obs.retry_after.min(DEPENDENCY_RECHECK));
            return settle(write_status_once(prev, next, Vec::new(), requeue));
        }
    }
    if ledger_matters(&config, prev) {
        match facts.ledger {
            None => return Decision::Observe(Need::Ledger),
            Some(Ledger::Lost) => return settle(blocked(obs, &ledger_lost())),
            Some(Ledger::Kept | Ledger::Unreadable) => {}
        }
    }
    let destination = match &facts.destination {
        None => return Decision::Observe(Need::Destination),
        Some(Err(b)) => return settle(blocked(obs, b)),
        Some(Ok(d)) => d.clone(),
    };
    let running = with_drifted_condition(prev, running(obs));
    Decision::Run(Box::new(Run {
        config,
        write: &running != prev,
        running,
        destination,
    }))
}

/// [`Outcome::write_once`] of a sync's status with its `Drifted` condition derived from `lastDriftCheck`:
/// every other condition list is rebuilt by the step that writes it, this one by the drift check alone.
fn write_status_once(
    prev: &ShopifySyncStatus,
    next: ShopifySyncStatus,
    notes: Vec<Note>,
    requeue: Requeue,
) -> Outcome<ShopifySyncStatus> {
    Outcome::write_once(prev, with_drifted_condition(prev, next), notes, requeue)
}

fn settle<D>(outcome: Outcome<ShopifySyncStatus>) -> Decision<D> {
    Decision::Settle(Box::new(outcome))
}

/// When the next run is due: now for a new generation or a new trigger, otherwise by the schedule after the
/// last run (sooner after a failure, with exponential backoff). `None`: not until triggered.
pub fn next_due(
    config: &SyncConfig,
    status: &ShopifySyncStatus,
    generation: Option<i64>,
    trigger: Option<&str>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let manual = config.schedule == Schedule::Manual;
    if trigger.is_some() && trigger != status.last_run_request.as_deref() {
        return Some(now);
    }
    let Some(last) = &status.last_run else {
        return (!manual).then_some(now);
    };
    if manual {
        return None;
    }
    // The generation the last run used: `observedGeneration` also moves when a held run's status is written.
    // Statuses written before the field existed fall back to it.
    if status.last_run_generation.or(status.observed_generation) != generation {
        return Some(now);
    }
    let scheduled = config.schedule.next_after(chrono_of(&last.started_at));
    let failures = status
        .recent_runs
        .iter()
        .take_while(|r| r.outcome == RunOutcome::Failed)
        .count() as u32;
    if failures == 0 {
        return scheduled;
    }
    let backoff = FIRST_RETRY
        .saturating_mul(1 << failures.saturating_sub(1).min(10))
        .min(MAX_RETRY);
    let retry =
        chrono_of(&last.finished_at) + chrono::Duration::from_std(backoff).unwrap_or_default();
    Some(scheduled.map_or(retry, |s| s.min(retry)))
}

/// An invalid spec stalls, said once in an Event. Not retried: only a change of the spec can fix it, and that
/// triggers a reconcile.
fn invalid(obs: &Observed, message: &str) -> Outcome<ShopifySyncStatus> {
    let prev = obs.status;
    let next = ShopifySyncStatus {
        observed_generation: obs.generation,
        conditions: conditions(
            &prev.conditions,
            stalled("InvalidSpec", message),
            obs.generation,
            obs.now,
        ),
        next_run_at: None,
        ..prev.clone()
    };
    let notes = vec![warning("InvalidSpec", "Validate", message)];
    write_status_once(prev, next, notes, Requeue::OnChange)
}

fn suspended(obs: &Observed) -> Outcome<ShopifySyncStatus> {
    let prev = obs.status;
    let first = Cond::unknown(
        CONDITION_READY,
        "Suspended",
        "Suspended before its first run",
    );
    let next = ShopifySyncStatus {
        observed_generation: obs.generation,
        conditions: conditions(
            &prev.conditions,
            idle(prev, first, "Suspended", "spec.suspend is true: no runs"),
            obs.generation,
            obs.now,
        ),
        next_run_at: None,
        ..prev.clone()
    };
    write_status_once(prev, next, Vec::new(), Requeue::OnChange)
}

/// Not due: the status says when the next run will be (and which alerts fire); look again then, or when the
/// sync becomes late if that is sooner.
fn scheduled(
    obs: &Observed,
    due: Option<DateTime<Utc>>,
    late: Option<&Alerting>,
) -> Outcome<ShopifySyncStatus> {
    let prev = obs.status;
    let never = Cond::unknown(
        CONDITION_READY,
        "NeverRun",
        format!("Manual sync: annotate {RUN_NOW_ANNOTATION}=<any new value> to run it"),
    );
    let mut next = ShopifySyncStatus {
        observed_generation: obs.generation,
        conditions: conditions(
            &prev.conditions,
            idle(
                prev,
                never,
                "Scheduled",
                "Waiting for the next scheduled run",
            ),
            obs.generation,
            obs.now,
        ),
        next_run_at: due.map(time),
        ..prev.clone()
    };
    let mut wake = due;
    if let Some(Alerting::Evaluated(outcome)) = late {
        if outcome.error.is_none() {
            next.alerts = firing(outcome);
        }
        wake = earliest(wake, outcome.late_at.filter(|t| *t > obs.now));
    }
    let mut outcome = write_status_once(
        prev,
        next,
        Vec::new(),
        wake.map_or(Requeue::OnChange, Requeue::At),
    );
    outcome.alert_notes = late.map(alerting_notes).unwrap_or_default();
    outcome
}

/// Waiting on something outside the sync: said once, looked at again after `retry_after`.
fn blocked(obs: &Observed, b: &Blocked) -> Outcome<ShopifySyncStatus> {
    let prev = obs.status;
    let next = ShopifySyncStatus {
        observed_generation: obs.generation,
        conditions: conditions(
            &prev.conditions,
            waiting(b.reason, &b.message),
            obs.generation,
            obs.now,
        ),
        ..prev.clone()
    };
    let notes = vec![warning(b.reason, "Resolve", &b.message)];
    write_status_once(prev, next, notes, Requeue::After(obs.retry_after))
}

/// Whether the ledger must be looked at: only an event or action sync that has run (its status says so) can
/// have lost it. Object syncs are safe to re-baseline (records are matched, nothing is deleted).
fn ledger_matters(config: &SyncConfig, prev: &ShopifySyncStatus) -> bool {
    config.target.is_insert_only() && prev.last_run.is_some()
}

/// The ledger that says what was sent is gone (a new state database, SQLite on an emptyDir after a restart).
/// Running would send every row again, so the sync waits until the state is back or the resource is recreated.
fn ledger_lost() -> Blocked {
    Blocked {
        reason: "StateLost",
        message: "status.lastRun shows this sync has run, but the state store has no run of it: the ledger of \
                  events and actions already sent is gone, and running now would send every row again. Point \
                  the controller at the state it used (SHOPSYNC_STATE_URL), or delete and recreate this \
                  ShopifySync to start over on purpose"
            .into(),
    }
}

/// Whether the late rule is evaluated between runs: alerts are on, the sync's or its destination's alerts set
/// `lateAfter`, or a late alert still fires (and may have to resolve).
fn late_rule_applies(obs: &Observed) -> bool {
    if !obs.alerting {
        return false;
    }
    let Some(settings) = merged_settings(obs.destination_alerts, obs.spec.alerts.as_ref())
        .ok()
        .flatten()
    else {
        return false;
    };
    let late_firing = obs
        .status
        .alerts
        .iter()
        .any(|a| a.rule == AlertRule::Late.as_str());
    settings.policy().late_after.is_some() || late_firing
}

/// The status saying a run is in progress.
fn running(obs: &Observed) -> ShopifySyncStatus {
    let prev = obs.status;
    let ready = previous_ready(prev).map_or_else(
        || Cond::unknown(CONDITION_READY, "FirstRun", "The first run is in progress"),
        keep,
    );
    ShopifySyncStatus {
        observed_generation: obs.generation,
        conditions: conditions(
            &prev.conditions,
            [
                ready,
                Cond::yes(
                    CONDITION_RECONCILING,
                    "Running",
                    format!("Run started at {}", obs.now.to_rfc3339()),
                ),
                Cond::no(CONDITION_STALLED, "Running", ""),
            ],
            obs.generation,
            obs.now,
        ),
        ..prev.clone()
    }
}

/// Another process holds the sync's lock (a replica taking over, or `shopsync run`): try again soon, the status
/// as it is.
pub fn lock_held(obs: &Observed) -> Requeue {
    Requeue::After(obs.retry_after)
}

/// After a run: the status its report gives (`history`: the state store's run history, `None` when it cannot
/// be read), what alerting did, the run's Event, and the next wake-up (the next due run, or sooner when the
/// sync becomes late).
pub fn finished(
    obs: &Observed,
    config: &SyncConfig,
    running: &ShopifySyncStatus,
    report: &RunReport,
    history: Option<&[RunRecord]>,
    alerting: &Alerting,
) -> Outcome<ShopifySyncStatus> {
    let prev = obs.status;
    let summary = run_summary(report);
    let recent = recent_runs(&summary, history, prev);
    let succeeded = summary.outcome != RunOutcome::Failed;
    let alerted = match alerting {
        Alerting::Evaluated(o) => Some(o),
        _ => None,
    };
    let last_run_request = obs
        .trigger
        .map(str::to_string)
        .or(prev.last_run_request.clone());
    // Built on the previous status, so that fields this step does not own are kept.
    let mut done = prev.clone();
    done.observed_generation = obs.generation;
    done.last_run_generation = obs.generation;
    if succeeded {
        done.last_successful_run_at = Some(summary.finished_at.clone());
    }
    done.last_run = Some(summary);
    done.recent_runs = recent;
    if let Some(o) = alerted.filter(|o| o.error.is_none()) {
        done.alerts = firing(o);
    }
    done.last_run_request = last_run_request;
    done.drifted_records = report
        .drift
        .as_ref()
        .filter(|d| d.skipped.is_none())
        .map(|d| i64::try_from(d.counts.drifted_records()).unwrap_or(i64::MAX))
        .or(prev.drifted_records);
    done.last_drift_check = drift_check(report).or(prev.last_drift_check.clone());
    done.next_run_at = next_due(
        config,
        &done,
        obs.generation,
        done.last_run_request.as_deref(),
        report.finished_at,
    )
    .map(time);
    done.conditions = conditions(
        &running.conditions,
        [
            ready_after(report),
            Cond::no(CONDITION_RECONCILING, "RunFinished", ""),
            Cond::no(CONDITION_STALLED, "RunFinished", ""),
        ],
        obs.generation,
        report.finished_at,
    );
    let late = alerted
        .and_then(|o| o.late_at)
        .filter(|t| *t > report.finished_at);
    // A next run already due (a run longer than the interval) is looked at right away.
    let wake = earliest(done.next_run_at.as_ref().map(chrono_of), late)
        .map_or(Requeue::OnChange, |at| {
            Requeue::At(at.max(report.finished_at))
        });
    let done = with_drifted_condition(running, done);
    Outcome {
        alert_notes: alerting_notes(alerting),
        status: (&done != running).then_some(done),
        notes: vec![run_note(report)],
        requeue: wake,
    }
}

/// `status.recentRuns`: this run as its report tells it, then the earlier runs from the state store's run
/// history (runs of other processes included); the previous status's when the history cannot be read.
fn recent_runs(
    summary: &RunSummary,
    history: Option<&[RunRecord]>,
    prev: &ShopifySyncStatus,
) -> Vec<RunSummary> {
    let keep = status::RECENT_RUNS;
    let earlier: Vec<RunSummary> = match history {
        Some(history) => history
            .iter()
            // This run is the report; a run still marked running is in progress elsewhere, or died.
            .filter(|r| r.status != RunStatus::Running)
            .map(status::record_summary)
            .filter(|r| r.started_at != summary.started_at)
            .collect(),
        None => prev.recent_runs.clone(),
    };
    std::iter::once(summary.clone())
        .chain(earlier.into_iter().take(keep - 1))
        .collect()
}

/// Whether the `deletionPolicy: Delete` finalizer is involved, as kube-runtime's finalizer helper sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finalizing {
    /// The policy went back to Orphan: nothing to clean up any more, so remove the finalizer rather than hold
    /// deletion hostage.
    Release,
    /// Apply through the finalizer helper (it adds the finalizer, and runs the cleanup on deletion).
    Guarded,
    /// Apply directly.
    Plain,
}

/// What to do about the finalizer of a sync with `spec`, which `has` it or not and is being `deleting` or not.
pub fn finalizing(spec: &ShopifySyncSpec, has: bool, deleting: bool) -> Finalizing {
    let wants = spec.deletion_policy == Some(DeletionPolicy::Delete);
    if has && !wants && !deleting {
        Finalizing::Release
    } else if wants || has {
        Finalizing::Guarded
    } else {
        Finalizing::Plain
    }
}

/// What the cleanup looked up and did so far, `None` until asked.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanupFacts<D = ()> {
    /// The destination, or why it cannot be had.
    pub destination: Option<Result<D, Blocked>>,
    /// The deleting run's report, or why it could not run.
    pub ran: Option<Result<RunReport, String>>,
}

impl<D> Default for CleanupFacts<D> {
    fn default() -> Self {
        CleanupFacts {
            destination: None,
            ran: None,
        }
    }
}

/// The end of a cleanup.
#[derive(Debug, Clone, PartialEq)]
pub struct Cleanup {
    /// The status to write (`None`: as it is).
    pub status: Option<ShopifySyncStatus>,
    /// Events to publish after it.
    pub notes: Vec<Note>,
    /// Why the finalizer stays (the reconcile fails with it, and is retried); `None`: it may go.
    pub blocked: Option<String>,
}

/// The next step of a cleanup.
#[derive(Debug, Clone, PartialEq)]
pub enum CleanupStep<D = ()> {
    /// Resolve the destination and decide again.
    Resolve,
    /// Run this deleting configuration against no rows, then decide again with its report.
    Run(Box<SyncConfig>, D),
    /// Done, or blocked.
    Done(Box<Cleanup>),
}

/// `deletionPolicy: Delete`: delete what the sync synced (products only, as the CRD enforces), under the delete
/// guard. The finalizer stays until that succeeds; a tripped guard stalls the deletion with the reason.
pub fn cleanup<D: Clone>(obs: &Observed, facts: &CleanupFacts<D>) -> CleanupStep<D> {
    if obs.spec.deletion_policy != Some(DeletionPolicy::Delete) {
        return CleanupStep::Done(Box::new(Cleanup {
            status: None,
            notes: Vec::new(),
            blocked: None,
        }));
    }
    let mut config = match sync_config(obs.id, obs.spec) {
        Ok(c) => c,
        Err(errors) => {
            let message = format!(
                "cannot delete what the sync created while its spec is invalid ({}); fix the spec or set deletionPolicy: Orphan",
                errors
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            return CleanupStep::Done(Box::new(cleanup_blocked(obs, "InvalidSpec", message)));
        }
    };
    let destination = match &facts.destination {
        None => return CleanupStep::Resolve,
        Some(Err(b)) => {
            let message = format!("cannot delete what the sync created: {}", b.message);
            return CleanupStep::Done(Box::new(cleanup_blocked(obs, b.reason, message)));
        }
        Some(Ok(d)) => d,
    };
    let report = match &facts.ran {
        None => {
            config.delete_behavior = DeleteBehavior::Delete;
            return CleanupStep::Run(Box::new(config), destination.clone());
        }
        Some(Err(e)) => {
            let message = format!("deleting what the sync created failed: {e}");
            return CleanupStep::Done(Box::new(cleanup_blocked(obs, "CleanupFailed", message)));
        }
        Some(Ok(r)) => r,
    };
    if let Some(reason) = &report.refused_deletes {
        let message = format!(
            "deletion refused by the delete guard: {reason}; raise spec.deleteGuard or set deletionPolicy: Orphan"
        );
        return CleanupStep::Done(Box::new(cleanup_blocked(
            obs,
            "DeleteGuardTripped",
            message,
        )));
    }
    if let Some(e) = &report.error {
        let message = format!("deleting what the sync created failed: {e}");
        return CleanupStep::Done(Box::new(cleanup_blocked(obs, "CleanupFailed", message)));
    }
    CleanupStep::Done(Box::new(Cleanup {
        status: None,
        notes: vec![Note::normal(
            "CleanedUp",
            "Cleanup",
            format!("deleted {} records this sync created", report.deleted),
        )],
        blocked: None,
    }))
}

fn cleanup_blocked(obs: &Observed, reason: &'static str, message: String) -> Cleanup {
    let prev = obs.status;
    let next = ShopifySyncStatus {
        conditions: conditions(
            &prev.conditions,
            stalled(reason, &message),
            obs.generation,
            obs.now,
        ),
        ..prev.clone()
    };
    let notes = vec![warning(reason, "Cleanup", &message)];
    let outcome = write_status_once(prev, next, notes, Requeue::OnChange);
    Cleanup {
        status: outcome.status,
        notes: outcome.notes,
        blocked: Some(message),
    }
}

/// The conditions of a sync that is not running: Ready as the last run left it (or `first` before any run),
/// not reconciling and not stalled, for `reason`.
fn idle(prev: &ShopifySyncStatus, first: Cond, reason: &str, message: &str) -> [Cond; 3] {
    [
        previous_ready(prev).map_or(first, keep),
        Cond::no(CONDITION_RECONCILING, reason, message),
        Cond::no(CONDITION_STALLED, reason, ""),
    ]
}

fn previous_ready(prev: &ShopifySyncStatus) -> Option<&Condition> {
    prev.conditions.iter().find(|c| c.type_ == CONDITION_READY)
}

/// The Ready condition as it is.
fn keep(c: &Condition) -> Cond {
    let status = match c.status.as_str() {
        "True" => "True",
        "False" => "False",
        _ => "Unknown",
    };
    Cond {
        type_: CONDITION_READY,
        status,
        reason: c.reason.clone(),
        message: c.message.clone(),
    }
}

/// The Events saying what an alert evaluation did: alerts firing or resolved, deliveries that failed, or why
/// alerting is unavailable.
pub fn alerting_notes(alerting: &Alerting) -> Vec<Note> {
    let outcome = match alerting {
        Alerting::Off => return Vec::new(),
        Alerting::Unavailable(message) => {
            return vec![warning("AlertsUnavailable", "Alert", message)];
        }
        Alerting::Evaluated(outcome) => outcome,
    };
    let notified = outcome.notifications.iter().map(|n| {
        let note = truncate(&format!("{}: {}", n.rule.title(), n.message));
        match n.transition {
            Transition::Firing => Note::warning("AlertFiring", "Alert", note),
            Transition::Resolved => Note::normal("AlertResolved", "Alert", note),
        }
    });
    let failed = outcome.failed_deliveries().map(|d| {
        let note = format!(
            "{} after {} attempts: {}",
            d.target,
            d.attempts,
            d.error.as_deref().unwrap_or_default()
        );
        warning("AlertDeliveryFailed", "Alert", &note)
    });
    notified.chain(failed).collect()
}

/// The firing rules, for the status.
fn firing(outcome: &AlertOutcome) -> Vec<FiringAlert> {
    outcome
        .firing
        .iter()
        .map(|r| FiringAlert {
            rule: r.rule.as_str().to_string(),
            since: time(r.since),
            message: truncate(&r.message),
        })
        .collect()
}

/// The Event of a finished run.
fn run_note(report: &RunReport) -> Note {
    let summary = run_summary(report);
    let note = format!(
        "{} rows queried, {} added, {} changed, {} removed, {} synced, {} rejected in {:.1}s{}",
        summary.rows_queried,
        summary.rows_added,
        summary.rows_changed,
        summary.rows_removed,
        summary.rows_succeeded,
        summary.rows_rejected,
        summary.duration_seconds,
        summary
            .message
            .map(|m| format!(": {m}"))
            .unwrap_or_default()
    );
    let note = truncate(&note);
    match summary.outcome {
        _ if report.guard_tripped() => Note::warning("DeleteGuardTripped", "Run", note),
        RunOutcome::Succeeded => Note::normal("RunSucceeded", "Run", note),
        RunOutcome::PartiallySucceeded => Note::warning("RowsRejected", "Run", note),
        RunOutcome::Failed | RunOutcome::Skipped => Note::warning("RunFailed", "Run", note),
    }
}

fn warning(reason: &str, action: &'static str, note: &str) -> Note {
    Note::warning(reason, action, truncate(note))
}
