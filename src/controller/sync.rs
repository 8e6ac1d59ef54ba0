//! ShopifySync reconcile: validate, decide whether a run is due, run it, report.
//!
//! A run happens inside the reconcile: the controller's per-object queue then guarantees one run per sync at a
//! time in this process, and the state store's lock guarantees it across processes.
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::Error;
use super::context::{Context, MANAGER};
use super::status::{self, Cond, chrono_of, conditions, stalled, time, waiting};
use crate::alerts::{AlertOutcome, SyncAlerts, merged_settings, resolve_channels, secret_refs};
use crate::api::{
    AlertSpec, CONDITION_READY, CONDITION_RECONCILING, CONDITION_STALLED, FiringAlert,
    RUN_NOW_ANNOTATION, RunOutcome, ShopifyDestination, ShopifySync, ShopifySyncStatus,
    destination_config, sync_config,
};
use crate::core::alerts::{AlertRule, Transition};
use crate::core::config::{DeleteBehavior, DeletionPolicy, Schedule, SyncConfig};
use crate::core::engine::{EngineError, RunReport};
use crate::core::source::{NoRows, Warehouse};
use crate::core::state::{RunRecord, RunStatus, StateError};
use crate::runner::{RunError, Target};
use crate::shopify::Store;
use crate::warehouse::SqlWarehouse;

/// Finalizer held by syncs with `deletionPolicy: Delete` until what they created is deleted.
pub const FINALIZER: &str = "shopsync.dev/cleanup";
/// The kind, for metrics and logs.
pub const KIND: &str = "ShopifySync";
/// The first retry after a failed run; doubled per consecutive failure up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(30);
/// The longest wait between retries of a failing sync (its schedule may bring the next run sooner).
const MAX_RETRY: Duration = Duration::from_secs(900);

/// Reconciles one ShopifySync.
pub async fn reconcile(sync: Arc<ShopifySync>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.metrics.reconciled(KIND);
    let ns = sync.namespace().ok_or(Error::NotNamespaced)?;
    let key = format!("{KIND}/{ns}/{}", sync.name_any());
    let api: Api<ShopifySync> = Api::namespaced(ctx.client.clone(), &ns);
    let wants = sync.spec.deletion_policy == Some(DeletionPolicy::Delete);
    let has = sync.finalizers().iter().any(|f| f == FINALIZER);
    if has && !wants && sync.metadata.deletion_timestamp.is_none() {
        // The policy went back to Orphan: nothing to clean up any more, so do not hold deletion hostage.
        let rest: Vec<&String> = sync
            .finalizers()
            .iter()
            .filter(|f| *f != FINALIZER)
            .collect();
        let patch =
            json!({"metadata": {"finalizers": rest, "resourceVersion": sync.resource_version()}});
        api.patch(
            &sync.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
        return Ok(Action::await_change());
    }
    let action = if wants || has {
        let c = ctx.clone();
        finalizer(&api, FINALIZER, sync, |event| async move {
            match event {
                Finalizer::Apply(s) => apply(&s, &c, false).await,
                Finalizer::Cleanup(s) => cleanup(&s, &c).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)))?
    } else {
        apply(&sync, &ctx, false).await?
    };
    ctx.succeeded(&key);
    Ok(action)
}

/// Everything a run needs that comes from outside the sync's own spec.
struct Resolved {
    store: Store,
    store_key: String,
    warehouse_url: String,
    /// The destination's alert defaults.
    dest_alerts: Option<AlertSpec>,
}

/// Why a sync cannot run yet; the reason goes on the conditions.
struct Blocked {
    reason: &'static str,
    message: String,
}

/// An event or action sync that has run (its status says so) while the state store knows no run of it: the
/// ledger that says what was sent is gone (a new state database, SQLite on an emptyDir after a restart). Running
/// would send every row again, so the sync waits until the state is back or the resource is recreated. Object
/// syncs are safe to re-baseline (records are matched, nothing is deleted) and are not held back.
async fn ledger_lost(
    ctx: &Context,
    config: &SyncConfig,
    prev: &ShopifySyncStatus,
) -> Option<Blocked> {
    if !config.target.is_insert_only() || prev.last_run.is_none() {
        return None;
    }
    // A state store that cannot be read fails the run itself, with its own error.
    let runs = ctx.state.runs(&config.id, 1).await.ok()?;
    runs.is_empty().then(|| Blocked {
        reason: "StateLost",
        message: "status.lastRun shows this sync has run, but the state store has no run of it: the ledger of \
                  events and actions already sent is gone, and running now would send every row again. Point \
                  the controller at the state it used (SHOPSYNC_STATE_URL), or delete and recreate this \
                  ShopifySync to start over on purpose"
            .into(),
    })
}

async fn resolve(sync: &ShopifySync, ns: &str, ctx: &Context) -> Result<Resolved, Blocked> {
    let dest_name = &sync.spec.destination_ref.name;
    let dests: Api<ShopifyDestination> = Api::namespaced(ctx.client.clone(), ns);
    let dest = match dests.get_opt(dest_name).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return Err(Blocked {
                reason: "DestinationNotFound",
                message: format!("ShopifyDestination {ns}/{dest_name} not found"),
            });
        }
        Err(e) => {
            return Err(Blocked {
                reason: "DestinationUnreadable",
                message: format!("ShopifyDestination {ns}/{dest_name}: {e}"),
            });
        }
    };
    let version = destination_config(&dest.spec).map_err(|e| Blocked {
        reason: "DestinationInvalid",
        message: format!("ShopifyDestination {ns}/{dest_name}: {e}"),
    })?;
    if let Some(endpoint) = &dest.spec.endpoint {
        ctx.settings
            .egress
            .check_endpoint(endpoint)
            .map_err(|m| Blocked {
                reason: "EndpointNotAllowed",
                message: format!("ShopifyDestination {ns}/{dest_name}: {m}"),
            })?;
    }
    let token = ctx
        .secret_value(ns, &dest.spec.credentials.access_token_secret_ref)
        .await
        .map_err(|p| Blocked {
            reason: p.reason(),
            message: format!("destination {dest_name}: {p}"),
        })?;
    let warehouse_url = match (&sync.spec.source.url, &sync.spec.source.url_secret_ref) {
        (Some(url), _) => url.clone(),
        (None, Some(r)) => {
            let url = ctx.secret_value(ns, r).await.map_err(|p| Blocked {
                reason: p.reason(),
                message: format!("source: {p}"),
            })?;
            crate::core::redact::global().add_url(&url);
            url
        }
        (None, None) => {
            return Err(Blocked {
                reason: "InvalidSpec",
                message: "source has neither url nor urlSecretRef".into(),
            });
        }
    };
    let base_url = dest
        .spec
        .endpoint
        .clone()
        .unwrap_or_else(|| Store::default_base_url(&dest.spec.store));
    let store_key = format!("{base_url}|{}", dest.spec.store);
    Ok(Resolved {
        store: Store {
            base_url,
            version,
            token,
        },
        store_key,
        warehouse_url,
        dest_alerts: dest.spec.alerts.clone(),
    })
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
    if status.observed_generation != generation {
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

/// `confirmed`: `sync` was just read from the API rather than from the watch cache.
async fn apply(sync: &ShopifySync, ctx: &Context, confirmed: bool) -> Result<Action, Error> {
    let ns = sync.namespace().ok_or(Error::NotNamespaced)?;
    let name = sync.name_any();
    let id = format!("{ns}/{name}");
    let generation = sync.metadata.generation;
    let prev = sync.status.clone().unwrap_or_default();
    let now = Utc::now();
    let config = match sync_config(&id, &sync.spec) {
        Ok(c) => c,
        Err(errors) => {
            let message = errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            let next = ShopifySyncStatus {
                observed_generation: generation,
                conditions: conditions(
                    &prev.conditions,
                    stalled("InvalidSpec", &message),
                    generation,
                    now,
                ),
                next_run_at: None,
                ..prev.clone()
            };
            if write_status(ctx, sync, &prev, next).await? {
                ctx.event(sync, warning("InvalidSpec", "Validate", &message))
                    .await;
            }
            // Not retried: only a change of the spec can fix it, and that triggers a reconcile.
            return Ok(Action::await_change());
        }
    };
    let previous_ready = prev
        .conditions
        .iter()
        .find(|c| c.type_ == CONDITION_READY)
        .cloned();
    if config.suspend {
        let next = ShopifySyncStatus {
            observed_generation: generation,
            conditions: conditions(
                &prev.conditions,
                idle(
                    previous_ready.as_ref(),
                    Cond::unknown(
                        CONDITION_READY,
                        "Suspended",
                        "Suspended before its first run",
                    ),
                    "Suspended",
                    "spec.suspend is true: no runs",
                ),
                generation,
                now,
            ),
            next_run_at: None,
            ..prev.clone()
        };
        write_status(ctx, sync, &prev, next).await?;
        return Ok(Action::await_change());
    }
    let trigger = sync.annotations().get(RUN_NOW_ANNOTATION).cloned();
    let due = next_due(&config, &prev, generation, trigger.as_deref(), now);
    match due {
        Some(at) if at <= now => {
            if !confirmed {
                // The watch cache can lag behind this controller's own last status write (a reconcile queued
                // during a run starts before the final status arrives): confirm with a fresh read before
                // running, or the same run would happen twice.
                let api: Api<ShopifySync> = Api::namespaced(ctx.client.clone(), &ns);
                let fresh = api.get(&name).await?;
                if fresh.resource_version() != sync.resource_version() {
                    return Box::pin(apply(&fresh, ctx, true)).await;
                }
            }
        }
        _ => {
            // Not due: make sure the status says when it will be, then sleep until then.
            let never = Cond::unknown(
                CONDITION_READY,
                "NeverRun",
                format!("Manual sync: annotate {RUN_NOW_ANNOTATION}=<any new value> to run it"),
            );
            let next = ShopifySyncStatus {
                observed_generation: generation,
                conditions: conditions(
                    &prev.conditions,
                    idle(
                        previous_ready.as_ref(),
                        never,
                        "Scheduled",
                        "Waiting for the next scheduled run",
                    ),
                    generation,
                    now,
                ),
                next_run_at: due.map(time),
                ..prev.clone()
            };
            let mut next = next;
            let mut wake = due;
            if let Some(outcome) = check_late(sync, &ns, &config, &prev, ctx, now).await {
                if outcome.error.is_none() {
                    next.alerts = firing(&outcome);
                }
                wake = earliest(wake, outcome.late_at.filter(|t| *t > now));
                report_alerts(ctx, sync, &outcome).await;
            }
            write_status(ctx, sync, &prev, next).await?;
            return Ok(match wake {
                Some(at) => requeue_at(at, now),
                None => Action::await_change(),
            });
        }
    }
    // `spec.dependsOn`: wait until every dependency finished its latest run without failure; a cycle stalls
    // (looked at again too: editing another sync can break it).
    let held = match super::order::gate(ctx, sync, &ns).await? {
        crate::core::order::Gate::Open => None,
        crate::core::order::Gate::Wait(m) => Some(waiting("WaitingForDependencies", &m)),
        crate::core::order::Gate::Stalled(m) => Some(stalled("DependencyCycle", &m)),
    };
    if let Some(held) = held {
        let next = ShopifySyncStatus {
            observed_generation: generation,
            conditions: conditions(&prev.conditions, held, generation, now),
            ..prev.clone()
        };
        write_status(ctx, sync, &prev, next).await?;
        return Ok(Action::requeue(
            ctx.settings.retry_after.min(Duration::from_secs(15)),
        ));
    }
    let resolved = match ledger_lost(ctx, &config, &prev).await {
        Some(b) => Err(b),
        None => resolve(sync, &ns, ctx).await,
    };
    let resolved = match resolved {
        Ok(r) => r,
        Err(b) => {
            let next = ShopifySyncStatus {
                observed_generation: generation,
                conditions: conditions(
                    &prev.conditions,
                    waiting(b.reason, &b.message),
                    generation,
                    now,
                ),
                ..prev.clone()
            };
            if write_status(ctx, sync, &prev, next).await? {
                ctx.event(sync, warning(b.reason, "Resolve", &b.message))
                    .await;
            }
            return Ok(Action::requeue(ctx.settings.retry_after));
        }
    };
    // Say that a run is in progress, so that a long run shows as Progressing rather than as the last outcome.
    let ready = previous_ready.as_ref().map_or_else(
        || Cond::unknown(CONDITION_READY, "FirstRun", "The first run is in progress"),
        keep,
    );
    let running = ShopifySyncStatus {
        observed_generation: generation,
        conditions: conditions(
            &prev.conditions,
            [
                ready,
                Cond::yes(
                    CONDITION_RECONCILING,
                    "Running",
                    format!("Run started at {}", now.to_rfc3339()),
                ),
                Cond::no(CONDITION_STALLED, "Running", ""),
            ],
            generation,
            now,
        ),
        ..prev.clone()
    };
    write_status(ctx, sync, &prev, running.clone()).await?;
    let report = match run(ctx, &config, &resolved).await {
        Ok(r) => r,
        Err(Error::Engine(EngineError::State(StateError::LockHeld { holder, .. }))) => {
            // Another process is running this sync (a replica taking over, or `shopsync run`): try again soon.
            tracing::info!(sync = %id, %holder, "another holder is running this sync; retrying later");
            return Ok(Action::requeue(ctx.settings.retry_after));
        }
        Err(e) => {
            let report = RunReport::failed(
                &id,
                now,
                crate::core::redact::global().redact_owned(e.to_string()),
            );
            record_failed_run(ctx, &report).await;
            report
        }
    };
    ctx.metrics.run_finished(&report, config.target.name());
    crate::alerts::prune_history(ctx.state.as_ref(), &id, ctx.settings.run_history).await;
    let alerted = match sync_alerts(sync, &ns, &config, resolved.dest_alerts.as_ref(), ctx).await {
        Ok(Some(a)) => match &ctx.notifier {
            Some(notifier) => {
                let outcome = notifier.after_run(ctx.state.as_ref(), &a, &report).await;
                report_alerts(ctx, sync, &outcome).await;
                Some(outcome)
            }
            None => None,
        },
        Ok(None) => None,
        Err(message) => {
            ctx.event(sync, warning("AlertsUnavailable", "Alert", &message))
                .await;
            None
        }
    };
    let budget = ctx.budget(&resolved.store_key);
    ctx.metrics
        .store_spent(&resolved.store_key, budget.spent(), budget.throttles());
    let summary = status::run_summary(&report);
    let recent = recent_runs(ctx, &id, &summary, &prev).await;
    let succeeded = summary.outcome != RunOutcome::Failed;
    let mut done = ShopifySyncStatus {
        observed_generation: generation,
        conditions: vec![],
        last_run: Some(summary.clone()),
        last_successful_run_at: if succeeded {
            Some(summary.finished_at.clone())
        } else {
            prev.last_successful_run_at.clone()
        },
        next_run_at: None,
        recent_runs: recent,
        alerts: match &alerted {
            Some(o) if o.error.is_none() => firing(o),
            _ => prev.alerts.clone(),
        },
        last_run_request: trigger.or(prev.last_run_request.clone()),
        drifted_records: report
            .drift
            .as_ref()
            .filter(|d| d.skipped.is_none())
            .map(|d| i64::try_from(d.counts.drifted_records()).unwrap_or(i64::MAX))
            .or(prev.drifted_records),
        last_drift_check: status::drift_check(&report).or(prev.last_drift_check.clone()),
    };
    done.next_run_at = next_due(
        &config,
        &done,
        generation,
        done.last_run_request.as_deref(),
        report.finished_at,
    )
    .map(time);
    let ready = status::ready_after(&report);
    done.conditions = conditions(
        &running.conditions,
        [
            ready,
            Cond::no(CONDITION_RECONCILING, "RunFinished", ""),
            Cond::no(CONDITION_STALLED, "RunFinished", ""),
        ],
        generation,
        report.finished_at,
    );
    write_status(ctx, sync, &running, done.clone()).await?;
    ctx.event(sync, run_event(&report)).await;
    let late = alerted
        .and_then(|o| o.late_at)
        .filter(|t| *t > report.finished_at);
    Ok(
        match earliest(done.next_run_at.as_ref().map(chrono_of), late) {
            Some(at) => requeue_at(at, Utc::now()),
            None => Action::await_change(),
        },
    )
}

/// `status.recentRuns`: this run as its report tells it, then the earlier runs from the state store's run history
/// (runs of other processes included); the previous status when the store cannot be read.
async fn recent_runs(
    ctx: &Context,
    id: &str,
    summary: &crate::api::RunSummary,
    prev: &ShopifySyncStatus,
) -> Vec<crate::api::RunSummary> {
    let keep = status::RECENT_RUNS;
    let earlier: Vec<crate::api::RunSummary> = match ctx
        .state
        .runs(id, u32::try_from(keep + 1).unwrap_or(u32::MAX))
        .await
    {
        Ok(history) => history
            .iter()
            // This run is the report; a run still marked running is in progress elsewhere, or died.
            .filter(|r| r.status != RunStatus::Running)
            .map(status::record_summary)
            .filter(|r| r.started_at != summary.started_at)
            .collect(),
        Err(e) => {
            tracing::warn!(sync = %id, error = %e, "cannot read the run history; status keeps its own");
            prev.recent_runs.clone()
        }
    };
    std::iter::once(summary.clone())
        .chain(earlier.into_iter().take(keep - 1))
        .collect()
}

/// Records in the run history a run that failed before the engine could start it (so the history, and the
/// status built from it, show every run); best effort.
async fn record_failed_run(ctx: &Context, report: &RunReport) {
    let record = async {
        let id = ctx.state.start_run(&report.sync, report.started_at).await?;
        ctx.state
            .finish_run(&RunRecord {
                id,
                sync: report.sync.clone(),
                started_at: report.started_at,
                finished_at: Some(report.finished_at),
                status: report.status,
                stats: report.stats,
                error: report.error.clone(),
            })
            .await
    };
    if let Err(e) = record.await {
        tracing::warn!(sync = %report.sync, error = %e, "cannot record the failed run in the run history");
    }
}

/// The alerting of a sync: its `alerts` over its destination's (`dest_alerts`), channel Secrets resolved.
/// `Ok(None)`: neither sets alerts.
async fn sync_alerts(
    sync: &ShopifySync,
    ns: &str,
    config: &SyncConfig,
    dest_alerts: Option<&AlertSpec>,
    ctx: &Context,
) -> Result<Option<SyncAlerts>, String> {
    let Some(settings) = merged_settings(dest_alerts, sync.spec.alerts.as_ref())? else {
        return Ok(None);
    };
    let mut values = std::collections::BTreeMap::new();
    for r in secret_refs(settings.channels()) {
        let v = ctx
            .secret_value(ns, &r)
            .await
            .map_err(|p| format!("alerts: {p}"))?;
        values.insert((r.name.clone(), r.key.clone()), v);
    }
    let channels = resolve_channels(settings.channels(), &values)?;
    ctx.settings.egress.check_alerts(&channels)?;
    Ok(Some(SyncAlerts {
        sync: config.id.clone(),
        policy: settings.policy(),
        channels,
        schedule: config.schedule.clone(),
        // A sync that never succeeded is late measured from its creation.
        since: sync
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or_else(Utc::now, chrono_of),
    }))
}

/// The late rule between runs, for syncs whose alerts set `lateAfter` (or whose late alert still fires). The
/// destination's defaults come from the watch cache: reading them costs no API call on every requeue.
async fn check_late(
    sync: &ShopifySync,
    ns: &str,
    config: &SyncConfig,
    prev: &ShopifySyncStatus,
    ctx: &Context,
    now: DateTime<Utc>,
) -> Option<AlertOutcome> {
    let notifier = ctx.notifier.as_ref()?;
    let dest_alerts = ctx.destinations.as_ref().and_then(|cache| {
        let key =
            kube::runtime::reflector::ObjectRef::new(&sync.spec.destination_ref.name).within(ns);
        cache.get(&key).and_then(|d| d.spec.alerts.clone())
    });
    let settings = merged_settings(dest_alerts.as_ref(), sync.spec.alerts.as_ref())
        .ok()
        .flatten()?;
    let late_firing = prev
        .alerts
        .iter()
        .any(|a| a.rule == AlertRule::Late.as_str());
    if settings.policy().late_after.is_none() && !late_firing {
        return None;
    }
    match sync_alerts(sync, ns, config, dest_alerts.as_ref(), ctx).await {
        Ok(Some(a)) => Some(notifier.check_late(ctx.state.as_ref(), &a, now).await),
        Ok(None) => None,
        Err(message) => {
            ctx.event(sync, warning("AlertsUnavailable", "Alert", &message))
                .await;
            None
        }
    }
}

/// Metrics and Events for what an alert evaluation did.
async fn report_alerts(ctx: &Context, sync: &ShopifySync, outcome: &AlertOutcome) {
    for d in &outcome.deliveries {
        ctx.metrics.alert_delivered(d.channel, d.error.is_none());
    }
    for n in &outcome.notifications {
        let (type_, reason) = match n.transition {
            Transition::Firing => (EventType::Warning, "AlertFiring"),
            Transition::Resolved => (EventType::Normal, "AlertResolved"),
        };
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(truncate(&format!("{}: {}", n.rule.title(), n.message))),
            action: "Alert".into(),
            secondary: None,
        };
        ctx.event(sync, event).await;
    }
    for d in outcome.failed_deliveries() {
        let note = format!(
            "{} after {} attempts: {}",
            d.target,
            d.attempts,
            d.error.as_deref().unwrap_or_default()
        );
        ctx.event(sync, warning("AlertDeliveryFailed", "Alert", &note))
            .await;
    }
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

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

async fn run(ctx: &Context, config: &SyncConfig, resolved: &Resolved) -> Result<RunReport, Error> {
    let warehouse = SqlWarehouse::from_url(&config.id, &resolved.warehouse_url)
        .map_err(|e| Error::Engine(EngineError::Warehouse(e)))?;
    execute(ctx, config, resolved, &warehouse).await
}

async fn execute(
    ctx: &Context,
    config: &SyncConfig,
    resolved: &Resolved,
    warehouse: &dyn Warehouse,
) -> Result<RunReport, Error> {
    let target = Target {
        store: &resolved.store,
        store_key: &resolved.store_key,
    };
    match ctx.runner.run(config, target, warehouse).await {
        Ok(report) => Ok(report),
        Err(RunError::Engine(e)) => Err(Error::Engine(e)),
        Err(e) => Err(Error::Shopify(e.to_string())),
    }
}

/// `deletionPolicy: Delete`: delete what the sync synced (products only, as the CRD enforces), under the delete
/// guard. The finalizer stays until that succeeds; a tripped guard stalls the deletion with the reason.
async fn cleanup(sync: &ShopifySync, ctx: &Context) -> Result<Action, Error> {
    if sync.spec.deletion_policy != Some(DeletionPolicy::Delete) {
        return Ok(Action::await_change());
    }
    let ns = sync.namespace().ok_or(Error::NotNamespaced)?;
    let id = format!("{ns}/{}", sync.name_any());
    let generation = sync.metadata.generation;
    let prev = sync.status.clone().unwrap_or_default();
    let now = Utc::now();
    let blocked = |reason: &'static str, message: String| async move {
        let next = ShopifySyncStatus {
            conditions: conditions(&prev.conditions, stalled(reason, &message), generation, now),
            ..prev.clone()
        };
        if write_status(ctx, sync, &prev, next).await? {
            ctx.event(sync, warning(reason, "Cleanup", &message)).await;
        }
        Err(Error::CleanupBlocked(message))
    };
    let mut config = match sync_config(&id, &sync.spec) {
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
            return blocked("InvalidSpec", message).await;
        }
    };
    let resolved = match resolve(sync, &ns, ctx).await {
        Ok(r) => r,
        Err(b) => {
            return blocked(
                b.reason,
                format!("cannot delete what the sync created: {}", b.message),
            )
            .await;
        }
    };
    config.delete_behavior = DeleteBehavior::Delete;
    let report = match execute(ctx, &config, &resolved, &NoRows).await {
        Ok(r) => r,
        Err(e) => {
            return blocked(
                "CleanupFailed",
                format!("deleting what the sync created failed: {e}"),
            )
            .await;
        }
    };
    if let Some(reason) = &report.refused_deletes {
        return blocked(
            "DeleteGuardTripped",
            format!("deletion refused by the delete guard: {reason}; raise spec.deleteGuard or set deletionPolicy: Orphan"),
        )
        .await;
    }
    if let Some(e) = &report.error {
        return blocked(
            "CleanupFailed",
            format!("deleting what the sync created failed: {e}"),
        )
        .await;
    }
    ctx.event(
        sync,
        Event {
            type_: EventType::Normal,
            reason: "CleanedUp".into(),
            note: Some(format!(
                "deleted {} records this sync created",
                report.deleted
            )),
            action: "Cleanup".into(),
            secondary: None,
        },
    )
    .await;
    Ok(Action::await_change())
}

/// The conditions of a sync that is not running: Ready as the last run left it (or `first` before any run),
/// not reconciling and not stalled, for `reason`.
fn idle(
    previous_ready: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
    first: Cond,
    reason: &str,
    message: &str,
) -> [Cond; 3] {
    [
        previous_ready.map_or(first, keep),
        Cond::no(CONDITION_RECONCILING, reason, message),
        Cond::no(CONDITION_STALLED, reason, ""),
    ]
}

/// Requeue at `at`, in whole seconds rounded up (never early, never zero).
fn requeue_at(at: DateTime<Utc>, now: DateTime<Utc>) -> Action {
    let millis = (at - now).num_milliseconds().max(0) as u64;
    Action::requeue(Duration::from_secs(millis.div_ceil(1000).max(1)))
}

fn keep(c: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition) -> Cond {
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

fn warning(reason: &str, action: &str, note: &str) -> Event {
    Event {
        type_: EventType::Warning,
        reason: reason.into(),
        note: Some(truncate(note)),
        action: action.into(),
        secondary: None,
    }
}

fn run_event(report: &RunReport) -> Event {
    let summary = status::run_summary(report);
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
    let (type_, reason) = match summary.outcome {
        _ if report.guard_tripped() => (EventType::Warning, "DeleteGuardTripped"),
        RunOutcome::Succeeded => (EventType::Normal, "RunSucceeded"),
        RunOutcome::PartiallySucceeded => (EventType::Warning, "RowsRejected"),
        RunOutcome::Failed | RunOutcome::Skipped => (EventType::Warning, "RunFailed"),
    };
    Event {
        type_,
        reason: reason.into(),
        note: Some(truncate(&note)),
        action: "Run".into(),
        secondary: None,
    }
}

/// Event notes are limited to 1 kB.
fn truncate(s: &str) -> String {
    if s.len() <= 1000 {
        return s.to_string();
    }
    let mut cut = 1000;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

/// Writes `next` through the status subresource with server-side apply, unless it equals `prev`. Returns
/// whether it wrote.
async fn write_status(
    ctx: &Context,
    sync: &ShopifySync,
    prev: &ShopifySyncStatus,
    next: ShopifySyncStatus,
) -> Result<bool, Error> {
    let next = status::with_drifted_condition(prev, next);
    if &next == prev {
        return Ok(false);
    }
    let ns = sync.namespace().ok_or(Error::NotNamespaced)?;
    let api: Api<ShopifySync> = Api::namespaced(ctx.client.clone(), &ns);
    let patch = json!({
        "apiVersion": crate::api::API_VERSION,
        "kind": KIND,
        "status": next,
    });
    api.patch_status(
        &sync.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    ctx.metrics.status_written(KIND);
    Ok(true)
}
